//! Backups through the real backup worker against a real cluster: full, incrementals and
//! forceFull to a local directory with Dgraph's manifest layout, checksums that match the
//! files, an encrypted file that openssl decrypts and gunzip reads, bad input refused before
//! any work, and a backup that holds exactly the state at its read_ts while writes go on.

mod common;

use common::backups::{
    alter, backup_client, dgraph, finished, run_backup, set, start_backup, to, wait_task,
};
use lodestar_backup::codec::Decoder;
use lodestar_integration_tests::{ClusterBuilder, Service, default_groups};
use lodestar_proto::api::Request;
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::backup::{BackupRequest, TaskRef};
use lodestar_proto::worker::KvBatch;
use prost::Message;
use sha2::Digest;
use std::path::Path;
use std::time::Duration;

fn manifests(dir: &Path) -> Vec<serde_json::Value> {
    let raw = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["Manifests"].as_array().unwrap().clone()
}

/// The batches of a backup file (decrypted with `key` when given).
fn batches(path: &Path, key: Option<&lodestar_crypto::EncryptionKey>) -> Vec<KvBatch> {
    let file = std::fs::File::open(path).unwrap();
    Decoder::new(file, key)
        .unwrap()
        .map(|frame| KvBatch::decode(frame.unwrap().as_slice()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_two_incrementals_then_force_full_to_a_local_directory() {
    let cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let dest = tempfile::tempdir().unwrap();
    let dest_path = dest.path().join("backups");
    let dest_uri = dest_path.to_str().unwrap().to_string();
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

    let id = start_backup(&mut b, to(&dest_uri, false)).await;
    assert!(id.starts_with("0x"), "{id}");
    let full = finished(&mut b, &id).await;
    assert_eq!((full.kind.as_str(), full.backup_num), ("Backup", 1));
    assert!(
        full.bytes_written > 0 && full.groups_done as usize == default_groups(),
        "{full:?}"
    );
    let m = manifests(&dest_path);
    assert_eq!(m.len(), 1);
    let entry = &m[0];
    assert_eq!(entry["type"], "full");
    assert_eq!(entry["backup_num"], 1);
    assert_eq!(entry["version"], 2105);
    assert_eq!(entry["compression"], "gzip");
    // Encrypted exactly when the cluster is (LODESTAR_TEST_ENCRYPTION).
    assert_eq!(
        entry["encrypted"],
        lodestar_integration_tests::test_encryption()
    );
    assert_eq!(entry["read_ts"], full.read_ts);
    assert_eq!(entry["backup_id"], full.backup_id.as_str());
    let folder = entry["path"].as_str().unwrap();
    assert!(
        folder.starts_with("dgraph.") && folder.len() == "dgraph.20210517.095641.969".len(),
        "{folder}"
    );
    // Each predicate is listed under the one group that serves it.
    let listed: Vec<&serde_json::Value> = entry["groups"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|preds| preds.as_array().unwrap())
        .collect();
    for pred in ["0-name", "0-friend"] {
        let times = listed.iter().filter(|p| **p == pred).count();
        assert_eq!(times, 1, "{pred} in {listed:?}");
    }
    let file = &entry["files"]["1"];
    let name = format!("r{}-g1.backup", full.read_ts);
    assert_eq!(file["name"], name.as_str());
    let path = dest_path.join(folder).join(&name);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(file["size"], bytes.len() as u64);
    assert_eq!(
        file["sha256"],
        hex::encode(sha2::Sha256::digest(&bytes)).as_str()
    );
    let got = batches(&path, common::backups::worker_key().as_ref());
    assert!(got.last().unwrap().done);
    assert_eq!(file["keys"], got.last().unwrap().count);
    assert!(
        got.iter().flat_map(|b| &b.kvs).all(|kv| !kv.deleted),
        "a full backup holds no deletes"
    );

    // Two incrementals continue the series with what changed since the last one.
    set(&mut c, r#"_:c <name> "Cy" ."#).await;
    let first = run_backup(&mut b, to(&dest_uri, false)).await;
    let second = run_backup(&mut b, to(&dest_uri, false)).await;
    let m = manifests(&dest_path);
    assert_eq!(m.len(), 3);
    for (entry, (num, task)) in m[1..].iter().zip([(2, &first), (3, &second)]) {
        assert_eq!(entry["type"], "incremental");
        assert_eq!(entry["backup_num"], num);
        assert_eq!(entry["backup_id"], full.backup_id.as_str());
        assert_eq!(entry["read_ts"], task.read_ts);
    }
    assert!(first.read_ts > full.read_ts && second.read_ts > first.read_ts);
    // Keys over every group's file, each read back.
    let keys_in = |entry: &serde_json::Value, read_ts: u64| -> u64 {
        let folder = dest_path.join(entry["path"].as_str().unwrap());
        entry["files"]
            .as_object()
            .unwrap()
            .keys()
            .map(|g| {
                let file = folder.join(format!("r{read_ts}-g{g}.backup"));
                batches(&file, common::backups::worker_key().as_ref())
                    .last()
                    .unwrap()
                    .count
            })
            .sum()
    };
    let keys = keys_in(&m[1], first.read_ts);
    assert!(
        keys > 0 && keys < keys_in(&m[0], full.read_ts) + 4,
        "an incremental holds only what changed ({keys} keys)"
    );

    // forceFull starts a new series.
    let forced = run_backup(&mut b, to(&dest_uri, true)).await;
    let m = manifests(&dest_path);
    assert_eq!(m.len(), 4);
    assert_eq!(m[3]["type"], "full");
    assert_eq!(m[3]["backup_num"], 1);
    assert_ne!(m[3]["backup_id"], full.backup_id.as_str());
    assert_eq!(m[3]["backup_id"], forced.backup_id.as_str());
    assert!(!dest_path.join("manifest_tmp.json").exists());

    // listBackups reads the same manifest.
    let listed = b
        .list_backups(lodestar_proto::backup::ListBackupsRequest {
            location: dest_uri.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let listed: serde_json::Value = serde_json::from_slice(&listed.manifests_json).unwrap();
    assert_eq!(listed["Manifests"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_any_work() {
    let cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut b = backup_client(&cluster);
    for (dest, code, text) in [
        (
            "",
            tonic::Code::InvalidArgument,
            "you must specify a 'destination' value",
        ),
        ("ftp://host/bucket", tonic::Code::InvalidArgument, "ftp"),
        ("s3:///", tonic::Code::InvalidArgument, "bucket"),
        ("minio:///bucket", tonic::Code::InvalidArgument, "host"),
        ("/tmp/a/../../etc", tonic::Code::InvalidArgument, ".."),
    ] {
        let err = b.start_backup(to(dest, false)).await.unwrap_err();
        assert_eq!(err.code(), code, "{dest}: {err:?}");
        assert!(err.message().contains(text), "{dest}: {err:?}");
    }
    let err = b
        .get_task(TaskRef { id: "0x999".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let err = b
        .get_task(TaskRef {
            id: "nonsense".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_backup_decrypts_with_openssl_and_then_gunzips() {
    let keydir = tempfile::tempdir().unwrap();
    let key_path = keydir.path().join("enc.key");
    let key: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    std::fs::write(&key_path, &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster = ClusterBuilder::new()
        .services(true)
        .arg(
            Service::BackupWorker,
            "--encryption_key_file",
            key_path.to_str().unwrap(),
        )
        .start()
        .await
        .unwrap();
    let mut c = dgraph(&cluster).await;
    set(&mut c, r#"_:a <name> "Encrypted Ann" ."#).await;
    let dest = tempfile::tempdir().unwrap();
    let mut b = backup_client(&cluster);
    let task = run_backup(&mut b, to(dest.path().to_str().unwrap(), false)).await;
    let m = manifests(dest.path());
    assert_eq!(m[0]["encrypted"], true);
    let path = dest
        .path()
        .join(m[0]["path"].as_str().unwrap())
        .join(format!("r{}-g1.backup", task.read_ts));
    let raw = std::fs::read(&path).unwrap();
    assert!(
        !raw.windows(b"Encrypted Ann".len())
            .any(|w| w == b"Encrypted Ann"),
        "the value is not in the file in clear"
    );
    let plain = common::backups::openssl_gunzip(&path, &key);
    // The plain stream is frames: u64 little-endian length, then a KvBatch.
    let mut rest = plain.as_slice();
    let mut found = false;
    let mut last_done = false;
    while !rest.is_empty() {
        let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
        let batch = KvBatch::decode(&rest[8..8 + len]).unwrap();
        found |= batch
            .kvs
            .iter()
            .any(|kv| kv.value.windows(13).any(|w| w == b"Encrypted Ann"));
        last_done = batch.done;
        rest = &rest[8 + len..];
    }
    assert!(found, "the decrypted stream holds the value");
    assert!(last_done, "the last frame ends the stream");

    // A key that is not the cluster's does not read it.
    let wrong = lodestar_crypto::EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let err = Decoder::new(file, Some(&wrong))
        .unwrap()
        .find_map(Result::err)
        .expect("a wrong key fails");
    assert!(err.to_string().contains("does not decompress"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holds_exactly_the_state_at_its_read_ts_while_writes_go_on() {
    let cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&cluster).await;
    alter(&mut c, "n: int .").await;
    let alpha = cluster.alpha_grpc();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut c = DgraphClient::new(lodestar_client::channel(&alpha).unwrap());
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 5_000 {
                set(&mut c, &format!("_:x <n> \"{i}\" .")).await;
                i += 1;
            }
            i
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dest = tempfile::tempdir().unwrap();
    let mut b = backup_client(&cluster);
    let task = run_backup(&mut b, to(dest.path().to_str().unwrap(), false)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();

    // What the cluster held at read_ts, read through the client API at that timestamp.
    let resp = c
        .query(Request {
            query: "{ q(func: has(n)) { count(uid) } }".into(),
            start_ts: task.read_ts,
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let v: serde_json::Value = serde_json::from_slice(&resp.json).unwrap();
    let at_read_ts = v["q"][0]["count"].as_u64().unwrap();
    assert!(
        at_read_ts > 0 && at_read_ts < written,
        "writes went on before and after the backup ({at_read_ts} of {written})"
    );
    let m = manifests(dest.path());
    let path = dest
        .path()
        .join(m[0]["path"].as_str().unwrap())
        .join(format!("r{}-g1.backup", task.read_ts));
    let all = batches(&path, common::backups::worker_key().as_ref());
    let n_id = all
        .iter()
        .flat_map(|b| &b.names)
        .find(|d| d.name == "n")
        .map(|d| d.id)
        .expect("the backup names predicate n");
    let n_values = all
        .iter()
        .flat_map(|b| &b.kvs)
        .filter(|kv| kv.key[0] == 1 && kv.key[1..5] == n_id.to_be_bytes())
        .count();
    assert_eq!(n_values as u64, at_read_ts);
}

use lodestar_test_support::seaweed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_to_seaweedfs_through_minio_and_s3_uris_and_a_wrong_secret_leaves_no_entry() {
    let Some(s3) = seaweed::Seaweed::start(&["lodestar"]) else {
        return;
    };
    // The worker takes s3:// credentials from its environment, as Dgraph's alphas do.
    let cluster = ClusterBuilder::new()
        .services(true)
        .env(
            Service::BackupWorker,
            "AWS_ACCESS_KEY_ID",
            seaweed::ACCESS_KEY,
        )
        .env(
            Service::BackupWorker,
            "AWS_SECRET_ACCESS_KEY",
            seaweed::SECRET_KEY,
        )
        .start()
        .await
        .unwrap();
    let mut c = dgraph(&cluster).await;
    set(&mut c, r#"_:a <name> "Ann" . _:b <name> "Bob" ."#).await;
    let mut b = backup_client(&cluster);
    let addr = s3.address();

    // minio:// with the keys in the request; full then incremental.
    let minio = format!("minio://{addr}/lodestar/cluster-a?secure=false");
    let keyed = |force_full| BackupRequest {
        credentials: Some(lodestar_proto::backup::Credentials {
            access_key: seaweed::ACCESS_KEY.into(),
            secret_key: seaweed::SECRET_KEY.into(),
            ..Default::default()
        }),
        ..to(&minio, force_full)
    };
    let full = run_backup(&mut b, keyed(false)).await;
    set(&mut c, r#"_:c <name> "Cy" ."#).await;
    let incr = run_backup(&mut b, keyed(false)).await;
    assert_eq!((full.backup_num, incr.backup_num), (1, 2));
    assert_eq!(full.backup_id, incr.backup_id);

    // What landed in the bucket, read back through the s3:// scheme with keys from the
    // environment of this process (the same names the worker reads).
    let dest = lodestar_backup::destination::Destination::parse(&format!(
        "s3://{addr}/lodestar/cluster-a?secure=false"
    ))
    .unwrap();
    let env = |name: &str| match name {
        "AWS_ACCESS_KEY_ID" => Some(seaweed::ACCESS_KEY.to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some(seaweed::SECRET_KEY.to_string()),
        _ => None,
    };
    let op = dest
        .operator(&lodestar_backup::destination::Credentials::default(), &env)
        .unwrap();
    let master = lodestar_backup::manifest::read_master(&op).await.unwrap();
    assert_eq!(master.manifests.len(), 2);
    for m in &master.manifests {
        let file = &m.files[&1];
        let bytes = op
            .read(&format!("{}/{}", m.path, file.name))
            .await
            .unwrap()
            .to_vec();
        assert_eq!(file.size, bytes.len() as u64);
        assert_eq!(file.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
        let frames: Vec<KvBatch> =
            Decoder::new(bytes.as_slice(), common::backups::worker_key().as_ref())
                .unwrap()
                .map(|f| KvBatch::decode(f.unwrap().as_slice()).unwrap())
                .collect();
        assert_eq!(frames.last().unwrap().count, file.keys);
    }

    // s3:// with the worker's environment credentials, into another prefix.
    let s3_dest = format!("s3://{addr}/lodestar/cluster-b?secure=false");
    let mut nums = Vec::new();
    for (i, force_full) in [false, false, false, true].into_iter().enumerate() {
        set(&mut c, &format!("_:s{i} <name> \"S{i}\" .")).await;
        nums.push(
            run_backup(&mut b, to(&s3_dest, force_full))
                .await
                .backup_num,
        );
    }
    assert_eq!(nums, [1, 2, 3, 1]);
    let op_b = lodestar_backup::destination::Destination::parse(&s3_dest)
        .unwrap()
        .operator(&lodestar_backup::destination::Credentials::default(), &env)
        .unwrap();
    assert_eq!(
        lodestar_backup::manifest::read_master(&op_b)
            .await
            .unwrap()
            .manifests
            .len(),
        4
    );

    // A wrong secret: the task fails with the store's refusal and the manifest is unchanged.
    let mut wrong = keyed(false);
    wrong.credentials.as_mut().unwrap().secret_key = "not-the-secret".into();
    let id = start_backup(&mut b, wrong).await;
    let failed = wait_task(&mut b, &id).await;
    assert_eq!(failed.status, "Failed", "{failed:?}");
    assert!(!failed.errors.is_empty());
    assert!(
        !failed.errors.join(" ").contains("not-the-secret"),
        "secrets never appear in errors"
    );
    assert_eq!(
        lodestar_backup::manifest::read_master(&op)
            .await
            .unwrap()
            .manifests
            .len(),
        2,
        "a failed backup adds no manifest entry"
    );
}
