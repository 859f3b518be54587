//! The `skiff` binary: flags -> validated requests -> the crates -> terminal output.

mod cli;
mod commands;
mod diagnostic;
mod loading;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    install_report_handler();
    // Both rustls providers are linked (kube's ring, object_store's and reqwest's aws-lc-rs):
    // rustls cannot pick one by itself, so the process chooses once, before any TLS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(report) => {
            #[expect(clippy::print_stderr, reason = "the edge reports errors to the user")]
            {
                eprintln!("{report:?}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Errors wrap to the terminal's width on a terminal; piped into a file, a log or `grep`, a
/// message stays on one line.
fn install_report_handler() {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        return;
    }
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .width(usize::MAX / 4)
                .wrap_lines(false)
                .build(),
        )
    }));
}
