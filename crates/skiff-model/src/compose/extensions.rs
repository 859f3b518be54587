//! `x-*` extension fields.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::PARKED_KEY as PARKED;

/// Vendor extensions of a Compose object: every `x-*` key found on it, with
/// its raw value. Deserialized through `#[serde(flatten)]`, it collects the
/// keys a struct does not know and rejects any that do not start with `x-`
/// (compose-go also accepts them pre-collected under a `#extensions` key).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Extensions(pub IndexMap<String, Value>);

impl Extensions {
    /// Whether there are no extensions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Looks an extension up by its full key (`x-foo`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

struct ExtensionsVisitor {
    tolerated: &'static [&'static str],
}

impl<'de> Visitor<'de> for ExtensionsVisitor {
    type Value = Extensions;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Extensions, E> {
        Ok(Extensions::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extensions, A::Error> {
        let mut out = IndexMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == PARKED {
                let parked: Option<IndexMap<String, Value>> = map.next_value()?;
                out.extend(parked.unwrap_or_default());
            } else if key.starts_with("x-") {
                let value: Value = map.next_value()?;
                out.insert(key, value);
            } else if self.tolerated.contains(&key.as_str()) {
                // known to the compose schema but not to compose-go's model
                map.next_value::<de::IgnoredAny>()?;
            } else {
                return Err(de::Error::custom(format!("unknown field `{key}`")));
            }
        }
        Ok(Extensions(out))
    }
}

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ExtensionsVisitor { tolerated: &[] })
    }
}

/// Service extensions; also swallows `pull_refresh_after`, a schema property
/// that compose-go's model ignores.
pub(crate) fn service_extensions<'de, D: Deserializer<'de>>(d: D) -> Result<Extensions, D::Error> {
    d.deserialize_map(ExtensionsVisitor {
        tolerated: &["pull_refresh_after"],
    })
}

/// IPAM extensions; also swallows `options`, a schema property that
/// compose-go's model ignores.
pub(crate) fn ipam_extensions<'de, D: Deserializer<'de>>(d: D) -> Result<Extensions, D::Error> {
    d.deserialize_map(ExtensionsVisitor {
        tolerated: &["options"],
    })
}
