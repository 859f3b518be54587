//! Directory backups against a real local repository: restore compared by checksum,
//! deduplication, and the faults of "nothing lost" (a failed backup, a wrong key, a damaged
//! chunk, a full disk).

mod support;

use std::collections::BTreeMap;
use std::io::Read;

use skiff_backup::{
    BackupError, Kind, Lock, Opener, Progress, Repository, Sealer, Silent, Store, StreamSource,
    backup_directory, backup_stream, prune, restore_directory,
};
use skiff_model::xskiff::Keep;
use support::{du, fingerprint, identity, job, local, local_for_backup, make_tree};

#[test]
fn encrypted_directory_round_trip_and_dedup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    make_tree(&src);
    let (key, recipient) = identity(tmp.path(), "backup.key");
    let sealer = Sealer::encrypted(&[recipient]).expect("sealer");
    let repo_dir = tmp.path().join("repo");
    let repos = [local_for_backup(&repo_dir, &sealer)];

    let first = backup_directory(&job("files", &sealer, &repos), &src).expect("backup");
    assert_eq!(first.len(), 1);
    let first = &first[0];
    assert_eq!(first.kind, Kind::Directory);
    assert_eq!(first.files, 4);
    let first_bytes = du(&repo_dir);

    // The repository never holds plaintext: neither file contents nor names.
    for o in repos[0].store().list("").expect("list") {
        let data = repos[0]
            .store()
            .get(&o.key)
            .expect("get")
            .unwrap_or_default();
        for needle in [&b"hello\n"[..], b"a,b\n1,2", b"data.csv", b"deeper"] {
            assert!(
                !data.windows(needle.len()).any(|w| w == needle),
                "{} holds plaintext {:?}",
                o.key,
                String::from_utf8_lossy(needle)
            );
        }
    }

    // Restore into a fresh directory, compared by checksum, mode and link.
    let opener = Opener::from_file(&key).expect("identity");
    let listed = local(&repo_dir).snapshots(Some("files")).expect("list");
    assert_eq!(listed.len(), 1);
    let out = tmp.path().join("out");
    restore_directory(&repos[0], &listed[0], &opener, &out, &Silent).expect("restore");
    assert_eq!(fingerprint(&src), fingerprint(&out));

    // A second backup of unchanged data stores almost nothing (< 5%), even without the
    // files cache (every file read and chunked again).
    let second = backup_directory(&job("files", &sealer, &repos), &src).expect("second backup");
    let added = du(&repo_dir) - first_bytes;
    assert!(
        added * 20 < first_bytes,
        "second backup added {added} bytes, first stored {first_bytes}"
    );
    assert_eq!(second[0].added, added, "the manifest counts what it added");
    assert_eq!(
        local(&repo_dir)
            .snapshots(Some("files"))
            .expect("list")
            .len(),
        2
    );

    // Restoring over a changed directory replaces its contents exactly.
    std::fs::write(out.join("hello.txt"), b"changed").expect("write");
    std::fs::write(out.join("stray"), b"x").expect("write");
    std::fs::remove_file(out.join("link")).expect("rm");
    restore_directory(&repos[0], &second[0], &opener, &out, &Silent).expect("restore again");
    assert_eq!(fingerprint(&src), fingerprint(&out));
}

#[test]
fn files_cache_skips_unchanged_files_and_sees_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    make_tree(&src);
    let sealer = Sealer::plain();
    let repo_dir = tmp.path().join("repo");
    let repos = [local_for_backup(&repo_dir, &sealer)];
    let notes = std::sync::Mutex::new(Vec::new());
    let collect = |p: Progress| {
        if let Progress::Note(n) = p {
            notes.lock().expect("notes").push(n);
        }
    };
    let mut j = job("files", &sealer, &repos);
    j.cache_dir = Some(tmp.path().join("cache"));
    j.reporter = &collect;
    let skipped = |notes: &[String]| -> Vec<String> {
        notes
            .iter()
            .filter(|n| n.contains("unchanged"))
            .cloned()
            .collect()
    };

    backup_directory(&j, &src).expect("first");
    assert_eq!(
        skipped(&notes.lock().expect("notes")),
        Vec::<String>::new(),
        "nothing is cached yet"
    );
    notes.lock().expect("notes").clear();

    // Same size, new content: a cache keyed on the size alone would miss it.
    std::fs::write(src.join("hello.txt"), b"HELLO\n").expect("change");
    let second = backup_directory(&j, &src).expect("second");
    // Four regular files (big.bin, hello.txt, sub/empty, sub/deeper/data.csv): all but the
    // changed one are taken from the cache.
    assert_eq!(
        skipped(&notes.lock().expect("notes")),
        ["files: 3 unchanged files not read again (files cache)"]
    );
    let out = tmp.path().join("out");
    restore_directory(&repos[0], &second[0], &Opener::none(), &out, &Silent).expect("restore");
    assert_eq!(
        std::fs::read(out.join("hello.txt")).expect("read"),
        b"HELLO\n"
    );
    assert_eq!(fingerprint(&src), fingerprint(&out));
}

