//! Prune: plan (which snapshots retention removes, which chunks nothing references, which
//! locks are stale), then apply. Planning only reads: `--dry-run` changes nothing. Manifests
//! are deleted before chunks, so a prune killed half-way leaves only unreferenced chunks,
//! which the next prune collects.
//!
//! Chunks and backups: a backup reuses the chunks a repository already has, so a chunk that
//! is unreferenced when the plan is made may be referenced again by the time it would be
//! deleted. [`apply`] therefore announces itself with a prune lock, then looks for backup
//! locks (none may be running), then lists the snapshots again and deletes only the chunks
//! still unreferenced. A backup takes its own lock, then waits while a prune lock is there
//! (see [`crate::Job::prune_wait`]). Both write their lock before they read the other's, so
//! at least one of the two sees the other: either the prune leaves chunks alone or the
//! backup waits until the deleting is over.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use serde::Serialize;
use skiff_model::xskiff::Keep;

use crate::error::Result;
use crate::manifest;
use crate::repo::{PRUNE_LOCK_REFRESH, Repository};
use crate::retention::{self, Verdict};

/// What a prune would do in one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    pub location: String,
    /// Snapshot ids kept, per backup name, with the rules that keep them.
    pub keep: BTreeMap<String, Vec<(String, Vec<String>)>>,
    /// Snapshots to remove: `(name, id)`.
    pub remove: Vec<(String, String)>,
    /// Chunks no remaining snapshot references.
    pub unreferenced: Vec<String>,
    /// Stored bytes those chunks take.
    pub reclaim: u64,
    /// When a backup is running: its lock; chunks are left for a later prune.
    pub blocked_by: Option<String>,
    /// Locks left by backups or prunes that are gone, removed by [`apply`].
    pub stale_locks: Vec<String>,
}

/// Plans a prune: `policies` maps each backup name to its `keep`; names without a policy
/// keep every snapshot.
///
/// # Errors
/// The repository cannot be listed.
pub fn plan(
    repo: &Repository,
    policies: &BTreeMap<String, Keep>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PrunePlan> {
    let snapshots = repo.snapshots(None)?;
    let mut by_name: BTreeMap<String, Vec<&manifest::Snapshot>> = BTreeMap::new();
    for s in &snapshots {
        by_name.entry(s.name.clone()).or_default().push(s);
    }
    let mut out = PrunePlan {
        location: repo.location().to_owned(),
        ..PrunePlan::default()
    };
    let mut removed: HashSet<(String, String)> = HashSet::new();
    for (name, snaps) in &by_name {
        let Some(keep) = policies.get(name) else {
            continue;
        };
        let input: Vec<(String, chrono::DateTime<chrono::Utc>)> =
            snaps.iter().map(|s| (s.id.clone(), s.created)).collect();
        let verdicts = retention::apply(&input, keep);
        let kept = verdicts
            .iter()
            .filter(|v| v.keep())
            .map(|v: &Verdict| {
                (
                    v.id.clone(),
                    v.reasons.iter().map(ToString::to_string).collect(),
                )
            })
            .collect();
        out.keep.insert(name.clone(), kept);
        for v in verdicts.iter().filter(|v| !v.keep()) {
            out.remove.push((name.clone(), v.id.clone()));
            removed.insert((name.clone(), v.id.clone()));
        }
    }
    let referenced: BTreeSet<&str> = snapshots
        .iter()
        .filter(|s| !removed.contains(&(s.name.clone(), s.id.clone())))
        .flat_map(|s| s.chunks.iter().map(String::as_str))
        .collect();
    let chunks = repo.chunks()?;
    let mut unreferenced: Vec<(String, u64)> = chunks
        .into_iter()
        .filter(|(id, _)| !referenced.contains(id.as_str()))
        .collect();
    unreferenced.sort();
    out.reclaim = unreferenced.iter().map(|(_, n)| n).sum();
    out.unreferenced = unreferenced.into_iter().map(|(id, _)| id).collect();
    let locks = repo.locks(now)?;
    out.blocked_by = locks
        .backups
        .iter()
        .next()
        .map(|(key, l)| format!("{key}: {}", l.describe()));
    out.stale_locks = locks.stale;
    Ok(out)
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneOutcome {
    pub snapshots_removed: usize,
    pub chunks_removed: usize,
    pub temporary_removed: usize,
    pub stale_locks_removed: usize,
}

/// Carries out a plan: manifests first, then stale locks, then (unless a backup is running)
/// the chunks still unreferenced and leftovers of interrupted writes.
///
/// # Errors
/// The store refuses a deletion; what was deleted before stays deleted, which is safe.
pub fn apply(
    repo: &Repository,
    plan: &PrunePlan,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PruneOutcome> {
    let mut out = PruneOutcome::default();
    for (name, id) in &plan.remove {
        repo.store().delete(&manifest::snapshot_key(name, id))?;
        out.snapshots_removed += 1;
    }
    repo.store().sync()?;
    for key in &plan.stale_locks {
        repo.unlock(key)?;
        out.stale_locks_removed += 1;
    }
    if plan.blocked_by.is_some() {
        return Ok(out);
    }
    // The prune lock first, then the look for backups: see the module's documentation.
    let lock = repo.lock_prune(now)?;
    let collected = collect(repo, plan, now, &lock, &mut out);
    let unlocked = repo.unlock(&lock);
    collected?;
    unlocked?;
    Ok(out)
}

/// Deletes the plan's unreferenced chunks that are still unreferenced, unless a backup runs.
fn collect(
    repo: &Repository,
    plan: &PrunePlan,
    now: chrono::DateTime<chrono::Utc>,
    lock: &str,
    out: &mut PruneOutcome,
) -> Result<()> {
    if !repo.locks(now)?.backups.is_empty() {
        return Ok(()); // a backup started since the plan: chunks are left for a later prune
    }
    // A backup that ran since the plan may have published a snapshot reusing chunks that
    // were unreferenced then.
    let referenced: HashSet<String> = repo
        .snapshots(None)?
        .into_iter()
        .flat_map(|s| s.chunks)
        .collect();
    let started = Instant::now();
    let mut refreshed = Instant::now();
    for id in plan
        .unreferenced
        .iter()
        .filter(|id| !referenced.contains(*id))
    {
        if refreshed.elapsed() >= PRUNE_LOCK_REFRESH {
            let elapsed = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
            repo.refresh_prune_lock(lock, now + elapsed)?;
            refreshed = Instant::now();
        }
        repo.store().delete(&manifest::chunk_key(id))?;
        out.chunks_removed += 1;
    }
    out.temporary_removed = repo.clean_temporary()?;
    Ok(())
}
