//! Process services end to end, with real processes: PostgreSQL after its `initdb` one-shot,
//! a service that waits for it to be healthy, crashes and restarts, stop signals and grace
//! periods, the foreground `up` and Ctrl-C, orphan-free `down` (checked in the process
//! table, grandchildren included), and a stack mixing processes and containers.
//!
//! Process-only stacks run with DOCKER_HOST pointing at a socket that does not exist: they
//! must never need the Docker Engine. The mixed test needs the engine and the local test
//! images (scripts/build-test-images.sh); it skips with a message without an engine, and
//! fails under `CI=true`.
#![expect(clippy::print_stderr, reason = "a skipped test says why")]
#![expect(clippy::unwrap_used, reason = "tests")]

mod support;
use support::{
    containers, engine_available, files_under, free_port, http_body, http_get, process_table,
    wait_for_showing,
};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NO_DOCKER: &str = "unix:///nonexistent/skiff-test-docker.sock";

/// A project in a temporary directory with its own state directory; brought down when
/// dropped, and whatever still carries its marker is killed then.
struct Stack {
    dir: tempfile::TempDir,
    name: String,
    /// In every service's environment: finds the stack's processes and all their
    /// descendants in the process table.
    marker: String,
    docker_host: Option<String>,
}

impl Stack {
    fn new(name: &str, compose: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL runs as its own user and must traverse the directory.
        let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        let marker = format!("{name}-{}", std::process::id());
        let s = Stack {
            dir,
            name: name.to_owned(),
            marker,
            docker_host: Some(NO_DOCKER.to_owned()),
        };
        s.write(compose);
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state_dir(&self) -> PathBuf {
        self.path().join(".state")
    }

    /// Writes the compose file; `@DIR@` is the project directory, `@MARK@` the marker
    /// variable for the services' environments.
    fn write(&self, compose: &str) {
        let text = compose
            .replace("@DIR@", &self.path().display().to_string())
            .replace("@MARK@", &format!("SKIFF_TEST_MARK: {}", self.marker));
        std::fs::write(self.path().join("compose.yaml"), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_skiff"));
        c.args(["-p", &self.name])
            .args(args)
            .current_dir(self.path())
            .env("SKIFF_STATE_DIR", self.state_dir())
            .env("NO_COLOR", "1")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME");
        match &self.docker_host {
            Some(h) => c.env("DOCKER_HOST", h),
            None => c.env_remove("DOCKER_HOST"),
        };
        c
    }

    fn skiff(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "skiff {args:?} failed:\n{text}");
        text
    }

    /// `ps -a --format json`, by instance name.
    fn ps(&self) -> serde_json::Map<String, serde_json::Value> {
        let out = self.skiff(&["ps", "-a", "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        rows.into_iter()
            .map(|r| (r["name"].as_str().unwrap_or_default().to_owned(), r))
            .collect()
    }

    fn row(&self, instance: &str) -> serde_json::Value {
        self.ps()
            .remove(&format!("{}-{instance}", self.name))
            .unwrap_or(serde_json::Value::Null)
    }

    /// Live processes whose environment carries the marker, and their descendants (a
    /// process may overwrite its environment: PostgreSQL's children write their titles over
    /// it), with their command lines.
    fn processes(&self) -> Vec<(i32, String)> {
        let table = process_table();
        let mut found: Vec<i32> = marked(&format!("SKIFF_TEST_MARK={}", self.marker));
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            for p in &table {
                if p.ppid == parent && !found.contains(&p.pid) {
                    found.push(p.pid);
                }
            }
            i += 1;
        }
        table
            .into_iter()
            .filter(|p| found.contains(&p.pid))
            .map(|p| (p.pid, p.cmdline))
            .collect()
    }

    fn wait_for(&self, what: &str, timeout: Duration, f: impl Fn(&Stack) -> bool) {
        wait_for_showing(what, timeout, || f(self), || format!("{:#?}", self.ps()));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.skiff(&["down"]);
        for (pid, _) in self.processes() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Pids of live processes with `needle` in their environment.
fn marked(needle: &str) -> Vec<i32> {
    process_table()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .map(|p| p.pid)
        .collect()
}

/// Which of these processes (same pid, same command line) still run.
fn still_running(before: &[(i32, String)]) -> Vec<(i32, String)> {
    let table = process_table();
    before
        .iter()
        .filter(|(pid, cmd)| table.iter().any(|p| p.pid == *pid && p.cmdline == *cmd))
        .cloned()
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// PostgreSQL as process services: `initdb` as a one-shot, the server once it completed
/// successfully, an app once the server is healthy (pg_isready); then `down` leaves nothing
/// running, the server's own children (which leave its process group) included.
#[test]
fn postgres_after_initdb_then_a_service_that_needs_it_healthy() {
    if !Path::new(PG_BIN).join("postgres").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but PostgreSQL 15 is not installed"
        );
        eprintln!("skipping: PostgreSQL 15 is not installed in {PG_BIN}");
        return;
    }
    // PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
    let as_pg = if is_root() {
        "[setpriv, --reuid=postgres, --regid=postgres, --init-groups, "
    } else {
        "["
    };
    let chown = if is_root() {
        "chown postgres:postgres pg && "
    } else {
        ""
    };
    let port = free_port();
    let compose = format!(
        r#"
x-process: &process
  x-skiff: {{runtime: process}}
services:
  initdb:
    <<: *process
    command: [sh, -c, "mkdir -p pg && {chown}chmod 700 pg && exec {as_pg_shell}{PG_BIN}/initdb -D pg -A trust -U postgres --no-sync"]
    environment: {{@MARK@}}
  db:
    <<: *process
    command: {as_pg}{PG_BIN}/postgres, -D, pg, -k, "@DIR@/pg", -p, "{port}", -c, "listen_addresses=", -c, fsync=off]
    environment: {{@MARK@}}
    stop_signal: SIGINT
    stop_grace_period: 10s
    healthcheck:
      test: [CMD, {PG_BIN}/pg_isready, -h, "@DIR@/pg", -p, "{port}", -U, postgres]
      interval: 1s
      start_period: 30s
      start_interval: 100ms
    depends_on:
      initdb: {{condition: service_completed_successfully}}
  app:
    <<: *process
    command: [sh, -c, "psql -h @DIR@/pg -p {port} -U postgres -Atc 'select 40 + 2' > answer && sleep 300 & wait"]
    environment: {{@MARK@}}
    depends_on:
      db: {{condition: service_healthy}}
"#,
        as_pg_shell = if is_root() {
            "setpriv --reuid=postgres --regid=postgres --init-groups "
        } else {
            ""
        },
    );
    let s = Stack::new("pgproc", &compose);
    let out = s.ok(&["up", "-d"]);
    assert!(
        out.contains("waiting for initdb (service_completed_successfully)"),
        "{out}"
    );
    assert!(out.contains("waiting for db (service_healthy)"), "{out}");
    // The app ran only once the server answered.
    s.wait_for("the app's answer", Duration::from_secs(10), |s| {
        std::fs::read_to_string(s.path().join("answer")).is_ok_and(|a| a.trim() == "42")
    });
    let ps = s.ps();
    let row = |n: &str| ps[&format!("pgproc-{n}")].clone();
    assert_eq!(row("initdb-1")["status"], "Exited (0)");
    assert_eq!(
        row("db-1")["status"]
            .as_str()
            .map(|s| s.ends_with("(healthy)")),
        Some(true)
    );
    assert_eq!(row("app-1")["state"], "running");
    // The server's children left its process group (setsid) and are still found by the
    // marker: the check below is not vacuous.
    let before = s.processes();
    assert!(
        before
            .iter()
            .filter(|(_, c)| c.contains("postgres"))
            .count()
            >= 3,
        "{before:#?}"
    );

    s.ok(&["down"]);
    assert_eq!(
        still_running(&before),
        Vec::new(),
        "left running after down"
    );
    assert_eq!(s.processes(), Vec::new(), "left running after down");
    assert!(s.ps().is_empty());
}

/// SIGKILL a supervised process: its supervisor starts it again (immediately the first
/// time), `ps` counts the restart, and the new process becomes healthy.
#[test]
fn a_killed_process_is_restarted_and_becomes_healthy_again() {
    let s = Stack::new(
        "crashy",
        r#"
services:
  web:
    command: [sh, -c, "echo started $$$$; touch alive; exec sleep 300"]
    environment: {@MARK@}
    restart: always
    healthcheck:
      test: [CMD-SHELL, "test -f alive"]
      interval: 200ms
      start_interval: 50ms
      start_period: 5s
    x-skiff: {runtime: process}
"#,
    );
    s.ok(&["up", "-d", "--wait"]);
    let first = s.row("web-1");
    let pid = first["pid"].as_i64().unwrap();
    assert_eq!(first["restarts"], 0);

    let killed = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    s.wait_for("a healthy replacement", Duration::from_secs(10), |s| {
        let row = s.row("web-1");
        row["pid"].as_i64().is_some_and(|p| p != pid)
            && row["health"] == "healthy"
            && row["restarts"] == 1
    });
    eprintln!("replaced and healthy {:?} after SIGKILL", killed.elapsed());
    let logs = s.ok(&["logs", "web"]);
    assert_eq!(logs.matches("started").count(), 2, "{logs}");
    s.ok(&["down"]);
    assert_eq!(s.processes(), Vec::new());
}

/// A one-shot that completed runs again on the next `up`, as docker compose runs it: here it
/// generates the file the API serves, and the file was removed in between.
#[test]
fn the_next_up_runs_a_completed_one_shot_again() {
    let s = Stack::new(
        "oneshot",
        r#"
services:
  prepare:
    command: [sh, -c, "echo prepared >> runs; echo ok > generated"]
    environment: {@MARK@}
    x-skiff: {runtime: process}
  api:
    command: [sh, -c, "exec sleep 300"]
    environment: {@MARK@}
    depends_on: {prepare: {condition: service_completed_successfully}}
    healthcheck:
      test: [CMD-SHELL, "test -f generated"]
      interval: 200ms
    x-skiff: {runtime: process}
"#,
    );
    s.ok(&["up", "-d", "--wait"]);
    assert!(s.path().join("generated").exists());
    std::fs::remove_file(s.path().join("generated")).unwrap();
    let plan = s.ok(&["plan"]);
    assert!(plan.contains("prepare"), "{plan}");
    s.ok(&["up", "-d", "--wait"]);
    assert!(
        s.path().join("generated").exists(),
        "prepare did not run again"
    );
    let runs = std::fs::read_to_string(s.path().join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");
    s.ok(&["down"]);
}

/// A supervisor killed with SIGKILL leaves its processes running but unsupervised; `ps`
/// says so, and the next `up` takes them over: they are restarted again when they die.
#[test]
fn the_next_up_adopts_processes_whose_supervisor_died() {
    let s = Stack::new(
        "adopt",
        r#"
services:
  quiet:
    command: [sleep, "300"]
    environment: {@MARK@}
    restart: always
    x-skiff: {runtime: process}
"#,
    );
    s.ok(&["up", "-d"]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.state_dir().join("adopt/quiet-1.json")).unwrap())
            .unwrap();
    let supervisor = record["supervisor"]["pid"].as_i64().unwrap().to_string();
    let pid = record["pid"].as_i64().unwrap();
    assert!(
        Command::new("kill")
            .args(["-9", &supervisor])
            .status()
            .unwrap()
            .success()
    );
    s.wait_for(
        "the supervisor's death to show",
        Duration::from_secs(5),
        |s| {
            s.row("quiet-1")["status"]
                .as_str()
                .is_some_and(|t| t.ends_with("(unsupervised)"))
        },
    );
    assert_eq!(
        s.row("quiet-1")["pid"],
        pid,
        "the process itself kept running"
    );

    let out = s.ok(&["up", "-d"]);
    assert!(out.contains("1 process supervised"), "{out}");
    assert_eq!(s.row("quiet-1")["supervised"], true);
    assert!(
        Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    s.wait_for(
        "a restart by the new supervisor",
        Duration::from_secs(5),
        |s| {
            let row = s.row("quiet-1");
            row["state"] == "running" && row["pid"].as_i64().is_some_and(|p| p != pid)
        },
    );
    s.ok(&["down"]);
    assert_eq!(s.processes(), Vec::new());
}

/// `stop_signal` is what the process gets; `stop_grace_period` is how long it may take
/// before SIGKILL, and the SIGKILL takes its grandchildren too.
#[test]
fn stop_signal_and_grace_period_are_honoured() {
    let s = Stack::new(
        "signals",
        r#"
services:
  polite:
    command: [sh, -c, "trap 'echo got USR1 > usr1; exit 0' USR1; while :; do sleep 0.05; done"]
    environment: {@MARK@}
    stop_signal: SIGUSR1
    x-skiff: {runtime: process}
  stubborn:
    command: [sh, -c, "trap '' TERM; sh -c 'trap \"\" TERM; sleep 300' & while :; do sleep 0.05; done"]
    environment: {@MARK@}
    stop_grace_period: 1s
    x-skiff: {runtime: process}
"#,
    );
    s.ok(&["up", "-d"]);
    s.wait_for("the grandchild", Duration::from_secs(5), |s| {
        s.processes()
            .iter()
            .any(|(_, c)| c.starts_with("sleep 300"))
    });

    let started = Instant::now();
    s.ok(&["stop", "polite"]);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        std::fs::read_to_string(s.path().join("usr1"))
            .unwrap()
            .trim(),
        "got USR1"
    );
    assert_eq!(s.row("polite-1")["status"], "Exited (0)");

    let started = Instant::now();
    s.ok(&["stop", "stubborn"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(s.row("stubborn-1")["status"], "Exited (137)");
    assert_eq!(
        s.processes(),
        Vec::new(),
        "the grandchild outlived the stop"
    );

    // `start` brings them back under a new supervisor.
    s.ok(&["start"]);
    assert_eq!(s.row("polite-1")["state"], "running");
    s.ok(&["down"]);
    assert_eq!(s.processes(), Vec::new());
}

/// The foreground `up`: the services' output with prefixes on standard output, restarts
/// reported, and SIGINT (Ctrl-C) stops the whole stack before skiff exits.
#[test]
fn foreground_up_shows_output_and_ctrl_c_stops_the_stack() {
    let s = Stack::new(
        "fg",
        r#"
services:
  ticker:
    command: [sh, -c, "trap 'echo ticker stopping; exit 0' TERM; while :; do echo tick; sleep 0.2; done"]
    environment: {@MARK@}
    x-skiff: {runtime: process}
  once:
    command: [sh, -c, "echo once ran; exit 0"]
    environment: {@MARK@}
    x-skiff: {runtime: process}
  worker:
    command: [sh, -c, "sleep 300 & sleep 300"]
    environment: {@MARK@}
    depends_on:
      once: {condition: service_completed_successfully}
    x-skiff: {runtime: process}
"#,
    );
    let mut child = s
        .command(&["up"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    s.wait_for("the stack to run", Duration::from_secs(10), |s| {
        s.row("worker-1")["state"] == "running" && s.row("ticker-1")["state"] == "running"
    });
    std::thread::sleep(Duration::from_millis(600));
    let skiff = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &skiff])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "skiff up did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("fg-ticker-1 | tick"), "{stdout}");
    assert!(stdout.contains("fg-once-1   | once ran"), "{stdout}");
    assert!(stdout.contains("fg-ticker-1 | ticker stopping"), "{stdout}");
    assert!(stderr.contains("Stopped."), "{stderr}");
    assert_eq!(s.processes(), Vec::new(), "left running after Ctrl-C");
    // Stopped, not removed: `ps -a` still lists them, as docker compose keeps containers.
    assert_eq!(s.row("ticker-1")["state"], "exited");
}

/// A plan names the changed variable, never its value; records and logs never hold it.
#[test]
fn plans_and_state_name_changed_variables_without_their_values() {
    let compose = r#"
services:
  api:
    command: [sh, -c, "echo up; exec sleep 300"]
    environment: {@MARK@, TOKEN: VALUE}
    x-skiff: {runtime: process}
"#;
    let s = Stack::new("secrets", &compose.replace("VALUE", "s3cr3t-one"));
    s.ok(&["up", "-d"]);
    assert!(s.ok(&["plan"]).contains("No changes"));
    s.write(&compose.replace("VALUE", "s3cr3t-two"));
    let plan = s.ok(&["plan"]);
    assert!(
        plan.contains("~ process secrets-api-1: recreate (environment.TOKEN changed)"),
        "{plan}"
    );
    let json = s.ok(&["plan", "--format", "json"]);
    let up = s.ok(&["up", "-d"]);
    let ps = s.ok(&["ps", "-a", "--format", "json"]);
    for text in [&plan, &json, &up, &ps] {
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    let files = files_under(&s.state_dir());
    assert!(
        !files.is_empty(),
        "the state directory holds records and logs"
    );
    for entry in files {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cr3t"),
            "{} holds the value",
            entry.display()
        );
    }
    // The process itself has it, of course.
    let (pid, _) = s.processes()[0].clone();
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&env).contains("TOKEN=s3cr3t-two"));
}

/// A field only a container can honour is refused before anything runs, located in the file.
#[test]
fn container_only_fields_are_refused_with_their_position() {
    let s = Stack::new(
        "refused",
        "services:\n  api:\n    command: [sleep, \"1\"]\n    x-skiff: {runtime: process}\n    cap_add: [NET_ADMIN]\n",
    );
    let out = s.skiff(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("compose.yaml:5:"), "{err}");
    assert!(
        err.contains("cap_add cannot apply to a host process"),
        "{err}"
    );
    assert!(!s.state_dir().join("refused").exists());
}

/// The bundled example runs with no Docker Engine at all.
#[test]
fn the_bundled_example_runs_without_docker() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hybrid-processes");
    let s = Stack::new("example", "");
    // The example writes its site beside itself; run a copy.
    for f in ["compose.yaml", "bin/serve", "bin/http-get"] {
        let to = s.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(example.join(f), &to).unwrap();
    }
    let port = free_port().to_string();
    let mut up = s.command(&["up", "-d", "--wait", "--timeout", "20"]);
    up.env("WEB_PORT", &port);
    let out = up.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ps = s.ps();
    assert!(
        ps["example-web-1"]["status"]
            .as_str()
            .unwrap()
            .ends_with("(healthy)")
    );
    assert_eq!(ps["example-build-site-1"]["status"], "Exited (0)");
    assert_eq!(ps["example-worker-2"]["state"], "running");
    let page = Command::new("sh")
        .arg("-c")
        .arg(format!("bin/http-get http://127.0.0.1:{port}/"))
        .current_dir(s.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&page.stdout).contains("hello from skiff"));
    s.ok(&["down"]);
    assert!(s.ps().is_empty());
}

