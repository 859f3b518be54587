//! The Compose specification's schema, as code: which keys each object accepts and which types
//! each field takes.
//!
//! The rules themselves live in [`rules`], one declarative [`Rule`] per object type of the
//! specification (allowed keys and their rules, accepted value types, enumerations, patterns,
//! bounds, required keys, "one of" alternatives such as string-or-list, and whether `x-`
//! extension keys are accepted). This module is the small engine that applies them.
//!
//! The engine follows the reference loader's behaviour exactly where it decides whether a file
//! is accepted: it validates the merged document after interpolation (so fields Compose casts
//! are already numbers or booleans, and every other field keeps the string the user wrote);
//! patterns are searched for anywhere in the value unless anchored, as Go's `regexp` does; a
//! number is an integer when it has no fractional part (`2.0` is an integer); list uniqueness
//! compares numbers by value (`1` equals `1.0`) and strings exactly.
//!
//! Where the reference reports one error among several, it reports the one deepest in the
//! document (an unknown key counting one level deeper than its mapping); so does this module,
//! taking the first in document order among equals. Alternatives are chosen by the type of the
//! value, which is how they differ in the specification, so an error inside an alternative is
//! reported from the alternative the value was meant for.

mod rules;

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::error::{LoadError, Result};
use crate::node::{Node, Span, Value};

/// Validates a merged document against the Compose schema.
///
/// # Errors
/// The most specific violation, located at the offending key or value.
pub fn validate(dict: &Node) -> Result<()> {
    let mut checker = Checker::default();
    checker.check(&rules::DOCUMENT, dict, &mut Vec::new(), dict.span);
    match checker.best {
        None => Ok(()),
        Some(v) => {
            let mut err = LoadError::at(v.span, v.message);
            if let Some(h) = v.help {
                err = err.with_help(h);
            }
            Err(err)
        }
    }
}

/// A set of JSON value types, as the specification names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Types(u8);

impl Types {
    const ANY: Types = Types(0);
    const NULL: Types = Types(1);
    const BOOL: Types = Types(1 << 1);
    /// A number without fractional part.
    const INT: Types = Types(1 << 2);
    const NUM: Types = Types(1 << 3);
    const STR: Types = Types(1 << 4);
    const ARR: Types = Types(1 << 5);
    const OBJ: Types = Types(1 << 6);

    const NAMES: [(Types, &'static str); 7] = [
        (Types::NULL, "null"),
        (Types::BOOL, "boolean"),
        (Types::INT, "integer"),
        (Types::NUM, "number"),
        (Types::STR, "string"),
        (Types::ARR, "array"),
        (Types::OBJ, "mapping"),
    ];

    const fn or(self, other: Types) -> Types {
        Types(self.0 | other.0)
    }

    const fn has(self, other: Types) -> bool {
        self.0 & other.0 != 0
    }

    fn is_any(self) -> bool {
        self.0 == 0
    }

    /// Whether a value of these types may be `node`.
    fn accepts(self, node: &Node) -> bool {
        if self.is_any() {
            return true;
        }
        match &node.value {
            Value::Null => self.has(Types::NULL),
            Value::Bool(_) => self.has(Types::BOOL),
            Value::Int(_) => self.has(Types::NUM.or(Types::INT)),
            Value::Float(f) => self.has(Types::NUM) || (self.has(Types::INT) && is_integral(*f)),
            Value::String(_) => self.has(Types::STR),
            Value::Seq(_) => self.has(Types::ARR),
            Value::Map(_) => self.has(Types::OBJ),
        }
    }

    /// "boolean, null, number or string", as Compose words a type list.
    fn describe(self) -> String {
        let mut names: Vec<&str> = Types::NAMES
            .iter()
            .filter(|(t, _)| self.has(*t))
            .map(|(_, n)| *n)
            .collect();
        names.sort_unstable();
        match names.split_last() {
            None => "value".to_owned(),
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }
}

/// A float the specification counts as an integer: finite, without fractional part.
fn is_integral(f: f64) -> bool {
    f.is_finite() && f.fract() == 0.0
}

/// The patterns the specification uses for keys and values, written out by hand. Unanchored
/// patterns match anywhere in the text, as Go's `regexp.MatchString` does; `.` never matches a
/// newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// Resource names: `^[a-zA-Z0-9._-]+$`.
    Name,
    /// `^.+$`: non-empty, without newline.
    Line,
    /// `.+`: at least one character that is not a newline.
    NotBlankLine,
    /// `^[a-z]+$` (ulimit names).
    Lower,
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, anywhere in the text (container names).
    ContainerName,
    /// `always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+`,
    /// anywhere in the text (pull policies).
    PullPolicy,
}

impl Pattern {
    fn matches(self, s: &str) -> bool {
        let b = s.as_bytes();
        match self {
            Pattern::Name => {
                !b.is_empty()
                    && b.iter()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            }
            Pattern::Line => !b.is_empty() && !b.contains(&b'\n'),
            Pattern::NotBlankLine => b.iter().any(|c| *c != b'\n'),
            Pattern::Lower => !b.is_empty() && b.iter().all(u8::is_ascii_lowercase),
            Pattern::ContainerName => b.windows(2).any(|w| {
                w[0].is_ascii_alphanumeric()
                    && (w[1].is_ascii_alphanumeric() || matches!(w[1], b'_' | b'.' | b'-'))
            }),
            Pattern::PullPolicy => {
                const WORDS: [&str; 8] = [
                    "always",
                    "never",
                    "build",
                    "if_not_present",
                    "missing",
                    "refresh",
                    "daily",
                    "weekly",
                ];
                WORDS.iter().any(|w| s.contains(w))
                    || s.match_indices("every_").any(|(i, m)| {
                        let rest = &b[i + m.len()..];
                        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                        digits > 0 && rest.get(digits).is_some_and(|c| b"wdhms".contains(c))
                    })
            }
        }
    }

