//! The `rfc2136` solver end to end: the real webhook binary updating a real BIND 9 with TSIG,
//! checked by cert-manager's conformance rules and by a Pebble issuance validated over BIND.

use std::path::PathBuf;
use std::time::Duration;

use dns01_testkit::acmetest::CERT_MANAGER_USER;
use dns01_testkit::acmetest::{self, Outcome, Suite};
use dns01_testkit::bind::{Bind, BindZone, TsigKeySpec};
use dns01_testkit::kubefake::SarRule;
use instant_acme::OrderStatus;

use crate::support::{Acme, ClusterCas, GROUP, Issuer, POLL, Webhook, acme_account, order, sans};

const ZONE: &str = "example.test";
const SOLVER: &str = "rfc2136";
const NAMESPACE: &str = "cert-manager-dns01-tests";
const FOREIGN_VALUE: &str = "kept-by-someone-else";

fn manifest_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/rfc2136"))
}

/// BIND primary for `example.test`, with the key of `testdata/rfc2136` allowed to update TXT
/// records and a foreign value at the conformance suite's name.
fn bind() -> Bind {
    let secrets = acmetest::load_manifests(&manifest_dir()).expect("testdata/rfc2136 manifests");
    let secret = secrets
        .iter()
        .find(|s| s.name == "tsig-secret")
        .and_then(|s| s.data.get("tsig-secret-key"))
        .expect("tsig-secret/tsig-secret-key");
    let key = TsigKeySpec {
        name: "acme-update".to_owned(),
        algorithm: "hmac-sha256".to_owned(),
        secret: String::from_utf8(secret.clone()).expect("base64 text"),
    };
    Bind::builder()
        .key(key.clone())
        .zone(BindZone::new(ZONE).grant(&key.name).record(&format!(
            "cert-manager-dns01-tests 300 IN TXT \"{FOREIGN_VALUE}\""
        )))
        .start()
        .expect("named (apt-get install bind9)")
}

async fn webhook(bind: &Bind) -> Webhook {
    // No Gandi here: its URL points at a closed port and is never called.
    let webhook = Webhook::start_with_args(
        "http://127.0.0.1:9/",
        ClusterCas::FrontProxyOnly,
        &["--rfc2136-nameserver".to_owned(), bind.addr().to_string()],
    )
    .await
    .expect("webhook");
    // The chart's ClusterRole lets cert-manager create every resource of the group.
    webhook
        .kube
        .allow(SarRule::user(CERT_MANAGER_USER, "create", GROUP, SOLVER));
    webhook
}

#[tokio::test]
async fn the_rfc2136_solver_passes_the_cert_manager_conformance_suite_against_bind() {
    let bind = bind();
    let webhook = webhook(&bind).await;
    acmetest::apply_manifests(&webhook.kube, &manifest_dir(), NAMESPACE).expect("manifests");
    let mut options = acmetest::Options::new(ZONE, bind.addr(), manifest_dir(), GROUP, SOLVER);
    options.resource_namespace = NAMESPACE.to_owned();
    options.nameserver_port = bind.addr().port();
    options.poll_interval = POLL;
    options.propagation_limit = Duration::from_secs(10);
    let suite = Suite::new(options, webhook.client.clone()).expect("suite");
    let report = suite.run().await.unwrap_or_else(|e| {
        panic!(
            "{e:#}\nwebhook log:\n{}\nnamed log:\n{}",
            webhook.log(),
            bind.log()
        )
    });
    println!("conformance suite (rfc2136 against BIND):\n{report}");
    assert!(
        webhook
            .kube
            .request_count(&format!("/api/v1/namespaces/{NAMESPACE}/secrets/"))
            >= 1,
        "the TSIG secret was never read from the Secret"
    );
    let left = acmetest::txt_values(
        bind.addr(),
        &format!("cert-manager-dns01-tests.{ZONE}"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        left,
        [FOREIGN_VALUE],
        "the suite's values are gone and the foreign one kept"
    );
}

#[tokio::test]
async fn pebble_issues_a_name_and_its_wildcard_validated_over_bind_and_the_zone_ends_as_it_began() {
    let bind = bind();
    let webhook = webhook(&bind).await;
    webhook.kube.set_secret(
        "team-a",
        "tsig-secret",
        &[("tsig-secret-key", bind.keys()[0].secret.as_bytes())],
    );
    let dns = bind.addr();
    let pebble = tokio::task::spawn_blocking(move || dns01_testkit::pebble::Pebble::start(dns))
        .await
        .unwrap()
        .expect("pebble");
    let account = acme_account(&pebble).await.expect("ACME account");
    let app = format!("app.{ZONE}");
    let wildcard = format!("*.app.{ZONE}");
    let challenge_name = format!("_acme-challenge.app.{ZONE}");
    let issuer = Issuer {
        namespace: "team-a".to_owned(),
        config: serde_json::json!({
            "nameserver": bind.addr().to_string(),
            "tsigKeyName": "acme-update",
            "tsigSecretSecretRef": {"name": "tsig-secret"},
        }),
        cname_follow: false,
    };
    let acme = Acme {
        account: &account,
        client: &webhook.client,
        dns,
        solver: SOLVER,
    };
    let holding = |value: &str| {
        let dig = bind.dig_txt(&challenge_name).unwrap_or_default();
        if dig.contains(value) {
            vec![challenge_name.clone()]
        } else {
            Vec::new()
        }
    };
    let run = order(&acme, &issuer, &[&app, &wildcard], holding)
        .await
        .expect("order");

    assert_eq!(run.presents.len(), 2, "{run:?}");
    for (request, outcome) in &run.presents {
        assert_eq!(outcome, &Outcome::Success, "{request:?}\n{}", webhook.log());
        assert_eq!(request.resolved_zone, format!("{ZONE}."));
    }
    // The apex and the wildcard challenge: two values at one name, at the same time.
    assert_ne!(run.presents[0].0.key, run.presents[1].0.key);
    assert_eq!(
        run.written_at,
        [[challenge_name.clone()], [challenge_name.clone()]],
        "{run:?}"
    );
    assert_eq!(run.self_checks, [true, true], "{run:?}");
    assert_eq!(
        run.status,
        OrderStatus::Valid,
        "{run:?}\npebble log:\n{}",
        pebble.log()
    );
    let chain = run.certificate.as_deref().expect("certificate");
    assert_eq!(sans(chain), [wildcard.as_str(), app.as_str()]);
    assert!(run.cleanups.iter().all(Outcome::is_success), "{run:?}");
    assert_eq!(
        bind.dig_txt(&challenge_name).unwrap().trim(),
        "",
        "cleaned up"
    );
    let log = webhook.log();
    assert!(
        log.contains("RFC 2136 UPDATE applied"),
        "the provider logs at debug:\n{log}"
    );
    assert!(
        !log.contains(&bind.keys()[0].secret),
        "the TSIG secret is in the log:\n{log}"
    );
}
