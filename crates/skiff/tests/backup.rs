//! `skiff backup` end to end on a directory backup, as a user runs it: run, list, a restore
//! refused without a terminal, restore with --yes compared by content, an encrypted
//! repository that holds no plaintext, a drill that passes and one that fails, prune keeping
//! the newest. (The library's tests cover PostgreSQL, S3 and the faults.)

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn skiff(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
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
    let text = listed.to_string();
    assert!(text.contains("files"), "{text}");

    // The repository never holds the plaintext.
    for entry in walk(&dir.join("repo")) {
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
    let count = count_snapshots(&listed);
    assert_eq!(count, 1, "{listed}");
    std::fs::write(dir.join("data/a.txt"), "gamma\n").expect("change");
    ok(dir, &["backup", "restore", "files", "--yes"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("data/a.txt")).expect("a"),
        "beta\n"
    );
}

/// Snapshots in `backup list --format json`, whatever the nesting.
fn count_snapshots(v: &Value) -> usize {
    match v {
        Value::Array(items) => {
            if items.iter().all(|i| i.get("id").is_some()) {
                items.len()
            } else {
                items.iter().map(count_snapshots).sum()
            }
        }
        Value::Object(m) => m
            .get("snapshots")
            .map_or_else(|| m.values().map(count_snapshots).sum(), count_snapshots),
        _ => 0,
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
