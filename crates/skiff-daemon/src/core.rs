//! The loop's state and what it does about each input: pure. [`Core::handle`] takes the time
//! and one [`Input`], changes the state, and returns [`Effect`]s (events to record, inputs
//! to deliver later, jobs to run) that the shell in `event_loop` carries out. Nothing here
//! waits, reads a clock or touches the world.
//!
//! # An instance's life in the loop
//!
//! ```text
//!              observed/started            exited (policy restarts) or unhealthy
//!   Unknown ----------------------> Running -----------------------------------+
//!      |                              ^  ^                                     v
//!      | observed exited              |  |  Started (or the job's Ok)   RestartTracker::failed
//!      v                              |  +--------- Restarting <---+    /            \
//!     Down (policy: no restart) ------+ started by someone         |  Waiting      Held (crash
//!                                                                   |  (timer)      loop, hold)
//!                                                  RestartDue ------+
//!   Gone: removed (by a plan, by hand); drift repair or a report follows.
//! ```
//!
//! A deploy or a drift repair makes its project busy: no restart starts while the plan runs,
//! and afterwards every instance that was not running is observed afresh (level-triggered).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use skiff_model::xskiff::Drift;
use skiff_plan::{Action, Observed, Plan, PlanOptions, Removal, State};
use skiff_runtime::RuntimeError;
use skiff_store::{Event, Health, Kind};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::{Clock, CrashLoopAction, RestartConfig};
use crate::restart::{Decision, RestartTracker};
use crate::wire::{DeployOutcome, DeployRequest};
use crate::world::{Change, Deployment, InstanceRef, WorldEvent};

/// Everything the loop reacts to: one closed enum, one owner (the loop).
///
/// The first four come from outside (the world's reports, the reconcile timer, the API,
/// the shutdown signal); the others are the loop's own timers and jobs reporting back.
#[derive(Debug)]
pub enum Input {
    /// Something happened to an instance.
    World(WorldEvent),
    /// Time to observe every project and compare it with what was deployed.
    Tick,
    /// A project handed over (`skiff up -d`), or taken up again after a daemon restart.
    Deploy {
        name: String,
        request: DeployRequest,
        trigger: DeployTrigger,
        reply: oneshot::Sender<DeployReply>,
    },
    /// A project handed back (`skiff down`, `skiff stop`): no longer supervised.
    Release {
        name: String,
        reply: oneshot::Sender<ReleaseReply>,
    },
    /// Stop the loop; what runs keeps running.
    Shutdown,
    /// An event the world made on its own schedule (backups, drills): recorded as it is.
    Record(Event),
    /// A scheduled restart is due (ignored when the ticket is no longer the instance's).
    RestartDue {
        project: String,
        instance: String,
        ticket: u64,
    },
    /// A restart job ended.
    Restarted {
        project: String,
        instance: String,
        ticket: u64,
        result: Result<(), RuntimeError>,
    },
    /// Progress of a plan being executed.
    Progress {
        project: String,
        cause: Cause,
        event: skiff_runtime::Event,
    },
    /// A deploy or repair job ended.
    Executed {
        project: String,
        cause: Cause,
        result: Result<Executed, String>,
        reply: Option<oneshot::Sender<DeployReply>>,
    },
    /// An observation job ended; `started` is when it began looking.
    Observed {
        project: String,
        cause: ObserveCause,
        started: Instant,
        result: Result<Observed, RuntimeError>,
    },
}

/// Who handed a project over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployTrigger {
    /// The API (`skiff up -d`).
    Api,
    /// The daemon itself, starting again: it takes up the projects it owned.
    Resume,
}

impl DeployTrigger {
    fn as_str(self) -> &'static str {
        match self {
            DeployTrigger::Api => "api",
            DeployTrigger::Resume => "daemon restart",
        }
    }
}

/// The answer to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseReply {
    Released,
    /// The daemon did not own the project.
    NotOwned,
    /// A deploy or repair of it runs; ask again when it ends.
    Busy,
}

/// Why a plan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Deploy,
    Repair,
}

impl Cause {
    fn trigger(self) -> &'static str {
        match self {
            Cause::Deploy => "deploy",
            Cause::Repair => "drift repair",
        }
    }
}

/// Why a project is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveCause {
    Tick,
    AfterDeploy,
    AfterRepair,
    /// An instance was reported removed.
    Removal,
}

impl ObserveCause {
    fn trigger(self) -> &'static str {
        match self {
            ObserveCause::Tick => "reconcile tick",
            ObserveCause::AfterDeploy => "after deploy",
            ObserveCause::AfterRepair => "after drift repair",
            ObserveCause::Removal => "instance removed",
        }
    }
}

