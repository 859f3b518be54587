//! Taking a backup: chunk the source, store the chunks no destination has yet, then publish
//! the manifest, last.
//!
//! ```text
//! source ──read──> chunker + ids (this thread) ──new chunks──> workers: seal, put to each store
//!                                                                      │
//!                  all chunks stored, stores synced  <─────────────────┘
//!                  └──> manifest put under its final key (the publication)
//! ```
//!
//! A failure anywhere before the last step publishes nothing: the chunks already written are
//! unreferenced and a later prune collects them. A lock per destination keeps a concurrent
//! prune from collecting them while the backup runs; a prune already deleting chunks is
//! waited for before the backup looks at which chunks a destination has (see [`crate::prune`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::{BackupError, Result};
use crate::manifest::{self, ChunkRef, Detail, Entry, EntryKind, Kind, Snapshot};
use crate::progress::{Progress, Reporter};
use crate::repo::Repository;
use crate::seal::{Sealer, chunk_id};

/// Content-defined chunk sizes: about 1 MiB on average.
pub const CHUNK_MIN: usize = 256 * 1024;
pub const CHUNK_AVG: usize = 1024 * 1024;
pub const CHUNK_MAX: usize = 4 * 1024 * 1024;

/// One backup run: what, how it is sealed, where it goes.
pub struct Job<'a> {
    /// The backup's name in `x-skiff.backups`.
    pub name: &'a str,
    /// What is backed up, for the manifest, without secrets.
    pub source: String,
    pub sealer: &'a Sealer,
    /// Every destination; each receives a complete snapshot.
    pub repos: &'a [Repository],
    pub reporter: &'a dyn Reporter,
    pub now: chrono::DateTime<chrono::Utc>,
    /// Where to keep the files cache (unchanged files are not read again); `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    /// How long to wait for a prune that is deleting unreferenced chunks in a destination
    /// before failing with [`BackupError::Pruning`].
    pub prune_wait: Duration,
}

/// A byte stream to back up (a dump's output).
pub trait StreamSource: Read {
    /// Called once the stream ended, before anything is published: an error here (the dump
    /// program failed) publishes nothing.
    ///
    /// # Errors
    /// The producer of the stream failed.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl StreamSource for crate::postgres::Dump {
    fn finish(&mut self) -> Result<()> {
        crate::postgres::Dump::finish(self)
    }
}

/// Backs up a byte stream.
///
/// # Errors
/// The stream, a store, or the source's `finish` failed.
pub fn backup_stream(
    job: &Job<'_>,
    kind: Kind,
    input: &mut dyn StreamSource,
) -> Result<Vec<Snapshot>> {
    job.reporter.report(Progress::Start {
        phase: format!("backup {}", job.name),
        total: None,
    });
    let result = run(job, kind, |feeder| {
        let mut hasher = sha2::Sha256::new();
        let mut stream = Vec::new();
        let mut size = 0u64;
        let chunker = fastcdc::v2020::StreamCDC::with_level_and_seed(
            &mut *input,
            CHUNK_MIN,
            CHUNK_AVG,
            CHUNK_MAX,
            fastcdc::v2020::Normalization::Level1,
            job.sealer.chunker_seed(),
        );
        for chunk in chunker {
            let chunk = chunk.map_err(|e| BackupError::Source {
                path: PathBuf::from(&job.source),
                source: e.into(),
            })?;
            size += chunk.data.len() as u64;
            job.reporter
                .report(Progress::Bytes(chunk.data.len() as u64));
            let r = feeder.add(chunk.data)?;
            // The chunk ids already digest the plaintext: hashing it a second time would
            // cost a good part of the pipeline's CPU for no more assurance.
            digest_ref(&mut hasher, &r);
            stream.push(r);
        }
        input.finish()?;
        Ok(Built {
            detail: Detail {
                id_key: job.sealer.id_key().map(hex::encode),
                sha256: hex::encode(hasher.finalize()),
                stream,
                entries: Vec::new(),
            },
            size,
            files: 0,
            cache: None,
        })
    });
    job.reporter.report(Progress::Finish);
    result.map(|(snaps, _)| snaps)
}

