//! Env files (`.env`, `--env-file`, `env_file:`, `label_file:`), parsed as compose-go v2.9.1
//! (`dotenv` package) does:
//!
//! - blank lines and lines whose first non-blank character is `#` are skipped; a UTF-8 BOM
//!   at the start is ignored;
//! - a statement is `KEY=VALUE` or `KEY: VALUE`, optionally preceded by `export `; blanks
//!   around the key and before the value are dropped;
//! - a key is made of letters, digits, `_`, `.`, `-`, `[` and `]` (any Unicode letter or
//!   number); a key with a space is an error, other characters are errors too;
//! - a line holding only a key takes the value of that variable from the lookup, and is
//!   skipped when the lookup does not know it (but a last line without separator nor
//!   final newline is, as in compose-go, the value of an empty key);
//! - an unquoted value runs to the end of the line, loses what follows ` #` (an inline
//!   comment) and its trailing blanks, and has its `${VAR}` references interpolated;
//! - a value in single or double quotes may span lines; `\` before the quote character
//!   keeps the quote. Single-quoted values are otherwise literal. In double-quoted values,
//!   `\a \b \f \n \r \t \v \\ \"` and `\0ooo` (octal) are unescaped, `\$` stands for a
//!   literal `$`, then `${VAR}` references are interpolated. Whatever follows the closing
//!   quote on the line is read as a new statement (a `# comment` is thus skipped);
//! - references are resolved with the lookup first, then with the variables defined
//!   earlier in the same file.

use indexmap::IndexMap;

use crate::template::{self, Lookup, TemplateError};

/// Why an env file could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DotenvError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    /// A value's `${...}` reference is malformed or names a missing required variable.
    #[error("line {line}: {source}")]
    Interpolation {
        line: usize,
        #[source]
        source: TemplateError,
    },
}

/// Parses the text of an env file into its variables, in order of first definition.
///
/// `lookup` resolves variables that are not defined by the file itself (the environment,
/// earlier files): it is consulted first for `${VAR}` references and for bare `KEY` lines,
/// before the variables the file defined above.
///
/// # Errors
/// A malformed key, an unterminated quoted value, or a failed interpolation.
pub fn parse(content: &str, lookup: Lookup<'_>) -> Result<IndexMap<String, String>, DotenvError> {
    let mut vars = IndexMap::new();
    parse_into(content, lookup, &mut vars)?;
    Ok(vars)
}

/// Parses the text of an env file into `vars`, which may already hold variables (from
/// earlier files, say): a definition replaces an existing value in place.
///
/// References are resolved with `lookup` first, then with `vars` as it stands when the
/// line is read (what was there before plus what the file defined above). This is how
/// compose reads several env files in turn: `lookup` gives the process environment only,
/// and `vars` accumulates the files, so that a file's own definitions take precedence over
/// earlier files' in its references.
///
/// # Errors
/// As [`parse`]. On error, `vars` keeps what was read before the faulty line.
pub fn parse_into(
    content: &str,
    lookup: Lookup<'_>,
    vars: &mut IndexMap<String, String>,
) -> Result<(), DotenvError> {
    let src = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    Parser {
        line: 1,
        vars,
        lookup,
    }
    .run(src)
}

/// Longest line [`parse_raw`] accepts, in bytes (without its line break).
const RAW_MAX_LINE: usize = 64 * 1024 - 1;

/// Parses an env file in docker compose's `raw` format (`env_file: {path: ..., format: raw}`,
/// the `docker run --env-file` syntax): one `KEY=VALUE` per line taken as is, without
/// quotes, escapes, interpolation or inline comments.
///
/// Leading blanks of a line are dropped (trailing ones are part of the value), blank lines
/// and lines starting with `#` are skipped, a line break may be CRLF, and a line holding only
/// a key takes the value `lookup` gives it (the key is skipped when `lookup` does not know
/// it). A UTF-8 BOM at the start is ignored.
///
/// # Errors
/// A line with nothing before its `=`, a key containing a space or tab, a line longer than
/// 65535 bytes.
pub fn parse_raw(
    content: &str,
    lookup: Lookup<'_>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let mut vars = IndexMap::new();
    let content = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    let content = content.strip_suffix('\n').unwrap_or(content);
    if content.is_empty() {
        return Ok(vars);
    }
    for (n, raw_line) in content.split('\n').enumerate() {
        let line_no = n + 1;
        let syntax = |message: String| DotenvError::Syntax {
            line: line_no,
            message,
        };
        if raw_line.len() > RAW_MAX_LINE {
            return Err(syntax(format!("line longer than {RAW_MAX_LINE} bytes")));
        }
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = line.trim_start_matches(char::is_whitespace);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(syntax(format!("no variable name in {line:?}")));
        }
        if key.contains([' ', '\t']) {
            return Err(syntax(format!("variable name {key:?} contains whitespace")));
        }
        let value = match value {
            Some(v) => Some(v.to_owned()),
            None => lookup(key),
        };
        if let Some(value) = value {
            vars.insert(key.to_owned(), value);
        }
    }
    Ok(vars)
}

struct Parser<'l, 'v> {
    /// Current line, counted the way compose-go counts it (its error messages name it).
    line: usize,
    vars: &'v mut IndexMap<String, String>,
    lookup: Lookup<'l>,
}

/// A key found at the start of a statement.
struct KeyName<'s> {
    key: &'s str,
    /// The line held only the key: its value comes from the lookup.
    inherited: bool,
    /// What follows the key and its separator.
    rest: &'s str,
}

/// Blank characters that do not end a line.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

impl Parser<'_, '_> {
    fn run(&mut self, src: &str) -> Result<(), DotenvError> {
        let mut rest = src;
        loop {
            rest = self.statement_start(rest);
            if rest.is_empty() {
                return Ok(());
            }
            let KeyName {
                key,
                inherited,
                rest: after,
            } = self.key_name(rest)?;
            if key.contains(' ') {
                return Err(self.syntax(format!("key cannot contain a space: {key:?}")));
            }
            if inherited {
                if let Some(value) = self.resolve(key) {
                    self.vars.insert(key.to_owned(), value);
                }
                rest = after;
                continue;
            }
            let (value, after) = self.value(after)?;
            self.vars.insert(key.to_owned(), value);
            rest = after;
        }
    }

    fn syntax(&self, message: String) -> DotenvError {
        DotenvError::Syntax {
            line: self.line,
            message,
        }
    }

    fn resolve(&self, name: &str) -> Option<String> {
        (self.lookup)(name).or_else(|| self.vars.get(name).cloned())
    }

