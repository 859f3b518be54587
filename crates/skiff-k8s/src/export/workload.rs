//! A service -> its pod template and its workload (Deployment, StatefulSet or DaemonSet).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec, DeploymentStrategy,
    RollingUpdateDeployment, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::AppArmorProfile;
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvFromSource, EnvVar, ExecAction, HostAlias, KeyToPath, Lifecycle,
    LifecycleHandler, PersistentVolumeClaimVolumeSource, PodDNSConfig, PodDNSConfigOption,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretEnvSource, SecretVolumeSource, SecurityContext, Sysctl, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use skiff_model::compose::{HealthCheckConfig, ServiceConfig, ServiceHook};
use skiff_model::xskiff::Strategy;

use super::{Context, Object, SecretValues, config, labels, network, quantity};
use crate::names;
use crate::report::NoteKind;

/// Replicas a service asks for (`deploy.replicas`, else `scale`, else one).
pub(crate) fn replicas(service: &ServiceConfig) -> i64 {
    service
        .deploy
        .as_ref()
        .and_then(|d| d.replicas)
        .or(service.scale)
        .unwrap_or(1)
}

/// The image a service runs: its `image`, or the name Compose gives a built image.
pub(crate) fn image(project: &str, service: &str, config: &ServiceConfig) -> String {
    if config.image.is_empty() {
        format!("{project}-{service}")
    } else {
        config.image.clone()
    }
}

/// Exports one service: its pod template, workload and Service, and notes what does not map.
pub(super) fn service(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) {
    let path = format!("services.{name}");
    if cx.stack.is_process(name) {
        if svc.image.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.x-skiff.runtime"),
                "runs as a host process under skiff and has no image: nothing is exported for it",
                "build a container image for it and set `image`",
            );
            return;
        }
        cx.note(
            NoteKind::Approximated,
            format!("{path}.x-skiff.runtime"),
            format!(
                "runs as a host process under skiff; exported as a container of {:?}",
                svc.image
            ),
            "check that the image runs the same program as the process",
        );
    }
    if svc.build.is_some() {
        let image = image(&cx.stack.project.name, name, svc);
        let (message, suggestion) = if svc.image.is_empty() {
            (
                format!(
                    "built locally and has no `image`: the pods run {image:?}, the name Compose \
                     gives the built image"
                ),
                format!(
                    "push the image to a registry the cluster pulls from and set `image` (e.g. registry.example.com/{image}:TAG)"
                ),
            )
        } else {
            (
                format!("the image {image:?} is built locally"),
                format!(
                    "push {image:?} to a registry the cluster pulls from (docker compose build && docker compose push)"
                ),
            )
        };
        cx.note(
            NoteKind::ActionNeeded,
            format!("{path}.build"),
            message,
            suggestion,
        );
    }
    if let Some(deploy) = &svc.deploy
        && matches!(deploy.mode.as_str(), "replicated-job" | "global-job")
    {
        cx.note(
            NoteKind::NotCarried,
            format!("{path}.deploy.mode"),
            format!(
                "`{}` runs to completion; no workload is exported",
                deploy.mode
            ),
            "run it as a Kubernetes Job (kubectl create job), or declare it as an x-skiff job",
        );
        return;
    }

    let ports = network::ports(cx, name, svc);
    cx.ports.insert(name.to_owned(), ports);
    let template = pod_template(cx, name, svc);
    cx.pods.insert(name.to_owned(), template.clone());
    let has_service = network::service(cx, name, svc);
    workload(cx, name, svc, template, has_service);
    super::unsupported::service(cx, name, svc);
}

