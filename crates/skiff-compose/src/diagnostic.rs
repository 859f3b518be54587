//! Load errors as miette reports: file, line, column, an excerpt of the source, and a hint.
//!
//! What a report quotes is bounded whatever the input: a few lines around the error, each
//! cut to [`MAX_LINE`] characters around the position (with an ellipsis), and a message cut
//! to [`MAX_MESSAGE`]; so a 1 MB line or key renders as a short report, and miette's
//! renderer is never handed widths it cannot format.

use miette::{
    Diagnostic, LabeledSpan, MietteError, MietteSpanContents, Report, SourceCode, SourceSpan,
    SpanContents,
};

use crate::LoadError;
use crate::loader::Sources;

/// The most characters of one source line a report quotes.
pub const MAX_LINE: usize = 160;
/// The most characters of a message a report prints.
pub const MAX_MESSAGE: usize = 2000;
/// Lines quoted before and after the line of the error.
const CONTEXT: usize = 2;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Located {
    message: String,
    excerpt: Option<Excerpt>,
    help: Option<String>,
}

impl Diagnostic for Located {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.excerpt.as_ref().map(|e| e as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.excerpt.as_ref()?.span;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("here".to_owned()),
            span,
        ))))
    }
}

/// The lines a report quotes, cut to size, with the error's span inside them.
#[derive(Debug)]
struct Excerpt {
    name: String,
    text: String,
    /// The file's line number (0-based) of the excerpt's first line.
    first_line: usize,
    /// The error's place in `text`.
    span: SourceSpan,
    /// The excerpt's line (0-based) holding the error, and how many characters of it were
    /// cut before the window (in bytes, less the ellipsis), so columns stay the file's own.
    error_line: usize,
    col_shift: usize,
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        let column = if inner.line() == self.error_line && inner.column() > 0 {
            inner.column() + self.col_shift
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

/// A report for a load error, quoting the offending source when the error has a position.
#[must_use]
pub fn report(err: LoadError, sources: &Sources) -> Report {
    let located = err
        .span
        .and_then(|s| sources.get(s.file).map(|(name, text)| (s, name, text)));
    match located {
        Some((span, name, text)) => {
            let message = format!("{name}:{}:{}: {}", span.line, span.col, err.message);
            Report::new(Located {
                message: cut(&message, MAX_MESSAGE),
                excerpt: Some(excerpt(name, text, span.offset as usize, span.len as usize)),
                help: err.help.map(|h| cut(&h, MAX_MESSAGE)),
            })
        }
        None => Report::new(Located {
            message: cut(&err.message, MAX_MESSAGE),
            excerpt: None,
            help: err.help.map(|h| cut(&h, MAX_MESSAGE)),
        }),
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The largest char boundary of `text` at or below `at`.
fn floor(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The lines around `offset` (a few before and after), each cut to [`MAX_LINE`] characters;
/// the line holding `offset` is cut around it. The span is kept on that one line.
fn excerpt(name: &str, text: &str, offset: usize, len: usize) -> Excerpt {
    let offset = floor(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let first_line = text[..line_start].matches('\n').count();

    let before: Vec<&str> = text[..line_start.saturating_sub(1)]
        .rsplit('\n')
        .take(if line_start == 0 { 0 } else { CONTEXT })
        .collect();
    let after: Vec<&str> = if line_end < text.len() {
        text[line_end + 1..].split('\n').take(CONTEXT).collect()
    } else {
        Vec::new()
    };

    let mut out = String::new();
    for line in before.iter().rev() {
        out.push_str(&cut(line, MAX_LINE));
        out.push('\n');
    }

    // The error's own line: a window around the position.
    let line = &text[line_start..line_end];
    let at = offset - line_start;
    let half = MAX_LINE / 2;
    let start = if line[..at].chars().count() > half {
        floor(
            line,
            line[..at]
                .char_indices()
                .rev()
                .nth(half - 1)
                .map_or(0, |(i, _)| i),
        )
    } else {
        0
    };
    let end = line[start..]
        .char_indices()
        .nth(MAX_LINE)
        .map_or(line.len(), |(i, _)| start + i);
    let mut span_start = out.len();
    if start > 0 {
        out.push('…');
        span_start += '…'.len_utf8();
    }
    span_start += at - start;
    out.push_str(&line[start..end]);
    if end < line.len() {
        out.push('…');
    }
    let line_stop = out.len();
    let span_len = len.max(1).min(line_stop.saturating_sub(span_start).max(1));
    let span_len = floor(&out, span_start + span_len)
        .saturating_sub(span_start)
        .max(
            // At least one whole character (or nothing, at the end of a line).
            out[span_start..].chars().next().map_or(0, char::len_utf8),
        );

    for line in &after {
        out.push('\n');
        out.push_str(&cut(line, MAX_LINE));
    }
    Excerpt {
        name: name.to_owned(),
        text: out,
        first_line: first_line - before.len(),
        span: SourceSpan::new(span_start.into(), span_len),
        error_line: before.len(),
        // miette counts columns in bytes.
        col_shift: start.saturating_sub('…'.len_utf8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{FileId, Span};

    fn render(text: &str, offset: usize, len: usize) -> String {
        let mut sources = Sources::default();
        let file: FileId = sources.add("/p/compose.yaml", text);
        let line = text[..offset].matches('\n').count() + 1;
        let err = LoadError {
            message: "something is wrong".into(),
            span: Some(Span {
                file,
                offset: u32::try_from(offset).expect("offset"),
                len: u32::try_from(len).expect("len"),
                line: u32::try_from(line).expect("line"),
                col: 1,
            }),
            help: None,
            missing_variable: None,
        };
        let report = report(err, &sources);
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, report.as_ref())
            .expect("renders");
        out
    }

    #[test]
    fn a_megabyte_line_is_quoted_around_the_error() {
        let name = "a".repeat(1_000_000);
        let text = format!("services:\n  {name}:\n    image: x\n");
        let at = text.find(":\n    image").expect("colon");
        let out = render(&text, at, 1);
        assert!(out.len() < 4000, "{} bytes", out.len());
        assert!(out.contains("…a"), "{out}");
        assert!(out.contains("2 │"), "{out}");
        // The position is the file's own, not the excerpt's.
        assert!(out.contains("compose.yaml:2:1000003]"), "{out}");
        assert!(out.contains("image: x"), "{out}");
    }

    #[test]
    fn spans_anywhere_in_any_text_render() {
        let texts = [
            String::new(),
            "é".repeat(500),
            format!("{}\n{}\n", "ü".repeat(300), "x".repeat(300)),
            "a\nb\nc\nd\ne\nf\n".to_owned(),
            "\n\n\n".to_owned(),
        ];
        for text in &texts {
            for offset in 0..=text.len().min(700) {
                for len in [0, 1, 3, 1000] {
                    let out = render(text, floor(text, offset), len);
                    assert!(out.contains("something is wrong"));
                }
            }
        }
    }

    #[test]
    fn a_long_message_is_cut() {
        let sources = Sources::default();
        let report = report(LoadError::new("x".repeat(100_000)), &sources);
        assert!(report.to_string().chars().count() <= MAX_MESSAGE + 1);
    }
}
