//! The authenticator (certificates, identity headers, TokenReview) and the authoriser
//! (system:masters, SubjectAccessReview), each with its decision cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use sha2::{Digest, Sha256};

use super::cache::{SingleFlight, TtlCache};
use super::config::{AuthConfigSource, CompiledAuthConfig};
use super::error::AuthError;
use super::identity::{AccessAttributes, AccessDecision, UserInfo};
use super::requestheader::{
    Subject, chain_verifies, strip_identity_headers, subject, user_from_headers, verdict_lifetime,
};
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
    /// How long a client certificate chain's verification result is reused (never past the
    /// expiry of a certificate of the chain, and only under the configuration it was
    /// obtained with). Zero verifies on every request.
    pub chain_cache_ttl: Duration,
    /// Maximum entries per cache.
    pub cache_capacity: usize,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            token_cache_ttl: Duration::from_secs(10),
            allow_cache_ttl: Duration::from_secs(10),
            deny_cache_ttl: Duration::from_secs(10),
            chain_cache_ttl: Duration::from_secs(10),
            cache_capacity: 4096,
        }
    }
}

/// Which CA a chain is verified against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ChainRole {
    /// The requestheader (front-proxy) CA.
    RequestHeader,
    /// The client CA.
    Client,
}

/// Cache key of a chain verification: configuration generation, verifier, SHA-256 of the
/// chain.
type ChainKey = (u64, ChainRole, [u8; 32]);

/// A cached chain verification: `None` if the chain does not verify, else the end entity's
/// subject (`None` inside when it has no readable CN).
type ChainVerdict = Option<Option<Arc<Subject>>>;

/// The outcome of a TokenReview or SubjectAccessReview shared between concurrent callers.
type Shared<T> = Result<T, Arc<AuthError>>;

