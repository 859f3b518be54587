//! `skiff backup` end to end on a directory backup, as a user runs it: run, list, a restore
//! refused without a terminal, restore with --yes compared by content, an encrypted
//! repository that holds no plaintext, a drill that passes and one that fails, prune keeping
//! the newest; a volume of a running service; PostgreSQL in the stack's own container. (The
//! library's tests cover S3 and the faults.) Engine tests skip without an engine and fail
//! under `CI=true`.
#![expect(clippy::print_stderr, reason = "a skipped test says why")]

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn skiff(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SKIFF_STATE_DIR", dir.join("state"))
        .env("SKIFF_NO_DAEMON", "1")
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .stdin(Stdio::null())
        .output()
        .expect("skiff runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = skiff(dir, args);
    assert!(
        out.status.success(),
        "skiff {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn age_keypair(dir: &Path) -> String {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    std::fs::write(
        dir.join("backup.key"),
        format!("{}\n", id.to_string().expose_secret()),
    )
    .expect("key");
    id.to_public().to_string()
}

#[test]
fn a_directory_is_backed_up_restored_drilled_and_pruned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("data/sub")).expect("data");
    std::fs::write(dir.join("data/a.txt"), "alpha\n").expect("a");
    std::fs::write(dir.join("data/sub/b.bin"), vec![7u8; 300_000]).expect("b");
    let recipient = age_keypair(dir);
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            r#"
name: backuptest
services:
  app: {{image: "skiff-test/busybox:1"}}
x-skiff:
  backups:
    files:
      path: ./data
      to: ["./repo"]
      keep: {{last: 1}}
      encrypt: {{recipients: ["{recipient}"], identity_file: ./backup.key}}
      verify: {{checks: ["file:a.txt", "file:sub/b.bin"]}}
"#
        ),
    )
    .expect("compose");

    ok(dir, &["backup", "run"]);
    let listed: Value =
        serde_json::from_str(&ok(dir, &["backup", "list", "--format", "json"])).expect("json");
    let rows = listed.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(
        (&rows[0]["name"], &rows[0]["encrypted"]),
        (&Value::from("files"), &Value::from(true)),
        "{listed}"
    );

    // The repository never holds the plaintext.
    for entry in support::files_under(&dir.join("repo")) {
        let bytes = std::fs::read(&entry).expect("read");
        assert!(
            !bytes.windows(6).any(|w| w == b"alpha\n"),
            "{} holds plaintext",
            entry.display()
        );
    }

    // Changed live data: a restore without a terminal and without --yes is refused.
    std::fs::write(dir.join("data/a.txt"), "changed\n").expect("change");
    std::fs::remove_file(dir.join("data/sub/b.bin")).expect("rm");
    let refused = skiff(dir, &["backup", "restore", "files"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data/a.txt")).expect("a"),
        "changed\n"
    );
    ok(dir, &["backup", "restore", "files", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("data/a.txt")).expect("a"),
        "alpha\n"
    );
    assert_eq!(
        std::fs::read(dir.join("data/sub/b.bin")).expect("b"),
        vec![7u8; 300_000]
    );

    // The drill passes; with a check that cannot pass it fails, and says which.
    ok(dir, &["backup", "verify", "files"]);
    let compose = std::fs::read_to_string(dir.join("compose.yaml")).expect("read");
    std::fs::write(
        dir.join("compose.yaml"),
        compose.replace("\"file:a.txt\"", "\"file:missing.txt\""),
    )
    .expect("write");
    let failed = skiff(dir, &["backup", "verify", "files"]);
    assert!(!failed.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&failed.stdout),
        String::from_utf8_lossy(&failed.stderr)
    );
    assert!(said.contains("missing.txt"), "{said}");

    // A second backup, then prune (keep last 1): the newest stays.
    std::fs::write(dir.join("data/a.txt"), "beta\n").expect("change");
    ok(dir, &["backup", "run", "files"]);
    ok(dir, &["backup", "prune"]);
    let listed: Value =
        serde_json::from_str(&ok(dir, &["backup", "list", "--format", "json"])).expect("json");
    let rows = listed.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["name"], "files", "{listed}");
    std::fs::write(dir.join("data/a.txt"), "gamma\n").expect("change");
    ok(dir, &["backup", "restore", "files", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("data/a.txt")).expect("a"),
        "beta\n"
    );
}

