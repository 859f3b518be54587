//! The stack's output on the terminal: one prefix per instance (coloured on a terminal), the
//! lines as skiff-host merges them ([`skiff_host::logs`]).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use skiff_docker::Engine;
pub use skiff_host::logs::Options;
use skiff_host::logs::{Line, LogSink};
use skiff_host::stack::Stack;

const COLORS: [&str; 6] = [
    "\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[31m",
];

/// Prints the selected output on standard output; with `follow`, until cancelled.
///
/// # Errors
/// The engine or a log file cannot be read.
pub async fn print(
    stack: &Stack,
    engine: Option<&Engine>,
    options: &Options,
) -> miette::Result<()> {
    let sink = Terminal {
        prefixes: Mutex::new(Vec::new()),
    };
    skiff_host::logs::print(stack, engine, options, &sink)
        .await
        .map_err(|e| miette::miette!("{e}"))
}

struct Terminal {
    prefixes: Mutex<Vec<String>>,
}

impl LogSink for Terminal {
    /// `name | ` padded to the longest name, coloured when standard output is a terminal
    /// (and NO_COLOR is unset).
    fn sources(&self, names: &[&str]) {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let width = names.iter().map(|s| s.len()).max().unwrap_or(0);
        let prefixes = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let padded = format!("{name:width$}");
                if color {
                    format!("{}{padded} |\x1b[0m ", COLORS[i % COLORS.len()])
                } else {
                    format!("{padded} | ")
                }
            })
            .collect();
        *self
            .prefixes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = prefixes;
    }

    fn lines(&self, lines: &[Line]) {
        let prefixes = self
            .prefixes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        for l in lines {
            let prefix = prefixes.get(l.source).map_or("", String::as_str);
            let _ = writeln!(out, "{prefix}{}", l.text);
        }
        let _ = out.flush();
    }
}
