//! The daemon on the real Docker Engine and real processes: `skiff daemon` runs as a child
//! with its own state directory; `skiff up -d` hands it a stack of containers and host
//! processes; containers and processes are killed by hand and come back; a crash loop's
//! backoff is read from the history; the daemon is SIGKILLed at many points and converges
//! without duplicates when started again; TCP without the token gets 401. Skips with a
//! message when no engine answers; fails under `CI=true`.
#![expect(clippy::print_stderr, reason = "a skipped test says why")]

mod support;
use support::{
    containers, docker_cleanup, engine_available, free_port, http_get, inspect, processes_with,
    wait_for, wait_for_showing,
};

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A daemon and one project, each in temporary directories; everything is removed on drop.
struct World {
    state: tempfile::TempDir,
    project: tempfile::TempDir,
    name: String,
    daemon: Option<Child>,
    /// `--listen` address, if any.
    listen: Option<String>,
}

const TOKEN: &str = "test-token-0123456789abcdef";

/// The engine tests here run one at a time: each drives a daemon, containers and backups
/// hard, and on two cores two of them at once measure the machine, not skiff.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl World {
    fn new(name: &str, compose: &str) -> World {
        let w = World {
            state: tempfile::tempdir().expect("state"),
            project: tempfile::tempdir().expect("project"),
            name: name.to_owned(),
            daemon: None,
            listen: None,
        };
        w.write(compose);
        docker_cleanup(&w.name);
        w
    }

    fn write(&self, compose: &str) {
        std::fs::write(self.project.path().join("compose.yaml"), compose).expect("write");
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_skiff"));
        c.env("SKIFF_STATE_DIR", self.state.path())
            .env_remove("SKIFF_DAEMON_SOCKET")
            .env_remove("SKIFF_NO_DAEMON")
            .env("NO_COLOR", "1")
            .current_dir(self.project.path())
            .stdin(Stdio::null());
        c
    }

    fn start_daemon(&mut self) {
        let mut c = self.command();
        c.args([
            "daemon",
            "--reconcile-every",
            "2s",
            "--backoff-initial",
            "1s",
            "--backoff-max",
            "4s",
        ]);
        if let Some(addr) = &self.listen {
            c.args(["--listen", addr]).env("SKIFF_DAEMON_TOKEN", TOKEN);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.path().join("daemon.log"))
            .expect("log");
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("daemon starts");
        self.daemon = Some(child);
        let socket = self.state.path().join("daemon.sock");
        wait_for("the daemon's socket", Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
    }

    fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stop_daemon(&mut self) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("a daemon runs");
        nix_kill(child.id(), "TERM");
        child.wait().expect("wait")
    }

    fn skiff(&self, args: &[&str]) -> Output {
        self.command()
            .args(["-p", &self.name])
            .args(args)
            .output()
            .expect("skiff runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed:\n{}\n{}\ndaemon log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.daemon_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn daemon_log(&self) -> String {
        let text =
            std::fs::read_to_string(self.state.path().join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The history and the daemon's log, for a failure message.
    fn show(&self) -> String {
        format!(
            "history:\n{}\ndaemon log:\n{}",
            self.ok(&["events"]),
            self.daemon_log()
        )
    }

    /// The history, as `skiff events --format json` prints it.
    fn events(&self, kinds: &str) -> Vec<Value> {
        self.ok(&["events", "--kind", kinds, "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON event"))
            .collect()
    }

    /// The pid recorded for a process instance.
    fn process_pid(&self, service: &str, number: u32) -> Option<i32> {
        let path = self
            .state
            .path()
            .join(&self.name)
            .join(format!("{service}-{number}.json"));
        let record: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        record["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_daemon();
        let _ = self.skiff(&["down"]);
        docker_cleanup(&self.name);
    }
}

fn nix_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

/// `docker kill`, which must succeed: a kill that did not happen proves no restart.
fn docker_kill(container: &str) {
    let out = Command::new("docker")
        .args(["kill", container])
        .output()
        .expect("docker kill runs");
    assert!(
        out.status.success(),
        "docker kill {container} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How many times the history says the daemon restarted skiffdmn's web container.
fn web_restarts(w: &World) -> usize {
    w.events("restarted")
        .iter()
        .filter(|e| e["instance"] == "skiffdmn-web-1")
        .count()
}

fn running(containers: &[(String, String)]) -> Vec<String> {
    containers
        .iter()
        .filter(|(_, s)| s == "running")
        .map(|(n, _)| n.clone())
        .collect()
}

const STACK: &str = r#"
services:
  web:
    image: skiff-test/app:1
    restart: always
    healthcheck:
      test: ["CMD", "/bin/skiff-testapp", "check", "health"]
      interval: 1s
  crash:
    image: skiff-test/busybox:1
    command: ["sh", "-c", "sleep 0.2; exit 3"]
    restart: always
  once:
    image: skiff-test/busybox:1
    command: ["true"]
  proc:
    x-skiff: {runtime: process}
    command: ["sleep", "3600.MARKER"]
    restart: always
x-skiff:
  backups:
    files:
      path: ./data
      to: ["./repo"]
      schedule: "*/2 * * * * *"
      verify: {schedule: "*/3 * * * * *", checks: ["file:a.txt"]}
    broken:
      path: ./no-such-directory
      to: ["./repo"]
      schedule: "*/2 * * * * *"
  alerts:
    ops: {webhook: "http://WEBHOOK/hook", on: [backup_failed, backup_stale]}
"#;

#[test]
fn the_daemon_restarts_what_dies_backs_off_and_hands_back() {
    if !engine_available() {
        return;
    }
    let _serial = serial();
    let marker = format!("36{}.5", std::process::id() % 100);
    let hook = std::net::TcpListener::bind("127.0.0.1:0").expect("webhook");
    let hook_addr = hook.local_addr().expect("addr").to_string();
    let mut w = World::new(
        "skiffdmn",
        &STACK
            .replace("3600.MARKER", &marker)
            .replace("WEBHOOK", &hook_addr),
    );
    w.listen = Some(format!("127.0.0.1:{}", free_port()));
    std::fs::create_dir_all(w.project.path().join("data")).expect("data");
    std::fs::write(w.project.path().join("data/a.txt"), "alpha\n").expect("a");
    w.start_daemon();
    w.ok(&["up", "-d"]);
    wait_for("web and proc to run", Duration::from_secs(20), || {
        running(&containers(&w.name)).contains(&"skiffdmn-web-1".to_owned())
            && w.process_pid("proc", 1).is_some()
    });

    // A container killed by hand is started again at once; the engine's own restart policy
    // is off (the daemon's backoff decides).
    assert_eq!(
        inspect("skiffdmn-web-1", "{{.HostConfig.RestartPolicy.Name}}"),
        "no"
    );
    let restarts_before = web_restarts(&w);
    let started_before = inspect("skiffdmn-web-1", "{{.State.StartedAt}}");
    let killed = Instant::now();
    docker_kill("skiffdmn-web-1");
    wait_for("web restarted", Duration::from_secs(10), || {
        web_restarts(&w) > restarts_before
    });
    eprintln!("container restarted {:?} after the kill", killed.elapsed());
    wait_for("web running again", Duration::from_secs(10), || {
        running(&containers(&w.name)).contains(&"skiffdmn-web-1".to_owned())
            && inspect("skiffdmn-web-1", "{{.State.StartedAt}}") != started_before
    });

    // A process killed by hand: restarted once, never twice.
    let pid = w.process_pid("proc", 1).expect("proc runs");
    nix_kill(u32::try_from(pid).expect("pid"), "KILL");
    wait_for("proc restarted", Duration::from_secs(10), || {
        w.process_pid("proc", 1).is_some_and(|p| p != pid) && processes_with(&marker) == 1
    });

    // The crash loop: restarts at once, then after 1 s, 2 s, 4 s, 4 s... (the backoff this
    // daemon was given), read from the history.
    wait_for_showing(
        "five crash restarts",
        Duration::from_secs(90),
        || {
            w.events("restarted")
                .iter()
                .filter(|e| e["instance"] == "skiffdmn-crash-1")
                .count()
                >= 5
        },
        || w.show(),
    );
    let scheduled: Vec<u64> = w
        .events("restart_scheduled")
        .iter()
        .filter(|e| e["instance"] == "skiffdmn-crash-1")
        .map(|e| e["detail"]["delay_ms"].as_u64().expect("delay"))
        .collect();
    assert_eq!(scheduled[..5], [0, 1000, 2000, 4000, 4000], "{scheduled:?}");
    // And the restarts really came that much later than the exits that caused them.
    let events = w.events("exited,restarted");
    let times = |kind: &str| -> Vec<chrono::DateTime<chrono::Utc>> {
        events
            .iter()
            .filter(|e| e["instance"] == "skiffdmn-crash-1" && e["kind"] == kind)
            .map(|e| e["time"].as_str().expect("time").parse().expect("rfc3339"))
            .collect()
    };
    let (exits, restarts) = (times("exited"), times("restarted"));
    for (i, delay) in scheduled.iter().take(4).enumerate() {
        let waited = (restarts[i] - exits[i]).num_milliseconds();
        let delay = i64::try_from(*delay).expect("delay");
        assert!(
            waited >= delay && waited < delay + 1500,
            "restart {i}: waited {waited} ms for a {delay} ms backoff"
        );
    }
    // A one-shot without a restart policy stays exited (Compose's default is `no`).
    assert!(
        containers(&w.name)
            .iter()
            .any(|(n, s)| n == "skiffdmn-once-1" && s == "exited")
    );

    // Backups and restore drills ran on their own schedules, recorded in the history.
    wait_for(
        "a scheduled backup and drill",
        Duration::from_secs(20),
        || !w.events("backup_succeeded").is_empty() && !w.events("verified").is_empty(),
    );
    // (A drill due before the first backup of `files` existed fails, rightly: only backups
    // of `files` must never fail.)
    let failed = w.events("backup_failed");
    assert!(
        failed.iter().all(|e| e["detail"]["backup"] == "broken"),
        "{failed:?}"
    );
    // The broken one failed, went stale, and the webhook heard both.
    wait_for(
        "the broken backup to go stale",
        Duration::from_secs(15),
        || !w.events("backup_stale").is_empty(),
    );
    let alerted = |event: &str| {
        let event = format!("\"event\":\"{event}\"");
        move |bodies: &[String]| {
            bodies
                .iter()
                .any(|b| b.contains(&event) && b.contains("\"project\":\"skiffdmn\""))
        }
    };
    let (failed, stale) = (alerted("backup_failed"), alerted("backup_stale"));
    webhook_until(&hook, Instant::now() + Duration::from_secs(15), |bodies| {
        failed(bodies) && stale(bodies)
    });

    // A backup run by hand is in the same history.
    w.ok(&["backup", "run", "files"]);
    assert!(
        w.events("backup_succeeded")
            .iter()
            .any(|e| e["trigger"] == "cli")
    );

    // Status, per service and per backup.
    let status: Value = serde_json::from_str(&w.ok(&["status", "--format", "json"])).expect("json");
    let files = status["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .find(|b| b["backup"] == "files")
        .expect("files");
    assert!(files["last_success"].is_string() && files["last_verified"].is_string());
    assert!(files["size"].as_u64().expect("size") >= 6);
    let web = status["services"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|s| s["service"] == "web")
        .expect("web");
    assert!(web["restarts"].as_u64().expect("restarts") >= 1, "{web}");

    // TCP: 401 without the token, 200 with it.
    let addr = w.listen.clone().expect("listen");
    assert!(http_get(&addr, "/v1/status", None).starts_with("HTTP/1.1 401"));
    assert!(
        http_get(&addr, "/v1/status", Some("wrong-token-0123456789")).starts_with("HTTP/1.1 401")
    );
    assert!(http_get(&addr, "/v1/status", Some(TOKEN)).starts_with("HTTP/1.1 200"));
    let metrics = http_get(&addr, "/metrics", Some(TOKEN));
    assert!(
        metrics.contains("skiff_service_restarts_total{project=\"skiffdmn\",service=\"web\"}"),
        "{metrics}"
    );
    // CPU and memory of a container (from its cgroup) and of a process group (from /proc).
    for instance in ["skiffdmn-web-1", "skiffdmn-proc-1"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("skiff_instance_memory_bytes{")
                    && l.contains(&format!("instance=\"{instance}\""))),
            "no memory of {instance}:\n{metrics}"
        );
    }

    // SIGTERM: the daemon stops, the stack keeps running.
    assert!(w.stop_daemon().success());
    assert!(running(&containers(&w.name)).contains(&"skiffdmn-web-1".to_owned()));
    assert_eq!(processes_with(&marker), 1);

    // Started again, it takes the stack up: the web container killed now comes back.
    w.start_daemon();
    wait_for("the stack taken up again", Duration::from_secs(10), || {
        w.events("deployed")
            .iter()
            .any(|e| e["trigger"] == "daemon restart")
    });
    let started_before = inspect("skiffdmn-web-1", "{{.State.StartedAt}}");
    docker_kill("skiffdmn-web-1");
    wait_for(
        "web restarted by the new daemon",
        Duration::from_secs(15),
        || {
            running(&containers(&w.name)).contains(&"skiffdmn-web-1".to_owned())
                && inspect("skiffdmn-web-1", "{{.State.StartedAt}}") != started_before
        },
    );

    // `down` hands the stack back first: nothing is put back afterwards.
    w.ok(&["down"]);
    let backups = w.events("backup_succeeded").len();
    std::thread::sleep(Duration::from_secs(3));
    assert!(containers(&w.name).is_empty(), "{:?}", containers(&w.name));
    assert_eq!(
        w.events("backup_succeeded").len(),
        backups,
        "a released stack's backups stop"
    );
    assert_eq!(processes_with(&marker), 0);
    assert!(!w.state.path().join("deployments/skiffdmn.json").exists());
}

#[test]
fn a_daemon_killed_at_any_point_converges_without_duplicates() {
    if !engine_available() {
        return;
    }
    let _serial = serial();
    let marker = format!("37{}.5", std::process::id() % 100);
    let compose = |generation: u32| {
        format!(
            r#"
services:
  a:
    image: skiff-test/app:1
    restart: always
    deploy: {{replicas: 2}}
    environment: {{GENERATION: "{generation}"}}
  b:
    image: skiff-test/busybox:1
    command: ["sleep", "3600"]
    restart: always
    depends_on: [a]
    environment: {{GENERATION: "{generation}"}}
  p:
    x-skiff: {{runtime: process}}
    command: ["sleep", "{marker}"]
    restart: always
    environment: {{GENERATION: "{generation}"}}
"#
        )
    };
    let mut w = World::new("skiffkill", &compose(0));
    w.start_daemon();
    w.ok(&["up", "-d"]);
    // Each round changes every service (so a deploy recreates them all) and SIGKILLs the
    // daemon a little later each time: before, during and after the deploy's plan.
    for (round, delay_ms) in [0u64, 30, 80, 150, 300, 600, 1200].into_iter().enumerate() {
        let generation = u32::try_from(round).expect("round") + 1;
        w.write(&compose(generation));
        let up = w
            .command()
            .args(["-p", &w.name, "up", "-d"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("up");
        std::thread::sleep(Duration::from_millis(delay_ms));
        w.kill_daemon();
        let mut up = up;
        let _ = up.wait();
        // Sometimes a container is killed while no daemon runs, too.
        if round % 2 == 1 {
            let _ = Command::new("docker")
                .args(["kill", "skiffkill-b-1"])
                .output();
        }
        w.start_daemon();
        // The deploy that was cut off may not have been kept (killed before it was written):
        // `up -d` again is what a user does, and must converge.
        w.ok(&["up", "-d"]);
        wait_for_showing(
            &format!("round {round} to converge"),
            Duration::from_secs(60),
            || {
                let c = containers(&w.name);
                let names: Vec<&str> = c.iter().map(|(n, _)| n.as_str()).collect();
                names == ["skiffkill-a-1", "skiffkill-a-2", "skiffkill-b-1"]
                    && c.iter().all(|(_, s)| s == "running")
                    && processes_with(&marker) == 1
            },
            || {
                format!(
                    "containers: {:?}
processes: {}
{}",
                    containers(&w.name),
                    processes_with(&marker),
                    w.show()
                )
            },
        );
        let generation_of = |c: &str| {
            inspect(c, "{{range .Config.Env}}{{println .}}{{end}}")
                .lines()
                .any(|l| l == format!("GENERATION={generation}"))
        };
        assert!(generation_of("skiffkill-a-1") && generation_of("skiffkill-b-1"));
    }
    w.ok(&["down"]);
    assert!(containers(&w.name).is_empty());
    assert_eq!(processes_with(&marker), 0);
}

/// A stack as most files in the wild are written, without `restart:` keys: handed to the
/// daemon, what is killed or turns unhealthy comes back healthy, a one-shot that exited 0
/// stays completed, and an explicit `restart: "no"` stays dead. A finished one-shot runs
/// again on the next `up`, as docker compose runs it.
const UNDECLARED: &str = r#"
services:
  web:
    image: skiff-test/app:1
    healthcheck:
      test: ["CMD", "/bin/skiff-testapp", "check", "health"]
      interval: 1s
  sick:
    image: skiff-test/busybox:1
    command: ["sleep", "3600"]
    tmpfs: [/run/flag]
    healthcheck:
      test: ["CMD", "sh", "-c", "test ! -e /run/flag/sick"]
      interval: 1s
      retries: 1
  once:
    image: skiff-test/busybox:1
    command: ["sh", "-c", "date +%s%N >> /data/runs"]
    volumes: ["runs:/data"]
  dead:
    image: skiff-test/busybox:1
    command: ["sleep", "3600"]
    restart: "no"
  proc:
    x-skiff: {runtime: process}
    command: ["sleep", "MARKER"]
volumes:
  runs: {}
"#;

#[test]
fn a_stack_without_restart_keys_is_healed_by_default() {
    if !engine_available() {
        return;
    }
    let _serial = serial();
    let marker = format!("38{}.5", std::process::id() % 100);
    let mut w = World::new("skiffheal", &UNDECLARED.replace("MARKER", &marker));
    w.start_daemon();
    let out = w.skiff(&["up", "-d"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("The daemon heals once, proc, sick, web by default"),
        "{said}"
    );
    let healthy = |c: &str| inspect(c, "{{.State.Health.Status}}") == "healthy";
    wait_for(
        "web and sick healthy, proc running",
        Duration::from_secs(30),
        || {
            healthy("skiffheal-web-1")
                && healthy("skiffheal-sick-1")
                && w.process_pid("proc", 1).is_some()
        },
    );
    let runs = || {
        let out = Command::new("docker")
            .args([
                "run",
                "--rm",
                "-v",
                "skiffheal_runs:/data",
                "skiff-test/busybox:1",
                "cat",
                "/data/runs",
            ])
            .output()
            .expect("docker run");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(runs(), 1);

    // Killed: restarted, and healthy again.
    let started = inspect("skiffheal-web-1", "{{.State.StartedAt}}");
    docker_kill("skiffheal-web-1");
    wait_for_showing(
        "web back and healthy",
        Duration::from_secs(30),
        || {
            inspect("skiffheal-web-1", "{{.State.StartedAt}}") != started
                && healthy("skiffheal-web-1")
        },
        || w.show(),
    );

    // Turned unhealthy: restarted (the tmpfs with the flag is fresh), and healthy again.
    let started = inspect("skiffheal-sick-1", "{{.State.StartedAt}}");
    let out = Command::new("docker")
        .args(["exec", "skiffheal-sick-1", "touch", "/run/flag/sick"])
        .output()
        .expect("docker exec");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_showing(
        "sick restarted and healthy",
        Duration::from_secs(30),
        || {
            inspect("skiffheal-sick-1", "{{.State.StartedAt}}") != started
                && healthy("skiffheal-sick-1")
        },
        || w.show(),
    );

    // A process without a restart key, killed: restarted once.
    let pid = w.process_pid("proc", 1).expect("proc runs");
    nix_kill(u32::try_from(pid).expect("pid"), "KILL");
    wait_for("proc restarted", Duration::from_secs(15), || {
        w.process_pid("proc", 1).is_some_and(|p| p != pid) && processes_with(&marker) == 1
    });

    // `restart: "no"`, as written: killed, it stays dead.
    docker_kill("skiffheal-dead-1");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(inspect("skiffheal-dead-1", "{{.State.Status}}"), "exited");
    assert!(
        w.events("restarted")
            .iter()
            .all(|e| e["instance"] != "skiffheal-dead-1"),
        "{}",
        w.show()
    );
    // The one-shot exited 0 and stayed completed through all this (reconciles included).
    assert_eq!(inspect("skiffheal-once-1", "{{.State.Status}}"), "exited");
    assert_eq!(inspect("skiffheal-once-1", "{{.State.ExitCode}}"), "0");
    assert_eq!(runs(), 1);

    // The next `up` runs the one-shot again, as docker compose does.
    w.ok(&["up", "-d"]);
    wait_for("the one-shot to run again", Duration::from_secs(15), || {
        runs() == 2
    });

    // The stack can choose Compose's default instead.
    w.write(&format!(
        "{}x-skiff:\n  daemon: {{restart_default: \"no\"}}\n",
        UNDECLARED.replace("MARKER", &marker)
    ));
    let plan = w.skiff(&["plan"]);
    assert!(
        !String::from_utf8_lossy(&plan.stderr).contains("heals"),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    w.ok(&["down"]);
    assert_eq!(processes_with(&marker), 0);
}

/// Jobs on their schedules, as the daemon runs them: one-off containers and processes, the
/// overlap rule, a timeout, a failing job's alert, `jobs run` in the foreground.
const JOBS: &str = r#"
services:
  worker:
    image: skiff-test/busybox:1
    command: ["sleep", "3600"]
    environment: {GENERATION: "@GEN@"}
  tool:
    x-skiff: {runtime: process}
    command: ["sleep", "MARKER"]
x-skiff:
  jobs:
    tick:
      schedule: "*/2 * * * * *"
      service: worker
      command: ["sh", "-c", "echo tick $$GENERATION"]
    slow:
      schedule: "* * * * * *"
      service: tool
      command: ["sh", "-c", "mkdir slow.lock || exit 9; sleep 2.5; rmdir slow.lock"]
    steady:
      schedule: "*/5 * * * * *"
      service: worker
      command: ["sleep", "3"]
    stuck:
      schedule: "*/5 * * * * *"
      service: worker
      command: ["sleep", "300"]
      timeout: 1s
    broken:
      schedule: "*/3 * * * * *"
      service: tool
      command: ["sh", "-c", "echo about to fail; exit 3"]
  alerts:
    ops: {webhook: "http://WEBHOOK/hook", on: [job_failed]}
"#;

fn job_events(w: &World, kind: &str, job: &str) -> Vec<Value> {
    w.events(kind)
        .into_iter()
        .filter(|e| e["detail"]["job"] == job)
        .collect()
}

#[test]
fn the_daemon_runs_jobs_with_their_rules() {
    if !engine_available() {
        return;
    }
    let _serial = serial();
    let marker = format!("39{}.5", std::process::id() % 100);
    let hook = std::net::TcpListener::bind("127.0.0.1:0").expect("webhook");
    let hook_addr = hook.local_addr().expect("addr").to_string();
    let compose = |generation: u32| {
        JOBS.replace("MARKER", &marker)
            .replace("WEBHOOK", &hook_addr)
            .replace("@GEN@", &generation.to_string())
    };
    let mut w = World::new("skiffjobs", &compose(1));
    w.start_daemon();
    w.ok(&["up", "-d"]);

    // A container job every 2 s: run, recorded with its output, its container removed.
    wait_for_showing(
        "two runs of tick",
        Duration::from_secs(20),
        || job_events(&w, "job_succeeded", "tick").len() >= 2,
        || w.show(),
    );
    let run = &job_events(&w, "job_succeeded", "tick")[0];
    assert_eq!(run["detail"]["output"], "tick 1\n", "{run}");
    assert_eq!(run["exit_code"], 0);

    // The failing job alerts the webhook.
    let bodies = webhook_until(&hook, Instant::now() + Duration::from_secs(20), |bodies| {
        bodies
            .iter()
            .any(|b| b.contains("\"event\":\"job_failed\""))
    });
    assert!(
        bodies.iter().any(|b| b.contains("about to fail")),
        "{bodies:?}"
    );

    // A run outliving its timeout is stopped and recorded as timed out.
    wait_for_showing(
        "stuck timed out",
        Duration::from_secs(30),
        || !job_events(&w, "job_timed_out", "stuck").is_empty(),
        || w.show(),
    );

    // A deploy that recreates the service while a job runs neither stops nor doubles it:
    // the run started before goes on with the old configuration.
    let going = |w: &World| {
        let ended: Vec<Value> = job_events(w, "job_succeeded,job_failed", "steady");
        job_events(w, "job_started", "steady")
            .into_iter()
            .map(|e| e["detail"]["run"].clone())
            .find(|run| ended.iter().all(|e| e["detail"]["run"] != *run))
    };
    wait_for("a steady run going", Duration::from_secs(15), || {
        going(&w).is_some()
    });
    let steady = going(&w).expect("a run");
    let before = job_events(&w, "job_started", "tick").len();
    w.write(&compose(2));
    w.ok(&["up", "-d"]);
    wait_for_showing(
        "the steady run to end",
        Duration::from_secs(15),
        || {
            job_events(&w, "job_succeeded,job_failed", "steady")
                .iter()
                .any(|e| e["detail"]["run"] == steady)
        },
        || w.show(),
    );
    let ended: Vec<Value> = job_events(&w, "job_succeeded,job_failed", "steady")
        .into_iter()
        .filter(|e| e["detail"]["run"] == steady)
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(
        ended[0]["kind"], "job_succeeded",
        "killed by the deploy: {ended:?}"
    );
    assert_eq!(
        job_events(&w, "job_started", "steady")
            .iter()
            .filter(|e| e["detail"]["run"] == steady)
            .count(),
        1
    );
    wait_for_showing(
        "tick with the new configuration",
        Duration::from_secs(20),
        || {
            job_events(&w, "job_succeeded", "tick")
                .iter()
                .any(|e| e["detail"]["output"] == "tick 2\n")
        },
        || w.show(),
    );
    assert!(job_events(&w, "job_started", "tick").len() > before);

    // overlap: forbid, the default: a run due every second takes 2.5 s; the ones due
    // meanwhile are skipped, and two never run at once (the lock would fail with 9).
    wait_for_showing(
        "slow skipped",
        Duration::from_secs(20),
        || {
            !job_events(&w, "job_skipped", "slow").is_empty()
                && !job_events(&w, "job_succeeded", "slow").is_empty()
        },
        || w.show(),
    );
    assert!(
        job_events(&w, "job_failed", "slow").is_empty(),
        "{}",
        w.show()
    );
    // Every due time was started once at most.
    let mut dues: Vec<String> = w
        .events("job_started")
        .iter()
        .map(|e| format!("{}@{}", e["detail"]["job"], e["detail"]["due"]))
        .collect();
    let all = dues.len();
    dues.sort();
    dues.dedup();
    assert_eq!(dues.len(), all, "a due time started twice");

    // `skiff jobs`: schedule, next run, outcomes.
    let list: Value = serde_json::from_str(&w.ok(&["jobs", "--format", "json"])).expect("json");
    let tick = list
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["job"] == "tick")
        .expect("tick");
    assert_eq!(tick["timezone"], "UTC");
    assert!(tick["next_run"].is_string() && tick["succeeded"].as_u64() >= Some(2));
    let broken = list
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["job"] == "broken")
        .expect("broken");
    assert!(broken["failing"].as_u64() >= Some(1), "{broken}");
    // `skiff status` names the failing job.
    let status: Value = serde_json::from_str(&w.ok(&["status", "--format", "json"])).expect("json");
    assert!(
        status["failing_jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["job"] == "broken"),
        "{status}"
    );
    assert_eq!(w.ok(&["jobs", "logs", "broken"]), "about to fail\n");

    // `jobs run` in the foreground: output streamed, exit code returned, recorded.
    let out = w.skiff(&["jobs", "run", "broken"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("about to fail"));
    let out = w.skiff(&["jobs", "run", "tick"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tick 2\n");
    assert!(
        job_events(&w, "job_failed", "broken")
            .iter()
            .any(|e| e["trigger"] == "cli")
    );

    // `down`: no more runs, and no run container left.
    w.ok(&["down"]);
    std::thread::sleep(Duration::from_secs(3));
    let started = w.events("job_started").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(w.events("job_started").len(), started, "runs after down");
    assert!(containers(&w.name).is_empty(), "{:?}", containers(&w.name));
    assert_eq!(processes_with(&marker), 0);

    // With the stack down (its network gone), a run makes what it needs first, as
    // `docker compose run` does, and removes its container when it ends.
    let out = w.skiff(&["jobs", "run", "tick"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(containers(&w.name).is_empty(), "{:?}", containers(&w.name));
    w.ok(&["down"]);
}

/// A daemon SIGKILLed while a run goes finds it when it starts again, waits for it and
/// records it, and never starts that due time a second time.
#[test]
fn a_run_outlives_a_killed_daemon_and_is_never_doubled() {
    if !engine_available() {
        return;
    }
    let _serial = serial();
    let mut w = World::new(
        "skiffjobkill",
        r#"
services:
  worker:
    image: skiff-test/busybox:1
    command: ["sleep", "3600"]
    volumes: ["runs:/runs"]
x-skiff:
  jobs:
    long:
      schedule: "*/6 * * * * *"
      service: worker
      command: ["sh", "-c", "date +%s >> /runs/started; sleep 3"]
volumes:
  runs: {}
"#,
    );
    w.start_daemon();
    w.ok(&["up", "-d"]);
    wait_for_showing(
        "a run to start",
        Duration::from_secs(15),
        || !job_events(&w, "job_started", "long").is_empty(),
        || w.show(),
    );
    std::thread::sleep(Duration::from_millis(1000));
    w.kill_daemon();
    let running = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            "label=dev.skiff.job=long",
            "--filter",
            "status=running",
        ])
        .output()
        .expect("docker ps");
    assert!(
        !String::from_utf8_lossy(&running.stdout).trim().is_empty(),
        "the run died with the daemon"
    );
    w.start_daemon();
    wait_for_showing(
        "the adopted run recorded",
        Duration::from_secs(20),
        || {
            job_events(&w, "job_succeeded", "long")
                .iter()
                .any(|e| e["trigger"] == "daemon restart")
        },
        || w.show(),
    );
    // Two more due times pass.
    std::thread::sleep(Duration::from_secs(10));
    let started: Vec<Value> = job_events(&w, "job_started", "long");
    let mut dues: Vec<String> = started
        .iter()
        .map(|e| e["detail"]["due"].to_string())
        .collect();
    dues.sort();
    dues.dedup();
    assert_eq!(dues.len(), started.len(), "{}", w.show());
    let runs = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-v",
            "skiffjobkill_runs:/runs",
            "skiff-test/busybox:1",
            "cat",
            "/runs/started",
        ])
        .output()
        .expect("docker run");
    let lines = String::from_utf8_lossy(&runs.stdout).lines().count();
    // A run may be going as we look: started but not yet recorded is fine, never more.
    assert!(
        lines == started.len() || lines == started.len() + 1,
        "{lines} runs, {} recorded\n{}",
        started.len(),
        w.show()
    );
    w.ok(&["down"]);
}

#[test]
fn install_prints_a_unit_that_leaves_stacks_running() {
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["daemon", "install", "--dry-run"])
        .output()
        .expect("skiff");
    assert!(out.status.success());
    let unit = String::from_utf8_lossy(&out.stdout);
    assert!(unit.contains("KillMode=process"), "{unit}");
    assert!(unit.contains(" daemon\n"), "{unit}");
}

#[test]
fn listen_without_a_token_is_refused_before_anything_starts() {
    let state = tempfile::tempdir().expect("state");
    let out = Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(["daemon", "--listen", "127.0.0.1:1"])
        .env("SKIFF_STATE_DIR", state.path())
        .env_remove("SKIFF_DAEMON_TOKEN")
        .output()
        .expect("skiff");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen needs a token"));
}

/// Answers (200) the calls the webhook receives until `done` holds for their bodies, which it
/// returns; fails at `deadline`, showing what came.
fn webhook_until(
    hook: &std::net::TcpListener,
    deadline: Instant,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    hook.set_nonblocking(true).expect("non-blocking");
    let mut bodies = Vec::new();
    while !done(&bodies) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the webhook's calls; it heard {bodies:#?}"
        );
        let mut conn = match hook.accept() {
            Ok((conn, _)) => conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => panic!("webhook accept: {e}"),
        };
        conn.set_nonblocking(false).expect("blocking");
        conn.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let got = conn.read(&mut buf).unwrap_or(0);
            data.extend_from_slice(&buf[..got]);
            let text = String::from_utf8_lossy(&data);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    bodies.push(body.to_owned());
                    break;
                }
            }
            if got == 0 {
                bodies.push(text.into_owned());
                break;
            }
        }
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    }
    bodies
}
