//! The daemon's history: every event (deploys, starts, exits, health changes, restarts,
//! crash loops, drift, reconciliations, and what triggered each) in an embedded SQLite
//! database, with retention and a per-service summary for `skiff status`.
//!
//! - [`Store::open`] creates the file (and its directory), switches it to WAL mode (readers
//!   never wait for the writer, and a process killed mid-write leaves a readable database:
//!   an uncommitted transaction is simply not there), waits for locks instead of failing
//!   (`busy_timeout`), and migrates the schema ([`SCHEMA_VERSION`]). A database written by
//!   a newer skiff is refused rather than misread.
//! - [`Store::append`] and [`Store::query`] write and read [`Event`]s; [`Store::retain`]
//!   forgets old ones with a [`Retention`] and a `now` given by the caller (this crate reads
//!   no clock); [`Store::summary`] folds them into [`ServiceSummary`]s.
//!   Backups and restore drills are events too (`backup_succeeded`, `verified`, ...).
//!
//! Durability: `synchronous = NORMAL`, the usual choice with WAL: a committed event survives
//! the process being killed; the last ones may be lost if the machine loses power.
//!
//! Non-goals: no SQL outside this crate (architecture invariant), no environment values in
//! any row (callers record names, codes and reasons), no async (calls are short; an async
//! caller runs them where blocking is fine).

mod backups;
mod event;
mod jobs;
mod schema;
mod summary;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params, params_from_iter};

pub use backups::{BackupSummary, summarize_backups};
pub use event::{Event, Filter, Health, Kind, Recorded, Retention, UnknownName};
pub use jobs::{JOB_OUTCOMES, JobSummary, outcome_name, summarize_jobs};
pub use schema::SCHEMA_VERSION;
pub use summary::{LastError, ServiceState, ServiceSummary, summarize};

