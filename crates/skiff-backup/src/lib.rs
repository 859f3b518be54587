//! Backups you can restore: a deduplicating, compressed, encrypted repository in a local
//! directory or an S3-compatible bucket; PostgreSQL and directory sources; retention; and
//! restore drills that prove a backup restores.
//!
//! # Repository layout
//!
//! ```text
//! <destination>/
//!   skiff-backup.json             format, and whether backups here are encrypted
//!   chunks/<ab>/<id>              one chunk: "SKB1", flags, age(zstd(plaintext)) or zstd(plaintext)
//!   snapshots/<name>/<id>.json    a published snapshot manifest (the only thing `list` reads)
//!   locks/<pid>-<rand>.json       a backup running now (prune leaves chunks alone meanwhile)
//!   locks/prune-<pid>-<rand>.json a prune deleting chunks now (a backup waits for it)
//!   tmp/                          a local directory's writes in progress (never listed)
//! ```
//!
//! Sources are cut into content-defined chunks (FastCDC, about 1 MiB on average): a chunk
//! that any earlier backup stored is not stored again, so a second backup of unchanged data
//! adds only its manifest. A directory's unchanged files (same size, times, inode) are not
//! even read again: a files cache on the backup host remembers their chunks.
//!
//! # Guarantees
//!
//! - **Nothing half-written is visible.** Chunks are written first (each atomically: a
//!   temporary file, `fsync`, `rename`; an object store's PUT); once every chunk is stored
//!   and synced, the manifest is put under its final key, which is the publication. An
//!   interrupted or failed backup never appears in [`Repository::snapshots`] and never
//!   removes an older one. A local directory gives chunks their final names only once their
//!   data is synced, just before the manifest; an interrupted backup leaves temporary files
//!   (an object store: unreferenced chunks), which [`prune`] collects.
//! - **Everything read is checked.** A chunk is checked against its id before a byte of it
//!   is used, a file against its SHA-256, a dump's list of chunks against the snapshot's
//!   digest. A damaged object is an error naming it ([`BackupError::Corrupt`]).
//! - **No plaintext in an encrypted repository.** Chunks and each manifest's detail (file
//!   names, modes, checksums, the order of a dump's chunks) are encrypted to the age
//!   recipients; only an identity decrypts them, and only restores need one. What stays
//!   readable: the backup's name, kind, time, sizes, the source's label (never a password)
//!   and the ids of the chunks it references, so that `list` and `prune` work without a key.
//!   Chunk ids are keyed: an HMAC-SHA256 under a key derived from the recipient list (see
//!   [`seal`]), so they cannot be matched against hashes of known data by someone holding
//!   only the repository; someone who also knows the recipients can test a guess.
//! - **Retention never deletes the newest backup** ([`retention`]); [`prune`] deletes
//!   manifests before chunks, no chunks while a backup holds a lock, and only chunks that no
//!   snapshot references when it deletes them; a backup does not start while a prune deletes.
//! - **Secrets stay out of argv, logs and errors**: a PostgreSQL password reaches `pg_dump`
//!   through `PGPASSWORD` only; an identity file is named by its path, never quoted.
//!
//! # Non-goals
//!
//! No clap, no terminal (progress goes to a [`progress::Reporter`]), no Docker: a named
//! volume is backed up by the caller as a directory (its mountpoint), and a database in a
//! container through a [`postgres::CommandRunner`] the caller provides. The daemon's
//! schedule and history are the daemon's.

pub mod backup;
pub mod drill;
pub mod error;
pub mod manifest;
pub mod postgres;
pub mod progress;
pub mod prune;
pub mod repo;
pub mod restore;
pub mod retention;
pub mod seal;
pub mod store;

pub use backup::{Job, StreamSource, backup_directory, backup_stream};
pub use drill::{CheckResult, DrillReport, Scratch, drill};
pub use error::{BackupError, Result};
pub use manifest::{Kind, Snapshot};
pub use postgres::{CommandRunner, Connection, LocalRunner, Postgres, RestoreMode};
pub use progress::{Progress, Reporter, Silent};
pub use prune::{PruneOutcome, PrunePlan};
pub use repo::{Lock, Locks, Repository};
pub use restore::{restore_directory, restore_stream};
pub use seal::{Opener, Sealer};
pub use store::{LocalStore, S3Settings, S3Store, Store};

/// Backs up a PostgreSQL database with `pg_dump`: nothing is published unless `pg_dump`
/// exits successfully.
///
/// # Errors
/// `pg_dump` is missing or fails, or a store fails.
pub fn backup_postgres(job: &Job<'_>, pg: &Postgres) -> Result<Vec<Snapshot>> {
    let mut dump = pg.dump()?;
    backup_stream(job, Kind::Postgres, &mut dump)
}

/// Restores a PostgreSQL snapshot into a database with `pg_restore`.
///
/// # Errors
/// A damaged snapshot, a wrong identity, or `pg_restore` failing (the database is left as it
/// was: the restore runs in one transaction).
pub fn restore_postgres(
    repo: &Repository,
    snap: &Snapshot,
    opener: &Opener,
    pg: &Postgres,
    target: &Connection,
    mode: RestoreMode,
    reporter: &dyn Reporter,
) -> Result<u64> {
    if snap.kind != Kind::Postgres {
        return Err(BackupError::RestoreTarget {
            target: target.label(),
            reason: format!(
                "{} is a {} backup, not a PostgreSQL dump",
                snap.id, snap.kind
            ),
        });
    }
    pg.restore(target, mode, &mut |w| {
        restore::restore_stream(repo, snap, opener, w, reporter)
    })
}

/// Random hex for temporary names and ids (from the kernel; the time as a fallback).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .is_ok();
    if !ok {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = nanos ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    hex::encode(buf)
}
