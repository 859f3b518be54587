//! Planning: compare what should run with what runs, and say what to do about it, and why.
//!
//! `plan(desired, observed)` is a pure function. `skiff plan` prints its result; `skiff up`
//! executes the same value. The planner knows nothing of Docker or processes: instances are
//! named, numbered, hashed things in a state. Level-triggered: every plan starts from what is
//! observed, so an interrupted `up` is just another starting point.

pub mod backoff;
mod diff;
pub mod order;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use backoff::{Backoff, BackoffConfig};
pub use diff::changed_fields;

/// What the files ask for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Desired {
    pub project: String,
    pub services: Vec<ServiceSpec>,
    pub networks: Vec<ResourceSpec>,
    pub volumes: Vec<ResourceSpec>,
}

/// One service as the planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    pub replicas: u32,
    /// Configuration hash; a differing hash means the instance must be recreated.
    pub hash: String,
    /// The configuration itself, to explain *which* fields changed.
    pub config: serde_json::Value,
    /// A fixed instance name (`container_name`), if any.
    pub fixed_name: Option<String>,
    pub depends_on: Vec<Dependency>,
    pub restart: Restart,
    /// The ID of the image the service runs, as the engine knows it now; `None` when unknown
    /// (not built yet) or not an image (a process).
    pub image_id: Option<String>,
}

/// Compose's `restart`: when an instance that ended is started again (by `up`, a process
/// supervisor, the daemon). Written and read as Compose writes it (`on-failure:3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Never.
    #[default]
    No,
    /// Whatever the exit.
    Always,
    /// After a non-zero exit (a signal, an unknown end, being unhealthy), at most
    /// `max_retries` times in a row.
    OnFailure { max_retries: Option<u32> },
    /// As `Always` for whoever restarts; not started again after a manual stop (the
    /// planner's concern).
    UnlessStopped,
}

impl Restart {
    /// Whether an instance that ended with `code` (`None`: unknown, or unhealthy), after
    /// `restarts` restarts in a row, is started again.
    #[must_use]
    pub fn restarts(self, code: Option<i64>, restarts: u32) -> bool {
        match self {
            Restart::No => false,
            Restart::Always | Restart::UnlessStopped => true,
            Restart::OnFailure { max_retries } => {
                code != Some(0) && max_retries.is_none_or(|max| restarts < max)
            }
        }
    }
}

impl Restart {
    /// The policy a service declares, read as docker compose reads it: `deploy.restart_policy`
    /// (`condition`, `max_attempts`) wins over `restart`, its condition mapped as compose maps
    /// it (`none` is `no`, `any` or none given is `always`). `None` when the service declares
    /// neither, so that whoever restarts can choose a default.
    ///
    /// # Errors
    /// A `restart` or a condition Compose does not know.
    pub fn declared(
        restart: &str,
        deploy_policy: Option<(&str, Option<u64>)>,
    ) -> Result<Option<Restart>, InvalidRestart> {
        if let Some((condition, max_attempts)) = deploy_policy {
            let max_retries = max_attempts
                .filter(|n| *n > 0)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            return match condition {
                "none" | "no" => Ok(Some(Restart::No)),
                "on-failure" => Ok(Some(Restart::OnFailure { max_retries })),
                "unless-stopped" => Ok(Some(Restart::UnlessStopped)),
                "any" | "always" | "" => Ok(Some(Restart::Always)),
                other => Err(InvalidRestart(other.to_owned())),
            };
        }
        if restart.is_empty() {
            return Ok(None);
        }
        restart.parse().map(Some)
    }
}

/// A `restart` value Compose does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid restart policy {0:?}: expected no, always, on-failure[:N] or unless-stopped")]
pub struct InvalidRestart(pub String);

impl std::str::FromStr for Restart {
    type Err = InvalidRestart;

    /// `no` (or empty), `always`, `on-failure`, `on-failure:N`, `unless-stopped`.
    fn from_str(text: &str) -> Result<Restart, InvalidRestart> {
        let invalid = || InvalidRestart(text.to_owned());
        match text.split_once(':') {
            None => match text {
                "no" | "" => Ok(Restart::No),
                "always" => Ok(Restart::Always),
                "on-failure" => Ok(Restart::OnFailure { max_retries: None }),
                "unless-stopped" => Ok(Restart::UnlessStopped),
                _ => Err(invalid()),
            },
            Some(("on-failure", max)) => Ok(Restart::OnFailure {
                max_retries: Some(max.parse().map_err(|_| invalid())?),
            }),
            Some(_) => Err(invalid()),
        }
    }
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Restart::No => f.write_str("no"),
            Restart::Always => f.write_str("always"),
            Restart::OnFailure { max_retries: None } => f.write_str("on-failure"),
            Restart::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
            Restart::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl Serialize for Restart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    pub required: bool,
    /// Restart this service when the dependency is recreated.
    pub restart: bool,
}

