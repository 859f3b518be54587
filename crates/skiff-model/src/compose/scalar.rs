//! Scalar types and Go-compatible formatting/parsing primitives.
//!
//! compose-go stores durations, byte sizes and file modes in small Go types
//! with their own decoding and JSON encoding rules. This module reproduces
//! those rules, together with the bits of Go's `fmt` / `strconv` / `time`
//! behaviour the decoders depend on (how a YAML scalar is printed by
//! `fmt.Sprint`, how `time.Duration` renders, `units.RAMInBytes`, ...).

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

// ---------------------------------------------------------------------------
// fmt.Sprint of a decoded YAML value
// ---------------------------------------------------------------------------

/// Renders a value the way Go's `fmt.Sprint` prints the equivalent value
/// decoded from YAML (`nil` prints as `<nil>`, maps as `map[k:v ...]`).
pub fn go_sprint(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                go_format_float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_sprint).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", map.get(k).map(go_sprint).unwrap_or_default()))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Formats a float64 like Go's `%v` verb: shortest representation, in
/// exponent form (`1e+06`) when the decimal exponent is below -4 or at least 6.
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".to_owned()
        } else {
            "0".to_owned()
        };
    }
    // Rust's `{:e}` yields the shortest round-tripping digits, e.g. "1.5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = usize::try_from(exp).unwrap_or(0) + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.push_str(&"0".repeat(int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat(usize::try_from(-exp - 1).unwrap_or(0)));
        out.push_str(&digits);
    }
    out
}

/// Go's `strconv.ParseBool`-like YAML 1.1 boolean parsing used by compose-go
/// when a string is decoded into a boolean field.
pub fn go_to_boolean(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "true" | "y" | "yes" | "on" => Some(true),
        "false" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Short name of a JSON value's kind, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Converts an `f32` into the JSON number Go's encoder prints for a float32
/// (shortest decimal that round-trips through float32; integral values are
/// printed without a fraction).
pub(crate) fn f32_to_json(f: f32) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    // Rust's Display for f32 is the shortest representation that round-trips
    // through f32, exactly what Go's float32 encoding prints.
    serde_json::from_str::<Value>(&format!("{f}")).unwrap_or(Value::Null)
}

/// Serializes an `f32` field like Go's encoding/json does for a float32.
pub(crate) fn ser_f32<S: Serializer>(f: &f32, s: S) -> Result<S::Ok, S::Error> {
    f32_to_json(*f).serialize(s)
}

// ---------------------------------------------------------------------------
// Duration
// ---------------------------------------------------------------------------

/// A Go `time.Duration` (nanoseconds). Decodes from Go duration strings
/// (`"1m30s"`, `"10s"`, also `d`/`w` units) and encodes as Go's
/// `Duration.String()` (`"1m30s"`, `"0s"`, `"1h0m0s"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    /// Whether the duration is zero (Go's `omitempty` test).
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// The duration as a `std::time::Duration` (negative values clamp to zero).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

/// Renders nanoseconds like Go's `time.Duration.String()`.
pub fn format_go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".to_owned();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        if u < 1_000 {
            out = format!("{u}ns");
        } else if u < 1_000_000 {
            out = format!("{}µs", frac(u, 3).0);
        } else {
            out = format!("{}ms", frac(u, 6).0);
        }
    } else {
        let (secs_text, whole_secs) = frac(u, 9);
        // `secs_text` is "<whole secs>[.fraction]"; keep only secs % 60.
        let fraction = secs_text.split_once('.').map(|(_, f)| f.to_owned());
        let mut s = (whole_secs % 60).to_string();
        if let Some(fr) = fraction {
            s.push('.');
            s.push_str(&fr);
        }
        let minutes = whole_secs / 60;
        if minutes > 0 {
            let hours = minutes / 60;
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            out.push_str(&format!("{}m", minutes % 60));
        }
        out.push_str(&s);
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits `v` into `v / 10^prec` and a trimmed fraction; returns the text
/// "int[.frac]" and the integer part.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let scale = 10u64.pow(prec);
    let int = v / scale;
    let rem = v % scale;
    if rem == 0 {
        return (int.to_string(), int);
    }
    let width = usize::try_from(prec).unwrap_or(9);
    let digits = format!("{rem:0width$}");
    let digits = digits.trim_end_matches('0');
    (format!("{int}.{digits}"), int)
}

