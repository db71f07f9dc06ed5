//! The cert-manager webhook protocol, driven through the router without sockets.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use dns01_core::{Fqdn, TxtValue};
use dns01_webhook::solver::{Challenge, Solver, SolverError, Solvers};
use dns01_webhook::{AppState, router};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn the_golden_present_is_answered_with_the_golden_response_and_the_record_exists() {
    let (app, store) = memory_app(&["example.com"]);
    let (status, body) = post(
        &app,
        &solver_path("memory"),
        &golden("challenge/present.json"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, golden("challenge/present-response.json"));
    let name = Fqdn::parse("_acme-challenge.example.com").unwrap();
    assert_eq!(
        store.values(&name),
        [TxtValue::new("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ").unwrap()]
    );
}

#[tokio::test]
async fn the_golden_cleanup_removes_the_record_and_succeeds_again_when_repeated() {
    let (app, store) = memory_app(&["example.com"]);
    let name = Fqdn::parse("_acme-challenge.example.com").unwrap();
    post(
        &app,
        &solver_path("memory"),
        &golden("challenge/present.json"),
    )
    .await;
    for _ in 0..2 {
        let (status, body) = post(
            &app,
            &solver_path("memory"),
            &golden("challenge/cleanup.json"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body, golden("challenge/cleanup-response.json"));
        assert!(store.values(&name).is_empty());
    }
}

#[tokio::test]
async fn the_request_uid_is_echoed_in_the_response() {
    let (app, _) = memory_app(&["example.com"]);
    let mut p = golden("challenge/present.json");
    p["request"]["uid"] = json!("abc-123");
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    assert!(success(status, &body));
    assert_eq!(body["response"]["uid"], "abc-123");
    assert_eq!(body["request"]["uid"], "abc-123");
}

#[tokio::test]
async fn a_provider_failure_is_a_201_with_success_false_naming_the_record() {
    // The store holds no zone for example.com: the provider fails.
    let (app, _) = memory_app(&["other.test"]);
    let (status, body) = post(
        &app,
        &solver_path("memory"),
        &golden("challenge/present.json"),
    )
    .await;
    let message = failure_message(status, &body);
    assert!(message.contains("_acme-challenge.example.com"), "{message}");
    // The rest of the answer is the golden failure shape.
    let mut expected = golden("challenge/present-failure-response.json");
    expected["response"]["status"]["message"] = json!(message);
    assert_eq!(body, expected);
}

#[tokio::test]
async fn discovery_lists_the_group_with_v1alpha1_preferred() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = get(&app, "/apis").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "APIGroupList");
    assert_eq!(body["groups"][0]["name"], GROUP);
    assert_eq!(
        body["groups"][0]["preferredVersion"],
        json!({"groupVersion": format!("{GROUP}/v1alpha1"), "version": "v1alpha1"})
    );
    let (status, body) = get(&app, &format!("/apis/{GROUP}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "APIGroup");
    assert_eq!(body["name"], GROUP);
}

#[tokio::test]
async fn the_resource_list_has_one_create_only_resource_per_solver() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = get(&app, &format!("/apis/{GROUP}/v1alpha1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": format!("{GROUP}/v1alpha1"),
            "resources": [{
                "name": "memory",
                "singularName": "ChallengePayload",
                "namespaced": false,
                "kind": "ChallengePayload",
                "verbs": ["create"]
            }]
        })
    );
}

#[tokio::test]
async fn health_paths_answer_ok() {
    let (app, _) = memory_app(&["example.com"]);
    for path in ["/healthz", "/livez", "/readyz"] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, Value::String("ok".into()), "{path}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_status() {
    let (app, store) = memory_app(&["example.com"]);
    let (status, body) = send(&app, "POST", &solver_path("memory"), b"{not json".to_vec()).await;
    let message = status_error(status, &body, 400, "BadRequest");
    assert!(message.contains("not JSON"), "{message}");
    assert_eq!(store.call_counts().rrset_calls(), 0);
}

#[tokio::test]
async fn a_payload_without_request_is_a_422_status() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = post(
        &app,
        &solver_path("memory"),
        &json!({"kind": "ChallengePayload"}),
    )
    .await;
    let message = status_error(status, &body, 422, "Invalid");
    assert!(message.contains("no request"), "{message}");
}

#[tokio::test]
async fn an_unknown_action_is_a_422_status_naming_it() {
    let (app, store) = memory_app(&["example.com"]);
    let mut p = golden("challenge/present.json");
    p["request"]["action"] = json!("Delete");
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = status_error(status, &body, 422, "Invalid");
    assert!(message.contains("\"Delete\""), "{message}");
    assert!(
        message.contains("Present") && message.contains("CleanUp"),
        "{message}"
    );
    assert_eq!(store.call_counts().rrset_calls(), 0);
}

#[tokio::test]
async fn an_invalid_resolved_fqdn_is_a_422_status_naming_the_field() {
    let (app, _) = memory_app(&["example.com"]);
    let mut p = golden("challenge/present.json");
    p["request"]["resolvedFQDN"] = json!("_acme-challenge.exa/mple.com.");
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = status_error(status, &body, 422, "Invalid");
    assert!(message.contains("request.resolvedFQDN"), "{message}");
}

