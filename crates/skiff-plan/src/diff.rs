//! Which fields of a configuration changed, as dotted paths.

use serde_json::Value;

/// Paths (`image`, `environment.LOG_LEVEL`, `ports`) whose values differ between two
/// configurations, sorted. Objects are compared key by key two levels deep; deeper or list
/// differences are reported at the containing field.
#[must_use]
pub fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(old, new, "", 0, &mut out);
    out.sort();
    out.dedup();
    out
}

fn walk(old: &Value, new: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if depth < 2 => {
            for k in a.keys().chain(b.keys()) {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    &path,
                    depth + 1,
                    out,
                );
            }
        }
        _ => out.push(if prefix.is_empty() {
            "(everything)".to_owned()
        } else {
            prefix.to_owned()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_leaf_paths() {
        let old = json!({"image": "a", "environment": {"A": "1", "B": "2"}, "ports": [1]});
        let new =
            json!({"image": "b", "environment": {"A": "1", "B": "3", "C": "4"}, "ports": [1]});
        assert_eq!(
            changed_fields(&old, &new),
            vec!["environment.B", "environment.C", "image"]
        );
    }
}
