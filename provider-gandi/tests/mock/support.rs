//! Shared helpers: a store pointed at a mock server, Gandi's bodies, and message checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dns01_core::retry::RetryPolicy;
use dns01_core::{Error, RelativeName, ZoneName};
use dns01_gandi::{CallObserver, Credentials, GandiConfig, GandiStore};
use url::Url;
use wiremock::{MockServer, ResponseTemplate};

/// A personal access token; must never appear in a message or a `Debug` output.
pub(crate) const TOKEN: &str = "pat0token0must0never0leak0a1b2c3d4e5f6g7";
/// A legacy API key.
pub(crate) const API_KEY: &str = "legacykeynevershown00001";
/// Path of the LiveDNS API below the mock server's root.
pub(crate) const BASE: &str = "/v5/livedns";
/// The trace id every error answer carries.
pub(crate) const TRACE: &str = "0f6e1c2a-trace-id-4b7d";

/// Retries quick enough for tests: three attempts, millisecond backoff.
pub(crate) fn fast_retry(max_attempts: u32) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    policy.max_attempts = max_attempts;
    policy.base_delay = Duration::from_millis(5);
    policy.max_delay = Duration::from_millis(20);
    policy.deadline = Duration::from_secs(10);
    policy
}

/// A configuration with a PAT pointed at `server`.
pub(crate) fn config(server: &MockServer) -> GandiConfig {
    config_with(server, Credentials::personal_access_token(TOKEN))
}

/// A configuration with these credentials pointed at `server`.
pub(crate) fn config_with(server: &MockServer, credentials: Credentials) -> GandiConfig {
    GandiConfig::new(credentials)
        .with_base_url(Url::parse(&format!("{}{BASE}", server.uri())).unwrap())
        .with_timeout(Duration::from_secs(5))
        .with_retry(fast_retry(3))
}

/// A PAT store pointed at `server`.
pub(crate) fn store(server: &MockServer) -> GandiStore {
    GandiStore::new(config(server)).unwrap()
}

/// `example.com`.
pub(crate) fn zone() -> ZoneName {
    ZoneName::parse("example.com").unwrap()
}

/// `_acme-challenge.app`.
pub(crate) fn name() -> RelativeName {
    RelativeName::parse("_acme-challenge.app").unwrap()
}

/// The rrset route for `_acme-challenge.app` in `example.com`.
pub(crate) fn rrset_path() -> String {
    format!("{BASE}/domains/example.com/records/_acme-challenge.app/TXT")
}

/// A JSON answer with Gandi's `Trace-Id` header.
pub(crate) fn gandi(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("Trace-Id", TRACE)
        .set_body_raw(body.as_bytes().to_vec(), "application/json")
}

pub(crate) const BODY_401: &str = r#"{"code": 401, "message": "The server could not verify that you authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad api key), or your access token has expired", "object": "HTTPUnauthorized", "cause": "Unauthorized"}"#;
pub(crate) const BODY_401_NO_CREDENTIALS: &str = r#"{"message": "You must provide an access token or an API Key. See https://api.gandi.net/docs/authentication/"}"#;
pub(crate) const BODY_403: &str = r#"{"code": 403, "message": "Access was denied to this resource.", "object": "HTTPForbidden", "cause": "Forbidden"}"#;
pub(crate) const BODY_404_DOMAIN: &str = r#"{"code": 404, "message": "Unknown domain", "object": "LocalizedHTTPNotFound", "cause": "Not Found"}"#;
pub(crate) const BODY_404_RESOURCE: &str = r#"{"code": 404, "message": "The resource could not be found.", "object": "HTTPNotFound", "cause": "Not Found"}"#;
pub(crate) const BODY_409: &str = r#"{"code": 409, "message": "A DNS Record already exists with that name and type", "object": "HTTPConflict", "cause": "Conflict"}"#;
pub(crate) const BODY_429: &str = r#"{"code": 429, "message": "Too Many Requests", "object": "HTTPTooManyRequests", "cause": "Too Many Requests"}"#;
pub(crate) const BODY_500: &str = r#"{"code": 500, "message": "The server has either erred or is incapable of performing the requested operation.", "object": "HTTPInternalServerError", "cause": "Internal Server Error"}"#;
pub(crate) const BODY_400_A: &str = r#"{"code": 400, "message": "Absolute rrset_name must end with example.com.", "object": "HTTPBadRequest", "cause": "Bad Request"}"#;
pub(crate) const BODY_400_B: &str = r#"{"status": "error", "errors": [{"location": "body", "name": "rrset_ttl", "description": "60 is less than minimum value 300"}]}"#;

/// Asserts that `err`'s full report contains every needle and never the credentials, and
/// returns the report.
pub(crate) fn assert_message(err: &Error, needles: &[&str]) -> String {
    let report = err.report();
    for needle in needles {
        assert!(report.contains(needle), "missing {needle:?} in: {report}");
    }
    assert!(!report.contains(TOKEN), "the token leaked: {report}");
    assert!(!report.contains(API_KEY), "the API key leaked: {report}");
    assert!(
        !format!("{err:?}").contains(TOKEN),
        "the token leaked in Debug"
    );
    report
}

/// Asserts that the store's `Debug` output never shows the credentials.
pub(crate) fn assert_store_redacted(store: &GandiStore) {
    let debug = format!("{store:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(!debug.contains(API_KEY), "{debug}");
}

/// An observer that records every event.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) calls: Mutex<Vec<(&'static str, Option<u16>)>>,
    pub(crate) retries: Mutex<Vec<&'static str>>,
}

impl CallObserver for Recorder {
    fn on_call(&self, operation: &'static str, status: Option<u16>, _elapsed: Duration) {
        self.calls.lock().unwrap().push((operation, status));
    }
    fn on_retry(&self, operation: &'static str) {
        self.retries.lock().unwrap().push(operation);
    }
}

/// A store with a recording observer.
pub(crate) fn observed_store(server: &MockServer) -> (GandiStore, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let store = GandiStore::new(config(server).with_observer(recorder.clone())).unwrap();
    (store, recorder)
}
