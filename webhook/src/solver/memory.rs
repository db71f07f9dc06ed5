//! The `memory` solver: records kept in this process, in a [`MemoryStore`] shared by every
//! request. For local mode (where [`crate::dns`] answers DNS queries from the same store) and
//! for tests; never for real issuance, since nothing outside this process can see the records
//! unless the DNS responder is exposed.

use std::sync::Arc;

use async_trait::async_trait;
use dns01_core::memory::MemoryStore;
use dns01_core::{Coordinator, RrsetStore, ZoneName};

use super::config::{self, MemorySolverConfig};
use super::{Challenge, Solver, SolverError, apply, resolve_target};

/// The solver name.
pub const NAME: &str = "memory";

/// The `memory` solver: one store and one coordinator for all requests.
#[derive(Debug, Clone)]
pub struct MemorySolver {
    store: Arc<MemoryStore>,
    coordinator: Coordinator,
}

impl MemorySolver {
    /// A solver over a new store holding `zones` (empty).
    pub fn new(zones: Vec<ZoneName>) -> Self {
        Self::with_store(Arc::new(MemoryStore::new(zones)))
    }

    /// A solver over an existing store (shared with a DNS responder or a test).
    pub fn with_store(store: Arc<MemoryStore>) -> Self {
        let dyn_store: Arc<dyn RrsetStore> = store.clone();
        Self {
            coordinator: Coordinator::new(dyn_store),
            store,
        }
    }

    /// The store, for inspection.
    pub fn store(&self) -> &Arc<MemoryStore> {
        &self.store
    }

    async fn act(&self, challenge: &Challenge) -> Result<(), SolverError> {
        let cfg: MemorySolverConfig = config::parse(NAME, challenge.config.as_ref())?;
        let mut target = resolve_target(challenge, cfg.delegation.as_ref())?;
        let zone = target.zone_hint.take();
        apply(&self.coordinator, challenge, target, zone, cfg.ttl).await
    }
}

#[async_trait]
impl Solver for MemorySolver {
    async fn present(&self, challenge: &Challenge) -> Result<(), SolverError> {
        self.act(challenge).await
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), SolverError> {
        self.act(challenge).await
    }
}