#[tokio::test]
async fn a_wrongly_typed_field_is_a_400_status() {
    let (app, _) = memory_app(&["example.com"]);
    let mut p = golden("challenge/present.json");
    p["request"]["allowAmbientCredentials"] = json!("yes");
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = status_error(status, &body, 400, "BadRequest");
    assert!(message.contains("ChallengePayload"), "{message}");
}

#[tokio::test]
async fn an_unknown_solver_is_a_404_status_naming_the_served_ones() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = post(
        &app,
        &solver_path("route53"),
        &golden("challenge/present.json"),
    )
    .await;
    let message = status_error(status, &body, 404, "NotFound");
    assert!(message.contains("\"route53\""), "{message}");
    assert!(message.contains("memory"), "{message}");
}

#[tokio::test]
async fn a_wrong_group_is_a_404_status_naming_both_groups() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = post(
        &app,
        "/apis/acme.other.org/v1alpha1/memory",
        &golden("challenge/present.json"),
    )
    .await;
    let message = status_error(status, &body, 404, "NotFound");
    assert!(
        message.contains("acme.other.org") && message.contains(GROUP),
        "{message}"
    );
    let (status, body) = get(&app, "/apis/acme.other.org/v1alpha1").await;
    status_error(status, &body, 404, "NotFound");
}

#[tokio::test]
async fn a_wrong_version_is_a_404_status() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = post(
        &app,
        &format!("/apis/{GROUP}/v1beta1/memory"),
        &golden("challenge/present.json"),
    )
    .await;
    let message = status_error(status, &body, 404, "NotFound");
    assert!(message.contains("v1beta1"), "{message}");
}

/// Served paths have plain routes besides the parametrised one; a path spelled differently
/// (percent-encoded) goes through the parametrised route and is answered the same.
#[tokio::test]
async fn a_percent_encoded_solver_path_is_answered_like_the_plain_one() {
    let (app, store) = memory_app(&["example.com"]);
    let encoded = solver_path("memory").replace("memory", "mem%6Fry");
    assert_ne!(encoded, solver_path("memory"));
    let (status, body) = post(&app, &encoded, &golden("challenge/present.json")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, golden("challenge/present-response.json"));
    let name = Fqdn::parse("_acme-challenge.example.com").unwrap();
    assert_eq!(store.values(&name).len(), 1);
    let (status, body) = get(&app, &encoded).await;
    status_error(status, &body, 405, "MethodNotAllowed");
}

