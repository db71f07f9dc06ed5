//! The `rfc2136` solver through the router against a real BIND 9 (dns01-testkit's harness).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use dns01_core::retry::RetryPolicy;
use dns01_testkit::bind::{Bind, BindZone, TsigKeySpec};
use dns01_webhook::secrets::StaticSecrets;
use dns01_webhook::solver::Solvers;
use dns01_webhook::solver::rfc2136::{Rfc2136Settings, Rfc2136Solver, normalize_nameserver};
use dns01_webhook::{AppState, router};
use serde_json::{Value, json};

use crate::support::*;

const ZONE: &str = "example.test";
const VALUE: &str = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ";

struct Setup {
    bind: Bind,
    key: TsigKeySpec,
    app: Router,
}

fn start(secrets_for: &[&str]) -> Setup {
    let key = TsigKeySpec::new("acme-update", "hmac-sha256");
    let bind = Bind::builder()
        .key(key.clone())
        .zone(BindZone::new(ZONE).grant(&key.name))
        .zone(BindZone::new("acme.platform.test").grant(&key.name))
        .start()
        .expect("named (apt-get install bind9)");
    let secrets = StaticSecrets::new();
    for ns in secrets_for {
        secrets.insert(ns, "tsig", "tsig-secret-key", key.secret.as_str());
    }
    let app = app(&bind, secrets);
    Setup { bind, key, app }
}

fn app(bind: &Bind, secrets: StaticSecrets) -> Router {
    let settings = Rfc2136Settings {
        nameservers: vec![bind.addr().to_string()],
        timeout: Duration::from_secs(3),
        retry: RetryPolicy::none(),
    };
    let mut solvers = Solvers::new();
    solvers.insert(
        "rfc2136".to_owned(),
        Arc::new(Rfc2136Solver::new(Arc::new(secrets), settings)),
    );
    router(AppState::new(GROUP, solvers))
}

