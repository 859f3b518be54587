//! When a failed instance is restarted: pure, with time as an argument.
//!
//! ```text
//!                   failure (exit the policy restarts, unhealthy, restart failed)
//!                      |
//!   up for reset_after?  -- yes --> start over: backoff at 0, window empty, no crash loop
//!                      |
//!   `restarts` restarts already within `window`? -- yes --> crash loop (recorded once)
//!                      |
//!   delay = next backoff (0, initial, initial*factor, ... max)
//!   in a crash loop: Throttle(d) -> delay = max(delay, d);  Hold -> no restart
//! ```
//!
//! "Up" means running and not unhealthy; [`RestartTracker::settle`] (on every reconcile
//! tick) starts over for an instance that has been up for `reset_after`, which is how a
//! crash loop ends.

use std::collections::VecDeque;
use std::time::Duration;

use skiff_plan::Backoff;
use tokio::time::Instant;

use crate::config::{CrashLoopAction, RestartConfig};

/// One instance's restart history.
#[derive(Debug, Clone)]
pub(crate) struct RestartTracker {
    config: RestartConfig,
    backoff: Backoff,
    /// When recent restarts were decided, oldest first, within the crash-loop window.
    recent: VecDeque<Instant>,
    crash_loop: bool,
    /// Since when it has been up without interruption.
    up_since: Option<Instant>,
    /// Restarts decided since the last start-over.
    attempts: u32,
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Restart after this delay; `attempt` counts from 1 since the last start-over.
    Restart {
        after: Duration,
        attempt: u32,
        /// This failure entered the crash loop.
        entered_crash_loop: bool,
    },
    /// In a crash loop that holds: no restart.
    Hold { entered_crash_loop: bool },
}

impl RestartTracker {
    pub(crate) fn new(config: RestartConfig) -> RestartTracker {
        RestartTracker {
            config,
            backoff: Backoff::new(config.backoff),
            recent: VecDeque::new(),
            crash_loop: false,
            up_since: None,
            attempts: 0,
        }
    }

    /// Restarts decided since the last start-over (what `on-failure:N` counts).
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn config(&self) -> &RestartConfig {
        &self.config
    }

    pub(crate) fn in_crash_loop(&self) -> bool {
        self.crash_loop
    }

    /// It runs (and is not unhealthy) from `now` on, unless it already was.
    pub(crate) fn up(&mut self, now: Instant) {
        self.up_since.get_or_insert(now);
    }

    /// It stopped being up (unhealthy, or down) without a decision yet.
    pub(crate) fn down(&mut self) {
        self.up_since = None;
    }

