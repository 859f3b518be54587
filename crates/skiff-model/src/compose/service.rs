//! A service and the small types hanging off it.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::build::BuildConfig;
use super::collections::{
    self, HostsList, Labels, Mapping, MappingWithEquals, MultiOptions, Options,
};
use super::de;
use super::deploy::{DeployConfig, DeviceRequest};
use super::extensions::{self, Extensions};
use super::omit::{is_false, is_zero_f32, is_zero_i64, is_zero_u16, is_zero_u32};
use super::scalar::{Duration, FileMode, UnitBytes, kind, ser_f32};

/// One service of the project (`types.ServiceConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// The service name (the key in `services`); never serialized.
    #[serde(skip_serializing, default, deserialize_with = "de::string")]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub profiles: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::mapping",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: Mapping,
    #[serde(
        default,
        deserialize_with = "de::opt_boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub attach: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cap_add: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cap_drop: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub cgroup_parent: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub cgroup: String,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_count: i64,
    #[serde(
        default,
        deserialize_with = "de::float32",
        serialize_with = "ser_f32",
        skip_serializing_if = "is_zero_f32"
    )]
    pub cpu_percent: f32,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_period: i64,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_quota: i64,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_rt_period: i64,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_rt_runtime: i64,
    #[serde(
        default,
        deserialize_with = "de::float32",
        serialize_with = "ser_f32",
        skip_serializing_if = "is_zero_f32"
    )]
    pub cpus: f32,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub cpuset: String,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub cpu_shares: i64,
    /// Command override; `None` prints `null`, `Some([])` clears the image's.
    #[serde(default, deserialize_with = "collections::shell_command")]
    pub command: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub configs: Vec<ServiceConfigObjConfig>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpecConfig>,
    #[serde(
        default,
        deserialize_with = "de::nullable_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub depends_on: DependsOnConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_cgroup_rules: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<DeviceMapping>,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_opt: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_search: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub dockerfile: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub domainname: String,
    /// Entrypoint override; `None` prints `null`, `Some([])` clears the image's.
    #[serde(default, deserialize_with = "collections::shell_command")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ServiceProviderConfig>,
    #[serde(
        default,
        deserialize_with = "collections::mapping_with_equals",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: MappingWithEquals,
    #[serde(
        default,
        deserialize_with = "env_files",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env_file: Vec<EnvFile>,
    #[serde(
        default,
        deserialize_with = "collections::string_or_number_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<ExtendsConfig>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_links: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::hosts_list",
        serialize_with = "collections::ser_hosts_list",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra_hosts: HostsList,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_add: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gpus: Vec<DeviceRequest>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheckConfig>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub image: String,
    #[serde(
        default,
        deserialize_with = "de::opt_boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub init: Option<bool>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipc: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub isolation: String,
    #[serde(
        default,
        deserialize_with = "collections::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub label_file: Vec<String>,
    /// Labels added by the tooling (never serialized).
    #[serde(skip)]
    pub custom_labels: Labels,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub log_driver: String,
    #[serde(
        default,
        deserialize_with = "de::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub log_opt: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_limit: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_reservation: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub memswap_limit: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_swappiness: UnitBytes,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub mac_address: String,
    #[serde(
        default,
        deserialize_with = "de::opt_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub models: BTreeMap<String, Option<ServiceModelConfig>>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub net: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub network_mode: String,
    /// Attached networks; `None` means "attached with defaults" (`null`).
    #[serde(
        default,
        deserialize_with = "de::opt_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub networks: BTreeMap<String, Option<ServiceNetworkConfig>>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub oom_kill_disable: bool,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub oom_score_adj: i64,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub pid: String,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub pids_limit: i64,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub platform: String,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ServicePortConfig>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub pull_policy: String,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub restart: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime: String,
    #[serde(
        default,
        deserialize_with = "de::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub scale: Option<i64>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub shm_size: UnitBytes,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    #[serde(
        default,
        deserialize_with = "de::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub storage_opt: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "collections::mapping",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctls: Mapping,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tmpfs: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub tty: bool,
    #[serde(
        default,
        deserialize_with = "de::opt_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ulimits: BTreeMap<String, Option<UlimitsConfig>>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub use_api_socket: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub userns_mode: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub uts: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub volume_driver: String,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<ServiceVolumeConfig>,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes_from: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub post_start: Vec<ServiceHook>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pre_stop: Vec<ServiceHook>,
    #[serde(
        flatten,
        skip_serializing,
        deserialize_with = "extensions::service_extensions"
    )]
    pub extensions: Extensions,
}

