//! Stack -> typed Kubernetes objects, for one environment.
//!
//! What each part of the stack becomes:
//!
//! | stack | Kubernetes |
//! |---|---|
//! | the environment | a `Namespace` (`<project>` or `<project>-<env>`) |
//! | a service | a `Deployment`; a `StatefulSet` when it writes to a named volume; a `DaemonSet` for `deploy.mode: global` |
//! | its `ports`, `expose`, routes | a `Service` (ClusterIP, port = container port, so `db:5432` still resolves) |
//! | its `environment` | a `ConfigMap` `<svc>-env`; secret-looking variables go to a `Secret` `<svc>-env` |
//! | named volumes | `PersistentVolumeClaim`s |
//! | `configs`, `secrets`, `x-skiff.secrets` | `ConfigMap`s and `Secret`s mounted where Compose mounts them |
//! | `healthcheck` | readiness and liveness probes; `start_period` gives a startup probe |
//! | `deploy.resources`, `cpus`, `mem_*` | requests (reservations) and limits |
//! | `user`, `read_only`, `cap_add`/`cap_drop`, `security_opt` | the container's `securityContext` |
//! | `x-skiff.jobs`, `x-skiff.backups` | `CronJob`s |
//! | `x-skiff.routes` | `Ingress`es |
//! | `x-skiff.boundaries` | `NetworkPolicy`s |
//!
//! Everything else is listed in the [`Report`], with the suggested equivalent.

mod config;
mod network;
mod quantity;
mod schedule;
mod unsupported;
mod workload;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, PodTemplateSpec, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::Serialize;

pub(crate) use workload::replicas as replicas_of;

use crate::names;
use crate::report::{NoteKind, Report};
use crate::stack::Stack;

/// Label keys the exported objects carry.
pub mod labels {
    /// The service (or job, or backup) a pod belongs to; workloads and Services select on it.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// The project, on every object: `skiff apply` prunes by it.
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    /// Always `skiff`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The service whose identity a pod has on the network: the service's own pods, and the
    /// jobs and backups that run as it. NetworkPolicies select on it.
    pub const SERVICE: &str = "skiff.dev/service";
    /// The `x-skiff` job a pod runs.
    pub const JOB: &str = "skiff.dev/job";
    /// The `x-skiff` backup a pod runs.
    pub const BACKUP: &str = "skiff.dev/backup";
    /// Pod-template annotation: a hash of the configuration the pod reads, so that changing it
    /// rolls the pods.
    pub const CONFIG_HASH: &str = "skiff.dev/config-hash";
}

/// How an export treats secret values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretValues {
    /// Secrets carry their keys with empty values; the report says which to fill in.
    #[default]
    Omit,
    /// Secrets carry their values (from `environment:` sources, inline content, and the files
    /// passed in [`ExportOptions::files`]). `x-skiff` secrets stay empty: they are encrypted.
    Include,
}

/// What to export, and the few choices that the stack does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The environment (a key of `x-skiff.environments`), or `None` for the stack as declared.
    /// The stack passed to [`export`] must already be loaded with that environment's files.
    pub environment: Option<String>,
    pub secret_values: SecretValues,
    /// Contents of the files the stack refers to (config and secret files), by the path the
    /// loader resolved; [`wanted_files`] lists them. A missing file gives an empty value and a
    /// note.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Requested size of each PersistentVolumeClaim (Compose volumes have no size).
    pub volume_size: String,
    /// StorageClass of the claims; `None` uses the cluster's default.
    pub storage_class: Option<String>,
    /// IngressClass of the Ingresses; `None` uses the cluster's default.
    pub ingress_class: Option<String>,
    /// cert-manager ClusterIssuer for routes with `tls: auto`.
    pub cluster_issuer: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            environment: None,
            secret_values: SecretValues::Omit,
            files: BTreeMap::new(),
            volume_size: "1Gi".to_owned(),
            storage_class: None,
            ingress_class: None,
            cluster_issuer: "letsencrypt".to_owned(),
        }
    }
}

/// A stack exported for one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Export {
    pub project: String,
    pub environment: Option<String>,
    pub namespace: String,
    /// In apply order: the Namespace, configuration, storage, Services, workloads, CronJobs,
    /// Ingresses, NetworkPolicies; by name within a kind.
    pub objects: Vec<Object>,
    pub report: Report,
}

/// Why an export could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error(
        "unknown environment {name:?}: x-skiff.environments declares {}",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownEnvironment { name: String, known: Vec<String> },
}

/// One Kubernetes object. Serializes as the object itself (with `apiVersion` and `kind`).
#[expect(
    clippy::large_enum_variant,
    reason = "an export holds a few objects, built once; boxing would burden every match"
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    Namespace(Namespace),
    ConfigMap(ConfigMap),
    Secret(Secret),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Service(Service),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
    CronJob(CronJob),
    Ingress(Ingress),
    NetworkPolicy(NetworkPolicy),
}

