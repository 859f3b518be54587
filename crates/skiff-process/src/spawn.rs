//! One process in its own process group.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::logs::{LogWriter, capture};
use crate::spec::{InstanceId, Logs, ProcessSpec};
use crate::{ProcessError, group, procfs};

/// How long output may keep flowing after the group is gone (only a process that left the
/// group, by `setsid`, can still hold the pipes) before capture gives up.
const DRAIN: Duration = Duration::from_secs(2);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal (this number) killed it.
    Signal(i32),
    /// It is gone, but it was not skiff's child (adopted from a record), so how is unknown.
    Unknown,
}

impl Exit {
    /// The exit code as Docker reports it: the code, or 128 + the signal number.
    #[must_use]
    pub fn code(self) -> Option<i64> {
        match self {
            Exit::Code(c) => Some(i64::from(c)),
            Exit::Signal(s) => Some(128 + i64::from(s)),
            Exit::Unknown => None,
        }
    }

    /// Exit code 0.
    #[must_use]
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl From<std::process::ExitStatus> for Exit {
    fn from(status: std::process::ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            (None, None) => Exit::Unknown,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => match Signal::try_from(*s) {
                Ok(sig) => write!(f, "killed by {sig}"),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            Exit::Unknown => f.write_str("gone (exit status unknown)"),
        }
    }
}

/// A running process that skiff spawned, leader of its own process group.
///
/// Dropping it leaves the process running (a record can find it again); stop it first.
#[derive(Debug)]
pub struct Process {
    instance: String,
    child: tokio::process::Child,
    pid: i32,
    start_time: u64,
    started_at: SystemTime,
    stop_signal: Signal,
    grace: Duration,
    capture: Option<JoinHandle<()>>,
}

impl Process {
    /// Spawns the process in a new process group, stdin from `/dev/null`, output captured per
    /// `spec.logs`. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// An empty command, a missing working directory, a log file that cannot be opened, a
    /// program that cannot be executed.
    pub fn spawn(id: &InstanceId, spec: &ProcessSpec) -> Result<Process, ProcessError> {
        let instance = id.to_string();
        let Some((program, args)) = spec.argv.split_first() else {
            return Err(ProcessError::EmptyCommand { instance });
        };
        match std::fs::metadata(&spec.working_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ProcessError::WorkingDir {
                    instance,
                    dir: spec.working_dir.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotADirectory,
                        "not a directory",
                    ),
                });
            }
            Err(source) => {
                return Err(ProcessError::WorkingDir {
                    instance,
                    dir: spec.working_dir.clone(),
                    source,
                });
            }
        }
        let writer = match &spec.logs {
            Logs::File(file) => {
                Some(
                    LogWriter::open(file).map_err(|source| ProcessError::OpenLog {
                        instance: instance.clone(),
                        path: file.path.clone(),
                        source,
                    })?,
                )
            }
            Logs::Discard => None,
        };
        let output = || {
            if writer.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        restore_ignored_signals();
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .env_clear()
            .current_dir(&spec.working_dir)
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            // setpgid(0, 0) in the child before exec: the group exists before any code of
            // the program runs, so nothing it forks can be outside it.
            .process_group(0)
            .kill_on_drop(false);
        for name in &spec.inherit_env {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.envs(&spec.env);
        let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
            instance: instance.clone(),
            program: program.clone(),
            source,
        })?;
        let started_at = SystemTime::now();
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| ProcessError::Inspect {
                instance: instance.clone(),
                pid: -1,
                source: std::io::Error::other("the child has no pid"),
            })?;
        // Not reaped yet, so /proc/<pid> exists even if it already exited.
        let start_time = match procfs::stat(pid) {
            Ok(Some(stat)) => stat.start_time,
            Ok(None) => {
                return Err(ProcessError::Inspect {
                    instance,
                    pid,
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such process"),
                });
            }
            Err(source) => {
                return Err(ProcessError::Inspect {
                    instance,
                    pid,
                    source,
                });
            }
        };
        let capture = writer.map(|writer| {
            let stdout = child.stdout.take();
            let stderr = child.stderr.take();
            tokio::spawn(capture(stdout, stderr, writer))
        });
        Ok(Process {
            instance,
            child,
            pid,
            start_time,
            started_at,
            stop_signal: spec.stop_signal,
            grace: spec.stop_grace_period,
            capture,
        })
    }

    /// The process id, also its process group id.
    #[must_use]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The kernel's start time of the process (clock ticks since boot).
    #[must_use]
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// When it was spawned.
    #[must_use]
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// Waits for the process to exit; then kills what is left of its group and waits for its
    /// output to be written. Cancel-safe: calling it again after a cancellation resumes.
    ///
    /// # Errors
    /// Waiting failed, or leftover processes survived SIGKILL.
    pub async fn wait(&mut self) -> Result<Exit, ProcessError> {
        let status = self
            .child
            .wait()
            .await
            .map_err(|source| ProcessError::Wait {
                instance: self.instance.clone(),
                source,
            })?;
        group::kill_group(&self.instance, self.pid).await?;
        self.drain().await;
        Ok(Exit::from(status))
    }

    /// Stops the group: the stop signal to the group, up to the grace period for the group to
    /// empty, then SIGKILL to the group. Returns how the process itself ended.
    ///
    /// # Errors
    /// The group could not be signalled, or processes survived SIGKILL.
    pub async fn stop(&mut self) -> Result<Exit, ProcessError> {
        // Even when the leader already exited: what it left in the group gets the signal too.
        // The leader is reaped meanwhile, so that once the group is empty `kill(-pgid, 0)`
        // says so at once instead of a zombie keeping the group alive.
        {
            let stop = group::stop_group(&self.instance, self.pid, self.stop_signal, self.grace);
            tokio::pin!(stop);
            tokio::select! {
                stopped = &mut stop => stopped?,
                _ = self.child.wait() => stop.await?,
            };
        }
        self.wait().await
    }

    async fn drain(&mut self) {
        if let Some(task) = self.capture.as_mut() {
            if tokio::time::timeout(DRAIN, &mut *task).await.is_err() {
                task.abort();
            }
            self.capture = None;
        }
    }
}

