//! Reads compose files exactly as `docker compose` does.
//!
//! Phases, in order, one module each: [`yaml`] parses text into [`node::Node`] trees that keep
//! their positions; [`interpolate`], `extends`, `include` and [`merge`] combine files;
//! [`canonical`] forms, defaults, [`schema`] validation, [`paths`] and [`normalize`] follow;
//! [`project`] applies profiles and consistency checks. [`options`] resolves a command line
//! into files and environment. Everything is pure: files are read only through the
//! [`loader::Files`] trait, whose one real implementation is [`fs::OsFiles`].

pub mod canonical;
pub mod diagnostic;
pub mod dotenv;
pub mod envfile;
pub mod error;
pub mod extension;
pub mod fs;
pub mod goyaml;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod node;
pub mod normalize;
pub mod options;
pub mod paths;
pub mod port_spec;
pub mod project;
pub mod schema;
pub mod suggest;
pub mod template;
pub mod treepath;
pub mod validate;
pub mod volume_spec;
pub mod yaml;

pub use error::LoadError;
pub use options::{Loaded, Request, load};

use node::Node;

/// The project as `docker compose config --format json` prints it (before `$` escaping).
#[must_use]
pub fn compose_json(model: &Node) -> serde_json::Value {
    let mut out = serde_json::Map::default();
    if let Some(m) = model.as_map() {
        for (k, v) in m {
            let keep = match k.name.as_str() {
                "name" | "services" => true,
                "networks" | "volumes" | "secrets" | "configs" => {
                    v.as_map().is_some_and(|m| !m.is_empty())
                }
                other => other.starts_with("x-"),
            };
            if keep {
                out.insert(k.name.clone(), v.to_json());
            }
        }
    }
    serde_json::Value::Object(out)
}

/// Doubles every `$` in strings and keys, as `docker compose config` does so that its output
/// can be loaded again with the same meaning.
#[must_use]
pub fn escape_dollars(mut v: serde_json::Value) -> serde_json::Value {
    escape_dollars_in_place(&mut v);
    v
}

/// [`escape_dollars`] in place: only the strings and maps that hold a `$` are rewritten.
pub fn escape_dollars_in_place(v: &mut serde_json::Value) {
    use serde_json::Value as J;
    match v {
        J::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        J::Array(a) => a.iter_mut().for_each(escape_dollars_in_place),
        J::Object(o) if o.keys().any(|k| k.contains('$')) => {
            *o = std::mem::take(o)
                .into_iter()
                .map(|(k, mut v)| {
                    escape_dollars_in_place(&mut v);
                    (k.replace('$', "$$"), v)
                })
                .collect();
        }
        J::Object(o) => o.values_mut().for_each(escape_dollars_in_place),
        _ => {}
    }
}

/// The model as `docker compose config --no-interpolate` prints it: keys in byte order at
/// every level (it is a Go map), and never a secret's value (`x-#value`, which compose
/// prints when an included env_file holds it).
#[must_use]
pub fn model_json(model: &Node) -> serde_json::Value {
    let mut v = sorted(model.to_json());
    if let Some(secrets) = v.get_mut("secrets").and_then(|s| s.as_object_mut()) {
        for s in secrets.values_mut() {
            if let Some(m) = s.as_object_mut() {
                m.shift_remove("x-#value");
            }
        }
    }
    v
}

fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted).collect())
        }
        other => other,
    }
}