    /// The pattern as the specification writes it, for messages.
    fn source(self) -> &'static str {
        match self {
            Pattern::Name => "^[a-zA-Z0-9._-]+$",
            Pattern::Line => "^.+$",
            Pattern::NotBlankLine => ".+",
            Pattern::Lower => "^[a-z]+$",
            Pattern::ContainerName => "[a-zA-Z0-9][a-zA-Z0-9_.-]+",
            Pattern::PullPolicy => {
                "always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+"
            }
        }
    }

    /// What a key must look like, for the help of an unknown key.
    fn key_help(self) -> Option<&'static str> {
        match self {
            Pattern::Name => Some("names may only contain letters, digits, `.`, `_` and `-`"),
            Pattern::Line | Pattern::NotBlankLine => Some("keys must not be empty"),
            Pattern::Lower => Some("ulimit names are lowercase letters"),
            Pattern::ContainerName | Pattern::PullPolicy => None,
        }
    }
}

/// What the specification says about one value. Every constraint is optional; a rule with
/// nothing set accepts anything. Object constraints apply only to mappings, array constraints
/// to sequences, and so on, as in JSON Schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// Accepted types ([`Types::ANY`]: any).
    types: Types,
    /// The value must satisfy exactly one of these (they differ by type).
    one_of: &'static [Rule],
    /// Accepted strings.
    values: &'static [&'static str],
    pattern: Option<Pattern>,
    minimum: Option<i32>,
    maximum: Option<i32>,
    /// Known keys of a mapping and their rules.
    props: &'static [(&'static str, Rule)],
    /// Rules for the keys matching a pattern.
    keys: &'static [(Pattern, Rule)],
    /// Keys starting with `x-` are accepted (with any value).
    extensions: bool,
    /// Keys neither known, matched by a pattern nor extensions are errors.
    closed: bool,
    required: &'static [&'static str],
    /// Rule for every item of a sequence.
    items: Option<&'static Rule>,
    /// Items of a sequence must be distinct.
    unique: bool,
}

impl Rule {
    pub(crate) const ANY: Rule = Rule {
        types: Types::ANY,
        one_of: &[],
        values: &[],
        pattern: None,
        minimum: None,
        maximum: None,
        props: &[],
        keys: &[],
        extensions: false,
        closed: false,
        required: &[],
        items: None,
        unique: false,
    };

    /// Any value of the given types.
    pub(crate) const fn of(types: Types) -> Rule {
        Rule { types, ..Rule::ANY }
    }

    /// A mapping with these known keys (other keys are accepted until [`Rule::closed`]).
    pub(crate) const fn object(props: &'static [(&'static str, Rule)]) -> Rule {
        Rule {
            types: Types::OBJ,
            props,
            ..Rule::ANY
        }
    }

    /// A sequence whose items follow `items`.
    pub(crate) const fn array(items: &'static Rule) -> Rule {
        Rule {
            types: Types::ARR,
            items: Some(items),
            ..Rule::ANY
        }
    }

    /// A string among `values`.
    pub(crate) const fn one_of_strings(values: &'static [&'static str]) -> Rule {
        Rule {
            types: Types::STR,
            values,
            ..Rule::ANY
        }
    }

    /// Exactly one of `alternatives`.
    pub(crate) const fn either(alternatives: &'static [Rule]) -> Rule {
        Rule {
            one_of: alternatives,
            ..Rule::ANY
        }
    }

    /// Also accept these types (the object and array constraints still apply to their kind).
    pub(crate) const fn or(self, types: Types) -> Rule {
        Rule {
            types: self.types.or(types),
            ..self
        }
    }

    /// Unknown keys are errors.
    pub(crate) const fn closed(self) -> Rule {
        Rule {
            closed: true,
            ..self
        }
    }

    /// Keys starting with `x-` are accepted.
    pub(crate) const fn extensible(self) -> Rule {
        Rule {
            extensions: true,
            ..self
        }
    }

    /// Keys matching a pattern, and their rule.
    pub(crate) const fn keys(self, keys: &'static [(Pattern, Rule)]) -> Rule {
        Rule { keys, ..self }
    }

    pub(crate) const fn required(self, required: &'static [&'static str]) -> Rule {
        Rule { required, ..self }
    }

    pub(crate) const fn unique(self) -> Rule {
        Rule {
            unique: true,
            ..self
        }
    }

    pub(crate) const fn pattern(self, pattern: Pattern) -> Rule {
        Rule {
            pattern: Some(pattern),
            ..self
        }
    }

    pub(crate) const fn min(self, minimum: i32) -> Rule {
        Rule {
            minimum: Some(minimum),
            ..self
        }
    }

    pub(crate) const fn max(self, maximum: i32) -> Rule {
        Rule {
            maximum: Some(maximum),
            ..self
        }
    }

    /// The types this rule accepts, alternatives included.
    fn accepted_types(&self) -> Types {
        self.one_of
            .iter()
            .fold(self.types, |acc, alt| acc.or(alt.accepted_types()))
    }
}

