//! Retry policy and client-side rate limiting.
//!
//! - [`RetryPolicy`] reruns an operation that failed with a retryable error
//!   ([`Error::is_retryable`]: rate limits and transient failures), with jittered exponential
//!   backoff, honouring the upstream's retry-after hint, bounded in attempts and in time.
//! - [`RateLimiter`] is shared (by cloning) by every caller of one upstream, so that the whole
//!   process stays under the upstream's request quota: a sliding window of at most `n` calls
//!   in any minute ([`RateLimiter::per_minute`]).
//!
//! All waiting uses [`tokio::time`], so tests can run with paused time.
//!
//! ```
//! use std::time::Duration;
//! use dns01_core::{Error, retry::{RateLimiter, RetryPolicy}};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # tokio::time::pause();
//! let limiter = RateLimiter::per_minute(1000);
//! let policy = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(2), Duration::from_secs(10));
//! let answer = policy
//!     .run(|attempt| {
//!         let limiter = limiter.clone();
//!         async move {
//!             limiter.acquire().await;
//!             if attempt < 2 { Err(Error::transient("502 Bad Gateway")) } else { Ok("done") }
//!         }
//!     })
//!     .await;
//! assert_eq!(answer.ok(), Some("done"));
//! # }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// When and how long to retry an operation that failed with a retryable error.
///
/// Only errors for which [`Error::is_retryable`] is true are retried. Before retry `n` (the wait
/// after attempt `n`), the backoff ceiling is `min(max_delay, base_delay * 2^(n-1))` and the
/// wait is drawn uniformly from `[ceiling / 2, ceiling]` ("equal jitter"), so waits grow but
/// concurrent callers spread out. When the error carries a retry-after hint
/// ([`Error::retry_after`]), the wait is at least that long, even beyond `max_delay`.
///
/// The `deadline` is checked between attempts: a wait that would end after `deadline` (counted
/// from the start of [`RetryPolicy::run`]) is not started and the last error is returned at
/// once. An attempt already running is never cancelled; give each attempt its own request
/// timeout.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts in total, the first included. Zero is treated as one.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, with jitter.
    pub base_delay: Duration,
    /// Longest single wait.
    pub max_delay: Duration,
    /// Total time budget, waits included, after which the last error is returned.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(20),
        }
    }
}

/// Why [`RetryPolicy::run`] stopped retrying.
enum GiveUp {
    NoAttemptsLeft,
    WaitPassesDeadline { wait: Duration },
    RetryAfterPassesDeadline { retry_after: Duration },
}

impl RetryPolicy {
    /// A policy with these bounds; see the field documentation.
    pub fn new(
        max_attempts: u32,
        base_delay: Duration,
        max_delay: Duration,
        deadline: Duration,
    ) -> Self {
        Self {
            max_attempts,
            base_delay,
            max_delay,
            deadline,
        }
    }

