//! The core by data: inputs at pinned times, and the effects it returns, in words.

use std::time::Duration;

use serde_json::json;
use skiff_model::xskiff;
use skiff_plan::{Instance, State};

use super::*;
use crate::config::Policy;

struct Harness {
    core: Core,
    start: Instant,
    now: Instant,
    base: DateTime<Utc>,
    deployment: Arc<Deployment>,
}

fn deployment(project: &serde_json::Value, drift: Drift) -> Arc<Deployment> {
    let ext = xskiff::Daemon {
        backoff_initial: None,
        backoff_max: None,
        drift,
        restart_default: xskiff::RestartDefault::default(),
    };
    Arc::new(Deployment {
        name: "shop".into(),
        project: crate::StackSource::new("shop", project.clone()),
        desired: crate::fake::desired("shop", project).expect("desired"),
        policy: Policy::new(RestartConfig::default(), Some(&ext)),
    })
}

fn instance(name: &str, id: &str, state: State) -> Instance {
    let service = name.split('-').nth(1).expect("shop-SERVICE-N").to_owned();
    Instance {
        id: id.into(),
        name: name.into(),
        service,
        number: 1,
        hash: "h".into(),
        config: None,
        state,
        image_id: None,
    }
}

fn world(name: &str, id: &str, change: Change) -> Input {
    let service = name.split('-').nth(1).expect("shop-SERVICE-N").to_owned();
    Input::World(WorldEvent {
        project: "shop".into(),
        service,
        instance: name.into(),
        id: id.into(),
        change,
    })
}

fn deploy_input() -> Input {
    let (reply, _) = oneshot::channel();
    Input::Deploy {
        name: "shop".into(),
        request: DeployRequest {
            project: crate::StackSource::new("shop", json!({})),
            daemon: None,
            remove_orphans: false,
            alerts: std::collections::BTreeMap::new(),
        },
        trigger: crate::DeployTrigger::Api,
        reply,
    }
}

impl Harness {
    fn empty(project: &serde_json::Value, drift: Drift) -> Harness {
        let now = Instant::now();
        Harness {
            core: Core::new(),
            start: now,
            now,
            base: DateTime::from_timestamp(1_750_000_000, 0).expect("time"),
            deployment: deployment(project, drift),
        }
    }

    /// `shop` deployed with `web` (restart: always) running as `shop-web-1` (id `a`).
    fn running() -> Harness {
        Harness::with(
            &json!({"services": {"web": {"restart": "always"}}}),
            Drift::Repair,
        )
    }

    fn with(project: &serde_json::Value, drift: Drift) -> Harness {
        let mut h = Harness::empty(project, drift);
        h.input(deploy_input());
        h.input(h.executed(Cause::Deploy));
        let observed = h.observed(vec![instance("shop-web-1", "a", State::Running)], 0);
        assert_eq!(h.input(observed), ["started shop-web-1"]);
        h
    }

    fn executed(&self, cause: Cause) -> Input {
        Input::Executed {
            project: "shop".into(),
            cause,
            result: Ok(Executed {
                deployment: Arc::clone(&self.deployment),
                actions: Vec::new(),
                errors: Vec::new(),
            }),
            reply: None,
        }
    }

