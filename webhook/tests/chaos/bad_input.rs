//! Bad input, table-driven: malformed payloads, configs and names, each answered with its own
//! message, and none of the rejected ones reaching Gandi (the emulator's counters stay at
//! zero). The valid-but-unusual rows (keys with quotes and backslashes or over 255 bytes, TTLs
//! outside Gandi's bounds, unknown payload keys, upper-case names) go through and round-trip.
//!
//! TTL decision: the webhook does not refuse a `ttl` outside Gandi's 300..=2592000 seconds; it
//! uses the nearest accepted TTL and logs a warning (a challenge record's TTL is not worth
//! failing an issuance over). The rows assert the clamped TTL at the emulator.

use std::time::Duration;

use dns01_testkit::emulator::{Emulator, RrsetSnapshot};
use serde_json::{Value, json};

use crate::support::*;

const KEY: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";
const DNS_NAME: &str = "app.example.com";
const FQDN: &str = "_acme-challenge.app.example.com.";
const RELATIVE: &str = "_acme-challenge.app";

/// What a row expects.
#[derive(Debug)]
enum Expect {
    /// An HTTP error with a Kubernetes `Status` body; nothing reaches Gandi.
    Status(u16, &'static str),
    /// A 201 with `success: false`; nothing reaches Gandi.
    Failed,
    /// A 201 with `success: false` after Gandi was asked (reads only, never a write).
    FailedAfterReads,
    /// Accepted: Present writes, the check passes, CleanUp removes it again.
    Accepted(fn(&Emulator)),
}

#[derive(Debug)]
struct Row {
    what: &'static str,
    path: String,
    body: Vec<u8>,
    expect: Expect,
    /// Substrings the message must contain (the specific message of this row).
    says: Vec<String>,
}

fn present() -> Value {
    challenge("Present", DNS_NAME, FQDN, KEY, gandi_config())
}

/// The base Present, changed by `f`.
fn with(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = present();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn field(name: &'static str, value: Value) -> Vec<u8> {
    with(|v| v["request"][name] = value)
}

fn without(name: &'static str) -> Vec<u8> {
    with(|v| {
        v["request"].as_object_mut().unwrap().remove(name);
    })
}

fn config(value: Value) -> Vec<u8> {
    field("config", value)
}

fn with_pat(mut extra: Value) -> Value {
    extra["patSecretRef"] = json!({"name": "gandi-credentials"});
    extra
}

fn row(what: &'static str, body: Vec<u8>, expect: Expect, says: &[&str]) -> Row {
    Row {
        what,
        path: solver_path("gandi"),
        body,
        expect,
        says: says.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn only_txt(emu: &Emulator) -> RrsetSnapshot {
    let rrsets = emu.rrsets(ZONE);
    assert_eq!(rrsets.len(), 1, "{rrsets:?}");
    rrsets.into_iter().next().unwrap()
}

fn rows() -> Vec<Row> {
    use Expect::*;
    let long_label = "a".repeat(64);
    let long_name = format!(
        "_acme-challenge.{}.example.com.",
        vec!["b".repeat(60); 4].join(".")
    );
    assert!(long_name.len() > 254);
    vec![
        // --- Malformed payloads: HTTP errors with a Status body.
        row(
            "a body that is not JSON",
            b"{not json".to_vec(),
            Status(400, "BadRequest"),
            &["request body is not JSON"],
        ),
        row(
            "an empty body",
            Vec::new(),
            Status(400, "BadRequest"),
            &["request body is not JSON"],
        ),
        row(
            "a JSON array",
            b"[1, 2]".to_vec(),
            Status(400, "BadRequest"),
            &["not a JSON object", "ChallengePayload"],
        ),
        row(
            "a payload without request",
            br#"{"kind": "ChallengePayload"}"#.to_vec(),
            Status(422, "Invalid"),
            &["has no request"],
        ),
        row(
            "a null request",
            br#"{"request": null}"#.to_vec(),
            Status(422, "Invalid"),
            &["has no request"],
        ),
        row(
            "a request that is a string",
            br#"{"request": "Present"}"#.to_vec(),
            Status(400, "BadRequest"),
            &["not a valid ChallengePayload: request is a string, not an object"],
        ),
        row(
            "a missing action",
            without("action"),
            Status(422, "Invalid"),
            &["request.action is missing", "\"Present\" or \"CleanUp\""],
        ),
        row(
            "an unknown action",
            field("action", json!("Delete")),
            Status(422, "Invalid"),
            &["request.action \"Delete\" is not supported"],
        ),
        row(
            "a lower-case action",
            field("action", json!("present")),
            Status(422, "Invalid"),
            &["request.action \"present\" is not supported"],
        ),
        row(
            "an action that is a number",
            field("action", json!(1)),
            Status(422, "Invalid"),
            &["request.action 1 is not supported"],
        ),
        row(
            "a key that is a number",
            field("key", json!(42)),
            Status(400, "BadRequest"),
            &["not a valid ChallengePayload: request.key must be a string, not a number"],
        ),
        row(
            "a null key",
            field("key", Value::Null),
            Status(400, "BadRequest"),
            &["request.key must be a string, not null"],
        ),
        row(
            "allowAmbientCredentials as a string",
            field("allowAmbientCredentials", json!("yes")),
            Status(400, "BadRequest"),
            &["request.allowAmbientCredentials must be a boolean, not a string"],
        ),
        row(
            "a uid that is an object",
            field("uid", json!({"a": 1})),
            Status(400, "BadRequest"),
            &["request.uid must be a string, not an object"],
        ),
        row(
            "a missing resolvedFQDN",
            without("resolvedFQDN"),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "the name is empty"],
        ),
        row(
            "a missing dnsName",
            without("dnsName"),
            Status(422, "Invalid"),
            &["request.dnsName", "the name is empty"],
        ),
        row(
            "a missing key",
            without("key"),
            Status(422, "Invalid"),
            &["request.key", "TXT value is empty"],
        ),
        Row {
            path: format!("/apis/{GROUP}/v1alpha1/gandi%2F..%2Fmemory"),
            ..row(
                "a solver name with an encoded slash",
                serde_json::to_vec(&present()).unwrap(),
                Status(404, "NotFound"),
                &["is not served here"],
            )
        },
        // --- Names.
        row(
            "a resolvedFQDN with a slash",
            field(
                "resolvedFQDN",
                json!("_acme-challenge.app/../../x.example.com."),
            ),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "character '/' is not allowed"],
        ),
        row(
            "a resolvedFQDN with %2F",
            field(
                "resolvedFQDN",
                json!("_acme-challenge.app%2F..%2Fx.example.com."),
            ),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "character '%' is not allowed"],
        ),
        row(
            "a resolvedFQDN with ..",
            field("resolvedFQDN", json!("_acme-challenge..example.com.")),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "empty label"],
        ),
        row(
            "a resolvedFQDN that is only ..",
            field("resolvedFQDN", json!("..")),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "empty label"],
        ),
        row(
            "a resolvedFQDN with a space",
            field("resolvedFQDN", json!("_acme-challenge.my app.example.com.")),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "U+0020"],
        ),
        row(
            "a dnsName with a slash",
            field("dnsName", json!("app.example.com/x")),
            Status(422, "Invalid"),
            &["request.dnsName", "character '/' is not allowed"],
        ),
        row(
            "a dnsName with a space",
            field("dnsName", json!("my app.example.com")),
            Status(422, "Invalid"),
            &["request.dnsName", "U+0020"],
        ),
        row(
            "a label over 63 bytes",
            field(
                "resolvedFQDN",
                json!(format!("_acme-challenge.{long_label}.example.com.")),
            ),
            Status(422, "Invalid"),
            &[
                "request.resolvedFQDN",
                "is 64 bytes long, more than the 63 DNS allows",
            ],
        ),
        row(
            "a name over 253 bytes",
            field("resolvedFQDN", json!(long_name)),
            Status(422, "Invalid"),
            &["request.resolvedFQDN", "more than the 253 DNS allows"],
        ),
        row(
            "an upper-case name",
            field("resolvedFQDN", json!("_ACME-Challenge.App.Example.COM.")),
            Accepted(|emu| {
                assert_eq!(emu.decoded_txt(ZONE, RELATIVE), [KEY]);
            }),
            &[],
        ),
        row(
            "a wildcard resolvedFQDN",
            field("resolvedFQDN", json!("*.example.com.")),
            Status(422, "Invalid"),
            &["request.resolvedFQDN: *.example.com. is a wildcard name"],
        ),
        row(
            "a resolvedFQDN with a wildcard inside",
            field("resolvedFQDN", json!("_acme-challenge.*.example.com.")),
            Status(422, "Invalid"),
            &[
                "request.resolvedFQDN",
                "'*' is only allowed as the whole leftmost label",
            ],
        ),
        row(
            "a wildcard dnsName (a wildcard order)",
            field("dnsName", json!("*.app.example.com")),
            Accepted(|emu| {
                assert_eq!(emu.decoded_txt(ZONE, RELATIVE), [KEY]);
            }),
            &[],
        ),
        // --- Keys.
        row(
            "an empty key",
            field("key", json!("")),
            Status(422, "Invalid"),
            &["request.key", "TXT value is empty"],
        ),
        row(
            "a key with a newline",
            field("key", json!("abc\ndef")),
            Status(422, "Invalid"),
            &["request.key", "control character U+000A"],
        ),
        row(
            "a key over 4096 bytes",
            field("key", json!("k".repeat(4097))),
            Status(422, "Invalid"),
            &["request.key", "4097 bytes long, more than the 4096"],
        ),
        row(
            "a key with quotes and backslashes",
            field("key", json!(r#"a"b\c\"d"#)),
            Accepted(|emu| {
                // Stored escaped, read back exactly: a TXT value may hold any printable character.
                assert_eq!(emu.decoded_txt(ZONE, RELATIVE), [r#"a"b\c\"d"#]);
                assert_eq!(emu.txt_values(ZONE, RELATIVE), [r#""a\"b\\c\\\"d""#]);
            }),
            &[],
        ),
        row(
            "a key over 255 bytes",
            field("key", json!("x".repeat(300))),
            Accepted(|emu| {
                assert_eq!(emu.decoded_txt(ZONE, RELATIVE), ["x".repeat(300)]);
                // Two character-strings of 255 and 45 bytes.
                let wire = format!("\"{}\" \"{}\"", "x".repeat(255), "x".repeat(45));
                assert_eq!(emu.txt_values(ZONE, RELATIVE), [wire]);
            }),
            &[],
        ),
        // --- Unknown keys: ignored in the payload (cert-manager may add fields), refused in the config.
        row(
            "an unknown key in the request",
            with(|v| v["request"]["futureField"] = json!(true)),
            Accepted(|emu| {
                assert_eq!(emu.decoded_txt(ZONE, RELATIVE), [KEY]);
            }),
            &[],
        ),
        row(
            "an unknown top-level key",
            with(|v| v["metadata"] = json!({"name": "x"})),
            Accepted(|emu| {
                assert_eq!(emu.decoded_txt(ZONE, RELATIVE), [KEY]);
            }),
            &[],
        ),
        row(
            "an unknown config key",
            config(json!({"patSecretref": {"name": "gandi-credentials"}})),
            Failed,
            &[
                "invalid solver config for gandi",
                "`patSecretref`",
                "`patSecretRef`",
                "`apiKeySecretRef`",
            ],
        ),
        // --- Configs.
        row(
            "a config that is a string",
            config(json!("gandi-credentials")),
            Failed,
            &[
                "invalid solver config for gandi",
                "invalid type: a string",
                "GandiSolverConfig",
            ],
        ),
        row(
            "a secret reference that is a string",
            config(json!({"patSecretRef": "the-token-itself"})),
            Failed,
            &[
                "invalid solver config for gandi",
                "`patSecretRef`: invalid type: a string, expected struct SecretRef",
            ],
        ),
        row(
            "a secret reference without name",
            config(json!({"patSecretRef": {"key": "api-token"}})),
            Failed,
            &[
                "invalid solver config for gandi",
                "`patSecretRef`: missing field `name`",
            ],
        ),
        row(
            "both secret references",
            config(with_pat(json!({"apiKeySecretRef": {"name": "x"}}))),
            Failed,
            &["both patSecretRef and apiKeySecretRef are set"],
        ),
        row(
            "an endpoint that is a URL",
            config(with_pat(
                json!({"endpoint": "https://evil.example/v5/livedns"}),
            )),
            Failed,
            &["`production`", "`sandbox`"],
        ),
        row(
            "a ttl below Gandi's minimum",
            config(with_pat(json!({"ttl": 60}))),
            Accepted(|emu| {
                assert_eq!(only_txt(emu).ttl, 300, "60 s is raised to Gandi's minimum");
            }),
            &[],
        ),
        row(
            "a ttl above Gandi's maximum",
            config(with_pat(json!({"ttl": 9_999_999}))),
            Accepted(|emu| {
                assert_eq!(
                    only_txt(emu).ttl,
                    2_592_000,
                    "lowered to Gandi's maximum, 30 days"
                );
            }),
            &[],
        ),
        row(
            "a negative ttl",
            config(with_pat(json!({"ttl": -1}))),
            Failed,
            &[
                "invalid solver config for gandi",
                "`ttl`: invalid value: integer `-1`, expected u32",
            ],
        ),
        row(
            "a ttl as a string",
            config(with_pat(json!({"ttl": "300"}))),
            Failed,
            &[
                "invalid solver config for gandi",
                "`ttl`: invalid type: a string, expected u32",
            ],
        ),
        row(
            "a ttl past u32",
            config(with_pat(json!({"ttl": 5_000_000_000_u64}))),
            Failed,
            &["`ttl`: invalid value: integer `5000000000`, expected u32"],
        ),
        row(
            "an invalid delegation zone",
            config(with_pat(
                json!({"delegation": {"zone": "acme..example.com"}}),
            )),
            Failed,
            &["`delegation`: invalid DNS name \"acme..example.com\""],
        ),
        // --- Delegation: the name must be inside the delegated zone.
        row(
            "a resolvedFQDN outside the delegated zone",
            config(with_pat(
                json!({"delegation": {"zone": "acme.example.com"}}),
            )),
            Failed,
            &[
                "refused to write _acme-challenge.app.example.com.",
                "outside the delegated validation zone acme.example.com",
                "_acme-challenge.app.example.com. CNAME ",
            ],
        ),
        row(
            "a resolvedFQDN in the zone but bound to another namespace",
            with(|v| {
                v["request"]["config"] =
                    with_pat(json!({"delegation": {"zone": "acme.example.com"}}));
                v["request"]["resolvedFQDN"] = json!("someone-else.acme.example.com.");
            }),
            Failed,
            &[
                "refused to write someone-else.acme.example.com.",
                "tenant binding",
            ],
        ),
        // --- A name in no domain of this token: Gandi is asked, nothing is written.
        row(
            "a resolvedFQDN in no Gandi domain",
            field(
                "resolvedFQDN",
                json!("_acme-challenge.app.not-hosted.test."),
            ),
            FailedAfterReads,
            &["_acme-challenge.app.not-hosted.test."],
        ),
    ]
}

#[tokio::test]
async fn each_bad_input_gets_its_own_message_and_no_write_reaches_gandi() {
    let rig = gandi_rig(
        Emulator::builder().zone(ZONE),
        Duration::from_secs(10),
        |s| {
            s.rate_limit_per_minute = 1_000_000;
        },
    )
    .await;
    let mut failures = Vec::new();
    for row in rows() {
        rig.emu.reset_counters();
        let answer = post_bytes(&rig.app, &row.path, row.body.clone()).await;
        let outcome = std::panic::AssertUnwindSafe(|| check_row(&rig, &row, &answer));
        if let Err(panic) = std::panic::catch_unwind(outcome) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {why}\n  answer: {}", row.what, answer.body));
            continue;
        }
        if let Expect::Accepted(_) = row.expect {
            let mut cleanup: Value = serde_json::from_slice(&row.body).unwrap();
            cleanup["request"]["action"] = json!("CleanUp");
            let answer = post(&rig.app, &row.path, &cleanup).await;
            assert!(answer.success(), "{}: CleanUp {}", row.what, answer.body);
        }
        assert!(
            rig.emu.rrsets(ZONE).is_empty(),
            "{}: left {:?}",
            row.what,
            rig.emu.rrsets(ZONE)
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check_row(rig: &GandiRig, row: &Row, answer: &Answer) {
    let message = match &row.expect {
        Expect::Status(code, reason) => answer.status_error(*code, reason),
        Expect::Failed | Expect::FailedAfterReads => answer.failure_message(),
        Expect::Accepted(check) => {
            assert!(answer.success(), "not accepted");
            check(&rig.emu);
            String::new()
        }
    };
    for needle in &row.says {
        assert!(
            message.contains(needle.as_str()),
            "the message lacks {needle:?}: {message}"
        );
    }
    assert!(!message.contains(TOKEN), "the token leaked: {message}");
    assert!(
        !message.contains("the-token-itself"),
        "a pasted credential was echoed: {message}"
    );
    let counters = rig.emu.counters();
    match row.expect {
        Expect::Status(..) | Expect::Failed => {
            assert_eq!(counters.total(), 0, "Gandi was called: {counters:?}");
        }
        Expect::FailedAfterReads => {
            assert!(counters.total() > 0, "Gandi was not asked");
            assert_eq!(counters.writes(), 0, "a write reached Gandi: {counters:?}");
        }
        Expect::Accepted(_) => assert!(counters.writes() > 0),
    }
}
