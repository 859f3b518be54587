//! Supervising a project's processes from a skiff command (not the daemon): the project
//! lock that keeps two skiff processes from changing one project's processes at once, the
//! detached supervisor's loop, stopping what a command started, and a supervision event as a
//! line for people. The binary chooses who supervises and draws the terminal.

use std::time::Duration;

use skiff_process::{AfterStop, Ending, ProcessRuntime, Report, RunState, Supervisor};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::stack::Stack;

/// The state directory cannot be written or locked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SupervisionError(String);

impl SupervisionError {
    fn new(message: String) -> SupervisionError {
        SupervisionError(message)
    }
}

/// Takes the project's lock, waiting for another skiff process to finish with it.
///
/// # Errors
/// The state directory cannot be written.
pub async fn lock(stack: &Stack, waiting: &dyn Fn()) -> Result<std::fs::File, SupervisionError> {
    let dir = stack.state_dir.join(&stack.name);
    std::fs::create_dir_all(&dir).map_err(|e| {
        SupervisionError::new(format!(
            "cannot create the state directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| SupervisionError::new(format!("cannot open {}: {e}", path.display())))?;
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !announced {
                    waiting();
                    announced = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(SupervisionError::new(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
    }
}

/// Where the detached supervisor of a project writes what it does.
pub fn supervisor_log(stack: &Stack) -> std::path::PathBuf {
    stack.state_dir.join(&stack.name).join("supervisor.log")
}

/// The detached supervisor's loop: logs what its processes do, until all of them have
/// finished, or SIGTERM or SIGINT asks it to stop them (SIGHUP is ignored: it has no
/// terminal).
pub async fn keep_running(
    supervisors: Vec<Supervisor>,
    mut reports: UnboundedReceiver<Report>,
    log: &dyn Fn(&str),
) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log("cannot listen for signals; supervising anyway");
        while !all_finished(&supervisors) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        return;
    };
    loop {
        if all_finished(&supervisors) {
            return;
        }
        tokio::select! {
            Some(report) = reports.recv() => {
                if let Some(text) = report_text(&report) {
                    log(&text);
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    log("asked to stop: stopping every process it supervises");
    for e in stop_all(supervisors).await {
        log(&format!("stop: {e}"));
    }
}

pub fn all_finished(supervisors: &[Supervisor]) -> bool {
    supervisors
        .iter()
        .all(|s| matches!(s.status().state, RunState::Finished { .. }))
}

/// Stops every supervised process (in parallel); returns what failed.
pub async fn stop_all(supervisors: Vec<Supervisor>) -> Vec<String> {
    let stops = supervisors
        .into_iter()
        .map(|s| s.stop(AfterStop::KeepRecord));
    futures_util::future::join_all(stops)
        .await
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect()
}

/// Stops what this command started (after a failed `up` in the foreground: nothing may run
/// on without a supervisor).
pub async fn stop_owned(processes: &ProcessRuntime) -> Vec<String> {
    stop_all(processes.take_supervisors()).await
}

/// A supervision event as a line for people; `None` for the unremarkable ones.
pub fn report_text(report: &Report) -> Option<String> {
    use skiff_process::Event as E;
    let name = report.instance.to_string();
    Some(match &report.event {
        E::Started { restarts: 0, .. } | E::Adopted { .. } => return None,
        E::Started { pid, restarts } => {
            format!("process {name}: started again (pid {pid}, restart {restarts})")
        }
        E::Exited { exit, ran_for } => {
            format!("process {name}: {exit} after {:.1}s", ran_for.as_secs_f64())
        }
        E::Restarting { after, attempt } => format!(
            "process {name}: restarting in {:.1}s (restart {attempt})",
            after.as_secs_f64()
        ),
        E::HealthChanged { health, output } => {
            let state = serde_json::to_value(health)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let first = output
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>();
            if first.is_empty() || *health != skiff_process::Health::Unhealthy {
                format!("process {name}: {state}")
            } else {
                format!("process {name}: {state} ({first})")
            }
        }
        E::SpawnFailed { error } | E::Error { error } => format!("process {name}: {error}"),
        E::Finished {
            ending: Ending::RetriesExhausted,
            ..
        } => format!("process {name}: restarts exhausted, left stopped"),
        E::Finished { .. } => return None,
    })
}

/// After `down`: deletes the project's state directory once no record is left in it.
pub fn forget_project_if_empty(stack: &Stack) {
    let dir = stack.state_dir.join(&stack.name);
    let has_records = std::fs::read_dir(&dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "json"))
    });
    if !has_records {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