fn workload(
    cx: &mut Context<'_>,
    name: &str,
    svc: &ServiceConfig,
    template: PodTemplateSpec,
    has_service: bool,
) {
    let path = format!("services.{name}");
    let k8s = cx.name(name);
    let mut metadata = cx.meta(&k8s, &[(labels::NAME, &k8s)]);
    let selector = LabelSelector {
        match_labels: Some(cx.selector(name)),
        ..LabelSelector::default()
    };
    let replicas = i32::try_from(replicas(svc).max(0)).unwrap_or(i32::MAX);
    let deploy = svc.deploy.clone().unwrap_or_default();
    let annotations = valid_annotations(cx, &format!("{path}.deploy.labels"), &deploy.labels);
    if !annotations.is_empty() {
        metadata.annotations = Some(annotations);
    }
    let releases = cx.stack.skiff.releases.as_ref();
    let history = releases.map(|r| i32::try_from(r.keep).unwrap_or(i32::MAX));

    if deploy.mode == "global" {
        cx.push(Object::DaemonSet(DaemonSet {
            metadata,
            spec: Some(DaemonSetSpec {
                selector,
                template,
                revision_history_limit: history,
                ..DaemonSetSpec::default()
            }),
            ..DaemonSet::default()
        }));
        return;
    }

    let stateful = svc.volumes.iter().any(|v| {
        v.kind == "volume" && !v.read_only && cx.stack.project.volumes.contains_key(&v.source)
    });
    let update = deploy.update_config.clone().unwrap_or_default();
    if stateful {
        if update.order == "start-first" {
            cx.note(
                NoteKind::Approximated,
                format!("{path}.deploy.update_config.order"),
                "start-first: a StatefulSet replaces its pods one at a time, stopping the old \
                 pod first (two pods cannot safely share its volume)",
                "keep stop-first, or move the state out of the service to make it a Deployment",
            );
        }
        cx.push(Object::StatefulSet(StatefulSet {
            metadata,
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                selector,
                service_name: has_service.then(|| k8s.clone()),
                template,
                revision_history_limit: history,
                ..StatefulSetSpec::default()
            }),
            ..StatefulSet::default()
        }));
        return;
    }

    let start_first = match update.order.as_str() {
        "stop-first" => false,
        "start-first" => true,
        _ => releases.is_none_or(|r| r.strategy == Strategy::StartFirst),
    };
    let step = IntOrString::Int(
        update
            .parallelism
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p > 0)
            .unwrap_or(1),
    );
    let rolling = if start_first {
        RollingUpdateDeployment {
            max_surge: Some(step),
            max_unavailable: Some(IntOrString::Int(0)),
        }
    } else {
        RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(0)),
            max_unavailable: Some(step),
        }
    };
    let deadline = releases
        .and_then(|r| r.health_timeout)
        .map(|t| i32::try_from(t.0.as_secs().max(1)).unwrap_or(i32::MAX));
    cx.push(Object::Deployment(Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector,
            template,
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(rolling),
            }),
            revision_history_limit: history,
            progress_deadline_seconds: deadline,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }));
}

/// The pod a service runs, with its ConfigMap and Secret for the environment.
pub(crate) fn pod_template(
    cx: &mut Context<'_>,
    name: &str,
    svc: &ServiceConfig,
) -> PodTemplateSpec {
    let path = format!("services.{name}");
    let k8s = cx.name(name);
    let mut hash = names::FNV_OFFSET;

    let (env_from, env) = environment(cx, name, svc, &mut hash);
    let (volumes, mounts) = storage(cx, name, svc, &mut hash);
    let (readiness, liveness, startup) = probes(cx, &path, svc);
    let ports: Vec<ContainerPort> = cx
        .ports
        .get(name)
        .map(|ports| {
            ports
                .iter()
                .map(|p| ContainerPort {
                    container_port: i32::try_from(p.port).unwrap_or(0),
                    protocol: Some(p.protocol.clone()),
                    name: Some(p.name.clone()),
                    ..ContainerPort::default()
                })
                .collect()
        })
        .unwrap_or_default();

    let container = Container {
        name: k8s.clone(),
        image: Some(image(&cx.stack.project.name, name, svc)),
        image_pull_policy: pull_policy(cx, &path, &svc.pull_policy),
        command: command(cx, &format!("{path}.entrypoint"), svc.entrypoint.as_ref()),
        args: command(cx, &format!("{path}.command"), svc.command.as_ref()),
        env: (!env.is_empty()).then_some(env),
        env_from: (!env_from.is_empty()).then_some(env_from),
        ports: (!ports.is_empty()).then_some(ports),
        readiness_probe: readiness,
        liveness_probe: liveness,
        startup_probe: startup,
        resources: resources(cx, &path, svc),
        security_context: security(cx, &path, svc),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        working_dir: (!svc.working_dir.is_empty()).then(|| svc.working_dir.clone()),
        tty: svc.tty.then_some(true),
        stdin: svc.stdin_open.then_some(true),
        lifecycle: lifecycle(cx, &path, svc),
        ..Container::default()
    };

    let mut annotations = valid_annotations(cx, &format!("{path}.labels"), &svc.labels);
    annotations.extend(valid_annotations(
        cx,
        &format!("{path}.annotations"),
        &svc.annotations,
    ));
    if hash != names::FNV_OFFSET {
        annotations.insert(labels::CONFIG_HASH.to_owned(), format!("{hash:016x}"));
    }
    let mut pod_labels = cx.selector(name);
    pod_labels.insert(labels::MANAGED_BY.to_owned(), "skiff".to_owned());
    pod_labels.insert(labels::SERVICE.to_owned(), k8s.clone());

    let spec = PodSpec {
        containers: vec![container],
        volumes: (!volumes.is_empty()).then_some(volumes),
        enable_service_links: Some(false),
        security_context: pod_security(cx, &path, svc),
        host_aliases: host_aliases(cx, &path, svc),
        hostname: hostname(cx, &path, svc),
        dns_config: dns_config(svc),
        termination_grace_period_seconds: svc.stop_grace_period.map(|d| quantity::seconds(d, 0)),
        share_process_namespace: init(cx, &path, svc),
        node_selector: node_selector(cx, &path, svc),
        ..PodSpec::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}

/// Compose `entrypoint`/`command` -> Kubernetes `command`/`args`.
fn command(cx: &mut Context<'_>, path: &str, value: Option<&Vec<String>>) -> Option<Vec<String>> {
    match value {
        None => None,
        Some(v) if v.is_empty() => {
            cx.note(
                NoteKind::NotCarried,
                path,
                "an empty list clears the image's default; in Kubernetes an empty list keeps it",
                "set the command explicitly",
            );
            None
        }
        Some(v) => Some(v.clone()),
    }
}

fn pull_policy(cx: &mut Context<'_>, path: &str, policy: &str) -> Option<String> {
    let k8s = match policy {
        "" => return None,
        "always" => "Always",
        "never" => "Never",
        "missing" | "if_not_present" => "IfNotPresent",
        other => {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.pull_policy"),
                format!("pull_policy {other:?} has no Kubernetes equivalent"),
                "imagePullPolicy is Always, IfNotPresent or Never; pin image tags and let the \
                 deployment pipeline decide when to pull",
            );
            return None;
        }
    };
    Some(k8s.to_owned())
}

