//! The loop with its shell, against the fake world and a real store, under paused time:
//! hours of backoff in milliseconds, every time exact.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use skiff_store::{Filter, Recorded, ServiceState};

use super::*;
use crate::config::{CrashLoopAction, CrashLoopConfig};
use crate::core::ReleaseReply;
use crate::fake::{Behaviour, FakeWorld};

struct Running {
    handle: LoopHandle,
    task: tokio::task::JoinHandle<()>,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

fn config(dir: &Path) -> DaemonConfig {
    let mut config = DaemonConfig::new(dir.join("daemon.sock"), dir.join("events.db"));
    config.clock =
        Clock::following_tokio(DateTime::from_timestamp(1_750_000_000, 0).expect("time"));
    config
}

fn start(world: &FakeWorld, tune: impl FnOnce(&mut DaemonConfig)) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    tune(&mut config);
    let store = Store::open(&config.store).expect("store");
    let (event_loop, handle) = EventLoop::new(&config, world.clone(), store);
    let task = tokio::spawn(event_loop.run());
    Running {
        handle,
        task,
        store: config.store.clone(),
        _dir: dir,
    }
}

impl Running {
    async fn deploy(&self, project: serde_json::Value) -> DeployReply {
        let (reply, answer) = oneshot::channel();
        self.handle
            .inputs
            .send(Input::Deploy {
                name: "shop".into(),
                request: DeployRequest {
                    project: crate::StackSource::new("shop", project),
                    daemon: None,
                    remove_orphans: false,
                    alerts: std::collections::BTreeMap::new(),
                },
                trigger: crate::DeployTrigger::Api,
                reply,
            })
            .expect("send");
        answer.await.expect("reply")
    }

    async fn release(&self) -> ReleaseReply {
        let (reply, answer) = oneshot::channel();
        self.handle
            .inputs
            .send(Input::Release {
                name: "shop".into(),
                reply,
            })
            .expect("send");
        answer.await.expect("reply")
    }

    async fn stop(self) -> (Vec<Recorded>, Store) {
        self.handle.inputs.send(Input::Shutdown).expect("send");
        self.task.await.expect("loop");
        let store = Store::open(&self.store).expect("store");
        (store.query(&Filter::default()).expect("query"), store)
    }
}

fn web_always() -> serde_json::Value {
    json!({"services": {"web": {"restart": "always"}}})
}

