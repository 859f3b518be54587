//! A repository: chunks, published snapshots, and the locks of running backups, in one
//! [`Store`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::manifest::{self, ChunkRef, Detail, Snapshot};
use crate::seal::{Opener, Sealer};
use crate::store::Store;

/// The repository format this crate writes.
pub const REPO_FORMAT: u32 = 1;
const CONFIG_KEY: &str = "skiff-backup.json";
/// A backup's lock older than this is stale: no backup runs a day.
const LOCK_STALE: Duration = Duration::from_secs(24 * 3600);
/// A prune's lock older than this is stale; a running prune writes it again every
/// [`PRUNE_LOCK_REFRESH`], so only a prune that died on another host leaves one this old.
const PRUNE_LOCK_STALE: Duration = Duration::from_secs(3600);
/// How often a prune deleting chunks writes its lock again.
pub(crate) const PRUNE_LOCK_REFRESH: Duration = Duration::from_secs(5 * 60);
const PRUNE_LOCK_PREFIX: &str = "locks/prune-";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RepoConfig {
    format: u32,
    /// Whether backups in this repository are encrypted (set by the first one).
    encrypted: bool,
}

/// A lock held while a backup runs, so that a prune does not collect the chunks it is adding
/// (`locks/<pid>-<rand>.json`); or while a prune deletes chunks, so that a backup does not
/// reuse them (`locks/prune-<pid>-<rand>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub host: String,
    pub pid: u32,
    pub started: chrono::DateTime<chrono::Utc>,
    /// The backup's name; empty for a prune.
    #[serde(default)]
    pub backup: String,
}

impl Lock {
    /// `backup NAME by pid N on HOST since TIME` (or `prune by ...`), for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        let what = if self.backup.is_empty() {
            "prune".to_owned()
        } else {
            format!("backup {}", self.backup)
        };
        format!(
            "{what} by pid {} on {} since {}",
            self.pid, self.host, self.started
        )
    }
}

/// A repository's locks, as [`Repository::locks`] finds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locks {
    /// Backups running now, by key: a prune deletes no chunk while one runs.
    pub backups: BTreeMap<String, Lock>,
    /// Prunes deleting chunks now, by key: a backup waits for them before it looks at which
    /// chunks the repository has.
    pub prunes: BTreeMap<String, Lock>,
    /// Keys of locks whose process is gone, for a prune to remove.
    pub stale: Vec<String>,
}

/// An opened repository.
pub struct Repository {
    store: Box<dyn Store>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.location())
            .finish()
    }
}

impl Repository {
    /// Opens a repository for reading; a store with nothing in it is an empty repository.
    ///
    /// # Errors
    /// The store cannot be read, or was written by a newer format.
    pub fn open(store: Box<dyn Store>) -> Result<Repository> {
        let repo = Repository { store };
        repo.config()?;
        Ok(repo)
    }

    /// Opens a repository to write backups sealed by `sealer`, initialising an empty one.
    ///
    /// # Errors
    /// A plaintext backup into an encrypted repository, a newer format, or a store that
    /// refuses the write.
    pub fn open_for_backup(store: Box<dyn Store>, sealer: &Sealer) -> Result<Repository> {
        let repo = Repository { store };
        match repo.config()? {
            Some(c) if c.encrypted && !sealer.is_encrypted() => {
                Err(BackupError::PlaintextIntoEncrypted {
                    location: repo.location().to_owned(),
                })
            }
            Some(_) => Ok(repo),
            None => {
                let config = RepoConfig {
                    format: REPO_FORMAT,
                    encrypted: sealer.is_encrypted(),
                };
                let text = serde_json::to_vec_pretty(&config).map_err(|e| {
                    BackupError::store(
                        "write",
                        CONFIG_KEY,
                        repo.location(),
                        std::io::Error::other(e),
                    )
                })?;
                repo.store.put(CONFIG_KEY, &text)?;
                Ok(repo)
            }
        }
    }

