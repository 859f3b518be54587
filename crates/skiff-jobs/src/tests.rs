//! The scheduler under chosen times: due times, overlap rules, timeouts, retries, missed runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use skiff_model::xskiff::{Missed, Overlap};

use super::*;

fn t0() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().expect("time")
}

fn secs(n: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(n)
}

fn job(cron: &str, overlap: Overlap) -> JobSpec {
    JobSpec {
        name: "report".into(),
        schedule: Schedule::new(cron, None).expect("schedule"),
        overlap,
        timeout: None,
        retries: 0,
        missed: Missed::RunOnce,
    }
}

fn starts(d: &[Decision]) -> Vec<(DateTime<Utc>, u32, Trigger)> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Start { run, trigger } => Some((run.due, run.attempt, *trigger)),
            _ => None,
        })
        .collect()
}

fn run(due: DateTime<Utc>) -> RunKey {
    RunKey {
        job: "report".into(),
        due,
        attempt: 0,
    }
}

#[test]
fn runs_start_at_their_due_times_and_not_before() {
    let (mut s, d) = Scheduler::new(
        vec![job("*/2 * * * * *", Overlap::Allow)],
        secs(0),
        &BTreeMap::new(),
        vec![],
    );
    assert!(d.is_empty(), "a new job does not run at once: {d:?}");
    assert_eq!(s.next_wake(), Some(secs(2)));
    assert!(s.tick(secs(1)).is_empty());
    assert_eq!(starts(&s.tick(secs(2))), [(secs(2), 0, Trigger::Schedule)]);
    assert_eq!(s.next_due("report"), Some(secs(4)));
    // Woken late, past several due times: one run, for the latest.
    assert_eq!(starts(&s.tick(secs(9))), [(secs(8), 0, Trigger::Schedule)]);
    assert_eq!(s.next_due("report"), Some(secs(10)));
}

#[test]
fn forbid_skips_a_run_while_one_runs_allow_runs_both_replace_stops_the_old() {
    let (mut s, _) = Scheduler::new(
        vec![job("*/2 * * * * *", Overlap::Forbid)],
        secs(0),
        &BTreeMap::new(),
        vec![],
    );
    assert_eq!(starts(&s.tick(secs(2))).len(), 1);
    let d = s.tick(secs(4));
    assert_eq!(
        d,
        [Decision::Skip {
            job: "report".into(),
            due: secs(4),
            running: run(secs(2)),
        }]
    );
    s.finished(&run(secs(2)), Outcome::Succeeded, secs(5));
    assert_eq!(starts(&s.tick(secs(6))).len(), 1);

    let (mut s, _) = Scheduler::new(
        vec![job("*/2 * * * * *", Overlap::Allow)],
        secs(0),
        &BTreeMap::new(),
        vec![],
    );
    s.tick(secs(2));
    assert_eq!(starts(&s.tick(secs(4))).len(), 1);
    assert_eq!(s.running().len(), 2);

    let (mut s, _) = Scheduler::new(
        vec![job("*/2 * * * * *", Overlap::Replace)],
        secs(0),
        &BTreeMap::new(),
        vec![],
    );
    s.tick(secs(2));
    let d = s.tick(secs(4));
    assert_eq!(
        d[0],
        Decision::Stop {
            run: run(secs(2)),
            why: StopReason::Replaced
        }
    );
    assert_eq!(starts(&d), [(secs(4), 0, Trigger::Schedule)]);
    // Asked once: a second due time while the old one is still stopping asks no more.
    let d = s.tick(secs(6));
    let stops = d
        .iter()
        .filter(|d| matches!(d, Decision::Stop { run, .. } if run.due == secs(2)))
        .count();
    assert_eq!(stops, 0, "{d:?}");
}

#[test]
fn a_run_past_its_timeout_is_stopped_once() {
    let mut spec = job("0 * * * * *", Overlap::Forbid);
    spec.timeout = Some(std::time::Duration::from_secs(5));
    let (mut s, _) = Scheduler::new(vec![spec], secs(0), &BTreeMap::new(), vec![]);
    s.tick(secs(60));
    assert_eq!(s.next_wake(), Some(secs(65)));
    assert!(s.tick(secs(64)).is_empty());
    assert_eq!(
        s.tick(secs(65)),
        [Decision::Stop {
            run: run(secs(60)),
            why: StopReason::TimedOut
        }]
    );
    assert!(s.tick(secs(66)).is_empty());
    assert_eq!(s.next_wake(), Some(secs(120)));
    s.finished(&run(secs(60)), Outcome::TimedOut, secs(67));
    assert!(s.running().is_empty());
}

