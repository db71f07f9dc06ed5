//! Knobs that make the emulated API misbehave (rate limits, errors, latency, dropped
//! connections, hangs) and the request counters tests read.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A fixed-window rate limit: at most `requests` per `window`, counted over all requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length.
    pub window: Duration,
    /// Whether a 429 carries `Retry-After` (whole seconds until the window ends, at least 1).
    /// Gandi's behaviour here is undocumented [inferred], hence the switch.
    pub retry_after: bool,
}

impl RateLimit {
    /// Gandi's documented limit: 1000 requests per minute, answering with `Retry-After`.
    pub fn gandi_default() -> Self {
        Self {
            requests: 1000,
            window: Duration::from_secs(60),
            retry_after: true,
        }
    }
}

/// Added latency before a request is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latency {
    /// No added latency.
    #[default]
    None,
    /// The same delay for every request.
    Fixed(Duration),
    /// A delay drawn uniformly from `[min, max]` (from the seeded generator).
    Range(Duration, Duration),
}

/// One way of failing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status (500 carries Gandi's shape A body; 502, 503 and 504 an
    /// HTML body as a load balancer would [inferred]; others a shape A body).
    Status(u16),
    /// Close the TCP connection without answering (the connection task is dropped, so the
    /// client sees the connection reset or closed before any response byte).
    Drop,
    /// Never answer; the connection stays open until the client gives up or the emulator
    /// stops.
    Hang,
}

/// Fault probabilities and switches. All probabilities are in `[0, 1]` and are tried in the
/// order 500, 502, 503, drop, hang from a single draw, so their sum should stay ≤ 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability of a 500 answer.
    pub error_500: f64,
    /// Probability of a 502 answer.
    pub error_502: f64,
    /// Probability of a 503 answer.
    pub error_503: f64,
    /// Probability of closing the connection without an answer.
    pub drop_connection: f64,
    /// Probability of never answering.
    pub hang: f64,
    /// Latency added to every request (reads too, even with `writes_only`).
    pub latency: Latency,
    /// Only POST/PUT/PATCH/DELETE requests get random or queued faults.
    pub writes_only: bool,
    /// Apply the request first, then fail it (the write happened but the client does not
    /// know): models a response lost after the upstream committed.
    pub after_apply: bool,
    /// Rate limit; `None` (default) means unlimited.
    pub rate_limit: Option<RateLimit>,
}

/// What the middleware should do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    RateLimited { retry_after: Option<u64> },
    Fail(Fault),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Decision {
    pub(crate) latency: Option<Duration>,
    pub(crate) outcome: Outcome,
    pub(crate) after_apply: bool,
}

#[derive(Debug)]
struct Inner {
    config: FaultConfig,
    rng: fastrand::Rng,
    queued: VecDeque<Fault>,
    window_start: Instant,
    window_count: u32,
}

/// Runtime handle on the fault knobs; clones share the same knobs.
#[derive(Debug, Clone)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig, seed: Option<u64>) -> Self {
        let rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                config,
                rng,
                queued: VecDeque::new(),
                window_start: Instant::now(),
                window_count: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the whole configuration.
    pub fn set(&self, config: FaultConfig) {
        self.lock().config = config;
    }

    /// Changes the configuration in place.
    pub fn update(&self, f: impl FnOnce(&mut FaultConfig)) {
        f(&mut self.lock().config);
    }

    /// The current configuration.
    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    /// Turns every knob off and forgets queued faults (the rate-limit window restarts).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.config = FaultConfig::default();
        g.queued.clear();
        g.window_count = 0;
        g.window_start = Instant::now();
    }

    /// Sets (or removes) the rate limit; the window restarts now.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut g = self.lock();
        g.config.rate_limit = limit;
        g.window_count = 0;
        g.window_start = Instant::now();
    }

    /// Re-seeds the random generator behind probabilities and latency ranges, so a test can
    /// replay the same sequence of faults.
    pub fn reseed(&self, seed: u64) {
        self.lock().rng = fastrand::Rng::with_seed(seed);
    }

    /// Fails the next `count` requests (writes only when `writes_only` is set) with `fault`,
    /// before any random fault is drawn.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        let mut g = self.lock();
        g.queued.extend(std::iter::repeat_n(fault, count));
    }

    pub(crate) fn decide(&self, is_write: bool) -> Decision {
        let mut g = self.lock();
        let g = &mut *g;
        let latency = match g.config.latency {
            Latency::None => None,
            Latency::Fixed(d) => Some(d),
            Latency::Range(lo, hi) => {
                let (lo, hi) = (lo.as_micros(), hi.as_micros().max(lo.as_micros()));
                let lo = u64::try_from(lo).unwrap_or(u64::MAX);
                let hi = u64::try_from(hi).unwrap_or(u64::MAX);
                Some(Duration::from_micros(g.rng.u64(lo..=hi)))
            }
        };
        let after_apply = g.config.after_apply;
        if let Some(limit) = g.config.rate_limit {
            let now = Instant::now();
            if now.duration_since(g.window_start) >= limit.window {
                g.window_start = now;
                g.window_count = 0;
            }
            g.window_count = g.window_count.saturating_add(1);
            if g.window_count > limit.requests {
                let left = limit
                    .window
                    .saturating_sub(now.duration_since(g.window_start));
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                return Decision {
                    latency,
                    outcome: Outcome::RateLimited {
                        retry_after: limit.retry_after.then_some(secs.max(1)),
                    },
                    after_apply: false,
                };
            }
        }
        if g.config.writes_only && !is_write {
            return Decision {
                latency,
                outcome: Outcome::Pass,
                after_apply,
            };
        }
        if let Some(f) = g.queued.pop_front() {
            return Decision {
                latency,
                outcome: Outcome::Fail(f),
                after_apply,
            };
        }
        let c = &g.config;
        let bands = [
            (c.error_500, Fault::Status(500)),
            (c.error_502, Fault::Status(502)),
            (c.error_503, Fault::Status(503)),
            (c.drop_connection, Fault::Drop),
            (c.hang, Fault::Hang),
        ];
        let mut outcome = Outcome::Pass;
        if bands.iter().any(|(p, _)| *p > 0.0) {
            let draw = g.rng.f64();
            let mut acc = 0.0;
            for (p, f) in bands {
                acc += p.max(0.0);
                if draw < acc {
                    outcome = Outcome::Fail(f);
                    break;
                }
            }
        }
        Decision {
            latency,
            outcome,
            after_apply,
        }
    }
}

