//! Service `build` section.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::collections::{self, HostsList, Labels, Mapping, MappingWithEquals};
use super::de;
use super::extensions::Extensions;
use super::omit::is_false;
use super::scalar::{UnitBytes, go_sprint, kind};
use super::service::{ServiceSecretConfig, UlimitsConfig};

/// How to build the service image (`types.BuildConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub context: String,
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
    pub dockerfile_inline: String,
    #[serde(
        default,
        deserialize_with = "de::string_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entitlements: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::mapping_with_equals",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub args: MappingWithEquals,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub provenance: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub sbom: String,
    #[serde(
        default,
        deserialize_with = "ssh_config",
        serialize_with = "ser_ssh_config",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ssh: SshConfig,
    #[serde(
        default,
        deserialize_with = "collections::labels",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cache_from: Vec<String>,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cache_to: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub no_cache: bool,
    #[serde(
        default,
        deserialize_with = "collections::mapping",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub additional_contexts: Mapping,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub pull: bool,
    #[serde(
        default,
        deserialize_with = "collections::hosts_list",
        serialize_with = "collections::ser_hosts_list",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra_hosts: HostsList,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub isolation: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub network: String,
    #[serde(
        default,
        deserialize_with = "de::string",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    #[serde(
        default,
        deserialize_with = "de::nullable_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub shm_size: UnitBytes,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::opt_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ulimits: BTreeMap<String, Option<UlimitsConfig>>,
    #[serde(
        default,
        deserialize_with = "collections::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub platforms: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de::boolean",
        skip_serializing_if = "is_false"
    )]
    pub privileged: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// One SSH agent socket or key forwarded to the build (`types.SSHKey`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshKey {
    pub id: String,
    pub path: String,
}

/// SSH agents/keys for the build (`types.SSHConfig`).
pub type SshConfig = Vec<SshKey>;

/// Decodes `build.ssh`: the canonical `{id: path}` mapping, or the list
/// form (`default`, `id=path`) as printed in JSON.
fn ssh_config<'de, D: Deserializer<'de>>(d: D) -> Result<SshConfig, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(SshConfig::new()),
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(id, path)| SshKey {
                id,
                path: if path.is_null() {
                    String::new()
                } else {
                    go_sprint(&path)
                },
            })
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(match s.split_once('=') {
                    Some((id, path)) => SshKey {
                        id: id.to_owned(),
                        path: path.to_owned(),
                    },
                    None => SshKey {
                        id: s,
                        path: String::new(),
                    },
                }),
                other => Err(D::Error::custom(format!(
                    "invalid ssh key type {}",
                    kind(&other)
                ))),
            })
            .collect(),
        other => Err(D::Error::custom(format!(
            "invalid ssh config type {}",
            kind(&other)
        ))),
    }
}

/// Encodes `build.ssh` as a list: the bare id when there is no path, else
/// `id=path`. (compose-go emits `"id": path` here, which is not valid JSON
/// and makes `config --format json` fail; `id=path` is the parseable form.)
fn ser_ssh_config<S: Serializer>(keys: &SshConfig, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(keys.iter().map(|k| {
        if k.path.is_empty() {
            k.id.clone()
        } else {
            format!("{}={}", k.id, k.path)
        }
    }))
}
