//! Sync metrics kept with the outbox: what a support engineer asks first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How many time-to-sync samples are kept for the percentiles.
const SAMPLES: usize = 500;

/// Counters and recent samples, updated after every sync run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Sync runs.
    pub runs: u64,
    /// Events sent (each attempt counts).
    pub attempts: u64,
    /// Attempts that ended in a retry (offline, server error, left out).
    pub retries: u64,
    /// Events confirmed by the server.
    pub synced: u64,
    /// Events refused for good.
    pub failed: u64,
    /// Conflicts found.
    pub conflicts: u64,
    /// Runs stopped by a failure, by endpoint (`"push"`, `"pull"`).
    pub failures_by_endpoint: BTreeMap<String, u64>,
    /// The latest times from saved to confirmed, in milliseconds, oldest first.
    pub time_to_sync_ms: Vec<u64>,
}

impl Metrics {
    /// Adds one drain's outcome.
    pub fn record_drain(
        &mut self,
        synced: u32,
        retried: u32,
        failed: u32,
        conflicts: u32,
        times: &[u64],
    ) {
        self.runs += 1;
        self.attempts += u64::from(synced + retried + failed + conflicts);
        self.retries += u64::from(retried);
        self.synced += u64::from(synced);
        self.failed += u64::from(failed);
        self.conflicts += u64::from(conflicts);
        self.time_to_sync_ms.extend_from_slice(times);
        let excess = self.time_to_sync_ms.len().saturating_sub(SAMPLES);
        self.time_to_sync_ms.drain(..excess);
    }

    /// Counts a run stopped by a failure of `endpoint`.
    pub fn record_failure(&mut self, endpoint: &str) {
        *self
            .failures_by_endpoint
            .entry(endpoint.to_owned())
            .or_default() += 1;
    }

    /// The `percent`th percentile (nearest rank) of the recent times to sync.
    pub fn time_to_sync_percentile(&self, percent: u8) -> Option<u64> {
        let mut sorted = self.time_to_sync_ms.clone();
        super::order::sort_by_number(&mut sorted, |ms| *ms);
        let rank = (usize::from(percent.min(100)) * sorted.len()).div_ceil(100);
        sorted.get(rank.saturating_sub(1)).copied()
    }

    /// Attempts that had to be retried, as a fraction of all attempts.
    pub fn retry_rate(&self) -> f64 {
        ratio(self.retries, self.attempts)
    }

    /// Conflicts as a fraction of all attempts.
    pub fn conflict_rate(&self) -> f64 {
        ratio(self.conflicts, self.attempts)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    #[test]
    fn counts_runs_and_keeps_recent_samples() {
        let mut metrics = Metrics::default();
        metrics.record_drain(3, 1, 0, 0, &[100, 200, 300]);
        metrics.record_drain(1, 0, 1, 1, &[400]);
        metrics.record_failure("push");
        metrics.record_failure("push");
        assert_eq!((metrics.runs, metrics.attempts, metrics.synced), (2, 7, 4));
        assert_eq!(metrics.failures_by_endpoint["push"], 2);
        assert!((metrics.retry_rate() - 1.0 / 7.0).abs() < 1e-9);
        assert!((metrics.conflict_rate() - 1.0 / 7.0).abs() < 1e-9);
        assert_eq!(metrics.time_to_sync_percentile(50), Some(200));
        assert_eq!(metrics.time_to_sync_percentile(95), Some(400));
        assert_eq!(Metrics::default().time_to_sync_percentile(50), None);
        for _ in 0..SAMPLES {
            metrics.record_drain(1, 0, 0, 0, &[7]);
        }
        assert_eq!(metrics.time_to_sync_ms.len(), SAMPLES, "bounded");
        assert_eq!(metrics.time_to_sync_percentile(100), Some(7));
    }
}