/// Variable names that hint at a secret value.
const SECRET_HINTS: [&str; 9] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "CREDENTIAL",
];

fn looks_secret(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    if SECRET_HINTS.iter().any(|h| upper.contains(h)) {
        return true;
    }
    // a URL with a password in it: scheme://user:password@host
    value
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The environment: plain variables in a ConfigMap `<svc>-env`, secret-looking ones in a Secret
/// `<svc>-env`, both read with `envFrom`; names a ConfigMap cannot hold stay inline.
fn environment(
    cx: &mut Context<'_>,
    name: &str,
    svc: &ServiceConfig,
    hash: &mut u64,
) -> (Vec<EnvFromSource>, Vec<EnvVar>) {
    let path = format!("services.{name}.environment");
    let mut plain = BTreeMap::new();
    let mut secret: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut inline = Vec::new();
    for (key, value) in &svc.environment {
        // An unset variable (`KEY` without a value) is not set in the container either.
        let Some(value) = value else { continue };
        if !names::is_data_key(key) {
            inline.push(EnvVar {
                name: key.clone(),
                value: Some(value.clone()),
                ..EnvVar::default()
            });
        } else if looks_secret(key, value) {
            let carried = match cx.options.secret_values {
                SecretValues::Include => value.clone().into_bytes(),
                SecretValues::Omit => Vec::new(),
            };
            secret.insert(key.clone(), carried);
        } else {
            plain.insert(key.clone(), value.clone());
        }
    }
    let base = names::suffixed(&cx.name(name), "env");
    let mut from = Vec::new();
    if !plain.is_empty() {
        for (k, v) in &plain {
            *hash = names::fnv1a(k.bytes().chain([0]).chain(v.bytes()).chain([0]), *hash);
        }
        let object = cx.unique("ConfigMap", &base);
        cx.push(Object::ConfigMap(ConfigMap {
            metadata: cx.meta(&object, &[]),
            data: Some(plain),
            ..ConfigMap::default()
        }));
        from.push(EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: object,
                optional: None,
            }),
            ..EnvFromSource::default()
        });
    }
    if !secret.is_empty() {
        for (k, v) in &secret {
            *hash = names::fnv1a(k.bytes().chain([0]).chain(v.iter().copied()), *hash);
        }
        let object = cx.unique("Secret", &base);
        let keys: Vec<String> = secret.keys().cloned().collect();
        if cx.options.secret_values == SecretValues::Omit {
            cx.note(
                NoteKind::ActionNeeded,
                &path,
                format!(
                    "{} look{} secret: Secret {object:?} carries {} with empty values",
                    keys.join(", "),
                    if keys.len() == 1 { "s" } else { "" },
                    if keys.len() == 1 { "it" } else { "them" },
                ),
                format!(
                    "fill them in the cluster (kubectl create secret generic {object} \
                     --from-literal=KEY=VALUE ... --dry-run=client -o yaml | kubectl apply -f -), \
                     or export with secret values included"
                ),
            );
        }
        cx.push(Object::Secret(config::secret_object(cx, &object, secret)));
        cx.env_secrets
            .insert(name.to_owned(), (object.clone(), keys));
        from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: object,
                optional: None,
            }),
            ..EnvFromSource::default()
        });
    }
    (from, inline)
}

