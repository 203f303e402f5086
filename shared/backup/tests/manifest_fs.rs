//! The master manifest on local disk: appends through `manifest_tmp.json` + rename, the
//! v20.11 per-folder layout, errors naming the file that does not parse.

use std::path::Path;

use lodestar_backup::destination::{Credentials, Destination};
use lodestar_backup::manifest::{
    self, BackupKind, MANIFEST_FILE, MANIFEST_TMP_FILE, Manifest, galaxy_groups,
};
use opendal::Operator;

fn no_env(_: &str) -> Option<String> {
    None
}

fn open(dir: &Path) -> (Destination, Operator) {
    let dest = Destination::parse(dir.to_str().unwrap()).unwrap();
    let op = dest.operator(&Credentials::default(), &no_env).unwrap();
    (dest, op)
}

fn entry(kind: BackupKind, num: u64, read_ts: u64) -> Manifest {
    Manifest {
        kind,
        read_ts,
        groups: galaxy_groups([(1, vec!["name"]), (2, vec!["age", "friend"])]),
        backup_id: "calm_turing7".to_string(),
        backup_num: num,
        version: manifest::MANIFEST_VERSION,
        path: format!("dgraph.20260102.03040{num}.000"),
        compression: manifest::COMPRESSION_GZIP.to_string(),
        ..Manifest::default()
    }
}

#[tokio::test]
async fn append_then_read_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let (dest, op) = open(&root);
    assert!(dest.supports_rename());
    assert!(
        manifest::read_master(&op)
            .await
            .unwrap()
            .manifests
            .is_empty()
    );

    manifest::append(&op, entry(BackupKind::Full, 1, 10), dest.supports_rename())
        .await
        .unwrap();
    assert!(!root.join(MANIFEST_TMP_FILE).exists());
    manifest::append(
        &op,
        entry(BackupKind::Incremental, 2, 25),
        dest.supports_rename(),
    )
    .await
    .unwrap();
    assert!(
        !root.join(MANIFEST_TMP_FILE).exists(),
        "manifest_tmp.json is gone"
    );

    let master = manifest::read_master(&op).await.unwrap();
    assert_eq!(master.manifests.len(), 2);
    assert_eq!(master.manifests[0], entry(BackupKind::Full, 1, 10));
    assert_eq!(master.manifests[1], entry(BackupKind::Incremental, 2, 25));

    // On disk it is Dgraph's layout.
    let raw = std::fs::read_to_string(root.join(MANIFEST_FILE)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(value["Manifests"][1]["type"], "incremental");
    assert_eq!(value["Manifests"][1]["read_ts"], 25);
    assert_eq!(value["Manifests"][1]["groups"]["2"][1], "0-friend");
    assert!(value["Manifests"][0]["drop_operations"].is_null());

    // The copy + delete path (object stores) gives the same result on disk.
    manifest::append(&op, entry(BackupKind::Incremental, 3, 30), false)
        .await
        .unwrap();
    assert!(!root.join(MANIFEST_TMP_FILE).exists());
    assert_eq!(manifest::read_master(&op).await.unwrap().manifests.len(), 3);

    // Planning and selection over what was stored.
    let all = manifest::read_master(&op).await.unwrap().manifests;
    let plan = manifest::next_backup(&all, false, false, 40).unwrap();
    assert_eq!(
        (plan.kind, plan.since, plan.backup_num),
        (BackupKind::Incremental, 30, 4)
    );
    let run = manifest::select_series(&all, None, 2, |_| true).unwrap();
    assert_eq!(run.len(), 2);
}

#[tokio::test]
async fn reads_v2011_folder_manifests_when_the_master_is_absent() {
    let dir = tempfile::tempdir().unwrap();
    let later = dir.path().join("dgraph.20201201.000000.000");
    let earlier = dir.path().join("dgraph.20201130.235959.999");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::create_dir_all(dir.path().join("unrelated")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a backup").unwrap();
    std::fs::write(
        later.join(MANIFEST_FILE),
        r#"{"type":"incremental","since":30,"groups":{"1":["name"]},"backup_id":"old_x1","backup_num":2,"encrypted":false,"drop_operations":null}"#,
    )
    .unwrap();
    std::fs::write(
        earlier.join(MANIFEST_FILE),
        r#"{"type":"full","since":20,"groups":{"1":["name","dgraph.type"]},"backup_id":"old_x1","backup_num":1,"encrypted":false}"#,
    )
    .unwrap();

    let (dest, op) = open(dir.path());
    let master = manifest::read_master(&op).await.unwrap();
    let paths: Vec<&str> = master.manifests.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        ["dgraph.20201130.235959.999", "dgraph.20201201.000000.000"]
    );
    assert_eq!(master.manifests[0].read_ts, 20);
    assert_eq!(master.manifests[1].read_ts, 30);
    assert_eq!(master.manifests[0].groups[&1], ["0-name", "0-dgraph.type"]);

    // The first append writes a master manifest holding the legacy entries too.
    let plan = manifest::next_backup(&master.manifests, false, false, 50).unwrap();
    assert_eq!((plan.since, plan.backup_num), (30, 3));
    let mut next = entry(BackupKind::Incremental, plan.backup_num, 50);
    next.backup_id = plan.backup_id;
    manifest::append(&op, next, dest.supports_rename())
        .await
        .unwrap();
    let master = manifest::read_master(&op).await.unwrap();
    assert_eq!(master.manifests.len(), 3);
    assert_eq!(master.manifests[0].path, "dgraph.20201130.235959.999");
}

#[tokio::test]
async fn unparsable_manifests_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, op) = open(dir.path());
    std::fs::write(dir.path().join(MANIFEST_FILE), "{\"Manifests\": [").unwrap();
    let err = manifest::read_master(&op).await.unwrap_err().to_string();
    assert!(
        err.starts_with("manifest manifest.json does not parse"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("dgraph.20201130.000000.000");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(MANIFEST_FILE), "not json").unwrap();
    let (_, op) = open(dir.path());
    let err = manifest::read_master(&op).await.unwrap_err().to_string();
    assert!(
        err.starts_with("manifest dgraph.20201130.000000.000/manifest.json does not parse"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_files_lists_absent_group_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_, op) = open(dir.path());
    let m = entry(BackupKind::Full, 1, 10);
    let folder = dir.path().join(&m.path);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("r10-g1.backup"), "x").unwrap();
    let missing = manifest::missing_files(&op, &m).await.unwrap();
    assert_eq!(missing, [format!("{}/r10-g2.backup", m.path)]);
    let run = manifest::select_series(std::slice::from_ref(&m), None, 0, |_| missing.is_empty());
    let err = run.unwrap_err().to_string();
    assert!(
        err.starts_with("backup 1 of series calm_turing7 has missing files"),
        "{err}"
    );
}