/// One violation, with how specific it is (the reference reports the most specific one).
struct Violation {
    specificity: usize,
    span: Span,
    message: String,
    help: Option<String>,
}

#[derive(Default)]
struct Checker {
    best: Option<Violation>,
}

/// `span` unless the node was made by the loader, then the nearest written position.
fn pick(span: Span, fallback: Span) -> Span {
    if span.is_synthetic() { fallback } else { span }
}

/// Where to point for an error about a value: the value, or its key when the value was left
/// empty (`web:` with nothing after it).
fn value_span(node: &Node, at: Span) -> Span {
    if node.is_null() && node.span.len == 0 {
        at
    } else {
        pick(node.span, at)
    }
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// `message` prefixed by the dotted path, as Compose words schema errors.
fn located(path: &[String], message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{} {message}", dotted(path))
    }
}

/// Go's `%q` quoting turned into single quotes, as the reference's validator quotes values.
fn quote(s: &str) -> String {
    let debug = format!("{s:?}");
    let inner = debug
        .get(1..debug.len().saturating_sub(1))
        .unwrap_or_default()
        .replace("\\\"", "\"")
        .replace('\'', "\\'");
    format!("'{inner}'")
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(quote).collect::<Vec<_>>().join(", ")
}

impl Checker {
    fn report(&mut self, specificity: usize, span: Span, message: String, help: Option<String>) {
        if self
            .best
            .as_ref()
            .is_none_or(|b| specificity > b.specificity)
        {
            self.best = Some(Violation {
                specificity,
                span,
                message,
                help,
            });
        }
    }

    /// Checks `node` against `rule`; `at` is where the node was written (its key, or the
    /// nearest written ancestor).
    fn check(&mut self, rule: &Rule, node: &Node, path: &mut Vec<String>, at: Span) {
        let here = value_span(node, at);
        if !rule.one_of.is_empty() {
            self.check_alternatives(rule, node, path, at);
            return;
        }
        if !rule.types.accepts(node) {
            self.type_error(rule.types, node, path, here);
            return;
        }
        match &node.value {
            Value::String(s) => self.check_string(rule, s, path, here),
            Value::Int(_) | Value::Float(_) => self.check_number(rule, node, path, here),
            Value::Map(_) => self.check_object(rule, node, path, at),
            Value::Seq(items) => self.check_array(rule, items, path, here),
            Value::Null | Value::Bool(_) => {}
        }
        if !rule.values.is_empty() && !matches!(node.value, Value::String(_)) {
            self.enum_error(rule, None, path, here);
        }
    }

    /// `oneOf`: the alternatives of the specification differ by type, so the value is checked
    /// against the one made for its type.
    fn check_alternatives(&mut self, rule: &Rule, node: &Node, path: &mut Vec<String>, at: Span) {
        let candidates: Vec<&Rule> = rule
            .one_of
            .iter()
            .filter(|alt| alt.accepted_types().accepts(node))
            .collect();
        match candidates.as_slice() {
            [] => self.type_error(rule.accepted_types(), node, path, value_span(node, at)),
            [only] => self.check(only, node, path, at),
            several => {
                // Not reached with the Compose rules, whose alternatives never share a type:
                // exactly one alternative must hold, and when none does the most specific of
                // their violations is reported.
                let mut failures = Checker::default();
                let mut matched = 0;
                for alt in several {
                    let mut sub = Checker::default();
                    sub.check(alt, node, path, at);
                    match sub.best {
                        None => matched += 1,
                        Some(v) => failures.report(v.specificity, v.span, v.message, v.help),
                    }
                }
                if matched == 0 {
                    if let Some(v) = failures.best {
                        self.report(v.specificity, v.span, v.message, v.help);
                    }
                } else if matched > 1 {
                    self.report(
                        path.len(),
                        value_span(node, at),
                        located(path, "matches more than one alternative"),
                        None,
                    );
                }
            }
        }
    }

    fn type_error(&mut self, wanted: Types, node: &Node, path: &[String], span: Span) {
        let help = match node.value {
            Value::Int(_) | Value::Float(_) | Value::Bool(_) if wanted.has(Types::STR) => {
                Some(format!(
                    "YAML reads `{node}` as {}; quote it to make it a string",
                    with_article(node.kind())
                ))
            }
            Value::Null if wanted.has(Types::OBJ) => {
                Some("the value is empty; give it a mapping or remove the key".to_owned())
            }
            _ => None,
        };
        self.report(
            path.len(),
            span,
            located(path, &format!("must be a {}", wanted.describe())),
            help,
        );
    }

    fn enum_error(&mut self, rule: &Rule, got: Option<&str>, path: &[String], span: Span) {
        let message = match rule.values {
            [one] => format!("value must be {}", quote(one)),
            many => format!("value must be one of {}", quoted_list(many.iter().copied())),
        };
        let help = got
            .and_then(|g| crate::suggest::closest(g, rule.values.iter().copied()))
            .map(|s| format!("did you mean `{s}`?"));
        self.report(path.len(), span, located(path, &message), help);
    }

    fn check_string(&mut self, rule: &Rule, s: &str, path: &[String], span: Span) {
        if !rule.values.is_empty() && !rule.values.contains(&s) {
            self.enum_error(rule, Some(s), path, span);
        }
        if let Some(p) = rule.pattern
            && !p.matches(s)
        {
            self.report(
                path.len(),
                span,
                located(
                    path,
                    &format!("{} does not match pattern {}", quote(s), quote(p.source())),
                ),
                None,
            );
        }
    }

