//! Named volumes -> PersistentVolumeClaims; configs and secrets -> ConfigMaps and Secrets.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PersistentVolumeClaimSpec, Secret, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_model::compose::FileObjectConfig;

use super::{Context, Object, SecretValues};
use crate::names;
use crate::report::NoteKind;

/// Where a Compose config or secret lives in the cluster.
#[derive(Debug, Clone)]
pub(crate) struct Mounted {
    /// The ConfigMap's or Secret's name.
    pub(crate) object: String,
    /// The key holding the content.
    pub(crate) key: String,
    /// A hash of the content carried (zero when it is not carried).
    pub(crate) hash: u64,
}

/// One claim per named volume; records which services mount which volume.
pub(super) fn volumes(cx: &mut Context<'_>) {
    let project = cx.stack.project;
    for (service, config) in &project.services {
        for v in &config.volumes {
            if v.kind == "volume" && project.volumes.contains_key(&v.source) {
                cx.volume_users
                    .entry(v.source.clone())
                    .or_default()
                    .push(service.clone());
            }
        }
    }
    for (key, volume) in &project.volumes {
        let path = format!("volumes.{key}");
        if volume.external {
            let external = if volume.name.is_empty() {
                key
            } else {
                &volume.name
            };
            let claim = names::dns_label(external);
            cx.note(
                NoteKind::ActionNeeded,
                &path,
                format!(
                    "external volume: the pods mount the claim {claim:?}, which is not exported"
                ),
                format!(
                    "create the PersistentVolumeClaim {claim:?} in the namespace before applying"
                ),
            );
            cx.claims.insert(key.clone(), claim);
            continue;
        }
        let users = cx.volume_users.get(key).cloned().unwrap_or_default();
        let replicated = users.iter().any(|s| {
            project
                .services
                .get(s)
                .is_some_and(|c| super::workload::replicas(c) > 1)
        });
        let shared = users.len() > 1 || replicated;
        let name = cx.unique("PersistentVolumeClaim", &names::dns_label(key));
        let mut requests = BTreeMap::new();
        requests.insert(
            "storage".to_owned(),
            Quantity(cx.options.volume_size.clone()),
        );
        let claim = PersistentVolumeClaim {
            metadata: cx.meta(&name, &[]),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec![
                    if shared {
                        "ReadWriteMany"
                    } else {
                        "ReadWriteOnce"
                    }
                    .to_owned(),
                ]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(requests),
                    ..VolumeResourceRequirements::default()
                }),
                storage_class_name: cx.options.storage_class.clone(),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        };
        cx.push(Object::PersistentVolumeClaim(claim));
        cx.claims.insert(key.clone(), name.clone());
        cx.note(
            NoteKind::ActionNeeded,
            &path,
            format!(
                "claim {name:?} requests {}, a size Compose does not declare; it starts empty \
                 (Docker copies an image's files into a new volume, Kubernetes does not)",
                cx.options.volume_size
            ),
            "set the size the data needs, and copy existing data in (kubectl cp, or restore a \
             backup)",
        );
        if shared {
            let why = if users.len() > 1 {
                format!("mounted by {}", users.join(", "))
            } else {
                "mounted by a replicated service".to_owned()
            };
            cx.note(
                NoteKind::ActionNeeded,
                &path,
                format!("{why}: the claim asks for ReadWriteMany access"),
                "use a StorageClass that offers ReadWriteMany (NFS, CephFS, a cloud file store), \
                 or give each service its own volume",
            );
        }
        if !volume.driver.is_empty() || !volume.driver_opts.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.driver"),
                format!(
                    "volume driver {:?} and its options have no meaning in Kubernetes",
                    if volume.driver.is_empty() {
                        "local"
                    } else {
                        &volume.driver
                    }
                ),
                "choose a StorageClass that provides the same storage (ExportOptions.storage_class)",
            );
        }
    }
}

