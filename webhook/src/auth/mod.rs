//! Authentication and authorisation as a Kubernetes aggregated API server.
//!
//! Who is calling ([`Authenticator::authenticate`]), in this order, like the Go framework's
//! union authenticator:
//! 1. **Front proxy.** A client certificate chain that verifies against the *requestheader*
//!    CA, whose CN is in `requestheader-allowed-names` (when that list is non-empty): the user
//!    is read from the identity headers (`X-Remote-User`, `X-Remote-Group`,
//!    `X-Remote-Extra-*`). Identity headers are never read in any other case.
//! 2. **Client certificate.** A chain that verifies against the *client* CA: the user is the
//!    certificate's CN, its groups the O values. Identity headers are ignored.
//!
//!    Chain verification results (and the parsed subject) are cached for ~10 s under the
//!    SHA-256 of the chain, the verifier (requestheader or client CA) and the
//!    [generation](CompiledAuthConfig::generation) of the configuration in force, so a
//!    configuration change takes effect at once; a success is never kept past the expiry of
//!    a certificate of the chain.
//! 3. **Bearer token.** `Authorization: Bearer …` is checked with a TokenReview; results are
//!    cached for ~10 s under the SHA-256 of the token (never the token itself).
//! 4. Otherwise the request is anonymous and API paths answer 401.
//!
//! What the caller may do ([`Authenticator::authorize`]): members of `system:masters` may do
//! everything; anyone else is checked with a SubjectAccessReview (for the webhook's call:
//! verb `create`, the API group, resource = solver name); allow and deny decisions are cached
//! for ~10 s, and concurrent identical checks share one SubjectAccessReview (likewise one
//! TokenReview per token). Discovery (`GET /apis…` up to the version) is allowed for every authenticated
//! user: kube-aggregator reads it as `system:kube-aggregator` and Kubernetes' default RBAC
//! (`system:discovery`) grants it to all authenticated users anyway. Health paths
//! (`/healthz`, `/livez`, `/readyz`) skip authentication.
//!
//! The axum side is [`layer`] (or [`middleware`] with `from_fn_with_state`); it reads the
//! peer certificates from the [`PeerCertificates`](crate::tls::PeerCertificates) extension
//! that [`crate::server::serve`] inserts, removes identity headers and `Authorization` before the
//! handler runs, and inserts the authenticated [`UserInfo`] as a request extension (an
//! `Arc<UserInfo>`). Every API request is checked this way; only the chain verification,
//! TokenReview and SubjectAccessReview answers are cached, as above.

mod authenticator;
pub mod cache;
mod config;
mod middleware;
mod requestheader;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use authenticator::{AuthOptions, Authenticator};
pub use config::{
    AUTHENTICATION_CONFIGMAP_NAME, AUTHENTICATION_CONFIGMAP_NAMESPACE, AuthConfig,
    AuthConfigSource, AuthFiles, CompiledAuthConfig, DEFAULT_CONFIGMAP_POLL,
    DEFAULT_EXTRA_HEADERS_PREFIX, DEFAULT_FILE_POLL, DEFAULT_GROUP_HEADER, DEFAULT_USERNAME_HEADER,
};
pub use middleware::{AuthLayer, AuthService, AuthState, RequestKind, classify, layer, middleware};

pub use crate::kube::{AccessAttributes, AccessDecision};

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

/// Errors of authentication and authorisation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The authentication configuration is invalid (bad PEM, bad JSON list).
    #[error("invalid authentication configuration: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
    /// A configured file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A call to the Kubernetes API (ConfigMap, TokenReview, SubjectAccessReview) failed.
    #[error("kubernetes API call failed")]
    Kube(#[source] crate::kube::KubeError),
    /// A front-proxy certificate verified, but its CN is not an allowed name.
    #[error(
        "front-proxy client certificate CN {common_name:?} is not in requestheader-allowed-names"
    )]
    NameNotAllowed {
        /// The certificate's CN.
        common_name: String,
    },
    /// No Kubernetes client is configured, so the check cannot be made.
    #[error("no kubernetes client configured for {what}")]
    NoKubeClient {
        /// The check (TokenReview, SubjectAccessReview).
        what: &'static str,
    },
    /// A TokenReview or SubjectAccessReview shared by concurrent identical requests failed;
    /// displays as the underlying error.
    #[error(transparent)]
    Shared(std::sync::Arc<Self>),
}

/// Displays an error followed by its sources, `a: b: c`.
#[derive(Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}
