//! Where a repository's objects live: a local directory or an S3-compatible bucket, behind
//! one narrow trait so tests can inject faults.
//!
//! The one promise every store keeps: [`Store::put`] is atomic. A reader sees the whole object
//! or nothing, never a prefix. A local directory keeps it with a temporary file, `fsync` and
//! `rename`; an object store's PUT is atomic by itself.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::{BackupError, Result};

/// One stored object, as a listing returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key relative to the repository root (`chunks/ab/ab12...`).
    pub key: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// A flat key-value store of immutable objects, keys with `/` separators.
pub trait Store: Send + Sync {
    /// Where this store is, for messages (`/var/backups/skiff`, `s3://bucket/prefix`).
    fn location(&self) -> &str;
    /// Writes an object atomically: readers see all of it or none of it.
    ///
    /// # Errors
    /// The store refuses the write; a full disk is [`BackupError::NoSpace`].
    fn put(&self, key: &str, data: &[u8]) -> Result<()>;
    /// Reads a whole object; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// The store cannot be read.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Every object whose key starts with `prefix` (a directory-like prefix ending in `/`).
    ///
    /// # Errors
    /// The store cannot be listed.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// Deletes an object; deleting what is not there is not an error.
    ///
    /// # Errors
    /// The store refuses the deletion.
    fn delete(&self, key: &str) -> Result<()>;
    /// Makes every object written so far durable before something that refers to them is
    /// published (a local store syncs the directories it wrote into).
    ///
    /// # Errors
    /// The sync fails.
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    /// Forgets the writes not yet made durable by [`Store::sync`] (the backup that made
    /// them failed): a local store removes their temporary files.
    fn abandon(&self) {}
    /// Removes leftovers of interrupted writes older than `older_than` (temporary files);
    /// returns how many were removed.
    ///
    /// # Errors
    /// The leftovers cannot be listed or removed.
    fn clean_temporary(&self, older_than: SystemTime) -> Result<usize> {
        let _ = older_than;
        Ok(0)
    }
}

/// Opens the store a `to:` entry names: `s3://bucket/prefix`, or a directory.
///
/// # Errors
/// A malformed destination, or an S3 client that cannot be built.
pub fn open(destination: &str, s3: &S3Settings) -> Result<Box<dyn Store>> {
    if let Some(rest) = destination.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BackupError::Destination {
                destination: destination.to_owned(),
                reason: "no bucket: write s3://bucket/prefix".to_owned(),
            });
        }
        Ok(Box::new(S3Store::new(bucket, prefix, s3)?))
    } else if destination.contains("://") {
        Err(BackupError::Destination {
            destination: destination.to_owned(),
            reason: "only local directories and s3://bucket/prefix are supported".to_owned(),
        })
    } else {
        Ok(Box::new(LocalStore::new(destination)))
    }
}

/// A repository in a local directory.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    location: String,
    /// Directories written into since the last sync.
    dirty: Mutex<BTreeSet<PathBuf>>,
    /// Chunks written but not yet synced: (temporary file, final path). They get their final
    /// name only in [`Store::sync`], after their data is durable, so that a crash never leaves
    /// a truncated chunk under a name a later backup would trust.
    pending: Mutex<Vec<(PathBuf, PathBuf)>>,
}

const TMP_DIR: &str = "tmp";

