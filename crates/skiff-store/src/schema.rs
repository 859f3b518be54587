//! The schema, as an append-only list of migrations; SQLite's `user_version` says how many
//! ran. Never edit a released migration: add one. `tests/fixtures` keeps databases written
//! by older versions, opened by the current code in the tests.

use rusqlite_migration::{M, Migrations};

/// Version 1: the event history.
const V1_EVENTS: &str = "
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms      INTEGER NOT NULL,
    project      TEXT,
    service      TEXT,
    instance     TEXT,
    kind         TEXT NOT NULL,
    exit_code    INTEGER,
    health       TEXT,
    triggered_by TEXT,
    detail       TEXT NOT NULL DEFAULT 'null'
) STRICT;
CREATE INDEX events_by_time ON events (time_ms);
CREATE INDEX events_by_service ON events (project, service, id);
";

/// Version 2: events by kind (backups and drills are found by kind).
const V2_BY_KIND: &str = "
CREATE INDEX events_by_kind ON events (kind, id);
";

const STEPS: &[M<'static>] = &[M::up(V1_EVENTS), M::up(V2_BY_KIND)];

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: Migrations<'static> = Migrations::from_slice(STEPS);

/// The schema version the current code writes.
pub const SCHEMA_VERSION: usize = STEPS.len();

/// Only the first `n` migrations: to write old-format fixtures in tests.
#[cfg(test)]
pub(crate) fn migrations_up_to(n: usize) -> Migrations<'static> {
    Migrations::from_slice(&STEPS[..n.min(STEPS.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(MIGRATIONS.validate().is_ok());
    }
}