    /// A policy that makes exactly one attempt and returns its error unchanged.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Runs `op` (given the attempt number, from 1) until it succeeds, fails with an error that
    /// is not retryable, or the attempts or deadline run out.
    ///
    /// A non-retryable error is returned unchanged. When the policy allows more than one attempt
    /// and a retryable error ends the run, the returned error is the last one, with the same
    /// kind, retry-after hint and source, and its message ends with
    /// `(gave up after N attempts over X.Ys: <reason>)`.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.run_observed(op, |_, _| {}).await
    }

    /// Like [`RetryPolicy::run`], and calls `on_retry(error, wait)` before each wait, with the
    /// error that caused the retry and how long it will wait: a hook for retry metrics.
    pub async fn run_observed<T, F, Fut, O>(&self, mut op: F, mut on_retry: O) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
        O: FnMut(&Error, Duration),
    {
        let start = Instant::now();
        let max_attempts = self.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let err = match op(attempt).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if !err.is_retryable() {
                return Err(err);
            }
            if attempt >= max_attempts {
                return Err(self.give_up(err, attempt, start.elapsed(), GiveUp::NoAttemptsLeft));
            }
            let backoff = self.backoff(attempt);
            let retry_after = err.retry_after();
            let wait = retry_after.map_or(backoff, |hint| hint.max(backoff));
            let elapsed = start.elapsed();
            if elapsed.saturating_add(wait) > self.deadline {
                let reason = match retry_after {
                    Some(hint) if hint >= backoff => {
                        GiveUp::RetryAfterPassesDeadline { retry_after: hint }
                    }
                    _ => GiveUp::WaitPassesDeadline { wait },
                };
                return Err(self.give_up(err, attempt, elapsed, reason));
            }
            tracing::debug!(
                attempt,
                kind = %err.kind(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %err,
                "retrying after a retryable error"
            );
            on_retry(&err, wait);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The jittered wait after attempt `attempt` (from 1), before any retry-after hint.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.backoff_ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let half = nanos / 2;
        Duration::from_nanos(half + fastrand::u64(..=nanos - half))
    }

    /// `min(max_delay, base_delay * 2^(attempt-1))`, without overflow.
    fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    fn give_up(&self, mut err: Error, attempts: u32, elapsed: Duration, why: GiveUp) -> Error {
        if self.max_attempts <= 1 {
            return err;
        }
        let reason = match why {
            GiveUp::NoAttemptsLeft => "no attempts left".to_owned(),
            GiveUp::WaitPassesDeadline { wait } => format!(
                "the next wait of {:.1}s would pass the {:.1}s retry deadline",
                wait.as_secs_f64(),
                self.deadline.as_secs_f64()
            ),
            GiveUp::RetryAfterPassesDeadline { retry_after } => format!(
                "the upstream asked to wait {:.1}s, which would pass the {:.1}s retry deadline",
                retry_after.as_secs_f64(),
                self.deadline.as_secs_f64()
            ),
        };
        let plural = if attempts == 1 { "" } else { "s" };
        let note = format!(
            " (gave up after {attempts} attempt{plural} over {:.1}s: {reason})",
            elapsed.as_secs_f64()
        );
        message_mut(&mut err).push_str(&note);
        err
    }
}

/// The message of any error kind, for appending to it in place (kind, hint and source stay).
fn message_mut(err: &mut Error) -> &mut String {
    match err {
        Error::Authentication { message, .. }
        | Error::Permission { message, .. }
        | Error::ZoneNotFound { message, .. }
        | Error::Conflict { message, .. }
        | Error::RateLimited { message, .. }
        | Error::InvalidInput { message, .. }
        | Error::Transient { message, .. }
        | Error::Other { message, .. } => message,
    }
}

/// How long [`RateLimiter::per_minute`] counts its `n` calls over: a minute and a one-second
/// margin, so that network jitter (a request sent at the end of one of our windows arriving
/// early in the upstream's next one) never lets the upstream see `n + 1` calls in one of its
/// own minutes.
pub const PER_MINUTE_WINDOW: Duration = Duration::from_secs(61);

/// A client-side rate limiter shared (by cloning) by all callers of one upstream.
///
/// [`RateLimiter::per_minute`] is a **sliding window**: at most `n` calls in *any* window of
/// [`PER_MINUTE_WINDOW`]. That is what an upstream that counts "n per minute" (in fixed or
/// sliding windows) accepts. A burst of `n` goes through at once; the next call waits until the
/// oldest of the last `n` is a window old.
///
/// Each caller reserves the next free slot under a short lock and then sleeps,
/// outside the lock, until that slot: callers are served in the order they asked, so none
/// starves. Cloning shares the one schedule.
///
/// A caller that is cancelled while waiting in [`RateLimiter::acquire`] still uses up its slot.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Option<Arc<Window>>,
}

/// At most `max_calls` slots in any window of `window`.
#[derive(Debug)]
struct Window {
    /// At least one.
    max_calls: usize,
    window: Duration,
    /// The slots of the last (up to) `max_calls` grants, oldest first; never decreasing. Slots
    /// a whole window old are dropped, as they can no longer hold anyone back, so the queue
    /// only grows with the calls actually made in one window.
    grants: Mutex<VecDeque<Instant>>,
}

impl Window {
    /// `at + window`. Saturates at `at` in the (unreachable for a 61 s window) case where the
    /// clock cannot represent the sum, rather than panicking.
    fn after(&self, at: Instant) -> Instant {
        at.checked_add(self.window).unwrap_or(at)
    }

    fn reserve(
        &self,
        now: Instant,
        wait_allowed: impl FnOnce(Duration) -> bool,
    ) -> Option<Duration> {
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        while grants
            .front()
            .is_some_and(|&oldest| self.after(oldest) <= now)
        {
            grants.pop_front();
        }
        // Slots never go backwards, even if callers read the clock in another order than they
        // took the lock: that keeps "the n-th previous slot" the earliest one of the last n.
        let mut slot = grants.back().map_or(now, |&last| last.max(now));
        if grants.len() >= self.max_calls {
            if let Some(&oldest) = grants.front() {
                slot = slot.max(self.after(oldest));
            }
        }
        let wait = slot.saturating_duration_since(now);
        if !wait_allowed(wait) {
            return None;
        }
        grants.push_back(slot);
        while grants.len() > self.max_calls {
            grants.pop_front();
        }
        Some(wait)
    }
}

