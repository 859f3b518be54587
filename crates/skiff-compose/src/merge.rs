//! Merging a file onto the files before it (`-f a.yaml -f b.yaml`, `extends`), with Compose's
//! rule per field, and the de-duplication of list entries that follows each merge.

use std::collections::HashMap;

use crate::error::{LoadError, Result};
use crate::node::{Key, Map, Node, Value};
use crate::treepath::TreePath;

/// How one field combines a base value with an override.
#[derive(Clone, Copy)]
enum Rule {
    /// The override replaces the base.
    Override,
    /// Both become lists (a mapping becomes sorted `k=v` strings) and are concatenated.
    Sequence,
    /// Like `Sequence`, but override entries already in the base are dropped.
    ExtraHosts,
    /// Lists of names become mappings (with `depends_on`'s defaults), then merge.
    DependsOn,
    /// Lists of names become mappings of nulls, then merge.
    NamesToMapping,
    /// A string build is `{context: ...}`; then mappings merge.
    Build,
    /// Same driver: options merge; another driver: the override wins whole.
    Logging,
    /// The override wins (a ulimit is one value).
    Ulimit,
    /// IPAM pools are matched by subnet.
    IpamConfig,
}

const RULES: &[(&str, Rule)] = &[
    ("networks.*.ipam.config", Rule::IpamConfig),
    ("networks.*.labels", Rule::Sequence),
    ("volumes.*.labels", Rule::Sequence),
    ("services.*.annotations", Rule::Sequence),
    ("services.*.build", Rule::Build),
    ("services.*.build.args", Rule::Sequence),
    ("services.*.build.additional_contexts", Rule::Sequence),
    ("services.*.build.extra_hosts", Rule::ExtraHosts),
    ("services.*.build.labels", Rule::Sequence),
    ("services.*.command", Rule::Override),
    ("services.*.depends_on", Rule::DependsOn),
    ("services.*.deploy.labels", Rule::Sequence),
    ("services.*.dns", Rule::Sequence),
    ("services.*.dns_opt", Rule::Sequence),
    ("services.*.dns_search", Rule::Sequence),
    ("services.*.entrypoint", Rule::Override),
    ("services.*.env_file", Rule::Sequence),
    ("services.*.label_file", Rule::Sequence),
    ("services.*.environment", Rule::Sequence),
    ("services.*.extra_hosts", Rule::ExtraHosts),
    ("services.*.healthcheck.test", Rule::Override),
    ("services.*.labels", Rule::Sequence),
    ("services.*.volumes.*.volume.labels", Rule::Sequence),
    ("services.*.logging", Rule::Logging),
    ("services.*.models", Rule::NamesToMapping),
    ("services.*.networks", Rule::NamesToMapping),
    ("services.*.sysctls", Rule::Sequence),
    ("services.*.tmpfs", Rule::Sequence),
    ("services.*.ulimits.*", Rule::Ulimit),
];

static RULE_INDEX: std::sync::LazyLock<crate::treepath::Compiled<Rule>> =
    std::sync::LazyLock::new(|| crate::treepath::Compiled::new(RULES));

/// Merges `over` onto `base` (both top-level documents).
///
/// # Errors
/// When a value of one kind is overridden by another (a mapping by a list, say).
pub fn merge_documents(base: Node, over: Node) -> Result<Node> {
    merge(base, over, &TreePath::root())
}

/// Merges one service definition onto another, as `extends` does.
///
/// # Errors
/// As [`merge_documents`].
pub fn merge_service(base: Node, over: Node) -> Result<Node> {
    let services = TreePath::root();
    let services = services.next("services");
    merge(base, over, &services.next("x"))
}

fn merge(base: Node, over: Node, path: &TreePath<'_>) -> Result<Node> {
    if let Some(rule) = RULE_INDEX.find(path) {
        return apply_rule(rule, base, over, path);
    }
    if over.is_null() {
        return Ok(base);
    }
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Ok(Node {
            value: Value::Map(merge_maps(b, o, path)?),
            span: over.span,
            tag: over.tag,
        }),
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.extend(o);
            Ok(Node {
                value: Value::Seq(b),
                span: over.span,
                tag: over.tag,
            })
        }
        (Value::Map(_) | Value::Seq(_), other) => Err(LoadError::at(
            over.span,
            format!(
                "cannot override {path}: {} is not of the same kind",
                other.kind()
            ),
        )),
        (_, value) => Ok(Node {
            value,
            span: over.span,
            tag: over.tag,
        }),
    }
}

