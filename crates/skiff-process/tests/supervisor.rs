//! Supervision of real processes: restart policies, backoff, crash loops, stopping.

mod common;

use std::time::Duration;

use common::{PROJECT, Reports, Sandbox, alive};
use skiff_process::{
    AfterStop, BackoffConfig, Ending, Event, Exit, ObservedState, RestartPolicy, RunState, Signal,
    Supervisor, observe,
};

/// The events of a supervisor until it finishes.
async fn run_to_end(sandbox: &Sandbox, reports: &mut Reports) -> Vec<Event> {
    loop {
        let event = reports.until(Duration::from_secs(5), |_| true).await;
        if let Event::Started { pid, .. } = event {
            sandbox.reap(pid);
        }
        if matches!(event, Event::Finished { .. }) {
            return reports.seen.iter().map(|r| r.event.clone()).collect();
        }
    }
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[tokio::test]
async fn on_failure_gives_up_after_max_retries() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("job", "echo run >> runs; exit 1");
    config.restart = RestartPolicy::OnFailure {
        max_retries: Some(2),
    };
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let events = run_to_end(&sandbox, &mut reports).await;

    assert_eq!(count(&events, |e| matches!(e, Event::Started { .. })), 3);
    let delays: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            Event::Restarting { after, .. } => Some(*after),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [Duration::ZERO, Duration::from_millis(20)]);
    assert_eq!(
        events.last(),
        Some(&Event::Finished {
            exit: Some(Exit::Code(1)),
            ending: Ending::RetriesExhausted,
        })
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.path().join("runs"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert_eq!(
        supervisor.status().state,
        RunState::Finished {
            exit: Some(Exit::Code(1)),
            ending: Ending::RetriesExhausted,
        }
    );
    assert_eq!(supervisor.status().restarts, 2);
    let found = observe(&sandbox.state_dir(), PROJECT).unwrap();
    assert_eq!(found[0].state, ObservedState::Exited(Exit::Code(1)));
    assert_eq!(found[0].record.restarts, 2);
}

#[tokio::test]
async fn on_failure_does_not_restart_a_success_and_no_never_restarts() {
    for (policy, script, exit) in [
        (
            RestartPolicy::OnFailure { max_retries: None },
            "exit 0",
            Exit::Code(0),
        ),
        (RestartPolicy::No, "exit 2", Exit::Code(2)),
        (RestartPolicy::No, "kill -KILL $$", Exit::Signal(9)),
    ] {
        let sandbox = Sandbox::new();
        let mut config = sandbox.supervisor("job", script);
        config.restart = policy;
        let (tx, mut reports) = Reports::new();
        let _supervisor = Supervisor::start(config, tx).await.unwrap();
        let events = run_to_end(&sandbox, &mut reports).await;
        assert_eq!(count(&events, |e| matches!(e, Event::Started { .. })), 1);
        assert_eq!(
            events.last(),
            Some(&Event::Finished {
                exit: Some(exit),
                ending: Ending::Exited,
            }),
            "{policy}"
        );
    }
}

#[tokio::test]
async fn a_crash_loop_backs_off_exponentially_up_to_the_cap() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "exit 1");
    config.restart = RestartPolicy::Always;
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(40),
        max: Duration::from_millis(160),
        factor: 2,
        reset_after: Duration::from_secs(60),
    };
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();

    let mut delays = Vec::new();
    let mut last_exit = None;
    let mut gaps = Vec::new();
    while delays.len() < 6 {
        match reports.until(Duration::from_secs(5), |_| true).await {
            Event::Restarting { after, .. } => delays.push(after),
            Event::Exited { .. } => last_exit = Some(std::time::Instant::now()),
            Event::Started { pid, .. } => {
                sandbox.reap(pid);
                if let Some(t) = last_exit {
                    gaps.push(t.elapsed());
                }
            }
            _ => {}
        }
    }
    let ms: Vec<u64> = delays
        .iter()
        .map(|d| u64::try_from(d.as_millis()).unwrap())
        .collect();
    assert_eq!(ms, [0, 40, 80, 160, 160, 160]);
    // The delays are waited: each restart came about its delay after the exit (less a
    // margin for the test reading the exit late).
    for (gap, delay) in gaps.iter().zip(&delays) {
        assert!(
            *gap + Duration::from_millis(30) >= *delay,
            "{gap:?} < {delay:?}"
        );
    }

    let stopped = supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
    assert_eq!(stopped, Some(Exit::Code(1)));
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
}