/// A plan that ran.
#[derive(Debug)]
pub struct Executed {
    pub deployment: Arc<Deployment>,
    pub actions: Vec<Action>,
    pub errors: Vec<String>,
}

/// The answer to a deploy.
#[derive(Debug)]
pub enum DeployReply {
    /// The plan ran (some actions may have failed: see `errors`).
    Done(DeployOutcome),
    /// A deploy or repair of the project is under way.
    Busy,
    /// Nothing ran: the project could not be planned.
    Failed(String),
}

/// What the shell must do.
#[derive(Debug)]
pub(crate) enum Effect {
    Record(Event),
    /// Deliver `input` to the loop at `at`.
    Wake {
        at: Instant,
        input: Input,
    },
    Run(Job),
    Reply {
        to: oneshot::Sender<DeployReply>,
        reply: DeployReply,
    },
    ReplyRelease {
        to: oneshot::Sender<ReleaseReply>,
        reply: ReleaseReply,
    },
    /// Forget the project's persisted deployment: the daemon no longer owns it.
    Forget {
        project: String,
    },
    Stop,
}

/// Work that waits on the world, run as a task that reports back with an [`Input`].
#[derive(Debug)]
pub(crate) enum Job {
    /// Desired state, observe, plan, execute; reports [`Input::Executed`].
    Deploy {
        name: String,
        request: Box<DeployRequest>,
        /// Start again what completed (exited 0), as `up` does: for a deploy handed over,
        /// not for a project taken up again after a daemon restart.
        rerun_completed: bool,
        reply: oneshot::Sender<DeployReply>,
    },
    /// Reports [`Input::Observed`].
    Observe {
        deployment: Arc<Deployment>,
        cause: ObserveCause,
    },
    /// Executes a drift repair; reports [`Input::Executed`].
    Repair {
        deployment: Arc<Deployment>,
        plan: Plan,
    },
    /// Reports [`Input::Restarted`].
    Restart {
        deployment: Arc<Deployment>,
        instance: InstanceRef,
        ticket: u64,
    },
}

/// A service as the loop sees it now, for metrics and status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveService {
    pub project: String,
    pub service: String,
    pub instances: u32,
    pub running: u32,
    /// Every running instance is healthy or has no healthcheck.
    pub healthy: bool,
    pub crash_loop: bool,
    pub next_restart: Option<DateTime<Utc>>,
}

/// The daemon's state. Only the loop owns one.
#[derive(Debug)]
pub(crate) struct Core {
    projects: BTreeMap<String, Project>,
    next_ticket: u64,
}

#[derive(Debug, Default)]
struct Project {
    /// `None` until the first deploy has run.
    deployment: Option<Arc<Deployment>>,
    /// A deploy or repair runs.
    busy: bool,
    observing: bool,
    instances: BTreeMap<String, Tracked>,
    /// The drift last reported (policy `report`), so that it is recorded once.
    reported_drift: Vec<Action>,
    /// When the last deploy or repair ended: observations begun before are stale.
    plan_ended: Option<Instant>,
    /// Who asked for the deploy under way.
    deploy_trigger: Option<DeployTrigger>,
    /// Health reports that came before the first deploy ended: the observation after it
    /// learns states, not health, so they are replayed then.
    early_health: Vec<WorldEvent>,
}

#[derive(Debug)]
struct Tracked {
    service: String,
    id: String,
    life: Life,
    /// When `life` last changed; an observation that began earlier is older news.
    changed_at: Option<Instant>,
    health: Option<Health>,
    tracker: RestartTracker,
    /// The instance ID whose start was recorded last, and the last exit recorded: the same
    /// fact learnt twice (an event, then an observation) is recorded once.
    recorded_start: Option<String>,
    recorded_exit: Option<(String, Option<i64>)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Life {
    /// Not known yet (new, or after a plan ran).
    Unknown,
    Running,
    /// Stopped, and its policy does not restart it.
    Down,
    /// A restart is scheduled.
    Waiting {
        at: Instant,
        ticket: u64,
        attempt: u32,
        trigger: String,
    },
    /// A restart job runs.
    Restarting {
        ticket: u64,
        attempt: u32,
        trigger: String,
    },
    /// Crash loop with `hold`: not restarted until the next deploy.
    Held,
    Gone,
}

/// The time, as the loop's timers and as the history's clock, read once per input.
struct Cx {
    now: Instant,
    wall: DateTime<Utc>,
    out: Vec<Effect>,
}

impl Cx {
    fn record(&mut self, event: Event) {
        self.out.push(Effect::Record(event));
    }
}

impl Core {
    pub(crate) fn new() -> Core {
        Core {
            projects: BTreeMap::new(),
            next_ticket: 0,
        }
    }

