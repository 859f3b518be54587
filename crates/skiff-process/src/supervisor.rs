//! One instance, kept running per its restart policy.
//!
//! A [`Supervisor`] is a task that owns the process; its handle sends it commands (stop) and
//! reads its [`Status`]; everything that happens is reported as an [`Event`] on a channel, so
//! that the daemon's event loop, not the supervisor, owns the daemon's state. The record of
//! the instance follows each step (running, restarting, exited), so another skiff process
//! sees what this one sees. The life of an instance is drawn in the crate's documentation.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::group::{kill_group, stop_group};
use crate::health::{Health, HealthUpdate, Healthcheck, monitor};
use crate::procfs::is_same_process;
use crate::record::{self, ProcessIdentity, Record, RecordStatus};
use crate::spawn::{Exit, Process};
use crate::spec::{InstanceId, ProcessSpec};
use crate::{ProcessError, Signal};
use skiff_plan::{Backoff, BackoffConfig};

/// How often an adopted process (not skiff's child, so no exit notification) is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(200);
/// How often a supervisor looks for a stop marker ([`crate::record::stop_instance`]).
const STOP_MARKER_POLL: Duration = Duration::from_millis(100);

/// Compose's `restart`: the planner's, so that the supervisor and the daemon decide alike.
pub use skiff_plan::Restart as RestartPolicy;

/// Everything a supervisor needs.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub id: InstanceId,
    /// The instance's name, for its record.
    pub name: String,
    pub config_hash: String,
    pub spec: ProcessSpec,
    pub healthcheck: Option<Healthcheck>,
    pub restart: RestartPolicy,
    pub backoff: BackoffConfig,
    /// Where records live (`<state_dir>/<project>/...`).
    pub state_dir: PathBuf,
    /// The configuration to keep in the record for later comparison (never environment
    /// values: the caller replaces them by digests).
    pub recorded_config: Option<serde_json::Value>,
}

/// An event of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub instance: InstanceId,
    pub event: Event,
}

/// What happened to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// A process was spawned (`restarts` restarts so far).
    Started {
        pid: i32,
        restarts: u32,
    },
    /// A running process from a record was taken over.
    Adopted {
        pid: i32,
    },
    HealthChanged {
        health: Health,
        output: String,
    },
    /// The process ended.
    Exited {
        exit: Exit,
        ran_for: Duration,
    },
    /// A restart could not spawn the process; it counts as a failed run.
    SpawnFailed {
        error: String,
    },
    /// It will be started again after this delay.
    Restarting {
        after: Duration,
        attempt: u32,
    },
    /// Something went wrong that does not stop supervision (a record not written).
    Error {
        error: String,
    },
    /// Supervision is over; the last event of an instance.
    Finished {
        exit: Option<Exit>,
        ending: Ending,
    },
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The process exited and its policy does not restart it.
    Exited,
    /// `on-failure:N` and N restarts were made.
    RetriesExhausted,
    /// Stopped on request.
    Stopped,
}

/// Where an instance stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Status {
    pub state: RunState,
    /// `None` without a healthcheck or when not running.
    pub health: Option<Health>,
    pub restarts: u32,
}

/// The run state of a supervised instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RunState {
    Running {
        pid: i32,
    },
    Restarting {
        last_exit: Exit,
        after: Duration,
    },
    /// Supervision ended; `exit` is `None` when the process could not be stopped.
    Finished {
        exit: Option<Exit>,
        ending: Ending,
    },
}

/// What happens to the record when an instance is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    /// Keep it, saying exited (`skiff stop`: `ps` still lists the instance).
    KeepRecord,
    /// Delete it (`skiff down`, a removal by the plan).
    RemoveRecord,
}

enum Command {
    Stop {
        reply: oneshot::Sender<Result<Option<Exit>, ProcessError>>,
    },
}

/// The handle of a supervised instance. Dropping it stops the instance in the background
/// (if the runtime keeps running); call [`Supervisor::stop`] to know when it is done.
#[derive(Debug)]
pub struct Supervisor {
    id: InstanceId,
    state_dir: PathBuf,
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Status>,
    task: JoinHandle<Option<Exit>>,
}

