//! Two coordinators over one store, as two webhook replicas over one Gandi account: without a
//! shared rrset lock their read-merge-writes interleave and values are lost; with one, none is.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dns01_core::{
    Coordinator, Error, ErrorKind, LocalLock, Provider, RelativeName, Result, RrsetLease,
    RrsetLock, RrsetStore, ZoneName,
};

use crate::support::*;

const NAME: &str = "_acme-challenge.example.com";

/// Two "replicas" over one slow store holding a foreign value at [`NAME`].
fn replicas(lock: Option<LocalLock>) -> (Arc<CountingStore>, Coordinator, Coordinator) {
    let store = CountingStore::new(memory());
    store.inner.seed(&fqdn(NAME), &value("foreign")).unwrap();
    // Every store call takes a while, as Gandi's API does: reads overlap.
    store.set_delay(Duration::from_millis(5));
    let dyn_store: Arc<dyn RrsetStore> = store.clone();
    let mut a = Coordinator::new(dyn_store.clone());
    let mut b = Coordinator::new(dyn_store);
    if let Some(lock) = lock {
        a = a.with_lock(Arc::new(lock.clone()));
        b = b.with_lock(Arc::new(lock));
    }
    (store, a, b)
}

/// Rounds of one Present on each replica at once (the apex and the wildcard challenge of one
/// name), then a CleanUp on one racing a Present on the other; returns the values lost.
async fn lost_values(
    store: &CountingStore,
    a: &Coordinator,
    b: &Coordinator,
    rounds: usize,
) -> usize {
    let missing = |expected: &[&str]| {
        let held = store.inner.values(&fqdn(NAME));
        expected
            .iter()
            .filter(|v| !held.contains(&value(v)))
            .count()
    };
    let mut lost = 0;
    for round in 0..rounds {
        let apex = record(NAME, &format!("apex-{round}"));
        let wildcard = record(NAME, &format!("wildcard-{round}"));
        let late = record(NAME, &format!("late-{round}"));
        let (ra, rb) = tokio::join!(a.present(&apex), b.present(&wildcard));
        ra.unwrap();
        rb.unwrap();
        lost += missing(&[apex.value.as_str(), wildcard.value.as_str(), "foreign"]);

        let (ra, rb) = tokio::join!(a.cleanup(&apex), b.present(&late));
        ra.unwrap();
        rb.unwrap();
        lost += missing(&[wildcard.value.as_str(), late.value.as_str(), "foreign"]);

        // Back to the foreign value alone for the next round.
        let (ra, rb) = tokio::join!(a.cleanup(&wildcard), b.cleanup(&late));
        ra.unwrap();
        rb.unwrap();
    }
    lost
}

#[tokio::test]
async fn two_coordinators_without_a_shared_lock_lose_values() {
    // The failure the lock exists for: it must be real, or the next test proves nothing.
    let (store, a, b) = replicas(None);
    let lost = lost_values(&store, &a, &b, 5).await;
    assert!(lost > 0, "interleaved read-merge-writes lost nothing");
}

#[tokio::test]
async fn two_coordinators_sharing_a_lock_lose_no_value_and_keep_the_foreign_one() {
    let lock = LocalLock::new();
    let (store, a, b) = replicas(Some(lock.clone()));
    assert_eq!(lost_values(&store, &a, &b, 20).await, 0);
    assert_eq!(store.inner.values(&fqdn(NAME)), [value("foreign")]);
    assert_eq!(lock.busy(), 0, "every lease was released");
}

#[tokio::test]
async fn coalescing_inside_a_replica_still_costs_one_batch_under_the_lock() {
    let (store, a, _b) = replicas(Some(LocalLock::new()));
    let before = store.counts();
    let presents = (0..50).map(|i| {
        let a = a.clone();
        async move { a.present(&record(NAME, &format!("v{i}"))).await }
    });
    for r in futures::future::join_all(presents).await {
        r.unwrap();
    }
    let calls = store.counts().rrset_calls() - before.rrset_calls();
    assert!(
        calls <= 4,
        "50 concurrent presents cost {calls} store calls"
    );
    assert_eq!(store.inner.values(&fqdn(NAME)).len(), 51);
}

/// A lock service that is down.
#[derive(Debug)]
struct Unreachable;

#[async_trait]
impl RrsetLock for Unreachable {
    async fn acquire(&self, zone: &ZoneName, name: &RelativeName) -> Result<Box<dyn RrsetLease>> {
        Err(Error::transient(format!(
            "cannot take the lock of {name} in {zone}: the lock service is unreachable"
        )))
    }
}

#[tokio::test]
async fn when_the_lock_cannot_be_taken_the_batch_fails_and_the_store_is_not_touched() {
    let store = CountingStore::new(memory());
    let dyn_store: Arc<dyn RrsetStore> = store.clone();
    let c = Coordinator::new(dyn_store).with_lock(Arc::new(Unreachable));
    let before = store.counts();
    let err = c.present(&record(NAME, "v")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{}", err.report());
    assert!(
        err.report().contains("lock service is unreachable"),
        "{}",
        err.report()
    );
    assert_eq!(store.counts().rrset_calls(), before.rrset_calls());
    assert!(store.inner.values(&fqdn(NAME)).is_empty());
}
