//! Validation: the Compose schema's rules over the merged document, and the semantic checks
//! Compose runs once defaults are set.

use crate::error::{LoadError, Result};
use crate::loader::Sources;
use crate::node::{Node, Value};
use crate::treepath::TreePath;

/// Structural checks Compose makes after defaults (mutually exclusive attributes, blank paths).
///
/// # Errors
/// The first rule broken.
pub fn check_model(dict: &Node) -> Result<()> {
    walk(dict, &TreePath::root())
}

fn walk(node: &Node, path: &TreePath<'_>) -> Result<()> {
    if path.matches("volumes.*") {
        return check_volume(node, path);
    }
    if path.matches("configs.*") {
        return check_file_object(node, path, &["file", "environment", "content"]);
    }
    if path.matches("secrets.*") {
        return check_file_object(node, path, &["file", "environment"]);
    }
    if path.matches("services.*.ports.*") {
        if let Some(ip) = node.get("host_ip") {
            let text = ip.as_str().unwrap_or_default();
            if text.parse::<std::net::IpAddr>().is_err() {
                return Err(LoadError::at(
                    ip.span,
                    format!("{path}: invalid ip address: {text}"),
                ));
            }
        }
        return Ok(());
    }
    if path.matches("services.*.develop.watch.*.path") {
        if node.as_str() == Some("") {
            return Err(LoadError::at(
                node.span,
                format!("{path}: value can't be blank"),
            ));
        }
        return Ok(());
    }
    if path.matches("services.*.deploy.resources.reservations.devices.*")
        || path.matches("services.*.gpus.*")
    {
        if node.get("count").is_some() && node.get("device_ids").is_some() {
            return Err(LoadError::at(
                node.span,
                format!("{path}: \"count\" and \"device_ids\" attributes are exclusive"),
            ));
        }
        return Ok(());
    }
    match &node.value {
        Value::Map(m) => {
            for (k, v) in m {
                walk(v, &path.next(&k.name))?;
            }
        }
        Value::Seq(items) => {
            let next = path.next("[]");
            for i in items {
                walk(i, &next)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_file_object(node: &Node, path: &TreePath<'_>, keys: &[&str]) -> Result<()> {
    let Some(m) = node.as_map() else {
        return Ok(());
    };
    let count = keys.iter().filter(|k| m.contains_key(**k)).count();
    if count > 1 {
        return Err(LoadError::at(
            node.span,
            format!(
                "{path}: {} attributes are mutually exclusive",
                keys.join("|")
            ),
        ));
    }
    if count == 0 && !m.contains_key("driver") && !m.contains_key("external") {
        return Err(LoadError::at(
            node.span,
            format!("{path}: one of {} must be set", keys.join("|")),
        ));
    }
    Ok(())
}

fn check_volume(node: &Node, path: &TreePath<'_>) -> Result<()> {
    if node.is_null() {
        return Ok(());
    }
    let Some(m) = node.as_map() else {
        return Err(LoadError::at(
            node.span,
            format!("expected volume, got {node}"),
        ));
    };
    if let Some(ext) = m.get("external")
        && matches!(ext.value, Value::Bool(true))
    {
        for k in m.keys() {
            if !(k.name == "name" || k.name == "external" || k.name.starts_with("x-")) {
                return Err(LoadError::at(
                    k.span,
                    format!(
                        "{path}: conflicting parameters \"external\" and {:?} specified",
                        k.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The Compose schema's rules, checked on the merged document after each file.
///
/// # Errors
/// The first rule broken, with its position.
pub fn check_schema(dict: &Node, _sources: &Sources) -> Result<()> {
    no_timestamps(dict, &mut Vec::new())?;
    crate::schema::validate(dict)
}

/// Compose's schema refuses a YAML timestamp anywhere but under an `x-*` key (Go's YAML
/// decodes `2024-01-02` as a time, which is no JSON type).
fn no_timestamps(node: &Node, path: &mut Vec<String>) -> Result<()> {
    if node.tag == crate::node::MergeTag::Timestamp {
        return Err(LoadError::at(
            node.span,
            format!("{} invalid jsonType time.Time", path.join(".")),
        )
        .with_help("quote it (\"2024-01-02\") to keep it as text"));
    }
    match &node.value {
        crate::node::Value::Map(m) => {
            for (k, v) in m {
                if k.name.starts_with("x-") {
                    continue;
                }
                path.push(k.name.clone());
                no_timestamps(v, path)?;
                path.pop();
            }
        }
        crate::node::Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                no_timestamps(v, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}
