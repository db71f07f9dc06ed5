//! The bodies of the fuzz targets, as plain functions of `&[u8]`.
//!
//! Each function panics when an invariant fails and returns normally otherwise. The same file
//! is compiled twice: into the `dns01-fuzz` crate, whose libFuzzer targets
//! (`fuzz/fuzz_targets/*.rs`) call these functions, and, through `#[path]`, into the webhook's
//! `security` test binary, which replays the seed corpus (`fuzz/seeds/<target>/`) and mutated
//! variants of it on the stable toolchain in every CI run. Keep it free of dependencies other
//! than the workspace crates, `serde_json`, `tokio`, `tower`, `axum` and `http-body-util`.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dns01_core::{Fqdn, RelativeName, ZoneName};
use dns01_webhook::api::payload;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::config::{self, GandiSolverConfig, MemorySolverConfig};
use dns01_webhook::solver::memory::MemorySolver;
use dns01_webhook::{AppState, router};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets, by name: the name is the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/seeds/<name>/` directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("payload_handler", payload_handler),
    ("name_parser", name_parser),
    ("txt_decoder", txt_decoder),
    ("config_parser", config_parser),
];

/// The API group the payload handler target serves.
pub const GROUP: &str = "acme.example.com";

/// Zones held by the payload handler target's memory solver.
pub const ZONES: &[&str] = &["example.com", "acme.platform.example"];

/// Body limit of the payload handler target: small, so that the fuzzer reaches the 413 path
/// with inputs of a few kilobytes.
pub const BODY_LIMIT: usize = 8 * 1024;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
    })
}

/// The whole router with the memory solver, fed `data` as the body of
/// `POST /apis/<group>/v1alpha1/memory`.
///
/// Invariants: the answer is one of 201 (with `response.success` and, on failure, a message),
/// 400, 413 or 422 (each with a Kubernetes `Status` body whose code is the HTTP status); never
/// a 5xx; the body is JSON; a 201 is only given to a body the payload parse accepts, and echoes
/// the request it was given.
pub fn payload_handler(data: &[u8]) {
    // A body the parse refuses is never answered 201.
    let parsed = payload::parse_payload(data).is_ok();
    // A fresh store per input: records must not pile up across inputs.
    let zones = ZONES
        .iter()
        .map(|z| ZoneName::parse(z).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut solvers = Solvers::new();
    solvers.insert("memory".to_owned(), Arc::new(MemorySolver::new(zones)));
    let mut state = AppState::new(GROUP, solvers);
    state.body_limit = BODY_LIMIT;
    let app = router(state);
    let request = Request::post(format!("/apis/{GROUP}/v1alpha1/memory"))
        .header("content-type", "application/json")
        .body(Body::from(data.to_vec()))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let (status, body) = runtime().block_on(async move {
        let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("response body: {e}"))
            .to_bytes();
        (status, body)
    });
    let value: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {body:?}"));
    match status {
        StatusCode::CREATED => {
            assert!(parsed, "201 for a body the payload parse refuses: {value}");
            assert_eq!(value["kind"], "ChallengePayload", "{value}");
            let success = value["response"]["success"]
                .as_bool()
                .unwrap_or_else(|| panic!("201 without response.success: {value}"));
            if !success {
                let message = value["response"]["status"]["message"].as_str();
                assert!(
                    message.is_some_and(|m| !m.is_empty()),
                    "failure without a message: {value}"
                );
            }
            let sent: Value = serde_json::from_slice(data)
                .unwrap_or_else(|e| panic!("201 for a body that is not JSON ({e})"));
            assert_eq!(
                sent["request"]["action"], value["request"]["action"],
                "{value}"
            );
            assert_eq!(sent["request"]["key"], value["request"]["key"], "{value}");
        }
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => {
            assert_eq!(value["kind"], "Status", "{value}");
            assert_eq!(value["code"], status.as_u16(), "{value}");
            assert!(
                value["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{value}"
            );
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                assert!(data.len() > BODY_LIMIT, "413 for {} bytes", data.len());
            }
        }
        other => panic!("unexpected status {other}: {value}"),
    }
    if data.len() > BODY_LIMIT {
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{value}");
    }
}

/// `Fqdn`, `ZoneName` and `RelativeName` parsing. The input is one name, or `name\nzone`.
///
/// Invariants: a parsed name is lowercase ASCII letters, digits, `-`, `_` (and a leading `*`
/// label), at most 253 bytes with labels of 1 to 63 bytes; parsing is idempotent (with and
/// without the trailing dot); for every non-wildcard ancestor zone, `relative_to` then `join`
/// gives the name back and the relative name re-parses to itself; `is_in_zone` agrees with a
/// label-by-label suffix comparison; `relative_to` fails exactly for names outside the zone.
pub fn name_parser(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (first, second) = match text.split_once('\n') {
        Some((a, b)) => (a, Some(b)),
        None => (text.as_ref(), None),
    };
    let name = check_fqdn(first);
    check_relative(first);
    let zone = check_zone(first);
    if let Some(second) = second {
        check_fqdn(second);
        check_relative(second);
        if let (Some(name), Some(zone)) = (name, check_zone(second)) {
            check_pair(&name, &zone);
        }
    }
    if let (Some(name), Some(zone)) = (Fqdn::parse(first).ok(), zone) {
        check_pair(&name, &zone);
    }
}

fn check_normalised(s: &str) {
    assert!(!s.is_empty(), "empty name");
    assert!(s.len() <= 253, "{} bytes: {s:?}", s.len());
    assert!(!s.ends_with('.'), "{s:?}");
    for (i, label) in s.split('.').enumerate() {
        assert!(
            !label.is_empty() && label.len() <= 63,
            "label {label:?} of {s:?}"
        );
        if label == "*" {
            assert_eq!(i, 0, "wildcard not leftmost in {s:?}");
            continue;
        }
        assert!(
            label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'),
            "label {label:?} of {s:?}"
        );
        assert!(!label.starts_with('-') && !label.ends_with('-'), "{s:?}");
    }
}

fn check_fqdn(input: &str) -> Option<Fqdn> {
    let name = match Fqdn::parse(input) {
        Ok(name) => name,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return None;
        }
    };
    check_normalised(name.as_str());
    assert_eq!(Fqdn::parse(name.as_str()).ok().as_ref(), Some(&name));
    assert_eq!(
        Fqdn::parse(&name.to_absolute_string()).ok().as_ref(),
        Some(&name)
    );
    assert_eq!(name.to_string(), name.to_absolute_string());
    for ancestor in name.ancestors() {
        let Ok(zone) = ZoneName::try_from(ancestor.clone()) else {
            assert!(ancestor.is_wildcard(), "{ancestor:?} refused as a zone");
            continue;
        };
        assert!(name.is_in_zone(&zone), "{name:?} not in {zone:?}");
        let relative = name
            .relative_to(&zone)
            .unwrap_or_else(|e| panic!("{name:?} relative to {zone:?}: {e}"));
        assert_eq!(relative.is_apex(), ancestor == name);
        assert_eq!(zone.join(&relative), name);
        let reparsed = RelativeName::parse(relative.as_str())
            .unwrap_or_else(|e| panic!("relative {relative:?} does not re-parse: {e}"));
        assert_eq!(reparsed, relative);
    }
    Some(name)
}

fn check_zone(input: &str) -> Option<ZoneName> {
    let zone = ZoneName::parse(input).ok();
    let fqdn = Fqdn::parse(input).ok();
    match (&zone, &fqdn) {
        (Some(z), Some(f)) => {
            assert_eq!(z.as_fqdn(), f);
            assert!(!f.labels().any(|l| l == "*"), "wildcard zone {z:?}");
        }
        (None, Some(f)) => assert!(f.is_wildcard(), "{f:?} refused as a zone"),
        (Some(z), None) => panic!("zone {z:?} from an invalid name {input:?}"),
        (None, None) => {}
    }
    zone
}

fn check_relative(input: &str) {
    let Ok(relative) = RelativeName::parse(input) else {
        return;
    };
    if relative.is_apex() {
        assert_eq!(input, "@");
        return;
    }
    check_normalised(relative.as_str());
    assert_eq!(RelativeName::parse(relative.as_str()).ok(), Some(relative));
}

fn check_pair(name: &Fqdn, zone: &ZoneName) {
    let labels: Vec<&str> = name.labels().collect();
    let zone_labels: Vec<&str> = zone.as_fqdn().labels().collect();
    let inside = labels.ends_with(&zone_labels);
    assert_eq!(name.is_in_zone(zone), inside, "{name:?} in {zone:?}");
    match name.relative_to(zone) {
        Ok(relative) => {
            assert!(inside, "{name:?} relative to {zone:?} though outside");
            assert_eq!(&zone.join(&relative), name);
        }
        Err(e) => {
            assert!(!inside, "{name:?} inside {zone:?} but: {e}");
        }
    }
}

/// `dns01_gandi::codec::decode` on arbitrary text, and `encode` → `decode` round trips.
///
/// Invariants: decoding never panics and never yields more bytes than it was given; an error's
/// position lies inside the input; `decode(encode(x)) == x` for every string `x` (the input,
/// and whatever `decode` produced); encoded chunks hold at most 255 bytes of the raw value.
pub fn txt_decoder(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match dns01_gandi::codec::decode(&text) {
        Ok(decoded) => {
            assert!(decoded.len() <= text.len(), "decoding grew the value");
            round_trip(&decoded);
        }
        Err(e) => {
            assert!(e.position <= text.len(), "{e} beyond {} bytes", text.len());
        }
    }
    round_trip(&text);
}

fn round_trip(raw: &str) {
    let encoded = dns01_gandi::codec::encode(raw);
    let decoded = dns01_gandi::codec::decode(&encoded)
        .unwrap_or_else(|e| panic!("encode({raw:?}) = {encoded:?} does not decode: {e}"));
    assert_eq!(decoded, raw, "round trip through {encoded:?}");
    // Each quoted chunk holds at most 255 bytes of the value; escapes add at most one byte per
    // byte, and chunks add two quotes and a separating space.
    let chunks = raw.len().div_ceil(dns01_gandi::codec::MAX_CHUNK_LEN).max(1);
    assert!(
        encoded.len() <= 2 * raw.len() + 3 * chunks,
        "{} bytes encode to {}",
        raw.len(),
        encoded.len()
    );
}

/// The webhook's solver config parser on arbitrary bytes: as JSON (any shape) for both
/// solvers, and as a string pasted where a Secret reference or a number belongs.
///
/// Invariants: parsing never panics; an error is a `Config` error naming the solver; a string
/// pasted in place of `patSecretRef`, `apiKeySecretRef`, `ttl` or `delegation` is never echoed:
/// the message is the same whatever the string.
pub fn config_parser(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        parse_both(&value);
        // The same value in each position of the Gandi config.
        for key in [
            "patSecretRef",
            "apiKeySecretRef",
            "sharingId",
            "ttl",
            "endpoint",
            "delegation",
        ] {
            parse_both(&json!({ key: value.clone() }));
        }
        parse_both(&json!({"delegation": {"zone": value.clone()}}));
        parse_both(&json!({"patSecretRef": {"name": value.clone()}}));
    }
    let text = String::from_utf8_lossy(data);
    for key in ["patSecretRef", "apiKeySecretRef", "ttl", "delegation"] {
        let pasted = gandi_error(&json!({ key: text.as_ref() }));
        let reference = gandi_error(&json!({ key: "placeholder" }));
        assert_eq!(pasted, reference, "a string in {key} changed the message");
    }
}

fn parse_both(value: &Value) {
    for (solver, result) in [
        (
            "gandi",
            config::parse::<GandiSolverConfig>("gandi", Some(value)).err(),
        ),
        (
            "memory",
            config::parse::<MemorySolverConfig>("memory", Some(value)).err(),
        ),
    ] {
        if let Some(e) = result {
            let message = e.to_string();
            assert!(
                message.starts_with(&format!("invalid solver config for {solver}: ")),
                "{message}"
            );
        }
    }
}

fn gandi_error(value: &Value) -> String {
    match config::parse::<GandiSolverConfig>("gandi", Some(value)) {
        Ok(c) => panic!("{value} parsed as {c:?}"),
        Err(e) => e.to_string(),
    }
}