/// Parses a Go duration string (`time.ParseDuration` plus the `d` and `w`
/// units of go-str2duration).
pub fn parse_go_duration(input: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration \"{input}\"");
    let mut s = input;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // leading integer
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let pre = int_len > 0;
        let mut v: i64 = 0;
        for &c in &b[..int_len] {
            v = v
                .checked_mul(10)
                .and_then(|x| x.checked_add(i64::from(c - b'0')))
                .ok_or_else(invalid)?;
        }
        s = &s[int_len..];
        // optional fraction
        let mut f: i64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let fb = s.as_bytes();
            let frac_len = fb.iter().take_while(|c| c.is_ascii_digit()).count();
            post = frac_len > 0;
            let mut overflow = false;
            for &c in &fb[..frac_len] {
                if overflow {
                    continue;
                }
                match f
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(i64::from(c - b'0')))
                {
                    Some(y) => {
                        f = y;
                        scale *= 10.0;
                    }
                    None => overflow = true,
                }
            }
            s = &s[frac_len..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // unit
        let unit_len = s
            .as_bytes()
            .iter()
            .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{input}\""));
        }
        let unit_text = &s[..unit_len];
        s = &s[unit_len..];
        let unit: i64 = match unit_text {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 24 * 3_600 * 1_000_000_000,
            "w" => 168 * 3_600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit \"{unit_text}\" in duration \"{input}\""
                ));
            }
        };
        let mut part = v.checked_mul(unit).ok_or_else(invalid)?;
        if f > 0 {
            // float64 arithmetic, as Go does
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let extra = (f as f64 * (unit as f64 / scale)) as i64;
            part = part.checked_add(extra).ok_or_else(invalid)?;
        }
        total = total.checked_add(part).ok_or_else(invalid)?;
    }
    Ok(if neg { -total } else { total })
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_go_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        if v.is_null() {
            return Ok(Duration(0));
        }
        parse_go_duration(&go_sprint(&v))
            .map(Duration)
            .map_err(D::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// UnitBytes
// ---------------------------------------------------------------------------

/// A byte count (`types.UnitBytes`). Decodes from integers or human sizes
/// (`"1g"`, `"512m"`, `"1.5GiB"`, go-units `RAMInBytes`, binary multiples);
/// encodes as a JSON *string* holding the decimal count, like compose-go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitBytes(pub i64);

impl UnitBytes {
    /// Whether the value is zero (Go's `omitempty` test).
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

/// Parses a human-readable size with binary multiples, like go-units
/// `RAMInBytes` (`"1g"` = 1073741824, `"512m"`, `"10KiB"`, `"100"`).
pub fn ram_in_bytes(size: &str) -> Result<i64, String> {
    let bytes = size.as_bytes();
    let Some(sep) = bytes
        .iter()
        .rposition(|c| c.is_ascii_digit() || *c == b'.' || *c == b' ')
    else {
        return Err(format!("invalid size: '{size}'"));
    };
    let (num, sfx) = if bytes[sep] == b' ' {
        (&size[..sep], &size[sep + 1..])
    } else {
        (&size[..=sep], &size[sep + 1..])
    };
    let mut value: f64 = num
        .parse::<f64>()
        .map_err(|_| format!("strconv.ParseFloat: parsing \"{num}\": invalid syntax"))?;
    if value < 0.0 {
        return Err(format!("invalid size: '{size}'"));
    }
    #[allow(clippy::cast_possible_truncation)]
    let to_int = |f: f64| f as i64;
    if sfx.is_empty() {
        return Ok(to_int(value));
    }
    let bad = || format!("invalid suffix: '{sfx}'");
    if sfx.len() > 3 {
        return Err(bad());
    }
    let lower = sfx.to_lowercase();
    let lb = lower.as_bytes();
    if lb[0] == b'b' {
        if lb.len() > 1 {
            return Err(format!("invalid suffix: '{lower}'"));
        }
        return Ok(to_int(value));
    }
    let mul: f64 = match lb[0] {
        b'k' => 1024.0,
        b'm' => 1024.0 * 1024.0,
        b'g' => 1024.0 * 1024.0 * 1024.0,
        b't' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        b'p' => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid suffix: '{lower}'")),
    };
    value *= mul;
    if (lb.len() == 2 && lb[1] != b'b') || (lb.len() == 3 && &lb[1..] != b"ib") {
        return Err(format!("invalid suffix: '{lower}'"));
    }
    Ok(to_int(value))
}

impl Serialize for UnitBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for UnitBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // compose-go only handles ints and strings; anything else leaves zero.
        match Value::deserialize(d)? {
            Value::Number(n) => Ok(UnitBytes(n.as_i64().unwrap_or(0))),
            // Negative counts (`-1` = unlimited) print as "-1", which go-units
            // would reject; accept them so printed output decodes again.
            Value::String(s) if s.starts_with('-') && s.parse::<i64>().is_ok() => {
                Ok(UnitBytes(s.parse::<i64>().unwrap_or(0)))
            }
            Value::String(s) => ram_in_bytes(&s).map(UnitBytes).map_err(D::Error::custom),
            _ => Ok(UnitBytes(0)),
        }
    }
}

