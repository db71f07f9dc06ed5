//! Access: a namespaced Issuer reads Secrets only in its own namespace (`resourceNamespace`),
//! never uses the webhook's ambient credentials, and cannot write outside the validation zone
//! or at a name bound to another namespace; every refusal happens before any Secret read (the
//! fake Kubernetes API's request log) and any Gandi call (the emulator's counters). Each
//! refusal has a positive control showing that the same credential does work where allowed.

use dns01_core::delegation::delegated_name;
use dns01_core::{Fqdn, ZoneName};
use dns01_testkit::emulator::{Emulator, Token};
use dns01_testkit::kubefake::KubeFake;
use dns01_webhook::router;
use dns01_webhook::solver::gandi::AmbientCredentials;
use serde_json::{Value, json};

use crate::support::*;

const TEAM_A_TOKEN: &str = "pat-team-a";
const TEAM_B_TOKEN: &str = "pat-team-b";
const PLATFORM_TOKEN: &str = "pat-platform";
const AMBIENT_TOKEN: &str = "pat-webhook-ambient";
const VALIDATION_ZONE: &str = "acme.platform.example";
const DOMAIN: &str = "app.customer.com";

struct World {
    emu: Emulator,
    fake: KubeFake,
    app: axum::Router,
}

async fn world() -> World {
    let emu = Emulator::builder()
        .zone("example.com")
        .zone("platform.example")
        .token(Token::pat(TEAM_A_TOKEN))
        .token(Token::pat(TEAM_B_TOKEN))
        .token(Token::pat(PLATFORM_TOKEN))
        .token(Token::pat(AMBIENT_TOKEN))
        .start()
        .await
        .unwrap();
    let fake = KubeFake::start().await;
    fake.set_secret(
        "team-a",
        "gandi-credentials",
        &[("api-token", TEAM_A_TOKEN.as_bytes())],
    );
    fake.set_secret(
        "team-b",
        "gandi-credentials",
        &[("api-token", TEAM_B_TOKEN.as_bytes())],
    );
    fake.set_secret(
        "platform",
        "platform-gandi",
        &[("api-token", PLATFORM_TOKEN.as_bytes())],
    );
    let solver = gandi_solver(
        &emu,
        kube_secrets(&fake),
        AmbientCredentials::new(Some(AMBIENT_TOKEN.into()), None),
    );
    let app = router(gandi_state(solver));
    World { emu, fake, app }
}

impl World {
    fn secret_reads(&self) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/secrets/"))
            .map(|r| r.path)
            .collect()
    }

    fn upstream_calls(&self) -> u64 {
        self.emu.counters().total()
    }

    fn nothing_read_or_called(&self) {
        assert_eq!(self.secret_reads(), Vec::<String>::new());
        assert_eq!(self.upstream_calls(), 0);
    }
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

fn bound(namespace: &str) -> Fqdn {
    delegated_name(
        &Fqdn::parse(DOMAIN).unwrap(),
        namespace,
        &ZoneName::parse(VALIDATION_ZONE).unwrap(),
    )
    .unwrap()
}

