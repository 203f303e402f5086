//! Choosing from a location's entries: the series a restore reads (`select_series`, Dgraph's
//! rules for `backupId` and `backupNum`) and what the next backup of a series is (`next_backup`).

use std::collections::BTreeMap;
use std::fmt;

use super::{BackupKind, Manifest, new_backup_id};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// `backupNum` below zero.
    #[error("backupNum value should be equal or greater than zero")]
    NegativeBackupNum,
    /// The location holds no backups (see [`SelectError::at`]).
    #[error("no backups found{}", if location.is_empty() { String::new() } else { format!(" at {location}") })]
    NoBackups {
        /// The location, when known.
        location: String,
    },
    /// No entry has the requested id.
    #[error("No backups with the specified backup ID {0}")]
    UnknownBackupId(String),
    /// `backupNum` is beyond the series' newest backup.
    #[error("not enough backups to restore manifest with backupNum {0}")]
    NotEnough(i64),
    /// A backup the run needs is absent or its files are.
    #[error(
        "backup {backup_num} of series {backup_id} {problem}: the series cannot be restored up to backupNum {target}; {hint}"
    )]
    Gap {
        /// The series.
        backup_id: String,
        /// The missing backup.
        backup_num: u64,
        /// The backup the restore asked for.
        target: u64,
        /// What is wrong with it.
        problem: &'static str,
        /// What the user can do.
        hint: String,
    },
    /// The run mixes encrypted and unencrypted backups.
    #[error(
        "series {backup_id} mixes encrypted and unencrypted backups (encrypted: {encrypted:?}, unencrypted: {plain:?}); restore a backupNum before the switch"
    )]
    MixedEncryption {
        /// The series.
        backup_id: String,
        /// Encrypted backup numbers.
        encrypted: Vec<u64>,
        /// Unencrypted backup numbers.
        plain: Vec<u64>,
    },
    /// Entries contradict each other (e.g. backup 1 is not a full backup).
    #[error("series {backup_id} is inconsistent: {detail}")]
    Inconsistent {
        /// The series.
        backup_id: String,
        /// What contradicts.
        detail: String,
    },
}

impl SelectError {
    /// Names the location in a [`SelectError::NoBackups`].
    pub fn at(self, location: impl fmt::Display) -> SelectError {
        match self {
            SelectError::NoBackups { .. } => SelectError::NoBackups {
                location: location.to_string(),
            },
            other => other,
        }
    }
}

/// Chooses the backups to restore, oldest first (Dgraph's `getManifestsToRestore`): the
/// series `backup_id` (default: the newest entry's), from its full backup up to `backup_num`
/// (0: its newest). Every backup of that run must be in the manifest with its files present
/// (`files_exist`) and agree on encryption; a gap is an error rather than a silent skip.
pub fn select_series(
    all: &[Manifest],
    backup_id: Option<&str>,
    backup_num: i64,
    files_exist: impl Fn(&Manifest) -> bool,
) -> Result<Vec<Manifest>, SelectError> {
    if backup_num < 0 {
        return Err(SelectError::NegativeBackupNum);
    }
    let Some(newest) = all.last() else {
        return Err(SelectError::NoBackups {
            location: String::new(),
        });
    };
    let id = match backup_id.filter(|id| !id.is_empty()) {
        Some(id) if all.iter().any(|m| m.backup_id == id) => id,
        Some(id) => return Err(SelectError::UnknownBackupId(id.to_string())),
        None => newest.backup_id.as_str(),
    };
    // A number written twice (a retried append) counts once: the later entry wins.
    let by_num: BTreeMap<u64, &Manifest> = all
        .iter()
        .filter(|m| m.backup_id == id)
        .map(|m| (m.backup_num, m))
        .collect();
    let last_num = by_num.keys().next_back().copied().unwrap_or_default();
    let target = if backup_num > 0 {
        backup_num as u64
    } else {
        last_num
    };
    if target > last_num {
        return Err(SelectError::NotEnough(backup_num));
    }
    let gap = |num: u64, problem: &'static str| {
        let hint = if num <= 1 {
            "take a new full backup (forceFull) or restore another series".to_string()
        } else {
            format!(
                "restore with backupNum {} or lower, or take a new full backup",
                num - 1
            )
        };
        SelectError::Gap {
            backup_id: id.to_string(),
            backup_num: num,
            target,
            problem,
            hint,
        }
    };
    let mut run = Vec::new();
    for num in 1..=target.max(1) {
        let Some(m) = by_num.get(&num) else {
            return Err(gap(num, "is missing from the manifest"));
        };
        let expected = if num == 1 {
            BackupKind::Full
        } else {
            BackupKind::Incremental
        };
        if m.kind != expected {
            return Err(SelectError::Inconsistent {
                backup_id: id.to_string(),
                detail: format!("backup {num} is {} but should be {expected}", m.kind),
            });
        }
        if !files_exist(m) {
            return Err(gap(num, "has missing files"));
        }
        run.push((*m).clone());
    }
    let (encrypted, plain): (Vec<&Manifest>, Vec<&Manifest>) =
        run.iter().partition(|m| m.encrypted);
    if !encrypted.is_empty() && !plain.is_empty() {
        return Err(SelectError::MixedEncryption {
            backup_id: id.to_string(),
            encrypted: encrypted.iter().map(|m| m.backup_num).collect(),
            plain: plain.iter().map(|m| m.backup_num).collect(),
        });
    }
    Ok(run)
}

