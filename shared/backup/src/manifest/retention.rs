//! Which series of a location a retention rule lets go.
//!
//! A series is the entries sharing a `backup_id`: its full backup (number 1) and the
//! incrementals that continue it. A series is restorable when its full backup is in the
//! manifest (an entry is only written once every file of its backup is complete, so a full
//! backup that failed leaves none). The rules:
//!
//! - `keep_series = N` keeps the N newest restorable series; a series without its full backup
//!   cannot be restored and does not count.
//! - `keep_days = N` keeps a series whose newest backup is younger than N days (its time is the
//!   one its folder is named after; a series with no readable folder time is kept).
//! - With both, a series goes only when both rules let it go: at least N series and at least
//!   N days are kept.
//! - Whatever the rules say, the newest restorable series and anything newer than it stay, and
//!   without a restorable series nothing goes. Series go whole: an incremental is never
//!   separated from its full backup.

use chrono::{DateTime, Duration, Utc};

use super::{BackupKind, Manifest, folder_time};

/// A retention rule; with neither part set, everything is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep the newest this many restorable series.
    pub keep_series: Option<u32>,
    /// Keep the series whose newest backup is younger than this many days.
    pub keep_days: Option<u32>,
}

impl Retention {
    /// Whether the rule can delete anything.
    pub fn is_set(&self) -> bool {
        self.keep_series.is_some() || self.keep_days.is_some()
    }
}

/// One series of a location as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSummary {
    /// The series id.
    pub backup_id: String,
    /// Whether its full backup is in the manifest.
    pub restorable: bool,
    /// When its newest backup was taken, when its folder name says.
    pub newest: Option<DateTime<Utc>>,
}

/// The series of a location, oldest first (in the order their first entries appear).
pub fn summarize(all: &[Manifest]) -> Vec<SeriesSummary> {
    let mut series: Vec<SeriesSummary> = Vec::new();
    for m in all {
        let index = match series.iter().position(|s| s.backup_id == m.backup_id) {
            Some(i) => i,
            None => {
                series.push(SeriesSummary {
                    backup_id: m.backup_id.clone(),
                    restorable: false,
                    newest: None,
                });
                series.len() - 1
            }
        };
        let s = &mut series[index];
        s.restorable |= m.backup_num == 1 && m.kind == BackupKind::Full;
        s.newest = s.newest.max(folder_time(&m.path));
    }
    series
}

