//! Canonical forms: every short syntax Compose allows is rewritten into its long form
//! (`ports: ["80:80"]` into port objects, `build: .` into `{context: .}`, ...), and the defaults
//! Compose fills in are set.

use crate::error::{LoadError, Result};
use crate::merge::depends_on_default;
use crate::node::{Key, Map, Node, Value};
use crate::treepath::TreePath;

#[derive(Clone, Copy)]
enum Transform {
    Service,
    FileMount,
    StringOrX,
    KeyValue,
    DependsOn,
    EnvFile,
    StringOrList,
    Extends,
    Gpus,
    NamesToMapping,
    VolumeMount,
    DeviceMapping,
    Ports,
    Build,
    Ssh,
    Ulimits,
    MaybeExternal,
    Include,
}

const TRANSFORMS: &[(&str, Transform)] = &[
    ("services.*", Transform::Service),
    ("services.*.build.secrets.*", Transform::FileMount),
    ("services.*.build.provenance", Transform::StringOrX),
    ("services.*.build.sbom", Transform::StringOrX),
    ("services.*.build.additional_contexts", Transform::KeyValue),
    ("services.*.depends_on", Transform::DependsOn),
    ("services.*.env_file", Transform::EnvFile),
    ("services.*.label_file", Transform::StringOrList),
    ("services.*.extends", Transform::Extends),
    ("services.*.gpus", Transform::Gpus),
    ("services.*.networks", Transform::NamesToMapping),
    ("services.*.models", Transform::NamesToMapping),
    ("services.*.volumes.*", Transform::VolumeMount),
    ("services.*.dns", Transform::StringOrList),
    ("services.*.devices.*", Transform::DeviceMapping),
    ("services.*.secrets.*", Transform::FileMount),
    ("services.*.configs.*", Transform::FileMount),
    ("services.*.ports", Transform::Ports),
    ("services.*.build", Transform::Build),
    ("services.*.build.ssh", Transform::Ssh),
    ("services.*.ulimits.*", Transform::Ulimits),
    ("services.*.build.ulimits.*", Transform::Ulimits),
    ("services.*.develop.watch.*.ignore", Transform::StringOrList),
    (
        "services.*.develop.watch.*.include",
        Transform::StringOrList,
    ),
    ("volumes.*", Transform::MaybeExternal),
    ("networks.*", Transform::MaybeExternal),
    ("secrets.*", Transform::MaybeExternal),
    ("configs.*", Transform::MaybeExternal),
    ("include.*", Transform::Include),
];

static TRANSFORM_INDEX: std::sync::LazyLock<crate::treepath::Compiled<Transform>> =
    std::sync::LazyLock::new(|| crate::treepath::Compiled::new(TRANSFORMS));

/// Rewrites short syntaxes into long forms. `lenient` (loading without interpolation, as
/// compose-go's `ignoreParseError`) keeps a port, volume or `key=value` list that does not
/// parse as written (`"${PORT}:80"`) instead of refusing it.
///
/// # Errors
/// A value of a type its field does not allow, or an unparsable short syntax.
pub fn canonical(node: &mut Node, lenient: bool) -> Result<()> {
    transform(node, &TreePath::root(), lenient)
}

fn transform(node: &mut Node, path: &TreePath<'_>, lenient: bool) -> Result<()> {
    if let Some(t) = TRANSFORM_INDEX.find(path) {
        return apply(t, node, path, lenient);
    }
    recurse(node, path, lenient)
}

