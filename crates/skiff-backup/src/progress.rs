//! Progress reports, for the terminal (or the daemon) to draw. The library never draws.

/// What a long operation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A phase begins (`backup appdb`, `restore uploads`); `total` bytes when known.
    Start { phase: String, total: Option<u64> },
    /// Plaintext bytes processed since the last report.
    Bytes(u64),
    /// A line worth showing (a destination done, a file skipped).
    Note(String),
    /// The phase ended.
    Finish,
}

/// Receives progress reports; called from the thread doing the work.
pub trait Reporter: Sync {
    fn report(&self, p: Progress);
}

/// Discards reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: Progress) {}
}

impl<F: Fn(Progress) + Sync> Reporter for F {
    fn report(&self, p: Progress) {
        self(p);
    }
}
