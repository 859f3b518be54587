//! Structured logs with `tracing`, on stderr (journald keeps them under systemd).

use crate::DaemonError;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the process's log subscriber, at `level` and above.
///
/// # Errors
/// A subscriber is installed already.
pub fn init_logging(format: LogFormat, level: tracing::Level) -> Result<(), DaemonError> {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| DaemonError::Logging {
        message: e.to_string(),
    })
}
