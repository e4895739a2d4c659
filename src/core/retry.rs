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

    /// Attempts from the first to well past the cap, and the jitter draw,
    /// with the edges (0, just under 1, and values a broken random source
    /// could give) generated often.
    fn attempts_and_draw() -> impl Strategy<Value = (u32, f64)> {
        let draw = prop_oneof![
            4 => 0.0..1.0f64,
            1 => Just(0.0),
            1 => Just(0.999_999),
            1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1.0), Just(7.0)],
        ];
        (prop_oneof![3 => 1u32..30, 1 => any::<u32>()], draw)
    }

    proptest! {
        #[test]
        fn more_failures_never_mean_a_shorter_wait((attempts, random) in attempts_and_draw()) {
            let policy = RetryPolicy::default();
            let now = policy.delay_ms(attempts, random);
            let later = policy.delay_ms(attempts.saturating_add(1), random);
            prop_assert!(later >= now, "attempt {attempts}: {now} then {later}");
            prop_assert!(now <= policy.max_ms);
        }

        #[test]
        fn a_higher_draw_never_means_a_shorter_wait(attempts in 1u32..30, a in 0.0..1.0f64, b in 0.0..1.0f64) {
            let policy = RetryPolicy::default();
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(policy.delay_ms(attempts, low) <= policy.delay_ms(attempts, high));
        }

        #[test]
        fn devices_that_failed_together_spread_out(attempts in 4u32..30, a in 0.0..0.5f64, gap in 0.1..0.5f64) {
            // Two draws a tenth of the range apart or more: two devices
            // retrying after the same failures wait noticeably different times.
            let policy = RetryPolicy::default();
            let (first, second) = (policy.delay_ms(attempts, a), policy.delay_ms(attempts, a + gap));
            prop_assert!(second - first >= 500, "{first} and {second}");
        }

        #[test]
        fn the_first_retry_is_within_a_second_and_late_ones_reach_the_cap(random in 0.0..1.0f64) {
            let policy = RetryPolicy::default();
            prop_assert!(policy.delay_ms(1, random) < policy.base_ms);
            prop_assert!(policy.delay_ms(0, random) < policy.base_ms);
            // Past the cap, a draw near the top waits close to the longest backoff.
            let late = policy.delay_ms(30, 0.99);
            prop_assert!(late >= policy.max_ms * 98 / 100 && late <= policy.max_ms);
        }

        #[test]
        fn retry_after_is_obeyed_up_to_the_cap(asked in prop_oneof![0u64..=300_000, any::<u64>()]) {
            let policy = RetryPolicy::default();
            let wait = policy.server_delay_ms(asked);
            if asked <= policy.max_ms {
                prop_assert_eq!(wait, asked, "the server's delay, exactly");
            } else {
                prop_assert_eq!(wait, policy.max_ms);
            }
        }
    }
}
