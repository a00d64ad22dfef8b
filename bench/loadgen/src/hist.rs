//! A log-linear latency histogram in the manner of HdrHistogram: fixed
//! memory, O(1) record, and a relative error below 1/1024 at any
//! magnitude. Values are nanoseconds; reports are microseconds.
//!
//! Bucket layout, with P = 10 precision bits (S = 2^P = 1024):
//!
//! ```text
//!   index 0 .. 2S-1        value v itself (exact below 2048 ns)
//!   index (s+1)S .. (s+2)S-1   values [2^(P+s), 2^(P+s+1)) in steps of 2^s,
//!                          s = 1, 2, ... : index = s*S + (v >> s)
//! ```
//!
//! Values above 2^40 ns (18 minutes) are clamped into the last bucket.

const P: u32 = 10;
const S: usize = 1 << P;
const MAX_BITS: u32 = 40;
const BUCKETS: usize = (MAX_BITS - P) as usize * S + S;

pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        let v = v.min((1u64 << MAX_BITS) - 1);
        if v < 2 * S as u64 {
            return v as usize;
        }
        let shift = 63 - v.leading_zeros() - P;
        shift as usize * S + (v >> shift) as usize
    }

    /// The largest value that lands in bucket `i`, as HdrHistogram reports
    /// ("highest equivalent value"), so a percentile never understates.
    fn highest(i: usize) -> u64 {
        if i < 2 * S {
            return i as u64;
        }
        let shift = (i / S - 1) as u32;
        let low = ((i % S + S) as u64) << shift;
        low + (1u64 << shift) - 1
    }

    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
        self.sum += ns as u128;
        self.max = self.max.max(ns);
    }

    /// The value at percentile `p` (0..100] in nanoseconds, 0 when empty:
    /// the smallest bucket value at or below which p% of the records lie.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::highest(i).min(self.max);
            }
        }
        self.max
    }

    pub fn max_ns(&self) -> u64 {
        self.max
    }

    pub fn mean_ns(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_monotone_and_within_precision() {
        let mut last = 0;
        let mut v = 0u64;
        while v < (1u64 << MAX_BITS) {
            let i = Histogram::index(v);
            assert!(i >= last, "index went back at {v}");
            let hi = Histogram::highest(i);
            assert!(hi >= v, "bucket {i} top {hi} below {v}");
            assert!(
                (hi - v) as f64 <= v as f64 / 1024.0 + 1.0,
                "bucket too wide at {v}"
            );
            last = i;
            v = v + 1 + v / 37;
        }
        assert!(Histogram::index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_one_to_ten_thousand() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 / 1000.0;
        assert!(
            near(h.percentile_ns(50.0), 5_000_000),
            "{}",
            h.percentile_ns(50.0)
        );
        assert!(
            near(h.percentile_ns(99.0), 9_900_000),
            "{}",
            h.percentile_ns(99.0)
        );
        assert!(near(h.percentile_ns(99.9), 9_990_000));
        assert_eq!(h.percentile_ns(100.0), 10_000_000);
        assert_eq!(h.max_ns(), 10_000_000);
        assert!((h.mean_ns() - 5_000_500.0).abs() < 1.0);
    }

    #[test]
    fn empty_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.percentile_ns(50.0), 0);
        assert_eq!(h.mean_ns(), 0.0);
    }
}
