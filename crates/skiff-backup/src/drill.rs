//! Restore drills: restore a snapshot into a throwaway target (never the live one), run the
//! declared checks there, and remove the target again.
//!
//! Checks: an SQL query must return a single true value (`SELECT count(*) > 0 FROM users`);
//! `file:PATH` must exist in a restored directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::error::{BackupError, Result};
use crate::manifest::{Kind, Snapshot};
use crate::postgres::{Postgres, RestoreMode};
use crate::progress::Reporter;
use crate::repo::Repository;
use crate::seal::Opener;

/// Where a drill restores to.
#[derive(Debug)]
pub enum Scratch<'a> {
    /// A throwaway database `skiff_verify_<random>` on this server.
    Postgres(&'a Postgres),
    /// A throwaway directory under this one (the system's temporary directory by default).
    Directory(PathBuf),
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub passed: bool,
    /// What the check saw (the query's output, or why it failed).
    pub detail: String,
}

/// A drill's outcome; the drill itself failing (the restore did not work) is an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillReport {
    pub name: String,
    pub snapshot: String,
    pub location: String,
    pub restored_bytes: u64,
    pub checks: Vec<CheckResult>,
    pub duration_ms: u64,
    pub passed: bool,
}

/// Restores `snap` into a scratch target, runs `checks`, removes the target.
///
/// # Errors
/// The restore failed (damaged backup, wrong key, missing tool), or the scratch target could
/// not be made. Failing checks are not errors: they are in the report.
pub fn drill(
    repo: &Repository,
    snap: &Snapshot,
    opener: &Opener,
    checks: &[String],
    scratch: &Scratch<'_>,
    reporter: &dyn Reporter,
) -> Result<DrillReport> {
    let started = Instant::now();
    let (restored_bytes, results) = match (snap.kind, scratch) {
        (Kind::Postgres, Scratch::Postgres(pg)) => {
            let name = format!("skiff_verify_{}", crate::random_hex(6));
            let conn = pg.create_database(&name)?;
            let outcome = (|| {
                let n = pg.restore(&conn, RestoreMode::Scratch, &mut |w| {
                    crate::restore::restore_stream(repo, snap, opener, w, reporter)
                })?;
                let results = checks
                    .iter()
                    .map(|c| match c.strip_prefix("file:") {
                        Some(_) => CheckResult {
                            check: c.clone(),
                            passed: false,
                            detail: "a file check needs a directory backup".to_owned(),
                        },
                        None => match pg.query(&conn, c) {
                            Ok(out) => CheckResult {
                                check: c.clone(),
                                passed: out == "t",
                                detail: if out == "t" {
                                    "true".to_owned()
                                } else {
                                    format!("returned {out:?}, expected true")
                                },
                            },
                            Err(e) => CheckResult {
                                check: c.clone(),
                                passed: false,
                                detail: e.to_string(),
                            },
                        },
                    })
                    .collect::<Vec<_>>();
                Ok::<_, BackupError>((n, results))
            })();
            let dropped = pg.drop_database(&name);
            let outcome = outcome?;
            dropped?;
            outcome
        }
        (Kind::Directory, Scratch::Directory(parent)) => {
            let dir = parent.join(format!("skiff-verify-{}", crate::random_hex(6)));
            let outcome = (|| {
                let n = crate::restore::restore_directory(repo, snap, opener, &dir, reporter)?;
                let results = checks
                    .iter()
                    .map(|c| file_check(&dir, c))
                    .collect::<Vec<_>>();
                Ok::<_, BackupError>((n, results))
            })();
            let _ = std::fs::remove_dir_all(&dir);
            outcome?
        }
        (kind, _) => {
            return Err(BackupError::RestoreTarget {
                target: "the drill's scratch target".to_owned(),
                reason: format!("a {kind} backup needs a scratch target of its own kind"),
            });
        }
    };
    Ok(DrillReport {
        name: snap.name.clone(),
        snapshot: snap.id.clone(),
        location: repo.location().to_owned(),
        restored_bytes,
        passed: results.iter().all(|r| r.passed),
        checks: results,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn file_check(root: &Path, check: &str) -> CheckResult {
    let Some(path) = check.strip_prefix("file:") else {
        return CheckResult {
            check: check.to_owned(),
            passed: false,
            detail: "an SQL check needs a PostgreSQL backup (write file:PATH for a directory)"
                .to_owned(),
        };
    };
    let rel = path.trim_start_matches('/');
    let safe = Path::new(rel)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    let exists = safe && std::fs::symlink_metadata(root.join(rel)).is_ok();
    CheckResult {
        check: check.to_owned(),
        passed: exists,
        detail: if exists {
            "exists".to_owned()
        } else {
            format!("{rel} is not in the restored tree")
        },
    }
}
