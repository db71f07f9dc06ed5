//! # dns01-core
//!
//! The provider library behind the dns01 cert-manager webhook: everything needed to prove
//! control of a domain for ACME DNS-01 by writing TXT records, independent of any one DNS host.
//!
//! - [`name`]: validated names ([`Fqdn`], [`ZoneName`], [`RelativeName`]), parsed once at the edge.
//! - [`record`]: TXT challenge records and rrsets, with decoded values.
//! - [`provider`]: the value-level [`Provider`] trait callers use, and the rrset-level
//!   [`RrsetStore`] trait that hosts with whole-rrset APIs implement.
//! - [`coordinator`]: turns any [`RrsetStore`] into a [`Provider`]: per-name serialisation,
//!   coalescing of concurrent operations into one read-merge-write, no-op writes skipped.
//! - [`lock`]: a lock per rrset shared by every process that writes it, so that several
//!   coordinators (webhook replicas) never interleave their read-merge-writes.
//! - [`secret`]: [`Secret`], the one type credentials are held in (`<redacted>` when printed).
//! - [`retry`]: retry policy for retryable errors and a shared client-side rate limiter.
//! - [`delegation`]: the stable naming function that maps a (domain, tenant) pair to its
//!   challenge name inside a delegated validation zone.
//! - `memory` (feature `memory`): an in-memory store for tests and local trials.
//! - `conformance` (feature `conformance`): a provider conformance suite that providers
//!   outside this workspace can run in their own tests.
//!
//! ## Embedding
//!
//! ```no_run
//! use std::sync::Arc;
//! use dns01_core::{Coordinator, Fqdn, Provider, RrsetStore, TxtRecord, TxtValue};
//!
//! async fn issue(store: Arc<dyn RrsetStore>) -> dns01_core::Result<()> {
//!     // One coordinator per store: it serialises and coalesces work on each name.
//!     let provider = Coordinator::new(store);
//!     let record = TxtRecord::new(
//!         Fqdn::parse("_acme-challenge.app.example.com")?,
//!         TxtValue::new("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ")?,
//!     );
//!     provider.present(&record).await?;
//!     // ... let the ACME server validate ...
//!     provider.cleanup(&record).await?;
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod coordinator;
pub mod delegation;
pub mod error;
pub mod lock;
pub mod name;
pub mod provider;
pub mod record;
pub mod retry;
pub mod secret;

#[cfg(feature = "memory")]
pub mod memory;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use coordinator::Coordinator;
pub use error::{Error, ErrorKind, Result};
pub use lock::{LocalLock, RrsetLease, RrsetLock};
pub use name::{Fqdn, NameError, RelativeName, ZoneName};
pub use provider::{CreateOutcome, Provider, RrsetStore, StoreLimits};
pub use record::{TxtRecord, TxtRrset, TxtValue};
pub use secret::Secret;