/// What the next backup at a location will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlan {
    /// Full or incremental.
    pub kind: BackupKind,
    /// Keys changed after this timestamp are written (0: everything).
    pub since: u64,
    /// The series id (new for a full backup).
    pub backup_id: String,
    /// The backup's number in its series.
    pub backup_num: u64,
}

/// Why the next backup cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The cluster's encryption differs from the last backup's.
    #[error(
        "the last backup at this location is {} but this one would be {}, and an incremental backup cannot switch: use forceFull to start a new series",
        enc_word(*.last_encrypted), enc_word(!*.last_encrypted)
    )]
    EncryptionMismatch {
        /// Whether the last backup is encrypted.
        last_encrypted: bool,
    },
    /// Zero handed out a timestamp at or below the last backup's.
    #[error(
        "this backup's read timestamp {read_ts} is not after the last backup's ({last_read_ts}): zero's timestamps went back, so the cluster was probably restored or reset; use forceFull to start a new series"
    )]
    TimeWentBack {
        /// This backup's read timestamp.
        read_ts: u64,
        /// The last backup's.
        last_read_ts: u64,
    },
}

fn enc_word(encrypted: bool) -> &'static str {
    if encrypted {
        "encrypted"
    } else {
        "unencrypted"
    }
}

/// Plans the next backup (Dgraph's rules): a full backup with a new id when `force_full` or
/// no full backup exists yet; otherwise an incremental one continuing the newest entry's
/// series from its `read_ts`. Without `force_full`, an encryption switch or a `read_ts` not
/// after the last one is refused.
pub fn next_backup(
    all: &[Manifest],
    force_full: bool,
    encrypted: bool,
    read_ts: u64,
) -> Result<BackupPlan, PlanError> {
    let full = || BackupPlan {
        kind: BackupKind::Full,
        since: 0,
        backup_id: new_backup_id(),
        backup_num: 1,
    };
    let last = match all.last() {
        Some(last) if !force_full && all.iter().any(|m| m.kind == BackupKind::Full) => last,
        _ => return Ok(full()),
    };
    if last.encrypted != encrypted {
        return Err(PlanError::EncryptionMismatch {
            last_encrypted: last.encrypted,
        });
    }
    let last_read_ts = if last.read_ts == 0 {
        last.since
    } else {
        last.read_ts
    };
    if read_ts <= last_read_ts {
        return Err(PlanError::TimeWentBack {
            read_ts,
            last_read_ts,
        });
    }
    Ok(BackupPlan {
        kind: BackupKind::Incremental,
        since: last_read_ts,
        backup_id: last.backup_id.clone(),
        backup_num: last.backup_num + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{all_exist, full, inc, nums};
    use super::*;

    #[test]
    fn selects_the_latest_series() {
        let all = vec![
            full("old_one1", 5),
            inc("old_one1", 2, 8),
            full("new_one2", 10),
            inc("new_one2", 2, 12),
            inc("new_one2", 3, 15),
        ];
        let run = select_series(&all, None, 0, all_exist).unwrap();
        assert_eq!(
            nums(&run),
            [
                ("new_one2".into(), 1),
                ("new_one2".into(), 2),
                ("new_one2".into(), 3)
            ]
        );
        let run = select_series(&all, None, 2, all_exist).unwrap();
        assert_eq!(nums(&run), [("new_one2".into(), 1), ("new_one2".into(), 2)]);
        let run = select_series(&all, Some("old_one1"), 0, all_exist).unwrap();
        assert_eq!(nums(&run), [("old_one1".into(), 1), ("old_one1".into(), 2)]);
        let run = select_series(&all, Some("old_one1"), 1, all_exist).unwrap();
        assert_eq!(nums(&run), [("old_one1".into(), 1)]);
        // An empty id means "the latest", as Dgraph's GraphQL sends it.
        let run = select_series(&all, Some(""), 1, all_exist).unwrap();
        assert_eq!(nums(&run), [("new_one2".into(), 1)]);
        // A missing file beyond the requested number does not matter.
        let run = select_series(&all, None, 2, |m| m.backup_num != 3).unwrap();
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn selection_errors() {
        let all = vec![full("a_b1", 5), inc("a_b1", 2, 8), inc("a_b1", 3, 9)];
        let err = |r: Result<Vec<Manifest>, SelectError>| r.unwrap_err().to_string();
        assert_eq!(
            err(select_series(&all, None, -1, all_exist)),
            "backupNum value should be equal or greater than zero"
        );
        assert_eq!(
            err(select_series(&[], None, 0, all_exist)),
            "no backups found"
        );
        assert_eq!(
            select_series(&[], None, 0, all_exist)
                .unwrap_err()
                .at("s3:///bucket/dir")
                .to_string(),
            "no backups found at s3:///bucket/dir"
        );
        assert_eq!(
            err(select_series(&all, Some("nope_x1"), 0, all_exist)),
            "No backups with the specified backup ID nope_x1"
        );
        assert_eq!(
            err(select_series(&all, None, 4, all_exist)),
            "not enough backups to restore manifest with backupNum 4"
        );
        // An incremental missing from the manifest.
        let holed = vec![full("a_b1", 5), inc("a_b1", 3, 9)];
        let e = err(select_series(&holed, None, 0, all_exist));
        assert!(
            e.starts_with("backup 2 of series a_b1 is missing from the manifest"),
            "{e}"
        );
        assert!(e.contains("restore with backupNum 1 or lower"), "{e}");
        // Files missing in the middle of the run.
        let e = err(select_series(&all, None, 0, |m| m.backup_num != 2));
        assert!(
            e.starts_with("backup 2 of series a_b1 has missing files"),
            "{e}"
        );
        // The full backup's files missing.
        let e = err(select_series(&all, None, 0, |m| m.backup_num != 1));
        assert!(
            e.starts_with("backup 1 of series a_b1 has missing files"),
            "{e}"
        );
        assert!(e.contains("take a new full backup"), "{e}");
        // A series whose full backup is absent.
        let e = err(select_series(&[inc("x_y1", 2, 3)], None, 0, all_exist));
        assert!(e.starts_with("backup 1 of series x_y1 is missing"), "{e}");
        // Mixed encryption.
        let mut mixed = all.clone();
        mixed[2].encrypted = true;
        let e = err(select_series(&mixed, None, 0, all_exist));
        assert!(
            e.starts_with("series a_b1 mixes encrypted and unencrypted backups"),
            "{e}"
        );
        assert!(select_series(&mixed, None, 2, all_exist).is_ok());
        // Number 1 must be the full backup.
        let bad = vec![inc("z_z1", 1, 3)];
        let e = err(select_series(&bad, None, 0, all_exist));
        assert!(
            e.contains("backup 1 is incremental but should be full"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_entries_count_once() {
        let all = vec![full("a_b1", 5), inc("a_b1", 2, 8), inc("a_b1", 2, 8)];
        let run = select_series(&all, None, 0, all_exist).unwrap();
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn plans_full_then_incrementals() {
        let plan = next_backup(&[], false, false, 10).unwrap();
        assert_eq!(plan.kind, BackupKind::Full);
        assert_eq!((plan.since, plan.backup_num), (0, 1));
        assert!(!plan.backup_id.is_empty());

        let all = vec![full("a_b1", 10), inc("a_b1", 2, 20)];
        let plan = next_backup(&all, false, false, 30).unwrap();
        assert_eq!(
            plan,
            BackupPlan {
                kind: BackupKind::Incremental,
                since: 20,
                backup_id: "a_b1".into(),
                backup_num: 3,
            }
        );
        let plan = next_backup(&all, true, false, 30).unwrap();
        assert_eq!(
            (plan.kind, plan.since, plan.backup_num),
            (BackupKind::Full, 0, 1)
        );
        assert_ne!(plan.backup_id, "a_b1");

        // A legacy last entry without read_ts continues from its since.
        let mut legacy = full("old_x1", 0);
        legacy.since = 17;
        let plan = next_backup(&[legacy], false, false, 30).unwrap();
        assert_eq!((plan.since, plan.backup_num), (17, 2));

        // Only incrementals (no full anywhere): start a full.
        let plan = next_backup(&[inc("q_r1", 2, 5)], false, false, 30).unwrap();
        assert_eq!(plan.kind, BackupKind::Full);
    }

    #[test]
    fn plan_errors() {
        let all = vec![full("a_b1", 10)];
        let e = next_backup(&all, false, true, 30).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "the last backup at this location is unencrypted but this one would be encrypted"
            ),
            "{e}"
        );
        assert!(e.contains("use forceFull"), "{e}");
        let mut enc = all.clone();
        enc[0].encrypted = true;
        let e = next_backup(&enc, false, false, 30).unwrap_err().to_string();
        assert!(
            e.contains("is encrypted but this one would be unencrypted"),
            "{e}"
        );
        assert!(next_backup(&enc, true, false, 30).is_ok());

        for read_ts in [5, 10] {
            let e = next_backup(&all, false, false, read_ts).unwrap_err();
            assert_eq!(
                e,
                PlanError::TimeWentBack {
                    read_ts,
                    last_read_ts: 10
                }
            );
            let text = e.to_string();
            assert!(text.contains("zero's timestamps went back"), "{text}");
            assert!(text.contains("restored or reset"), "{text}");
            assert!(text.contains("use forceFull"), "{text}");
        }
        assert!(next_backup(&all, true, false, 5).is_ok());
    }
}