fn merge_maps(mut base: Map, over: Map, path: &TreePath<'_>) -> Result<Map> {
    for (k, v) in over {
        if let Some(slot) = base.get_mut(k.name.as_str()) {
            let old = std::mem::replace(slot, Node::null());
            *slot = merge(old, v, &path.next(&k.name))?;
        } else {
            base.insert(k, v);
        }
    }
    Ok(base)
}

fn apply_rule(rule: Rule, base: Node, over: Node, path: &TreePath<'_>) -> Result<Node> {
    let span = over.span;
    let node = |value| Node::new(value, span);
    match rule {
        Rule::Override => Ok(over),
        Rule::Sequence => {
            let mut b = into_sequence(base);
            b.extend(into_sequence(over));
            Ok(node(Value::Seq(b)))
        }
        Rule::ExtraHosts => {
            let mut b = into_sequence(base);
            let o: Vec<Node> = into_sequence(over)
                .into_iter()
                .filter(|x| !b.iter().any(|y| y.same_value(x)))
                .collect();
            b.extend(o);
            Ok(node(Value::Seq(b)))
        }
        Rule::DependsOn => {
            let b = into_mapping(base, true)?;
            let o = into_mapping(over, true)?;
            Ok(node(Value::Map(merge_maps(b, o, path)?)))
        }
        Rule::NamesToMapping => {
            let b = into_mapping(base, false)?;
            let o = into_mapping(over, false)?;
            Ok(node(Value::Map(merge_maps(b, o, path)?)))
        }
        Rule::Build => {
            let b = build_mapping(base);
            let o = build_mapping(over);
            Ok(node(Value::Map(merge_maps(b, o, path)?)))
        }
        Rule::Logging => {
            let (Value::Map(b), Value::Map(o)) = (&base.value, &over.value) else {
                return merge_plain(base, over, path);
            };
            let same_driver = match (b.get("driver"), o.get("driver")) {
                (Some(x), Some(y)) => x.same_value(y),
                _ => true,
            };
            if same_driver {
                let (Value::Map(b), Value::Map(o)) = (base.value, over.value) else {
                    unreachable_pair()
                };
                Ok(node(Value::Map(merge_maps(b, o, path)?)))
            } else {
                Ok(over)
            }
        }
        Rule::Ulimit => Ok(over),
        Rule::IpamConfig => merge_ipam_config(base, over, path),
    }
}

#[expect(
    clippy::panic,
    reason = "both arms were matched as mappings just above"
)]
fn unreachable_pair() -> ! {
    panic!("logging values were checked to be mappings")
}

fn merge_plain(base: Node, over: Node, path: &TreePath<'_>) -> Result<Node> {
    if over.is_null() {
        return Ok(base);
    }
    match (&base.value, &over.value) {
        (Value::Map(_), Value::Map(_)) => {
            let (Value::Map(b), Value::Map(o)) = (base.value, over.value) else {
                unreachable_pair()
            };
            Ok(Node::new(Value::Map(merge_maps(b, o, path)?), over.span))
        }
        _ => Ok(over),
    }
}

fn build_mapping(node: Node) -> Map {
    match node.value {
        Value::String(s) => {
            let mut m = Map::default();
            m.insert(Key::from("context"), Node::new(Value::String(s), node.span));
            m
        }
        Value::Map(m) => m,
        _ => Map::default(),
    }
}

/// A list value as Compose flattens it for merging: a mapping becomes `k=v` strings, sorted.
pub(crate) fn into_sequence(node: Node) -> Vec<Node> {
    match node.value {
        Value::Map(m) => {
            let mut seq: Vec<Node> = Vec::new();
            for (k, v) in m {
                match &v.value {
                    Value::Null => seq.push(Node::new(Value::String(k.name), k.span)),
                    Value::Seq(items) => {
                        for item in items {
                            let text = item.to_string();
                            seq.push(Node::new(
                                Value::String(format!("{}={text}", k.name)),
                                item.span,
                            ));
                        }
                    }
                    _ => seq.push(Node::new(Value::String(format!("{}={v}", k.name)), v.span)),
                }
            }
            seq.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            seq
        }
        Value::Seq(s) => s,
        Value::String(_) => vec![node],
        _ => Vec::new(),
    }
}

