//! The loader's tree: YAML values that remember where they came from.
//!
//! Every phase of the loader (interpolation, merge, extends, include, canonical forms) works on
//! [`Node`]s, so that an error found late still points at the file, line and column the user
//! wrote. Nodes made by the loader itself (defaults, expansions) carry [`Span::SYNTHETIC`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

use indexmap::IndexMap;

/// Index of a source file in [`crate::Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId(pub u32);

/// Where a node was written: file, byte offset and length, line (1-based) and column (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub offset: u32,
    pub len: u32,
    pub line: u32,
    pub col: u32,
}

impl Span {
    /// A node the loader made itself; it has no place in any file.
    pub const SYNTHETIC: Span = Span {
        file: FileId(u32::MAX),
        offset: 0,
        len: 0,
        line: 0,
        col: 0,
    };

    #[must_use]
    pub fn is_synthetic(&self) -> bool {
        self.file.0 == u32::MAX
    }
}

/// A YAML tag that changes how a value merges with earlier files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeTag {
    #[default]
    None,
    /// `!reset`: remove the value inherited from earlier files.
    Reset,
    /// `!override`: replace the inherited value instead of merging into it.
    Override,
    /// An unquoted timestamp (`2024-01-02`): Go's YAML decodes it as a time, which compose's
    /// schema refuses outside `x-*` extensions; the value holds it in RFC 3339, as compose
    /// prints it there.
    Timestamp,
}

/// A value with its source position.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub span: Span,
    pub tag: MergeTag,
}

/// A mapping key with its position; compared and hashed by name only.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}
impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.name
    }
}
impl From<&str> for Key {
    fn from(name: &str) -> Self {
        Key {
            name: name.to_owned(),
            span: Span::SYNTHETIC,
        }
    }
}
impl From<String> for Key {
    fn from(name: String) -> Self {
        Key {
            name,
            span: Span::SYNTHETIC,
        }
    }
}

/// A mapping, in the order it was written. Hashed with a fast fixed hasher: keys come from
/// the user's own files, and a map lookup is on every step of every phase.
pub type Map = IndexMap<Key, Node, rustc_hash::FxBuildHasher>;

/// The YAML data model as Compose sees it: string keys only.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Map),
}

impl Node {
    #[must_use]
    pub fn new(value: Value, span: Span) -> Node {
        Node {
            value,
            span,
            tag: MergeTag::None,
        }
    }

    #[must_use]
    pub fn synthetic(value: Value) -> Node {
        Node::new(value, Span::SYNTHETIC)
    }

    #[must_use]
    pub fn null() -> Node {
        Node::synthetic(Value::Null)
    }

    #[must_use]
    pub fn string(s: impl Into<String>) -> Node {
        Node::synthetic(Value::String(s.into()))
    }

    #[must_use]
    pub fn map(map: Map) -> Node {
        Node::synthetic(Value::Map(map))
    }

    #[must_use]
    pub fn seq(items: Vec<Node>) -> Node {
        Node::synthetic(Value::Seq(items))
    }

    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The entry `key` of a mapping node.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut().and_then(|m| m.get_mut(key))
    }

    /// A short name for the kind of value, for error messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.value.kind()
    }

    /// Converts to JSON, the form the typed model is decoded from.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Builds a synthetic tree from JSON (used for values computed by the loader).
    #[must_use]
    pub fn from_json(v: &serde_json::Value) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    Value::Float(n.as_f64().unwrap_or_default())
                }
            }
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(Node::from_json).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Key::from(k.as_str()), Node::from_json(v)))
                    .collect(),
            ),
        };
        Node::synthetic(value)
    }

    /// Structural equality, ignoring positions and tags.
    #[must_use]
    pub fn same_value(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            #[expect(clippy::float_cmp, reason = "structural equality of parsed values")]
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_value(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k.name.as_str()).is_some_and(|w| v.same_value(w)))
            }
            _ => false,
        }
    }

    /// The value as Go's `fmt.Sprint` would print a scalar (used where Compose formats values).
    #[must_use]
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some("<nil>".to_owned()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_go_float(*f)),
            Value::String(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

impl Value {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "mapping",
        }
    }
}

/// Formats a float the way Go's `%v` does for float64 (shortest representation, exponent for
/// very large or small magnitudes).
#[must_use]
pub fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust prints 1e21 as "1e21"; Go prints "1e+21".
        return match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        };
    }
    let s = format!("{f}");
    s
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scalar_text() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}", self.to_json()),
        }
    }
}