    /// It failed at `now`: what to do.
    pub(crate) fn failed(&mut self, now: Instant) -> Decision {
        if self.stable(now) {
            self.start_over();
        }
        self.up_since = None;
        let window = self.config.crash_loop.window;
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            self.recent.pop_front();
        }
        let threshold = usize::try_from(self.config.crash_loop.restarts).unwrap_or(usize::MAX);
        let entered_crash_loop = !self.crash_loop && self.recent.len() >= threshold;
        self.crash_loop |= entered_crash_loop;
        let mut after = self.backoff.next().unwrap_or(self.config.backoff.max);
        if self.crash_loop {
            match self.config.crash_loop.then {
                CrashLoopAction::Throttle(floor) => after = after.max(floor),
                CrashLoopAction::Hold => return Decision::Hold { entered_crash_loop },
            }
        }
        self.attempts = self.attempts.saturating_add(1);
        self.recent.push_back(now);
        Decision::Restart {
            after,
            attempt: self.attempts,
            entered_crash_loop,
        }
    }

    /// On a tick: an instance up for `reset_after` starts over. Returns whether that ended
    /// a crash loop.
    pub(crate) fn settle(&mut self, now: Instant) -> bool {
        if (self.attempts > 0 || self.crash_loop) && self.stable(now) {
            let was = self.crash_loop;
            self.start_over();
            return was;
        }
        false
    }

    fn stable(&self, now: Instant) -> bool {
        self.up_since
            .is_some_and(|t| now.saturating_duration_since(t) >= self.config.backoff.reset_after)
    }

    fn start_over(&mut self) {
        self.backoff.reset();
        self.recent.clear();
        self.crash_loop = false;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use skiff_plan::BackoffConfig;

    use super::*;
    use crate::config::CrashLoopConfig;

    /// What happens to an instance, at seconds since the start.
    #[derive(Clone, Copy)]
    enum Step {
        /// It fails; the restart (if any) happens after the decided delay, and it runs
        /// from then on.
        Fail,
        /// It fails `n` seconds after its restart.
        RunsThenFails(u64),
        /// A reconcile tick `n` seconds after its restart.
        Tick(u64),
    }

    /// Runs the steps on a tracker: the decisions (delay in seconds or "hold", crash loop
    /// entered) and the settles that ended a crash loop.
    fn check(config: RestartConfig, steps: &[Step], expect: &[&str]) {
        let start = Instant::now();
        let mut tracker = RestartTracker::new(config);
        let mut now = start;
        let mut got = Vec::new();
        let decide =
            |tracker: &mut RestartTracker, now: &mut Instant, got: &mut Vec<String>| match tracker
                .failed(*now)
            {
                Decision::Restart {
                    after,
                    entered_crash_loop,
                    ..
                } => {
                    got.push(format!(
                        "{}{}",
                        after.as_secs(),
                        if entered_crash_loop {
                            " crash-loop"
                        } else {
                            ""
                        }
                    ));
                    *now += after;
                    tracker.up(*now);
                }
                Decision::Hold { entered_crash_loop } => got.push(format!(
                    "hold{}",
                    if entered_crash_loop {
                        " crash-loop"
                    } else {
                        ""
                    }
                )),
            };
        for step in steps {
            match *step {
                Step::Fail => decide(&mut tracker, &mut now, &mut got),
                Step::RunsThenFails(secs) => {
                    now += Duration::from_secs(secs);
                    decide(&mut tracker, &mut now, &mut got);
                }
                Step::Tick(secs) => {
                    if tracker.settle(now + Duration::from_secs(secs)) {
                        got.push("recovered".to_owned());
                    }
                }
            }
        }
        assert_eq!(got, expect);
    }

    fn defaults() -> RestartConfig {
        RestartConfig::default()
    }

    #[test]
    fn immediate_then_doubling_then_the_crash_loop_throttles() {
        check(
            defaults(),
            &[Step::Fail; 9],
            &[
                "0",
                "10",
                "20",
                "40",
                "80",
                "300 crash-loop",
                "300",
                "300",
                "300",
            ],
        );
    }

    #[test]
    fn a_hold_stops_restarting() {
        let config = RestartConfig {
            crash_loop: CrashLoopConfig {
                restarts: 3,
                then: CrashLoopAction::Hold,
                ..CrashLoopConfig::default()
            },
            ..defaults()
        };
        check(
            config,
            &[Step::Fail; 5],
            &["0", "10", "20", "hold crash-loop", "hold"],
        );
    }

    #[test]
    fn staying_up_long_enough_starts_over() {
        check(
            defaults(),
            &[
                Step::Fail,
                Step::Fail,
                Step::Fail,
                // Up for 60 s (reset_after) before failing again: back to an immediate restart.
                Step::RunsThenFails(60),
                Step::RunsThenFails(59),
            ],
            &["0", "10", "20", "0", "10"],
        );
    }

    #[test]
    fn restarts_spread_beyond_the_window_are_no_crash_loop() {
        let config = RestartConfig {
            backoff: BackoffConfig {
                reset_after: Duration::from_secs(3600),
                ..BackoffConfig::default()
            },
            ..defaults()
        };
        // Each run lasts 200 s: 5 restarts never fit in 10 minutes.
        check(
            config,
            &[Step::RunsThenFails(200); 8],
            &["0", "10", "20", "40", "80", "160", "300", "300"],
        );
    }

    #[test]
    fn a_tick_after_a_stable_run_ends_the_crash_loop() {
        check(
            defaults(),
            &[
                Step::Fail,
                Step::Fail,
                Step::Fail,
                Step::Fail,
                Step::Fail,
                Step::Fail,
                Step::Tick(30),
                Step::Tick(60),
                Step::Tick(120),
                Step::RunsThenFails(500),
            ],
            &[
                "0",
                "10",
                "20",
                "40",
                "80",
                "300 crash-loop",
                "recovered",
                "0",
            ],
        );
    }

    #[test]
    fn a_custom_backoff_is_followed() {
        let config = RestartConfig {
            backoff: BackoffConfig {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(4),
                factor: 2,
                reset_after: Duration::from_secs(60),
            },
            crash_loop: CrashLoopConfig {
                restarts: 100,
                ..CrashLoopConfig::default()
            },
        };
        check(config, &[Step::Fail; 6], &["0", "1", "2", "4", "4", "4"]);
    }
}