impl RateLimiter {
    /// At most `n` requests in any window of [`PER_MINUTE_WINDOW`] (a minute plus a one-second
    /// safety margin), as a sliding window: `n` go through at once, the next waits until the
    /// oldest of the last `n` is a window old. So `n` calls are granted at 0 s, the `n + 1`-th
    /// at 61 s, and `3n` calls in a row finish at 122 s.
    ///
    /// `n = 0` means no limit (see [`RateLimiter::unlimited`]), so that a configured `0` turns
    /// limiting off.
    ///
    /// Memory grows with the calls made in one window (at most `n` slots).
    pub fn per_minute(n: u32) -> Self {
        if n == 0 {
            return Self::unlimited();
        }
        Self::sliding_window(n, PER_MINUTE_WINDOW)
    }

    /// At most `max_calls` (at least one) grants in any window of `window`.
    fn sliding_window(max_calls: u32, window: Duration) -> Self {
        Self {
            inner: Some(Arc::new(Window {
                max_calls: usize::try_from(max_calls.max(1)).unwrap_or(usize::MAX),
                window,
                grants: Mutex::new(VecDeque::new()),
            })),
        }
    }

    /// A limiter that never waits.
    pub fn unlimited() -> Self {
        Self { inner: None }
    }

    /// Whether this limiter never waits.
    pub fn is_unlimited(&self) -> bool {
        self.inner.is_none()
    }

    /// Waits for a slot; returns how long it waited: the time until its reserved slot (the
    /// timer may wake it up to one tick, a millisecond, later).
    pub async fn acquire(&self) -> Duration {
        let Some(schedule) = &self.inner else {
            return Duration::ZERO;
        };
        let start = Instant::now();
        let wait = schedule.reserve(start, |_| true).unwrap_or(Duration::ZERO);
        if !wait.is_zero() {
            tokio::time::sleep_until(start + wait).await;
        }
        wait
    }