/// Volumes and mounts: claims, tmpfs, `/dev/shm`, configs and secrets.
fn storage(
    cx: &mut Context<'_>,
    name: &str,
    svc: &ServiceConfig,
    hash: &mut u64,
) -> (Vec<Volume>, Vec<VolumeMount>) {
    let path = format!("services.{name}");
    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts = Vec::new();
    let add_volume = |volumes: &mut Vec<Volume>, volume: Volume| {
        if !volumes.iter().any(|v| v.name == volume.name) {
            volumes.push(volume);
        }
    };
    let mut anonymous = 0;
    let mut tmpfs = 0;
    for (i, v) in svc.volumes.iter().enumerate() {
        let vpath = format!("{path}.volumes[{i}]");
        let sub_path = v
            .volume
            .as_ref()
            .map(|o| o.subpath.clone())
            .filter(|s| !s.is_empty());
        match v.kind.as_str() {
            "volume" if v.source.is_empty() => {
                anonymous += 1;
                let volume_name = format!("anonymous-{anonymous}");
                add_volume(
                    &mut volumes,
                    Volume {
                        name: volume_name.clone(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    },
                );
                mounts.push(VolumeMount {
                    name: volume_name,
                    mount_path: v.target.clone(),
                    read_only: v.read_only.then_some(true),
                    ..VolumeMount::default()
                });
                cx.note(
                    NoteKind::Approximated,
                    &vpath,
                    format!(
                        "anonymous volume at {:?} becomes an emptyDir, lost when the pod is \
                         replaced",
                        v.target
                    ),
                    "declare a named volume if the data must outlive the pod",
                );
            }
            "volume" => {
                let Some(claim) = cx.claims.get(&v.source).cloned() else {
                    cx.note(
                        NoteKind::NotCarried,
                        &vpath,
                        format!("volume {:?} is not declared at the top level", v.source),
                        "declare it under `volumes`",
                    );
                    continue;
                };
                let volume_name = names::dns_label(&v.source);
                add_volume(
                    &mut volumes,
                    Volume {
                        name: volume_name.clone(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: claim,
                            read_only: None,
                        }),
                        ..Volume::default()
                    },
                );
                mounts.push(VolumeMount {
                    name: volume_name,
                    mount_path: v.target.clone(),
                    read_only: v.read_only.then_some(true),
                    sub_path,
                    ..VolumeMount::default()
                });
            }
            "tmpfs" => {
                tmpfs += 1;
                let volume_name = format!("tmpfs-{tmpfs}");
                let size = v.tmpfs.as_ref().and_then(|t| quantity::bytes(t.size.0));
                add_volume(
                    &mut volumes,
                    Volume {
                        name: volume_name.clone(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            medium: Some("Memory".to_owned()),
                            size_limit: size,
                        }),
                        ..Volume::default()
                    },
                );
                mounts.push(VolumeMount {
                    name: volume_name,
                    mount_path: v.target.clone(),
                    ..VolumeMount::default()
                });
            }
            "bind" => {
                let (message, suggestion) = bind_advice(&v.source, &v.target);
                cx.note(NoteKind::NotCarried, &vpath, message, suggestion);
            }
            other => {
                cx.note(
                    NoteKind::NotCarried,
                    &vpath,
                    format!(
                        "{other} mount at {:?} has no Kubernetes equivalent here",
                        v.target
                    ),
                    if other == "image" {
                        "an image volume (beta in 1.33, behind the ImageVolume feature gate), or \
                         copy the files in an initContainer"
                    } else {
                        "use a PersistentVolumeClaim"
                    },
                );
            }
        }
    }
    for entry in &svc.tmpfs {
        tmpfs += 1;
        let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
        let size = options
            .split(',')
            .find_map(|o| o.strip_prefix("size="))
            .and_then(quantity::parse_size)
            .and_then(quantity::bytes);
        let volume_name = format!("tmpfs-{tmpfs}");
        add_volume(
            &mut volumes,
            Volume {
                name: volume_name.clone(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: Some("Memory".to_owned()),
                    size_limit: size,
                }),
                ..Volume::default()
            },
        );
        mounts.push(VolumeMount {
            name: volume_name,
            mount_path: target.to_owned(),
            ..VolumeMount::default()
        });
    }
    if svc.shm_size.0 > 0 {
        add_volume(
            &mut volumes,
            Volume {
                name: "dshm".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: Some("Memory".to_owned()),
                    size_limit: quantity::bytes(svc.shm_size.0),
                }),
                ..Volume::default()
            },
        );
        mounts.push(VolumeMount {
            name: "dshm".to_owned(),
            mount_path: "/dev/shm".to_owned(),
            ..VolumeMount::default()
        });
    }

    for (i, r) in svc.configs.iter().enumerate() {
        let Some(m) = cx.configs.get(&r.source).cloned() else {
            continue;
        };
        *hash = names::fnv1a(m.hash.to_le_bytes(), *hash);
        let target = if r.target.is_empty() {
            format!("/{}", r.source)
        } else if r.target.starts_with('/') {
            r.target.clone()
        } else {
            format!("/{}", r.target)
        };
        file_mount(
            cx,
            &format!("{path}.configs[{i}]"),
            &mut volumes,
            &mut mounts,
            FileMount {
                volume: names::dns_label(&format!("config-{}", m.object)),
                object: m.object,
                key: m.key,
                target,
                mode: r.mode.map(|m| m.0),
                secret: false,
                owner: (!r.uid.is_empty() || !r.gid.is_empty())
                    .then(|| (r.uid.clone(), r.gid.clone())),
            },
        );
    }
    for (i, r) in svc.secrets.iter().enumerate() {
        let Some(m) = cx.secrets.get(&r.source).cloned() else {
            continue;
        };
        *hash = names::fnv1a(m.hash.to_le_bytes(), *hash);
        let target = if r.target.is_empty() {
            format!("/run/secrets/{}", r.source)
        } else if r.target.starts_with('/') {
            r.target.clone()
        } else {
            format!("/run/secrets/{}", r.target)
        };
        file_mount(
            cx,
            &format!("{path}.secrets[{i}]"),
            &mut volumes,
            &mut mounts,
            FileMount {
                volume: names::dns_label(&format!("secret-{}", m.object)),
                object: m.object,
                key: m.key,
                target,
                mode: r.mode.map(|m| m.0),
                secret: true,
                owner: (!r.uid.is_empty() || !r.gid.is_empty())
                    .then(|| (r.uid.clone(), r.gid.clone())),
            },
        );
    }
    (volumes, mounts)
}

