//! The shell around [`Core`]: the one task that owns the daemon's state. It takes inputs
//! one at a time (the world's reports, timers, jobs, API requests), lets the core decide,
//! and carries out the effects: records to the store, timers and jobs as tasks that report
//! back by message, metrics and the live view for the API.

use std::sync::Arc;

use serde_json::json;
use skiff_plan::{Plan, PlanOptions};
use skiff_runtime::ExecOptions;
use skiff_store::{Event, Kind, Store};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::{Clock, DaemonConfig, Policy, RestartConfig};
use crate::core::{
    Cause, Core, DeployReply, DeployTrigger, Effect, Executed, Input, Job, LiveService,
};
use crate::metrics::Metrics;
use crate::persist;
use crate::wire::DeployRequest;
use crate::world::{Deployment, ProjectRuntime, Sink, World};

/// What the rest of the daemon (the API) holds of the loop.
#[derive(Debug, Clone)]
pub(crate) struct LoopHandle {
    pub inputs: mpsc::UnboundedSender<Input>,
    pub live: watch::Receiver<Vec<LiveService>>,
    pub metrics: Arc<Metrics>,
}

pub(crate) struct EventLoop<W> {
    world: Arc<W>,
    store: Store,
    core: Core,
    clock: Clock,
    config: DaemonConfig,
    inputs: mpsc::UnboundedSender<Input>,
    receiver: mpsc::UnboundedReceiver<Input>,
    metrics: Arc<Metrics>,
    live: watch::Sender<Vec<LiveService>>,
    tasks: JoinSet<()>,
    alerts: crate::alerts::Alerts,
}

impl<W: World> EventLoop<W> {
    pub(crate) fn new(config: &DaemonConfig, world: W, store: Store) -> (EventLoop<W>, LoopHandle) {
        let (inputs, receiver) = mpsc::unbounded_channel();
        let (live, live_rx) = watch::channel(Vec::new());
        let metrics = Arc::new(Metrics::new());
        let handle = LoopHandle {
            inputs: inputs.clone(),
            live: live_rx,
            metrics: Arc::clone(&metrics),
        };
        let event_loop = EventLoop {
            world: Arc::new(world),
            store,
            core: Core::new(),
            clock: config.clock,
            config: config.clone(),
            inputs,
            receiver,
            metrics,
            live,
            tasks: JoinSet::new(),
            alerts: crate::alerts::Alerts::new(),
        };
        (event_loop, handle)
    }

    /// The world, shared (the API reads usage from it).
    pub(crate) fn world(&self) -> Arc<W> {
        Arc::clone(&self.world)
    }

    /// Runs until [`Input::Shutdown`]. What runs keeps running; pending timers and jobs are
    /// dropped (the next start observes the world afresh).
    pub(crate) async fn run(mut self) {
        self.record(
            Event::new(self.clock.now(), Kind::DaemonStarted)
                .detail(json!({"version": env!("CARGO_PKG_VERSION")})),
        );
        self.world.watch(Sink::new(self.inputs.clone()));
        // The projects it owned before it stopped (or was killed): deployed again, which
        // adopts what still runs and converges the rest.
        if let Some(dir) = &self.config.deployments {
            match persist::load_all(dir) {
                Ok(found) => {
                    for (name, request) in found {
                        let (reply, _) = oneshot::channel();
                        let _ = self.inputs.send(Input::Deploy {
                            name,
                            request,
                            trigger: DeployTrigger::Resume,
                            reply,
                        });
                    }
                }
                Err(error) => tracing::error!(
                    %error,
                    dir = %dir.display(),
                    "could not read the deployments it owned"
                ),
            }
        }
        let every = self.config.reconcile_every;
        // Deploys observe on their own; the first tick comes one period in.
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_retention: Option<Instant> = None;
        loop {
            let input = tokio::select! {
                biased;
                Some(input) = self.receiver.recv() => input,
                _ = ticks.tick() => Input::Tick,
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => continue,
            };
            let is_tick = matches!(input, Input::Tick);
            let observation = match &input {
                Input::Observed { started, .. } => Some(*started),
                _ => None,
            };
            let now = Instant::now();
            let wall = self.clock.now();
            let effects = self.core.handle(now, wall, input);
            if let Some(started) = observation {
                self.metrics
                    .reconciled(Instant::now().saturating_duration_since(started));
            }
            let mut stop = false;
            for effect in effects {
                match effect {
                    Effect::Record(event) => self.record(event),
                    Effect::Wake { at, input } => {
                        let inputs = self.inputs.clone();
                        self.tasks.spawn(async move {
                            tokio::time::sleep_until(at).await;
                            let _ = inputs.send(input);
                        });
                    }
                    Effect::Run(job) => self.start(job),
                    Effect::Reply { to, reply } => {
                        let _ = to.send(reply);
                    }
                    Effect::ReplyRelease { to, reply } => {
                        let _ = to.send(reply);
                    }
                    Effect::Forget { project } => {
                        self.world.released(&project);
                        self.alerts.forget(&project);
                        if let Some(dir) = &self.config.deployments
                            && let Err(error) = persist::forget(dir, &project)
                        {
                            tracing::error!(
                                %error,
                                project,
                                dir = %dir.display(),
                                "could not forget a deployment"
                            );
                        }
                    }
                    Effect::Stop => stop = true,
                }
            }
            let live = self.core.live(now, wall);
            self.metrics.publish(&live);
            self.live.send_replace(live);
            if is_tick
                && last_retention.is_none_or(|t| now.duration_since(t) >= self.config.retain_every)
            {
                last_retention = Some(now);
                match self.store.retain(wall, &self.config.retention) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "retention"),
                    Err(error) => tracing::error!(%error, "retention failed"),
                }
            }
            if stop {
                break;
            }
        }
        self.tasks.abort_all();
        self.record(Event::new(self.clock.now(), Kind::DaemonStopped).trigger("shutdown"));
    }

    /// Writes an event to the history and the log. A store that fails does not stop
    /// supervision: the log still has it.
    fn record(&self, event: Event) {
        tracing::info!(
            kind = event.kind.as_str(),
            project = event.project.as_deref(),
            service = event.service.as_deref(),
            instance = event.instance.as_deref(),
            exit_code = event.exit_code,
            health = event.health.map(skiff_store::Health::as_str),
            trigger = event.trigger.as_deref(),
            detail = %event.detail,
            "event"
        );
        if event.kind == Kind::Restarted
            && let (Some(project), Some(service)) = (&event.project, &event.service)
        {
            self.metrics.restarted(project, service);
        }
        if let Err(error) = self.store.append(&event) {
            tracing::error!(%error, kind = event.kind.as_str(), "could not record an event");
        }
        self.alerts.notify(&event);
    }

    fn start(&mut self, job: Job) {
        let world = Arc::clone(&self.world);
        let inputs = self.inputs.clone();
        match job {
            Job::Deploy {
                name,
                request,
                rerun_completed,
                reply,
            } => {
                let defaults = self.config.restart;
                let persist = self.config.deployments.clone();
                self.alerts.set(&name, request.alerts.clone());
                self.tasks.spawn(deploy(
                    world,
                    inputs,
                    defaults,
                    persist,
                    Deploy {
                        name,
                        request: *request,
                        rerun_completed,
                    },
                    reply,
                ));
            }
            Job::Observe { deployment, cause } => {
                self.tasks.spawn(async move {
                    let started = Instant::now();
                    let result = world.observe(&deployment).await;
                    let _ = inputs.send(Input::Observed {
                        project: deployment.name.clone(),
                        cause,
                        started,
                        result,
                    });
                });
            }
            Job::Repair { deployment, plan } => {
                self.tasks.spawn(async move {
                    let errors =
                        execute_plan(world.as_ref(), &deployment, &plan, Cause::Repair, &inputs)
                            .await;
                    let _ = inputs.send(Input::Executed {
                        project: deployment.name.clone(),
                        cause: Cause::Repair,
                        result: Ok(Executed {
                            deployment,
                            actions: plan.actions.into_iter().map(|p| p.action).collect(),
                            errors,
                        }),
                        reply: None,
                    });
                });
            }
            Job::Restart {
                deployment,
                instance,
                ticket,
            } => {
                self.tasks.spawn(async move {
                    let result = world.restart(&deployment, &instance).await;
                    let _ = inputs.send(Input::Restarted {
                        project: deployment.name.clone(),
                        instance: instance.name,
                        ticket,
                        result,
                    });
                });
            }
        }
    }
}