#[tokio::test]
async fn the_backoff_resets_after_a_long_enough_run() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "sleep 0.15; exit 1");
    config.restart = RestartPolicy::Always;
    config.backoff = BackoffConfig {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(300),
        factor: 2,
        reset_after: Duration::from_millis(100),
    };
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let mut delays = Vec::new();
    while delays.len() < 3 {
        match reports.until(Duration::from_secs(5), |_| true).await {
            Event::Restarting { after, .. } => delays.push(after),
            Event::Started { pid, .. } => sandbox.reap(pid),
            _ => {}
        }
    }
    // Without the reset the second delay would be 30 s.
    assert_eq!(delays, [Duration::ZERO; 3]);
    supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn default_backoff_under_paused_time() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "exit 1");
    config.spec.logs = skiff_process::Logs::Discard;
    config.restart = RestartPolicy::Always;
    config.backoff = BackoffConfig::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let begin = tokio::time::Instant::now();
    let supervisor = Supervisor::start(config, tx).await.unwrap();

    // The delay each restart was given, and (virtual seconds since the start, restarts) of
    // each start. Paused time also jumps ahead while a real child is awaited, so a start may
    // come later than its delays add up to, never sooner.
    let mut delays = Vec::new();
    let mut starts = Vec::new();
    while starts.len() < 5 {
        let report = rx.recv().await.unwrap();
        match report.event {
            Event::Started { pid, restarts } => {
                sandbox.reap(pid);
                starts.push((begin.elapsed().as_secs(), restarts));
            }
            Event::Restarting { after, .. } => delays.push(after.as_secs()),
            _ => {}
        }
    }
    // Immediately, then 10 s, 20 s and 40 s.
    assert_eq!(delays, [0, 10, 20, 40]);
    let restarts: Vec<u32> = starts.iter().map(|(_, r)| *r).collect();
    assert_eq!(restarts, [0, 1, 2, 3, 4]);
    for (i, earliest) in [0, 0, 10, 30, 70].into_iter().enumerate() {
        assert!(starts[i].0 >= earliest, "{starts:?}");
    }
    supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
}

#[tokio::test]
async fn stopping_a_running_instance_stops_its_group_and_does_not_restart_it() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "sleep 300 & echo $! > bg.pid; exec sleep 300");
    config.restart = RestartPolicy::Always;
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let RunState::Running { pid } = supervisor.status().state else {
        panic!()
    };
    sandbox.reap(pid);
    let bg = sandbox.wait_pid("bg.pid").await;

    let exit = supervisor.stop(AfterStop::KeepRecord).await.unwrap();
    assert_eq!(exit, Some(Exit::Signal(Signal::SIGTERM as i32)));
    assert!(!alive(pid) && !alive(bg));
    let events = run_to_end(&sandbox, &mut reports).await;
    assert_eq!(count(&events, |e| matches!(e, Event::Started { .. })), 1);
    assert_eq!(
        events.last(),
        Some(&Event::Finished {
            exit: Some(Exit::Signal(15)),
            ending: Ending::Stopped,
        })
    );
    // `skiff stop` keeps the record: the instance is listed as exited.
    assert_eq!(
        observe(&sandbox.state_dir(), PROJECT).unwrap()[0].state,
        ObservedState::Exited(Exit::Signal(15))
    );
}

#[tokio::test]
async fn stopping_during_a_backoff_cancels_the_restart_at_once() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "exit 1");
    config.restart = RestartPolicy::Always;
    config.backoff.initial = Duration::from_secs(60);
    config.backoff.max = Duration::from_secs(60);
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    // The first restart is immediate, the second waits 60 s.
    let mut restarting = 0;
    while restarting < 2 {
        match reports.until(Duration::from_secs(5), |_| true).await {
            Event::Restarting { .. } => restarting += 1,
            Event::Started { pid, .. } => sandbox.reap(pid),
            _ => {}
        }
    }
    assert!(matches!(
        supervisor.status().state,
        RunState::Restarting { after, .. } if after == Duration::from_secs(60)
    ));
    let started = std::time::Instant::now();
    assert_eq!(
        supervisor.stop(AfterStop::KeepRecord).await.unwrap(),
        Some(Exit::Code(1))
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        observe(&sandbox.state_dir(), PROJECT).unwrap()[0].state,
        ObservedState::Exited(Exit::Code(1))
    );
}