/// A source that fails half-way, like a dump killed mid-way.
struct Failing {
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("source died"));
        }
        let n = buf.len().min(self.left);
        buf[..n].copy_from_slice(&support::noise(n, self.left as u64));
        self.left -= n;
        Ok(n)
    }
}

impl StreamSource for Failing {}

/// A source that reads fine but whose producer reports failure at the end.
struct FailsAtEnd(std::io::Cursor<Vec<u8>>);

impl Read for FailsAtEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl StreamSource for FailsAtEnd {
    fn finish(&mut self) -> skiff_backup::Result<()> {
        Err(BackupError::Program {
            program: "pg_dump".to_owned(),
            status: "exit status: 1".to_owned(),
            stderr: "connection lost".to_owned(),
        })
    }
}

#[test]
fn a_failed_backup_never_appears_and_older_ones_remain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealer = Sealer::plain();
    let repo_dir = tmp.path().join("repo");
    let repos = [local_for_backup(&repo_dir, &sealer)];
    let mut good = std::io::Cursor::new(support::noise(3 << 20, 1));
    struct Ok_<'a>(&'a mut std::io::Cursor<Vec<u8>>);
    impl Read for Ok_<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl StreamSource for Ok_<'_> {}
    let older = backup_stream(
        &job("db", &sealer, &repos),
        Kind::Postgres,
        &mut Ok_(&mut good),
    )
    .expect("good backup");

    let err = backup_stream(
        &job("db", &sealer, &repos),
        Kind::Postgres,
        &mut Failing { left: 6 << 20 },
    )
    .expect_err("fails half-way");
    assert!(err.to_string().contains("source died"), "{err}");
    let err = backup_stream(
        &job("db", &sealer, &repos),
        Kind::Postgres,
        &mut FailsAtEnd(std::io::Cursor::new(support::noise(2 << 20, 9))),
    )
    .expect_err("producer failed");
    assert!(err.to_string().contains("connection lost"), "{err}");

    let listed = local(&repo_dir).snapshots(None).expect("list");
    assert_eq!(
        listed.iter().map(|s| &s.id).collect::<Vec<_>>(),
        [&older[0].id]
    );
    // The failed backups left no lock, no temporary file, and no chunk under its final name:
    // a local store names chunks only once they are synced, just before a manifest is
    // published. (An object store keeps them unreferenced until a prune: see tests/s3.rs.)
    let plan = prune::plan(&repos[0], &BTreeMap::new(), chrono::Utc::now()).expect("plan");
    assert!(plan.blocked_by.is_none(), "{plan:?}");
    assert!(plan.unreferenced.is_empty(), "{plan:?}");
    assert!(repos[0].store().list("tmp/").expect("list").is_empty());
    prune::apply(&repos[0], &plan, chrono::Utc::now()).expect("prune");
    let mut out = Vec::new();
    skiff_backup::restore_stream(&repos[0], &listed[0], &Opener::none(), &mut out, &Silent)
        .expect("older backup restores");
    assert_eq!(out, support::noise(3 << 20, 1));
}

