//! Destinations and manifests against a real Google Cloud Storage emulator (fake-gcs-server):
//! a `gs://bucket/prefix` URI with `STORAGE_EMULATOR_HOST` and no Google credentials writes,
//! reads, lists and deletes under its prefix, and manifests are updated by copy + delete.
//! A missing fake-gcs-server fails the test under the test script and CI.

use lodestar_backup::destination::{Credentials, Destination, Scheme};
use lodestar_backup::manifest::{
    self, BackupKind, MANIFEST_FILE, MANIFEST_TMP_FILE, Manifest, galaxy_groups,
};
use lodestar_test_support::fakegcs::FakeGcs;
use opendal::{ErrorKind, Operator};

const BUCKET: &str = "lodestar";

/// The environment a worker pointed at the emulator has: nothing but its address (here
/// without `http://`, which the destination adds).
fn emulator_env(server: &FakeGcs) -> impl Fn(&str) -> Option<String> {
    let host = server.address();
    move |name| (name == "STORAGE_EMULATOR_HOST").then(|| host.clone())
}

fn operator(server: &FakeGcs, uri: &str) -> Operator {
    let dest = Destination::parse(uri).unwrap();
    assert_eq!(dest.scheme(), Scheme::Gcs);
    dest.operator(&Credentials::default(), &emulator_env(server))
        .unwrap_or_else(|e| panic!("{uri}: {e}"))
}

async fn round_trip(op: &Operator, path: &str, body: &[u8]) {
    op.write(path, body.to_vec())
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"));
    let back = op.read(path).await.expect("read back").to_vec();
    assert_eq!(back, body);
    assert_eq!(
        op.stat(path).await.expect("stat").content_length(),
        body.len() as u64
    );
}

fn entry(kind: BackupKind, num: u64, read_ts: u64) -> Manifest {
    Manifest {
        kind,
        read_ts,
        groups: galaxy_groups([(1, ["name", "dgraph.type"])]),
        backup_id: "steady_noether3".to_string(),
        backup_num: num,
        version: manifest::MANIFEST_VERSION,
        path: format!("dgraph.20260101.00000{num}.000"),
        compression: manifest::COMPRESSION_GZIP.to_string(),
        ..Manifest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs_uris_round_trip_against_the_emulator_without_google_credentials() {
    let Some(server) = FakeGcs::start(&[BUCKET]) else {
        return;
    };
    let dest = Destination::parse(&format!("gs://{BUCKET}/backups/prod")).unwrap();
    assert_eq!(dest.bucket(), Some(BUCKET));
    assert_eq!(dest.root(), "backups/prod");
    assert!(!dest.supports_rename());
    let op = operator(&server, &format!("gs://{BUCKET}/backups/prod"));
    round_trip(
        &op,
        "dgraph.20260101.000001.000/r10-g1.backup",
        b"group one",
    )
    .await;
    // A few megabytes, still under the 5 MiB above which opendal switches to multipart uploads
    // (which fake-gcs-server does not implement).
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    round_trip(&op, "dgraph.20260101.000001.000/r10-g2.backup", &big).await;

    // The objects landed under the prefix: visible from the bucket's top.
    let top = operator(&server, &format!("gs://{BUCKET}"));
    let under_prefix = top
        .read("backups/prod/dgraph.20260101.000001.000/r10-g1.backup")
        .await
        .expect("object under the URI's prefix")
        .to_vec();
    assert_eq!(under_prefix, b"group one");

    // Listing a folder and the prefix's top.
    let mut listed: Vec<String> = op
        .list("dgraph.20260101.000001.000/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path().to_string())
        .filter(|p| !p.ends_with('/'))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "dgraph.20260101.000001.000/r10-g1.backup",
            "dgraph.20260101.000001.000/r10-g2.backup"
        ]
    );
    let folders: Vec<String> = op
        .list("/")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.metadata().is_dir())
        .map(|e| e.path().to_string())
        .collect();
    assert!(
        folders.contains(&"dgraph.20260101.000001.000/".to_string()),
        "{folders:?}"
    );

    // Another prefix sees none of it; delete removes.
    let other = operator(&server, &format!("gs://{BUCKET}/backups/other"));
    assert!(
        !other
            .exists("dgraph.20260101.000001.000/r10-g1.backup")
            .await
            .unwrap()
    );
    op.delete("dgraph.20260101.000001.000/r10-g2.backup")
        .await
        .unwrap();
    assert!(
        !op.exists("dgraph.20260101.000001.000/r10-g2.backup")
            .await
            .unwrap()
    );
    let err = op
        .read("dgraph.20260101.000001.000/r10-g2.backup")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // A bucket that does not exist is an error, not an empty location.
    let missing = operator(&server, "gs://no-such-bucket/x");
    assert!(missing.write("a", b"x".to_vec()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs_manifests_are_appended_by_copy_and_delete() {
    let Some(server) = FakeGcs::start(&[BUCKET]) else {
        return;
    };
    let uri = format!("gs://{BUCKET}/cluster-a");
    let dest = Destination::parse(&uri).unwrap();
    let op = operator(&server, &uri);

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
    let written = manifest::append(&op, entry(BackupKind::Incremental, 2, 20), false)
        .await
        .unwrap();
    let read = manifest::read_master(&op).await.unwrap();
    assert_eq!(read, written);
    assert_eq!(read.manifests.len(), 2);
    assert_eq!(read.manifests[0].kind, BackupKind::Full);
    assert_eq!(read.manifests[0].backup_num, 1);
    assert_eq!(read.manifests[1].kind, BackupKind::Incremental);
    assert_eq!(read.manifests[1].backup_num, 2);
    assert_eq!(read.manifests[1].read_ts, 20);
    assert!(
        !op.exists(MANIFEST_TMP_FILE).await.unwrap(),
        "tmp manifest removed"
    );
    let raw = op.read(MANIFEST_FILE).await.unwrap().to_vec();
    assert!(raw.starts_with(br#"{"Manifests":[{"type":"full""#));

    // Through another operator on the same location (a fresh reader, as listBackups is).
    let again = manifest::read_master(&operator(&server, &uri))
        .await
        .unwrap();
    assert_eq!(again, read);

    // The series selection sees the files that exist in the bucket.
    for m in &read.manifests {
        for (_, name) in m.file_names() {
            op.write(&format!("{}/{name}", m.path), b"x".to_vec())
                .await
                .unwrap();
        }
        assert!(manifest::missing_files(&op, m).await.unwrap().is_empty());
    }
    op.delete(&format!("{}/r20-g1.backup", read.manifests[1].path))
        .await
        .unwrap();
    let missing = manifest::missing_files(&op, &read.manifests[1])
        .await
        .unwrap();
    assert_eq!(
        missing,
        [format!("{}/r20-g1.backup", read.manifests[1].path)]
    );

    // v20.11 layout: per-folder manifests gathered when manifest.json is absent.
    let legacy = operator(&server, &format!("gs://{BUCKET}/legacy"));
    legacy
        .write(
            "dgraph.20201130.101010.000/manifest.json",
            br#"{"type":"full","since":5,"groups":{"1":["name"]},"backup_id":"old_x1","backup_num":1,"encrypted":false}"#.to_vec(),
        )
        .await
        .unwrap();
    let gathered = manifest::read_master(&legacy).await.unwrap();
    assert_eq!(gathered.manifests.len(), 1);
    assert_eq!(gathered.manifests[0].path, "dgraph.20201130.101010.000");
    assert_eq!(gathered.manifests[0].read_ts, 5);
    drop(server);
}
