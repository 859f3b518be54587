//! The projects the daemon owns, kept on disk so that a restarted daemon takes them up
//! again: one file per project, `<dir>/<project>.json`, holding the [`DeployRequest`] as it
//! arrived.
//!
//! The request holds the project's environment values (as the containers' own configuration
//! does), so the directory is created 0700 and each file 0600. Files are written under a
//! temporary name, synced and renamed: a daemon killed while writing leaves the previous
//! file or the new one, never half of one; leftover temporary files are deleted on load.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::wire::DeployRequest;

const SUFFIX: &str = ".json";
const TEMP_SUFFIX: &str = ".json.tmp";

/// Writes (or replaces) the project's deployment.
///
/// # Errors
/// The directory or the file cannot be written.
pub(crate) fn save(dir: &Path, project: &str, request: &DeployRequest) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let body = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    let temp = dir.join(format!("{project}{TEMP_SUFFIX}"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(&body)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path(dir, project))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes the project's deployment; nothing to delete is fine.
///
/// # Errors
/// The file exists and cannot be deleted.
pub(crate) fn forget(dir: &Path, project: &str) -> std::io::Result<()> {
    match fs::remove_file(path(dir, project)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Every deployment kept, by project name. A file that cannot be read or decoded is logged
/// and skipped (the others are still taken up).
///
/// # Errors
/// The directory exists and cannot be listed.
pub(crate) fn load_all(dir: &Path) -> std::io::Result<Vec<(String, DeployRequest)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.ends_with(TEMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
            continue;
        }
        let Some(project) = file_name.strip_suffix(SUFFIX) else {
            continue;
        };
        let decoded = fs::read(entry.path()).and_then(|body| {
            serde_json::from_slice::<DeployRequest>(&body).map_err(std::io::Error::other)
        });
        match decoded {
            Ok(request) => out.push((project.to_owned(), request)),
            Err(error) => tracing::error!(
                %error,
                file = %entry.path().display(),
                "a kept deployment cannot be read; the project is not taken up again"
            ),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn path(dir: &Path, project: &str) -> PathBuf {
    dir.join(format!("{project}{SUFFIX}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn request(n: u64) -> DeployRequest {
        DeployRequest {
            project: crate::StackSource::new("shop", serde_json::json!({"n": n})),
            daemon: None,
            remove_orphans: false,
            alerts: std::collections::BTreeMap::new(),
        }
    }

    #[test]
    fn saved_deployments_load_back_private_and_temporaries_go() {
        let dir = tempfile::tempdir().expect("dir");
        let kept = dir.path().join("deployments");
        save(&kept, "web", &request(1)).expect("save");
        save(&kept, "web", &request(2)).expect("replace");
        save(&kept, "api", &request(3)).expect("save");
        fs::write(kept.join("half.json.tmp"), b"{\"proj").expect("leftover");
        fs::write(kept.join("broken.json"), b"{\"proj").expect("broken");
        let all = load_all(&kept).expect("load");
        assert_eq!(
            all,
            vec![
                ("api".to_owned(), request(3)),
                ("web".to_owned(), request(2))
            ]
        );
        assert!(!kept.join("half.json.tmp").exists());
        let mode = fs::metadata(kept.join("web.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(&kept).expect("meta").permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        forget(&kept, "web").expect("forget");
        forget(&kept, "web").expect("forget twice");
        assert_eq!(load_all(&kept).expect("load").len(), 1);
        assert!(
            load_all(&dir.path().join("none"))
                .expect("absent")
                .is_empty()
        );
    }
}