/// The static test program (built by scripts/build-test-images.sh with the images).
fn testapp() -> PathBuf {
    let app = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/testapp/x86_64-unknown-linux-gnu/release/skiff-testapp");
    if !app.exists() {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-images.sh");
        assert!(
            Command::new("bash")
                .arg(script)
                .status()
                .is_ok_and(|s| s.success()),
            "the test program could not be built (scripts/build-test-images.sh)"
        );
    }
    app
}

/// Containers and processes in one stack, `depends_on` both ways: a process waits for a
/// container to be healthy and finds its published port (chosen by the engine) in
/// SKIFF_CACHE_PORT; a container waits for the process to be healthy and reaches it by its
/// service name through the host gateway. One `ps`, one `logs`, one `down`.
#[test]
fn a_stack_mixing_containers_and_processes() {
    if !engine_available() {
        return;
    }
    let app = testapp();
    let port = free_port();
    let mut s = Stack::new("skiffmixed", "");
    s.docker_host = None;
    s.write(&format!(
        r#"
services:
  cache:
    image: skiff-test/app:1
    environment: {{PORT: "8080"}}
    ports: ["127.0.0.1::8080"]
    healthcheck: {{test: [CMD, /bin/skiff-testapp, check, health], interval: 300ms, retries: 30}}
  api:
    command: ["{app}"]
    environment: {{@MARK@, PORT: "{port}"}}
    healthcheck: {{test: [CMD, "{app}", check, health], interval: 200ms, start_interval: 50ms, start_period: 10s}}
    depends_on: {{cache: {{condition: service_healthy}}}}
    x-skiff: {{runtime: process}}
  client:
    image: skiff-test/busybox:1
    command: [sh, -c, "wget -qO- http://api:{port}/from-the-container; echo; sleep 300"]
    depends_on: {{api: {{condition: service_healthy}}}}
"#,
        app = app.display()
    ));
    let out = s.ok(&["up", "-d"]);
    assert!(out.contains("waiting for cache (service_healthy)"), "{out}");
    assert!(out.contains("waiting for api (service_healthy)"), "{out}");
    assert!(
        out.contains("client -> api: api through the host gateway"),
        "{out}"
    );
    let ps = s.ps();
    assert_eq!(ps["skiffmixed-api-1"]["runtime"], "process");
    assert_eq!(ps["skiffmixed-cache-1"]["runtime"], "container");
    assert_eq!(ps["skiffmixed-client-1"]["runtime"], "container");
    s.wait_for(
        "the container's request to the process",
        Duration::from_secs(10),
        |s| s.ok(&["logs", "api"]).contains("GET /from-the-container"),
    );
    let published = Command::new("docker")
        .args(["port", "skiffmixed-cache-1", "8080"])
        .output()
        .unwrap();
    assert!(
        published.status.success(),
        "docker port: {}",
        String::from_utf8_lossy(&published.stderr)
    );
    let published = String::from_utf8_lossy(&published.stdout);
    // `127.0.0.1:32768`, one line per binding.
    let host_port: u16 = published
        .lines()
        .next()
        .and_then(|l| l.trim().rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no published port in {published:?}"));
    let api = format!("127.0.0.1:{port}");
    let env = |name: &str| {
        http_body(&http_get(&api, &format!("/env?name={name}"), None))
            .trim()
            .to_owned()
    };
    assert_eq!(env("SKIFF_CACHE_PORT"), host_port.to_string());
    assert_eq!(env("SKIFF_CACHE_HOST"), "127.0.0.1");
    let logs = s.ok(&["logs"]);
    assert!(
        logs.contains("skiffmixed-client-1 | GET /from-the-container"),
        "{logs}"
    );
    assert!(
        logs.contains("skiffmixed-cache-1  | listening on 8080"),
        "{logs}"
    );
    s.ok(&["down"]);
    assert_eq!(s.processes(), Vec::new());
    assert_eq!(containers("skiffmixed"), Vec::new());
}
