//! Service `deploy` section and device requests.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::collections::{self, Labels, Mapping};
use super::de;
use super::extensions::Extensions;
use super::omit::{is_zero_f32, is_zero_i64, is_zero_u64};
use super::scalar::{Duration, UnitBytes, kind, ser_f32};

/// Deployment settings (`types.DeployConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub mode: String,
    #[serde(
        default,
        deserialize_with = "de::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub replicas: Option<i64>,
    #[serde(
        default,
        deserialize_with = "collections::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Always serialized (a struct in compose-go), `{}` when empty.
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Always serialized (a struct in compose-go), `{}` when empty.
    #[serde(default, deserialize_with = "nullable")]
    pub placement: Placement,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub endpoint_mode: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Decodes a by-value struct field, `null` meaning its zero value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Rolling update / rollback settings (`types.UpdateConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    #[serde(
        default,
        deserialize_with = "de::opt_uint64",
        skip_serializing_if = "Option::is_none"
    )]
    pub parallelism: Option<u64>,
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub delay: Duration,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub failure_action: String,
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub monitor: Duration,
    #[serde(
        default,
        deserialize_with = "de::float32",
        serialize_with = "ser_f32",
        skip_serializing_if = "is_zero_f32"
    )]
    pub max_failure_ratio: f32,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub order: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Resource limits and reservations (`types.Resources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// One set of resource constraints (`types.Resource`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// CPUs (`NanoCPUs`, a float32), from a number or a numeric string.
    #[serde(
        default,
        deserialize_with = "de::float32",
        serialize_with = "ser_f32",
        skip_serializing_if = "is_zero_f32"
    )]
    pub cpus: f32,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub memory: UnitBytes,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub pids: i64,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<DeviceRequest>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub generic_resources: Vec<GenericResource>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A user-defined resource (`types.GenericResource`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteGenericResource>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// An integer user-defined resource (`types.DiscreteGenericResource`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscreteGenericResource {
    /// Always serialized.
    #[serde(default, alias = "Kind", deserialize_with = "de::string")]
    pub kind: String,
    /// Always serialized.
    #[serde(default, alias = "Value", deserialize_with = "de::int")]
    pub value: i64,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Restart policy (`types.RestartPolicy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "de::opt_uint64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Placement constraints (`types.Placement`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub constraints: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferences: Vec<PlacementPreferences>,
    #[serde(
        rename = "max_replicas_per_node",
        default,
        deserialize_with = "de::uint64",
        skip_serializing_if = "is_zero_u64"
    )]
    pub max_replicas: u64,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A placement preference (`types.PlacementPreferences`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlacementPreferences {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub spread: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A device (GPU, ...) request (`types.DeviceRequest`), used by `gpus` and
/// `deploy.resources.reservations.devices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRequest {
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    /// Number of devices; `-1` means `all`.
    #[serde(
        default,
        deserialize_with = "device_count",
        skip_serializing_if = "is_zero_i64"
    )]
    pub count: i64,
    #[serde(
        rename = "device_ids",
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ids: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::mapping",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: Mapping,
    /// Accepted and kept, though compose-go drops them.
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Decodes a device count (`types.DeviceCount`): an integer, `"all"` (-1),
/// or a numeric string.
fn device_count<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0),
        Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or(0)),
        Value::String(s) => {
            if s.eq_ignore_ascii_case("all") {
                return Ok(-1);
            }
            s.parse::<i64>().map_err(|_| {
                D::Error::custom(format!(
                    "invalid value \"{s}\", the only value allowed is 'all' or a number"
                ))
            })
        }
        other => Err(D::Error::custom(format!(
            "invalid type {} for device count",
            kind(&other)
        ))),
    }
}
