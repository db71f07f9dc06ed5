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
//!    Chains are verified on every request against the configuration in force then, as
//!    k8s.io/apiserver does, so a changed CA applies to the next request.
//! 3. **Bearer token.** `Authorization: Bearer …` is checked with a TokenReview (through
//!    kube-rs, see [`crate::cluster`]); results are
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
//! The axum side is [`middleware`], mounted with `axum::middleware::from_fn_with_state`
//! and an [`AuthState`]; it reads the
//! peer certificates from the [`PeerCertificates`](crate::tls::PeerCertificates) extension
//! that [`crate::server::serve`] inserts, removes identity headers and `Authorization` before the
//! handler runs, and inserts the authenticated [`UserInfo`] as a request extension (an
//! `Arc<UserInfo>`). Every API request is checked this way; only the TokenReview and
//! SubjectAccessReview answers are cached, as above.

mod authenticator;
mod config;
mod error;
mod identity;
mod middleware;
mod requestheader;
mod review;

pub use authenticator::{AuthOptions, Authenticator};
pub use config::{
    AUTHENTICATION_CONFIGMAP_NAME, AUTHENTICATION_CONFIGMAP_NAMESPACE, AuthConfig,
    AuthConfigSource, AuthFiles, CompiledAuthConfig, DEFAULT_EXTRA_HEADERS_PREFIX,
    DEFAULT_FILE_POLL, DEFAULT_GROUP_HEADER, DEFAULT_USERNAME_HEADER,
};
pub use error::{AuthError, ErrorChain};
pub use identity::{AccessAttributes, AccessDecision, SYSTEM_MASTERS, UserInfo};
pub use middleware::{AuthState, RequestKind, classify, middleware};
