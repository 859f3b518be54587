//! The real Docker Engine: `up`, `plan`, `down` on stacks built from the local test images
//! (scripts/build-test-images.sh). Skips with a message when no engine answers; fails under
//! `CI=true`.
#![expect(clippy::print_stderr, reason = "a skipped test says why")]

mod support;
use support::{containers, docker_cleanup, engine_available, inspect, reference_compose, volumes};

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A project in a temporary directory, brought down (with volumes) when dropped.
struct Stack {
    dir: tempfile::TempDir,
    name: String,
}

impl Stack {
    fn new(name: &str, compose: &str) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
        let s = Stack {
            dir,
            name: name.to_owned(),
        };
        docker_cleanup(&s.name);
        s
    }

    fn write(&self, compose: &str) {
        std::fs::write(self.dir.path().join("compose.yaml"), compose).expect("write");
    }

    fn skiff(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["-p", &self.name])
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("skiff runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.skiff(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        docker_cleanup(&self.name);
    }
}

const BASIC: &str = r#"
services:
  db:
    image: skiff-test/app:1
    environment: {PORT: "5000"}
    healthcheck:
      test: ["CMD", "/bin/skiff-testapp", "check", "health"]
      interval: 500ms
      retries: 20
    volumes: [data:/data]
  web:
    image: skiff-test/app:1
    environment: {LEVEL: "1"}
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    deploy: {replicas: 2}
  migrate:
    image: skiff-test/busybox:1
    command: ["sh", "-c", "sleep 0.5; echo migrated"]
volumes:
  data: {}
"#;

#[test]
fn up_converges_in_dependency_order_and_a_second_up_does_nothing() {
    if !engine_available() {
        return;
    }
    let s = Stack::new("skiffit-basic", BASIC);
    let out = s.ok(&["up", "-d"]);
    // web waited for db's health and migrate's completion.
    let waited = out.find("service web: waiting for").expect("waited");
    let created = out
        .find("container skiffit-basic-web-1: create")
        .expect("web created");
    assert!(waited < created, "{out}");
    // ... and was created while it waited, so that only its start was left once db turned
    // healthy (db's first probe is 500 ms after its start): created then started at once,
    // the two would be about 100 ms apart.
    let at = |container: &str, field: &str| {
        let t = inspect(container, &format!("{{{{{field}}}}}"));
        chrono::DateTime::parse_from_rfc3339(&t).unwrap_or_else(|e| panic!("{t:?}: {e}"))
    };
    let web_created = at("skiffit-basic-web-1", ".Created");
    let web_started = at("skiffit-basic-web-1", ".State.StartedAt");
    assert!(
        web_started - web_created > chrono::TimeDelta::milliseconds(400),
        "web-1 created {web_created}, started {web_started}: not created ahead"
    );
    let listed = containers(&s.name);
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|(n, st)| n == "skiffit-basic-migrate-1" && st == "exited")
    );
    assert!(
        listed
            .iter()
            .filter(|(n, st)| n.starts_with("skiffit-basic-web-") && st == "running")
            .count()
            == 2
    );
    // Compose's labels, so docker compose sees the stack as its own.
    assert_eq!(
        inspect(
            "skiffit-basic-web-2",
            "{{index .Config.Labels \"com.docker.compose.container-number\"}}"
        ),
        "2"
    );
    assert_eq!(
        inspect(
            "skiffit-basic-db-1",
            "{{index .Config.Labels \"com.docker.compose.service\"}}"
        ),
        "db"
    );
    // As docker compose does, the next up runs the completed one-shot again
    // and touches nothing else.
    let again = s.ok(&["up", "-d"]);
    assert!(
        again.contains("container skiffit-basic-migrate-1: start (stopped)"),
        "{again}"
    );
    for other in ["web-1", "web-2", "db-1", ": create", ": recreate"] {
        assert!(!again.contains(other), "{other} in {again}");
    }
    only_the_one_shot_would_run(&s, "skiffit-basic-migrate-1");
    s.ok(&["down", "-v"]);
    assert!(containers(&s.name).is_empty());
}

