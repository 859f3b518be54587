//! A world in memory that records what the loop asks of it, for tests (this crate's and the
//! binary's). Instances crash on a script; tests kill, remove and sicken them by hand.
//!
//! The project JSON it understands is small:
//! `{"services": {"web": {"replicas": 1, "restart": "always", "hash": "h1"}}}`
//! (`replicas` defaults to 1, `restart` to `no`, `hash` to `h`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use skiff_plan::{Action, Desired, Instance, Observed, Restart, ServiceSpec, State};
use skiff_runtime::{Readiness, RuntimeError};
use skiff_store::Health;
use tokio::time::Instant;

use crate::world::{Change, Deployment, InstanceRef, Sink, World, WorldEvent};

/// What an instance of a service does once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Runs until killed.
    #[default]
    Runs,
    /// Exits with `code` this long after each start (zero: at once).
    CrashesAfter { after: Duration, code: i64 },
}

/// One thing the loop asked of the world, and when (tokio time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub at: Instant,
    /// `observe shop`, `create shop-web-1`, `restart shop-web-1`, ...
    pub what: String,
}

/// The fake world. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct FakeWorld {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Per project, per instance name.
    instances: BTreeMap<String, BTreeMap<String, Fake>>,
    calls: Vec<Call>,
    sink: Option<Sink>,
    behaviour: BTreeMap<String, Behaviour>,
    failing_restarts: BTreeMap<String, String>,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct Fake {
    instance: Instance,
    /// Counts starts, so that a crash timer of an earlier run does not end a later one.
    run: u64,
}

impl FakeWorld {
    #[must_use]
    pub fn new() -> FakeWorld {
        FakeWorld::default()
    }

    /// Instances of `service` (in any project) behave so from their next start on.
    pub fn set_behaviour(&self, service: &str, behaviour: Behaviour) {
        self.lock().behaviour.insert(service.to_owned(), behaviour);
    }

    /// Restarts of `service` fail with this message (`None`: they work again).
    pub fn fail_restarts(&self, service: &str, message: Option<&str>) {
        let mut inner = self.lock();
        match message {
            Some(m) => inner
                .failing_restarts
                .insert(service.to_owned(), m.to_owned()),
            None => inner.failing_restarts.remove(service),
        };
    }

    /// Everything asked so far.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The instances of a project now.
    #[must_use]
    pub fn instances(&self, project: &str) -> Vec<Instance> {
        self.lock()
            .instances
            .get(project)
            .map(|m| m.values().map(|f| f.instance.clone()).collect())
            .unwrap_or_default()
    }

    /// Its main process exits with `code`, reported as the engine would.
    pub fn kill(&self, project: &str, name: &str, code: i64) {
        let mut inner = self.lock();
        inner.exit(project, name, code);
    }

    /// Its main process exits with `code`, and nothing reports it (a missed event).
    pub fn kill_silently(&self, project: &str, name: &str, code: i64) {
        let mut inner = self.lock();
        if let Some(f) = inner.get_mut(project, name) {
            f.instance.state = State::Exited(code);
        }
    }

    /// A person removes it; `report` says whether the engine's event reaches the daemon.
    pub fn remove_by_hand(&self, project: &str, name: &str, report: bool) {
        let mut inner = self.lock();
        let removed = inner
            .instances
            .get_mut(project)
            .and_then(|m| m.remove(name));
        if let (Some(f), true) = (removed, report) {
            inner.send(project, &f.instance, Change::Removed);
        }
    }

    /// Its healthcheck now says `health`.
    pub fn set_health(&self, project: &str, name: &str, health: Health) {
        let mut inner = self.lock();
        let Some(instance) = inner.get_mut(project, name).map(|f| f.instance.clone()) else {
            return;
        };
        inner.send(project, &instance, Change::HealthChanged { health });
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call(&self, what: String) {
        self.lock().calls.push(Call {
            at: Instant::now(),
            what,
        });
    }

    /// Marks it running, reports the start, and arms its behaviour.
    fn start(&self, project: &str, name: &str) {
        let (behaviour, run) = {
            let mut inner = self.lock();
            let behaviour = {
                let Some(f) = inner.get_mut(project, name) else {
                    return;
                };
                f.instance.state = State::Running;
                f.run += 1;
                f.instance.service.clone()
            };
            let behaviour = inner.behaviour.get(&behaviour).copied().unwrap_or_default();
            let Some(f) = inner.get_mut(project, name).cloned() else {
                return;
            };
            inner.send(project, &f.instance, Change::Started);
            (behaviour, f.run)
        };
        if let Behaviour::CrashesAfter { after, code } = behaviour {
            if after.is_zero() {
                self.lock().exit(project, name, code);
                return;
            }
            let world = self.clone();
            let (project, name) = (project.to_owned(), name.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let mut inner = world.lock();
                let same_run = inner
                    .get_mut(&project, &name)
                    .is_some_and(|f| f.run == run && f.instance.state == State::Running);
                if same_run {
                    inner.exit(&project, &name, code);
                }
            });
        }
    }
}

impl Inner {
    fn get_mut(&mut self, project: &str, name: &str) -> Option<&mut Fake> {
        self.instances
            .get_mut(project)
            .and_then(|m| m.get_mut(name))
    }

    fn exit(&mut self, project: &str, name: &str, code: i64) {
        let Some(f) = self.get_mut(project, name) else {
            return;
        };
        f.instance.state = State::Exited(code);
        let instance = f.instance.clone();
        self.send(project, &instance, Change::Exited { code });
    }

