//! The configuration hash Compose records on containers (`com.docker.compose.config-hash`),
//! computed the same way so that skiff and `docker compose` recognise each other's containers
//! as up to date: SHA-256 of the service's compact JSON (Go's encoding, fields in the model's
//! order), without the fields that do not change a running container.

use serde_json::Value;
use sha2::Digest;

/// The hash of one service, given as `docker compose config --format json` prints it (fields in
/// the model's order).
#[must_use]
pub fn service_hash(svc: &Value) -> String {
    let mut v = svc.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
            m.shift_remove(k);
        }
        if let Some(d) = m.get_mut("deploy").and_then(Value::as_object_mut) {
            d.shift_remove("replicas");
        }
    }
    let mut out = String::new();
    go_json(&v, &mut out);
    hex::encode(sha2::Sha256::digest(out.as_bytes()))
}

/// Compact JSON as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&go_number(n)),
        Value::String(s) => go_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(x, out);
            }
            out.push('}');
        }
    }
}

fn go_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    let abs = f.abs();
    // Go: %f form for 1e-6 <= |f| < 1e21, else %e with a two-digit exponent at least.
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        return match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    let s = format!("{f}");
    s
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping() {
        let mut out = String::new();
        go_json(
            &serde_json::json!({"a": "x<y>&z\n", "b": [1, 2.5, true, null]}),
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"a":"x\u003cy\u003e\u0026z\n","b":[1,2.5,true,null]}"#
        );
    }
}
