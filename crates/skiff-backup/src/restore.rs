//! Restoring a snapshot: a stream into a writer (a restore program's input), or a tree into
//! a directory. Every chunk is checked against its id before a byte of it is passed on, and
//! the whole against the snapshot's checksum.
//!
//! A directory is restored into a staging directory inside the target first, checked, and
//! only then swapped in; a failure leaves the target as it was (and the staging directory,
//! named `.skiff-restore-*`, to remove).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;

use sha2::Digest;

use crate::error::{BackupError, Result};
use crate::manifest::{ChunkRef, Detail, EntryKind, Kind, Snapshot};
use crate::progress::{Progress, Reporter};
use crate::repo::Repository;
use crate::seal::Opener;

/// Opens a snapshot's detail and its id key.
fn open_detail(
    repo: &Repository,
    snap: &Snapshot,
    opener: &Opener,
) -> Result<(Detail, Option<[u8; 32]>)> {
    let detail = repo.detail(snap, opener)?;
    let id_key = match &detail.id_key {
        None => None,
        Some(h) => {
            let mut k = [0u8; 32];
            hex::decode_to_slice(h, &mut k).map_err(|e| BackupError::Corrupt {
                what: "snapshot manifest",
                key: snap.id.clone(),
                location: repo.location().to_owned(),
                reason: e.to_string(),
            })?;
            Some(k)
        }
    };
    Ok((detail, id_key))
}

/// Reads chunks in order on a helper thread, a few ahead of the consumer.
fn fetch_in_order<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    repo: &'s Repository,
    opener: &'s Opener,
    id_key: Option<[u8; 32]>,
    refs: Vec<ChunkRef>,
) -> mpsc::Receiver<Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(4);
    scope.spawn(move || {
        for r in &refs {
            let chunk = repo.read_chunk(r, opener, id_key.as_ref());
            let stop = chunk.is_err();
            if tx.send(chunk).is_err() || stop {
                return;
            }
        }
    });
    rx
}

/// Writes a stream snapshot (a dump) into `out`, returning the bytes written.
///
/// # Errors
/// A damaged or missing chunk, a wrong identity, or `out` failing.
pub fn restore_stream(
    repo: &Repository,
    snap: &Snapshot,
    opener: &Opener,
    out: &mut dyn Write,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let (detail, id_key) = open_detail(repo, snap, opener)?;
    // The chunk list must be the one the backup digested; each chunk is then checked against
    // its id as it is read, so the whole is checked before a byte is passed on.
    let mut hasher = sha2::Sha256::new();
    for r in &detail.stream {
        crate::backup::digest_ref(&mut hasher, r);
    }
    if hex::encode(hasher.finalize()) != detail.sha256 {
        return Err(BackupError::Corrupt {
            what: "snapshot manifest",
            key: snap.id.clone(),
            location: repo.location().to_owned(),
            reason: "its list of chunks does not match its checksum".to_owned(),
        });
    }
    reporter.report(Progress::Start {
        phase: format!("restore {}", snap.name),
        total: Some(snap.size),
    });
    let written = std::thread::scope(|s| {
        let rx = fetch_in_order(s, repo, opener, id_key, detail.stream.clone());
        let mut written = 0u64;
        for _ in 0..detail.stream.len() {
            let chunk = rx.recv().map_err(|_| BackupError::Corrupt {
                what: "snapshot",
                key: snap.id.clone(),
                location: repo.location().to_owned(),
                reason: "a chunk could not be read".to_owned(),
            })??;
            out.write_all(&chunk)
                .map_err(|e| BackupError::target(Path::new("the restore program's input"), e))?;
            written += chunk.len() as u64;
            reporter.report(Progress::Bytes(chunk.len() as u64));
        }
        Ok(written)
    });
    reporter.report(Progress::Finish);
    written
}

/// Restores a directory snapshot into `target`, replacing its contents. The files are
/// written and checked in a staging directory inside `target` first, then swapped in.
///
/// # Errors
/// A damaged snapshot, a wrong identity, or a target that cannot be written.
pub fn restore_directory(
    repo: &Repository,
    snap: &Snapshot,
    opener: &Opener,
    target: &Path,
    reporter: &dyn Reporter,
) -> Result<u64> {
    if snap.kind != Kind::Directory {
        return Err(BackupError::RestoreTarget {
            target: target.display().to_string(),
            reason: format!("{} is a {} backup, not a directory", snap.id, snap.kind),
        });
    }
    let (detail, id_key) = open_detail(repo, snap, opener)?;
    for e in &detail.entries {
        if !safe_relative(&e.path) {
            return Err(BackupError::Corrupt {
                what: "snapshot manifest",
                key: snap.id.clone(),
                location: repo.location().to_owned(),
                reason: format!("unsafe path {:?}", e.path),
            });
        }
    }
    std::fs::create_dir_all(target).map_err(|e| BackupError::target(target, e))?;
    let staging = target.join(format!(".skiff-restore-{}", crate::random_hex(4)));
    std::fs::create_dir(&staging).map_err(|e| BackupError::target(&staging, e))?;
    reporter.report(Progress::Start {
        phase: format!("restore {}", snap.name),
        total: Some(snap.size),
    });
    let written = write_tree(repo, snap, opener, id_key, &detail, &staging, reporter);
    reporter.report(Progress::Finish);
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    swap_in(target, &staging, &detail)?;
    Ok(written)
}

