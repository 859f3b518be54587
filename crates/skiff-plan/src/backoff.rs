//! Delays between restarts: a pure iterator, so that the schedule is tested without a clock.

use std::time::Duration;

/// The shape of a [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// The delay before the second restart; the first restart is immediate.
    pub initial: Duration,
    /// No delay is longer.
    pub max: Duration,
    /// Each delay is the previous one times this (0 counts as 1).
    pub factor: u32,
    /// A process that stayed up at least this long starts the sequence over (the caller
    /// checks, then calls [`Backoff::reset`]).
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    /// 0, 10 s, 20 s, 40 s, ... up to 5 min; reset after a minute up.
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            factor: 2,
            reset_after: Duration::from_secs(60),
        }
    }
}

/// The delays before successive restarts: `0, initial, initial * factor, ...`, at most `max`.
/// Never ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
}

impl Backoff {
    #[must_use]
    pub fn new(config: BackoffConfig) -> Backoff {
        Backoff { config, attempt: 0 }
    }

    /// Starts over: the next delay is zero again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    #[must_use]
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let attempt = self.attempt;
        self.attempt = self.attempt.saturating_add(1);
        if attempt == 0 {
            return Some(Duration::ZERO);
        }
        let c = &self.config;
        let delay = c
            .factor
            .max(1)
            .checked_pow(attempt - 1)
            .and_then(|m| c.initial.checked_mul(m))
            .unwrap_or(c.max);
        Some(delay.min(c.max))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn default_schedule() {
        let secs: Vec<u64> = Backoff::new(BackoffConfig::default())
            .take(8)
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(BackoffConfig::default());
        b.nth(4);
        b.reset();
        assert_eq!(b.next(), Some(Duration::ZERO));
        assert_eq!(b.next(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn far_attempts_do_not_overflow() {
        let mut b = Backoff::new(BackoffConfig::default());
        assert_eq!(b.nth(10_000), Some(Duration::from_secs(300)));
    }

    fn config() -> impl Strategy<Value = BackoffConfig> {
        (0u64..100_000, 0u64..1_000_000, 0u32..5, 0u64..1000).prop_map(
            |(initial, max, factor, reset)| BackoffConfig {
                initial: Duration::from_millis(initial),
                max: Duration::from_millis(max),
                factor,
                reset_after: Duration::from_secs(reset),
            },
        )
    }

    proptest! {
        #[test]
        fn first_is_immediate_then_bounded_and_monotone(c in config(), n in 1usize..80) {
            let delays: Vec<Duration> = Backoff::new(c).take(n).collect();
            prop_assert_eq!(delays[0], Duration::ZERO);
            prop_assert!(delays.iter().all(|d| *d <= c.max));
            prop_assert!(delays.windows(2).all(|w| w[0] <= w[1]));
            if n > 1 {
                prop_assert_eq!(delays[1], c.initial.min(c.max));
            }
        }

        #[test]
        fn doubling_reaches_the_cap(c in config()) {
            prop_assume!(c.factor >= 2 && !c.initial.is_zero());
            prop_assert_eq!(Backoff::new(c).nth(64), Some(c.max));
        }

        #[test]
        fn reset_equals_fresh(c in config(), used in 0usize..50, n in 1usize..20) {
            let mut b = Backoff::new(c);
            for _ in 0..used { b.next(); }
            b.reset();
            let again: Vec<Duration> = b.take(n).collect();
            let fresh: Vec<Duration> = Backoff::new(c).take(n).collect();
            prop_assert_eq!(again, fresh);
        }
    }
}
