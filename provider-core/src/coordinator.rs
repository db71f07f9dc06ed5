//! Turns any [`RrsetStore`] into a value-level [`Provider`].
//! (Being written: see the helper working on provider-core coordinator.)

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::provider::{Provider, RrsetStore};
use crate::record::TxtRecord;

/// A value-level provider over an rrset store.
#[derive(Debug, Clone)]
pub struct Coordinator {
    store: Arc<dyn RrsetStore>,
}

impl Coordinator {
    /// A coordinator over `store`.
    pub fn new(store: Arc<dyn RrsetStore>) -> Self {
        Self { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn RrsetStore> {
        &self.store
    }
}

#[async_trait]
impl Provider for Coordinator {
    async fn present(&self, _record: &TxtRecord) -> Result<()> {
        Err(Error::other("not yet implemented"))
    }
    async fn cleanup(&self, _record: &TxtRecord) -> Result<()> {
        Err(Error::other("not yet implemented"))
    }
}