fn safe_relative(p: &str) -> bool {
    p == "."
        || Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn write_tree(
    repo: &Repository,
    snap: &Snapshot,
    opener: &Opener,
    id_key: Option<[u8; 32]>,
    detail: &Detail,
    staging: &Path,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let as_root = is_root();
    let all_refs: Vec<ChunkRef> = detail
        .entries
        .iter()
        .flat_map(|e| match &e.kind {
            EntryKind::File { chunks, .. } => chunks.clone(),
            _ => Vec::new(),
        })
        .collect();
    std::thread::scope(|s| {
        let rx = fetch_in_order(s, repo, opener, id_key, all_refs);
        let mut written = 0u64;
        for e in &detail.entries {
            if e.path == "." {
                continue;
            }
            let path = staging.join(&e.path);
            let terr = |err| BackupError::target(&path, err);
            match &e.kind {
                EntryKind::Dir => std::fs::create_dir(&path).map_err(terr)?,
                EntryKind::Symlink { target } => {
                    std::os::unix::fs::symlink(target, &path).map_err(terr)?;
                }
                EntryKind::File { sha256, chunks, .. } => {
                    let mut f = std::fs::File::create(&path).map_err(terr)?;
                    let mut hasher = sha2::Sha256::new();
                    for _ in chunks {
                        let chunk = rx.recv().map_err(|_| BackupError::Corrupt {
                            what: "snapshot",
                            key: snap.id.clone(),
                            location: repo.location().to_owned(),
                            reason: "a chunk could not be read".to_owned(),
                        })??;
                        hasher.update(&chunk);
                        f.write_all(&chunk).map_err(terr)?;
                        written += chunk.len() as u64;
                        reporter.report(Progress::Bytes(chunk.len() as u64));
                    }
                    f.sync_all().map_err(terr)?;
                    if &hex::encode(hasher.finalize()) != sha256 {
                        return Err(BackupError::Mismatch {
                            path: e.path.clone(),
                        });
                    }
                }
            }
        }
        Ok::<_, BackupError>(written)
    })
    .and_then(|written| {
        // Metadata last, deepest first, so a directory's time is not moved by its children.
        for e in detail.entries.iter().rev() {
            if e.path == "." {
                continue;
            }
            let path = staging.join(&e.path);
            apply_metadata(&path, e, as_root)?;
        }
        Ok(written)
    })
}

fn apply_metadata(path: &Path, e: &crate::manifest::Entry, as_root: bool) -> Result<()> {
    let terr = |err| BackupError::target(path, err);
    if as_root {
        std::os::unix::fs::lchown(path, Some(e.uid), Some(e.gid)).map_err(terr)?;
    }
    if matches!(e.kind, EntryKind::Symlink { .. }) {
        return Ok(());
    }
    // The time first: setting it opens the file, which its final mode may forbid.
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(e.mtime).unwrap_or_default());
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(mtime))
        .map_err(terr)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(e.mode)).map_err(terr)
}

/// Replaces the target's contents with the staging directory's.
fn swap_in(target: &Path, staging: &Path, detail: &Detail) -> Result<()> {
    let terr = |p: &Path| {
        let p: PathBuf = p.to_owned();
        move |e| BackupError::target(&p, e)
    };
    for entry in std::fs::read_dir(target).map_err(terr(target))? {
        let entry = entry.map_err(terr(target))?;
        let p = entry.path();
        if p == staging {
            continue;
        }
        let ft = entry.file_type().map_err(terr(&p))?;
        if ft.is_dir() {
            std::fs::remove_dir_all(&p).map_err(terr(&p))?;
        } else {
            std::fs::remove_file(&p).map_err(terr(&p))?;
        }
    }
    for entry in std::fs::read_dir(staging).map_err(terr(staging))? {
        let entry = entry.map_err(terr(staging))?;
        let to = target.join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(terr(&to))?;
    }
    std::fs::remove_dir(staging).map_err(terr(staging))?;
    if let Some(root) = detail.entries.iter().find(|e| e.path == ".") {
        apply_metadata(target, root, is_root())?;
    }
    Ok(())
}

/// Whether this process may set owners (root). Read from /proc: no `unsafe` needed.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}