    /// An observation that started `ago` seconds before now.
    fn observed(&self, instances: Vec<Instance>, ago: u64) -> Input {
        Input::Observed {
            project: "shop".into(),
            cause: ObserveCause::Tick,
            started: self.now - Duration::from_secs(ago),
            result: Ok(Observed {
                instances,
                networks: Vec::new(),
                volumes: Vec::new(),
            }),
        }
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    fn input(&mut self, input: Input) -> Vec<String> {
        let wall = self.base + chrono::Duration::from_std(self.now - self.start).expect("span");
        let effects = self.core.handle(self.now, wall, input);
        show(effects, self.now)
    }
}

fn restart_due(instance: &str, ticket: u64) -> Input {
    Input::RestartDue {
        project: "shop".into(),
        instance: instance.into(),
        ticket,
    }
}

fn restarted(instance: &str, ticket: u64, result: Result<(), RuntimeError>) -> Input {
    Input::Restarted {
        project: "shop".into(),
        instance: instance.into(),
        ticket,
        result,
    }
}

/// Effects in words: `{kind} {instance or project}[ code=N][ health][ (trigger)][ delay=N]`.
fn show(effects: Vec<Effect>, now: Instant) -> Vec<String> {
    effects
        .into_iter()
        .map(|effect| match effect {
            Effect::Record(e) => {
                let mut s = format!(
                    "{} {}",
                    e.kind,
                    e.instance
                        .as_deref()
                        .or(e.project.as_deref())
                        .unwrap_or("-")
                );
                if let Some(c) = e.exit_code {
                    s += &format!(" code={c}");
                }
                if let Some(h) = e.health {
                    s += &format!(" {h}");
                }
                if let Some(t) = &e.trigger {
                    s += &format!(" ({t})");
                }
                if let Some(d) = e.detail.get("delay_ms") {
                    s += &format!(" delay={}s", d.as_u64().expect("ms") / 1000);
                }
                if e.kind == Kind::Drift {
                    let actions: Vec<String> = e.detail["actions"]
                        .as_array()
                        .expect("actions")
                        .iter()
                        .map(|a| format!("{} {}", a["action"], a["name"]).replace('"', ""))
                        .collect();
                    let policy = e.detail["policy"].as_str().expect("policy");
                    s += &format!(" {policy} [{}]", actions.join(", "));
                }
                s
            }
            Effect::Wake { at, input } => {
                let what = match input {
                    Input::RestartDue {
                        instance, ticket, ..
                    } => format!("restart {instance} #{ticket}"),
                    other => format!("{other:?}"),
                };
                format!("wake +{}s {what}", (at - now).as_secs())
            }
            Effect::Run(job) => match job {
                Job::Deploy { name, .. } => format!("run deploy {name}"),
                Job::Observe { deployment, cause } => {
                    format!("run observe {} ({})", deployment.name, cause.trigger())
                }
                Job::Repair { deployment, plan } => {
                    format!(
                        "run repair {} ({} actions)",
                        deployment.name,
                        plan.actions.len()
                    )
                }
                Job::Restart {
                    instance, ticket, ..
                } => format!("run restart {} #{ticket}", instance.name),
            },
            Effect::Reply { reply, .. } => match reply {
                DeployReply::Done(o) => format!("reply done, {} errors", o.errors.len()),
                DeployReply::Busy => "reply busy".into(),
                DeployReply::Failed(m) => format!("reply failed: {m}"),
            },
            Effect::ReplyRelease { reply, .. } => format!("reply release {reply:?}"),
            Effect::Forget { project } => format!("forget {project}"),
            Effect::Stop => "stop".into(),
        })
        .collect()
}

#[test]
fn a_deploy_is_recorded_runs_once_and_is_observed_after() {
    let mut h = Harness::empty(&json!({"services": {"web": {}}}), Drift::Repair);
    assert_eq!(
        h.input(deploy_input()),
        ["deploy shop (api)", "run deploy shop"]
    );
    assert_eq!(h.input(deploy_input()), ["reply busy"]);
    let (reply, _) = oneshot::channel();
    let executed = Input::Executed {
        project: "shop".into(),
        cause: Cause::Deploy,
        result: Ok(Executed {
            deployment: Arc::clone(&h.deployment),
            actions: Vec::new(),
            errors: vec!["create shop-web-1: boom".into()],
        }),
        reply: Some(reply),
    };
    assert_eq!(
        h.input(executed),
        [
            "deploy_failed shop (api)",
            "run observe shop (after deploy)",
            "reply done, 1 errors"
        ]
    );
}

#[test]
fn a_deploy_that_cannot_plan_forgets_the_project() {
    let mut h = Harness::empty(&json!({"services": {"web": {}}}), Drift::Repair);
    h.input(deploy_input());
    let (reply, _) = oneshot::channel();
    let failed = Input::Executed {
        project: "shop".into(),
        cause: Cause::Deploy,
        result: Err("plan shop: dependency cycle: a -> b -> a".into()),
        reply: Some(reply),
    };
    assert_eq!(
        h.input(failed),
        [
            "deploy_failed shop (deploy)",
            "forget shop",
            "reply failed: plan shop: dependency cycle: a -> b -> a"
        ]
    );
    assert_eq!(h.input(Input::Tick), Vec::<String>::new());
}

#[test]
fn an_exit_restarts_at_once_then_after_10s() {
    let mut h = Harness::running();
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Exited { code: 1 })),
        [
            "exited shop-web-1 code=1 (runtime event)",
            "restart_scheduled shop-web-1 (exited with code 1) delay=0s",
            "wake +0s restart shop-web-1 #1",
        ]
    );
    assert_eq!(
        h.input(restart_due("shop-web-1", 1)),
        ["run restart shop-web-1 #1"]
    );
    // The world reports the start before the job returns: that is the restart.
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Started)),
        ["restarted shop-web-1 (exited with code 1)"]
    );
    assert_eq!(
        h.input(restarted("shop-web-1", 1, Ok(()))),
        Vec::<String>::new()
    );
    h.advance(3);
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Exited { code: 2 })),
        [
            "exited shop-web-1 code=2 (runtime event)",
            "restart_scheduled shop-web-1 (exited with code 2) delay=10s",
            "wake +10s restart shop-web-1 #2",
        ]
    );
    h.advance(10);
    assert_eq!(
        h.input(restart_due("shop-web-1", 2)),
        ["run restart shop-web-1 #2"]
    );
    // Without a report of the start, the job's success is the restart.
    assert_eq!(
        h.input(restarted("shop-web-1", 2, Ok(()))),
        ["restarted shop-web-1 (exited with code 2)"]
    );
}