#[test]
fn wrong_key_and_damaged_chunk_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    make_tree(&src);
    let (_key, recipient) = identity(tmp.path(), "right.key");
    let (wrong, _) = identity(tmp.path(), "wrong.key");
    let sealer = Sealer::encrypted(&[recipient]).expect("sealer");
    let repo_dir = tmp.path().join("repo");
    let repos = [local_for_backup(&repo_dir, &sealer)];
    let snap = backup_directory(&job("files", &sealer, &repos), &src).expect("backup");

    let err = restore_directory(
        &repos[0],
        &snap[0],
        &Opener::from_file(&wrong).expect("id"),
        &tmp.path().join("out"),
        &Silent,
    )
    .expect_err("wrong key");
    assert!(
        err.to_string().contains(&format!(
            "the identity in {} does not decrypt this backup",
            wrong.display()
        )),
        "{err}"
    );
    let err = restore_directory(
        &repos[0],
        &snap[0],
        &Opener::none(),
        &tmp.path().join("out"),
        &Silent,
    )
    .expect_err("no key");
    assert!(matches!(err, BackupError::IdentityNeeded { .. }), "{err}");

    // Damage one chunk: the restore names it, and the target is left as it was.
    let chunk = repos[0]
        .store()
        .list("chunks/")
        .expect("list")
        .into_iter()
        .max_by_key(|o| o.size)
        .expect("a chunk");
    let path = repo_dir.join(&chunk.key);
    let mut data = std::fs::read(&path).expect("read");
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    std::fs::write(&path, data).expect("write");
    let target = tmp.path().join("target");
    std::fs::create_dir_all(&target).expect("mkdir");
    std::fs::write(target.join("keep.txt"), b"live data").expect("write");
    let err = restore_directory(
        &repos[0],
        &snap[0],
        &Opener::from_file(&tmp.path().join("right.key")).expect("id"),
        &target,
        &Silent,
    )
    .expect_err("corrupt");
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&chunk.key), "{err}");
    assert_eq!(
        std::fs::read(target.join("keep.txt")).expect("kept"),
        b"live data"
    );
    assert_eq!(
        std::fs::read_dir(&target).expect("ls").count(),
        1,
        "staging removed"
    );
}

#[test]
fn plaintext_is_never_written_into_an_encrypted_repository() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, recipient) = identity(tmp.path(), "k");
    let enc = Sealer::encrypted(&[recipient]).expect("sealer");
    let repo_dir = tmp.path().join("repo");
    let _ = local_for_backup(&repo_dir, &enc);
    let err = Repository::open_for_backup(
        Box::new(skiff_backup::LocalStore::new(&repo_dir)),
        &Sealer::plain(),
    )
    .expect_err("refused");
    assert!(
        matches!(err, BackupError::PlaintextIntoEncrypted { .. }),
        "{err}"
    );
}

/// A store that fails with ENOSPC after some bytes, for machines where a small tmpfs cannot
/// be mounted.
struct FullAfter {
    inner: skiff_backup::LocalStore,
    left: std::sync::Mutex<u64>,
}

impl Store for FullAfter {
    fn location(&self) -> &str {
        self.inner.location()
    }
    fn put(&self, key: &str, data: &[u8]) -> skiff_backup::Result<()> {
        let mut left = self.left.lock().expect("lock");
        if *left < data.len() as u64 {
            return Err(BackupError::NoSpace {
                location: self.inner.location().to_owned(),
            });
        }
        *left -= data.len() as u64;
        self.inner.put(key, data)
    }
    fn get(&self, key: &str) -> skiff_backup::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn list(&self, prefix: &str) -> skiff_backup::Result<Vec<skiff_backup::store::ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> skiff_backup::Result<()> {
        self.inner.delete(key)
    }
    fn sync(&self) -> skiff_backup::Result<()> {
        self.inner.sync()
    }
    fn abandon(&self) {
        self.inner.abandon();
    }
    fn clean_temporary(&self, older_than: std::time::SystemTime) -> skiff_backup::Result<usize> {
        self.inner.clean_temporary(older_than)
    }
}

