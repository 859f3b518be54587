//! The polymorphic collection types of the Compose model and their decoders.
//!
//! Each of compose-go's `Mapping`, `MappingWithEquals`, `Labels`, `Options`,
//! `MultiOptions`, `StringList`, `StringOrNumberList`, `HostsList`,
//! `ShellCommand` and `HealthCheckTest` accepts several YAML shapes; here they
//! are plain Rust collections plus a decoder function used with
//! `#[serde(deserialize_with = ...)]`, and an encoder where the JSON form
//! differs from the Rust shape.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

use super::scalar::{go_sprint, kind};
use super::shellwords;

/// `key -> value` strings (`types.Mapping`): from a mapping (values printed,
/// `null` -> "") or a `KEY=VALUE` list (missing `=` -> "").
pub type Mapping = BTreeMap<String, String>;

/// `key -> optional value` (`types.MappingWithEquals`, e.g. `environment`,
/// build `args`): `KEY` without `=` or a `null` value means "unset" (`None`).
pub type MappingWithEquals = BTreeMap<String, Option<String>>;

/// Labels (`types.Labels`): from a mapping or a `KEY=VALUE` list.
pub type Labels = BTreeMap<String, String>;

/// Driver options passed as-is (`types.Options`): mapping only.
pub type Options = BTreeMap<String, String>;

/// Options whose values may repeat (`types.MultiOptions`).
pub type MultiOptions = BTreeMap<String, Vec<String>>;

/// Extra hosts (`types.HostsList`): host name -> IP addresses.
pub type HostsList = BTreeMap<String, Vec<String>>;

fn mapping_error<E: serde::de::Error>(what: &str, v: &Value) -> E {
    E::custom(format!("unexpected value type {} for {what}", kind(v)))
}

/// Decodes `types.Mapping`.
pub(crate) fn mapping<'de, D: Deserializer<'de>>(d: D) -> Result<Mapping, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Mapping::new()),
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(k, v)| {
                let s = if v.is_null() {
                    String::new()
                } else {
                    go_sprint(&v)
                };
                (k, s)
            })
            .collect()),
        Value::Array(items) => Ok(items
            .iter()
            .map(|item| {
                let text = go_sprint(item);
                match text.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (text, String::new()),
                }
            })
            .collect()),
        other => Err(mapping_error("mapping", &other)),
    }
}

/// Whether Go's `unicode.IsSpace(rune(b))` holds for a single byte.
fn go_byte_is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// Decodes `types.MappingWithEquals`.
pub(crate) fn mapping_with_equals<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<MappingWithEquals, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(MappingWithEquals::new()),
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    other => Some(go_sprint(&other)),
                };
                (k, value)
            })
            .collect()),
        Value::Array(items) => {
            let mut out = MappingWithEquals::new();
            for item in &items {
                let text = go_sprint(item);
                let (key, value) = match text.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (text.clone(), None),
                };
                if key.as_bytes().last().is_some_and(|b| go_byte_is_space(*b)) {
                    return Err(D::Error::custom(format!(
                        "environment variable {key} is declared with a trailing space"
                    )));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
        other => Err(mapping_error("mapping", &other)),
    }
}

/// Decodes `types.Labels`.
pub(crate) fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
    let label_value = |v: &Value| match v {
        Value::Null => String::new(),
        other => go_sprint(other),
    };
    match Value::deserialize(d)? {
        Value::Null => Ok(Labels::new()),
        Value::Object(m) => Ok(m.iter().map(|(k, v)| (k.clone(), label_value(v))).collect()),
        Value::Array(items) => Ok(items
            .iter()
            .map(|item| {
                let text = go_sprint(item);
                match text.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (text, String::new()),
                }
            })
            .collect()),
        other => Err(mapping_error("labels", &other)),
    }
}

/// Decodes `types.Options` (mapping only).
pub(crate) fn options<'de, D: Deserializer<'de>>(d: D) -> Result<Options, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Options::new()),
        Value::Object(m) => Ok(m
            .iter()
            .map(|(k, v)| {
                let s = if v.is_null() {
                    String::new()
                } else {
                    go_sprint(v)
                };
                (k.clone(), s)
            })
            .collect()),
        other => Err(D::Error::custom(format!(
            "invalid type {} for options",
            kind(&other)
        ))),
    }
}

/// Decodes `types.MultiOptions` (mapping of scalars or lists).
pub(crate) fn multi_options<'de, D: Deserializer<'de>>(d: D) -> Result<MultiOptions, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(MultiOptions::new()),
        Value::Object(m) => Ok(m
            .iter()
            .map(|(k, v)| {
                let values = match v {
                    Value::Array(items) => items.iter().map(go_sprint).collect(),
                    other => vec![go_sprint(other)],
                };
                (k.clone(), values)
            })
            .collect()),
        other => Err(D::Error::custom(format!(
            "invalid type {} for options",
            kind(&other)
        ))),
    }
}