    /// Handles one input at `now` (`wall` is the same instant on the history's clock).
    pub(crate) fn handle(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        input: Input,
    ) -> Vec<Effect> {
        let mut cx = Cx {
            now,
            wall,
            out: Vec::new(),
        };
        match input {
            Input::World(event) => self.on_world(&mut cx, event),
            Input::Tick => self.on_tick(&mut cx),
            Input::Deploy {
                name,
                request,
                trigger,
                reply,
            } => self.on_deploy(&mut cx, name, request, trigger, reply),
            Input::Release { name, reply } => self.on_release(&mut cx, &name, reply),
            Input::Shutdown => cx.out.push(Effect::Stop),
            Input::Record(event) => cx.record(event),
            Input::RestartDue {
                project,
                instance,
                ticket,
            } => self.on_restart_due(&mut cx, &project, &instance, ticket),
            Input::Restarted {
                project,
                instance,
                ticket,
                result,
            } => self.on_restarted(&mut cx, &project, &instance, ticket, result),
            Input::Progress {
                project,
                cause,
                event,
            } => self.on_progress(&mut cx, &project, cause, event),
            Input::Executed {
                project,
                cause,
                result,
                reply,
            } => self.on_executed(&mut cx, &project, cause, result, reply),
            Input::Observed {
                project,
                cause,
                started,
                result,
            } => self.on_observed(&mut cx, &project, cause, started, result),
        }
        cx.out
    }

    /// Every deployed service, with its instances as the loop sees them.
    pub(crate) fn live(&self, now: Instant, wall: DateTime<Utc>) -> Vec<LiveService> {
        let mut out = Vec::new();
        for (name, p) in &self.projects {
            let Some(dep) = &p.deployment else { continue };
            for spec in &dep.desired.services {
                let tracked: Vec<&Tracked> = p
                    .instances
                    .values()
                    .filter(|t| t.service == spec.name && t.life != Life::Gone)
                    .collect();
                let running: Vec<&&Tracked> =
                    tracked.iter().filter(|t| t.life == Life::Running).collect();
                out.push(LiveService {
                    project: name.clone(),
                    service: spec.name.clone(),
                    instances: count(tracked.len()),
                    running: count(running.len()),
                    healthy: !running.is_empty()
                        && running
                            .iter()
                            .all(|t| matches!(t.health, None | Some(Health::Healthy))),
                    crash_loop: tracked.iter().any(|t| t.tracker.in_crash_loop()),
                    next_restart: tracked
                        .iter()
                        .filter_map(|t| match t.life {
                            Life::Waiting { at, .. } => Some(at),
                            _ => None,
                        })
                        .min()
                        .map(|at| Clock::wall_of(at, now, wall)),
                });
            }
        }
        out
    }

    fn on_deploy(
        &mut self,
        cx: &mut Cx,
        name: String,
        request: DeployRequest,
        trigger: DeployTrigger,
        reply: oneshot::Sender<DeployReply>,
    ) {
        let p = self.projects.entry(name.clone()).or_default();
        if p.busy {
            cx.out.push(Effect::Reply {
                to: reply,
                reply: DeployReply::Busy,
            });
            return;
        }
        p.busy = true;
        p.deploy_trigger = Some(trigger);
        cx.record(
            Event::new(cx.wall, Kind::Deploy)
                .project(&name)
                .trigger(trigger.as_str())
                .detail(json!({"remove_orphans": request.remove_orphans})),
        );
        cx.out.push(Effect::Run(Job::Deploy {
            name,
            request: Box::new(request),
            rerun_completed: trigger == DeployTrigger::Api,
            reply,
        }));
    }

    fn on_release(&mut self, cx: &mut Cx, name: &str, reply: oneshot::Sender<ReleaseReply>) {
        let answer = match self.projects.get(name) {
            None => ReleaseReply::NotOwned,
            Some(p) if p.busy => ReleaseReply::Busy,
            Some(_) => {
                // Scheduled restarts find no project and do nothing; running jobs report
                // into nothing.
                self.projects.remove(name);
                cx.record(
                    Event::new(cx.wall, Kind::Released)
                        .project(name)
                        .trigger("api"),
                );
                cx.out.push(Effect::Forget {
                    project: name.to_owned(),
                });
                ReleaseReply::Released
            }
        };
        cx.out.push(Effect::ReplyRelease {
            to: reply,
            reply: answer,
        });
    }

