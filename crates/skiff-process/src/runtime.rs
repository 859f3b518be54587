//! The process side of the runtime port: plan actions on host processes, and what runs as the
//! planner's [`Instance`]s.
//!
//! Instances are named by the planner (`project-service-number`) and identified in plans by
//! [`instance_id`] (`process:service-number`, which no container ID can look like). Each
//! instance started here is supervised by this process ([`Supervisor`]); the handles stay in
//! the [`ProcessRuntime`] until [`ProcessRuntime::take_supervisors`] hands them to whoever
//! keeps the stack running (the foreground `skiff up`, a detached supervisor, the daemon).
//! Instances that another skiff process supervises are stopped through their records
//! ([`record::stop_instance`]), so one plan acts on whatever runs, whoever started it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use skiff_plan::{Action, Instance, State};
use skiff_runtime::{Readiness, Runtime, RuntimeError};
use tokio::sync::mpsc;

use crate::health::Health;
use crate::logs::LogFile;
use crate::record::{self, ObservedState};
use crate::service::{INHERITED_ENV, ProcessService};
use crate::spec::{InstanceId, Logs, ProcessSpec};
use crate::supervisor::{AfterStop, Report, Supervisor, SupervisorConfig};
use crate::{BackoffConfig, Exit, ProcessError};

const ID_PREFIX: &str = "process:";

/// The planner's ID of a process instance: `process:<service>-<number>`.
#[must_use]
pub fn instance_id(service: &str, number: u32) -> String {
    format!("{ID_PREFIX}{service}-{number}")
}

/// The service and number of a process instance's ID; `None` for anything else (a container).
#[must_use]
pub fn parse_instance_id(id: &str) -> Option<(&str, u32)> {
    let rest = id.strip_prefix(ID_PREFIX)?;
    let (service, number) = rest.rsplit_once('-')?;
    Some((service, number.parse().ok()?))
}

/// Where the output of an instance is kept: `<state_dir>/<project>/logs/<service>-<n>.log`.
#[must_use]
pub fn log_path(state_dir: &Path, id: &InstanceId) -> PathBuf {
    state_dir
        .join(&id.project)
        .join("logs")
        .join(format!("{}-{}.log", id.service, id.number))
}