fn recurse(node: &mut Node, path: &TreePath<'_>, lenient: bool) -> Result<()> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                transform(v, &path.next(&k.name), lenient)?;
            }
        }
        Value::Seq(items) => {
            let next = path.next("[]");
            for item in items {
                transform(item, &next, lenient)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn invalid(node: &Node, path: &TreePath<'_>, what: &str) -> LoadError {
    LoadError::at(
        node.span,
        format!("{path}: invalid type {} for {what}", node.kind()),
    )
}

fn single_key(name: &str, value: Node) -> Node {
    let span = value.span;
    let mut m = Map::default();
    m.insert(Key::from(name), value);
    Node::new(Value::Map(m), span)
}

fn apply(t: Transform, node: &mut Node, path: &TreePath<'_>, lenient: bool) -> Result<()> {
    let span = node.span;
    match t {
        Transform::Service => {
            if node.as_map().is_some() {
                recurse(node, path, lenient)?;
            }
        }
        Transform::FileMount => match &node.value {
            Value::Map(_) => {}
            Value::String(_) => *node = single_key("source", node.clone()),
            _ => return Err(invalid(node, path, "file mount")),
        },
        Transform::StringOrX => {
            if !matches!(node.value, Value::String(_)) {
                let text = node.to_string();
                node.value = Value::String(text);
            }
        }
        Transform::KeyValue => match &node.value {
            Value::Map(_) => {}
            Value::Seq(items) => {
                let mut m = Map::default();
                for item in items {
                    let s = item.as_str().unwrap_or_default();
                    let Some((k, v)) = s.split_once('=') else {
                        if lenient {
                            return Ok(());
                        }
                        return Err(LoadError::at(
                            item.span,
                            format!("{path}: invalid value {item}, expected key=value"),
                        ));
                    };
                    m.insert(
                        Key {
                            name: k.to_owned(),
                            span: item.span,
                        },
                        Node::new(Value::String(v.to_owned()), item.span),
                    );
                }
                node.value = Value::Map(m);
            }
            _ => return Err(invalid(node, path, "key=value mapping")),
        },
        Transform::DependsOn => match &mut node.value {
            Value::Map(m) => {
                for (k, d) in m.iter_mut() {
                    let Some(dm) = d.as_map_mut() else {
                        return Err(LoadError::at(
                            d.span,
                            format!("{path}.{}: unsupported value {d}", k.name),
                        ));
                    };
                    if !dm.contains_key("condition") {
                        dm.insert(Key::from("condition"), Node::string("service_started"));
                    }
                    if !dm.contains_key("required") {
                        dm.insert(Key::from("required"), Node::synthetic(Value::Bool(true)));
                    }
                }
            }
            Value::Seq(items) => {
                let mut m = Map::default();
                for item in items.iter() {
                    let Some(name) = item.as_str() else {
                        return Err(invalid(item, path, "depends_on entry"));
                    };
                    m.insert(
                        Key {
                            name: name.to_owned(),
                            span: item.span,
                        },
                        depends_on_default(),
                    );
                }
                node.value = Value::Map(m);
            }
            _ => return Err(invalid(node, path, "depends_on")),
        },
        Transform::EnvFile => {
            let entries = match &node.value {
                Value::String(_) => vec![node.clone()],
                Value::Seq(items) => items.clone(),
                _ => return Err(invalid(node, path, "env_file")),
            };
            let mut out = Vec::with_capacity(entries.len());
            for e in entries {
                out.push(match e.value {
                    Value::String(_) => {
                        let mut m = Map::default();
                        let s = e.span;
                        m.insert(Key::from("path"), e);
                        m.insert(Key::from("required"), Node::synthetic(Value::Bool(true)));
                        Node::new(Value::Map(m), s)
                    }
                    Value::Map(mut m) => {
                        if !m.contains_key("required") {
                            m.insert(Key::from("required"), Node::synthetic(Value::Bool(true)));
                        }
                        Node::new(Value::Map(m), e.span)
                    }
                    _ => Node::new(Value::Null, e.span),
                });
            }
            node.value = Value::Seq(out);
        }
        Transform::StringOrList => {
            if matches!(node.value, Value::String(_)) {
                node.value = Value::Seq(vec![node.clone()]);
            }
        }
        Transform::Extends => match &node.value {
            Value::Map(_) => recurse(node, path, lenient)?,
            Value::String(_) => *node = single_key("service", node.clone()),
            _ => return Err(invalid(node, path, "extends")),
        },
        Transform::Gpus => match &node.value {
            Value::Seq(_) => recurse(node, path, lenient)?,
            Value::String(_) => {
                let mut m = Map::default();
                m.insert(Key::from("count"), Node::string("all"));
                node.value = Value::Seq(vec![Node::map(m)]);
            }
            _ => return Err(invalid(node, path, "gpus")),
        },
        Transform::NamesToMapping => {
            if let Value::Seq(items) = &node.value {
                let mut m = Map::default();
                for item in items {
                    let Some(name) = item.as_str() else {
                        return Err(invalid(item, path, "name"));
                    };
                    m.insert(
                        Key {
                            name: name.to_owned(),
                            span: item.span,
                        },
                        Node::null(),
                    );
                }
                node.value = Value::Map(m);
            }
        }
        Transform::VolumeMount => match &node.value {
            Value::Map(_) => {}
            Value::String(s) => {
                let mut parsed = match crate::volume_spec::parse_volume(s) {
                    Ok(parsed) => parsed,
                    Err(_) if lenient => return Ok(()),
                    Err(e) => return Err(LoadError::at(span, e.to_string())),
                };
                if let Some(serde_json::Value::String(t)) = parsed.get_mut("target")
                    && !t.is_empty()
                {
                    *t = clean_path(t);
                }
                let mut n = Node::from_json(&serde_json::Value::Object(parsed));
                n.span = span;
                *node = n;
            }
            _ => return Err(invalid(node, path, "service volume mount")),
        },
        Transform::DeviceMapping => match &node.value {
            Value::Map(_) => {}
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, perms) = match parts.as_slice() {
                    [s] => (*s, *s, "rwm"),
                    [s, d] => (*s, *d, "rwm"),
                    [s, d, p] => (*s, *d, *p),
                    _ if lenient => ("", "", "rwm"),
                    _ => {
                        return Err(LoadError::at(
                            span,
                            format!("confusing device mapping, please use long syntax: {s}"),
                        ));
                    }
                };
                let dst = if dst.is_empty() { src } else { dst };
                let mut m = Map::default();
                m.insert(Key::from("source"), Node::string(src));
                m.insert(Key::from("target"), Node::string(dst));
                m.insert(Key::from("permissions"), Node::string(perms));
                *node = Node::new(Value::Map(m), span);
            }
            _ => return Err(invalid(node, path, "service device")),
        },
        Transform::Ports => {
            let Value::Seq(items) = &node.value else {
                return Err(invalid(node, path, "ports"));
            };
            let mut out = Vec::new();
            for item in items {
                match &item.value {
                    Value::Map(_) => out.push(item.clone()),
                    Value::Int(_) | Value::String(_) => {
                        let parsed = match crate::port_spec::parse_port(&item.to_json()) {
                            Ok(parsed) => parsed,
                            // As written, the whole list (compose-go keeps it so).
                            Err(_) if lenient && matches!(item.value, Value::String(_)) => {
                                return Ok(());
                            }
                            Err(e) => return Err(LoadError::at(item.span, e.to_string())),
                        };
                        for p in parsed {
                            let mut n = Node::from_json(&serde_json::Value::Object(p));
                            n.span = item.span;
                            out.push(n);
                        }
                    }
                    _ => return Err(invalid(item, path, "port")),
                }
            }
            node.value = Value::Seq(out);
        }
        Transform::Build => match &node.value {
            Value::Map(_) => recurse(node, path, lenient)?,
            Value::String(_) => *node = single_key("context", node.clone()),
            _ => return Err(invalid(node, path, "build")),
        },
        Transform::Ssh => match &node.value {
            Value::Map(_) => {}
            Value::Seq(items) => {
                let mut m = Map::default();
                for item in items {
                    let Some(s) = item.as_str() else {
                        return Err(invalid(item, path, "ssh key"));
                    };
                    match s.split_once('=') {
                        Some((id, p)) => {
                            m.insert(
                                Key::from(id),
                                Node::new(Value::String(p.to_owned()), item.span),
                            );
                        }
                        None if s == "default" => {
                            m.insert(Key::from(s), Node::null());
                        }
                        None => {
                            return Err(LoadError::at(item.span, format!("invalid ssh key {s:?}")));
                        }
                    }
                }
                node.value = Value::Map(m);
            }
            _ => return Err(invalid(node, path, "ssh")),
        },
        Transform::Ulimits => match &node.value {
            Value::Map(_) | Value::Int(_) => {}
            _ => return Err(invalid(node, path, "ulimits")),
        },
        Transform::MaybeExternal => {
            if node.is_null() {
                return Ok(());
            }
            if node.as_map().is_none() {
                return Err(invalid(node, path, "resource"));
            }
            recurse(node, path, lenient)?;
            let Some(m) = node.as_map_mut() else {
                return Ok(());
            };
            let ext_name = match m.get("external") {
                Some(Node {
                    value: Value::Map(e),
                    ..
                }) => Some(e.get("name").cloned()),
                _ => None,
            };
            if let Some(ext_name) = ext_name {
                if let Some(slot) = m.get_mut("external") {
                    *slot = Node::new(Value::Bool(true), slot.span);
                }
                if let Some(ext_name) = ext_name {
                    match m.get("name") {
                        Some(name) if !name.same_value(&ext_name) => {
                            return Err(LoadError::at(
                                span,
                                format!("{path}: name and external.name conflict; only use name"),
                            ));
                        }
                        Some(_) => {}
                        None => {
                            m.insert(Key::from("name"), ext_name);
                        }
                    }
                }
            }
        }
        Transform::Include => match &node.value {
            Value::Map(_) => {}
            Value::String(_) => *node = single_key("path", node.clone()),
            _ => return Err(invalid(node, path, "include")),
        },
    }
    Ok(())
}

