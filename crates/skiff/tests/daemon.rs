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
        wait_for(
            &format!("round {round} to converge"),
            Duration::from_secs(60),
            || {
                let c = containers(&w.name);
                let names: Vec<&str> = c.iter().map(|(n, _)| n.as_str()).collect();
                names == ["skiffkill-a-1", "skiffkill-a-2", "skiffkill-b-1"]
                    && c.iter().all(|(_, s)| s == "running")
                    && processes_with(&marker) == 1
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