// ---------------------------------------------------------------------------
// FileMode
// ---------------------------------------------------------------------------

/// A file mode for secret/config mounts (`types.FileMode`). Decodes from an
/// integer or an octal string (`"0440"`), encodes as an octal string (`"0440"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileMode(pub i64);

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "0-{:o}", self.0.unsigned_abs())
        } else {
            write!(f, "0{:o}", self.0)
        }
    }
}

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => i64::from_str_radix(&s, 8).map(FileMode).map_err(|_| {
                D::Error::custom(format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))
            }),
            Value::Number(n) if n.as_i64().is_some() => Ok(FileMode(n.as_i64().unwrap_or(0))),
            Value::Null => Ok(FileMode(0)),
            other => Err(D::Error::custom(format!(
                "unexpected value type {} for mode",
                kind(&other)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_like_go() {
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(90_000_000_000), "1m30s");
        assert_eq!(format_go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_go_duration(1_500_000_000), "1.5s");
        assert_eq!(format_go_duration(500_000_000), "500ms");
        assert_eq!(format_go_duration(1_500), "1.5µs");
        assert_eq!(format_go_duration(2), "2ns");
        assert_eq!(format_go_duration(-90_000_000_000), "-1m30s");
        assert_eq!(format_go_duration(86_400_000_000_000), "24h0m0s");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("90s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1d"), Ok(86_400_000_000_000));
        assert_eq!(parse_go_duration("1w"), Ok(604_800_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("-5ms"), Ok(-5_000_000));
        assert_eq!(parse_go_duration("300us"), Ok(300_000));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration(".s").is_err());
    }

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1gb"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("512m"), Ok(512 << 20));
        assert_eq!(ram_in_bytes("64 k"), Ok(64 << 10));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("100b"), Ok(100));
        assert_eq!(ram_in_bytes("0.3"), Ok(0));
        assert!(ram_in_bytes("1x").is_err());
        assert!(ram_in_bytes("1gbb").is_err());
        assert!(ram_in_bytes("1bb").is_err());
        assert!(ram_in_bytes("abc").is_err());
        assert!(ram_in_bytes("-1").is_err());
    }

    #[test]
    fn floats_print_like_go_sprint() {
        assert_eq!(go_format_float(1.5), "1.5");
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_format_float(100000.0), "100000");
        assert_eq!(go_format_float(1e6), "1e+06");
        assert_eq!(go_format_float(1234567.0), "1.234567e+06");
        assert_eq!(go_format_float(0.0001), "0.0001");
        assert_eq!(go_format_float(0.00001), "1e-05");
        assert_eq!(go_format_float(-3.25), "-3.25");
        assert_eq!(go_format_float(123.456), "123.456");
    }

    #[test]
    fn file_mode_is_octal() {
        assert_eq!(FileMode(0o440).to_string(), "0440");
        assert_eq!(FileMode(0).to_string(), "00");
        let m: FileMode = serde_json::from_value(Value::from("0755")).unwrap_or_default();
        assert_eq!(m, FileMode(0o755));
        let m: FileMode = serde_json::from_value(Value::from(292)).unwrap_or_default();
        assert_eq!(m, FileMode(292));
    }
}
