//! Who keeps the processes running once a command has started them.
//!
//! - The foreground `skiff up` supervises them itself ([`foreground`]): its supervisors
//!   restart them per their policies, their output and the containers' is shown merged, and
//!   Ctrl-C or SIGTERM stops the stack's containers and processes with their grace periods,
//!   as docker compose stops a foreground stack. It returns when everything has stopped.
//! - `up -d`, `start` and `restart` hand them to a detached supervisor ([`delegate`]): skiff
//!   runs itself again as `skiff supervise -- <the same command line>` in a new session,
//!   which carries out the plan, reports its progress as JSON lines on a pipe (shown here as
//!   any `up` shows it), and then keeps supervising until all its processes are stopped
//!   ([`run_detached`]); its own output goes to `<state>/<project>/supervisor.log`.
//!   `down` and `stop` reach it through the records' stop markers. (The skiff daemon will
//!   take this role.)
//!
//! A lock file (`<state>/<project>/lock`) keeps two skiff processes from changing one
//! project's processes at once; it is held while a plan is carried out, not while processes
//! are merely supervised.
#![expect(
    clippy::print_stderr,
    reason = "the terminal edge; the detached supervisor's standard error is its log file"
)]

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use miette::{IntoDiagnostic, miette};
use serde::{Deserialize, Serialize};
use skiff_docker::Engine;
use skiff_plan::State;
use skiff_process::{AfterStop, ProcessRuntime, Report};
use skiff_runtime::{Event, RuntimeError};
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::progress::{Describe, Progress};
use skiff_host::stack::Stack;

/// In which role a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Run by the user.
    Cli,
    /// Run as `skiff supervise -- ...`: report on standard output, then keep supervising.
    Supervisor,
}

/// A line the detached supervisor writes to the command that started it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "message", rename_all = "snake_case")]
pub enum Message {
    Event {
        event: Event,
    },
    /// The plan was carried out; `supervised` processes are kept running by `pid`.
    Converged {
        pid: u32,
        supervised: usize,
    },
    Failed {
        pid: u32,
        supervised: usize,
        errors: Vec<String>,
    },
}

/// Writes one message line on standard output (the pipe to the starting command). Write
/// errors are ignored: that command may have gone, and supervision goes on without it.
pub fn emit(message: &Message) {
    if let Ok(mut line) = serde_json::to_string(message) {
        line.push('\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Takes the project's lock, saying so when another skiff process holds it.
///
/// # Errors
/// The state directory cannot be written.
pub async fn lock(stack: &Stack) -> miette::Result<std::fs::File> {
    let waiting = || {
        eprintln!(
            "Waiting for another skiff to finish with project {}...",
            stack.name
        );
    };
    skiff_host::supervision::lock(stack, &waiting)
        .await
        .map_err(|e| miette!("{e}"))
}

/// Stops what this command started (after a failed `up` in the foreground).
pub async fn stop_owned(processes: &ProcessRuntime) {
    for e in skiff_host::supervision::stop_owned(processes).await {
        log(&format!("stop: {e}"));
    }
}

pub use skiff_host::supervision::forget_project_if_empty;

/// Runs this command line again as a detached supervisor, shows its progress, and returns
/// once it has carried out the plan (it then goes on supervising on its own).
///
/// # Errors
/// The supervisor could not be started, or the plan failed.
pub async fn delegate(stack: &Stack, describe: Describe, json: bool) -> miette::Result<()> {
    let log_path = skiff_host::supervision::supervisor_log(stack);
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).into_diagnostic()?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| miette!("cannot open {}: {e}", log_path.display()))?;
    let exe = std::env::current_exe()
        .map_err(|e| miette!("cannot find skiff's own executable to start a supervisor: {e}"))?;
    let mut child = tokio::process::Command::new(exe)
        .arg("supervise")
        .arg("--")
        .args(std::env::args_os().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| miette!("cannot start a skiff supervisor: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| miette!("the supervisor has no standard output"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let shown = Progress::new(json, describe);
    let outcome = loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<Message>(&line) {
                Ok(Message::Event { event }) => shown.event(&event),
                Ok(Message::Converged { pid, supervised }) => break Ok((pid, supervised)),
                Ok(Message::Failed { errors, .. }) => break Err(errors),
                Err(_) => {}
            },
            Ok(None) | Err(_) => {
                break Err(vec![format!(
                    "the supervisor ended before carrying out the plan; from {}:\n{}",
                    log_path.display(),
                    tail(&log_path, 8)
                )]);
            }
        }
    };
    shown.finish();
    match outcome {
        Ok((pid, supervised)) => {
            if !json && supervised > 0 {
                eprintln!(
                    "{supervised} process{} supervised in the background by skiff (pid {pid}); \
                     `skiff ps`, `skiff logs -f`, `skiff down`.",
                    if supervised == 1 { "" } else { "es" }
                );
            }
            Ok(())
        }
        Err(errors) => Err(miette!(
            help = "run the command again to resume: it continues from what is running; `skiff logs SERVICE` shows why a service failed",
            "the stack did not converge:\n  {}",
            errors.join("\n  ")
        )),
    }
}

fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The detached supervisor after carrying out its plan: reports the outcome, then keeps its
/// processes running until all of them have stopped (or SIGTERM/SIGINT stops them).
pub async fn run_detached(
    processes: &ProcessRuntime,
    reports: UnboundedReceiver<Report>,
    result: Result<(), Vec<RuntimeError>>,
) {
    let supervisors = processes.take_supervisors();
    let pid = std::process::id();
    let supervised = supervisors.len();
    match &result {
        Ok(()) => emit(&Message::Converged { pid, supervised }),
        Err(errors) => emit(&Message::Failed {
            pid,
            supervised,
            errors: errors.iter().map(ToString::to_string).collect(),
        }),
    }
    log(&format!(
        "supervising {supervised} process instance(s) of project {}",
        processes.project()
    ));
    skiff_host::supervision::keep_running(supervisors, reports, &log).await;
    log("every process has stopped; the supervisor exits");
}

fn log(text: &str) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    eprintln!("{now} {text}");
}