impl Supervisor {
    /// Spawns the process, writes its record, and supervises it. Returns once the process
    /// runs and is recorded; the first [`Event::Started`] is already sent.
    ///
    /// # Errors
    /// The process could not be spawned, or its record not written (the process is then
    /// killed: nothing runs without a record).
    pub async fn start(
        config: SupervisorConfig,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Result<Supervisor, ProcessError> {
        // A stop asked of an earlier run of this instance is void for this one.
        record::clear_stop(&config.state_dir, &config.id)?;
        let mut process = Process::spawn(&config.id, &config.spec)?;
        let recorded = async {
            let mut record = Record::running(
                &config.id,
                &config.name,
                &config.config_hash,
                &config.spec,
                &process,
            )?;
            record.config.clone_from(&config.recorded_config);
            record.health = config.healthcheck.as_ref().map(|_| Health::Starting);
            save(&config.state_dir, record.clone()).await?;
            Ok::<Record, ProcessError>(record)
        }
        .await;
        let record = match recorded {
            Ok(record) => record,
            Err(e) => {
                let _ = kill_group(&config.id.to_string(), process.pid()).await;
                let _ = process.wait().await;
                return Err(e);
            }
        };
        let pid = process.pid();
        let _ = reports.send(Report {
            instance: config.id.clone(),
            event: Event::Started { pid, restarts: 0 },
        });
        Ok(Supervisor::launch(
            config,
            reports,
            record,
            Running::Child(process),
            Instant::now(),
        ))
    }

    /// Takes over a running instance from its record (its supervisor is gone): watches it
    /// by polling the process table, runs its healthcheck, stops it, and restarts it per
    /// the policy when it ends. Its output is not captured: the pipes died with the skiff
    /// process that spawned it. Its exit status is unknown ([`Exit::Unknown`]).
    ///
    /// # Errors
    /// The recorded process is gone or is another process now, or the record cannot be
    /// rewritten.
    pub async fn adopt(
        config: SupervisorConfig,
        record: Record,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Result<Supervisor, ProcessError> {
        if !record.is_alive() {
            return Err(ProcessError::Gone {
                instance: config.id.to_string(),
                pid: record.pid,
            });
        }
        let since_start = chrono::DateTime::parse_from_rfc3339(&record.started_at)
            .ok()
            .and_then(|t| std::time::SystemTime::from(t).elapsed().ok())
            .unwrap_or_default();
        let started = Instant::now()
            .checked_sub(since_start)
            .unwrap_or_else(Instant::now);
        let record = Record {
            supervisor: ProcessIdentity::this(),
            status: RecordStatus::Running,
            ..record
        };
        save(&config.state_dir, record.clone()).await?;
        let adopted = Adopted {
            instance: config.id.to_string(),
            pid: record.pid,
            pgid: record.pgid,
            start_time: record.start_time,
            stop_signal: config.spec.stop_signal,
            grace: config.spec.stop_grace_period,
        };
        let _ = reports.send(Report {
            instance: config.id.clone(),
            event: Event::Adopted { pid: record.pid },
        });
        Ok(Supervisor::launch(
            config,
            reports,
            record,
            Running::Adopted(adopted),
            started,
        ))
    }

    fn launch(
        config: SupervisorConfig,
        reports: mpsc::UnboundedSender<Report>,
        record: Record,
        running: Running,
        started: Instant,
    ) -> Supervisor {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status {
            state: RunState::Running { pid: running.pid() },
            health: config.healthcheck.as_ref().map(|_| Health::Starting),
            restarts: record.restarts,
        });
        let id = config.id.clone();
        let state_dir = config.state_dir.clone();
        let run = Run {
            backoff: Backoff::new(config.backoff),
            restarts: record.restarts,
            config,
            reports,
            status: status_tx,
            commands,
            record,
        };
        let task = tokio::spawn(run.supervise(running, started));
        Supervisor {
            id,
            state_dir,
            commands: commands_tx,
            status,
            task,
        }
    }

    #[must_use]
    pub fn id(&self) -> &InstanceId {
        &self.id
    }

    /// The status now.
    #[must_use]
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// A receiver to wait on status changes (`wait_for(|s| s.health == Some(Healthy))`).
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Lets go of the instance without stopping it: supervision goes on while this process's
    /// runtime runs, and the process outlives it (its record says it runs, so that the next
    /// skiff process adopts it). For a supervisor that exits and leaves its services running.
    pub fn detach(self) {
        std::mem::forget(self.commands);
    }

    /// Stops the instance (signal, grace, SIGKILL, to the whole group; or cancels a pending
    /// restart) and ends supervision. Returns the last exit, if there was one.
    ///
    /// # Errors
    /// The group could not be stopped, or the record not deleted.
    pub async fn stop(self, after: AfterStop) -> Result<Option<Exit>, ProcessError> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(Command::Stop { reply }).is_ok();
        let answered = if sent { answer.await.ok() } else { None };
        let exit = match answered {
            Some(result) => result?,
            // Supervision had already ended (or the task died): its result says how.
            None => self.task.await.map_err(|_| ProcessError::SupervisorLost {
                instance: self.id.to_string(),
            })?,
        };
        if after == AfterStop::RemoveRecord {
            let (dir, id) = (self.state_dir.clone(), self.id.clone());
            tokio::task::spawn_blocking(move || record::remove(&dir, &id))
                .await
                .map_err(|_| ProcessError::SupervisorLost {
                    instance: self.id.to_string(),
                })??;
        }
        Ok(exit)
    }
}