/// An external provider that manages the service (`types.ServiceProviderConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceProviderConfig {
    #[serde(
        rename = "type",
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub kind: String,
    #[serde(
        default,
        deserialize_with = "collections::multi_options",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: MultiOptions,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// `depends_on`: dependency name -> condition (`types.DependsOnConfig`).
pub type DependsOnConfig = BTreeMap<String, ServiceDependency>;

/// One `depends_on` entry (`types.ServiceDependency`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceDependency {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub condition: String,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub restart: bool,
    /// Always serialized (no `omitempty` in compose-go).
    #[serde(default, deserialize_with = "de::boolean")]
    pub required: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// `extends` (`types.ExtendsConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtendsConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub file: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub service: String,
    /// Accepted and kept, though compose-go drops them.
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// One `env_file` entry (`types.EnvFile`). Serialized as the bare path when
/// `required`, else as `{path, required, format}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EnvFile {
    #[serde(default, deserialize_with = "de::string")]
    pub path: String,
    #[serde(default, deserialize_with = "de::boolean")]
    pub required: bool,
    #[serde(default, deserialize_with = "de::string")]
    pub format: String,
    /// Accepted and kept, though compose-go drops them.
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl Serialize for EnvFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.required {
            return s.serialize_str(&self.path);
        }
        let mut m = s.serialize_map(None)?;
        if !self.path.is_empty() {
            m.serialize_entry("path", &self.path)?;
        }
        m.serialize_entry("required", &self.required)?;
        if !self.format.is_empty() {
            m.serialize_entry("format", &self.format)?;
        }
        m.end()
    }
}

/// `env_file` items: the canonical mapping, or the bare path printed for a
/// required file.
fn env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    let items: Option<Vec<Value>> = Option::deserialize(d)?;
    items
        .unwrap_or_default()
        .into_iter()
        .map(|item| match item {
            Value::String(path) => Ok(EnvFile {
                path,
                required: true,
                ..EnvFile::default()
            }),
            Value::Null => Ok(EnvFile::default()),
            other => EnvFile::deserialize(other).map_err(D::Error::custom),
        })
        .collect()
}

/// A device mapping (`types.DeviceMapping`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceMapping {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub permissions: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Block IO settings (`types.BlkioConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioConfig {
    #[serde(
        default,
        deserialize_with = "de::uint16",
        skip_serializing_if = "is_zero_u16"
    )]
    pub weight: u16,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub weight_device: Vec<WeightDevice>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_write_iops: Vec<ThrottleDevice>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A device weight (`types.WeightDevice`); compose-go prints its keys
/// capitalised (`Path`, `Weight`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightDevice {
    #[serde(
        rename = "Path",
        alias = "path",
        default,
        deserialize_with = "de::string"
    )]
    pub path: String,
    #[serde(
        rename = "Weight",
        alias = "weight",
        default,
        deserialize_with = "de::uint16"
    )]
    pub weight: u16,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A device rate limit (`types.ThrottleDevice`); compose-go prints its keys
