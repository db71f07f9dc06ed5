//! Test stores and helpers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dns01_core::memory::MemoryStore;
use dns01_core::{
    CreateOutcome, Error, Fqdn, RelativeName, Result, RrsetStore, StoreLimits, TxtRecord, TxtRrset,
    TxtValue, ZoneName,
};
use tokio::sync::{Semaphore, watch};

pub(crate) fn zone(s: &str) -> ZoneName {
    ZoneName::parse(s).unwrap()
}

pub(crate) fn fqdn(s: &str) -> Fqdn {
    Fqdn::parse(s).unwrap()
}

pub(crate) fn rel(s: &str) -> RelativeName {
    RelativeName::parse(s).unwrap()
}

pub(crate) fn value(s: &str) -> TxtValue {
    TxtValue::new(s).unwrap()
}

pub(crate) fn record(name: &str, v: &str) -> TxtRecord {
    TxtRecord::new(fqdn(name), value(v))
}

/// A memory store holding `example.com`.
pub(crate) fn memory() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new([zone("example.com")]))
}

/// A store method, for counting and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    FindZone,
    Read,
    Create,
    Replace,
    Delete,
}

/// Calls seen by a [`CountingStore`], per method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) find_zone: usize,
    pub(crate) read: usize,
    pub(crate) create: usize,
    pub(crate) replace: usize,
    pub(crate) delete: usize,
}

impl Counts {
    /// Calls on rrsets (zone discovery left out).
    pub(crate) fn rrset_calls(&self) -> usize {
        self.read + self.create + self.replace + self.delete
    }
    pub(crate) fn writes(&self) -> usize {
        self.replace + self.delete
    }
}

/// A store wrapping a [`MemoryStore`] that counts calls per method, can slow every rrset call
/// down, can hold calls on one name until released, and can fail chosen calls.
#[derive(Debug)]
pub(crate) struct CountingStore {
    pub(crate) inner: Arc<MemoryStore>,
    counters: [AtomicUsize; 5],
    delay: Mutex<Option<Duration>>,
    gate: watch::Sender<Option<RelativeName>>,
    entered: Semaphore,
    faults: Mutex<VecDeque<(Method, Error)>>,
}

impl CountingStore {
    pub(crate) fn new(inner: Arc<MemoryStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            counters: Default::default(),
            delay: Mutex::new(None),
            gate: watch::Sender::new(None),
            entered: Semaphore::new(0),
            faults: Mutex::new(VecDeque::new()),
        })
    }

    pub(crate) fn counts(&self) -> Counts {
        let c = |m: Method| self.counters[m as usize].load(Ordering::SeqCst);
        Counts {
            find_zone: c(Method::FindZone),
            read: c(Method::Read),
            create: c(Method::Create),
            replace: c(Method::Replace),
            delete: c(Method::Delete),
        }
    }

    /// Every rrset call sleeps this long before reaching the inner store.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = Some(delay);
    }

    /// Calls on `name` wait until [`CountingStore::release`].
    pub(crate) fn hold(&self, name: RelativeName) {
        self.gate.send_replace(Some(name));
    }

    pub(crate) fn release(&self) {
        self.gate.send_replace(None);
    }

    /// Waits until a call is being held.
    pub(crate) async fn wait_until_held(&self) {
        self.entered.acquire().await.unwrap().forget();
    }

    /// The next call of `method` fails with `error` (without reaching the inner store).
    pub(crate) fn fail_next(&self, method: Method, error: Error) {
        self.faults.lock().unwrap().push_back((method, error));
    }

    async fn before(&self, method: Method, name: Option<&RelativeName>) -> Result<()> {
        self.counters[method as usize].fetch_add(1, Ordering::SeqCst);
        if let Some(name) = name {
            let mut rx = self.gate.subscribe();
            if rx.borrow().as_ref() == Some(name) {
                self.entered.add_permits(1);
                rx.wait_for(|held| held.as_ref() != Some(name))
                    .await
                    .unwrap();
            }
            let delay = *self.delay.lock().unwrap();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
        }
        let mut faults = self.faults.lock().unwrap();
        if let Some(i) = faults.iter().position(|(m, _)| *m == method) {
            let (_, err) = faults.remove(i).unwrap();
            return Err(err);
        }
        Ok(())
    }
}

#[async_trait]
impl RrsetStore for CountingStore {
    fn limits(&self) -> StoreLimits {
        self.inner.limits()
    }

    async fn find_zone(&self, name: &Fqdn) -> Result<ZoneName> {
        self.before(Method::FindZone, None).await?;
        self.inner.find_zone(name).await
    }

    async fn probe_zone(&self, zone: &ZoneName) -> Result<bool> {
        self.inner.probe_zone(zone).await
    }

    async fn list_zones(&self) -> Result<Vec<ZoneName>> {
        self.inner.list_zones().await
    }

    async fn read_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<Option<TxtRrset>> {
        self.before(Method::Read, Some(name)).await?;
        self.inner.read_txt(zone, name).await
    }

    async fn create_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<CreateOutcome> {
        self.before(Method::Create, Some(name)).await?;
        self.inner.create_txt(zone, name, rrset).await
    }

    async fn replace_txt(
        &self,
        zone: &ZoneName,
        name: &RelativeName,
        rrset: &TxtRrset,
    ) -> Result<()> {
        self.before(Method::Replace, Some(name)).await?;
        self.inner.replace_txt(zone, name, rrset).await
    }

    async fn delete_txt(&self, zone: &ZoneName, name: &RelativeName) -> Result<()> {
        self.before(Method::Delete, Some(name)).await?;
        self.inner.delete_txt(zone, name).await
    }
}