/// Adds a chunk to a stream digest: its id (a digest of its plaintext) and its length.
pub(crate) fn digest_ref(hasher: &mut sha2::Sha256, r: &ChunkRef) {
    hasher.update(r.id.as_bytes());
    hasher.update(r.len.to_le_bytes());
}

/// Backs up a directory tree: directories, regular files and symlinks with their modes,
/// owners and times. Other file types (sockets, devices, FIFOs) are skipped with a note.
///
/// # Errors
/// The directory cannot be read, or a store fails.
pub fn backup_directory(job: &Job<'_>, dir: &Path) -> Result<Vec<Snapshot>> {
    let cache_path = job.cache_dir.as_ref().map(|d| cache_file(d, job));
    let old_cache: FilesCache = cache_path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let walked = walk(dir, job.reporter)?;
    let total: u64 = walked.iter().map(|w| w.size).sum();
    job.reporter.report(Progress::Start {
        phase: format!("backup {}", job.name),
        total: Some(total),
    });
    let result = run(job, Kind::Directory, |feeder| {
        let mut all = sha2::Sha256::new();
        let mut entries = Vec::with_capacity(walked.len());
        let mut new_cache = FilesCache::default();
        let mut size = 0u64;
        let mut files = 0u64;
        let mut unchanged = 0u64;
        for w in &walked {
            let meta = &w.meta;
            let kind = if meta.is_dir() {
                EntryKind::Dir
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&w.abs).map_err(|e| BackupError::Source {
                    path: w.abs.clone(),
                    source: e,
                })?;
                let target = target
                    .to_str()
                    .ok_or_else(|| BackupError::NonUtf8Path {
                        path: w.abs.clone(),
                    })?
                    .to_owned();
                EntryKind::Symlink { target }
            } else {
                files += 1;
                let stamp = Stamp::of(meta);
                let cached = old_cache.files.get(&w.rel).filter(|c| {
                    c.stamp == stamp && c.chunks.iter().all(|r| feeder.everywhere(&r.id))
                });
                let (sha, chunks) = if let Some(c) = cached {
                    unchanged += 1;
                    job.reporter.report(Progress::Bytes(meta.len()));
                    (c.sha256.clone(), c.chunks.clone())
                } else {
                    file_chunks(&w.abs, feeder, job)?
                };
                size += chunks.iter().map(|c| c.len).sum::<u64>();
                all.update(sha.as_bytes());
                new_cache.files.insert(
                    w.rel.clone(),
                    CachedFile {
                        stamp,
                        sha256: sha.clone(),
                        chunks: chunks.clone(),
                    },
                );
                EntryKind::File {
                    size: chunks.iter().map(|c| c.len).sum(),
                    sha256: sha,
                    chunks,
                }
            };
            entries.push(Entry {
                path: w.rel.clone(),
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: meta.mtime(),
                kind,
            });
        }
        if unchanged > 0 {
            job.reporter.report(Progress::Note(format!(
                "{}: {unchanged} unchanged files not read again (files cache)",
                job.name
            )));
        }
        Ok(Built {
            detail: Detail {
                id_key: job.sealer.id_key().map(hex::encode),
                sha256: hex::encode(all.finalize()),
                stream: Vec::new(),
                entries,
            },
            size,
            files,
            cache: Some(new_cache),
        })
    });
    job.reporter.report(Progress::Finish);
    let (snaps, cache) = result?;
    if let (Some(path), Some(cache)) = (cache_path, cache) {
        // The cache only saves reading; failing to write it costs time on the next run.
        let _ = write_atomically(&path, &cache);
    }
    Ok(snaps)
}

