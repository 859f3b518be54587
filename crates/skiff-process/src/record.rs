//! Records of the instances skiff started, so that another skiff process can find them.
//!
//! One JSON file per instance, `<state_dir>/<project>/<service>-<number>.json`, written under
//! a temporary name, synced and renamed into place: a reader sees the old record or the new
//! one, never half of one. A record names its process by pid *and* kernel start time *and*
//! boot id, so a pid the kernel gave to another process since is never taken for ours.
//!
//! Records hold no environment values: the argv, the working directory, the config hash.
//!
//! Stopping across processes: [`stop_instance`] asks the instance's supervisor, wherever it
//! runs, to stop it, through a marker file beside the record (`<service>-<number>.stop`). The
//! supervisor polls for it, stops the group itself and writes the final record, so it never
//! restarts what another skiff process is stopping. Only an instance whose supervisor is gone
//! is stopped directly, by its recorded group.
//!
//! Concurrency: the functions here are safe against each other's crashes, not against two
//! skiff processes managing the same project at once; callers serialise those (a lock file).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::group::{kill_group, stop_group};
use crate::health::Health;
use crate::procfs::{self, group_members};
use crate::spawn::{Exit, Process};
use crate::spec::{InstanceId, Logs, ProcessSpec, check_file_name};
use crate::supervisor::AfterStop;
use crate::{ProcessError, Signal, parse_signal};

/// The format version written; records of other versions are skipped when read.
pub const VERSION: u32 = 1;

/// What skiff knows about an instance it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub project: String,
    pub service: String,
    pub number: u32,
    /// The instance's name, as the planner named it.
    pub name: String,
    pub pid: i32,
    /// The process group (equal to `pid`: each instance leads its own group).
    pub pgid: i32,
    /// Clock ticks since boot at which the process started (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    /// `/proc/sys/kernel/random/boot_id` when it started.
    pub boot_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub config_hash: String,
    /// The command as run; environment values are never recorded.
    pub argv: Vec<String>,
    pub working_dir: PathBuf,
    /// How to stop it, so that even a process whose service is gone from the files (an
    /// orphan) is stopped the way it was configured.
    pub stop_signal: String,
    pub stop_grace_period_ms: u64,
    pub log: Option<PathBuf>,
    /// The skiff process supervising it.
    pub supervisor: Option<ProcessIdentity>,
    /// Restarts so far by its supervisor.
    pub restarts: u32,
    pub status: RecordStatus,
    /// The last health its supervisor saw (`None`: no healthcheck, or not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The configuration it was started with, as the planner compares it (environment values
    /// replaced by digests), so that a plan can say which fields changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// A process identified for the life of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// This process.
    pub(crate) fn this() -> Option<ProcessIdentity> {
        procfs::this_process()
            .ok()
            .map(|(pid, start_time)| ProcessIdentity { pid, start_time })
    }
}

/// What the recording process last knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RecordStatus {
    Running,
    /// It exited and its supervisor will start it again.
    Restarting {
        last_exit: Exit,
    },
    /// It exited (or was stopped) and nothing will start it again.
    Exited {
        exit: Exit,
    },
}

impl Record {
    /// The record of a process just spawned: status running, supervised by this process.
    ///
    /// # Errors
    /// The boot id cannot be read.
    pub fn running(
        id: &InstanceId,
        name: &str,
        config_hash: &str,
        spec: &ProcessSpec,
        process: &Process,
    ) -> Result<Record, ProcessError> {
        let boot_id = procfs::boot_id().map_err(|source| ProcessError::Inspect {
            instance: id.to_string(),
            pid: process.pid(),
            source,
        })?;
        Ok(Record {
            version: VERSION,
            project: id.project.clone(),
            service: id.service.clone(),
            number: id.number,
            name: name.to_owned(),
            pid: process.pid(),
            pgid: process.pid(),
            start_time: process.start_time(),
            boot_id,
            started_at: chrono::DateTime::<chrono::Utc>::from(process.started_at())
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            config_hash: config_hash.to_owned(),
            argv: spec.argv.clone(),
            working_dir: spec.working_dir.clone(),
            stop_signal: spec.stop_signal.as_str().to_owned(),
            stop_grace_period_ms: u64::try_from(spec.stop_grace_period.as_millis())
                .unwrap_or(u64::MAX),
            log: match &spec.logs {
                Logs::File(f) => Some(f.path.clone()),
                Logs::Discard => None,
            },
            supervisor: ProcessIdentity::this(),
            restarts: 0,
            status: RecordStatus::Running,
            health: None,
            config: None,
        })
    }

