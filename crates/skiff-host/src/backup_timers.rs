//! When a stack's backups and restore drills run, and when its backups are stale: pure, with
//! time passed in, so the daemon's thread that runs them is only a shell (sleep until
//! [`BackupTimers::next_wake`], run what [`BackupTimers::due`] says, report each outcome to
//! [`BackupTimers::finished`]).
//!
//! Schedules go through the jobs' scheduler: one job per schedule (`backup:NAME`,
//! `drill:NAME`), never overlapping, no retries, a missed run not caught up (the staleness
//! alert says when backups fall behind). A backup is stale when a run failed and its last
//! success (or the start of the schedule) is more than two of its periods ago: one run was
//! missed, and the next failed too. Staleness is reported once until a backup succeeds again.
//!
//! What the timers remember comes from the history ([`BackupTimers::new`] takes its backup
//! events), so a daemon started again measures staleness from the last success it recorded,
//! not from its own start, and does not report again a staleness it reported before.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use skiff_jobs::{Decision, JobSpec, Outcome, RunKey, Schedule, Scheduler};
use skiff_model::xskiff::{Backup, Missed, Overlap};
use skiff_store::{Kind, Recorded};

/// A run to make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The backup's name (a key of `x-skiff.backups`).
    pub backup: String,
    /// The restore drill, not the backup.
    pub drill: bool,
    run: RunKey,
}

/// A backup older than its schedule allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub backup: String,
    /// Its last success, if it ever succeeded since the schedule began.
    pub last_success: Option<DateTime<Utc>>,
}

/// The schedules of one stack's backups and drills.
pub struct BackupTimers {
    scheduler: Scheduler,
    periods: BTreeMap<String, Schedule>,
    /// Since when each backup has been scheduled: its first event in the history, or the
    /// start of these timers.
    started: BTreeMap<String, DateTime<Utc>>,
    started_now: DateTime<Utc>,
    last_success: BTreeMap<String, DateTime<Utc>>,
    stale_reported: BTreeMap<String, bool>,
    jobs: usize,
}

impl BackupTimers {
    /// The timers of these declarations, starting at `now`, remembering what `history` (this
    /// project's events, oldest first; others are ignored) says of earlier runs; a schedule
    /// that does not parse is left out (the loader refused it already).
    #[must_use]
    pub fn new(
        backups: &BTreeMap<String, Backup>,
        now: DateTime<Utc>,
        history: &[Recorded],
    ) -> BackupTimers {
        let mut specs = Vec::new();
        let mut periods = BTreeMap::new();
        for (name, b) in backups {
            let when = [
                ("backup", b.schedule.as_ref()),
                ("drill", b.verify.as_ref().and_then(|v| v.schedule.as_ref())),
            ];
            for (kind, schedule) in when {
                let Some(schedule) = schedule.and_then(|s| Schedule::new(&s.0, None).ok()) else {
                    continue;
                };
                if kind == "backup" {
                    periods.insert(name.clone(), schedule.clone());
                }
                specs.push(JobSpec {
                    name: format!("{kind}:{name}"),
                    schedule,
                    overlap: Overlap::Forbid,
                    timeout: None,
                    retries: 0,
                    missed: Missed::Skip,
                });
            }
        }
        let jobs = specs.len();
        let (scheduler, _) = Scheduler::new(specs, now, &BTreeMap::new(), Vec::new());
        let mut timers = BackupTimers {
            scheduler,
            periods,
            started: BTreeMap::new(),
            started_now: now,
            last_success: BTreeMap::new(),
            stale_reported: BTreeMap::new(),
            jobs,
        };
        for r in history {
            let e = &r.event;
            let Some(backup) = e.detail["backup"].as_str() else {
                continue;
            };
            if !backups.contains_key(backup) || e.time > now {
                continue;
            }
            match e.kind {
                Kind::BackupSucceeded => {
                    timers.last_success.insert(backup.to_owned(), e.time);
                    timers.stale_reported.insert(backup.to_owned(), false);
                }
                Kind::BackupStale => {
                    timers.stale_reported.insert(backup.to_owned(), true);
                }
                Kind::BackupFailed => {}
                _ => continue,
            }
            timers.started.entry(backup.to_owned()).or_insert(e.time);
        }
        timers
    }