/// How long a call waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the history. Cheap calls, one at a time: open one per thread or task
/// that needs it (readers do not block the writer, nor the writer them).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the history at `path`, in WAL mode, migrated to the current schema.
    ///
    /// # Errors
    /// The directory cannot be created, the file cannot be opened or is not a database, WAL
    /// mode cannot be set, or the schema cannot be migrated (including: written by a newer
    /// skiff).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let existed = path.exists();
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotWal {
                path: path.to_owned(),
                mode,
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        // The daemon keeps two connections open for good: a small page cache each (the
        // history is appended to and read by recent time, not scanned).
        conn.pragma_update(None, "cache_size", -512)
            .map_err(open_err)?;
        schema::MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_owned(),
                version: SCHEMA_VERSION,
                source,
            })?;
        if !existed {
            restrict(path)?;
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// Where this store lives.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the file (after [`Store::open`], always [`SCHEMA_VERSION`]).
    ///
    /// # Errors
    /// The version cannot be read.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(sql(&self.path, "read the schema version"))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// What SQLite's `integrity_check` finds wrong with the file; empty when it is sound.
    ///
    /// # Errors
    /// The check could not run.
    pub fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(sql(&self.path, "check integrity"))?;
        let lines: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .map_err(sql(&self.path, "check integrity"))?
            .collect::<Result<_, _>>()
            .map_err(sql(&self.path, "check integrity"))?;
        Ok(lines.into_iter().filter(|l| l != "ok").collect())
    }

    /// Appends one event; returns its id.
    ///
    /// # Errors
    /// The write failed (disk full, the database locked for longer than the busy timeout).
    pub fn append(&self, event: &Event) -> Result<i64, StoreError> {
        let detail =
            serde_json::to_string(&event.detail).map_err(|source| StoreError::EncodeDetail {
                kind: event.kind,
                source,
            })?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO events (time_ms, project, service, instance, kind, exit_code, \
                 health, triggered_by, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(sql(&self.path, "append an event"))?;
        stmt.execute(params![
            event.time.timestamp_millis(),
            event.project,
            event.service,
            event.instance,
            event.kind.as_str(),
            event.exit_code,
            event.health.map(Health::as_str),
            event.trigger,
            detail,
        ])
        .map_err(sql(&self.path, "append an event"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The events the filter selects, in the order they were appended.
    ///
    /// # Errors
    /// The read failed, or a row cannot be understood (a kind this version does not know).
    pub fn query(&self, filter: &Filter) -> Result<Vec<Recorded>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(t) = filter.since {
            sql.push_str(" AND time_ms >= ?");
            args.push(Value::Integer(t.timestamp_millis()));
        }
        if let Some(t) = filter.until {
            sql.push_str(" AND time_ms < ?");
            args.push(Value::Integer(t.timestamp_millis()));
        }
        if let Some(id) = filter.after {
            sql.push_str(" AND id > ?");
            args.push(Value::Integer(id));
        }
        if let Some(p) = &filter.project {
            sql.push_str(" AND project = ?");
            args.push(Value::Text(p.clone()));
        }
        if let Some(s) = &filter.service {
            sql.push_str(" AND service = ?");
            args.push(Value::Text(s.clone()));
        }
        if !filter.kinds.is_empty() {
            let marks = vec!["?"; filter.kinds.len()].join(", ");
            sql.push_str(&format!(" AND kind IN ({marks})"));
            args.extend(
                filter
                    .kinds
                    .iter()
                    .map(|k| Value::Text(k.as_str().to_owned())),
            );
        }
        match filter.limit {
            // The newest `limit`, turned back into the order they happened.
            Some(limit) => {
                sql.push_str(" ORDER BY id DESC LIMIT ?");
                args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
            }
            None => sql.push_str(" ORDER BY id ASC"),
        }
        let mut out = self.select(&sql, params_from_iter(args))?;
        if filter.limit.is_some() {
            out.reverse();
        }
        Ok(out)
    }

    /// Forgets events older than `now - retention.max_age`, except the newest
    /// `retention.keep_at_least` of each service (and of events without a service).
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// The delete failed.
    pub fn retain(&self, now: DateTime<Utc>, retention: &Retention) -> Result<usize, StoreError> {
        let max_age =
            chrono::Duration::from_std(retention.max_age).unwrap_or(chrono::Duration::MAX);
        let cutoff = now
            .checked_sub_signed(max_age)
            .map_or(i64::MIN, |t| t.timestamp_millis());
        let keep = i64::try_from(retention.keep_at_least).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "DELETE FROM events WHERE time_ms < ?1 AND id NOT IN (
                    SELECT id FROM (
                        SELECT id, ROW_NUMBER() OVER (
                            PARTITION BY project, service ORDER BY id DESC
                        ) AS newest
                        FROM events
                    ) WHERE newest <= ?2
                )",
                params![cutoff, keep],
            )
            .map_err(sql(&self.path, "delete old events"))
    }

    /// Each service's summary (of one project, or of all), ordered by project and service.
    /// Services whose instances were all removed are left out.
    ///
    /// # Errors
    /// The read failed, or a row cannot be understood.
    pub fn summary(&self, project: Option<&str>) -> Result<Vec<ServiceSummary>, StoreError> {
        let pairs: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT DISTINCT project, service FROM events
                     WHERE project IS NOT NULL AND service IS NOT NULL
                       AND (?1 IS NULL OR project = ?1)
                     ORDER BY project, service",
                )
                .map_err(sql(&self.path, "list services"))?;
            stmt.query_map(params![project], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(sql(&self.path, "list services"))?
                .collect::<Result<_, _>>()
                .map_err(sql(&self.path, "list services"))?
        };
        let mut out = Vec::new();
        for (project, service) in pairs {
            let events = self.select(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE project = ?1
                       AND (service = ?2 OR (service IS NULL AND kind = 'deploy'))
                     ORDER BY id"
                ),
                params![project, service],
            )?;
            let events: Vec<Event> = events.into_iter().map(|r| r.event).collect();
            out.extend(summarize(&project, &service, &events));
        }
        Ok(out)
    }

    fn select(
        &self,
        sql_text: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql_text)
            .map_err(sql(&self.path, "read events"))?;
        let rows = stmt
            .query_map(args, RawEvent::from_row)
            .map_err(sql(&self.path, "read events"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(sql(&self.path, "read events"))?.decode()?);
        }
        Ok(out)
    }

    #[cfg(test)]
    fn connection(&self) -> &Connection {
        &self.conn
    }
}

