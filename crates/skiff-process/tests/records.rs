//! Records: found again by a fresh call, never mistaken for a reused pid, no secrets,
//! cleaned up after a crash, adoptable.

mod common;

use std::time::Duration;

use common::{PROJECT, Reports, Sandbox, alive, env, id};
use skiff_process::record::{self, RecordStatus};
use skiff_process::{
    AfterStop, Event, Exit, ObservedState, Process, Record, RestartPolicy, RunState, Signal,
    Supervisor, observe, stop_recorded, sweep,
};

#[tokio::test]
async fn observe_finds_a_running_instance_from_its_record() {
    let sandbox = Sandbox::new();
    let config = sandbox.supervisor("web", "exec sleep 300");
    let (tx, _reports) = Reports::new();
    let supervisor = Supervisor::start(config.clone(), tx).await.unwrap();
    let RunState::Running { pid } = supervisor.status().state else {
        panic!("not running: {:?}", supervisor.status())
    };
    sandbox.reap(pid);

    let found = observe(&sandbox.state_dir(), PROJECT).unwrap();
    assert_eq!(found.len(), 1);
    let o = &found[0];
    assert_eq!(o.state, ObservedState::Running);
    assert!(o.supervised);
    assert_eq!(o.record.id(), id("web"));
    assert_eq!(o.record.name, "t-web-1");
    assert_eq!((o.record.pid, o.record.pgid), (pid, pid));
    assert_eq!(o.record.config_hash, "hash-1");
    assert_eq!(o.record.argv, config.spec.argv);
    assert_eq!(o.record.stop_signal, "SIGTERM");
    assert!(o.record.is_alive());
    // Other projects see nothing.
    assert!(observe(&sandbox.state_dir(), "other").unwrap().is_empty());

    assert_eq!(
        supervisor.stop(AfterStop::RemoveRecord).await.unwrap(),
        Some(Exit::Signal(Signal::SIGTERM as i32))
    );
    assert!(!alive(pid));
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
    assert!(!record::path(&sandbox.state_dir(), &id("web")).exists());
}

#[tokio::test]
async fn a_record_whose_pid_now_names_another_process_is_rejected_and_left_alone() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh("web", "exec sleep 300");
    let process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    let mut rec = Record::running(&id("web"), "t-web-1", "h", &spec, &process).unwrap();
    record::write(&sandbox.state_dir(), &rec).unwrap();
    assert_eq!(observe(&sandbox.state_dir(), PROJECT).unwrap().len(), 1);

    // The same pid with another start time: what a reused pid looks like.
    rec.start_time += 1;
    record::write(&sandbox.state_dir(), &rec).unwrap();
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
    // Stopping it by its record must not touch the process that has the pid now.
    stop_recorded(&sandbox.state_dir(), &rec).await.unwrap();
    assert!(alive(process.pid()));

    // Another boot, same pid and start time: not ours either.
    let mut other_boot = Record::running(&id("web"), "t-web-1", "h", &spec, &process).unwrap();
    other_boot.boot_id = "00000000-0000-0000-0000-000000000000".into();
    record::write(&sandbox.state_dir(), &other_boot).unwrap();
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());

    // Sweeping deletes the stale record and leaves the live process alone.
    let swept = sweep(&sandbox.state_dir(), PROJECT).await.unwrap();
    assert_eq!(swept.len(), 1);
    assert!(!record::path(&sandbox.state_dir(), &id("web")).exists());
    assert!(alive(process.pid()));
}

#[tokio::test]
async fn an_exited_instance_stays_observable_with_its_exit() {
    let sandbox = Sandbox::new();
    let config = sandbox.supervisor("init", "exit 3");
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    reports
        .until(Duration::from_secs(5), |e| {
            matches!(e, Event::Finished { .. })
        })
        .await;

    let found = observe(&sandbox.state_dir(), PROJECT).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, ObservedState::Exited(Exit::Code(3)));
    assert_eq!(
        found[0].record.status,
        RecordStatus::Exited {
            exit: Exit::Code(3)
        }
    );
    // Stopping a finished instance returns its exit and can remove its record.
    assert_eq!(
        supervisor.stop(AfterStop::RemoveRecord).await.unwrap(),
        Some(Exit::Code(3))
    );
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
}

#[tokio::test]
async fn sweep_kills_what_a_dead_leader_left_in_its_group() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh("web", "sleep 300 & echo $! > bg.pid; exec sleep 300");
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    let rec = Record::running(&id("web"), "t-web-1", "h", &spec, &process).unwrap();
    record::write(&sandbox.state_dir(), &rec).unwrap();
    let bg = sandbox.wait_pid("bg.pid").await;

    // The leader dies, nobody kills its group: what a crash of skiff looks like.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(process.pid()), Signal::SIGKILL).unwrap();
    assert!(common::eventually(Duration::from_secs(5), || !alive(process.pid())).await);
    assert!(alive(bg));
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());

    let swept = sweep(&sandbox.state_dir(), PROJECT).await.unwrap();
    assert_eq!(swept, [rec]);
    assert!(!alive(bg));
    assert!(!record::path(&sandbox.state_dir(), &id("web")).exists());
    assert_eq!(
        process.wait().await.unwrap(),
        Exit::Signal(Signal::SIGKILL as i32)
    );
}