/// Defaults Compose sets once all files are merged.
///
/// # Errors
/// A secret mount or device request that is not a mapping.
pub fn set_defaults(node: &mut Node) -> Result<()> {
    defaults(node, &TreePath::root())
}

fn defaults(node: &mut Node, path: &TreePath<'_>) -> Result<()> {
    if path.matches("services.*.build") {
        if let Some(m) = node.as_map_mut()
            && !m.contains_key("context")
        {
            m.insert(Key::from("context"), Node::string("."));
        }
        return Ok(());
    }
    if path.matches("services.*.secrets.*") {
        let span = node.span;
        let Some(m) = node.as_map_mut() else {
            return Err(LoadError::at(span, format!("{path}: unsupported type")));
        };
        if !m.contains_key("target") {
            let source = m
                .get("source")
                .map_or_else(|| "<nil>".to_owned(), ToString::to_string);
            m.insert(
                Key::from("target"),
                Node::string(format!("/run/secrets/{source}")),
            );
        }
        return Ok(());
    }
    if path.matches("services.*.ports.*") {
        if let Some(m) = node.as_map_mut() {
            if !m.contains_key("protocol") {
                m.insert(Key::from("protocol"), Node::string("tcp"));
            }
            if !m.contains_key("mode") {
                m.insert(Key::from("mode"), Node::string("ingress"));
            }
        }
        return Ok(());
    }
    if path.matches("services.*.deploy.resources.reservations.devices.*")
        || path.matches("services.*.gpus.*")
    {
        let span = node.span;
        let Some(m) = node.as_map_mut() else {
            return Err(LoadError::at(
                span,
                format!("{path}: invalid type for device request"),
            ));
        };
        if !m.contains_key("count") && !m.contains_key("device_ids") {
            m.insert(Key::from("count"), Node::string("all"));
        }
        return Ok(());
    }
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                defaults(v, &path.next(&k.name))?;
            }
        }
        Value::Seq(items) => {
            let next = path.next("[]");
            for item in items {
                defaults(item, &next)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `path.Clean` for slash-separated paths.
#[must_use]
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Drops empty strings and nulls from the lists Compose treats that way (`dns`).
pub fn omit_empty(node: &mut Node) {
    if let Some(services) = node.get_mut("services").and_then(Node::as_map_mut) {
        for (_, s) in services.iter_mut() {
            if let Some(m) = s.as_map_mut()
                && let Some(dns) = m.get_mut("dns")
                && let Value::Seq(items) = &mut dns.value
            {
                items.retain(|i| !(i.is_null() || i.as_str() == Some("")));
            }
        }
    }
}
