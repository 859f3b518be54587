//! `x-skiff.alerts`: webhooks called with a JSON body when something needs a person (a
//! crash loop, a failed backup or drill, a backup older than its schedule allows).
//!
//! Each call is a task of its own with a timeout: a slow or dead webhook never stalls the
//! loop. A webhook URL often carries a token, so it is never logged: a failure names the
//! alert by its key.

use std::collections::BTreeMap;
use std::time::Duration;

use skiff_model::xskiff::{Alert, AlertEvent};
use skiff_store::{Event, Kind};

/// How long one webhook call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The alerts of every project the daemon owns.
#[derive(Debug)]
pub(crate) struct Alerts {
    projects: BTreeMap<String, BTreeMap<String, Alert>>,
    client: Option<reqwest::Client>,
}

/// What an event is to an alert's `on:` list; `None` when no alert follows it.
pub(crate) fn alert_event(kind: Kind) -> Option<AlertEvent> {
    Some(match kind {
        Kind::CrashLoop => AlertEvent::CrashLoop,
        Kind::BackupFailed | Kind::VerifyFailed => AlertEvent::BackupFailed,
        Kind::BackupStale => AlertEvent::BackupStale,
        Kind::JobFailed | Kind::JobTimedOut => AlertEvent::JobFailed,
        Kind::JobMissed => AlertEvent::JobMissed,
        _ => return None,
    })
}

impl Alerts {
    pub(crate) fn new() -> Alerts {
        let client = reqwest::Client::builder().timeout(TIMEOUT).build();
        if let Err(error) = &client {
            tracing::error!(%error, "no HTTP client: alerts are off");
        }
        Alerts {
            projects: BTreeMap::new(),
            client: client.ok(),
        }
    }

    pub(crate) fn set(&mut self, project: &str, alerts: BTreeMap<String, Alert>) {
        self.projects.insert(project.to_owned(), alerts);
    }

    pub(crate) fn forget(&mut self, project: &str) {
        self.projects.remove(project);
    }

    /// Calls the project's webhooks that follow this event (an empty `on:` follows all).
    pub(crate) fn notify(&self, event: &Event) {
        let (Some(what), Some(project), Some(client)) =
            (alert_event(event.kind), &event.project, &self.client)
        else {
            return;
        };
        let Some(alerts) = self.projects.get(project) else {
            return;
        };
        for (key, alert) in alerts {
            if !alert.on.is_empty() && !alert.on.contains(&what) {
                continue;
            }
            let body = serde_json::json!({
                "alert": key,
                "event": what,
                "project": project,
                "service": event.service,
                "instance": event.instance,
                "time": event.time,
                "kind": event.kind,
                "trigger": event.trigger,
                "detail": event.detail,
            });
            let request = client
                .post(&alert.webhook)
                .header("content-type", "application/json")
                .body(body.to_string());
            let key = key.clone();
            let project = project.clone();
            tokio::spawn(async move {
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::info!(alert = key, project, "alert sent");
                    }
                    Ok(r) => tracing::warn!(
                        alert = key,
                        project,
                        status = r.status().as_u16(),
                        "the alert's webhook refused it"
                    ),
                    // The error's text may hold the URL: only its kind is logged.
                    Err(e) => tracing::warn!(
                        alert = key,
                        project,
                        timeout = e.is_timeout(),
                        connect = e.is_connect(),
                        "the alert's webhook could not be reached"
                    ),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_needs_a_person_alerts() {
        assert_eq!(alert_event(Kind::CrashLoop), Some(AlertEvent::CrashLoop));
        assert_eq!(
            alert_event(Kind::VerifyFailed),
            Some(AlertEvent::BackupFailed)
        );
        assert_eq!(
            alert_event(Kind::BackupStale),
            Some(AlertEvent::BackupStale)
        );
        assert_eq!(alert_event(Kind::Restarted), None);
        assert_eq!(alert_event(Kind::BackupSucceeded), None);
    }
}
