use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;
use skiff_plan::{Dependency, Observed, PlanOptions, ResourceSpec, Restart, ServiceSpec, plan};

use super::*;

/// A recording fake: every action takes 50 ms; a created service is `Started` at once and
/// becomes `Healthy` (or exits) after its scripted delay.
#[derive(Default)]
struct Fake {
    log: Mutex<Vec<(u128, String)>>,
    ready_at: Mutex<HashMap<String, tokio::time::Instant>>,
    script: HashMap<String, (Duration, Readiness)>,
    fail: Option<String>,
    /// What creating an instance costs, when the fake can prepare (create ahead): a prepared
    /// `Create` then costs only the start (50 ms), an unprepared one both.
    create_cost: Option<Duration>,
    prepared: Mutex<Vec<String>>,
}

impl Fake {
    fn now_ms(&self) -> u128 {
        tokio::time::Instant::now().elapsed().as_millis()
    }
}

impl Runtime for Fake {
    async fn prepare(&self, action: &Action) {
        if let (Some(cost), Some(s)) = (self.create_cost, action.service()) {
            tokio::time::sleep(cost).await;
            self.prepared.lock().expect("lock").push(s.to_owned());
        }
    }

    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        if let (Some(cost), Action::Create { service, .. }) = (self.create_cost, action)
            && !self.prepared.lock().expect("lock").contains(service)
        {
            tokio::time::sleep(cost).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let name = format!("{action:?}");
        self.log.lock().expect("lock").push((self.now_ms(), name));
        if let Some(s) = action.service() {
            if self.fail.as_deref() == Some(s) {
                return Err(RuntimeError::new(format!("create {s}"), "boom"));
            }
            self.ready_at
                .lock()
                .expect("lock")
                .insert(s.to_owned(), tokio::time::Instant::now());
        }
        Ok(())
    }

    async fn observe(&self) -> Result<skiff_plan::Observed, RuntimeError> {
        Ok(skiff_plan::Observed::default())
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        let Some(created) = self.ready_at.lock().expect("lock").get(service).copied() else {
            return Ok((Readiness::Pending, false));
        };
        let (delay, end) = self
            .script
            .get(service)
            .copied()
            .unwrap_or((Duration::ZERO, Readiness::Healthy));
        let healthcheck = self.script.contains_key(service);
        if created.elapsed() >= delay {
            Ok((end, healthcheck))
        } else {
            Ok((Readiness::Started, healthcheck))
        }
    }
}

fn spec(name: &str, deps: &[(&str, Condition)]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        replicas: 1,
        hash: "h".into(),
        config: json!({}),
        fixed_name: None,
        depends_on: deps
            .iter()
            .map(|(d, c)| Dependency {
                service: (*d).into(),
                condition: *c,
                required: true,
                restart: false,
            })
            .collect(),
        restart: Restart::No,
        image_id: None,
    }
}

fn desired(services: Vec<ServiceSpec>) -> Desired {
    Desired {
        project: "p".into(),
        services,
        networks: vec![ResourceSpec {
            key: "default".into(),
            name: "p_default".into(),
            external: false,
        }],
        volumes: vec![],
    }
}

