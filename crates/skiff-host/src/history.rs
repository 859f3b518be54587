//! Where the daemon of this host keeps its socket, history and deployments, and reading that
//! history from the daemon when one answers or from its file when none does.

use std::path::{Path, PathBuf};

use skiff_daemon::{Client, ClientError, EventsQuery, ServiceStatus};
use skiff_store::{Recorded, Store, StoreError};

/// Where the daemon keeps its socket, history and deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonPaths {
    pub socket: PathBuf,
    pub store: PathBuf,
    pub deployments: PathBuf,
}

impl DaemonPaths {
    /// From the socket named (`--socket`), else `SKIFF_DAEMON_SOCKET`, and the state
    /// directory (without one, the socket's directory holds the rest).
    ///
    /// # Errors
    /// No state directory can be worked out and no socket was named.
    pub fn new(socket: Option<&Path>) -> Result<DaemonPaths, HistoryError> {
        DaemonPaths::from_env(socket, |k| std::env::var(k).ok())
    }

    fn from_env(
        socket: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DaemonPaths, HistoryError> {
        let dir = match (skiff_process::state_dir(&env), socket) {
            (Some(dir), _) => dir,
            (None, Some(socket)) => socket
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            (None, None) => return Err(HistoryError::NoStateDir),
        };
        let socket = socket
            .map(Path::to_path_buf)
            .or_else(|| {
                env("SKIFF_DAEMON_SOCKET")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| dir.join("daemon.sock"));
        Ok(DaemonPaths {
            socket,
            store: dir.join("daemon.db"),
            deployments: dir.join("deployments"),
        })
    }
}

/// Why the history could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum HistoryError {
    #[error("no state directory: set SKIFF_STATE_DIR, XDG_STATE_HOME or HOME")]
    NoStateDir,
    #[error("{0}")]
    Daemon(#[from] ClientError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Query(String),
    #[error(
        "no daemon answers at {}, and none has kept a history at {}",
        socket.display(),
        store.display()
    )]
    #[diagnostic(help("start one with `skiff daemon` (or `skiff daemon install`)"))]
    None { socket: PathBuf, store: PathBuf },
}

/// Where `status` and `events` read the history: the daemon, or its file when none runs.
pub enum History {
    Daemon(Client),
    File(Store),
}

impl History {
    /// The daemon on the socket, else its history file.
    ///
    /// # Errors
    /// A socket is there but cannot be reached, or neither a daemon nor its file is.
    pub async fn open(paths: &DaemonPaths) -> Result<History, HistoryError> {
        match Client::connect(&paths.socket).await {
            Ok(client) => Ok(History::Daemon(client)),
            Err(e) if e.is_not_running() => {
                if !paths.store.exists() {
                    return Err(HistoryError::None {
                        socket: paths.socket.clone(),
                        store: paths.store.clone(),
                    });
                }
                Ok(History::File(Store::open(&paths.store)?))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The events the query asks for, oldest first.
    ///
    /// # Errors
    /// The query is malformed, or the daemon or the file failed.
    pub async fn events(&self, query: &EventsQuery) -> Result<Vec<Recorded>, HistoryError> {
        match self {
            History::Daemon(c) => Ok(c.events(query).await?),
            History::File(s) => {
                let filter = query.filter().map_err(HistoryError::Query)?;
                Ok(s.query(&filter)?)
            }
        }
    }

    /// Every service's summary (of one project, or all); from the file, without the
    /// restarts the daemon has scheduled.
    ///
    /// # Errors
    /// The daemon or the file failed.
    pub async fn services(
        &self,
        project: Option<&str>,
    ) -> Result<Vec<ServiceStatus>, HistoryError> {
        match self {
            History::Daemon(c) => Ok(c.status(project).await?.services),
            History::File(s) => Ok(s
                .summary(project)?
                .into_iter()
                .map(|summary| ServiceStatus {
                    summary,
                    next_restart: None,
                })
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_state_directory_holds_everything_unless_a_socket_is_named() {
        let paths = DaemonPaths::from_env(None, env(&[("SKIFF_STATE_DIR", "/s")])).unwrap();
        assert_eq!(paths.socket, Path::new("/s/daemon.sock"));
        assert_eq!(paths.store, Path::new("/s/daemon.db"));
        let named = DaemonPaths::from_env(
            Some(Path::new("/run/x.sock")),
            env(&[
                ("SKIFF_STATE_DIR", "/s"),
                ("SKIFF_DAEMON_SOCKET", "/y.sock"),
            ]),
        )
        .unwrap();
        assert_eq!(named.socket, Path::new("/run/x.sock"));
        assert_eq!(named.deployments, Path::new("/s/deployments"));
        let from_env = DaemonPaths::from_env(
            None,
            env(&[("HOME", "/h"), ("SKIFF_DAEMON_SOCKET", "/y.sock")]),
        )
        .unwrap();
        assert_eq!(from_env.socket, Path::new("/y.sock"));
        assert_eq!(from_env.store, Path::new("/h/.local/state/skiff/daemon.db"));
    }

    #[test]
    fn without_a_state_directory_the_socket_s_directory_holds_the_rest() {
        let paths = DaemonPaths::from_env(Some(Path::new("/run/skiff/d.sock")), env(&[])).unwrap();
        assert_eq!(paths.store, Path::new("/run/skiff/daemon.db"));
        assert!(matches!(
            DaemonPaths::from_env(None, env(&[])),
            Err(HistoryError::NoStateDir)
        ));
    }
}
