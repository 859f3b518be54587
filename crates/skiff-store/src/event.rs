//! What the history holds: one [`Event`] per thing that happened, and the [`Filter`] that
//! selects them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened, with what triggered it.
///
/// Never holds environment values: the daemon records names, codes, states and reasons.
/// Times are kept to the millisecond.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: DateTime<Utc>,
    pub kind: Kind,
    /// The project it concerns; `None` for the daemon's own events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The instance's name (`{project}-{service}-{number}` or its fixed name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// What caused it, in words (`exited with code 1`, `unhealthy`, `deploy`, `drift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Anything else, as JSON (an action, a delay, an error); `null` when nothing.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl Event {
    /// An event of this kind at this time, about nothing in particular yet.
    #[must_use]
    pub fn new(time: DateTime<Utc>, kind: Kind) -> Event {
        Event {
            time,
            kind,
            project: None,
            service: None,
            instance: None,
            exit_code: None,
            health: None,
            trigger: None,
            detail: serde_json::Value::Null,
        }
    }

    #[must_use]
    pub fn project(mut self, project: impl Into<String>) -> Event {
        self.project = Some(project.into());
        self
    }

    #[must_use]
    pub fn service(mut self, service: impl Into<String>) -> Event {
        self.service = Some(service.into());
        self
    }

    #[must_use]
    pub fn instance(mut self, instance: impl Into<String>) -> Event {
        self.instance = Some(instance.into());
        self
    }

    #[must_use]
    pub fn exit_code(mut self, code: i64) -> Event {
        self.exit_code = Some(code);
        self
    }

    #[must_use]
    pub fn health(mut self, health: Health) -> Event {
        self.health = Some(health);
        self
    }

    #[must_use]
    pub fn trigger(mut self, trigger: impl Into<String>) -> Event {
        self.trigger = Some(trigger.into());
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: serde_json::Value) -> Event {
        self.detail = detail;
        self
    }
}

