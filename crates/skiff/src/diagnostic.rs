//! Loader errors as miette reports: file, line, column, the source line, and a hint.

use miette::{Diagnostic, LabeledSpan, NamedSource, Report, SourceSpan};
use skiff_compose::LoadError;
use skiff_compose::loader::Sources;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Located {
    message: String,
    src: Option<NamedSource<String>>,
    span: Option<SourceSpan>,
    help: Option<String>,
}

impl Diagnostic for Located {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.src.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("here".to_owned()),
            span,
        ))))
    }
}

/// A report for a load error, with the offending source when the error has a position.
pub fn report(err: LoadError, sources: &Sources) -> Report {
    let located = err
        .span
        .and_then(|s| sources.get(s.file).map(|(name, text)| (s, name, text)));
    match located {
        Some((span, name, text)) => {
            let len = (span.len as usize)
                .max(1)
                .min(text.len().saturating_sub(span.offset as usize).max(1));
            let message = format!("{name}:{}:{}: {}", span.line, span.col, err.message);
            Report::new(Located {
                message,
                src: Some(NamedSource::new(name, text.to_owned())),
                span: Some(SourceSpan::new((span.offset as usize).into(), len)),
                help: err.help,
            })
        }
        None => Report::new(Located {
            message: err.message,
            src: None,
            span: None,
            help: err.help,
        }),
    }
}
