//! Backups through the real backup worker into real object stores, checked by the stores' own
//! Python clients rather than by our code: `gs://` against fake-gcs-server (full, two
//! incrementals, forceFull) read back with google-cloud-storage, and `minio://` against
//! SeaweedFS (the same) read back with boto3. Every listed object is downloaded; the
//! manifest's entries match the tasks, each file's size and SHA-256 match its `files` record,
//! nothing else is left in the location, and the downloaded files decode to the key counts
//! recorded. Then a chosen backup of the first series is restored online from the store and
//! the cluster holds exactly its names. An export to SeaweedFS is listed and read back by boto3
//! too (after one with a wrong secret failed and left nothing). A missing server fails the test under the test script and CI
//! (`lodestar_test_support::missing`).

mod common;

use lodestar_test_support::{fakegcs, seaweed};

use common::backups::{alter, backup_client, dgraph, run_backup, set, to, wait_task};
use lodestar_backup::codec::Decoder;
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service, default_groups};
use lodestar_proto::api::Request;
use lodestar_proto::backup::backup_client::BackupClient;
use lodestar_proto::backup::{BackupRequest, TaskStatus};
use lodestar_proto::worker::KvBatch;
use prost::Message;
use serde_json::Value;
use sha2::Digest;
use std::collections::BTreeSet;
use std::path::Path;

const BUCKET: &str = "lodestar";

