//! The authenticator (certificates, identity headers, TokenReview) and the authoriser
//! (system:masters, SubjectAccessReview). TokenReview and SubjectAccessReview answers are
//! cached for a few seconds, and concurrent misses for one key share one review, as in
//! k8s.io/apiserver (with `moka`, which gives both); certificate chains are verified on every
//! request, as k8s.io/apiserver does, so a changed CA applies to the next request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::config::{AuthConfigSource, CompiledAuthConfig};
use super::error::AuthError;
use super::identity::{AccessAttributes, AccessDecision, UserInfo};
use super::requestheader::{chain_verifies, subject, user_from_headers};
use super::review;
use crate::tls::PeerCertificates;

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
    pub cache_capacity: u64,
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

/// A cached answer and how long it lives.
type Expiring<V> = (V, Duration);

/// Each entry expires after the lifetime stored beside it (zero: at once, after the callers
/// waiting for it have it).
struct PerEntryTtl;

impl<K, V> moka::Expiry<K, Expiring<V>> for PerEntryTtl {
    fn expire_after_create(&self, _: &K, value: &Expiring<V>, _: Instant) -> Option<Duration> {
        Some(value.1)
    }
}

fn cache<K, V>(capacity: u64) -> Cache<K, Expiring<V>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .expire_after(PerEntryTtl)
        .build()
}

/// Authenticates requests and authorises users; see the [module docs](crate::auth).
pub struct Authenticator {
    config: Arc<AuthConfigSource>,
    kube: Option<kube::Client>,
    options: AuthOptions,
    /// SHA-256 of the token → the reviewed user (`None`: not authenticated).
    tokens: Cache<[u8; 32], Expiring<Option<UserInfo>>>,
    decisions: Cache<(UserInfo, AccessAttributes), Expiring<AccessDecision>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("kube_client", &self.kube.is_some())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over `config`; `kube` serves TokenReview and SubjectAccessReview
    /// (without it, bearer tokens are refused and only `system:masters` is authorised).
    pub fn new(config: Arc<AuthConfigSource>, kube: Option<kube::Client>) -> Self {
        Self::with_options(config, kube, AuthOptions::default())
    }

    /// Like [`new`](Self::new) with explicit cache settings.
    pub fn with_options(
        config: Arc<AuthConfigSource>,
        kube: Option<kube::Client>,
        options: AuthOptions,
    ) -> Self {
        Self {
            tokens: cache(options.cache_capacity),
            decisions: cache(options.cache_capacity),
            config,
            kube,
            options,
        }
    }

    /// The configuration source this authenticator reads.
    pub fn config_source(&self) -> &Arc<AuthConfigSource> {
        &self.config
    }

    /// Who sent a request: `peer` is the TLS client chain of its connection, `headers` the
    /// request headers. `Ok(None)` means anonymous. An `Err` means authentication was
    /// attempted and failed (a disallowed front-proxy CN, a failing TokenReview): treat it as
    /// unauthenticated.
    pub async fn authenticate(
        &self,
        peer: Option<&PeerCertificates>,
        headers: &HeaderMap,
    ) -> Result<Option<UserInfo>, AuthError> {
        let config = self.config.current();
        self.authenticate_with(&config, peer, headers).await
    }

