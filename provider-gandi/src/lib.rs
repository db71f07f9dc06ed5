//! # dns01-gandi
//!
//! Gandi LiveDNS v5 for [`dns01_core`]: a [`GandiStore`] that reads, creates, replaces and
//! deletes whole TXT rrsets on Gandi's API, and [`provider`], which wraps it in a
//! [`dns01_core::Coordinator`] so that callers get value-level `present` and `cleanup` that
//! never touch other values at the same name.
//!
//! - Personal access tokens (`Authorization: Bearer`) and legacy API keys
//!   (`Authorization: Apikey`), an optional `sharing_id` on every request, and a selectable base
//!   URL (production, sandbox, or an emulator).
//! - One HTTP client per store over rustls, with a whole-request and a connect timeout.
//! - TXT values in Gandi's quoted, escaped, 255-byte-chunked form ([`codec`]), decoded on read
//!   so a value is found again however Gandi returns it.
//! - Zones found by walking up the record name's labels, cached.
//! - Retries of 429 (honouring `Retry-After`), 5xx and transport failures; a client-side rate
//!   limit shared by every clone of a store.
//! - Errors mapped to [`dns01_core::ErrorKind`]s whose messages carry the route, the HTTP
//!   status, Gandi's message, the `Trace-Id` and the likely fix; the credential never appears
//!   in a message, a log line or a `Debug` output.
//!
//! ## Embedding
//!
//! ```no_run
//! use dns01_core::{Fqdn, Provider, TxtRecord, TxtValue};
//! use dns01_gandi::{Credentials, GandiConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let token = std::env::var("GANDI_TOKEN")?;
//! let config = GandiConfig::new(Credentials::personal_access_token(token));
//! let provider = dns01_gandi::provider(config)?;
//!
//! let record = TxtRecord::new(
//!     Fqdn::parse("_acme-challenge.app.example.com")?,
//!     TxtValue::new("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ")?,
//! );
//! provider.present(&record).await?;
//! // ... let the ACME server validate ...
//! provider.cleanup(&record).await?;
//! # Ok(())
//! # }
//! ```
//!
//! To observe upstream calls for metrics, pass a [`CallObserver`] with
//! [`GandiConfig::with_observer`].
#![warn(missing_docs)]

mod client;
pub mod codec;
mod config;
mod error;
mod store;
mod zone;

use std::sync::Arc;

pub use client::USER_AGENT;
pub use config::{
    CallObserver, Credentials, DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_TIMEOUT, Endpoint,
    GandiConfig, MAX_TTL, MIN_TTL, NoopObserver, Secret,
};
pub use error::UpstreamError;
pub use store::GandiStore;

/// A value-level provider over a new [`GandiStore`]: a [`dns01_core::Coordinator`] that
/// serialises and coalesces work per name and merges values into Gandi's rrsets.
///
/// Fails on an unusable configuration; makes no request.
pub fn provider(config: GandiConfig) -> dns01_core::Result<dns01_core::Coordinator> {
    let store = GandiStore::new(config)?;
    Ok(dns01_core::Coordinator::new(Arc::new(store)))
}