#[tokio::test]
async fn records_and_events_hold_no_environment_values() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "echo ready > ready; exec sleep 300");
    config.spec.env = env(&[("DB_PASSWORD", "hunter2-f00d")]);
    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::start(config, tx).await.unwrap();
    let RunState::Running { pid } = supervisor.status().state else {
        panic!()
    };
    sandbox.reap(pid);
    sandbox.wait_file("ready").await;
    // The process does have it.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains("hunter2-f00d"));

    supervisor.stop(AfterStop::KeepRecord).await.unwrap();
    reports
        .until(Duration::from_secs(5), |e| {
            matches!(e, Event::Finished { .. })
        })
        .await;
    let text = std::fs::read_to_string(record::path(&sandbox.state_dir(), &id("web"))).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{:?}", reports.seen).contains("hunter2"));
}

#[tokio::test]
async fn an_orphan_is_stopped_by_its_record_with_its_recorded_signal() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh(
        "old",
        "trap 'echo stopped-by-int > stopped; exit 0' INT; echo ready > ready; \
         while :; do sleep 0.02; done",
    );
    spec.stop_signal = Signal::SIGINT;
    let process = Process::spawn(&id("old"), &spec).unwrap();
    let pid = process.pid();
    sandbox.reap(pid);
    let rec = Record::running(&id("old"), "t-old-1", "h", &spec, &process).unwrap();
    record::write(&sandbox.state_dir(), &rec).unwrap();
    sandbox.wait_file("ready").await;
    // The skiff process that started it forgets it.
    drop(process);

    let found = observe(&sandbox.state_dir(), PROJECT).unwrap();
    stop_recorded(&sandbox.state_dir(), &found[0].record)
        .await
        .unwrap();

    assert_eq!(sandbox.wait_file("stopped").await, "stopped-by-int");
    assert!(common::eventually(Duration::from_secs(2), || !alive(pid)).await);
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap().is_empty());
}

#[tokio::test]
async fn an_unsupervised_instance_is_adopted_and_restarted_when_it_ends() {
    let sandbox = Sandbox::new();
    let mut config = sandbox.supervisor("web", "exec sleep 300");
    config.restart = RestartPolicy::Always;
    let process = Process::spawn(&config.id, &config.spec).unwrap();
    let old_pid = process.pid();
    sandbox.reap(old_pid);
    let mut rec =
        Record::running(&config.id, &config.name, "hash-1", &config.spec, &process).unwrap();
    // Its supervisor is gone.
    rec.supervisor = None;
    record::write(&sandbox.state_dir(), &rec).unwrap();
    drop(process);

    let found = observe(&sandbox.state_dir(), PROJECT).unwrap();
    assert_eq!(found.len(), 1);
    assert!(!found[0].supervised);
    assert_eq!(found[0].state, ObservedState::Running);

    let (tx, mut reports) = Reports::new();
    let supervisor = Supervisor::adopt(config, found[0].record.clone(), tx)
        .await
        .unwrap();
    assert_eq!(
        reports.until(Duration::from_secs(1), |_| true).await,
        Event::Adopted { pid: old_pid }
    );
    assert!(observe(&sandbox.state_dir(), PROJECT).unwrap()[0].supervised);

    // It dies; its adopter notices and starts a new one (a child, this time).
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old_pid), Signal::SIGKILL).unwrap();
    let exited = reports
        .until(Duration::from_secs(5), |e| {
            matches!(e, Event::Exited { .. })
        })
        .await;
    assert!(
        matches!(
            exited,
            Event::Exited {
                exit: Exit::Unknown,
                ..
            }
        ),
        "{exited:?}"
    );
    let Event::Started { pid: new_pid, .. } = reports
        .until(Duration::from_secs(5), |e| {
            matches!(e, Event::Started { .. })
        })
        .await
    else {
        unreachable!()
    };
    sandbox.reap(new_pid);
    assert_ne!(new_pid, old_pid);
    assert_eq!(
        observe(&sandbox.state_dir(), PROJECT).unwrap()[0]
            .record
            .pid,
        new_pid
    );
    supervisor.stop(AfterStop::RemoveRecord).await.unwrap();
    assert!(!alive(new_pid));
}

#[tokio::test]
async fn adopting_a_gone_process_fails() {
    let sandbox = Sandbox::new();
    let config = sandbox.supervisor("web", "exit 0");
    let mut process = Process::spawn(&config.id, &config.spec).unwrap();
    sandbox.reap(process.pid());
    let rec = Record::running(&config.id, &config.name, "h", &config.spec, &process).unwrap();
    process.wait().await.unwrap();
    let (tx, _reports) = Reports::new();
    let e = Supervisor::adopt(config, rec, tx).await.unwrap_err();
    assert!(e.to_string().starts_with("adopt t-web-1: process"), "{e}");
}

#[tokio::test]
async fn a_restarting_instance_whose_supervisor_died_is_observed_as_exited() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh("web", "exit 1");
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    let mut rec = Record::running(&id("web"), "t-web-1", "h", &spec, &process).unwrap();
    process.wait().await.unwrap();
    rec.status = RecordStatus::Restarting {
        last_exit: Exit::Code(1),
    };
    record::write(&sandbox.state_dir(), &rec).unwrap();
    // Its supervisor (this test) lives: restarting.
    assert_eq!(
        observe(&sandbox.state_dir(), PROJECT).unwrap()[0].state,
        ObservedState::Restarting {
            last_exit: Exit::Code(1)
        }
    );
    rec.supervisor = None;
    record::write(&sandbox.state_dir(), &rec).unwrap();
    assert_eq!(
        observe(&sandbox.state_dir(), PROJECT).unwrap()[0].state,
        ObservedState::Exited(Exit::Code(1))
    );
}

#[test]
fn records_refuse_names_that_are_paths() {
    let sandbox = Sandbox::new();
    assert!(observe(&sandbox.state_dir(), "../etc").is_err());
    assert!(observe(&sandbox.state_dir(), "").is_err());
}