#[test]
fn a_failed_run_is_retried_with_backoff_up_to_its_retries() {
    let mut spec = job("0 0 * * * *", Overlap::Forbid);
    spec.retries = 2;
    let (mut s, _) = Scheduler::new(vec![spec], secs(0), &BTreeMap::new(), vec![]);
    let hour = secs(3600);
    s.tick(hour);
    s.finished(&run(hour), Outcome::Failed, hour + Duration::seconds(1));
    let first_retry = hour + Duration::seconds(11);
    assert_eq!(s.next_wake(), Some(first_retry));
    assert_eq!(starts(&s.tick(first_retry)), [(hour, 1, Trigger::Retry)]);
    let retry = RunKey {
        attempt: 1,
        ..run(hour)
    };
    s.finished(&retry, Outcome::Failed, first_retry);
    // 20 s the second time.
    let second = first_retry + Duration::seconds(20);
    assert!(s.tick(second - Duration::seconds(1)).is_empty());
    assert_eq!(starts(&s.tick(second)), [(hour, 2, Trigger::Retry)]);
    let last = RunKey {
        attempt: 2,
        ..run(hour)
    };
    s.finished(&last, Outcome::Failed, second);
    // No attempts left: the next is the next due time.
    assert_eq!(s.next_wake(), Some(secs(7200)));
    // A success or a timeout is never retried.
    s.tick(secs(7200));
    s.finished(&run(secs(7200)), Outcome::TimedOut, secs(7201));
    assert_eq!(s.next_wake(), Some(secs(10800)));
}

#[test]
fn missed_runs_are_caught_up_once_when_recent_or_reported() {
    // Hourly; the last run started for 01:00; the daemon comes back at 03:10.
    let spec = job("0 0 * * * *", Overlap::Forbid);
    let last = BTreeMap::from([("report".to_owned(), secs(3600))]);
    let now = secs(3 * 3600 + 600);
    let (s, d) = Scheduler::new(vec![spec.clone()], now, &last, vec![]);
    assert_eq!(starts(&d), [(secs(3 * 3600), 0, Trigger::CatchUp)]);
    assert!(d.contains(&Decision::Missed {
        job: "report".into(),
        count: 1,
        last: secs(3 * 3600),
    }));
    assert_eq!(s.next_due("report"), Some(secs(4 * 3600)));

    // Skip: nothing runs, both are reported.
    let mut skip = spec.clone();
    skip.missed = Missed::Skip;
    let (_, d) = Scheduler::new(vec![skip], now, &last, vec![]);
    assert!(starts(&d).is_empty());
    assert_eq!(
        d,
        [Decision::Missed {
            job: "report".into(),
            count: 2,
            last: secs(3 * 3600),
        }]
    );

    // A due time already started for is not started again (a daemon killed during a run).
    let last = BTreeMap::from([("report".to_owned(), secs(3 * 3600))]);
    let (_, d) = Scheduler::new(vec![spec.clone()], now, &last, vec![]);
    assert!(d.is_empty(), "{d:?}");

    // Daily, back more than a period after the latest due time: reported, not run.
    let daily = job("@daily", Overlap::Forbid);
    let last = BTreeMap::from([("report".to_owned(), t0())]);
    let (_, d) = Scheduler::new(
        vec![daily],
        t0() + Duration::days(3) + Duration::hours(1),
        &last,
        vec![],
    );
    assert_eq!(starts(&d).len(), 1, "the latest is an hour old: {d:?}");
}

#[test]
fn runs_left_by_an_earlier_daemon_count_for_overlap() {
    let spec = job("*/2 * * * * *", Overlap::Forbid);
    let (mut s, d) = Scheduler::new(
        vec![spec],
        secs(1),
        &BTreeMap::from([("report".to_owned(), secs(0))]),
        vec![(run(secs(0)), secs(0))],
    );
    assert!(d.is_empty());
    assert!(matches!(s.tick(secs(2))[..], [Decision::Skip { .. }]));
    s.finished(&run(secs(0)), Outcome::Lost, secs(3));
    assert_eq!(starts(&s.tick(secs(4))).len(), 1);
}

#[test]
fn a_redeploy_keeps_runs_and_counts_a_changed_schedule_from_now() {
    let (mut s, _) = Scheduler::new(
        vec![job("*/2 * * * * *", Overlap::Forbid)],
        secs(0),
        &BTreeMap::new(),
        vec![],
    );
    s.tick(secs(2));
    s.update(vec![job("*/2 * * * * *", Overlap::Forbid)], secs(3));
    assert_eq!(s.running(), [run(secs(2))]);
    assert_eq!(s.next_due("report"), Some(secs(4)));
    s.update(vec![job("*/5 * * * * *", Overlap::Forbid)], secs(3));
    assert_eq!(s.next_due("report"), Some(secs(5)));
    s.update(vec![], secs(3));
    assert!(s.running().is_empty());
    assert_eq!(s.next_wake(), None);
}

#[test]
fn run_ids_name_the_due_time_and_attempt() {
    assert_eq!(run(secs(2)).id(), "1772323202000-0");
}
