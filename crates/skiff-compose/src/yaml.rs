//! YAML text -> [`Node`] documents, resolving scalars the way Compose's YAML library does.
//!
//! Built on the event parser that serde-saphyr uses, because Compose needs what a typed
//! deserializer hides: the `!reset` / `!override` tags, merge keys with Compose's precedence,
//! duplicate-key errors, and a position for every value. Aliases are expanded with a budget so a
//! "billion laughs" file is rejected at once instead of exhausting memory.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError, Tag};

use crate::node::{FileId, Key, Map, MergeTag, Node, Span, Value};

/// Most nodes one file may expand to, aliases included. Real compose files have thousands.
const NODE_BUDGET: usize = 2_000_000;
/// Deepest nesting accepted.
const DEPTH_LIMIT: usize = 256;

/// A YAML syntax or structure error, with the position it was found at.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub message: String,
    pub span: Span,
}

/// Parses every document in `text`. An empty stream gives no documents.
///
/// # Errors
/// Syntax errors, duplicate keys, non-string keys, unknown aliases, and files whose aliases
/// expand past the node budget.
pub fn parse(text: &str, file: FileId) -> Result<Vec<Node>, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        file,
        text,
        anchors: HashMap::new(),
        budget: NODE_BUDGET,
    };
    let mut docs = Vec::new();
    loop {
        let (event, _) = builder.next()?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                builder.anchors.clear();
                let (event, span) = builder.next()?;
                if let Event::DocumentEnd = event {
                    docs.push(Node::new(Value::Null, span));
                    continue;
                }
                let node = builder.node(event, span, 0)?;
                let (end, span) = builder.next()?;
                if !matches!(end, Event::DocumentEnd) {
                    return Err(builder.error(span, "expected the end of the document"));
                }
                docs.push(node);
            }
            _ => {}
        }
    }
    Ok(docs)
}

struct Builder<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    file: FileId,
    text: &'a str,
    anchors: HashMap<usize, Node>,
    budget: usize,
}