/// Restores through the worker and answers the names the cluster holds afterwards.
async fn restore_names(
    cluster: &Cluster,
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    request: lodestar_proto::backup::RestoreRequest,
) -> BTreeSet<String> {
    let id = b.start_restore(request).await.unwrap().into_inner().id;
    let done = wait_task(b, &id).await;
    assert_eq!(done.status, "Success", "{done:?}");
    assert_eq!(done.kind, "Restore");
    let mut c = dgraph(cluster).await;
    let resp = c
        .query(Request {
            query: "{ q(func: has(name)) { name } }".into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let v: Value = serde_json::from_slice(&resp.json).unwrap();
    v["q"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Runs `integration-tests/python/<script>` with the test clients' Python (`LODESTAR_PYTHON`)
/// and parses the one JSON object it prints.
async fn python_json(script: &str, args: &[&str]) -> Value {
    let python = std::env::var("LODESTAR_PYTHON").unwrap_or_else(|_| {
        panic!("LODESTAR_PYTHON is not set: run the tests with integration-tests/run-tests.sh, which prepares the Python clients")
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = tokio::process::Command::new(python)
        .arg(path)
        .args(args)
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

/// The batches of a downloaded backup file.
fn batches(path: &Path) -> Vec<KvBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Decoder::new(file, common::backups::worker_key().as_ref())
        .unwrap()
        .map(|frame| KvBatch::decode(frame.unwrap().as_slice()).unwrap())
        .collect()
}

fn holds_value(batches: &[KvBatch], value: &str) -> bool {
    batches
        .iter()
        .flat_map(|b| &b.kvs)
        .any(|kv| kv.value.windows(value.len()).any(|w| w == value.as_bytes()))
}

/// Checks what a Python client found (`found`, with the objects saved under `downloaded`)
/// against the tasks that wrote it, and returns each backup's decoded batches in order.
fn check_location(found: &Value, downloaded: &Path, tasks: &[&TaskStatus]) -> Vec<Vec<KvBatch>> {
    let objects = found["objects"].as_object().expect("objects");
    let entries = found["manifest"]["Manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifest.json listed: {found}"));
    assert_eq!(entries.len(), tasks.len(), "{found}");

    let mut expected: BTreeSet<String> = BTreeSet::from(["manifest.json".to_string()]);
    let mut decoded = Vec::new();
    for (entry, task) in entries.iter().zip(tasks) {
        assert_eq!(entry["read_ts"], task.read_ts, "{entry}");
        assert_eq!(entry["backup_id"], task.backup_id.as_str(), "{entry}");
        assert_eq!(entry["backup_num"], task.backup_num, "{entry}");
        // Encrypted exactly when the cluster is (LODESTAR_TEST_ENCRYPTION).
        assert_eq!(
            entry["encrypted"],
            lodestar_integration_tests::test_encryption(),
            "{entry}"
        );
        let folder = entry["path"].as_str().unwrap();
        assert!(
            folder.starts_with("dgraph.") && !folder.contains('/'),
            "{folder}"
        );
        let files = entry["files"].as_object().unwrap();
        assert_eq!(files.len(), default_groups(), "a file per group: {entry}");
        // Every group's file, its batches one after the other.
        let mut all = Vec::new();
        for (group, file) in files {
            let name = format!("r{}-g{group}.backup", task.read_ts);
            assert_eq!(file["name"], name.as_str(), "{entry}");
            let key = format!("{folder}/{name}");
            let object = objects
                .get(&key)
                .unwrap_or_else(|| panic!("{key} is not listed: {found}"));
            let size = file["size"].as_u64().unwrap();
            assert!(size > 0, "{entry}");
            assert_eq!(object["size"], size, "listed size of {key}");
            assert_eq!(object["downloaded"], size, "downloaded size of {key}");
            assert_eq!(object["sha256"], file["sha256"], "sha256 of {key}");
            // The bytes the client saved are the ones it hashed, and they decode.
            let bytes = std::fs::read(downloaded.join(&key)).unwrap();
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                file["sha256"].as_str().unwrap()
            );
            let got = batches(&downloaded.join(&key));
            let last = got.last().expect("at least one batch");
            assert!(last.done, "{key} ends with the last batch");
            assert_eq!(file["keys"], last.count, "{key}");
            all.extend(got);
            expected.insert(key);
        }
        decoded.push(all);
    }
    let listed: BTreeSet<String> = objects.keys().cloned().collect();
    assert_eq!(
        listed, expected,
        "the location holds the manifest and the backup files, nothing else (no manifest_tmp.json)"
    );
    decoded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs_backups_to_fake_gcs_server_are_read_back_by_google_cloud_storage() {
    let Some(gcs) = fakegcs::FakeGcs::start(&[BUCKET]) else {
        return;
    };
    // The worker finds the emulator as Google's clients do; it has no Google credentials.
    let cluster = ClusterBuilder::new()
        .services(true)
        .env(
            Service::BackupWorker,
            "STORAGE_EMULATOR_HOST",
            gcs.endpoint(),
        )
        .start()
        .await
        .unwrap();
    let mut c = dgraph(&cluster).await;
    alter(
        &mut c,
        "name: string @index(exact) .\nfriend: [uid] @reverse .",
    )
    .await;
    set(
        &mut c,
        r#"_:a <name> "Ann" . _:b <name> "Bob" . _:a <friend> _:b ."#,
    )
    .await;
    let mut b = backup_client(&cluster);
    let dest = format!("gs://{BUCKET}/cluster-a/nightly");

    let full = run_backup(&mut b, to(&dest, false)).await;
    set(&mut c, r#"_:c <name> "Cy" ."#).await;
    let first = run_backup(&mut b, to(&dest, false)).await;
    set(&mut c, r#"_:d <name> "Dee" . _:d <friend> _:d ."#).await;
    let second = run_backup(&mut b, to(&dest, false)).await;
    let forced = run_backup(&mut b, to(&dest, true)).await;
    let tasks = [&full, &first, &second, &forced];
    for (task, num) in tasks.iter().zip([1, 2, 3, 1]) {
        assert_eq!(task.kind, "Backup", "{task:?}");
        assert_eq!(task.location, dest, "{task:?}");
        assert_eq!(task.backup_num, num, "{task:?}");
        assert!(task.errors.is_empty(), "{task:?}");
        assert!(task.bytes_written > 0, "{task:?}");
        let groups = default_groups() as u32;
        assert_eq!(
            (task.groups_done, task.groups_total),
            (groups, groups),
            "{task:?}"
        );
    }
    assert!(full.read_ts < first.read_ts && first.read_ts < second.read_ts);
    assert!(second.read_ts <= forced.read_ts);
    assert_eq!(first.backup_id, full.backup_id);
    assert_eq!(second.backup_id, full.backup_id);
    assert_ne!(
        forced.backup_id, full.backup_id,
        "forceFull starts a series"
    );

    // What google-cloud-storage sees in the emulator's bucket.
    let downloaded = tempfile::tempdir().unwrap();
    let found = python_json(
        "check_gcs_backup.py",
        &[
            &gcs.endpoint(),
            BUCKET,
            "cluster-a/nightly",
            downloaded.path().to_str().unwrap(),
        ],
    )
    .await;
    let entries = found["manifest"]["Manifests"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["full", "incremental", "incremental", "full"]);
    let nums: Vec<u64> = entries
        .iter()
        .map(|e| e["backup_num"].as_u64().unwrap())
        .collect();
    assert_eq!(nums, [1, 2, 3, 1]);
    let decoded = check_location(&found, downloaded.path(), &tasks);
    assert!(holds_value(&decoded[0], "Ann") && holds_value(&decoded[0], "Bob"));
    assert!(holds_value(&decoded[1], "Cy") && !holds_value(&decoded[1], "Ann"));
    assert!(holds_value(&decoded[2], "Dee") && !holds_value(&decoded[2], "Cy"));
    for name in ["Ann", "Bob", "Cy", "Dee"] {
        assert!(holds_value(&decoded[3], name), "the new full holds {name}");
    }

    // listBackups reads the same manifest through gs://.
    let listed = b
        .list_backups(lodestar_proto::backup::ListBackupsRequest {
            location: dest.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let listed: Value = serde_json::from_slice(&listed.manifests_json).unwrap();
    assert_eq!(listed["Manifests"], found["manifest"]["Manifests"]);

    // Backup 2 of the first series, restored from the bucket.
    set(&mut c, r#"_:e <name> "Eve" ."#).await;
    let restored = restore_names(
        &cluster,
        &mut b,
        lodestar_proto::backup::RestoreRequest {
            location: dest.clone(),
            backup_id: full.backup_id.clone(),
            backup_num: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(restored, names(&["Ann", "Bob", "Cy"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minio_backups_to_seaweedfs_are_read_back_by_boto3() {
    let Some(s3) = seaweed::Seaweed::start(&[BUCKET]) else {
        return;
    };
    let cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&cluster).await;
    set(&mut c, r#"_:a <name> "Ann" . _:b <name> "Bob" ."#).await;
    let mut b = backup_client(&cluster);
    let dest = format!("minio://{}/{BUCKET}/cluster-b?secure=false", s3.address());
    // The keys travel in the request, as with Dgraph's accessKey/secretKey.
    let keyed = |force_full| BackupRequest {
        credentials: Some(lodestar_proto::backup::Credentials {
            access_key: seaweed::ACCESS_KEY.into(),
            secret_key: seaweed::SECRET_KEY.into(),
            ..Default::default()
        }),
        ..to(&dest, force_full)
    };
    let full = run_backup(&mut b, keyed(false)).await;
    set(&mut c, r#"_:c <name> "Cy" ."#).await;
    let incr = run_backup(&mut b, keyed(false)).await;
    set(&mut c, r#"_:d <name> "Dee" ."#).await;
    let incr2 = run_backup(&mut b, keyed(false)).await;
    let forced = run_backup(&mut b, keyed(true)).await;
    assert_eq!(
        [
            full.backup_num,
            incr.backup_num,
            incr2.backup_num,
            forced.backup_num
        ],
        [1, 2, 3, 1]
    );
    assert_eq!(full.backup_id, incr.backup_id);
    assert_eq!(full.backup_id, incr2.backup_id);
    assert_ne!(
        full.backup_id, forced.backup_id,
        "forceFull starts a series"
    );
    assert!(full.read_ts < incr.read_ts && incr.read_ts < incr2.read_ts);

    // What boto3 sees, signing with the server's keys.
    let downloaded = tempfile::tempdir().unwrap();
    let found = python_json(
        "check_s3_backup.py",
        &[
            &format!("http://{}", s3.address()),
            BUCKET,
            "cluster-b",
            seaweed::ACCESS_KEY,
            seaweed::SECRET_KEY,
            downloaded.path().to_str().unwrap(),
        ],
    )
    .await;
    let entries = found["manifest"]["Manifests"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["full", "incremental", "incremental", "full"]);
    let decoded = check_location(&found, downloaded.path(), &[&full, &incr, &incr2, &forced]);
    assert!(holds_value(&decoded[0], "Ann") && holds_value(&decoded[0], "Bob"));
    assert!(holds_value(&decoded[1], "Cy") && !holds_value(&decoded[1], "Ann"));
    assert!(holds_value(&decoded[2], "Dee") && !holds_value(&decoded[2], "Cy"));

    // Backup 3 of the first series, restored from the bucket with the request's keys.
    set(&mut c, r#"_:e <name> "Eve" ."#).await;
    let restored = restore_names(
        &cluster,
        &mut b,
        lodestar_proto::backup::RestoreRequest {
            location: dest.clone(),
            backup_id: full.backup_id.clone(),
            backup_num: 3,
            credentials: keyed(false).credentials,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(restored, names(&["Ann", "Bob", "Cy", "Dee"]));
}

/// The text of an export file saved by a Python client: gunzipped, after AES-CTR decryption
/// with the worker's key when the tests run encrypted.
fn export_text(path: &Path) -> String {
    use std::io::Read as _;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let plain: Box<dyn std::io::Read> = match common::backups::worker_key() {
        Some(key) => Box::new(lodestar_crypto::DecryptingReader::new(file, &key).unwrap()),
        None => Box::new(file),
    };
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(plain)
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_to_seaweedfs_through_minio_are_read_back_by_boto3() {
    let Some(s3) = seaweed::Seaweed::start(&[BUCKET]) else {
        return;
    };
    let cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&cluster).await;
    alter(&mut c, "name: string @index(exact) .").await;
    set(&mut c, r#"_:a <name> "Ann" . _:b <name> "Bob" ."#).await;
    let mut b = backup_client(&cluster);
    let dest = format!("minio://{}/{BUCKET}/exports?secure=false", s3.address());
    let export = |secret: &str| lodestar_proto::backup::ExportRequest {
        format: "json".into(),
        destination: dest.clone(),
        credentials: Some(lodestar_proto::backup::Credentials {
            access_key: seaweed::ACCESS_KEY.into(),
            secret_key: secret.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    // A wrong secret fails the task and leaves nothing in the bucket.
    let id = b
        .start_export(export("wrong-secret"))
        .await
        .unwrap()
        .into_inner()
        .id;
    let refused = wait_task(&mut b, &id).await;
    assert_eq!(
        (refused.kind.as_str(), refused.status.as_str()),
        ("Export", "Failed")
    );
    let id = b
        .start_export(export(seaweed::SECRET_KEY))
        .await
        .unwrap()
        .into_inner()
        .id;
    let done = common::backups::finished(&mut b, &id).await;
    assert!(done.bytes_written > 0, "{done:?}");

    let downloaded = tempfile::tempdir().unwrap();
    let found = python_json(
        "check_s3_backup.py",
        &[
            &format!("http://{}", s3.address()),
            BUCKET,
            "exports",
            seaweed::ACCESS_KEY,
            seaweed::SECRET_KEY,
            downloaded.path().to_str().unwrap(),
        ],
    )
    .await;
    let objects = found["objects"].as_object().expect("objects");
    let folder = format!("dgraph.r{}.u", done.read_ts);
    assert_eq!(objects.len(), 2 * default_groups(), "{found}");
    let mut names = BTreeSet::new();
    for (name, info) in objects {
        assert!(name.starts_with(&folder), "{name}");
        assert_eq!(info["size"], info["downloaded"], "{name}");
        let text = export_text(&downloaded.path().join(name));
        if name.ends_with(".json.gz") {
            for object in serde_json::from_str::<Vec<Value>>(&text).unwrap() {
                if let Some(n) = object["name"].as_str() {
                    names.insert(n.to_string());
                }
            }
        } else {
            assert!(name.ends_with(".schema.gz"), "{name}");
        }
    }
    assert_eq!(names, self::names(&["Ann", "Bob"]));
}