/// Writes a record without blocking the runtime on fsync.
async fn save(state_dir: &std::path::Path, record: Record) -> Result<(), ProcessError> {
    let dir = state_dir.to_path_buf();
    let instance = record.id().to_string();
    tokio::task::spawn_blocking(move || record::write(&dir, &record))
        .await
        .map_err(|_| ProcessError::SupervisorLost { instance })?
}

/// The process being supervised.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per supervisor task, moved rarely"
)]
enum Running {
    Child(Process),
    Adopted(Adopted),
}

impl Running {
    fn pid(&self) -> i32 {
        match self {
            Running::Child(p) => p.pid(),
            Running::Adopted(a) => a.pid,
        }
    }

    /// Cancel-safe.
    async fn wait(&mut self) -> Result<Exit, ProcessError> {
        match self {
            Running::Child(p) => p.wait().await,
            Running::Adopted(a) => a.wait().await,
        }
    }

    async fn stop(&mut self) -> Result<Exit, ProcessError> {
        match self {
            Running::Child(p) => p.stop().await,
            Running::Adopted(a) => {
                stop_group(&a.instance, a.pgid, a.stop_signal, a.grace).await?;
                Ok(Exit::Unknown)
            }
        }
    }
}

/// A process another skiff process spawned.
#[derive(Debug)]
struct Adopted {
    instance: String,
    pid: i32,
    pgid: i32,
    start_time: u64,
    stop_signal: Signal,
    grace: Duration,
}