fn into_mapping(node: Node, depends_on_defaults: bool) -> Result<Map> {
    match node.value {
        Value::Map(m) => Ok(m),
        Value::Seq(items) => {
            let mut m = Map::default();
            for item in items {
                let Value::String(name) = item.value else {
                    return Err(LoadError::at(
                        item.span,
                        format!("expected a name, found {}", item.value.kind()),
                    ));
                };
                let value = if depends_on_defaults {
                    depends_on_default()
                } else {
                    Node::null()
                };
                m.insert(
                    Key {
                        name,
                        span: item.span,
                    },
                    value,
                );
            }
            Ok(m)
        }
        _ => Ok(Map::default()),
    }
}

/// `{condition: service_started, required: true}`.
pub(crate) fn depends_on_default() -> Node {
    let mut d = Map::default();
    d.insert(Key::from("condition"), Node::string("service_started"));
    d.insert(Key::from("required"), Node::synthetic(Value::Bool(true)));
    Node::map(d)
}

fn merge_ipam_config(base: Node, over: Node, path: &TreePath<'_>) -> Result<Node> {
    let span = over.span;
    let (Value::Seq(configs), Value::Seq(overrides)) = (base.value, over.value) else {
        return Err(LoadError::at(span, format!("{path}: expected a list")));
    };
    let subnet = |m: &Map| m.get("subnet").map(Node::to_json);
    let mut result: Vec<Map> = Vec::new();
    for original in configs {
        let right = into_mapping(original, false)?;
        for o in &overrides {
            let left = into_mapping(o.clone(), false)?;
            if subnet(&left) != subnet(&right) && !result.iter().any(|a| subnet(a) == subnet(&left))
            {
                result.push(left);
                continue;
            }
            let merged = merge_maps(right.clone(), left, path)?;
            if let Some(i) = result.iter().position(|a| subnet(a) == subnet(&merged)) {
                result[i] = merged;
            } else {
                result.push(merged);
            }
        }
    }
    Ok(Node::new(
        Value::Seq(result.into_iter().map(Node::map).collect()),
        span,
    ))
}

// ---------------------------------------------------------------------------------------------
// Unicity: after a merge, list entries naming the same thing keep only the last definition.

type Indexer = fn(&Node, &TreePath<'_>) -> Result<String>;

const UNIQUE: &[(&str, Indexer)] = &[
    ("networks.*.labels", key_value_index),
    ("networks.*.ipam.options", key_value_index),
    ("services.*.annotations", key_value_index),
    ("services.*.build.args", key_value_index),
    ("services.*.build.additional_contexts", key_value_index),
    ("services.*.build.platform", key_value_index),
    ("services.*.build.tags", key_value_index),
    ("services.*.build.labels", key_value_index),
    ("services.*.cap_add", key_value_index),
    ("services.*.cap_drop", key_value_index),
    ("services.*.configs", config_index),
    ("services.*.deploy.labels", key_value_index),
    ("services.*.dns", key_value_index),
    ("services.*.dns_opt", key_value_index),
    ("services.*.dns_search", key_value_index),
    ("services.*.environment", key_value_index),
    ("services.*.env_file", env_file_index),
    ("services.*.expose", expose_index),
    ("services.*.labels", key_value_index),
    ("services.*.links", key_value_index),
    ("services.*.networks.*.aliases", key_value_index),
    ("services.*.networks.*.link_local_ips", key_value_index),
    ("services.*.ports", port_index),
    ("services.*.profiles", key_value_index),
    ("services.*.secrets", secret_index),
    ("services.*.sysctls", key_value_index),
    ("services.*.tmpfs", key_value_index),
    ("services.*.volumes", volume_index),
    ("services.*.devices", device_index),
];

static UNIQUE_INDEX: std::sync::LazyLock<crate::treepath::Compiled<Indexer>> =
    std::sync::LazyLock::new(|| crate::treepath::Compiled::new(UNIQUE));

/// Keeps one entry per identity in the lists Compose treats as sets, the later definition
/// taking the earlier one's place.
///
/// # Errors
/// An entry of a type the list cannot hold, or a volume without a target.
pub fn enforce_unicity(node: &mut Node) -> Result<()> {
    unicity(node, &TreePath::root())
}

fn unicity(node: &mut Node, path: &TreePath<'_>) -> Result<()> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                unicity(v, &path.next(&k.name))?;
            }
        }
        Value::Seq(items) => {
            if let Some(indexer) = UNIQUE_INDEX.find(path) {
                let mut seen: HashMap<String, usize> = HashMap::new();
                let mut out: Vec<Node> = Vec::with_capacity(items.len());
                for (i, entry) in std::mem::take(items).into_iter().enumerate() {
                    let key = indexer(&entry, &path.next(&format!("[{i}]")))?;
                    if let Some(&j) = seen.get(&key) {
                        out[j] = entry;
                    } else {
                        seen.insert(key, out.len());
                        out.push(entry);
                    }
                }
                *items = out;
            }
        }
        _ => {}
    }
    Ok(())
}

