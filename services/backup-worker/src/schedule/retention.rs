//! Applying a schedule's retention at its destination, after a successful backup and inside
//! the backup queue (so no other backup rewrites the manifest meanwhile).
//!
//! Crash-safe order: first the manifest is rewritten without the expired series (through
//! `manifest_tmp.json` and a rename, or copy + delete on object stores, as a backup appends),
//! then their folders are deleted. A crash in between leaves files no entry names, never an
//! entry whose files are gone; a restore or an incremental never reads a deleted folder.

use lodestar_backup::BackupError;
use lodestar_backup::destination::Destination;
use lodestar_backup::manifest::retention::{Retention, expired};
use lodestar_backup::manifest::{self, MasterManifest};
use std::collections::BTreeSet;

/// What a retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The series taken out of the manifest, oldest first.
    pub deleted: Vec<String>,
}

/// Applies `rule` at the destination `op` opens, as of `now`.
pub async fn apply(
    op: &opendal::Operator,
    destination: &Destination,
    rule: &Retention,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Applied, BackupError> {
    let master = manifest::read_master(op).await.map_err(|e| {
        BackupError::unavailable(format!(
            "retention: reading the manifest at {destination}: {e}"
        ))
    })?;
    let gone: BTreeSet<String> = expired(&master.manifests, rule, now).into_iter().collect();
    if gone.is_empty() {
        return Ok(Applied::default());
    }
    let (dropped, kept): (Vec<_>, Vec<_>) = master
        .manifests
        .into_iter()
        .partition(|m| gone.contains(&m.backup_id));
    let kept = MasterManifest { manifests: kept };
    manifest::write_master(op, &kept, destination.supports_rename())
        .await
        .map_err(|e| {
            BackupError::unavailable(format!(
                "retention: writing the manifest at {destination}: {e} (nothing was deleted)"
            ))
        })?;
    // The manifest no longer names them: from here on a failure leaves unreferenced files.
    let in_use: BTreeSet<&str> = kept.manifests.iter().map(|m| m.path.as_str()).collect();
    let mut failed = Vec::new();
    for m in dropped.iter().filter(|m| !in_use.contains(m.path.as_str())) {
        let removed = if m.path.is_empty() {
            // An entry with its files at the location's top (an old layout): those files only.
            let mut result = Ok(());
            for (_, name) in m.file_names() {
                if let Err(e) = op.delete(&name).await {
                    result = Err(e);
                }
            }
            result
        } else {
            op.delete_with(&format!("{}/", m.path))
                .recursive(true)
                .await
        };
        match removed {
            Ok(()) => tracing::info!(
                destination = %destination,
                backup_id = %m.backup_id,
                backup_num = m.backup_num,
                folder = %m.path,
                "retention deleted a backup"
            ),
            Err(e) => {
                tracing::warn!(destination = %destination, folder = %m.path, error = %e, "retention could not delete a backup's files");
                failed.push(format!("{}: {e}", m.path));
            }
        }
    }
    if !failed.is_empty() {
        return Err(BackupError::unavailable(format!(
            "retention: series {} left the manifest at {destination}, but deleting their files failed ({}); they are no longer used and can be removed by hand",
            gone.iter().cloned().collect::<Vec<_>>().join(", "),
            failed.join("; ")
        )));
    }
    Ok(Applied {
        deleted: gone.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lodestar_backup::destination::Credentials;
    use lodestar_backup::manifest::{BackupKind, Manifest, folder_name};

    fn entry(kind: BackupKind, id: &str, num: u64, days_ago: i64) -> Manifest {
        Manifest {
            kind,
            backup_id: id.to_string(),
            backup_num: num,
            read_ts: num,
            version: manifest::MANIFEST_VERSION,
            path: folder_name(
                now() - chrono::Duration::days(days_ago) + chrono::Duration::seconds(num as i64),
            ),
            ..Manifest::default()
        }
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
            .unwrap()
    }

    #[tokio::test]
    async fn the_manifest_loses_the_series_first_then_their_folders_go() {
        let dir = tempfile::tempdir().unwrap();
        let dest = Destination::parse(dir.path().to_str().unwrap()).unwrap();
        let op = dest.operator(&Credentials::default(), &|_| None).unwrap();
        let all = vec![
            entry(BackupKind::Full, "old_a1", 1, 9),
            entry(BackupKind::Incremental, "old_a1", 2, 9),
            entry(BackupKind::Full, "mid_b2", 1, 5),
            entry(BackupKind::Full, "new_c3", 1, 1),
            entry(BackupKind::Incremental, "new_c3", 2, 1),
        ];
        for m in &all {
            op.write(
                &format!("{}/r{}-g1.backup", m.path, m.read_ts),
                vec![1u8; 8],
            )
            .await
            .unwrap();
        }
        manifest::write_master(
            &op,
            &MasterManifest {
                manifests: all.clone(),
            },
            true,
        )
        .await
        .unwrap();
        let rule = Retention {
            keep_series: Some(2),
            keep_days: None,
        };
        let applied = apply(&op, &dest, &rule, now()).await.unwrap();
        assert_eq!(applied.deleted, ["old_a1"]);
        let left = manifest::read_master(&op).await.unwrap().manifests;
        assert_eq!(left, all[2..].to_vec());
        for m in &all {
            assert_eq!(
                dir.path().join(&m.path).exists(),
                m.backup_id != "old_a1",
                "{}",
                m.path
            );
        }
        assert!(!dir.path().join(manifest::MANIFEST_TMP_FILE).exists());
        // Nothing more to do: nothing changes.
        assert_eq!(
            apply(&op, &dest, &rule, now()).await.unwrap(),
            Applied::default()
        );
        let rule = Retention {
            keep_series: Some(1),
            keep_days: Some(3),
        };
        assert_eq!(
            apply(&op, &dest, &rule, now()).await.unwrap().deleted,
            ["mid_b2"]
        );
        assert_eq!(
            manifest::read_master(&op).await.unwrap().manifests,
            all[3..].to_vec()
        );
    }

    #[tokio::test]
    async fn an_unreadable_manifest_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), b"{not json").unwrap();
        std::fs::create_dir(dir.path().join("dgraph.20200101.000000.000")).unwrap();
        let dest = Destination::parse(dir.path().to_str().unwrap()).unwrap();
        let op = dest.operator(&Credentials::default(), &|_| None).unwrap();
        let rule = Retention {
            keep_series: Some(1),
            keep_days: None,
        };
        let e = apply(&op, &dest, &rule, now()).await.unwrap_err();
        assert!(
            e.message.starts_with("retention: reading the manifest"),
            "{e}"
        );
        assert!(dir.path().join("dgraph.20200101.000000.000").exists());
    }
}
