//! An in-memory [`RrsetStore`] for tests and local trials.
//!
//! [`MemoryStore`] holds TXT rrsets for a fixed set of zones, supports create-if-absent, and can
//! be inspected: the values at a name, whole rrsets, a snapshot of everything, and how many
//! times each store method was called. Values written with [`MemoryStore::seed`] stand for
//! records someone else put there, bypassing any provider.
//!
//! ```
//! use std::sync::Arc;
//! use dns01_core::memory::MemoryStore;
//! use dns01_core::{Fqdn, Provider, TxtRecord, TxtValue, ZoneName};
//!
//! # tokio_test_block_on(async {
//! let store = Arc::new(MemoryStore::new([ZoneName::parse("example.com")?]));
//! let provider = store.clone().provider();
//! let name = Fqdn::parse("_acme-challenge.example.com")?;
//! provider.present(&TxtRecord::new(name.clone(), TxtValue::new("token")?)).await?;
//! assert_eq!(store.values(&name), vec![TxtValue::new("token")?]);
//! assert_eq!(store.call_counts().create, 1);
//! # Ok::<(), dns01_core::Error>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::coordinator::Coordinator;
use crate::error::{Error, Result};
use crate::name::{Fqdn, RelativeName, ZoneName};
use crate::provider::{CreateOutcome, RrsetStore, StoreLimits};
use crate::record::{DEFAULT_TTL, TxtRrset, TxtValue};

/// How many times each [`RrsetStore`] method of a [`MemoryStore`] was called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallCounts {
    /// [`RrsetStore::find_zone`] calls.
    pub find_zone: usize,
    /// [`RrsetStore::probe_zone`] calls.
    pub probe_zone: usize,
    /// [`RrsetStore::list_zones`] calls.
    pub list_zones: usize,
    /// [`RrsetStore::read_txt`] calls.
    pub read: usize,
    /// [`RrsetStore::create_txt`] calls.
    pub create: usize,
    /// [`RrsetStore::replace_txt`] calls.
    pub replace: usize,
    /// [`RrsetStore::delete_txt`] calls.
    pub delete: usize,
}

impl CallCounts {
    /// Calls that read or change rrsets (`read`, `create`, `replace`, `delete`): what a DNS
    /// host's API would bill, leaving zone discovery out.
    pub fn rrset_calls(&self) -> usize {
        self.read + self.writes()
    }

    /// Calls that may change an rrset (`create`, `replace`, `delete`).
    pub fn writes(&self) -> usize {
        self.create + self.replace + self.delete
    }
}

#[derive(Debug, Default)]
struct State {
    rrsets: Rrsets,
    counts: CallCounts,
}

/// The rrsets by zone, then by name: a lookup borrows its key instead of copying it.
#[derive(Debug, Default)]
struct Rrsets(BTreeMap<ZoneName, BTreeMap<RelativeName, TxtRrset>>);

impl Rrsets {
    fn get(&self, zone: &ZoneName, name: &RelativeName) -> Option<&TxtRrset> {
        self.0.get(zone)?.get(name)
    }

    fn contains(&self, zone: &ZoneName, name: &RelativeName) -> bool {
        self.get(zone, name).is_some()
    }

    fn entry(&mut self, zone: &ZoneName, name: &RelativeName) -> &mut TxtRrset {
        self.0
            .entry(zone.clone())
            .or_default()
            .entry(name.clone())
            .or_insert_with(|| TxtRrset {
                ttl: DEFAULT_TTL,
                values: Vec::new(),
            })
    }

    fn insert(&mut self, zone: &ZoneName, name: &RelativeName, rrset: TxtRrset) {
        match self.0.get_mut(zone) {
            Some(names) => match names.get_mut(name) {
                Some(slot) => *slot = rrset,
                None => {
                    names.insert(name.clone(), rrset);
                }
            },
            None => {
                self.0
                    .entry(zone.clone())
                    .or_default()
                    .insert(name.clone(), rrset);
            }
        }
    }

