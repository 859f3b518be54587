//! The runtime port and the executor.
//!
//! A [`Runtime`] observes instances and carries out single plan actions (Docker containers in
//! `skiff-docker`, host processes in `skiff-process`). [`execute`] runs a whole plan: wave by
//! wave, the actions of a wave in parallel, each service only once the services it depends on
//! meet their `depends_on` condition. Progress is reported as [`Event`]s to a callback, so the
//! terminal, JSON output and the daemon's history all consume the same stream.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use skiff_plan::{Action, Condition, Desired, Observed, Plan};

/// A failure of one action, with what was being done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{what}: {message}")]
pub struct RuntimeError {
    pub what: String,
    pub message: String,
}

impl RuntimeError {
    #[must_use]
    pub fn new(what: impl Into<String>, message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// A field of a service that a runtime cannot carry out (a container field for a process, a
/// field the engine lacks). Drivers report these before anything changes, never ignore them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("services.{service}.{field}: {message}")]
pub struct Unsupported {
    pub service: String,
    /// The field's path under the service (`healthcheck.test`, `cap_add`).
    pub field: String,
    pub message: String,
}

/// How far a service has come, for `depends_on` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Not running yet (or no instance).
    Pending,
    /// Running; health unknown or still starting.
    Started,
    /// Running and its healthcheck passes (or it has none).
    Healthy,
    /// Its healthcheck fails.
    Unhealthy,
    /// Every instance exited, with this code (the worst one).
    Exited(i64),
}

/// What a runtime must do for the executor.
pub trait Runtime: Sync {
    /// Carries out one action.
    fn apply(&self, action: &Action) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Where a service stands, and whether it has a healthcheck.
    fn readiness(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<(Readiness, bool), RuntimeError>> + Send;
    /// What runs: the instances (and, for the engine, networks and volumes) of the project.
    fn observe(&self) -> impl Future<Output = Result<Observed, RuntimeError>> + Send;
    /// Does ahead of its turn what an action can do before its dependencies are ready (a
    /// container created, not started), so that applying it later is only the rest. The
    /// executor prepares every `Create` at once while the dependencies come up; a failed
    /// preparation is not an error, the action does it all when applied. Default: nothing.
    fn prepare(&self, action: &Action) -> impl Future<Output = ()> + Send {
        let _ = action;
        std::future::ready(())
    }
}

/// A borrowed runtime is a runtime: composites hold theirs by value or by reference.
impl<R: Runtime> Runtime for &R {
    fn apply(&self, action: &Action) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        (**self).apply(action)
    }
    fn readiness(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<(Readiness, bool), RuntimeError>> + Send {
        (**self).readiness(service)
    }
    fn observe(&self) -> impl Future<Output = Result<Observed, RuntimeError>> + Send {
        (**self).observe()
    }
    fn prepare(&self, action: &Action) -> impl Future<Output = ()> + Send {
        (**self).prepare(action)
    }
}

/// Progress of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    Started {
        action: Action,
    },
    Done {
        action: Action,
        seconds: f64,
    },
    Failed {
        action: Action,
        error: RuntimeError,
    },
    Waiting {
        service: String,
        dependency: String,
        condition: Condition,
    },
    Ready {
        service: String,
        dependency: String,
    },
}

/// Limits of an execution.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How long to wait for one dependency's condition.
    pub dependency_timeout: Duration,
    /// How often readiness is polled.
    pub poll: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            dependency_timeout: Duration::from_secs(300),
            poll: Duration::from_millis(100),
        }
    }
}

/// A service's completion: `Some(true)` acted on, `Some(false)` failed, `None` not yet.
type Signal = (
    tokio::sync::watch::Sender<Option<bool>>,
    tokio::sync::watch::Receiver<Option<bool>>,
);

