//! Solvers: what a `POST /apis/<group>/v1alpha1/<solver>` does.
//!
//! The handler validates the wire request into a [`Challenge`] and hands it to the [`Solver`]
//! registered under the path's solver name. A solver reads its configuration
//! ([`config`]), applies the delegation policy ([`resolve_target`]), and presents or cleans up
//! one TXT value through a [`dns01_core::Provider`]. Nothing here knows about HTTP.
//!
//! - [`memory::MemorySolver`]: an in-memory store, for local mode and tests.
//! - [`gandi::GandiSolver`]: Gandi LiveDNS, one client per distinct credential.
//! - [`rfc2136::Rfc2136Solver`]: RFC 2136 updates with TSIG, to the operator's nameservers.

pub mod config;
pub mod gandi;
pub mod memory;
pub mod rfc2136;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use dns01_core::{Fqdn, Provider, TxtRecord, ZoneName};

pub use crate::challenge::{Action, Challenge};
use crate::secrets::SecretError;
use config::{DelegationConfig, DelegationMode};

/// Something that can present and clean up challenge records.
#[async_trait]
pub trait Solver: Send + Sync + Debug {
    /// Makes sure the challenge's TXT value exists. Idempotent.
    async fn present(&self, challenge: &Challenge) -> Result<(), SolverError>;
    /// Makes sure the challenge's TXT value no longer exists. Idempotent; "already gone" is
    /// success.
    async fn cleanup(&self, challenge: &Challenge) -> Result<(), SolverError>;

    /// Runs the challenge's action.
    async fn run(&self, challenge: &Challenge) -> Result<(), SolverError> {
        match challenge.action {
            Action::Present => self.present(challenge).await,
            Action::CleanUp => self.cleanup(challenge).await,
        }
    }
}

/// The solvers served, by name (the resource name in the request path).
pub type Solvers = BTreeMap<String, Arc<dyn Solver>>;

/// Why a challenge failed. Each message is what cert-manager shows on the Challenge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolverError {
    /// `request.config` is not a valid configuration for this solver.
    #[error(
        "invalid solver config for {solver}: {message} (fix the Issuer's \
         solvers[].dns01.webhook.config)"
    )]
    Config {
        /// The solver name.
        solver: String,
        /// What is wrong.
        message: String,
    },
    /// The credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] SecretError),
    /// No credentials were configured, or ambient ones were not allowed.
    #[error("{0}")]
    NoCredentials(String),
    /// The delegation policy refused the name; no upstream call was made.
    #[error("{0}")]
    Refused(String),
    /// The DNS provider failed.
    #[error("{action} of TXT record {name} failed")]
    Provider {
        /// The action.
        action: Action,
        /// The record's name.
        name: Fqdn,
        /// The provider's error, with the upstream's message and trace id.
        #[source]
        source: dns01_core::Error,
    },
}

impl SolverError {
    /// The error and its causes, the form to show a user.
    pub fn report(&self) -> String {
        dns01_core::error::report(self)
    }

    /// A short label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Config { .. } => "invalid_config",
            Self::Credentials(_) | Self::NoCredentials(_) => "credentials_error",
            Self::Refused(_) => "refused",
            Self::Provider { .. } => "provider_error",
        }
    }
}

/// Where a challenge record is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The record's name.
    pub name: Fqdn,
    /// A zone hint: cert-manager's `resolvedZone`, when no delegation is configured and the
    /// name is inside it. Stores that discover zones themselves may ignore it.
    pub zone_hint: Option<ZoneName>,
}

/// The `_acme-challenge` CNAME a customer creates for `dns_name` to delegate to `target`.
pub fn cname_line(dns_name: &Fqdn, target: &Fqdn) -> String {
    format!("_acme-challenge.{dns_name} CNAME {target}")
}

/// Applies the delegation policy: where to write, or why not. Makes no upstream call.
///
/// - No delegation: `resolvedFQDN`, with `resolvedZone` as a hint.
/// - `map`: the delegated name for (`dnsName`, namespace), whatever `resolvedFQDN` says.
/// - `follow`: `resolvedFQDN`, which must be inside the zone; with tenant binding it must be
///   exactly the delegated name for (`dnsName`, namespace).
pub fn resolve_target(
    challenge: &Challenge,
    delegation: Option<&DelegationConfig>,
) -> Result<Target, SolverError> {
    let Some(d) = delegation else {
        let zone_hint = challenge
            .resolved_zone
            .as_ref()
            .filter(|z| challenge.resolved_fqdn.is_in_zone(z))
            .cloned();
        return Ok(Target {
            name: challenge.resolved_fqdn.clone(),
            zone_hint,
        });
    };
    let bound = || {
        dns01_core::delegation::delegated_name(&challenge.dns_name, &challenge.namespace, &d.zone)
            .map_err(|e| {
                SolverError::Refused(format!(
                    "cannot compute the delegated name for {} in zone {} for namespace {:?}: {}",
                    challenge.dns_name,
                    d.zone,
                    challenge.namespace,
                    e.report()
                ))
            })
    };
    match d.mode {
        DelegationMode::Map => Ok(Target {
            name: bound()?,
            zone_hint: None,
        }),
        DelegationMode::Follow => {
            let resolved = &challenge.resolved_fqdn;
            if !resolved.is_in_zone(&d.zone) {
                let expected = bound()?;
                return Err(SolverError::Refused(format!(
                    "refused to write {resolved}: it is outside the delegated validation zone {zone}. \
                     Create this record in the zone of {dns}: `{line}` (and keep \
                     cnameStrategy: Follow on the Issuer), then retry",
                    zone = d.zone.as_str(),
                    dns = challenge.dns_name,
                    line = cname_line(&challenge.dns_name, &expected),
                )));
            }
            if d.tenant_binding {
                let expected = bound()?;
                if &expected != resolved {
                    return Err(SolverError::Refused(format!(
                        "refused to write {resolved}: in validation zone {zone} the challenge for \
                         {dns} requested from namespace {ns:?} must be written at {expected} \
                         (tenant binding). The CNAME for this namespace is `{line}`; a CNAME made \
                         for another namespace cannot be used from this one",
                        zone = d.zone,
                        dns = challenge.dns_name,
                        ns = challenge.namespace,
                        line = cname_line(&challenge.dns_name, &expected),
                    )));
                }
            }
            Ok(Target {
                name: resolved.clone(),
                zone_hint: None,
            })
        }
    }
}

/// Presents or cleans up `challenge.value` at `target` through `provider`.
pub async fn apply(
    provider: &dyn Provider,
    challenge: &Challenge,
    target: Target,
    zone: Option<ZoneName>,
    ttl: Option<u32>,
) -> Result<(), SolverError> {
    let provider_error = |name: &Fqdn, source| SolverError::Provider {
        action: challenge.action,
        name: name.clone(),
        source,
    };
    let mut record = TxtRecord::new(target.name, challenge.value.clone());
    if let Some(ttl) = ttl {
        record = record.with_ttl(ttl);
    }
    if let Some(zone) = zone {
        if let Err(e) = record.name.check_in_zone(&zone) {
            return Err(provider_error(&record.name, e.into()));
        }
        record.zone = Some(zone);
    }
    let result = match challenge.action {
        Action::Present => provider.present(&record).await,
        Action::CleanUp => provider.cleanup(&record).await,
    };
    result.map_err(|source| provider_error(&record.name, source))
}
