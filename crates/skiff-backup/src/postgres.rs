//! PostgreSQL through its own tools: `pg_dump --format=custom` to back up, `pg_restore` to
//! restore, `psql` for the checks of a restore drill.
//!
//! The tools run through a [`CommandRunner`]: on this host ([`LocalRunner`]), or wherever
//! the caller's runner puts them (skiff's binary runs them in a service's container with
//! `docker exec`). A password (from the URL) reaches the child only through the environment
//! the runner is given (`PGPASSWORD`), never its arguments, and never a message: the
//! connection is passed as a conninfo string without it.
//!
//! The dump is written uncompressed (`--compress=0`): the repository compresses chunks with
//! zstd, and an uncompressed dump deduplicates between backups where a compressed one does
//! not.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::error::{BackupError, Result};

/// Builds the commands that run PostgreSQL's tools.
pub trait CommandRunner: Send + Sync {
    /// A command running `program` with `args` and, in its environment only, `env`.
    fn command(&self, program: &str, args: &[String], env: &[(String, String)]) -> Command;
    /// Where the tools run, for messages: empty, or ` in container NAME`.
    fn place(&self) -> String {
        String::new()
    }
    /// The program whose absence a spawn failure means (`docker` for a runner using
    /// `docker exec`).
    fn spawned_program(&self, program: &str) -> String {
        program.to_owned()
    }
}

/// Runs the tools on this host, from `bin_dir` when given, else from `PATH`.
#[derive(Debug, Clone, Default)]
pub struct LocalRunner {
    pub bin_dir: Option<PathBuf>,
}

impl CommandRunner for LocalRunner {
    fn command(&self, program: &str, args: &[String], env: &[(String, String)]) -> Command {
        let mut c = match &self.bin_dir {
            Some(d) => Command::new(d.join(program)),
            None => Command::new(program),
        };
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }
}

/// How to reach a database: libpq connection parameters, and the password apart.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// `host`, `port`, `user`, `dbname`, and options such as `sslmode`, in order.
    params: Vec<(String, String)>,
    password: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("params", &self.params)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Connection {
    /// Parses `postgres://user[:password]@host[:port]/database[?option=value...]`.
    ///
    /// # Errors
    /// Not a PostgreSQL URL, or no database.
    pub fn from_url(text: &str) -> Result<Connection> {
        let bad = |reason: &str| BackupError::Url {
            url: redact(text),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "postgres" && url.scheme() != "postgresql" {
            return Err(bad("the scheme must be postgres://"));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut params = Vec::new();
        if let Some(h) = url.host_str().filter(|h| !h.is_empty()) {
            params.push(("host".to_owned(), h.trim_matches(['[', ']']).to_owned()));
        }
        if let Some(p) = url.port() {
            params.push(("port".to_owned(), p.to_string()));
        }
        if !url.username().is_empty() {
            params.push(("user".to_owned(), decode(url.username())));
        }
        let db = decode(url.path().trim_start_matches('/'));
        if db.is_empty() {
            return Err(bad("no database (postgres://user@host:port/DATABASE)"));
        }
        params.push(("dbname".to_owned(), db));
        let mut password = url.password().map(decode);
        for (k, v) in url.query_pairs() {
            if k == "password" {
                password = Some(v.into_owned());
            } else {
                params.push((k.into_owned(), v.into_owned()));
            }
        }
        Ok(Connection { params, password })
    }

    /// A database reached by its local socket (inside a container) or a host and port.
    #[must_use]
    pub fn from_parts(
        database: &str,
        user: Option<&str>,
        host: Option<&str>,
        port: Option<u16>,
    ) -> Connection {
        let mut params = Vec::new();
        if let Some(h) = host {
            params.push(("host".to_owned(), h.to_owned()));
        }
        if let Some(p) = port {
            params.push(("port".to_owned(), p.to_string()));
        }
        if let Some(u) = user {
            params.push(("user".to_owned(), u.to_owned()));
        }
        params.push(("dbname".to_owned(), database.to_owned()));
        Connection {
            params,
            password: None,
        }
    }

    /// Sets the password (passed to the tools as `PGPASSWORD`).
    #[must_use]
    pub fn with_password(mut self, password: Option<String>) -> Connection {
        if password.is_some() {
            self.password = password;
        }
        self
    }

    /// The same server, another database.
    #[must_use]
    pub fn with_database(&self, database: &str) -> Connection {
        let mut c = self.clone();
        for (k, v) in &mut c.params {
            if k == "dbname" {
                database.clone_into(v);
            }
        }
        c
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The database's name.
    #[must_use]
    pub fn database(&self) -> &str {
        self.get("dbname").unwrap_or_default()
    }

    /// A label without the password: `postgres://user@host:port/db`.
    #[must_use]
    pub fn label(&self) -> String {
        let user = self
            .get("user")
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let host = self.get("host").unwrap_or_default();
        let port = self
            .get("port")
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        format!("postgres://{user}{host}{port}/{}", self.database())
    }

    /// The libpq conninfo string (`host='..' dbname='..'`), without the password.
    fn conninfo(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn env(&self) -> Vec<(String, String)> {
        self.password
            .iter()
            .map(|p| ("PGPASSWORD".to_owned(), p.clone()))
            .collect()
    }
}

/// A URL with its password replaced, for messages.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<postgres url>".to_owned(),
    }
}

/// A database and the runner of its tools.
pub struct Postgres {
    pub connection: Connection,
    pub runner: Box<dyn CommandRunner>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("connection", &self.connection)
            .field("place", &self.runner.place())
            .finish()
    }
}

/// How a restore treats the target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode {
    /// Drop and recreate the dumped objects, in one transaction (the live database).
    Replace,
    /// Restore into an empty scratch database, objects owned by the connecting user.
    Scratch,
}

