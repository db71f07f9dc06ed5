//! Locks on one rrset shared by every process that writes it.
//!
//! A [`crate::Coordinator`] serialises the read-merge-writes on one rrset inside one process.
//! When several processes write the same store (webhook replicas behind one Service, a
//! controller and a CLI), their read-merge-writes can interleave: both read the rrset, each adds
//! its value, and the second write drops the first one's value. An [`RrsetLock`] closes that
//! gap: a coordinator built with [`crate::Coordinator::with_lock`] holds the rrset's lock for
//! exactly one batch (read, merge, write) and gives it up at once, so coalescing inside each
//! process still costs O(1) store calls per batch.
//!
//! Implementations: [`LocalLock`] for coordinators inside one process (and tests); a
//! Kubernetes `Lease` per rrset for processes in a cluster (in `dns01-webhook`). A lock that
//! cannot be taken fails the batch: a write is never made without it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::OwnedMutexGuard;

use crate::error::Result;
use crate::name::{RelativeName, ZoneName};

/// A lock per `(zone, name)`, shared by every writer of the store.
#[async_trait]
pub trait RrsetLock: Send + Sync + Debug {
    /// Waits until this caller holds the lock of `name` in `zone`. The lock is held until the
    /// returned lease is released (or, for locks that expire, until it expires).
    ///
    /// # Errors
    /// When the lock cannot be taken (the lock service is unreachable, a deadline passed); the
    /// batch then fails without touching the store.
    async fn acquire(&self, zone: &ZoneName, name: &RelativeName) -> Result<Box<dyn RrsetLease>>;
}

/// A held lock.
#[async_trait]
pub trait RrsetLease: Send + Debug {
    /// Gives the lock up. A lease dropped without `release` is given up by the lock's own
    /// means (a [`LocalLock`] at once, an expiring lock when it expires).
    ///
    /// # Errors
    /// When giving it up failed; the lock then frees itself when it expires.
    async fn release(self: Box<Self>) -> Result<()>;
}

type Key = (ZoneName, RelativeName);
type Locks = Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>;

/// An in-process [`RrsetLock`]: one async mutex per rrset, shared by clones. Coordinators in
/// one process that share it never interleave their batches on one rrset.
#[derive(Debug, Clone, Default)]
pub struct LocalLock {
    locks: Arc<Locks>,
}

impl LocalLock {
    /// A lock table with no rrset locked.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many rrsets are locked or waited for right now.
    pub fn busy(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl RrsetLock for LocalLock {
    async fn acquire(&self, zone: &ZoneName, name: &RelativeName) -> Result<Box<dyn RrsetLease>> {
        let key = (zone.clone(), name.clone());
        let mutex = self
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = mutex.lock_owned().await;
        Ok(Box::new(LocalLease {
            guard: Some(guard),
            key,
            locks: self.locks.clone(),
        }))
    }
}

/// A [`LocalLock`]'s hold on one rrset; forgets the rrset when nobody else wants it.
#[derive(Debug)]
struct LocalLease {
    guard: Option<OwnedMutexGuard<()>>,
    key: Key,
    locks: Arc<Locks>,
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        self.guard = None;
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the table holds the mutex now: no holder and no waiter.
        if locks
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[async_trait]
impl RrsetLease for LocalLease {
    async fn release(self: Box<Self>) -> Result<()> {
        drop(self);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    fn key(name: &str) -> (ZoneName, RelativeName) {
        (
            ZoneName::parse("example.com").unwrap(),
            RelativeName::parse(name).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_second_holder_waits_until_the_first_releases_and_other_names_do_not() {
        let lock = LocalLock::new();
        let (zone, a) = key("_acme-challenge.a");
        let (_, b) = key("_acme-challenge.b");
        let first = lock.acquire(&zone, &a).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), lock.acquire(&zone, &a));
        assert!(waiting.await.is_err(), "the same rrset must wait");
        let other = lock.acquire(&zone, &b).await.unwrap();
        other.release().await.unwrap();
        first.release().await.unwrap();
        let again = tokio::time::timeout(Duration::from_millis(50), lock.acquire(&zone, &a))
            .await
            .expect("free after release")
            .unwrap();
        drop(again);
        assert_eq!(lock.busy(), 0, "idle rrsets are forgotten");
    }
}