/// Authenticates requests and authorises users; see the [module docs](crate::auth).
pub struct Authenticator {
    config: Arc<AuthConfigSource>,
    kube: Option<kube::Client>,
    options: AuthOptions,
    /// SHA-256 of the token → the reviewed user (`None`: not authenticated).
    tokens: TtlCache<[u8; 32], Option<UserInfo>>,
    token_flights: SingleFlight<[u8; 32], Shared<Option<UserInfo>>>,
    decisions: TtlCache<(UserInfo, AccessAttributes), AccessDecision>,
    decision_flights: SingleFlight<(UserInfo, AccessAttributes), Shared<AccessDecision>>,
    chains: TtlCache<ChainKey, ChainVerdict>,
    chain_verifications: AtomicU64,
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
            tokens: TtlCache::new(options.cache_capacity),
            token_flights: SingleFlight::new(),
            decisions: TtlCache::new(options.cache_capacity),
            decision_flights: SingleFlight::new(),
            chains: TtlCache::new(options.cache_capacity),
            chain_verifications: AtomicU64::new(0),
            config,
            kube,
            options,
        }
    }

    /// The configuration source this authenticator reads.
    pub fn config_source(&self) -> &Arc<AuthConfigSource> {
        &self.config
    }

    /// How many client certificate chain verifications were actually run (cache misses);
    /// for tests and diagnostics.
    pub fn chain_verifications(&self) -> u64 {
        self.chain_verifications.load(Ordering::Relaxed)
    }

    /// Whether `chain` verifies against the `role` CA of `config`, and if so its end entity's
    /// subject; cached, see [`AuthOptions::chain_cache_ttl`].
    fn verify_chain(
        &self,
        config: &CompiledAuthConfig,
        role: ChainRole,
        chain: &[CertificateDer<'_>],
        digest: [u8; 32],
    ) -> ChainVerdict {
        let verifier: Option<&Arc<dyn ClientCertVerifier>> = match role {
            ChainRole::RequestHeader => config.requestheader_verifier.as_ref(),
            ChainRole::Client => config.client_verifier.as_ref(),
        };
        let verifier = verifier?;
        let key = (config.generation(), role, digest);
        if let Some(verdict) = self.chains.get(&key) {
            return verdict;
        }
        let now = SystemTime::now();
        self.chain_verifications.fetch_add(1, Ordering::Relaxed);
        let verified = chain_verifies(verifier.as_ref(), chain);
        let verdict = verified.then(|| chain.first().and_then(subject).map(Arc::new));
        let ttl = verdict_lifetime(chain, verified, now, self.options.chain_cache_ttl);
        self.chains.insert(key, verdict.clone(), ttl);
        verdict
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
        if let Some(peer) = peer.filter(|p| !p.chain().is_empty()) {
            let (chain, digest) = (peer.chain(), *peer.digest());
            // 1. Front proxy: the requestheader CA, and only it, makes headers trustworthy.
            let verdict = self.verify_chain(config, ChainRole::RequestHeader, chain, digest);
            if let Some(subject) = verdict {
                let cn = subject.as_deref().map_or("", |s| s.common_name.as_str());
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
            let verdict = self.verify_chain(config, ChainRole::Client, chain, digest);
            if let Some(Some(subject)) = verdict
                && !subject.common_name.is_empty()
            {
                let user = UserInfo {
                    username: subject.common_name.clone(),
                    uid: String::new(),
                    groups: subject.organizations.clone(),
                    extra: Default::default(),
                };
                return Ok(Some(user));
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
        if let Some(cached) = self.tokens.get(&key) {
            return Ok(cached);
        }
        let kube = self.kube.as_ref().ok_or(AuthError::NoKubeClient {
            what: "TokenReview",
        })?;
        // Concurrent misses for one token share one TokenReview.
        self.token_flights
            .run(key, || async {
                // A flight that just ended may have filled the cache.
                if let Some(cached) = self.tokens.get(&key) {
                    return Ok(cached);
                }
                let user = review::token_review(kube, token).await.map_err(Arc::new)?;
                self.tokens
                    .insert(key, user.clone(), self.options.token_cache_ttl);
                Ok(user)
            })
            .await
            .map_err(AuthError::Shared)
    }

    /// Whether `user` may do what `attributes` describe: `system:masters` always may; anyone
    /// else is checked with a SubjectAccessReview, cached.
    pub async fn authorize(
        &self,
        user: &UserInfo,
        attributes: &AccessAttributes,
    ) -> Result<AccessDecision, AuthError> {
        self.authorize_request(&(user.clone(), attributes.clone()))
            .await
    }

    /// [`authorize`](Self::authorize) for a caller that holds the pair already: a cached
    /// decision is then found without copying it.
    pub async fn authorize_request(
        &self,
        key: &(UserInfo, AccessAttributes),
    ) -> Result<AccessDecision, AuthError> {
        let (user, attributes) = key;
        if user.is_system_master() {
            let decision = AccessDecision {
                allowed: true,
                reason: "system:masters".to_owned(),
            };
            return Ok(decision);
        }
        if let Some(decision) = self.decisions.get(key) {
            return Ok(decision);
        }
        let Some(kube) = &self.kube else {
            let decision = AccessDecision {
                allowed: false,
                reason: "no authoriser configured".to_owned(),
            };
            return Ok(decision);
        };
        // Concurrent misses for one (user, attributes) share one SubjectAccessReview, and
        // its answer, allow or deny (or its failure). Boxed, like the TokenReview above: only a
        // cache miss needs room for the call.
        Box::pin(self.decision_flights.run(key.clone(), || async {
            // A flight that just ended may have filled the cache.
            if let Some(decision) = self.decisions.get(key) {
                return Ok(decision);
            }
            let decision = review::subject_access_review(kube, user, attributes)
                .await
                .map_err(Arc::new)?;
            let ttl = if decision.allowed {
                self.options.allow_cache_ttl
            } else {
                self.options.deny_cache_ttl
            };
            self.decisions.insert(key.clone(), decision.clone(), ttl);
            Ok(decision)
        }))
        .await
        .map_err(AuthError::Shared)
    }

    /// Removes identity headers and `Authorization` from `headers` (the middleware does this
    /// before the handler runs).
    pub fn strip_identity_headers(&self, headers: &mut HeaderMap) {
        strip_identity_headers(&self.config.current().identity_headers, headers);
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

    /// An authenticator trusting a new client CA (and its source), and a chain that CA issued
    /// for alice, valid for `lifetime`.
    fn client_ca_and_chain(
        lifetime: Duration,
    ) -> (Arc<AuthConfigSource>, Authenticator, PeerCertificates) {
        let (ca_pem, leaf) = ca_and_client_cert(lifetime);
        let source = AuthConfigSource::fixed(AuthConfig {
            client_ca: Some(ca_pem),
            ..AuthConfig::default()
        })
        .unwrap();
        let authenticator = Authenticator::new(source.clone(), None);
        (source, authenticator, PeerCertificates::new(vec![leaf]))
    }

    #[tokio::test]
    async fn a_cached_verification_is_not_trusted_past_the_certificate_expiry() {
        // notAfter is truncated to the second: at least 1 s ahead, at most 2 s.
        let (_, authenticator, chain) = client_ca_and_chain(Duration::from_secs(2));
        let headers = HeaderMap::new();
        let user = authenticator.authenticate(Some(&chain), &headers).await;
        assert_eq!(user.unwrap().unwrap().username, "alice");
        let user = authenticator.authenticate(Some(&chain), &headers).await;
        assert_eq!(user.unwrap().unwrap().username, "alice");
        assert_eq!(authenticator.chain_verifications(), 1);
        // notAfter is inclusive at second precision: three seconds on, the certificate expired
        // although the cache's own lifetime (10 s) has not run out.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let user = authenticator.authenticate(Some(&chain), &headers).await;
        assert!(
            user.unwrap().is_none(),
            "an expired certificate authenticated"
        );
        assert_eq!(authenticator.chain_verifications(), 2);
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
