//! Retry policy and client-side rate limiting.
//! (Being written: see the helper working on provider-core retry.)

use std::future::Future;
use std::time::Duration;

use crate::error::Result;

/// When and how long to retry an operation that failed with a retryable error.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most attempts in total, the first included.
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

impl RetryPolicy {
    /// Runs `op` (given the attempt number, from 1) until it succeeds, fails with an error that
    /// is not retryable, or the attempts or deadline run out.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        op(1).await
    }
}

/// A token bucket shared (by cloning) by all callers of one upstream.
#[derive(Debug, Clone)]
pub struct RateLimiter {}

impl RateLimiter {
    /// At most `n` requests per minute, with a burst of up to `n`.
    pub fn per_minute(n: u32) -> Self {
        let _ = n;
        Self {}
    }

    /// Waits for a token; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        Duration::ZERO
    }
}