    /// Skips blank lines and comment lines; returns the text from the next statement on
    /// (empty at the end of the input).
    fn statement_start<'s>(&mut self, mut src: &'s str) -> &'s str {
        loop {
            let Some(pos) = src.find(|c: char| {
                if c == '\n' {
                    self.line += 1;
                }
                !c.is_whitespace()
            }) else {
                return "";
            };
            src = &src[pos..];
            if !src.starts_with('#') {
                return src;
            }
            match src.find('\n') {
                Some(nl) => src = &src[nl..],
                None => return "",
            }
        }
    }

    fn key_name<'s>(&mut self, mut src: &'s str) -> Result<KeyName<'s>, DotenvError> {
        if let Some(after) = src.strip_prefix("export")
            && after.starts_with(['\t', '\n', '\u{c}', '\r', ' '])
        {
            src = after.trim_start_matches(is_blank);
        }
        let mut found = None;
        for (i, c) in src.char_indices() {
            if is_blank(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    found = Some((i, c == '\n'));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if is_letter_or_number(c) => {}
                c => {
                    let first_line = src.split('\n').next().unwrap_or(src);
                    return Err(self.syntax(format!(
                        "unexpected character {:?} in variable name {first_line:?}",
                        c.to_string()
                    )));
                }
            }
        }
        if src.is_empty() {
            return Err(self.syntax("missing variable name after \"export\"".to_owned()));
        }
        // Without a separator up to the end of the input, compose-go reads the text as the
        // value of an empty key.
        let (key, offset, inherited) = match found {
            Some((i, inherited)) => (&src[..i], i + 1, inherited),
            None => ("", 0, false),
        };
        if inherited && !key.contains(' ') {
            self.line += 1;
        }
        Ok(KeyName {
            key: key.trim_end_matches(char::is_whitespace),
            inherited,
            rest: src[offset..].trim_start_matches(is_blank),
        })
    }

    /// Reads the value at the start of `src`; returns it and the text after it.
    fn value<'s>(&mut self, src: &'s str) -> Result<(String, &'s str), DotenvError> {
        let start_line = self.line;
        let quote = match src.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                let (line, rest) = src.split_once('\n').unwrap_or((src, ""));
                self.line += 1;
                let value = line.split(" #").next().unwrap_or(line);
                let value = value.trim_end_matches(char::is_whitespace);
                let value = self.interpolate(value, start_line)?;
                return Ok((value, rest));
            }
        };
        let mut raw = String::new();
        let mut escaped = false;
        for (i, c) in src.char_indices().skip(1) {
            if c == '\n' {
                self.line += 1;
            }
            if c == quote {
                if escaped {
                    escaped = false;
                    raw.push(c);
                    continue;
                }
                let value = if quote == '"' {
                    self.interpolate(&unescape(&raw), start_line)?
                } else {
                    raw
                };
                return Ok((value, &src[i + c.len_utf8()..]));
            }
            if escaped {
                escaped = false;
                raw.push('\\');
                raw.push(c);
            } else if c == '\\' {
                escaped = true;
            } else {
                raw.push(c);
            }
        }
        let first_line = src.split('\n').next().unwrap_or(src);
        Err(self.syntax(format!("unterminated quoted value {first_line}")))
    }

    fn interpolate(&self, value: &str, line: usize) -> Result<String, DotenvError> {
        let lookup = |name: &str| self.resolve(name);
        template::substitute(value, &lookup)
            .map_err(|source| DotenvError::Interpolation { line, source })
    }
}

/// Expands the escape sequences of a double-quoted value. `\$` becomes `$$`, which
/// interpolation then turns into a literal `$`. Sequences other than the ones listed in
/// the module documentation are kept as they are.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let seq = &rest[pos..];
        let mut chars = seq.chars();
        chars.next();
        let (replacement, len): (Option<String>, usize) = match chars.next() {
            Some('a') => (Some("\u{7}".into()), 2),
            Some('b') => (Some("\u{8}".into()), 2),
            Some('c') => (None, 2),
            Some('f') => (Some("\u{c}".into()), 2),
            Some('n') => (Some("\n".into()), 2),
            Some('r') => (Some("\r".into()), 2),
            Some('t') => (Some("\t".into()), 2),
            Some('v') => (Some("\u{b}".into()), 2),
            Some('$') => (Some("$$".into()), 2),
            Some('"') => (Some("\"".into()), 2),
            Some('\\') => (Some("\\".into()), 2),
            Some('0') => {
                let digits = seq[2..]
                    .bytes()
                    .take(3)
                    .take_while(u8::is_ascii_digit)
                    .count();
                (octal(&seq[2..2 + digits]).map(String::from), 2 + digits)
            }
            _ => {
                // not an escape sequence: keep the backslash, look again after it
                out.push('\\');
                rest = &seq[1..];
                continue;
            }
        };
        match replacement {
            Some(r) => out.push_str(&r),
            None => out.push_str(&seq[..len]),
        }
        rest = &seq[len..];
    }
    out.push_str(rest);
    out
}

/// The character of a `\0ooo` escape, from the digits after `\0`: exactly three octal
/// digits worth at most 255 (taken as a code point); otherwise the sequence is kept.
fn octal(digits: &str) -> Option<char> {
    if digits.len() != 3 {
        return None;
    }
    let value = u32::from_str_radix(digits, 8).ok()?;
    if value > 255 {
        return None;
    }
    char::from_u32(value)
}

/// Whether `c` is a Unicode letter (categories L*) or number (N*), as Go's
/// `unicode.IsLetter || unicode.IsNumber`. Rust's `is_alphabetic` also takes the
/// `Other_Alphabetic` marks and symbols; they are excluded.
fn is_letter_or_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    if !(c.is_alphabetic() || c.is_numeric()) {
        return false;
    }
    let cp = u32::from(c);
    let pairs = NOT_LETTER_OR_NUMBER.len() / 2;
    // binary search over (start, end) pairs
    let (mut lo, mut hi) = (0, pairs);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (start, end) = (
            NOT_LETTER_OR_NUMBER[2 * mid],
            NOT_LETTER_OR_NUMBER[2 * mid + 1],
        );
        if cp < start {
            hi = mid;
        } else if cp > end {
            lo = mid + 1;
        } else {
            return false;
        }
    }
    true
}

