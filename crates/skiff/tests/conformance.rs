//! The loader's biggest table: every case of ../shared/conformance, compared with the output
//! docker compose v2.40.3 recorded, by the corpus's own compare.py.

use std::path::PathBuf;
use std::process::Command;

fn corpus() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    root.join("compare.py").is_file().then_some(root)
}

#[test]
fn config_matches_docker_compose_on_every_conformance_case() {
    let Some(root) = corpus() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but ../shared/conformance is missing: the loader's conformance cannot be checked"
        );
        eprintln!("skipping: ../shared/conformance not found beside the repository");
        return;
    };
    let out = Command::new("python3")
        .arg(root.join("compare.py"))
        .arg("--candidate")
        .arg(env!("CARGO_BIN_EXE_skiff"))
        .output()
        .expect("python3 runs compare.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && failures.is_empty(),
        "conformance: {summary}\n{}",
        failures.join("\n")
    );
    assert!(summary.starts_with("706 passed, 0 failed"), "{summary}");
}