    fn on_executed(
        &mut self,
        cx: &mut Cx,
        project: &str,
        cause: Cause,
        result: Result<Executed, String>,
        reply: Option<oneshot::Sender<DeployReply>>,
    ) {
        let Some(p) = self.projects.get_mut(project) else {
            return;
        };
        p.busy = false;
        p.plan_ended = Some(cx.now);
        let trigger = p.deploy_trigger.take().unwrap_or(DeployTrigger::Api);
        let answer = match result {
            Ok(done) => {
                if cause == Cause::Deploy {
                    let declared: BTreeSet<&str> = done
                        .deployment
                        .desired
                        .services
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect();
                    // Instances of services no longer declared are not supervised (orphans
                    // are removed by `--remove-orphans` only); gone ones are forgotten.
                    p.instances.retain(|_, t| {
                        declared.contains(t.service.as_str()) && t.life != Life::Gone
                    });
                    // A deploy is a person saying "try again": backoff and crash loops
                    // start over, with the project's (maybe new) policy.
                    for t in p.instances.values_mut() {
                        t.tracker = RestartTracker::new(done.deployment.policy.restart);
                        if t.life == Life::Held {
                            t.life = Life::Unknown;
                        }
                    }
                    p.reported_drift.clear();
                    p.deployment = Some(Arc::clone(&done.deployment));
                    let services: Vec<serde_json::Value> = done
                        .deployment
                        .desired
                        .services
                        .iter()
                        .map(|s| json!({"name": s.name, "hash": s.hash, "replicas": s.replicas}))
                        .collect();
                    let kind = if done.errors.is_empty() {
                        Kind::Deployed
                    } else {
                        Kind::DeployFailed
                    };
                    cx.record(
                        Event::new(cx.wall, kind)
                            .project(project)
                            .trigger(trigger.as_str())
                            .detail(json!({
                                "services": services,
                                "actions": done.actions.len(),
                                "errors": done.errors,
                            })),
                    );
                }
                DeployReply::Done(DeployOutcome {
                    project: project.to_owned(),
                    actions: done.actions,
                    errors: done.errors,
                })
            }
            Err(error) => {
                let kind = match cause {
                    Cause::Deploy => Kind::DeployFailed,
                    Cause::Repair => Kind::ActionFailed,
                };
                cx.record(
                    Event::new(cx.wall, kind)
                        .project(project)
                        .trigger(cause.trigger())
                        .detail(json!({"error": error})),
                );
                DeployReply::Failed(error)
            }
        };
        match p.deployment.clone() {
            // Whatever was not running may have changed under the plan, and no restart
            // started while it ran: learn it all anew (level-triggered).
            Some(deployment) => {
                for t in p.instances.values_mut() {
                    if matches!(
                        t.life,
                        Life::Down | Life::Waiting { .. } | Life::Restarting { .. }
                    ) {
                        set_life(t, Life::Unknown, cx.now);
                    }
                }
                p.observing = true;
                cx.out.push(Effect::Run(Job::Observe {
                    deployment,
                    cause: match cause {
                        Cause::Deploy => ObserveCause::AfterDeploy,
                        Cause::Repair => ObserveCause::AfterRepair,
                    },
                }));
            }
            // The first deploy of it did not run: the daemon does not own it.
            None => {
                self.projects.remove(project);
                cx.out.push(Effect::Forget {
                    project: project.to_owned(),
                });
            }
        }
        let early = self
            .projects
            .get_mut(project)
            .map(|p| std::mem::take(&mut p.early_health))
            .unwrap_or_default();
        for ev in early {
            self.on_world(cx, ev);
        }
        if let Some(to) = reply {
            cx.out.push(Effect::Reply { to, reply: answer });
        }
    }

    fn on_progress(
        &mut self,
        cx: &mut Cx,
        project: &str,
        cause: Cause,
        event: skiff_runtime::Event,
    ) {
        match event {
            skiff_runtime::Event::Done { action, seconds } => {
                let mut e = Event::new(cx.wall, Kind::Action)
                    .project(project)
                    .trigger(cause.trigger())
                    .detail(json!({"action": action, "seconds": seconds}));
                if let Some(service) = action.service() {
                    e = e.service(service);
                }
                if let Some(name) = instance_of(&action) {
                    e = e.instance(name);
                }
                cx.record(e);
                if let Action::Remove { name, .. } = &action
                    && let Some(t) = self
                        .projects
                        .get_mut(project)
                        .and_then(|p| p.instances.get_mut(name))
                    && t.life != Life::Gone
                {
                    set_life(t, Life::Gone, cx.now);
                    cx.record(removed(cx.wall, project, name, t, cause.trigger()));
                }
            }
            skiff_runtime::Event::Failed { action, error } => {
                let mut e = Event::new(cx.wall, Kind::ActionFailed)
                    .project(project)
                    .trigger(cause.trigger())
                    .detail(json!({"action": action, "error": error.to_string()}));
                if let Some(service) = action.service() {
                    e = e.service(service);
                }
                if let Some(name) = instance_of(&action) {
                    e = e.instance(name);
                }
                cx.record(e);
            }
            skiff_runtime::Event::Started { .. }
            | skiff_runtime::Event::Waiting { .. }
            | skiff_runtime::Event::Ready { .. } => {}
        }
    }

