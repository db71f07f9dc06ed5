//! The authenticator (certificates, identity headers, TokenReview) and the authoriser
//! (system:masters, SubjectAccessReview), each with its decision cache.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::cache::TtlCache;
use super::requestheader::{chain_verifies, strip_identity_headers, subject, user_from_headers};
use super::{AccessAttributes, AccessDecision, AuthConfigSource, AuthError, UserInfo};
use crate::kube::KubeClient;

/// Cache lifetimes and sizes.
#[derive(Clone, Debug)]
pub struct AuthOptions {
    /// How long a TokenReview answer (authenticated or not) is reused.
    pub token_cache_ttl: Duration,
    /// How long an "allowed" SubjectAccessReview answer is reused.
    pub allow_cache_ttl: Duration,
    /// How long a "denied" SubjectAccessReview answer is reused.
    pub deny_cache_ttl: Duration,
    /// Maximum entries per cache.
    pub cache_capacity: usize,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            token_cache_ttl: Duration::from_secs(10),
            allow_cache_ttl: Duration::from_secs(10),
            deny_cache_ttl: Duration::from_secs(10),
            cache_capacity: 4096,
        }
    }
}

/// Authenticates requests and authorises users; see the [module docs](crate::auth).
pub struct Authenticator {
    config: Arc<AuthConfigSource>,
    kube: Option<KubeClient>,
    options: AuthOptions,
    /// SHA-256 of the token → the reviewed user (`None`: not authenticated).
    tokens: TtlCache<[u8; 32], Option<UserInfo>>,
    decisions: TtlCache<(UserInfo, AccessAttributes), AccessDecision>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("kube", &self.kube)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over `config`; `kube` serves TokenReview and SubjectAccessReview
    /// (without it, bearer tokens are refused and only `system:masters` is authorised).
    pub fn new(config: Arc<AuthConfigSource>, kube: Option<KubeClient>) -> Self {
        Self::with_options(config, kube, AuthOptions::default())
    }

    /// Like [`new`](Self::new) with explicit cache settings.
    pub fn with_options(
        config: Arc<AuthConfigSource>,
        kube: Option<KubeClient>,
        options: AuthOptions,
    ) -> Self {
        Self {
            tokens: TtlCache::new(options.cache_capacity),
            decisions: TtlCache::new(options.cache_capacity),
            config,
            kube,
            options,
        }
    }

    /// The configuration source this authenticator reads.
    pub fn config_source(&self) -> &Arc<AuthConfigSource> {
        &self.config
    }

    /// Who sent a request: `peer_certs` is the TLS client chain (end entity first), `headers`
    /// the request headers. `Ok(None)` means anonymous. An `Err` means authentication was
    /// attempted and failed (a disallowed front-proxy CN, a failing TokenReview): treat it as
    /// unauthenticated.
    pub async fn authenticate(
        &self,
        peer_certs: Option<&[CertificateDer<'_>]>,
        headers: &HeaderMap,
    ) -> Result<Option<UserInfo>, AuthError> {
        let config = self.config.current();
        let mut failure = None;
        if let Some(chain) = peer_certs.filter(|c| !c.is_empty()) {
            // 1. Front proxy: the requestheader CA, and only it, makes headers trustworthy.
            if let Some(verifier) = &config.requestheader_verifier
                && chain_verifies(verifier.as_ref(), chain)
            {
                let cn = subject(&chain[0])
                    .map(|s| s.common_name)
                    .unwrap_or_default();
                let allowed = &config.config().requestheader_allowed_names;
                if allowed.is_empty() || allowed.contains(&cn) {
                    if let Some(user) = user_from_headers(config.config(), headers) {
                        return Ok(Some(user));
                    }
                } else {
                    failure = Some(AuthError::NameNotAllowed { common_name: cn });
                }
            }
            // 2. Client certificate: CN / O.
            if let Some(verifier) = &config.client_verifier
                && chain_verifies(verifier.as_ref(), chain)
                && let Some(subject) = subject(&chain[0])
                && !subject.common_name.is_empty()
            {
                return Ok(Some(UserInfo {
                    username: subject.common_name,
                    uid: String::new(),
                    groups: subject.organizations,
                    extra: Default::default(),
                }));
            }
        }
        // 3. Bearer token.
        if let Some(token) = bearer_token(headers) {
            return match self.review_token(token).await {
                Ok(Some(user)) => Ok(Some(user)),
                Ok(None) => failure.map_or(Ok(None), Err),
                Err(err) => Err(err),
            };
        }
        failure.map_or(Ok(None), Err)
    }

    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(cached) = self.tokens.get(&key) {
            return Ok(cached);
        }
        let kube = self.kube.as_ref().ok_or(AuthError::NoKubeClient {
            what: "TokenReview",
        })?;
        let user = kube.token_review(token).await.map_err(AuthError::Kube)?;
        self.tokens
            .insert(key, user.clone(), self.options.token_cache_ttl);
        Ok(user)
    }

    /// Whether `user` may do what `attributes` describe: `system:masters` always may; anyone
    /// else is checked with a SubjectAccessReview, cached.
    pub async fn authorize(
        &self,
        user: &UserInfo,
        attributes: &AccessAttributes,
    ) -> Result<AccessDecision, AuthError> {
        if user.is_system_master() {
            return Ok(AccessDecision {
                allowed: true,
                reason: "system:masters".to_owned(),
            });
        }
        let key = (user.clone(), attributes.clone());
        if let Some(decision) = self.decisions.get(&key) {
            return Ok(decision);
        }
        let Some(kube) = &self.kube else {
            return Ok(AccessDecision {
                allowed: false,
                reason: "no authoriser configured".to_owned(),
            });
        };
        let decision = kube
            .subject_access_review_for(user, attributes)
            .await
            .map_err(AuthError::Kube)?;
        let ttl = if decision.allowed {
            self.options.allow_cache_ttl
        } else {
            self.options.deny_cache_ttl
        };
        self.decisions.insert(key, decision.clone(), ttl);
        Ok(decision)
    }

    /// Removes identity headers and `Authorization` from `headers` (the middleware does this
    /// before the handler runs).
    pub fn strip_identity_headers(&self, headers: &mut HeaderMap) {
        strip_identity_headers(self.config.current().config(), headers);
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_others_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
