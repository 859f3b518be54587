//! The typed Compose project model, mirroring compose-go v2.9.1's `types`.
//!
//! * Decoding ([`project_from_value`]) takes the *canonical* dict the loader
//!   produces (after interpolation, merge, canonicalisation, defaults and
//!   normalisation) and binds it like compose-go's mapstructure `Transform`,
//!   including the custom decoders (durations, byte sizes, `KEY=VALUE` lists,
//!   shell-split commands, ...). Unknown `x-*` keys land in `extensions`;
//!   other unknown keys are errors.
//! * Encoding ([`Project::to_json_value`]) reproduces what Go's
//!   encoding/json prints for `types.Project`, i.e. the output of
//!   `docker compose config --format json`.

mod build;
mod collections;
mod de;
mod deploy;
mod extensions;
mod resources;
mod scalar;
mod service;
mod shellwords;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use build::{BuildConfig, SshConfig, SshKey};
pub use collections::{
    HostsList, Labels, Mapping, MappingWithEquals, MultiOptions, Options, hosts_list_entries,
    hosts_list_from_entries,
};
pub use deploy::{
    DeployConfig, DeviceRequest, DiscreteGenericResource, GenericResource, Placement,
    PlacementPreferences, Resource, Resources, RestartPolicy, UpdateConfig,
};
pub use extensions::Extensions;
pub use resources::{
    ConfigObjConfig, FileObjectConfig, IpamConfig, IpamPool, ModelConfig, NetworkConfig,
    SecretConfig, VolumeConfig,
};
pub use scalar::{
    Duration, FileMode, UnitBytes, format_go_duration, go_format_float, go_sprint,
    parse_go_duration, ram_in_bytes,
};
pub use service::{
    BlkioConfig, CredentialSpecConfig, DependsOnConfig, DevelopConfig, DeviceMapping, EnvFile,
    ExtendsConfig, FileReferenceConfig, HealthCheckConfig, LoggingConfig, ServiceConfig,
    ServiceConfigObjConfig, ServiceDependency, ServiceHook, ServiceModelConfig,
    ServiceNetworkConfig, ServicePortConfig, ServiceProviderConfig, ServiceSecretConfig,
    ServiceVolumeBind, ServiceVolumeConfig, ServiceVolumeImage, ServiceVolumeTmpfs, ThrottleDevice,
    Trigger, UlimitsConfig, WeightDevice,
};
pub use shellwords::split as shell_split;

/// `omitempty` predicates for `skip_serializing_if`.
pub(crate) mod omit {
    pub(crate) fn is_false(b: &bool) -> bool {
        !*b
    }
    pub(crate) fn is_zero_i64(v: &i64) -> bool {
        *v == 0
    }
    pub(crate) fn is_zero_u64(v: &u64) -> bool {
        *v == 0
    }
    pub(crate) fn is_zero_u32(v: &u32) -> bool {
        *v == 0
    }
    pub(crate) fn is_zero_u16(v: &u16) -> bool {
        *v == 0
    }
    pub(crate) fn is_zero_f32(v: &f32) -> bool {
        *v == 0.0
    }
}

/// A loaded Compose project (`types.Project`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Project {
    /// Project name (always serialized).
    #[serde(default, deserialize_with = "de::string")]
    pub name: String,
    /// Services by name (each [`ServiceConfig::name`] matches its key).
    #[serde(default, deserialize_with = "services")]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default, deserialize_with = "de::nullable_map")]
    pub networks: BTreeMap<String, NetworkConfig>,
    #[serde(default, deserialize_with = "de::nullable_map")]
    pub volumes: BTreeMap<String, VolumeConfig>,
    #[serde(default, deserialize_with = "secrets")]
    pub secrets: BTreeMap<String, SecretConfig>,
    #[serde(default, deserialize_with = "de::nullable_map")]
    pub configs: BTreeMap<String, ConfigObjConfig>,
    /// Top-level models (not part of compose-go's JSON output).
    #[serde(default, deserialize_with = "de::nullable_map")]
    pub models: BTreeMap<String, ModelConfig>,
    /// Top-level `x-*` keys (printed inline in JSON).
    #[serde(flatten)]
    pub extensions: Extensions,

    /// Project directory (not serialized).
    #[serde(skip)]
    pub working_dir: String,
    /// Compose files the project was loaded from (not serialized).
    #[serde(skip)]
    pub compose_files: Vec<String>,
    /// Environment used for interpolation (not serialized).
    #[serde(skip)]
    pub environment: Mapping,
    /// Services disabled by inactive profiles (not serialized).
    #[serde(skip)]
    pub disabled_services: BTreeMap<String, ServiceConfig>,
    /// Active profiles (not serialized).
    #[serde(skip)]
    pub profiles: Vec<String>,
}

/// Decodes `services`, naming each service after its key.
fn services<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, ServiceConfig>, D::Error> {
    let mut map: BTreeMap<String, ServiceConfig> = de::nullable_map(d)?;
    for (name, service) in &mut map {
        service.name.clone_from(name);
    }
    Ok(map)
}

