//! How long to wait before the next attempt: exponential backoff with full jitter.

/// Exponential backoff with full jitter, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first retry's delay.
    pub base_ms: u64,
    /// No delay is ever longer than this.
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 1_000,
            max_ms: super::schedule::MAX_BACKOFF_MS,
        }
    }
}

impl RetryPolicy {
    /// The delay after `attempts` failed attempts, given `random` in `[0, 1)`.
    ///
    /// Full jitter (a uniform delay between zero and the exponential ceiling)
    /// keeps many devices that went offline together from retrying together.
    pub fn delay_ms(&self, attempts: u32, random: f64) -> u64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(40))
            .min(self.max_ms);
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ((ceiling as f64) * random) as u64
    }

    /// The delay the server asked for with `Retry-After`, kept within the maximum.
    pub fn server_delay_ms(&self, retry_after_ms: u64) -> u64 {
        retry_after_ms.min(self.max_ms)
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let policy = RetryPolicy {
            base_ms: 1_000,
            max_ms: 10_000,
        };
        let almost_one = 0.999_999;
        assert_eq!(policy.delay_ms(1, almost_one), 999);
        assert_eq!(policy.delay_ms(2, almost_one), 1_999);
        assert_eq!(policy.delay_ms(3, almost_one), 3_999);
        assert_eq!(policy.delay_ms(10, almost_one), 9_999);
        assert_eq!(policy.delay_ms(3, 0.0), 0);
    }

    proptest! {
        #[test]
        fn never_exceeds_the_maximum(attempts in any::<u32>(), random in any::<f64>()) {
            let policy = RetryPolicy::default();
            prop_assert!(policy.delay_ms(attempts, random) <= policy.max_ms);
            prop_assert!(policy.server_delay_ms(u64::MAX) <= policy.max_ms);
        }
    }
}