/// What "ready" means for a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// A network or volume the project owns (or uses, when external).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceSpec {
    /// The key in the compose file.
    pub key: String,
    /// The engine's name for it.
    pub name: String,
    pub external: bool,
}

/// What runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    pub instances: Vec<Instance>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// A container or process of the project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub hash: String,
    /// The configuration it was created with, when skiff created it.
    pub config: Option<serde_json::Value>,
    pub state: State,
    /// The ID of the image it was created from, when recorded.
    pub image_id: Option<String>,
}

/// Life state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "exit_code")]
pub enum State {
    Created,
    Running,
    Restarting,
    Paused,
    Exited(i64),
    Dead,
}

/// Why an instance is recreated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reason {
    /// These fields changed (paths such as `environment.LOG_LEVEL`).
    ConfigChanged { fields: Vec<String> },
    /// The configuration hash moved; the old configuration is unknown (created by another tool).
    HashChanged,
    /// The image behind the same name moved (rebuilt, or loaded anew).
    ImageChanged { from: String, to: String },
}

/// Why an instance is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// Its service is no longer in the files.
    Orphan,
    /// More instances run than `replicas` asks for.
    ScaleDown,
    /// The stack is taken down (`skiff down`).
    Down,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    CreateNetwork {
        key: String,
        name: String,
    },
    CreateVolume {
        key: String,
        name: String,
    },
    Create {
        service: String,
        number: u32,
        name: String,
    },
    Recreate {
        service: String,
        number: u32,
        id: String,
        name: String,
        reason: Reason,
    },
    Start {
        service: String,
        id: String,
        name: String,
    },
    Remove {
        service: String,
        id: String,
        name: String,
        reason: Removal,
    },
    /// Stop a running instance and keep it (`skiff stop`).
    Stop {
        service: String,
        id: String,
        name: String,
    },
}

impl Action {
    /// The service an action concerns, if any.
    #[must_use]
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::Create { service, .. }
            | Action::Recreate { service, .. }
            | Action::Start { service, .. }
            | Action::Remove { service, .. }
            | Action::Stop { service, .. } => Some(service),
            Action::CreateNetwork { .. } | Action::CreateVolume { .. } => None,
        }
    }
}

/// What `down` (`remove`) or `stop` does to these instances: a plan whose waves follow
/// [`order::stop_waves`] (orphans, then dependants before what they depend on). `down`
/// removes every instance, whatever its state; `stop` stops those that run and keeps them.
#[must_use]
pub fn stop_plan(desired: &Desired, instances: &[Instance], remove: bool) -> Plan {
    let mut actions = Vec::new();
    for (wave, services) in order::stop_waves(desired, instances).iter().enumerate() {
        for i in instances.iter().filter(|i| services.contains(&i.service)) {
            let action = if remove {
                Action::Remove {
                    service: i.service.clone(),
                    id: i.id.clone(),
                    name: i.name.clone(),
                    reason: Removal::Down,
                }
            } else if matches!(i.state, State::Running | State::Restarting | State::Paused) {
                Action::Stop {
                    service: i.service.clone(),
                    id: i.id.clone(),
                    name: i.name.clone(),
                }
            } else {
                continue;
            };
            actions.push(Planned { wave, action });
        }
    }
    Plan { actions }
}

/// The actions, in an order that respects dependencies; `wave` groups actions that may run
/// in parallel (every action of wave n+1 waits for wave n).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub actions: Vec<Planned>,
}

/// An action and the wave it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub wave: usize,
    #[serde(flatten)]
    pub action: Action,
}

impl Plan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Options the user controls.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Remove instances of services no longer declared.
    pub remove_orphans: bool,
    /// Only these services (and what they depend on); empty means all.
    pub only: Vec<String>,
    /// Start again instances that completed (exited 0), as `docker compose up` runs a
    /// finished one-shot again. Off for the daemon's reconcile, which leaves a clean exit
    /// alone between deploys.
    pub rerun_completed: bool,
}

/// The instance name `{project}-{service}-{number}`, as Compose names containers.
#[must_use]
pub fn instance_name(project: &str, service: &ServiceSpec, number: u32) -> String {
    match &service.fixed_name {
        Some(n) => n.clone(),
        None => format!("{project}-{}-{number}", service.name),
    }
}