struct FileMount {
    volume: String,
    object: String,
    key: String,
    target: String,
    mode: Option<i64>,
    secret: bool,
    owner: Option<(String, String)>,
}

/// Mounts one key of a ConfigMap or Secret as a single file at the Compose target.
fn file_mount(
    cx: &mut Context<'_>,
    path: &str,
    volumes: &mut Vec<Volume>,
    mounts: &mut Vec<VolumeMount>,
    m: FileMount,
) {
    let mode = m.mode.and_then(|x| i32::try_from(x).ok());
    let items = Some(vec![KeyToPath {
        key: m.key.clone(),
        path: m.key.clone(),
        mode,
    }]);
    if !volumes.iter().any(|v| v.name == m.volume) {
        volumes.push(if m.secret {
            Volume {
                name: m.volume.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(m.object.clone()),
                    items,
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            }
        } else {
            Volume {
                name: m.volume.clone(),
                config_map: Some(ConfigMapVolumeSource {
                    name: m.object.clone(),
                    items,
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }
        });
    }
    mounts.push(VolumeMount {
        name: m.volume,
        mount_path: m.target,
        sub_path: Some(m.key),
        read_only: Some(true),
        ..VolumeMount::default()
    });
    if let Some((uid, gid)) = m.owner {
        cx.note(
            NoteKind::NotCarried,
            path,
            format!("owner {uid}:{gid} of the mounted file: Kubernetes mounts it as root"),
            "set the pod's securityContext.fsGroup to the group, and make the file readable by it",
        );
    }
}

fn bind_advice(source: &str, target: &str) -> (String, String) {
    if source.ends_with("docker.sock") || target.ends_with("docker.sock") {
        return (
            format!("the Docker socket ({source}) is not mounted: a cluster has no Docker daemon"),
            "talk to the Kubernetes API with a ServiceAccount and RBAC instead".to_owned(),
        );
    }
    (
        format!("bind mount of the host path {source:?} at {target:?} is not mounted"),
        "files the image needs: a ConfigMap (or bake them into the image); data: a \
         PersistentVolumeClaim; a hostPath volume only if the pod is pinned to that node"
            .to_owned(),
    )
}

/// Docker's healthcheck defaults.
const DEFAULT_INTERVAL: i64 = 30;
const DEFAULT_TIMEOUT: i64 = 30;
const DEFAULT_RETRIES: u64 = 3;
const DEFAULT_START_INTERVAL: i64 = 5;

/// Readiness and liveness probes from the healthcheck, and a startup probe from its
/// `start_period`.
fn probes(
    cx: &mut Context<'_>,
    path: &str,
    svc: &ServiceConfig,
) -> (Option<Probe>, Option<Probe>, Option<Probe>) {
    let Some(hc) = &svc.healthcheck else {
        return (None, None, None);
    };
    let Some(exec) = healthcheck_exec(hc) else {
        return (None, None, None);
    };
    let period = hc
        .interval
        .map_or(DEFAULT_INTERVAL, |d| quantity::seconds(d, 1));
    let timeout = hc
        .timeout
        .map_or(DEFAULT_TIMEOUT, |d| quantity::seconds(d, 1));
    let retries = hc.retries.unwrap_or(DEFAULT_RETRIES).max(1);
    let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
    let probe = Probe {
        exec: Some(exec.clone()),
        period_seconds: Some(int(period)),
        timeout_seconds: Some(int(timeout)),
        failure_threshold: Some(i32::try_from(retries).unwrap_or(i32::MAX)),
        ..Probe::default()
    };
    let startup = hc.start_period.filter(|d| d.0 > 0).map(|start| {
        let every = hc
            .start_interval
            .map_or(DEFAULT_START_INTERVAL, |d| quantity::seconds(d, 1));
        let budget = (quantity::seconds(start, 1) + every - 1) / every;
        Probe {
            exec: Some(exec.clone()),
            period_seconds: Some(int(every)),
            timeout_seconds: Some(int(timeout)),
            failure_threshold: Some(int(
                budget.saturating_add(i64::try_from(retries).unwrap_or(0))
            )),
            ..Probe::default()
        }
    });
    cx.note(
        NoteKind::Approximated,
        format!("{path}.healthcheck"),
        "becomes readiness and liveness probes: Kubernetes restarts a container that stays \
         unhealthy, where Docker only marks it unhealthy",
        "remove the livenessProbe if a restart would not help (e.g. a database under load)",
    );
    (Some(probe.clone()), Some(probe), startup)
}

fn healthcheck_exec(hc: &HealthCheckConfig) -> Option<ExecAction> {
    if hc.disable {
        return None;
    }
    let (first, rest) = hc.test.split_first()?;
    let command = match first.as_str() {
        "CMD" => rest.to_vec(),
        "CMD-SHELL" => vec!["/bin/sh".to_owned(), "-c".to_owned(), rest.join(" ")],
        _ => return None,
    };
    (!command.is_empty()).then_some(ExecAction {
        command: Some(command),
    })
}

/// Requests from reservations (`deploy.resources.reservations`, `mem_reservation`) and limits
/// from limits (`deploy.resources.limits`, `cpus`, `mem_limit`).
fn resources(
    cx: &mut Context<'_>,
    path: &str,
    svc: &ServiceConfig,
) -> Option<ResourceRequirements> {
    let res = svc
        .deploy
        .as_ref()
        .map(|d| d.resources.clone())
        .unwrap_or_default();
    let limits = res.limits.unwrap_or_default();
    let reservations = res.reservations.unwrap_or_default();
    let mut limit = BTreeMap::new();
    let mut request = BTreeMap::new();
    let cpu_limit = if limits.cpus > 0.0 {
        limits.cpus
    } else {
        svc.cpus
    };
    let mem_limit = if limits.memory.0 > 0 {
        limits.memory.0
    } else {
        svc.mem_limit.0
    };
    let mem_request = if reservations.memory.0 > 0 {
        reservations.memory.0
    } else {
        svc.mem_reservation.0
    };
    if let Some(q) = quantity::cpus(cpu_limit) {
        limit.insert("cpu".to_owned(), q);
    }
    if let Some(q) = quantity::bytes(mem_limit) {
        limit.insert("memory".to_owned(), q);
    }
    if let Some(q) = quantity::cpus(reservations.cpus) {
        request.insert("cpu".to_owned(), q);
    }
    if let Some(q) = quantity::bytes(mem_request) {
        request.insert("memory".to_owned(), q);
    }
    for (what, r) in [("limits", &limits), ("reservations", &reservations)] {
        if r.pids > 0 {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.deploy.resources.{what}.pids"),
                format!(
                    "a limit of {} processes has no per-container equivalent",
                    r.pids
                ),
                "the kubelet's --pod-max-pids limits processes per pod, node-wide",
            );
        }
        if !r.devices.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.deploy.resources.{what}.devices"),
                "device reservations (GPUs) are not carried over",
                "install the vendor's device plugin and request its resource, e.g. \
                 limits: {nvidia.com/gpu: 1}",
            );
        }
        if !r.generic_resources.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.deploy.resources.{what}.generic_resources"),
                "generic resources are not carried over",
                "advertise them as extended resources on the nodes and request them",
            );
        }
    }
    if limit.is_empty() && request.is_empty() {
        return None;
    }
    Some(ResourceRequirements {
        limits: (!limit.is_empty()).then_some(limit),
        requests: (!request.is_empty()).then_some(request),
        ..ResourceRequirements::default()
    })
}

