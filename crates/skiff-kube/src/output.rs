//! Writing a rendered export into a directory: every file under a temporary name renamed
//! into place (a reader never sees half a file), files a previous export wrote and this one
//! no longer has removed, and never a file outside the directory.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use skiff_k8s::OutputFile;

/// Marks a directory skiff wrote an export into, and lists what it wrote.
pub const MARKER: &str = ".skiff-export";

/// Why an export could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OutputError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to write outside {}: {file}", dir.display())]
    Outside { dir: PathBuf, file: String },
    #[error("{} is not skiff's record of an export: {reason}", marker.display())]
    #[diagnostic(help("remove the marker file and export again"))]
    NotOurs { marker: PathBuf, reason: String },
    #[error(
        "{} is not empty and was not written by `skiff export`: writing into it could mix the \
         export with files that are not part of it",
        dir.display()
    )]
    #[diagnostic(help(
        "choose a new or empty directory, or pass --force to write into it anyway (files of \
         the same name are replaced, nothing else is touched)"
    ))]
    NotEmpty { dir: PathBuf },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OutputError {
    let path = path.to_path_buf();
    move |source| OutputError::Io {
        action,
        path,
        source,
    }
}

/// Writes the files into `dir`. Into a directory skiff wrote before, files of the previous
/// export that this one no longer has are removed; into a non-empty directory skiff did not
/// create, only with `force` (and then nothing else in it is touched).
///
/// # Errors
/// The directory may not be written (see [`OutputError`]), or the file system refused.
pub fn write_output(dir: &Path, files: &[OutputFile], force: bool) -> Result<(), OutputError> {
    let previous = prepare_dir(dir, force)?;
    for file in files {
        let relative = safe_relative(&file.path).ok_or_else(|| OutputError::Outside {
            dir: dir.to_path_buf(),
            file: file.path.clone(),
        })?;
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        write_atomically(&path, file.contents.as_bytes())?;
    }
    let current: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for stale in previous.iter().filter(|p| !current.contains(p.as_str())) {
        let Some(relative) = safe_relative(stale) else {
            continue;
        };
        let path = dir.join(&relative);
        match std::fs::remove_file(&path) {
            Ok(()) => remove_empty_parents(dir, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &path)(e)),
        }
    }
    let marker = serde_json::json!({
        "written_by": "skiff export kubernetes",
        "files": current,
    });
    let text = serde_json::to_string_pretty(&marker).unwrap_or_default();
    write_atomically(&dir.join(MARKER), text.as_bytes())
}

/// Makes sure `dir` may be written and returns the files a previous export wrote there.
fn prepare_dir(dir: &Path, force: bool) -> Result<Vec<String>, OutputError> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
            Ok(Vec::new())
        }
        Err(e) => Err(io("read", dir)(e)),
        Ok(mut entries) => {
            if entries.next().is_none() {
                return Ok(Vec::new());
            }
            let marker = dir.join(MARKER);
            if let Ok(text) = std::fs::read_to_string(&marker) {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| OutputError::NotOurs {
                        marker: marker.clone(),
                        reason: e.to_string(),
                    })?;
                let files = value["files"]
                    .as_array()
                    .map(|files| {
                        files
                            .iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok(files);
            }
            if force {
                return Ok(Vec::new());
            }
            Err(OutputError::NotEmpty {
                dir: dir.to_path_buf(),
            })
        }
    }
}

/// A relative path made only of normal components.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let normal = p.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && !path.is_empty()).then(|| p.to_path_buf())
}

fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.skiff-tmp"));
    // No fsync per file: thousands of them would cost more than the export itself. The rename
    // keeps readers from seeing half a file; after a crash, exporting again rewrites all.
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(contents));
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    renamed.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("write", path)(e)
    })
}

/// Removes the directories between `path` and `root` that are left empty.
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> OutputFile {
        OutputFile {
            path: path.into(),
            contents: contents.into(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("skiff-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn only_plain_relative_paths_are_written_or_removed() {
        assert!(safe_relative("overlays/prod/kustomization.yaml").is_some());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./x"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_second_export_removes_what_the_first_wrote_and_this_one_has_not() {
        let dir = scratch("stale");
        write_output(&dir, &[file("a/x.yaml", "1"), file("b.yaml", "2")], false).unwrap();
        write_output(&dir, &[file("b.yaml", "3")], false).unwrap();
        assert!(!dir.join("a").exists(), "the emptied directory is removed");
        assert_eq!(std::fs::read_to_string(dir.join("b.yaml")).unwrap(), "3");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_skiff_did_not_write_is_written_only_with_force() {
        let dir = scratch("foreign");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let refused = write_output(&dir, &[file("a.yaml", "1")], false).unwrap_err();
        assert!(matches!(refused, OutputError::NotEmpty { .. }), "{refused}");
        write_output(&dir, &[file("a.yaml", "1")], true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
            "mine"
        );
        let outside = write_output(&dir, &[file("../escape.yaml", "1")], false).unwrap_err();
        assert!(matches!(outside, OutputError::Outside { .. }), "{outside}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
