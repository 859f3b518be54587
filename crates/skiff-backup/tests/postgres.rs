//! A real PostgreSQL (Debian's server binaries, run as the `postgres` user when the tests run
//! as root): data backed up, changed, restored and compared row for row; a restore drill
//! into a scratch database; a missing pg_dump. Skips without PostgreSQL, fails under CI=true.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_backup::{
    BackupError, Connection, LocalRunner, Opener, Postgres, RestoreMode, Scratch, Sealer, Silent,
    backup_postgres, drill, restore_postgres,
};
use support::{identity, job, local_for_backup};

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_dump").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

/// A throwaway cluster on a free port, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn as_server_user(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn start() -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            support::skip(
                "PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)",
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "s3cret\n").expect("pwfile");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown the cluster directory to postgres");
        }
        let mut c = Cluster {
            bin: bin.clone(),
            data: data.clone(),
            port: support::free_port(),
            _dir: dir,
        };
        let out = c
            .as_server_user(&bin.join("initdb"))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--pwfile",
            ])
            .arg(&pwfile)
            .arg("-D")
            .arg(&data)
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sock = c._dir.path().to_owned();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            c.port,
            sock.display()
        );
        let out = c
            .as_server_user(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-w", "-l"])
            .arg(c._dir.path().join("log"))
            .arg("start")
            .output()
            .expect("pg_ctl start");
        if !out.status.success() {
            c.port = 0;
            panic!("pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
        }
        Some(c)
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres:s3cret@127.0.0.1:{}/{db}", self.port)
    }

    fn pg(&self, db: &str) -> Postgres {
        Postgres {
            connection: Connection::from_url(&self.url(db)).expect("url"),
            runner: Box::new(LocalRunner {
                bin_dir: Some(self.bin.clone()),
            }),
        }
    }

    fn sql(&self, db: &str, sql: &str) -> String {
        let pg = self.pg(db);
        pg.query(&pg.connection, sql).expect(sql)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .as_server_user(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}

const ROWS: &str =
    "SELECT string_agg(format('%s|%s|%s', id, name, amount), E'\\n' ORDER BY id) FROM items";

#[test]
fn postgres_backup_change_restore_compare_and_drill() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    cluster.sql("postgres", "CREATE DATABASE app");
    cluster.sql(
        "app",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, amount numeric); \
         INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 20000) g; \
         CREATE TABLE users (id serial PRIMARY KEY, email text); \
         INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')",
    );
    let before = cluster.sql("app", ROWS);

    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, recipient) = identity(tmp.path(), "k");
    let sealer = Sealer::encrypted(&[recipient]).expect("sealer");
    let repos = [local_for_backup(&tmp.path().join("repo"), &sealer)];
    let pg = cluster.pg("app");
    let mut j = job("appdb", &sealer, &repos);
    j.source = pg.connection.label();
    let snaps = backup_postgres(&j, &pg).expect("backup");
    assert!(!snaps[0].source.contains("s3cret"), "{}", snaps[0].source);
    assert!(snaps[0].size > 100_000, "{}", snaps[0].size);

    // Change the data, then restore the backup over it.
    cluster.sql("app", "DELETE FROM items WHERE id % 3 = 0; UPDATE items SET name = 'x' WHERE id < 100; DROP TABLE users");
    assert_ne!(cluster.sql("app", ROWS), before);
    let opener = Opener::from_file(&key).expect("id");
    restore_postgres(
        &repos[0],
        &snaps[0],
        &opener,
        &pg,
        &pg.connection,
        RestoreMode::Replace,
        &Silent,
    )
    .expect("restore");
    assert_eq!(cluster.sql("app", ROWS), before, "row for row");
    assert_eq!(cluster.sql("app", "SELECT count(*) FROM users"), "2");

    // A restore drill: scratch database, checks, dropped afterwards.
    let checks = vec![
        "SELECT count(*) = 20000 FROM items".to_owned(),
        "SELECT count(*) > 0 FROM users".to_owned(),
        "SELECT count(*) > 5 FROM users".to_owned(),
    ];
    let report = drill(
        &repos[0],
        &snaps[0],
        &opener,
        &checks,
        &Scratch::Postgres(&pg),
        &Silent,
    )
    .expect("drill");
    assert!(
        report.checks[0].passed && report.checks[1].passed,
        "{report:?}"
    );
    assert!(!report.checks[2].passed && !report.passed, "{report:?}");
    assert_eq!(
        cluster.sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'skiff_verify_%'"
        ),
        "0",
        "scratch database dropped"
    );

    // A wrong password fails with pg_dump's own message, and publishes nothing.
    let wrong = Postgres {
        connection: Connection::from_url(&cluster.url("app").replace("s3cret", "nope"))
            .expect("url"),
        runner: Box::new(LocalRunner {
            bin_dir: Some(cluster.bin.clone()),
        }),
    };
    let err = backup_postgres(&j, &wrong).expect_err("auth fails");
    assert!(err.to_string().contains("pg_dump failed"), "{err}");
    assert!(!err.to_string().contains("nope"), "{err}");
    assert_eq!(repos[0].snapshots(None).expect("list").len(), 1);

    // No pg_dump: named.
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let missing = Postgres {
        connection: pg.connection.clone(),
        runner: Box::new(LocalRunner {
            bin_dir: Some(empty),
        }),
    };
    let err = backup_postgres(&j, &missing).expect_err("no pg_dump");
    assert!(matches!(err, BackupError::MissingProgram { .. }), "{err}");
    assert!(err.to_string().starts_with("pg_dump not found"), "{err}");
}
