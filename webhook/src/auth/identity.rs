//! Who a request comes from and what it asks to do: the identity types every part of
//! authentication and authorisation shares. A leaf: it depends on nothing else in the crate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The group whose members are always authorised.
pub const SYSTEM_MASTERS: &str = "system:masters";

/// An authenticated user, as Kubernetes describes one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name.
    pub username: String,
    /// Unique id, when the authenticator knows one (TokenReview); may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra attributes (scopes, credential ids, ...).
    #[serde(default)]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// Whether the user is in `system:masters`.
    pub fn is_system_master(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }
}

/// What a SubjectAccessReview asks about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccessAttributes {
    /// An API resource (`resourceAttributes`).
    Resource {
        /// Verb (`create`, `get`, ...).
        verb: String,
        /// API group.
        group: String,
        /// API version (may be empty).
        version: String,
        /// Resource (the solver name for the webhook).
        resource: String,
    },
    /// A non-resource path (`nonResourceAttributes`).
    NonResource {
        /// Request path.
        path: String,
        /// Lowercase HTTP verb (`get`, `post`, ...).
        verb: String,
    },
}

/// The answer of a SubjectAccessReview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessDecision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The authoriser's reason (may be empty).
    pub reason: String,
}