/// A deploy: the world's view of the project, what runs, the plan, its execution.
/// What a deploy job carries out.
struct Deploy {
    name: String,
    request: DeployRequest,
    rerun_completed: bool,
}

async fn deploy<W: World>(
    world: Arc<W>,
    inputs: mpsc::UnboundedSender<Input>,
    defaults: RestartConfig,
    persist_in: Option<std::path::PathBuf>,
    Deploy {
        name,
        request,
        rerun_completed,
    }: Deploy,
    reply: oneshot::Sender<DeployReply>,
) {
    let result = async {
        let mut desired = world
            .desired(&name, &request.project)
            .await
            // The world's error names what it did ("read project {name}").
            .map_err(|e| e.to_string())?;
        if desired.project.is_empty() {
            desired.project.clone_from(&name);
        } else if desired.project != name {
            return Err(format!(
                "the project is named {:?}, not {name:?}",
                desired.project
            ));
        }
        // Written ahead: a daemon killed during the plan takes the project up again.
        if let Some(dir) = &persist_in {
            persist::save(dir, &name, &request)
                .map_err(|e| format!("keep the deployment of {name} in {}: {e}", dir.display()))?;
        }
        let deployment = Arc::new(Deployment {
            name: name.clone(),
            project: request.project,
            desired,
            policy: Policy::new(defaults, request.daemon.as_ref()),
        });
        let observed = world
            .observe(&deployment)
            .await
            .map_err(|e| e.to_string())?;
        let plan = skiff_plan::plan(
            &deployment.desired,
            &observed,
            &PlanOptions {
                remove_orphans: request.remove_orphans,
                only: Vec::new(),
                rerun_completed,
            },
        )
        .map_err(|e| format!("plan {name}: {e}"))?;
        let errors = execute_plan(world.as_ref(), &deployment, &plan, Cause::Deploy, &inputs).await;
        Ok(Executed {
            deployment,
            actions: plan.actions.into_iter().map(|p| p.action).collect(),
            errors,
        })
    }
    .await;
    let _ = inputs.send(Input::Executed {
        project: name,
        cause: Cause::Deploy,
        result,
        reply: Some(reply),
    });
}

/// Runs a plan on one project of the world, reporting progress into the loop; returns the
/// errors in words.
async fn execute_plan<W: World>(
    world: &W,
    deployment: &Deployment,
    plan: &Plan,
    cause: Cause,
    inputs: &mpsc::UnboundedSender<Input>,
) -> Vec<String> {
    let runtime = ProjectRuntime { world, deployment };
    let project = deployment.name.clone();
    let on_event = |event| {
        let _ = inputs.send(Input::Progress {
            project: project.clone(),
            cause,
            event,
        });
    };
    match skiff_runtime::execute(
        &runtime,
        &deployment.desired,
        plan,
        &ExecOptions::default(),
        &on_event,
    )
    .await
    {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[cfg(test)]
mod tests;
