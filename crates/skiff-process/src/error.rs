use std::path::PathBuf;

/// What failed, naming the instance (`project-service-number`) or the file.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("start {instance}: the command is empty")]
    EmptyCommand { instance: String },
    #[error("start {instance}: working directory {}: {source}", dir.display())]
    WorkingDir {
        instance: String,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("start {instance}: spawn {program:?}: {source}")]
    Spawn {
        instance: String,
        program: String,
        source: std::io::Error,
    },
    #[error("start {instance}: open log file {}: {source}", path.display())]
    OpenLog {
        instance: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("inspect process {pid} of {instance}: {source}")]
    Inspect {
        instance: String,
        pid: i32,
        source: std::io::Error,
    },
    #[error("wait for {instance}: {source}")]
    Wait {
        instance: String,
        source: std::io::Error,
    },
    #[error("send {signal} to process group {pgid} of {instance}: {source}")]
    Signal {
        instance: String,
        pgid: i32,
        signal: nix::sys::signal::Signal,
        source: nix::errno::Errno,
    },
    #[error("signal process group {pgid} of {instance}: refused, it is not a group skiff started")]
    UnsafeGroup { instance: String, pgid: i32 },
    #[error("stop {instance}: processes {pids:?} of group {pgid} survived SIGKILL")]
    Survived {
        instance: String,
        pgid: i32,
        pids: Vec<i32>,
    },
    #[error("adopt {instance}: process {pid} is gone or is not the one recorded")]
    Gone { instance: String, pid: i32 },
    #[error("{action} record {}: {source}", path.display())]
    Record {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse record {}: {source}", path.display())]
    RecordFormat {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{what} {name:?}: not usable as a file name (empty, `.`-led, or containing `/`)")]
    InvalidName { what: &'static str, name: String },
    #[error("unknown signal {0:?}")]
    InvalidSignal(String),
    #[error("read log file {}: {source}", path.display())]
    ReadLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("supervise {instance}: the supervisor task ended abnormally")]
    SupervisorLost { instance: String },
    #[error("start a new session: {source}")]
    Session { source: nix::errno::Errno },
}