fn key_value_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::String(s) => Ok(s.split_once('=').map_or(s.as_str(), |(k, _)| k).to_owned()),
        other => Err(LoadError::at(
            v.span,
            format!("{path}: unexpected type {}", other.kind()),
        )),
    }
}

fn volume_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::Map(m) => match m.get("target").and_then(Node::as_str) {
            Some(t) => Ok(t.to_owned()),
            None => Err(LoadError::at(
                v.span,
                format!("service volume {path} is missing a mount target"),
            )),
        },
        Value::String(s) => crate::volume_spec::parse_volume(s)
            .map(|m| {
                m.get("target")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .map_err(|e| LoadError::at(v.span, e.to_string())),
        _ => Ok(String::new()),
    }
}

fn device_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::Map(m) => match m.get("target").and_then(Node::as_str) {
            Some(t) => Ok(t.to_owned()),
            None => Err(LoadError::at(
                v.span,
                format!("service device {path} is missing a mount target"),
            )),
        },
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Ok(if parts.len() == 1 { parts[0] } else { parts[1] }.to_owned())
        }
        _ => Ok(String::new()),
    }
}

fn expose_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        _ => Err(LoadError::at(
            v.span,
            format!("{path}: unsupported expose value {v}"),
        )),
    }
}

fn mount_index(default_dir: &str, v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::String(s) => Ok(format!("{default_dir}/{s}")),
        Value::Map(m) => match m.get("target") {
            Some(t) => Ok(t.to_string()),
            None => Ok(format!(
                "{default_dir}/{}",
                m.get("source")
                    .map_or_else(|| "<nil>".to_owned(), ToString::to_string)
            )),
        },
        _ => Err(LoadError::at(
            v.span,
            format!("{path}: unsupported value {v}"),
        )),
    }
}

fn config_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    mount_index("", v, path)
}

fn secret_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    mount_index("/run/secrets", v, path)
}

fn port_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::Int(i) => Ok(i.to_string()),
        Value::Map(m) => {
            let Some(target) = m.get("target") else {
                return Err(LoadError::at(
                    v.span,
                    format!("service ports {path} is missing a target port"),
                ));
            };
            let text =
                |k: &str, d: &str| m.get(k).map_or_else(|| d.to_owned(), ToString::to_string);
            Ok(format!(
                "{}:{}:{target}/{}",
                text("host_ip", "0.0.0.0"),
                text("published", "<nil>"),
                text("protocol", "tcp")
            ))
        }
        Value::String(s) => Ok(s.clone()),
        _ => Ok(String::new()),
    }
}

fn env_file_index(v: &Node, path: &TreePath<'_>) -> Result<String> {
    match &v.value {
        Value::String(s) => Ok(s.clone()),
        Value::Map(m) => match m.get("path") {
            Some(p) => Ok(p.to_string()),
            None => Err(LoadError::at(
                v.span,
                format!("environment path attribute {path} is missing"),
            )),
        },
        _ => Ok(String::new()),
    }
}