/// Chunks one file, returning its SHA-256 and chunks.
fn file_chunks(
    path: &Path,
    feeder: &mut Feeder<'_>,
    job: &Job<'_>,
) -> Result<(String, Vec<ChunkRef>)> {
    let src = |e: std::io::Error| BackupError::Source {
        path: path.to_owned(),
        source: e,
    };
    let file = std::fs::File::open(path).map_err(src)?;
    let mut hasher = sha2::Sha256::new();
    let mut chunks = Vec::new();
    let chunker = fastcdc::v2020::StreamCDC::with_level_and_seed(
        file,
        CHUNK_MIN,
        CHUNK_AVG,
        CHUNK_MAX,
        fastcdc::v2020::Normalization::Level1,
        job.sealer.chunker_seed(),
    );
    for chunk in chunker {
        let chunk = chunk.map_err(|e| src(e.into()))?;
        hasher.update(&chunk.data);
        job.reporter
            .report(Progress::Bytes(chunk.data.len() as u64));
        chunks.push(feeder.add(chunk.data)?);
    }
    Ok((hex::encode(hasher.finalize()), chunks))
}

/// What a source produced, before publication.
struct Built {
    detail: Detail,
    size: u64,
    files: u64,
    cache: Option<FilesCache>,
}

/// Hands new chunks to the workers; knows what every destination already holds.
struct Feeder<'a> {
    id_key: Option<[u8; 32]>,
    known: &'a [HashMap<String, u64>],
    sent: HashSet<String>,
    tx: Option<mpsc::SyncSender<(String, Vec<u8>)>>,
    failed: &'a AtomicBool,
}

impl Feeder<'_> {
    fn everywhere(&self, id: &str) -> bool {
        self.known.iter().all(|k| k.contains_key(id))
    }

    fn add(&mut self, data: Vec<u8>) -> Result<ChunkRef> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(worker_failed());
        }
        let id = chunk_id(self.id_key.as_ref(), &data);
        let r = ChunkRef {
            id: id.clone(),
            len: data.len() as u64,
        };
        if !self.everywhere(&id) && self.sent.insert(id.clone()) {
            let sent = self
                .tx
                .as_ref()
                .is_some_and(|tx| tx.send((id, data)).is_ok());
            if !sent {
                return Err(worker_failed());
            }
        }
        Ok(r)
    }
}

fn worker_failed() -> BackupError {
    BackupError::WorkersStopped
}

/// Runs a source body with the storage workers, then publishes to every destination.
fn run(
    job: &Job<'_>,
    kind: Kind,
    body: impl FnOnce(&mut Feeder<'_>) -> Result<Built>,
) -> Result<(Vec<Snapshot>, Option<FilesCache>)> {
    let mut locks = Vec::new();
    let result = (|| {
        for r in job.repos {
            locks.push(r.lock(job.name, job.now)?);
        }
        for r in job.repos {
            wait_for_prune(job, r)?;
        }
        let known: Vec<HashMap<String, u64>> = job
            .repos
            .iter()
            .map(Repository::chunks)
            .collect::<Result<_>>()?;
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<BackupError>> = Mutex::new(None);
        let added: Mutex<Vec<HashMap<String, u64>>> =
            Mutex::new(vec![HashMap::new(); job.repos.len()]);
        let workers = std::thread::available_parallelism()
            .map_or(2, std::num::NonZero::get)
            .clamp(2, 4);
        let (tx, rx) = mpsc::sync_channel::<(String, Vec<u8>)>(workers * 2);
        let rx = Mutex::new(rx);
        let built = std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| worker(job, &known, &rx, &failed, &first_error, &added));
            }
            let mut feeder = Feeder {
                id_key: job.sealer.id_key(),
                known: &known,
                sent: HashSet::new(),
                tx: Some(tx),
                failed: &failed,
            };
            let built = body(&mut feeder);
            if built.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            feeder.tx = None;
            built
        });
        // A storage error is the cause; the feeder's own error only says a worker stopped.
        if let Some(e) = first_error.lock().ok().and_then(|mut e| e.take()) {
            return Err(e);
        }
        let built = built?;
        let added = added.into_inner().unwrap_or_default();
        publish(job, kind, built, &known, &added)
    })();
    if result.is_err() {
        for repo in job.repos {
            repo.store().abandon();
        }
    }
    for (repo, key) in job.repos.iter().zip(&locks) {
        let _ = repo.unlock(key);
    }
    result
}

/// How often a backup looks again whether a prune still deletes.
const PRUNE_POLL: Duration = Duration::from_millis(500);

