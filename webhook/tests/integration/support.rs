//! Shared helpers: routers over in-memory solvers, requests without sockets, golden samples.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dns01_core::ZoneName;
use dns01_core::memory::MemoryStore;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::memory::MemorySolver;
use dns01_webhook::{AppState, router};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

pub(crate) const GROUP: &str = "acme.example.com";

/// A golden file under the repository's `testdata/`.
pub(crate) fn golden(path: &str) -> Value {
    let full = format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// State with a `memory` solver over a store holding `zones`.
pub(crate) fn memory_state(zones: &[&str]) -> (AppState, Arc<MemoryStore>) {
    let zones: Vec<ZoneName> = zones.iter().map(|z| ZoneName::parse(z).unwrap()).collect();
    let store = Arc::new(MemoryStore::new(zones));
    let mut solvers = Solvers::new();
    solvers.insert(
        "memory".to_owned(),
        Arc::new(MemorySolver::with_store(store.clone())),
    );
    (AppState::new(GROUP, solvers), store)
}

/// A router with a `memory` solver.
pub(crate) fn memory_app(zones: &[&str]) -> (Router, Arc<MemoryStore>) {
    let (state, store) = memory_state(zones);
    (router(state), store)
}

/// The path cert-manager posts to for `solver`.
pub(crate) fn solver_path(solver: &str) -> String {
    format!("/apis/{GROUP}/v1alpha1/{solver}")
}

/// Sends one request; returns the status and the body (JSON when it parses, else a string).
pub(crate) async fn send(
    app: &Router,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// POSTs a JSON payload.
pub(crate) async fn post(app: &Router, path: &str, payload: &Value) -> (StatusCode, Value) {
    send(app, "POST", path, serde_json::to_vec(payload).unwrap()).await
}

/// GETs a path.
pub(crate) async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    send(app, "GET", path, Vec::new()).await
}

/// A request payload (no apiVersion/kind, as cert-manager sends it).
pub(crate) fn payload(
    action: &str,
    dns_name: &str,
    resolved_fqdn: &str,
    namespace: &str,
    config: Value,
) -> Value {
    dns01_testkit::acmetest::ChallengeRequest {
        action: action.parse().expect("Present or CleanUp"),
        dns_name: dns_name.to_owned(),
        key: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ".to_owned(),
        resource_namespace: namespace.to_owned(),
        resolved_fqdn: resolved_fqdn.to_owned(),
        resolved_zone: String::new(),
        allow_ambient_credentials: false,
        config,
    }
    .payload()
}

/// `response.success` of an answer, asserting the answer is a 201.
pub(crate) fn success(status: StatusCode, body: &Value) -> bool {
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["response"]["success"].as_bool().unwrap()
}

/// `response.status.message` of a failed answer.
pub(crate) fn failure_message(status: StatusCode, body: &Value) -> String {
    assert!(!success(status, body), "expected a failure: {body}");
    assert_eq!(body["response"]["status"]["status"], "Failed", "{body}");
    body["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts a Kubernetes `Status` error body with this code and reason; returns its message.
pub(crate) fn status_error(status: StatusCode, body: &Value, code: u16, reason: &str) -> String {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["apiVersion"], "v1", "{body}");
    assert_eq!(body["metadata"], serde_json::json!({}), "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(body["code"], code, "{body}");
    body["message"].as_str().unwrap().to_owned()
}
