//! The scheduler: which runs start, are skipped, stopped or retried, when. Pure: every call
//! takes `now`, and the driver carries the decisions out and reports runs that end.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use skiff_model::xskiff::{Missed, Overlap};

use crate::Schedule;

/// First delay before a failed run is tried again; it doubles per attempt, up to [`RETRY_MAX`].
pub const RETRY_INITIAL: Duration = Duration::seconds(10);
/// Longest delay between attempts.
pub const RETRY_MAX: Duration = Duration::minutes(5);
/// Missed due times counted at most (a yearly job's decade offline is still one report).
const MISSED_CAP: u32 = 10_000;

/// One job as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub name: String,
    pub schedule: Schedule,
    pub overlap: Overlap,
    pub timeout: Option<std::time::Duration>,
    pub retries: u32,
    pub missed: Missed,
}

/// A run: its job, the due time it is for, and which attempt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunKey {
    pub job: String,
    pub due: DateTime<Utc>,
    pub attempt: u32,
}

impl RunKey {
    /// The run's ID, as `skiff jobs logs --run` takes it: the due time (UNIX seconds and
    /// milliseconds) and the attempt.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}-{}", self.due.timestamp_millis(), self.attempt)
    }
}

/// Why a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// It is due.
    Schedule,
    /// Its due time passed while no daemon ran (`missed: run_once`).
    CatchUp,
    /// The previous attempt failed (`retries`).
    Retry,
}

impl Trigger {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "missed",
            Trigger::Retry => "retry",
        }
    }
}

/// Why a run is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It outlived its `timeout`.
    TimedOut,
    /// A new run replaces it (`overlap: replace`).
    Replaced,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// A non-zero exit, or it could not start.
    Failed,
    /// Stopped: it outlived its timeout.
    TimedOut,
    /// Stopped: a new run replaced it.
    Replaced,
    /// Gone without an outcome (its record outlived it).
    Lost,
}

/// What the driver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start this run now.
    Start { run: RunKey, trigger: Trigger },
    /// A due run not started: an earlier one still runs (`overlap: forbid`).
    Skip {
        job: String,
        due: DateTime<Utc>,
        running: RunKey,
    },
    /// Stop this run (with its service's grace period).
    Stop { run: RunKey, why: StopReason },
    /// Due times that passed while no daemon ran and that no run is started for.
    Missed {
        job: String,
        count: u32,
        last: DateTime<Utc>,
    },
}

#[derive(Debug)]
struct JobState {
    spec: JobSpec,
    next_due: Option<DateTime<Utc>>,
    /// Runs going, with when they started.
    running: BTreeMap<RunKey, DateTime<Utc>>,
    /// Runs asked to stop (asked once).
    stopping: BTreeSet<RunKey>,
    /// The next attempt of a failed run, and when.
    retry: Option<(DateTime<Utc>, RunKey)>,
}

/// The jobs of one project.
#[derive(Debug, Default)]
pub struct Scheduler {
    jobs: BTreeMap<String, JobState>,
}

impl Scheduler {
    /// The scheduler of a project's jobs as a daemon finds them when it starts: `last_due`
    /// holds, per job, the latest due time a run was started for (from the runs' own
    /// records; none for a job never run here), and `running` the runs an earlier daemon
    /// left going. Returns the catch-up runs and missed due times per each job's rule.
    #[must_use]
    pub fn new(
        specs: Vec<JobSpec>,
        now: DateTime<Utc>,
        last_due: &BTreeMap<String, DateTime<Utc>>,
        running: Vec<(RunKey, DateTime<Utc>)>,
    ) -> (Scheduler, Vec<Decision>) {
        let mut s = Scheduler::default();
        let mut out = Vec::new();
        for spec in specs {
            let name = spec.name.clone();
            let mut state = JobState {
                next_due: spec.schedule.next_after(now),
                spec,
                running: BTreeMap::new(),
                stopping: BTreeSet::new(),
                retry: None,
            };
            for (run, started) in running.iter().filter(|(r, _)| r.job == name) {
                state.running.insert(run.clone(), *started);
            }
            if let Some(last) = last_due.get(&name) {
                catch_up(&mut state, *last, now, &mut out);
            }
            s.jobs.insert(name, state);
        }
        (s, out)
    }

    /// The project's jobs changed (a new deploy): jobs kept keep their runs and retries, a
    /// changed schedule counts from now, new jobs start counting from now, and removed jobs
    /// are forgotten (their runs go on to their end, still reported).
    pub fn update(&mut self, specs: Vec<JobSpec>, now: DateTime<Utc>) {
        let mut jobs = BTreeMap::new();
        for spec in specs {
            let name = spec.name.clone();
            let state = match self.jobs.remove(&name) {
                Some(mut old) => {
                    if old.spec.schedule.text() != spec.schedule.text()
                        || old.spec.schedule.timezone() != spec.schedule.timezone()
                    {
                        old.next_due = spec.schedule.next_after(now);
                    }
                    old.spec = spec;
                    old
                }
                None => JobState {
                    next_due: spec.schedule.next_after(now),
                    spec,
                    running: BTreeMap::new(),
                    stopping: BTreeSet::new(),
                    retry: None,
                },
            };
            jobs.insert(name, state);
        }
        self.jobs = jobs;
    }