#[test]
fn the_restart_policy_decides() {
    for (restart, code, restarts) in [
        ("no", 1, false),
        ("on-failure", 0, false),
        ("on-failure", 3, true),
        ("always", 0, true),
        ("unless-stopped", 0, true),
    ] {
        let mut h = Harness::with(
            &json!({"services": {"web": {"restart": restart}}}),
            Drift::Repair,
        );
        let effects = h.input(world("shop-web-1", "a", Change::Exited { code }));
        assert_eq!(
            effects[0],
            format!("exited shop-web-1 code={code} (runtime event)")
        );
        assert_eq!(
            effects.len() > 1,
            restarts,
            "{restart} after {code}: {effects:?}"
        );
    }
}

#[test]
fn unhealthy_restarts_and_the_old_process_stopping_is_not_a_crash() {
    let mut h = Harness::running();
    assert_eq!(
        h.input(world(
            "shop-web-1",
            "a",
            Change::HealthChanged {
                health: Health::Unhealthy
            }
        )),
        [
            "health shop-web-1 unhealthy",
            "restart_scheduled shop-web-1 (unhealthy) delay=0s",
            "wake +0s restart shop-web-1 #1",
        ]
    );
    h.input(restart_due("shop-web-1", 1));
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Exited { code: 143 })),
        ["exited shop-web-1 code=143 (stopped for a restart)"]
    );
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Started)),
        ["restarted shop-web-1 (unhealthy)"]
    );
    // No restart for a service whose policy is `no`.
    let mut h = Harness::with(&json!({"services": {"web": {}}}), Drift::Repair);
    assert_eq!(
        h.input(world(
            "shop-web-1",
            "a",
            Change::HealthChanged {
                health: Health::Unhealthy
            }
        )),
        ["health shop-web-1 unhealthy"]
    );
}

#[test]
fn a_start_by_someone_else_cancels_the_pending_restart() {
    let mut h = Harness::running();
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Started)),
        ["started shop-web-1 (started outside the daemon)"]
    );
    assert_eq!(h.input(restart_due("shop-web-1", 1)), Vec::<String>::new());
}

#[test]
fn a_failed_restart_backs_off_further() {
    let mut h = Harness::running();
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    h.input(restart_due("shop-web-1", 1));
    assert_eq!(
        h.input(restarted(
            "shop-web-1",
            1,
            Err(RuntimeError::new("restart shop-web-1", "no such container"))
        )),
        [
            "restart_failed shop-web-1 (exited with code 1)",
            "restart_scheduled shop-web-1 (restart failed: restart shop-web-1: no such container) delay=10s",
            "wake +10s restart shop-web-1 #2",
        ]
    );
}

#[test]
fn reports_about_a_replaced_instance_are_ignored() {
    let mut h = Harness::running();
    assert_eq!(
        h.input(world("shop-web-1", "old", Change::Exited { code: 137 })),
        Vec::<String>::new()
    );
    assert_eq!(
        h.input(world("shop-web-1", "b", Change::Started)),
        ["started shop-web-1"]
    );
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Removed)),
        Vec::<String>::new()
    );
}

#[test]
fn reconcile_finds_a_missed_exit() {
    let mut h = Harness::running();
    h.advance(30);
    assert_eq!(h.input(Input::Tick), ["run observe shop (reconcile tick)"]);
    assert_eq!(
        h.input(Input::Tick),
        Vec::<String>::new(),
        "one observation at a time"
    );
    let observed = h.observed(vec![instance("shop-web-1", "a", State::Exited(3))], 0);
    assert_eq!(
        h.input(observed),
        [
            "exited shop-web-1 code=3 (reconcile)",
            "restart_scheduled shop-web-1 (exited with code 3) delay=0s",
            "wake +0s restart shop-web-1 #1",
            "reconciled shop (reconcile tick)",
        ]
    );
}