macro_rules! each_object {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            Object::Namespace($o) => $body,
            Object::ConfigMap($o) => $body,
            Object::Secret($o) => $body,
            Object::PersistentVolumeClaim($o) => $body,
            Object::Service($o) => $body,
            Object::Deployment($o) => $body,
            Object::StatefulSet($o) => $body,
            Object::DaemonSet($o) => $body,
            Object::CronJob($o) => $body,
            Object::Ingress($o) => $body,
            Object::NetworkPolicy($o) => $body,
        }
    };
}

fn kind_of<T: Resource>(_: &T) -> &'static str {
    T::KIND
}

impl Object {
    /// The object's `kind`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        each_object!(self, o => kind_of(o))
    }

    /// The object's `metadata.name`.
    #[must_use]
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    #[must_use]
    pub fn metadata(&self) -> &ObjectMeta {
        each_object!(self, o => o.metadata())
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each_object!(self, o => o.metadata_mut())
    }

    /// The object as JSON, exactly as it serializes.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Position of the kind in apply order.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Object::Namespace(_) => 0,
            Object::ConfigMap(_) => 10,
            Object::Secret(_) => 11,
            Object::PersistentVolumeClaim(_) => 20,
            Object::Service(_) => 30,
            Object::Deployment(_) => 40,
            Object::StatefulSet(_) => 41,
            Object::DaemonSet(_) => 42,
            Object::CronJob(_) => 50,
            Object::Ingress(_) => 60,
            Object::NetworkPolicy(_) => 70,
        }
    }
}

/// Exports a stack for one environment.
///
/// # Errors
/// An environment that `x-skiff.environments` does not declare.
pub fn export(stack: &Stack<'_>, options: &ExportOptions) -> Result<Export, ExportError> {
    if let Some(env) = &options.environment
        && !stack.skiff.environments.contains_key(env)
    {
        return Err(ExportError::UnknownEnvironment {
            name: env.clone(),
            known: stack.skiff.environments.keys().cloned().collect(),
        });
    }
    let mut cx = Context::new(*stack, options);
    cx.namespace_object();
    unsupported::project(&mut cx);
    config::volumes(&mut cx);
    config::files(&mut cx);
    for (name, service) in &stack.project.services {
        workload::service(&mut cx, name, service);
    }
    releases(&mut cx);
    schedule::jobs(&mut cx);
    schedule::backups(&mut cx);
    network::routes(&mut cx);
    network::boundaries(&mut cx);

    let Context {
        namespace,
        mut objects,
        report,
        ..
    } = cx;
    objects.sort_by(|a, b| (a.rank(), a.name()).cmp(&(b.rank(), b.name())));
    Ok(Export {
        project: stack.project.name.clone(),
        environment: options.environment.clone(),
        namespace,
        objects,
        report,
    })
}

/// Notes on release settings that Deployments carry only in part.
fn releases(cx: &mut Context<'_>) {
    let timeout = cx
        .stack
        .skiff
        .releases
        .as_ref()
        .and_then(|r| r.health_timeout);
    if timeout.is_some()
        && cx
            .objects
            .iter()
            .any(|o| matches!(o, Object::Deployment(_)))
    {
        cx.note(
            NoteKind::Approximated,
            "x-skiff.releases.health_timeout",
            "becomes the Deployments' progressDeadlineSeconds: a rollout past it is marked \
             failed, but Kubernetes does not roll it back",
            "roll back with `kubectl rollout undo`, or let `skiff apply` wait and undo",
        );
    }
}

/// The files (config and secret sources) whose contents [`export`] wants in
/// [`ExportOptions::files`], as the loader resolved their paths.
#[must_use]
pub fn wanted_files(stack: &Stack<'_>) -> Vec<String> {
    let project = stack.project;
    let mut out: BTreeSet<String> = BTreeSet::new();
    for c in project.configs.values() {
        if !c.external && c.content.is_empty() && !c.file.is_empty() {
            out.insert(c.file.clone());
        }
    }
    for s in project.secrets.values() {
        if !s.external && s.content.is_empty() && !s.file.is_empty() {
            out.insert(s.file.clone());
        }
    }
    out.into_iter().collect()
}

