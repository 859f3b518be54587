//! The store across versions, processes and crashes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use skiff_store::{Event, Filter, Kind, SCHEMA_VERSION, ServiceState, Store};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_750_000_000_000 + ms).expect("time")
}

fn started(n: i64) -> Event {
    Event::new(at(n), Kind::Started)
        .project("shop")
        .service("web")
        .instance(format!("shop-web-{n}"))
}

/// A database written by schema version 1 (kept as it was written) opens with the current
/// code: migrated, its events intact.
#[test]
fn a_version_1_database_opens_and_migrates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events-v1.db");
    std::fs::copy(&fixture, &path).expect("copy fixture");

    let store = Store::open(&path).expect("open v1");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    let events = store.query(&Filter::default()).expect("query");
    type Brief<'a> = (Kind, Option<&'a str>, Option<i64>, Option<&'a str>);
    let brief: Vec<Brief<'_>> = events
        .iter()
        .map(|r| {
            (
                r.event.kind,
                r.event.instance.as_deref(),
                r.event.exit_code,
                r.event.trigger.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        brief,
        [
            (Kind::Deploy, None, None, None),
            (Kind::Started, Some("shop-web-1"), None, None),
            (Kind::Exited, Some("shop-web-1"), Some(1), Some("exit")),
            (
                Kind::RestartScheduled,
                Some("shop-web-1"),
                None,
                Some("exited with code 1")
            ),
            (
                Kind::Restarted,
                Some("shop-web-1"),
                None,
                Some("exited with code 1")
            ),
        ]
    );
    assert_eq!(events[0].event.time.timestamp_millis(), 1_750_000_000_000);
    assert_eq!(
        events[0].event.detail,
        serde_json::json!({"services": ["web"]})
    );
    let summary = store.summary(Some("shop")).expect("summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].state, ServiceState::Running);
    assert_eq!(summary[0].restarts, 1);

    // New writes go on after the old rows.
    let id = store.append(&started(99)).expect("append");
    assert!(id > events[4].id);
    // And the migrated file opens again without migrating twice.
    drop(store);
    let again = Store::open(&path).expect("reopen");
    assert_eq!(again.query(&Filter::default()).expect("query").len(), 6);
}

/// WAL: a reader on its own connection reads while a writer appends, never fails for a
/// lock, and always sees a committed prefix that only grows.
#[test]
fn a_reader_reads_while_a_writer_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let writer_store = Store::open(&path).expect("open writer");
    const N: i64 = 2_000;
    let writer = thread::spawn(move || {
        for n in 0..N {
            writer_store.append(&started(n)).expect("append");
        }
    });
    let reader_store = Store::open(&path).expect("open reader");
    let mut seen = 0usize;
    let mut reads = 0u32;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let events = reader_store
            .query(&Filter::default())
            .expect("read during writes");
        reads += 1;
        assert!(events.len() >= seen, "a reader saw history shrink");
        // A committed prefix: ids and instance numbers in order, none missing.
        for (i, r) in events.iter().enumerate() {
            assert_eq!(
                r.event.instance.as_deref(),
                Some(format!("shop-web-{i}").as_str())
            );
        }
        seen = events.len();
        if seen == usize::try_from(N).expect("small") {
            break;
        }
        assert!(Instant::now() < deadline, "the writer did not finish");
    }
    writer.join().expect("writer");
    assert!(
        reads > 1,
        "the reader should have read while the writer wrote"
    );
}

const CHILD_ENV: &str = "SKIFF_STORE_TEST_CHILD_DB";

/// The child half of the crash test: appends until killed. Does nothing in a normal run.
#[test]
fn child_writes_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&path)).expect("child open");
    let mut n = 0;
    loop {
        // Large details make each write span many pages: more chances to die inside one.
        let e = started(n).detail(serde_json::json!({"pad": "x".repeat(20_000)}));
        store.append(&e).expect("child append");
        n += 1;
    }
}

/// A writer SIGKILLed mid-write leaves a database that opens, passes SQLite's integrity
/// check, and holds at least every event that was committed before the kill.
#[test]
fn a_writer_killed_with_sigkill_leaves_a_readable_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("events.db");
    // The parent creates the schema, so the child only appends.
    drop(Store::open(&path).expect("create"));
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "child_writes_until_killed", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let reader = Store::open(&path).expect("open reader");
        let before = reader.query(&Filter::default()).expect("read").len();
        let deadline = Instant::now() + Duration::from_secs(60);
        let committed = loop {
            let n = reader.query(&Filter::default()).expect("read").len();
            if n >= before + 50 {
                break n;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the child wrote nothing"
            );
            thread::sleep(Duration::from_millis(5));
        };
        drop(reader);
        // `Child::kill` is SIGKILL on Unix: no destructor, no checkpoint, no rollback.
        child.kill().expect("kill");
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "round {round}: the child ended on its own"
        );

        let store = Store::open(&path).expect("open after the kill");
        assert_eq!(
            store.integrity_problems().expect("integrity check"),
            Vec::<String>::new(),
            "round {round}"
        );
        let after = store
            .query(&Filter::default())
            .expect("read after the kill");
        assert!(
            after.len() >= committed,
            "round {round}: {} events after the kill, {committed} seen committed before",
            after.len()
        );
        store.append(&started(-1)).expect("write after the kill");
    }
}