/// Waits while a prune deletes chunks in `repo` (the chunks this backup is about to count on
/// may be among them), up to [`Job::prune_wait`]. Called with the backup's lock held, so a
/// prune starting now leaves chunks alone.
fn wait_for_prune(job: &Job<'_>, repo: &Repository) -> Result<()> {
    let started = Instant::now();
    let mut said = false;
    loop {
        let elapsed = started.elapsed();
        let now = job.now + chrono::Duration::from_std(elapsed).unwrap_or_default();
        let locks = repo.locks(now)?;
        let Some((key, lock)) = locks.prunes.iter().next() else {
            return Ok(());
        };
        if elapsed >= job.prune_wait {
            return Err(BackupError::Pruning {
                location: repo.location().to_owned(),
                lock: format!("{key}: {}", lock.describe()),
                waited_secs: elapsed.as_secs(),
            });
        }
        if !said {
            job.reporter.report(Progress::Note(format!(
                "{}: waiting for a prune of {} to finish deleting ({})",
                job.name,
                repo.location(),
                lock.describe()
            )));
            said = true;
        }
        std::thread::sleep(PRUNE_POLL.min(job.prune_wait - elapsed));
    }
}

fn worker(
    job: &Job<'_>,
    known: &[HashMap<String, u64>],
    rx: &Mutex<mpsc::Receiver<(String, Vec<u8>)>>,
    failed: &AtomicBool,
    first_error: &Mutex<Option<BackupError>>,
    added: &Mutex<Vec<HashMap<String, u64>>>,
) {
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((id, data)) = next else {
            return;
        };
        if failed.load(Ordering::Relaxed) {
            continue; // drain, so the feeder never blocks
        }
        let key = manifest::chunk_key(&id);
        let stored = (|| {
            let sealed = job
                .sealer
                .seal(&data)
                .map_err(|e| BackupError::store("seal", &key, "memory", e))?;
            let mut sizes = Vec::new();
            for (i, repo) in job.repos.iter().enumerate() {
                if !known[i].contains_key(&id) {
                    repo.store().put(&key, &sealed)?;
                    sizes.push((i, sealed.len() as u64));
                }
            }
            Ok::<_, BackupError>(sizes)
        })();
        match stored {
            Ok(sizes) => {
                if let Ok(mut a) = added.lock() {
                    for (i, n) in sizes {
                        if let Some(m) = a.get_mut(i) {
                            m.insert(id.clone(), n);
                        }
                    }
                }
            }
            Err(e) => {
                failed.store(true, Ordering::Relaxed);
                if let Ok(mut slot) = first_error.lock()
                    && slot.is_none()
                {
                    *slot = Some(e);
                }
            }
        }
    }
}

fn publish(
    job: &Job<'_>,
    kind: Kind,
    built: Built,
    known: &[HashMap<String, u64>],
    added: &[HashMap<String, u64>],
) -> Result<(Vec<Snapshot>, Option<FilesCache>)> {
    use base64::Engine as _;
    let ids: BTreeSet<String> = built
        .detail
        .stream
        .iter()
        .map(|c| c.id.clone())
        .chain(built.detail.entries.iter().flat_map(|e| match &e.kind {
            EntryKind::File { chunks, .. } => chunks.iter().map(|c| c.id.clone()).collect(),
            _ => Vec::new(),
        }))
        .collect();
    let detail_json = serde_json::to_vec(&built.detail).map_err(|e| {
        BackupError::store("encode", "manifest", "memory", std::io::Error::other(e))
    })?;
    let sealed = job
        .sealer
        .seal(&detail_json)
        .map_err(|e| BackupError::store("seal", "manifest", "memory", e))?;
    let detail = base64::engine::general_purpose::STANDARD.encode(sealed);
    let id = manifest::new_id(job.now);
    let mut out = Vec::new();
    for (i, repo) in job.repos.iter().enumerate() {
        let size_of = |c: &String| {
            known
                .get(i)
                .and_then(|k| k.get(c))
                .or_else(|| added.get(i).and_then(|a| a.get(c)))
                .copied()
                .unwrap_or(0)
        };
        let mut snap = Snapshot {
            format: manifest::FORMAT,
            id: id.clone(),
            name: job.name.to_owned(),
            kind,
            created: job.now,
            source: job.source.clone(),
            size: built.size,
            added: added.get(i).map_or(0, |a| a.values().sum()),
            stored: ids.iter().map(size_of).sum(),
            files: built.files,
            encrypted: job.sealer.is_encrypted(),
            chunks: ids.iter().cloned().collect(),
            detail: detail.clone(),
        };
        let encode = |s: &Snapshot| {
            serde_json::to_vec_pretty(s).map_err(|e| {
                BackupError::store("encode", "manifest", "memory", std::io::Error::other(e))
            })
        };
        // `added` counts the manifest itself, whose length depends on `added`: iterate to
        // the fixed point (two or three rounds).
        let chunks_added = snap.added;
        let mut bytes = encode(&snap)?;
        for _ in 0..4 {
            let total = chunks_added + bytes.len() as u64;
            if total == snap.added {
                break;
            }
            snap.added = total;
            bytes = encode(&snap)?;
        }
        // Every chunk durable before the manifest that names them is.
        repo.store().sync()?;
        repo.store()
            .put(&manifest::snapshot_key(job.name, &id), &bytes)?;
        repo.store().sync()?;
        job.reporter.report(Progress::Note(format!(
            "{}: snapshot {id} published in {}",
            job.name,
            repo.location()
        )));
        out.push(snap);
    }
    Ok((out, built.cache))
}

