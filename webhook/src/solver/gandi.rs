//! The `gandi` solver: Gandi LiveDNS.
//!
//! Credentials come from the Secret named in the solver config, read in the request's
//! `resourceNamespace`, or (only when `allowAmbientCredentials` is true and no reference is
//! given) from the webhook's own environment ([`AmbientCredentials`]).
//!
//! One Gandi client (store, coordinator) is built per distinct credential and reused by every
//! request that uses it, so all Issuers sharing a token share one per-name serialisation. The
//! cache is keyed by a SHA-256 digest of the credential, endpoint and sharing id; the token
//! itself is never a key, a label or a log field.
//!
//! The client-side rate limit is the webhook's, not a credential's: Gandi counts its limit per
//! source IP, so every client of one endpoint takes its slots from one limiter, whatever
//! tenant's credential it holds (a rotated token or an emptied cache starts no fresh budget).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dns01_core::retry::{RateLimiter, RetryPolicy};
use dns01_core::{Coordinator, Provider, RrsetLock};
use dns01_gandi::{CallObserver, Credentials, GandiConfig};
use sha2::{Digest, Sha256};
use url::Url;

use super::config::{self, DEFAULT_API_KEY_KEY, DEFAULT_PAT_KEY, GandiEndpoint, GandiSolverConfig};
use super::{Challenge, Solver, SolverError, apply, resolve_target};
use crate::secrets::{SecretSource, SecretString};

/// The solver name.
pub const NAME: &str = "gandi";

/// Most clients kept; past this the cache is emptied (rotated tokens leave stale entries).
const MAX_CLIENTS: usize = 256;

/// A credential of the webhook's own (not from an Issuer's Secret).
#[derive(Clone, Default)]
pub struct AmbientCredentials {
    pat: Option<SecretString>,
    api_key: Option<SecretString>,
}

impl fmt::Debug for AmbientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmbientCredentials")
            .field("pat", &self.pat.as_ref().map(|_| "<redacted>"))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl AmbientCredentials {
    /// None.
    pub fn none() -> Self {
        Self::default()
    }

    /// A personal access token and/or an API key (the token wins when both are set).
    /// Blank values count as absent.
    pub fn new(pat: Option<String>, api_key: Option<String>) -> Self {
        let clean = |v: Option<String>| {
            v.map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .map(SecretString::new)
        };
        Self {
            pat: clean(pat),
            api_key: clean(api_key),
        }
    }

    /// Whether any credential is set.
    pub fn is_set(&self) -> bool {
        self.pat.is_some() || self.api_key.is_some()
    }

    fn credential(&self) -> Option<Credential> {
        if let Some(p) = &self.pat {
            return Some(Credential::Pat(p.clone()));
        }
        self.api_key.clone().map(Credential::ApiKey)
    }
}

#[derive(Debug, Clone)]
enum Credential {
    Pat(SecretString),
    ApiKey(SecretString),
}

impl Credential {
    /// The credential held under `apiKeySecretRef`. The Go Gandi webhooks disagree on what
    /// that Secret holds: bwolf's and its forks send a legacy API key (`Apikey`), others
    /// (krancovia's) send a personal access token there (`Bearer`). Users migrate without
    /// editing their Issuers, so the value's shape decides: legacy API keys are exactly 24
    /// lowercase letters and digits; anything else is a personal access token.
    fn from_api_key_ref(value: SecretString) -> Self {
        let v = value.expose();
        let legacy = v.len() == 24
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if legacy {
            Self::ApiKey(value)
        } else {
            tracing::debug!(
                "apiKeySecretRef holds no 24-character legacy API key: sending it as a personal \
                 access token (Authorization: Bearer)"
            );
            Self::Pat(value)
        }
    }

    fn to_gandi(&self) -> Credentials {
        match self {
            Self::Pat(s) => Credentials::personal_access_token(s.expose()),
            Self::ApiKey(s) => Credentials::api_key(s.expose()),
        }
    }
}

/// Operator settings of the `gandi` solver.
#[derive(Debug, Clone)]
pub struct GandiSettings {
    /// Base URL for `endpoint: production` (`--gandi-api-url`).
    pub production_url: Url,
    /// Base URL for `endpoint: sandbox`.
    pub sandbox_url: Url,
    /// Client-side rate limit of the whole solver, per endpoint (every credential together),
    /// requests per minute (0: no limit).
    pub rate_limit_per_minute: u32,
    /// Per-request upstream timeout.
    pub timeout: std::time::Duration,
    /// Retries of rate-limited and transient upstream failures, per upstream call (default:
    /// [`RetryPolicy::default`]). Keep its deadline below the request deadline
    /// ([`crate::AppState::request_timeout`]) so that a give-up message, not a timeout, reaches
    /// cert-manager.
    pub retry: RetryPolicy,
}