    fn check_number(&mut self, rule: &Rule, node: &Node, path: &[String], span: Span) {
        let below = |bound: i32| match node.value {
            Value::Int(i) => i < i64::from(bound),
            Value::Float(f) => f < f64::from(bound),
            _ => false,
        };
        let above = |bound: i32| match node.value {
            Value::Int(i) => i > i64::from(bound),
            Value::Float(f) => f > f64::from(bound),
            _ => false,
        };
        if let Some(m) = rule.minimum
            && below(m)
        {
            self.report(
                path.len(),
                span,
                located(path, &format!("must be greater than or equal to {m}")),
                None,
            );
        }
        if let Some(m) = rule.maximum
            && above(m)
        {
            self.report(
                path.len(),
                span,
                located(path, &format!("must be less than or equal to {m}")),
                None,
            );
        }
    }

    fn check_object(&mut self, rule: &Rule, node: &Node, path: &mut Vec<String>, at: Span) {
        let Some(map) = node.as_map() else {
            return;
        };
        let missing: Vec<&str> = rule
            .required
            .iter()
            .copied()
            .filter(|r| !map.contains_key(*r))
            .collect();
        if !missing.is_empty() {
            let message = match missing.as_slice() {
                [one] => format!("missing property {}", quote(one)),
                many => format!("missing properties {}", quoted_list(many.iter().copied())),
            };
            self.report(
                path.len(),
                pick(at, node.span),
                located(path, &message),
                None,
            );
        }
        let mut unknown = Vec::new();
        for (key, value) in map {
            let name = key.name.as_str();
            let key_at = pick(key.span, at);
            let mut known = false;
            if let Some((_, sub)) = rule.props.iter().find(|(p, _)| *p == name) {
                known = true;
                path.push(key.name.clone());
                self.check(sub, value, path, key_at);
                path.pop();
            }
            for (pattern, sub) in rule.keys {
                if pattern.matches(name) {
                    known = true;
                    path.push(key.name.clone());
                    self.check(sub, value, path, key_at);
                    path.pop();
                }
            }
            if rule.extensions && name.starts_with("x-") {
                known = true;
            }
            if !known && rule.closed {
                unknown.push(key);
            }
        }
        if let Some(first) = unknown.first() {
            let message = format!(
                "additional properties {} not allowed",
                quoted_list(unknown.iter().map(|k| k.name.as_str()))
            );
            self.report(
                path.len() + 1,
                pick(first.span, at),
                located(path, &message),
                unknown_key_help(rule, &first.name),
            );
        }
    }

    fn check_array(&mut self, rule: &Rule, items: &[Node], path: &mut Vec<String>, here: Span) {
        if rule.unique
            && let Some((first, second)) = duplicates(items)
        {
            let span = items.get(second).map_or(here, |n| pick(n.span, here));
            self.report(
                path.len(),
                span,
                located(path, &format!("items at {first} and {second} are equal")),
                Some(format!(
                    "remove the repeated entry {}",
                    items_text(items, second)
                )),
            );
        }
        if let Some(sub) = rule.items {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                self.check(sub, item, path, pick(item.span, here));
                path.pop();
            }
        }
    }
}

/// "an integer", "a string".
fn with_article(noun: &str) -> String {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {noun}")
    } else {
        format!("a {noun}")
    }
}

fn items_text(items: &[Node], i: usize) -> String {
    items
        .get(i)
        .map(|n| match &n.value {
            Value::String(s) => quote(s),
            _ => n.to_json().to_string(),
        })
        .unwrap_or_default()
}

/// "Did you mean" for a key the rule does not know.
fn unknown_key_help(rule: &Rule, name: &str) -> Option<String> {
    if let Some(s) = crate::suggest::closest(name, rule.props.iter().map(|(p, _)| *p)) {
        return Some(format!("did you mean `{s}`?"));
    }
    if rule.props.is_empty()
        && let Some((p, _)) = rule.keys.first()
    {
        return p.key_help().map(str::to_owned);
    }
    if rule.extensions {
        return Some("custom keys must start with `x-`".to_owned());
    }
    None
}

/// The first pair of equal items (lowest second index, then lowest first index), comparing as
/// JSON values: numbers by value, strings exactly, mappings regardless of key order.
fn duplicates(items: &[Node]) -> Option<(usize, usize)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let mut key = String::new();
        if !canonical_key(item, &mut key) {
            continue;
        }
        if let Some(first) = seen.get(&key) {
            return Some((*first, i));
        }
        seen.insert(key, i);
    }
    None
}

