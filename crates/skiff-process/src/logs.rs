//! Captured output: one file per instance, one line per output line, rotated by size.
//!
//! A line is `<time> <stream> <text>\n`: the time the line was read, RFC 3339 in UTC with
//! nanoseconds (fixed width, so files sort by time as text), `stdout` or `stderr`, then the
//! line as the process wrote it, without its newline (invalid UTF-8 replaced by U+FFFD). A line
//! longer than 64 KiB is cut into several. When a write would take the file past `max_size`,
//! `path` becomes `path.1`, `path.1` becomes `path.2` and so on up to `path.<keep>`; older
//! files are deleted.
//!
//! [`read_logs`] returns the lines of all files, oldest first; a [`Follower`] returns them
//! and then waits for new ones, across rotations (for `skiff logs -f`).

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::ProcessError;

/// Longest line kept whole; longer lines are cut (Docker cuts at 16 KiB).
const MAX_LINE: usize = 64 * 1024;
/// How often a [`Follower`] looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Where and how much to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// Size at which the file is rotated (default 10 MiB).
    pub max_size: u64,
    /// Rotated files kept besides the current one (default 3).
    pub keep: u32,
}

impl LogFile {
    /// 10 MiB per file, 3 rotated files kept.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LogFile {
            path: path.into(),
            max_size: 10 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub time: SystemTime,
    pub stream: Stream,
    pub text: String,
}

impl LogLine {
    /// The time in RFC 3339, UTC, nanoseconds: `2025-01-31T12:00:00.000000001Z`.
    #[must_use]
    pub fn timestamp(&self) -> String {
        format_time(self.time)
    }
}

/// Which lines to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only lines at or after this time.
    pub since: Option<SystemTime>,
    /// Only lines before this time (ignored by a [`Follower`] once it follows).
    pub until: Option<SystemTime>,
    /// Only the last this many lines (of those in range).
    pub tail: Option<usize>,
}

impl LogQuery {
    fn admits(&self, line: &LogLine) -> bool {
        self.since.is_none_or(|s| line.time >= s) && self.until.is_none_or(|u| line.time < u)
    }

    fn select(&self, lines: Vec<LogLine>) -> VecDeque<LogLine> {
        let mut kept: VecDeque<LogLine> = lines.into_iter().filter(|l| self.admits(l)).collect();
        if let Some(n) = self.tail {
            let drop = kept.len().saturating_sub(n);
            kept.drain(..drop);
        }
        kept
    }
}

