//! Latency distributions: HDR histograms in nanoseconds, so tails are kept exactly enough (3
//! significant digits at any magnitude) and rounds and workers merge without losing anything.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency a histogram holds (longer ones are clamped to it): two minutes, in ns.
const MAX_NANOS: u64 = 120_000_000_000;

/// A latency distribution.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Histogram::new_with_bounds(1, MAX_NANOS, 3).expect("constant bounds are valid"))
    }
}

impl Latencies {
    /// Adds one sample.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(MAX_NANOS).clamp(1, MAX_NANOS);
        self.0.saturating_record(nanos);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// The percentiles reports show.
    pub fn summary(&self) -> Summary {
        let ms = |nanos: u64| nanos as f64 / 1e6;
        Summary {
            count: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p90_ms: ms(self.0.value_at_quantile(0.90)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
            mean_ms: self.0.mean() / 1e6,
        }
    }
}

/// Percentiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Summary {
    /// `self - baseline` at each percentile: what the gateway adds when `self` is via the gateway
    /// and `baseline` is direct.
    pub fn minus(&self, baseline: &Summary) -> Added {
        Added {
            p50_ms: self.p50_ms - baseline.p50_ms,
            p90_ms: self.p90_ms - baseline.p90_ms,
            p99_ms: self.p99_ms - baseline.p99_ms,
            max_ms: self.max_ms - baseline.max_ms,
        }
    }
}

/// Differences of two distributions at matching percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Added {
    /// At the median.
    pub p50_ms: f64,
    /// At the 90th percentile.
    pub p90_ms: f64,
    /// At the 99th percentile.
    pub p99_ms: f64,
    /// Between the maxima (noisy by nature; shown for completeness).
    pub max_ms: f64,
}

/// Median of a few samples (cold-start repetitions).
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_differences_are_in_milliseconds() {
        let mut direct = Latencies::default();
        let mut gateway = Latencies::default();
        for micros in 1..=1000 {
            direct.record(Duration::from_micros(20_000 + micros));
            gateway.record(Duration::from_micros(20_200 + micros));
        }
        let added = gateway.summary().minus(&direct.summary());
        assert!((added.p50_ms - 0.2).abs() < 0.05, "{added:?}");
        assert_eq!(direct.summary().count, 1000);
        assert_eq!(
            median(&[Duration::from_millis(3), Duration::from_millis(1), Duration::from_millis(2)]),
            Duration::from_millis(2)
        );
    }
}