fn config(bind: &Bind, extra: Value) -> Value {
    let mut c = json!({
        "nameserver": bind.addr().to_string(),
        "tsigKeyName": "acme-update",
        "tsigAlgorithm": "HMACSHA256",
        "tsigSecretSecretRef": {"name": "tsig", "key": "tsig-secret-key"},
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

async fn served(bind: &Bind, name: &str) -> Vec<String> {
    dns01_testkit::acmetest::txt_values(bind.addr(), name, false)
        .await
        .unwrap()
}

#[tokio::test]
async fn present_and_cleanup_write_and_remove_exactly_the_value_with_one_update_each() {
    let s = start(&["team-a"]);
    let name = format!("_acme-challenge.app.{ZONE}");
    s.bind
        .nsupdate(
            &s.key,
            &[&format!("update add {name} 300 TXT \"other-tool\"")],
        )
        .unwrap();
    let updates = s.bind.opcode_count("UPDATE").unwrap();
    for (action, expect) in [
        ("Present", vec!["other-tool", VALUE]),
        ("CleanUp", vec!["other-tool"]),
    ] {
        let p = payload(
            action,
            &format!("app.{ZONE}"),
            &format!("{name}."),
            "team-a",
            config(&s.bind, json!({})),
        );
        let (status, body) = post(&s.app, &solver_path("rfc2136"), &p).await;
        assert!(success(status, &body), "{action}: {body}\n{}", s.bind.log());
        let mut got = served(&s.bind, &name).await;
        got.sort();
        let mut expect = expect;
        expect.sort_unstable();
        assert_eq!(got, expect, "{action}");
    }
    assert_eq!(s.bind.opcode_count("UPDATE").unwrap() - updates, 2);
}

#[tokio::test]
async fn a_nameserver_outside_the_operators_list_is_refused_and_no_update_is_sent() {
    let s = start(&["team-a"]);
    let updates = s.bind.opcode_count("UPDATE").unwrap();
    for nameserver in ["10.1.2.3:53", "metadata.google.internal", "127.0.0.1:1"] {
        let p = payload(
            "Present",
            &format!("app.{ZONE}"),
            &format!("_acme-challenge.app.{ZONE}."),
            "team-a",
            config(&s.bind, json!({"nameserver": nameserver})),
        );
        let (status, body) = post(&s.app, &solver_path("rfc2136"), &p).await;
        let message = failure_message(status, &body);
        assert!(
            message.contains("is not one this webhook may send updates to"),
            "{message}"
        );
        assert!(
            message.contains(&s.bind.addr().to_string()),
            "names the allowed ones: {message}"
        );
    }
    assert_eq!(s.bind.opcode_count("UPDATE").unwrap(), updates);
}

#[tokio::test]
async fn unsigned_md5_and_misnamed_secrets_are_config_errors_that_name_the_fix_and_not_the_secret()
{
    let s = start(&["team-a"]);
    let cases = [
        (
            json!({"tsigKeyName": null}),
            "tsigKeyName and tsigSecretSecretRef are required",
        ),
        (json!({"tsigAlgorithm": "HMACMD5"}), "HMAC-MD5"),
        (json!({"protocol": "QUIC"}), "`protocol`"),
        (
            json!({"tsigSecretSecretRef": {"name": "missing"}}),
            "missing",
        ),
        (json!({"tsigKeyname": "typo"}), "`tsigKeyname`"),
    ];
    for (extra, needle) in cases {
        let mut c = config(&s.bind, extra.clone());
        if extra["tsigKeyName"].is_null() && extra.get("tsigKeyName").is_some() {
            c.as_object_mut().unwrap().remove("tsigKeyName");
        }
        let p = payload(
            "Present",
            &format!("app.{ZONE}"),
            &format!("_acme-challenge.app.{ZONE}."),
            "team-a",
            c,
        );
        let (status, body) = post(&s.app, &solver_path("rfc2136"), &p).await;
        let message = failure_message(status, &body);
        assert!(message.contains(needle), "{extra}: {message}");
        assert!(
            !message.contains(&s.key.secret),
            "{extra}: secret in {message}"
        );
    }
}

#[tokio::test]
async fn a_wrong_secret_is_an_authentication_failure_naming_the_server_zone_record_and_badsig() {
    let s = start(&[]);
    let secrets = StaticSecrets::new();
    secrets.insert(
        "team-a",
        "tsig",
        "tsig-secret-key",
        "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==",
    );
    let app = app(&s.bind, secrets);
    let p = payload(
        "Present",
        &format!("app.{ZONE}"),
        &format!("_acme-challenge.app.{ZONE}."),
        "team-a",
        config(&s.bind, json!({})),
    );
    let (status, body) = post(&app, &solver_path("rfc2136"), &p).await;
    let message = failure_message(status, &body);
    for part in [
        "authentication failed",
        "BADSIG",
        &s.bind.addr().to_string(),
        "example.test.",
        "_acme-challenge.app.example.test.",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    assert!(!message.contains("d3Jvbmct"), "{message}");
}

#[tokio::test]
async fn delegation_and_tenant_binding_work_as_with_gandi() {
    let s = start(&["team-a", "team-b"]);
    let delegation = json!({"delegation": {"zone": "acme.platform.test", "mode": "map"}});
    let dns_name = format!("app.{ZONE}");
    let bound = |ns: &str| {
        dns01_core::delegation::delegated_name(
            &dns01_core::Fqdn::parse(&dns_name).unwrap(),
            ns,
            &dns01_core::ZoneName::parse("acme.platform.test").unwrap(),
        )
        .unwrap()
    };
    let p = payload(
        "Present",
        &dns_name,
        &format!("_acme-challenge.{dns_name}."),
        "team-a",
        config(&s.bind, delegation),
    );
    let (status, body) = post(&s.app, &solver_path("rfc2136"), &p).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(served(&s.bind, bound("team-a").as_str()).await, [VALUE]);
    assert!(served(&s.bind, bound("team-b").as_str()).await.is_empty());
    assert!(
        served(&s.bind, &format!("_acme-challenge.{dns_name}"))
            .await
            .is_empty()
    );

    // follow mode: team-b following team-a's CNAME target is refused, nothing written.
    let follow = json!({"delegation": {"zone": "acme.platform.test"}});
    let p = payload(
        "Present",
        &dns_name,
        &format!("{}", bound("team-a")),
        "team-b",
        config(&s.bind, follow),
    );
    let (status, body) = post(&s.app, &solver_path("rfc2136"), &p).await;
    let message = failure_message(status, &body);
    assert!(message.contains("tenant binding"), "{message}");
    assert_eq!(served(&s.bind, bound("team-a").as_str()).await, [VALUE]);
}

#[test]
fn nameservers_compare_equal_however_they_are_written() {
    for (a, b) in [
        ("127.0.0.1", "127.0.0.1:53"),
        ("NS1.Example.COM", "ns1.example.com:53"),
        ("[2001:db8::53]:53", "2001:0db8:0:0::53"),
    ] {
        assert_eq!(
            normalize_nameserver(a).unwrap(),
            normalize_nameserver(b).unwrap(),
            "{a} {b}"
        );
    }
    for bad in ["", "host:port", "a..b:53", "http://ns1:53", "ns1:0"] {
        assert!(normalize_nameserver(bad).is_err(), "{bad}");
    }
}
