//! The composite runtime: one [`Runtime`] over the Docker Engine and host processes.
//!
//! [`Hybrid`] routes each plan action to the runtime that owns it (by the desired service,
//! or by the instance's ID for what already runs); moves between runtimes remove the old
//! instance first. `depends_on` works across runtimes because the executor waits on
//! [`Runtime::readiness`], which the hybrid answers from the right side.

use std::collections::BTreeMap;

use skiff_docker::Engine;
use skiff_docker::project::DockerRuntime;
use std::time::Duration;

use skiff_plan::{Action, Desired, Instance, Observed, State};
use skiff_process::{AfterStop, ProcessRuntime};
use skiff_runtime::{Readiness, Runtime, RuntimeError};

use crate::stack::{Stack, env_prefix, host_address};

pub use crate::split::{Side, side_of_id};

/// Routes plan actions to the Docker runtime or the process runtime.
pub struct Hybrid<'a> {
    pub stack: &'a Stack,
    pub engine: Option<&'a Engine>,
    pub docker: Option<DockerRuntime<'a>>,
    pub processes: &'a ProcessRuntime,
}

impl<'a> Hybrid<'a> {
    #[must_use]
    pub fn new(
        stack: &'a Stack,
        engine: Option<&'a Engine>,
        processes: &'a ProcessRuntime,
    ) -> Hybrid<'a> {
        Hybrid {
            stack,
            engine,
            docker: engine.map(|engine| {
                DockerRuntime::new(
                    engine,
                    &stack.docker,
                    std::time::Duration::from_secs(10),
                    // Whoever restarts processes (the daemon) restarts containers too.
                    !processes.caller_restarts(),
                )
            }),
            processes,
        }
    }

    /// Before a process starts: where it reaches the services it depends on, from the ports
    /// their containers publish now (host ports the engine chose included).
    pub async fn prepare_process(&self, service: &str) {
        let deps = self
            .stack
            .depends_on
            .get(service)
            .cloned()
            .unwrap_or_default();
        let mut env = BTreeMap::new();
        let containers = match self.engine {
            Some(engine) if deps.iter().any(|d| !self.stack.is_process(&d.service)) => engine
                .containers(&self.stack.name)
                .await
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for dep in &deps {
            let prefix = env_prefix(&dep.service);
            let mut ports: Vec<(u32, String, u16)> = Vec::new();
            if let Some(p) = self.stack.processes.iter().find(|p| p.name == dep.service) {
                ports.extend(
                    p.ports
                        .iter()
                        .map(|port| (u32::from(*port), "127.0.0.1".to_owned(), *port)),
                );
            } else {
                for c in containers
                    .iter()
                    .filter(|c| c.service.as_deref() == Some(dep.service.as_str()))
                {
                    for p in &c.ports {
                        let (Some(public), Some(ip)) = (p.published, p.host_ip.as_deref()) else {
                            continue;
                        };
                        if ip.contains(':') {
                            continue;
                        }
                        ports.push((u32::from(p.target), host_address(ip), public));
                    }
                }
                // Declared order first: the first declared port is `_PORT`.
                let declared = self
                    .stack
                    .published
                    .get(&dep.service)
                    .cloned()
                    .unwrap_or_default();
                ports.sort_by_key(|(target, _, _)| {
                    declared
                        .iter()
                        .position(|d| d.target == *target)
                        .unwrap_or(usize::MAX)
                });
                ports.dedup_by_key(|(target, _, _)| *target);
            }
            if let Some((_, host, port)) = ports.first() {
                env.insert(format!("{prefix}HOST"), host.clone());
                env.insert(format!("{prefix}PORT"), port.to_string());
            }
            for (target, _, port) in &ports {
                env.insert(format!("{prefix}PORT_{target}"), port.to_string());
            }
        }
        self.processes.set_derived_env(service, env);
    }
}

