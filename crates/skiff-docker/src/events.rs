//! The engine's event stream, narrowed to what a supervisor needs: Compose containers that
//! started, died (with their exit code), changed health, or were destroyed.
//!
//! The stream is filtered by the engine to containers carrying a Compose project label;
//! each event is decoded from its attributes (the container's labels and name come with
//! every container event). Events of other kinds (`exec_start`, `attach`, ...) are dropped.

use std::collections::HashMap;

use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{Stream, StreamExt};

use crate::engine::{Engine, EngineError};
use crate::labels;

/// What happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerChange {
    Started,
    /// Its main process ended (`128 + n` for signal `n`).
    Died {
        exit_code: i64,
    },
    Healthy,
    Unhealthy,
    /// It no longer exists.
    Destroyed,
}

/// One event of a Compose container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub project: String,
    pub service: String,
    /// The container's name.
    pub name: String,
    pub id: String,
    pub change: ContainerChange,
}

impl Engine {
    /// The events of every Compose container from now on. The stream ends (or errs) when the
    /// connection to the engine does; the caller reconnects, and observes in between.
    pub fn container_events(&self) -> impl Stream<Item = Result<ContainerEvent, EngineError>> {
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("label".to_owned(), vec![labels::PROJECT.to_owned()]),
            (
                "event".to_owned(),
                ["start", "die", "health_status", "destroy"]
                    .map(str::to_owned)
                    .to_vec(),
            ),
        ]);
        let options = EventsOptionsBuilder::default().filters(&filters).build();
        self.docker
            .events(Some(options))
            .filter_map(|message| async move {
                match message {
                    Err(e) => Some(Err(EngineError::call("follow the engine's events")(e))),
                    Ok(m) => {
                        let actor = m.actor?;
                        decode(m.action.as_deref()?, actor.id?, &actor.attributes?).map(Ok)
                    }
                }
            })
    }
}

/// An event from its action and the actor's attributes; `None` for what is not followed.
fn decode(
    action: &str,
    id: String,
    attributes: &HashMap<String, String>,
) -> Option<ContainerEvent> {
    let change = match action {
        "start" => ContainerChange::Started,
        "die" => ContainerChange::Died {
            exit_code: attributes
                .get("exitCode")
                .and_then(|c| c.parse().ok())
                .unwrap_or(-1),
        },
        "destroy" => ContainerChange::Destroyed,
        // `health_status: healthy`; newer engines may send the status alone.
        a if a.starts_with("health_status") => match a.rsplit(':').next().map(str::trim) {
            Some("healthy") => ContainerChange::Healthy,
            Some("unhealthy") => ContainerChange::Unhealthy,
            _ => return None,
        },
        _ => return None,
    };
    // One-off containers (`run`, job runs) are not instances of their service.
    if attributes.get(labels::ONEOFF).is_some_and(|v| v == "True") {
        return None;
    }
    Some(ContainerEvent {
        project: attributes.get(labels::PROJECT)?.clone(),
        service: attributes.get(labels::SERVICE)?.clone(),
        name: attributes.get("name").cloned().unwrap_or_default(),
        id,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            (labels::PROJECT, "shop"),
            (labels::SERVICE, "web"),
            ("name", "shop-web-1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        m.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        m
    }

    #[test]
    fn one_off_containers_are_not_followed() {
        assert_eq!(
            decode("die", "id".into(), &attrs(&[(labels::ONEOFF, "True")])),
            None
        );
        assert!(decode("die", "id".into(), &attrs(&[(labels::ONEOFF, "False")])).is_some());
    }

    #[test]
    fn engine_actions_become_changes() {
        let cases = [
            ("start", attrs(&[]), Some(ContainerChange::Started)),
            (
                "die",
                attrs(&[("exitCode", "137")]),
                Some(ContainerChange::Died { exit_code: 137 }),
            ),
            (
                "health_status: healthy",
                attrs(&[]),
                Some(ContainerChange::Healthy),
            ),
            (
                "health_status: unhealthy",
                attrs(&[]),
                Some(ContainerChange::Unhealthy),
            ),
            ("health_status: starting", attrs(&[]), None),
            ("destroy", attrs(&[]), Some(ContainerChange::Destroyed)),
            ("exec_start: sh", attrs(&[]), None),
        ];
        for (action, attributes, want) in cases {
            let got = decode(action, "abc".into(), &attributes).map(|e| e.change);
            assert_eq!(got, want, "{action}");
        }
        let e = decode("start", "abc".into(), &attrs(&[])).expect("event");
        assert_eq!(
            (e.project.as_str(), e.service.as_str(), e.name.as_str()),
            ("shop", "web", "shop-web-1")
        );
        let mut no_project = attrs(&[]);
        no_project.remove(labels::PROJECT);
        assert_eq!(decode("start", "abc".into(), &no_project), None);
    }
}
