//! `skiff daemon install`: the systemd unit that runs the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What the unit runs the daemon with.
#[derive(Debug, Clone)]
pub struct UnitSettings {
    /// `--listen` (TCP with a token), besides the unix socket.
    pub listen: Option<SocketAddr>,
    /// `--token-file`: the token stays in the file, never on the command line.
    pub token_file: Option<PathBuf>,
    pub json_logs: bool,
    /// `SKIFF_STATE_DIR` of the service.
    pub state_dir: PathBuf,
}

/// The systemd unit for these settings.
#[must_use]
pub fn systemd_unit(exe: &Path, args: &UnitSettings) -> String {
    let mut exec = format!("{} daemon", exe.display());
    if let Some(listen) = args.listen {
        exec.push_str(&format!(" --listen {listen}"));
    }
    if let Some(file) = &args.token_file {
        exec.push_str(&format!(" --token-file {}", file.display()));
    }
    if args.json_logs {
        exec.push_str(" --log-format json");
    }
    format!(
        "# Written by `skiff daemon install`.\n\
         [Unit]\n\
         Description=skiff daemon: keeps compose stacks converged\n\
         Documentation=man:skiff(1)\n\
         After=docker.service network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exec}\n\
         Environment=SKIFF_STATE_DIR={state}\n\
         Restart=always\n\
         RestartSec=2\n\
         # Stopping or restarting the daemon leaves the stacks running: only skiff itself is\n\
         # signalled, and it takes the stacks up again when it starts.\n\
         KillMode=process\n\
         TimeoutStopSec=30\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        state = args.state_dir.display(),
    )
}

/// Why a TCP token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--listen needs a token of at least 16 characters; {from} holds {}", if *.length == 0 { "none".to_owned() } else { format!("{} characters", .length) })]
    TooShort { from: String, length: usize },
}

/// The TCP token: the first line of `file` when given, else `env` (SKIFF_DAEMON_TOKEN's
/// value); trimmed, and at least 16 characters.
///
/// # Errors
/// The file cannot be read, or the token is shorter than 16 characters.
pub fn read_token(file: Option<&Path>, env: Option<String>) -> Result<String, TokenError> {
    let (token, from) = match file {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|source| TokenError::Unreadable {
                    path: path.to_owned(),
                    source,
                })?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            format!("the token file {}", path.display()),
        ),
        None => (
            env.unwrap_or_default().trim().to_owned(),
            "SKIFF_DAEMON_TOKEN".to_owned(),
        ),
    };
    if token.len() < 16 {
        return Err(TokenError::TooShort {
            from,
            length: token.len(),
        });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_stops_only_the_daemon_and_keeps_the_token_out_of_the_command_line() {
        let args = UnitSettings {
            state_dir: PathBuf::from("/var/lib/skiff"),
            listen: Some("0.0.0.0:7077".parse().expect("addr")),
            token_file: Some(PathBuf::from("/etc/skiff/token")),
            json_logs: true,
        };
        let text = systemd_unit(Path::new("/usr/local/bin/skiff"), &args);
        assert!(text.contains("\nKillMode=process\n"), "{text}");
        assert!(text.contains(
            "\nExecStart=/usr/local/bin/skiff daemon --listen 0.0.0.0:7077 --token-file /etc/skiff/token --log-format json\n"
        ));
        assert!(text.contains("\nEnvironment=SKIFF_STATE_DIR=/var/lib/skiff\n"));
        assert!(text.contains("\nWantedBy=multi-user.target\n"));
    }

    #[test]
    fn a_token_is_the_trimmed_first_line_and_long_enough() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "  0123456789abcdef  \nsecond line\n").expect("write");
        assert_eq!(
            read_token(Some(&file), Some("ignored-ignored-ignored".into())).expect("a token"),
            "0123456789abcdef"
        );
        let short = read_token(None, Some("short".into())).expect_err("too short");
        assert_eq!(
            short.to_string(),
            "--listen needs a token of at least 16 characters; SKIFF_DAEMON_TOKEN holds 5 characters"
        );
        let none = read_token(None, None).expect_err("none");
        assert!(none.to_string().ends_with("holds none"), "{none}");
    }
}
