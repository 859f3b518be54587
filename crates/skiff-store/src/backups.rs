//! Per backup, from its runs and drills in the history (what `skiff status` shows).

use chrono::{DateTime, Utc};

use crate::{Kind, Recorded};

/// One backup, from its runs and drills in the history.
#[derive(Debug, serde::Serialize)]
pub struct BackupSummary {
    pub project: String,
    pub backup: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    /// The size of the last successful backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_verified: Option<DateTime<Utc>>,
    /// `<time> (backup|drill): <first line of the error>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

/// Per backup, from its runs and drills in the history: the last success and its size, the
/// last passed drill, the last failure.
#[must_use]
pub fn summarize_backups(events: &[Recorded]) -> Vec<BackupSummary> {
    let mut rows: std::collections::BTreeMap<(String, String), BackupSummary> =
        std::collections::BTreeMap::new();
    for r in events {
        let e = &r.event;
        let (Some(project), Some(backup)) = (&e.project, e.detail["backup"].as_str()) else {
            continue;
        };
        let row = rows
            .entry((project.clone(), backup.to_owned()))
            .or_insert_with(|| BackupSummary {
                project: project.clone(),
                backup: backup.to_owned(),
                last_success: None,
                size: None,
                last_verified: None,
                last_failure: None,
            });
        match e.kind {
            Kind::BackupSucceeded => {
                row.last_success = Some(e.time);
                row.size = e.detail["size"].as_u64();
            }
            Kind::Verified => row.last_verified = Some(e.time),
            Kind::BackupFailed | Kind::VerifyFailed => {
                let what = if e.kind == Kind::BackupFailed {
                    "backup"
                } else {
                    "drill"
                };
                let why = e.detail["error"].as_str().map_or_else(
                    || "checks failed".to_owned(),
                    |m| m.lines().next().unwrap_or_default().to_owned(),
                );
                row.last_failure = Some(format!(
                    "{} ({what}): {why}",
                    e.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
            }
            _ => {}
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use chrono::TimeZone;

    fn recorded(kind: Kind, minute: u32, detail: serde_json::Value) -> Recorded {
        Recorded {
            id: i64::from(minute),
            event: Event::new(
                Utc.with_ymd_and_hms(2026, 3, 1, 9, minute, 0)
                    .single()
                    .expect("time"),
                kind,
            )
            .project("shop")
            .detail(detail),
        }
    }

    #[test]
    fn a_backup_summary_keeps_the_last_success_drill_and_failure() {
        let rows = summarize_backups(&[
            recorded(
                Kind::BackupSucceeded,
                1,
                serde_json::json!({"backup": "db", "size": 42}),
            ),
            recorded(Kind::Verified, 2, serde_json::json!({"backup": "db"})),
            recorded(
                Kind::BackupFailed,
                3,
                serde_json::json!({"backup": "db", "error": "disk full\nmore"}),
            ),
            recorded(Kind::BackupSucceeded, 4, serde_json::json!({"nothing": 1})),
        ]);
        assert_eq!(rows.len(), 1);
        let db = &rows[0];
        assert_eq!((db.project.as_str(), db.backup.as_str()), ("shop", "db"));
        assert_eq!(db.size, Some(42));
        assert_eq!(
            db.last_success
                .map(|t| t.format("%M").to_string())
                .as_deref(),
            Some("01")
        );
        assert!(db.last_verified.is_some());
        assert_eq!(
            db.last_failure.as_deref(),
            Some("2026-03-01T09:03:00Z (backup): disk full")
        );
    }
}
