//! Solver configuration and credentials of the `gandi` solver, with Secrets in memory. None of
//! these requests may reach an upstream: the Gandi URL points at a closed port.

use std::sync::Arc;

use axum::Router;
use dns01_webhook::secrets::StaticSecrets;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::{AppState, router};
use serde_json::{Value, json};

use crate::support::*;

fn gandi_app(secrets: &StaticSecrets, ambient: AmbientCredentials) -> Router {
    let settings = GandiSettings {
        production_url: "http://127.0.0.1:9/v5/livedns".parse().unwrap(),
        sandbox_url: "http://127.0.0.1:9/v5/livedns".parse().unwrap(),
        ..GandiSettings::default()
    };
    let solver = GandiSolver::new(Arc::new(secrets.clone()), ambient, settings);
    let mut solvers = Solvers::new();
    solvers.insert("gandi".to_owned(), Arc::new(solver));
    router(AppState::new(GROUP, solvers))
}

fn present(namespace: &str, config: Value) -> Value {
    payload(
        "Present",
        "example.com",
        "_acme-challenge.example.com.",
        namespace,
        config,
    )
}

#[tokio::test]
async fn an_unknown_key_is_refused_naming_it_and_listing_the_valid_keys() {
    let secrets = StaticSecrets::new();
    let app = gandi_app(&secrets, AmbientCredentials::none());
    let (status, body) = post(
        &app,
        &solver_path("gandi"),
        &present("team-a", json!({"apiKeySecretRefs": {"name": "x"}})),
    )
    .await;
    let message = failure_message(status, &body);
    assert!(message.contains("`apiKeySecretRefs`"), "{message}");
    for valid in [
        "patSecretRef",
        "apiKeySecretRef",
        "sharingId",
        "ttl",
        "endpoint",
        "delegation",
    ] {
        assert!(message.contains(valid), "{valid} missing from {message}");
    }
    assert_eq!(secrets.reads(), 0);
}

#[tokio::test]
async fn a_missing_secret_is_named_with_its_namespace() {
    let secrets = StaticSecrets::new();
    let app = gandi_app(&secrets, AmbientCredentials::none());
    let (status, body) = post(
        &app,
        &solver_path("gandi"),
        &present(
            "team-a",
            json!({"patSecretRef": {"name": "gandi-credentials"}}),
        ),
    )
    .await;
    let message = failure_message(status, &body);
    assert!(
        message.contains("Secret team-a/gandi-credentials not found"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_key_is_named_with_the_default_key() {
    let secrets = StaticSecrets::new();
    secrets.insert("team-a", "gandi-credentials", "token", "t");
    let app = gandi_app(&secrets, AmbientCredentials::none());
    let (status, body) = post(
        &app,
        &solver_path("gandi"),
        &present(
            "team-a",
            json!({"patSecretRef": {"name": "gandi-credentials"}}),
        ),
    )
    .await;
    let message = failure_message(status, &body);
    assert!(message.contains("team-a/gandi-credentials"), "{message}");
    assert!(message.contains("\"api-token\""), "{message}");
    assert!(message.contains("token"), "{message}");
}

#[tokio::test]
async fn secrets_are_read_from_the_request_namespace_only() {
    let secrets = StaticSecrets::new();
    secrets.insert("platform", "gandi-credentials", "api-token", "t");
    let app = gandi_app(&secrets, AmbientCredentials::none());
    let (status, body) = post(
        &app,
        &solver_path("gandi"),
        &present(
            "team-a",
            json!({"patSecretRef": {"name": "gandi-credentials"}}),
        ),
    )
    .await;
    let message = failure_message(status, &body);
    assert!(
        message.contains("team-a/gandi-credentials not found"),
        "{message}"
    );
}

#[tokio::test]
async fn ambient_credentials_are_refused_when_the_request_does_not_allow_them() {
    let secrets = StaticSecrets::new();
    let app = gandi_app(
        &secrets,
        AmbientCredentials::new(Some("ambient-token".into()), None),
    );
    let (status, body) = post(&app, &solver_path("gandi"), &present("team-a", json!({}))).await;
    let message = failure_message(status, &body);
    assert!(
        message.contains("allowAmbientCredentials is false"),
        "{message}"
    );
    assert!(!message.contains("ambient-token"), "{message}");
}

#[tokio::test]
async fn both_secret_references_at_once_are_refused() {
    let secrets = StaticSecrets::new();
    let app = gandi_app(&secrets, AmbientCredentials::none());
    let config = json!({"patSecretRef": {"name": "a"}, "apiKeySecretRef": {"name": "b"}});
    let (status, body) = post(&app, &solver_path("gandi"), &present("team-a", config)).await;
    let message = failure_message(status, &body);
    assert!(message.contains("give only one"), "{message}");
    assert_eq!(secrets.reads(), 0);
}

#[tokio::test]
async fn a_delegation_refusal_reads_no_secret() {
    let secrets = StaticSecrets::new();
    secrets.insert("team-a", "gandi-credentials", "api-token", "t");
    let app = gandi_app(&secrets, AmbientCredentials::none());
    let config = json!({
        "patSecretRef": {"name": "gandi-credentials"},
        "delegation": {"zone": "acme.platform.example"}
    });
    let (status, body) = post(&app, &solver_path("gandi"), &present("team-a", config)).await;
    let message = failure_message(status, &body);
    assert!(message.contains("CNAME"), "{message}");
    assert_eq!(secrets.reads(), 0);
}
