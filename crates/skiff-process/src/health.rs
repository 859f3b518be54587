//! Compose healthchecks, run on the host with Docker's semantics.
//!
//! A probe runs the test (`CMD` argv, or `CMD-SHELL` through `/bin/sh -c`) with the service's
//! environment and working directory, in its own process group, killed at the timeout. Exit 0
//! passes; anything else, a timeout or a failure to run fails. [`HealthState`] is Docker's
//! state machine (moby `daemon/health.go`): `starting` until the first pass; any pass makes
//! the instance `healthy` and clears the failing streak; a failure adds to the streak, except
//! while still `starting` within the start period; `retries` failures in a row make it
//! `unhealthy`. Probes run `interval` apart, `start_interval` apart while still `starting`
//! within the start period. Zero durations and zero retries mean Docker's defaults.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::spawn::Exit;
use crate::spec::ProcessSpec;

/// Docker keeps this much of a probe's output.
const MAX_OUTPUT: usize = 4096;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;

/// What a probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTest {
    /// `["CMD", program, args...]`: run directly.
    Cmd(Vec<String>),
    /// `["CMD-SHELL", script]` (or a plain string): run by `/bin/sh -c`.
    Shell(String),
}

/// A healthcheck, resolved (Compose's `test: ["NONE"]` and `disable: true` mean no
/// healthcheck at all, which is `None` for the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: HealthTest,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
    pub start_interval: Duration,
}

impl Healthcheck {
    /// Docker's defaults: every 30 s, 30 s timeout, 3 retries, no start period, 5 s start
    /// interval.
    #[must_use]
    pub fn new(test: HealthTest) -> Healthcheck {
        Healthcheck {
            test,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            start_period: Duration::ZERO,
            start_interval: DEFAULT_START_INTERVAL,
        }
    }
}

/// Docker's health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub passed: bool,
    /// How the probe exited; `None` when it timed out or could not be run.
    pub exit: Option<Exit>,
    /// Its stdout then stderr, at most 4 KiB; or why it failed to run.
    pub output: String,
}

/// Docker's health state machine, without a clock: times are passed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    status: Health,
    failing_streak: u32,
    interval: Duration,
    start_interval: Duration,
    start_period: Duration,
    retries: u32,
}

fn or_default(d: Duration, default: Duration) -> Duration {
    if d.is_zero() { default } else { d }
}

impl HealthState {
    #[must_use]
    pub fn new(check: &Healthcheck) -> HealthState {
        HealthState {
            status: Health::Starting,
            failing_streak: 0,
            interval: or_default(check.interval, DEFAULT_INTERVAL),
            start_interval: or_default(check.start_interval, DEFAULT_START_INTERVAL),
            start_period: check.start_period,
            retries: if check.retries == 0 {
                DEFAULT_RETRIES
            } else {
                check.retries
            },
        }
    }

    #[must_use]
    pub fn status(&self) -> Health {
        self.status
    }

    #[must_use]
    pub fn failing_streak(&self) -> u32 {
        self.failing_streak
    }

    /// How long to wait before the next probe, `since_start` after the process started.
    #[must_use]
    pub fn next_interval(&self, since_start: Duration) -> Duration {
        if since_start < self.start_period && self.status == Health::Starting {
            self.start_interval
        } else {
            self.interval
        }
    }

    /// Takes the result of a probe that began `since_start` after the process started;
    /// returns the new status when it changed.
    pub fn record(&mut self, passed: bool, since_start: Duration) -> Option<Health> {
        let before = self.status;
        if passed {
            self.failing_streak = 0;
            self.status = Health::Healthy;
        } else if !(self.status == Health::Starting && since_start < self.start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= self.retries {
                self.status = Health::Unhealthy;
            }
        }
        (self.status != before).then_some(self.status)
    }
}

/// A change of health, with the output of the probe that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthUpdate {
    pub health: Health,
    pub output: String,
}

/// Runs one probe with the environment and working directory of `spec`.
pub async fn probe(check: &Healthcheck, spec: &ProcessSpec) -> Probe {
    let (program, args): (&str, Vec<&str>) = match &check.test {
        HealthTest::Shell(script) => ("/bin/sh", vec!["-c", script.as_str()]),
        HealthTest::Cmd(argv) => match argv.split_first() {
            Some((p, rest)) => (p.as_str(), rest.iter().map(String::as_str).collect()),
            None => {
                return Probe {
                    passed: false,
                    exit: None,
                    output: "the healthcheck command is empty".into(),
                };
            }
        },
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .current_dir(&spec.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in &spec.inherit_env {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.envs(&spec.env);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Probe {
                passed: false,
                exit: None,
                output: format!("run {program:?}: {e}"),
            };
        }
    };
    // Whatever happens to this future (a timeout, the monitor being aborted), the probe's
    // whole group goes with it.
    let _guard = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(KillGroupOnDrop);
    let timeout = or_default(check.timeout, DEFAULT_TIMEOUT);
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let mut bytes = out.stdout;
            bytes.extend_from_slice(&out.stderr);
            bytes.truncate(MAX_OUTPUT);
            let exit = Exit::from(out.status);
            Probe {
                passed: exit.success(),
                exit: Some(exit),
                output: String::from_utf8_lossy(&bytes).into_owned(),
            }
        }
        Ok(Err(e)) => Probe {
            passed: false,
            exit: None,
            output: format!("wait for the healthcheck: {e}"),
        },
        Err(_) => Probe {
            passed: false,
            exit: None,
            output: format!("health check exceeded timeout ({timeout:?})"),
        },
    }
}

