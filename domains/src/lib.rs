//! # dns01-domains
//!
//! The custom-domain side of dns01: a tenant asks for `app.customer.com` with a
//! [`CustomDomain`](crd::CustomDomain); this crate computes the records the customer must
//! create, checks them at the zone's authoritative servers (each one separately), evaluates
//! CAA for the issuer's CA, and turns what it found into Kubernetes conditions and a re-check
//! time; its controller acts on that: a cert-manager Certificate once the delegation proves
//! control, then the route, with the status kept live.
//!
//! - [`crd`]: the `CustomDomain` resource (`domains.dns01.dev/v1alpha1`).
//! - [`records`]: the records to create (traffic CNAME / A / AAAA / ALIAS, and the permanent
//!   `_acme-challenge` CNAME into the validation zone, bound to the tenant).
//! - [`check`]: the DNS checker at the authoritative servers.
//! - [`caa`]: CAA evaluation (RFC 8659).
//! - [`conditions`]: conditions and their merge (status patched only on change).
//! - [`backoff`]: when to check again (Cloudflare's schedule, 7-day expiry, daily once ready).
//! - [`reconcile`]: the controller's decisions as a pure function (status, Certificate, route,
//!   conflicts, events, requeue).
//! - [`controller`]: the kube-runtime controller that gathers observations and executes them
//!   (finalizer, server-side apply, Events, the Secret kept after deletion).
//! - [`certmanager`]: the cert-manager `Certificate` and `Challenge` fields the controller uses.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`.
//! - [`metrics`]: domains by condition, checks by outcome, check latency.
//! - [`leader`]: Lease leader election.
//!
//! ## Checking a hostname
//!
//! ```no_run
//! use dns01_core::{Fqdn, ZoneName};
//! use dns01_domains::check::{Bootstrap, CheckRequest, Checker};
//! use dns01_domains::crd::{Hostname, ServiceTarget, Target};
//! use dns01_domains::records::{Platform, required_records};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let platform = Platform {
//!     validation_zone: ZoneName::parse("acme.platform.example")?,
//!     traffic_hostname: Fqdn::parse("edge.platform.example")?,
//!     addresses: vec![],
//!     apex_alias_target: None,
//! };
//! let hostname = Hostname::parse("app.customer.com")?;
//! let target = Target::Service(ServiceTarget { name: "web".into(), port: 8080 });
//! // The records to show the customer; the `_acme-challenge` one is bound to namespace team-a.
//! let requirements = required_records(&hostname, &target, "team-a", &platform)?;
//! let report = Checker::new(Bootstrap::System)
//!     .check(&CheckRequest {
//!         hostname: hostname.fqdn().clone(),
//!         requirements,
//!         ca: Some("letsencrypt.org".into()),
//!         wildcard: false,
//!     })
//!     .await?;
//! for problem in &report.problems {
//!     println!("{} ({})", problem.message, problem.kind.reason());
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod backoff;
pub mod caa;
pub mod certmanager;
pub mod check;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod error;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod records;

pub use error::{Error, Result};
