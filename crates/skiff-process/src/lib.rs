//! Native host processes for skiff: run, supervise and stop them (Linux only).
//!
//! The library that both the foreground `skiff up` and the daemon run. It knows processes, not
//! plans: a caller maps plan actions onto it (create/start = [`Supervisor::start`], remove =
//! [`Supervisor::stop`] or [`stop_recorded`], observe = [`observe`]).
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
//!   reports [`Event`]s by message and publishes a [`Status`] that callers can wait on.
//!
//! Non-goals: no CLI or terminal concerns, no plan logic, no cgroups or namespaces (a process
//! that calls `setsid` itself escapes its group; that is its right and skiff cannot see it),
//! no user switching.
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

mod backoff;
mod error;
mod group;
pub mod health;
pub mod logs;
mod procfs;
pub mod record;
mod spawn;
mod spec;
mod supervisor;

pub use backoff::{Backoff, BackoffConfig};
pub use error::ProcessError;
pub use health::{Health, HealthTest, Healthcheck};
pub use logs::{LogFile, LogLine, LogQuery, Stream};
pub use nix::sys::signal::Signal;
pub use record::{Observation, ObservedState, Record, observe, stop_recorded, sweep};
pub use spawn::{Exit, Process};
pub use spec::{InstanceId, Logs, ProcessSpec, parse_signal};
pub use supervisor::{
    AfterStop, Ending, Event, Report, RestartPolicy, RunState, Status, Supervisor, SupervisorConfig,
};
