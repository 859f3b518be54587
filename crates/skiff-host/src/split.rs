//! A [`Runtime`] over two runtimes: containers and host processes. Pure routing: which side
//! each action goes to (by the desired service for what is made, by the instance's ID for
//! what exists), and a move between sides as the old instance removed on its side, then
//! the new one created on the other. Unit-tested against recording fakes.

use skiff_plan::{Action, Observed, Removal};
use skiff_runtime::{Readiness, Runtime, RuntimeError};

/// Which runtime an action's instance lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Container,
    Process,
}

/// The side of an existing instance, by its ID (`process:<service>-<n>` is a process).
#[must_use]
pub fn side_of_id(id: &str) -> Side {
    if skiff_process::parse_instance_id(id).is_some() {
        Side::Process
    } else {
        Side::Container
    }
}

/// The steps that carry out an action: each on one side, in order.
#[must_use]
pub fn route(action: &Action, is_process: &dyn Fn(&str) -> bool) -> Vec<(Side, Action)> {
    let side_of_service = |s: &str| {
        if is_process(s) {
            Side::Process
        } else {
            Side::Container
        }
    };
    match action {
        Action::CreateNetwork { .. } | Action::CreateVolume { .. } => {
            vec![(Side::Container, action.clone())]
        }
        Action::Create { service, .. } => vec![(side_of_service(service), action.clone())],
        Action::Start { id, .. } | Action::Remove { id, .. } | Action::Stop { id, .. } => {
            vec![(side_of_id(id), action.clone())]
        }
        Action::Recreate {
            service,
            number,
            id,
            name,
            ..
        } => {
            let (from, to) = (side_of_id(id), side_of_service(service));
            if from == to {
                return vec![(to, action.clone())];
            }
            // The old instance goes first: it may hold the ports the new one needs.
            vec![
                (
                    from,
                    Action::Remove {
                        service: service.clone(),
                        id: id.clone(),
                        name: name.clone(),
                        reason: Removal::ScaleDown,
                    },
                ),
                (
                    to,
                    Action::Create {
                        service: service.clone(),
                        number: *number,
                        name: name.clone(),
                    },
                ),
            ]
        }
    }
}

/// Two runtimes as one. `containers` is `None` when the stack has no container service: an
/// action for it is then an error, and nothing is observed there.
pub struct Split<'a, C, P, F> {
    pub containers: Option<&'a C>,
    pub processes: P,
    pub is_process: F,
}

impl<C: Runtime, P: Runtime, F: Fn(&str) -> bool + Sync> Split<'_, C, P, F> {
    fn containers(&self, what: &str) -> Result<&C, RuntimeError> {
        self.containers.ok_or_else(|| {
            RuntimeError::new(
                what.to_owned(),
                "this needs the Docker Engine, and the stack has no container service",
            )
        })
    }
}

fn what(action: &Action) -> String {
    match action {
        Action::CreateNetwork { name, .. } | Action::CreateVolume { name, .. } => {
            format!("create {name}")
        }
        Action::Create { name, .. } => format!("create {name}"),
        Action::Start { name, .. } => format!("start {name}"),
        Action::Remove { name, .. } => format!("remove {name}"),
        Action::Stop { name, .. } => format!("stop {name}"),
        Action::Recreate { name, .. } => format!("recreate {name}"),
    }
}

