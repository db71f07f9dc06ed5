//! The conformance suite: the in-memory provider passes it, broken providers fail it.

use std::sync::Arc;

use async_trait::async_trait;
use dns01_core::conformance::{self, CASES, Harness, Problem};
use dns01_core::memory::MemoryStore;
use dns01_core::{
    Coordinator, Fqdn, Provider, Result, RrsetStore, StoreLimits, TxtRecord, TxtRrset, TxtValue,
    ZoneName,
};

use crate::support::zone;

/// A harness over a memory store and any provider writing to it.
struct MemoryHarness {
    store: Arc<MemoryStore>,
    provider: Arc<dyn Provider>,
}

impl MemoryHarness {
    fn new(store: Arc<MemoryStore>) -> Self {
        let provider = Arc::new(store.clone().provider());
        Self { store, provider }
    }
}

#[async_trait]
impl Harness for MemoryHarness {
    fn provider(&self) -> Arc<dyn Provider> {
        self.provider.clone()
    }
    fn zone(&self) -> ZoneName {
        zone("acme.example.com")
    }
    async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>> {
        Ok(self.store.values(name))
    }
    async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
        self.store.seed(name, value)
    }
}

fn store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new([
        zone("example.com"),
        zone("acme.example.com"),
    ]))
}

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    let store = store();
    let report = conformance::run_all(&MemoryHarness::new(store.clone()))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(report.passed, CASES);
    assert!(
        store.snapshot().is_empty(),
        "cases clean up after themselves"
    );
}

#[tokio::test]
async fn memory_store_without_create_passes_the_conformance_suite() {
    let store = Arc::new(
        MemoryStore::new([zone("acme.example.com")]).with_limits(StoreLimits::new(300, 86_400)),
    );
    let report = conformance::run_all(&MemoryHarness::new(store.clone()))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(report.passed.len(), CASES.len());
    assert_eq!(store.call_counts().create, 0);
}

#[tokio::test]
async fn the_concurrent_case_leaves_only_the_foreign_value_before_tidying_up() {
    let store = store();
    conformance::concurrent_presents_and_cleanups(&MemoryHarness::new(store.clone()))
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    // Coalescing: 100 presents and 100 cleanups from one task, plus the final cleanup.
    let counts = store.call_counts();
    assert!(counts.rrset_calls() <= 8, "{counts:?}");
}

/// The bug of several Go webhooks: cleanup deletes the whole rrset.
#[derive(Debug)]
struct DeletesWholeRrset {
    store: Arc<MemoryStore>,
    inner: Coordinator,
}

#[async_trait]
impl Provider for DeletesWholeRrset {
    async fn present(&self, record: &TxtRecord) -> Result<()> {
        self.inner.present(record).await
    }
    async fn cleanup(&self, record: &TxtRecord) -> Result<()> {
        let zone = self.store.find_zone(&record.name).await?;
        let name = record.name.relative_to(&zone)?;
        self.store.delete_txt(&zone, &name).await
    }
}

/// The other classic bug: present replaces the rrset with its own value only.
#[derive(Debug)]
struct OverwritesRrset {
    store: Arc<MemoryStore>,
    inner: Coordinator,
}

#[async_trait]
impl Provider for OverwritesRrset {
    async fn present(&self, record: &TxtRecord) -> Result<()> {
        let zone = self.store.find_zone(&record.name).await?;
        let name = record.name.relative_to(&zone)?;
        let rrset = TxtRrset {
            ttl: record.ttl,
            values: vec![record.value.clone()],
        };
        self.store.replace_txt(&zone, &name, &rrset).await
    }
    async fn cleanup(&self, record: &TxtRecord) -> Result<()> {
        self.inner.cleanup(record).await
    }
}

#[tokio::test]
async fn the_suite_catches_a_cleanup_that_deletes_the_whole_rrset() {
    let store = store();
    let provider = Arc::new(DeletesWholeRrset {
        store: store.clone(),
        inner: store.clone().provider(),
    });
    let harness = MemoryHarness { store, provider };
    let failure = conformance::run_all(&harness).await.unwrap_err();
    assert_eq!(failure.case, "two_values_on_one_name");
    assert_eq!(failure.step, "after cleanup of the apex value");
    let Problem::Mismatch {
        expected, observed, ..
    } = &failure.problem
    else {
        panic!("expected a mismatch, got {failure}");
    };
    assert_eq!((expected.len(), observed.len()), (1, 0));
    let text = failure.to_string();
    assert!(text.contains("two_values_on_one_name"), "{text}");
    assert!(text.contains("missing"), "{text}");

    // The foreign-value case on its own catches it too.
    let failure = conformance::foreign_value_survives(&harness)
        .await
        .unwrap_err();
    assert_eq!(failure.step, "after cleanup");
}

#[tokio::test]
async fn the_suite_catches_a_present_that_overwrites_the_rrset() {
    let store = store();
    let provider = Arc::new(OverwritesRrset {
        store: store.clone(),
        inner: store.clone().provider(),
    });
    let harness = MemoryHarness { store, provider };
    let failure = conformance::run_all(&harness).await.unwrap_err();
    assert_eq!(failure.case, "two_values_on_one_name");
    assert_eq!(failure.step, "after both presents");
    let text = failure.to_string();
    assert!(text.contains("expected 2 value(s), observed 1"), "{text}");
}

#[tokio::test]
async fn provider_errors_are_reported_with_the_case_and_step() {
    // A harness whose zone the store does not hold: the first present fails.
    struct Elsewhere(MemoryHarness);
    #[async_trait]
    impl Harness for Elsewhere {
        fn provider(&self) -> Arc<dyn Provider> {
            self.0.provider()
        }
        fn zone(&self) -> ZoneName {
            zone("example.org")
        }
        async fn observe(&self, name: &Fqdn) -> Result<Vec<TxtValue>> {
            self.0.observe(name).await
        }
        async fn seed_foreign(&self, name: &Fqdn, value: &TxtValue) -> Result<()> {
            self.0.seed_foreign(name, value).await
        }
    }
    let failure = conformance::run_all(&Elsewhere(MemoryHarness::new(store())))
        .await
        .unwrap_err();
    assert_eq!(failure.case, "present_then_cleanup");
    assert_eq!(failure.step, "on present");
    assert!(matches!(failure.problem, Problem::Error(_)));
    assert!(failure.to_string().contains("zone not found"), "{failure}");
}