type Ev<'a> = (Event<'a>, Span);

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Ev<'a>, YamlError> {
        loop {
            match self.parser.next_event() {
                None => return Ok((Event::StreamEnd, self.span_at(self.text.len(), 0, 0))),
                Some(Err(e)) => return Err(self.scan_error(&e)),
                Some(Ok((event, span))) => {
                    let span = self.span(&span);
                    match event {
                        Event::StreamStart => {}
                        #[allow(unreachable_patterns)]
                        Event::Anchor(..) | Event::Comment(..) => {}
                        other => return Ok((other, span)),
                    }
                }
            }
        }
    }

    fn span(&self, s: &serde_saphyr::granit_parser::Span) -> Span {
        let start = s.start.byte_offset().unwrap_or_else(|| s.start.index());
        let end = s.end.byte_offset().unwrap_or_else(|| s.end.index());
        self.span_at(start, end.saturating_sub(start), s.start.line())
            .with_col(s.start.col())
    }

    fn span_at(&self, offset: usize, len: usize, line: usize) -> Span {
        Span {
            file: self.file,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            len: u32::try_from(len).unwrap_or(u32::MAX),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: 1,
        }
    }

    fn scan_error(&self, e: &ScanError) -> YamlError {
        let m = e.marker();
        let offset = m.byte_offset().unwrap_or_else(|| m.index());
        YamlError {
            message: e.info(),
            span: self.span_at(offset, 0, m.line()).with_col(m.col()),
        }
    }

    fn error(&self, span: Span, message: impl Into<String>) -> YamlError {
        let _ = self;
        YamlError {
            message: message.into(),
            span,
        }
    }

    fn spend(&mut self, n: usize, span: Span) -> Result<(), YamlError> {
        if self.budget < n {
            return Err(self.error(
                span,
                "document is too large once its aliases are expanded (a YAML alias bomb?)",
            ));
        }
        self.budget -= n;
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlError> {
        if depth > DEPTH_LIMIT {
            return Err(self.error(span, "document is nested too deeply"));
        }
        self.spend(1, span)?;
        match event {
            Event::Alias(id) => {
                let Some(cost) = self.anchors.get(&id).map(count_nodes) else {
                    return Err(self.error(span, "unknown anchor"));
                };
                self.spend(cost, span)?;
                let mut node = self.anchors[&id].clone();
                node.span = span;
                Ok(node)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let (value, merge_tag) = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|m| self.error(span, m))?;
                let node = Node {
                    value,
                    span,
                    tag: merge_tag,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::SequenceStart(_, anchor, tag) => {
                let merge_tag =
                    collection_tag(tag.as_deref(), "seq").map_err(|m| self.error(span, m))?;
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if let Event::SequenceEnd = ev {
                        break;
                    }
                    items.push(self.node(ev, sp, depth + 1)?);
                }
                let node = Node {
                    value: Value::Seq(items),
                    span,
                    tag: merge_tag,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::MappingStart(_, anchor, tag) => {
                let merge_tag =
                    collection_tag(tag.as_deref(), "map").map_err(|m| self.error(span, m))?;
                let map = self.mapping(depth)?;
                let node = Node {
                    value: Value::Map(map),
                    span,
                    tag: merge_tag,
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            _ => Err(self.error(span, "unexpected YAML event")),
        }
    }

    /// Reads a mapping's entries. Explicit keys win over merged ones (`<<`); among merge
    /// sources the first listed wins, as in Compose's YAML library.
    fn mapping(&mut self, depth: usize) -> Result<Map, YamlError> {
        let mut explicit = Map::default();
        let mut merges: Vec<Node> = Vec::new();
        loop {
            let (ev, key_span) = self.next()?;
            if let Event::MappingEnd = ev {
                break;
            }
            let key_node = self.node(ev, key_span, depth + 1)?;
            let (ev, sp) = self.next()?;
            let value = self.node(ev, sp, depth + 1)?;
            let is_merge = matches!(&key_node.value, Value::String(s) if s == "<<")
                && self.is_plain_merge_key(key_span);
            if is_merge {
                match &value.value {
                    Value::Map(_) => merges.push(value),
                    Value::Seq(items) => {
                        for item in items {
                            if item.as_map().is_none() {
                                return Err(self.error(
                                    item.span,
                                    "map merge requires map or sequence of maps as the value",
                                ));
                            }
                        }
                        merges.extend(items.iter().cloned());
                    }
                    _ => {
                        return Err(self.error(
                            value.span,
                            "map merge requires map or sequence of maps as the value",
                        ));
                    }
                }
                continue;
            }
            let name = match &key_node.value {
                Value::String(s) => s.clone(),
                other => {
                    return Err(self.error(
                        key_node.span,
                        format!(
                            "non-string key: {}",
                            key_node
                                .scalar_text()
                                .unwrap_or_else(|| other.kind().to_owned())
                        ),
                    ));
                }
            };
            if let Some((prev, _)) = explicit.get_key_value(name.as_str()) {
                let line = prev.span.line;
                return Err(self.error(
                    key_node.span,
                    format!("mapping key {name:?} already defined at line {line}"),
                ));
            }
            explicit.insert(
                Key {
                    name,
                    span: key_node.span,
                },
                value,
            );
        }
        if merges.is_empty() {
            return Ok(explicit);
        }
        let mut merged = Map::default();
        for source in merges {
            if let Value::Map(m) = source.value {
                for (k, v) in m {
                    if !merged.contains_key(k.name.as_str()) {
                        merged.insert(k, v);
                    }
                }
            }
        }
        // Explicit keys override merged ones but keep merged keys' relative order first.
        for (k, v) in explicit {
            merged.insert(k, v);
        }
        Ok(merged)
    }

    fn is_plain_merge_key(&self, span: Span) -> bool {
        let start = span.offset as usize;
        self.text.get(start..start + 2) == Some("<<")
    }
}

trait WithCol {
    fn with_col(self, col: usize) -> Self;
}
impl WithCol for Span {
    fn with_col(mut self, col: usize) -> Self {
        self.col = u32::try_from(col + 1).unwrap_or(u32::MAX);
        self
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn merge_tag(tag: Option<&Tag>) -> Option<MergeTag> {
    let tag = tag?;
    if tag.handle() == "!" {
        match tag.suffix() {
            "reset" => return Some(MergeTag::Reset),
            "override" => return Some(MergeTag::Override),
            _ => {}
        }
    }
    None
}

fn collection_tag(tag: Option<&Tag>, kind: &str) -> Result<MergeTag, String> {
    if let Some(t) = merge_tag(tag) {
        return Ok(t);
    }
    match tag {
        None => Ok(MergeTag::None),
        Some(t) if t.is_yaml_core_schema_tag(kind) => Ok(MergeTag::None),
        Some(t) => Err(format!("cannot decode {t} as a {kind}")),
    }
}

/// Resolves a scalar as YAML 1.2's core schema with the extensions Compose's YAML library has
/// (underscores in numbers, `0777` octal, `0b` binary).
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<(Value, MergeTag), String> {
    if let Some(t) = merge_tag(tag) {
        let value = if style == ScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Value::String(text.to_owned())
        };
        return Ok((value, t));
    }
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema() {
            let suffix = tag.suffix();
            let value = match suffix {
                "str" => Value::String(text.to_owned()),
                "null" => Value::Null,
                "bool" => match resolve_plain(text) {
                    v @ Value::Bool(_) => v,
                    _ => return Err(format!("cannot decode !!bool `{text}`")),
                },
                "int" => match resolve_plain(text) {
                    v @ Value::Int(_) => v,
                    _ => return Err(format!("cannot decode !!int `{text}`")),
                },
                "float" => match resolve_plain(text) {
                    Value::Int(i) =>
                    {
                        #[expect(
                            clippy::cast_precision_loss,
                            reason = "YAML !!float of an integer"
                        )]
                        Value::Float(i as f64)
                    }
                    v @ Value::Float(_) => v,
                    _ => return Err(format!("cannot decode !!float `{text}`")),
                },
                _ => Value::String(text.to_owned()),
            };
            return Ok((value, MergeTag::None));
        }
        if tag.handle() == "!" && tag.suffix().is_empty() {
            return Ok((Value::String(text.to_owned()), MergeTag::None));
        }
        // Other local tags decode as their plain value, as Compose's library does.
    }
    if style == ScalarStyle::Plain {
        if let Some(time) = go_timestamp(text) {
            return Ok((Value::String(time), MergeTag::Timestamp));
        }
        return Ok((resolve_plain(text), MergeTag::None));
    }
    Ok((Value::String(text.to_owned()), MergeTag::None))
}

/// A plain scalar Go's yaml.v3 reads as a timestamp (`2006-1-2`, `2006-1-2T15:4:5Z07:00`
/// with `t` or `T`, `2006-1-2 15:4:5` in UTC, seconds with an optional fraction), written
/// as Go writes the time in RFC 3339.
#[must_use]
pub fn go_timestamp(text: &str) -> Option<String> {
    fn num(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n < min || n > max {
            return None;
        }
        Some((s[..n].parse().ok()?, &s[n..]))
    }
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = num(text, 4, 4)?;
    let (month, rest) = num(rest.strip_prefix('-')?, 1, 2)?;
    let (day, rest) = num(rest.strip_prefix('-')?, 1, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if rest.is_empty() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let (zoned, rest) = if let Some(r) = rest.strip_prefix(['T', 't']) {
        (true, r)
    } else {
        (false, rest.strip_prefix(' ')?)
    };
    let (hour, rest) = num(rest, 1, 2)?;
    let (minute, rest) = num(rest.strip_prefix(':')?, 1, 2)?;
    let (second, mut rest) = num(rest.strip_prefix(':')?, 1, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut fraction = String::new();
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        fraction = r[..n].trim_end_matches('0').to_owned();
        rest = &r[n..];
    }
    let frac = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    let zone = if !zoned {
        if !rest.is_empty() {
            return None;
        }
        "Z".to_owned()
    } else if rest == "Z" {
        "Z".to_owned()
    } else {
        let sign = rest.chars().next().filter(|c| *c == '+' || *c == '-')?;
        let (zh, r) = num(&rest[1..], 2, 2)?;
        let (zm, r) = num(r.strip_prefix(':')?, 2, 2)?;
        if !r.is_empty() || zh > 23 || zm > 59 {
            return None;
        }
        if zh == 0 && zm == 0 {
            "Z".to_owned()
        } else {
            format!("{sign}{zh:02}:{zm:02}")
        }
    };
    Some(format!(
        "{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"
    ))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Resolves an untagged plain scalar.
#[must_use]
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::String(text.to_owned());
    }
    if looks_like_timestamp(text) {
        // Compose's library keeps timestamp-looking scalars as strings.
        return Value::String(text.to_owned());
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return Value::Int(i);
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::String(text.to_owned())
}

fn looks_like_timestamp(text: &str) -> bool {
    // yyyy-mm-dd at least, as the YAML 1.1 timestamp form begins.
    let b = text.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && (b[5].is_ascii_digit())
        && text[5..].contains('-')
        && text.split(['T', 't', ' ']).next().is_some_and(|d| {
            d.split('-').count() == 3
                && d.split('-')
                    .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// Integer syntax of Go's `strconv.ParseInt(s, 0, 64)`: sign, then `0x`, `0o`, `0b` or a
/// leading `0` for octal.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, body) = if let Some(r) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, r)
    } else if let Some(r) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, r)
    } else if let Some(r) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, r)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if neg {
        if magnitude == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse(text, FileId(0)).expect("parses");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn scalars_resolve_like_compose() {
        let n = one(
            "a: 1\nb: 0777\nc: 1_000\nd: yes\ne: 1.5\nf: 08\ng: '1'\nh: ~\ni: 2001-12-14\nj: 0x1F\n",
        );
        let j = n.to_json();
        assert_eq!(j["a"], 1);
        assert_eq!(j["b"], 511);
        assert_eq!(j["c"], 1000);
        assert_eq!(j["d"], "yes");
        assert_eq!(j["e"], 1.5);
        assert_eq!(j["f"], 8.0);
        assert_eq!(j["g"], "1");
        assert!(j["h"].is_null());
        // A time, as Go's YAML reads it (the schema refuses it outside extensions).
        assert_eq!(j["i"], "2001-12-14T00:00:00Z");
        assert_eq!(n.get("i").expect("i").tag, MergeTag::Timestamp);
        assert_eq!(j["j"], 31);
    }

    #[test]
    fn timestamps_as_go_reads_and_writes_them() {
        for (text, want) in [
            ("2024-1-2", Some("2024-01-02T00:00:00Z")),
            (
                "2001-12-14t21:59:43.10-05:00",
                Some("2001-12-14T21:59:43.1-05:00"),
            ),
            ("2001-12-14T21:59:43Z", Some("2001-12-14T21:59:43Z")),
            ("2001-12-14 21:59:43.10", Some("2001-12-14T21:59:43.1Z")),
            ("2001-12-14T01:02:03+00:00", Some("2001-12-14T01:02:03Z")),
            ("2001-12-14 21:59:43.10 -5", None),
            ("2024-13-02", None),
            ("2023-02-29", None),
            ("20240102", None),
            ("2024-01-02x", None),
        ] {
            assert_eq!(go_timestamp(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn merge_keys_explicit_wins_then_first_source() {
        let n = one("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 3\n");
        let c = n.get("c").expect("c").to_json();
        assert_eq!(c, serde_json::json!({"x": 3, "y": 1, "z": 2}));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\na: 2\n", FileId(0)).expect_err("duplicate");
        assert!(
            err.message.contains("already defined at line 1"),
            "{}",
            err.message
        );
        assert_eq!(err.span.line, 2);
    }

    #[test]
    fn non_string_keys_are_errors() {
        assert!(parse("1: a\n", FileId(0)).is_err());
        assert!(parse("'1': a\n", FileId(0)).is_ok());
    }

    #[test]
    fn alias_bomb_is_rejected_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text, FileId(0)).expect_err("bomb");
        assert!(err.message.contains("alias"), "{}", err.message);
    }

    #[test]
    fn tags_mark_reset_and_override() {
        let n = one("a: !reset []\nb: !override {x: 1}\n");
        assert_eq!(n.get("a").expect("a").tag, MergeTag::Reset);
        assert_eq!(n.get("b").expect("b").tag, MergeTag::Override);
    }

    #[test]
    fn positions_are_one_based() {
        let n = one("services:\n  web:\n    image: x\n");
        let img = n
            .get("services")
            .and_then(|s| s.get("web"))
            .and_then(|w| w.get("image"))
            .expect("image");
        assert_eq!((img.span.line, img.span.col), (3, 12));
    }
}
