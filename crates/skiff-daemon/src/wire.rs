//! The API's JSON bodies, shared by the server and [`crate::Client`]. Version 1: the paths
//! carry it (`/v1/...`); fields are only ever added.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skiff_model::xskiff;
use skiff_plan::Action;
use skiff_store::{Filter, Kind, Recorded, ServiceSummary};

/// A loaded stack as `skiff up -d` hands it to the daemon: the project after loading (the
/// canonical Compose dict, environment values included; never logged) and the command's
/// choices. The daemon makes the same stack of it without reading any file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSource {
    pub name: String,
    pub working_dir: String,
    pub config_files: Vec<String>,
    pub canonical: serde_json::Value,
    /// `--native` services.
    #[serde(default)]
    pub native: Vec<String>,
    /// `--scale` overrides.
    #[serde(default)]
    pub scale: BTreeMap<String, u32>,
    /// Where process records and logs live, as the client worked it out.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Services the active profiles left out (still declared: a backup may name one).
    #[serde(default)]
    pub left_out: Vec<String>,
}

impl StackSource {
    /// A project of this name and document, with no choices of the command's.
    #[must_use]
    pub fn new(name: &str, canonical: serde_json::Value) -> StackSource {
        StackSource {
            name: name.to_owned(),
            working_dir: String::new(),
            config_files: Vec::new(),
            canonical,
            native: Vec::new(),
            scale: BTreeMap::new(),
            state_dir: None,
            left_out: Vec::new(),
        }
    }
}

/// `POST /v1/projects/{name}/deploy`: what `skiff up -d` hands the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The loaded project. Kept in memory and in the deployments directory (0600) only: it
    /// holds environment values, which the history never does.
    pub project: StackSource,
    /// The project's `x-skiff.daemon` section: backoff and drift policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<xskiff::Daemon>,
    /// Remove instances of services no longer declared.
    #[serde(default)]
    pub remove_orphans: bool,
    /// The project's `x-skiff.alerts`: webhooks the daemon calls on crash loops, failed and
    /// stale backups.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub alerts: std::collections::BTreeMap<String, xskiff::Alert>,
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployOutcome {
    pub project: String,
    /// The plan that was executed.
    pub actions: Vec<Action>,
    /// The actions that failed, in words; empty when the deploy succeeded.
    pub errors: Vec<String>,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub services: Vec<ServiceStatus>,
}

/// One service: its summary from the history, and what the loop has scheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    #[serde(flatten)]
    pub summary: ServiceSummary,
    /// When the next restart of one of its instances is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_restart: Option<DateTime<Utc>>,
}

/// `GET /v1/events` query parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsQuery {
    /// RFC 3339; at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Only events with a greater id (to follow the history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Kinds, comma-separated (`exited,restarted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// At most this many, the newest (default [`EventsQuery::DEFAULT_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl EventsQuery {
    pub const DEFAULT_LIMIT: usize = 10_000;

    /// The store's filter.
    ///
    /// # Errors
    /// A kind that does not exist, in words.
    pub fn filter(&self) -> Result<Filter, String> {
        let kinds = self
            .kind
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                k.parse::<Kind>().map_err(|_| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    format!("unknown event kind {k:?} (known: {})", known.join(", "))
                })
            })
            .collect::<Result<Vec<Kind>, String>>()?;
        Ok(Filter {
            since: self.since,
            until: self.until,
            after: self.after,
            project: self.project.clone(),
            service: self.service.clone(),
            kinds,
            limit: Some(self.limit.unwrap_or(Self::DEFAULT_LIMIT)),
        })
    }
}

/// `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsResponse {
    pub events: Vec<Recorded>,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_parsed_and_unknown_ones_named() {
        let q = EventsQuery {
            kind: Some("exited, restarted".into()),
            ..EventsQuery::default()
        };
        let f = q.filter().expect("filter");
        assert_eq!(f.kinds, [Kind::Exited, Kind::Restarted]);
        assert_eq!(f.limit, Some(EventsQuery::DEFAULT_LIMIT));
        let bad = EventsQuery {
            kind: Some("exploded".into()),
            ..EventsQuery::default()
        };
        let err = bad.filter().expect_err("unknown kind");
        assert!(err.starts_with("unknown event kind \"exploded\" (known: daemon_started"));
    }

    #[test]
    fn a_query_survives_url_encoding() {
        let q = EventsQuery {
            since: DateTime::from_timestamp(1_750_000_000, 0),
            service: Some("web".into()),
            kind: Some("exited,restarted".into()),
            limit: Some(5),
            ..EventsQuery::default()
        };
        let text = serde_urlencoded::to_string(&q).expect("encode");
        assert_eq!(
            serde_urlencoded::from_str::<EventsQuery>(&text).expect("decode"),
            q
        );
    }
}