/// The container's security context: `user`, `read_only`, capabilities, `security_opt`.
fn security(cx: &mut Context<'_>, path: &str, svc: &ServiceConfig) -> Option<SecurityContext> {
    let mut sc = SecurityContext::default();
    if !svc.user.is_empty() {
        let (user, group) = svc
            .user
            .split_once(':')
            .map_or((svc.user.as_str(), None), |(u, g)| (u, Some(g)));
        match user.parse::<i64>() {
            Ok(uid) => sc.run_as_user = Some(uid),
            Err(_) => cx.note(
                NoteKind::NotCarried,
                format!("{path}.user"),
                format!("user {user:?} is a name; Kubernetes needs a numeric user ID"),
                format!("look up its ID in the image (docker run --rm IMAGE id -u {user}) and set securityContext.runAsUser"),
            ),
        }
        if let Some(group) = group {
            match group.parse::<i64>() {
                Ok(gid) => sc.run_as_group = Some(gid),
                Err(_) => cx.note(
                    NoteKind::NotCarried,
                    format!("{path}.user"),
                    format!("group {group:?} is a name; Kubernetes needs a numeric group ID"),
                    "look up its ID in the image and set securityContext.runAsGroup",
                ),
            }
        }
    }
    if svc.read_only {
        sc.read_only_root_filesystem = Some(true);
    }
    let caps = |list: &[String]| -> Option<Vec<String>> {
        (!list.is_empty()).then(|| {
            list.iter()
                .map(|c| {
                    let c = c.to_ascii_uppercase();
                    c.strip_prefix("CAP_").map(str::to_owned).unwrap_or(c)
                })
                .collect()
        })
    };
    if !svc.cap_add.is_empty() || !svc.cap_drop.is_empty() {
        sc.capabilities = Some(Capabilities {
            add: caps(&svc.cap_add),
            drop: caps(&svc.cap_drop),
        });
    }
    for (i, opt) in svc.security_opt.iter().enumerate() {
        let (key, value) = opt
            .split_once(['=', ':'])
            .map_or((opt.as_str(), ""), |(k, v)| (k, v));
        match (key, value) {
            ("no-new-privileges", "" | "true") => sc.allow_privilege_escalation = Some(false),
            ("no-new-privileges", "false") => {}
            ("seccomp", "unconfined") => {
                sc.seccomp_profile = Some(SeccompProfile {
                    type_: "Unconfined".to_owned(),
                    localhost_profile: None,
                });
            }
            ("apparmor", "unconfined") => {
                sc.app_armor_profile = Some(AppArmorProfile {
                    type_: "Unconfined".to_owned(),
                    localhost_profile: None,
                });
            }
            _ => cx.note(
                NoteKind::NotCarried,
                format!("{path}.security_opt[{i}]"),
                format!("security option {opt:?} is not carried over"),
                "a Localhost seccomp or AppArmor profile installed on the nodes, or \
                 securityContext.seLinuxOptions",
            ),
        }
    }
    (sc != SecurityContext::default()).then_some(sc)
}