/// The ids of the series `rule` lets go at `now`, oldest first (see the module's rules).
pub fn expired(all: &[Manifest], rule: &Retention, now: DateTime<Utc>) -> Vec<String> {
    if !rule.is_set() {
        return Vec::new();
    }
    let series = summarize(all);
    // Only series older than the newest restorable one may go.
    let Some(newest_restorable) = series.iter().rposition(|s| s.restorable) else {
        return Vec::new();
    };
    // Restorable series counted from the newest: the protected one is the first.
    let mut restorable_rank = 0u64;
    let mut ranks = vec![None; series.len()];
    for (i, s) in series.iter().enumerate().rev() {
        if s.restorable {
            restorable_rank += 1;
            ranks[i] = Some(restorable_rank);
        }
    }
    let cutoff = rule
        .keep_days
        .map(|days| now - Duration::days(i64::from(days)));
    series[..newest_restorable]
        .iter()
        .zip(&ranks)
        .filter(|(s, rank)| {
            let by_count = match rule.keep_series {
                Some(n) => !rank.is_some_and(|r| r <= u64::from(n)),
                None => true,
            };
            let by_age = match cutoff {
                Some(cutoff) => s.newest.is_some_and(|t| t < cutoff),
                None => true,
            };
            by_count && by_age
        })
        .map(|(s, _)| s.backup_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{full, inc};
    use super::*;
    use chrono::TimeZone;

    /// `entry` taken `days_ago` days before [`now`], its folder named after that time.
    fn at(mut entry: Manifest, days_ago: i64) -> Manifest {
        entry.path = super::super::folder_name(now() - Duration::days(days_ago));
        entry
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn keep(series: Option<u32>, days: Option<u32>) -> Retention {
        Retention {
            keep_series: series,
            keep_days: days,
        }
    }

    /// Four series, two days apart, the newest taken today; each with one incremental.
    fn four_series() -> Vec<Manifest> {
        let mut all = Vec::new();
        for (i, id) in ["a_a1", "b_b2", "c_c3", "d_d4"].into_iter().enumerate() {
            let days_ago = 6 - 2 * i as i64;
            all.push(at(full(id, 10 * i as u64 + 1), days_ago));
            all.push(at(inc(id, 2, 10 * i as u64 + 2), days_ago));
        }
        all
    }

    #[test]
    fn keep_series_keeps_the_newest_series_whole() {
        let all = four_series();
        assert_eq!(expired(&all, &keep(Some(2), None), now()), ["a_a1", "b_b2"]);
        assert_eq!(expired(&all, &keep(Some(3), None), now()), ["a_a1"]);
        assert!(expired(&all, &keep(Some(4), None), now()).is_empty());
        assert!(expired(&all, &keep(Some(40), None), now()).is_empty());
        // keep_series=1: only the newest chain, full and incremental together.
        assert_eq!(
            expired(&all, &keep(Some(1), None), now()),
            ["a_a1", "b_b2", "c_c3"]
        );
        assert!(expired(&all, &Retention::default(), now()).is_empty());
    }

    #[test]
    fn keep_days_goes_by_the_newest_backup_of_a_series() {
        let mut all = four_series();
        // Series b's incremental was taken today: b is as young as its newest backup.
        all[3] = at(inc("b_b2", 2, 12), 0);
        assert_eq!(expired(&all, &keep(None, Some(3)), now()), ["a_a1"]);
        assert_eq!(expired(&all, &keep(None, Some(1)), now()), ["a_a1", "c_c3"]);
        // Exactly as old as the limit is not older than it.
        assert_eq!(expired(&all, &keep(None, Some(2)), now()), ["a_a1"]);
        // A folder without a readable time is never old.
        all[0].path = "dgraph.custom".into();
        all[1].path = String::new();
        assert_eq!(expired(&all, &keep(None, Some(1)), now()), ["c_c3"]);
    }

    #[test]
    fn with_both_rules_a_series_goes_only_when_both_let_it_go() {
        let all = four_series();
        // The count keeps d and c; a, b and c are older than a day: a and b go.
        assert_eq!(
            expired(&all, &keep(Some(2), Some(1)), now()),
            ["a_a1", "b_b2"]
        );
        // Ten days keep everything, whatever the count says.
        assert!(expired(&all, &keep(Some(1), Some(10)), now()).is_empty());
        // The count keeps only d, five days keep c and b too: a goes.
        assert_eq!(expired(&all, &keep(Some(1), Some(5)), now()), ["a_a1"]);
    }

    #[test]
    fn the_newest_restorable_chain_stays_even_when_old() {
        let old: Vec<Manifest> = four_series()
            .into_iter()
            .map(|mut m| {
                m.path = super::super::folder_name(now() - Duration::days(400));
                m
            })
            .collect();
        assert_eq!(
            expired(&old, &keep(None, Some(30)), now()),
            ["a_a1", "b_b2", "c_c3"]
        );
        assert_eq!(
            expired(&old, &keep(Some(1), Some(30)), now()),
            ["a_a1", "b_b2", "c_c3"]
        );
        // A newest series without its full backup is no restorable chain: the one before it
        // is kept, and the broken one (newer) too.
        let mut broken = old.clone();
        broken.push(at(inc("e_e5", 2, 60), 500));
        assert_eq!(
            expired(&broken, &keep(Some(1), None), now()),
            ["a_a1", "b_b2", "c_c3"]
        );
        assert_eq!(
            expired(&broken, &keep(None, Some(1)), now()),
            ["a_a1", "b_b2", "c_c3"]
        );
        // Nothing restorable: nothing goes.
        let none = vec![at(inc("x_x1", 2, 5), 90), at(inc("y_y2", 3, 9), 80)];
        assert!(expired(&none, &keep(Some(1), Some(1)), now()).is_empty());
    }

    #[test]
    fn a_series_without_its_full_backup_does_not_count() {
        // a and c are restorable; b lost its full backup (only its incremental is listed).
        let all = vec![
            at(full("a_a1", 1), 3),
            at(inc("b_b2", 2, 5), 2),
            at(full("c_c3", 8), 1),
            at(inc("c_c3", 2, 9), 0),
        ];
        let s = summarize(&all);
        assert_eq!(
            s.iter().map(|s| s.restorable).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert_eq!(s[2].newest, Some(now()));
        // Two restorable series are kept by count; the broken one is not among them.
        assert_eq!(expired(&all, &keep(Some(2), None), now()), ["b_b2"]);
        assert_eq!(expired(&all, &keep(Some(1), None), now()), ["a_a1", "b_b2"]);
        // Entry 1 of a series that is an incremental is not a full backup.
        let mut wrong = all.clone();
        wrong[2].kind = BackupKind::Incremental;
        assert_eq!(
            expired(&wrong, &keep(Some(1), None), now()),
            Vec::<String>::new(),
            "a is now the newest restorable series"
        );
    }
}
