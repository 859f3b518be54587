//! Decoding skiff's `x-skiff` extension from a loaded model, with positions and suggestions.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use skiff_model::xskiff::{Extension, ServiceExtension};

use crate::error::{LoadError, Result};
use crate::node::{Node, Value};

/// The top-level `x-skiff` section and each service's `x-skiff` key.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    pub project: Extension,
    pub services: BTreeMap<String, ServiceExtension>,
}

/// Decodes every `x-skiff` key of the model.
///
/// # Errors
/// Unknown keys (with the closest known one), wrong types, invalid schedules or durations,
/// located in the file.
pub fn decode(model: &Node) -> Result<Extensions> {
    let mut out = Extensions::default();
    if let Some(x) = model.get("x-skiff") {
        out.project = typed(x, "x-skiff")?;
    }
    if let Some(services) = model.get("services").and_then(Node::as_map) {
        for (name, s) in services {
            if let Some(x) = s.get("x-skiff") {
                let ext: ServiceExtension = typed(x, &format!("services.{}.x-skiff", name.name))?;
                out.services.insert(name.name.clone(), ext);
            }
        }
    }
    Ok(out)
}

/// Decodes every `x-skiff` key of a canonical Compose dict (a project already loaded and
/// checked: errors are in words, without positions).
///
/// # Errors
/// A key that does not decode, with its path.
pub fn decode_json(model: &serde_json::Value) -> std::result::Result<Extensions, String> {
    fn one<T: DeserializeOwned>(v: &serde_json::Value, at: &str) -> std::result::Result<T, String> {
        serde_path_to_error::deserialize::<_, T>(v.clone()).map_err(|e| format!("{at}: {e}"))
    }
    let mut out = Extensions::default();
    if let Some(x) = model.get("x-skiff") {
        out.project = one(x, "x-skiff")?;
    }
    if let Some(services) = model.get("services").and_then(serde_json::Value::as_object) {
        for (name, s) in services {
            if let Some(x) = s.get("x-skiff") {
                out.services
                    .insert(name.clone(), one(x, &format!("services.{name}.x-skiff"))?);
            }
        }
    }
    Ok(out)
}

fn typed<T: DeserializeOwned>(node: &Node, at: &str) -> Result<T> {
    let json = node.to_json();
    serde_path_to_error::deserialize::<_, T>(json).map_err(|e| {
        let (target, key_span) = locate(node, e.path());
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        let where_ = if path == "." {
            at.to_owned()
        } else {
            format!("{at}.{path}")
        };
        let mut err = LoadError::at(
            key_span.unwrap_or(target.span),
            format!("{where_}: {inner}"),
        );
        if let Some(help) = suggestion(&inner) {
            err = err.with_help(help);
        }
        err
    })
}

/// The node a serde path leads to, and the span of the last key on the way.
fn locate<'a>(
    root: &'a Node,
    path: &serde_path_to_error::Path,
) -> (&'a Node, Option<crate::node::Span>) {
    use serde_path_to_error::Segment;
    let mut node = root;
    let mut key_span = None;
    for seg in path.iter() {
        match (seg, &node.value) {
            (Segment::Map { key }, Value::Map(m)) => match m.get_key_value(key.as_str()) {
                Some((k, v)) => {
                    key_span = Some(k.span);
                    node = v;
                }
                None => break,
            },
            (Segment::Seq { index }, Value::Seq(items)) => match items.get(*index) {
                Some(v) => {
                    key_span = None;
                    node = v;
                }
                None => break,
            },
            _ => break,
        }
    }
    (node, key_span.filter(|s| !s.is_synthetic()))
}

/// "unknown field `backup`, expected one of `backups`, ..." -> "did you mean `backups`?"
fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    crate::suggest::closest(field, expected.iter().copied())
        .map(|s| format!("did you mean `{s}`?"))
        .or_else(|| Some(format!("known keys: {}", expected.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::FileId;

    fn model(text: &str) -> Node {
        crate::yaml::parse(text, FileId(0)).expect("yaml").remove(0)
    }

    #[test]
    fn typo_in_section_suggests_the_key() {
        let err = decode(&model("x-skiff:\n  backup:\n    db: {}\n")).expect_err("typo");
        assert_eq!(err.help.as_deref(), Some("did you mean `backups`?"));
        let span = err.span.expect("located");
        assert_eq!((span.line, span.col), (2, 3));
    }

    #[test]
    fn service_extension_decodes() {
        let ext = decode(&model(
            "services:\n  api:\n    x-skiff: {runtime: process, command: [./api]}\n",
        ))
        .expect("ok");
        assert_eq!(
            ext.services["api"].runtime,
            skiff_model::xskiff::Runtime::Process
        );
    }

    #[test]
    fn bad_schedule_is_located() {
        let err = decode(&model(
            "x-skiff:\n  jobs:\n    nightly: {schedule: sometimes, service: w}\n",
        ))
        .expect_err("cron");
        assert!(
            err.message.contains("invalid cron schedule"),
            "{}",
            err.message
        );
        assert_eq!(err.span.map(|s| s.line), Some(3));
    }
}
