//! Top-level resources: networks, volumes, secrets, configs and models.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::collections::{self, Labels, Mapping, Options};
use super::de;
use super::deploy::nullable;
use super::extensions::{self, Extensions};
use super::omit::{is_false, is_zero_i64};

/// A top-level network (`types.NetworkConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
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
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "collections::options",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Options,
    /// Always serialized (a struct in compose-go), `{}` when empty.
    #[serde(default, deserialize_with = "nullable")]
    pub ipam: IpamConfig,
    /// Whether the network is managed outside the project.
    #[serde(
        default,
        deserialize_with = "de::external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub internal: bool,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub attachable: bool,
    #[serde(
        default,
        deserialize_with = "collections::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    /// Labels added by the tooling (never serialized).
    #[serde(skip)]
    pub custom_labels: Labels,
    #[serde(
        default,
        deserialize_with = "de::opt_boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ipv4: Option<bool>,
    #[serde(
        default,
        deserialize_with = "de::opt_boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ipv6: Option<bool>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// IP address management of a network (`types.IPAMConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub config: Vec<IpamPool>,
    #[serde(
        flatten,
        skip_serializing,
        deserialize_with = "extensions::ipam_extensions"
    )]
    pub extensions: Extensions,
}

/// One IPAM pool (`types.IPAMPool`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamPool {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    #[serde(
        rename = "aux_addresses",
        default,
        deserialize_with = "collections::mapping",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: Mapping,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A top-level volume (`types.VolumeConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeConfig {
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
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "collections::options",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Options,
    /// Whether the volume is managed outside the project.
    #[serde(
        default,
        deserialize_with = "de::external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "collections::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    /// Labels added by the tooling (never serialized).
    #[serde(skip)]
    pub custom_labels: Labels,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A top-level secret or config (`types.FileObjectConfig`).
///
/// When serialized inside a [`super::Project`], a secret never shows its
/// `content`, and a config hides `content` when it came from `environment`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileObjectConfig {
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
    pub file: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub environment: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub content: String,
    /// Whether the object is managed outside the project.
    #[serde(
        default,
        deserialize_with = "de::external",
        skip_serializing_if = "is_false"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "collections::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "de::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub template_driver: String,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A top-level secret (`types.SecretConfig`).
pub type SecretConfig = FileObjectConfig;

/// A top-level config (`types.ConfigObjConfig`).
pub type ConfigObjConfig = FileObjectConfig;

/// A top-level AI model (`types.ModelConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
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
    pub model: String,
    #[serde(
        default,
        deserialize_with = "de::int",
        skip_serializing_if = "is_zero_i64"
    )]
    pub context_size: i64,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub runtime_flags: Vec<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}