/// Safe sysctls: the kubelet allows them without configuration.
const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The pod's security context: sysctls and supplementary groups.
fn pod_security(
    cx: &mut Context<'_>,
    path: &str,
    svc: &ServiceConfig,
) -> Option<PodSecurityContext> {
    let mut sc = PodSecurityContext::default();
    if !svc.sysctls.is_empty() {
        let unsafe_ones: Vec<&str> = svc
            .sysctls
            .keys()
            .map(String::as_str)
            .filter(|k| !SAFE_SYSCTLS.contains(k))
            .collect();
        if !unsafe_ones.is_empty() {
            cx.note(
                NoteKind::ActionNeeded,
                format!("{path}.sysctls"),
                format!(
                    "{} {} not among Kubernetes' safe sysctls: pods are rejected unless the \
                     kubelet allows them",
                    unsafe_ones.join(", "),
                    if unsafe_ones.len() == 1 { "is" } else { "are" }
                ),
                "start the kubelet with --allowed-unsafe-sysctls, or drop them",
            );
        }
        sc.sysctls = Some(
            svc.sysctls
                .iter()
                .map(|(name, value)| Sysctl {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        );
    }
    let mut groups = Vec::new();
    for g in &svc.group_add {
        match g.parse::<i64>() {
            Ok(gid) => groups.push(gid),
            Err(_) => cx.note(
                NoteKind::NotCarried,
                format!("{path}.group_add"),
                format!("group {g:?} is a name; Kubernetes needs a numeric group ID"),
                "look up its ID in the image and add it to securityContext.supplementalGroups",
            ),
        }
    }
    if !groups.is_empty() {
        sc.supplemental_groups = Some(groups);
    }
    (sc != PodSecurityContext::default()).then_some(sc)
}

fn host_aliases(cx: &mut Context<'_>, path: &str, svc: &ServiceConfig) -> Option<Vec<HostAlias>> {
    let mut by_ip: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (host, ips) in &svc.extra_hosts {
        for ip in ips {
            if ip == "host-gateway" {
                cx.note(
                    NoteKind::NotCarried,
                    format!("{path}.extra_hosts"),
                    format!("{host} -> host-gateway: a pod has no Docker host to reach"),
                    "reach the service through a Service (an ExternalName or one without a selector)",
                );
                continue;
            }
            by_ip.entry(ip.clone()).or_default().push(host.clone());
        }
    }
    (!by_ip.is_empty()).then(|| {
        by_ip
            .into_iter()
            .map(|(ip, hostnames)| HostAlias {
                ip,
                hostnames: Some(hostnames),
            })
            .collect()
    })
}

fn hostname(cx: &mut Context<'_>, path: &str, svc: &ServiceConfig) -> Option<String> {
    if svc.hostname.is_empty() {
        return None;
    }
    let label = names::dns_label(&svc.hostname);
    if label != svc.hostname {
        cx.note(
            NoteKind::Approximated,
            format!("{path}.hostname"),
            format!("hostname {:?} becomes {label:?}", svc.hostname),
            "use a hostname made of lower-case letters, digits and '-'",
        );
    }
    Some(label)
}

fn dns_config(svc: &ServiceConfig) -> Option<PodDNSConfig> {
    if svc.dns_search.is_empty() && svc.dns_opt.is_empty() {
        return None;
    }
    Some(PodDNSConfig {
        searches: (!svc.dns_search.is_empty()).then(|| svc.dns_search.clone()),
        options: (!svc.dns_opt.is_empty()).then(|| {
            svc.dns_opt
                .iter()
                .map(|o| {
                    let (name, value) = o
                        .split_once(':')
                        .map_or((o.as_str(), None), |(n, v)| (n, Some(v.to_owned())));
                    PodDNSConfigOption {
                        name: Some(name.to_owned()),
                        value,
                    }
                })
                .collect()
        }),
        nameservers: None,
    })
}

fn init(cx: &mut Context<'_>, path: &str, svc: &ServiceConfig) -> Option<bool> {
    if svc.init != Some(true) {
        return None;
    }
    cx.note(
        NoteKind::Approximated,
        format!("{path}.init"),
        "init: the pod shares one process namespace, so the pause container reaps zombie \
         processes as Docker's init would; the container's process is no longer PID 1",
        "or add tini to the image and drop shareProcessNamespace",
    );
    Some(true)
}

/// `platform` -> the OS and architecture node labels; `deploy.placement` constraints on node
/// labels -> node selector terms.
fn node_selector(
    cx: &mut Context<'_>,
    path: &str,
    svc: &ServiceConfig,
) -> Option<BTreeMap<String, String>> {
    let mut selector = BTreeMap::new();
    if !svc.platform.is_empty() {
        let mut parts = svc.platform.split('/');
        if let Some(os) = parts.next() {
            selector.insert("kubernetes.io/os".to_owned(), os.to_owned());
        }
        if let Some(arch) = parts.next() {
            selector.insert("kubernetes.io/arch".to_owned(), arch.to_owned());
        }
    }
    if let Some(deploy) = &svc.deploy {
        for (i, c) in deploy.placement.constraints.iter().enumerate() {
            let carried = c.split_once("==").and_then(|(k, v)| {
                let key = k.trim().strip_prefix("node.labels.")?;
                (names::is_qualified_name(key)).then(|| (key.to_owned(), v.trim().to_owned()))
            });
            match carried {
                Some((k, v)) => {
                    selector.insert(k, v);
                }
                None => cx.note(
                    NoteKind::NotCarried,
                    format!("{path}.deploy.placement.constraints[{i}]"),
                    format!("placement constraint {c:?} is not carried over"),
                    "a nodeSelector or node affinity on node labels",
                ),
            }
        }
        if !deploy.placement.preferences.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.deploy.placement.preferences"),
                "placement preferences are not carried over",
                "topologySpreadConstraints or preferred node affinity",
            );
        }
        if deploy.placement.max_replicas > 0 {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.deploy.placement.max_replicas_per_node"),
                "max replicas per node is not carried over",
                "topologySpreadConstraints with topologyKey kubernetes.io/hostname",
            );
        }
    }
    (!selector.is_empty()).then_some(selector)
}