/// capitalised (`Path`, `Rate`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    #[serde(
        rename = "Path",
        alias = "path",
        default,
        deserialize_with = "de::string"
    )]
    pub path: String,
    #[serde(rename = "Rate", alias = "rate", default)]
    pub rate: UnitBytes,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Logging driver settings (`types.LoggingConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggingConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "collections::options",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: Options,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Windows credential spec (`types.CredentialSpecConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialSpecConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub config: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub file: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub registry: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Health check (`types.HealthCheckConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    /// `["CMD", ...]`, `["CMD-SHELL", cmd]` or `["NONE"]`; a string `s`
    /// decodes as `["CMD-SHELL", s]`.
    #[serde(
        default,
        deserialize_with = "collections::healthcheck_test",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "de::opt_uint64",
        skip_serializing_if = "Option::is_none"
    )]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub disable: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// `develop` section (`types.DevelopConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevelopConfig {
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub watch: Vec<Trigger>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// One `develop.watch` rule (`types.Trigger`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Always serialized.
    #[serde(default, deserialize_with = "de::string")]
    pub path: String,
    /// `sync`, `rebuild`, `restart`, `sync+restart` or `sync+exec`; always serialized.
    #[serde(default, deserialize_with = "de::string")]
    pub action: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    /// Always serialized (a struct in compose-go), so `{"command": null}` at least.
    #[serde(default, deserialize_with = "nullable_hook")]
    pub exec: ServiceHook,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub include: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ignore: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub initial_sync: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

fn nullable_hook<'de, D: Deserializer<'de>>(d: D) -> Result<ServiceHook, D::Error> {
    Ok(Option::<ServiceHook>::deserialize(d)?.unwrap_or_default())
}

/// A lifecycle hook command (`types.ServiceHook`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceHook {
    /// Always serialized (`null` when unset).
    #[serde(default, deserialize_with = "collections::shell_command")]
    pub command: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    #[serde(
        default,
        deserialize_with = "collections::mapping_with_equals",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: MappingWithEquals,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A service's attachment to a network (`types.ServiceNetworkConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetworkConfig {
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aliases: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::options",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Options,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub gw_priority: i64,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub interface_name: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub link_local_ips: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub mac_address: String,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub priority: i64,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A service's use of a top-level model (`types.ServiceModelConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceModelConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub endpoint_var: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub model_var: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A published port, long syntax (`types.ServicePortConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePortConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub mode: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub host_ip: String,
    #[serde(
        default,
        deserialize_with = "de::uint32",
        skip_serializing_if = "is_zero_u32"
    )]
    pub target: u32,
    /// Host port or range, as a string (`"8080"`, `"8000-8010"`).
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub published: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub protocol: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub app_protocol: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A mount, long syntax (`types.ServiceVolumeConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeConfig {
    /// `bind`, `volume`, `tmpfs`, `npipe`, `cluster` or `image`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub kind: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Bind mount options (`types.ServiceVolumeBind`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeBind {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub selinux: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub propagation: String,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub create_host_path: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub recursive: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Volume mount options (`types.ServiceVolumeVolume`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeVolume {
    #[serde(
        default,
        deserialize_with = "collections::mapping",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Mapping,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub nocopy: bool,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub subpath: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// tmpfs mount options (`types.ServiceVolumeTmpfs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeTmpfs {
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub size: UnitBytes,
    #[serde(
        default,
        deserialize_with = "de::uint32",
        skip_serializing_if = "is_zero_u32"
    )]
    pub mode: u32,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Image mount options (`types.ServiceVolumeImage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeImage {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub subpath: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A secret or config granted to a service (`types.FileReferenceConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReferenceConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub source: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub uid: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A config granted to a service (`types.ServiceConfigObjConfig`).
pub type ServiceConfigObjConfig = FileReferenceConfig;

/// A secret granted to a service (`types.ServiceSecretConfig`).
pub type ServiceSecretConfig = FileReferenceConfig;

/// A ulimit (`types.UlimitsConfig`): either a single value or soft/hard.
/// Serialized as a bare number when `single` is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UlimitsConfig {
    pub single: i64,
    pub soft: i64,
    pub hard: i64,
    pub extensions: Extensions,
}

impl Serialize for UlimitsConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.single != 0 {
            return s.serialize_i64(self.single);
        }
        let mut m = s.serialize_map(None)?;
        if self.soft != 0 {
            m.serialize_entry("soft", &self.soft)?;
        }
        if self.hard != 0 {
            m.serialize_entry("hard", &self.hard)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for UlimitsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let as_int = |v: &Value, what: &str| -> Result<i64, D::Error> {
            v.as_i64().ok_or_else(|| {
                D::Error::custom(format!(
                    "unexpected value type {} for ulimit {what}",
                    kind(v)
                ))
            })
        };
        match Value::deserialize(d)? {
            Value::Null => Ok(UlimitsConfig::default()),
            Value::Number(n) => Ok(UlimitsConfig {
                single: as_int(&Value::Number(n), "value")?,
                ..UlimitsConfig::default()
            }),
            Value::Object(m) => {
                let mut out = UlimitsConfig::default();
                for (k, v) in m {
                    match k.as_str() {
                        "soft" => out.soft = as_int(&v, "soft")?,
                        "hard" => out.hard = as_int(&v, "hard")?,
                        _ if k.starts_with("x-") => {
                            out.extensions.0.insert(k, v);
                        }
                        _ => return Err(D::Error::custom(format!("unknown field `{k}`"))),
                    }
                }
                Ok(out)
            }
            other => Err(D::Error::custom(format!(
                "unexpected value type {} for ulimit",
                kind(&other)
            ))),
        }
    }
}