    fn on_tick(&mut self, cx: &mut Cx) {
        for (name, p) in &mut self.projects {
            let Some(dep) = &p.deployment else { continue };
            for (instance, t) in &mut p.instances {
                if t.life == Life::Running && t.tracker.settle(cx.now) {
                    cx.record(
                        instance_event(cx.wall, Kind::Recovered, name, instance, t)
                            .trigger("up without interruption"),
                    );
                }
            }
            if !p.busy && !p.observing {
                p.observing = true;
                cx.out.push(Effect::Run(Job::Observe {
                    deployment: Arc::clone(dep),
                    cause: ObserveCause::Tick,
                }));
            }
        }
    }

    fn on_world(&mut self, cx: &mut Cx, ev: WorldEvent) {
        let Some(p) = self.projects.get_mut(&ev.project) else {
            tracing::debug!(project = %ev.project, "event of a project the daemon does not own");
            return;
        };
        // Before the first deploy has run, the observation that follows it learns every
        // state; health it cannot learn, so that is kept for then.
        let Some(dep) = p.deployment.clone() else {
            if matches!(ev.change, Change::HealthChanged { .. }) {
                p.early_health.push(ev);
            }
            return;
        };
        let Some(spec) = dep.desired.services.iter().find(|s| s.name == ev.service) else {
            return;
        };
        let t = p
            .instances
            .entry(ev.instance.clone())
            .or_insert_with(|| Tracked::new(&ev.service, &ev.id, dep.policy.restart));
        // An event about an ID other than the one tracked is about an instance that was
        // replaced, unless it is the start of the replacement.
        let stale = !ev.id.is_empty() && ev.id != t.id;
        match ev.change {
            Change::Started => {
                if stale {
                    t.id.clone_from(&ev.id);
                    t.recorded_start = None;
                    t.recorded_exit = None;
                }
                let elsewhere = matches!(t.life, Life::Down | Life::Waiting { .. } | Life::Held);
                let trigger = elsewhere.then_some("started outside the daemon");
                started(cx, &ev.project, &ev.instance, t, trigger);
            }
            Change::Exited { code } => {
                if !stale
                    && exited(
                        cx,
                        &ev.project,
                        &ev.instance,
                        t,
                        Some(code),
                        "runtime event",
                    )
                    && !p.busy
                    && spec.restart.restarts(Some(code), t.tracker.attempts())
                {
                    let trigger = format!("exited with code {code}");
                    fail(
                        &mut self.next_ticket,
                        cx,
                        &ev.project,
                        &ev.instance,
                        t,
                        trigger,
                    );
                }
            }
            Change::HealthChanged { health } => {
                if !stale && t.health != Some(health) {
                    t.health = Some(health);
                    cx.record(
                        instance_event(cx.wall, Kind::Health, &ev.project, &ev.instance, t)
                            .health(health),
                    );
                    match health {
                        Health::Healthy if t.life == Life::Running => t.tracker.up(cx.now),
                        Health::Unhealthy => {
                            t.tracker.down();
                            // Unhealthy counts as a failure without an exit code.
                            if t.life == Life::Running
                                && !p.busy
                                && spec.restart.restarts(None, t.tracker.attempts())
                            {
                                let trigger = "unhealthy".to_owned();
                                fail(
                                    &mut self.next_ticket,
                                    cx,
                                    &ev.project,
                                    &ev.instance,
                                    t,
                                    trigger,
                                );
                            }
                        }
                        _ => {}
                    }
                }
            }
            Change::Removed => {
                if !stale && !matches!(t.life, Life::Gone | Life::Restarting { .. }) {
                    set_life(t, Life::Gone, cx.now);
                    cx.record(removed(
                        cx.wall,
                        &ev.project,
                        &ev.instance,
                        t,
                        "runtime event",
                    ));
                    if !p.busy && !p.observing {
                        p.observing = true;
                        cx.out.push(Effect::Run(Job::Observe {
                            deployment: dep,
                            cause: ObserveCause::Removal,
                        }));
                    }
                }
            }
        }
    }