    fn config(&self) -> Result<Option<RepoConfig>> {
        let Some(bytes) = self.store.get(CONFIG_KEY)? else {
            return Ok(None);
        };
        let c: RepoConfig = serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupt {
            what: "repository configuration",
            key: CONFIG_KEY.to_owned(),
            location: self.location().to_owned(),
            reason: e.to_string(),
        })?;
        if c.format > REPO_FORMAT {
            return Err(BackupError::Format {
                location: self.location().to_owned(),
                found: c.format,
                supported: REPO_FORMAT,
            });
        }
        Ok(Some(c))
    }

    /// Where the repository is.
    #[must_use]
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// The underlying store.
    #[must_use]
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Published snapshots (of one backup name, or all), oldest first. Objects under
    /// temporary names are never listed.
    ///
    /// # Errors
    /// The store cannot be listed, or a published manifest does not decode.
    pub fn snapshots(&self, name: Option<&str>) -> Result<Vec<Snapshot>> {
        let prefix = match name {
            Some(n) => format!("snapshots/{n}/"),
            None => "snapshots/".to_owned(),
        };
        let mut out = Vec::new();
        for o in self.store.list(&prefix)? {
            if !o.key.ends_with(".json") {
                continue;
            }
            let Some(bytes) = self.store.get(&o.key)? else {
                continue; // deleted by a concurrent prune
            };
            let snap: Snapshot =
                serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupt {
                    what: "snapshot manifest",
                    key: o.key.clone(),
                    location: self.location().to_owned(),
                    reason: e.to_string(),
                })?;
            if snap.format > manifest::FORMAT {
                return Err(BackupError::Format {
                    location: self.location().to_owned(),
                    found: snap.format,
                    supported: manifest::FORMAT,
                });
            }
            out.push(snap);
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// One snapshot of a backup: the one whose id is (or starts with) `at`, else the newest.
    ///
    /// # Errors
    /// No such snapshot, or an ambiguous id prefix.
    pub fn snapshot(&self, name: &str, at: Option<&str>) -> Result<Snapshot> {
        let all = self.snapshots(Some(name))?;
        let found = match at {
            None => all.into_iter().last(),
            Some(at) => {
                let mut matching: Vec<Snapshot> =
                    all.into_iter().filter(|s| s.id.starts_with(at)).collect();
                if matching.len() > 1 {
                    return Err(BackupError::NotFound {
                        what: format!(
                            "{name} with a unique id starting {at:?} ({} match)",
                            matching.len()
                        ),
                        location: self.location().to_owned(),
                    });
                }
                matching.pop()
            }
        };
        found.ok_or_else(|| BackupError::NotFound {
            what: match at {
                Some(at) => format!("{name} {at}"),
                None => format!("of {name}"),
            },
            location: self.location().to_owned(),
        })
    }

    /// Every stored chunk with its stored size.
    ///
    /// # Errors
    /// The store cannot be listed.
    pub fn chunks(&self) -> Result<HashMap<String, u64>> {
        Ok(self
            .store
            .list("chunks/")?
            .into_iter()
            .filter_map(|o| {
                let id = o.key.rsplit('/').next()?.to_owned();
                Some((id, o.size))
            })
            .collect())
    }

    /// Opens a snapshot's sealed detail.
    ///
    /// # Errors
    /// A damaged manifest, or an identity that does not decrypt it.
    pub fn detail(&self, snap: &Snapshot, opener: &Opener) -> Result<Detail> {
        use base64::Engine as _;
        let key = manifest::snapshot_key(&snap.name, &snap.id);
        let corrupt = |reason: String| BackupError::Corrupt {
            what: "snapshot manifest",
            key: key.clone(),
            location: self.location().to_owned(),
            reason,
        };
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&snap.detail)
            .map_err(|e| corrupt(e.to_string()))?;
        let plain = opener
            .open(&sealed, "snapshot manifest", &key, self.location())
            .map_err(|e| match e {
                BackupError::IdentityNeeded { location, .. } => BackupError::IdentityNeeded {
                    snapshot: snap.id.clone(),
                    location,
                },
                e => e,
            })?;
        serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))
    }

    /// Reads a chunk, opens it and checks it against its id.
    ///
    /// # Errors
    /// A missing or damaged chunk, or a wrong identity.
    pub fn read_chunk(
        &self,
        r: &ChunkRef,
        opener: &Opener,
        id_key: Option<&[u8; 32]>,
    ) -> Result<Vec<u8>> {
        let key = manifest::chunk_key(&r.id);
        let corrupt = |reason: &str| BackupError::Corrupt {
            what: "chunk",
            key: key.clone(),
            location: self.location().to_owned(),
            reason: reason.to_owned(),
        };
        let Some(object) = self.store.get(&key)? else {
            return Err(corrupt("it is missing"));
        };
        let plain = opener.open(&object, "chunk", &key, self.location())?;
        if plain.len() as u64 != r.len || crate::seal::chunk_id(id_key, &plain) != r.id {
            return Err(corrupt("its checksum does not match"));
        }
        Ok(plain)
    }

    /// Takes a lock for a running backup; returns its key, to pass to [`Self::unlock`].
    ///
    /// # Errors
    /// The store refuses the write.
    pub fn lock(&self, backup: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
        let key = format!("locks/{}-{}.json", std::process::id(), crate::random_hex(4));
        self.put_lock(&key, backup, now)?;
        Ok(key)
    }

    /// Takes the lock of a prune about to delete unreferenced chunks; returns its key, to
    /// pass to [`Self::unlock`]. A backup that finds it waits (see [`crate::Job::prune_wait`]).
    ///
    /// # Errors
    /// The store refuses the write.
    pub fn lock_prune(&self, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
        let key = format!(
            "{PRUNE_LOCK_PREFIX}{}-{}.json",
            std::process::id(),
            crate::random_hex(4)
        );
        self.put_lock(&key, "", now)?;
        Ok(key)
    }

    /// Writes a prune's lock again with a new time, so that a long prune's lock never looks
    /// stale (older than [`PRUNE_LOCK_STALE`]).
    ///
    /// # Errors
    /// The store refuses the write.
    pub(crate) fn refresh_prune_lock(
        &self,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.put_lock(key, "", now)
    }

    fn put_lock(&self, key: &str, backup: &str, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let lock = Lock {
            host: hostname(),
            pid: std::process::id(),
            started: now,
            backup: backup.to_owned(),
        };
        let bytes = serde_json::to_vec(&lock).map_err(|e| {
            BackupError::store("write", key, self.location(), std::io::Error::other(e))
        })?;
        self.store.put(key, &bytes)
    }

    /// Releases a lock.
    ///
    /// # Errors
    /// The store refuses the deletion.
    pub fn unlock(&self, key: &str) -> Result<()> {
        self.store.delete(key)
    }

    /// The repository's locks, sorted into those of backups and prunes that still run and
    /// stale ones (of dead processes on this host, older than a day for a backup or an hour
    /// for a prune, or unreadable). Reads only: a prune removes the stale ones when it
    /// applies its plan.
    ///
    /// # Errors
    /// The store cannot be listed or read.
    pub fn locks(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Locks> {
        let mut out = Locks::default();
        let me = hostname();
        for o in self.store.list("locks/")? {
            let Some(bytes) = self.store.get(&o.key)? else {
                continue; // released meanwhile
            };
            let Ok(lock) = serde_json::from_slice::<Lock>(&bytes) else {
                out.stale.push(o.key);
                continue;
            };
            let prune = o.key.starts_with(PRUNE_LOCK_PREFIX);
            let age = (now - lock.started).to_std().unwrap_or_default();
            let dead =
                lock.host == me && !std::path::Path::new(&format!("/proc/{}", lock.pid)).exists();
            let too_old = age > if prune { PRUNE_LOCK_STALE } else { LOCK_STALE };
            if dead || too_old {
                out.stale.push(o.key);
            } else if prune {
                out.prunes.insert(o.key, lock);
            } else {
                out.backups.insert(o.key, lock);
            }
        }
        Ok(out)
    }

    /// Removes leftovers of interrupted writes older than an hour.
    ///
    /// # Errors
    /// The store refuses.
    pub fn clean_temporary(&self) -> Result<usize> {
        let hour_ago = SystemTime::now()
            .checked_sub(Duration::from_secs(3600))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.store.clean_temporary(hour_ago)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