/// A project's process services, and the instances this process supervises.
pub struct ProcessRuntime {
    project: String,
    state_dir: PathBuf,
    services: BTreeMap<String, ProcessService>,
    backoff: BackoffConfig,
    /// Restarts are the caller's (the daemon's loop): supervisors never restart.
    caller_restarts: bool,
    reports: mpsc::UnboundedSender<Report>,
    owned: Mutex<BTreeMap<InstanceId, Supervisor>>,
    /// Variables worked out at start time (where dependencies are reached); not part of the
    /// configuration hash.
    derived_env: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl ProcessRuntime {
    /// Supervision events of the instances started here go to `reports`.
    #[must_use]
    pub fn new(
        project: &str,
        state_dir: &Path,
        services: Vec<ProcessService>,
        reports: mpsc::UnboundedSender<Report>,
    ) -> ProcessRuntime {
        ProcessRuntime {
            project: project.to_owned(),
            state_dir: state_dir.to_path_buf(),
            services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
            backoff: BackoffConfig {
                initial: std::time::Duration::from_secs(1),
                max: std::time::Duration::from_secs(60),
                factor: 2,
                reset_after: std::time::Duration::from_secs(30),
            },
            caller_restarts: false,
            reports,
            owned: Mutex::new(BTreeMap::new()),
            derived_env: Mutex::new(BTreeMap::new()),
        }
    }

    /// Supervisors report exits but never restart: the caller decides (the daemon's loop,
    /// with its own backoff and crash loops), through [`Self::restart_instance`].
    #[must_use]
    pub fn with_caller_restarts(mut self) -> ProcessRuntime {
        self.caller_restarts = true;
        self
    }

    /// Whether restarts are the caller's ([`Self::with_caller_restarts`]).
    #[must_use]
    pub fn caller_restarts(&self) -> bool {
        self.caller_restarts
    }

    fn policy(&self, service: &ProcessService) -> crate::supervisor::RestartPolicy {
        if self.caller_restarts {
            crate::supervisor::RestartPolicy::No
        } else {
            service.restart
        }
    }

    /// Runs an instance afresh: stops it where it still runs (its record is kept), then
    /// starts it again under the same name, supervised here.
    ///
    /// # Errors
    /// It could not be stopped, or not started again.
    pub async fn restart_instance(
        &self,
        service: &str,
        number: u32,
        name: &str,
    ) -> Result<(), RuntimeError> {
        self.stop_instance(service, number, AfterStop::KeepRecord)
            .await
            .map_err(|e| RuntimeError::new(format!("stop {name}"), e.to_string()))?;
        self.start(service, number, name).await
    }

    #[must_use]
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Sets variables a service's next instances get on top of their environment (where
    /// their dependencies are reached); they do not count as configuration.
    pub fn set_derived_env(&self, service: &str, env: BTreeMap<String, String>) {
        if let Ok(mut derived) = self.derived_env.lock() {
            derived.insert(service.to_owned(), env);
        }
    }

    /// The project's process instances, from the records and the process table (records of
    /// services no longer declared included: the planner calls them orphans).
    ///
    /// # Errors
    /// The project's state directory cannot be read.
    pub fn observe(&self) -> Result<Vec<Instance>, ProcessError> {
        Ok(record::observe(&self.state_dir, &self.project)?
            .into_iter()
            .map(|o| Instance {
                id: instance_id(&o.record.service, o.record.number),
                name: o.record.name.clone(),
                service: o.record.service.clone(),
                number: o.record.number,
                hash: o.record.config_hash.clone(),
                config: o.record.config.clone(),
                state: match o.state {
                    ObservedState::Running => State::Running,
                    ObservedState::Restarting { .. } => State::Restarting,
                    ObservedState::Exited(exit) => State::Exited(exit_code(exit)),
                },
                image_id: None,
            })
            .collect())
    }

    /// Deletes the records of instances whose skiff process died with them, after killing
    /// what is left of their groups.
    ///
    /// # Errors
    /// A record that cannot be deleted, or leftovers that survive SIGKILL.
    pub async fn sweep(&self) -> Result<(), ProcessError> {
        record::sweep(&self.state_dir, &self.project).await?;
        Ok(())
    }

    /// Running instances of the declared services whose supervisor is gone (it was killed),
    /// as declared now (same configuration hash).
    ///
    /// # Errors
    /// The project's state directory cannot be read.
    pub fn unsupervised(&self) -> Result<Vec<record::Record>, ProcessError> {
        Ok(record::observe(&self.state_dir, &self.project)?
            .into_iter()
            .filter(|o| o.state == ObservedState::Running && !o.supervised)
            .filter(|o| {
                self.services
                    .get(&o.record.service)
                    .is_some_and(|s| s.hash == o.record.config_hash)
            })
            .map(|o| o.record)
            .collect())
    }

    /// Supervises the running instances whose supervisor is gone ([`Self::unsupervised`])
    /// from here on: restarts per policy, healthchecks, stops. Their output is no longer
    /// captured (it went to the dead supervisor), until they are restarted. Returns the
    /// names of the instances taken over.
    pub async fn adopt_unsupervised(&self) -> Vec<String> {
        let mut adopted = Vec::new();
        for r in self.unsupervised().unwrap_or_default() {
            let Some(svc) = self.services.get(&r.service) else {
                continue;
            };
            let id = r.id();
            let config = self.supervisor_config(svc, &id, &r.name);
            let name = r.name.clone();
            if let Ok(supervisor) = Supervisor::adopt(config, r, self.reports.clone()).await
                && let Ok(mut owned) = self.owned.lock()
            {
                owned.insert(id, supervisor);
                adopted.push(name);
            }
        }
        adopted
    }

    /// The supervisors of the instances started here so far, to keep them running; later
    /// actions no longer see them as this runtime's own.
    pub fn take_supervisors(&self) -> Vec<Supervisor> {
        self.owned
            .lock()
            .map(|mut owned| std::mem::take(&mut *owned).into_values().collect())
            .unwrap_or_default()
    }

    /// How an instance of `service` is supervised (started or adopted).
    fn supervisor_config(
        &self,
        svc: &ProcessService,
        id: &InstanceId,
        name: &str,
    ) -> SupervisorConfig {
        SupervisorConfig {
            spec: self.spec(svc, id),
            id: id.clone(),
            name: name.to_owned(),
            config_hash: svc.hash.clone(),
            healthcheck: svc.healthcheck.clone(),
            restart: self.policy(svc),
            backoff: self.backoff,
            state_dir: self.state_dir.clone(),
            recorded_config: Some(svc.config.clone()),
        }
    }

    /// The spec of a one-off process of a service (a job's run): the service's environment
    /// (and what reaches its dependencies), working directory and stop signal, with another
    /// command, its output captured into `log`. `None` for a service this runtime does not
    /// run as processes.
    #[must_use]
    pub fn oneoff_spec(
        &self,
        service: &str,
        command: Option<&[String]>,
        log: PathBuf,
    ) -> Option<ProcessSpec> {
        let svc = self.services.get(service)?;
        let id = InstanceId::new(&self.project, service, 0);
        let mut spec = self.spec(svc, &id);
        if let Some(command) = command {
            spec.argv = command.to_vec();
        }
        spec.logs = Logs::File(LogFile::new(log));
        Some(spec)
    }

    fn spec(&self, service: &ProcessService, id: &InstanceId) -> ProcessSpec {
        let mut env = service.environment.clone();
        if let Ok(derived) = self.derived_env.lock()
            && let Some(extra) = derived.get(&service.name)
        {
            for (k, v) in extra {
                env.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        ProcessSpec {
            argv: service.argv.clone(),
            env,
            inherit_env: INHERITED_ENV.iter().map(|s| (*s).to_owned()).collect(),
            working_dir: service.working_dir.clone(),
            stop_signal: service.stop_signal,
            stop_grace_period: service.stop_grace_period,
            logs: Logs::File(LogFile::new(log_path(&self.state_dir, id))),
        }
    }

    async fn start(&self, service: &str, number: u32, name: &str) -> Result<(), RuntimeError> {
        let what = || format!("start {name}");
        let svc = self
            .services
            .get(service)
            .ok_or_else(|| RuntimeError::new(what(), "not a process service of the project"))?;
        let id = InstanceId::new(&self.project, service, number);
        let config = self.supervisor_config(svc, &id, name);
        let supervisor = Supervisor::start(config, self.reports.clone())
            .await
            .map_err(|e| RuntimeError::new(what(), e.to_string()))?;
        if let Ok(mut owned) = self.owned.lock() {
            owned.insert(id, supervisor);
        }
        Ok(())
    }

    /// Stops an instance wherever it is supervised, and keeps its record saying exited
    /// (`skiff stop`) or deletes it and the instance's logs (`skiff down`). `None` when the
    /// instance has no record or its exit is unknown.
    ///
    /// # Errors
    /// The group could not be stopped, or the record not updated.
    pub async fn stop_instance(
        &self,
        service: &str,
        number: u32,
        after: AfterStop,
    ) -> Result<Option<Exit>, ProcessError> {
        let id = InstanceId::new(&self.project, service, number);
        let own = self.owned.lock().ok().and_then(|mut o| o.remove(&id));
        let exit = match own {
            Some(supervisor) => supervisor.stop(after).await?,
            None => match record::read(&self.state_dir, &id)? {
                Some(r) => record::stop_instance(&self.state_dir, &r, after).await?,
                None => None,
            },
        };
        if after == AfterStop::RemoveRecord {
            record::forget(&self.state_dir, &id)?;
            crate::logs::remove_logs(&log_path(&self.state_dir, &id))?;
        }
        Ok(exit)
    }
}

/// An exit as a container's exit code: the code, 128 + a signal, -1 when unknown.
fn exit_code(exit: Exit) -> i64 {
    exit.code().unwrap_or(-1)
}

fn parse(id: &str, name: &str) -> Result<(String, u32), RuntimeError> {
    parse_instance_id(id)
        .map(|(s, n)| (s.to_owned(), n))
        .ok_or_else(|| RuntimeError::new(format!("act on {name}"), "not a process instance"))
}

impl Runtime for ProcessRuntime {
    async fn observe(&self) -> Result<skiff_plan::Observed, RuntimeError> {
        let instances = ProcessRuntime::observe(self)
            .map_err(|e| RuntimeError::new("observe the processes", e.to_string()))?;
        Ok(skiff_plan::Observed {
            instances,
            ..skiff_plan::Observed::default()
        })
    }

    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        match action {
            Action::Create {
                service,
                number,
                name,
            } => self.start(service, *number, name).await,
            Action::Start { id, name, .. } => {
                let (service, number) = parse(id, name)?;
                self.start(&service, number, name).await
            }
            Action::Recreate {
                service,
                number,
                id,
                name,
                ..
            } => {
                let (old_service, old_number) = parse(id, name)?;
                self.stop_instance(&old_service, old_number, AfterStop::RemoveRecord)
                    .await
                    .map_err(|e| RuntimeError::new(format!("stop {name}"), e.to_string()))?;
                self.start(service, *number, name).await
            }
            Action::Remove { id, name, .. } => {
                let (service, number) = parse(id, name)?;
                self.stop_instance(&service, number, AfterStop::RemoveRecord)
                    .await
                    .map(|_| ())
                    .map_err(|e| RuntimeError::new(format!("remove {name}"), e.to_string()))
            }
            Action::Stop { id, name, .. } => {
                let (service, number) = parse(id, name)?;
                self.stop_instance(&service, number, AfterStop::KeepRecord)
                    .await
                    .map(|_| ())
                    .map_err(|e| RuntimeError::new(format!("stop {name}"), e.to_string()))
            }
            Action::CreateNetwork { name, .. } | Action::CreateVolume { name, .. } => {
                Err(RuntimeError::new(
                    format!("create {name}"),
                    "host processes have no networks or volumes",
                ))
            }
        }
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        let has_healthcheck = self
            .services
            .get(service)
            .is_some_and(|s| s.healthcheck.is_some());
        let observed = record::observe_service(&self.state_dir, &self.project, service)
            .map_err(|e| RuntimeError::new("observe", e.to_string()))?;
        Ok((readiness(&observed, has_healthcheck), has_healthcheck))
    }
}

/// Where a service stands from its instances' records: as the Docker runtime answers for
/// containers (all exited: the worst code; any not running: pending; then health).
fn readiness(observed: &[record::Observation], has_healthcheck: bool) -> Readiness {
    if observed.is_empty() {
        return Readiness::Pending;
    }
    let exits: Vec<i64> = observed
        .iter()
        .filter_map(|o| match o.state {
            ObservedState::Exited(e) => Some(exit_code(e)),
            _ => None,
        })
        .collect();
    if exits.len() == observed.len() {
        return Readiness::Exited(exits.into_iter().max_by_key(|c| c.abs()).unwrap_or(0));
    }
    if observed
        .iter()
        .any(|o| !matches!(o.state, ObservedState::Running))
    {
        return Readiness::Pending;
    }
    if !has_healthcheck {
        return Readiness::Started;
    }
    let health: Vec<Option<Health>> = observed.iter().map(|o| o.record.health).collect();
    if health.contains(&Some(Health::Unhealthy)) {
        Readiness::Unhealthy
    } else if health.iter().all(|h| *h == Some(Health::Healthy)) {
        Readiness::Healthy
    } else {
        Readiness::Started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_never_match_a_container() {
        assert_eq!(instance_id("web-api", 12), "process:web-api-12");
        assert_eq!(
            parse_instance_id("process:web-api-12"),
            Some(("web-api", 12))
        );
        assert_eq!(parse_instance_id("4f2a9c0e11d2"), None);
        assert_eq!(parse_instance_id("process:web"), None);
    }
}