impl Adopted {
    async fn wait(&mut self) -> Result<Exit, ProcessError> {
        while is_same_process(self.pid, self.start_time) {
            tokio::time::sleep(ADOPTED_POLL).await;
        }
        kill_group(&self.instance, self.pgid).await?;
        Ok(Exit::Unknown)
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How one run ended.
enum Outcome {
    Exited {
        exit: Exit,
        ran_for: Duration,
    },
    /// A stop command, or `None` for a dropped handle.
    Stop(Option<oneshot::Sender<Result<Option<Exit>, ProcessError>>>),
}

/// The supervisor task's state.
struct Run {
    config: SupervisorConfig,
    reports: mpsc::UnboundedSender<Report>,
    status: watch::Sender<Status>,
    commands: mpsc::UnboundedReceiver<Command>,
    backoff: Backoff,
    restarts: u32,
    record: Record,
}

impl Run {
    async fn supervise(mut self, mut running: Running, mut started: Instant) -> Option<Exit> {
        loop {
            let (mut exit, mut ran_for) = match self.watch(&mut running, started).await {
                Outcome::Exited { exit, ran_for } => (exit, ran_for),
                Outcome::Stop(reply) => return self.stop(&mut running, reply, started).await,
            };
            // Restart attempts until one spawns (or supervision ends).
            loop {
                if self.stop_requested() {
                    self.finish(Some(exit), Ending::Stopped).await;
                    return Some(exit);
                }
                if ran_for >= self.config.backoff.reset_after {
                    self.backoff.reset();
                }
                if !self.config.restart.restarts(exit.code(), self.restarts) {
                    let ending = match self.config.restart {
                        RestartPolicy::OnFailure { .. } if !exit.success() => {
                            Ending::RetriesExhausted
                        }
                        _ => Ending::Exited,
                    };
                    self.finish(Some(exit), ending).await;
                    return Some(exit);
                }
                let after = self.backoff.next().unwrap_or_default();
                self.record.status = RecordStatus::Restarting { last_exit: exit };
                self.record.health = None;
                self.save().await;
                self.set_state(RunState::Restarting {
                    last_exit: exit,
                    after,
                });
                self.report(Event::Restarting {
                    after,
                    attempt: self.restarts + 1,
                });
                let wake = tokio::time::Instant::now() + after;
                let mut marker = tokio::time::interval(STOP_MARKER_POLL);
                loop {
                    tokio::select! {
                        () = tokio::time::sleep_until(wake) => break,
                        command = self.commands.recv() => {
                            self.finish(Some(exit), Ending::Stopped).await;
                            if let Some(Command::Stop { reply }) = command {
                                let _ = reply.send(Ok(Some(exit)));
                            }
                            return Some(exit);
                        }
                        _ = marker.tick() => {
                            if self.stop_requested() {
                                self.finish(Some(exit), Ending::Stopped).await;
                                return Some(exit);
                            }
                        }
                    }
                }
                if self.stop_requested() {
                    self.finish(Some(exit), Ending::Stopped).await;
                    return Some(exit);
                }
                self.restarts += 1;
                match Process::spawn(&self.config.id, &self.config.spec) {
                    Ok(process) => {
                        running = Running::Child(process);
                        started = Instant::now();
                        self.started(&running).await;
                        break;
                    }
                    Err(e) => {
                        exit = spawn_failure_exit(&e);
                        ran_for = Duration::ZERO;
                        self.report(Event::SpawnFailed {
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
    }

    /// Supervises one run until the process exits or a stop is asked for.
    async fn watch(&mut self, running: &mut Running, started: Instant) -> Outcome {
        let (updates_tx, mut updates) = mpsc::unbounded_channel::<HealthUpdate>();
        let _monitor = self.config.healthcheck.clone().map(|check| {
            AbortOnDrop(tokio::spawn(monitor(
                check,
                self.config.spec.clone(),
                started,
                updates_tx,
            )))
        });
        let monitored = _monitor.is_some();
        let mut marker = tokio::time::interval(STOP_MARKER_POLL);
        marker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                result = running.wait() => {
                    let exit = result.unwrap_or_else(|e| {
                        self.report(Event::Error { error: e.to_string() });
                        Exit::Unknown
                    });
                    let ran_for = started.elapsed();
                    self.status.send_modify(|s| s.health = None);
                    self.report(Event::Exited { exit, ran_for });
                    return Outcome::Exited { exit, ran_for };
                }
                Some(update) = updates.recv(), if monitored => {
                    self.status.send_modify(|s| s.health = Some(update.health));
                    self.record.health = Some(update.health);
                    self.save().await;
                    self.report(Event::HealthChanged {
                        health: update.health,
                        output: update.output,
                    });
                }
                command = self.commands.recv() => {
                    return Outcome::Stop(command.map(|Command::Stop { reply }| reply));
                }
                _ = marker.tick() => {
                    if self.stop_requested() {
                        return Outcome::Stop(None);
                    }
                }
            }
        }
    }

    async fn stop(
        mut self,
        running: &mut Running,
        reply: Option<oneshot::Sender<Result<Option<Exit>, ProcessError>>>,
        started: Instant,
    ) -> Option<Exit> {
        match running.stop().await {
            Ok(exit) => {
                self.report(Event::Exited {
                    exit,
                    ran_for: started.elapsed(),
                });
                self.finish(Some(exit), Ending::Stopped).await;
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(Some(exit)));
                }
                Some(exit)
            }
            Err(e) => {
                self.report(Event::Error {
                    error: e.to_string(),
                });
                self.set_state(RunState::Finished {
                    exit: None,
                    ending: Ending::Stopped,
                });
                self.report(Event::Finished {
                    exit: None,
                    ending: Ending::Stopped,
                });
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e));
                }
                None
            }
        }
    }

    /// A new run spawned: record, status, event.
    async fn started(&mut self, running: &Running) {
        let pid = running.pid();
        if let Running::Child(process) = running {
            match Record::running(
                &self.config.id,
                &self.config.name,
                &self.config.config_hash,
                &self.config.spec,
                process,
            ) {
                Ok(record) => {
                    self.record = Record {
                        config: self.record.config.take(),
                        ..record
                    };
                }
                Err(e) => self.report(Event::Error {
                    error: e.to_string(),
                }),
            }
        }
        self.record.restarts = self.restarts;
        self.record.status = RecordStatus::Running;
        self.record.health = self.config.healthcheck.as_ref().map(|_| Health::Starting);
        self.save().await;
        self.status.send_modify(|s| {
            s.state = RunState::Running { pid };
            s.health = self.config.healthcheck.as_ref().map(|_| Health::Starting);
            s.restarts = self.restarts;
        });
        self.report(Event::Started {
            pid,
            restarts: self.restarts,
        });
    }

    async fn finish(&mut self, exit: Option<Exit>, ending: Ending) {
        if let Some(exit) = exit {
            self.record.status = RecordStatus::Exited { exit };
            self.record.health = None;
            self.save().await;
        }
        self.set_state(RunState::Finished { exit, ending });
        self.report(Event::Finished { exit, ending });
    }

    fn stop_requested(&self) -> bool {
        record::stop_requested(&self.config.state_dir, &self.config.id)
    }

    async fn save(&mut self) {
        if let Err(e) = save(&self.config.state_dir, self.record.clone()).await {
            self.report(Event::Error {
                error: e.to_string(),
            });
        }
    }

    fn set_state(&self, state: RunState) {
        self.status.send_modify(|s| {
            s.state = state;
            s.health = None;
        });
    }

    fn report(&self, event: Event) {
        let _ = self.reports.send(Report {
            instance: self.config.id.clone(),
            event,
        });
    }
}

/// The exit a failed spawn counts as, as Docker reports a failed exec: 127 for a program
/// not found, 126 for one not executable, 125 for anything else.
fn spawn_failure_exit(error: &ProcessError) -> Exit {
    match error {
        ProcessError::Spawn { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => Exit::Code(127),
            std::io::ErrorKind::PermissionDenied => Exit::Code(126),
            _ => Exit::Code(125),
        },
        _ => Exit::Code(125),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decide() {
        let fail = Exit::Code(1).code();
        let killed = Exit::Signal(9).code();
        let ok = Exit::Code(0).code();
        let on_failure = |max| RestartPolicy::OnFailure { max_retries: max };
        assert!(!RestartPolicy::No.restarts(fail, 0));
        assert!(RestartPolicy::Always.restarts(ok, 1000));
        assert!(RestartPolicy::UnlessStopped.restarts(fail, 0));
        assert!(!on_failure(None).restarts(ok, 0));
        assert!(on_failure(None).restarts(killed, 1000));
        assert!(on_failure(None).restarts(Exit::Unknown.code(), 0));
        assert!(on_failure(Some(2)).restarts(fail, 1));
        assert!(!on_failure(Some(2)).restarts(fail, 2));
        assert!(!on_failure(Some(0)).restarts(fail, 0));
    }
}