/// State of one export: the stack, the objects built so far and the report.
pub(crate) struct Context<'a> {
    pub(crate) stack: Stack<'a>,
    pub(crate) options: &'a ExportOptions,
    pub(crate) namespace: String,
    /// The project as a label value.
    pub(crate) project_label: String,
    /// Service -> its Kubernetes name.
    pub(crate) names: BTreeMap<String, String>,
    /// Named volume -> its claim's name (absent for volumes no claim is made for).
    pub(crate) claims: BTreeMap<String, String>,
    /// Named volume -> the services that mount it.
    pub(crate) volume_users: BTreeMap<String, Vec<String>>,
    /// Service -> its pod template, for the jobs that run as it.
    pub(crate) pods: BTreeMap<String, PodTemplateSpec>,
    /// Service -> the ports of its Service object.
    pub(crate) ports: BTreeMap<String, Vec<network::Port>>,
    /// Service -> its `<svc>-env` Secret and the keys in it.
    pub(crate) env_secrets: BTreeMap<String, (String, Vec<String>)>,
    /// Compose config -> where its content is in the cluster.
    pub(crate) configs: BTreeMap<String, config::Mounted>,
    /// Compose secret -> where its value is in the cluster.
    pub(crate) secrets: BTreeMap<String, config::Mounted>,
    pub(crate) objects: Vec<Object>,
    pub(crate) report: Report,
    /// Names taken, by kind.
    taken: BTreeSet<(&'static str, String)>,
}

impl<'a> Context<'a> {
    fn new(stack: Stack<'a>, options: &'a ExportOptions) -> Context<'a> {
        let project_label = names::dns_label(&stack.project.name);
        let namespace = match &options.environment {
            Some(env) => names::suffixed(&project_label, &names::dns_label(env)),
            None => project_label.clone(),
        };
        let mut cx = Context {
            stack,
            options,
            namespace,
            project_label,
            names: BTreeMap::new(),
            claims: BTreeMap::new(),
            volume_users: BTreeMap::new(),
            pods: BTreeMap::new(),
            ports: BTreeMap::new(),
            env_secrets: BTreeMap::new(),
            configs: BTreeMap::new(),
            secrets: BTreeMap::new(),
            objects: Vec::new(),
            report: Report::default(),
            taken: BTreeSet::new(),
        };
        cx.name_services();
        cx
    }

    /// Gives every service (enabled or disabled by a profile) a distinct Kubernetes name.
    fn name_services(&mut self) {
        let project = self.stack.project;
        let all: BTreeSet<&String> = project
            .services
            .keys()
            .chain(project.disabled_services.keys())
            .collect();
        let mut used: BTreeSet<String> = BTreeSet::new();
        for name in all {
            let mut k8s = names::service_name(name);
            let mut n = 2;
            while used.contains(&k8s) {
                k8s = names::suffixed_within(
                    &names::service_name(name),
                    &n.to_string(),
                    names::WORKLOAD_NAME_MAX,
                );
                n += 1;
            }
            if k8s != *name {
                self.report.add(
                    NoteKind::Approximated,
                    format!("services.{name}"),
                    format!(
                        "the name is not a valid Kubernetes name; its objects and its DNS name \
                         are {k8s:?}"
                    ),
                    format!("replace {name:?} with {k8s:?} where other services reach it by name"),
                );
            }
            used.insert(k8s.clone());
            self.names.insert(name.clone(), k8s);
        }
    }

    /// The Kubernetes name of a service.
    pub(crate) fn name(&self, service: &str) -> String {
        self.names
            .get(service)
            .cloned()
            .unwrap_or_else(|| names::service_name(service))
    }

    /// Reserves a name for an object of a kind, suffixing `-2`, `-3`... when it is taken.
    pub(crate) fn unique(&mut self, kind: &'static str, wanted: &str) -> String {
        let max = names::max_name_len(kind);
        let wanted = names::truncate_label(wanted, max);
        let mut name = wanted.clone();
        let mut n = 2;
        while self.taken.contains(&(kind, name.clone())) {
            name = names::suffixed_within(&wanted, &n.to_string(), max);
            n += 1;
        }
        self.taken.insert((kind, name.clone()));
        name
    }

    /// Labels every object carries.
    pub(crate) fn common_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::PART_OF.to_owned(), self.project_label.clone()),
            (labels::MANAGED_BY.to_owned(), "skiff".to_owned()),
        ])
    }

    /// Metadata of a namespaced object.
    pub(crate) fn meta(&self, name: &str, extra: &[(&str, &str)]) -> ObjectMeta {
        let mut labels = self.common_labels();
        for (k, v) in extra {
            labels.insert((*k).to_owned(), (*v).to_owned());
        }
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        }
    }

    /// The labels a service's workload selects its pods by.
    pub(crate) fn selector(&self, service: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::NAME.to_owned(), self.name(service)),
            (labels::PART_OF.to_owned(), self.project_label.clone()),
        ])
    }

    pub(crate) fn push(&mut self, object: Object) {
        self.objects.push(object);
    }

    pub(crate) fn note(
        &mut self,
        kind: NoteKind,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) {
        self.report.add(kind, path, message, suggestion);
    }

    fn namespace_object(&mut self) {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(self.namespace.clone()),
                labels: Some(self.common_labels()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        self.push(Object::Namespace(namespace));
    }

    /// Whether a service is exported as a workload (not a host process without an image).
    pub(crate) fn has_workload(&self, service: &str) -> bool {
        self.pods.contains_key(service)
    }
}