/// SIGKILLs a probe's process group when dropped.
struct KillGroupOnDrop(i32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if self.0 > 1 {
            let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

/// Probes for as long as it runs (the supervisor aborts it when the process exits) and
/// sends each change of health.
pub(crate) async fn monitor(
    check: Healthcheck,
    spec: ProcessSpec,
    started: Instant,
    updates: mpsc::UnboundedSender<HealthUpdate>,
) {
    let mut state = HealthState::new(&check);
    loop {
        tokio::time::sleep(state.next_interval(started.elapsed())).await;
        let began = started.elapsed();
        let probe = probe(&check, &spec).await;
        if let Some(health) = state.record(probe.passed, began)
            && updates
                .send(HealthUpdate {
                    health,
                    output: probe.output,
                })
                .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: u32, start_period: u64) -> Healthcheck {
        Healthcheck {
            retries,
            start_period: Duration::from_secs(start_period),
            interval: Duration::from_secs(10),
            start_interval: Duration::from_secs(1),
            ..Healthcheck::new(HealthTest::Shell("true".into()))
        }
    }

    /// Feeds (passed, seconds since start) results; returns the status after each.
    fn run(check: &Healthcheck, results: &[(bool, u64)]) -> Vec<Health> {
        let mut state = HealthState::new(check);
        results
            .iter()
            .map(|(passed, at)| {
                state.record(*passed, Duration::from_secs(*at));
                state.status()
            })
            .collect()
    }

    use Health::{Healthy, Starting, Unhealthy};

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy() {
        let c = check(3, 0);
        assert_eq!(
            run(&c, &[(false, 1), (false, 2), (false, 3)]),
            [Starting, Starting, Unhealthy]
        );
        assert_eq!(
            run(
                &c,
                &[(true, 1), (false, 2), (false, 3), (true, 4), (false, 5)]
            ),
            [Healthy, Healthy, Healthy, Healthy, Healthy]
        );
        assert_eq!(
            run(&c, &[(true, 1), (false, 2), (false, 3), (false, 4)]),
            [Healthy, Healthy, Healthy, Unhealthy]
        );
        // An unhealthy instance recovers on one pass.
        assert_eq!(
            run(&c, &[(false, 1), (false, 2), (false, 3), (true, 4)]),
            [Starting, Starting, Unhealthy, Healthy]
        );
    }

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        let c = check(1, 30);
        assert_eq!(
            run(&c, &[(false, 1), (false, 29), (false, 30)]),
            [Starting, Starting, Unhealthy]
        );
        // Once healthy, the start period no longer shields failures.
        assert_eq!(run(&c, &[(true, 1), (false, 2)]), [Healthy, Unhealthy]);
    }

    #[test]
    fn zero_means_default() {
        let c = Healthcheck {
            retries: 0,
            interval: Duration::ZERO,
            ..check(0, 0)
        };
        assert_eq!(
            run(&c, &[(false, 1), (false, 2), (false, 3)]),
            [Starting, Starting, Unhealthy]
        );
        assert_eq!(
            HealthState::new(&c).next_interval(Duration::ZERO),
            DEFAULT_INTERVAL
        );
    }

    #[test]
    fn start_interval_applies_while_starting_in_the_start_period() {
        let c = check(3, 30);
        let mut state = HealthState::new(&c);
        assert_eq!(
            state.next_interval(Duration::from_secs(0)),
            Duration::from_secs(1)
        );
        assert_eq!(
            state.next_interval(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
        state.record(true, Duration::from_secs(2));
        assert_eq!(
            state.next_interval(Duration::from_secs(3)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn record_reports_changes_only() {
        let mut state = HealthState::new(&check(2, 0));
        assert_eq!(state.record(false, Duration::ZERO), None);
        assert_eq!(state.record(false, Duration::ZERO), Some(Unhealthy));
        assert_eq!(state.record(false, Duration::ZERO), None);
        assert_eq!(state.failing_streak(), 3);
        assert_eq!(state.record(true, Duration::ZERO), Some(Healthy));
        assert_eq!(state.failing_streak(), 0);
    }
}
