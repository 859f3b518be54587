//! Normalisation once every file is merged: the default network, implicit dependencies
//! (links, `service:` namespaces, `volumes_from`), build defaults, and resource names.

use crate::canonical::clean_path;
use crate::node::{Key, Map, Node, Value};

/// Looks a variable up in the project environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Normalises a merged document whose `name` is already set.
pub fn normalize(dict: &mut Node, env: Env<'_>) {
    normalize_networks(dict);
    if let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) {
        for (_, service) in services.iter_mut() {
            let Some(s) = service.as_map_mut() else {
                continue;
            };
            normalize_service(s, env);
        }
    }
    set_names_from_keys(dict);
}

fn implicit_dependency(restart: bool) -> Node {
    let mut d = Map::default();
    d.insert(Key::from("condition"), Node::string("service_started"));
    d.insert(Key::from("restart"), Node::synthetic(Value::Bool(restart)));
    d.insert(Key::from("required"), Node::synthetic(Value::Bool(true)));
    Node::map(d)
}

fn normalize_service(s: &mut Map, env: Env<'_>) {
    if s.get("pull_policy").and_then(Node::as_str) == Some("if_not_present") {
        s.insert(Key::from("pull_policy"), Node::string("missing"));
    }
    if let Some(build) = s.get_mut("build").and_then(Node::as_map_mut) {
        if build.get("context").is_none_or(Node::is_null) {
            build.insert(Key::from("context"), Node::string("."));
        }
        if build.get("dockerfile").is_none_or(Node::is_null)
            && build.get("dockerfile_inline").is_none_or(Node::is_null)
        {
            build.insert(Key::from("dockerfile"), Node::string("Dockerfile"));
        }
        if let Some(args) = build.get_mut("args") {
            resolve(args, env, false);
        }
    }
    if let Some(e) = s.get_mut("environment") {
        resolve(e, env, true);
    }
    let mut depends_on = match s.get("depends_on") {
        Some(Node {
            value: Value::Map(m),
            ..
        }) => m.clone(),
        _ => Map::default(),
    };
    if let Some(links) = s.get("links").and_then(Node::as_seq) {
        for l in links {
            let Some(link) = l.as_str() else { continue };
            let parts: Vec<&str> = link.split(':').collect();
            let name = if parts.len() == 2 { parts[0] } else { link };
            if !depends_on.contains_key(name) {
                depends_on.insert(Key::from(name), implicit_dependency(true));
            }
        }
    }
    for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(shared) = s
            .get(ns)
            .and_then(Node::as_str)
            .and_then(|r| r.strip_prefix("service:"))
            && !depends_on.contains_key(shared)
        {
            depends_on.insert(Key::from(shared), implicit_dependency(true));
        }
    }
    if let Some(volumes) = s.get_mut("volumes").and_then(Node::as_seq_mut) {
        for v in volumes {
            if let Some(t) = v.get_mut("target")
                && let Value::String(target) = &t.value
            {
                t.value = Value::String(clean_path(target));
            }
        }
    }
    if let Some(from) = s.get("volumes_from").and_then(Node::as_seq) {
        for v in from {
            let Some(v) = v.as_str() else { continue };
            if !v.starts_with("container:") {
                let name = v.split(':').next().unwrap_or(v);
                if !depends_on.contains_key(name) {
                    depends_on.insert(Key::from(name), implicit_dependency(false));
                }
            }
        }
    }
    if !depends_on.is_empty() {
        s.insert(Key::from("depends_on"), Node::map(depends_on));
    }
}

