//! Spawning and stopping real processes: process groups, signals, grace periods, leftovers.

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, alive, env, id};
use skiff_process::{Exit, Logs, Process, ProcessError, Signal};

#[tokio::test]
async fn stop_kills_the_whole_group_even_grandchildren_that_ignore_the_signal() {
    let sandbox = Sandbox::new();
    // The leader dies on SIGTERM; a child shell and its background sleep ignore it; a
    // double-forked sleep (its parent shell exits at once) ignores it too and is reparented.
    let mut spec = sandbox.sh(
        "web",
        r#"
        sh -c 'trap "" TERM; sleep 300 & echo $! > grandchild.pid; wait' &
        echo $! > child.pid
        sh -c 'trap "" TERM; sleep 300 & echo $! > orphan.pid' &
        exec sleep 300
        "#,
    );
    spec.stop_grace_period = Duration::from_millis(300);
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    let pids = [
        process.pid(),
        sandbox.wait_pid("child.pid").await,
        sandbox.wait_pid("grandchild.pid").await,
        sandbox.wait_pid("orphan.pid").await,
    ];
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");

    let started = Instant::now();
    let exit = process.stop().await.unwrap();
    let took = started.elapsed();

    assert_eq!(exit, Exit::Signal(Signal::SIGTERM as i32));
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived");
    }
    // The ignoring ones held the group past the grace period, then SIGKILL took them.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_process_trapping_the_stop_signal_exits_cleanly_within_the_grace_period() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh(
        "web",
        "trap 'echo bye; exit 0' TERM; echo ready > ready; while :; do sleep 0.02; done",
    );
    spec.stop_grace_period = Duration::from_secs(5);
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    sandbox.wait_file("ready").await;

    let started = Instant::now();
    let exit = process.stop().await.unwrap();

    assert_eq!(exit, Exit::Code(0));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!alive(process.pid()));
}

#[tokio::test]
async fn the_configured_stop_signal_is_sent() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh(
        "web",
        "trap 'exit 3' INT; trap '' TERM; echo ready > ready; while :; do sleep 0.02; done",
    );
    spec.stop_signal = Signal::SIGINT;
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    sandbox.wait_file("ready").await;

    assert_eq!(process.stop().await.unwrap(), Exit::Code(3));
}

#[tokio::test]
async fn a_process_ignoring_the_stop_signal_is_killed_after_the_grace_period() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh(
        "web",
        "trap '' TERM; echo ready > ready; while :; do sleep 0.02; done",
    );
    spec.stop_grace_period = Duration::from_millis(400);
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    sandbox.wait_file("ready").await;

    let started = Instant::now();
    let exit = process.stop().await.unwrap();
    let took = started.elapsed();

    assert_eq!(exit, Exit::Signal(Signal::SIGKILL as i32));
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn what_the_leader_leaves_behind_is_killed_when_it_exits() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh(
        "job",
        "sleep 300 & echo $! > bg.pid; sh -c 'trap \"\" TERM; exec sleep 300' & echo $! > bg2.pid; \
         while [ ! -s bg2.pid ]; do sleep 0.01; done; exit 4",
    );
    let mut process = Process::spawn(&id("job"), &spec).unwrap();
    sandbox.reap(process.pid());

    assert_eq!(process.wait().await.unwrap(), Exit::Code(4));
    let (bg, bg2) = (
        sandbox.wait_pid("bg.pid").await,
        sandbox.wait_pid("bg2.pid").await,
    );
    assert!(!alive(bg) && !alive(bg2));
}

#[tokio::test]
async fn stopping_an_exited_process_returns_its_exit() {
    let sandbox = Sandbox::new();
    let mut process = Process::spawn(&id("job"), &sandbox.sh("job", "exit 7")).unwrap();
    sandbox.reap(process.pid());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(process.stop().await.unwrap(), Exit::Code(7));
    assert_eq!(process.wait().await.unwrap(), Exit::Code(7));
}

