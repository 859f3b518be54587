//! The loader's error: what went wrong, where, and what would likely fix it.

use crate::node::Span;

/// A failure to load a project. `span` points at the offending value when there is one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
    /// A required variable that had no value (`${VAR:?msg}`), so that the caller, who knows
    /// which env files were read, can say where to define it.
    pub missing_variable: Option<String>,
}

impl LoadError {
    #[must_use]
    pub fn new(message: impl Into<String>) -> LoadError {
        LoadError {
            message: message.into(),
            span: None,
            help: None,
            missing_variable: None,
        }
    }

    /// An error located at `span` (ignored when the span is synthetic).
    #[must_use]
    pub fn at(span: Span, message: impl Into<String>) -> LoadError {
        LoadError {
            message: message.into(),
            span: (!span.is_synthetic()).then_some(span),
            help: None,
            missing_variable: None,
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> LoadError {
        self.help = Some(help.into());
        self
    }

    /// Locates the error at `span` unless it already has a location.
    #[must_use]
    pub fn or_at(mut self, span: Span) -> LoadError {
        if self.span.is_none() && !span.is_synthetic() {
            self.span = Some(span);
        }
        self
    }
}

pub type Result<T, E = LoadError> = std::result::Result<T, E>;