    /// Takes a slot if one is available now, without waiting; returns whether it took one.
    /// A `false` answer reserves nothing.
    pub fn try_acquire(&self) -> bool {
        match &self.inner {
            None => true,
            Some(schedule) => schedule
                .reserve(Instant::now(), |wait| wait.is_zero())
                .is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::ErrorKind;

    fn policy(max_attempts: u32, base_ms: u64, max_ms: u64, deadline_s: u64) -> RetryPolicy {
        RetryPolicy::new(
            max_attempts,
            Duration::from_millis(base_ms),
            Duration::from_millis(max_ms),
            Duration::from_secs(deadline_s),
        )
    }

    /// Runs `policy` over an operation that fails with `make_err` on every attempt; returns the
    /// error, the number of attempts, and the (paused) time it took.
    async fn always_failing(
        policy: &RetryPolicy,
        make_err: impl Fn() -> Error,
    ) -> (Error, u32, Duration) {
        let attempts = AtomicU32::new(0);
        let start = Instant::now();
        let result: Result<()> = policy
            .run(|_| {
                attempts.fetch_add(1, Ordering::SeqCst);
                let err = make_err();
                async move { Err(err) }
            })
            .await;
        (
            result.unwrap_err(),
            attempts.load(Ordering::SeqCst),
            start.elapsed(),
        )
    }

    #[tokio::test]
    async fn a_non_retryable_error_is_attempted_once_and_returned_unchanged() {
        tokio::time::pause();
        let (err, attempts, elapsed) =
            always_failing(&policy(5, 100, 1000, 60), || Error::permission("no rights")).await;
        assert_eq!(attempts, 1);
        assert_eq!(err.kind(), ErrorKind::Permission);
        assert_eq!(err.message(), "no rights");
        assert_eq!(elapsed, Duration::ZERO);
    }

    #[tokio::test]
    async fn a_transient_error_is_retried_up_to_max_attempts_and_says_it_gave_up() {
        tokio::time::pause();
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let (err, attempts, _) = always_failing(&policy(4, 10, 100, 60), || {
            Error::transient("PUT x").with_source(io())
        })
        .await;
        assert_eq!(attempts, 4);
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(
            err.message()
                .starts_with("PUT x (gave up after 4 attempts over "),
            "{err}"
        );
        assert!(err.message().ends_with(": no attempts left)"), "{err}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the cause is kept"
        );
    }

    #[tokio::test]
    async fn an_operation_that_recovers_returns_its_value() {
        tokio::time::pause();
        let mut seen = Vec::new();
        let result = policy(5, 10, 100, 60)
            .run(|attempt| {
                seen.push(attempt);
                async move {
                    if attempt < 3 {
                        Err(Error::rate_limited("slow down", None))
                    } else {
                        Ok(attempt * 10)
                    }
                }
            })
            .await;
        assert_eq!(result.unwrap(), 30);
        assert_eq!(seen, [1, 2, 3]);
    }

    #[tokio::test]
    async fn the_none_policy_attempts_once_and_leaves_the_message_alone() {
        tokio::time::pause();
        let (err, attempts, _) =
            always_failing(&RetryPolicy::none(), || Error::transient("timeout")).await;
        assert_eq!(attempts, 1);
        assert_eq!(err.message(), "timeout");
    }

    #[tokio::test]
    async fn zero_max_attempts_still_makes_one_attempt() {
        tokio::time::pause();
        let (_, attempts, _) =
            always_failing(&policy(0, 10, 100, 60), || Error::transient("timeout")).await;
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn retry_after_is_waited_out_even_beyond_max_delay() {
        tokio::time::pause();
        let start = Instant::now();
        let result = policy(3, 10, 100, 60)
            .run(|attempt| async move {
                if attempt == 1 {
                    Err(Error::rate_limited("429", Some(Duration::from_secs(3))))
                } else {
                    Ok(())
                }
            })
            .await;
        assert!(result.is_ok());
        assert!(
            start.elapsed() >= Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn retry_after_past_the_deadline_returns_at_once_keeping_the_hint() {
        tokio::time::pause();
        let hint = Duration::from_secs(120);
        let (err, attempts, elapsed) = always_failing(&policy(5, 10, 100, 20), || {
            Error::rate_limited("429", Some(hint))
        })
        .await;
        assert_eq!(attempts, 1);
        assert_eq!(elapsed, Duration::ZERO);
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.retry_after(), Some(hint));
        assert!(
            err.message().contains("gave up after 1 attempt over 0.0s"),
            "{err}"
        );
        assert!(err.message().contains("asked to wait 120.0s"), "{err}");
    }

    #[tokio::test]
    async fn the_deadline_stops_retrying_before_max_attempts() {
        tokio::time::pause();
        let (err, attempts, elapsed) =
            always_failing(&policy(100, 1000, 1000, 5), || Error::transient("502")).await;
        // Waits are 0.5 s to 1 s each, so 5 s allows 5 to 10 retries.
        assert!((6..=11).contains(&attempts), "{attempts} attempts");
        assert!(elapsed <= Duration::from_secs(5), "{elapsed:?}");
        assert!(err.message().contains("retry deadline"), "{err}");
    }

    #[tokio::test]
    async fn backoff_grows_with_jitter_and_stays_under_max_delay() {
        tokio::time::pause();
        let p = policy(9, 100, 1000, 3600);
        for _ in 0..20 {
            let mut waits = Vec::new();
            let result: Result<()> = p
                .run_observed(
                    |_| async { Err(Error::transient("502")) },
                    |err, wait| {
                        assert_eq!(err.kind(), ErrorKind::Transient);
                        waits.push(wait);
                    },
                )
                .await;
            assert!(result.is_err());
            assert_eq!(waits.len(), 8, "one observed retry per wait");
            for (i, wait) in waits.iter().enumerate() {
                let ceiling = Duration::from_millis(100 << i).min(Duration::from_millis(1000));
                assert!(
                    *wait >= ceiling / 2 && *wait <= ceiling,
                    "wait {i}: {wait:?}"
                );
            }
            assert!(waits[0] <= Duration::from_millis(100));
            assert!(waits[7] >= Duration::from_millis(500));
        }
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow_the_backoff() {
        let p = RetryPolicy::new(
            u32::MAX,
            Duration::from_secs(1),
            Duration::MAX,
            Duration::MAX,
        );
        assert_eq!(
            p.backoff_ceiling(u32::MAX),
            Duration::from_secs(1).saturating_mul(u32::MAX)
        );
        assert!(p.backoff(u32::MAX) >= p.backoff_ceiling(u32::MAX) / 2);
    }

    #[tokio::test]
    async fn a_1000_per_minute_limiter_allows_a_burst_then_waits_for_the_61_second_window() {
        tokio::time::pause();
        let limiter = RateLimiter::per_minute(1000);
        let start = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.acquire().await, Duration::ZERO);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(!limiter.try_acquire(), "the 1001st is not free now");
        let waited = limiter.acquire().await;
        assert_eq!(waited, Duration::from_secs(61));
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(61)
                && elapsed <= Duration::from_secs(61) + Duration::from_millis(1),
            "{elapsed:?}"
        );
        // The rest of the second minute's burst is free at once.
        for _ in 0..999 {
            assert_eq!(limiter.acquire().await, Duration::ZERO);
        }
        assert!(!limiter.try_acquire());
    }

    /// The most of the sorted `times` that any half-open window of length `window` holds.
    fn most_in_any_window(times: &[Instant], window: Duration) -> usize {
        let mut most = 0;
        let mut first = 0;
        for (last, &t) in times.iter().enumerate() {
            while times[first] + window <= t {
                first += 1;
            }
            most = most.max(last + 1 - first);
        }
        most
    }

    #[tokio::test]
    async fn three_thousand_concurrent_acquires_at_1000_per_minute_never_put_1001_in_a_minute() {
        tokio::time::pause();
        let limiter = RateLimiter::per_minute(1000);
        let start = Instant::now();
        let tasks: Vec<_> = (0..3000)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire().await;
                    Instant::now()
                })
            })
            .collect();
        let mut granted = Vec::new();
        for task in tasks {
            granted.push(task.await.unwrap());
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(122)
                && elapsed <= Duration::from_secs(122) + Duration::from_millis(10),
            "{elapsed:?}"
        );
        granted.sort();
        assert_eq!(
            granted.iter().filter(|t| **t == start).count(),
            1000,
            "the first 1000 go at once"
        );
        assert_eq!(most_in_any_window(&granted, Duration::from_secs(60)), 1000);
        assert_eq!(most_in_any_window(&granted, PER_MINUTE_WINDOW), 1000);
    }

    #[tokio::test]
    async fn a_per_minute_limiter_under_steady_trickling_load_keeps_every_window_under_n() {
        tokio::time::pause();
        let limiter = RateLimiter::per_minute(50);
        let mut granted = Vec::new();
        // Callers arrive every 300 ms, faster than 50 per 61 s, for five minutes.
        for _ in 0..1000 {
            let limiter = limiter.clone();
            granted.push(tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now()
            }));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut times = Vec::new();
        for task in granted {
            times.push(task.await.unwrap());
        }
        times.sort();
        assert_eq!(most_in_any_window(&times, PER_MINUTE_WINDOW), 50);
    }

    #[tokio::test]
    async fn clones_share_one_schedule() {
        tokio::time::pause();
        let a = RateLimiter::per_minute(2);
        let b = a.clone();
        assert!(a.try_acquire());
        assert!(b.try_acquire());
        assert!(!a.try_acquire());
        assert!(!b.try_acquire());
        assert!(
            RateLimiter::per_minute(2).try_acquire(),
            "a new limiter has its own schedule"
        );
    }

    #[tokio::test]
    async fn a_refused_try_acquire_on_a_window_reserves_nothing_and_the_window_comes_back() {
        tokio::time::pause();
        let limiter = RateLimiter::per_minute(60);
        for _ in 0..60 {
            assert!(limiter.try_acquire());
        }
        for _ in 0..5 {
            assert!(!limiter.try_acquire());
        }
        tokio::time::advance(PER_MINUTE_WINDOW - Duration::from_millis(1)).await;
        assert!(!limiter.try_acquire(), "still inside the window");
        tokio::time::advance(Duration::from_millis(1)).await;
        for _ in 0..60 {
            assert!(limiter.try_acquire(), "the whole window is back");
        }
        assert!(!limiter.try_acquire());
    }

    #[tokio::test]
    async fn an_unlimited_limiter_never_waits() {
        tokio::time::pause();
        for limiter in [RateLimiter::unlimited(), RateLimiter::per_minute(0)] {
            assert!(limiter.is_unlimited());
            for _ in 0..10_000 {
                assert_eq!(limiter.acquire().await, Duration::ZERO);
                assert!(limiter.try_acquire());
            }
        }
        assert!(!RateLimiter::per_minute(1).is_unlimited());
    }
}
