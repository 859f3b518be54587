//! Snapshot manifests: one published object per completed backup.
//!
//! A manifest has a clear part (what `list` and `prune` need without the identity: id, name,
//! kind, time, sizes, the ids of the chunks it references) and a sealed part, `detail`, that
//! holds everything derived from the data (file names, modes, per-file checksums, the order
//! of a stream's chunks, the plaintext checksum), encrypted like the chunks.

use serde::{Deserialize, Serialize};

/// The manifest format this crate writes and reads.
pub const FORMAT: u32 = 1;

/// What a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A PostgreSQL database as `pg_dump --format=custom` writes it.
    Postgres,
    /// A directory tree (a `path:` or a volume's contents).
    Directory,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Postgres => "postgres",
            Kind::Directory => "directory",
        })
    }
}

/// The clear part of a published snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// Sortable by time: `20250102T030000Z-1a2b3c4d`.
    pub id: String,
    /// The backup's name in `x-skiff.backups`.
    pub name: String,
    pub kind: Kind,
    pub created: chrono::DateTime<chrono::Utc>,
    /// What was backed up, without secrets (`postgres://app@db:5432/app`, `volume uploads`).
    pub source: String,
    /// Plaintext bytes (the dump, or the sum of the files).
    pub size: u64,
    /// Bytes this backup added to the repository (new chunks and the manifest).
    pub added: u64,
    /// Stored (compressed, encrypted) bytes of every chunk it references.
    pub stored: u64,
    /// Regular files (directory snapshots).
    #[serde(default)]
    pub files: u64,
    pub encrypted: bool,
    /// Every chunk this snapshot references, sorted, without duplicates.
    pub chunks: Vec<String>,
    /// The sealed [`Detail`], base64.
    pub detail: String,
}

/// The sealed part of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// The key chunk ids were computed with (hex), when encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_key: Option<String>,
    /// A digest of the whole plaintext: SHA-256 over each chunk's id and length in order (a
    /// stream; the ids digest the chunks' plaintext), or over each file's SHA-256 in order (a
    /// directory).
    pub sha256: String,
    /// A stream's chunks, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream: Vec<ChunkRef>,
    /// A directory's entries, parents before children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<Entry>,
}

/// One chunk of a stream or file: its id and plaintext length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub id: String,
    pub len: u64,
}

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative, `/`-separated, never `..`.
    pub path: String,
    /// Permission bits (`0o755`), without the file type.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// The type of an entry, with its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    Dir,
    File {
        size: u64,
        sha256: String,
        chunks: Vec<ChunkRef>,
    },
    Symlink {
        target: String,
    },
}

/// A new snapshot id for a creation time: sortable, unique.
#[must_use]
pub fn new_id(created: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}-{}",
        created.format("%Y%m%dT%H%M%SZ"),
        crate::random_hex(4)
    )
}

/// The key of a published snapshot.
#[must_use]
pub fn snapshot_key(name: &str, id: &str) -> String {
    format!("snapshots/{name}/{id}.json")
}

/// The key of a chunk object.
#[must_use]
pub fn chunk_key(id: &str) -> String {
    let prefix = id.get(..2).unwrap_or("00");
    format!("chunks/{prefix}/{id}")
}