/// The plan is empty but for the completed one-shot, which the next `up` starts again
/// (while it still runs, the plan is empty).
fn only_the_one_shot_would_run(s: &Stack, one_shot: &str) {
    let json = s.skiff(&["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json plan");
    for a in v["actions"].as_array().expect("actions") {
        assert_eq!(
            (a["action"].as_str(), a["name"].as_str()),
            (Some("start"), Some(one_shot)),
            "{v}"
        );
    }
}

#[test]
fn plan_names_the_changed_field_and_up_recreates_only_that_service() {
    if !engine_available() {
        return;
    }
    let s = Stack::new("skiffit-change", BASIC);
    s.ok(&["up", "-d"]);
    let db_id = inspect("skiffit-change-db-1", "{{.Id}}");
    s.write(&BASIC.replace("LEVEL: \"1\"", "LEVEL: \"2\""));
    let plan = s.ok(&["plan"]);
    assert!(
        plan.contains("~ container skiffit-change-web-1: recreate (environment.LEVEL changed)"),
        "{plan}"
    );
    assert!(!plan.contains("db-1"), "{plan}");
    let json = s.skiff(&["plan", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json plan");
    let mut actions: Vec<String> = v["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["action"].as_str().unwrap_or("?"),
                a["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    actions.sort();
    // Both web replicas change; the completed one-shot runs again, as compose runs it.
    assert_eq!(
        actions,
        [
            "recreate skiffit-change-web-1",
            "recreate skiffit-change-web-2",
            "start skiffit-change-migrate-1"
        ],
        "{v}"
    );
    s.ok(&["up", "-d"]);
    assert_eq!(
        inspect("skiffit-change-db-1", "{{.Id}}"),
        db_id,
        "db was not recreated"
    );
    assert!(
        inspect("skiffit-change-web-1", "{{range .Config.Env}}{{.}} {{end}}").contains("LEVEL=2")
    );
    only_the_one_shot_would_run(&s, "skiffit-change-migrate-1");
    // Scale down through --scale, then orphans.
    s.ok(&["up", "-d", "--scale", "web=1"]);
    assert_eq!(
        containers(&s.name)
            .iter()
            .filter(|(n, _)| n.contains("-web-"))
            .count(),
        1
    );
    s.write(&BASIC.replace("  migrate:\n    image: skiff-test/busybox:1\n    command: [\"sh\", \"-c\", \"sleep 0.5; echo migrated\"]\n", "").replace("      migrate: {condition: service_completed_successfully}\n", ""));
    assert!(
        s.ok(&["plan", "--remove-orphans"])
            .contains("remove (orphan")
    );
}

#[test]
fn service_fields_reach_the_container() {
    if !engine_available() {
        return;
    }
    let s = Stack::new(
        "skiffit-fields",
        r#"
services:
  app:
    image: skiff-test/app:1
    command: ["sleep", "300"]
    user: "65534"
    working_dir: /tmp
    hostname: apphost
    environment: {A: "1"}
    labels: {team: core}
    ports: [{target: 8080, published: "18931", host_ip: 127.0.0.1, protocol: tcp}]
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    read_only: true
    init: true
    restart: on-failure:2
    stop_signal: SIGINT
    stop_grace_period: 3s
    tmpfs: [/run]
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    extra_hosts: ["db.local:10.1.2.3"]
    dns_search: [example.internal]
    sysctls: {net.core.somaxconn: "1024"}
    shm_size: 67108864
    mem_limit: 268435456
    pids_limit: 100
    networks:
      back: {aliases: [api]}
networks:
  back: {internal: true}
"#,
    );
    s.ok(&["up", "-d"]);
    let c = "skiffit-fields-app-1";
    let checks = [
        ("{{.Config.User}}", "65534"),
        ("{{.Config.WorkingDir}}", "/tmp"),
        ("{{.Config.Hostname}}", "apphost"),
        ("{{index .Config.Labels \"team\"}}", "core"),
        (
            "{{(index (index .HostConfig.PortBindings \"8080/tcp\") 0).HostPort}}",
            "18931",
        ),
        ("{{.HostConfig.CapDrop}}", "[ALL]"),
        ("{{.HostConfig.CapAdd}}", "[NET_BIND_SERVICE]"),
        ("{{.HostConfig.ReadonlyRootfs}}", "true"),
        ("{{.HostConfig.Init}}", "true"),
        (
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "on-failure:2",
        ),
        ("{{.Config.StopSignal}}", "SIGINT"),
        ("{{.Config.StopTimeout}}", "3"),
        ("{{range $k, $v := .HostConfig.Tmpfs}}{{$k}}{{end}}", "/run"),
        (
            "{{(index .HostConfig.Ulimits 0).Soft}}/{{(index .HostConfig.Ulimits 0).Hard}}",
            "1024/2048",
        ),
        ("{{.HostConfig.ExtraHosts}}", "[db.local:10.1.2.3]"),
        ("{{.HostConfig.DnsSearch}}", "[example.internal]"),
        (
            "{{index .HostConfig.Sysctls \"net.core.somaxconn\"}}",
            "1024",
        ),
        ("{{.HostConfig.ShmSize}}", "67108864"),
        ("{{.HostConfig.Memory}}", "268435456"),
        ("{{.HostConfig.PidsLimit}}", "100"),
        (
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
            "skiffit-fields_back",
        ),
    ];
    for (format, want) in checks {
        assert_eq!(inspect(c, format), want, "{format}");
    }
    assert!(inspect(c, "{{json .NetworkSettings.Networks}}").contains("\"api\""));
    assert_eq!(
        Command::new("docker")
            .args([
                "network",
                "inspect",
                "--format",
                "{{.Internal}}",
                "skiffit-fields_back"
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default(),
        "true"
    );
}

#[test]
fn unsupported_fields_fail_before_anything_changes() {
    if !engine_available() {
        return;
    }
    let s = Stack::new(
        "skiffit-unsupported",
        "services:\n  a:\n    image: skiff-test/app:1\n  b:\n    image: skiff-test/app:1\n    volumes_from: [a]\n",
    );
    let out = s.skiff(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("services.b.volumes_from"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(containers(&s.name).is_empty());
}

/// SIGKILL `skiff up` at many instants; the next `up` converges with no duplicates.
#[test]
fn killed_up_is_resumed_without_duplicates() {
    if !engine_available() {
        return;
    }
    let s = Stack::new(
        "skiffit-kill",
        r"
services:
  a: {image: skiff-test/app:1, deploy: {replicas: 3}}
  b: {image: skiff-test/app:1, depends_on: [a]}
  c: {image: skiff-test/busybox:1, command: [sleep, '300'], depends_on: [b]}
",
    );
    for (round, delay_ms) in [30u64, 80, 150, 250, 400, 600, 900].into_iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["-p", "skiffit-kill", "up", "-d"])
            .current_dir(s.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // A request the killed client had already sent still completes in the engine; a
        // person re-running `up` comes later than that.
        std::thread::sleep(Duration::from_millis(300));
        if round % 2 == 1 {
            // Also interrupt a teardown half way.
            let mut down = Command::new(env!("CARGO_BIN_EXE_skiff"))
                .args(["-p", "skiffit-kill", "down"])
                .current_dir(s.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(Duration::from_millis(delay_ms / 2));
            let _ = down.kill();
            let _ = down.wait();
            std::thread::sleep(Duration::from_millis(300));
        }
        s.ok(&["up", "-d"]);
        let names: Vec<String> = containers(&s.name).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec![
                "skiffit-kill-a-1",
                "skiffit-kill-a-2",
                "skiffit-kill-a-3",
                "skiffit-kill-b-1",
                "skiffit-kill-c-1"
            ],
            "round {round} after a kill at {delay_ms} ms"
        );
        assert!(s.ok(&["plan"]).contains("No changes"), "round {round}");
        let nets = Command::new("docker")
            .args([
                "network",
                "ls",
                "-q",
                "--filter",
                "name=skiffit-kill_default",
            ])
            .output()
            .expect("ls");
        assert_eq!(
            String::from_utf8_lossy(&nets.stdout).lines().count(),
            1,
            "exactly one network"
        );
    }
}

#[test]
fn up_is_fast_when_nothing_changed() {
    if !engine_available() {
        return;
    }
    let s = Stack::new(
        "skiffit-noop",
        "services:\n  a: {image: skiff-test/app:1}\n",
    );
    s.ok(&["up", "-d"]);
    let start = Instant::now();
    let out = s.ok(&["up", "-d"]);
    assert!(out.contains("Nothing to do"), "{out}");
    // Not a timing assertion on the machine's speed: a no-op must not touch containers at all,
    // which shows as finishing in well under the engine's container start time.
    assert!(start.elapsed() < Duration::from_secs(5));
}

const ADOPT: &str = r#"
services:
  db:
    image: skiff-test/app:1
    environment: {PORT: "5000", NAME: "a <b> & c"}
    healthcheck: {test: ["CMD", "/bin/skiff-testapp", "check", "health"], interval: 1s}
    volumes: [data:/data]
    ports: ["127.0.0.1:18940:5000"]
  web:
    image: skiff-test/app:1
    depends_on: {db: {condition: service_healthy}}
    deploy: {replicas: 2, resources: {limits: {memory: 64M}}}
    restart: unless-stopped
    labels: {team: core}
volumes:
  data: {}
"#;

#[test]
fn a_stack_started_by_docker_compose_is_adopted_without_recreating() {
    if !engine_available() {
        return;
    }
    let Some(compose) = reference_compose() else {
        return;
    };
    let s = Stack::new("skiffit-adopt", ADOPT);
    let up = Command::new(&compose)
        .args(["-p", "skiffit-adopt", "up", "-d", "--wait"])
        .current_dir(s.path())
        .output()
        .expect("compose up");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    // Names, states and IDs: a recreated container keeps its name, not its ID.
    let ids = || -> Vec<(String, String, String)> {
        containers(&s.name)
            .into_iter()
            .map(|(name, state)| {
                let id = inspect(&name, "{{.Id}}");
                (name, state, id)
            })
            .collect()
    };
    let ids_before = ids();
    assert_eq!(ids_before.len(), 3, "{ids_before:?}");
    let plan = s.ok(&["plan"]);
    assert!(
        plan.contains("No changes"),
        "skiff wants to change a stack docker compose just started:\n{plan}"
    );
    s.ok(&["up", "-d"]);
    assert_eq!(ids(), ids_before);
    let db = inspect("skiffit-adopt-db-1", "{{.Id}}");
    // And the other way round: docker compose leaves what skiff started alone.
    s.ok(&["down"]);
    s.ok(&["up", "-d"]);
    let db_skiff = inspect("skiffit-adopt-db-1", "{{.Id}}");
    assert_ne!(db, db_skiff);
    let again = Command::new(&compose)
        .args(["-p", "skiffit-adopt", "up", "-d"])
        .current_dir(s.path())
        .output()
        .expect("compose up");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        inspect("skiffit-adopt-db-1", "{{.Id}}"),
        db_skiff,
        "docker compose recreated what skiff started"
    );
}

/// The commands a team uses every day after `up`, and the fields the first field test leaves
/// out: secrets and configs as files, bind mounts, a named volume that outlives a recreate,
/// healthchecks, logging options, entrypoint and environment, and a `build:` from a context.
#[test]
fn day_two_commands_and_the_remaining_fields() {
    if !engine_available() {
        return;
    }
    let s = Stack::new(
        "skiffit-daytwo",
        r#"
services:
  app:
    image: skiff-test/app:1
    entrypoint: ["/bin/skiff-testapp"]
    environment: {GREETING: "hello there", DATA_DIR: /data}
    healthcheck: {test: ["CMD", "/bin/skiff-testapp", "check", "health"], interval: 1s, retries: 5}
    volumes:
      - data:/data
      - ./host:/host:ro
    secrets: [token]
    configs: [settings]
    logging: {driver: json-file, options: {max-size: 1m, max-file: "2"}}
  built:
    build:
      context: ./ctx
      dockerfile_inline: |
        FROM skiff-test/busybox:1
        COPY marker /marker
    command: [sleep, "300"]
volumes:
  data: {}
secrets:
  token: {file: ./token.txt}
configs:
  settings: {file: ./settings.ini}
"#,
    );
    std::fs::create_dir_all(s.path().join("host")).expect("mkdir");
    std::fs::write(s.path().join("host/hello.txt"), "from the host").expect("write");
    std::fs::write(s.path().join("token.txt"), "s3cret").expect("write");
    std::fs::write(s.path().join("settings.ini"), "[app]\nmode=test\n").expect("write");
    std::fs::create_dir_all(s.path().join("ctx")).expect("mkdir");
    std::fs::write(s.path().join("ctx/marker"), "built by skiff").expect("write");

    s.ok(&["up", "-d", "--wait"]);
    let c = "skiffit-daytwo-app-1";
    assert_eq!(inspect(c, "{{.State.Health.Status}}"), "healthy");
    assert_eq!(
        inspect(c, "{{json .Config.Entrypoint}}"),
        r#"["/bin/skiff-testapp"]"#
    );
    assert_eq!(inspect(c, "{{.HostConfig.LogConfig.Type}}"), "json-file");
    assert_eq!(
        inspect(c, "{{index .HostConfig.LogConfig.Config \"max-size\"}}"),
        "1m"
    );

    // exec reaches the running container, with its environment and files in place.
    let exec = |args: &[&str]| {
        let mut full = vec!["exec", "app"];
        full.extend_from_slice(args);
        s.ok(&full)
    };
    assert_eq!(exec(&["cat", "/host/hello.txt"]).trim(), "from the host");
    assert_eq!(exec(&["cat", "/run/secrets/token"]).trim(), "s3cret");
    assert!(exec(&["cat", "/settings"]).contains("mode=test"));
    assert_eq!(exec(&["sh", "-c", "echo $GREETING"]).trim(), "hello there");
    assert_eq!(
        s.ok(&["exec", "built", "cat", "/marker"]).trim(),
        "built by skiff"
    );
    // The read-only bind mount refuses writes.
    assert!(
        !s.skiff(&["exec", "app", "sh", "-c", "echo x > /host/new"])
            .status
            .success()
    );

    // ps lists both services; JSON for scripts.
    let ps = s.ok(&["ps", "--format", "json"]);
    assert!(
        ps.contains("skiffit-daytwo-app-1") && ps.contains("skiffit-daytwo-built-1"),
        "{ps}"
    );

    // logs show what the app printed, with the service prefix.
    exec(&["/bin/skiff-testapp", "check", "hello-from-the-test"]);
    let logs = s.ok(&["logs", "app"]);
    assert!(logs.contains("hello-from-the-test"), "{logs}");
    assert!(
        logs.lines()
            .all(|l| l.starts_with("skiffit-daytwo-app-1 | ")),
        "every line carries its container's prefix:\n{logs}"
    );

    // stop keeps the container; start resumes it; restart gives it a new start time.
    s.ok(&["stop", "app"]);
    assert_eq!(inspect(c, "{{.State.Status}}"), "exited");
    s.ok(&["start", "app"]);
    assert_eq!(inspect(c, "{{.State.Status}}"), "running");
    let started = inspect(c, "{{.State.StartedAt}}");
    s.ok(&["restart", "app"]);
    assert_ne!(inspect(c, "{{.State.StartedAt}}"), started);

    // Data in a named volume outlives a recreate caused by a changed field.
    exec(&["sh", "-c", "echo kept > /data/proof"]);
    s.write(
        &std::fs::read_to_string(s.path().join("compose.yaml"))
            .expect("read")
            .replace("hello there", "hello again"),
    );
    let plan = s.ok(&["plan"]);
    assert!(plan.contains("environment.GREETING"), "{plan}");
    assert!(
        !plan.contains("hello again"),
        "a plan must not print values:\n{plan}"
    );
    let before = inspect(c, "{{.Id}}");
    s.ok(&["up", "-d", "--wait"]);
    assert_ne!(
        inspect(c, "{{.Id}}"),
        before,
        "the changed field recreated app"
    );
    assert_eq!(exec(&["sh", "-c", "echo $GREETING"]).trim(), "hello again");
    assert_eq!(exec(&["cat", "/data/proof"]).trim(), "kept");

    // down -v removes the volume too.
    assert_eq!(volumes(&s.name), ["skiffit-daytwo_data"]);
    s.ok(&["down", "-v"]);
    assert_eq!(volumes(&s.name), Vec::<String>::new());
}