/// ConfigMaps for `configs`, Secrets for `secrets` and `x-skiff.secrets`.
pub(super) fn files(cx: &mut Context<'_>) {
    let project = cx.stack.project;
    for (key, config) in &project.configs {
        let path = format!("configs.{key}");
        if let Some(mounted) = external(cx, "ConfigMap", &path, key, config) {
            cx.configs.insert(key.clone(), mounted);
            continue;
        }
        let name = cx.unique("ConfigMap", &names::dns_label(key));
        let data_key = names::data_key(key);
        let content = content(cx, &path, config).unwrap_or_default();
        let hash = names::fnv1a(content.iter().copied(), names::FNV_OFFSET);
        let (data, binary) = match String::from_utf8(content) {
            Ok(text) => (Some(BTreeMap::from([(data_key.clone(), text)])), None),
            Err(e) => (
                None,
                Some(BTreeMap::from([(
                    data_key.clone(),
                    ByteString(e.into_bytes()),
                )])),
            ),
        };
        cx.push(Object::ConfigMap(ConfigMap {
            metadata: cx.meta(&name, &[]),
            data,
            binary_data: binary,
            ..ConfigMap::default()
        }));
        cx.configs.insert(
            key.clone(),
            Mounted {
                object: name,
                key: data_key,
                hash,
            },
        );
    }

    for (key, secret) in &project.secrets {
        let path = format!("secrets.{key}");
        if let Some(mounted) = external(cx, "Secret", &path, key, secret) {
            cx.secrets.insert(key.clone(), mounted);
            continue;
        }
        let name = cx.unique("Secret", &names::dns_label(key));
        let data_key = names::data_key(key);
        let value = match cx.options.secret_values {
            SecretValues::Include => content(cx, &path, secret),
            SecretValues::Omit => {
                cx.note(
                    NoteKind::ActionNeeded,
                    &path,
                    format!("Secret {name:?} carries the key {data_key:?} with an empty value"),
                    format!(
                        "fill it in the cluster: kubectl create secret generic {name} \
                         --from-file={data_key}=FILE --dry-run=client -o yaml | kubectl apply -f - \
                         (or export with secret values included)"
                    ),
                );
                None
            }
        };
        let hash = value
            .as_ref()
            .map_or(0, |v| names::fnv1a(v.iter().copied(), names::FNV_OFFSET));
        cx.push(Object::Secret(secret_object(
            cx,
            &name,
            BTreeMap::from([(data_key.clone(), value.unwrap_or_default())]),
        )));
        cx.secrets.insert(
            key.clone(),
            Mounted {
                object: name,
                key: data_key,
                hash,
            },
        );
    }

    for key in cx.stack.skiff.secrets.keys() {
        let path = format!("x-skiff.secrets.{key}");
        let name = cx.unique("Secret", &names::dns_label(key));
        let data_key = names::data_key(key);
        cx.push(Object::Secret(secret_object(
            cx,
            &name,
            BTreeMap::from([(data_key.clone(), Vec::new())]),
        )));
        cx.note(
            NoteKind::ActionNeeded,
            &path,
            format!(
                "the value is encrypted with age; Secret {name:?} carries the key {data_key:?} \
                 with an empty value"
            ),
            format!(
                "decrypt it and fill the Secret: age -d -i KEY FILE | kubectl create secret generic \
                 {name} --from-file={data_key}=/dev/stdin --dry-run=client -o yaml | kubectl apply -f -; \
                 or manage it with sealed-secrets or external-secrets"
            ),
        );
    }
}

/// A Secret with string values where they are text (readable, and what `kubectl create
/// secret` accepts back), binary data otherwise.
pub(crate) fn secret_object(
    cx: &Context<'_>,
    name: &str,
    values: BTreeMap<String, Vec<u8>>,
) -> Secret {
    let mut text = BTreeMap::new();
    let mut binary = BTreeMap::new();
    for (k, v) in values {
        match String::from_utf8(v) {
            Ok(s) => {
                text.insert(k, s);
            }
            Err(e) => {
                binary.insert(k, ByteString(e.into_bytes()));
            }
        }
    }
    Secret {
        metadata: cx.meta(name, &[]),
        type_: Some("Opaque".to_owned()),
        string_data: (!text.is_empty()).then_some(text),
        data: (!binary.is_empty()).then_some(binary),
        ..Secret::default()
    }
}

/// An external config or secret: not exported, referenced by its name.
fn external(
    cx: &mut Context<'_>,
    kind: &'static str,
    path: &str,
    key: &str,
    object: &FileObjectConfig,
) -> Option<Mounted> {
    if !object.external {
        return None;
    }
    let name = names::dns_label(if object.name.is_empty() {
        key
    } else {
        &object.name
    });
    cx.note(
        NoteKind::ActionNeeded,
        path,
        format!("external: the pods mount the {kind} {name:?}, which is not exported"),
        format!("create the {kind} {name:?} in the namespace, with the key {key:?}"),
    );
    Some(Mounted {
        object: name,
        key: names::data_key(key),
        hash: 0,
    })
}

/// The content of a config or secret: inline, from the environment (the loader resolved it
/// into `content`), or from a file the caller passed in.
fn content(cx: &mut Context<'_>, path: &str, object: &FileObjectConfig) -> Option<Vec<u8>> {
    if !object.content.is_empty() {
        return Some(object.content.clone().into_bytes());
    }
    if !object.file.is_empty() {
        if let Some(bytes) = cx.options.files.get(&object.file) {
            return Some(bytes.clone());
        }
        cx.note(
            NoteKind::ActionNeeded,
            path,
            format!(
                "the contents of {:?} were not passed to the export: the value is empty",
                object.file
            ),
            "pass the file's contents (ExportOptions.files, see wanted_files) or fill the value \
             in the cluster",
        );
        return None;
    }
    if !object.environment.is_empty() {
        cx.note(
            NoteKind::ActionNeeded,
            path,
            format!(
                "the variable {:?} was not set when the stack was loaded: the value is empty",
                object.environment
            ),
            "set the variable and export again, or fill the value in the cluster",
        );
    }
    None
}