const EVENT_COLUMNS: &str =
    "id, time_ms, project, service, instance, kind, exit_code, health, triggered_by, detail";

/// A row as SQLite gives it, before its names and JSON are understood.
struct RawEvent {
    id: i64,
    time_ms: i64,
    project: Option<String>,
    service: Option<String>,
    instance: Option<String>,
    kind: String,
    exit_code: Option<i64>,
    health: Option<String>,
    trigger: Option<String>,
    detail: String,
}

impl RawEvent {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEvent> {
        Ok(RawEvent {
            id: row.get(0)?,
            time_ms: row.get(1)?,
            project: row.get(2)?,
            service: row.get(3)?,
            instance: row.get(4)?,
            kind: row.get(5)?,
            exit_code: row.get(6)?,
            health: row.get(7)?,
            trigger: row.get(8)?,
            detail: row.get(9)?,
        })
    }

    fn decode(self) -> Result<Recorded, StoreError> {
        let id = self.id;
        let corrupt = |what: String| StoreError::Corrupt { id, what };
        Ok(Recorded {
            id,
            event: Event {
                time: time(id, self.time_ms)?,
                kind: self
                    .kind
                    .parse()
                    .map_err(|e: UnknownName| corrupt(format!("event kind: {e}")))?,
                project: self.project,
                service: self.service,
                instance: self.instance,
                exit_code: self.exit_code,
                health: self
                    .health
                    .map(|h| h.parse())
                    .transpose()
                    .map_err(|e: UnknownName| corrupt(format!("health: {e}")))?,
                trigger: self.trigger,
                detail: serde_json::from_str(&self.detail)
                    .map_err(|e| corrupt(format!("detail is not JSON: {e}")))?,
            },
        })
    }
}

fn time(id: i64, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt {
        id,
        what: format!("time {ms} ms is out of range"),
    })
}

/// The history says who ran what and why: only its owner reads it.
#[cfg(unix)]
fn restrict(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        StoreError::Permissions {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn sql<'a>(path: &'a Path, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Sql {
        what,
        path: path.to_owned(),
        source,
    }
}

/// What failed, naming the file or the operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("create directory {} for the event store: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("open the event store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("set permissions of the event store {}: {source}", path.display())]
    Permissions {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "open the event store {}: its journal mode stays {mode:?} instead of WAL (a network file system?)",
        path.display()
    )]
    NotWal { path: PathBuf, mode: String },
    #[error("migrate the event store {} to schema version {version}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        version: usize,
        source: rusqlite_migration::Error,
    },
    #[error("{what} in {}: {source}", path.display())]
    Sql {
        what: &'static str,
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("encode the detail of a {kind} event: {source}")]
    EncodeDetail {
        kind: Kind,
        source: serde_json::Error,
    },
    #[error("encode the detail of a {kind} record: {source}")]
    EncodeRecord {
        kind: String,
        source: serde_json::Error,
    },
    #[error("read row {id} of the event store: {what}")]
    Corrupt { id: i64, what: String },
}

impl StoreError {
    /// Whether the store was written by a newer skiff (upgrade skiff, or use another file).
    #[must_use]
    pub fn is_too_new(&self) -> bool {
        matches!(
            self,
            StoreError::Migrate {
                source: rusqlite_migration::Error::MigrationDefinition(
                    rusqlite_migration::MigrationDefinitionError::DatabaseTooFarAhead
                ),
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests;
