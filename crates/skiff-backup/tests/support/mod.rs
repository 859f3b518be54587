//! Shared parts of the backup tests: trees to compare, keys, skipping rules, moto.
#![allow(dead_code, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::Digest;
use skiff_backup::{Job, Repository, Sealer, Silent};

/// Skips a test with a message, or fails it under `CI=true`.
pub fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and {why}");
    }
    eprintln!("skipped: {why}");
}

/// Everything that matters in a restored tree: path -> (type, mode, content checksum or link).
pub fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p.strip_prefix(root).expect("rel").display().to_string();
            let m = std::fs::symlink_metadata(&p).expect("meta");
            let v = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).expect("link").display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.mode() & 0o7777)
            } else {
                let data = std::fs::read(&p).expect("read");
                format!(
                    "file {:o} {} {}",
                    m.mode() & 0o7777,
                    m.mtime(),
                    hex::encode(sha2::Sha256::digest(&data))
                )
            };
            out.insert(rel, v);
        }
    }
    out
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A tree with a 20 MB random file, text files, a subdirectory, modes and a symlink.
pub fn make_tree(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
    std::fs::write(root.join("big.bin"), noise(20 * 1024 * 1024, 7)).expect("big");
    std::fs::write(root.join("hello.txt"), b"hello\n").expect("hello");
    std::fs::write(root.join("sub/empty"), b"").expect("empty");
    std::fs::write(
        root.join("sub/deeper/data.csv"),
        "a,b\n1,2\n".repeat(50_000),
    )
    .expect("csv");
    std::fs::set_permissions(
        root.join("hello.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    std::fs::set_permissions(root.join("sub"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    std::os::unix::fs::symlink("sub/deeper/data.csv", root.join("link")).expect("symlink");
}

/// An age identity written to a file, and its recipient.
pub fn identity(dir: &Path, name: &str) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("key file");
    writeln!(f, "# test identity").expect("write");
    writeln!(f, "{}", id.to_string().expose_secret()).expect("write");
    (path, id.to_public().to_string())
}

pub fn local(path: &Path) -> Repository {
    Repository::open(Box::new(skiff_backup::LocalStore::new(path))).expect("open")
}

pub fn local_for_backup(path: &Path, sealer: &Sealer) -> Repository {
    Repository::open_for_backup(Box::new(skiff_backup::LocalStore::new(path)), sealer)
        .expect("open for backup")
}

pub fn job<'a>(name: &'a str, sealer: &'a Sealer, repos: &'a [Repository]) -> Job<'a> {
    Job {
        name,
        source: "test".to_owned(),
        sealer,
        repos,
        reporter: &Silent,
        now: chrono::Utc::now(),
        cache_dir: None,
        prune_wait: std::time::Duration::ZERO,
    }
}

/// Bytes stored under a directory.
pub fn du(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let m = e.metadata().expect("meta");
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    total
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A child process killed when dropped.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's standalone S3 server on a free port, with a bucket; `None` (after skip) if moto is
/// not installed.
pub fn moto(bucket: &str) -> Option<(Killed, String)> {
    let tools = std::env::var_os("SKIFF_BACKUP_TOOLS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/backup-tools"),
        PathBuf::from,
    );
    let venv = tools.join("bin/moto_server");
    let found = if venv.is_file() {
        Some(venv)
    } else {
        find_program("moto_server")
    };
    let Some(server) = found else {
        skip("moto_server is not installed (scripts/install-backup-deps.sh installs it)");
        return None;
    };
    let port = free_port();
    let child = std::process::Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    let guard = Killed(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Read;
            let req = format!(
                "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).expect("create bucket");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
            return Some((guard, endpoint));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