/// Writes a text that is equal for equal JSON values. Values holding a NaN or an infinity are
/// equal to nothing (as with the reference's exact rational comparison): returns false.
fn canonical_key(node: &Node, out: &mut String) -> bool {
    match &node.value {
        Value::Null => out.push('n'),
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int(i) => {
            let _ = write!(out, "i{i};");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return false;
            }
            if *f == 0.0 {
                out.push_str("i0;");
            } else if is_integral(*f) {
                // Exact decimal digits, so that `2.0` and `2` give the same key.
                let _ = write!(out, "i{f:.0};");
            } else {
                let _ = write!(out, "d{};", f.to_bits());
            }
        }
        Value::String(s) => {
            let _ = write!(out, "s{}:{s}", s.len());
        }
        Value::Seq(items) => {
            out.push('[');
            for item in items {
                if !canonical_key(item, out) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Map(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            out.push('{');
            for (k, v) in entries {
                let _ = write!(out, "{}:{}", k.name.len(), k.name);
                if !canonical_key(v, out) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::FileId;

    /// What validating a document must give: acceptance, or an error whose message contains a
    /// fragment, at a line and column.
    enum Want {
        Ok,
        Err(&'static str, u32, u32),
    }
    use Want::{Err as Bad, Ok as Good};

    fn run(text: &str) -> Result<()> {
        let mut docs = crate::yaml::parse(text, FileId(0)).expect("test YAML parses");
        validate(&docs.remove(0))
    }

    fn check_table(table: &[(&str, Want)]) {
        let mut failures = Vec::new();
        for (text, want) in table {
            let got = run(text);
            match (want, &got) {
                (Good, Ok(())) => {}
                (Bad(fragment, line, col), Err(e)) => {
                    let at = e.span.map(|s| (s.line, s.col));
                    if !e.message.contains(fragment) || at != Some((*line, *col)) {
                        failures.push(format!(
                            "{text:?}\n  want {fragment:?} at {line}:{col}\n  got  {:?} at {at:?}",
                            e.message
                        ));
                    }
                }
                (Good, Err(e)) => failures.push(format!(
                    "{text:?}\n  want ok\n  got  {:?} at {:?}",
                    e.message,
                    e.span.map(|s| (s.line, s.col))
                )),
                (Bad(fragment, ..), Ok(())) => {
                    failures.push(format!("{text:?}\n  want {fragment:?}\n  got  ok"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[rustfmt::skip]
    const ACCEPTED: &[(&str, Want)] = &[
        ("services:\n  web:\n    image: nginx\n", Good),
        ("name: demo\nversion: '3.8'\nx-anything: [1, {a: b}]\n", Good),
        ("services:\n  web:\n    x-custom: {any: [thing]}\n", Good),
        ("services:\n  web:\n    ports: [80, '8080:80', {target: 80, published: '8080', x-a: 1}]\n", Good),
        ("services:\n  web:\n    ports: [{target: 80, published: 8080, host_ip: 127.0.0.1, protocol: tcp, mode: host, name: web, app_protocol: http}]\n", Good),
        ("services:\n  web:\n    ports: ['80', 80]\n", Good),
        ("services:\n  web:\n    environment: [A=1, B]\n", Good),
        ("services:\n  web:\n    environment: {A: 1, B: ~, C: true, D: 1.5, E: x}\n", Good),
        ("services:\n  web:\n    build: .\n", Good),
        ("services:\n  web:\n    build: {context: ., args: [A=1], ssh: {default: ~}, shm_size: 2g, secrets: [s, {source: s, mode: 0400}], ulimits: {nofile: 5}, x-b: 1}\n", Good),
        ("services:\n  web:\n    depends_on: [db]\n", Good),
        ("services:\n  web:\n    depends_on:\n      db: {condition: service_healthy, restart: true, required: false}\n", Good),
        ("services:\n  web:\n    networks: [front, back]\n", Good),
        ("services:\n  web:\n    networks: {front: ~, back: {aliases: [b], priority: 10, driver_opts: {a: 1}}}\n", Good),
        ("services:\n  web:\n    deploy: ~\n    develop: ~\n", Good),
        ("services:\n  web:\n    deploy: {replicas: 2, resources: {limits: {cpus: '0.5', memory: 50M, pids: 10}, reservations: {devices: [{capabilities: [gpu], count: all}]}}}\n", Good),
        ("services:\n  web:\n    cpu_percent: 50.0\n    cpus: 0.5\n    cpu_count: 2\n    oom_score_adj: -1000\n", Good),
        ("services:\n  web:\n    cpu_count: '${N}'\n    mem_limit: 1g\n    mem_reservation: 512\n", Good),
        // Fields Compose casts keep their string when interpolation is off.
        ("services:\n  web:\n    privileged: 'yes'\n    scale: '${N}'\n    init: 'true'\n", Good),
        // Integers are numbers without fractional part.
        ("services:\n  web:\n    scale: 2.0\n    deploy: {replicas: 3.0}\n", Good),
        ("services:\n  web:\n    container_name: my-web\n    pull_policy: every_12h\n", Good),
        ("services:\n  web:\n    pull_policy: if_not_present\n", Good),
        ("services:\n  web:\n    ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}\n", Good),
        // Keys no pattern matches are not checked where the specification leaves them open.
        ("services:\n  web:\n    ulimits: {NOFILE: [x]}\n", Good),
        ("services:\n  web:\n    models: {'not a name': 1}\n", Good),
        ("networks:\n  'not a name': 42\n  front: ~\n  back: {external: true}\n", Good),
        ("models:\n  'not a name': 42\n  llm: {model: ai/smollm2, context_size: 1024}\n", Good),
        // Under `services`, `x-` names are services like any other.
        ("services:\n  x-template:\n    image: base\n", Good),
        ("services:\n  web:\n    gpus: all\n", Good),
        ("services:\n  web:\n    gpus: [{driver: nvidia, count: 1, unknown: key}]\n", Good),
        ("secrets:\n  s:\n    external: {name: x, other: 1}\n", Good),
        ("secrets:\n  s: {file: ./s.txt}\nconfigs:\n  c: {content: hello}\n", Good),
        ("volumes:\n  data: ~\n  logs: {driver: local, driver_opts: {o: bind, size: 10}, labels: [a=b]}\n", Good),
        ("services:\n  web:\n    expose: ['80', 80]\n", Good),
        ("services:\n  web:\n    healthcheck: {test: [CMD, echo], retries: 3, disable: false}\n", Good),
        ("services:\n  web:\n    healthcheck: {test: curl -f localhost}\n", Good),
        ("services:\n  web:\n    logging: {driver: json-file, options: {max-size: 10m, max-file: 3, tag: ~}}\n", Good),
        ("services:\n  web:\n    pid: ~\n    command: ~\n    entrypoint: [sh, -c]\n", Good),
        ("services:\n  web:\n    models: {llm: ~, embed: {endpoint_var: URL}}\n", Good),
        ("services:\n  web:\n    provider: {type: model, options: {model: ai/x, flags: [a, 1, true]}}\n", Good),
        ("networks:\n  n:\n    ipam: {config: [{subnet: 10.0.0.0/24, aux_addresses: {host1: 10.0.0.5}}], options: {a: b}}\n", Good),
        ("services:\n  web:\n    volumes: [./a:/a, {type: bind, source: ., target: /b, bind: {selinux: Z, create_host_path: true}}, {type: tmpfs, target: /t, tmpfs: {size: 1000}}]\n", Good),
        ("services:\n  web:\n    env_file: [a.env, {path: b.env, required: false}]\n    label_file: l.txt\n", Good),
        ("services:\n  web:\n    develop:\n      watch: [{path: ./src, action: sync+restart, target: /app, ignore: node_modules}]\n", Good),
        ("services:\n  web:\n    post_start: [{command: [echo, hi], user: root}]\n", Good),
        ("services:\n  web:\n    extra_hosts: {somehost: 162.242.195.82, other: ['::1', '10.0.0.1']}\n", Good),
        ("services:\n  web:\n    extra_hosts: ['somehost=162.242.195.82']\n", Good),
        ("services:\n  web:\n    extends: base\n  base:\n    extends: {service: other, file: b.yaml}\n", Good),
        ("services:\n  web:\n    storage_opt: {size: 1G, anything: [1]}\n    blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 12mb}]}\n", Good),
        ("services:\n  web:\n    tmpfs: /run\n    dns: [8.8.8.8]\n    dns_search: example.com\n", Good),
        ("include:\n  - a.yaml\n  - {path: [b.yaml, c.yaml], env_file: .env}\n", Good),
    ];

    #[rustfmt::skip]
    const REJECTED: &[(&str, Want)] = &[
        // Unknown keys, located at the key.
        ("services:\n  web:\n    image: x\n    enviroment: [A=1]\n", Bad("services.web additional properties 'enviroment' not allowed", 4, 5)),
        ("service:\n  web: {}\n", Bad("additional properties 'service' not allowed", 1, 1)),
        ("services:\n  web:\n    image: x\n    foo: 1\n    bar: 2\n", Bad("services.web additional properties 'foo', 'bar' not allowed", 4, 5)),
        ("services:\n  web:\n    deploy:\n      resources:\n        impossible: {}\n", Bad("services.web.deploy.resources additional properties 'impossible' not allowed", 5, 9)),
        ("secrets:\n  s:\n    content: x\n", Bad("secrets.s additional properties 'content' not allowed", 3, 5)),
        ("services:\n  web:\n    build: {context: ., platform: linux/amd64}\n", Bad("services.web.build additional properties 'platform' not allowed", 3, 25)),
        ("services:\n  web:\n    volumes: [{type: tmpfs, target: /t, foo: bar}]\n", Bad("services.web.volumes.0 additional properties 'foo' not allowed", 3, 41)),
        ("services:\n  web:\n    blkio_config: {x-note: 1}\n", Bad("services.web.blkio_config additional properties 'x-note' not allowed", 3, 20)),
        ("volumes:\n  data:\n    external: {name: x, other: 1}\n", Bad("volumes.data.external additional properties 'other' not allowed", 3, 25)),
        ("services:\n  web:\n    environment: {'': x}\n", Bad("services.web.environment additional properties '' not allowed", 3, 19)),
        // Names.
        ("services:\n  'my web':\n    image: x\n", Bad("services additional properties 'my web' not allowed", 2, 3)),
        ("volumes:\n  'my vol': {}\n", Bad("volumes additional properties 'my vol' not allowed", 2, 3)),
        ("services:\n  web:\n    depends_on: {'a b': {condition: service_started}}\n", Bad("services.web.depends_on additional properties 'a b' not allowed", 3, 18)),
        ("services:\n  web:\n    networks: {'a b': ~}\n", Bad("services.web.networks additional properties 'a b' not allowed", 3, 16)),
        // Types.
        ("name: 1\n", Bad("name must be a string", 1, 7)),
        ("version: 3.8\n", Bad("version must be a string", 1, 10)),
        ("services: [web]\n", Bad("services must be a mapping", 1, 11)),
        ("networks: [web]\n", Bad("networks must be a mapping", 1, 11)),
        ("networks:\n  default: [x]\n", Bad("networks.default must be a mapping or null", 2, 12)),
        ("volumes: x\n", Bad("volumes must be a mapping", 1, 10)),
        ("volumes:\n  data: 1\n", Bad("volumes.data must be a mapping or null", 2, 9)),
        ("services:\n  web:\n", Bad("services.web must be a mapping", 2, 3)),
        ("services:\n  web:\n    image: 1\n", Bad("services.web.image must be a string", 3, 12)),
        ("services:\n  web:\n    environment: {FOO: [1]}\n", Bad("services.web.environment.FOO must be a boolean, null, number or string", 3, 24)),
        ("services:\n  web:\n    environment: FOO=1\n", Bad("services.web.environment must be a array or mapping", 3, 18)),
        ("services:\n  web:\n    build: {ssh: default}\n", Bad("services.web.build.ssh must be a array or mapping", 3, 18)),
        ("services:\n  web:\n    ports: [true]\n", Bad("services.web.ports.0 must be a mapping, number or string", 3, 13)),
        ("services:\n  web:\n    ulimits: {nproc: [1]}\n", Bad("services.web.ulimits.nproc must be a integer, mapping or string", 3, 22)),
        ("services:\n  web:\n    volumes: [{type: tmpfs, target: /t, tmpfs: {size: 1.5}}]\n", Bad("services.web.volumes.0.tmpfs.size must be a integer or string", 3, 55)),
        ("services:\n  web:\n    scale: 2.5\n", Bad("services.web.scale must be a integer or string", 3, 12)),
        ("services:\n  web:\n    mem_reservation: 1.5\n", Bad("services.web.mem_reservation must be a integer or string", 3, 22)),
        ("services:\n  web:\n    use_api_socket: 'true'\n", Bad("services.web.use_api_socket must be a boolean", 3, 21)),
        ("services:\n  web:\n    deploy: {resources: {limits: {memory: 512}}}\n", Bad("services.web.deploy.resources.limits.memory must be a string", 3, 43)),
        ("services:\n  web:\n    healthcheck: {test: [CMD, true]}\n", Bad("services.web.healthcheck.test.1 must be a string", 3, 31)),
        ("services:\n  web:\n    healthcheck: {test: 1}\n", Bad("services.web.healthcheck.test must be a array or string", 3, 25)),
        ("models:\n  m: {model: x, context_size: 1.5}\n", Bad("models.m.context_size must be a integer", 2, 31)),
        // Bounds.
        ("services:\n  web:\n    volumes: [{type: tmpfs, target: /t, tmpfs: {size: -1}}]\n", Bad("services.web.volumes.0.tmpfs.size must be greater than or equal to 0", 3, 55)),
        ("services:\n  web:\n    cpu_percent: 101\n", Bad("services.web.cpu_percent must be less than or equal to 100", 3, 18)),
        ("services:\n  web:\n    oom_score_adj: -1001\n", Bad("services.web.oom_score_adj must be greater than or equal to -1000", 3, 20)),
        ("services:\n  web:\n    cpu_count: -1\n", Bad("services.web.cpu_count must be greater than or equal to 0", 3, 16)),
        // Enumerations and patterns.
        ("services:\n  web:\n    cgroup: hots\n", Bad("services.web.cgroup value must be one of 'host', 'private'", 3, 13)),
        ("services:\n  web:\n    gpus: some\n", Bad("services.web.gpus value must be 'all'", 3, 11)),
        ("services:\n  web:\n    depends_on: {db: {condition: started}}\n", Bad("services.web.depends_on.db.condition value must be one of", 3, 34)),
        ("services:\n  web:\n    volumes: [{type: mount, target: /t}]\n", Bad("services.web.volumes.0.type value must be one of 'bind'", 3, 22)),
        ("services:\n  web:\n    container_name: a\n", Bad("services.web.container_name 'a' does not match pattern", 3, 21)),
        ("services:\n  web:\n    pull_policy: sometimes\n", Bad("services.web.pull_policy 'sometimes' does not match pattern", 3, 18)),
        // Required keys, located at the key of the incomplete mapping.
        ("services:\n  web:\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - driver: nvidia\n", Bad("services.web.deploy.resources.reservations.devices.0 missing property 'capabilities'", 7, 15)),
        ("services:\n  web:\n    develop:\n      watch:\n        - path: .\n", Bad("services.web.develop.watch.0 missing property 'action'", 5, 11)),
        ("services:\n  web:\n    provider:\n      options: {}\n", Bad("services.web.provider missing property 'type'", 3, 5)),
        ("services:\n  web:\n    depends_on: {db: {restart: true}}\n", Bad("services.web.depends_on.db missing property 'condition'", 3, 18)),
        ("services:\n  web:\n    ulimits: {nofile: {soft: 1}}\n", Bad("services.web.ulimits.nofile missing property 'hard'", 3, 15)),
        ("services:\n  web:\n    extends: {file: b.yaml}\n", Bad("services.web.extends missing property 'service'", 3, 5)),
        ("services:\n  web:\n    volumes: [{source: a, target: /b}]\n", Bad("services.web.volumes.0 missing property 'type'", 3, 15)),
        ("models:\n  m: {}\n", Bad("models.m missing property 'model'", 2, 3)),
        // Unique items: numbers by value, mappings regardless of key order.
        ("services:\n  web:\n    labels: [a=1, a=1]\n", Bad("services.web.labels items at 0 and 1 are equal", 3, 19)),
        ("services:\n  web:\n    depends_on: [db, db]\n", Bad("services.web.depends_on items at 0 and 1 are equal", 3, 22)),
        ("services:\n  web:\n    expose: [80, 80.0]\n", Bad("services.web.expose items at 0 and 1 are equal", 3, 18)),
        ("services:\n  web:\n    ports: [{target: 80, published: 1}, {published: 1, target: 80}]\n", Bad("services.web.ports items at 0 and 1 are equal", 3, 41)),
        // The most specific violation wins, then the first written.
        ("services:\n  web:\n    image: 1\n    deploy: {resources: {limits: {cpus: [1]}}}\n", Bad("services.web.deploy.resources.limits.cpus must be a number or string", 4, 41)),
        ("services:\n  a:\n    image: 1\n  b:\n    image: 2\n", Bad("services.a.image must be a string", 3, 12)),
    ];

    #[test]
    fn accepts_every_form_the_specification_allows() {
        check_table(ACCEPTED);
    }

    #[test]
    fn rejects_what_compose_rejects() {
        check_table(REJECTED);
    }

    #[test]
    fn errors_get_help() {
        let help = |text: &str| run(text).expect_err("invalid").help;
        assert_eq!(
            help("services:\n  web:\n    enviroment: [A=1]\n").as_deref(),
            Some("did you mean `environment`?")
        );
        assert_eq!(
            help("servics:\n  web: {}\n").as_deref(),
            Some("did you mean `services`?")
        );
        assert_eq!(
            help("services:\n  web:\n    completely_unknown: 1\n").as_deref(),
            Some("custom keys must start with `x-`")
        );
        assert!(help("services:\n  'a b': {}\n").is_some_and(|h| h.contains("letters, digits")));
        assert_eq!(
            help("services:\n  web:\n    cgroup: hots\n").as_deref(),
            Some("did you mean `host`?")
        );
        assert_eq!(
            help("version: 3.8\n").as_deref(),
            Some("YAML reads `3.8` as a number; quote it to make it a string")
        );
        assert_eq!(
            help("name: 12\n").as_deref(),
            Some("YAML reads `12` as an integer; quote it to make it a string")
        );
    }

    #[test]
    fn patterns_match_like_go_regexp() {
        assert!(Pattern::Name.matches("web-1.a_b"));
        assert!(!Pattern::Name.matches("web\n"));
        assert!(!Pattern::Name.matches(""));
        assert!(Pattern::NotBlankLine.matches("a\n"));
        assert!(!Pattern::NotBlankLine.matches("\n"));
        assert!(!Pattern::Line.matches("a\nb"));
        assert!(Pattern::Lower.matches("nofile"));
        assert!(!Pattern::Lower.matches("noFile"));
        assert!(Pattern::ContainerName.matches("-ab"));
        assert!(!Pattern::ContainerName.matches("a"));
        assert!(!Pattern::ContainerName.matches("a@b"));
        assert!(Pattern::PullPolicy.matches("every_1w2d"));
        assert!(Pattern::PullPolicy.matches("not-always"));
        assert!(!Pattern::PullPolicy.matches("every_h"));
        assert!(!Pattern::PullPolicy.matches("every_12"));
    }

    #[test]
    fn overlapping_alternatives_need_exactly_one_match() {
        const ONE_OF: Rule = Rule::either(&[
            Rule::of(Types::NUM),
            Rule::of(Types::INT.or(Types::STR)).min(0),
        ]);
        let check = |v: serde_json::Value| {
            let mut c = Checker::default();
            c.check(
                &ONE_OF,
                &Node::from_json(&v),
                &mut vec!["v".to_owned()],
                Span::SYNTHETIC,
            );
            c.best.map(|b| b.message)
        };
        assert_eq!(check(serde_json::json!(1.5)), None);
        assert_eq!(check(serde_json::json!(-1)), None);
        assert_eq!(check(serde_json::json!("x")), None);
        assert_eq!(
            check(serde_json::json!(1)).as_deref(),
            Some("v matches more than one alternative")
        );
        assert_eq!(
            check(serde_json::json!([])).as_deref(),
            Some("v must be a integer, number or string")
        );
    }

    #[test]
    fn loader_made_values_are_checked_without_position() {
        let doc = Node::from_json(&serde_json::json!({
            "services": {"web": {"image": "x", "ports": [{"target": 80, "bogus": 1}]}}
        }));
        let err = validate(&doc).expect_err("bogus key");
        assert!(
            err.message
                .contains("services.web.ports.0 additional properties 'bogus'")
        );
        assert!(err.span.is_none());
    }

    #[test]
    fn odd_numbers_never_panic() {
        for text in [
            "services:\n  web:\n    cpu_count: .nan\n",
            "services:\n  web:\n    cpu_percent: .inf\n",
            "services:\n  web:\n    expose: [.nan, .nan, .inf, .inf]\n",
            "services:\n  web:\n    oom_score_adj: 1e300\n",
            "services:\n  web:\n    ports: [-.inf]\n",
            "services:\n  web:\n    expose: [99999999999999999999, 1e20, 100000000000000000000]\n",
        ] {
            let _ = run(text);
        }
        // A NaN equals nothing, not even itself; 1e20 is the integer 10^20.
        assert!(run("services:\n  web:\n    expose: [.nan, .nan]\n").is_ok());
        assert!(run("services:\n  web:\n    oom_score_adj: 1e3\n").is_ok());
        assert!(run("services:\n  web:\n    expose: [1e20, 100000000000000000000.0]\n").is_err());
    }
}
