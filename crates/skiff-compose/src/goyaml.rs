//! YAML written the way `docker compose config` writes it (Go's yaml.v3 encoder, indent 2), so
//! that the output of `skiff config` can be diffed against and committed beside compose's:
//! sequences indented under their key, strings plain unless they would read back as another
//! type or break the syntax, single quotes where plain is refused, double quotes for what would
//! resolve to a non-string or needs escapes, literal blocks for multi-line text, and map keys in
//! yaml.v3's "natural" order (digit runs compared as numbers).
//!
//! Pure: a `serde_json::Value` in, text out. Objects whose keys are in byte order (Go maps,
//! which `encoding/json` sorts) are re-sorted naturally; other objects keep their order
//! (struct fields).

use std::cmp::Ordering;

use serde_json::Value;

/// The document, ending with one newline.
#[must_use]
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn ordered(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    let is_map = entries.windows(2).all(|w| w[0].0 <= w[1].0);
    if is_map {
        entries.sort_by(|a, b| natural(a.0, b.0));
    }
    entries
}

fn write_map(m: &serde_json::Map<String, Value>, level: usize, out: &mut String) {
    for (k, v) in ordered(m) {
        indent(level, out);
        out.push_str(&string(k, level, true));
        out.push(':');
        write_value_after_key(v, level, out);
    }
}

fn write_value_after_key(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, level + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, level + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, level + 2));
            out.push('\n');
        }
    }
}

fn write_seq(a: &[Value], level: usize, out: &mut String) {
    for item in a {
        indent(level, out);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the rest aligned under it.
                let mut first = true;
                for (k, v) in ordered(m) {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(level + 2, out);
                    }
                    out.push_str(&string(k, level + 2, true));
                    out.push(':');
                    write_value_after_key(v, level + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                // A nested sequence starts on the dash's line too.
                let mut nested = String::new();
                write_seq(inner, level + 2, &mut nested);
                out.push_str(nested.trim_start());
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other, level + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value, level: usize) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s, level, false),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, as yaml.v3 writes floats.
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // Shortest digits; the exponent form when the exponent is below -4 or at least 6.
    if !(-4..6).contains(&exp) {
        let (sign, digits) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
        return format!("{mantissa}e{sign}{digits:02}");
    }
    format!("{f}")
}

/// A string as yaml.v3 writes it at this indentation (`level` is where a block scalar's
/// lines start).
fn string(s: &str, level: usize, key: bool) -> String {
    if s.contains('\n') && !key {
        if let Some(block) = literal(s, level) {
            return block;
        }
        return double_quoted(s);
    }
    if resolves_to_other_type(s) {
        return double_quoted(s);
    }
    match analyze(s) {
        Style::Plain => s.to_owned(),
        Style::Single => format!("'{}'", s.replace('\'', "''")),
        Style::Double => double_quoted(s),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

fn printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{85}')
        || ('\u{A0}'..='\u{D7FF}').contains(&c)
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
        || c >= '\u{10000}'
}

/// libyaml's scalar analysis, for a block context.
fn analyze(s: &str) -> Style {
    if s.is_empty() {
        return Style::Double;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return Style::Single;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut plain = true;
    for (i, &c) in chars.iter().enumerate() {
        if !printable(c) || c == '\u{FEFF}' {
            return Style::Double;
        }
        let next = chars.get(i + 1).copied();
        let followed_by_blank = next.is_none_or(|n| n == ' ' || n == '\t' || n == '\n');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => plain = false,
                '?' | ':' | '-' if followed_by_blank => plain = false,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_blank => plain = false,
                '#' if chars[i - 1] == ' ' => plain = false,
                _ => {}
            }
        }
    }
    if chars.first() == Some(&' ') || chars.last() == Some(&' ') {
        plain = false;
    }
    if plain { Style::Plain } else { Style::Single }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{B}' => out.push_str("\\v"),
            '\u{C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1B}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{A0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !printable(c) || c == '\u{FEFF}' => {
                let n = c as u32;
                if n <= 0xFF {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xFFFF {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `|`, `|-` or `|+` and the lines, when a literal block can carry the text.
fn literal(s: &str, level: usize) -> Option<String> {
    if s.chars().any(|c| !printable(c) && c != '\t')
        || s.contains('\t')
        || s.lines().any(|l| l.ends_with(' '))
        || s.ends_with(' ')
    {
        return None;
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 if s.len() > 1 => "",
        _ => "+",
    };
    // Text that starts with a space or a line break says its indentation.
    let indicator = if s.starts_with([' ', '\n']) { "2" } else { "" };
    let body = s.strip_suffix('\n').unwrap_or(s);
    let mut out = format!("|{indicator}{chomp}");
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            for _ in 0..level {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    Some(out)
}

/// True when the plain scalar would read back as null, a bool, a number, a timestamp or a
/// merge key (YAML 1.2 as yaml.v3 resolves it, plus the YAML 1.1 booleans and base-60
/// numbers yaml.v3 also quotes).
fn resolves_to_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", ".inf",
        ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN",
        ".NAN", "<<", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON",
        "off", "Off", "OFF",
    ];
    WORDS.contains(&s) || is_int(s) || is_float(s) || is_base60(s) || is_timestamp(s)
}

fn is_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (r, 2)
    } else {
        (body, 10)
    };
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    !clean.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && clean.chars().all(|c| c.is_digit(radix))
}

