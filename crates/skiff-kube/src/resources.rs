//! Which API each exported kind lives in.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::discovery::ApiResource;

/// The namespaced kinds skiff exports, in apply order: pruning walks them backwards.
pub(crate) fn namespaced() -> [ApiResource; 10] {
    [
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<PersistentVolumeClaim>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<StatefulSet>(&()),
        ApiResource::erase::<DaemonSet>(&()),
        ApiResource::erase::<CronJob>(&()),
        ApiResource::erase::<Ingress>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
    ]
}

/// The API resource of an exported kind; `None` only for a kind skiff does not export.
pub(crate) fn of_kind(kind: &str) -> Option<ApiResource> {
    if kind == "Namespace" {
        return Some(ApiResource::erase::<Namespace>(&()));
    }
    namespaced().into_iter().find(|r| r.kind == kind)
}
