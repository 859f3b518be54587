//! Cron jobs, decided purely: when each job of a project is due (cron with optional seconds,
//! in its time zone), and what its rules make of that — `overlap` (forbid, allow, replace),
//! `timeout`, `retries` with backoff, `missed` runs after a time without a daemon. The
//! [`Scheduler`] takes `now` in every call and returns [`Decision`]s; the daemon's driver
//! carries them out (one-off containers and processes) and reports runs that end. No clock,
//! no I/O.

mod schedule;
mod scheduler;

pub use schedule::{Schedule, ScheduleError};
pub use scheduler::{
    Decision, JobSpec, Outcome, RETRY_INITIAL, RETRY_MAX, RunKey, Scheduler, StopReason, Trigger,
};

use skiff_model::xskiff::Job;

/// A declared job as the scheduler takes it.
///
/// # Errors
/// A schedule croner refuses (the loader has checked it already).
pub fn spec(name: &str, job: &Job) -> Result<JobSpec, ScheduleError> {
    Ok(JobSpec {
        name: name.to_owned(),
        schedule: Schedule::new(&job.schedule.0, job.timezone.as_ref().map(|t| t.0))?,
        overlap: job.overlap,
        timeout: job.timeout.map(|t| t.0),
        retries: job.retries,
        missed: job.missed,
    })
}

#[cfg(test)]
mod tests;