    fn remove(&mut self, zone: &ZoneName, name: &RelativeName) {
        if let Some(names) = self.0.get_mut(zone) {
            names.remove(name);
            if names.is_empty() {
                self.0.remove(zone);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&ZoneName, &RelativeName, &TxtRrset)> {
        self.0
            .iter()
            .flat_map(|(zone, names)| names.iter().map(move |(name, rrset)| (zone, name, rrset)))
    }
}

/// An in-memory, thread-safe TXT rrset store for a fixed set of zones.
///
/// It checks what the [`RrsetStore`] contract promises it: no empty rrset is ever written, no
/// rrset holds a value twice, TTLs are within [`RrsetStore::limits`], and names are inside a
/// configured zone. A violation is an [`Error::InvalidInput`].
#[derive(Debug)]
pub struct MemoryStore {
    zones: Vec<ZoneName>,
    limits: StoreLimits,
    state: Mutex<State>,
}

impl MemoryStore {
    /// A store holding `zones`, empty, accepting TTLs from 1 second up and supporting
    /// create-if-absent.
    pub fn new(zones: impl IntoIterator<Item = ZoneName>) -> Self {
        let mut list: Vec<ZoneName> = Vec::new();
        for zone in zones {
            if !list.contains(&zone) {
                list.push(zone);
            }
        }
        Self {
            zones: list,
            limits: StoreLimits::default().with_create(true),
            state: Mutex::new(State::default()),
        }
    }

    /// The same store with other limits (for example without create-if-absent, to behave like
    /// a store that can only read and replace).
    #[must_use]
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// A [`Coordinator`] over this store: the value-level provider to test with.
    pub fn provider(self: Arc<Self>) -> Coordinator {
        Coordinator::new(self)
    }

    /// The configured zones.
    pub fn zones(&self) -> &[ZoneName] {
        &self.zones
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The longest configured zone that contains `name`.
    fn zone_of(&self, name: &Fqdn) -> Option<&ZoneName> {
        self.zones
            .iter()
            .filter(|zone| name.is_in_zone(zone))
            .max_by_key(|zone| zone.as_str().len())
    }

    fn locate(&self, name: &Fqdn) -> Result<(ZoneName, RelativeName)> {
        let zone = self
            .zone_of(name)
            .ok_or_else(|| self.no_zone_error(name))?
            .clone();
        let rel = name.relative_to(&zone)?;
        Ok((zone, rel))
    }

    fn no_zone_error(&self, name: &Fqdn) -> Error {
        let configured: Vec<&str> = self.zones.iter().map(ZoneName::as_str).collect();
        Error::zone_not_found(format!(
            "no zone of the in-memory store holds {name} (configured zones: {})",
            if configured.is_empty() {
                "none".to_owned()
            } else {
                configured.join(", ")
            }
        ))
    }

    fn check_zone(&self, zone: &ZoneName) -> Result<()> {
        if self.zones.contains(zone) {
            Ok(())
        } else {
            Err(Error::zone_not_found(format!(
                "zone {zone} is not configured in the in-memory store"
            )))
        }
    }

    fn check_rrset(&self, zone: &ZoneName, name: &RelativeName, rrset: &TxtRrset) -> Result<()> {
        if rrset.values.is_empty() {
            return Err(Error::invalid_input(format!(
                "refusing to write an empty TXT rrset at {name} in zone {zone}; delete it instead"
            )));
        }
        let mut seen = HashSet::with_capacity_and_hasher(
            rrset.values.len(),
            foldhash::fast::RandomState::default(),
        );
        if let Some(dup) = rrset.values.iter().find(|v| !seen.insert(*v)) {
            return Err(Error::invalid_input(format!(
                "TXT rrset at {name} in zone {zone} holds value {dup:?} twice"
            )));
        }
        if rrset.ttl < self.limits.min_ttl || rrset.ttl > self.limits.max_ttl {
            return Err(Error::invalid_input(format!(
                "TTL {} for {name} in zone {zone} is outside the accepted range {}..={}",
                rrset.ttl, self.limits.min_ttl, self.limits.max_ttl
            )));
        }
        Ok(())
    }

    /// The values at `name` (empty if there is no rrset, or no zone holds the name).
    pub fn values(&self, name: &Fqdn) -> Vec<TxtValue> {
        self.locate(name)
            .ok()
            .and_then(|(zone, name)| {
                self.lock()
                    .rrsets
                    .get(&zone, &name)
                    .map(|r| r.values.clone())
            })
            .unwrap_or_default()
    }

    /// The rrset at `name` in `zone`, if any.
    pub fn rrset(&self, zone: &ZoneName, name: &RelativeName) -> Option<TxtRrset> {
        self.lock().rrsets.get(zone, name).cloned()
    }

    /// Adds `value` at `name` as someone else would, bypassing providers and call counts. An
    /// rrset created this way gets the [`DEFAULT_TTL`]; a value already there is left alone.
    pub fn seed(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
        let (zone, name) = self.locate(name)?;
        let mut state = self.lock();
        let rrset = state.rrsets.entry(&zone, &name);
        if !rrset.contains(value) {
            rrset.values.push(value.clone());
        }
        Ok(())
    }

    /// Sets the whole rrset at `name` in `zone` (removes it if `rrset` is `None`), bypassing
    /// providers, call counts and the contract checks: for setting up odd upstream states.
    pub fn seed_rrset(&self, zone: &ZoneName, name: &RelativeName, rrset: Option<TxtRrset>) {
        let mut state = self.lock();
        match rrset {
            Some(rrset) => state.rrsets.insert(zone, name, rrset),
            None => state.rrsets.remove(zone, name),
        }
    }

    /// Every rrset, by absolute name.
    pub fn snapshot(&self) -> BTreeMap<Fqdn, TxtRrset> {
        self.lock()
            .rrsets
            .iter()
            .map(|(zone, name, rrset)| (zone.join(name), rrset.clone()))
            .collect()
    }

    /// How many times each store method has been called since creation or the last
    /// [`MemoryStore::reset_counts`].
    pub fn call_counts(&self) -> CallCounts {
        self.lock().counts
    }

    /// Sets every call count back to zero.
    pub fn reset_counts(&self) {
        self.lock().counts = CallCounts::default();
    }
}

#[async_trait]
impl RrsetStore for MemoryStore {
    fn limits(&self) -> StoreLimits {
        self.limits
    }

    async fn find_zone(&self, name: &Fqdn) -> Result<ZoneName> {
        self.lock().counts.find_zone += 1;
        self.zone_of(name)
            .cloned()
            .ok_or_else(|| self.no_zone_error(name))
    }

    async fn probe_zone(&self, zone: &ZoneName) -> Result<bool> {
        self.lock().counts.probe_zone += 1;
        Ok(self.zones.contains(zone))
    }

    async fn list_zones(&self) -> Result<Vec<ZoneName>> {
        self.lock().counts.list_zones += 1;
        Ok(self.zones.clone())
    }

    async fn read_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<Option<TxtRrset>> {
        let mut state = self.lock();
        state.counts.read += 1;
        self.check_zone(zone)?;
        Ok(state.rrsets.get(zone, name).cloned())
    }

    async fn create_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<CreateOutcome> {
        let mut state = self.lock();
        state.counts.create += 1;
        if !self.limits.supports_create {
            return Err(Error::other(
                "this in-memory store was configured without create-if-absent",
            ));
        }
        self.check_zone(zone)?;
        self.check_rrset(zone, name, rrset)?;
        if state.rrsets.contains(zone, name) {
            return Ok(CreateOutcome::AlreadyExists);
        }
        state.rrsets.insert(zone, name, rrset.clone());
        Ok(CreateOutcome::Created)
    }

    async fn replace_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<()> {
        let mut state = self.lock();
        state.counts.replace += 1;
        self.check_zone(zone)?;
        self.check_rrset(zone, name, rrset)?;
        state.rrsets.insert(zone, name, rrset.clone());
        Ok(())
    }

    async fn delete_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<()> {
        let mut state = self.lock();
        state.counts.delete += 1;
        self.check_zone(zone)?;
        state.rrsets.remove(zone, name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(s: &str) -> ZoneName {
        ZoneName::parse(s).unwrap()
    }

    fn fqdn(s: &str) -> Fqdn {
        Fqdn::parse(s).unwrap()
    }

    #[tokio::test]
    async fn find_zone_picks_the_longest_configured_zone_holding_the_name() {
        let store = MemoryStore::new([zone("example.com"), zone("acme.example.com")]);
        let found = store.find_zone(&fqdn("x.acme.example.com")).await.unwrap();
        assert_eq!(found, zone("acme.example.com"));
        let found = store.find_zone(&fqdn("x.example.com")).await.unwrap();
        assert_eq!(found, zone("example.com"));
        let err = store.find_zone(&fqdn("x.example.org")).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::ZoneNotFound);
        assert!(err.to_string().contains("x.example.org."), "{err}");
        assert_eq!(store.call_counts().find_zone, 3);
    }

    #[tokio::test]
    async fn the_store_refuses_empty_rrsets_duplicates_and_ttls_out_of_bounds() {
        let store = MemoryStore::new([zone("example.com")])
            .with_limits(StoreLimits::new(300, 3600).with_create(true));
        let (z, n) = (zone("example.com"), RelativeName::parse("a").unwrap());
        let v = TxtValue::new("v").unwrap();
        let empty = TxtRrset {
            ttl: 300,
            values: vec![],
        };
        let dup = TxtRrset {
            ttl: 300,
            values: vec![v.clone(), v.clone()],
        };
        let low = TxtRrset {
            ttl: 60,
            values: vec![v.clone()],
        };
        for bad in [&empty, &dup, &low] {
            let err = store.replace_txt(&z, &n, bad).await.unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{err}");
        }
        assert!(store.snapshot().is_empty());
        assert_eq!(store.call_counts().replace, 3);
    }
}