#[test]
fn an_observation_older_than_the_news_is_ignored() {
    let mut h = Harness::running();
    h.advance(5);
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    h.input(restart_due("shop-web-1", 1));
    h.input(world("shop-web-1", "a", Change::Started));
    // Began looking 2 s ago, before the restart: says exited, but that is old news.
    let observed = h.observed(vec![instance("shop-web-1", "a", State::Exited(1))], 2);
    assert_eq!(h.input(observed), Vec::<String>::new());
}

#[test]
fn drift_is_repaired_or_reported_once() {
    let mut h = Harness::running();
    let gone = h.observed(Vec::new(), 0);
    assert_eq!(
        h.input(gone),
        [
            "removed shop-web-1 (reconcile)",
            "drift shop (reconcile tick) repair [create shop-web-1]",
            "run repair shop (1 actions)",
            "reconciled shop (reconcile tick)",
        ]
    );
    // While the repair runs, ticks do not observe the project.
    assert_eq!(h.input(Input::Tick), Vec::<String>::new());
    assert_eq!(
        h.input(h.executed(Cause::Repair)),
        ["run observe shop (after drift repair)"]
    );

    let mut h = Harness::with(
        &json!({"services": {"web": {"restart": "always"}}}),
        Drift::Report,
    );
    let gone = h.observed(Vec::new(), 0);
    assert_eq!(
        h.input(gone),
        [
            "removed shop-web-1 (reconcile)",
            "drift shop (reconcile tick) report [create shop-web-1]",
            "reconciled shop (reconcile tick)",
        ]
    );
    let again = h.observed(Vec::new(), 0);
    assert_eq!(h.input(again), Vec::<String>::new());
    assert_eq!(h.input(Input::Tick), ["run observe shop (reconcile tick)"]);
}

#[test]
fn a_removal_reported_by_the_world_is_observed_at_once() {
    let mut h = Harness::running();
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Removed)),
        [
            "removed shop-web-1 (runtime event)",
            "run observe shop (instance removed)"
        ]
    );
}

#[test]
fn exits_during_a_deploy_are_decided_after_it() {
    let mut h = Harness::running();
    h.input(deploy_input());
    assert_eq!(
        h.input(world("shop-web-1", "a", Change::Exited { code: 1 })),
        ["exited shop-web-1 code=1 (runtime event)"]
    );
    assert_eq!(
        h.input(h.executed(Cause::Deploy)),
        ["deployed shop (api)", "run observe shop (after deploy)"]
    );
    let observed = h.observed(vec![instance("shop-web-1", "a", State::Exited(1))], 0);
    assert_eq!(
        h.input(observed),
        [
            "restart_scheduled shop-web-1 (exited with code 1) delay=0s",
            "wake +0s restart shop-web-1 #1",
        ]
    );
}

#[test]
fn a_crash_loop_throttles_then_recovers_after_a_stable_run() {
    let mut h = Harness::running();
    let mut delays = Vec::new();
    for ticket in 1..=7 {
        let effects = h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
        if ticket == 6 {
            assert!(
                effects.contains(&"crash_loop shop-web-1 (5 restarts within 600s)".to_owned()),
                "{effects:?}"
            );
        } else {
            assert!(
                !effects.iter().any(|e| e.starts_with("crash_loop")),
                "{effects:?}"
            );
        }
        let wake = effects.last().expect("a wake").clone();
        let secs: u64 = wake
            .strip_prefix("wake +")
            .and_then(|w| w.split('s').next())
            .and_then(|s| s.parse().ok())
            .expect("wake +Ns");
        delays.push(secs);
        h.advance(secs);
        h.input(restart_due("shop-web-1", ticket));
        h.input(world("shop-web-1", "a", Change::Started));
    }
    assert_eq!(delays, [0, 10, 20, 40, 80, 300, 300]);
    h.advance(59);
    assert_eq!(h.input(Input::Tick), ["run observe shop (reconcile tick)"]);
    h.input(h.observed(vec![instance("shop-web-1", "a", State::Running)], 0));
    h.advance(1);
    assert_eq!(
        h.input(Input::Tick),
        [
            "recovered shop-web-1 (up without interruption)",
            "run observe shop (reconcile tick)"
        ]
    );
}