/// A running `pg_dump`: read its output, then [`Dump::finish`].
pub struct Dump {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    program: String,
    place: String,
}

impl Read for Dump {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Dump {
    /// Waits for `pg_dump` to exit; a failure carries its error output.
    ///
    /// # Errors
    /// `pg_dump` failed.
    pub fn finish(&mut self) -> Result<()> {
        let status = self.child.wait().map_err(|e| BackupError::Program {
            program: self.program.clone(),
            status: "not waited for".to_owned(),
            stderr: e.to_string(),
        })?;
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        check_status(&self.program, &self.place, status, &stderr)
    }
}

impl Drop for Dump {
    fn drop(&mut self) {
        // An abandoned dump (the backup failed) is stopped, not left running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn check_status(
    program: &str,
    place: &str,
    status: std::process::ExitStatus,
    stderr: &str,
) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    // docker exec reports a program missing in the container with 126/127.
    if matches!(status.code(), Some(126 | 127))
        && (stderr.contains("not found") || stderr.contains("no such file"))
    {
        return Err(BackupError::MissingProgram {
            program: program.to_owned(),
            where_: place.to_owned(),
        });
    }
    let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
    Err(BackupError::Program {
        program: format!("{program}{place}"),
        status: status.to_string(),
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

fn collect(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        s.push_str(&String::from_utf8_lossy(&buf));
        s
    })
}

impl Postgres {
    fn spawn(
        &self,
        program: &str,
        args: &[String],
        conn: &Connection,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<Child> {
        let mut cmd = self.runner.command(program, args, &conn.env());
        cmd.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BackupError::MissingProgram {
                    program: self.runner.spawned_program(program),
                    where_: String::new(),
                }
            } else {
                BackupError::Program {
                    program: program.to_owned(),
                    status: "did not start".to_owned(),
                    stderr: e.to_string(),
                }
            }
        })
    }

    /// Starts `pg_dump --format=custom` of the database.
    ///
    /// # Errors
    /// `pg_dump` is missing or does not start.
    pub fn dump(&self) -> Result<Dump> {
        let args = vec![
            "--format=custom".to_owned(),
            "--compress=0".to_owned(),
            "--no-password".to_owned(),
            format!("--dbname={}", self.connection.conninfo()),
        ];
        let mut child = self.spawn(
            "pg_dump",
            &args,
            &self.connection,
            Stdio::null(),
            Stdio::piped(),
        )?;
        let stdout = child.stdout.take().ok_or_else(|| BackupError::Program {
            program: "pg_dump".to_owned(),
            status: "no output".to_owned(),
            stderr: String::new(),
        })?;
        let stderr = child.stderr.take().map(collect);
        Ok(Dump {
            child,
            stdout,
            stderr,
            program: "pg_dump".to_owned(),
            place: self.runner.place(),
        })
    }

