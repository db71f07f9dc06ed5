//! The `gandi` solver end to end against the Gandi LiveDNS emulator (dns01-testkit).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use dns01_testkit::emulator::{Emulator, Token};
use dns01_webhook::metrics::Metrics;
use dns01_webhook::secrets::StaticSecrets;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::gandi::{AmbientCredentials, GandiSettings, GandiSolver};
use dns01_webhook::{AppState, router};
use serde_json::{Value, json};

use crate::support::*;

const TOKEN: &str = "pat-for-team-a";

async fn emulator() -> Emulator {
    Emulator::builder()
        .zone("example.com")
        .zone("platform.example")
        .token(Token::pat(TOKEN))
        .start()
        .await
        .unwrap()
}

fn app(
    emu: &Emulator,
    secrets: &StaticSecrets,
    ambient: AmbientCredentials,
) -> (Router, Arc<GandiSolver>, Arc<Metrics>) {
    app_limited(
        emu,
        secrets,
        ambient,
        GandiSettings::default().rate_limit_per_minute,
    )
}

fn app_limited(
    emu: &Emulator,
    secrets: &StaticSecrets,
    ambient: AmbientCredentials,
    rate_limit_per_minute: u32,
) -> (Router, Arc<GandiSolver>, Arc<Metrics>) {
    let url: url::Url = emu.api_url().parse().unwrap();
    let settings = GandiSettings {
        production_url: url.clone(),
        sandbox_url: url,
        rate_limit_per_minute,
        ..GandiSettings::default()
    };
    let metrics = Arc::new(Metrics::new());
    let solver = Arc::new(
        GandiSolver::new(Arc::new(secrets.clone()), ambient, settings)
            .with_observer(metrics.clone()),
    );
    let mut solvers = Solvers::new();
    solvers.insert("gandi".to_owned(), solver.clone());
    let mut state = AppState::new(GROUP, solvers);
    state.metrics = metrics.clone();
    (router(state), solver, metrics)
}

fn config() -> Value {
    json!({"patSecretRef": {"name": "gandi-credentials"}})
}

fn secrets(token: &str) -> StaticSecrets {
    let s = StaticSecrets::new();
    s.insert("team-a", "gandi-credentials", "api-token", token);
    s
}

#[tokio::test]
async fn present_and_cleanup_write_and_remove_the_value_at_gandi() {
    let emu = emulator().await;
    let (app, _, metrics) = app(&emu, &secrets(TOKEN), AmbientCredentials::none());
    let p = payload(
        "Present",
        "example.com",
        "_acme-challenge.example.com.",
        "team-a",
        config(),
    );
    let (status, body) = post(&app, &solver_path("gandi"), &p).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(
        emu.decoded_txt("example.com", "_acme-challenge"),
        ["LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"]
    );
    let c = payload(
        "CleanUp",
        "example.com",
        "_acme-challenge.example.com.",
        "team-a",
        config(),
    );
    let (status, body) = post(&app, &solver_path("gandi"), &c).await;
    assert!(success(status, &body), "{body}");
    assert!(emu.decoded_txt("example.com", "_acme-challenge").is_empty());
    assert!(
        metrics
            .encode()
            .contains("dns01_webhook_upstream_calls_total{"),
        "{}",
        metrics.encode()
    );
}

#[tokio::test]
async fn a_rejected_token_is_success_false_with_gandis_answer_and_never_the_token() {
    let emu = emulator().await;
    let (app, _, _) = app(&emu, &secrets("wrong-token"), AmbientCredentials::none());
    let p = payload(
        "Present",
        "example.com",
        "_acme-challenge.example.com.",
        "team-a",
        config(),
    );
    let (status, body) = post(&app, &solver_path("gandi"), &p).await;
    let message = failure_message(status, &body);
    assert!(message.contains("_acme-challenge.example.com"), "{message}");
    assert!(
        message.to_lowercase().contains("authentication"),
        "{message}"
    );
    assert!(!message.contains("wrong-token"), "{message}");
}

#[tokio::test]
async fn requests_with_the_same_credential_share_one_client() {
    let emu = emulator().await;
    let (app, solver, _) = app(&emu, &secrets(TOKEN), AmbientCredentials::none());
    for name in [
        "_acme-challenge.example.com.",
        "_acme-challenge.www.example.com.",
    ] {
        let p = payload("Present", "example.com", name, "team-a", config());
        let (status, body) = post(&app, &solver_path("gandi"), &p).await;
        assert!(success(status, &body), "{body}");
    }
    assert_eq!(solver.client_count(), 1);
}

#[tokio::test]
async fn ambient_credentials_are_used_when_allowed_and_no_secret_is_named() {
    let emu = emulator().await;
    let secrets = StaticSecrets::new();
    let (app, _, _) = app(
        &emu,
        &secrets,
        AmbientCredentials::new(Some(TOKEN.into()), None),
    );
    let mut p = payload(
        "Present",
        "example.com",
        "_acme-challenge.example.com.",
        "team-a",
        json!({}),
    );
    p["request"]["allowAmbientCredentials"] = json!(true);
    let (status, body) = post(&app, &solver_path("gandi"), &p).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(emu.decoded_txt("example.com", "_acme-challenge").len(), 1);
    assert_eq!(secrets.reads(), 0);
}

