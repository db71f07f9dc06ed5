//! Helpers shared by the webhook's test binaries (`integration`, `security`, `chaos`), each of
//! which includes this file as its `common` module: the served group and paths, payloads as
//! cert-manager sends them, a memory-solver webhook, requests through the router without a
//! socket, and assertions on the answers.

// Each binary uses a part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use dns01_core::ZoneName;
use dns01_core::memory::MemoryStore;
use dns01_webhook::AppState;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::memory::MemorySolver;
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// The API group the test webhooks serve.
pub(crate) const GROUP: &str = "acme.example.com";

/// The path cert-manager posts to for `solver`.
pub(crate) fn solver_path(solver: &str) -> String {
    format!("/apis/{GROUP}/v1alpha1/{solver}")
}

/// State with a `memory` solver over a store holding `zones`, and the store.
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

/// A request payload as cert-manager sends it (no apiVersion/kind).
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

/// Sends one request through `app` without a socket; returns the status and the body (JSON
/// when it parses, else a string).
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

/// `response.success` of an answer, asserting the answer is a 201.
pub(crate) fn success(status: StatusCode, body: &Value) -> bool {
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["response"]["success"].as_bool().unwrap()
}

/// `response.status.message` of a failed 201 answer, asserting its shape.
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

/// A kube-rs client for a plain-HTTP fake Kubernetes API, without credentials.
pub(crate) fn kube_client(fake: &dns01_testkit::kubefake::KubeFake) -> kube::Client {
    let url = fake
        .url()
        .as_str()
        .parse()
        .expect("the fake's URL is a URI");
    kube::Client::try_from(kube::Config::new(url)).expect("a client for the fake")
}