    /// [`authenticate`](Self::authenticate) under `config`.
    pub(crate) async fn authenticate_with(
        &self,
        config: &CompiledAuthConfig,
        peer: Option<&PeerCertificates>,
        headers: &HeaderMap,
    ) -> Result<Option<UserInfo>, AuthError> {
        let mut failure = None;
        if let Some(chain) = peer.map(PeerCertificates::chain) {
            // 1. Front proxy: the requestheader CA, and only it, makes headers trustworthy.
            if let Some(verifier) = &config.requestheader_verifier
                && chain_verifies(verifier.as_ref(), chain)
            {
                let cn = chain.first().and_then(subject).map(|s| s.common_name);
                let cn = cn.as_deref().unwrap_or("");
                let allowed = &config.config().requestheader_allowed_names;
                if allowed.is_empty() || allowed.iter().any(|name| name == cn) {
                    if let Some(user) = user_from_headers(&config.identity_headers, headers) {
                        return Ok(Some(user));
                    }
                } else {
                    failure = Some(AuthError::NameNotAllowed {
                        common_name: cn.to_owned(),
                    });
                }
            }
            // 2. Client certificate: CN / O.
            if let Some(verifier) = &config.client_verifier
                && chain_verifies(verifier.as_ref(), chain)
                && let Some(subject) = chain.first().and_then(subject)
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
            // Boxed: the TokenReview call is a large future that every request would otherwise
            // carry (and move) whether it reviews a token or not.
            return match Box::pin(self.review_token(token)).await {
                Ok(Some(user)) => Ok(Some(user)),
                Ok(None) => failure.map_or(Ok(None), Err),
                Err(err) => Err(err),
            };
        }
        failure.map_or(Ok(None), Err)
    }

    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((user, _)) = self.tokens.get(&key).await {
            return Ok(user);
        }
        let kube = self.kube.as_ref().ok_or(AuthError::NoKubeClient {
            what: "TokenReview",
        })?;
        // Concurrent misses for one token share one TokenReview.
        let review = async {
            let user = review::token_review(kube, token).await?;
            Ok::<_, AuthError>((user, self.options.token_cache_ttl))
        };
        let (user, _) = self
            .tokens
            .try_get_with(key, review)
            .await
            .map_err(AuthError::Shared)?;
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
        let Some(kube) = &self.kube else {
            return Ok(AccessDecision {
                allowed: false,
                reason: "no authoriser configured".to_owned(),
            });
        };
        // Concurrent misses for one (user, attributes) share one SubjectAccessReview, and its
        // answer, allow or deny (or its failure). Boxed, like the TokenReview above.
        let review = async {
            let decision = review::subject_access_review(kube, user, attributes).await?;
            let ttl = if decision.allowed {
                self.options.allow_cache_ttl
            } else {
                self.options.deny_cache_ttl
            };
            Ok::<_, AuthError>((decision, ttl))
        };
        let key = (user.clone(), attributes.clone());
        let (decision, _) = Box::pin(self.decisions.try_get_with(key, review))
            .await
            .map_err(AuthError::Shared)?;
        Ok(decision)
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
    use crate::auth::AuthConfig;
    use rustls::pki_types::CertificateDer;
    use std::time::SystemTime;

    /// A CA (PEM) and a client certificate it signed for `alice`, valid for `lifetime` more.
    fn ca_and_client_cert(lifetime: Duration) -> (String, CertificateDer<'static>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "short-lived ca");
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        leaf.not_after = rcgen::date_time_ymd(1970, 1, 1) + now + lifetime;
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap().der().clone();
        (ca_pem, leaf)
    }

    #[tokio::test]
    async fn a_client_certificate_is_refused_once_it_expires() {
        // notAfter is truncated to the second: at least 1 s ahead, at most 2 s.
        let (ca_pem, leaf) = ca_and_client_cert(Duration::from_secs(2));
        let source = AuthConfigSource::fixed(AuthConfig {
            client_ca: Some(ca_pem),
            ..AuthConfig::default()
        })
        .unwrap();
        let authenticator = Authenticator::new(source, None);
        let chain = PeerCertificates::new(vec![leaf]);
        let headers = HeaderMap::new();
        let user = authenticator.authenticate(Some(&chain), &headers).await;
        assert_eq!(user.unwrap().unwrap().username, "alice");
        // notAfter is inclusive at second precision: three seconds on, it has expired.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let user = authenticator.authenticate(Some(&chain), &headers).await;
        assert!(
            user.unwrap().is_none(),
            "an expired certificate authenticated"
        );
    }

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
