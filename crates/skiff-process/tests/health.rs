//! Healthchecks run on the host against supervised processes.

mod common;

use std::time::Duration;

use common::{Reports, Sandbox, alive, env};
use skiff_process::health::probe;
use skiff_process::{AfterStop, Event, Health, HealthTest, Healthcheck, RunState, Supervisor};

fn check(test: HealthTest) -> Healthcheck {
    Healthcheck {
        interval: Duration::from_millis(30),
        timeout: Duration::from_secs(2),
        retries: 3,
        start_period: Duration::ZERO,
        start_interval: Duration::from_millis(30),
        test,
    }
}

#[tokio::test]
async fn cmd_shell_fails_until_the_file_exists_then_the_instance_is_healthy() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("db", "exec sleep 300");
    config.healthcheck = Some(Healthcheck {
        retries: 1000,
        ..check(HealthTest::Shell("test -f ready".into()))
    });
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let RunState::Running { pid } = supervisor.status().state else {
        panic!()
    };
    sandbox.reap(pid);
    assert_eq!(supervisor.status().health, Some(Health::Starting));

    // Several probes fail meanwhile; it stays starting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(supervisor.status().health, Some(Health::Starting));
    std::fs::write(sandbox.path().join("ready"), "").unwrap();

    let mut watch = supervisor.watch();
    tokio::time::timeout(
        Duration::from_secs(3),
        watch.wait_for(|s| s.health == Some(Health::Healthy)),
    )
    .await
    .expect("healthy within 3 s")
    .unwrap();
    let event = reports
        .until(Duration::from_secs(1), |e| {
            matches!(e, Event::HealthChanged { .. })
        })
        .await;
    assert!(matches!(
        event,
        Event::HealthChanged {
            health: Health::Healthy,
            ..
        }
    ));
    supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
}

#[tokio::test]
async fn retries_failures_make_it_unhealthy_with_the_probe_output() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("db", "exec sleep 300");
    config.healthcheck = Some(check(HealthTest::Cmd(vec![
        "/bin/sh".into(),
        "-c".into(),
        "echo not accepting connections; exit 1".into(),
    ])));
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let RunState::Running { pid } = supervisor.status().state else {
        panic!()
    };
    sandbox.reap(pid);

    let event = reports
        .until(Duration::from_secs(3), |e| {
            matches!(e, Event::HealthChanged { .. })
        })
        .await;
    assert_eq!(
        event,
        Event::HealthChanged {
            health: Health::Unhealthy,
            output: "not accepting connections\n".into(),
        }
    );
    assert_eq!(supervisor.status().health, Some(Health::Unhealthy));
    // Unhealthy is reported, not acted on: the process runs on.
    assert!(alive(pid));
    supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
}

#[tokio::test]
async fn a_probe_that_times_out_fails_and_its_group_is_killed() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh("db", "true");
    let started = std::time::Instant::now();
    let result = probe(
        &Healthcheck {
            timeout: Duration::from_millis(200),
            ..check(HealthTest::Shell(
                "sleep 300 & echo $! > probe-child.pid; echo $$ > probe.pid; wait".into(),
            ))
        },
        &spec,
    )
    .await;
    assert!(!result.passed);
    assert_eq!(result.exit, None);
    assert!(result.output.contains("timeout"), "{}", result.output);
    assert!(started.elapsed() < Duration::from_secs(2));
    let (shell, child) = (
        sandbox.wait_pid("probe.pid").await,
        sandbox.wait_pid("probe-child.pid").await,
    );
    assert!(common::eventually(Duration::from_secs(2), || !alive(shell) && !alive(child)).await);
}

#[tokio::test]
async fn probes_run_with_the_service_environment_and_directory() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh("db", "true");
    spec.env = env(&[("PGUSER", "app")]);
    std::fs::write(sandbox.path().join("marker"), "").unwrap();
    let passing = probe(
        &check(HealthTest::Shell(
            "test \"$PGUSER\" = app && test -f marker".into(),
        )),
        &spec,
    )
    .await;
    assert!(passing.passed, "{passing:?}");

    let missing = probe(
        &check(HealthTest::Cmd(vec!["/nonexistent/pg_isready".into()])),
        &spec,
    )
    .await;
    assert!(!missing.passed);
    assert!(missing.output.contains("pg_isready"), "{}", missing.output);

    let failing = probe(&check(HealthTest::Shell("exit 2".into())), &spec).await;
    assert_eq!(failing.exit, Some(skiff_process::Exit::Code(2)));
    assert!(!failing.passed);
}

#[tokio::test]
async fn health_starts_over_after_a_restart() {
    let sandbox = Sandbox::new();
    // Healthy at once, then exits: after the restart it is starting again, then healthy.
    let mut config = sandbox.supervisor("db", "sleep 0.3; exit 1");
    config.restart = skiff_process::RestartPolicy::Always;
    config.healthcheck = Some(check(HealthTest::Shell("true".into())));
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    if let RunState::Running { pid } = supervisor.status().state {
        sandbox.reap(pid);
    }
    let mut healthy = 0;
    while healthy < 2 {
        match reports.until(Duration::from_secs(3), |_| true).await {
            Event::HealthChanged {
                health: Health::Healthy,
                ..
            } => healthy += 1,
            Event::Started { pid, .. } => sandbox.reap(pid),
            _ => {}
        }
    }
    let kinds: Vec<&str> = reports
        .seen
        .iter()
        .map(|r| match r.event {
            Event::Started { .. } => "started",
            Event::HealthChanged { .. } => "health",
            Event::Exited { .. } => "exited",
            Event::Restarting { .. } => "restarting",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "health",
            "exited",
            "restarting",
            "started",
            "health"
        ]
    );
    supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
}