    /// Runs `pg_restore` into `target`, feeding it the dump through `feed`. On a feed error
    /// `pg_restore` is killed before its input ends, so its transaction never commits.
    ///
    /// # Errors
    /// `pg_restore` fails (its error output says why), or the feed fails.
    pub fn restore(
        &self,
        target: &Connection,
        mode: RestoreMode,
        feed: &mut dyn FnMut(&mut dyn Write) -> Result<u64>,
    ) -> Result<u64> {
        let mut args = vec![
            "--exit-on-error".to_owned(),
            "--single-transaction".to_owned(),
            "--no-password".to_owned(),
            format!("--dbname={}", target.conninfo()),
        ];
        match mode {
            RestoreMode::Replace => {
                args.push("--clean".to_owned());
                args.push("--if-exists".to_owned());
            }
            RestoreMode::Scratch => args.push("--no-owner".to_owned()),
        }
        let mut child = self.spawn("pg_restore", &args, target, Stdio::piped(), Stdio::null())?;
        let stderr = child.stderr.take().map(collect);
        let fed = match child.stdin.take() {
            Some(mut stdin) => {
                let r = feed(&mut stdin);
                if r.is_err() {
                    let _ = child.kill();
                }
                drop(stdin);
                r
            }
            None => Ok(0),
        };
        let status = child.wait().map_err(|e| BackupError::Program {
            program: "pg_restore".to_owned(),
            status: "not waited for".to_owned(),
            stderr: e.to_string(),
        })?;
        let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        match fed {
            // Our own failure (a damaged chunk) is the cause, not the killed pg_restore.
            Err(e) if !matches!(e, BackupError::Target { .. }) => Err(e),
            fed => {
                check_status("pg_restore", &self.runner.place(), status, &stderr)?;
                fed
            }
        }
    }

    /// Runs one SQL statement with `psql` and returns its unaligned output, trimmed.
    ///
    /// # Errors
    /// `psql` is missing or the statement fails.
    pub fn query(&self, target: &Connection, sql: &str) -> Result<String> {
        let args = vec![
            "-X".to_owned(),
            "-q".to_owned(),
            "-t".to_owned(),
            "-A".to_owned(),
            "-v".to_owned(),
            "ON_ERROR_STOP=1".to_owned(),
            "--no-password".to_owned(),
            format!("--dbname={}", target.conninfo()),
            "-c".to_owned(),
            sql.to_owned(),
        ];
        let child = self.spawn("psql", &args, target, Stdio::null(), Stdio::piped())?;
        let out = child.wait_with_output().map_err(|e| BackupError::Program {
            program: "psql".to_owned(),
            status: "not waited for".to_owned(),
            stderr: e.to_string(),
        })?;
        check_status(
            "psql",
            &self.runner.place(),
            out.status,
            &String::from_utf8_lossy(&out.stderr),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Creates an empty database on the same server.
    ///
    /// # Errors
    /// The user may not create databases, or `psql` fails.
    pub fn create_database(&self, name: &str) -> Result<Connection> {
        self.query(
            &self.connection,
            &format!("CREATE DATABASE {}", quote_ident(name)),
        )?;
        Ok(self.connection.with_database(name))
    }

    /// Drops a database, disconnecting its sessions.
    ///
    /// # Errors
    /// `psql` fails.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.query(
            &self.connection,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
        )
        .map(|_| ())
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_password_out_of_conninfo() {
        let c = Connection::from_url("postgres://app:s3cr%40t@127.0.0.1:5433/app?sslmode=disable")
            .expect("url");
        assert_eq!(
            c.conninfo(),
            "host='127.0.0.1' port='5433' user='app' dbname='app' sslmode='disable'"
        );
        assert_eq!(
            c.env(),
            vec![("PGPASSWORD".to_owned(), "s3cr@t".to_owned())]
        );
        assert_eq!(c.label(), "postgres://app@127.0.0.1:5433/app");
        assert!(!format!("{c:?}").contains("s3cr"));
        assert_eq!(
            c.with_database("x").conninfo(),
            "host='127.0.0.1' port='5433' user='app' dbname='x' sslmode='disable'"
        );
    }

    #[test]
    fn bad_urls_are_named_without_password() {
        let err = Connection::from_url("postgres://app:hunter2@host:5432/").expect_err("no db");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("no database"), "{err}");
        assert!(Connection::from_url("mysql://x@y/z").is_err());
    }
}