fn is_float(s: &str) -> bool {
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.first() == Some(&b'.') {
        i = 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`
fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = body.split_once('.').unwrap_or((body, ""));
    if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return false;
    }
    let mut parts = main.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut any = false;
    for p in parts {
        any = true;
        let ok = match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, b] => (b'0'..=b'5').contains(a) && b.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

/// The timestamp forms yaml.v3 accepts.
fn is_timestamp(s: &str) -> bool {
    crate::yaml::go_timestamp(s).is_some()
}

/// The value of the digits from `start` on (after `init`), and where they end.
fn digit_run(chars: &[char], start: usize, init: u128) -> (u128, usize) {
    let mut n = init;
    let mut end = start;
    while let Some(d) = chars.get(end).and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(u128::from(d));
        end += 1;
    }
    (n, end)
}

/// yaml.v3's order for map keys: letters before other characters, runs of digits compared
/// by value.
fn natural(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            digits = ar[i].is_ascii_digit();
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_first = if digits { al } else { bl };
            return if a_first {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        // Neither is a letter: compare the digit runs that start here by value.
        let (mut an, mut bn) = (0u128, 0u128);
        if ar[i] == '0' || br[i] == '0' {
            let nonzero_before = ar[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|c| *c != '0');
            if nonzero_before {
                an = 1;
                bn = 1;
            }
        }
        let (an, ai) = digit_run(&ar, i, an);
        let (bn, bi) = digit_run(&br, i, bn);
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// What compose's YAML holds beyond its JSON, and without what only its JSON has: the project
/// as `config --format json` prints it (`project`), made into what `config` prints as YAML,
/// with the `x-*` extensions and top-level `models` taken from the loaded model. (Go's YAML
/// tags omit empty fields its JSON tags keep: a null `command`, an empty `ipam`.)
#[must_use]
pub fn compose_yaml_view(project: &Value, model: &Value) -> Value {
    let mut v = project.clone();
    strip_yaml_omitted(&mut v);
    merge_extensions(&mut v, model);
    let Value::Object(mut top) = v else {
        return v;
    };
    if let Some(Value::Object(models)) = model.get("models")
        && !models.is_empty()
        && !top.contains_key("models")
    {
        top.insert(
            "models".to_owned(),
            Value::Object(models_in_field_order(models)),
        );
    }
    let mut out = serde_json::Map::default();
    for k in [
        "name", "services", "networks", "volumes", "secrets", "configs", "models",
    ] {
        if let Some(x) = top.shift_remove(k) {
            out.insert(k.to_owned(), x);
        }
    }
    let mut rest: Vec<(String, Value)> = top.into_iter().collect();
    rest.sort_by(|a, b| natural(&a.0, &b.0));
    out.extend(rest.into_iter().map(|(k, x)| {
        let x = if k.starts_with("x-") {
            naturally_sorted(&x)
        } else {
            x
        };
        (k, x)
    }));
    Value::Object(out)
}

/// An extension's value is made of Go maps: every level in natural order.
fn naturally_sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| natural(a.0, b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, x)| (k.clone(), naturally_sorted(x)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(naturally_sorted).collect()),
        other => other.clone(),
    }
}

fn models_in_field_order(
    models: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::default();
    let mut names: Vec<(&String, &Value)> = models.iter().collect();
    names.sort_by(|a, b| natural(a.0, b.0));
    for (name, m) in names {
        let Value::Object(fields) = m else {
            out.insert(name.clone(), m.clone());
            continue;
        };
        let mut ordered = serde_json::Map::default();
        for k in ["name", "model", "context_size", "runtime_flags"] {
            if let Some(x) = fields.get(k) {
                ordered.insert(k.to_owned(), x.clone());
            }
        }
        let mut ext: Vec<(&String, &Value)> =
            fields.iter().filter(|(k, _)| k.starts_with("x-")).collect();
        ext.sort_by(|a, b| natural(a.0, b.0));
        for (k, x) in ext {
            ordered.insert(k.clone(), x.clone());
        }
        out.insert(name.clone(), Value::Object(ordered));
    }
    out
}

/// Fields Go's YAML tags omit when empty, and the blkio entries whose JSON names are Go's
/// field names.
fn strip_yaml_omitted(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, x| match k.as_str() {
                "command" | "entrypoint" => !x.is_null(),
                "ipam" | "placement" | "resources" => {
                    !matches!(x, Value::Object(o) if o.is_empty())
                }
                "exec" => !matches!(x, Value::Object(o) if o.values().all(Value::is_null)),
                _ => true,
            });
            for (k, x) in m.iter_mut() {
                if k.starts_with("device_") && (k.ends_with("_bps") || k.ends_with("_iops")) {
                    lower_keys(x);
                }
                strip_yaml_omitted(x);
            }
        }
        Value::Array(a) => {
            for x in a {
                strip_yaml_omitted(x);
            }
        }
        _ => {}
    }
}

fn lower_keys(v: &mut Value) {
    if let Value::Array(items) = v {
        for item in items {
            if let Value::Object(m) = item {
                let entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
                for (k, x) in entries {
                    m.insert(k.to_lowercase(), x);
                }
            }
        }
    }
}

/// Copies the model's `x-*` keys onto the same objects of the project, after their fields.
fn merge_extensions(v: &mut Value, model: &Value) {
    match (v, model) {
        (Value::Object(m), Value::Object(src)) => {
            for (k, x) in m.iter_mut() {
                if let Some(s) = src.get(k) {
                    merge_extensions(x, s);
                }
            }
            // `x-#…` keys are the loader's own (a secret's value): never printed.
            let mut ext: Vec<(&String, &Value)> = src
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("x-") && !k.starts_with("x-#") && !m.contains_key(*k)
                })
                .collect();
            ext.sort_by(|a, b| natural(a.0, b.0));
            for (k, x) in ext {
                m.insert(k.clone(), naturally_sorted(x));
            }
        }
        (Value::Array(a), Value::Array(src)) if a.len() == src.len() => {
            for (x, s) in a.iter_mut().zip(src) {
                merge_extensions(x, s);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_naturally() {
        let mut keys = vec!["K10", "k_a", "_x", "1abc", "K1", "-y", "K2"];
        keys.sort_by(|a, b| natural(a, b));
        assert_eq!(keys, ["-y", "_x", "1abc", "K1", "K2", "K10", "k_a"]);
        let mut keys = vec!["a10", "A", "a9", "a_b"];
        keys.sort_by(|a, b| natural(a, b));
        assert_eq!(keys, ["A", "a_b", "a9", "a10"]);
    }

    #[test]
    fn strings_are_quoted_as_yaml_v3_quotes_them() {
        let cases = [
            ("yes", "\"yes\""),
            ("on", "\"on\""),
            ("true", "\"true\""),
            ("*", "'*'"),
            ("- x", "'- x'"),
            ("a: b", "'a: b'"),
            ("a #b", "'a #b'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("", "\"\""),
            ("1.5", "\"1.5\""),
            ("0x1F", "\"0x1F\""),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("@x", "'@x'"),
            ("it's", "it's"),
            ("tab\there", "\"tab\\there\""),
            ("é", "é"),
            ("1:2", "\"1:2\""),
            ("12:30:00", "\"12:30:00\""),
            ("=x", "=x"),
            ("{x}", "'{x}'"),
            ("a,b", "a,b"),
            ("\"q\"", "'\"q\"'"),
            ("a'b", "a'b"),
            ("  two\nlines  ", "\"  two\\nlines  \""),
            ("?", "'?'"),
            ("-", "'-'"),
            ("-c", "-c"),
            ("1e3", "\"1e3\""),
            (".inf", "\".inf\""),
            ("127.0.0.1", "127.0.0.1"),
            ("2001-12-14", "\"2001-12-14\""),
            ("8080", "\"8080\""),
        ];
        for (s, want) in cases {
            assert_eq!(string(s, 0, false), want, "{s:?}");
        }
        assert_eq!(string("n", 0, true), "\"n\"");
    }

    #[test]
    fn a_document_is_laid_out_as_compose_prints_it() {
        let v = json!({
            "name": "p",
            "services": {"app": {
                "command": ["sh", "-c", "echo hi"],
                "labels": {"i": "multi\nline\n", "j": "multi\nline"},
                "networks": {"default": null},
                "ports": [{"target": 80, "published": "8080"}],
                "x": {}
            }},
        });
        let want = "name: p
services:
  app:
    command:
      - sh
      - -c
      - echo hi
    labels:
      i: |
        multi
        line
      j: |-
        multi
        line
    networks:
      default: null
    ports:
      - target: 80
        published: \"8080\"
    x: {}
";
        assert_eq!(to_string(&v), want);
    }

    #[test]
    fn floats_as_go_prints_them() {
        let f = |x: f64| number(&serde_json::Number::from_f64(x).expect("finite"));
        assert_eq!(f(0.5), "0.5");
        assert_eq!(f(1.0e6), "1e+06");
        assert_eq!(f(100_000.0), "100000");
        assert_eq!(f(1.5e-5), "1.5e-05");
    }
}
