//! Helpers for tests with real processes. Every process group a test starts is registered
//! with a [`Reaper`], which SIGKILLs it when the test ends, passed or failed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use skiff_process::{
    BackoffConfig, InstanceId, LogFile, Logs, ProcessSpec, Report, RestartPolicy, SupervisorConfig,
};
use tokio::sync::mpsc;

pub const PROJECT: &str = "t";

/// A temporary directory and the process groups to kill when the test ends.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    groups: Mutex<Vec<i32>>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            groups: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.path().join("logs").join(format!("{name}.log"))
    }

    /// Kill this group when the test ends.
    pub fn reap(&self, pgid: i32) {
        assert!(pgid > 1);
        self.groups.lock().unwrap().push(pgid);
    }

    /// `/bin/sh -c script` in the sandbox, PATH inherited, output to a log file named after
    /// the service, a short grace period.
    pub fn sh(&self, name: &str, script: &str) -> ProcessSpec {
        let mut spec = ProcessSpec::new(
            vec!["/bin/sh".into(), "-c".into(), script.into()],
            self.path(),
        );
        spec.inherit_env = vec!["PATH".into()];
        spec.stop_grace_period = Duration::from_secs(2);
        spec.logs = Logs::File(LogFile::new(self.log_path(name)));
        spec
    }

    pub fn supervisor(&self, service: &str, script: &str) -> SupervisorConfig {
        SupervisorConfig {
            id: id(service),
            name: format!("{PROJECT}-{service}-1"),
            config_hash: "hash-1".into(),
            spec: self.sh(service, script),
            healthcheck: None,
            restart: RestartPolicy::No,
            backoff: BackoffConfig {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(100),
                factor: 2,
                reset_after: Duration::from_secs(60),
            },
            state_dir: self.state_dir(),
            recorded_config: None,
        }
    }

    /// Waits for a file a script writes (a pid, a marker) and returns its trimmed content.
    pub async fn wait_file(&self, name: &str) -> String {
        let path = self.path().join(name);
        assert!(
            eventually(Duration::from_secs(5), || std::fs::read_to_string(&path)
                .is_ok_and(|t| t.ends_with('\n')))
            .await,
            "{name} never written"
        );
        std::fs::read_to_string(&path).unwrap().trim().to_owned()
    }

    pub async fn wait_pid(&self, name: &str) -> i32 {
        let pid: i32 = self.wait_file(name).await.parse().unwrap();
        assert!(pid > 1);
        pid
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for pgid in self.groups.lock().unwrap().drain(..) {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

pub fn id(service: &str) -> InstanceId {
    InstanceId::new(PROJECT, service, 1)
}

/// Whether a process runs code (exists and is no zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|text| {
        let state = text[text.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next()
            .unwrap_or("X")
            .to_owned();
        state != "Z" && state != "X"
    })
}

/// Polls (real time) until `f` holds or the timeout passes.
pub async fn eventually(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The reports a supervisor sends, collected.
pub struct Reports {
    pub rx: mpsc::UnboundedReceiver<Report>,
    pub seen: Vec<Report>,
}

impl Reports {
    pub fn new() -> (mpsc::UnboundedSender<Report>, Reports) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            tx,
            Reports {
                rx,
                seen: Vec::new(),
            },
        )
    }

    /// Receives until a report matches, within a timeout (real time); returns it.
    pub async fn until(
        &mut self,
        timeout: Duration,
        f: impl Fn(&skiff_process::Event) -> bool,
    ) -> skiff_process::Event {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let report = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no matching event; seen: {:#?}", self.seen))
                .expect("the supervisor hung up");
            self.seen.push(report.clone());
            if f(&report.event) {
                return report.event;
            }
        }
    }
}

/// An environment map from pairs.
pub fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