/// Key of one request counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CounterKey {
    /// HTTP method, upper case.
    pub method: String,
    /// Route template relative to the API root, e.g. `/domains/{fqdn}/records/{name}/{type}`
    /// (see [`crate::emulator::routes`]); `<unmatched>` for unknown paths.
    pub route: String,
    /// Status answered; 0 when the connection was dropped or the request hangs.
    pub status: u16,
}

/// A snapshot of the request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Number of requests per (method, route, status).
    pub entries: BTreeMap<CounterKey, u64>,
}

impl Counters {
    /// All requests counted.
    pub fn total(&self) -> u64 {
        self.entries.values().sum()
    }

    /// Requests with this method and route template, whatever their status.
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.entries
            .iter()
            .filter(|(k, _)| k.method.eq_ignore_ascii_case(method) && k.route == route)
            .map(|(_, v)| v)
            .sum()
    }

    /// Requests with this method, route template and status.
    pub fn count_status(&self, method: &str, route: &str, status: u16) -> u64 {
        self.entries
            .iter()
            .filter(|(k, _)| {
                k.method.eq_ignore_ascii_case(method) && k.route == route && k.status == status
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Requests answered with this status, on any route.
    pub fn with_status(&self, status: u16) -> u64 {
        self.entries
            .iter()
            .filter(|(k, _)| k.status == status)
            .map(|(_, v)| v)
            .sum()
    }

    /// Requests whose method is not GET/HEAD.
    pub fn writes(&self) -> u64 {
        self.entries
            .iter()
            .filter(|(k, _)| !matches!(k.method.as_str(), "GET" | "HEAD"))
            .map(|(_, v)| v)
            .sum()
    }
}

/// Shared counter store.
#[derive(Debug, Default)]
pub(crate) struct CounterStore {
    inner: Mutex<Counters>,
}

impl CounterStore {
    pub(crate) fn record(&self, method: &str, route: &str, status: u16) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *g.entries
            .entry(CounterKey {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self) -> Counters {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn reset(&self) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(seed: u64) -> Vec<Outcome> {
        let f = Faults::new(
            FaultConfig {
                error_503: 0.5,
                ..FaultConfig::default()
            },
            Some(seed),
        );
        (0..32).map(|_| f.decide(true).outcome).collect()
    }

    #[test]
    fn the_same_seed_replays_the_same_faults() {
        assert_eq!(outcomes(7), outcomes(7));
        assert!(outcomes(7).contains(&Outcome::Fail(Fault::Status(503))));
        assert!(outcomes(7).contains(&Outcome::Pass));
    }

    #[test]
    fn writes_only_spares_reads() {
        let f = Faults::new(
            FaultConfig {
                error_500: 1.0,
                writes_only: true,
                ..FaultConfig::default()
            },
            Some(1),
        );
        assert_eq!(f.decide(false).outcome, Outcome::Pass);
        assert_eq!(f.decide(true).outcome, Outcome::Fail(Fault::Status(500)));
    }

    #[test]
    fn the_rate_limit_refuses_requests_beyond_the_window_budget() {
        let f = Faults::new(FaultConfig::default(), Some(1));
        f.set_rate_limit(Some(RateLimit {
            requests: 2,
            window: Duration::from_secs(60),
            retry_after: true,
        }));
        assert_eq!(f.decide(false).outcome, Outcome::Pass);
        assert_eq!(f.decide(false).outcome, Outcome::Pass);
        match f.decide(false).outcome {
            Outcome::RateLimited {
                retry_after: Some(s),
            } => assert!((1..=60).contains(&s)),
            other => panic!("expected a 429, got {other:?}"),
        }
    }
}