/// The lines of a log file and its rotated predecessors, oldest first.
///
/// # Errors
/// A file that exists but cannot be read. A missing log file is no lines.
pub fn read_logs(path: &Path, query: &LogQuery) -> Result<Vec<LogLine>, ProcessError> {
    let mut lines = Vec::new();
    for file in rotated(path).into_iter().chain([path.to_path_buf()]) {
        match std::fs::read(&file) {
            Ok(bytes) => lines.extend(parse_lines(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(ProcessError::ReadLog { path: file, source }),
        }
    }
    Ok(query.select(lines).into())
}

/// Deletes a log file and its rotated predecessors; missing files are fine.
///
/// # Errors
/// The file system refused.
pub fn remove_logs(path: &Path) -> Result<(), ProcessError> {
    for file in rotated(path).into_iter().chain([path.to_path_buf()]) {
        remove_if_present(&file).map_err(|source| ProcessError::Record {
            action: "remove log file",
            path: file,
            source,
        })?;
    }
    Ok(())
}

/// Follows a log file: first the lines a [`LogQuery`] selects, then each new line as it is
/// written, across rotations. A rotation while opening may repeat or skip a file's lines;
/// more than one rotation between two polls (100 ms) skips the files in between.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    since: Option<SystemTime>,
    backlog: VecDeque<LogLine>,
    current: Option<Current>,
    poll: Duration,
}

/// The file a [`Follower`] reads, identified by inode to notice rotation.
#[derive(Debug)]
struct Current {
    file: std::fs::File,
    inode: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// Opens `path` (which need not exist yet).
    ///
    /// # Errors
    /// A file that exists but cannot be read.
    pub fn open(path: impl Into<PathBuf>, query: &LogQuery) -> Result<Follower, ProcessError> {
        let path = path.into();
        // The current file first: rotated files are read after, so that a rotation in
        // between repeats lines rather than losing them.
        let mut current = open_current(&path)?;
        let mut lines = Vec::new();
        for file in rotated(&path) {
            match std::fs::read(&file) {
                Ok(bytes) => lines.extend(parse_lines(&bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(ProcessError::ReadLog { path: file, source }),
            }
        }
        if let Some(c) = current.as_mut() {
            lines.extend(c.read_new(&path)?);
        }
        Ok(Follower {
            backlog: query.select(lines),
            since: query.since,
            path,
            current,
            poll: FOLLOW_POLL,
        })
    }

    /// Looks for new lines this often (default 100 ms).
    #[must_use]
    pub fn poll_every(mut self, interval: Duration) -> Follower {
        self.poll = interval;
        self
    }

    /// The next line; waits for one to be written. Cancel-safe.
    ///
    /// # Errors
    /// The log file cannot be read.
    pub async fn next(&mut self) -> Result<LogLine, ProcessError> {
        loop {
            if let Some(line) = self.backlog.pop_front() {
                return Ok(line);
            }
            self.poll_once()?;
            if self.backlog.is_empty() {
                tokio::time::sleep(self.poll).await;
            }
        }
    }

    fn poll_once(&mut self) -> Result<(), ProcessError> {
        let since = self.since;
        let admit = |l: &LogLine| since.is_none_or(|s| l.time >= s);
        let Some(current) = self.current.as_mut() else {
            self.current = open_current(&self.path)?;
            if let Some(c) = self.current.as_mut() {
                self.backlog
                    .extend(c.read_new(&self.path)?.into_iter().filter(admit));
            }
            return Ok(());
        };
        self.backlog
            .extend(current.read_new(&self.path)?.into_iter().filter(admit));
        if !self.backlog.is_empty() {
            return Ok(());
        }
        let moved = match std::fs::metadata(&self.path) {
            Ok(m) => m.ino() != current.inode,
            // Between the rename and the creation of the new file: look again next time.
            Err(_) => false,
        };
        if moved {
            // The old file may have got lines between our read and its rename.
            self.backlog
                .extend(current.read_new(&self.path)?.into_iter().filter(admit));
            self.current = open_current(&self.path)?;
            if let Some(c) = self.current.as_mut() {
                self.backlog
                    .extend(c.read_new(&self.path)?.into_iter().filter(admit));
            }
        }
        Ok(())
    }
}

fn open_current(path: &Path) -> Result<Option<Current>, ProcessError> {
    let read_error = |source| ProcessError::ReadLog {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::File::open(path) {
        Ok(file) => {
            let inode = file.metadata().map_err(read_error)?.ino();
            Ok(Some(Current {
                file,
                inode,
                partial: Vec::new(),
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(e)),
    }
}

impl Current {
    /// The complete lines written since the last read; a partial line waits for its end.
    fn read_new(&mut self, path: &Path) -> Result<Vec<LogLine>, ProcessError> {
        self.file
            .read_to_end(&mut self.partial)
            .map_err(|source| ProcessError::ReadLog {
                path: path.to_path_buf(),
                source,
            })?;
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        Ok(parse_lines(&complete))
    }
}

/// `path.<keep>` .. `path.1` that exist, oldest first.
fn rotated(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..)
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn parse_lines(bytes: &[u8]) -> Vec<LogLine> {
    // Split on `\n` only: a `\r` the process wrote stays part of its line.
    String::from_utf8_lossy(bytes)
        .split('\n')
        .filter_map(parse_line)
        .collect()
}

/// Parses `<time> <stream> <text>`; `None` for anything else (a line skiff did not write).
fn parse_line(line: &str) -> Option<LogLine> {
    let (time, rest) = line.split_once(' ')?;
    let (stream, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let stream = match stream {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let time = DateTime::parse_from_rfc3339(time).ok()?;
    Some(LogLine {
        time: time.into(),
        stream,
        text: text.to_owned(),
    })
}

fn format_time(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn format_line(time: SystemTime, stream: Stream, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 40);
    out.extend_from_slice(format_time(time).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(String::from_utf8_lossy(text).as_bytes());
    out.push(b'\n');
    out
}

/// Appends to the log file and rotates it.
#[derive(Debug)]
pub(crate) struct LogWriter {
    config: LogFile,
    file: Option<std::fs::File>,
    size: u64,
}

impl LogWriter {
    /// Opens (creating it and its directory) the log file for appending.
    pub(crate) fn open(config: &LogFile) -> io::Result<LogWriter> {
        if let Some(dir) = config.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(&config.path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            config: config.clone(),
            file: Some(file),
            size,
        })
    }

    /// Appends whole lines, rotating before a line that would take the file past
    /// `max_size` (so a file only outgrows it by holding a single longer line).
    fn write_lines(&mut self, lines: &[Vec<u8>]) -> io::Result<()> {
        let mut pending: Vec<u8> = Vec::new();
        for line in lines {
            let size = self.size + pending.len() as u64;
            if size > 0 && size + line.len() as u64 > self.config.max_size {
                self.append(&pending)?;
                pending.clear();
                self.rotate()?;
            }
            pending.extend_from_slice(line);
        }
        self.append(&pending)
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => self.file.insert(append(&self.config.path)?),
        };
        file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let path = &self.config.path;
        if self.config.keep == 0 {
            remove_if_present(path)?;
        } else {
            remove_if_present(&numbered(path, self.config.keep))?;
            for n in (1..self.config.keep).rev() {
                rename_if_present(&numbered(path, n), &numbered(path, n + 1))?;
            }
            rename_if_present(path, &numbered(path, 1))?;
        }
        self.file = Some(append(path)?);
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads both outputs line by line until both close, writing timestamped lines. Write errors
/// (a full disk) drop lines rather than block the process on a full pipe.
pub(crate) async fn capture(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
    mut writer: LogWriter,
) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let out = read_stream(stdout, Stream::Stdout, tx.clone());
    let err = read_stream(stderr, Stream::Stderr, tx);
    let write = async move {
        while let Some(first) = rx.recv().await {
            // Whatever else is already there goes in the same write.
            let mut batch = vec![first];
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            if writer.write_lines(&batch).is_err() {
                // Reopen on the next batch: the file may have been removed under us.
                writer.file = None;
            }
        }
    };
    tokio::join!(out, err, write);
}

async fn read_stream(
    source: Option<impl AsyncRead + Unpin>,
    stream: Stream,
    tx: mpsc::Sender<Vec<u8>>,
) {
    let Some(source) = source else { return };
    let mut reader = BufReader::new(source);
    let mut line: Vec<u8> = Vec::new();
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let mut ready: Vec<Vec<u8>> = Vec::new();
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                reader.consume(i + 1);
                let whole = std::mem::take(&mut line);
                if whole.is_empty() {
                    ready.push(whole);
                } else {
                    ready.extend(whole.chunks(MAX_LINE).map(<[u8]>::to_vec));
                }
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                reader.consume(n);
                while line.len() >= MAX_LINE {
                    let rest = line.split_off(MAX_LINE);
                    ready.push(std::mem::replace(&mut line, rest));
                }
            }
        }
        for text in ready {
            if tx
                .send(format_line(SystemTime::now(), stream, &text))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    if !line.is_empty() {
        let _ = tx.send(format_line(SystemTime::now(), stream, &line)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let time = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let bytes = format_line(time, Stream::Stderr, b"hello  world ");
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "2023-11-14T22:13:20.123456789Z stderr hello  world \n"
        );
        assert_eq!(
            parse_lines(&bytes),
            vec![LogLine {
                time,
                stream: Stream::Stderr,
                text: "hello  world ".into(),
            }]
        );
        // An empty line keeps its (empty) text.
        let empty = format_line(time, Stream::Stdout, b"");
        assert_eq!(parse_lines(&empty)[0].text, "");
    }

    #[test]
    fn foreign_lines_are_skipped() {
        assert_eq!(parse_line("not a log line"), None);
        assert_eq!(parse_line("2023-11-14T22:13:20Z stdin x"), None);
        assert_eq!(parse_line("yesterday stdout x"), None);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let bytes = format_line(SystemTime::UNIX_EPOCH, Stream::Stdout, b"a\xffb");
        assert_eq!(parse_lines(&bytes)[0].text, "a\u{fffd}b");
    }

    #[test]
    fn query_filters_then_tails() {
        let at = |s| LogLine {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(s),
            stream: Stream::Stdout,
            text: s.to_string(),
        };
        let lines: Vec<LogLine> = (0..10).map(at).collect();
        let texts = |q: LogQuery| -> Vec<String> {
            q.select(lines.clone())
                .into_iter()
                .map(|l| l.text)
                .collect()
        };
        let t = |s| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(texts(LogQuery::default()).len(), 10);
        assert_eq!(
            texts(LogQuery {
                since: t(7),
                ..LogQuery::default()
            }),
            ["7", "8", "9"]
        );
        assert_eq!(
            texts(LogQuery {
                until: t(2),
                ..LogQuery::default()
            }),
            ["0", "1"]
        );
        assert_eq!(
            texts(LogQuery {
                since: t(2),
                until: t(8),
                tail: Some(2),
            }),
            ["6", "7"]
        );
    }
}