/// Computes the plan that takes `observed` to `desired`.
///
/// # Errors
/// A dependency cycle among the selected services, or a dependency on an unknown service.
pub fn plan(desired: &Desired, observed: &Observed, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let selected = order::select(desired, &opts.only)?;
    let waves = order::waves(desired, &selected)?;
    let mut out: Vec<Planned> = Vec::new();

    for n in desired.networks.iter().filter(|n| !n.external) {
        if !observed.networks.contains(&n.name) {
            out.push(Planned {
                wave: 0,
                action: Action::CreateNetwork {
                    key: n.key.clone(),
                    name: n.name.clone(),
                },
            });
        }
    }
    for v in desired.volumes.iter().filter(|v| !v.external) {
        if !observed.volumes.contains(&v.name) {
            out.push(Planned {
                wave: 0,
                action: Action::CreateVolume {
                    key: v.key.clone(),
                    name: v.name.clone(),
                },
            });
        }
    }

    let declared: BTreeSet<&str> = desired.services.iter().map(|s| s.name.as_str()).collect();
    if opts.remove_orphans {
        for i in observed
            .instances
            .iter()
            .filter(|i| !declared.contains(i.service.as_str()))
        {
            out.push(Planned {
                wave: 0,
                action: Action::Remove {
                    service: i.service.clone(),
                    id: i.id.clone(),
                    name: i.name.clone(),
                    reason: Removal::Orphan,
                },
            });
        }
    }

    let by_service: BTreeMap<&str, Vec<&Instance>> =
        observed.instances.iter().fold(BTreeMap::new(), |mut m, i| {
            m.entry(i.service.as_str()).or_insert_with(Vec::new).push(i);
            m
        });
    for (wave_index, wave) in waves.iter().enumerate() {
        let wave_no = wave_index + 1;
        for name in wave {
            let Some(spec) = desired.services.iter().find(|s| &s.name == name) else {
                continue;
            };
            let mut instances: Vec<&Instance> = by_service
                .get(spec.name.as_str())
                .cloned()
                .unwrap_or_default();
            // Obsolete instances first, then the highest numbers: those go when scaling down.
            instances.sort_by_key(|i| (i.hash == spec.hash, std::cmp::Reverse(i.number)));
            let keep_from = instances.len().saturating_sub(spec.replicas as usize);
            for (idx, inst) in instances.iter().enumerate() {
                if idx < keep_from {
                    out.push(Planned {
                        wave: wave_no,
                        action: Action::Remove {
                            service: spec.name.clone(),
                            id: inst.id.clone(),
                            name: inst.name.clone(),
                            reason: Removal::ScaleDown,
                        },
                    });
                    continue;
                }
                let reason = if inst.hash == spec.hash {
                    match (&inst.image_id, &spec.image_id) {
                        (Some(from), Some(to)) if from != to => Some(Reason::ImageChanged {
                            from: from.clone(),
                            to: to.clone(),
                        }),
                        // An instance without a recorded image (made before skiff recorded
                        // it) is not recreated for that alone.
                        _ => None,
                    }
                } else {
                    Some(match &inst.config {
                        Some(old) => Reason::ConfigChanged {
                            fields: changed_fields(old, &spec.config),
                        },
                        None => Reason::HashChanged,
                    })
                };
                if let Some(reason) = reason {
                    out.push(Planned {
                        wave: wave_no,
                        action: Action::Recreate {
                            service: spec.name.clone(),
                            number: inst.number,
                            id: inst.id.clone(),
                            name: instance_name(&desired.project, spec, inst.number),
                            reason,
                        },
                    });
                } else if needs_start(spec, inst.state, opts.rerun_completed) {
                    out.push(Planned {
                        wave: wave_no,
                        action: Action::Start {
                            service: spec.name.clone(),
                            id: inst.id.clone(),
                            name: inst.name.clone(),
                        },
                    });
                }
            }
            let kept = instances.len() - keep_from;
            // New instances take the lowest free numbers, so names stay 1..=replicas.
            let taken: BTreeSet<u32> = instances[keep_from..].iter().map(|i| i.number).collect();
            let missing = (spec.replicas as usize).saturating_sub(kept);
            for number in (1..).filter(|n| !taken.contains(n)).take(missing) {
                out.push(Planned {
                    wave: wave_no,
                    action: Action::Create {
                        service: spec.name.clone(),
                        number,
                        name: instance_name(&desired.project, spec, number),
                    },
                });
            }
        }
    }
    Ok(Plan { actions: out })
}

/// Whether `up` starts an instance in this state.
fn needs_start(spec: &ServiceSpec, state: State, rerun_completed: bool) -> bool {
    match state {
        State::Running | State::Restarting => false,
        // A one-shot that completed runs again on `up`, and otherwise stays completed unless
        // its policy restarts clean exits; anything else that stopped is started.
        State::Exited(0) => {
            rerun_completed || matches!(spec.restart, Restart::Always | Restart::UnlessStopped)
        }
        State::Paused => false,
        State::Created | State::Exited(_) | State::Dead => true,
    }
}

/// Planning failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("service {service:?} depends on {missing:?}, which is not declared")]
    UnknownDependency { service: String, missing: String },
    #[error("no such service: {0}")]
    UnknownService(String),
}

#[cfg(test)]
mod tests;
