//! `skiff config` as a user runs it: real files in a temporary directory, the real binary.

#![expect(clippy::print_stderr, reason = "a skipped test says why")]

mod support;

use assert_cmd::Command;
use std::path::Path;

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn skiff(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("skiff").expect("binary");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/root")
        .env("NO_COLOR", "1");
    cmd
}

fn stderr_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        !out.status.success(),
        "expected failure, got {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn finds_compose_yaml_and_prints_json() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx:${TAG:-1.27}\n",
    )]);
    let out = skiff(dir.path())
        .args(["config", "--format", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["services"]["web"]["image"], "nginx:1.27");
    let name = dir
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_lowercase();
    assert_eq!(
        v["name"].as_str(),
        Some(skiff_compose::loader::normalize_project_name(&name).as_str())
    );
}

#[test]
fn no_compose_file_says_what_to_do() {
    let dir = project(&[]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("no configuration file provided"), "{err}");
    assert!(err.contains("-f FILE"), "{err}");
}

#[test]
fn yaml_syntax_error_points_at_line_and_column() {
    let dir = project(&[("compose.yaml", "services:\n  web:\n    image: [nginx\n")]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("compose.yaml:"), "{err}");
    assert!(
        err.contains("image: [nginx"),
        "the source line is shown: {err}"
    );
}

#[test]
fn an_unquoted_date_is_refused_where_compose_refuses_it() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    labels:\n      released: 2024-01-02\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(
        err.contains("compose.yaml:5:17: services.web.labels.released invalid jsonType time.Time"),
        "{err}"
    );
    assert!(err.contains("quote it"), "{err}");
}

#[test]
fn a_bad_duration_is_located_in_the_file_that_set_it() {
    let dir = project(&[
        (
            "compose.yaml",
            "services:\n  web:\n    image: a\n    healthcheck:\n      interval: 10s\n",
        ),
        (
            "compose.override.yaml",
            "services:\n  web:\n    healthcheck:\n      interval: 10x\n",
        ),
    ]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(
        err.contains(
            "compose.override.yaml:4:17: services.web.healthcheck.interval: time: unknown unit \"x\""
        ),
        "{err}"
    );
}

#[test]
fn duplicate_key_names_both_lines() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    image: b\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("compose.yaml:4:5"), "{err}");
    assert!(err.contains("already defined at line 3"), "{err}");
}

#[test]
fn alias_bomb_is_rejected_at_once() {
    let mut text = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text.push_str("services:\n  web:\n    image: nginx\n");
    let dir = project(&[("compose.yaml", &text)]);
    let started = std::time::Instant::now();
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("alias"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn undefined_volume_gets_a_hint() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  db:\n    image: postgres\n    volumes: [pgdata:/var/lib/postgresql/data]\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("undefined volume pgdata"), "{err}");
    assert!(err.contains("compose.yaml:4:"), "{err}");
    assert!(err.contains("top-level `volumes:`"), "{err}");
}

#[test]
fn x_skiff_typo_is_located_with_a_suggestion() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\nx-skiff:\n  backup:\n    db: {to: [/tmp]}\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("compose.yaml:5:3"), "{err}");
    assert!(err.contains("did you mean `backups`?"), "{err}");
}

#[test]
fn missing_required_variable_names_the_field() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("services.web.image"), "{err}");
    assert!(err.contains("set IMAGE to the image to run"), "{err}");
    assert!(err.contains("compose.yaml:3:12"), "{err}");
}

#[test]
fn profiles_and_services_listing() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n  debug:\n    image: busybox\n    profiles: [tools]\n",
    )]);
    let out = skiff(dir.path())
        .args(["config", "--services"])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "web\n");
    let out = skiff(dir.path())
        .args(["--profile", "tools", "config", "--services"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("debug") && text.contains("web"), "{text}");
    let out = skiff(dir.path())
        .args(["config", "--profiles"])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tools\n");
}

#[test]
fn the_bundled_example_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    let out = skiff(&example)
        .args(["config", "--format", "json"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["name"], "shop");
    assert_eq!(v["services"]["worker"]["deploy"]["replicas"], 2);
}

#[test]
fn a_missing_required_variable_says_where_to_define_it() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains("export IMAGE=..."), "{err}");
    assert!(
        err.contains(".env (the project's env file; it does not exist yet)"),
        "{err}"
    );
    std::fs::write(dir.path().join(".env"), "OTHER=1\n").expect("write .env");
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(err.contains(".env (read, but it does not set it)"), "{err}");
}

#[test]
fn a_dependency_cycle_points_at_the_entry_that_closes_it() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    depends_on: [db]\n  db:\n    image: pg\n    depends_on: [web]\n",
    )]);
    let err = stderr_of(skiff(dir.path()).arg("config"));
    assert!(
        err.contains("dependency cycle detected: db -> web -> db"),
        "{err}"
    );
    assert!(err.contains("compose.yaml:4:18"), "{err}");
}

/// `config --hash` gives the value docker compose itself computes (and writes into the
/// `com.docker.compose.config-hash` label), service by service.
#[test]
fn config_hash_matches_the_reference_docker_compose() {
    let Some(reference) = support::reference_compose() else {
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    let sorted = |out: Vec<u8>| {
        let mut lines: Vec<String> = String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let ours = skiff(&example)
        .args(["config", "--hash", "*"])
        .output()
        .expect("skiff runs");
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = std::process::Command::new(reference)
        .args(["config", "--hash", "*"])
        .current_dir(&example)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/root")
        .output()
        .expect("docker compose runs");
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let ours = sorted(ours.stdout);
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert_eq!(ours, sorted(theirs.stdout));
}

/// The published schema (`schema/x-skiff.schema.json`, for editors) is what `skiff schema`
/// prints: regenerate it with `skiff schema > schema/x-skiff.schema.json` when the types change.
#[test]
fn the_published_x_skiff_schema_is_current() {
    let published = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/x-skiff.schema.json");
    let published = std::fs::read_to_string(published).expect("schema/x-skiff.schema.json");
    let out = skiff(Path::new(env!("CARGO_MANIFEST_DIR")))
        .arg("schema")
        .output()
        .expect("skiff runs");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        published,
        "regenerate with `skiff schema > schema/x-skiff.schema.json`"
    );
}

/// Input no one writes by hand must still get an error, never a crash: a 1 MB key (as a
/// plain key YAML refuses it; as an explicit key the loader names it), on a terminal or not.
#[test]
fn a_megabyte_service_name_is_an_error_not_a_crash() {
    let name = "a".repeat(1_000_000);
    for text in [
        format!("services:\n  {name}:\n    image: x\n    bogus: 1\n"),
        format!("services:\n  ? {name}\n  : image: x\n    bogus: 1\n"),
    ] {
        let dir = project(&[("compose.yaml", &text)]);
        let out = skiff(dir.path()).arg("config").output().expect("runs");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.len() < 8_000, "{} bytes of error", stderr.len());
        assert!(stderr.contains("compose.yaml:"), "{stderr}");
    }
}