    fn on_restart_due(&mut self, cx: &mut Cx, project: &str, instance: &str, ticket: u64) {
        let Some(p) = self.projects.get_mut(project) else {
            return;
        };
        let Some(dep) = p.deployment.clone() else {
            return;
        };
        let Some(t) = p.instances.get_mut(instance) else {
            return;
        };
        let Life::Waiting {
            ticket: due,
            attempt,
            trigger,
            ..
        } = &t.life
        else {
            return;
        };
        // A plan runs: when it ends, the instance is observed afresh and decided again.
        if *due != ticket || p.busy {
            return;
        }
        let life = Life::Restarting {
            ticket,
            attempt: *attempt,
            trigger: trigger.clone(),
        };
        set_life(t, life, cx.now);
        cx.out.push(Effect::Run(Job::Restart {
            deployment: dep,
            instance: InstanceRef {
                service: t.service.clone(),
                name: instance.to_owned(),
                id: t.id.clone(),
            },
            ticket,
        }));
    }

    fn on_restarted(
        &mut self,
        cx: &mut Cx,
        project: &str,
        instance: &str,
        ticket: u64,
        result: Result<(), RuntimeError>,
    ) {
        let Some(p) = self.projects.get_mut(project) else {
            return;
        };
        let Some(t) = p.instances.get_mut(instance) else {
            return;
        };
        let Life::Restarting {
            ticket: running,
            attempt,
            trigger,
        } = t.life.clone()
        else {
            // Already settled by the world's report of the start.
            return;
        };
        if running != ticket {
            return;
        }
        match result {
            Ok(()) => started(cx, project, instance, t, None),
            Err(error) => {
                set_life(t, Life::Down, cx.now);
                cx.record(
                    instance_event(cx.wall, Kind::RestartFailed, project, instance, t)
                        .trigger(&trigger)
                        .detail(json!({"attempt": attempt, "error": error.to_string()})),
                );
                if !p.busy {
                    let trigger = format!("restart failed: {error}");
                    fail(&mut self.next_ticket, cx, project, instance, t, trigger);
                }
            }
        }
    }

