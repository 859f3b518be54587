//! Apply, prune, wait: one pass over the API per step.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, KubeconfigError};
use kube::{Client, Config};
use skiff_k8s::{Export, Object, labels};

use crate::resources;
use crate::rollout::{self, Rollout};

/// Whether objects skiff applied before and no longer declares are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prune {
    #[default]
    Keep,
    Delete,
}

/// Whether to wait for workloads to roll out, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    #[default]
    No,
    Rollouts {
        /// For all the rollouts together.
        timeout: Duration,
        /// Between two reads of a workload's status.
        interval: Duration,
    },
}

/// What to do when another field manager owns a field skiff sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conflicts {
    /// Stop with the server's account of the conflict.
    #[default]
    Fail,
    /// Take the fields over (`kubectl apply --server-side --force-conflicts`).
    Force,
}

/// Whether exported Secrets are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Secrets {
    /// The export holds no secret values: Secrets are neither applied (empty values would
    /// overwrite the cluster's) nor pruned. Create them with `kubectl create secret`.
    #[default]
    LeaveAlone,
    /// The export holds the values: apply them like any object.
    Apply,
}

/// The choices of one `skiff apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOptions {
    pub prune: Prune,
    pub wait: Wait,
    pub conflicts: Conflicts,
    pub secrets: Secrets,
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Applied {
        kind: String,
        name: String,
    },
    /// Declared but not applied, and why.
    Skipped {
        kind: String,
        name: String,
        why: String,
    },
    Pruned {
        kind: String,
        name: String,
    },
    /// No longer declared, but kept, and why.
    Kept {
        kind: String,
        name: String,
        why: String,
    },
    /// A rollout is under way.
    Waiting {
        kind: String,
        name: String,
        status: String,
    },
    RolledOut {
        kind: String,
        name: String,
    },
}

/// Counts of what one apply did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub applied: usize,
    pub skipped: usize,
    pub pruned: usize,
    pub kept: usize,
    pub rolled_out: usize,
}

/// Why an apply stopped. Everything applied before the error stays applied; running the same
/// apply again is safe.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("failed to read the kubeconfig context {context:?}: {source}")]
    Kubeconfig {
        context: String,
        #[source]
        source: KubeconfigError,
    },
    #[error("failed to build a client for the kubeconfig context {context:?}: {source}")]
    Client {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to apply {kind}/{name}: {}", api_message(source))]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "failed to list the {kind} objects skiff applied earlier in namespace {namespace}: {}",
        api_message(source)
    )]
    List {
        kind: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to prune {kind}/{name}: {}", api_message(source))]
    Prune {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to read the rollout of {kind}/{name}: {}", api_message(source))]
    Poll {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{kind}/{name} did not roll out: {reason}")]
    Rollout {
        kind: String,
        name: String,
        reason: String,
    },
    #[error("{kind}/{name} did not roll out within {}s: {status}", timeout.as_secs())]
    Timeout {
        kind: String,
        name: String,
        timeout: Duration,
        status: String,
    },
}

impl ApplyError {
    /// The server refused because another field manager owns a field skiff sets.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApplyError::Apply { source: kube::Error::Api(s), .. } if s.code == 409)
    }
}

/// The API server's message when it sent one, else the client's error.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => {
            format!("{} ({})", status.message, status.code)
        }
        other => other.to_string(),
    }
}

/// A client for a context of the kubeconfig (`KUBECONFIG`, else `~/.kube/config`).
///
/// # Errors
/// The kubeconfig cannot be read, has no such context, or its credentials cannot be used.
pub async fn connect(context: &str) -> Result<Client, ApplyError> {
    // kube's TLS is rustls with ring; a binary that links rustls with aws-lc-rs as well
    // (skiff does, for object storage) leaves rustls unable to choose: choose ring, unless
    // the process chose already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..KubeConfigOptions::default()
    };
    let config =
        Config::from_kubeconfig(&options)
            .await
            .map_err(|source| ApplyError::Kubeconfig {
                context: context.to_owned(),
                source,
            })?;
    Client::try_from(config).map_err(|source| ApplyError::Client {
        context: context.to_owned(),
        source,
    })
}

