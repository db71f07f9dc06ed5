//! # dns01-domains
//!
//! The custom-domain side of dns01: a tenant asks for `app.customer.com` with a
//! [`CustomDomain`](crd::CustomDomain); this crate computes the records the customer must
//! create, checks them at the zone's authoritative servers (each one separately), evaluates
//! CAA for the issuer's CA, and turns what it found into Kubernetes conditions and a re-check
//! time.
//!
//! - [`crd`]: the `CustomDomain` resource (`domains.dns01.dev/v1alpha1`).
//! - [`records`]: the records to create (traffic CNAME / A / AAAA / ALIAS, and the permanent
//!   `_acme-challenge` CNAME into the validation zone, bound to the tenant).
//! - [`check`]: the DNS checker at the authoritative servers.
//! - [`caa`]: CAA evaluation (RFC 8659).
//! - [`conditions`]: conditions and their merge (status patched only on change).
//! - [`backoff`]: when to check again (Cloudflare's schedule, 7-day expiry, daily once ready).
#![warn(missing_docs)]

pub mod backoff;
pub mod caa;
pub mod check;
pub mod conditions;
pub mod crd;
pub mod error;
pub mod records;

pub use error::{Error, Result};
