//! The stack's output, containers' and processes' merged, lines ordered by their
//! timestamps, handed to a [`LogSink`] (the terminal prefixes each with its instance).
//!
//! Processes' lines come from their log files (`skiff_process::logs`), containers' from the
//! engine with timestamps. Without `--follow` every selected line is read and sorted. With
//! it, what is already written is gathered for a moment and printed in time order, then each
//! new line as it arrives (lines of different instances arriving in the same instant may
//! interleave out of order by a few milliseconds).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use skiff_docker::Engine;
use skiff_process::logs::{Follower, LogQuery, read_logs};
use tokio::sync::mpsc;

use crate::stack::Stack;

/// The engine or a log file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LogsError(String);

/// Where the lines go.
pub trait LogSink: Sync {
    /// The instances lines come from, once before any line; a line's `source` indexes it.
    fn sources(&self, names: &[&str]);
    /// Lines, in time order within one call.
    fn lines(&self, lines: &[Line]);
}

fn failed(e: impl std::fmt::Display) -> LogsError {
    LogsError(e.to_string())
}

/// How long a follower gathers existing lines before printing them in time order.
const BACKLOG_WINDOW: Duration = Duration::from_millis(250);

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these services; empty for all.
    pub services: Vec<String>,
    pub follow: bool,
    pub since: Option<SystemTime>,
    /// The last lines of each instance.
    pub tail: Option<usize>,
}

/// One line of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub time: SystemTime,
    /// The instance, as an index into the names given to [`LogSink::sources`].
    pub source: usize,
    pub text: String,
}

enum Source {
    Process { name: String, log: PathBuf },
    Container { name: String, id: String },
}

impl Source {
    fn name(&self) -> &str {
        match self {
            Source::Process { name, .. } | Source::Container { name, .. } => name,
        }
    }
}

/// Hands the selected output to `sink`; with `follow`, until cancelled.
///
/// # Errors
/// The engine or a log file cannot be read.
pub async fn print(
    stack: &Stack,
    engine: Option<&Engine>,
    options: &Options,
    sink: &dyn LogSink,
) -> Result<(), LogsError> {
    let selected = |service: &str| {
        options.services.is_empty() || options.services.iter().any(|s| s == service)
    };
    let mut sources = Vec::new();
    if stack.has_process_state() {
        let records = skiff_process::record::list(&stack.state_dir, &stack.name).map_err(failed)?;
        for r in records.into_iter().filter(|r| selected(&r.service)) {
            let log = r
                .log
                .clone()
                .unwrap_or_else(|| skiff_process::log_path(&stack.state_dir, &r.id()));
            sources.push(Source::Process { name: r.name, log });
        }
    }
    if let Some(engine) = engine {
        let containers = engine.containers(&stack.name).await.map_err(failed)?;
        for c in containers {
            if !selected(c.service.as_deref().unwrap_or_default()) {
                continue;
            }
            sources.push(Source::Container {
                name: c.name,
                id: c.id,
            });
        }
    }
    sources.sort_by(|a, b| a.name().cmp(b.name()));
    sink.sources(&sources.iter().map(Source::name).collect::<Vec<_>>());
    let query = LogQuery {
        since: options.since,
        until: None,
        tail: options.tail,
    };
    if !options.follow {
        let mut lines = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            match s {
                Source::Process { log, .. } => lines.extend(
                    read_logs(log, &query)
                        .map_err(failed)?
                        .into_iter()
                        .map(|l| Line {
                            time: l.time,
                            source: i,
                            text: l.text,
                        }),
                ),
                Source::Container { id, .. } => {
                    if let Some(engine) = engine {
                        let (tx, mut rx) = mpsc::unbounded_channel();
                        container_lines(engine, id, i, options, &tx).await;
                        drop(tx);
                        while let Some(l) = rx.recv().await {
                            lines.push(l);
                        }
                    }
                }
            }
        }
        lines.sort_by_key(|l| l.time);
        sink.lines(&lines);
        return Ok(());
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Line>();
    let readers = sources.iter().enumerate().map(|(i, s)| {
        let tx = tx.clone();
        async move {
            match s {
                Source::Process { log, .. } => {
                    let Ok(mut follower) = Follower::open(log, &query) else {
                        return;
                    };
                    while let Ok(l) = follower.next().await {
                        let line = Line {
                            time: l.time,
                            source: i,
                            text: l.text,
                        };
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
                Source::Container { id, .. } => {
                    if let Some(engine) = engine {
                        container_lines(engine, id, i, options, &tx).await;
                    }
                }
            }
        }
    });
    let readers = futures_util::future::join_all(readers);
    drop(tx);
    let printer = async {
        let deadline = tokio::time::Instant::now() + BACKLOG_WINDOW;
        let mut backlog = Vec::new();
        loop {
            tokio::select! {
                line = rx.recv() => match line {
                    Some(l) => backlog.push(l),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        backlog.sort_by_key(|l| l.time);
        sink.lines(&backlog);
        while let Some(l) = rx.recv().await {
            sink.lines(std::slice::from_ref(&l));
        }
    };
    tokio::join!(readers, printer);
    Ok(())
}

/// A container's lines with the engine's timestamps, sent as they come.
async fn container_lines(
    engine: &Engine,
    id: &str,
    source: usize,
    options: &Options,
    tx: &mpsc::UnboundedSender<Line>,
) {
    let spec = skiff_docker::LogsSpec {
        follow: options.follow,
        since: options.since.map(|since| {
            since
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
        }),
        tail: options.tail,
    };
    let mut stream = std::pin::pin!(engine.logs(id, spec));
    let mut pending: BTreeMap<skiff_docker::Channel, String> = BTreeMap::new();
    while let Some((stream_no, bytes)) = stream.next().await {
        let buf = pending.entry(stream_no).or_default();
        buf.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(pos) = buf.find('\n') {
            let line: String = buf.drain(..=pos).collect();
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            let (time, text) = split_timestamp(line);
            if options.since.is_some_and(|s| time < s) {
                continue;
            }
            if tx
                .send(Line {
                    time,
                    source,
                    text: text.to_owned(),
                })
                .is_err()
            {
                return;
            }
        }
    }
    // A last line without its newline.
    for rest in pending.into_values().filter(|r| !r.is_empty()) {
        let (time, text) = split_timestamp(rest.trim_end_matches('\r'));
        if options.since.is_none_or(|s| time >= s) {
            let _ = tx.send(Line {
                time,
                source,
                text: text.to_owned(),
            });
        }
    }
}

/// `2025-01-31T12:00:00.123456789Z text` -> (time, text); a line without a timestamp is
/// taken as written now.
fn split_timestamp(line: &str) -> (SystemTime, &str) {
    if let Some((stamp, text)) = line.split_once(' ')
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(stamp)
    {
        return (t.into(), text);
    }
    (SystemTime::now(), line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_timestamps_are_split_off() {
        let (t, text) = split_timestamp("2023-11-14T22:13:20.5Z hello world");
        assert_eq!(text, "hello world");
        assert_eq!(
            t,
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
        );
        assert_eq!(split_timestamp("no stamp").1, "no stamp");
    }
}
