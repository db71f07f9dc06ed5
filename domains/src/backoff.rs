//! When to check DNS again: Cloudflare for SaaS's schedule.
//!
//! While anything is unmet, retry `n` waits `60·1.05ⁿ` seconds for `n` in 0–9, then
//! `60·1.15ⁿ` seconds, never more than 4 hours; 7 days after the first check the domain is
//! [`NextCheck::Expired`] (about 75 retries). A ready domain is re-checked daily, since a customer
//! can break their DNS later.
//!
//! The retry number is derived from the time since the first check, so the controller stores
//! only `status.firstChecked`, not a counter.

use std::time::Duration;

/// The longest wait between two checks.
pub const MAX_DELAY: Duration = Duration::from_secs(4 * 3600);

/// How long unmet requirements are retried before the domain expires.
pub const EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The re-check interval of a ready domain.
pub const READY_RECHECK: Duration = Duration::from_secs(24 * 3600);

/// The wait before retry `n` (0-based).
pub fn retry_delay(n: u32) -> Duration {
    let exponent = i32::try_from(n).unwrap_or(i32::MAX);
    let factor: f64 = if n < 10 { 1.05 } else { 1.15 };
    let seconds = 60.0 * factor.powi(exponent);
    if !seconds.is_finite() || seconds >= MAX_DELAY.as_secs_f64() {
        return MAX_DELAY;
    }
    Duration::from_secs_f64(seconds.round())
}

/// The number of retries whose waits fit, one after another, in `elapsed`.
pub fn retries_elapsed(elapsed: Duration) -> u32 {
    let mut total = Duration::ZERO;
    let mut n = 0;
    loop {
        total += retry_delay(n);
        if total > elapsed {
            return n;
        }
        n += 1;
    }
}

/// What the controller does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextCheck {
    /// Check again after this long.
    After(Duration),
    /// Give up: unmet for 7 days. The condition reason becomes `Expired`; a spec change or
    /// the re-check annotation starts a new schedule.
    Expired,
}

/// The next check, given the time since the first check of this spec and whether everything
/// is met now.
pub fn next_check(since_first_check: Duration, ready: bool) -> NextCheck {
    if ready {
        return NextCheck::After(READY_RECHECK);
    }
    let Some(left) = EXPIRY
        .checked_sub(since_first_check)
        .filter(|d| !d.is_zero())
    else {
        return NextCheck::Expired;
    };
    let delay = retry_delay(retries_elapsed(since_first_check));
    // The last retry happens at the expiry time, not after it.
    NextCheck::After(delay.min(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn retry_delays_follow_cloudflares_schedule() {
        let cases = [
            (0, 60),
            (1, 63),
            (9, 93),     // 60·1.05⁹ = 93.08
            (10, 243),   // 60·1.15¹⁰ = 242.7: the steeper factor from retry 10
            (20, 982),   // 60·1.15²⁰ = 981.99
            (39, 13975), // 60·1.15³⁹ = 13,975: the last uncapped wait
            (40, 14400), // 60·1.15⁴⁰ = 16,071: capped at 4 h
            (74, 14400),
            (u32::MAX, 14400),
        ];
        for (n, want) in cases {
            assert_eq!(retry_delay(n), secs(want), "retry {n}");
        }
    }

    #[test]
    fn about_seventy_five_retries_fit_in_seven_days() {
        let n = retries_elapsed(EXPIRY);
        assert!((73..=77).contains(&n), "{n}");
    }

    #[test]
    fn the_next_check_grows_expires_after_seven_days_and_is_daily_once_ready() {
        let cases = [
            (secs(0), false, NextCheck::After(secs(60))),
            (secs(59), false, NextCheck::After(secs(60))),
            (secs(60), false, NextCheck::After(secs(63))),
            (secs(3 * 86_400), false, NextCheck::After(MAX_DELAY)),
            (EXPIRY - secs(100), false, NextCheck::After(secs(100))),
            (EXPIRY, false, NextCheck::Expired),
            (EXPIRY + secs(1), false, NextCheck::Expired),
            (secs(0), true, NextCheck::After(READY_RECHECK)),
            (EXPIRY * 3, true, NextCheck::After(READY_RECHECK)),
        ];
        for (elapsed, ready, want) in cases {
            assert_eq!(
                next_check(elapsed, ready),
                want,
                "{elapsed:?} ready={ready}"
            );
        }
    }
}