/// Gives every child the default disposition of the signals that stop it, even when skiff
/// itself was started with them ignored (`nohup`, a shell's background job: SIGINT and
/// SIGQUIT ignored). An ignored signal stays ignored across exec, and a shell cannot even trap
/// one that was ignored when it started: a `stop_signal: SIGINT` service would never see its
/// signal. A handler does not survive exec, so a handler installed here (tokio's, never read:
/// the signal still has no effect on skiff) leaves the child the default. Only signals that
/// are ignored now are touched; once per process.
fn restore_ignored_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ignored = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| ignored_mask(&status))
            .unwrap_or(0);
        use tokio::signal::unix::SignalKind;
        for (signo, kind) in [
            (1, SignalKind::hangup()),
            (2, SignalKind::interrupt()),
            (3, SignalKind::quit()),
            (15, SignalKind::terminate()),
        ] {
            if ignored & (1u64 << (signo - 1)) != 0 {
                // The registration outlives the stream: tokio never uninstalls a handler.
                let _ = tokio::signal::unix::signal(kind);
            }
        }
    });
}

/// The `SigIgn:` mask of a `/proc/<pid>/status` (bit n-1 is signal n).
fn ignored_mask(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ignored_signals_are_read_from_proc() {
        let status = "Name:\tsh\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000006\n";
        let mask = ignored_mask(status).expect("a mask");
        assert_eq!(mask & (1 << 1), 2, "SIGINT");
        assert_eq!(mask & (1 << 2), 4, "SIGQUIT");
        assert_eq!(mask & (1 << 14), 0, "SIGTERM");
        assert_eq!(ignored_mask("Name:\tsh\n"), None);
    }

    #[test]
    fn exit_codes_follow_docker() {
        assert_eq!(Exit::Code(3).code(), Some(3));
        assert_eq!(Exit::Signal(9).code(), Some(137));
        assert_eq!(Exit::Signal(15).code(), Some(143));
        assert_eq!(Exit::Unknown.code(), None);
        assert!(Exit::Code(0).success());
        assert!(!Exit::Signal(15).success());
        assert_eq!(Exit::Signal(9).to_string(), "killed by SIGKILL");
        assert_eq!(Exit::Code(1).to_string(), "exit code 1");
    }
}
