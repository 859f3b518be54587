//! Graduation: when a stack has outgrown one machine, and how it moves to Kubernetes.
//!
//! Two pure functions over a loaded stack ([`Stack`]: the Compose project and its `x-skiff`
//! extension):
//!
//! * [`assess`] weighs the signals that a team is past the Kubernetes tipping point and returns
//!   an [`Assessment`]: a verdict, the reasons with their evidence, and what to postpone.
//! * [`export`] turns the stack into typed Kubernetes objects ([`k8s_openapi`] values, never
//!   string templates) for one environment, with a [`Report`] of everything that could not be
//!   carried over or was carried over differently. [`render`] lays those objects out as plain
//!   manifests, a kustomize base with overlays, or a Helm chart: a list of
//!   ([`OutputFile`]) paths and contents that the caller writes.
//!
//! Non-goals: reading or writing files (the caller passes the contents of the files the export
//! asks for, see [`wanted_files`]), talking to a cluster (`skiff apply` lives elsewhere), and
//! validating the output against Kubernetes schemas (a test script does that with the real
//! tools).
//!
//! **Invariant:** no I/O, no clock, no async.

mod assess;
mod export;
mod names;
mod next;
mod render;
mod report;
mod stack;

pub use assess::{Assessment, History, Host, Postpone, Reason, Signal, Verdict, assess};
pub use export::{
    Export, ExportError, ExportOptions, Object, SecretValues, export, labels, wanted_files,
};
pub use next::next_steps;
pub use render::{Layout, OutputFile, RenderError, Rendered, helm_release, render};
pub use report::{Note, NoteKind, Report};
pub use stack::Stack;

/// The Kubernetes release whose API the exported objects target.
pub const KUBERNETES_VERSION: &str = "1.33";
