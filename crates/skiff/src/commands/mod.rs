//! One module per command.

pub mod backup;
pub(crate) mod config;
pub(crate) mod daemon;
pub(crate) mod jobs;
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
        Command::Jobs(args) => jobs::run(&cli.project, &args),
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

/// A point in time as `--since`/`--until` take it, the same for `logs` and `events`: an RFC
/// 3339 time (`2026-11-24T08:00:00Z`), a UNIX timestamp, or a duration before `now` (`90s`,
/// `15m`, `2h`, `7d`).
///
/// # Errors
/// None of these, naming the flag.
pub fn parse_time(
    flag: &str,
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> miette::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = text.parse::<i64>() {
        return chrono::DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| miette::miette!("{flag} {text:?}: out of range"));
    }
    let ago = match text.strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .ok()
            .map(|d| std::time::Duration::from_secs(d * 86_400)),
        None => skiff_model::xskiff::parse_go_duration(text).ok(),
    };
    let ago = ago.ok_or_else(|| {
        miette::miette!(
            "{flag} {text:?}: expected an RFC 3339 time (2026-11-24T08:00:00Z), a UNIX timestamp, or a duration ago (90s, 15m, 2h, 7d)"
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| miette::miette!("{flag} {text:?}: out of range"))
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
    fn times_are_rfc3339_a_timestamp_or_ago() {
        let now = chrono::DateTime::from_timestamp(1_764_000_000, 0).expect("now");
        let at = |text| super::parse_time("--since", text, now).map(|t| t.timestamp());
        assert_eq!(
            super::parse_time("--since", "2026-11-24T08:00:00Z", now)
                .expect("rfc3339")
                .to_rfc3339(),
            "2026-11-24T08:00:00+00:00"
        );
        assert_eq!(at("1700000000").expect("timestamp"), 1_700_000_000);
        assert_eq!(at("2h").expect("ago"), 1_764_000_000 - 7200);
        assert_eq!(at("1m30s").expect("ago"), 1_764_000_000 - 90);
        assert_eq!(at("7d").expect("days"), 1_764_000_000 - 7 * 86_400);
        let err = at("yesterday").expect_err("not a time");
        assert!(
            err.to_string()
                .starts_with("--since \"yesterday\": expected"),
            "{err}"
        );
    }

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(super::size(999), "999 B");
        assert_eq!(super::size(1_200_000), "1.2 MB");
        assert_eq!(super::size(3_000_000_000), "3.0 GB");
    }
}
