//! # dns01-rfc2136
//!
//! RFC 2136 dynamic updates for [`dns01_core`]: DNS-01 TXT records on any server that accepts
//! signed updates (BIND, Knot, PowerDNS, Windows DNS).
//!
//! - **Value-level natively.** `present` sends one UPDATE that adds one TXT RR; `cleanup` sends
//!   one UPDATE that deletes exactly that RR (class NONE). The server applies each atomically,
//!   so other values at the name are never touched and nothing is read, merged or rewritten:
//!   [`Rfc2136Provider`] implements [`dns01_core::Provider`] directly, without the rrset
//!   coordinator that whole-rrset APIs need.
//! - **TSIG** (RFC 8945) with HMAC-SHA256 (the default of `tsig-keygen`), HMAC-SHA384,
//!   HMAC-SHA512 and, for old servers, HMAC-SHA1; the server's answer must carry a valid
//!   signature before a success is believed. The secret never appears in a message, a log line
//!   or a `Debug` output.
//! - **Transport**: UDP, asking again over TCP when the answer is truncated, or TCP only.
//! - **Zones** found by asking the server for the SOA of the name and then of each parent,
//!   unless the zone is given.
//! - **Errors** mapped to [`dns01_core::ErrorKind`]s: NOTAUTH with a TSIG error (BADSIG,
//!   BADKEY, BADTIME with the clock skew) is authentication; REFUSED is permission (check
//!   `update-policy` or `allow-update`); NOTAUTH without a TSIG error, NOTZONE and NXDOMAIN are
//!   zone not found; SERVFAIL and timeouts are transient and retried by the
//!   [`dns01_core::retry::RetryPolicy`]. Every message names the server, the zone, the record
//!   and the response code.
//! - Values longer than 255 bytes are split into character-strings and compared joined.
//!
//! ## Embedding
//!
//! ```no_run
//! use dns01_core::{Fqdn, Provider, TxtRecord, TxtValue};
//! use dns01_rfc2136::{Rfc2136Config, Rfc2136Provider, TsigAlgorithm, TsigKey};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TsigKey::new("acme-update", TsigAlgorithm::HmacSha256, &std::env::var("TSIG_SECRET")?)?;
//! let config = Rfc2136Config::new("192.0.2.53:53".parse()?).with_key(key);
//! let provider = Rfc2136Provider::new(config);
//!
//! let record = TxtRecord::new(
//!     Fqdn::parse("_acme-challenge.app.example.com")?,
//!     TxtValue::new("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ")?,
//! );
//! provider.present(&record).await?; // one UPDATE: adds this value, keeps the others
//! // ... let the ACME server validate ...
//! provider.cleanup(&record).await?; // one UPDATE: deletes exactly this value
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod error;
mod provider;
mod transport;
mod tsig;

pub use config::{DEFAULT_TIMEOUT, Rfc2136Config};
pub use error::ServerAnswer;
pub use provider::{Rfc2136Provider, parse_transport};
pub use transport::Transport;
pub use tsig::{FUDGE, TsigAlgorithm, TsigKey};
