//! A cron schedule read in a time zone.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use chrono_tz::Tz;

/// A cron expression (optional seconds, `@daily` and the other nicknames) in an IANA zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    tz: Tz,
    text: String,
}

/// A schedule croner refuses (the loader checks them first; this is for other callers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron schedule {text:?}: {reason}")]
pub struct ScheduleError {
    pub text: String,
    pub reason: String,
}

impl Schedule {
    /// # Errors
    /// An expression croner does not accept.
    pub fn new(text: &str, tz: Option<Tz>) -> Result<Schedule, ScheduleError> {
        let cron = croner::parser::CronParser::builder()
            .build()
            .parse(text)
            .map_err(|e| ScheduleError {
                text: text.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Schedule {
            cron,
            tz: tz.unwrap_or(Tz::UTC),
            text: text.to_owned(),
        })
    }

    /// The expression as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    #[must_use]
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first due time strictly after `t`.
    #[must_use]
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc).trunc_subsecs(0))
    }

    /// The last due time at or before `t`.
    #[must_use]
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            // Due times are whole seconds (croner keeps the start's fraction).
            .map(|d| d.with_timezone(&Utc).trunc_subsecs(0))
    }

    /// The period the schedule is in at `t`: from its last due time to the next.
    #[must_use]
    pub fn period_at(&self, t: DateTime<Utc>) -> Option<Duration> {
        let last = self.last_at_or_before(t)?;
        Some(self.next_after(last)? - last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn seconds_nicknames_and_zones() {
        let every2 = Schedule::new("*/2 * * * * *", None).expect("schedule");
        assert_eq!(
            every2.next_after(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-01T00:00:02Z"))
        );
        let daily = Schedule::new("@daily", None).expect("schedule");
        assert_eq!(
            daily.next_after(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        // 02:30 in Berlin is 01:30 UTC in winter, 00:30 UTC in summer.
        let berlin = Schedule::new("30 2 * * *", Some(chrono_tz::Europe::Berlin)).expect("s");
        assert_eq!(
            berlin.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T01:30:00Z"))
        );
        assert_eq!(
            berlin.next_after(at("2026-07-10T12:00:00Z")),
            Some(at("2026-07-11T00:30:00Z"))
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-01-01T05:00:00Z")),
            Some(at("2026-01-01T00:00:00Z"))
        );
        assert_eq!(
            daily.period_at(at("2026-01-01T05:00:00Z")),
            Some(Duration::days(1))
        );
        assert!(Schedule::new("61 * * * *", None).is_err());
        // Whole seconds, whatever the fraction of the time asked about.
        let late = at("2026-01-01T00:00:03.250Z");
        assert_eq!(
            every2.last_at_or_before(late),
            Some(at("2026-01-01T00:00:02Z"))
        );
        assert_eq!(every2.next_after(late), Some(at("2026-01-01T00:00:04Z")));
    }
}