/// Inclusive code point ranges (start, end, start, end, ...) that Rust counts as alphabetic
/// (`Other_Alphabetic`) but whose general category is neither a letter nor a number
/// (combining marks, circled letters...). Generated from the Unicode 16 tables.
const NOT_LETTER_OR_NUMBER: &[u32] = &[
    0x0345, 0x0345, 0x0363, 0x036F, 0x05B0, 0x05BD, 0x05BF, 0x05BF, 0x05C1, 0x05C2, 0x05C4, 0x05C5,
    0x05C7, 0x05C7, 0x0610, 0x061A, 0x064B, 0x0657, 0x0659, 0x065F, 0x0670, 0x0670, 0x06D6, 0x06DC,
    0x06E1, 0x06E4, 0x06E7, 0x06E8, 0x06ED, 0x06ED, 0x0711, 0x0711, 0x0730, 0x073F, 0x07A6, 0x07B0,
    0x0816, 0x0817, 0x081B, 0x0823, 0x0825, 0x0827, 0x0829, 0x082C, 0x088F, 0x088F, 0x0897, 0x0897,
    0x08D4, 0x08DF, 0x08E3, 0x08E9, 0x08F0, 0x0903, 0x093A, 0x093B, 0x093E, 0x094C, 0x094E, 0x094F,
    0x0955, 0x0957, 0x0962, 0x0963, 0x0981, 0x0983, 0x09BE, 0x09C4, 0x09C7, 0x09C8, 0x09CB, 0x09CC,
    0x09D7, 0x09D7, 0x09E2, 0x09E3, 0x0A01, 0x0A03, 0x0A3E, 0x0A42, 0x0A47, 0x0A48, 0x0A4B, 0x0A4C,
    0x0A51, 0x0A51, 0x0A70, 0x0A71, 0x0A75, 0x0A75, 0x0A81, 0x0A83, 0x0ABE, 0x0AC5, 0x0AC7, 0x0AC9,
    0x0ACB, 0x0ACC, 0x0AE2, 0x0AE3, 0x0AFA, 0x0AFC, 0x0B01, 0x0B03, 0x0B3E, 0x0B44, 0x0B47, 0x0B48,
    0x0B4B, 0x0B4C, 0x0B56, 0x0B57, 0x0B62, 0x0B63, 0x0B82, 0x0B82, 0x0BBE, 0x0BC2, 0x0BC6, 0x0BC8,
    0x0BCA, 0x0BCC, 0x0BD7, 0x0BD7, 0x0C00, 0x0C04, 0x0C3E, 0x0C44, 0x0C46, 0x0C48, 0x0C4A, 0x0C4C,
    0x0C55, 0x0C56, 0x0C5C, 0x0C5C, 0x0C62, 0x0C63, 0x0C81, 0x0C83, 0x0CBE, 0x0CC4, 0x0CC6, 0x0CC8,
    0x0CCA, 0x0CCC, 0x0CD5, 0x0CD6, 0x0CDC, 0x0CDC, 0x0CE2, 0x0CE3, 0x0CF3, 0x0CF3, 0x0D00, 0x0D03,
    0x0D3E, 0x0D44, 0x0D46, 0x0D48, 0x0D4A, 0x0D4C, 0x0D57, 0x0D57, 0x0D62, 0x0D63, 0x0D81, 0x0D83,
    0x0DCF, 0x0DD4, 0x0DD6, 0x0DD6, 0x0DD8, 0x0DDF, 0x0DF2, 0x0DF3, 0x0E31, 0x0E31, 0x0E34, 0x0E3A,
    0x0E4D, 0x0E4D, 0x0EB1, 0x0EB1, 0x0EB4, 0x0EB9, 0x0EBB, 0x0EBC, 0x0ECD, 0x0ECD, 0x0F71, 0x0F83,
    0x0F8D, 0x0F97, 0x0F99, 0x0FBC, 0x102B, 0x1036, 0x1038, 0x1038, 0x103B, 0x103E, 0x1056, 0x1059,
    0x105E, 0x1060, 0x1062, 0x1064, 0x1067, 0x106D, 0x1071, 0x1074, 0x1082, 0x108D, 0x108F, 0x108F,
    0x109A, 0x109D, 0x1712, 0x1713, 0x1732, 0x1733, 0x1752, 0x1753, 0x1772, 0x1773, 0x17B6, 0x17C8,
    0x1885, 0x1886, 0x18A9, 0x18A9, 0x1920, 0x192B, 0x1930, 0x1938, 0x1A17, 0x1A1B, 0x1A55, 0x1A5E,
    0x1A61, 0x1A74, 0x1ABF, 0x1AC0, 0x1ACC, 0x1ACE, 0x1B00, 0x1B04, 0x1B35, 0x1B43, 0x1B80, 0x1B82,
    0x1BA1, 0x1BA9, 0x1BAC, 0x1BAD, 0x1BE7, 0x1BF1, 0x1C24, 0x1C36, 0x1DD3, 0x1DF4, 0x24B6, 0x24E9,
    0x2DE0, 0x2DFF, 0xA674, 0xA67B, 0xA69E, 0xA69F, 0xA7CE, 0xA7CF, 0xA7D2, 0xA7D2, 0xA7D4, 0xA7D4,
    0xA7F1, 0xA7F1, 0xA802, 0xA802, 0xA80B, 0xA80B, 0xA823, 0xA827, 0xA880, 0xA881, 0xA8B4, 0xA8C3,
    0xA8C5, 0xA8C5, 0xA8FF, 0xA8FF, 0xA926, 0xA92A, 0xA947, 0xA952, 0xA980, 0xA983, 0xA9B4, 0xA9BF,
    0xA9E5, 0xA9E5, 0xAA29, 0xAA36, 0xAA43, 0xAA43, 0xAA4C, 0xAA4D, 0xAA7B, 0xAA7D, 0xAAB0, 0xAAB0,
    0xAAB2, 0xAAB4, 0xAAB7, 0xAAB8, 0xAABE, 0xAABE, 0xAAEB, 0xAAEF, 0xAAF5, 0xAAF5, 0xABE3, 0xABEA,
    0xFB1E, 0xFB1E, 0x10376, 0x1037A, 0x10940, 0x10959, 0x10A01, 0x10A03, 0x10A05, 0x10A06,
    0x10A0C, 0x10A0F, 0x10D24, 0x10D27, 0x10D69, 0x10D69, 0x10EAB, 0x10EAC, 0x10EC5, 0x10EC7,
    0x10EFA, 0x10EFC, 0x11000, 0x11002, 0x11038, 0x11045, 0x11073, 0x11074, 0x11080, 0x11082,
    0x110B0, 0x110B8, 0x110C2, 0x110C2, 0x11100, 0x11102, 0x11127, 0x11132, 0x11145, 0x11146,
    0x11180, 0x11182, 0x111B3, 0x111BF, 0x111CE, 0x111CF, 0x1122C, 0x11234, 0x11237, 0x11237,
    0x1123E, 0x1123E, 0x11241, 0x11241, 0x112DF, 0x112E8, 0x11300, 0x11303, 0x1133E, 0x11344,
    0x11347, 0x11348, 0x1134B, 0x1134C, 0x11357, 0x11357, 0x11362, 0x11363, 0x113B8, 0x113C0,
    0x113C2, 0x113C2, 0x113C5, 0x113C5, 0x113C7, 0x113CA, 0x113CC, 0x113CD, 0x11435, 0x11441,
    0x11443, 0x11445, 0x114B0, 0x114C1, 0x115AF, 0x115B5, 0x115B8, 0x115BE, 0x115DC, 0x115DD,
    0x11630, 0x1163E, 0x11640, 0x11640, 0x116AB, 0x116B5, 0x1171D, 0x1172A, 0x1182C, 0x11838,
    0x11930, 0x11935, 0x11937, 0x11938, 0x1193B, 0x1193C, 0x11940, 0x11940, 0x11942, 0x11942,
    0x119D1, 0x119D7, 0x119DA, 0x119DF, 0x119E4, 0x119E4, 0x11A01, 0x11A0A, 0x11A35, 0x11A39,
    0x11A3B, 0x11A3E, 0x11A51, 0x11A5B, 0x11A8A, 0x11A97, 0x11B60, 0x11B67, 0x11C2F, 0x11C36,
    0x11C38, 0x11C3E, 0x11C92, 0x11CA7, 0x11CA9, 0x11CB6, 0x11D31, 0x11D36, 0x11D3A, 0x11D3A,
    0x11D3C, 0x11D3D, 0x11D3F, 0x11D41, 0x11D43, 0x11D43, 0x11D47, 0x11D47, 0x11D8A, 0x11D8E,
    0x11D90, 0x11D91, 0x11D93, 0x11D96, 0x11DB0, 0x11DDB, 0x11DE0, 0x11DE9, 0x11EF3, 0x11EF6,
    0x11F00, 0x11F01, 0x11F03, 0x11F03, 0x11F34, 0x11F3A, 0x11F3E, 0x11F40, 0x1611E, 0x1612E,
    0x16EA0, 0x16EB8, 0x16EBB, 0x16ED3, 0x16F4F, 0x16F4F, 0x16F51, 0x16F87, 0x16F8F, 0x16F92,
    0x16FF0, 0x16FF6, 0x187F8, 0x187FF, 0x18D09, 0x18D1E, 0x18D80, 0x18DF2, 0x1BC9E, 0x1BC9E,
    0x1E000, 0x1E006, 0x1E008, 0x1E018, 0x1E01B, 0x1E021, 0x1E023, 0x1E024, 0x1E026, 0x1E02A,
    0x1E08F, 0x1E08F, 0x1E6C0, 0x1E6DE, 0x1E6E0, 0x1E6F5, 0x1E6FE, 0x1E6FF, 0x1E947, 0x1E947,
    0x1F130, 0x1F149, 0x1F150, 0x1F169, 0x1F170, 0x1F189, 0x2B73A, 0x2B73F, 0x2CEA2, 0x2CEAD,
    0x323B0, 0x33479,
];

#[cfg(test)]
mod tests {
    use super::*;

    type Env = &'static [(&'static str, &'static str)];
    /// The variables in order of first definition, or a fragment of the error message.
    type Expected = Result<&'static [(&'static str, &'static str)], &'static str>;

