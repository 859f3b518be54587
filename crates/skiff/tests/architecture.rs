//! The dependency rules ARCHITECTURE.md states, checked from `cargo metadata` and the
//! sources, so that a change that breaks one fails here rather than in review.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Each workspace crate and the crates it depends on (normal dependencies).
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            (p["name"].as_str().unwrap_or_default().to_owned(), deps)
        })
        .collect()
}

#[test]
fn only_skiff_docker_knows_bollard() {
    for (krate, deps) in dependencies() {
        if krate != "skiff-docker" {
            assert!(
                !deps.contains(&"bollard".to_owned()),
                "{krate} depends on bollard"
            );
        }
    }
}

#[test]
fn the_daemon_core_does_not_know_the_runtimes() {
    let deps = dependencies();
    for runtime in ["skiff-process", "skiff-docker", "skiff-host"] {
        assert!(
            !deps["skiff-daemon"].contains(&runtime.to_owned()),
            "skiff-daemon depends on {runtime}"
        );
    }
}

#[test]
fn pure_crates_do_no_io() {
    let deps = dependencies();
    for krate in [
        "skiff-model",
        "skiff-plan",
        "skiff-compose",
        "skiff-jobs",
        "skiff-k8s",
    ] {
        for io in ["tokio", "bollard", "rusqlite", "reqwest", "nix", "kube"] {
            assert!(
                !deps[krate].contains(&io.to_owned()),
                "{krate} is pure and depends on {io}"
            );
        }
    }
}

/// Lines of a source file before its unit tests (blank ones too: counted as `wc -l` would).
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .count()
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn the_binary_is_thin() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    for (path, text) in &files {
        assert!(!text.contains("bollard"), "{path} names bollard");
    }
    let lines: usize = files.iter().map(|(_, t)| code_lines(t)).sum();
    assert!(
        lines < 4_500,
        "crates/skiff/src has {lines} non-test lines: terminal code only; the rest belongs in a library crate"
    );
}
