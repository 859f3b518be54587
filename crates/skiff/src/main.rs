//! The `skiff` binary: flags -> validated requests -> the crates -> terminal output.

mod cli;
mod commands;
mod diagnostic;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