    /// The kinds of event [`BackupTimers::new`] reads from the history.
    pub const REMEMBERS: [Kind; 3] = [Kind::BackupSucceeded, Kind::BackupFailed, Kind::BackupStale];

    /// How many schedules there are (backups and drills).
    #[must_use]
    pub fn len(&self) -> usize {
        self.jobs
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.jobs == 0
    }

    /// When something is next due.
    #[must_use]
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.scheduler.next_wake()
    }

    /// The runs due at `now`, in order.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        self.scheduler
            .tick(now)
            .into_iter()
            .filter_map(|d| match d {
                Decision::Start { run, .. } => {
                    let (kind, name) = run.job.split_once(':')?;
                    Some(Due {
                        backup: name.to_owned(),
                        drill: kind == "drill",
                        run,
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// A run ended at `now`; returns the staleness to report, if it made the backup stale.
    pub fn finished(&mut self, due: &Due, succeeded: bool, now: DateTime<Utc>) -> Option<Stale> {
        let outcome = if succeeded {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        self.scheduler.finished(&due.run, outcome, now);
        if due.drill {
            return None;
        }
        let name = &due.backup;
        if succeeded {
            self.last_success.insert(name.clone(), now);
            self.stale_reported.insert(name.clone(), false);
            return None;
        }
        let period = self.periods.get(name).and_then(|s| s.period_at(now))?;
        let since = self
            .last_success
            .get(name)
            .or_else(|| self.started.get(name))
            .copied()
            .unwrap_or(self.started_now);
        let reported = self.stale_reported.get(name).copied().unwrap_or(false);
        if now - since > period * 2 && !reported {
            self.stale_reported.insert(name.clone(), true);
            return Some(Stale {
                backup: name.clone(),
                last_success: self.last_success.get(name).copied(),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn backups(yaml: &[(&str, &str, Option<&str>)]) -> BTreeMap<String, Backup> {
        yaml.iter()
            .map(|(name, schedule, drill)| {
                let mut v =
                    serde_json::json!({"path": "./data", "to": ["/b"], "schedule": schedule});
                if let Some(d) = drill {
                    v["verify"] = serde_json::json!({"schedule": d});
                }
                (
                    (*name).to_owned(),
                    serde_json::from_value(v).expect("a backup"),
                )
            })
            .collect()
    }

    /// The run due at `h`:00, finished a minute later: what staleness it reports.
    fn hour(t: &mut BackupTimers, h: u32, succeeded: bool) -> Option<Stale> {
        let run = t.due(at(h, 0)).remove(0);
        t.finished(&run, succeeded, at(h, 1))
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn backups_and_drills_come_due_on_their_schedules() {
        let mut t = BackupTimers::new(
            &backups(&[("db", "0 * * * *", Some("30 * * * *"))]),
            at(9, 10),
            &[],
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.next_wake(), Some(at(9, 30)));
        assert!(t.due(at(9, 29)).is_empty());
        let due = t.due(at(9, 30));
        assert_eq!(due.len(), 1);
        assert!(due[0].drill);
        assert_eq!(due[0].backup, "db");
        assert_eq!(
            t.finished(&due[0], false, at(9, 31)),
            None,
            "drills are never stale"
        );
        assert_eq!(t.next_wake(), Some(at(10, 0)));
        let due = t.due(at(10, 0));
        assert_eq!((due.len(), due[0].drill), (1, false));
    }

    #[test]
    fn a_running_backup_is_not_started_twice_and_a_missed_run_is_not_caught_up() {
        let mut t = BackupTimers::new(&backups(&[("db", "0 * * * *", None)]), at(9, 10), &[]);
        let first = t.due(at(10, 0));
        assert_eq!(first.len(), 1);
        // Still running at the next hour: that run is skipped (overlap forbid).
        assert!(t.due(at(11, 0)).is_empty());
        assert_eq!(t.finished(&first[0], true, at(11, 5)), None);
        // Asleep until 14:00: one run then, not the three missed.
        assert_eq!(t.due(at(14, 0)).len(), 1);
    }

    #[test]
    fn staleness_is_two_periods_without_a_success_reported_once() {
        let mut t = BackupTimers::new(&backups(&[("db", "0 * * * *", None)]), at(9, 0), &[]);
        assert_eq!(hour(&mut t, 10, true), None);
        // 11:00 fails: an hour since the success, not stale yet.
        assert_eq!(hour(&mut t, 11, false), None);
        // 12:00 fails too: two hours and a minute since the last success: stale.
        let run = t.due(at(12, 0)).remove(0);
        assert_eq!(
            t.finished(&run, false, at(12, 2)),
            Some(Stale {
                backup: "db".into(),
                last_success: Some(at(10, 1)),
            })
        );
        // Said once, until it succeeds again.
        assert_eq!(hour(&mut t, 13, false), None);
        assert_eq!(hour(&mut t, 14, true), None);
        for h in 15..=16 {
            assert_eq!(hour(&mut t, h, false), None);
        }
        assert!(hour(&mut t, 17, false).is_some());
    }

    #[test]
    fn a_backup_that_never_succeeded_is_stale_from_the_start_of_its_schedule() {
        let mut t = BackupTimers::new(&backups(&[("db", "0 * * * *", None)]), at(9, 30), &[]);
        for h in 10..=11 {
            assert_eq!(hour(&mut t, h, false), None, "{h}:00");
        }
        let run = t.due(at(12, 0)).remove(0);
        assert_eq!(
            t.finished(&run, false, at(12, 1)),
            Some(Stale {
                backup: "db".into(),
                last_success: None,
            })
        );
    }

    fn recorded(kind: Kind, time: DateTime<Utc>, backup: &str) -> Recorded {
        Recorded {
            id: 0,
            event: skiff_store::Event::new(time, kind)
                .project("app")
                .detail(serde_json::json!({"backup": backup})),
        }
    }

    #[test]
    fn a_daemon_started_again_measures_staleness_from_the_success_it_recorded() {
        let history = [
            recorded(Kind::BackupFailed, at(6, 0), "db"),
            recorded(Kind::BackupSucceeded, at(8, 1), "db"),
            recorded(Kind::BackupSucceeded, at(8, 2), "gone"),
        ];
        // Started again at 9:30: 10:00 fails (two hours since 8:01), 11:00 too: stale,
        // where timers that forgot would wait for 11:30.
        let mut t = BackupTimers::new(&backups(&[("db", "0 * * * *", None)]), at(9, 30), &history);
        assert_eq!(hour(&mut t, 10, false), None);
        let run = t.due(at(11, 0)).remove(0);
        assert_eq!(
            t.finished(&run, false, at(11, 1)),
            Some(Stale {
                backup: "db".into(),
                last_success: Some(at(8, 1)),
            })
        );
    }

    #[test]
    fn a_staleness_reported_before_a_restart_is_not_reported_again() {
        let history = [
            recorded(Kind::BackupFailed, at(6, 0), "db"),
            recorded(Kind::BackupStale, at(8, 1), "db"),
        ];
        let mut t = BackupTimers::new(&backups(&[("db", "0 * * * *", None)]), at(9, 30), &history);
        for h in 10..=12 {
            assert_eq!(hour(&mut t, h, false), None, "{h}:00");
        }
        // A success clears it; two failing periods later it is said again.
        assert_eq!(hour(&mut t, 13, true), None);
        for h in 14..=15 {
            assert_eq!(hour(&mut t, h, false), None);
        }
        assert!(hour(&mut t, 16, false).is_some());
    }

    #[test]
    fn a_backup_that_never_succeeded_is_stale_from_its_first_recorded_run() {
        let history = [recorded(Kind::BackupFailed, at(7, 0), "db")];
        let mut t = BackupTimers::new(&backups(&[("db", "0 * * * *", None)]), at(9, 30), &history);
        assert!(hour(&mut t, 10, false).is_some());
    }
}