/// Plans `d` from nothing, runs it on the fake, and says how long it took (paused time).
async fn run_timed(fake: &Fake, d: &Desired, on_event: &(dyn Fn(Event) + Sync)) -> Duration {
    let p = plan(d, &Observed::default(), &PlanOptions::default()).expect("plan");
    let started = tokio::time::Instant::now();
    execute(fake, d, &p, &ExecOptions::default(), on_event)
        .await
        .expect("runs");
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn independent_services_start_in_parallel() {
    let d = desired(vec![spec("a", &[]), spec("b", &[]), spec("c", &[])]);
    let took = run_timed(&Fake::default(), &d, &|_| {}).await;
    // network (50 ms) then the three services together (50 ms), not 4 x 50 ms.
    assert_eq!(took, Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn instances_are_created_while_their_dependencies_come_up() {
    let d = desired(vec![
        spec("db", &[]),
        spec("api", &[("db", Condition::ServiceHealthy)]),
        spec("web", &[("api", Condition::ServiceHealthy)]),
    ]);
    let healthy_after = (Duration::from_secs(2), Readiness::Healthy);
    let fake = Fake {
        script: HashMap::from([
            ("db".to_owned(), healthy_after),
            ("api".to_owned(), healthy_after),
        ]),
        create_cost: Some(Duration::from_millis(500)),
        ..Fake::default()
    };
    let took = run_timed(&fake, &d, &|_| {}).await;
    // Network 50 ms; the three created together (500 ms); then only the chain: db starts
    // (50), healthy 2 s later, api starts (50), healthy 2 s later, web starts (50). Created
    // one after the other behind the gates, it would take 1 s more.
    assert!(
        took >= Duration::from_millis(4700) && took < Duration::from_millis(4950),
        "{took:?}"
    );
    assert_eq!(fake.prepared.lock().expect("lock").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn waits_for_healthy_dependency() {
    let d = desired(vec![
        spec("db", &[]),
        spec("web", &[("db", Condition::ServiceHealthy)]),
    ]);
    let fake = Fake {
        script: HashMap::from([(
            "db".to_owned(),
            (Duration::from_secs(2), Readiness::Healthy),
        )]),
        ..Fake::default()
    };
    let seen = Mutex::new(Vec::new());
    let on_event = |e: Event| seen.lock().expect("lock").push(e);
    let took = run_timed(&fake, &d, &on_event).await;
    // network 50 ms, db 50 ms, 2 s until healthy (polled every 100 ms), web 50 ms.
    assert!(
        took >= Duration::from_millis(2150) && took < Duration::from_millis(2300),
        "{took:?}"
    );
    let seen = seen.lock().expect("lock");
    assert!(seen.iter().any(|e| matches!(e, Event::Waiting { service, dependency, condition: Condition::ServiceHealthy } if service == "web" && dependency == "db")));
}

#[tokio::test(start_paused = true)]
async fn failed_one_shot_blocks_its_dependents() {
    let d = desired(vec![
        spec("migrate", &[]),
        spec(
            "web",
            &[("migrate", Condition::ServiceCompletedSuccessfully)],
        ),
    ]);
    let p = plan(&d, &Observed::default(), &PlanOptions::default()).expect("plan");
    let fake = Fake {
        script: HashMap::from([(
            "migrate".to_owned(),
            (Duration::from_millis(300), Readiness::Exited(2)),
        )]),
        ..Fake::default()
    };
    let errors = execute(&fake, &d, &p, &ExecOptions::default(), &|_| {})
        .await
        .expect_err("fails");
    assert!(
        errors[0].message.contains("exited with code 2"),
        "{errors:?}"
    );
    assert!(
        fake.log
            .lock()
            .expect("lock")
            .iter()
            .all(|(_, a)| !a.contains("\"web\"")),
        "web was never created"
    );
}

#[tokio::test(start_paused = true)]
async fn dependency_timeout_says_what_it_waited_for() {
    let d = desired(vec![
        spec("db", &[]),
        spec("web", &[("db", Condition::ServiceHealthy)]),
    ]);
    let p = plan(&d, &Observed::default(), &PlanOptions::default()).expect("plan");
    let fake = Fake {
        script: HashMap::from([(
            "db".to_owned(),
            (Duration::from_secs(3600), Readiness::Healthy),
        )]),
        ..Fake::default()
    };
    let opts = ExecOptions {
        dependency_timeout: Duration::from_secs(5),
        ..ExecOptions::default()
    };
    let errors = execute(&fake, &d, &p, &opts, &|_| {})
        .await
        .expect_err("times out");
    assert!(
        errors[0]
            .message
            .contains("did not become healthy within 5s"),
        "{errors:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_stops_later_waves_and_reports_the_cause() {
    let d = desired(vec![
        spec("db", &[]),
        spec("web", &[("db", Condition::ServiceStarted)]),
    ]);
    let p = plan(&d, &Observed::default(), &PlanOptions::default()).expect("plan");
    let fake = Fake {
        fail: Some("db".into()),
        ..Fake::default()
    };
    let errors = execute(&fake, &d, &p, &ExecOptions::default(), &|_| {})
        .await
        .expect_err("fails");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].what, "create db");
    assert!(
        errors[1].message.contains("dependency db failed"),
        "{errors:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_starts_when_its_own_dependencies_are_ready_not_the_whole_wave() {
    // b depends on a (ready at once); c is independent but takes 2 s to become healthy;
    // d depends on c. b must not wait for c.
    let d = desired(vec![
        spec("a", &[]),
        spec("b", &[("a", Condition::ServiceStarted)]),
        spec("c", &[]),
        spec("d", &[("c", Condition::ServiceHealthy)]),
    ]);
    let p = plan(&d, &Observed::default(), &PlanOptions::default()).expect("plan");
    let fake = Fake {
        script: HashMap::from([("c".to_owned(), (Duration::from_secs(2), Readiness::Healthy))]),
        ..Fake::default()
    };
    let started = tokio::time::Instant::now();
    let done: Mutex<HashMap<String, Duration>> = Mutex::new(HashMap::new());
    let on_event = |e: Event| {
        if let Event::Done { action, .. } = e
            && let Some(s) = action.service()
        {
            done.lock()
                .expect("lock")
                .insert(s.to_owned(), started.elapsed());
        }
    };
    execute(&fake, &d, &p, &ExecOptions::default(), &on_event)
        .await
        .expect("runs");
    let done = done.lock().expect("lock");
    assert!(
        done["b"] < Duration::from_millis(200),
        "b done at {:?}",
        done["b"]
    );
    assert!(
        done["d"] >= Duration::from_secs(2),
        "d done at {:?}",
        done["d"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_plan_runs_wave_by_wave_and_every_wave_runs_whatever_failed_before() {
    let d = desired(vec![
        spec("db", &[]),
        spec("api", &[("db", Condition::ServiceStarted)]),
        spec("web", &[("api", Condition::ServiceStarted)]),
        spec("cache", &[]),
    ]);
    let running = |service: &str| skiff_plan::Instance {
        id: format!("{service}-id"),
        name: format!("p-{service}-1"),
        service: service.into(),
        number: 1,
        hash: "h".into(),
        config: None,
        state: skiff_plan::State::Running,
        image_id: None,
    };
    let instances: Vec<_> = ["db", "api", "web", "cache"].map(running).into();
    let p = skiff_plan::stop_plan(&d, &instances, true);
    let fake = Fake {
        fail: Some("web".into()),
        ..Fake::default()
    };
    let started = tokio::time::Instant::now();
    let errors = execute_waves(&fake, &p, &|_| {})
        .await
        .expect_err("web fails");
    assert_eq!(errors.len(), 1);
    // web, then api, then db and cache together: three waves of 50 ms.
    assert_eq!(started.elapsed(), Duration::from_millis(150));
    let log = fake.log.lock().expect("lock").clone();
    let at = |service: &str| {
        log.iter()
            .position(|(_, a)| a.contains(&format!("service: \"{service}\"")))
            .expect("removed")
    };
    assert!(at("web") < at("api"), "{log:?}");
    assert!(at("api") < at("db") && at("api") < at("cache"), "{log:?}");
}
