//! `skiff apply`: an export ([`skiff_k8s::Export`]) applied to a Kubernetes cluster through
//! kube-rs.
//!
//! Three steps, each a thin loop over the API:
//!
//! 1. **apply**: every exported object, in the export's order (the Namespace first), with
//!    server-side apply under the field manager [`FIELD_MANAGER`] (`PATCH` with
//!    `application/apply-patch+yaml`), so the cluster merges what skiff declares with what
//!    others manage and reports conflicts instead of overwriting them;
//! 2. **prune** (optional): objects in the namespace that carry skiff's labels
//!    (`app.kubernetes.io/managed-by=skiff`, `app.kubernetes.io/part-of=<project>`) and that the
//!    export no longer declares are deleted; PersistentVolumeClaims are kept, since deleting one
//!    deletes data;
//! 3. **wait** (optional): Deployments, StatefulSets and DaemonSets are polled until they have
//!    rolled out, with the rules of `kubectl rollout status` ([`rollout`]).
//!
//! [`output`] writes a rendered export into a directory, atomically file by file.
//!
//! Non-goals: building the objects (skiff-k8s, which stays pure), diffing, rolling back.
//! Nothing here is tested against a real API server, which cannot run where skiff is built:
//! `tests/apply.rs` drives the client against a mocked API.

mod apply;
pub mod output;
mod resources;
pub mod rollout;

pub use apply::{
    ApplyError, ApplyOptions, Conflicts, Event, Prune, Secrets, Summary, Wait, apply, connect,
};

/// The field manager skiff applies as; `kubectl` shows it in `managedFields`.
pub const FIELD_MANAGER: &str = "skiff";