/// Seconds from `from` to each event of these kinds of `shop-web-1`.
fn times(events: &[Recorded], kind: Kind, from: DateTime<Utc>) -> Vec<i64> {
    events
        .iter()
        .filter(|r| r.event.kind == kind && r.event.instance.as_deref() == Some("shop-web-1"))
        .map(|r| (r.event.time - from).num_milliseconds())
        .map(|ms| {
            assert_eq!(ms % 1000, 0, "whole seconds under paused time");
            ms / 1000
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_crash_looping_instance_restarts_at_0_10_20_40_80_then_every_300_seconds() {
    let world = FakeWorld::new();
    world.set_behaviour(
        "web",
        Behaviour::CrashesAfter {
            after: Duration::from_secs(1),
            code: 1,
        },
    );
    let daemon = start(&world, |_| {});
    assert!(
        matches!(daemon.deploy(web_always()).await, DeployReply::Done(o) if o.errors.is_empty())
    );
    tokio::time::sleep(Duration::from_secs(40 * 60)).await;
    let (events, store) = daemon.stop().await;

    let first_exit = events
        .iter()
        .find(|r| r.event.kind == Kind::Exited)
        .expect("an exit")
        .event
        .time;
    let exits = times(&events, Kind::Exited, first_exit);
    let restarts = times(&events, Kind::Restarted, first_exit);
    // Each restart's delay after the exit before it.
    let delays: Vec<i64> = restarts
        .iter()
        .zip(&exits)
        .map(|(restart, exit)| restart - exit)
        .collect();
    assert_eq!(
        delays[..8],
        [0, 10, 20, 40, 80, 300, 300, 300],
        "{delays:?}"
    );
    // Every instance runs 1 s: exits come 1 s after each restart.
    assert!(exits[1..].iter().zip(&restarts).all(|(e, r)| e - r == 1));
    // Entered once, at the sixth exit (five restarts within ten minutes).
    let crash_loops = times(&events, Kind::CrashLoop, first_exit);
    assert_eq!(crash_loops, [exits[5]]);
    // The scheduled delays are recorded with what triggered them.
    let scheduled: Vec<(&str, u64)> = events
        .iter()
        .filter(|r| r.event.kind == Kind::RestartScheduled)
        .take(3)
        .map(|r| {
            (
                r.event.trigger.as_deref().unwrap_or_default(),
                r.event.detail["delay_ms"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        scheduled,
        [
            ("exited with code 1", 0),
            ("exited with code 1", 10_000),
            ("exited with code 1", 20_000)
        ]
    );
    let summary = store.summary(Some("shop")).expect("summary");
    assert_eq!(summary[0].state, ServiceState::CrashLoop);
    assert_eq!(
        summary[0].restarts,
        u32::try_from(restarts.len()).expect("count")
    );
    assert_eq!(
        summary[0].last_error.as_ref().map(|e| e.message.as_str()),
        Some("exited with code 1")
    );
    // The world was asked exactly as often as the history says.
    let asked = world
        .calls()
        .iter()
        .filter(|c| c.what == "restart shop-web-1")
        .count();
    assert_eq!(asked, restarts.len());
}

#[tokio::test(start_paused = true)]
async fn a_crash_loop_that_holds_stops_restarting() {
    let world = FakeWorld::new();
    world.set_behaviour(
        "web",
        Behaviour::CrashesAfter {
            after: Duration::ZERO,
            code: 2,
        },
    );
    let daemon = start(&world, |c| {
        c.restart.crash_loop = CrashLoopConfig {
            restarts: 3,
            then: CrashLoopAction::Hold,
            ..CrashLoopConfig::default()
        };
    });
    daemon.deploy(web_always()).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let (events, store) = daemon.stop().await;
    let start = events[0].event.time;
    assert_eq!(times(&events, Kind::Restarted, start).len(), 3);
    assert_eq!(times(&events, Kind::CrashLoop, start).len(), 1);
    assert_eq!(
        store.summary(Some("shop")).expect("summary")[0].state,
        ServiceState::CrashLoop
    );
}

#[tokio::test(start_paused = true)]
async fn a_stable_run_resets_the_backoff() {
    let world = FakeWorld::new();
    world.set_behaviour(
        "web",
        Behaviour::CrashesAfter {
            after: Duration::from_secs(120),
            code: 1,
        },
    );
    let daemon = start(&world, |_| {});
    daemon.deploy(web_always()).await;
    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
    let (events, _) = daemon.stop().await;
    let delays: Vec<u64> = events
        .iter()
        .filter(|r| r.event.kind == Kind::RestartScheduled)
        .map(|r| r.event.detail["delay_ms"].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert!(delays.len() >= 5, "{delays:?}");
    assert!(
        delays.iter().all(|d| *d == 0),
        "up 2 min each time: {delays:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_instance_removed_by_hand_is_recreated_at_the_next_tick() {
    let world = FakeWorld::new();
    let daemon = start(&world, |_| {});
    daemon.deploy(web_always()).await;
    world.remove_by_hand("shop", "shop-web-1", false);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(world.instances("shop").len(), 1, "recreated");
    let (events, _) = daemon.stop().await;
    let kinds: Vec<(Kind, Option<&str>)> = events
        .iter()
        .filter(|r| r.event.kind != Kind::DaemonStarted && r.event.kind != Kind::DaemonStopped)
        .map(|r| (r.event.kind, r.event.trigger.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Deploy, Some("api")),
            (Kind::Action, Some("deploy")),
            (Kind::Deployed, Some("api")),
            (Kind::Started, None),
            (Kind::Removed, Some("reconcile")),
            (Kind::Drift, Some("reconcile tick")),
            (Kind::Reconciled, Some("reconcile tick")),
            // The world reports the start while the action runs.
            (Kind::Started, None),
            (Kind::Action, Some("drift repair")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_leaves_services_running() {
    let world = FakeWorld::new();
    let daemon = start(&world, |_| {});
    daemon.deploy(web_always()).await;
    let (events, _) = daemon.stop().await;
    assert_eq!(world.instances("shop")[0].state, skiff_plan::State::Running);
    assert!(!world.calls().iter().any(|c| c.what.starts_with("remove")));
    assert_eq!(
        events.last().map(|r| r.event.kind),
        Some(Kind::DaemonStopped)
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_follow_the_loop() {
    let world = FakeWorld::new();
    let daemon = start(&world, |_| {});
    daemon.deploy(web_always()).await;
    world.kill("shop", "shop-web-1", 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let text = daemon.handle.metrics.encode();
    for line in [
        "skiff_service_up{project=\"shop\",service=\"web\"} 1",
        "skiff_service_restarts_total{project=\"shop\",service=\"web\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_missed_exit_is_found_at_the_next_tick_and_failed_restarts_back_off() {
    let world = FakeWorld::new();
    let daemon = start(&world, |_| {});
    daemon.deploy(web_always()).await;
    world.fail_restarts("web", Some("engine unavailable"));
    world.kill_silently("shop", "shop-web-1", 137);
    // The tick at 30 s finds it; restarts fail at once and after 10 s; then the engine is
    // back for the one 20 s later.
    tokio::time::sleep(Duration::from_secs(45)).await;
    world.fail_restarts("web", None);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (events, _) = daemon.stop().await;
    let start = events[0].event.time;
    let exits: Vec<(i64, Option<&str>)> = events
        .iter()
        .filter(|r| r.event.kind == Kind::Exited)
        .map(|r| {
            (
                (r.event.time - start).num_seconds(),
                r.event.trigger.as_deref(),
            )
        })
        .collect();
    assert_eq!(exits, [(30, Some("reconcile"))]);
    assert_eq!(times(&events, Kind::RestartFailed, start), [30, 40]);
    assert_eq!(times(&events, Kind::Restarted, start), [60]);
    assert_eq!(world.instances("shop")[0].state, skiff_plan::State::Running);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_daemon_takes_up_its_projects_and_a_release_forgets_them() {
    let world = FakeWorld::new();
    let kept = tempfile::tempdir().expect("dir");
    let dir = kept.path().to_owned();
    let daemon = start(&world, |c| c.deployments = Some(dir.clone()));
    daemon.deploy(web_always()).await;
    assert!(dir.join("shop.json").is_file(), "kept before the plan ran");
    daemon.stop().await;

    // Started again (the world kept running): the project is deployed again, nothing is
    // created twice, and the loop supervises it (a crash is restarted).
    let daemon = start(&world, |c| c.deployments = Some(dir.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.instances("shop").len(), 1, "adopted, not duplicated");
    world.kill("shop", "shop-web-1", 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        world.instances("shop")[0].state,
        skiff_plan::State::Running,
        "restarted by the resumed daemon"
    );
    assert_eq!(daemon.release().await, ReleaseReply::Released);
    assert_eq!(daemon.release().await, ReleaseReply::NotOwned);
    assert!(!dir.join("shop.json").exists(), "forgotten");
    // Released: a crash is no longer the daemon's business.
    world.kill("shop", "shop-web-1", 1);
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert!(matches!(
        world.instances("shop")[0].state,
        skiff_plan::State::Exited(1)
    ));
    let (events, _) = daemon.stop().await;
    let triggers: Vec<(Kind, Option<&str>)> = events
        .iter()
        .filter(|r| matches!(r.event.kind, Kind::Deploy | Kind::Deployed | Kind::Released))
        .map(|r| (r.event.kind, r.event.trigger.as_deref()))
        .collect();
    assert_eq!(
        triggers,
        [
            (Kind::Deploy, Some("daemon restart")),
            (Kind::Deployed, Some("daemon restart")),
            (Kind::Released, Some("api")),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn on_failure_with_a_maximum_stops_restarting_after_it() {
    let world = FakeWorld::new();
    world.set_behaviour(
        "web",
        Behaviour::CrashesAfter {
            after: Duration::from_secs(1),
            code: 3,
        },
    );
    let daemon = start(&world, |_| {});
    let reply = daemon
        .deploy(json!({"services": {"web": {"restart": "on-failure:2"}}}))
        .await;
    assert!(matches!(reply, DeployReply::Done(o) if o.errors.is_empty()));
    tokio::time::sleep(Duration::from_secs(600)).await;
    let (events, _) = daemon.stop().await;
    let count = |kind| events.iter().filter(|r| r.event.kind == kind).count();
    assert_eq!(count(Kind::Restarted), 2, "two retries, then left exited");
    assert_eq!(count(Kind::Exited), 3);
}
