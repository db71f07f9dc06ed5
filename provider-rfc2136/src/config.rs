//! How to reach the server and sign updates.

use std::net::SocketAddr;
use std::time::Duration;

use dns01_core::ZoneName;
use dns01_core::retry::RetryPolicy;

use crate::transport::Transport;
use crate::tsig::TsigKey;

/// How long one exchange with the server may take before it counts as a timeout (and is
/// retried by the [`RetryPolicy`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration of an [`crate::Rfc2136Provider`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rfc2136Config {
    /// The primary server that accepts updates for the zone.
    pub server: SocketAddr,
    /// The TSIG key updates are signed with; `None` sends them unsigned (only for servers that
    /// allow updates by address, which anyone on that network can then send).
    pub key: Option<TsigKey>,
    /// The zone, when known; otherwise it is found by asking the server for the SOA of the
    /// record's name and then of each parent.
    pub zone: Option<ZoneName>,
    /// UDP with TCP on truncation (default), or TCP only.
    pub transport: Transport,
    /// Time allowed for one exchange.
    pub timeout: Duration,
    /// Retries of timeouts and SERVFAIL.
    pub retry: RetryPolicy,
}

impl Rfc2136Config {
    /// Updates sent to `server`, unsigned, zone found by SOA, UDP, the default timeout and
    /// retry policy.
    pub fn new(server: SocketAddr) -> Self {
        Self {
            server,
            key: None,
            zone: None,
            transport: Transport::default(),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// The same, signing every update with `key`.
    #[must_use]
    pub fn with_key(mut self, key: TsigKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The same, with the zone given instead of found.
    #[must_use]
    pub fn with_zone(mut self, zone: ZoneName) -> Self {
        self.zone = Some(zone);
        self
    }

    /// The same, over `transport`.
    #[must_use]
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The same, with another time allowed per exchange.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same, with another retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}