/// Applies an export: every object with server-side apply, then (as the options say) prunes
/// what skiff applied earlier and no longer declares, and waits for rollouts.
///
/// # Errors
/// The first request the server refuses, or a rollout that fails or outlasts the timeout.
pub async fn apply(
    client: &Client,
    export: &Export,
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<Summary, ApplyError> {
    let mut summary = Summary::default();
    let mut params = PatchParams::apply(crate::FIELD_MANAGER);
    if options.conflicts == Conflicts::Force {
        params = params.force();
    }
    for object in &export.objects {
        let kind = object.kind().to_owned();
        let name = object.name().to_owned();
        if matches!(object, Object::Secret(_)) && options.secrets == Secrets::LeaveAlone {
            summary.skipped += 1;
            on_event(Event::Skipped {
                kind,
                name,
                why: "the export holds no secret values (--include-secret-values applies them)"
                    .to_owned(),
            });
            continue;
        }
        let api = api_for(client, object);
        api.patch(&name, &params, &Patch::Apply(object.to_json()))
            .await
            .map_err(|source| ApplyError::Apply {
                kind: kind.clone(),
                name: name.clone(),
                source,
            })?;
        summary.applied += 1;
        on_event(Event::Applied { kind, name });
    }
    if options.prune == Prune::Delete {
        prune(client, export, options.secrets, on_event, &mut summary).await?;
    }
    if let Wait::Rollouts { timeout, interval } = options.wait {
        wait(client, export, timeout, interval, on_event, &mut summary).await?;
    }
    Ok(summary)
}

fn api_for(client: &Client, object: &Object) -> Api<DynamicObject> {
    let resource = resources::of(object);
    match &object.metadata().namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// The label selector of everything skiff applied for this export's project.
fn selector(export: &Export) -> String {
    let project = export
        .objects
        .iter()
        .find_map(|o| o.metadata().labels.as_ref()?.get(labels::PART_OF).cloned())
        .unwrap_or_else(|| export.project.clone());
    format!("{}=skiff,{}={project}", labels::MANAGED_BY, labels::PART_OF)
}

async fn prune(
    client: &Client,
    export: &Export,
    secrets: Secrets,
    on_event: &mut dyn FnMut(Event),
    summary: &mut Summary,
) -> Result<(), ApplyError> {
    let declared: BTreeSet<(&str, &str)> = export
        .objects
        .iter()
        .map(|o| (o.kind(), o.name()))
        .collect();
    let list = ListParams::default().labels(&selector(export));
    let mut kinds = resources::namespaced();
    kinds.reverse();
    for resource in &kinds {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &export.namespace, resource);
        let found = api
            .list_metadata(&list)
            .await
            .map_err(|source| ApplyError::List {
                kind: resource.kind.clone(),
                namespace: export.namespace.clone(),
                source,
            })?;
        for item in found.items {
            let Some(name) = item.metadata.name else {
                continue;
            };
            if declared.contains(&(resource.kind.as_str(), name.as_str())) {
                continue;
            }
            let keep = match resource.kind.as_str() {
                "PersistentVolumeClaim" => Some(format!(
                    "it holds data: `kubectl delete pvc {name} -n {}` when you mean to",
                    export.namespace
                )),
                // Their values are the cluster's, not the export's.
                "Secret" if secrets == Secrets::LeaveAlone => Some(format!(
                    "Secrets are left alone without --include-secret-values: `kubectl delete secret {name} -n {}` when you mean to",
                    export.namespace
                )),
                _ => None,
            };
            if let Some(why) = keep {
                summary.kept += 1;
                on_event(Event::Kept {
                    kind: resource.kind.clone(),
                    why,
                    name,
                });
                continue;
            }
            api.delete(&name, &DeleteParams::background())
                .await
                .map_err(|source| ApplyError::Prune {
                    kind: resource.kind.clone(),
                    name: name.clone(),
                    source,
                })?;
            summary.pruned += 1;
            on_event(Event::Pruned {
                kind: resource.kind.clone(),
                name,
            });
        }
    }
    Ok(())
}

async fn wait(
    client: &Client,
    export: &Export,
    timeout: Duration,
    interval: Duration,
    on_event: &mut dyn FnMut(Event),
    summary: &mut Summary,
) -> Result<(), ApplyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let ns = export.namespace.as_str();
    for object in &export.objects {
        let kind = object.kind();
        let name = object.name();
        let mut last = String::new();
        loop {
            let poll = |source| ApplyError::Poll {
                kind: kind.to_owned(),
                name: name.to_owned(),
                source,
            };
            let state = match object {
                Object::Deployment(_) => {
                    let d = Api::<Deployment>::namespaced(client.clone(), ns);
                    rollout::deployment(&d.get(name).await.map_err(poll)?)
                }
                Object::StatefulSet(_) => {
                    let s = Api::<StatefulSet>::namespaced(client.clone(), ns);
                    rollout::stateful_set(&s.get(name).await.map_err(poll)?)
                }
                Object::DaemonSet(_) => {
                    let d = Api::<DaemonSet>::namespaced(client.clone(), ns);
                    rollout::daemon_set(&d.get(name).await.map_err(poll)?)
                }
                _ => break,
            };
            match state {
                Rollout::Done => {
                    summary.rolled_out += 1;
                    on_event(Event::RolledOut {
                        kind: kind.to_owned(),
                        name: name.to_owned(),
                    });
                    break;
                }
                Rollout::Failed(reason) => {
                    return Err(ApplyError::Rollout {
                        kind: kind.to_owned(),
                        name: name.to_owned(),
                        reason,
                    });
                }
                Rollout::Progressing(status) => {
                    if tokio::time::Instant::now() + interval > deadline {
                        return Err(ApplyError::Timeout {
                            kind: kind.to_owned(),
                            name: name.to_owned(),
                            timeout,
                            status,
                        });
                    }
                    if status != last {
                        on_event(Event::Waiting {
                            kind: kind.to_owned(),
                            name: name.to_owned(),
                            status: status.clone(),
                        });
                        last = status;
                    }
                    tokio::time::sleep(interval).await;
                }
            }
        }
    }
    Ok(())
}
