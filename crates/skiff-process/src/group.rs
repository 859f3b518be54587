//! Signalling and emptying a process group.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpgrp};
use tokio::time::Instant;

use crate::ProcessError;
use crate::procfs::group_members;

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
/// waits for the kernel to remove it.
pub(crate) async fn stop_group(
    instance: &str,
    pgid: i32,
    signal: Signal,
    grace: Duration,
) -> Result<Stopped, ProcessError> {
    if group_members(pgid).is_empty() {
        return Ok(Stopped::AlreadyGone);
    }
    if !signal_group(instance, pgid, signal)? {
        return Ok(Stopped::AlreadyGone);
    }
    // SIGCONT too: a stopped (SIGSTOP, ^Z) process would not act on the signal until resumed.
    let _ = signal_group(instance, pgid, Signal::SIGCONT)?;
    if wait_empty(pgid, Instant::now() + grace).await {
        return Ok(Stopped::Exited);
    }
    kill_group(instance, pgid).await?;
    Ok(Stopped::Killed)
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