/// Extension key under which the loader passes a secret's value resolved
/// from the environment.
const SECRET_VALUE_KEY: &str = "x-#value";

/// Decodes `secrets`, moving a resolved `x-#value` into `content`.
fn secrets<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, SecretConfig>, D::Error> {
    let mut map: BTreeMap<String, SecretConfig> = de::nullable_map(d)?;
    for secret in map.values_mut() {
        if let Some(Value::String(_)) = secret.extensions.get(SECRET_VALUE_KEY)
            && let Some(Value::String(value)) = secret.extensions.0.shift_remove(SECRET_VALUE_KEY)
        {
            secret.content = value;
        }
    }
    Ok(map)
}

impl Serialize for Project {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("services", &self.services)?;
        if !self.networks.is_empty() {
            m.serialize_entry("networks", &self.networks)?;
        }
        if !self.volumes.is_empty() {
            m.serialize_entry("volumes", &self.volumes)?;
        }
        if !self.secrets.is_empty() {
            // a secret's content is never printed
            let secrets: BTreeMap<&String, FileObjectConfig> = self
                .secrets
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.content.clear();
                    (k, v)
                })
                .collect();
            m.serialize_entry("secrets", &secrets)?;
        }
        if !self.configs.is_empty() {
            // content resolved from the environment is not printed
            let configs: BTreeMap<&String, FileObjectConfig> = self
                .configs
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    if !v.environment.is_empty() {
                        v.content.clear();
                    }
                    (k, v)
                })
                .collect();
            m.serialize_entry("configs", &configs)?;
        }
        for (k, v) in &self.extensions.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Project {
    /// The project as `docker compose config --format json` prints it.
    pub fn to_json_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Binds the canonical Compose dict into a [`Project`].
///
/// Like compose-go, `x-*` keys of every mapping except the user-named ones
/// (`services`, `services.*.depends_on`, `volumes`, `networks`, `secrets`,
/// `configs`) are first set aside under a `#extensions` key: structs keep
/// them as [`Extensions`], while plain maps (labels, environment, service
/// networks, ...) see one odd `#extensions` entry, exactly as compose-go does.
pub fn project_from_value(mut v: Value) -> Result<Project, serde_json::Error> {
    if !v.is_object() {
        return Err(serde_json::Error::custom(format!(
            "top-level object must be a mapping, got {}",
            scalar::go_sprint(&v)
        )));
    }
    park_extensions(&mut v, &mut Vec::new());
    Project::deserialize(v)
}

/// [`project_from_value`], and on failure where in the tree it failed: the keys and indexes
/// from the top (`["services", "web", "healthcheck", "interval"]`).
///
/// # Errors
/// As [`project_from_value`].
pub fn project_from_value_at(mut v: Value) -> Result<Project, (Vec<String>, serde_json::Error)> {
    if !v.is_object() {
        return project_from_value(v).map_err(|e| (Vec::new(), e));
    }
    park_extensions(&mut v, &mut Vec::new());
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        (path, e.into_inner())
    })
}

/// Mappings whose keys are user-chosen names, never extensions.
const USER_DEFINED_KEYS: &[&[&str]] = &[
    &["services"],
    &["services", "*", "depends_on"],
    &["volumes"],
    &["networks"],
    &["secrets"],
    &["configs"],
];

fn is_user_defined(path: &[String]) -> bool {
    USER_DEFINED_KEYS.iter().any(|pattern| {
        pattern.len() == path.len()
            && pattern
                .iter()
                .zip(path)
                .all(|(want, got)| *want == "*" || want == got)
    })
}

/// Moves `x-*` keys of each mapping under `#extensions` (compose-go's
/// `processExtensions`). Already parked values are left alone.
fn park_extensions(v: &mut Value, path: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if !is_user_defined(path) {
                let keys: Vec<String> = map
                    .keys()
                    .filter(|k| k.starts_with("x-"))
                    .cloned()
                    .collect();
                if !keys.is_empty() {
                    let mut parked = serde_json::Map::new();
                    for k in keys {
                        if let Some(value) = map.shift_remove(&k) {
                            parked.insert(k, value);
                        }
                    }
                    match map.get_mut(PARKED_KEY) {
                        Some(Value::Object(existing)) => existing.extend(parked),
                        _ => {
                            map.insert(PARKED_KEY.to_owned(), Value::Object(parked));
                        }
                    }
                }
            }
            for (k, child) in map.iter_mut() {
                if k == PARKED_KEY {
                    continue;
                }
                path.push(k.clone());
                park_extensions(child, path);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                if child.is_object() {
                    path.push(i.to_string());
                    park_extensions(child, path);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

/// Key under which compose-go parks a mapping's `x-*` keys. A plain map (labels, a service's
/// networks) that had `x-` keys shows it as an entry of its own, as in compose-go.
pub const PARKED_KEY: &str = "#extensions";