    /// What is due at `now`: timeouts, retries, scheduled runs.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Decision> {
        let mut out = Vec::new();
        for state in self.jobs.values_mut() {
            if let Some(timeout) = state.spec.timeout.and_then(|t| Duration::from_std(t).ok()) {
                let expired: Vec<RunKey> = state
                    .running
                    .iter()
                    .filter(|(run, started)| {
                        **started + timeout <= now && !state.stopping.contains(*run)
                    })
                    .map(|(run, _)| run.clone())
                    .collect();
                for run in expired {
                    state.stopping.insert(run.clone());
                    out.push(Decision::Stop {
                        run,
                        why: StopReason::TimedOut,
                    });
                }
            }
            if let Some((at, _)) = &state.retry
                && *at <= now
                && let Some((_, run)) = state.retry.take()
            {
                start(state, run, Trigger::Retry, now, &mut out);
            }
            if let Some(next) = state.next_due
                && next <= now
            {
                // Late (a busy or suspended host): one run, for the latest due time.
                let due = state.spec.schedule.last_at_or_before(now).unwrap_or(next);
                state.next_due = state.spec.schedule.next_after(now);
                // A new due time supersedes a pending retry of an older one.
                state.retry = None;
                let run = RunKey {
                    job: state.spec.name.clone(),
                    due,
                    attempt: 0,
                };
                start(state, run, Trigger::Schedule, now, &mut out);
            }
        }
        out
    }

    /// A run ended. A failed one is tried again when its job allows more attempts (and no
    /// newer due time has come since).
    pub fn finished(&mut self, run: &RunKey, outcome: Outcome, now: DateTime<Utc>) {
        let Some(state) = self.jobs.get_mut(&run.job) else {
            return;
        };
        state.running.remove(run);
        state.stopping.remove(run);
        let newer = state.running.keys().any(|r| r.due > run.due);
        if outcome == Outcome::Failed && run.attempt < state.spec.retries && !newer {
            let delay = RETRY_INITIAL
                .checked_mul(1 << run.attempt.min(16))
                .unwrap_or(RETRY_MAX)
                .min(RETRY_MAX);
            state.retry = Some((
                now + delay,
                RunKey {
                    attempt: run.attempt + 1,
                    ..run.clone()
                },
            ));
        }
    }

    /// When [`Self::tick`] next has something to do.
    #[must_use]
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        let mut wake: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| wake = Some(wake.map_or(t, |w| w.min(t)));
        for state in self.jobs.values() {
            if let Some(t) = state.next_due {
                consider(t);
            }
            if let Some((t, _)) = &state.retry {
                consider(*t);
            }
            if let Some(timeout) = state.spec.timeout.and_then(|t| Duration::from_std(t).ok()) {
                for (run, started) in &state.running {
                    if !state.stopping.contains(run) {
                        consider(*started + timeout);
                    }
                }
            }
        }
        wake
    }

    /// The next due time of a job.
    #[must_use]
    pub fn next_due(&self, job: &str) -> Option<DateTime<Utc>> {
        self.jobs.get(job).and_then(|s| s.next_due)
    }

    /// The runs going.
    #[must_use]
    pub fn running(&self) -> Vec<RunKey> {
        self.jobs
            .values()
            .flat_map(|s| s.running.keys().cloned())
            .collect()
    }
}

/// A run due now, per the job's overlap rule.
fn start(
    state: &mut JobState,
    run: RunKey,
    trigger: Trigger,
    now: DateTime<Utc>,
    out: &mut Vec<Decision>,
) {
    if let Some(first) = state.running.keys().next().cloned() {
        match state.spec.overlap {
            Overlap::Forbid => {
                out.push(Decision::Skip {
                    job: run.job,
                    due: run.due,
                    running: first,
                });
                return;
            }
            Overlap::Allow => {}
            Overlap::Replace => {
                for old in state.running.keys() {
                    if state.stopping.insert(old.clone()) {
                        out.push(Decision::Stop {
                            run: old.clone(),
                            why: StopReason::Replaced,
                        });
                    }
                }
            }
        }
    }
    state.running.insert(run.clone(), now);
    out.push(Decision::Start { run, trigger });
}

/// Due times between `last` (exclusive) and `now` that no run was started for: the latest
/// runs now under `missed: run_once` when it is less than one period old; the rest are
/// reported missed.
fn catch_up(
    state: &mut JobState,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
    out: &mut Vec<Decision>,
) {
    let schedule = state.spec.schedule.clone();
    let Some(latest) = schedule.last_at_or_before(now) else {
        return;
    };
    if latest <= last {
        return;
    }
    let mut count = 0u32;
    let mut t = last;
    while let Some(next) = schedule.next_after(t) {
        if next > latest || count >= MISSED_CAP {
            break;
        }
        count += 1;
        t = next;
    }
    let recent = schedule.period_at(now).is_some_and(|p| now - latest < p);
    if state.spec.missed == Missed::RunOnce && recent {
        let run = RunKey {
            job: state.spec.name.clone(),
            due: latest,
            attempt: 0,
        };
        start(state, run, Trigger::CatchUp, now, out);
        count = count.saturating_sub(1);
    }
    if count > 0 {
        out.push(Decision::Missed {
            job: state.spec.name.clone(),
            count,
            last: latest,
        });
    }
}
