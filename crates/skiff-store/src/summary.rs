//! Where each service stands, folded from its events: what `skiff status` shows.
//!
//! Pure: [`summarize`] takes the events of one service (and the deploys of its project) in
//! the order they happened. Only lifecycle kinds count; the same fold serves the daemon and
//! a CLI that reads the store without one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, Health, Kind};

/// One service, as its history tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub project: String,
    pub service: String,
    pub state: ServiceState,
    /// Instances running now.
    pub running: u32,
    /// Instances known (not removed).
    pub instances: u32,
    /// The worst health among instances that report one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Restarts since the project was last deployed.
    pub restarts: u32,
    /// When the most recently started of the running instances started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
}

/// The state of a service as a whole, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// An instance restarts too often; restarts are slowed down or held.
    CrashLoop,
    /// An instance waits for its restart.
    Restarting,
    /// No instance runs.
    Exited,
    /// Some instances run, not all.
    Degraded,
    /// Every instance runs.
    Running,
}

impl ServiceState {
    /// The name it is stored and serialised under.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::CrashLoop => "crash_loop",
            ServiceState::Restarting => "restarting",
            ServiceState::Exited => "exited",
            ServiceState::Degraded => "degraded",
            ServiceState::Running => "running",
        }
    }
}

/// The last thing that went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub time: DateTime<Utc>,
    pub message: String,
}

#[derive(Debug, Default)]
struct InstanceView {
    running_since: Option<DateTime<Utc>>,
    restart_pending: bool,
    crash_loop: bool,
    health: Option<Health>,
    removed: bool,
}

/// Folds one service's events (with its project's `deploy` events among them, in order) into
/// its summary; `None` when no instance of it is left.
#[must_use]
pub fn summarize(project: &str, service: &str, events: &[Event]) -> Option<ServiceSummary> {
    let mut instances: BTreeMap<&str, InstanceView> = BTreeMap::new();
    let mut restarts = 0u32;
    let mut last_error: Option<LastError> = None;
    for e in events {
        if e.kind == Kind::Deploy && e.service.is_none() {
            restarts = 0;
            for view in instances.values_mut() {
                view.crash_loop = false;
            }
            continue;
        }
        if e.service.as_deref() != Some(service) {
            continue;
        }
        let error = |message: String| {
            Some(LastError {
                time: e.time,
                message,
            })
        };
        match e.kind {
            Kind::ActionFailed | Kind::RestartFailed | Kind::DeployFailed => {
                last_error = error(describe(e));
            }
            Kind::CrashLoop => last_error = error(describe(e)),
            _ => {}
        }
        let Some(name) = e.instance.as_deref() else {
            continue;
        };
        let view = instances.entry(name).or_default();
        match e.kind {
            Kind::Started | Kind::Restarted => {
                if e.kind == Kind::Restarted {
                    restarts = restarts.saturating_add(1);
                }
                if view.running_since.is_none() {
                    view.running_since = Some(e.time);
                }
                view.restart_pending = false;
                view.removed = false;
                view.health = None;
            }
            Kind::Exited => {
                view.running_since = None;
                view.health = None;
                if let Some(code) = e.exit_code.filter(|c| *c != 0) {
                    last_error = error(format!("exited with code {code}"));
                }
            }
            Kind::Health => {
                view.health = e.health;
                if e.health == Some(Health::Unhealthy) {
                    last_error = error("unhealthy".to_owned());
                }
            }
            Kind::RestartScheduled => view.restart_pending = true,
            Kind::CrashLoop => view.crash_loop = true,
            Kind::Recovered => view.crash_loop = false,
            Kind::Removed => {
                *view = InstanceView {
                    removed: true,
                    ..InstanceView::default()
                }
            }
            _ => {}
        }
    }
    let live: Vec<&InstanceView> = instances.values().filter(|v| !v.removed).collect();
    if live.is_empty() {
        return None;
    }
    let running: Vec<&&InstanceView> = live.iter().filter(|v| v.running_since.is_some()).collect();
    let state = if live.iter().any(|v| v.crash_loop) {
        ServiceState::CrashLoop
    } else if live.iter().any(|v| v.restart_pending) {
        ServiceState::Restarting
    } else if running.len() == live.len() {
        ServiceState::Running
    } else if running.is_empty() {
        ServiceState::Exited
    } else {
        ServiceState::Degraded
    };
    let health = live
        .iter()
        .filter_map(|v| v.health)
        .max_by_key(|h| match h {
            Health::Healthy => 0,
            Health::Starting => 1,
            Health::Unhealthy => 2,
        });
    Some(ServiceSummary {
        project: project.to_owned(),
        service: service.to_owned(),
        state,
        running: u32::try_from(running.len()).unwrap_or(u32::MAX),
        instances: u32::try_from(live.len()).unwrap_or(u32::MAX),
        health,
        restarts,
        up_since: running.iter().filter_map(|v| v.running_since).max(),
        last_error,
    })
}

