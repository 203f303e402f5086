//! Destinations and manifests against a real S3 server (SeaweedFS): SigV4 signing, path-style
//! buckets, keys from the request and from the environment, copy + delete manifest updates.
//! A missing `weed` fails the test under the test script and CI.

use lodestar_backup::destination::{Credentials, Destination, Scheme};
use lodestar_backup::manifest::{
    self, BackupKind, MANIFEST_FILE, MANIFEST_TMP_FILE, Manifest, galaxy_groups,
};
use lodestar_test_support::seaweed::{ACCESS_KEY, SECRET_KEY, Seaweed};
use opendal::{ErrorKind, Operator};

const BUCKET: &str = "lodestar";

fn no_env(_: &str) -> Option<String> {
    None
}

fn aws_env(name: &str) -> Option<String> {
    match name {
        "AWS_ACCESS_KEY_ID" => Some(ACCESS_KEY.to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some(SECRET_KEY.to_string()),
        _ => None,
    }
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
async fn seaweedfs_minio_and_s3_uris_round_trip() {
    let Some(server) = Seaweed::start(&[BUCKET]) else {
        return;
    };

    // minio:// with the keys in the request.
    let uri = format!(
        "minio://{}/{BUCKET}/backups/prod?secure=false",
        server.address()
    );
    let minio = Destination::parse(&uri).unwrap();
    assert_eq!(minio.scheme(), Scheme::Minio);
    assert!(!minio.supports_rename());
    let op = minio
        .operator(&Credentials::keys(ACCESS_KEY, SECRET_KEY), &no_env)
        .unwrap();
    round_trip(
        &op,
        "dgraph.20260101.000001.000/r10-g1.backup",
        b"group one",
    )
    .await;

    // The object landed under the prefix: visible from the bucket's top.
    let top = Destination::parse(&format!(
        "minio://{}/{BUCKET}?secure=false",
        server.address()
    ))
    .unwrap()
    .operator(&Credentials::keys(ACCESS_KEY, SECRET_KEY), &no_env)
    .unwrap();
    let under_prefix = top
        .read("backups/prod/dgraph.20260101.000001.000/r10-g1.backup")
        .await
        .expect("object under the URI's prefix")
        .to_vec();
    assert_eq!(under_prefix, b"group one");

    // s3:// with the keys from the (injected) environment, a different prefix.
    let uri = format!("s3://{}/{BUCKET}/other?secure=false", server.address());
    let s3 = Destination::parse(&uri).unwrap();
    assert_eq!(s3.scheme(), Scheme::S3);
    assert_eq!(s3.region(), Some("us-east-1"));
    let op = s3.operator(&Credentials::default(), &aws_env).unwrap();
    round_trip(&op, "a/b.bin", &[7u8; 100_000]).await;
    let listed: Vec<String> = op
        .list("a/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path().to_string())
        .filter(|p| p != "a/")
        .collect();
    assert_eq!(listed, ["a/b.bin"]);
    op.delete("a/b.bin").await.unwrap();
    assert!(!op.exists("a/b.bin").await.unwrap());
    // The other prefix did not see it.
    assert!(!top.exists("backups/prod/a/b.bin").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs_manifests_and_signature_checks() {
    let Some(server) = Seaweed::start(&[BUCKET]) else {
        return;
    };
    let uri = format!("s3://{}/{BUCKET}/cluster-a?secure=false", server.address());
    let dest = Destination::parse(&uri).unwrap();
    let op = dest
        .operator(&Credentials::keys(ACCESS_KEY, SECRET_KEY), &no_env)
        .unwrap();

    // Manifest: empty location, then two appends through copy + delete.
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
    assert_eq!(read.manifests[1].backup_num, 2);
    assert!(
        !op.exists(MANIFEST_TMP_FILE).await.unwrap(),
        "tmp manifest removed"
    );
    let raw = op.read(MANIFEST_FILE).await.unwrap().to_vec();
    assert!(raw.starts_with(br#"{"Manifests":[{"type":"full""#));

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
    let legacy = Destination::parse(&format!(
        "minio://{}/{BUCKET}/legacy?secure=false",
        server.address()
    ))
    .unwrap()
    .operator(&Credentials::keys(ACCESS_KEY, SECRET_KEY), &no_env)
    .unwrap();
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
    assert_eq!(gathered.manifests[0].groups[&1], ["0-name"]);

    // SigV4 is enforced: a wrong secret fails, and says nothing of the secret.
    let wrong = dest
        .operator(&Credentials::keys(ACCESS_KEY, "not-the-secret"), &no_env)
        .unwrap();
    let err = wrong.write("denied.txt", b"x".to_vec()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
    let err = manifest::read_master(&wrong).await.unwrap_err().to_string();
    assert!(err.starts_with("cannot read manifest.json"), "{err}");
    // Unsigned requests are refused as well.
    let anonymous = dest.operator(&Credentials::anonymous(), &no_env).unwrap();
    let err = anonymous.read(MANIFEST_FILE).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(!op.exists("denied.txt").await.unwrap());
    drop(server);
}
