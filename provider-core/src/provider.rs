//! The provider traits.
//!
//! - [`Provider`] is what callers use: value-level `present` and `cleanup`, each idempotent and
//!   each touching only its own value.
//! - [`RrsetStore`] is what a provider that can only read and replace whole rrsets implements
//!   (Gandi LiveDNS is one). [`crate::coordinator::Coordinator`] turns any store into a
//!   [`Provider`], so the value-level semantics are written once, here.
//!
//! Both traits are object-safe (`Arc<dyn Provider>`, `Arc<dyn RrsetStore>`) and can be
//! implemented outside this workspace with [`async_trait::async_trait`].

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::name::{Fqdn, RelativeName, ZoneName};
use crate::record::{TxtRecord, TxtRrset};

/// Value-level DNS-01 operations.
#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// Makes sure `record.value` is one of the TXT values at `record.name`, leaving every other
    /// value there untouched. Idempotent.
    async fn present(&self, record: &TxtRecord) -> Result<()>;

    /// Removes exactly `record.value` from the TXT values at `record.name`, leaving every other
    /// value there untouched; deletes the rrset when it was the last value. Idempotent: a value
    /// or rrset that is already gone is success.
    async fn cleanup(&self, record: &TxtRecord) -> Result<()>;
}

/// What a store accepts, declared so that the core can adapt to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreLimits {
    /// Smallest TTL the store accepts, in seconds.
    pub min_ttl: u32,
    /// Largest TTL the store accepts, in seconds.
    pub max_ttl: u32,
    /// Whether [`RrsetStore::create_txt`] creates an absent rrset in one call and reports an
    /// existing one as [`CreateOutcome::AlreadyExists`] without changing it.
    pub supports_create: bool,
    /// How long a new batch waits for more operations on the same name before it runs: worth
    /// it where each upstream call costs far more than the wait. Zero (the default) runs a
    /// batch as soon as the operations that arrived together have joined it.
    ///
    /// [`crate::coordinator::Coordinator`] applies it once per batch, before taking the
    /// operations queued on the name; operations on other names never wait for it.
    pub batch_window: Duration,
}

impl StoreLimits {
    /// Limits with the given TTL bounds, no create-if-absent call and no batching window.
    pub fn new(min_ttl: u32, max_ttl: u32) -> Self {
        Self {
            min_ttl,
            max_ttl,
            supports_create: false,
            batch_window: Duration::ZERO,
        }
    }

    /// The same limits, declaring whether create-if-absent is supported.
    #[must_use]
    pub fn with_create(mut self, supports_create: bool) -> Self {
        self.supports_create = supports_create;
        self
    }

    /// The same limits, declaring a batching window (see [`StoreLimits::batch_window`]).
    #[must_use]
    pub fn with_batch_window(mut self, batch_window: Duration) -> Self {
        self.batch_window = batch_window;
        self
    }

    /// `ttl` moved into `[min_ttl, max_ttl]`.
    pub fn clamp_ttl(&self, ttl: u32) -> u32 {
        ttl.clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self::new(1, u32::MAX >> 1)
    }
}

/// The result of [`RrsetStore::create_txt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The rrset did not exist and was created with the given values.
    Created,
    /// The rrset already existed and was left unchanged.
    AlreadyExists,
}

/// Whole-rrset TXT operations on a DNS hosting service.
///
/// Values are decoded ([`crate::record::TxtValue`]): the store owns the wire encoding.
#[async_trait]
pub trait RrsetStore: Send + Sync + Debug {
    /// What the store accepts.
    fn limits(&self) -> StoreLimits;

    /// Finds the zone that holds `name` (walking up its labels if needed). Stores may cache.
    async fn find_zone(&self, name: &Fqdn) -> Result<ZoneName>;

    /// Checks that `zone` exists and is visible to these credentials.
    async fn probe_zone(&self, zone: &ZoneName) -> Result<bool>;

    /// Lists the zones visible to these credentials.
    async fn list_zones(&self) -> Result<Vec<ZoneName>>;

    /// Reads the TXT rrset at `name`, or `None` if there is none.
    async fn read_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<Option<TxtRrset>>;

    /// Creates the TXT rrset at `name` if it is absent; leaves an existing one unchanged.
    /// Only called when [`StoreLimits::supports_create`] is true.
    async fn create_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<CreateOutcome> {
        let _ = (zone, name, rrset);
        Err(crate::error::Error::other(
            "this store does not support create-if-absent",
        ))
    }

    /// Replaces (or creates) the whole TXT rrset at `name`. `rrset.values` is never empty.
    async fn replace_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<()>;

    /// Deletes the TXT rrset at `name`; an absent rrset is success.
    async fn delete_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<()>;
}