/// Decodes `types.StringList`: a string (one item) or a list of strings.
pub(crate) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "invalid type {} for string list",
                    kind(&other)
                ))),
            })
            .collect(),
        other => Err(D::Error::custom(format!(
            "invalid type {} for string list",
            kind(&other)
        ))),
    }
}

/// Decodes `types.StringOrNumberList`: a string or a list of scalars
/// (printed).
pub(crate) fn string_or_number_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => Ok(items.iter().map(go_sprint).collect()),
        other => Err(D::Error::custom(format!(
            "invalid type {} for string list",
            kind(&other)
        ))),
    }
}

/// Decodes `types.ShellCommand`: a list of strings, or a string split like
/// a POSIX shell would (go-shellwords). `null` stays unset.
pub(crate) fn shell_command<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => shellwords::split(&s).map(Some).map_err(D::Error::custom),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "unexpected value type {} in command",
                    kind(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        // compose-go silently ignores any other shape
        _ => Ok(None),
    }
}

/// Decodes `types.HealthCheckTest`: a string becomes `["CMD-SHELL", s]`.
pub(crate) fn healthcheck_test<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec!["CMD-SHELL".to_owned(), s]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(D::Error::custom(format!(
                    "unexpected value type {} for healthcheck.test",
                    kind(&other)
                ))),
            })
            .collect(),
        other => Err(D::Error::custom(format!(
            "unexpected value type {} for healthcheck.test",
            kind(&other)
        ))),
    }
}

/// Removes brackets around IPs and validates host names (compose-go's
/// `HostsList.cleanup`).
fn cleanup_hosts<E: serde::de::Error>(mut hosts: HostsList) -> Result<HostsList, E> {
    for (host, ips) in &mut hosts {
        if host.is_empty() || host.contains([':', '=']) {
            return Err(E::custom(format!("bad host name '{host}'")));
        }
        for ip in ips.iter_mut() {
            if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
                *ip = ip[1..ip.len() - 1].to_owned();
            }
        }
    }
    Ok(hosts)
}

/// Builds a hosts list from `host=ip` / `host:ip` entries (comma-separated
/// IPs allowed), like compose-go's `NewHostsList`.
pub fn hosts_list_from_entries<E: serde::de::Error>(entries: &[String]) -> Result<HostsList, E> {
    let mut list = HostsList::new();
    for entry in entries {
        let split = entry.split_once('=').or_else(|| entry.split_once(':'));
        let Some((host, ip)) = split else {
            return Err(E::custom(format!(
                "invalid additional host, missing IP: {entry}"
            )));
        };
        list.entry(host.to_owned())
            .or_default()
            .extend(ip.split(',').map(str::to_owned));
    }
    cleanup_hosts(list)
}

/// Decodes `types.HostsList` from a list of `host=ip` / `host:ip` strings or a
/// mapping of host -> ip (string) or ips (list).
pub(crate) fn hosts_list<'de, D: Deserializer<'de>>(d: D) -> Result<HostsList, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(HostsList::new()),
        Value::Object(m) => {
            let mut list = HostsList::new();
            for (host, v) in m {
                let ips = match v {
                    Value::Null => vec![String::new()],
                    Value::String(s) => vec![s],
                    Value::Array(items) => items.iter().map(go_sprint).collect(),
                    other => {
                        return Err(D::Error::custom(format!(
                            "unexpected value type {} for extra_hosts entry",
                            kind(&other)
                        )));
                    }
                };
                list.insert(host, ips);
            }
            cleanup_hosts(list)
        }
        Value::Array(items) => {
            let entries: Vec<String> = items.iter().map(go_sprint).collect();
            hosts_list_from_entries(&entries)
        }
        other => Err(D::Error::custom(format!(
            "unexpected value type {} for extra_hosts",
            kind(&other)
        ))),
    }
}

/// Renders a hosts list as sorted `host=ip` strings (compose-go's JSON form).
pub fn hosts_list_entries(hosts: &HostsList) -> Vec<String> {
    let mut out: Vec<String> = hosts
        .iter()
        .flat_map(|(host, ips)| ips.iter().map(move |ip| format!("{host}={ip}")))
        .collect();
    out.sort();
    out
}

/// Encodes a hosts list as sorted `host=ip` strings.
pub(crate) fn ser_hosts_list<S: Serializer>(hosts: &HostsList, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(hosts_list_entries(hosts))
}