#[test]
fn plan_progress_is_recorded_and_a_removal_ends_the_instance() {
    let mut h = Harness::running();
    let action = Action::Remove {
        service: "web".into(),
        id: "a".into(),
        name: "shop-web-1".into(),
        reason: Removal::ScaleDown,
    };
    assert_eq!(
        h.input(Input::Progress {
            project: "shop".into(),
            cause: Cause::Deploy,
            event: skiff_runtime::Event::Done {
                action,
                seconds: 0.1
            },
        }),
        ["action shop-web-1 (deploy)", "removed shop-web-1 (deploy)"]
    );
}

#[test]
fn the_live_view_counts_instances_and_next_restarts() {
    let mut h = Harness::running();
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    h.input(restart_due("shop-web-1", 1));
    h.input(world("shop-web-1", "a", Change::Started));
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    let wall = h.base + chrono::Duration::from_std(h.now - h.start).expect("span");
    let live = h.core.live(h.now, wall);
    assert_eq!(
        live,
        [LiveService {
            project: "shop".into(),
            service: "web".into(),
            instances: 1,
            running: 0,
            healthy: false,
            crash_loop: false,
            next_restart: Some(wall + chrono::Duration::seconds(10)),
        }]
    );
}

#[test]
fn shutdown_stops() {
    let mut h = Harness::running();
    assert_eq!(h.input(Input::Shutdown), ["stop"]);
}

#[test]
fn a_redeploy_that_fails_before_running_still_resumes_pending_restarts() {
    let mut h = Harness::running();
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    h.input(deploy_input());
    // Due while the deploy runs: left for after it.
    assert_eq!(h.input(restart_due("shop-web-1", 1)), Vec::<String>::new());
    let (reply, _) = oneshot::channel();
    assert_eq!(
        h.input(Input::Executed {
            project: "shop".into(),
            cause: Cause::Deploy,
            result: Err("read project shop: no services".into()),
            reply: Some(reply),
        }),
        [
            "deploy_failed shop (deploy)",
            "run observe shop (after deploy)",
            "reply failed: read project shop: no services",
        ]
    );
    let observed = h.observed(vec![instance("shop-web-1", "a", State::Exited(1))], 0);
    assert_eq!(
        h.input(observed),
        [
            "restart_scheduled shop-web-1 (exited with code 1) delay=10s",
            "wake +10s restart shop-web-1 #2",
        ]
    );
}

#[test]
fn an_observation_begun_before_a_plan_ended_is_stale() {
    let mut h = Harness::running();
    h.advance(10);
    h.input(deploy_input());
    h.input(h.executed(Cause::Deploy));
    // Began 5 s ago, while the deploy ran: says nothing runs, which is no longer true.
    let stale = h.observed(Vec::new(), 5);
    assert_eq!(h.input(stale), Vec::<String>::new());
}

#[test]
fn instances_of_undeclared_services_are_left_alone() {
    let mut h = Harness::running();
    let observed = h.observed(
        vec![
            instance("shop-web-1", "a", State::Running),
            instance("shop-old-1", "o", State::Exited(1)),
        ],
        0,
    );
    assert_eq!(h.input(observed), Vec::<String>::new());
    assert_eq!(
        h.input(world("shop-old-1", "o", Change::Exited { code: 1 })),
        Vec::<String>::new()
    );
}

#[test]
fn an_instance_changed_by_hand_is_drift() {
    let mut h = Harness::running();
    let mut changed = instance("shop-web-1", "a", State::Running);
    changed.hash = "edited-by-hand".into();
    let observed = h.observed(vec![changed], 0);
    assert_eq!(
        h.input(observed),
        [
            "drift shop (reconcile tick) repair [recreate shop-web-1]",
            "run repair shop (1 actions)",
            "reconciled shop (reconcile tick)",
        ]
    );
}

#[test]
fn a_snapshot_just_after_an_exit_that_says_running_is_the_list_lagging() {
    let mut h = Harness::with(&json!({"services": {"web": {}}}), Drift::Repair);
    h.advance(5);
    h.input(world("shop-web-1", "a", Change::Exited { code: 1 }));
    // Began looking right after the exit (the engine's list not yet updated): not believed.
    let observed = h.observed(vec![instance("shop-web-1", "a", State::Running)], 0);
    let out = h.input(observed);
    assert!(
        !out.iter().any(|l| l.contains("started outside the daemon")),
        "{out:?}"
    );
    // A second later it still runs: someone did start it.
    h.advance(1);
    let observed = h.observed(vec![instance("shop-web-1", "a", State::Running)], 0);
    let out = h.input(observed);
    assert!(
        out.iter()
            .any(|l| l == "started shop-web-1 (started outside the daemon)"),
        "{out:?}"
    );
}