/// An error event in words: its trigger, and the error in its detail when there is one.
fn describe(e: &Event) -> String {
    let error = e.detail.get("error").and_then(|v| {
        v.as_str()
            .map(str::to_owned)
            .or_else(|| Some(v.to_string()))
    });
    match (e.kind, &e.trigger, error) {
        (Kind::CrashLoop, Some(t), _) => format!("crash loop: {t}"),
        (Kind::CrashLoop, None, _) => "crash loop".to_owned(),
        (_, Some(t), Some(err)) => format!("{t}: {err}"),
        (_, None, Some(err)) => err,
        (_, Some(t), None) => t.clone(),
        (kind, None, None) => kind.as_str().replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_names_are_their_serialised_names() {
        use super::ServiceState as S;
        for s in [
            S::CrashLoop,
            S::Restarting,
            S::Exited,
            S::Degraded,
            S::Running,
        ] {
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
    }

    use serde_json::json;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time")
    }

    fn ev(s: i64, kind: Kind, instance: &str) -> Event {
        Event::new(at(s), kind)
            .project("p")
            .service("web")
            .instance(instance)
    }

    fn deploy(s: i64) -> Event {
        Event::new(at(s), Kind::Deploy).project("p")
    }

    fn check(events: &[Event], expect: Option<(ServiceState, u32, u32, u32, Option<i64>)>) {
        let got = summarize("p", "web", events)
            .map(|s| (s.state, s.running, s.instances, s.restarts, s.up_since));
        let expect = expect.map(|(state, running, instances, restarts, since)| {
            (state, running, instances, restarts, since.map(at))
        });
        assert_eq!(got, expect);
    }

    #[test]
    fn running_after_start() {
        check(
            &[deploy(0), ev(1, Kind::Started, "web-1")],
            Some((ServiceState::Running, 1, 1, 0, Some(1))),
        );
    }

    #[test]
    fn restart_pending_then_restarted_counts() {
        let events = [
            deploy(0),
            ev(1, Kind::Started, "web-1"),
            ev(5, Kind::Exited, "web-1").exit_code(1),
            ev(5, Kind::RestartScheduled, "web-1"),
        ];
        check(&events, Some((ServiceState::Restarting, 0, 1, 0, None)));
        let mut more = events.to_vec();
        more.push(ev(15, Kind::Restarted, "web-1"));
        check(&more, Some((ServiceState::Running, 1, 1, 1, Some(15))));
        let s = summarize("p", "web", &more).expect("summary");
        assert_eq!(
            s.last_error,
            Some(LastError {
                time: at(5),
                message: "exited with code 1".into()
            })
        );
    }

    #[test]
    fn a_deploy_starts_restart_counts_over_but_keeps_instances() {
        check(
            &[
                ev(1, Kind::Started, "web-1"),
                ev(2, Kind::Exited, "web-1").exit_code(1),
                ev(2, Kind::Restarted, "web-1"),
                deploy(3),
            ],
            Some((ServiceState::Running, 1, 1, 0, Some(2))),
        );
    }

    #[test]
    fn crash_loop_wins_until_recovered() {
        let events = vec![
            ev(1, Kind::Started, "web-1"),
            ev(2, Kind::Started, "web-2"),
            ev(3, Kind::CrashLoop, "web-2").trigger("6 restarts within 600s"),
            ev(4, Kind::Restarted, "web-2"),
        ];
        check(&events, Some((ServiceState::CrashLoop, 2, 2, 1, Some(2))));
        assert_eq!(
            summarize("p", "web", &events)
                .and_then(|s| s.last_error)
                .map(|e| e.message),
            Some("crash loop: 6 restarts within 600s".into())
        );
        let mut recovered = events;
        recovered.push(ev(100, Kind::Recovered, "web-2"));
        check(&recovered, Some((ServiceState::Running, 2, 2, 1, Some(2))));
    }

    #[test]
    fn some_down_is_degraded_and_all_down_is_exited() {
        let events = vec![
            ev(1, Kind::Started, "web-1"),
            ev(1, Kind::Started, "web-2"),
            ev(2, Kind::Exited, "web-2").exit_code(0),
        ];
        check(&events, Some((ServiceState::Degraded, 1, 2, 0, Some(1))));
        let mut all = events;
        all.push(ev(3, Kind::Exited, "web-1").exit_code(0));
        check(&all, Some((ServiceState::Exited, 0, 2, 0, None)));
        assert_eq!(summarize("p", "web", &all).and_then(|s| s.last_error), None);
    }

    #[test]
    fn removed_instances_leave_and_a_service_without_any_is_gone() {
        check(
            &[
                ev(1, Kind::Started, "web-1"),
                ev(1, Kind::Started, "web-2"),
                ev(2, Kind::Removed, "web-2"),
            ],
            Some((ServiceState::Running, 1, 1, 0, Some(1))),
        );
        check(
            &[ev(1, Kind::Started, "web-1"), ev(2, Kind::Removed, "web-1")],
            None,
        );
    }

    #[test]
    fn worst_health_and_errors_from_details() {
        let events = vec![
            ev(1, Kind::Started, "web-1"),
            ev(1, Kind::Started, "web-2"),
            ev(2, Kind::Health, "web-1").health(Health::Healthy),
            ev(3, Kind::Health, "web-2").health(Health::Unhealthy),
            ev(4, Kind::RestartFailed, "web-2")
                .trigger("unhealthy")
                .detail(json!({"error": "no such container"})),
        ];
        let s = summarize("p", "web", &events).expect("summary");
        assert_eq!(s.health, Some(Health::Unhealthy));
        assert_eq!(
            s.last_error.map(|e| e.message),
            Some("unhealthy: no such container".into())
        );
    }

    #[test]
    fn other_services_do_not_count() {
        let other = Event::new(at(1), Kind::Started)
            .project("p")
            .service("db")
            .instance("db-1");
        check(&[other], None);
    }
}