fn lifecycle(cx: &mut Context<'_>, path: &str, svc: &ServiceConfig) -> Option<Lifecycle> {
    let mut handler = |field: &str, hooks: &[ServiceHook]| -> Option<LifecycleHandler> {
        let (first, rest) = hooks.split_first()?;
        let hook_path = format!("{path}.{field}");
        if !rest.is_empty() {
            cx.note(
                NoteKind::NotCarried,
                &hook_path,
                format!("only the first of {} hooks is carried over", hooks.len()),
                "combine the hooks into one command",
            );
        }
        if !first.user.is_empty()
            || first.privileged
            || !first.working_dir.is_empty()
            || !first.environment.is_empty()
        {
            cx.note(
                NoteKind::NotCarried,
                &hook_path,
                "the hook's user, privileges, working directory and environment are not carried \
                 over: it runs like the container's process",
                "set them inside the command (cd DIR && env K=V ...)",
            );
        }
        let command = first.command.clone().filter(|c| !c.is_empty())?;
        Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(command),
            }),
            ..LifecycleHandler::default()
        })
    };
    let post_start = handler("post_start", &svc.post_start);
    let pre_stop = handler("pre_stop", &svc.pre_stop);
    (post_start.is_some() || pre_stop.is_some()).then_some(Lifecycle {
        post_start,
        pre_stop,
        stop_signal: None,
    })
}

/// Compose labels and annotations as pod annotations; keys Kubernetes refuses are reported.
fn valid_annotations(
    cx: &mut Context<'_>,
    path: &str,
    map: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if names::is_qualified_name(k) {
            out.insert(k.clone(), v.clone());
        } else {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.{k}"),
                format!("{k:?} is not a valid Kubernetes annotation key"),
                "use a key of the form prefix.example.com/name",
            );
        }
    }
    out
}