/// `bound(namespace)` relative to the Gandi domain `platform.example`.
fn bound_relative(namespace: &str) -> String {
    bound(namespace)
        .as_str()
        .strip_suffix(".platform.example")
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_namespace_in_the_secret_reference_is_refused_as_an_unknown_key_before_any_read() {
    let w = world().await;
    for reference in ["patSecretRef", "apiKeySecretRef"] {
        let config = json!({ reference: {"name": "platform-gandi", "namespace": "platform"} });
        let (status, body) = post(&w.app, "gandi", &present("team-a", config)).await;
        let message = failure_message(status, &body);
        assert!(message.contains("unknown field `namespace`"), "{message}");
        assert!(
            message.contains("`name`") && message.contains("`key`"),
            "{message}"
        );
    }
    w.nothing_read_or_called();
}

#[tokio::test]
async fn a_secret_is_read_in_the_request_namespace_only_even_when_another_namespace_has_it() {
    let w = world().await;
    let config = json!({"patSecretRef": {"name": "platform-gandi"}});
    let (status, body) = post(&w.app, "gandi", &present("team-a", config.clone())).await;
    let message = failure_message(status, &body);
    assert!(
        message.contains("Secret team-a/platform-gandi not found"),
        "{message}"
    );
    assert_eq!(
        w.secret_reads(),
        ["/api/v1/namespaces/team-a/secrets/platform-gandi"]
    );
    assert_eq!(w.upstream_calls(), 0);
    assert!(
        w.emu
            .decoded_txt("example.com", "_acme-challenge")
            .is_empty()
    );

    // Control: from its own namespace the same reference works.
    let (status, body) = post(&w.app, "gandi", &present("platform", config)).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(
        w.secret_reads()[1],
        "/api/v1/namespaces/platform/secrets/platform-gandi"
    );
}

#[tokio::test]
async fn a_namespaced_issuer_cannot_use_the_webhooks_ambient_credentials() {
    let w = world().await;
    // No reference: cert-manager sends allowAmbientCredentials false for every Issuer.
    let (status, body) = post(&w.app, "gandi", &present("team-a", json!({}))).await;
    let message = failure_message(status, &body);
    assert!(
        message.contains("allowAmbientCredentials is false"),
        "{message}"
    );
    // A reference that fails to read does not fall back to them either.
    let (status, body) = post(
        &w.app,
        "gandi",
        &present("team-a", json!({"patSecretRef": {"name": "absent"}})),
    )
    .await;
    let message = failure_message(status, &body);
    assert!(message.contains("team-a/absent not found"), "{message}");
    assert_eq!(w.upstream_calls(), 0);
    assert!(
        w.emu
            .decoded_txt("example.com", "_acme-challenge")
            .is_empty()
    );

    // Control: a ClusterIssuer (allowAmbientCredentials true) may use them.
    let mut cluster = present("cert-manager", json!({}));
    cluster["request"]["allowAmbientCredentials"] = json!(true);
    let (status, body) = post(&w.app, "gandi", &cluster).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(w.emu.decoded_txt("example.com", "_acme-challenge").len(), 1);
}

#[tokio::test]
async fn a_target_outside_the_validation_zone_is_refused_before_any_secret_read_or_upstream_call() {
    let w = world().await;
    for (tenant_binding, allow_ambient) in [(true, false), (false, false), (false, true)] {
        let config = json!({
            "patSecretRef": {"name": "gandi-credentials"},
            "delegation": {"zone": VALIDATION_ZONE, "mode": "follow", "tenantBinding": tenant_binding},
        });
        for (action, resolved) in [
            ("Present", "_acme-challenge.app.customer.com."),
            ("Present", "_acme-challenge.example.com."),
            ("CleanUp", "_acme-challenge.example.com."),
            ("Present", "acme.platform.example.evil.example.com."),
            ("Present", "xacme.platform.example."),
        ] {
            let mut p = payload(action, DOMAIN, resolved, "team-a", config.clone());
            p["request"]["allowAmbientCredentials"] = json!(allow_ambient);
            let (status, body) = post(&w.app, "gandi", &p).await;
            let message = failure_message(status, &body);
            assert!(
                message.contains("outside the delegated validation zone"),
                "{resolved}: {message}"
            );
        }
    }
    w.nothing_read_or_called();
}

#[tokio::test]
async fn a_name_bound_to_another_namespace_is_refused_before_any_secret_read_or_upstream_call() {
    let w = world().await;
    let config = json!({
        "patSecretRef": {"name": "gandi-credentials"},
        "delegation": {"zone": VALIDATION_ZONE, "mode": "follow"},
    });
    // Tenant A answers its own challenge at its own name.
    let a_name = bound("team-a").to_absolute_string();
    let (status, body) = post(
        &w.app,
        "gandi",
        &payload("Present", DOMAIN, &a_name, "team-a", config.clone()),
    )
    .await;
    assert!(success(status, &body), "{body}");
    let a_values = w
        .emu
        .decoded_txt("platform.example", &bound_relative("team-a"));
    assert_eq!(a_values.len(), 1);
    let reads_before = w.secret_reads().len();
    w.emu.reset_counters();

    // Tenant B, with valid credentials of its own, tries to write and to remove at A's name.
    for action in ["Present", "CleanUp"] {
        let mut p = payload(action, DOMAIN, &a_name, "team-b", config.clone());
        p["request"]["key"] = json!("tenant-b-key-authorisation-digest");
        let (status, body) = post(&w.app, "gandi", &p).await;
        let message = failure_message(status, &body);
        assert!(message.contains("tenant binding"), "{message}");
        assert!(message.contains(bound("team-b").as_str()), "{message}");
    }
    // The same key as A's, too: CleanUp must not remove A's value.
    let (status, body) = post(
        &w.app,
        "gandi",
        &payload("CleanUp", DOMAIN, &a_name, "team-b", config.clone()),
    )
    .await;
    failure_message(status, &body);

    assert_eq!(w.secret_reads().len(), reads_before, "B's Secret was read");
    assert_eq!(w.upstream_calls(), 0);
    assert_eq!(
        w.emu
            .decoded_txt("platform.example", &bound_relative("team-a")),
        a_values
    );
    assert!(
        w.emu
            .decoded_txt("platform.example", &bound_relative("team-b"))
            .is_empty()
    );

    // Control: at its own name B's credentials work.
    let (status, body) = post(
        &w.app,
        "gandi",
        &payload(
            "Present",
            DOMAIN,
            &bound("team-b").to_absolute_string(),
            "team-b",
            config,
        ),
    )
    .await;
    assert!(success(status, &body), "{body}");
    assert_eq!(
        w.emu
            .decoded_txt("platform.example", &bound_relative("team-b"))
            .len(),
        1
    );
}
