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
}
