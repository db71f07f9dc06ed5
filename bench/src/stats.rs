//! Latency samples and their percentiles (nearest-rank), kept as a sorted `Vec` of
//! microseconds: exact, and small enough for a few million samples.

use std::time::Duration;

/// Latency samples, in microseconds, in the order they were recorded.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    micros: Vec<u64>,
}

impl Samples {
    /// No samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one latency (rounded down to the microsecond).
    pub fn record(&mut self, latency: Duration) {
        self.micros
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one latency given in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.micros.push(micros);
    }

    /// Adds all of `other`'s samples.
    pub fn merge(&mut self, other: Self) {
        self.micros.extend(other.micros);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The samples sorted, for percentiles; `None` when there are none.
    pub fn sorted(mut self) -> Option<Sorted> {
        if self.micros.is_empty() {
            return None;
        }
        self.micros.sort_unstable();
        Some(Sorted {
            micros: self.micros,
        })
    }
}

/// A non-empty, sorted set of samples.
#[derive(Debug, Clone)]
pub struct Sorted {
    micros: Vec<u64>,
}

impl Sorted {
    /// The `p`-th percentile (`0 < p <= 100`) by the nearest-rank method: the smallest sample
    /// such that at least `p`% of the samples are less than or equal to it. `p <= 0` gives the
    /// minimum, `p >= 100` the maximum.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.micros.len();
        let rank = if p <= 0.0 {
            1
        } else if p >= 100.0 {
            n
        } else {
            // Nearest rank: ceil(p/100 * n), at least 1. Computed in integers where possible so
            // that e.g. p50 of 10 samples is the 5th, not the 6th through rounding error.
            let scaled = (p * 1000.0).round() as u64; // p in thousandths of a percent
            let num = scaled.saturating_mul(n as u64);
            let den = 100_000u64;
            let r = num.div_ceil(den);
            usize::try_from(r).unwrap_or(n).clamp(1, n)
        };
        Duration::from_micros(self.micros[rank - 1])
    }

    /// The median (50th percentile).
    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.percentile(100.0)
    }

    /// The smallest sample.
    pub fn min(&self) -> Duration {
        self.percentile(0.0)
    }

    /// The arithmetic mean.
    pub fn mean(&self) -> Duration {
        let sum: u128 = self.micros.iter().map(|&m| u128::from(m)).sum();
        let mean = sum / self.micros.len() as u128;
        Duration::from_micros(u64::try_from(mean).unwrap_or(u64::MAX))
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Always false: a `Sorted` holds at least one sample.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }
}

/// `a / b`, or `None` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// How a ratio varied across the rounds of one run: its median (nearest rank, as for
/// latencies: of an even count, the lower middle) and its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median value.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Spread {
    /// The spread of `values`, ignoring those that are not finite; `None` when none is.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        finite.sort_unstable_by(f64::total_cmp);
        let n = finite.len();
        Some(Self {
            median: finite.get(n.checked_sub(1)? / 2).copied()?,
            min: *finite.first()?,
            max: *finite.last()?,
            n,
        })
    }
}

impl std::fmt::Display for Spread {
    /// `0.80 (0.72 to 0.86)`: the median, then the range.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2} to {:.2})", self.median, self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(values: &[u64]) -> Sorted {
        let mut s = Samples::new();
        for &v in values {
            s.record_micros(v);
        }
        s.sorted().unwrap()
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let values: Vec<u64> = (1..=100).rev().collect();
        let s = sorted(&values);
        assert_eq!(s.percentile(50.0), Duration::from_micros(50));
        assert_eq!(s.percentile(99.0), Duration::from_micros(99));
        assert_eq!(s.percentile(99.9), Duration::from_micros(100));
        assert_eq!(s.percentile(1.0), Duration::from_micros(1));
        assert_eq!(s.max(), Duration::from_micros(100));
        assert_eq!(s.min(), Duration::from_micros(1));
        assert_eq!(s.mean(), Duration::from_micros(50));
    }

    #[test]
    fn percentiles_of_few_samples_pick_existing_values() {
        let s = sorted(&[30, 10, 20]);
        assert_eq!(s.median(), Duration::from_micros(20));
        assert_eq!(s.percentile(99.0), Duration::from_micros(30));
        assert_eq!(s.percentile(33.0), Duration::from_micros(10));
        assert_eq!(s.percentile(34.0), Duration::from_micros(20));
        let one = sorted(&[7]);
        assert_eq!(one.percentile(0.1), Duration::from_micros(7));
        assert_eq!(one.percentile(100.0), Duration::from_micros(7));
    }

    #[test]
    fn ten_samples_have_the_fifth_as_median_and_the_tenth_as_p99() {
        let s = sorted(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(s.median(), Duration::from_micros(5));
        assert_eq!(s.percentile(90.0), Duration::from_micros(9));
        assert_eq!(s.percentile(99.0), Duration::from_micros(10));
    }

    #[test]
    fn no_samples_have_no_percentiles_and_merging_adds() {
        assert!(Samples::new().sorted().is_none());
        let mut a = Samples::new();
        a.record(Duration::from_millis(2));
        let mut b = Samples::new();
        b.record(Duration::from_micros(1500));
        a.merge(b);
        assert_eq!(a.len(), 2);
        let s = a.sorted().unwrap();
        assert_eq!(s.min(), Duration::from_micros(1500));
        assert_eq!(s.max(), Duration::from_millis(2));
    }

    #[test]
    fn ratios_refuse_a_zero_denominator() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(1.0, 0.0), None);
    }

    #[test]
    fn spreads_give_the_lower_middle_as_median_and_the_range() {
        let odd = Spread::of(&[0.9, 0.7, 0.8]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max, odd.n), (0.8, 0.7, 0.9, 3));
        let even = Spread::of(&[1.6, 1.2, 1.4, 1.3]).unwrap();
        assert_eq!(
            (even.median, even.min, even.max, even.n),
            (1.3, 1.2, 1.6, 4)
        );
        assert_eq!(even.to_string(), "1.30 (1.20 to 1.60)");
    }

    #[test]
    fn spreads_skip_values_that_are_not_finite() {
        let s = Spread::of(&[f64::NAN, 2.0, f64::INFINITY]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 2.0, 2.0, 1));
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[f64::NAN]).is_none());
    }
}
