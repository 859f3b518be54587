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

use skiff_plan::{Action, Desired, Instance, Observed, Removal, State};
use skiff_process::{AfterStop, ProcessRuntime, parse_instance_id};
use skiff_runtime::{Readiness, Runtime, RuntimeError};

use crate::stack::{Stack, env_prefix, host_address};

/// The engine or the process state could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ObserveError(String);

/// The observed state of both runtimes.
///
/// # Errors
/// The engine or the state directory cannot be read.
pub async fn observe(
    engine: Option<&Engine>,
    project: &str,
    processes: Option<&ProcessRuntime>,
) -> Result<Observed, ObserveError> {
    let mut observed = match engine {
        Some(engine) => engine
            .observe(project)
            .await
            .map_err(|e| ObserveError(e.to_string()))?,
        None => Observed::default(),
    };
    if let Some(p) = processes {
        observed
            .instances
            .extend(p.observe().map_err(|e| ObserveError(e.to_string()))?);
    }
    Ok(observed)
}

/// Which runtime an action's instance lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Container,
    Process,
}

/// The side of an existing instance, by its ID.
#[must_use]
pub fn side_of_id(id: &str) -> Side {
    if parse_instance_id(id).is_some() {
        Side::Process
    } else {
        Side::Container
    }
}

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
            docker: engine.map(|engine| DockerRuntime {
                engine,
                project: &stack.docker,
                stop_timeout: std::time::Duration::from_secs(10),
                // Whoever restarts processes (the daemon) restarts containers too.
                engine_restarts: !processes.caller_restarts(),
            }),
            processes,
        }
    }

    fn docker(&self, what: &str) -> Result<&DockerRuntime<'a>, RuntimeError> {
        self.docker.as_ref().ok_or_else(|| {
            RuntimeError::new(
                what.to_owned(),
                "this needs the Docker Engine, and the stack has no container service",
            )
        })
    }

    fn side_of_service(&self, service: &str) -> Side {
        if self.stack.is_process(service) {
            Side::Process
        } else {
            Side::Container
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
                for c in &containers {
                    let of_dep = c
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(skiff_docker::labels::SERVICE))
                        .is_some_and(|s| *s == dep.service);
                    if !of_dep {
                        continue;
                    }
                    for p in c.ports.iter().flatten() {
                        let (Some(public), Some(ip)) = (p.public_port, p.ip.as_deref()) else {
                            continue;
                        };
                        if ip.contains(':') {
                            continue;
                        }
                        ports.push((u32::from(p.private_port), host_address(ip), public));
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
    /// Stops (or, `AfterStop::RemoveRecord`, removes) instances in the stop order (orphans,
    /// then dependants before their dependencies), each wave in parallel, saying each step
    /// through `say` (`process api-1: stopping`, `... removed`); returns what failed.
    pub async fn stop_instances(
        &self,
        instances: &[Instance],
        after: AfterStop,
        say: &(dyn Fn(String) + Sync),
    ) -> Vec<String> {
        let desired = self.stack.desired();
        let docker = self.docker.as_ref();
        let processes = self.processes;
        let done = if after == AfterStop::RemoveRecord {
            "removed"
        } else {
            "stopped"
        };
        let mut errors = Vec::new();
        for wave in skiff_plan::order::stop_waves(&desired, instances) {
            let tasks = instances
                .iter()
                .filter(|i| wave.contains(&i.service))
                .map(|i| async move {
                    if let Some((service, number)) = parse_instance_id(&i.id) {
                        if matches!(i.state, State::Running | State::Restarting) {
                            say(format!("process {}: stopping", i.name));
                        }
                        return processes
                            .stop_instance(service, number, after)
                            .await
                            .map(|_| say(format!("process {}: {done}", i.name)))
                            .map_err(|e| e.to_string());
                    }
                    let Some(docker) = docker else {
                        return Err(format!(
                            "container {}: the stack has no container service; remove it with docker",
                            i.name
                        ));
                    };
                    if matches!(i.state, State::Running | State::Restarting | State::Paused) {
                        say(format!("container {}: stopping", i.name));
                    }
                    let remove = after == AfterStop::RemoveRecord;
                    docker
                        .stop_instance(&i.service, &i.id, &i.name, remove)
                        .await
                        .map(|()| say(format!("container {}: {done}", i.name)))
                        .map_err(|e| e.to_string())
                });
            errors.extend(
                futures_util::future::join_all(tasks)
                    .await
                    .into_iter()
                    .filter_map(Result::err),
            );
        }
        errors
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

impl Runtime for Hybrid<'_> {
    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        match action {
            Action::CreateNetwork { name, .. } | Action::CreateVolume { name, .. } => {
                self.docker(&format!("create {name}"))?.apply(action).await
            }
            Action::Create { service, name, .. } => match self.side_of_service(service) {
                Side::Process => {
                    self.prepare_process(service).await;
                    self.processes.apply(action).await
                }
                Side::Container => self.docker(&format!("create {name}"))?.apply(action).await,
            },
            Action::Start {
                service, id, name, ..
            } => match side_of_id(id) {
                Side::Process => {
                    self.prepare_process(service).await;
                    self.processes.apply(action).await
                }
                Side::Container => self.docker(&format!("start {name}"))?.apply(action).await,
            },
            Action::Remove { id, name, .. } => match side_of_id(id) {
                Side::Process => self.processes.apply(action).await,
                Side::Container => self.docker(&format!("remove {name}"))?.apply(action).await,
            },
            Action::Recreate {
                service,
                number,
                id,
                name,
                ..
            } => {
                let to = self.side_of_service(service);
                let from = side_of_id(id);
                if from == to {
                    return match to {
                        Side::Process => {
                            self.prepare_process(service).await;
                            self.processes.apply(action).await
                        }
                        Side::Container => {
                            self.docker(&format!("recreate {name}"))?
                                .apply(action)
                                .await
                        }
                    };
                }
                // Moving between runtimes: the old instance goes first (it may hold the ports
                // the new one needs), then the new one starts under the same name.
                let remove = Action::Remove {
                    service: service.clone(),
                    id: id.clone(),
                    name: name.clone(),
                    reason: Removal::ScaleDown,
                };
                let create = Action::Create {
                    service: service.clone(),
                    number: *number,
                    name: name.clone(),
                };
                match from {
                    Side::Process => self.processes.apply(&remove).await?,
                    Side::Container => {
                        self.docker(&format!("remove {name}"))?
                            .apply(&remove)
                            .await?;
                    }
                }
                match to {
                    Side::Process => {
                        self.prepare_process(service).await;
                        self.processes.apply(&create).await
                    }
                    Side::Container => self.docker(&format!("create {name}"))?.apply(&create).await,
                }
            }
        }
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        match self.side_of_service(service) {
            Side::Process => self.processes.readiness(service).await,
            Side::Container => self.docker("observe")?.readiness(service).await,
        }
    }
}
