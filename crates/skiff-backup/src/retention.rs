//! Retention: which snapshots a `keep` policy keeps. Pure: no clock, no store.
//!
//! A snapshot is kept when any rule keeps it: `last` keeps the newest N; `daily`, `weekly`
//! and `monthly` keep the newest snapshot of each of the N most recent days, ISO weeks and
//! months that have one (periods in UTC). The newest snapshot is always kept, whatever the
//! policy says: retention never deletes the last good backup.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use skiff_model::xskiff::Keep;

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Newest,
    Last,
    Daily,
    Weekly,
    Monthly,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::Newest => "newest",
            Reason::Last => "last",
            Reason::Daily => "daily",
            Reason::Weekly => "weekly",
            Reason::Monthly => "monthly",
        })
    }
}

/// The verdict on one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub id: String,
    pub created: DateTime<Utc>,
    /// Empty: the snapshot is to be removed.
    pub reasons: BTreeSet<Reason>,
}

impl Verdict {
    #[must_use]
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// Applies a policy to snapshots (`(id, created)`, in any order); returns the verdicts
/// newest first.
#[must_use]
pub fn apply(snapshots: &[(String, DateTime<Utc>)], keep: &Keep) -> Vec<Verdict> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = snapshots.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut verdicts: Vec<Verdict> = sorted
        .iter()
        .map(|(id, created)| Verdict {
            id: id.clone(),
            created: *created,
            reasons: BTreeSet::new(),
        })
        .collect();
    if let Some(first) = verdicts.first_mut() {
        first.reasons.insert(Reason::Newest);
    }
    for v in verdicts.iter_mut().take(keep.last as usize) {
        v.reasons.insert(Reason::Last);
    }
    bucketed(&mut verdicts, keep.daily, Reason::Daily, |t| {
        (t.year(), t.ordinal(), 0)
    });
    bucketed(&mut verdicts, keep.weekly, Reason::Weekly, |t| {
        let w = t.iso_week();
        (w.year(), w.week(), 0)
    });
    bucketed(&mut verdicts, keep.monthly, Reason::Monthly, |t| {
        (t.year(), t.month(), 0)
    });
    verdicts
}

/// Keeps the newest snapshot of each of the `n` most recent periods.
fn bucketed(
    verdicts: &mut [Verdict],
    n: u32,
    reason: Reason,
    period: impl Fn(&DateTime<Utc>) -> (i32, u32, u32),
) {
    let mut seen = 0u32;
    let mut last = None;
    for v in verdicts.iter_mut() {
        if seen >= n {
            break;
        }
        let p = period(&v.created);
        if last != Some(p) {
            last = Some(p);
            seen += 1;
            v.reasons.insert(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn check(snaps: &[(&str, DateTime<Utc>)], keep: Keep, expect_kept: &[&str]) {
        let input: Vec<(String, DateTime<Utc>)> =
            snaps.iter().map(|(i, t)| ((*i).to_owned(), *t)).collect();
        let kept: Vec<String> = apply(&input, &keep)
            .into_iter()
            .filter(Verdict::keep)
            .map(|v| v.id)
            .collect();
        assert_eq!(kept, expect_kept, "{keep:?}");
    }

    #[test]
    fn policies() {
        let snaps = [
            ("a", at(2025, 1, 1, 3)),
            ("b", at(2025, 1, 1, 15)),
            ("c", at(2025, 1, 2, 3)),
            ("d", at(2025, 1, 8, 3)),
            ("e", at(2025, 2, 1, 3)),
            ("f", at(2025, 2, 1, 4)),
        ];
        let keep = |last, daily, weekly, monthly| Keep {
            last,
            daily,
            weekly,
            monthly,
        };
        // Nothing asked: only the newest.
        check(&snaps, keep(0, 0, 0, 0), &["f"]);
        check(&snaps, keep(2, 0, 0, 0), &["f", "e"]);
        check(&snaps, keep(0, 3, 0, 0), &["f", "d", "c"]);
        check(&snaps, keep(0, 10, 0, 0), &["f", "d", "c", "b"]);
        // 2025-01-01 and 01-02 are in ISO week 1, 01-08 in week 2, 02-01 in week 5.
        check(&snaps, keep(0, 0, 3, 0), &["f", "d", "c"]);
        check(&snaps, keep(0, 0, 0, 2), &["f", "d"]);
        check(&snaps, keep(1, 1, 1, 2), &["f", "d"]);
        check(&[], keep(1, 1, 1, 1), &[]);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let a = [
            ("x".to_owned(), at(2025, 3, 1, 0)),
            ("y".to_owned(), at(2025, 3, 2, 0)),
        ];
        let b = [a[1].clone(), a[0].clone()];
        let k = Keep {
            daily: 1,
            ..Keep::default()
        };
        assert_eq!(apply(&a, &k), apply(&b, &k));
    }

    proptest::proptest! {
        #[test]
        fn never_deletes_the_newest_and_keeps_at_most_the_budget(
            times in proptest::collection::vec(0i64..100_000_000, 0..40),
            last in 0u32..5, daily in 0u32..5, weekly in 0u32..5, monthly in 0u32..5,
        ) {
            let snaps: Vec<(String, DateTime<Utc>)> = times
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("s{i:03}"), DateTime::from_timestamp(1_600_000_000 + t, 0).unwrap_or_default()))
                .collect();
            let keep = Keep { last, daily, weekly, monthly };
            let verdicts = apply(&snaps, &keep);
            proptest::prop_assert_eq!(verdicts.len(), snaps.len());
            if let Some(newest) = snaps.iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0))) {
                let v = verdicts.iter().find(|v| v.id == newest.0);
                proptest::prop_assert!(v.is_some_and(Verdict::keep));
            }
            let kept = verdicts.iter().filter(|v| v.keep()).count();
            proptest::prop_assert!(kept <= (1 + last + daily + weekly + monthly) as usize);
            if last as usize >= snaps.len() {
                proptest::prop_assert_eq!(kept, snaps.len());
            }
            // Applying the policy again to what it kept removes nothing more.
            let survivors: Vec<(String, DateTime<Utc>)> = verdicts
                .iter()
                .filter(|v| v.keep())
                .map(|v| (v.id.clone(), v.created))
                .collect();
            let again = apply(&survivors, &keep);
            proptest::prop_assert!(again.iter().all(Verdict::keep));
        }
    }
}