#[tokio::test]
async fn a_spawn_failure_at_start_is_an_error_and_leaves_no_record() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "true");
    config.spec.argv = vec!["/nonexistent/server".into()];
    let (tx, _reports) = Reports::new();
    let e = Supervisor::start(config, tx).await.unwrap_err();
    assert!(e.to_string().starts_with("start t-web-1: spawn"), "{e}");
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
}

#[tokio::test]
async fn a_spawn_failure_on_restart_counts_as_a_failed_run() {
    let sandbox = Sandbox::new();
    // The program deletes itself: the first run works, restarts cannot spawn it.
    let program = sandbox.path().join("once.sh");
    std::fs::write(&program, "#!/bin/sh\nrm -f \"$0\"\nexit 1\n").unwrap();
    let mut perms = std::fs::metadata(&program).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&program, perms).unwrap();
    let mut config = sandbox.supervisor("web", "true");
    config.spec.argv = vec![program.to_str().unwrap().into()];
    config.restart = RestartPolicy::OnFailure {
        max_retries: Some(2),
    };
    let (tx, mut reports) = Reports::new();
    let _supervisor = Supervisor::start(config, tx).await.unwrap();
    let events = run_to_end(&sandbox, &mut reports).await;
    assert_eq!(
        count(&events, |e| matches!(e, Event::SpawnFailed { .. })),
        2
    );
    assert_eq!(
        events.last(),
        Some(&Event::Finished {
            exit: Some(Exit::Code(127)),
            ending: Ending::RetriesExhausted,
        })
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_instance() {
    let sandbox = Sandbox::new();
    let config = sandbox.supervisor("web", "exec sleep 300");
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let RunState::Running { pid } = supervisor.status().state else {
        panic!()
    };
    sandbox.reap(pid);
    drop(supervisor);
    reports
        .until(Duration::from_secs(5), |e| {
            matches!(e, Event::Finished { .. })
        })
        .await;
    assert!(!alive(pid));
}

/// `stop_instance` from "another skiff process" (the record names this test as supervisor):
/// the supervisor itself stops the instance and does not restart it, whatever its policy.
#[tokio::test]
async fn a_stop_marker_stops_a_supervised_instance_without_a_restart() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "echo $$ > pid; exec sleep 100");
    config.restart = RestartPolicy::Always;
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let pid = sandbox.wait_pid("pid").await;
    sandbox.reap(pid);
    let record = observe(&sandbox.state_dir(), PROJECT)
        .unwrap()
        .remove(0)
        .record;
    assert!(record.is_supervised());

    let exit = skiff_process::stop_instance(&sandbox.state_dir(), &record, AfterStop::KeepRecord)
        .await
        .unwrap();
    assert_eq!(exit, Some(Exit::Signal(15)));
    assert!(!alive(pid));
    let events = run_to_end(&sandbox, &mut reports).await;
    assert_eq!(count(&events, |e| matches!(e, Event::Started { .. })), 1);
    assert_eq!(
        events.last(),
        Some(&Event::Finished {
            exit: Some(Exit::Signal(15)),
            ending: Ending::Stopped,
        })
    );
    let found = observe(&sandbox.state_dir(), PROJECT).unwrap();
    assert_eq!(found[0].state, ObservedState::Exited(Exit::Signal(15)));
    assert!(!skiff_process::record::stop_requested(
        &sandbox.state_dir(),
        &common::id("web")
    ));
    drop(supervisor);
}

/// A stop asked while the supervisor waits to restart ends supervision there.
#[tokio::test]
async fn a_stop_marker_cancels_a_pending_restart() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("crash", "echo run >> runs; exit 3");
    config.restart = RestartPolicy::Always;
    config.backoff = BackoffConfig {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(30),
        factor: 1,
        reset_after: Duration::from_secs(60),
    };
    let (tx, mut reports) = Reports::new();
    let _supervisor = Supervisor::start(config, tx).await.unwrap();
    // The first restart is immediate; the second waits 30 s.
    reports
        .until(
            Duration::from_secs(5),
            |e| matches!(e, Event::Restarting { after, .. } if *after == Duration::from_secs(30)),
        )
        .await;
    let record = observe(&sandbox.state_dir(), PROJECT)
        .unwrap()
        .remove(0)
        .record;
    let started = std::time::Instant::now();
    skiff_process::stop_instance(&sandbox.state_dir(), &record, AfterStop::RemoveRecord)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let events = run_to_end(&sandbox, &mut reports).await;
    assert_eq!(count(&events, |e| matches!(e, Event::Started { .. })), 2);
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
}
