//! What can go wrong, named so that a user can act on it.
//!
//! Every variant says what failed and on which object, path or program. None carries a
//! secret: passwords and identities never reach a message (an identity file is named by its
//! path only). [`BackupError::is_retryable`] says whether running again can help.

use std::path::PathBuf;

/// A failure of a backup, restore, drill or prune.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The storage has no room left (ENOSPC, or an object store's quota).
    #[error("no space left on {location}")]
    NoSpace { location: String },
    /// Reading or writing the repository failed.
    #[error("cannot {action} {key} in {location}: {source}")]
    Store {
        action: &'static str,
        key: String,
        location: String,
        source: std::io::Error,
    },
    /// An object store (S3) refused or failed a request.
    #[error("object store {location}: cannot {action} {key}: {message}")]
    Remote {
        action: &'static str,
        key: String,
        location: String,
        message: String,
    },
    /// A destination that is neither a directory nor `s3://bucket/prefix`.
    #[error("invalid backup destination {destination:?}: {reason}")]
    Destination { destination: String, reason: String },
    /// A stored object does not decode or its checksum does not match: the repository is
    /// damaged there.
    #[error("corrupt {what} {key} in {location}: {reason}")]
    Corrupt {
        what: &'static str,
        key: String,
        location: String,
        reason: String,
    },
    /// The identity given does not decrypt the backup.
    #[error("the identity in {} does not decrypt this backup ({location})", file.display())]
    WrongIdentity { file: PathBuf, location: String },
    /// The backup is encrypted and no identity was given.
    #[error(
        "backup {snapshot} in {location} is encrypted: an identity file (encrypt.identity_file) is needed to read it"
    )]
    IdentityNeeded { snapshot: String, location: String },
    /// The identity file cannot be read or holds no identity.
    #[error("cannot read the age identity file {}: {reason}", file.display())]
    IdentityFile { file: PathBuf, reason: String },
    /// An age recipient that does not parse.
    #[error("invalid age recipient {recipient:?}: {reason}")]
    Recipient { recipient: String, reason: String },
    /// The repository holds encrypted backups and this backup has no recipients: skiff never
    /// writes plaintext into an encrypted repository.
    #[error(
        "the repository at {location} holds encrypted backups; refusing to write an unencrypted one (add encrypt.recipients)"
    )]
    PlaintextIntoEncrypted { location: String },
    /// The repository was written by a newer skiff.
    #[error("the repository at {location} has format {found}; this skiff reads format {supported}")]
    Format {
        location: String,
        found: u32,
        supported: u32,
    },
    /// A program the backup needs is not installed (or not in the container).
    #[error("{program} not found{where_}: install it (PostgreSQL client tools) or put it on PATH")]
    MissingProgram {
        program: String,
        /// ` in container NAME`, or empty.
        where_: String,
    },
    /// A program ran and failed.
    #[error("{program} failed ({status}): {stderr}")]
    Program {
        program: String,
        status: String,
        stderr: String,
    },
    /// Reading the source (a directory, a dump's output) failed.
    #[error("cannot read {}: {source}", path.display())]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing the restored data failed.
    #[error("cannot write {}: {source}", path.display())]
    Target {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A restored file does not match its recorded checksum.
    #[error("restored file {path} does not match its checksum: the backup is damaged")]
    Mismatch { path: String },
    /// No such backup.
    #[error("no backup {what} in {location}")]
    NotFound { what: String, location: String },
    /// A file name that is not UTF-8 (not supported yet).
    #[error("cannot back up {}: the file name is not UTF-8", path.display())]
    NonUtf8Path { path: PathBuf },
    /// A restore target that is not usable.
    #[error("cannot restore into {target}: {reason}")]
    RestoreTarget { target: String, reason: String },
    /// A PostgreSQL URL that does not parse (shown with its password masked).
    #[error("invalid PostgreSQL URL {url}: {reason}")]
    Url { url: String, reason: String },
    /// A prune is deleting unreferenced data in the repository, and went on longer than the
    /// backup waits ([`crate::Job::prune_wait`]): the backup could reuse chunks it deletes.
    #[error(
        "a prune of {location} is deleting unreferenced data ({lock}); the backup waited {waited_secs} s for it"
    )]
    Pruning {
        location: String,
        lock: String,
        waited_secs: u64,
    },
    /// The threads storing chunks stopped before the backup ended without saying why.
    #[error("the threads storing the backup's chunks stopped before it was stored")]
    WorkersStopped,
}

impl BackupError {
    /// Whether running the same operation again may succeed without the user changing
    /// anything (a network hiccup), as opposed to a damaged backup or a wrong key.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BackupError::Remote { .. } | BackupError::Store { .. } | BackupError::Pruning { .. }
        )
    }

    /// Maps an I/O error on a store object, turning ENOSPC into [`BackupError::NoSpace`].
    pub(crate) fn store(
        action: &'static str,
        key: &str,
        location: &str,
        source: std::io::Error,
    ) -> BackupError {
        if is_no_space(&source) {
            BackupError::NoSpace {
                location: location.to_owned(),
            }
        } else {
            BackupError::Store {
                action,
                key: key.to_owned(),
                location: location.to_owned(),
                source,
            }
        }
    }

    /// Maps an I/O error writing restored data, turning ENOSPC into [`BackupError::NoSpace`].
    pub(crate) fn target(path: &std::path::Path, source: std::io::Error) -> BackupError {
        if is_no_space(&source) {
            BackupError::NoSpace {
                location: path.display().to_string(),
            }
        } else {
            BackupError::Target {
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// Whether an I/O error means the disk (or quota) is full.
#[must_use]
pub fn is_no_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn enospc() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOSPC)
    }

    #[test]
    fn a_full_disk_writing_the_repository_is_no_space_there() {
        let e = BackupError::store("write", "chunks/ab/abcd", "/var/backups/skiff", enospc());
        assert!(
            matches!(&e, BackupError::NoSpace { location } if location == "/var/backups/skiff"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "no space left on /var/backups/skiff");
        assert!(!e.is_retryable());
        let quota = BackupError::store(
            "write",
            "k",
            "/r",
            std::io::Error::from_raw_os_error(libc::EDQUOT),
        );
        assert!(matches!(quota, BackupError::NoSpace { .. }), "{quota:?}");
    }

    #[test]
    fn a_full_disk_restoring_is_no_space_at_the_target() {
        let e = BackupError::target(std::path::Path::new("/srv/restored/a.txt"), enospc());
        assert_eq!(e.to_string(), "no space left on /srv/restored/a.txt");
    }

    #[test]
    fn other_io_errors_keep_their_object_and_cause() {
        let e = BackupError::store(
            "read",
            "snapshots/db/1.json",
            "/r",
            std::io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(matches!(e, BackupError::Store { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("cannot read snapshots/db/1.json in /r: "),
            "{e}"
        );
        assert!(e.is_retryable());
        let e = BackupError::target(
            std::path::Path::new("/t"),
            std::io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(matches!(e, BackupError::Target { .. }), "{e:?}");
    }
}
