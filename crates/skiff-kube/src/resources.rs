//! Which API each exported kind lives in.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::discovery::ApiResource;
use skiff_k8s::Object;

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

/// The API resource of an exported object (a new kind of object does not compile until it
/// has one).
pub(crate) fn of(object: &Object) -> ApiResource {
    match object {
        Object::Namespace(_) => ApiResource::erase::<Namespace>(&()),
        Object::ConfigMap(_) => ApiResource::erase::<ConfigMap>(&()),
        Object::Secret(_) => ApiResource::erase::<Secret>(&()),
        Object::PersistentVolumeClaim(_) => ApiResource::erase::<PersistentVolumeClaim>(&()),
        Object::Service(_) => ApiResource::erase::<Service>(&()),
        Object::Deployment(_) => ApiResource::erase::<Deployment>(&()),
        Object::StatefulSet(_) => ApiResource::erase::<StatefulSet>(&()),
        Object::DaemonSet(_) => ApiResource::erase::<DaemonSet>(&()),
        Object::CronJob(_) => ApiResource::erase::<CronJob>(&()),
        Object::Ingress(_) => ApiResource::erase::<Ingress>(&()),
        Object::NetworkPolicy(_) => ApiResource::erase::<NetworkPolicy>(&()),
    }
}