impl<C: Runtime, P: Runtime, F: Fn(&str) -> bool + Sync> Runtime for Split<'_, C, P, F> {
    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        for (side, step) in route(action, &self.is_process) {
            match side {
                Side::Process => self.processes.apply(&step).await?,
                Side::Container => self.containers(&what(&step))?.apply(&step).await?,
            }
        }
        Ok(())
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        if (self.is_process)(service) {
            self.processes.readiness(service).await
        } else {
            self.containers("observe")?.readiness(service).await
        }
    }

    async fn prepare(&self, action: &Action) {
        if let (Some(service), Some(containers)) = (action.service(), self.containers)
            && !(self.is_process)(service)
        {
            containers.prepare(action).await;
        }
    }

    async fn observe(&self) -> Result<Observed, RuntimeError> {
        let mut observed = match self.containers {
            Some(c) => c.observe().await?,
            None => Observed::default(),
        };
        observed
            .instances
            .extend(self.processes.observe().await?.instances);
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use skiff_plan::{Instance, State};

    /// Records what it is asked; observes what it was given.
    #[derive(Default)]
    struct Recording {
        applied: Mutex<Vec<Action>>,
        asked: Mutex<Vec<String>>,
        instances: Vec<Instance>,
    }

    impl Runtime for Recording {
        async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
            self.applied.lock().expect("lock").push(action.clone());
            Ok(())
        }
        async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
            self.asked.lock().expect("lock").push(service.to_owned());
            Ok((Readiness::Started, false))
        }
        async fn observe(&self) -> Result<Observed, RuntimeError> {
            Ok(Observed {
                instances: self.instances.clone(),
                ..Observed::default()
            })
        }
    }

    fn applied(r: &Recording) -> Vec<Action> {
        r.applied.lock().expect("lock").clone()
    }

    fn api_is_a_process(s: &str) -> bool {
        s == "api"
    }

    fn create(service: &str) -> Action {
        Action::Create {
            service: service.into(),
            number: 1,
            name: format!("p-{service}-1"),
        }
    }

    fn recreate(service: &str, id: &str) -> Action {
        Action::Recreate {
            service: service.into(),
            number: 1,
            id: id.into(),
            name: format!("p-{service}-1"),
            reason: skiff_plan::Reason::HashChanged,
        }
    }

    #[tokio::test]
    async fn actions_go_to_the_side_that_owns_them() {
        let (c, p) = (Recording::default(), Recording::default());
        let split = Split {
            containers: Some(&c),
            processes: &p,
            is_process: &api_is_a_process,
        };
        let network = Action::CreateNetwork {
            key: "default".into(),
            name: "p_default".into(),
        };
        let start_process = Action::Start {
            service: "api".into(),
            id: "process:api-1".into(),
            name: "p-api-1".into(),
        };
        let remove_container = Action::Remove {
            service: "old".into(),
            id: "0123abcd".into(),
            name: "p-old-1".into(),
            reason: Removal::Orphan,
        };
        for a in [
            &network,
            &create("api"),
            &create("db"),
            &start_process,
            &remove_container,
        ] {
            split.apply(a).await.expect("applied");
        }
        assert_eq!(applied(&c), [network, create("db"), remove_container]);
        assert_eq!(applied(&p), [create("api"), start_process]);
        split.readiness("api").await.expect("asked");
        split.readiness("db").await.expect("asked");
        assert_eq!(*p.asked.lock().expect("lock"), ["api"]);
        assert_eq!(*c.asked.lock().expect("lock"), ["db"]);
    }

    #[tokio::test]
    async fn a_service_moving_between_runtimes_is_removed_then_created_on_the_other_side() {
        let (c, p) = (Recording::default(), Recording::default());
        let split = Split {
            containers: Some(&c),
            processes: &p,
            is_process: &api_is_a_process,
        };
        // `api` ran in a container and is a process now (`--native`, or x-skiff.runtime).
        split
            .apply(&recreate("api", "0123abcd"))
            .await
            .expect("moved");
        assert_eq!(
            applied(&c),
            [Action::Remove {
                service: "api".into(),
                id: "0123abcd".into(),
                name: "p-api-1".into(),
                reason: Removal::ScaleDown,
            }]
        );
        assert_eq!(applied(&p), [create("api")]);
        // And back: the process goes, a container comes.
        let (c, p) = (Recording::default(), Recording::default());
        let none = |_: &str| false;
        let split = Split {
            containers: Some(&c),
            processes: &p,
            is_process: &none,
        };
        split
            .apply(&recreate("api", "process:api-1"))
            .await
            .expect("moved");
        assert_eq!(applied(&p).len(), 1);
        assert!(matches!(applied(&p)[0], Action::Remove { .. }));
        assert_eq!(applied(&c), [create("api")]);
        // A recreate on one side stays one action there.
        split
            .apply(&recreate("db", "4567ef"))
            .await
            .expect("recreated");
        assert_eq!(applied(&c)[1], recreate("db", "4567ef"));
    }

    #[tokio::test]
    async fn without_containers_a_container_action_fails_and_nothing_is_observed_there() {
        let p = Recording {
            instances: vec![Instance {
                service: "api".into(),
                number: 1,
                id: "process:api-1".into(),
                name: "p-api-1".into(),
                hash: "h".into(),
                state: State::Running,
                config: None,
                image_id: None,
            }],
            ..Recording::default()
        };
        let split: Split<'_, Recording, &Recording, _> = Split {
            containers: None,
            processes: &p,
            is_process: &api_is_a_process,
        };
        let err = split.apply(&create("db")).await.expect_err("no engine");
        assert!(err.to_string().contains("needs the Docker Engine"), "{err}");
        assert!(split.readiness("db").await.is_err());
        let observed = split.observe().await.expect("observed");
        assert_eq!(observed.instances.len(), 1);
        assert!(observed.networks.is_empty());
    }
}