    fn on_observed(
        &mut self,
        cx: &mut Cx,
        project: &str,
        cause: ObserveCause,
        started_at: Instant,
        result: Result<Observed, RuntimeError>,
    ) {
        let Some(p) = self.projects.get_mut(project) else {
            return;
        };
        p.observing = false;
        let Some(dep) = p.deployment.clone() else {
            return;
        };
        // A plan ran since this observation began, or runs: the one after it counts.
        if p.busy || p.plan_ended.is_some_and(|ended| started_at < ended) {
            return;
        }
        let observed = match result {
            Ok(o) => o,
            Err(error) => {
                tracing::warn!(project, %error, "observe failed");
                return;
            }
        };
        let mut missed_exits = 0u32;
        let mut appeared = 0u32;
        let mut missing = 0u32;
        let mut seen = BTreeSet::new();
        for inst in &observed.instances {
            let Some(spec) = dep.desired.services.iter().find(|s| s.name == inst.service) else {
                // Orphans are the planner's business (`--remove-orphans`), not supervised.
                continue;
            };
            seen.insert(inst.name.clone());
            let t = p
                .instances
                .entry(inst.name.clone())
                .or_insert_with(|| Tracked::new(&inst.service, &inst.id, dep.policy.restart));
            if t.changed_at.is_some_and(|at| at > started_at) {
                continue;
            }
            if t.id != inst.id {
                t.id.clone_from(&inst.id);
                t.recorded_start = None;
                t.recorded_exit = None;
            }
            let runs = matches!(
                inst.state,
                State::Running | State::Restarting | State::Paused
            );
            match (&t.life, runs) {
                (Life::Running | Life::Restarting { .. }, true)
                | (
                    Life::Down | Life::Waiting { .. } | Life::Restarting { .. } | Life::Held,
                    false,
                ) => {}
                (Life::Unknown, true) => started(cx, project, &inst.name, t, None),
                // Just after its exit, a snapshot saying it runs is the list lagging the event.
                (Life::Down | Life::Waiting { .. } | Life::Held | Life::Gone, true)
                    if settling(t, started_at) => {}
                (Life::Down | Life::Waiting { .. } | Life::Held | Life::Gone, true) => {
                    appeared += 1;
                    started(
                        cx,
                        project,
                        &inst.name,
                        t,
                        Some("started outside the daemon"),
                    );
                }
                (Life::Running | Life::Unknown | Life::Gone, false) => {
                    if t.life == Life::Running {
                        missed_exits += 1;
                    }
                    let code = match inst.state {
                        State::Exited(code) => Some(code),
                        _ => None,
                    };
                    if exited(cx, project, &inst.name, t, code, "reconcile")
                        && spec.restart.restarts(code, t.tracker.attempts())
                    {
                        let trigger = match code {
                            Some(code) => format!("exited with code {code}"),
                            None => format!("found {}", state_name(inst.state)),
                        };
                        fail(&mut self.next_ticket, cx, project, &inst.name, t, trigger);
                    }
                }
            }
        }
        for (name, t) in &mut p.instances {
            if seen.contains(name)
                || matches!(t.life, Life::Gone | Life::Restarting { .. })
                || t.changed_at.is_some_and(|at| at > started_at)
            {
                continue;
            }
            missing += 1;
            set_life(t, Life::Gone, cx.now);
            cx.record(removed(cx.wall, project, name, t, "reconcile"));
        }

        let drift: Vec<skiff_plan::Planned> =
            match skiff_plan::plan(&dep.desired, &observed, &PlanOptions::default()) {
                Ok(plan) => plan
                    .actions
                    .into_iter()
                    .filter(|p| is_drift(&p.action))
                    .collect(),
                Err(error) => {
                    tracing::warn!(project, %error, "plan failed");
                    Vec::new()
                }
            };
        let actions: Vec<Action> = drift.iter().map(|p| p.action.clone()).collect();
        let mut drift_recorded = false;
        if actions.is_empty() {
            p.reported_drift.clear();
        } else {
            match dep.policy.drift {
                Drift::Repair => {
                    cx.record(
                        Event::new(cx.wall, Kind::Drift)
                            .project(project)
                            .trigger(cause.trigger())
                            .detail(json!({"policy": "repair", "actions": actions})),
                    );
                    drift_recorded = true;
                    p.busy = true;
                    cx.out.push(Effect::Run(Job::Repair {
                        deployment: Arc::clone(&dep),
                        plan: Plan { actions: drift },
                    }));
                }
                Drift::Report => {
                    if p.reported_drift != actions {
                        cx.record(
                            Event::new(cx.wall, Kind::Drift)
                                .project(project)
                                .trigger(cause.trigger())
                                .detail(json!({"policy": "report", "actions": actions})),
                        );
                        p.reported_drift = actions.clone();
                        drift_recorded = true;
                    }
                }
            }
        }
        // Only passes that found something new are history; the metrics time them all.
        if missed_exits + appeared + missing > 0 || drift_recorded {
            cx.record(
                Event::new(cx.wall, Kind::Reconciled)
                    .project(project)
                    .trigger(cause.trigger())
                    .detail(json!({
                        "missed_exits": missed_exits,
                        "started_elsewhere": appeared,
                        "missing": missing,
                        "drift": actions.len(),
                    })),
            );
        }
    }
}

impl Tracked {
    fn new(service: &str, id: &str, restart: RestartConfig) -> Tracked {
        Tracked {
            service: service.to_owned(),
            id: id.to_owned(),
            life: Life::Unknown,
            changed_at: None,
            health: None,
            tracker: RestartTracker::new(restart),
            recorded_start: None,
            recorded_exit: None,
        }
    }
}

/// How long after an instance stopped an observation that it runs is not believed: the
/// engine's container list can lag its own event stream by a moment (a `die` event arrives,
/// and the list still says running), so such a snapshot is older news than the exit. A start
/// outside the daemon is still found, by the next reconcile tick.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether an observation that began at `started_at` is too early to judge `t` by.
fn settling(t: &Tracked, started_at: Instant) -> bool {
    t.changed_at.is_some_and(|at| at + SETTLE > started_at)
}

fn set_life(t: &mut Tracked, life: Life, now: Instant) {
    t.life = life;
    t.changed_at = Some(now);
}

/// It runs: a restart of ours completed, or it was found or reported running.
fn started(cx: &mut Cx, project: &str, instance: &str, t: &mut Tracked, trigger: Option<&str>) {
    // Running and its start recorded: nothing new (a replacement under the same name has
    // another ID, and its start is recorded).
    if t.life == Life::Running && t.recorded_start.as_deref() == Some(t.id.as_str()) {
        return;
    }
    let restart = match &t.life {
        Life::Restarting {
            attempt, trigger, ..
        } => Some((*attempt, trigger.clone())),
        _ => None,
    };
    set_life(t, Life::Running, cx.now);
    t.tracker.up(cx.now);
    // A new run: its healthcheck starts over.
    t.health = None;
    t.recorded_exit = None;
    if t.recorded_start.as_deref() == Some(t.id.as_str()) && restart.is_none() {
        return;
    }
    t.recorded_start = Some(t.id.clone());
    let event = match restart {
        Some((attempt, why)) => instance_event(cx.wall, Kind::Restarted, project, instance, t)
            .trigger(why)
            .detail(json!({"attempt": attempt})),
        None => {
            let e = instance_event(cx.wall, Kind::Started, project, instance, t);
            match trigger {
                Some(why) => e.trigger(why),
                None => e,
            }
        }
    };
    cx.record(event);
}

/// Its main process ended (or it was found stopped). Returns whether that made it `Down`
/// (it was running, or not known): then the caller decides about a restart.
fn exited(
    cx: &mut Cx,
    project: &str,
    instance: &str,
    t: &mut Tracked,
    code: Option<i64>,
    learnt_from: &str,
) -> bool {
    let decides = match t.life {
        // The old process stopping for our restart, before the new one reports.
        Life::Restarting { .. } => {
            cx.record(
                with_code(
                    instance_event(cx.wall, Kind::Exited, project, instance, t),
                    code,
                )
                .trigger("stopped for a restart"),
            );
            return false;
        }
        Life::Running | Life::Unknown | Life::Gone => true,
        Life::Down | Life::Waiting { .. } | Life::Held => false,
    };
    t.health = None;
    t.tracker.down();
    t.recorded_start = None;
    let key = (t.id.clone(), code);
    if t.recorded_exit.as_ref() != Some(&key) {
        t.recorded_exit = Some(key);
        cx.record(
            with_code(
                instance_event(cx.wall, Kind::Exited, project, instance, t),
                code,
            )
            .trigger(learnt_from),
        );
    }
    if decides {
        set_life(t, Life::Down, cx.now);
    }
    decides
}

/// A failure the policy answers with a restart: ask the tracker when.
fn fail(
    tickets: &mut u64,
    cx: &mut Cx,
    project: &str,
    instance: &str,
    t: &mut Tracked,
    trigger: String,
) {
    let crash_loop = |cx: &mut Cx, t: &Tracked, config: &RestartConfig| {
        let then = match config.crash_loop.then {
            CrashLoopAction::Throttle(every) => {
                json!({"then": "throttle", "every_ms": millis(every)})
            }
            CrashLoopAction::Hold => json!({"then": "hold"}),
        };
        cx.record(
            instance_event(cx.wall, Kind::CrashLoop, project, instance, t)
                .trigger(format!(
                    "{} restarts within {}s",
                    config.crash_loop.restarts,
                    config.crash_loop.window.as_secs()
                ))
                .detail(then),
        );
    };
    let config = *t.tracker.config();
    match t.tracker.failed(cx.now) {
        Decision::Restart {
            after,
            attempt,
            entered_crash_loop,
        } => {
            if entered_crash_loop {
                crash_loop(cx, t, &config);
            }
            *tickets += 1;
            let ticket = *tickets;
            let at = cx.now + after;
            cx.record(
                instance_event(cx.wall, Kind::RestartScheduled, project, instance, t)
                    .trigger(&trigger)
                    .detail(json!({"attempt": attempt, "delay_ms": millis(after)})),
            );
            set_life(
                t,
                Life::Waiting {
                    at,
                    ticket,
                    attempt,
                    trigger,
                },
                cx.now,
            );
            cx.out.push(Effect::Wake {
                at,
                input: Input::RestartDue {
                    project: project.to_owned(),
                    instance: instance.to_owned(),
                    ticket,
                },
            });
        }
        Decision::Hold { entered_crash_loop } => {
            if entered_crash_loop {
                crash_loop(cx, t, &config);
            }
            set_life(t, Life::Held, cx.now);
        }
    }
}

/// Differences a person made: missing or changed instances, resources, extra replicas.
/// Stopped instances are the restart machine's, not drift.
fn is_drift(action: &Action) -> bool {
    match action {
        Action::CreateNetwork { .. }
        | Action::CreateVolume { .. }
        | Action::Create { .. }
        | Action::Recreate { .. } => true,
        Action::Remove { reason, .. } => *reason == Removal::ScaleDown,
        Action::Start { .. } | Action::Stop { .. } => false,
    }
}

fn instance_of(action: &Action) -> Option<&str> {
    match action {
        Action::Create { name, .. }
        | Action::Recreate { name, .. }
        | Action::Start { name, .. }
        | Action::Remove { name, .. }
        | Action::Stop { name, .. } => Some(name),
        Action::CreateNetwork { .. } | Action::CreateVolume { .. } => None,
    }
}

fn instance_event(
    wall: DateTime<Utc>,
    kind: Kind,
    project: &str,
    instance: &str,
    t: &Tracked,
) -> Event {
    Event::new(wall, kind)
        .project(project)
        .service(&t.service)
        .instance(instance)
}

fn removed(wall: DateTime<Utc>, project: &str, instance: &str, t: &Tracked, why: &str) -> Event {
    instance_event(wall, Kind::Removed, project, instance, t).trigger(why)
}

fn with_code(event: Event, code: Option<i64>) -> Event {
    match code {
        Some(c) => event.exit_code(c),
        None => event,
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Created => "created but not started",
        State::Running => "running",
        State::Restarting => "restarting",
        State::Paused => "paused",
        State::Exited(_) => "exited",
        State::Dead => "dead",
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
