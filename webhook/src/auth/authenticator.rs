//! The authenticator (certificates, identity headers, TokenReview) and the authoriser
//! (system:masters, SubjectAccessReview), each with its decision cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderMap;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use sha2::{Digest, Sha256};

use super::cache::{SingleFlight, TtlCache};
use super::requestheader::{
    Subject, chain_verifies, identity_fingerprint, strip_identity_headers, subject,
    user_from_headers, verdict_lifetime,
};
use super::{
    AccessAttributes, AccessDecision, AuthConfigSource, AuthError, CompiledAuthConfig, UserInfo,
};
use crate::kube::KubeClient;
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

/// How long an answer derived from the caches stays the same for the same inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Validity {
    /// It depends on nothing that changes with time (under one configuration generation).
    Unbounded,
    /// Until this instant, when a cache entry it was made of expires.
    Until(Instant),
    /// It was not made from the caches alone: ask again next time.
    Uncached,
}

impl Validity {
    /// The validity of an answer made of both.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Uncached, _) | (_, Self::Uncached) => Self::Uncached,
            (Self::Unbounded, v) | (v, Self::Unbounded) => v,
            (Self::Until(a), Self::Until(b)) => Self::Until(a.min(b)),
        }
    }
}

/// The outcome of a TokenReview or SubjectAccessReview shared between concurrent callers.
type Shared<T> = Result<T, Arc<AuthError>>;

/// Authenticates requests and authorises users; see the [module docs](crate::auth).
pub struct Authenticator {
    config: Arc<AuthConfigSource>,
    kube: Option<KubeClient>,
    options: AuthOptions,
    /// SHA-256 of the token → the reviewed user (`None`: not authenticated).
    tokens: TtlCache<[u8; 32], Option<UserInfo>>,
    token_flights: SingleFlight<[u8; 32], Shared<Option<UserInfo>>>,
    decisions: TtlCache<(UserInfo, AccessAttributes), AccessDecision>,
    decision_flights: SingleFlight<(UserInfo, AccessAttributes), Shared<AccessDecision>>,
    chains: TtlCache<ChainKey, ChainVerdict>,
    chain_verifications: AtomicU64,
    /// Requests already let through, by everything that decided them (see [`GrantKey`]) →
    /// the user they were let through as. An entry lasts no longer than the chain
    /// verification and the decision it was made of.
    grants: TtlCache<Box<[u8]>, Arc<UserInfo>>,
}

/// Everything that decides whether a request with a client certificate chain is let through,
/// and as whom, encoded without ambiguity: the configuration generation, the chain's
/// SHA-256, the method and path, and every identity header value the configuration reads.
/// Two requests with equal keys get the same answer for as long as the caches they were
/// decided from hold it.
#[derive(Debug)]
pub(crate) struct GrantKey(Vec<u8>);