/// A walked entry.
struct Walked {
    rel: String,
    abs: PathBuf,
    meta: std::fs::Metadata,
    size: u64,
}

/// Walks a tree, parents before children, names sorted; skips special files.
fn walk(root: &Path, reporter: &dyn Reporter) -> Result<Vec<Walked>> {
    let src = |p: &Path| {
        let p = p.to_owned();
        move |e| BackupError::Source { path: p, source: e }
    };
    let meta = std::fs::metadata(root).map_err(src(root))?;
    if !meta.is_dir() {
        return Err(BackupError::Source {
            path: root.to_owned(),
            source: std::io::Error::other("not a directory"),
        });
    }
    let mut out = vec![Walked {
        rel: ".".to_owned(),
        abs: root.to_owned(),
        meta,
        size: 0,
    }];
    let mut stack = vec![(root.to_owned(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut names: Vec<(std::ffi::OsString, PathBuf)> = std::fs::read_dir(&dir)
            .map_err(src(&dir))?
            .map(|e| e.map(|e| (e.file_name(), e.path())))
            .collect::<std::io::Result<_>>()
            .map_err(src(&dir))?;
        names.sort();
        let mut subdirs = Vec::new();
        for (name, abs) in names {
            let name = name
                .to_str()
                .ok_or_else(|| BackupError::NonUtf8Path { path: abs.clone() })?
                .to_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(&abs).map_err(src(&abs))?;
            let ft = meta.file_type();
            if ft.is_dir() {
                subdirs.push((abs.clone(), rel.clone()));
            } else if !(ft.is_file() || ft.is_symlink()) {
                reporter.report(Progress::Note(format!(
                    "skipped {rel}: not a regular file, directory or symlink"
                )));
                continue;
            }
            let size = if ft.is_file() { meta.len() } else { 0 };
            out.push(Walked {
                rel,
                abs,
                meta,
                size,
            });
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// What identifies an unchanged file without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedFile {
    stamp: Stamp,
    sha256: String,
    chunks: Vec<ChunkRef>,
}

/// The files cache of one backup: kept on the backup host (it names files; the host has
/// them anyway), never in the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FilesCache {
    files: BTreeMap<String, CachedFile>,
}

fn cache_file(dir: &Path, job: &Job<'_>) -> PathBuf {
    let mut h = sha2::Sha256::new();
    h.update(job.name.as_bytes());
    h.update(b"\0");
    h.update(job.source.as_bytes());
    for r in job.repos {
        h.update(b"\0");
        h.update(r.location().as_bytes());
    }
    if let Some(k) = job.sealer.id_key() {
        h.update(k);
    }
    dir.join(format!("files-{}.json", &hex::encode(h.finalize())[..32]))
}

fn write_atomically<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(
        &tmp,
        serde_json::to_vec(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}
