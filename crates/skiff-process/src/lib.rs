//! Native host processes for skiff: run, supervise and stop them (Linux only).
//!
//! The library that both the foreground `skiff up` and the daemon run. Its parts know
//! processes, not plans; [`ProcessRuntime`] alone maps plan actions onto them (create/start =
//! [`Supervisor::start`], remove = [`Supervisor::stop`] or [`stop_instance`], observe =
//! [`observe`]).
//!
//! - [`Process`]: one spawned process in its own process group (`setpgid(0, 0)` through
//!   `Command::process_group`), with an environment built only from what the [`ProcessSpec`]
//!   lists. Stopping sends the stop signal to the whole group, waits the grace period for the
//!   group to empty, then SIGKILLs the group: grandchildren that stayed in the group die too.
//!   When the main process exits on its own, what is left of its group is killed, as the
//!   kernel does to a container's processes when its init exits.
//! - [`logs`]: stdout and stderr captured line by line, with an RFC 3339 UTC timestamp and the
//!   stream name, into a per-instance file rotated by size; read back (since a time, the last
//!   lines) and followed across rotations.
//! - [`record`]: a JSON record per instance (pid, pgid, kernel start time, boot id, config hash,
//!   argv, never environment values), replaced atomically, so that another skiff process
//!   can find, adopt or stop what an earlier one started ([`observe`], [`sweep`]).
//! - [`health`]: Compose healthchecks (`CMD`, `CMD-SHELL`) run on the host with Docker's
//!   semantics for interval, timeout, retries, start period and start interval.
//! - [`Supervisor`]: restarts one instance per its [`RestartPolicy`] with a pure [`Backoff`],
//!   reports [`Event`]s by message and publishes a [`Status`] that callers can wait on. It
//!   stops when asked through its handle, or through a stop marker that any skiff process
//!   may leave beside the record ([`record::stop_instance`]).
//! - [`service`]: a Compose service (`x-skiff: {runtime: process}`, or `--native`) resolved
//!   into a [`ProcessService`]: argv, environment, healthcheck, restart policy, signals, and
//!   the configuration the planner compares (environment values only as digests).
//! - [`ProcessRuntime`]: the `skiff_runtime::Runtime` over all this, so one plan and one
//!   executor drive processes as they drive containers.
//!
//! Non-goals: no CLI or terminal concerns, no plan logic, no cgroups or namespaces, no user
//! switching. A process that calls `setsid` leaves its group (PostgreSQL's server processes
//! do): stopping looks after the descendants that had left when the stop began (same grace
//! period, then SIGKILL by pid), but one that left and lost its parent before is not seen.
//!
//! # An instance's life
//!
//! ```text
//!            start (spawn + record: running)
//!                 |
//!                 v
//!   +-------> Running --- stop ---> stop group (signal, grace, SIGKILL) --> Finished
//!   |             |                                                          (record: exited,
//!   |        leader exits                                                     or removed)
//!   |     (leftovers SIGKILLed)
//!   |             |
//!   |             v
//!   |     policy + retries? --- no ---> Finished (record: exited)
//!   |             | yes
//!   |             v
//!   +------ Restarting (record: restarting; wait Backoff::next(); stop ends it here too)
//! ```
#![cfg(target_os = "linux")]

mod error;
mod group;
pub mod health;
pub mod logs;
mod procfs;
pub mod record;
mod runtime;
pub mod service;
mod spawn;
mod spec;
mod supervisor;

use std::path::PathBuf;

pub use error::ProcessError;
pub use health::{Health, HealthTest, Healthcheck};
pub use logs::{LogFile, LogLine, LogQuery, Stream};
pub use nix::sys::signal::Signal;
pub use record::{
    Observation, ObservedState, Record, observe, stop_instance, stop_recorded, sweep,
};
pub use runtime::{ProcessRuntime, instance_id, log_path, parse_instance_id};
pub use service::{Origin, ProcessService, Unsupported};
pub use skiff_plan::{Backoff, BackoffConfig};
pub use spawn::{Exit, Process};
pub use spec::{InstanceId, Logs, ProcessSpec, parse_signal};
pub use supervisor::{
    AfterStop, Ending, Event, Report, RestartPolicy, RunState, Status, Supervisor, SupervisorConfig,
};

/// Where skiff keeps records and logs of processes: `$SKIFF_STATE_DIR`, else
/// `$XDG_STATE_HOME/skiff`, else `~/.local/state/skiff` (one subdirectory per project).
/// `env` looks a variable up; empty values count as unset. `None` without any of them.
#[must_use]
pub fn state_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("SKIFF_STATE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_STATE_HOME") {
        return Some(PathBuf::from(dir).join("skiff"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".local/state/skiff"))
}

/// Whether `pid` is the live process that started at `start_time` (the kernel's clock ticks
/// since boot, as [`Process::start_time`] gives it), and not a later one reusing the pid.
#[must_use]
pub fn is_live_process(pid: i32, start_time: u64) -> bool {
    procfs::is_same_process(pid, start_time)
}

/// Stops a process group skiff did not spawn in this process (one found by its record):
/// `signal` to the group, up to `grace` for it to empty, then SIGKILL, as a stop of an
/// instance does.
///
/// # Errors
/// The group could not be signalled, or processes survived SIGKILL.
pub async fn stop_process_group(
    name: &str,
    pgid: i32,
    signal: Signal,
    grace: std::time::Duration,
) -> Result<(), ProcessError> {
    group::stop_group(name, pgid, signal, grace)
        .await
        .map(|_| ())
}

/// Makes this process the leader of a new session without a controlling terminal, so that
/// a supervisor started from a shell outlives it and the terminal's signals (Ctrl-C,
/// hang-up) never reach it. Call it first thing in a process that was not started as a
/// process group leader.
///
/// # Errors
/// The process already leads a process group.
pub fn new_session() -> Result<(), ProcessError> {
    nix::unistd::setsid()
        .map(|_| ())
        .map_err(|source| ProcessError::Session { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_follows_the_variables_in_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            state_dir(env(&[("SKIFF_STATE_DIR", "/s"), ("HOME", "/h")])),
            Some(PathBuf::from("/s"))
        );
        assert_eq!(
            state_dir(env(&[("SKIFF_STATE_DIR", ""), ("XDG_STATE_HOME", "/x")])),
            Some(PathBuf::from("/x/skiff"))
        );
        assert_eq!(
            state_dir(env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.local/state/skiff"))
        );
        assert_eq!(state_dir(env(&[])), None);
    }
}
