//! The in-memory store on its own.

use std::sync::Arc;

use dns01_core::memory::MemoryStore;
use dns01_core::{CreateOutcome, ErrorKind, Provider, RrsetStore, TxtRrset};

use crate::support::{fqdn, memory, record, rel, value, zone};

#[tokio::test]
async fn create_reports_an_existing_rrset_and_leaves_it_unchanged() {
    let store = memory();
    let (z, n) = (zone("example.com"), rel("a"));
    let first = TxtRrset {
        ttl: 300,
        values: vec![value("one")],
    };
    let second = TxtRrset {
        ttl: 600,
        values: vec![value("two")],
    };
    assert_eq!(
        store.create_txt(&z, &n, &first).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        store.create_txt(&z, &n, &second).await.unwrap(),
        CreateOutcome::AlreadyExists
    );
    assert_eq!(store.rrset(&z, &n), Some(first));
    assert_eq!(store.call_counts().create, 2);
}

#[tokio::test]
async fn delete_of_an_absent_rrset_succeeds_and_unknown_zones_are_refused() {
    let store = memory();
    store
        .delete_txt(&zone("example.com"), &rel("gone"))
        .await
        .unwrap();
    let err = store
        .read_txt(&zone("example.org"), &rel("a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ZoneNotFound);
    assert!(err.to_string().contains("example.org"), "{err}");
}

#[tokio::test]
async fn seeded_values_are_visible_in_values_rrset_and_snapshot_but_not_counted() {
    let store = memory();
    let name = fqdn("_acme-challenge.example.com");
    store.seed(&name, &value("foreign")).unwrap();
    store.seed(&name, &value("foreign")).unwrap();
    assert_eq!(store.values(&name), vec![value("foreign")]);
    assert_eq!(
        store
            .rrset(&zone("example.com"), &rel("_acme-challenge"))
            .map(|r| r.values),
        Some(vec![value("foreign")])
    );
    let snapshot = store.snapshot();
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[&name].values, vec![value("foreign")]);
    assert_eq!(store.call_counts().rrset_calls(), 0);
    assert!(store.seed(&fqdn("x.example.org"), &value("v")).is_err());
    assert!(store.values(&fqdn("x.example.org")).is_empty());
}

#[tokio::test]
async fn counts_are_kept_per_method_and_can_be_reset() {
    let store = memory();
    let provider = store.clone().provider();
    provider
        .present(&record("_acme-challenge.example.com", "a"))
        .await
        .unwrap();
    provider
        .cleanup(&record("_acme-challenge.example.com", "a"))
        .await
        .unwrap();
    let counts = store.call_counts();
    assert_eq!(
        (
            counts.find_zone,
            counts.create,
            counts.read,
            counts.delete,
            counts.replace
        ),
        (2, 1, 1, 1, 0)
    );
    assert_eq!(counts.rrset_calls(), 3);
    store.reset_counts();
    assert_eq!(store.call_counts().rrset_calls(), 0);
    assert_eq!(store.call_counts().find_zone, 0);
}

#[tokio::test]
async fn names_go_to_the_longest_configured_zone() {
    let store = Arc::new(MemoryStore::new([
        zone("example.com"),
        zone("acme.example.com"),
    ]));
    let provider = store.clone().provider();
    provider
        .present(&record("x.acme.example.com", "v"))
        .await
        .unwrap();
    assert!(store.rrset(&zone("acme.example.com"), &rel("x")).is_some());
    assert!(store.rrset(&zone("example.com"), &rel("x.acme")).is_none());
    assert!(store.probe_zone(&zone("acme.example.com")).await.unwrap());
    assert!(!store.probe_zone(&zone("example.org")).await.unwrap());
    assert_eq!(store.list_zones().await.unwrap().len(), 2);
}
