//! Per job, folded from its runs' outcomes: how many ran and succeeded, the last run and its
//! outcome, and how many failed in a row (what `skiff jobs` and `skiff status` show).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Kind, Recorded};

/// The kinds that end a run, as a `--kind` list.
pub const JOB_OUTCOMES: &str = "job_succeeded,job_failed,job_timed_out";

/// One job's runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobSummary {
    pub project: String,
    pub job: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<DateTime<Utc>>,
    /// `succeeded`, `failed`, `timed_out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<&'static str>,
    pub runs: u32,
    pub succeeded: u32,
    /// Runs that failed (or timed out) in a row, up to the last.
    pub failing: u32,
}

/// What a run's outcome is called.
#[must_use]
pub fn outcome_name(kind: Kind) -> &'static str {
    match kind {
        Kind::JobSucceeded => "succeeded",
        Kind::JobTimedOut => "timed_out",
        _ => "failed",
    }
}

/// Per (project, job), from the runs' outcome events, oldest first; other events are
/// ignored.
#[must_use]
pub fn summarize_jobs(events: &[Recorded]) -> BTreeMap<(String, String), JobSummary> {
    let mut rows: BTreeMap<(String, String), JobSummary> = BTreeMap::new();
    for r in events {
        let e = &r.event;
        if !matches!(
            e.kind,
            Kind::JobSucceeded | Kind::JobFailed | Kind::JobTimedOut
        ) {
            continue;
        }
        let (Some(project), Some(job)) = (&e.project, e.detail["job"].as_str()) else {
            continue;
        };
        let row = rows
            .entry((project.clone(), job.to_owned()))
            .or_insert_with(|| JobSummary {
                project: project.clone(),
                job: job.to_owned(),
                ..JobSummary::default()
            });
        row.runs += 1;
        row.last_run = Some(e.time);
        row.last_outcome = Some(outcome_name(e.kind));
        if e.kind == Kind::JobSucceeded {
            row.succeeded += 1;
            row.failing = 0;
        } else {
            row.failing += 1;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn run(id: i64, kind: Kind, job: &str) -> Recorded {
        Recorded {
            id,
            event: Event::new(DateTime::from_timestamp(id, 0).expect("time"), kind)
                .project("p")
                .detail(serde_json::json!({"job": job})),
        }
    }

    #[test]
    fn runs_fold_into_counts_the_last_outcome_and_the_failing_streak() {
        let events = [
            run(1, Kind::JobFailed, "a"),
            run(2, Kind::JobSucceeded, "a"),
            run(3, Kind::JobFailed, "a"),
            run(4, Kind::JobTimedOut, "a"),
            run(5, Kind::JobStarted, "a"),
            run(6, Kind::JobSucceeded, "b"),
        ];
        let rows = summarize_jobs(&events);
        let a = &rows[&("p".to_owned(), "a".to_owned())];
        assert_eq!((a.runs, a.succeeded, a.failing), (4, 1, 2));
        assert_eq!(a.last_outcome, Some("timed_out"));
        assert_eq!(a.last_run, DateTime::from_timestamp(4, 0));
        let b = &rows[&("p".to_owned(), "b".to_owned())];
        assert_eq!((b.runs, b.succeeded, b.failing), (1, 1, 0));
    }
}