#[tokio::test]
async fn a_delegated_challenge_lands_in_the_validation_zone_inside_a_gandi_domain() {
    let emu = emulator().await;
    let (app, _, _) = app(&emu, &secrets(TOKEN), AmbientCredentials::none());
    let config = json!({
        "patSecretRef": {"name": "gandi-credentials"},
        "delegation": {"zone": "acme.platform.example", "mode": "map"}
    });
    let p = payload(
        "Present",
        "app.customer.com",
        "_acme-challenge.app.customer.com.",
        "team-a",
        config,
    );
    let (status, body) = post(&app, &solver_path("gandi"), &p).await;
    assert!(success(status, &body), "{body}");
    let target = dns01_core::delegation::delegated_name(
        &dns01_core::Fqdn::parse("app.customer.com").unwrap(),
        "team-a",
        &dns01_core::ZoneName::parse("acme.platform.example").unwrap(),
    )
    .unwrap();
    let relative = target.as_str().strip_suffix(".platform.example").unwrap();
    assert_eq!(emu.decoded_txt("platform.example", relative).len(), 1);
}

/// Issuers written for the Go Gandi webhooks keep working unchanged: bwolf's put a legacy API
/// key under `apiKeySecretRef`, krancovia's a personal access token under the same key.
#[tokio::test]
async fn api_key_secret_refs_work_with_a_legacy_key_or_a_personal_access_token() {
    const LEGACY_KEY: &str = "abcdefghij0123456789klmn";
    let emu = emulator().await;
    emu.add_token(Token::api_key(LEGACY_KEY));
    for (token, key) in [(LEGACY_KEY, "api-key"), (TOKEN, "token")] {
        let s = StaticSecrets::new();
        s.insert("team-a", "gandi-access-token", key, token);
        let (app, _, _) = app(&emu, &s, AmbientCredentials::none());
        let cfg = json!({"apiKeySecretRef": {"name": "gandi-access-token", "key": key}});
        for action in ["Present", "CleanUp"] {
            let p = payload(
                action,
                "example.com",
                "_acme-challenge.example.com.",
                "team-a",
                cfg.clone(),
            );
            let (status, body) = post(&app, &solver_path("gandi"), &p).await;
            assert!(success(status, &body), "{key}: {body}");
            let expected: &[&str] = if action == "Present" {
                &["LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"]
            } else {
                &[]
            };
            assert_eq!(emu.decoded_txt("example.com", "_acme-challenge"), expected);
        }
    }
}

/// Tenants team-a and team-b, each with a token of its own, and their Presents.
mod two_tenants {
    use super::*;

    const TOKEN_B: &str = "pat-for-team-b";

    pub(super) async fn emulator() -> Emulator {
        let emu = super::emulator().await;
        emu.add_token(Token::pat(TOKEN_B));
        emu
    }

    pub(super) fn secrets() -> StaticSecrets {
        let s = super::secrets(TOKEN);
        s.insert("team-b", "gandi-credentials", "api-token", TOKEN_B);
        s
    }

    pub(super) fn present(namespace: &str) -> Value {
        let name = format!("_acme-challenge.{namespace}.example.com.");
        payload("Present", "example.com", &name, namespace, config())
    }
}

#[tokio::test]
async fn tenants_with_tokens_of_their_own_share_the_webhooks_gandi_rate_limit() {
    // What one tenant's first Present costs (zone discovery included), with room to spare.
    let emu = two_tenants::emulator().await;
    let (app, _, _) = app_limited(
        &emu,
        &two_tenants::secrets(),
        AmbientCredentials::none(),
        1000,
    );
    let (status, body) = post(&app, &solver_path("gandi"), &two_tenants::present("team-a")).await;
    assert!(success(status, &body), "{body}");
    let calls = emu.total_requests();
    assert!(calls > 0);

    // A limit of exactly that many calls per minute for the whole webhook: team-a's Present
    // uses it up, and team-b's, with its own token, waits for it (Gandi counts per source
    // IP, not per token), so nothing of team-b's reaches Gandi. The same when team-b names
    // the sandbox endpoint, here served by the same server as production.
    let limit = u32::try_from(calls).unwrap();
    for endpoint in ["production", "sandbox"] {
        let emu = two_tenants::emulator().await;
        let (app, solver, _) = app_limited(
            &emu,
            &two_tenants::secrets(),
            AmbientCredentials::none(),
            limit,
        );
        let path = solver_path("gandi");
        let (status, body) = post(&app, &path, &two_tenants::present("team-a")).await;
        assert!(success(status, &body), "{body}");
        assert_eq!(emu.total_requests(), calls);
        let mut present_b = two_tenants::present("team-b");
        present_b["request"]["config"]["endpoint"] = endpoint.into();
        let b = post(&app, &path, &present_b);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), b)
                .await
                .is_err(),
            "team-b's Present ({endpoint}) was not held back by team-a's use of the limit"
        );
        assert_eq!(emu.total_requests(), calls, "team-b's calls reached Gandi");
        assert_eq!(solver.client_count(), 2, "team-b had no client of its own");
    }

    // With room for both, team-b's Present goes through: the wait above was the limit's.
    let emu = two_tenants::emulator().await;
    let (app, _, _) = app_limited(
        &emu,
        &two_tenants::secrets(),
        AmbientCredentials::none(),
        2 * limit,
    );
    for namespace in ["team-a", "team-b"] {
        let (status, body) = post(
            &app,
            &solver_path("gandi"),
            &two_tenants::present(namespace),
        )
        .await;
        assert!(success(status, &body), "{body}");
    }
    assert_eq!(emu.total_requests(), 2 * calls);
}