/// The foreground of `skiff up`: shows the output of the selected services (from `since`),
/// reports restarts and health, and stops the stack on Ctrl-C or SIGTERM. Returns when it
/// was stopped, or when nothing of the selected services runs any more.
///
/// # Errors
/// Signals cannot be listened for; stopping failed.
pub async fn foreground(
    stack: &Stack,
    engine: Option<&Engine>,
    processes: &ProcessRuntime,
    mut reports: UnboundedReceiver<Report>,
    services: &[String],
    since: SystemTime,
) -> miette::Result<()> {
    let mut int = signal(SignalKind::interrupt()).into_diagnostic()?;
    let mut term = signal(SignalKind::terminate()).into_diagnostic()?;
    eprintln!(
        "Attached: Ctrl-C stops the stack's containers and processes (`skiff up -d` leaves them running)."
    );
    let options = super::logs::Options {
        services: services.to_vec(),
        follow: true,
        since: Some(since),
        tail: None,
    };
    let logs = super::logs::print(stack, engine, &options);
    tokio::pin!(logs);
    let mut logs_done = false;
    let selected = |service: &str| services.iter().any(|s| s == service);
    let stop = loop {
        tokio::select! {
            r = &mut logs, if !logs_done => {
                logs_done = true;
                if let Err(e) = r {
                    eprintln!("logs: {e}");
                }
            }
            Some(report) = reports.recv() => {
                if let Some(text) = skiff_host::supervision::report_text(&report) {
                    eprintln!("{text}");
                }
            }
            _ = int.recv() => break true,
            _ = term.recv() => break true,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let observed = super::observe(stack, engine, processes).await?;
                let running = observed.instances.iter().any(|i| {
                    selected(&i.service)
                        && matches!(i.state, State::Running | State::Restarting | State::Paused)
                });
                if !running {
                    break false;
                }
            }
        }
    };
    if stop {
        eprintln!("Stopping the stack: each service gets its grace period...");
        let observed = super::observe(stack, engine, processes).await?;
        let running: Vec<skiff_plan::Instance> = observed
            .instances
            .into_iter()
            .filter(|i| selected(&i.service))
            .filter(|i| matches!(i.state, State::Running | State::Restarting | State::Paused))
            .collect();
        let hybrid = skiff_host::hybrid::Hybrid::new(stack, engine, processes);
        let say = |line: String| eprintln!("{line}");
        let stopping = hybrid.stop_instances(&running, AfterStop::KeepRecord, &say);
        tokio::pin!(stopping);
        let errors = loop {
            tokio::select! {
                r = &mut logs, if !logs_done => { logs_done = true; let _ = r; }
                errors = &mut stopping => break errors,
                Some(report) = reports.recv() => {
                    if let Some(text) = skiff_host::supervision::report_text(&report) {
                        eprintln!("{text}");
                    }
                }
            }
        };
        // The last lines the services wrote while stopping.
        if !logs_done {
            let _ = tokio::time::timeout(Duration::from_millis(300), &mut logs).await;
        }
        if !errors.is_empty() {
            return Err(miette!(
                "stopping did not finish:\n  {}",
                errors.join("\n  ")
            ));
        }
        eprintln!("Stopped.");
    } else {
        if !logs_done {
            let _ = tokio::time::timeout(Duration::from_millis(300), &mut logs).await;
        }
        eprintln!("Every service has stopped.");
    }
    Ok(())
}
