//! What a solver is asked to do: a challenge validated at the edge (the api module builds it
//! from cert-manager's request), independent of the wire format. A leaf module: both the API
//! layer and the solvers depend on it, and it depends on neither.

use dns01_core::{Fqdn, TxtValue, ZoneName};
use serde::{Deserialize, Serialize};

/// The action to take on the challenge record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Make sure the TXT value exists.
    Present,
    /// Make sure the TXT value no longer exists.
    CleanUp,
}

impl Action {
    /// The wire form, also used as a metrics label and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "Present",
            Self::CleanUp => "CleanUp",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated challenge request.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// `Present` or `CleanUp`.
    pub action: Action,
    /// The domain being validated (`*.` removed if cert-manager ever sends it).
    pub dns_name: Fqdn,
    /// Where cert-manager expects the record (after CNAME following).
    pub resolved_fqdn: Fqdn,
    /// The zone cert-manager found for `resolved_fqdn`, if it sent a valid one.
    pub resolved_zone: Option<ZoneName>,
    /// The TXT value.
    pub value: TxtValue,
    /// The tenant: the Issuer's namespace.
    pub namespace: String,
    /// Whether the webhook's own credentials may be used.
    pub allow_ambient_credentials: bool,
    /// The solver configuration, verbatim.
    pub config: Option<serde_json::Value>,
}