/// Runs a plan wave by wave (each wave in parallel, every wave whatever the one before did):
/// how `down` and `stop` carry out [`skiff_plan::stop_plan`], whose waves are the stop
/// order. Returns every failure.
///
/// # Errors
/// The actions that failed.
pub async fn execute_waves<R: Runtime>(
    runtime: &R,
    plan: &Plan,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<(), Vec<RuntimeError>> {
    let last = plan.actions.iter().map(|p| p.wave).max();
    let mut errors = Vec::new();
    for wave in 0..=last.unwrap_or(0) {
        let actions = plan.actions.iter().filter(|p| p.wave == wave);
        errors.extend(
            join_all(actions.map(|p| run_one(runtime, &p.action, on_event)))
                .await
                .into_iter()
                .filter_map(Result::err),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Runs a plan. Networks and volumes first; then every service as soon as the services it
/// depends on have been acted on and meet their `depends_on` condition (a dependency graph,
/// not lock-step waves), independent services in parallel. A service whose dependency failed
/// is not started. New instances are prepared ([`Runtime::prepare`]: created, not started)
/// all at once while their dependencies come up, so the critical path is the chain of
/// health gates, not creation plus the chain.
///
/// # Errors
/// The failed actions, or a dependency that never met its condition.
pub async fn execute<R: Runtime>(
    runtime: &R,
    desired: &Desired,
    plan: &Plan,
    opts: &ExecOptions,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<(), Vec<RuntimeError>> {
    // Resources (and removals of orphans) first: every container may need a network.
    let first: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|p| p.wave == 0)
        .map(|p| &p.action)
        .collect();
    let errors: Vec<RuntimeError> =
        join_all(first.into_iter().map(|a| run_one(runtime, a, on_event)))
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut by_service: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
    for p in plan.actions.iter().filter(|p| p.wave > 0) {
        if let Some(s) = p.action.service() {
            by_service.entry(s).or_default().push(&p.action);
        }
    }
    // One completion signal per service with actions: Some(true) done, Some(false) failed.
    let signals: BTreeMap<&str, Signal> = by_service
        .keys()
        .map(|s| (*s, tokio::sync::watch::channel(None)))
        .collect();
    let tasks = by_service.iter().map(|(service, actions)| {
        let signals = &signals;
        async move {
            let prepared = join_all(
                actions
                    .iter()
                    .filter(|a| matches!(a, Action::Create { .. }))
                    .map(|a| runtime.prepare(a)),
            );
            let ready = async {
                let spec = desired.services.iter().find(|s| s.name == *service);
                for dep in spec.map(|s| s.depends_on.as_slice()).unwrap_or_default() {
                    if let Some((_, rx)) = signals.get(dep.service.as_str()) {
                        let mut rx = rx.clone();
                        let outcome = rx
                            .wait_for(Option::is_some)
                            .await
                            .map(|v| *v)
                            .unwrap_or(Some(false));
                        if outcome != Some(true) {
                            return Err(vec![RuntimeError::new(
                                format!("start {service}"),
                                format!("not started: its dependency {} failed", dep.service),
                            )]);
                        }
                    }
                }
                if actions
                    .iter()
                    .any(|a| !matches!(a, Action::Remove { .. } | Action::Stop { .. }))
                {
                    wait_dependencies(runtime, desired, service, opts, on_event)
                        .await
                        .map_err(|e| vec![e])?;
                }
                Ok(())
            };
            let result = async {
                let ((), ready) = futures_util::future::join(prepared.map(|_| ()), ready).await;
                ready?;
                let errors: Vec<RuntimeError> =
                    join_all(actions.iter().map(|a| run_one(runtime, a, on_event)))
                        .await
                        .into_iter()
                        .filter_map(Result::err)
                        .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors)
                }
            }
            .await;
            if let Some((tx, _)) = signals.get(service) {
                let _ = tx.send(Some(result.is_ok()));
            }
            result
        }
    });
    let errors: Vec<RuntimeError> = join_all(tasks)
        .await
        .into_iter()
        .filter_map(Result::err)
        .flatten()
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

async fn run_one<R: Runtime>(
    runtime: &R,
    action: &Action,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<(), RuntimeError> {
    on_event(Event::Started {
        action: action.clone(),
    });
    let started = tokio::time::Instant::now();
    match runtime.apply(action).await {
        Ok(()) => {
            on_event(Event::Done {
                action: action.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
            Ok(())
        }
        Err(error) => {
            on_event(Event::Failed {
                action: action.clone(),
                error: error.clone(),
            });
            Err(error)
        }
    }
}

/// Waits until every dependency of `service` meets its condition.
///
/// # Errors
/// A dependency that failed (exited non-zero when completion was required, became unhealthy
/// for good) or did not get there within the timeout.
pub async fn wait_dependencies<R: Runtime>(
    runtime: &R,
    desired: &Desired,
    service: &str,
    opts: &ExecOptions,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<(), RuntimeError> {
    let Some(spec) = desired.services.iter().find(|s| s.name == service) else {
        return Ok(());
    };
    for dep in &spec.depends_on {
        if !desired.services.iter().any(|s| s.name == dep.service) {
            if dep.required {
                return Err(RuntimeError::new(
                    format!("start {service}"),
                    format!("dependency {} is not declared", dep.service),
                ));
            }
            continue;
        }
        let deadline = tokio::time::Instant::now() + opts.dependency_timeout;
        let mut announced = false;
        loop {
            let (readiness, has_healthcheck) = runtime.readiness(&dep.service).await?;
            let met = match (dep.condition, readiness) {
                (
                    Condition::ServiceStarted,
                    Readiness::Started
                    | Readiness::Healthy
                    | Readiness::Unhealthy
                    | Readiness::Exited(_),
                ) => true,
                (Condition::ServiceHealthy, Readiness::Healthy) => true,
                (Condition::ServiceHealthy, Readiness::Started) => !has_healthcheck,
                (Condition::ServiceCompletedSuccessfully, Readiness::Exited(0)) => true,
                (Condition::ServiceCompletedSuccessfully, Readiness::Exited(code)) => {
                    return Err(RuntimeError::new(
                        format!("start {service}"),
                        format!(
                            "dependency {} exited with code {code} (service_completed_successfully needs 0)",
                            dep.service
                        ),
                    ));
                }
                (Condition::ServiceHealthy, Readiness::Exited(code)) => {
                    return Err(RuntimeError::new(
                        format!("start {service}"),
                        format!(
                            "dependency {} exited with code {code} before becoming healthy",
                            dep.service
                        ),
                    ));
                }
                _ => false,
            };
            if met {
                if announced {
                    on_event(Event::Ready {
                        service: service.to_owned(),
                        dependency: dep.service.clone(),
                    });
                }
                break;
            }
            if !announced {
                on_event(Event::Waiting {
                    service: service.to_owned(),
                    dependency: dep.service.clone(),
                    condition: dep.condition,
                });
                announced = true;
            }
            if tokio::time::Instant::now() >= deadline {
                let what = match dep.condition {
                    Condition::ServiceStarted => "start",
                    Condition::ServiceHealthy => "become healthy",
                    Condition::ServiceCompletedSuccessfully => "complete",
                };
                return Err(RuntimeError::new(
                    format!("start {service}"),
                    format!(
                        "dependency {} did not {what} within {:?} (last seen: {readiness:?})",
                        dep.service, opts.dependency_timeout
                    ),
                ));
            }
            tokio::time::sleep(opts.poll).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
