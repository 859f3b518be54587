//! One module per command.

pub mod backup;
pub(crate) mod config;
pub(crate) mod daemon;
mod k8s;
mod stack;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> miette::Result<ExitCode> {
    match cli.command {
        Command::Config(args) => config::run(&cli.project, &args),
        Command::Assess(args) => k8s::assess(&cli.project, &args),
        Command::Export(args) => k8s::export(&cli.project, &args),
        Command::Apply(args) => k8s::apply(&cli.project, &args),
        Command::Plan(args) => stack::plan(&cli.project, &args),
        Command::Up(args) => stack::up(&cli.project, &args),
        Command::Down(args) => stack::down(&cli.project, &args),
        Command::Ps(args) => stack::ps(&cli.project, &args),
        Command::Logs(args) => stack::logs(&cli.project, &args),
        Command::Start(args) => stack::lifecycle(&cli.project, &args, "start"),
        Command::Stop(args) => stack::lifecycle(&cli.project, &args, "stop"),
        Command::Restart(args) => stack::lifecycle(&cli.project, &args, "restart"),
        Command::Exec(args) => stack::exec(&cli.project, &args),
        Command::Build(args) => stack::build(&cli.project, &args),
        Command::Supervise(args) => stack::supervise(&args),
        Command::Daemon(args) => daemon::run(&args),
        Command::Backup(args) => backup::run(&cli.project, &args),
        Command::Status(args) => daemon::status(&cli.project, &args),
        Command::Events(args) => daemon::events(&cli.project, &args),
        Command::Schema => {
            let schema = skiff_model::xskiff::json_schema();
            let text = serde_json::to_string_pretty(&schema).map_err(|e| miette::miette!("{e}"))?;
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "skiff", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A size for people, in decimal units as `docker` prints them: `512 B`, `1.2 MB`.
#[must_use]
pub fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    #[expect(clippy::cast_precision_loss, reason = "a display figure")]
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Writes text and a final newline to standard output.
pub fn write_stdout(text: &str) -> miette::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .map_err(|e| miette::miette!("cannot write to standard output: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(super::size(999), "999 B");
        assert_eq!(super::size(1_200_000), "1.2 MB");
        assert_eq!(super::size(3_000_000_000), "3.0 GB");
    }
}