#[test]
fn a_full_disk_is_named_and_publishes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = tmp.path().join("src");
    make_tree(&src);
    let sealer = Sealer::plain();
    let mnt = tmp.path().join("small");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    // A real full disk: a 4 MB tmpfs (needs root); otherwise the failure is injected.
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let store: Box<dyn Store> = if mounted {
        Box::new(skiff_backup::LocalStore::new(&mnt))
    } else {
        eprintln!("cannot mount a tmpfs (not root): injecting ENOSPC through the Store trait");
        Box::new(FullAfter {
            inner: skiff_backup::LocalStore::new(&mnt),
            left: std::sync::Mutex::new(4 << 20),
        })
    };
    let repos = [Repository::open_for_backup(store, &sealer).expect("open")];
    let err = backup_directory(&job("files", &sealer, &repos), &src).expect_err("disk full");
    let listed = repos[0].snapshots(None);
    if mounted {
        let _ = std::process::Command::new("umount").arg(&mnt).status();
    }
    assert!(matches!(err, BackupError::NoSpace { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("no space left on {}", mnt.display())
    );
    assert!(listed.expect("list").is_empty());
}

#[test]
fn prune_keeps_the_newest_and_collects_unreferenced_chunks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealer = Sealer::plain();
    let repo_dir = tmp.path().join("repo");
    let repos = [local_for_backup(&repo_dir, &sealer)];
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let base = chrono::Utc::now() - chrono::Duration::days(10);
    for day in 0..4 {
        std::fs::write(src.join("f"), support::noise(2 << 20, day)).expect("write");
        let mut j = job("files", &sealer, &repos);
        j.now = base + chrono::Duration::days(i64::try_from(day).expect("day"));
        backup_directory(&j, &src).expect("backup");
    }
    let before = du(&repo_dir);
    let policies = BTreeMap::from([(
        "files".to_owned(),
        Keep {
            last: 1,
            ..Keep::default()
        },
    )]);
    let plan = prune::plan(&repos[0], &policies, chrono::Utc::now()).expect("plan");
    assert_eq!(plan.remove.len(), 3);
    let done = prune::apply(&repos[0], &plan, chrono::Utc::now()).expect("apply");
    assert_eq!(done.snapshots_removed, 3);
    assert!(done.chunks_removed >= 3, "{done:?}");
    assert!(du(&repo_dir) * 3 < before);
    let left = repos[0].snapshots(Some("files")).expect("list");
    assert_eq!(left.len(), 1);
    let out = tmp.path().join("out");
    restore_directory(&repos[0], &left[0], &Opener::none(), &out, &Silent).expect("restore");
    assert_eq!(
        std::fs::read(out.join("f")).expect("read"),
        support::noise(2 << 20, 3)
    );

    // Even a policy of nothing keeps the last backup.
    let nothing = BTreeMap::from([("files".to_owned(), Keep::default())]);
    let plan = prune::plan(&repos[0], &nothing, chrono::Utc::now()).expect("plan");
    assert!(plan.remove.is_empty());
}

/// A lock left by a process that is gone: another host's, two days old.
fn stale_lock(repo: &Repository, key: &str) {
    let lock = Lock {
        host: "elsewhere".to_owned(),
        pid: 4242,
        started: chrono::Utc::now() - chrono::Duration::days(2),
        backup: "files".to_owned(),
    };
    repo.store()
        .put(key, &serde_json::to_vec(&lock).expect("json"))
        .expect("put lock");
}

#[test]
fn prune_dry_run_changes_nothing_and_apply_removes_stale_locks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealer = Sealer::plain();
    let repos = [local_for_backup(&tmp.path().join("repo"), &sealer)];
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("f"), b"data").expect("write");
    backup_directory(&job("files", &sealer, &repos), &src).expect("backup");
    stale_lock(&repos[0], "locks/4242-dead.json");
    repos[0]
        .store()
        .put("locks/4243-garbled.json", b"{not json")
        .expect("put");
    let listed = || {
        repos[0]
            .store()
            .list("locks/")
            .expect("list")
            .into_iter()
            .map(|o| o.key)
            .collect::<Vec<_>>()
    };

    // A dry run only plans: the stale locks are reported, not removed.
    let plan = prune::plan(&repos[0], &BTreeMap::new(), chrono::Utc::now()).expect("plan");
    assert_eq!(
        plan.stale_locks,
        ["locks/4242-dead.json", "locks/4243-garbled.json"]
    );
    assert!(
        plan.blocked_by.is_none(),
        "a stale lock blocks nothing: {plan:?}"
    );
    assert_eq!(
        listed(),
        ["locks/4242-dead.json", "locks/4243-garbled.json"]
    );

    let done = prune::apply(&repos[0], &plan, chrono::Utc::now()).expect("apply");
    assert_eq!(done.stale_locks_removed, 2);
    assert_eq!(
        listed(),
        Vec::<String>::new(),
        "and the prune's own lock is gone"
    );
}

