use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::ProcessError;
use crate::logs::LogFile;

/// Which instance of which service of which project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId {
    pub project: String,
    pub service: String,
    pub number: u32,
}

impl InstanceId {
    #[must_use]
    pub fn new(project: impl Into<String>, service: impl Into<String>, number: u32) -> Self {
        InstanceId {
            project: project.into(),
            service: service.into(),
            number,
        }
    }
}

/// Compose's instance name, `project-service-number`, for messages.
impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.project, self.service, self.number)
    }
}

/// What to run, fully resolved: no interpolation, no parsing, no defaults left to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program and its arguments, already split. The program is looked up in the `PATH`
    /// of the child's environment when it has no `/`.
    pub argv: Vec<String>,
    /// The whole environment of the process. Nothing of skiff's own environment is passed
    /// unless named in `inherit_env`.
    pub env: BTreeMap<String, String>,
    /// Names of skiff's environment variables to pass through when set (such as `PATH` and
    /// `HOME`); a name also present in `env` takes the value from `env`.
    pub inherit_env: Vec<String>,
    pub working_dir: PathBuf,
    /// Sent to the process group to stop it (Compose's `stop_signal`, default SIGTERM).
    pub stop_signal: Signal,
    /// How long the group may take to exit after the stop signal before SIGKILL (Compose's
    /// `stop_grace_period`, default 10 s).
    pub stop_grace_period: Duration,
    pub logs: Logs,
}

impl ProcessSpec {
    /// A spec with Compose's defaults: SIGTERM, 10 s grace, output discarded, empty env.
    #[must_use]
    pub fn new(argv: Vec<String>, working_dir: impl Into<PathBuf>) -> Self {
        ProcessSpec {
            argv,
            env: BTreeMap::new(),
            inherit_env: Vec::new(),
            working_dir: working_dir.into(),
            stop_signal: Signal::SIGTERM,
            stop_grace_period: Duration::from_secs(10),
            logs: Logs::Discard,
        }
    }
}

/// Where a process's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logs {
    /// Captured line by line into a rotated file.
    File(LogFile),
    /// To `/dev/null`.
    Discard,
}

/// Parses a signal as Docker does: `SIGTERM`, `TERM` or a number, in any case.
///
/// # Errors
/// A name or number that is no signal.
pub fn parse_signal(text: &str) -> Result<Signal, ProcessError> {
    let invalid = || ProcessError::InvalidSignal(text.to_owned());
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| invalid());
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| invalid())
}

/// Checks that a project or service name can name a file in the state directory.
pub(crate) fn check_file_name(what: &'static str, name: &str) -> Result<(), ProcessError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\0']) {
        return Err(ProcessError::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_docker_accepts_them() {
        for (text, expect) in [
            ("SIGTERM", Signal::SIGTERM),
            ("TERM", Signal::SIGTERM),
            ("sigint", Signal::SIGINT),
            ("quit", Signal::SIGQUIT),
            ("9", Signal::SIGKILL),
            (" SIGUSR1 ", Signal::SIGUSR1),
        ] {
            assert_eq!(parse_signal(text).unwrap(), expect, "{text}");
        }
        for bad in ["", "SIG", "NOPE", "0", "999", "-1"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_reject_paths() {
        assert!(check_file_name("service", "web").is_ok());
        assert!(check_file_name("service", "web.api_v2-x").is_ok());
        for bad in ["", ".", "..", ".hidden", "a/b", "a\0b"] {
            assert!(check_file_name("service", bad).is_err(), "{bad:?}");
        }
    }
}
