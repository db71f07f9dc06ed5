//! Configuration of a Gandi store: credentials, endpoint, sharing id, timeouts, rate limit,
//! retries, default TTL, batching window and an optional observer of upstream calls.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use dns01_core::retry::{RateLimiter, RetryPolicy};
use url::Url;

/// Smallest TTL Gandi LiveDNS accepts, in seconds.
pub const MIN_TTL: u32 = 300;
/// Largest TTL Gandi LiveDNS accepts, in seconds (30 days).
pub const MAX_TTL: u32 = 2_592_000;
/// Default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default client-side rate limit: Gandi documents 1000 requests per minute per source IP.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 1000;
/// Default batching window (see [`GandiConfig::batch_window`]): a Gandi call costs 50-300 ms
/// and a DNS-01 challenge waits for propagation anyway, so 25 ms of waiting for the other
/// challenges on a name is cheap.
pub(crate) const DEFAULT_BATCH_WINDOW: Duration = Duration::from_millis(25);

pub use dns01_core::Secret;

/// How the store authenticates to Gandi.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A personal access token, sent as `Authorization: Bearer <token>`. Scoped to one
    /// organisation; expires; needs the "Manage domain name technical configurations"
    /// permission on the domain.
    PersonalAccessToken(Secret),
    /// A legacy API key, sent as `Authorization: Apikey <key>`. Deprecated by Gandi and no
    /// longer issued, but still used by older accounts.
    ApiKey(Secret),
}

impl Credentials {
    /// A personal access token.
    pub fn personal_access_token(token: impl Into<Secret>) -> Self {
        Self::PersonalAccessToken(token.into())
    }

    /// A legacy API key.
    pub fn api_key(key: impl Into<Secret>) -> Self {
        Self::ApiKey(key.into())
    }

    /// The `Authorization` scheme: `Bearer` or `Apikey`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::PersonalAccessToken(_) => "Bearer",
            Self::ApiKey(_) => "Apikey",
        }
    }

    /// A human name for the kind of credential, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PersonalAccessToken(_) => "personal access token",
            Self::ApiKey(_) => "API key",
        }
    }

    /// The secret inside.
    pub fn secret(&self) -> &Secret {
        match self {
            Self::PersonalAccessToken(s) | Self::ApiKey(s) => s,
        }
    }
}

/// Gandi's LiveDNS endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endpoint {
    /// `https://api.gandi.net/v5/livedns`.
    #[default]
    Production,
    /// `https://api.sandbox.gandi.net/v5/livedns`.
    Sandbox,
}

impl Endpoint {
    /// The base URL as a string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "https://api.gandi.net/v5/livedns",
            Self::Sandbox => "https://api.sandbox.gandi.net/v5/livedns",
        }
    }

    /// The base URL.
    #[allow(
        clippy::expect_used,
        reason = "constant URLs, parsed in a unit test; cannot fail at run time"
    )]
    pub fn url(self) -> Url {
        Url::parse(self.as_str()).expect("endpoint URLs are valid")
    }
}

/// Receives one event per upstream call, retry and rate-limit wait, for metrics.
///
/// Every method has a no-op default, so an implementation overrides only what it needs.
/// Methods are called inline on the request path: keep them cheap and non-blocking.
pub trait CallObserver: Send + Sync + fmt::Debug {
    /// One HTTP attempt finished. `operation` is one of `read_txt`, `create_txt`,
    /// `replace_txt`, `delete_txt`, `probe_zone`, `list_zones`; `status` is `None` when no
    /// answer came back (timeout, connection failure).
    fn on_call(&self, operation: &'static str, status: Option<u16>, elapsed: Duration) {
        let _ = (operation, status, elapsed);
    }

    /// An attempt is about to be retried after a retryable failure.
    fn on_retry(&self, operation: &'static str) {
        let _ = operation;
    }

    /// A request waited this long for the client-side rate limiter.
    fn on_rate_limit_wait(&self, waited: Duration) {
        let _ = waited;
    }
}

/// The observer used when none is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl CallObserver for NoopObserver {}

