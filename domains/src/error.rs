//! The crate's one error type.

use dns01_core::name::NameError;

/// What went wrong, in kinds a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name given by the user (a CustomDomain's hostname, a flag) is not a valid DNS name, or
    /// not one this controller accepts (a wildcard, a single label). Fix the input.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidName {
        /// The field or flag at fault (`hostname`, `validation zone`, ...).
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The delegation target could not be computed (tenant or zone refused by `dns01-core`).
    #[error("cannot compute the _acme-challenge delegation for {hostname}")]
    Delegation {
        /// The hostname whose delegation was asked for.
        hostname: String,
        /// `dns01-core`'s reason.
        #[source]
        source: dns01_core::Error,
    },
    /// No zone could be found for the name: no SOA at it or at any parent, through the bootstrap
    /// resolver. The name is probably not registered, or the resolver cannot reach the internet.
    #[error(
        "no DNS zone found for {name}: no SOA record at it or any parent (is the domain registered, and can the resolver reach its nameservers?)"
    )]
    ZoneNotFound {
        /// The name whose zone was looked for.
        name: String,
    },
    /// The zone has no authoritative server the checker could find an address for.
    #[error("zone {zone} has no nameserver with an address")]
    NoNameservers {
        /// The zone.
        zone: String,
    },
    /// A DNS lookup through the bootstrap resolver failed (timeout, refused, network): retry later.
    #[error("DNS lookup of {what} failed")]
    Lookup {
        /// What was looked up (`NS customer.com.`).
        what: String,
        /// The resolver's error.
        #[source]
        source: hickory_resolver::net::NetError,
    },
    /// A Kubernetes API call failed; the controller retries the reconcile later.
    #[error("kubernetes API call failed: {action}")]
    Kube {
        /// What was asked (`apply Certificate`, `patch CustomDomain status`, ...).
        action: &'static str,
        /// kube-rs's error (the API server's Status for a refusal).
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed, or the reconcile or cleanup it wraps did.
    #[error("reconcile of a CustomDomain failed")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Self>>),
    /// An object from the API server lacks a field the server always sets.
    #[error("{kind} has no {field}")]
    Incomplete {
        /// The kind of object.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid_name(field: &'static str, value: &str, source: &NameError) -> Self {
        Self::InvalidName {
            field,
            value: value.to_owned(),
            reason: source.rule.to_string(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
