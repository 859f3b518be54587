use proptest::prelude::*;
use serde_json::json;

use super::*;

fn service(name: &str, replicas: u32, hash: &str, deps: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        replicas,
        hash: hash.to_owned(),
        config: json!({"image": hash}),
        fixed_name: None,
        depends_on: deps
            .iter()
            .map(|d| Dependency {
                service: (*d).to_owned(),
                condition: Condition::ServiceStarted,
                required: true,
                restart: true,
            })
            .collect(),
        restart: Restart::No,
        image_id: None,
    }
}

fn instance(service: &str, number: u32, hash: &str, state: State) -> Instance {
    Instance {
        id: format!("{service}-{number}-{hash}"),
        name: format!("p-{service}-{number}"),
        service: service.to_owned(),
        number,
        hash: hash.to_owned(),
        config: Some(json!({"image": hash})),
        state,
        image_id: None,
    }
}

/// The recording fake: what the world looks like after the plan ran.
fn execute(desired: &Desired, observed: &Observed, plan: &Plan) -> Observed {
    let mut world = observed.clone();
    for p in &plan.actions {
        match &p.action {
            Action::CreateNetwork { name, .. } => world.networks.push(name.clone()),
            Action::CreateVolume { name, .. } => world.volumes.push(name.clone()),
            Action::Create {
                service,
                number,
                name,
            }
            | Action::Recreate {
                service,
                number,
                name,
                ..
            } => {
                if let Action::Recreate { id, .. } = &p.action {
                    world.instances.retain(|i| &i.id != id);
                }
                let spec = desired
                    .services
                    .iter()
                    .find(|s| &s.name == service)
                    .expect("declared");
                world.instances.push(Instance {
                    id: format!("new-{name}-{}", spec.hash),
                    name: name.clone(),
                    service: service.clone(),
                    number: *number,
                    hash: spec.hash.clone(),
                    config: Some(spec.config.clone()),
                    state: State::Running,
                    image_id: spec.image_id.clone(),
                });
            }
            Action::Start { id, .. } => {
                for i in &mut world.instances {
                    if &i.id == id {
                        i.state = State::Running;
                    }
                }
            }
            Action::Remove { id, .. } => world.instances.retain(|i| &i.id != id),
            Action::Stop { id, .. } => {
                for i in &mut world.instances {
                    if &i.id == id {
                        i.state = State::Exited(0);
                    }
                }
            }
        }
    }
    world
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

#[test]
fn fresh_project_creates_network_then_services_in_dependency_order() {
    let d = desired(vec![
        service("web", 1, "h1", &["db"]),
        service("db", 1, "h2", &[]),
    ]);
    let p = plan(&d, &Observed::default(), &PlanOptions::default()).expect("plan");
    let summary: Vec<(usize, String)> = p
        .actions
        .iter()
        .map(|a| {
            (
                a.wave,
                match &a.action {
                    Action::Create { name, .. } | Action::CreateNetwork { name, .. } => {
                        name.clone()
                    }
                    other => format!("{other:?}"),
                },
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "p_default".into()),
            (1, "p-db-1".into()),
            (2, "p-web-1".into())
        ]
    );
}

#[test]
fn unchanged_project_plans_nothing() {
    let d = desired(vec![service("web", 2, "h1", &[])]);
    let o = Observed {
        instances: vec![
            instance("web", 1, "h1", State::Running),
            instance("web", 2, "h1", State::Running),
        ],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    assert!(
        plan(&d, &o, &PlanOptions::default())
            .expect("plan")
            .is_empty()
    );
}

#[test]
fn changed_config_names_the_fields() {
    let mut web = service("web", 1, "h2", &[]);
    web.config = json!({"image": "nginx", "environment": {"A": "2"}});
    let mut old = instance("web", 1, "h1", State::Running);
    old.config = Some(json!({"image": "nginx", "environment": {"A": "1"}}));
    let o = Observed {
        instances: vec![old],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let p = plan(&desired(vec![web]), &o, &PlanOptions::default()).expect("plan");
    assert_eq!(
        p.actions[0].action,
        Action::Recreate {
            service: "web".into(),
            number: 1,
            id: "web-1-h1".into(),
            name: "p-web-1".into(),
            reason: Reason::ConfigChanged {
                fields: vec!["environment.A".into()]
            }
        }
    );
}

#[test]
fn adopted_instance_without_config_reports_hash_change() {
    let mut old = instance("web", 1, "other", State::Running);
    old.config = None;
    let o = Observed {
        instances: vec![old],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let p = plan(
        &desired(vec![service("web", 1, "h1", &[])]),
        &o,
        &PlanOptions::default(),
    )
    .expect("plan");
    assert!(matches!(
        &p.actions[0].action,
        Action::Recreate {
            reason: Reason::HashChanged,
            ..
        }
    ));
}

#[test]
fn scale_down_removes_obsolete_then_highest_numbers() {
    let o = Observed {
        instances: vec![
            instance("web", 1, "h1", State::Running),
            instance("web", 2, "old", State::Running),
            instance("web", 3, "h1", State::Running),
        ],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let p = plan(
        &desired(vec![service("web", 1, "h1", &[])]),
        &o,
        &PlanOptions::default(),
    )
    .expect("plan");
    let removed: Vec<&str> = p
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::Remove { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, vec!["p-web-2", "p-web-3"]);
}

#[test]
fn orphans_are_removed_only_when_asked() {
    let o = Observed {
        instances: vec![instance("gone", 1, "h", State::Running)],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let d = desired(vec![]);
    assert!(
        plan(&d, &o, &PlanOptions::default())
            .expect("plan")
            .is_empty()
    );
    let p = plan(
        &d,
        &o,
        &PlanOptions {
            remove_orphans: true,
            ..PlanOptions::default()
        },
    )
    .expect("plan");
    assert!(matches!(
        p.actions[0].action,
        Action::Remove {
            reason: Removal::Orphan,
            ..
        }
    ));
}

#[test]
fn completed_one_shot_is_left_alone_but_crashed_service_is_started() {
    let d = desired(vec![
        service("migrate", 1, "h", &[]),
        service("web", 1, "h", &[]),
    ]);
    let o = Observed {
        instances: vec![
            instance("migrate", 1, "h", State::Exited(0)),
            instance("web", 1, "h", State::Exited(137)),
        ],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let p = plan(&d, &o, &PlanOptions::default()).expect("plan");
    assert_eq!(p.actions.len(), 1);
    assert!(matches!(&p.actions[0].action, Action::Start { service, .. } if service == "web"));
}

#[test]
fn up_runs_a_completed_one_shot_again() {
    let d = desired(vec![
        service("migrate", 1, "h", &[]),
        service("web", 1, "h", &["migrate"]),
    ]);
    let o = Observed {
        instances: vec![
            instance("migrate", 1, "h", State::Exited(0)),
            instance("web", 1, "h", State::Running),
        ],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let opts = PlanOptions {
        rerun_completed: true,
        ..PlanOptions::default()
    };
    let p = plan(&d, &o, &opts).expect("plan");
    let started: Vec<&str> = p
        .actions
        .iter()
        .filter(|a| matches!(a.action, Action::Start { .. }))
        .filter_map(|a| a.action.service())
        .collect();
    assert_eq!(started, ["migrate"]);
}

#[test]
fn a_declared_restart_is_read_as_compose_reads_it() {
    assert_eq!(Restart::declared("", None), Ok(None));
    assert_eq!(Restart::declared("no", None), Ok(Some(Restart::No)));
    assert_eq!(
        Restart::declared("on-failure:3", None),
        Ok(Some(Restart::OnFailure {
            max_retries: Some(3)
        }))
    );
    // deploy.restart_policy wins, its condition mapped as compose maps it.
    assert_eq!(
        Restart::declared("always", Some(("none", None))),
        Ok(Some(Restart::No))
    );
    assert_eq!(
        Restart::declared("", Some(("", None))),
        Ok(Some(Restart::Always))
    );
    assert_eq!(
        Restart::declared("", Some(("on-failure", Some(2)))),
        Ok(Some(Restart::OnFailure {
            max_retries: Some(2)
        }))
    );
    assert_eq!(
        Restart::declared("", Some(("on-failure", Some(0)))),
        Ok(Some(Restart::OnFailure { max_retries: None }))
    );
    assert!(Restart::declared("sometimes", None).is_err());
}

#[test]
fn cycles_are_reported_with_their_path() {
    let d = desired(vec![
        service("a", 1, "h", &["b"]),
        service("b", 1, "h", &["a"]),
    ]);
    let err = plan(&d, &Observed::default(), &PlanOptions::default()).expect_err("cycle");
    assert_eq!(
        err,
        PlanError::Cycle(vec!["a".into(), "b".into(), "a".into()])
    );
}

#[test]
fn selecting_a_service_brings_its_dependencies() {
    let d = desired(vec![
        service("web", 1, "h", &["db"]),
        service("db", 1, "h", &[]),
        service("other", 1, "h", &[]),
    ]);
    let p = plan(
        &d,
        &Observed::default(),
        &PlanOptions {
            only: vec!["web".into()],
            ..PlanOptions::default()
        },
    )
    .expect("plan");
    let services: BTreeSet<&str> = p
        .actions
        .iter()
        .filter_map(|a| a.action.service())
        .collect();
    assert_eq!(services, BTreeSet::from(["db", "web"]));
}

fn arb_state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::Running),
        Just(State::Created),
        Just(State::Exited(0)),
        Just(State::Exited(1)),
        Just(State::Dead)
    ]
}

proptest! {
    /// Any desired state and any observed state: executing the plan reaches the desired
    /// state, and planning again finds nothing to do.
    #[test]
    fn plan_converges(
        replicas in proptest::collection::vec(0u32..4, 1..5),
        hashes in proptest::collection::vec(0u8..3, 1..5),
        observed in proptest::collection::vec((0usize..6, 1u32..6, 0u8..3, arb_state()), 0..12),
        chain in any::<bool>(),
    ) {
        let names = ["a", "b", "c", "d", "e"];
        let services: Vec<ServiceSpec> = replicas.iter().enumerate().map(|(i, r)| {
            let deps: Vec<&str> = if chain && i > 0 { vec![names[i - 1]] } else { vec![] };
            let mut s = service(names[i], *r, &format!("h{}", hashes.get(i).copied().unwrap_or(0)), &deps);
            s.restart = Restart::Always;
            s
        }).collect();
        let d = desired(services);
        let mut seen = BTreeSet::new();
        let instances: Vec<Instance> = observed.iter().filter_map(|(s, n, h, st)| {
            let svc = ["a", "b", "c", "d", "e", "zz"][*s];
            seen.insert((svc, *n)).then(|| instance(svc, *n, &format!("h{h}"), *st))
        }).collect();
        let o = Observed { instances, networks: vec![], volumes: vec![] };
        let opts = PlanOptions { remove_orphans: true, ..PlanOptions::default() };
        let p = plan(&d, &o, &opts).expect("plan");
        let after = execute(&d, &o, &p);
        for s in &d.services {
            let mine: Vec<&Instance> = after.instances.iter().filter(|i| i.service == s.name).collect();
            prop_assert_eq!(mine.len(), s.replicas as usize);
            prop_assert!(mine.iter().all(|i| i.hash == s.hash && i.state == State::Running));
            let numbers: BTreeSet<u32> = mine.iter().map(|i| i.number).collect();
            prop_assert_eq!(numbers.len(), mine.len(), "instance numbers are unique");
        }
        prop_assert!(after.instances.iter().all(|i| d.services.iter().any(|s| s.name == i.service)));
        let again = plan(&d, &after, &opts).expect("plan");
        prop_assert!(again.is_empty(), "second plan: {:?}", again);
    }
}

#[test]
fn an_image_that_moved_under_the_same_name_recreates_with_that_reason() {
    let mut web = service("web", 1, "h1", &[]);
    web.image_id = Some("sha256:new".into());
    let d = desired(vec![web]);
    let mut running = instance("web", 1, "h1", State::Running);
    running.image_id = Some("sha256:old".into());
    let observed = Observed {
        instances: vec![running.clone()],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    let p = plan(&d, &observed, &PlanOptions::default()).expect("plan");
    assert_eq!(p.actions.len(), 1);
    assert!(matches!(
        &p.actions[0].action,
        Action::Recreate { reason: Reason::ImageChanged { from, to }, .. }
            if from == "sha256:old" && to == "sha256:new"
    ));
    // An instance with no recorded image (made before skiff recorded it) is left alone.
    running.image_id = None;
    let observed = Observed {
        instances: vec![running],
        networks: vec!["p_default".into()],
        volumes: vec![],
    };
    assert!(
        plan(&d, &observed, &PlanOptions::default())
            .expect("plan")
            .is_empty()
    );
}

#[test]
fn restart_policies_parse_and_print_as_compose_writes_them() {
    for (text, policy) in [
        ("no", Restart::No),
        ("always", Restart::Always),
        ("unless-stopped", Restart::UnlessStopped),
        ("on-failure", Restart::OnFailure { max_retries: None }),
        (
            "on-failure:3",
            Restart::OnFailure {
                max_retries: Some(3),
            },
        ),
    ] {
        assert_eq!(text.parse::<Restart>(), Ok(policy));
        assert_eq!(policy.to_string(), text);
        assert_eq!(serde_json::to_value(policy).expect("json"), text);
    }
    for bad in ["sometimes", "on-failure:", "on-failure:x", "always:3"] {
        assert!(bad.parse::<Restart>().is_err(), "{bad}");
    }
}

#[test]
fn on_failure_counts_its_retries() {
    let on_failure = |max| Restart::OnFailure { max_retries: max };
    assert!(!Restart::No.restarts(Some(1), 0));
    assert!(Restart::Always.restarts(Some(0), 1000));
    assert!(!on_failure(None).restarts(Some(0), 0));
    // Unknown, or unhealthy: a failure.
    assert!(on_failure(None).restarts(None, 7));
    assert!(on_failure(Some(2)).restarts(Some(1), 1));
    assert!(!on_failure(Some(2)).restarts(Some(1), 2));
    assert!(!on_failure(Some(0)).restarts(Some(1), 0));
}

#[test]
fn stop_waves_take_orphans_first_then_dependants_before_dependencies() {
    let d = desired(vec![
        service("db", 1, "h", &[]),
        service("api", 1, "h", &["db"]),
        service("web", 1, "h", &["api"]),
        service("cache", 1, "h", &[]),
    ]);
    let instances = vec![
        instance("api", 1, "h", State::Running),
        instance("old", 1, "h", State::Running),
    ];
    assert_eq!(
        crate::order::stop_waves(&d, &instances),
        vec![
            vec!["old".to_owned()],
            vec!["web".to_owned()],
            vec!["api".to_owned()],
            vec!["cache".to_owned(), "db".to_owned()],
        ]
    );
}

#[test]
fn a_dependency_cycle_stops_everything_in_one_wave() {
    let d = desired(vec![
        service("a", 1, "h", &["b"]),
        service("b", 1, "h", &["a"]),
    ]);
    assert_eq!(
        crate::order::stop_waves(&d, &[]),
        vec![vec!["a".to_owned(), "b".to_owned()]]
    );
}

#[test]
fn down_removes_everything_and_stop_stops_what_runs_in_stop_order() {
    let d = desired(vec![
        service("db", 1, "h", &[]),
        service("api", 1, "h", &["db"]),
    ]);
    let instances = vec![
        instance("db", 1, "h", State::Running),
        instance("api", 1, "h", State::Running),
        instance("api", 2, "h", State::Exited(0)),
        instance("gone", 1, "h", State::Running),
    ];
    let down = crate::stop_plan(&d, &instances, true);
    let steps: Vec<(usize, &str)> = down
        .actions
        .iter()
        .map(|p| (p.wave, p.action.service().unwrap_or_default()))
        .collect();
    assert_eq!(steps, [(0, "gone"), (1, "api"), (1, "api"), (2, "db")]);
    assert!(down.actions.iter().all(|p| matches!(
        p.action,
        Action::Remove {
            reason: Removal::Down,
            ..
        }
    )));
    let stop = crate::stop_plan(&d, &instances, false);
    assert_eq!(stop.actions.len(), 3, "the exited instance is left alone");
    assert!(
        stop.actions
            .iter()
            .all(|p| matches!(p.action, Action::Stop { .. }))
    );
}