#[tokio::test]
async fn the_environment_is_only_what_the_spec_lists() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh("env", "env > env.txt; pwd >> env.txt; echo done > done");
    spec.env = env(&[("GREETING", "hello world"), ("PATH", "/usr/bin:/bin")]);
    spec.inherit_env = vec!["PATH".into(), "NOT_SET_ANYWHERE_42".into()];
    spec.working_dir = sandbox.path().join("work");
    std::fs::create_dir(&spec.working_dir).unwrap();
    std::fs::write(spec.working_dir.join("env.txt"), "").unwrap();
    let mut process = Process::spawn(&id("env"), &spec).unwrap();
    sandbox.reap(process.pid());
    assert_eq!(process.wait().await.unwrap(), Exit::Code(0));

    let text = std::fs::read_to_string(spec.working_dir.join("env.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"GREETING=hello world"), "{text}");
    // The spec's value wins over the inherited one.
    assert!(lines.contains(&"PATH=/usr/bin:/bin"), "{text}");
    // Nothing else of the test's environment leaks (the shell may add PWD, SHLVL, _).
    let parent: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| !["PATH", "PWD", "SHLVL", "_", "OLDPWD"].contains(&k.as_str()))
        .collect();
    for line in &lines {
        let name = line.split('=').next().unwrap();
        assert!(!parent.iter().any(|p| p == name), "{name} leaked: {text}");
    }
    assert_eq!(
        lines.last().copied(),
        Some(spec.working_dir.to_str().unwrap())
    );
}

#[tokio::test]
async fn spawn_errors_name_the_instance_and_what_failed() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh("web", "true");
    spec.logs = Logs::Discard;

    spec.argv = vec![];
    let e = Process::spawn(&id("web"), &spec).unwrap_err();
    assert!(matches!(e, ProcessError::EmptyCommand { .. }));
    assert_eq!(e.to_string(), "start t-web-1: the command is empty");

    spec.argv = vec!["/nonexistent/server".into()];
    let e = Process::spawn(&id("web"), &spec).unwrap_err();
    assert!(matches!(e, ProcessError::Spawn { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("start t-web-1: spawn \"/nonexistent/server\": "),
        "{e}"
    );

    spec.argv = vec!["true".into()];
    spec.working_dir = sandbox.path().join("missing");
    let e = Process::spawn(&id("web"), &spec).unwrap_err();
    assert!(matches!(e, ProcessError::WorkingDir { .. }), "{e}");
    assert!(e.to_string().contains("missing"), "{e}");
}

#[tokio::test]
async fn each_process_leads_its_own_group() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh("web", "exec sleep 300");
    spec.logs = Logs::Discard;
    let mut a = Process::spawn(&id("a"), &spec).unwrap();
    sandbox.reap(a.pid());
    let mut b = Process::spawn(&id("b"), &spec).unwrap();
    sandbox.reap(b.pid());
    for p in [&a, &b] {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .collect();
        assert_eq!(fields[2], p.pid().to_string(), "pgrp is the pid");
    }
    // Stopping one leaves the other alone.
    a.stop().await.unwrap();
    assert!(alive(b.pid()));
    b.stop().await.unwrap();
}

/// A descendant that left the group (`setsid`, as PostgreSQL's server processes do) gets the
/// grace period to exit with its parent, then SIGKILL: it does not outlive the stop.
#[tokio::test]
async fn stop_also_ends_descendants_that_left_the_group() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh(
        "db",
        r#"
        setsid sh -c 'trap "" TERM; echo $$ > escaped.pid; exec sleep 300' &
        exec sleep 300
        "#,
    );
    spec.stop_grace_period = Duration::from_millis(300);
    let mut process = Process::spawn(&id("db"), &spec).unwrap();
    sandbox.reap(process.pid());
    let escaped = sandbox.wait_pid("escaped.pid").await;
    assert!(alive(escaped));
    let group = |pid: i32| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        text[text.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<i32>()
            .unwrap()
    };
    assert_ne!(group(escaped), process.pid(), "setsid left the group");

    process.stop().await.unwrap();
    assert!(!alive(escaped), "the escaped descendant {escaped} survived");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(escaped), Signal::SIGKILL);
}