impl Default for GandiSettings {
    fn default() -> Self {
        Self {
            production_url: dns01_gandi::Endpoint::Production.url(),
            sandbox_url: dns01_gandi::Endpoint::Sandbox.url(),
            rate_limit_per_minute: 1000,
            timeout: std::time::Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// The `gandi` solver.
pub struct GandiSolver {
    secrets: Arc<dyn SecretSource>,
    ambient: AmbientCredentials,
    settings: GandiSettings,
    observer: Option<Arc<dyn CallObserver>>,
    rrset_lock: Option<Arc<dyn RrsetLock>>,
    clients: Mutex<HashMap<[u8; 32], Arc<Coordinator>>>,
    /// One limiter per endpoint, shared by every client of it (see the [module docs](self)).
    production_limiter: RateLimiter,
    sandbox_limiter: RateLimiter,
}

impl fmt::Debug for GandiSolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GandiSolver")
            .field("secrets", &self.secrets)
            .field("ambient", &self.ambient)
            .field("settings", &self.settings)
            .field("clients", &self.client_count())
            .finish()
    }
}

impl GandiSolver {
    /// A solver reading Secrets from `secrets`.
    pub fn new(
        secrets: Arc<dyn SecretSource>,
        ambient: AmbientCredentials,
        settings: GandiSettings,
    ) -> Self {
        let production_limiter = RateLimiter::per_minute(settings.rate_limit_per_minute);
        // Both endpoints pointed at one server (a proxy, an emulator) share its limit too.
        let sandbox_limiter = if settings.sandbox_url == settings.production_url {
            production_limiter.clone()
        } else {
            RateLimiter::per_minute(settings.rate_limit_per_minute)
        };
        Self {
            secrets,
            ambient,
            settings,
            observer: None,
            rrset_lock: None,
            clients: Mutex::new(HashMap::new()),
            production_limiter,
            sandbox_limiter,
        }
    }

    /// Reports upstream calls, retries and rate-limit waits to `observer` (metrics).
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Holds `lock` on an rrset for each read-merge-write on it, so that replicas sharing the
    /// lock never overwrite each other's values (see [`crate::lease`]).
    #[must_use]
    pub fn with_rrset_lock(mut self, lock: Arc<dyn RrsetLock>) -> Self {
        self.rrset_lock = Some(lock);
        self
    }

    /// How many distinct clients are cached.
    pub fn client_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Coordinator>>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn credential(
        &self,
        cfg: &GandiSolverConfig,
        challenge: &Challenge,
    ) -> Result<Credential, SolverError> {
        let ns = &challenge.namespace;
        match (&cfg.pat_secret_ref, &cfg.api_key_secret_ref) {
            (Some(_), Some(_)) => Err(SolverError::Config {
                solver: NAME.to_owned(),
                message: "both patSecretRef and apiKeySecretRef are set; give only one".to_owned(),
            }),
            (Some(r), None) => {
                let v = self
                    .secrets
                    .get_key(ns, &r.name, r.key_or(DEFAULT_PAT_KEY))
                    .await?;
                Ok(Credential::Pat(v))
            }
            (None, Some(r)) => {
                let v = self
                    .secrets
                    .get_key(ns, &r.name, r.key_or(DEFAULT_API_KEY_KEY))
                    .await?;
                Ok(Credential::from_api_key_ref(v))
            }
            (None, None) if !challenge.allow_ambient_credentials => {
                Err(SolverError::NoCredentials(format!(
                    "no Gandi credentials: set patSecretRef (a Secret in namespace {ns:?} \
                     holding a personal access token under key {DEFAULT_PAT_KEY:?}) in the \
                     solver config; the webhook's own credentials may not be used because \
                     allowAmbientCredentials is false (always the case for namespaced Issuers)"
                )))
            }
            (None, None) => self.ambient.credential().ok_or_else(|| {
                SolverError::NoCredentials(
                    "no Gandi credentials: the solver config names no Secret (patSecretRef) \
                     and the webhook has no ambient credentials (GANDI_PAT, GANDI_API_KEY or \
                     --gandi-credentials-file)"
                        .to_owned(),
                )
            }),
        }
    }