    fn run(content: &str, env: Env) -> Result<Vec<(String, String)>, DotenvError> {
        let lookup = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        parse(content, &lookup).map(|m| m.into_iter().collect())
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Checks one case; with `sorted`, compares the variables regardless of order.
    fn check(label: &str, content: &str, env: Env, want: &Expected, sorted: bool) {
        match (want, run(content, env)) {
            (Ok(pairs), Ok(mut got)) => {
                let mut pairs = owned(pairs);
                if sorted {
                    got.sort();
                    pairs.sort();
                }
                assert_eq!(got, pairs, "{label}: {content:?}");
            }
            (Err(fragment), Err(e)) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(fragment),
                    "{label}: {content:?}: error {msg:?} lacks {fragment:?}"
                );
            }
            (want, got) => panic!("{label}: {content:?}: want {want:?}, got {got:?}"),
        }
    }

    /// The `cg-dotenv-*` cases of the conformance corpus: the env file's text, and the
    /// variables the reference read from it (no variable set outside the file; the expected
    /// output is a key-sorted JSON map) or the end of its error message.
    #[rustfmt::skip]
    const CORPUS: &[(&str, &str, Expected)] = &[
        ("cg-dotenv-0614-envfile-custom-format", "FOO:BAR\nZOT:QIX", Ok(&[("FOO", "BAR"), ("ZOT", "QIX")])),
        ("cg-dotenv-0616-envfile-equals-env", "export OPTION_A='postgres://localhost:5432/database?sslmode=disable'\n\n", Ok(&[("OPTION_A", "postgres://localhost:5432/database?sslmode=disable")])),
        ("cg-dotenv-0618-envfile-exported-env", "export OPTION_A=2\nexport OPTION_B='\\n'\n", Ok(&[("OPTION_A", "2"), ("OPTION_B", "\\n")])),
        ("cg-dotenv-0620-envfile-inherited-multi-var-env", "foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz\n", Ok(&[("bar", "baz"), ("foo", "bar")])),
        ("cg-dotenv-0622-envfile-inherited-not-found-env", "VARIABLE_NOT_FOUND\n", Ok(&[])),
        ("cg-dotenv-0624-envfile-invalid1-env", "# some comments\nfoo=\"\n  a\n  multine\n  value\n\"\nINVALID LINE\nzot=qix", Err("line 7: key cannot contain a space")),
        ("cg-dotenv-0625-project-env-invalid1-env", "# some comments\nfoo=\"\n  a\n  multine\n  value\n\"\nINVALID LINE\nzot=qix", Err("line 7: key cannot contain a space")),
        ("cg-dotenv-0626-envfile-plain-env", "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\nOPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n", Ok(&[("456", "ABC"), ("OPTION_A", "1"), ("OPTION_B", "2"), ("OPTION_C", "3"), ("OPTION_D", "4"), ("OPTION_E", "5"), ("OPTION_F", ""), ("OPTION_G", ""), ("OPTION_H", "my string")])),
        // as --env-file: the compose file shows only OPTION_*; 456 is read as well
        ("cg-dotenv-0627-project-env-plain-env", "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\nOPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n", Ok(&[("456", "ABC"), ("OPTION_A", "1"), ("OPTION_B", "2"), ("OPTION_C", "3"), ("OPTION_D", "4"), ("OPTION_E", "5"), ("OPTION_F", ""), ("OPTION_G", ""), ("OPTION_H", "my string")])),
        ("cg-dotenv-0628-envfile-quoted-env", "OPTION_A='1'\nOPTION_B='2'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\nOPTION_F=\"2\"\nOPTION_G=\"\"\nOPTION_H=\"\\n\"\nOPTION_I = \"echo 'asd'\" # Inline comment\nOPTION_J = 'first line\nsecond line\nthird line\nand so on'\nOPTION_K='Let\\'s go!'\nOPTION_Z = \"last value\"\n", Ok(&[("OPTION_A", "1"), ("OPTION_B", "2"), ("OPTION_C", ""), ("OPTION_D", "\\n"), ("OPTION_E", "1"), ("OPTION_F", "2"), ("OPTION_G", ""), ("OPTION_H", "\n"), ("OPTION_I", "echo 'asd'"), ("OPTION_J", "first line\nsecond line\nthird line\nand so on"), ("OPTION_K", "Let's go!"), ("OPTION_Z", "last value")])),
        ("cg-dotenv-0630-envfile-special-env", "VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n", Ok(&[("VAR-WITH-DASHES", "dashes"), ("VAR.WITH.DOTS", "dots"), ("VAR_WITH_UNDERSCORES", "underscores")])),
        ("cg-dotenv-0632-envfile-substitutions-default-env", "OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n", Ok(&[("OPTION_A", "1"), ("OPTION_B", "1"), ("OPTION_C", "1"), ("OPTION_D", "1_1"), ("OPTION_E", "")])),
        ("cg-dotenv-0636-envfile-unquoted-env", "OPTION_A = \"some quoted phrase\"\nOPTION_B=first one with an unquoted phrase\nOPTION_C = then another one with an unquoted phrase\nOPTION_D = then another one with an unquoted phrase special è char\nOPTION_E = \"then another one quoted phrase\"\n", Ok(&[("OPTION_A", "some quoted phrase"), ("OPTION_B", "first one with an unquoted phrase"), ("OPTION_C", "then another one with an unquoted phrase"), ("OPTION_D", "then another one with an unquoted phrase special è char"), ("OPTION_E", "then another one quoted phrase")])),
        ("cg-dotenv-0640-parse", "ONE=1\nTWO='2'\nTHREE = \"3\"\n", Ok(&[("ONE", "1"), ("THREE", "3"), ("TWO", "2")])),
        ("cg-dotenv-0641-load-equals-env", "postgres://localhost:5432/database?sslmode=disable\n", Ok(&[("postgres", "//localhost:5432/database?sslmode=disable")])),
        ("cg-dotenv-0642-expanding", "FOO=test\nBAR=$FOO\n", Ok(&[("BAR", "test"), ("FOO", "test")])),
        ("cg-dotenv-0643-expanding", "FOO=test\nBAR=${FOO}bar\n", Ok(&[("BAR", "testbar"), ("FOO", "test")])),
        ("cg-dotenv-0644-expanding", "BAR=$FOO\n", Ok(&[("BAR", "")])),
        ("cg-dotenv-0645-expanding", "FOO=test\nBAR=\"quote $FOO\"\n", Ok(&[("BAR", "quote test"), ("FOO", "test")])),
        ("cg-dotenv-0646-expanding", "BAR='quote $FOO'\n", Ok(&[("BAR", "quote $FOO")])),
        ("cg-dotenv-0647-expanding", "FOO=\"foo\\$BAR\"\n", Ok(&[("FOO", "foo$BAR")])),
        ("cg-dotenv-0648-expanding", "FOO=\"foo\\${BAR}\"\n", Ok(&[("FOO", "foo${BAR}")])),
        ("cg-dotenv-0649-expanding", "FOO=test\nBAR=\"foo\\${FOO} ${FOO}\"\n", Ok(&[("BAR", "foo${FOO} test"), ("FOO", "test")])),
        ("cg-dotenv-0650-variable-string-value-separator", "TEST_URLS=\"stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443\"\n", Ok(&[("TEST_URLS", "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443")])),
        ("cg-dotenv-0651-parsing", "FOO=bar\n", Ok(&[("FOO", "bar")])),
        ("cg-dotenv-0656-parsing", "FOO=\"escaped\\\"bar\"\n", Ok(&[("FOO", "escaped\"bar")])),
        ("cg-dotenv-0657-parsing", "FOO=\"\\\"quoted\\\"\"\n", Ok(&[("FOO", "\"quoted\"")])),
        ("cg-dotenv-0658-parsing", "FOO=\"'d'\"\n", Ok(&[("FOO", "'d'")])),
        ("cg-dotenv-0659-parsing", "OPTION_A: Foo=bar\n", Ok(&[("OPTION_A", "Foo=bar")])),
        ("cg-dotenv-0660-parsing", "Foo=bar\n", Ok(&[("Foo", "bar")])),
        ("cg-dotenv-0661-parsing", "OPTION_A=1:B\n", Ok(&[("OPTION_A", "1:B")])),
        ("cg-dotenv-0662-parsing", "export OPTION_A=2\n", Ok(&[("OPTION_A", "2")])),
        ("cg-dotenv-0663-parsing", "export OPTION_B='\\n'\n", Ok(&[("OPTION_B", "\\n")])),
        ("cg-dotenv-0664-parsing", "export exportFoo=2\n", Ok(&[("exportFoo", "2")])),
        ("cg-dotenv-0665-parsing", "exportFOO=2\n", Ok(&[("exportFOO", "2")])),
        ("cg-dotenv-0666-parsing", "export_FOO =2\n", Ok(&[("export_FOO", "2")])),
        ("cg-dotenv-0667-parsing", "export.FOO= 2\n", Ok(&[("export.FOO", "2")])),
        ("cg-dotenv-0671-parsing", "export OPTION_A=\"export A\"\n", Ok(&[("OPTION_A", "export A")])),
        ("cg-dotenv-0672-parsing", "FOO=\"bar\\nbaz\"\n", Ok(&[("FOO", "bar\nbaz")])),
        ("cg-dotenv-0673-parsing", "FOO=a\\tb\n", Ok(&[("FOO", "a\\tb")])),
        ("cg-dotenv-0674-parsing", "FOO=\"a\\tb\"\n", Ok(&[("FOO", "a\tb")])),
        ("cg-dotenv-0675-parsing", "KEY=\"Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z\"\n", Ok(&[("KEY", "Z\u{7}Z\u{8}Z\u{c}Z\nZ\rZ\tZ\u{b}Z\\ZSZ")])),
        ("cg-dotenv-0676-parsing", "FOO.BAR=foobar\n", Ok(&[("FOO.BAR", "foobar")])),
        ("cg-dotenv-0677-parsing", "FOO=foobar=\n", Ok(&[("FOO", "foobar=")])),
        ("cg-dotenv-0678-parsing", "foobar=\n", Ok(&[("foobar", "")])),
        ("cg-dotenv-0683-parsing", "FOO=123#not-an-inline-comment\n", Ok(&[("FOO", "123#not-an-inline-comment")])),
        ("cg-dotenv-0684-parsing", "FOO=\"bar#baz\"\n", Ok(&[("FOO", "bar#baz")])),
        ("cg-dotenv-0688-parsing", "FOO=\"bar#baz#bang\" # comment\n", Ok(&[("FOO", "bar#baz#bang")])),
        ("cg-dotenv-0689-parsing", "FOO=\"ba#r\"\n", Ok(&[("FOO", "ba#r")])),
        ("cg-dotenv-0691-parsing", "FOO=\"bar\\n\\ b\\az\"\n", Ok(&[("FOO", "bar\n\\ b\u{7}z")])),
        ("cg-dotenv-0692-parsing", "FOO=\"bar\\\\\\n\\ b\\az\"\n", Ok(&[("FOO", "bar\\\n\\ b\u{7}z")])),
        ("cg-dotenv-0693-parsing", "FOO=\"bar\\\\r\\ b\\az\"\n", Ok(&[("FOO", "bar\\r\\ b\u{7}z")])),
        ("cg-dotenv-0694-parsing", "FOO=\"bar\\nbaz\\\\\"\n", Ok(&[("FOO", "bar\nbaz\\")])),
        ("cg-dotenv-0695-parsing", " KEY =value\n", Ok(&[("KEY", "value")])),
        ("cg-dotenv-0698-parsing", "KEY=\"\\0123\"\n", Ok(&[("KEY", "S")])),
        ("cg-dotenv-0699-parsing", "KEY=\"\\x07\"\n", Ok(&[("KEY", "\\x07")])),
        ("cg-dotenv-0700-parsing", "KEY=\"\\u12e4\"\n", Ok(&[("KEY", "\\u12e4")])),
        ("cg-dotenv-0701-parsing", "KEY=\"\\U00101234\"\n", Ok(&[("KEY", "\\U00101234")])),
        ("cg-dotenv-0702-unterminated-quotes", "KEY=\"\n", Err("line 2: unterminated quoted value \"")),
        ("cg-dotenv-0703-unterminated-quotes", "KEY=\"value\n", Err("line 2: unterminated quoted value \"value")),
        ("cg-dotenv-0704-unterminated-quotes", "KEY=\"value\\\"\n", Err("line 2: unterminated quoted value \"value\\\"")),
        ("cg-dotenv-0705-unterminated-quotes", "KEY=\"value'\n", Err("line 2: unterminated quoted value \"value'")),
        ("cg-dotenv-0706-unterminated-quotes", "KEY='\n", Err("line 2: unterminated quoted value '")),
        ("cg-dotenv-0707-unterminated-quotes", "KEY='value\n", Err("line 2: unterminated quoted value 'value")),
        ("cg-dotenv-0708-unterminated-quotes", "KEY='value\\'\n", Err("line 2: unterminated quoted value 'value\\'")),
        ("cg-dotenv-0709-unterminated-quotes", "KEY='value\"\n", Err("line 2: unterminated quoted value 'value\"")),
        ("cg-dotenv-0710-expanding-environment-with-lookup", "TEST=$ME\n", Ok(&[("TEST", "")])),
        ("cg-dotenv-0711-multiple-files", "\nENV_HOSTNAME=localhost\nENV_MY_URL=\"http://${ENV_HOSTNAME}\"\n", Ok(&[("ENV_HOSTNAME", "localhost"), ("ENV_MY_URL", "http://localhost")])),
        ("cg-dotenv-0712-multiple-files", "\nENV_HOSTNAME=dev.my-company.com\nENV_MY_URL=\"http://${ENV_HOSTNAME}\"\n", Ok(&[("ENV_HOSTNAME", "dev.my-company.com"), ("ENV_MY_URL", "http://dev.my-company.com")])),
        ("cg-dotenv-0713-expand-if-empty-or-unset", "RESULT=${UNSET_VAR:-Default Value}\n", Ok(&[("RESULT", "Default Value")])),
        ("cg-dotenv-0717-expand-if-empty-or-unset", "RESULT=Test Value\n", Ok(&[("RESULT", "Test Value")])),
        ("cg-dotenv-0720-expand-if-unset", "RESULT=\n", Ok(&[("RESULT", "")])),
        ("cg-dotenv-0722-error-if-empty-or-unset", "RESULT=${UNSET_VAR:?Test error}\n", Err("required variable UNSET_VAR is missing a value: Test error")),
        ("cg-dotenv-0723-error-if-empty-or-unset", "RESULT=${EMPTY_VAR:?Test error}\n", Err("required variable EMPTY_VAR is missing a value: Test error")),
        ("cg-dotenv-0724-error-if-empty-or-unset", "RESULT=${TEST_VAR:?Default Value}\n", Err("required variable TEST_VAR is missing a value: Default Value")),
        ("cg-dotenv-0725-error-if-unset", "RESULT=${UNSET_VAR?Test error}\n", Err("required variable UNSET_VAR is missing a value: Test error")),
        ("cg-dotenv-0726-error-if-unset", "RESULT=${EMPTY_VAR?Test error}\n", Err("required variable EMPTY_VAR is missing a value: Test error")),
        ("cg-dotenv-0727-error-if-unset", "RESULT=${TEST_VAR?Default Value}\n", Err("required variable TEST_VAR is missing a value: Default Value")),
    ];

    #[test]
    fn corpus_cases() {
        for (label, content, want) in CORPUS {
            check(label, content, &[], want, true);
        }
    }

    const EXPANSION_ENV: Env = &[("EMPTY_VAR", ""), ("TEST_VAR", "Test Value")];
    const INHERIT_ENV: Env = &[("VAR_TO_BE_LOADED_FROM_OS_ENV", "SOME_RANDOM_VALUE")];
    const OPTION_A: Env = &[("OPTION_A", "5")];
    const HOST: Env = &[("ENV_HOSTNAME", "host.local")];
    const SUBSTITUTIONS: &str = "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n";
    const SUBSTITUTIONS_DEFAULT: &str = "OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n";

    /// (env file text, variables known to the lookup, result)
    #[rustfmt::skip]
    const CASES: &[(&str, Env, Expected)] = &[
        // basic forms
        ("FOO=bar", &[], Ok(&[("FOO", "bar")])),
        ("FOO =bar", &[], Ok(&[("FOO", "bar")])),
        ("FOO= bar", &[], Ok(&[("FOO", "bar")])),
        ("FOO=\"bar\"", &[], Ok(&[("FOO", "bar")])),
        ("FOO='bar'", &[], Ok(&[("FOO", "bar")])),
        ("ONE=1\nTWO='2'\nTHREE = \"3\"", &[], Ok(&[("ONE", "1"), ("TWO", "2"), ("THREE", "3")])),
        ("OPTION_A: 1", &[], Ok(&[("OPTION_A", "1")])),
        ("OPTION_A: Foo=bar", &[], Ok(&[("OPTION_A", "Foo=bar")])),
        ("OPTION_A=1:B", &[], Ok(&[("OPTION_A", "1:B")])),
        ("FOO.BAR=foobar", &[], Ok(&[("FOO.BAR", "foobar")])),
        ("FOO=foobar=", &[], Ok(&[("FOO", "foobar=")])),
        ("FOO=bar ", &[], Ok(&[("FOO", "bar")])),
        ("=\"value\"", &[], Ok(&[("", "value")])),
        (" KEY =value", &[], Ok(&[("KEY", "value")])),
        ("   KEY=value", &[], Ok(&[("KEY", "value")])),
        ("\tKEY=value", &[], Ok(&[("KEY", "value")])),
        ("a=b\na[1]=c\na.propertyKey=d\nárvíztűrő-TÜKÖRFÚRÓGÉP=ÁRVÍZTŰRŐ-tükörfúrógép\n", &[],
            Ok(&[("a", "b"), ("a[1]", "c"), ("a.propertyKey", "d"), ("árvíztűrő-TÜKÖRFÚRÓGÉP", "ÁRVÍZTŰRŐ-tükörfúrógép")])),
        ("VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n", &[],
            Ok(&[("VAR.WITH.DOTS", "dots"), ("VAR_WITH_UNDERSCORES", "underscores"), ("VAR-WITH-DASHES", "dashes")])),
        ("456 = ABC\n1abc=x", &[], Ok(&[("456", "ABC"), ("1abc", "x")])),
        ("٣=arabic-indic digit", &[], Ok(&[("٣", "arabic-indic digit")])),
        ("A\tB=1", &[], Ok(&[("A\tB", "1")])),
        ("A\u{a0}=1 \u{a0}", &[], Ok(&[("A", "1")])),
        ("export=1", &[], Ok(&[("export", "1")])),
        // export
        ("export OPTION_A=2", &[], Ok(&[("OPTION_A", "2")])),
        ("export OPTION_B='\\n'", &[], Ok(&[("OPTION_B", "\\n")])),
        ("export exportFoo=2", &[], Ok(&[("exportFoo", "2")])),
        ("exportFOO=2", &[], Ok(&[("exportFOO", "2")])),
        ("export_FOO =2", &[], Ok(&[("export_FOO", "2")])),
        ("export.FOO= 2", &[], Ok(&[("export.FOO", "2")])),
        ("export\tOPTION_A=2", &[], Ok(&[("OPTION_A", "2")])),
        ("  export OPTION_A=2", &[], Ok(&[("OPTION_A", "2")])),
        ("\texport OPTION_A=2", &[], Ok(&[("OPTION_A", "2")])),
        ("export OPTION_A=\"export A\"", &[], Ok(&[("OPTION_A", "export A")])),
        ("export OPTION_A=2\nexport OPTION_B='\\n'\n", &[], Ok(&[("OPTION_A", "2"), ("OPTION_B", "\\n")])),
        ("export FOO\n", &[("FOO", "env")], Ok(&[("FOO", "env")])),
        ("export ", &[], Err("line 1: missing variable name after \"export\"")),
        // a last line without separator nor newline is the value of an empty key
        ("FOO=1\nBAR", &[("BAR", "env")], Ok(&[("FOO", "1"), ("", "BAR")])),
        ("export FOO", &[], Ok(&[("", "FOO")])),
        ("export", &[], Ok(&[("", "export")])),
        ("FOO BAR", &[], Ok(&[("", "FOO BAR")])),
        // escapes in double quotes
        ("FOO=\"escaped\\\"bar\"", &[], Ok(&[("FOO", "escaped\"bar")])),
        ("FOO=\"\\\"quoted\\\"\"", &[], Ok(&[("FOO", "\"quoted\"")])),
        ("FOO=\"'d'\"", &[], Ok(&[("FOO", "'d'")])),
        ("FOO=\"bar\\nbaz\"", &[], Ok(&[("FOO", "bar\nbaz")])),
        ("FOO=a\\tb", &[], Ok(&[("FOO", "a\\tb")])),
        ("FOO=\"a\\tb\"", &[], Ok(&[("FOO", "a\tb")])),
        ("KEY=\"Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z\"", &[], Ok(&[("KEY", "Z\u{7}Z\u{8}Z\u{c}Z\nZ\rZ\tZ\u{b}Z\\ZSZ")])),
        ("FOO=\"bar\\n\\ b\\az\"", &[], Ok(&[("FOO", "bar\n\\ b\u{7}z")])),
        ("FOO=\"bar\\\\\\n\\ b\\az\"", &[], Ok(&[("FOO", "bar\\\n\\ b\u{7}z")])),
        ("FOO=\"bar\\\\r\\ b\\az\"", &[], Ok(&[("FOO", "bar\\r\\ b\u{7}z")])),
        ("FOO=\"bar\\nbaz\\\\\"", &[], Ok(&[("FOO", "bar\nbaz\\")])),
        ("KEY=\"\\0123\"", &[], Ok(&[("KEY", "S")])),
        ("KEY=\"\\x07\"", &[], Ok(&[("KEY", "\\x07")])),
        ("KEY=\"\\u12e4\"", &[], Ok(&[("KEY", "\\u12e4")])),
        ("KEY=\"\\U00101234\"", &[], Ok(&[("KEY", "\\U00101234")])),
        ("KEY=\"\\0101|\\0377|\\0|\\01|\\012|\\0400|\\0128|\\09\"", &[], Ok(&[("KEY", "A|ÿ|\\0|\\01|\\012|\\0400|\\0128|\\09")])),
        ("KEY=\"\\c|\\'|\\q|\\é|end\\\\\"", &[], Ok(&[("KEY", "\\c|\\'|\\q|\\é|end\\")])),
        ("KEY=\"a\\\\$b\"", &[("b", "B")], Ok(&[("KEY", "a\\B")])),
        ("KEY=\"\\$FOO $$FOO\"", &[("FOO", "x")], Ok(&[("KEY", "$FOO $FOO")])),
        // single quotes: literal, except that \' keeps the quote
        ("OPTION_K='Let\\'s go!'", &[], Ok(&[("OPTION_K", "Let's go!")])),
        ("K='a\\nb|a\\\\b|$FOO|\\\"'", &[("FOO", "x")], Ok(&[("K", "a\\nb|a\\\\b|$FOO|\\\"")])),
        // multi-line quoted values
        ("TEST_URLS=\"stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443\"", &[],
            Ok(&[("TEST_URLS", "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443")])),
        ("J = 'first line\nsecond line'\nZ=\"last\"", &[], Ok(&[("J", "first line\nsecond line"), ("Z", "last")])),
        // comments
        ("FOO=bar # this is foo", &[], Ok(&[("FOO", "bar")])),
        ("FOO=bar #this is foo", &[], Ok(&[("FOO", "bar")])),
        ("FOO=bar #", &[], Ok(&[("FOO", "bar")])),
        ("FOO=123#not-an-inline-comment", &[], Ok(&[("FOO", "123#not-an-inline-comment")])),
        ("FOO=a\t#b", &[], Ok(&[("FOO", "a\t#b")])),
        ("FOO= #not a comment", &[], Ok(&[("FOO", "#not a comment")])),
        ("FOO=\"bar#baz\"", &[], Ok(&[("FOO", "bar#baz")])),
        ("FOO=\"bar#baz\"#", &[], Ok(&[("FOO", "bar#baz")])),
        ("FOO=\"bar#baz\" # comment", &[], Ok(&[("FOO", "bar#baz")])),
        ("FOO='bar#baz' # comment", &[], Ok(&[("FOO", "bar#baz")])),
        ("FOO=\"bar#baz#bang\" # comment", &[], Ok(&[("FOO", "bar#baz#bang")])),
        ("FOO='ba#r'", &[], Ok(&[("FOO", "ba#r")])),
        ("# some comments\nA=1\n  # indented\n#last", &[], Ok(&[("A", "1")])),
        // whatever follows a closing quote is a new statement
        ("FOO=\"bar\" BAZ=qux", &[], Ok(&[("FOO", "bar"), ("BAZ", "qux")])),
        ("FOO=\"bar\"baz\n", &[("baz", "B")], Ok(&[("FOO", "bar"), ("baz", "B")])),
        // nothing to read
        ("\n", &[], Ok(&[])),
        ("\r\n", &[], Ok(&[])),
        ("\t\t ", &[], Ok(&[])),
        ("# Comment", &[], Ok(&[])),
        ("\t # comment", &[], Ok(&[])),
        ("", &[], Ok(&[])),
        // BOM and CRLF
        ("\u{feff}OPTION_A=1\nOPTION_B=2\nOPTION_F =\nOPTION_H = my string # Inline comment\n", &[],
            Ok(&[("OPTION_A", "1"), ("OPTION_B", "2"), ("OPTION_F", ""), ("OPTION_H", "my string")])),
        ("A=1\r\nB='x'\r\nC=\"y\"\r\nD\r\n", &[("D", "d")], Ok(&[("A", "1"), ("B", "x"), ("C", "y"), ("D", "d")])),
        ("C=\"a\r\nb\"", &[], Ok(&[("C", "a\r\nb")])),
        // a key alone takes its value from the lookup, else is skipped
        ("foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz\n", INHERIT_ENV,
            Ok(&[("foo", "bar"), ("VAR_TO_BE_LOADED_FROM_OS_ENV", "SOME_RANDOM_VALUE"), ("bar", "baz")])),
        ("VAR_TO_BE_LOADED_FROM_OS_ENV\n", INHERIT_ENV, Ok(&[("VAR_TO_BE_LOADED_FROM_OS_ENV", "SOME_RANDOM_VALUE")])),
        ("VAR_TO_BE_LOADED_FROM_OS_ENV", INHERIT_ENV, Ok(&[("", "VAR_TO_BE_LOADED_FROM_OS_ENV")])),
        ("VARIABLE_NOT_FOUND\n", &[], Ok(&[])),
        ("A=1\nA\n", &[], Ok(&[("A", "1")])),
        // interpolation: the lookup first, then the file's own earlier variables
        ("FOO=test\nBAR=$FOO", &[], Ok(&[("FOO", "test"), ("BAR", "test")])),
        ("FOO=test\nBAR=${FOO}bar", &[], Ok(&[("FOO", "test"), ("BAR", "testbar")])),
        ("BAR=$FOO", &[], Ok(&[("BAR", "")])),
        ("FOO=test\nBAR=\"quote $FOO\"", &[], Ok(&[("FOO", "test"), ("BAR", "quote test")])),
        ("BAR='quote $FOO'", &[], Ok(&[("BAR", "quote $FOO")])),
        ("FOO=\"foo\\$BAR\"", &[], Ok(&[("FOO", "foo$BAR")])),
        ("FOO=\"foo\\${BAR}\"", &[], Ok(&[("FOO", "foo${BAR}")])),
        ("FOO=test\nBAR=\"foo\\${FOO} ${FOO}\"", &[], Ok(&[("FOO", "test"), ("BAR", "foo${FOO} test")])),
        ("TEST=$ME", &[("ME", "YES")], Ok(&[("TEST", "YES")])),
        ("A=1\nB=$A\nA=2\nC=$A", &[], Ok(&[("A", "2"), ("B", "1"), ("C", "2")])),
        ("A=file\nB=$A", &[("A", "env")], Ok(&[("A", "file"), ("B", "env")])),
        (SUBSTITUTIONS, &[], Ok(&[("OPTION_A", "1"), ("OPTION_B", "1"), ("OPTION_C", "1"), ("OPTION_D", "1_1"), ("OPTION_E", "")])),
        (SUBSTITUTIONS, OPTION_A, Ok(&[("OPTION_A", "1"), ("OPTION_B", "5"), ("OPTION_C", "5"), ("OPTION_D", "5_5"), ("OPTION_E", "")])),
        (SUBSTITUTIONS_DEFAULT, OPTION_A, Ok(&[("OPTION_A", "5"), ("OPTION_B", "5"), ("OPTION_C", "5"), ("OPTION_D", "5_5"), ("OPTION_E", "")])),
        (SUBSTITUTIONS_DEFAULT, &[], Ok(&[("OPTION_A", "1"), ("OPTION_B", "1"), ("OPTION_C", "1"), ("OPTION_D", "1_1"), ("OPTION_E", "")])),
        ("\nENV_HOSTNAME=dev.my-company.com\nENV_MY_URL=\"http://${ENV_HOSTNAME}\"\n", HOST,
            Ok(&[("ENV_HOSTNAME", "dev.my-company.com"), ("ENV_MY_URL", "http://host.local")])),
        ("RESULT=${UNSET_VAR:-Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Default Value")])),
        ("RESULT=${EMPTY_VAR:-Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Default Value")])),
        ("RESULT=${TEST_VAR:-Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Test Value")])),
        ("RESULT=${UNSET_VAR-Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Default Value")])),
        ("RESULT=${EMPTY_VAR-Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "")])),
        ("RESULT=${TEST_VAR-Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Test Value")])),
        ("RESULT=${UNSET_VAR:?Test error}", EXPANSION_ENV, Err("line 1: required variable UNSET_VAR is missing a value: Test error")),
        ("RESULT=${EMPTY_VAR:?Test error}", EXPANSION_ENV, Err("required variable EMPTY_VAR is missing a value: Test error")),
        ("RESULT=${TEST_VAR:?Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Test Value")])),
        ("RESULT=${UNSET_VAR?Test error}", EXPANSION_ENV, Err("required variable UNSET_VAR is missing a value: Test error")),
        ("RESULT=${EMPTY_VAR?Test error}", EXPANSION_ENV, Ok(&[("RESULT", "")])),
        ("RESULT=${TEST_VAR?Default Value}", EXPANSION_ENV, Ok(&[("RESULT", "Test Value")])),
        ("A=1\nB=\"${\"", &[], Err("line 2: invalid template: \"${\"")),
        // syntax errors
        ("lol$wut", &[], Err("line 1: unexpected character \"$\" in variable name \"lol$wut\"")),
        ("%!(EXTRA string)=foo", &[], Err("line 1: unexpected character \"%\" in variable name \"%!(EXTRA string)=foo\"")),
        ("ⓐ=circled letters are symbols", &[], Err("unexpected character \"ⓐ\"")),
        ("नाम=vowel signs are marks", &[], Err("unexpected character \"ा\"")),
        ("KEY\u{2003}=1", &[], Err("unexpected character")),
        ("A B=1", &[], Err("line 1: key cannot contain a space: \"A B\"")),
        ("\n\nA B=1", &[], Err("line 3: key cannot contain a space: \"A B\"")),
        ("X\nA B=1", &[], Err("line 2: key cannot contain a space: \"A B\"")),
        ("A='x\ny'\nB C=1", &[], Err("line 3: key cannot contain a space: \"B C\"")),
        ("# some comments\nfoo=\"\n  a\n  multine\n  value\n\"\nINVALID LINE\nzot=qix", &[], Err("line 7: key cannot contain a space: \"INVALID LINE\"")),
        ("KEY=\"", &[], Err("line 1: unterminated quoted value \"")),
        ("KEY=\"value", &[], Err("line 1: unterminated quoted value \"value")),
        ("KEY=\"value\\\"", &[], Err("unterminated quoted value \"value\\\"")),
        ("KEY=\"value'", &[], Err("unterminated quoted value \"value'")),
        ("KEY='", &[], Err("unterminated quoted value '")),
        ("KEY='value", &[], Err("unterminated quoted value 'value")),
        ("KEY='value\\'", &[], Err("unterminated quoted value 'value\\'")),
        ("KEY='value\"", &[], Err("unterminated quoted value 'value\"")),
        ("A=1\nB=\"x\ny", &[], Err("line 3: unterminated quoted value \"x")),
    ];

    #[test]
    fn parsing_table() {
        for (content, env, want) in CASES {
            check("table", content, env, want, false);
        }
    }

    #[test]
    fn error_values() {
        let e = run("A B=1", &[]).expect_err("space");
        assert_eq!(
            e,
            DotenvError::Syntax {
                line: 1,
                message: "key cannot contain a space: \"A B\"".to_owned()
            }
        );
        let e = run("\nX=${Y:?}", &[]).expect_err("required");
        assert_eq!(
            e,
            DotenvError::Interpolation {
                line: 2,
                source: TemplateError::Required {
                    variable: "Y".to_owned(),
                    message: String::new()
                }
            }
        );
        assert_eq!(
            e.to_string(),
            "line 2: required variable Y is missing a value"
        );
    }

    #[test]
    fn parse_into_existing_variables() {
        // as for `--env-file a.env --env-file b.env`: the environment, then this file's
        // definitions, then the earlier files'
        let env = |k: &str| (k == "E").then(|| "env".to_owned());
        let mut vars = IndexMap::new();
        parse_into("A=1\nE=file-a\nK=a", &env, &mut vars).expect("a.env");
        parse_into("A=2\nB=$A\nC=$E\nD=$K\nK\n", &env, &mut vars).expect("b.env");
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("A", "2"),
                ("E", "file-a"),
                ("K", "a"),
                ("B", "2"),
                ("C", "env"),
                ("D", "a")
            ]
        );
        // an error leaves what was read before
        let mut vars = IndexMap::new();
        let err = parse_into("A=1\nB C=2\nD=3", &env, &mut vars);
        assert!(err.is_err());
        assert_eq!(vars.len(), 1);
    }

    /// (raw env file text, variables known to the lookup, result)
    #[rustfmt::skip]
    const RAW_CASES: &[(&str, Env, Expected)] = &[
        // dc-e2e-0807-dotenv-raw-yaml
        ("TEST_VAR='{\"key\": \"value\"}'", &[], Ok(&[("TEST_VAR", "'{\"key\": \"value\"}'")])),
        ("A=\"x\" # not a comment \nB=$A ${A}\\n", &[("A", "env")], Ok(&[("A", "\"x\" # not a comment "), ("B", "$A ${A}\\n")])),
        ("\u{feff}  A=1=2\r\n\n# comment\n\t#also\nB=\r\nC\nD\n", &[("C", "c")], Ok(&[("A", "1=2"), ("B", ""), ("C", "c")])),
        ("K:V\n", &[("K:V", "colon")], Ok(&[("K:V", "colon")])),
        ("", &[], Ok(&[])),
        ("\n\n", &[], Ok(&[])),
        ("A=1\n=2", &[], Err("line 2: no variable name in \"=2\"")),
        ("A B=1", &[], Err("line 1: variable name \"A B\" contains whitespace")),
        ("A\tB", &[], Err("line 1: variable name \"A\\tB\" contains whitespace")),
    ];

    #[test]
    fn raw_format() {
        for (content, env, want) in RAW_CASES {
            let lookup = |k: &str| {
                env.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            };
            let got = parse_raw(content, &lookup).map(|m| m.into_iter().collect::<Vec<_>>());
            match (want, got) {
                (Ok(pairs), Ok(got)) => assert_eq!(got, owned(pairs), "{content:?}"),
                (Err(fragment), Err(e)) => {
                    assert!(e.to_string().contains(fragment), "{content:?}: {e}");
                }
                (want, got) => panic!("{content:?}: want {want:?}, got {got:?}"),
            }
        }
        let long = format!("A={}", "x".repeat(RAW_MAX_LINE));
        assert!(parse_raw(&long, &|_| None).is_err());
        let fits = format!("A={}\n", "x".repeat(RAW_MAX_LINE - 2));
        assert!(parse_raw(&fits, &|_| None).is_ok());
    }

    #[test]
    fn many_lines() {
        let content: String = (0..1000).map(|i| format!("KEY{i}=VALUE{i}\n")).collect();
        let got = run(&content, &[]).expect("parses");
        assert_eq!(got.len(), 1000);
        assert_eq!(got[999], ("KEY999".to_owned(), "VALUE999".to_owned()));
    }

    #[test]
    fn letters_and_numbers() {
        for c in ['a', 'Z', '0', 'é', 'ß', 'Ж', '中', '٣', 'Ⅻ', '½'] {
            assert!(is_letter_or_number(c), "{c:?}");
        }
        for c in [
            '$', ' ', 'ⓐ', '\u{345}', '\u{93e}', '\u{e31}', '\u{64b}', '€', '\u{2003}',
        ] {
            assert!(!is_letter_or_number(c), "{c:?}");
        }
        assert!(NOT_LETTER_OR_NUMBER.len().is_multiple_of(2));
        assert!(NOT_LETTER_OR_NUMBER.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Random strings over `alphabet` (deterministic xorshift, no dependency).
    fn random_strings(alphabet: &[&str], count: usize, max_len: u64) -> Vec<String> {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = next() % (max_len + 1);
                (0..len)
                    .map(|_| alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn never_panics() {
        let alphabet = [
            "A", "b", "_", "=", ":", " ", "\t", "\r", "\n", "#", "'", "\"", "\\", "$", "${", "}",
            "0", "7", "é", "\u{feff}", "\u{a0}", ".", "-", "export ", "ⓐ", "\u{2028}",
        ];
        for s in random_strings(&alphabet, 50_000, 24) {
            let _ = run(&s, EXPANSION_ENV);
        }
    }

    #[test]
    fn simple_assignments_round_trip() {
        let keys = random_strings(&["A", "z", "_", "K9", "x"], 500, 8);
        let values = random_strings(&["a", "Z", "0", "/", ".", ",", ":", "+", "-", "é"], 500, 12);
        for (k, v) in keys.into_iter().zip(values) {
            if k.is_empty() {
                continue;
            }
            let got = run(&format!("{k}={v}\n"), &[]);
            assert_eq!(got, Ok(vec![(k, v)]));
        }
    }
}
