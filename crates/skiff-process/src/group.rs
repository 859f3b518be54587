//! Signalling and emptying a process group.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpgrp};
use tokio::time::Instant;

use crate::ProcessError;
use crate::procfs::{escaped_descendants, group_members, is_same_process};

/// How often a group is checked while waiting for it to empty.
const POLL: Duration = Duration::from_millis(20);
/// How long processes may take to disappear after SIGKILL (they may be in uninterruptible
/// sleep for a while) before stopping is reported as failed.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How a group came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Nothing of it was running.
    AlreadyGone,
    /// It exited within the grace period.
    Exited,
    /// It was killed after the grace period.
    Killed,
}

/// Refuses groups that cannot be ours: 0 and 1 are not groups `kill(2)` should see, and a
/// record naming skiff's own group (corrupted, or written by hand) must not kill skiff.
fn check(instance: &str, pgid: i32) -> Result<Pid, ProcessError> {
    if pgid <= 1 || Pid::from_raw(pgid) == getpgrp() {
        return Err(ProcessError::UnsafeGroup {
            instance: instance.to_owned(),
            pgid,
        });
    }
    Ok(Pid::from_raw(pgid))
}

/// Sends `signal` to every process of the group; `false` when the group no longer exists.
pub(crate) fn signal_group(
    instance: &str,
    pgid: i32,
    signal: Signal,
) -> Result<bool, ProcessError> {
    match killpg(check(instance, pgid)?, signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(source) => Err(ProcessError::Signal {
            instance: instance.to_owned(),
            pgid,
            signal,
            source,
        }),
    }
}

/// Waits until no live process is left in the group, or the deadline; `true` when empty.
pub(crate) async fn wait_empty(pgid: i32, deadline: Instant) -> bool {
    loop {
        if group_members(pgid).is_empty() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

/// Sends `signal` to the group, waits up to `grace` for it to empty, then SIGKILLs it and
/// waits for the kernel to remove it. Descendants that had left the group (`setsid`) when
/// the stop began are given the same grace period to exit with it, then SIGKILLed too.
pub(crate) async fn stop_group(
    instance: &str,
    pgid: i32,
    signal: Signal,
    grace: Duration,
) -> Result<Stopped, ProcessError> {
    if group_members(pgid).is_empty() {
        return Ok(Stopped::AlreadyGone);
    }
    let escaped = escaped_descendants(pgid);
    if !signal_group(instance, pgid, signal)? {
        return Ok(Stopped::AlreadyGone);
    }
    // SIGCONT too: a stopped (SIGSTOP, ^Z) process would not act on the signal until resumed.
    let _ = signal_group(instance, pgid, Signal::SIGCONT)?;
    let deadline = Instant::now() + grace;
    let stopped = if wait_empty(pgid, deadline).await {
        Stopped::Exited
    } else {
        kill_group(instance, pgid).await?;
        Stopped::Killed
    };
    kill_escaped(&escaped, deadline).await;
    Ok(stopped)
}

/// Waits until the deadline for escaped descendants to exit, then SIGKILLs the survivors
/// (each checked by start time, so a reused pid is left alone).
async fn kill_escaped(escaped: &[(i32, u64)], deadline: Instant) {
    let alive = || -> Vec<(i32, u64)> {
        escaped
            .iter()
            .copied()
            .filter(|(pid, start)| is_same_process(*pid, *start))
            .collect()
    };
    loop {
        let left = alive();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for (pid, _) in left {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let until = Instant::now() + KILL_WAIT;
    while !alive().is_empty() && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
}

/// SIGKILLs the group and waits for its processes to disappear.
pub(crate) async fn kill_group(instance: &str, pgid: i32) -> Result<(), ProcessError> {
    if !signal_group(instance, pgid, Signal::SIGKILL)? {
        return Ok(());
    }
    if wait_empty(pgid, Instant::now() + KILL_WAIT).await {
        return Ok(());
    }
    Err(ProcessError::Survived {
        instance: instance.to_owned(),
        pgid,
        pids: group_members(pgid),
    })
}