/// Everything a [`crate::GandiStore`] needs.
///
/// Build it with [`GandiConfig::new`] and the `with_*` methods; every field is public so a
/// caller's own configuration can fill it in directly.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GandiConfig {
    /// The credentials.
    pub credentials: Credentials,
    /// The LiveDNS base URL, e.g. `https://api.gandi.net/v5/livedns` (the default).
    pub base_url: Url,
    /// Gandi organisation id sent as the `sharing_id` query parameter on every request, for
    /// domains owned by another organisation than the token's.
    pub sharing_id: Option<String>,
    /// Whole-request timeout (connect, send, answer); also the connect timeout. Default 10 s.
    pub timeout: Duration,
    /// Client-side limit shared by every clone of one store: at most this many requests (retries
    /// included) in any window of 61 s (a minute plus a second of margin for network jitter;
    /// see [`dns01_core::retry::RateLimiter::per_minute`]), so Gandi never sees more than this
    /// in one of its minutes. A burst of this many goes out at once; the next request waits
    /// until the oldest of them is 61 s old. Default 1000 (Gandi's limit per source IP); lower
    /// it when other tools share the egress IP. Must not be 0, unless a
    /// [`shared_rate_limiter`](Self::shared_rate_limiter) is given instead.
    pub rate_limit_per_minute: u32,
    /// A limiter to take this client's slots from instead of one of its own built from
    /// [`rate_limit_per_minute`](Self::rate_limit_per_minute). Gandi counts its limit per
    /// source IP, not per credential: give every client that calls from one address (several
    /// credentials in one process, say) clones of one limiter, and together they stay under
    /// it. `None` (the default): a limiter of its own.
    pub shared_rate_limiter: Option<RateLimiter>,
    /// Retries of rate-limited and transient failures.
    pub retry: RetryPolicy,
    /// TTL for records whose caller gives none, in seconds; within 300..=2592000.
    pub default_ttl: u32,
    /// How long a new batch of operations on one name waits for more operations on the same
    /// name before it runs (declared to the coordinator as
    /// [`dns01_core::StoreLimits::batch_window`]). Worth it because each Gandi call costs far
    /// more than the wait: challenges that arrive a few milliseconds apart then share one
    /// read-merge-write. Every present and cleanup takes this much longer. Default 25 ms;
    /// zero turns it off.
    pub batch_window: Duration,
    /// Receives per-call events for metrics; `None` for none.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl GandiConfig {
    /// A configuration for the production endpoint with these credentials and the defaults.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            base_url: Endpoint::Production.url(),
            sharing_id: None,
            timeout: DEFAULT_TIMEOUT,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            shared_rate_limiter: None,
            retry: RetryPolicy::default(),
            default_ttl: MIN_TTL,
            batch_window: DEFAULT_BATCH_WINDOW,
            observer: None,
        }
    }

    /// Uses one of Gandi's endpoints.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.base_url = endpoint.url();
        self
    }

    /// Uses another base URL (an emulator, a proxy). The path must end with `/v5/livedns` or
    /// its equivalent: routes are appended to it.
    #[must_use]
    pub fn with_base_url(mut self, base_url: Url) -> Self {
        self.base_url = base_url;
        self
    }

    /// Sends `sharing_id=<id>` on every request.
    #[must_use]
    pub fn with_sharing_id(mut self, sharing_id: impl Into<String>) -> Self {
        self.sharing_id = Some(sharing_id.into());
        self
    }

    /// Sets the whole-request timeout (also used as the connect timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the client-side rate limit (see [`GandiConfig::rate_limit_per_minute`]).
    #[must_use]
    pub fn with_rate_limit_per_minute(mut self, per_minute: u32) -> Self {
        self.rate_limit_per_minute = per_minute;
        self
    }

    /// Takes request slots from `limiter`, shared with other clients (see
    /// [`GandiConfig::shared_rate_limiter`]), e.g. `RateLimiter::per_minute(1000)`.
    #[must_use]
    pub fn with_shared_rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.shared_rate_limiter = Some(limiter);
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the default TTL.
    #[must_use]
    pub fn with_default_ttl(mut self, ttl: u32) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Sets the batching window (see [`GandiConfig::batch_window`]).
    #[must_use]
    pub fn with_batch_window(mut self, batch_window: Duration) -> Self {
        self.batch_window = batch_window;
        self
    }

    /// Sets an observer of upstream calls.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_themselves() {
        let c = Credentials::personal_access_token("s3cr3t-token");
        assert_eq!(format!("{}", c.secret()), "<redacted>");
        assert!(!format!("{c:?}").contains("s3cr3t"), "{c:?}");
        let cfg = GandiConfig::new(c).with_sharing_id("org");
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
        assert_eq!(cfg.credentials.secret().expose(), "s3cr3t-token");
    }

    #[test]
    fn each_credential_kind_has_its_own_scheme() {
        assert_eq!(Credentials::personal_access_token("t").scheme(), "Bearer");
        assert_eq!(Credentials::api_key("k").scheme(), "Apikey");
    }

    #[test]
    fn endpoints_are_gandis_livedns_urls() {
        assert_eq!(
            Endpoint::Production.url().as_str(),
            "https://api.gandi.net/v5/livedns"
        );
        assert_eq!(
            Endpoint::Sandbox.url().as_str(),
            "https://api.sandbox.gandi.net/v5/livedns"
        );
        let cfg = GandiConfig::new(Credentials::api_key("k"));
        assert_eq!(cfg.base_url, Endpoint::Production.url());
        assert_eq!(cfg.timeout, Duration::from_secs(10));
        assert_eq!(cfg.rate_limit_per_minute, 1000);
        assert_eq!(cfg.default_ttl, 300);
        assert_eq!(cfg.batch_window, Duration::from_millis(25));
        let cfg = cfg.with_batch_window(Duration::ZERO);
        assert_eq!(cfg.batch_window, Duration::ZERO);
    }
}
