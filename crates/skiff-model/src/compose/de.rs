//! Field decoders reproducing compose-go's mapstructure decoding rules.
//!
//! compose-go binds its canonical dict with mapstructure plus a `cast` hook:
//! `null` leaves a field at its zero value, strings are accepted for
//! bool / int / float fields, integers for string fields, floats are
//! truncated into integer fields. These functions are used through
//! `#[serde(deserialize_with = ...)]` on the model's plain fields.

use std::collections::BTreeMap;

use serde::de::{self, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::scalar::{go_to_boolean, kind};

fn unexpected<E: de::Error>(expected: &str, v: &Value) -> E {
    E::custom(format!("expected {expected}, got {} `{v}`", kind(v)))
}

/// Decodes a Go `string` field: strings, integers (printed), `null` -> "".
pub(crate) fn value_to_string<E: de::Error>(v: Value) -> Result<String, E> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) if !n.is_f64() => Ok(n.to_string()),
        other => Err(unexpected("a string", &other)),
    }
}

pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value_to_string(Value::deserialize(d)?)
}

fn value_to_bool<E: de::Error>(v: Value) -> Result<Option<bool>, E> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) => go_to_boolean(&s)
            .map(Some)
            .ok_or_else(|| E::custom(format!("invalid boolean: {s}"))),
        other => Err(unexpected("a boolean", &other)),
    }
}

pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(value_to_bool(Value::deserialize(d)?)?.unwrap_or(false))
}

pub(crate) fn opt_boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    value_to_bool(Value::deserialize(d)?)
}

/// `external`: a boolean, or the legacy `{name: ...}` mapping (meaning true).
pub(crate) fn external<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(_) => Ok(true),
        other => Ok(value_to_bool(other)?.unwrap_or(false)),
    }
}

fn value_to_int<E: de::Error>(v: Value) -> Result<Option<i64>, E> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(u) = n.as_u64() {
                // mapstructure wraps uint64 into int64
                Ok(Some(i64::from_ne_bytes(u.to_ne_bytes())))
            } else {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(n.as_f64().unwrap_or(0.0) as i64))
            }
        }
        Value::String(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| E::custom(format!("strconv.ParseInt: parsing \"{s}\": invalid syntax"))),
        other => Err(unexpected("an integer", &other)),
    }
}

pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(value_to_int(Value::deserialize(d)?)?.unwrap_or(0))
}

pub(crate) fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    value_to_int(Value::deserialize(d)?)
}

fn value_to_uint<E: de::Error>(v: Value, max: u64) -> Result<Option<u64>, E> {
    let out = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u
            } else if let Some(i) = n.as_i64() {
                return Err(E::custom(format!("cannot parse {i}, overflows uint")));
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f < 0.0 {
                    return Err(E::custom(format!("cannot parse {f}, overflows uint")));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let u = f as u64;
                u
            }
        }
        other => return Err(unexpected("an unsigned integer", &other)),
    };
    if out > max {
        return Err(E::custom(format!("cannot parse {out}, overflows uint")));
    }
    Ok(Some(out))
}

pub(crate) fn uint64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(value_to_uint(Value::deserialize(d)?, u64::MAX)?.unwrap_or(0))
}

pub(crate) fn opt_uint64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    value_to_uint(Value::deserialize(d)?, u64::MAX)
}

pub(crate) fn uint32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = value_to_uint(Value::deserialize(d)?, u64::from(u32::MAX))?.unwrap_or(0);
    u32::try_from(v).map_err(D::Error::custom)
}

pub(crate) fn uint16<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = value_to_uint(Value::deserialize(d)?, u64::from(u16::MAX))?.unwrap_or(0);
    u16::try_from(v).map_err(D::Error::custom)
}

/// Decodes a float32 field (`cpus`, `cpu_percent`, ratios): numbers or
/// numeric strings.
pub(crate) fn float32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0.0),
        #[allow(clippy::cast_possible_truncation)]
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) as f32),
        #[allow(clippy::cast_possible_truncation)]
        Value::String(s) => s.parse::<f64>().map(|f| f as f32).map_err(|_| {
            D::Error::custom(format!(
                "strconv.ParseFloat: parsing \"{s}\": invalid syntax"
            ))
        }),
        other => Err(unexpected("a number", &other)),
    }
}

/// Decodes a Go `[]string`: a list whose items are strings or integers.
pub(crate) fn string_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.into_iter().map(value_to_string).collect(),
        other => Err(unexpected("a list", &other)),
    }
}

/// Decodes a Go `map[string]string`: values are strings or integers,
/// `null` values become "".
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| value_to_string(v).map(|s| (k, s)))
            .collect(),
        other => Err(unexpected("a mapping", &other)),
    }
}

/// Decodes a Go slice of structs: `null` -> empty, `null` items -> zero value.
pub(crate) fn nullable_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let items: Option<Vec<Option<T>>> = Option::deserialize(d)?;
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// Decodes a Go map of structs (by value): `null` entries -> zero value.
pub(crate) fn nullable_map<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let items: Option<BTreeMap<String, Option<T>>> = Option::deserialize(d)?;
    Ok(items
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Decodes a Go map of struct pointers: `null` entries are kept as `None`.
pub(crate) fn opt_map<'de, D, T>(d: D) -> Result<BTreeMap<String, Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items: Option<BTreeMap<String, Option<T>>> = Option::deserialize(d)?;
    Ok(items.unwrap_or_default())
}
