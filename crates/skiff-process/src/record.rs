//! Records of the instances skiff started, so that another skiff process can find them.
//!
//! One JSON file per instance, `<state_dir>/<project>/<service>-<number>.json`, written under
//! a temporary name, synced and renamed into place: a reader sees the old record or the new
//! one, never half of one. A record names its process by pid *and* kernel start time *and*
//! boot id, so a pid the kernel gave to another process since is never taken for ours.
//!
//! Records hold no environment values: the argv, the working directory, the config hash.
//!
//! Concurrency: the functions here are safe against each other's crashes, not against two
//! skiff processes managing the same project at once; callers serialise those (a lock file).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::group::{kill_group, stop_group};
use crate::procfs::{self, group_members};
use crate::spawn::{Exit, Process};
use crate::spec::{InstanceId, Logs, ProcessSpec, check_file_name};
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
    check_file_name("project", project)?;
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
                    .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        .filter(|r| r.version == VERSION && r.project == project)
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
    Ok(list(state_dir, project)?
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
        .collect())
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
    remove(state_dir, &record.id())
}