#[test]
fn a_backup_waits_for_a_prune_that_is_deleting_and_fails_if_it_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealer = Sealer::plain();
    let repo_dir = tmp.path().join("repo");
    let repos = [local_for_backup(&repo_dir, &sealer)];
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("f"), support::noise(1 << 20, 5)).expect("write");

    // A prune that died on another host long ago does not hold anyone up.
    let old_prune = Lock {
        host: "elsewhere".to_owned(),
        pid: 1,
        started: chrono::Utc::now() - chrono::Duration::hours(2),
        backup: String::new(),
    };
    repos[0]
        .store()
        .put(
            "locks/prune-1-old.json",
            &serde_json::to_vec(&old_prune).expect("json"),
        )
        .expect("put");
    backup_directory(&job("files", &sealer, &repos), &src).expect("a stale prune lock");

    // A prune deleting now: the backup waits, then fails naming it, and publishes nothing.
    let lock = repos[0].lock_prune(chrono::Utc::now()).expect("prune lock");
    let mut j = job("files", &sealer, &repos);
    j.prune_wait = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = backup_directory(&j, &src).expect_err("a prune is deleting");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(matches!(err, BackupError::Pruning { .. }), "{err:?}");
    assert!(err.to_string().contains(&lock), "{err}");
    assert!(err.is_retryable());
    assert_eq!(repos[0].snapshots(None).expect("list").len(), 1);
    assert!(
        repos[0]
            .locks(chrono::Utc::now())
            .expect("locks")
            .backups
            .is_empty(),
        "the failed backup released its lock"
    );

    // The prune ends while the backup waits: the backup goes on.
    j.prune_wait = std::time::Duration::from_secs(30);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            repos[0].unlock(&lock).expect("unlock");
        });
        backup_directory(&j, &src).expect("backup after the prune");
    });
    assert_eq!(repos[0].snapshots(None).expect("list").len(), 2);
}

#[test]
fn prune_keeps_chunks_a_backup_reused_after_the_plan() {
    // Regression: a backup that ran between a prune's plan and its deletes reused chunks the
    // plan had found unreferenced; the prune deleted them under the new snapshot.
    let tmp = tempfile::tempdir().expect("tempdir");
    let sealer = Sealer::plain();
    let repos = [local_for_backup(&tmp.path().join("repo"), &sealer)];
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let base = chrono::Utc::now() - chrono::Duration::days(3);
    for (day, seed) in [(0, 1), (1, 2)] {
        std::fs::write(src.join("f"), support::noise(2 << 20, seed)).expect("write");
        let mut j = job("files", &sealer, &repos);
        j.now = base + chrono::Duration::days(day);
        backup_directory(&j, &src).expect("backup");
    }
    let policies = BTreeMap::from([(
        "files".to_owned(),
        Keep {
            last: 1,
            ..Keep::default()
        },
    )]);
    let plan = prune::plan(&repos[0], &policies, chrono::Utc::now()).expect("plan");
    assert_eq!(plan.remove.len(), 1);
    assert!(!plan.unreferenced.is_empty());

    // Meanwhile the first day's data comes back and is backed up: its chunks are still
    // stored, so the backup reuses them instead of storing them again.
    std::fs::write(src.join("f"), support::noise(2 << 20, 1)).expect("write");
    let again = backup_directory(&job("files", &sealer, &repos), &src).expect("backup");
    assert!(
        again[0].added < 1 << 20,
        "reused, not stored again: {}",
        again[0].added
    );

    let done = prune::apply(&repos[0], &plan, chrono::Utc::now()).expect("apply");
    assert_eq!(done.snapshots_removed, 1);
    assert_eq!(done.chunks_removed, 0, "{done:?}");
    let out = tmp.path().join("out");
    restore_directory(&repos[0], &again[0], &Opener::none(), &out, &Silent)
        .expect("the new snapshot restores");
    assert_eq!(
        std::fs::read(out.join("f")).expect("read"),
        support::noise(2 << 20, 1)
    );
}
