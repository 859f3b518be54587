//! Variable substitution over a whole document, and the casts Compose applies afterwards to
//! fields that must be numbers or booleans (`replicas: ${N}`).

use crate::error::{LoadError, Result};
use crate::node::{Node, Value};
use crate::template::{self, Lookup, TemplateError};
use crate::treepath::TreePath;

#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
}

const CASTS: &[(&str, Cast)] = &[
    ("services.*.cpu_count", Cast::Int),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int),
    ("services.*.cpu_quota", Cast::Int),
    ("services.*.cpu_rt_period", Cast::Int),
    ("services.*.cpu_rt_runtime", Cast::Int),
    ("services.*.cpus", Cast::Float),
    ("services.*.cpu_shares", Cast::Int),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int),
    ("services.*.pids_limit", Cast::Int),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv4", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

static CAST_INDEX: std::sync::LazyLock<crate::treepath::Compiled<Cast>> =
    std::sync::LazyLock::new(|| crate::treepath::Compiled::new(CASTS));

/// Substitutes variables in every string of `node` (keys are left alone), then casts the
/// fields Compose types.
///
/// # Errors
/// A malformed template, a required variable that is missing, or a value that cannot be cast.
pub fn interpolate(node: &mut Node, lookup: Lookup<'_>) -> Result<()> {
    walk(node, &TreePath::root(), lookup)
}

fn walk(node: &mut Node, path: &TreePath<'_>, lookup: Lookup<'_>) -> Result<()> {
    match &mut node.value {
        Value::String(s) => {
            let substituted = template::substitute(s, lookup).map_err(|e| {
                let message = match &e {
                    TemplateError::Invalid { template } => format!(
                        "invalid interpolation format for {path}: {template:?}; you may need to escape any $ with another $"
                    ),
                    TemplateError::Required { .. } => {
                        format!("error while interpolating {path}: {e}")
                    }
                };
                let err = LoadError::at(node.span, message);
                match e {
                    TemplateError::Required { variable, .. } => LoadError {
                        missing_variable: Some(variable),
                        ..err
                    },
                    TemplateError::Invalid { .. } => err,
                }
            })?;
            let value = match CAST_INDEX.find(path) {
                Some(cast) => cast_value(&substituted, cast).map_err(|e| {
                    LoadError::at(
                        node.span,
                        format!(
                            "error while interpolating {path}: failed to cast to expected type: {e}"
                        ),
                    )
                })?,
                None => Value::String(substituted),
            };
            node.value = value;
        }
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                walk(v, &path.next(&k.name), lookup)?;
            }
        }
        Value::Seq(items) => {
            let next = path.next("[]");
            for item in items {
                walk(item, &next, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn cast_value(s: &str, cast: Cast) -> std::result::Result<Value, String> {
    match cast {
        Cast::Int => s
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax")),
        Cast::Float => parse_go_float(s)
            .map(Value::Float)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        Cast::Bool => match s.to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "n" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("invalid boolean: {s}")),
        },
    }
}

/// Go's `strconv.ParseFloat` accepts a few spellings Rust does not (and vice versa).
fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return s.parse::<f64>().ok();
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE_".contains(c))
    {
        return None;
    }
    s.replace('_', "").parse::<f64>().ok()
}