    fn client(
        &self,
        credential: &Credential,
        cfg: &GandiSolverConfig,
    ) -> Result<Arc<Coordinator>, SolverError> {
        let (base_url, limiter) = match cfg.endpoint {
            GandiEndpoint::Production => (&self.settings.production_url, &self.production_limiter),
            GandiEndpoint::Sandbox => (&self.settings.sandbox_url, &self.sandbox_limiter),
        };
        let key = cache_key(credential, base_url, cfg.sharing_id.as_deref());
        if let Some(c) = self.lock().get(&key) {
            return Ok(c.clone());
        }
        let mut gcfg = GandiConfig::new(credential.to_gandi())
            .with_base_url(base_url.clone())
            .with_shared_rate_limiter(limiter.clone())
            .with_timeout(self.settings.timeout)
            .with_retry(self.settings.retry.clone());
        if let Some(id) = &cfg.sharing_id {
            gcfg = gcfg.with_sharing_id(id.clone());
        }
        if let Some(o) = &self.observer {
            gcfg = gcfg.with_observer(o.clone());
        }
        let mut coordinator = dns01_gandi::provider(gcfg).map_err(|e| SolverError::Config {
            solver: NAME.to_owned(),
            message: e.report(),
        })?;
        if let Some(lock) = &self.rrset_lock {
            coordinator = coordinator.with_lock(lock.clone());
        }
        let mut clients = self.lock();
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        // Another request may have built one meanwhile: keep the first, so both share it.
        let c = clients.entry(key).or_insert_with(|| Arc::new(coordinator));
        Ok(c.clone())
    }

    async fn act(&self, challenge: &Challenge) -> Result<(), SolverError> {
        let cfg: GandiSolverConfig = config::parse(NAME, challenge.config.as_ref())?;
        // The policy runs first: a refusal reads no Secret and calls no upstream.
        let target = resolve_target(challenge, cfg.delegation.as_ref())?;
        let credential = self.credential(&cfg, challenge).await?;
        let client = self.client(&credential, &cfg)?;
        let provider: &dyn Provider = client.as_ref();
        // Gandi zones are registered domains: the store discovers the zone itself.
        apply(provider, challenge, target, None, cfg.ttl).await
    }
}

fn cache_key(credential: &Credential, base_url: &Url, sharing_id: Option<&str>) -> [u8; 32] {
    let (kind, secret) = match credential {
        Credential::Pat(s) => ("pat", s.expose()),
        Credential::ApiKey(s) => ("apikey", s.expose()),
    };
    let mut h = Sha256::new();
    for part in [kind, secret, base_url.as_str(), sharing_id.unwrap_or("")] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

#[async_trait]
impl Solver for GandiSolver {
    async fn present(&self, challenge: &Challenge) -> Result<(), SolverError> {
        self.act(challenge).await
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), SolverError> {
        self.act(challenge).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_differ_by_credential_endpoint_and_sharing_id() {
        let prod = dns01_gandi::Endpoint::Production.url();
        let sand = dns01_gandi::Endpoint::Sandbox.url();
        let a = Credential::Pat(SecretString::new("a"));
        let b = Credential::Pat(SecretString::new("b"));
        let k = Credential::ApiKey(SecretString::new("a"));
        let base = cache_key(&a, &prod, None);
        assert_eq!(base, cache_key(&a, &prod, None));
        assert_ne!(base, cache_key(&b, &prod, None));
        assert_ne!(base, cache_key(&k, &prod, None));
        assert_ne!(base, cache_key(&a, &sand, None));
        assert_ne!(base, cache_key(&a, &prod, Some("org")));
    }

    #[test]
    fn api_key_refs_holding_a_personal_access_token_are_sent_as_bearer() {
        let legacy = Credential::from_api_key_ref(SecretString::new("abcdefghij0123456789klmn"));
        assert!(matches!(legacy, Credential::ApiKey(_)), "{legacy:?}");
        for pat in [
            "0123456789abcdef0123456789abcdef01234567",
            "ABCDEFGHIJ0123456789KLMN",
            "abcdefghij0123456789klm",
        ] {
            let c = Credential::from_api_key_ref(SecretString::new(pat));
            assert!(matches!(c, Credential::Pat(_)), "{pat}: {c:?}");
        }
    }

    #[test]
    fn ambient_credentials_never_print_themselves() {
        let a = AmbientCredentials::new(Some("tok-123".into()), None);
        assert!(a.is_set());
        assert!(!format!("{a:?}").contains("tok-123"));
        assert!(!AmbientCredentials::new(Some("  ".into()), None).is_set());
    }
}