/// A named volume of a running service: backed up with the service paused, changed,
/// restored with the service stopped and started again, compared by checksum inside the
/// container. Needs the Docker Engine (skips without one; fails under `CI=true`).
#[test]
fn a_volume_of_a_running_service_is_backed_up_and_restored() {
    if !support::engine_available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("compose.yaml"),
        r#"
name: skiffbackupvol
services:
  app:
    image: skiff-test/busybox:1
    command: ["sleep", "3600"]
    volumes: ["uploads:/data"]
volumes:
  uploads: {}
x-skiff:
  backups:
    uploads:
      volume: uploads
      to: ["./repo"]
      verify: {checks: ["file:big.bin"]}
"#,
    )
    .expect("compose");
    let run = |args: &[&str]| ok(dir, args);
    let exec = |script: &str| docker_exec("skiffbackupvol-app-1", &["sh", "-c", script]);
    run(&["down", "-v"]);
    run(&["up", "-d", "--wait"]);
    exec(
        "echo hello > /data/a.txt && mkdir -p /data/sub && dd if=/dev/urandom of=/data/big.bin bs=1024 count=2048 2>/dev/null && ln -s a.txt /data/link",
    );
    let before = exec("cd /data && md5sum a.txt big.bin && readlink link");
    let since = engine_time();
    run(&["backup", "run", "uploads"]);
    // The service was paused while it was archived, and runs again.
    assert_eq!(
        container_events("skiffbackupvol-app-1", &since, &["pause", "unpause"]),
        ["pause", "unpause"]
    );
    assert_eq!(
        support::inspect("skiffbackupvol-app-1", "{{.State.Status}}"),
        "running"
    );
    exec("rm -rf /data/a.txt /data/link && echo garbage > /data/big.bin");
    run(&["backup", "restore", "uploads", "--yes"]);
    let after = exec("cd /data && md5sum a.txt big.bin && readlink link");
    assert_eq!(before, after);
    run(&["backup", "verify", "uploads"]);
    run(&["down", "-v"]);
}

/// PostgreSQL in the stack's own container (`postgres: {service: db}`): dumped with `docker
/// exec` into it, changed, restored, compared row for row, drilled into a scratch database
/// on the same server. The image is built from the host's PostgreSQL 15
/// (scripts/build-postgres-image.sh).
#[test]
fn postgres_in_its_container_is_backed_up_restored_and_drilled() {
    if !support::engine_available() {
        return;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-postgres-image.sh");
    let built = Command::new("bash").arg(script).output().expect("bash");
    if !built.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but the PostgreSQL test image could not be built: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        eprintln!("skipping: no PostgreSQL 15 to build the test image from");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(
        dir.join("compose.yaml"),
        r#"
name: skiffbackuppg
services:
  db:
    image: skiff-test/postgres:15
    environment: {POSTGRES_PASSWORD: secret}
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "/tmp", "-U", "app"]
      interval: 1s
      start_period: 60s
x-skiff:
  backups:
    appdb:
      postgres: {service: db, database: app, user: app}
      to: ["./repo"]
      verify: {checks: ["SELECT count(*) = 3 FROM items"]}
"#,
    )
    .expect("compose");
    let run = |args: &[&str]| ok(dir, args);
    let sql = |q: &str| {
        docker_exec(
            "skiffbackuppg-db-1",
            &["psql", "-U", "app", "-d", "app", "-tAc", q],
        )
    };
    run(&["down", "-v"]);
    run(&["up", "-d", "--wait"]);
    sql(
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    );
    let before = sql("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items");
    run(&["backup", "run", "appdb"]);
    sql(
        "DELETE FROM items WHERE id = 2; UPDATE items SET name = 'changed'; INSERT INTO items VALUES (9, 'nine')",
    );
    run(&["backup", "restore", "appdb", "--yes"]);
    assert_eq!(
        sql("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items"),
        before
    );
    run(&["backup", "verify", "appdb"]);
    // The drill's scratch database is gone.
    assert_eq!(
        sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'skiff_verify_%'"),
        "0"
    );
    run(&["down", "-v"]);
}

/// Runs a command in a container; its trimmed output (it must succeed).
fn docker_exec(container: &str, argv: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(argv)
        .output()
        .expect("docker exec");
    assert!(
        out.status.success(),
        "docker exec {container} {argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The engine's clock now, as `docker events --since` takes it.
fn engine_time() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The actions among `actions` the engine recorded for a container since `since`, in order.
fn container_events(container: &str, since: &str, actions: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("docker");
    cmd.args(["events", "--since", since, "--until", &engine_time()])
        .args(["--filter", &format!("container={container}")]);
    for a in actions {
        cmd.args(["--filter", &format!("event={a}")]);
    }
    let out = cmd
        .args(["--format", "{{.Action}}"])
        .output()
        .expect("docker events");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