    fn send(&self, project: &str, instance: &Instance, change: Change) {
        if let Some(sink) = &self.sink {
            sink.send(WorldEvent {
                project: project.to_owned(),
                service: instance.service.clone(),
                instance: instance.name.clone(),
                id: instance.id.clone(),
                change,
            });
        }
    }

    fn create(&mut self, deployment: &Deployment, service: &str, number: u32, name: &str) {
        self.next_id += 1;
        let hash = deployment
            .desired
            .services
            .iter()
            .find(|s| s.name == service)
            .map(|s| s.hash.clone())
            .unwrap_or_default();
        let instance = Instance {
            id: format!("{name}#{}", self.next_id),
            name: name.to_owned(),
            service: service.to_owned(),
            number,
            hash,
            config: None,
            state: State::Created,
            image_id: None,
        };
        self.instances
            .entry(deployment.name.clone())
            .or_default()
            .insert(name.to_owned(), Fake { instance, run: 0 });
    }
}

impl World for FakeWorld {
    fn desired(
        &self,
        name: &str,
        project: &crate::StackSource,
    ) -> impl Future<Output = Result<Desired, RuntimeError>> + Send {
        let result = desired(name, &project.canonical);
        async move { result }
    }

    fn observe(
        &self,
        deployment: &Deployment,
    ) -> impl Future<Output = Result<Observed, RuntimeError>> + Send {
        self.call(format!("observe {}", deployment.name));
        let observed = Observed {
            instances: self.instances(&deployment.name),
            networks: Vec::new(),
            volumes: Vec::new(),
        };
        async move { Ok(observed) }
    }

    fn apply(
        &self,
        deployment: &Deployment,
        action: &Action,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        let project = deployment.name.as_str();
        match action {
            Action::CreateNetwork { name, .. } => self.call(format!("create network {name}")),
            Action::CreateVolume { name, .. } => self.call(format!("create volume {name}")),
            Action::Create {
                service,
                number,
                name,
            } => {
                self.call(format!("create {name}"));
                self.lock().create(deployment, service, *number, name);
                self.start(project, name);
            }
            Action::Recreate {
                service,
                number,
                name,
                ..
            } => {
                self.call(format!("recreate {name}"));
                let old = self
                    .lock()
                    .instances
                    .get_mut(project)
                    .and_then(|m| m.remove(name));
                if let Some(old) = old {
                    self.lock().send(project, &old.instance, Change::Removed);
                }
                self.lock().create(deployment, service, *number, name);
                self.start(project, name);
            }
            Action::Start { name, .. } => {
                self.call(format!("start {name}"));
                self.start(project, name);
            }
            Action::Remove { name, .. } => {
                self.call(format!("remove {name}"));
                self.remove_by_hand(project, name, true);
            }
            Action::Stop { name, .. } => {
                self.call(format!("stop {name}"));
                self.remove_by_hand(project, name, false);
            }
        }
        async { Ok(()) }
    }

    fn readiness(
        &self,
        deployment: &Deployment,
        service: &str,
    ) -> impl Future<Output = Result<(Readiness, bool), RuntimeError>> + Send {
        let states: Vec<State> = self
            .instances(&deployment.name)
            .into_iter()
            .filter(|i| i.service == service)
            .map(|i| i.state)
            .collect();
        let readiness = if states.contains(&State::Running) {
            Readiness::Healthy
        } else if let Some(State::Exited(code)) = states.first() {
            Readiness::Exited(*code)
        } else {
            Readiness::Pending
        };
        async move { Ok((readiness, false)) }
    }

    fn restart(
        &self,
        deployment: &Deployment,
        instance: &InstanceRef,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        self.call(format!("restart {}", instance.name));
        let failing = self.lock().failing_restarts.get(&instance.service).cloned();
        let result = match failing {
            Some(message) => Err(RuntimeError::new(
                format!("restart {}", instance.name),
                message,
            )),
            None if self
                .lock()
                .get_mut(&deployment.name, &instance.name)
                .is_none() =>
            {
                Err(RuntimeError::new(
                    format!("restart {}", instance.name),
                    "no such instance",
                ))
            }
            None => {
                self.start(&deployment.name, &instance.name);
                Ok(())
            }
        };
        async move { result }
    }

    fn watch(&self, sink: Sink) {
        self.lock().sink = Some(sink);
    }
}

/// The fake's project format into the planner's view.
pub(crate) fn desired(name: &str, project: &serde_json::Value) -> Result<Desired, RuntimeError> {
    let invalid = |m: &str| RuntimeError::new(format!("read project {name}"), m);
    let services = project
        .get("services")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| invalid("no services"))?;
    let mut out = Vec::new();
    for (service, spec) in services {
        let restart: Restart = spec
            .get("restart")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no")
            .parse()
            .map_err(|e: skiff_plan::InvalidRestart| invalid(&e.to_string()))?;
        out.push(ServiceSpec {
            name: service.clone(),
            replicas: spec
                .get("replicas")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1),
            hash: spec
                .get("hash")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("h")
                .to_owned(),
            config: spec.clone(),
            fixed_name: None,
            depends_on: Vec::new(),
            restart,
            image_id: None,
        });
    }
    Ok(Desired {
        project: name.to_owned(),
        services: out,
        networks: Vec::new(),
        volumes: Vec::new(),
    })
}