    #[must_use]
    pub fn id(&self) -> InstanceId {
        InstanceId::new(&self.project, &self.service, self.number)
    }

    /// The recorded stop signal; SIGTERM if it cannot be read.
    #[must_use]
    pub fn stop_signal(&self) -> Signal {
        parse_signal(&self.stop_signal).unwrap_or(Signal::SIGTERM)
    }

    /// The recorded grace period.
    #[must_use]
    pub fn stop_grace_period(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stop_grace_period_ms)
    }

    fn same_boot(&self) -> bool {
        procfs::boot_id().is_ok_and(|b| b == self.boot_id)
    }

    /// Whether the recorded process is the live process with that pid.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.same_boot() && procfs::is_same_process(self.pid, self.start_time)
    }

    /// Whether the recorded supervisor still runs.
    #[must_use]
    pub fn is_supervised(&self) -> bool {
        self.supervisor
            .is_some_and(|s| self.same_boot() && procfs::is_same_process(s.pid, s.start_time))
    }

    /// Whether the leader is gone (or a zombie nobody reaps) while its group still has live
    /// processes: leftovers of ours, since a group id cannot be reused while the group exists.
    fn has_leftovers(&self) -> bool {
        if !self.same_boot() {
            return false;
        }
        let leader_gone = match procfs::stat(self.pid) {
            Ok(None) => true,
            Ok(Some(s)) => s.start_time == self.start_time && !s.is_live(),
            Err(_) => false,
        };
        leader_gone && !group_members(self.pgid).is_empty()
    }
}

/// An instance found in the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub record: Record,
    pub state: ObservedState,
    /// Whether the skiff process that supervises it still runs; a running instance without a
    /// supervisor can be adopted ([`crate::Supervisor::adopt`]) or stopped.
    pub supervised: bool,
}

/// Where an instance stands, from its record and the process table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservedState {
    /// The recorded process runs.
    Running,
    /// Between two runs; its supervisor runs and will start it again.
    Restarting { last_exit: Exit },
    /// It ended and nothing will restart it (including a restarting instance whose supervisor
    /// is gone).
    Exited(Exit),
}

/// Where the record of an instance lives.
#[must_use]
pub fn path(state_dir: &Path, id: &InstanceId) -> PathBuf {
    state_dir
        .join(&id.project)
        .join(format!("{}-{}.json", id.service, id.number))
}

/// Writes a record atomically (temporary file, fsync, rename, fsync of the directory).
///
/// # Errors
/// Names unfit for file names, or the file system refused.
pub fn write(state_dir: &Path, record: &Record) -> Result<(), ProcessError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    check_file_name("project", &record.project)?;
    check_file_name("service", &record.service)?;
    let target = path(state_dir, &record.id());
    let error = |source| ProcessError::Record {
        action: "write",
        path: target.clone(),
        source,
    };
    let dir = state_dir.join(&record.project);
    std::fs::create_dir_all(&dir).map_err(error)?;
    let temp = dir.join(format!(
        ".{}-{}.json.{}.{}.tmp",
        record.service,
        record.number,
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&temp, &target)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(error)
}

/// Reads the record of an instance, if there is one.
///
/// # Errors
/// A record that cannot be read or parsed.
pub fn read(state_dir: &Path, id: &InstanceId) -> Result<Option<Record>, ProcessError> {
    let file = path(state_dir, id);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ProcessError::RecordFormat { path: file, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ProcessError::Record {
            action: "read",
            path: file,
            source,
        }),
    }
}

