//! What the loop needs from the world, behind one narrow trait.
//!
//! The real world (containers through `skiff-docker`, processes through `skiff-process`,
//! both behind the binary's hybrid runtime) and [`crate::fake::FakeWorld`] implement
//! [`World`]. Its methods take the [`Deployment`] they concern because one daemon serves
//! many projects, where a `skiff_runtime::Runtime` serves one; [`ProjectRuntime`] narrows a
//! world to one project so that `skiff_runtime::execute` runs plans on it unchanged.

use std::future::Future;

use serde::{Deserialize, Serialize};
use skiff_plan::{Action, Desired, Observed};
use skiff_runtime::{Readiness, Runtime, RuntimeError};
use skiff_store::Health;
use tokio::sync::mpsc;

use crate::config::Policy;
use crate::core::Input;

/// A project handed to the daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: String,
    /// The project as the client sent it. Opaque to the loop; the world builds its runtimes
    /// from it. Never recorded: it holds environment values.
    pub project: crate::wire::StackSource,
    /// The planner's view of it, from [`World::desired`].
    pub desired: Desired,
    pub policy: Policy,
}

/// The instance a restart concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub service: String,
    /// `{project}-{service}-{number}`, or the fixed name.
    pub name: String,
    /// The container or process ID, as last seen.
    pub id: String,
}

/// Something the world reports about one instance (the engine's event stream, a process
/// supervisor's report, a healthcheck).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldEvent {
    pub project: String,
    pub service: String,
    /// The instance's name.
    pub instance: String,
    /// Its container or process ID.
    pub id: String,
    pub change: Change,
}

/// What happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum Change {
    /// It runs (started by anyone: the daemon, the engine's own restart, a person).
    Started,
    /// Its main process ended with this code (128 + n for signal n, as Docker reports).
    Exited {
        code: i64,
    },
    HealthChanged {
        health: Health,
    },
    /// It no longer exists.
    Removed,
}

/// Where the world sends its reports: into the loop, as [`Input`]s.
#[derive(Debug, Clone)]
pub struct Sink {
    inputs: mpsc::UnboundedSender<Input>,
}

impl Sink {
    pub(crate) fn new(inputs: mpsc::UnboundedSender<Input>) -> Sink {
        Sink { inputs }
    }

    /// Reports an event; `false` once the daemon has stopped listening.
    pub fn send(&self, event: WorldEvent) -> bool {
        self.inputs.send(Input::World(event)).is_ok()
    }

    /// Records something the world did on its own schedule (a backup, a restore drill) in
    /// the history; `false` once the daemon has stopped listening.
    pub fn record(&self, event: skiff_store::Event) -> bool {
        self.inputs.send(Input::Record(event)).is_ok()
    }
}

/// What the daemon's loop needs from the world. Every method is called from tasks the loop
/// spawns, never from the loop itself, so a slow engine never stalls it.
pub trait World: Send + Sync + 'static {
    /// The planner's view of a project the client sent (hashes, image IDs, dependencies).
    fn desired(
        &self,
        name: &str,
        project: &crate::wire::StackSource,
    ) -> impl Future<Output = Result<Desired, RuntimeError>> + Send;

    /// What runs for this project now.
    fn observe(
        &self,
        deployment: &Deployment,
    ) -> impl Future<Output = Result<Observed, RuntimeError>> + Send;

    /// Carries out one plan action for this project.
    fn apply(
        &self,
        deployment: &Deployment,
        action: &Action,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Where a service of this project stands, and whether it has a healthcheck.
    fn readiness(
        &self,
        deployment: &Deployment,
        service: &str,
    ) -> impl Future<Output = Result<(Readiness, bool), RuntimeError>> + Send;

    /// Does ahead of its turn what an action can do before its dependencies are ready
    /// ([`Runtime::prepare`]). Default: nothing.
    fn prepare(&self, deployment: &Deployment, action: &Action) -> impl Future<Output = ()> + Send {
        let _ = (deployment, action);
        std::future::ready(())
    }

    /// Runs the instance afresh: stops it if it still runs (unhealthy), then starts it again
    /// (the same container or process record where the runtime can). Returns once it runs.
    fn restart(
        &self,
        deployment: &Deployment,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Starts reporting what happens to instances into `sink`. Called once, when the loop
    /// starts; the world keeps the sink as long as it reports.
    fn watch(&self, sink: Sink);

    /// The daemon no longer owns this project (it was released, or its first deploy failed):
    /// whatever the world does for it on its own (scheduled backups) stops.
    fn released(&self, _project: &str) {}

    /// CPU and memory of every instance it runs, read when `/metrics` is scraped. Must be
    /// cheap (no engine call): the default knows nothing.
    fn usage(&self) -> Vec<InstanceUsage> {
        Vec::new()
    }
}

/// What one instance uses now.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceUsage {
    pub project: String,
    pub service: String,
    pub instance: String,
    /// CPU time used since it started (user and system).
    pub cpu_seconds: f64,
    /// Memory in use (a container's cgroup; a process group's resident memory).
    pub memory_bytes: u64,
}

/// One project of a world, as a `skiff_runtime::Runtime`.
pub struct ProjectRuntime<'a, W> {
    pub world: &'a W,
    pub deployment: &'a Deployment,
}

impl<W: World> Runtime for ProjectRuntime<'_, W> {
    fn apply(&self, action: &Action) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.world.apply(self.deployment, action)
    }

    fn readiness(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<(Readiness, bool), RuntimeError>> + Send {
        self.world.readiness(self.deployment, service)
    }

    fn observe(&self) -> impl Future<Output = Result<Observed, RuntimeError>> + Send {
        self.world.observe(self.deployment)
    }

    fn prepare(&self, action: &Action) -> impl Future<Output = ()> + Send {
        self.world.prepare(self.deployment, action)
    }
}
