//! Delegated validation zones and tenant binding, through the router and the memory solver.

use dns01_core::delegation::delegated_name;
use dns01_core::{Fqdn, ZoneName};
use serde_json::{Value, json};

use crate::support::*;

const ZONE: &str = "acme.platform.example";
const DOMAIN: &str = "app.customer.com";

fn bound(namespace: &str) -> Fqdn {
    delegated_name(
        &Fqdn::parse(DOMAIN).unwrap(),
        namespace,
        &ZoneName::parse(ZONE).unwrap(),
    )
    .unwrap()
}

fn config(mode: &str, tenant_binding: bool) -> Value {
    json!({"delegation": {"zone": ZONE, "mode": mode, "tenantBinding": tenant_binding}})
}

#[tokio::test]
async fn follow_without_binding_writes_any_name_inside_the_zone() {
    let (app, store) = memory_app(&[ZONE]);
    let p = payload(
        "Present",
        DOMAIN,
        "whatever.acme.platform.example.",
        "team-a",
        config("follow", false),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(
        store
            .values(&Fqdn::parse("whatever.acme.platform.example").unwrap())
            .len(),
        1
    );
}

#[tokio::test]
async fn follow_refuses_a_name_outside_the_zone_with_the_cname_to_create_and_no_store_call() {
    let (app, store) = memory_app(&[ZONE, "customer.com"]);
    let p = payload(
        "Present",
        DOMAIN,
        "_acme-challenge.app.customer.com.",
        "team-a",
        config("follow", false),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = failure_message(status, &body);
    let line = format!(
        "_acme-challenge.app.customer.com. CNAME {}",
        bound("team-a")
    );
    assert!(message.contains(&line), "{message}");
    assert!(
        message.contains(&format!(
            "outside the delegated validation zone {ZONE}. Create"
        )),
        "{message}"
    );
    assert_eq!(store.call_counts().rrset_calls(), 0);
    assert_eq!(store.call_counts().find_zone, 0);
}

#[tokio::test]
async fn follow_with_binding_accepts_the_name_bound_to_the_namespace() {
    let (app, store) = memory_app(&[ZONE]);
    let target = bound("team-a");
    let p = payload(
        "Present",
        DOMAIN,
        &target.to_absolute_string(),
        "team-a",
        config("follow", true),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(store.values(&target).len(), 1);
}

#[tokio::test]
async fn follow_with_binding_refuses_another_namespace_with_its_own_cname_and_no_store_call() {
    let (app, store) = memory_app(&[ZONE]);
    // The customer's CNAME points at team-a's name; team-b's Issuer tries to use it.
    let p = payload(
        "Present",
        DOMAIN,
        &bound("team-a").to_absolute_string(),
        "team-b",
        config("follow", true),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    let message = failure_message(status, &body);
    assert!(message.contains("\"team-b\""), "{message}");
    assert!(message.contains(&bound("team-b").to_string()), "{message}");
    assert!(message.contains("tenant binding"), "{message}");
    assert_eq!(store.call_counts().rrset_calls(), 0);
    assert!(store.snapshot().is_empty());
}

#[tokio::test]
async fn binding_is_on_by_default() {
    let (app, store) = memory_app(&[ZONE]);
    let p = payload(
        "Present",
        DOMAIN,
        "whatever.acme.platform.example.",
        "team-a",
        json!({"delegation": {"zone": ZONE}}),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    failure_message(status, &body);
    assert_eq!(store.call_counts().rrset_calls(), 0);
}

#[tokio::test]
async fn map_writes_at_the_delegated_name_whatever_resolved_fqdn_says() {
    let (app, store) = memory_app(&[ZONE]);
    let p = payload(
        "Present",
        DOMAIN,
        "_acme-challenge.app.customer.com.",
        "team-a",
        config("map", true),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    assert!(success(status, &body), "{body}");
    let snapshot = store.snapshot();
    assert_eq!(
        snapshot.keys().cloned().collect::<Vec<_>>(),
        [bound("team-a")]
    );
}

#[tokio::test]
async fn map_puts_another_namespace_at_a_different_name() {
    let (app, store) = memory_app(&[ZONE]);
    for ns in ["team-a", "team-b"] {
        let p = payload(
            "Present",
            DOMAIN,
            "_acme-challenge.app.customer.com.",
            ns,
            config("map", true),
        );
        let (status, body) = post(&app, &solver_path("memory"), &p).await;
        assert!(success(status, &body), "{body}");
    }
    assert_ne!(bound("team-a"), bound("team-b"));
    assert_eq!(store.values(&bound("team-a")).len(), 1);
    assert_eq!(store.values(&bound("team-b")).len(), 1);
}

#[tokio::test]
async fn map_cleanup_does_not_depend_on_the_cname_still_resolving() {
    let (app, store) = memory_app(&[ZONE]);
    let present = payload(
        "Present",
        DOMAIN,
        "_acme-challenge.app.customer.com.",
        "team-a",
        config("map", true),
    );
    post(&app, &solver_path("memory"), &present).await;
    // The customer removed the CNAME: cert-manager now resolves to the customer's own name.
    let cleanup = payload(
        "CleanUp",
        DOMAIN,
        "_acme-challenge.app.customer.com.",
        "team-a",
        config("map", true),
    );
    let (status, body) = post(&app, &solver_path("memory"), &cleanup).await;
    assert!(success(status, &body), "{body}");
    assert!(store.snapshot().is_empty());
}

#[tokio::test]
async fn a_wildcard_order_shares_the_name_of_its_base_domain() {
    let (app, store) = memory_app(&[ZONE]);
    let p = payload(
        "Present",
        "*.app.customer.com",
        "_acme-challenge.app.customer.com.",
        "team-a",
        config("map", true),
    );
    let (status, body) = post(&app, &solver_path("memory"), &p).await;
    assert!(success(status, &body), "{body}");
    assert_eq!(store.values(&bound("team-a")).len(), 1);
}