/// Deletes the record of an instance; no record is fine.
///
/// # Errors
/// The file system refused.
pub fn remove(state_dir: &Path, id: &InstanceId) -> Result<(), ProcessError> {
    let file = path(state_dir, id);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ProcessError::Record {
            action: "remove",
            path: file,
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Every readable record of a project, in file name order. Files that are not records of
/// this format version (a temporary file, a record from a newer skiff) are skipped.
///
/// # Errors
/// The project's directory exists but cannot be listed.
pub fn list(state_dir: &Path, project: &str) -> Result<Vec<Record>, ProcessError> {
    list_matching(state_dir, project, None)
}

fn list_matching(
    state_dir: &Path,
    project: &str,
    service: Option<&str>,
) -> Result<Vec<Record>, ProcessError> {
    check_file_name("project", project)?;
    // `<service>-<number>.json`: the service's prefix, then only digits.
    let of_service = |name: &str| {
        service.is_none_or(|s| {
            name.strip_prefix(s)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.strip_suffix(".json"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let dir = state_dir.join(project);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ProcessError::Record {
                action: "list",
                path: dir,
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && of_service(n))
        })
        .collect();
    files.sort();
    Ok(files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        .filter(|r| r.version == VERSION && r.project == project)
        .filter(|r| service.is_none_or(|s| r.service == s))
        .collect())
}

/// The instances of a project that the records and the process table agree on: running
/// processes whose pid, start time and boot match their record, instances between two runs
/// of a live supervisor, and instances that exited. A record that says running but whose
/// process is gone, or whose pid now belongs to another process, is left out ([`sweep`]
/// deletes it).
///
/// # Errors
/// The project's directory exists but cannot be listed.
pub fn observe(state_dir: &Path, project: &str) -> Result<Vec<Observation>, ProcessError> {
    Ok(observations(list(state_dir, project)?))
}

/// [`observe`] for the instances of one service.
///
/// # Errors
/// The project's directory exists but cannot be listed.
pub fn observe_service(
    state_dir: &Path,
    project: &str,
    service: &str,
) -> Result<Vec<Observation>, ProcessError> {
    Ok(observations(list_matching(
        state_dir,
        project,
        Some(service),
    )?))
}

fn observations(records: Vec<Record>) -> Vec<Observation> {
    records
        .into_iter()
        .filter_map(|record| {
            let supervised = record.is_supervised();
            let state = match record.status {
                RecordStatus::Running if record.is_alive() => ObservedState::Running,
                RecordStatus::Running => return None,
                RecordStatus::Restarting { last_exit } if supervised => {
                    ObservedState::Restarting { last_exit }
                }
                RecordStatus::Restarting { last_exit } => ObservedState::Exited(last_exit),
                RecordStatus::Exited { exit } => ObservedState::Exited(exit),
            };
            Some(Observation {
                record,
                state,
                supervised,
            })
        })
        .collect()
}

/// Cleans up after a skiff process that died: deletes the records that say running when
/// their process is gone, after killing what is left of that process's group. Returns the
/// deleted records.
///
/// # Errors
/// A record that cannot be deleted, or leftovers that survive SIGKILL.
pub async fn sweep(state_dir: &Path, project: &str) -> Result<Vec<Record>, ProcessError> {
    let mut swept = Vec::new();
    for record in list(state_dir, project)? {
        if record.status != RecordStatus::Running || record.is_alive() {
            continue;
        }
        if record.has_leftovers() {
            kill_group(&record.id().to_string(), record.pgid).await?;
        }
        remove(state_dir, &record.id())?;
        swept.push(record);
    }
    Ok(swept)
}

/// Stops a recorded instance that no [`crate::Supervisor`] of this process owns (an orphan,
/// an instance an earlier skiff started) with its recorded signal and grace period, then
/// deletes its record. A process whose pid was reused is not touched. If another live skiff
/// process supervises it, that process may restart it: stop it through its owner instead.
///
/// # Errors
/// The group could not be stopped, or the record not deleted.
pub async fn stop_recorded(state_dir: &Path, record: &Record) -> Result<(), ProcessError> {
    stop_unsupervised(record).await?;
    remove(state_dir, &record.id())
}

/// How often [`stop_instance`] looks at the record while a supervisor stops the instance.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(25);
/// How long past the grace period [`stop_instance`] waits for a supervisor before it stops
/// the recorded group itself.
const STOP_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// The stop marker of an instance: its presence asks the instance's supervisor to stop it.
#[must_use]
pub fn stop_marker(state_dir: &Path, id: &InstanceId) -> PathBuf {
    state_dir
        .join(&id.project)
        .join(format!("{}-{}.stop", id.service, id.number))
}

/// Whether someone asked the supervisor of an instance to stop it.
#[must_use]
pub fn stop_requested(state_dir: &Path, id: &InstanceId) -> bool {
    stop_marker(state_dir, id).exists()
}

/// Withdraws a stop request (once the instance stopped, or before starting it anew).
///
/// # Errors
/// The file system refused.
pub fn clear_stop(state_dir: &Path, id: &InstanceId) -> Result<(), ProcessError> {
    let file = stop_marker(state_dir, id);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ProcessError::Record {
            action: "remove stop marker",
            path: file,
            source: e,
        }),
        _ => Ok(()),
    }
}

fn request_stop(state_dir: &Path, id: &InstanceId) -> Result<(), ProcessError> {
    let file = stop_marker(state_dir, id);
    std::fs::write(&file, b"").map_err(|source| ProcessError::Record {
        action: "write stop marker",
        path: file,
        source,
    })
}

/// Stops a recorded instance, whoever supervises it, and returns its last exit when known.
///
/// When a live skiff process supervises it, that supervisor is asked (a stop marker) and does
/// the stopping, so that it does not restart the instance; if it has not finished within the
/// recorded grace period and a few seconds, or dies meanwhile, the recorded group is stopped
/// here. An instance without a live supervisor is stopped here, by its recorded group, as
/// [`stop_recorded`] does. Then the record is kept saying exited, or deleted, per `after`.
///
/// # Errors
/// The group could not be stopped, or the record not written or deleted.
pub async fn stop_instance(
    state_dir: &Path,
    record: &Record,
    after: AfterStop,
) -> Result<Option<Exit>, ProcessError> {
    let id = record.id();
    let mut last = record.clone();
    let exit;
    if record.is_supervised() {
        request_stop(state_dir, &id)?;
        let deadline = tokio::time::Instant::now() + record.stop_grace_period() + STOP_SLACK;
        loop {
            let Some(now) = read(state_dir, &id)? else {
                // Deleted by its supervisor's owner: nothing runs any more.
                clear_stop(state_dir, &id)?;
                return Ok(None);
            };
            last = now;
            if let RecordStatus::Exited { exit: e } = last.status
                && !last.is_alive()
            {
                exit = Some(e);
                break;
            }
            if !last.is_supervised() || tokio::time::Instant::now() >= deadline {
                exit = Some(stop_unsupervised(&last).await?);
                break;
            }
            tokio::time::sleep(STOP_POLL).await;
        }
    } else {
        exit = match record.status {
            RecordStatus::Exited { exit } if !record.is_alive() => Some(exit),
            _ => Some(stop_unsupervised(record).await?),
        };
    }
    clear_stop(state_dir, &id)?;
    match after {
        AfterStop::RemoveRecord => remove(state_dir, &id)?,
        AfterStop::KeepRecord => {
            if let Some(e) = exit
                && last.status != (RecordStatus::Exited { exit: e })
            {
                let record = Record {
                    status: RecordStatus::Exited { exit: e },
                    health: None,
                    ..last
                };
                write(state_dir, &record)?;
            }
        }
    }
    Ok(exit)
}

/// Stops what a record names without its supervisor: the group if the process lives, its
/// leftovers otherwise.
async fn stop_unsupervised(record: &Record) -> Result<Exit, ProcessError> {
    let instance = record.id().to_string();
    if record.is_alive() {
        stop_group(
            &instance,
            record.pgid,
            record.stop_signal(),
            record.stop_grace_period(),
        )
        .await?;
    } else if record.has_leftovers() {
        kill_group(&instance, record.pgid).await?;
    }
    Ok(match record.status {
        RecordStatus::Exited { exit } => exit,
        RecordStatus::Restarting { last_exit } => last_exit,
        RecordStatus::Running => Exit::Unknown,
    })
}

/// Deletes a record and its stop marker (after its instance stopped).
///
/// # Errors
/// The file system refused.
pub fn forget(state_dir: &Path, id: &InstanceId) -> Result<(), ProcessError> {
    clear_stop(state_dir, id)?;
    remove(state_dir, id)
}
