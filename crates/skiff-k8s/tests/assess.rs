//! The assess verdict on small and large stacks (fixtures under `tests/fixtures/`).

use std::path::Path;

use skiff_compose::fs::OsFiles;
use skiff_compose::{Loaded, Request};
use skiff_k8s::{Assessment, History, Host, Signal, Stack, Verdict, assess};

fn load(name: &str) -> Loaded {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let mut req = Request::new(
        dir.to_string_lossy().into_owned(),
        indexmap::IndexMap::new(),
    );
    req.files = vec![dir.join("compose.yaml").to_string_lossy().into_owned()];
    match skiff_compose::load(&req, &OsFiles) {
        Ok(l) => l,
        Err((e, _)) => panic!("fixture {name} does not load: {e}"),
    }
}

/// An 8-CPU, 32 GiB machine.
const HOST: Host = Host {
    cpus: 8.0,
    memory: 32 << 30,
};

fn check(name: &str, history: Option<&History>, host: &Host) -> Assessment {
    let loaded = load(name);
    let stack = Stack::new(
        &loaded.project,
        &loaded.extensions.project,
        &loaded.extensions.services,
    );
    assess(&stack, history, host)
}

fn points(a: &Assessment, signal: Signal) -> u32 {
    a.reasons
        .iter()
        .find(|r| r.signal == signal)
        .map_or(0, |r| r.points)
}

#[test]
fn small_stack_is_not_ready() {
    let a = check("small", None, &HOST);
    assert_eq!(a.verdict, Verdict::NotNow, "{a}");
    assert_eq!(a.score, 0, "{a}");
    assert_eq!(a.not_now.len(), 1);
    assert_eq!(a.not_now[0].what, "Kubernetes");
    insta::assert_snapshot!("small_text", a.to_string());
}

#[test]
fn large_stack_graduates() {
    let history = History {
        days: 14,
        deploys: 60,
        restarts: 20,
        peak_cpus: Some(6.5),
        peak_memory: Some(30 << 30),
    };
    let a = check("large", Some(&history), &HOST);
    assert_eq!(a.verdict, Verdict::Graduate, "{a}");
    for (signal, want) in [
        (Signal::IndependentLifecycles, 2),
        (Signal::AsyncWork, 2),
        (Signal::Replicas, 2),
        (Signal::Capacity, 4),
        (Signal::Environments, 2),
        (Signal::DeployFrequency, 2),
        (Signal::Restarts, 1),
        (Signal::DataBoundaries, 2),
    ] {
        assert_eq!(points(&a, signal), want, "{signal:?} in\n{a}");
    }
    assert_eq!(a.score, a.max_score);
    // the database stays where it is for now
    assert!(
        a.not_now.iter().any(|p| p.what.contains("db")),
        "{:?}",
        a.not_now
    );
    insta::assert_snapshot!("large_text", a.to_string());
    insta::assert_json_snapshot!("large_json", a);
}

#[test]
fn a_stack_beyond_its_host_graduates_on_capacity_alone() {
    let tiny = Host {
        cpus: 1.0,
        memory: 512 << 20,
    };
    let a = check("small", None, &tiny);
    assert_eq!(a.verdict, Verdict::Graduate, "{a}");
    assert_eq!(points(&a, Signal::Capacity), 4);
    assert!(a.score < a.graduate_at, "{a}");
}

#[test]
fn history_moves_a_stack_toward_graduation() {
    // without history the large stack minus its host pressure still prepares or graduates;
    // the small one needs more than frequent deploys to move
    let busy = History {
        days: 7,
        deploys: 40,
        restarts: 10,
        peak_cpus: None,
        peak_memory: None,
    };
    let a = check("small", Some(&busy), &HOST);
    assert_eq!(points(&a, Signal::DeployFrequency), 2);
    assert_eq!(points(&a, Signal::Restarts), 1);
    assert_eq!(a.verdict, Verdict::NotNow, "{a}");
}

#[test]
fn environments_and_boundaries_alone_prepare() {
    let loaded = load("small");
    let mut skiff = loaded.extensions.project.clone();
    for env in ["dev", "staging", "production"] {
        skiff
            .environments
            .insert(env.to_owned(), Default::default());
    }
    for (name, members) in [("data", "db"), ("app", "app")] {
        let boundary: skiff_model::xskiff::Boundary =
            serde_json::from_value(serde_json::json!({ "services": [members] })).expect("boundary");
        skiff.boundaries.insert(name.to_owned(), boundary);
    }
    let stack = Stack::new(&loaded.project, &skiff, &loaded.extensions.services);
    let a = assess(&stack, None, &HOST);
    assert_eq!(a.score, 4, "{a}");
    assert_eq!(a.verdict, Verdict::Prepare, "{a}");
    assert_eq!(a.not_now[0].what, "moving production");
}
