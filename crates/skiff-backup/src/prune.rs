//! Prune: plan (which snapshots retention removes, which chunks nothing references), then
//! apply. Manifests are deleted before chunks, so a prune killed half-way leaves only
//! unreferenced chunks, which the next prune collects. Chunks are not collected while a
//! backup holds a lock on the repository (it may be adding them).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use skiff_model::xskiff::Keep;

use crate::error::Result;
use crate::manifest;
use crate::repo::Repository;
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
    out.blocked_by = repo.live_locks(now)?.into_iter().next().map(|(key, l)| {
        format!(
            "{key}: backup {} by pid {} on {} since {}",
            l.backup, l.pid, l.host, l.started
        )
    });
    Ok(out)
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneOutcome {
    pub snapshots_removed: usize,
    pub chunks_removed: usize,
    pub temporary_removed: usize,
}

/// Carries out a plan: manifests first, then (unless a backup is running) chunks, then
/// leftovers of interrupted writes.
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
    // Checked again: a backup that started since the plan may be reusing these chunks.
    if plan.blocked_by.is_none() && repo.live_locks(now)?.is_empty() {
        for id in &plan.unreferenced {
            repo.store().delete(&manifest::chunk_key(id))?;
            out.chunks_removed += 1;
        }
        out.temporary_removed = repo.clean_temporary()?;
    }
    Ok(out)
}
