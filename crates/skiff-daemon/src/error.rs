use std::net::SocketAddr;
use std::path::PathBuf;

use skiff_store::StoreError;

/// What stopped the daemon from starting or running, naming the file or address.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("start the daemon: another daemon runs on {}", path.display())]
    AlreadyRunning { path: PathBuf },
    #[error("start the daemon: {} exists and is not a socket (remove it, or choose another path)", path.display())]
    NotASocket { path: PathBuf },
    #[error("{action} the socket {}: {source}", path.display())]
    Socket {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listen on {addr}: the bearer token is empty")]
    EmptyToken { addr: SocketAddr },
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("set up logging: {message}")]
    Logging { message: String },
}
