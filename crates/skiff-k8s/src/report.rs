//! What an export could not carry over, carried over differently, or leaves to the user.

use std::fmt;

use serde::Serialize;

/// The export's account of everything that did not map one to one. Nothing in the stack is
/// dropped without a note here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub notes: Vec<Note>,
}

/// One thing the user should know about the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Where in the stack it comes from: `services.api.network_mode`, `x-skiff.backups.db.keep`.
    pub path: String,
    pub kind: NoteKind,
    /// What happened to it.
    pub message: String,
    /// The Kubernetes equivalent, or what to do.
    pub suggestion: String,
}

/// How a note's subject fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Left out of the objects: there is no equivalent, or it would be unsafe to guess.
    NotCarried,
    /// Carried over with different semantics.
    Approximated,
    /// Carried over, but the objects need something from the user before they work
    /// (a secret's value, an image in a registry, a storage size).
    ActionNeeded,
}

impl NoteKind {
    fn heading(self) -> &'static str {
        match self {
            NoteKind::NotCarried => "not carried over",
            NoteKind::Approximated => "carried over differently",
            NoteKind::ActionNeeded => "needs your action",
        }
    }
}

impl Report {
    /// Adds a note.
    pub(crate) fn add(
        &mut self,
        kind: NoteKind,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) {
        self.notes.push(Note {
            path: path.into(),
            kind,
            message: message.into(),
            suggestion: suggestion.into(),
        });
    }

    /// Whether there is nothing to report.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// The notes of one kind, in the order they were found.
    pub fn of_kind(&self, kind: NoteKind) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(move |n| n.kind == kind)
    }
}

impl fmt::Display for Report {
    /// Text for a terminal or a `REPORT.md`: the notes grouped by kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.notes.is_empty() {
            return writeln!(f, "Everything in the stack was carried over.");
        }
        let mut first = true;
        for kind in [
            NoteKind::NotCarried,
            NoteKind::Approximated,
            NoteKind::ActionNeeded,
        ] {
            let notes: Vec<&Note> = self.of_kind(kind).collect();
            if notes.is_empty() {
                continue;
            }
            if !first {
                writeln!(f)?;
            }
            first = false;
            writeln!(f, "{} ({}):", kind.heading(), notes.len())?;
            for n in notes {
                writeln!(f, "  - {}: {}", n.path, n.message)?;
                writeln!(f, "    -> {}", n.suggestion)?;
            }
        }
        Ok(())
    }
}