impl Hybrid<'_> {
    /// `down` (`AfterStop::RemoveRecord`: every instance removed) or `stop` (those that
    /// run stopped and kept): the [`skiff_plan::stop_plan`] of these instances, executed
    /// wave by wave through this runtime, saying each step through `say` (`process api-1:
    /// stopping`, `... removed`); returns what failed.
    pub async fn stop_instances(
        &self,
        instances: &[Instance],
        after: AfterStop,
        say: &(dyn Fn(String) + Sync),
    ) -> Vec<String> {
        let remove = after == AfterStop::RemoveRecord;
        let plan = skiff_plan::stop_plan(&self.stack.desired(), instances, remove);
        let done = if remove { "removed" } else { "stopped" };
        let label = |action: &Action| -> Option<(String, bool)> {
            let (Action::Remove { id, name, .. } | Action::Stop { id, name, .. }) = action else {
                return None;
            };
            let side = match side_of_id(id) {
                Side::Process => "process",
                Side::Container => "container",
            };
            let running = instances.iter().any(|i| {
                i.id == *id && matches!(i.state, State::Running | State::Restarting | State::Paused)
            });
            Some((format!("{side} {name}"), running))
        };
        let on_event = |event: skiff_runtime::Event| match event {
            skiff_runtime::Event::Started { action } => {
                if let Some((what, true)) = label(&action) {
                    say(format!("{what}: stopping"));
                }
            }
            skiff_runtime::Event::Done { action, .. } => {
                if let Some((what, _)) = label(&action) {
                    say(format!("{what}: {done}"));
                }
            }
            _ => {}
        };
        match skiff_runtime::execute_waves(self, &plan, &on_event).await {
            Ok(()) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Why the services did not all become ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("{0}")]
    Runtime(String),
    #[error("service {service} exited with code {code}")]
    Exited { service: String, code: i64 },
    #[error("service {0} is unhealthy")]
    Unhealthy(String),
    #[error("service {service} did not become ready within {timeout:?}")]
    Timeout { service: String, timeout: Duration },
}

/// Waits until every service with replicas is ready (`up --wait`): healthy, or started when
/// it has no healthcheck, or completed successfully. Polls every 100 ms, on tokio's clock.
///
/// # Errors
/// A service exits non-zero, turns unhealthy, or is not ready by the timeout.
pub async fn wait_ready(
    runtime: &impl Runtime,
    desired: &Desired,
    timeout: Duration,
) -> Result<(), WaitError> {
    let deadline = tokio::time::Instant::now() + timeout;
    for s in desired.services.iter().filter(|s| s.replicas > 0) {
        loop {
            let (r, has_hc) = runtime
                .readiness(&s.name)
                .await
                .map_err(|e| WaitError::Runtime(e.to_string()))?;
            match r {
                Readiness::Healthy | Readiness::Exited(0) => break,
                Readiness::Started if !has_hc => break,
                Readiness::Exited(code) => {
                    return Err(WaitError::Exited {
                        service: s.name.clone(),
                        code,
                    });
                }
                Readiness::Unhealthy => return Err(WaitError::Unhealthy(s.name.clone())),
                _ => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(WaitError::Timeout {
                    service: s.name.clone(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// The process side of a [`Hybrid`]: before a process starts, where it reaches what it
/// depends on ([`Hybrid::prepare_process`]); only what may have records is observed.
struct ProcessSide<'h, 'a> {
    hybrid: &'h Hybrid<'a>,
}

impl Runtime for ProcessSide<'_, '_> {
    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        if let Action::Create { service, .. }
        | Action::Start { service, .. }
        | Action::Recreate { service, .. } = action
        {
            self.hybrid.prepare_process(service).await;
        }
        self.hybrid.processes.apply(action).await
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        self.hybrid.processes.readiness(service).await
    }

    async fn observe(&self) -> Result<Observed, RuntimeError> {
        if self.hybrid.stack.has_process_state() {
            Runtime::observe(self.hybrid.processes).await
        } else {
            Ok(Observed::default())
        }
    }
}

impl<'a> Hybrid<'a> {
    /// This hybrid as the [`Split`](crate::split::Split) it is: containers on the engine,
    /// processes on the [`ProcessSide`], routed by the stack's services.
    fn split(
        &self,
    ) -> crate::split::Split<'_, DockerRuntime<'a>, ProcessSide<'_, 'a>, impl Fn(&str) -> bool + Sync>
    {
        crate::split::Split {
            containers: self.docker.as_ref(),
            processes: ProcessSide { hybrid: self },
            is_process: |s: &str| self.stack.is_process(s),
        }
    }
}

impl Runtime for Hybrid<'_> {
    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        self.split().apply(action).await
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        self.split().readiness(service).await
    }

    async fn observe(&self) -> Result<Observed, RuntimeError> {
        self.split().observe().await
    }

    async fn prepare(&self, action: &Action) {
        self.split().prepare(action).await;
    }
}