/// Fills `KEY` entries (no value) from the environment; unresolved ones are kept (as null in a
/// mapping) only when `keep_empty`.
fn resolve(node: &mut Node, env: Env<'_>, keep_empty: bool) {
    match &mut node.value {
        Value::Seq(items) => {
            let old = std::mem::take(items);
            for mut item in old {
                if let Value::String(v) = &item.value {
                    if !v.contains('=') {
                        if let Some(val) = env(v) {
                            item.value = Value::String(format!("{v}={val}"));
                        } else if !keep_empty {
                            continue;
                        }
                    }
                    items.push(item);
                }
            }
            // compose-go's result is a nil list: null in the model.
            if items.is_empty() {
                node.value = Value::Null;
            }
        }
        Value::Map(m) => {
            let old = std::mem::take(m);
            for (k, v) in old {
                if !v.is_null() {
                    m.insert(k, v);
                    continue;
                }
                if let Some(val) = env(&k.name) {
                    m.insert(k, Node::new(Value::String(val), v.span));
                } else if keep_empty {
                    m.insert(k, v);
                }
            }
        }
        _ => {}
    }
}

fn normalize_networks(dict: &mut Node) {
    let mut uses_default = false;
    if let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) {
        for (_, service) in services.iter_mut() {
            let Some(s) = service.as_map_mut() else {
                continue;
            };
            if s.contains_key("provider") || s.contains_key("network_mode") {
                continue;
            }
            let empty = match s.get("networks") {
                None => true,
                Some(n) => match &n.value {
                    Value::Map(m) => {
                        if m.contains_key("default") {
                            uses_default = true;
                        }
                        m.is_empty()
                    }
                    _ => false,
                },
            };
            if empty {
                let mut m = Map::default();
                m.insert(Key::from("default"), Node::null());
                s.insert(Key::from("networks"), Node::map(m));
                uses_default = true;
            }
        }
    }
    let Some(top) = dict.as_map_mut() else { return };
    if uses_default {
        let networks = top
            .entry(Key::from("networks"))
            .or_insert_with(|| Node::map(Map::default()));
        if networks.is_null() {
            *networks = Node::map(Map::default());
        }
        if let Some(m) = networks.as_map_mut()
            && !m.contains_key("default")
        {
            m.insert(Key::from("default"), Node::null());
        }
    }
}

fn set_names_from_keys(dict: &mut Node) {
    let project = dict
        .get("name")
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_owned();
    for kind in ["networks", "volumes", "configs", "secrets"] {
        let Some(top) = dict.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for (key, r) in top.iter_mut() {
            if r.is_null() {
                *r = Node::new(Value::Map(Map::default()), r.span);
            }
            let Some(resource) = r.as_map_mut() else {
                continue;
            };
            if resource.get("name").is_none_or(Node::is_null) {
                let external = resource.get("external").is_some_and(|x| {
                    matches!(x.value, Value::Bool(true))
                        || matches!(x.as_str(), Some("1" | "t" | "T" | "TRUE" | "true" | "True"))
                });
                let name = if external {
                    key.name.clone()
                } else {
                    format!("{project}_{}", key.name)
                };
                resource.insert(Key::from("name"), Node::string(name));
            }
        }
    }
}

/// Fills `environment: [KEY]` entries, secrets and configs declared `environment:` from the
/// project environment (before normalisation, as Compose does).
pub fn resolve_environment(dict: &mut Node, env: Env<'_>) {
    if let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) {
        for (_, s) in services.iter_mut() {
            if let Some(Value::Seq(items)) = s.get_mut("environment").map(|e| &mut e.value) {
                items.retain(|i| matches!(i.value, Value::String(_)));
                for item in items.iter_mut() {
                    if let Value::String(v) = &item.value
                        && let Some(found) = env(v)
                    {
                        item.value = Value::String(format!("{v}={found}"));
                    }
                }
            }
        }
    }
    for (kind, key) in [("secrets", "x-#value"), ("configs", "content")] {
        if let Some(top) = dict.get_mut(kind).and_then(Node::as_map_mut) {
            for (_, r) in top.iter_mut() {
                let Some(m) = r.as_map_mut() else { continue };
                let Some(var) = m.get("environment").and_then(Node::as_str) else {
                    continue;
                };
                if let Some(found) = env(var) {
                    m.insert(Key::from(key), Node::string(found));
                }
            }
        }
    }
}