impl LocalStore {
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        let root = root.into();
        LocalStore {
            location: root.display().to_string(),
            root,
            dirty: Mutex::new(BTreeSet::new()),
            pending: Mutex::new(Vec::new()),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn mark_dirty(&self, dir: &Path) {
        if let Ok(mut d) = self.dirty.lock() {
            d.insert(dir.to_owned());
        }
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        // Chunks of a backup that never reached `sync` (it failed): not worth keeping.
        self.abandon();
    }
}

/// Removes the temporary files of chunks that will never get their final names.
fn remove_temporary(pending: &[(PathBuf, PathBuf)]) {
    for (tmp, _) in pending {
        let _ = std::fs::remove_file(tmp);
    }
}

impl Store for LocalStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        let err = |e| BackupError::store("write", key, &self.location, e);
        let target = self.path(key);
        let tmp_dir = self.root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp_dir).map_err(err)?;
        let tmp = tmp_dir.join(format!(
            "{}.{}.{}",
            key.replace('/', "_"),
            std::process::id(),
            crate::random_hex(6)
        ));
        // Chunks are many: their `fsync`s are batched in `sync`, before the manifest that
        // names them is written. Everything else (manifests, locks) is durable at once.
        let deferred = key.starts_with("chunks/");
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(data)?;
            if deferred && let Ok(mut p) = self.pending.lock() {
                p.push((tmp.clone(), target.clone()));
                return Ok(());
            }
            f.sync_data()?;
            drop(f);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
                self.mark_dirty(parent);
            }
            std::fs::rename(&tmp, &target)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(key)) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackupError::store("read", key, &self.location, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let start = self.path(prefix.trim_end_matches('/'));
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(BackupError::store(
                        "list",
                        &dir.display().to_string(),
                        &self.location,
                        e,
                    ));
                }
            };
            for entry in entries {
                let entry =
                    entry.map_err(|e| BackupError::store("list", prefix, &self.location, e))?;
                let meta = entry
                    .metadata()
                    .map_err(|e| BackupError::store("list", prefix, &self.location, e))?;
                let path = entry.path();
                if meta.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root)
                    && let Some(key) = rel.to_str()
                {
                    out.push(ObjectInfo {
                        key: key.to_owned(),
                        size: meta.len(),
                        modified: meta.modified().ok(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    self.mark_dirty(parent);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(BackupError::store("delete", key, &self.location, e)),
        }
    }

    fn sync(&self) -> Result<()> {
        let pending = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => Vec::new(),
        };
        // Data first (a few files at a time: the device queues them), then the names.
        let threads = 4;
        let per = pending.len().div_ceil(threads).max(1);
        let synced: std::io::Result<()> = std::thread::scope(|s| {
            let handles: Vec<_> = pending
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        for (tmp, _) in part {
                            std::fs::OpenOptions::new()
                                .write(true)
                                .open(tmp)?
                                .sync_data()?;
                        }
                        Ok::<_, std::io::Error>(())
                    })
                })
                .collect();
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("sync thread failed")))
            })
        });
        let renamed = synced.and_then(|()| {
            for (tmp, target) in &pending {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                    self.mark_dirty(parent);
                }
                std::fs::rename(tmp, target)?;
            }
            Ok(())
        });
        if let Err(e) = renamed {
            remove_temporary(&pending);
            return Err(BackupError::store("sync", "chunks", &self.location, e));
        }
        let dirs = match self.dirty.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(_) => BTreeSet::new(),
        };
        // A rename is durable once its directory is; the parents of new directories too.
        let mut all = BTreeSet::new();
        for d in dirs {
            let mut cur = Some(d.as_path());
            while let Some(c) = cur {
                if !c.starts_with(&self.root) {
                    break;
                }
                all.insert(c.to_owned());
                cur = c.parent();
            }
        }
        for d in all {
            std::fs::File::open(&d)
                .and_then(|f| f.sync_all())
                .map_err(|e| {
                    BackupError::store("sync", &d.display().to_string(), &self.location, e)
                })?;
        }
        Ok(())
    }

    fn abandon(&self) {
        let pending = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => Vec::new(),
        };
        remove_temporary(&pending);
    }

    fn clean_temporary(&self, older_than: SystemTime) -> Result<usize> {
        let mut removed = 0;
        for o in self.list(&format!("{TMP_DIR}/"))? {
            if o.modified.is_some_and(|m| m < older_than) {
                self.delete(&o.key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Settings of an S3-compatible object store. Credentials come from `credentials`, else the
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, and the
/// other `AWS_*` variables the AWS tools read), never from the compose file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// Access key id and secret key, when not taken from the environment.
    pub credentials: Option<(String, String)>,
    /// `http(s)://host:port` of an S3-compatible server (MinIO, moto, Garage, R2...).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: bool,
    /// Address buckets as `bucket.host` instead of `host/bucket`.
    pub virtual_hosted: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(id, _)| (id, "<hidden>")),
            )
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted", &self.virtual_hosted)
            .finish()
    }
}

/// A repository under a prefix of an S3 bucket, through `object_store`.
pub struct S3Store {
    store: object_store::aws::AmazonS3,
    prefix: String,
    location: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds a client for `s3://bucket/prefix`.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn new(bucket: &str, prefix: &str, settings: &S3Settings) -> Result<S3Store> {
        let location = format!("s3://{bucket}/{prefix}");
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some((id, secret)) = &settings.credentials {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(e) = &settings.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &settings.region {
            b = b.with_region(r);
        } else if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            b = b.with_region("us-east-1");
        }
        if settings.allow_http {
            b = b.with_allow_http(true);
        }
        b = b.with_virtual_hosted_style_request(settings.virtual_hosted);
        let store = b.build().map_err(|e| BackupError::Destination {
            destination: location.clone(),
            reason: e.to_string(),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BackupError::Destination {
                destination: location.clone(),
                reason: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(S3Store {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            location,
            runtime,
        })
    }

    fn path(&self, key: &str) -> object_store::path::Path {
        if self.prefix.is_empty() {
            object_store::path::Path::from(key)
        } else {
            object_store::path::Path::from(format!("{}/{key}", self.prefix))
        }
    }

    fn remote(&self, action: &'static str, key: &str, e: &object_store::Error) -> BackupError {
        let message = e.to_string();
        if message.contains("QuotaExceeded") || message.contains("EntityTooLarge") {
            return BackupError::NoSpace {
                location: self.location.clone(),
            };
        }
        BackupError::Remote {
            action,
            key: key.to_owned(),
            location: self.location.clone(),
            message,
        }
    }
}

impl Store for S3Store {
    fn location(&self) -> &str {
        &self.location
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<()> {
        use object_store::ObjectStoreExt;
        let payload = object_store::PutPayload::from(bytes::Bytes::copy_from_slice(data));
        self.runtime
            .block_on(self.store.put(&self.path(key), payload))
            .map(|_| ())
            .map_err(|e| self.remote("write", key, &e))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        use object_store::ObjectStoreExt;
        let path = self.path(key);
        self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map(|b| Some(b.to_vec()))
                    .map_err(|e| self.remote("read", key, &e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.remote("read", key, &e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let base = self.path(prefix.trim_end_matches('/'));
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(self.store.list(Some(&base)).try_collect())
            .map_err(|e| self.remote("list", prefix, &e))?;
        let mut out: Vec<ObjectInfo> = metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref().strip_prefix(&strip)?.to_owned();
                Some(ObjectInfo {
                    key,
                    size: m.size,
                    modified: Some(m.last_modified.into()),
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        use object_store::ObjectStoreExt;
        match self.runtime.block_on(self.store.delete(&self.path(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.remote("delete", key, &e)),
        }
    }
}
