//! Percentiles, means and formatting of recorded latencies.

use std::time::Duration;

/// What a set of latency samples looks like.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// How many samples there were.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// Summarises `samples` (sorting them in place); `None` when there are none.
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let count = samples.len();
        Some(Self {
            count,
            p50: percentile(samples, 500),
            p90: percentile(samples, 900),
            p99: percentile(samples, 990),
            // Sample counts stay far below u32::MAX; saturate rather than wrap if not.
            mean: total / u32::try_from(count).unwrap_or(u32::MAX),
        })
    }
}

/// The nearest-rank percentile of `sorted` (non-empty, ascending), `per_mille` in 1..=1000.
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    let rank = (sorted.len() * per_mille).div_ceil(1000).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// `duration` in microseconds, for tables.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// What the concurrent requesters of one pairing or target achieved in the throughput phase.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// From starting the requesters until the last one returned.
    pub elapsed: Duration,
    /// Their latencies (and how many requests completed).
    pub latency: Summary,
    /// CPU time of this process per request.
    pub bench_cpu: Option<Duration>,
    /// CPU time of nats-server per request.
    pub server_cpu: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let summary = Summary::of(&mut samples).expect("samples");
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50, Duration::from_micros(50));
        assert_eq!(summary.p90, Duration::from_micros(90));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.mean, Duration::from_nanos(50_500));
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let mut samples = vec![Duration::from_micros(7)];
        let summary = Summary::of(&mut samples).expect("one sample");
        assert_eq!(summary.p50, summary.p99);
        assert_eq!(summary.p99, Duration::from_micros(7));
    }

    #[test]
    fn no_samples_no_summary() {
        assert!(Summary::of(&mut []).is_none());
    }
}