/// Group and solver names that cannot be plain routes (empty, or with characters the router
/// reads as patterns or separators) still build a router, and such a solver is served by the
/// general route.
#[tokio::test]
async fn odd_group_and_solver_names_build_a_router_and_are_served() {
    for group in [
        "",
        "a/b",
        "x{y}",
        "a*b",
        "grüße.example",
        "{group}",
        "{*rest}",
        "}{",
        "{x}",
    ] {
        let (mut state, _) = memory_state(&["example.com"]);
        state.group_name = group.to_owned();
        let app = router(state);
        let (status, _) = get(&app, "/healthz").await;
        assert_eq!(status, StatusCode::OK, "{group:?}");
    }
    let (state, store) = memory_state(&["example.com"]);
    let memory = state.solvers.get("memory").unwrap().clone();
    let mut solvers = Solvers::new();
    solvers.insert("mem*ory".into(), memory);
    let app = router(AppState {
        solvers: Arc::new(solvers),
        ..state
    });
    let (status, body) = post(
        &app,
        &solver_path("mem*ory"),
        &golden("challenge/present.json"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(store.snapshot().len(), 1);
}

/// The 201 answer is typed as JSON (Kubernetes clients decode by content type).
#[tokio::test]
async fn the_answer_is_application_json() {
    use axum::body::Body;
    use tower::ServiceExt as _;
    let (app, _) = memory_app(&["example.com"]);
    for path in [
        solver_path("memory"),
        solver_path("memory").replace("memory", "mem%6Fry"),
    ] {
        let request = axum::http::Request::post(&path)
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::to_vec(&golden("challenge/present.json")).unwrap(),
            ))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json",
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_404_status() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = get(&app, "/api/v1/namespaces").await;
    status_error(status, &body, 404, "NotFound");
}

#[tokio::test]
async fn getting_a_solver_resource_is_a_405_status() {
    let (app, _) = memory_app(&["example.com"]);
    let (status, body) = get(&app, &solver_path("memory")).await;
    let message = status_error(status, &body, 405, "MethodNotAllowed");
    assert!(message.contains("POST"), "{message}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_status() {
    let (mut state, store) = memory_state(&["example.com"]);
    state.body_limit = 1024;
    let app = router(state);
    let mut p = golden("challenge/present.json");
    p["request"]["config"] = json!({"padding": "x".repeat(2048)});
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = status_error(status, &body, 413, "RequestEntityTooLarge");
    assert!(message.contains("1024"), "{message}");
    assert_eq!(store.call_counts().rrset_calls(), 0);
}

/// A solver that never finishes in time.
#[derive(Debug)]
struct Slow;

#[async_trait]
impl Solver for Slow {
    async fn present(&self, _: &Challenge) -> Result<(), SolverError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    async fn cleanup(&self, _: &Challenge) -> Result<(), SolverError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_success_false_with_a_timeout_message() {
    let mut solvers = Solvers::new();
    solvers.insert("slow".to_owned(), Arc::new(Slow));
    let mut state = AppState::new(GROUP, solvers);
    state.request_timeout = Duration::from_millis(50);
    let app = router(state);
    let started = std::time::Instant::now();
    let (status, body) = post(
        &app,
        &solver_path("slow"),
        &golden("challenge/present.json"),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let message = failure_message(status, &body);
    assert!(message.contains("did not finish within 50ms"), "{message}");
    assert!(
        message.contains("_acme-challenge.example.com."),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_config_key_is_success_false_naming_the_key() {
    let (app, store) = memory_app(&["example.com"]);
    let mut p = golden("challenge/present.json");
    p["request"]["config"] = json!({"tll": 60});
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = failure_message(status, &body);
    assert!(message.contains("`tll`"), "{message}");
    assert!(
        message.contains("`ttl`") && message.contains("`delegation`"),
        "{message}"
    );
    assert_eq!(store.call_counts().rrset_calls(), 0);
}

#[tokio::test]
async fn answered_requests_are_counted_in_metrics() {
    let (state, _) = memory_state(&["example.com"]);
    let metrics = state.metrics.clone();
    let app = router(state);
    post(
        &app,
        &solver_path("memory"),
        &golden("challenge/present.json"),
    )
    .await;
    let mut p = golden("challenge/present.json");
    p["request"]["action"] = json!("Nope");
    post(&app, &solver_path("memory"), &p).await;
    let text = metrics.encode();
    assert!(
        text.contains(r#"requests_total{solver="memory",action="Present",outcome="success"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"requests_total{solver="memory",action="unknown",outcome="rejected"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("dns01_webhook_requests_in_flight 0"),
        "{text}"
    );
}

/// With authentication on, the body limit still holds for an authorised caller, and a body
/// within it is served (both layers wrap the routes together).
#[tokio::test]
async fn with_authentication_on_an_authorised_body_over_the_limit_is_a_413_status() {
    use axum::body::Body;
    use dns01_testkit::pki::TestCa;
    use dns01_webhook::auth::{AuthConfig, AuthConfigSource, Authenticator};
    use dns01_webhook::tls::PeerCertificates;
    use http_body_util::BodyExt as _;
    use rustls_pki_types::CertificateDer;
    use tower::ServiceExt as _;

    let front_ca = TestCa::new("front-proxy-ca");
    let front_cert = front_ca.client_cert("front-proxy-client", &[]);
    let (mut state, store) = memory_state(&["example.com"]);
    let source = AuthConfigSource::fixed(AuthConfig {
        requestheader_client_ca: Some(front_ca.cert_pem().to_owned()),
        username_headers: vec!["X-Remote-User".into()],
        group_headers: vec!["X-Remote-Group".into()],
        ..AuthConfig::default()
    })
    .unwrap();
    state.auth = Some(Arc::new(Authenticator::new(source, None)));
    state.body_limit = 2048;
    let app = router(state);
    let send = |body: Vec<u8>| {
        let mut request = axum::http::Request::post(solver_path("memory"))
            .header("content-type", "application/json")
            // system:masters needs no SubjectAccessReview, so no API server is involved.
            .header("X-Remote-User", "kube-admin")
            .header("X-Remote-Group", "system:masters")
            .body(Body::from(body))
            .unwrap();
        request
            .extensions_mut()
            .insert(PeerCertificates::new(vec![CertificateDer::from(
                front_cert.cert_der.clone(),
            )]));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let mut payload = golden("challenge/present.json");
    let (status, body) = send(serde_json::to_vec(&payload).unwrap()).await;
    assert!(success(status, &body), "{status} {body}");
    assert_eq!(store.snapshot().len(), 1);
    payload["request"]["uid"] = json!("x".repeat(4096));
    let (status, body) = send(serde_json::to_vec(&payload).unwrap()).await;
    status_error(status, &body, 413, "RequestEntityTooLarge");
}

#[tokio::test]
async fn with_authentication_on_anonymous_api_calls_get_401_and_health_still_answers() {
    use dns01_webhook::auth::{AuthConfig, AuthConfigSource, Authenticator};
    let (mut state, store) = memory_state(&["example.com"]);
    let source = AuthConfigSource::fixed(AuthConfig::default()).unwrap();
    state.auth = Some(Arc::new(Authenticator::new(source, None)));
    let app = router(state);
    let (status, body) = post(
        &app,
        &solver_path("memory"),
        &golden("challenge/present.json"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(store.call_counts().rrset_calls(), 0);
    assert!(store.snapshot().is_empty());
    let (status, _) = get(&app, &format!("/apis/{GROUP}/v1alpha1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
}