impl GrantKey {
    pub(crate) fn new(
        config: &CompiledAuthConfig,
        peer: &PeerCertificates,
        method: &http::Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Self {
        let mut key = Vec::with_capacity(128 + path.len());
        key.extend_from_slice(&config.generation().to_le_bytes());
        key.extend_from_slice(peer.digest());
        push_field(&mut key, method.as_str().as_bytes());
        push_field(&mut key, path.as_bytes());
        identity_fingerprint(&config.identity_headers, headers, &mut key);
        Self(key)
    }
}

/// Appends `field` with its length in front.
pub(crate) fn push_field(key: &mut Vec<u8>, field: &[u8]) {
    // Header values and paths come through the HTTP parser, whose limits keep them far below
    // 4 GiB, so the length always fits.
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_le_bytes());
    key.extend_from_slice(field);
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
            token_flights: SingleFlight::new(),
            decisions: TtlCache::new(options.cache_capacity),
            decision_flights: SingleFlight::new(),
            chains: TtlCache::new(options.cache_capacity),
            chain_verifications: AtomicU64::new(0),
            grants: TtlCache::new(options.cache_capacity),
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
    /// subject; cached, see [`AuthOptions::chain_cache_ttl`]. Also how long the answer stays
    /// the same: until its cache entry expires, for ever when `config` has no such CA, or
    /// [`Validity::Uncached`] when it was not cached.
    fn verify_chain(
        &self,
        config: &CompiledAuthConfig,
        role: ChainRole,
        chain: &[CertificateDer<'_>],
        digest: [u8; 32],
    ) -> (ChainVerdict, Validity) {
        let verifier: Option<&Arc<dyn ClientCertVerifier>> = match role {
            ChainRole::RequestHeader => config.requestheader_verifier.as_ref(),
            ChainRole::Client => config.client_verifier.as_ref(),
        };
        let Some(verifier) = verifier else {
            return (None, Validity::Unbounded);
        };
        let key = (config.generation(), role, digest);
        if let Some((verdict, until)) = self.chains.get_until(&key) {
            return (verdict, Validity::Until(until));
        }
        let now = SystemTime::now();
        self.chain_verifications.fetch_add(1, Ordering::Relaxed);
        let verified = chain_verifies(verifier.as_ref(), chain);
        let verdict = verified.then(|| chain.first().and_then(subject).map(Arc::new));
        let ttl = verdict_lifetime(chain, verified, now, self.options.chain_cache_ttl);
        let validity = match self.chains.insert(key, verdict.clone(), ttl) {
            Some(until) => Validity::Until(until),
            None => Validity::Uncached,
        };
        (verdict, validity)
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
        self.authenticate_with(&config, peer, headers)
            .await
            .map(|(user, _)| user)
    }

    /// [`authenticate`](Self::authenticate) under `config`, also saying how long the same
    /// request would be answered the same from the caches: only an identity read from a
    /// certificate chain (with its identity headers) is ever [`Validity::Until`] a time.
    pub(crate) async fn authenticate_with(
        &self,
        config: &CompiledAuthConfig,
        peer: Option<&PeerCertificates>,
        headers: &HeaderMap,
    ) -> Result<(Option<UserInfo>, Validity), AuthError> {
        let mut failure = None;
        if let Some(peer) = peer.filter(|p| !p.chain().is_empty()) {
            let (chain, digest) = (peer.chain(), *peer.digest());
            // 1. Front proxy: the requestheader CA, and only it, makes headers trustworthy.
            let (verdict, mut validity) =
                self.verify_chain(config, ChainRole::RequestHeader, chain, digest);
            if let Some(subject) = verdict {
                let cn = subject.as_deref().map_or("", |s| s.common_name.as_str());
                let allowed = &config.config().requestheader_allowed_names;
                if allowed.is_empty() || allowed.iter().any(|name| name == cn) {
                    if let Some(user) = user_from_headers(&config.identity_headers, headers) {
                        return Ok((Some(user), validity));
                    }
                } else {
                    failure = Some(AuthError::NameNotAllowed {
                        common_name: cn.to_owned(),
                    });
                }
            }
            // 2. Client certificate: CN / O.
            let (verdict, client_validity) =
                self.verify_chain(config, ChainRole::Client, chain, digest);
            validity = validity.and(client_validity);
            if let Some(Some(subject)) = verdict
                && !subject.common_name.is_empty()
            {
                let user = UserInfo {
                    username: subject.common_name.clone(),
                    uid: String::new(),
                    groups: subject.organizations.clone(),
                    extra: Default::default(),
                };
                return Ok((Some(user), validity));
            }
        }
        // 3. Bearer token.
        if let Some(token) = bearer_token(headers) {
            // Boxed: the TokenReview call is a large future that every request would otherwise
            // carry (and move) whether it reviews a token or not.
            return match Box::pin(self.review_token(token)).await {
                Ok(Some(user)) => Ok((Some(user), Validity::Uncached)),
                Ok(None) => failure.map_or(Ok((None, Validity::Uncached)), Err),
                Err(err) => Err(err),
            };
        }
        failure.map_or(Ok((None, Validity::Uncached)), Err)
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
                let user = kube
                    .token_review(token)
                    .await
                    .map_err(|e| Arc::new(AuthError::Kube(e)))?;
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
        self.authorize_with(key).await.map(|(decision, _)| decision)
    }

    /// [`authorize_request`](Self::authorize_request), also saying until when the decision
    /// cache holds it (`None` when it did not come from the cache).
    pub(crate) async fn authorize_with(
        &self,
        key: &(UserInfo, AccessAttributes),
    ) -> Result<(AccessDecision, Option<Instant>), AuthError> {
        let (user, attributes) = key;
        if user.is_system_master() {
            let decision = AccessDecision {
                allowed: true,
                reason: "system:masters".to_owned(),
            };
            return Ok((decision, None));
        }
        if let Some((decision, until)) = self.decisions.get_until(key) {
            return Ok((decision, Some(until)));
        }
        let Some(kube) = &self.kube else {
            let decision = AccessDecision {
                allowed: false,
                reason: "no authoriser configured".to_owned(),
            };
            return Ok((decision, None));
        };
        // Concurrent misses for one (user, attributes) share one SubjectAccessReview, and
        // its answer, allow or deny (or its failure). Boxed, like the TokenReview above: only a
        // cache miss needs room for the call.
        Box::pin(self.decision_flights.run(key.clone(), || async {
            // A flight that just ended may have filled the cache.
            if let Some(decision) = self.decisions.get(key) {
                return Ok(decision);
            }
            let decision = kube
                .subject_access_review_for(user, attributes)
                .await
                .map_err(|e| Arc::new(AuthError::Kube(e)))?;
            let ttl = if decision.allowed {
                self.options.allow_cache_ttl
            } else {
                self.options.deny_cache_ttl
            };
            self.decisions.insert(key.clone(), decision.clone(), ttl);
            Ok(decision)
        }))
        .await
        .map(|decision| (decision, None))
        .map_err(AuthError::Shared)
    }

    /// How many grants are held (expired ones included until touched); for tests and
    /// diagnostics.
    pub fn grant_count(&self) -> usize {
        self.grants.len()
    }

    /// The user a request with this key was let through as, if that still holds.
    pub(crate) fn granted(&self, key: &GrantKey) -> Option<Arc<UserInfo>> {
        self.grants.get(key.0.as_slice())
    }

    /// Whether a request with this key is let through, as [`granted`](Self::granted) would
    /// say, without taking a reference to the user.
    pub(crate) fn is_granted(&self, key: &GrantKey) -> bool {
        self.grants.contains(key.0.as_slice())
    }

    /// Remembers that requests with `key` are let through as `user`, while both the identity
    /// (`validity`) and the decision (`decided_until`) would be answered the same from the
    /// caches; nothing when either is not cached.
    pub(crate) fn grant(
        &self,
        key: GrantKey,
        user: Arc<UserInfo>,
        validity: Validity,
        decided_until: Option<Instant>,
    ) {
        let decided = decided_until.map_or(Validity::Uncached, Validity::Until);
        let Validity::Until(until) = validity.and(decided) else {
            return;
        };
        self.grants
            .insert_until(key.0.into_boxed_slice(), user, until);
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

    #[tokio::test]
    async fn an_identity_from_a_certificate_holds_no_longer_than_the_certificate() {
        // notAfter is truncated to the second: at most 2 s ahead, far less than the 10 s the
        // chain cache would keep the verification otherwise.
        let (source, authenticator, chain) = client_ca_and_chain(Duration::from_secs(2));
        let config = source.current();
        let headers = HeaderMap::new();
        for _ in 0..2 {
            let before = Instant::now();
            let (user, validity) = authenticator
                .authenticate_with(&config, Some(&chain), &headers)
                .await
                .unwrap();
            assert_eq!(user.unwrap().username, "alice");
            match validity {
                Validity::Until(until) => assert!(
                    until <= before + Duration::from_secs(2) && until > before,
                    "{:?} from now",
                    until - before
                ),
                other => panic!("a certificate identity should hold until a time: {other:?}"),
            }
        }
        assert_eq!(authenticator.chain_verifications(), 1);
        // With no caching, nothing may be taken for granted.
        let options = AuthOptions {
            chain_cache_ttl: Duration::ZERO,
            ..AuthOptions::default()
        };
        let uncached = Authenticator::with_options(source, None, options);
        let (_, validity) = uncached
            .authenticate_with(&config, Some(&chain), &headers)
            .await
            .unwrap();
        assert_eq!(validity, Validity::Uncached);
    }

    #[tokio::test]
    async fn a_grant_ends_with_the_first_of_its_identity_and_its_decision() {
        let source = AuthConfigSource::fixed(AuthConfig::default()).unwrap();
        let authenticator = Authenticator::new(source.clone(), None);
        let config = source.current();
        let peer = PeerCertificates::new(vec![CertificateDer::from(vec![1, 2, 3])]);
        let key = |path: &str| {
            GrantKey::new(&config, &peer, &http::Method::POST, path, &HeaderMap::new())
        };
        let user = Arc::new(UserInfo {
            username: "alice".into(),
            uid: String::new(),
            groups: vec![],
            extra: Default::default(),
        });
        let now = Instant::now();
        let (soon, later) = (
            now + Duration::from_millis(50),
            now + Duration::from_secs(60),
        );
        let cases = [
            ("/identity-first", Validity::Until(soon), Some(later), true),
            ("/decision-first", Validity::Until(later), Some(soon), true),
            ("/unbounded", Validity::Unbounded, Some(soon), true),
            ("/long", Validity::Until(later), Some(later), false),
            ("/uncached-identity", Validity::Uncached, Some(later), false),
        ];
        for (path, validity, decided, _) in cases {
            authenticator.grant(key(path), user.clone(), validity, decided);
        }
        authenticator.grant(
            key("/uncached-decision"),
            user.clone(),
            Validity::Unbounded,
            None,
        );
        assert!(authenticator.granted(&key("/uncached-identity")).is_none());
        assert!(authenticator.granted(&key("/uncached-decision")).is_none());
        for (path, _, _, _) in cases.iter().filter(|c| c.1 != Validity::Uncached) {
            assert!(authenticator.granted(&key(path)).is_some(), "{path}");
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        for (path, validity, _, ends_soon) in cases {
            let held = authenticator.granted(&key(path)).is_some();
            let expected = !ends_soon && validity != Validity::Uncached;
            assert_eq!(held, expected, "{path}");
        }
    }

    #[test]
    fn grant_keys_differ_in_every_input_that_decides() {
        let source = AuthConfigSource::fixed(AuthConfig {
            username_headers: vec!["X-Remote-User".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_headers_prefix: vec!["X-Remote-Extra-".into()],
            ..AuthConfig::default()
        })
        .unwrap();
        let config = source.current();
        let peer = PeerCertificates::new(vec![CertificateDer::from(vec![1, 2, 3])]);
        let other_peer = PeerCertificates::new(vec![CertificateDer::from(vec![1, 2, 4])]);
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, http::HeaderValue::from_static(value));
            }
            map
        };
        let base = [
            ("x-remote-user", "alice"),
            ("x-remote-group", "a"),
            ("x-remote-extra-scopes", "dns"),
            ("content-type", "application/json"),
        ];
        let key = |peer: &PeerCertificates, method: http::Method, path: &str, h: &HeaderMap| {
            GrantKey::new(&config, peer, &method, path, h).0
        };
        let reference = key(&peer, http::Method::POST, "/p", &headers(&base));
        // Headers the identity is not read from do not matter.
        let mut unrelated = headers(&base);
        unrelated.insert("user-agent", http::HeaderValue::from_static("x"));
        assert_eq!(key(&peer, http::Method::POST, "/p", &unrelated), reference);
        let variants: Vec<(&str, Vec<u8>)> = vec![
            (
                "peer",
                key(&other_peer, http::Method::POST, "/p", &headers(&base)),
            ),
            (
                "method",
                key(&peer, http::Method::PUT, "/p", &headers(&base)),
            ),
            (
                "path",
                key(&peer, http::Method::POST, "/q", &headers(&base)),
            ),
            (
                "user",
                key(
                    &peer,
                    http::Method::POST,
                    "/p",
                    &headers(&[("x-remote-user", "bob"), base[1], base[2]]),
                ),
            ),
            (
                "no user",
                key(&peer, http::Method::POST, "/p", &headers(&base[1..])),
            ),
            (
                "group",
                key(
                    &peer,
                    http::Method::POST,
                    "/p",
                    &headers(&[base[0], ("x-remote-group", "b"), base[2]]),
                ),
            ),
            (
                "second group",
                key(
                    &peer,
                    http::Method::POST,
                    "/p",
                    &headers(&[base[0], base[1], ("x-remote-group", "b"), base[2]]),
                ),
            ),
            (
                "group as user",
                key(
                    &peer,
                    http::Method::POST,
                    "/p",
                    &headers(&[("x-remote-user", "a"), ("x-remote-group", "alice"), base[2]]),
                ),
            ),
            (
                "extra value",
                key(
                    &peer,
                    http::Method::POST,
                    "/p",
                    &headers(&[base[0], base[1], ("x-remote-extra-scopes", "all")]),
                ),
            ),
            (
                "extra key",
                key(
                    &peer,
                    http::Method::POST,
                    "/p",
                    &headers(&[base[0], base[1], ("x-remote-extra-scope", "sdns")]),
                ),
            ),
        ];
        for (what, variant) in &variants {
            assert_ne!(variant, &reference, "{what}");
        }
        // A new configuration, even with equal settings, never shares keys.
        let recompiled = AuthConfigSource::fixed(config.config().clone())
            .unwrap()
            .current();
        let renewed = GrantKey::new(
            &recompiled,
            &peer,
            &http::Method::POST,
            "/p",
            &headers(&base),
        );
        assert_ne!(renewed.0, reference, "generation");
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