/// An event as stored: with its id, which grows with every append and is never reused (a
/// cursor for "what came after").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub id: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// What kind of thing happened. Stored by name ([`Kind::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The daemon started.
    DaemonStarted,
    /// The daemon stopped (the services it supervised keep running).
    DaemonStopped,
    /// A project was handed to the daemon; restart counts start over.
    Deploy,
    /// A deploy finished: every action was carried out.
    Deployed,
    /// A deploy finished with failed actions (`detail` lists them).
    DeployFailed,
    /// A plan action was carried out (`detail` is the action).
    Action,
    /// A plan action failed (`detail`: the action and the error).
    ActionFailed,
    /// An instance runs.
    Started,
    /// An instance's main process ended (`exit_code`).
    Exited,
    /// An instance's health changed (`health`).
    Health,
    /// An instance is gone (removed by a plan or by hand).
    Removed,
    /// A restart was decided (`detail`: the attempt and the delay).
    RestartScheduled,
    /// A restart was carried out.
    Restarted,
    /// A restart could not be carried out (`detail`: the error).
    RestartFailed,
    /// Too many restarts in a short time: restarts slow down or stop, and someone should look.
    CrashLoop,
    /// An instance in a crash loop stayed up long enough to count as recovered.
    Recovered,
    /// What runs differs from what was deployed (`detail`: the actions that would repair it).
    Drift,
    /// A reconcile pass that found something to do.
    Reconciled,
    /// A project was handed back (`skiff down`, `skiff stop`): the daemon no longer
    /// supervises it.
    Released,
    /// A scheduled backup was published (`detail`: backup, snapshot, size, added).
    BackupSucceeded,
    /// A scheduled backup failed (`detail`: backup, error); nothing was published.
    BackupFailed,
    /// A restore drill passed (`detail`: backup, snapshot, checks).
    Verified,
    /// A restore drill failed or could not run (`detail`: backup, error or checks).
    VerifyFailed,
    /// A backup's last success is older than its schedule allows (`detail`: backup, since).
    BackupStale,
    /// A job's run started (`detail`: job, run, due, attempt, trigger, service).
    JobStarted,
    /// A job's run exited 0 (`detail`: job, run, seconds, output).
    JobSucceeded,
    /// A job's run failed: a non-zero exit (`exit_code`), or it could not start, or it was
    /// lost with a daemon (`detail`: job, run, seconds, error, output).
    JobFailed,
    /// A job's run outlived its timeout and was stopped (`detail`: job, run, seconds, output).
    JobTimedOut,
    /// A job's run was due while an earlier one still ran (`overlap: forbid`).
    JobSkipped,
    /// A job's due times passed while no daemon ran (`detail`: job, count, last).
    JobMissed,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 30] = [
        Kind::DaemonStarted,
        Kind::DaemonStopped,
        Kind::Deploy,
        Kind::Deployed,
        Kind::DeployFailed,
        Kind::Action,
        Kind::ActionFailed,
        Kind::Started,
        Kind::Exited,
        Kind::Health,
        Kind::Removed,
        Kind::RestartScheduled,
        Kind::Restarted,
        Kind::RestartFailed,
        Kind::CrashLoop,
        Kind::Recovered,
        Kind::Drift,
        Kind::Reconciled,
        Kind::Released,
        Kind::BackupSucceeded,
        Kind::BackupFailed,
        Kind::Verified,
        Kind::VerifyFailed,
        Kind::BackupStale,
        Kind::JobStarted,
        Kind::JobSucceeded,
        Kind::JobFailed,
        Kind::JobTimedOut,
        Kind::JobSkipped,
        Kind::JobMissed,
    ];

    /// The stored (and serialised) name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DaemonStarted => "daemon_started",
            Kind::DaemonStopped => "daemon_stopped",
            Kind::Deploy => "deploy",
            Kind::Deployed => "deployed",
            Kind::DeployFailed => "deploy_failed",
            Kind::Action => "action",
            Kind::ActionFailed => "action_failed",
            Kind::Started => "started",
            Kind::Exited => "exited",
            Kind::Health => "health",
            Kind::Removed => "removed",
            Kind::RestartScheduled => "restart_scheduled",
            Kind::Restarted => "restarted",
            Kind::RestartFailed => "restart_failed",
            Kind::CrashLoop => "crash_loop",
            Kind::Recovered => "recovered",
            Kind::Drift => "drift",
            Kind::Reconciled => "reconciled",
            Kind::Released => "released",
            Kind::BackupSucceeded => "backup_succeeded",
            Kind::BackupFailed => "backup_failed",
            Kind::Verified => "verified",
            Kind::VerifyFailed => "verify_failed",
            Kind::BackupStale => "backup_stale",
            Kind::JobStarted => "job_started",
            Kind::JobSucceeded => "job_succeeded",
            Kind::JobFailed => "job_failed",
            Kind::JobTimedOut => "job_timed_out",
            Kind::JobSkipped => "job_skipped",
            Kind::JobMissed => "job_missed",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Kind, UnknownName> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// An instance's health, as its healthcheck says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// The stored (and serialised) name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Health {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Health, UnknownName> {
        [Health::Starting, Health::Healthy, Health::Unhealthy]
            .into_iter()
            .find(|h| h.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_owned()))
    }
}

/// A kind or health name this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

/// Which events a query returns. Every field narrows; the default selects everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// At or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// With an id greater than this one (a cursor from an earlier answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Any of these kinds; empty means every kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<Kind>,
    /// At most this many: the newest ones, still in the order they happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// How long history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this go...
    pub max_age: std::time::Duration,
    /// ...except the newest this many of each service (and of the daemon's own events), so
    /// that a quiet service keeps its last words.
    pub keep_at_least: usize,
}

impl Default for Retention {
    /// 30 days, and at least the last 100 events of each service.
    fn default() -> Retention {
        Retention {
            max_age: std::time::Duration::from_secs(30 * 24 * 3600),
            keep_at_least: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_and_match_serde() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("serialise"),
                serde_json::Value::String(kind.as_str().to_owned())
            );
        }
        assert!("exploded".parse::<Kind>().is_err());
    }

    #[test]
    fn health_names_round_trip_and_match_serde() {
        for h in [Health::Starting, Health::Healthy, Health::Unhealthy] {
            assert_eq!(h.as_str().parse::<Health>(), Ok(h));
            assert_eq!(
                serde_json::to_value(h).expect("serialise"),
                serde_json::Value::String(h.as_str().to_owned())
            );
        }
    }
}
