//! Restores through the real services: an encrypted series (full, then two incrementals with
//! updates and deletes) restored online through `/admin` into another cluster and offline with
//! `alpha restore` into the directory an alpha starts from, each equal to the source at
//! the chosen backup (count and SHA-256 of a canonical export, indexes and reverse edges
//! included); zero's UID lease raised above the backup's; a finished restore that stays done
//! across restarts; the key from a file and from a Vault stand-in; refusals that leave the
//! cluster's data as it was; `verify`; and a backup worker killed mid-backup.

mod common;

use common::backups::{admin, alter, backup_client, dgraph, mutate, run_backup, start_backup, to};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service, default_groups, run_bin};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::backup::TaskRef;
use sha2::Digest;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::Channel;

async fn query(c: &mut DgraphClient<Channel>, q: &str, ts: Option<u64>) -> serde_json::Value {
    common::backups::read_only(c, q, ts.unwrap_or(0)).await
}

/// The uid of the node named `name`.
async fn uid_of(c: &mut DgraphClient<Channel>, name: &str) -> String {
    let v = query(
        c,
        &format!(r#"{{ q(func: eq(name, "{name}")) {{ uid }} }}"#),
        None,
    )
    .await;
    v["q"][0]["uid"].as_str().unwrap().to_string()
}

fn hex_uid(v: &serde_json::Value) -> u64 {
    u64::from_str_radix(v["uid"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Every node with an age, its name, age, friends and reverse friends, and an index lookup,
/// sorted: (number of facts, SHA-256 of the canonical JSON, highest uid).
async fn export(c: &mut DgraphClient<Channel>, ts: Option<u64>) -> (usize, String, u64) {
    let mut v = query(
        c,
        r#"{ q(func: has(age)) { uid name age friend { uid } ~friend { uid } }
             e(func: eq(name, ["n5", "n15", "n25", "n250", "late1"])) { uid name } }"#,
        ts,
    )
    .await;
    let mut facts = 0;
    let mut max_uid = 0;
    for block in ["q", "e"] {
        let Some(nodes) = v[block].as_array_mut() else {
            continue;
        };
        for node in nodes.iter_mut() {
            max_uid = max_uid.max(hex_uid(node));
            for edge in ["friend", "~friend"] {
                if let Some(list) = node[edge].as_array_mut() {
                    list.sort_by_key(hex_uid);
                    facts += list.len();
                }
            }
            facts += ["name", "age"]
                .iter()
                .filter(|p| node.get(**p).is_some())
                .count();
        }
        nodes.sort_by_key(hex_uid);
    }
    let canonical = serde_json::to_string(&v).unwrap();
    (
        facts,
        hex::encode(sha2::Sha256::digest(canonical.as_bytes())),
        max_uid,
    )
}

/// 300 named nodes with ages in a friend chain.
async fn load_initial(c: &mut DgraphClient<Channel>) {
    alter(
        c,
        "name: string @index(exact) .\nage: int @index(int) .\nfriend: [uid] @reverse @count .",
    )
    .await;
    for chunk in 0..3 {
        let mut rdf = String::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            rdf.push_str(&format!(
                "_:n{i} <name> \"n{i}\" .\n_:n{i} <age> \"{i}\" .\n"
            ));
            if i % 100 != 99 {
                rdf.push_str(&format!("_:n{i} <friend> _:n{} .\n", i + 1));
            }
        }
        mutate(c, &rdf, "").await;
    }
}

/// Changes between backups: names deleted, ages changed, edges removed, nodes added.
async fn change(c: &mut DgraphClient<Channel>, round: usize) {
    let mut set = String::new();
    let mut del = String::new();
    for i in (round * 20)..(round * 20 + 10) {
        let uid = uid_of(c, &format!("n{i}")).await;
        del.push_str(&format!("<{uid}> <name> * .\n<{uid}> <friend> * .\n"));
        let other = uid_of(c, &format!("n{}", i + 100)).await;
        set.push_str(&format!("<{other}> <age> \"{}\" .\n", 1000 + i));
    }
    for j in 0..5 {
        let target = uid_of(c, &format!("n{}", 200 + j)).await;
        set.push_str(&format!(
            "_:x{j} <name> \"late{round}{j}\" .\n_:x{j} <age> \"{j}\" .\n_:x{j} <friend> <{target}> .\n"
        ));
    }
    mutate(c, &set, &del).await;
}

fn key_file(dir: &Path, byte: u8) -> PathBuf {
    let path = dir.join(format!("key{byte}"));
    std::fs::write(&path, [byte; 32]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Restores through `/admin` and follows `restoreStatus` to its end; returns every status seen.
async fn restore_online(cluster: &Cluster, input: &str) -> Result<Vec<String>, serde_json::Value> {
    let v = admin(
        cluster,
        &format!("mutation {{ restore(input: {{{input}}}) {{ code message restoreId }} }}"),
    )
    .await;
    if v.get("errors").is_some() {
        return Err(v);
    }
    assert_eq!(v["data"]["restore"]["code"], "Success", "{v}");
    let id = v["data"]["restore"]["restoreId"]
        .as_i64()
        .expect("restoreId");
    let mut seen = Vec::new();
    for _ in 0..3000 {
        let s = admin(
            cluster,
            &format!("query {{ restoreStatus(restoreId: {id}) {{ status errors }} }}"),
        )
        .await;
        let status = s["data"]["restoreStatus"]["status"]
            .as_str()
            .unwrap()
            .to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        match status.as_str() {
            "OK" => {
                // The newer `task` query follows restores too, by the same id.
                let t = admin(
                    cluster,
                    &format!(r#"query {{ task(input: {{id: "{id}"}}) {{ kind status backupNum groupsDone }} }}"#),
                )
                .await;
                assert_eq!(t["data"]["task"]["kind"], "Restore", "{t}");
                assert_eq!(t["data"]["task"]["status"], "Success", "{t}");
                assert_eq!(t["data"]["task"]["groupsDone"], default_groups(), "{t}");
                return Ok(seen);
            }
            "ERR" => return Err(s),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    panic!("restore {id} did not finish: {seen:?}");
}

/// Runs `alpha restore` (offline); returns (restore version, max uid) from its output.
fn restore_offline(args: &[&str]) -> Result<(u64, u64), String> {
    let out = run_bin("alpha", args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        return Err(stderr);
    }
    let field = |name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing from {stdout}"))
            .trim()
            .parse()
            .unwrap()
    };
    Ok((field("Restore version:"), field("Restore max uid:")))
}

/// A source cluster with an encrypted series of three backups, and the export after each.
struct Source {
    _cluster: Cluster,
    dir: tempfile::TempDir,
    key: PathBuf,
    exports: Vec<(usize, String, u64)>,
    read_ts: Vec<u64>,
}

impl Source {
    fn location(&self) -> String {
        self.dir
            .path()
            .join("backups")
            .to_str()
            .unwrap()
            .to_string()
    }
}

async fn source() -> Source {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 7);
    let cluster = ClusterBuilder::new()
        .services(true)
        .arg(
            Service::BackupWorker,
            "--encryption_key_file",
            key.to_str().unwrap(),
        )
        .start()
        .await
        .unwrap();
    let mut c = dgraph(&cluster).await;
    let mut b = backup_client(&cluster);
    let location = dir.path().join("backups");
    let location = location.to_str().unwrap();
    load_initial(&mut c).await;
    let mut exports = Vec::new();
    let mut read_ts = Vec::new();
    for round in 0..3 {
        if round > 0 {
            change(&mut c, round).await;
        }
        let t = run_backup(&mut b, to(location, false)).await;
        assert_eq!(t.backup_num, round as u64 + 1);
        exports.push(export(&mut c, Some(t.read_ts)).await);
        read_ts.push(t.read_ts);
    }
    // Writes after the last backup are not in it.
    change(&mut c, 4).await;
    assert_ne!(export(&mut c, None).await, exports[2]);
    assert!(
        exports.windows(2).all(|w| w[0] != w[1]),
        "each backup differs"
    );
    Source {
        _cluster: cluster,
        dir,
        key,
        exports,
        read_ts,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_and_offline_restores_equal_the_source_at_each_backup() {
    let src = source().await;
    let location = src.location();
    let key = src.key.to_str().unwrap();

    // Online, into a cluster with its own data: each backupNum, then the newest.
    let mut target = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&target).await;
    mutate(&mut c, "_:z <name> \"own\" .\n_:z <age> \"1\" .", "").await;
    let mut saw_progress = false;
    for num in [1usize, 2, 3] {
        let seen = restore_online(
            &target,
            &format!(r#"location: "{location}", backupNum: {num}, encryptionKeyFile: "{key}""#),
        )
        .await
        .unwrap_or_else(|e| panic!("restore {num}: {e}"));
        assert!(
            seen.iter().all(|s| s == "IN_PROGRESS" || s == "OK") && seen.last().unwrap() == "OK",
            "{seen:?}"
        );
        saw_progress |= seen.first().is_some_and(|s| s == "IN_PROGRESS");
        assert_eq!(
            export(&mut c, None).await,
            src.exports[num - 1],
            "online restore of backup {num}"
        );
    }
    assert!(
        saw_progress,
        "restoreStatus answers IN_PROGRESS while a restore runs"
    );
    // The newest backup by default; the lease is above every restored uid, so new nodes
    // never take a restored uid.
    restore_online(
        &target,
        &format!(r#"location: "{location}", encryptionKeyFile: "{key}""#),
    )
    .await
    .unwrap();
    assert_eq!(export(&mut c, None).await, src.exports[2]);
    let max_uid = src.exports.iter().map(|e| e.2).max().unwrap();
    mutate(&mut c, "_:new <name> \"new\" .\n_:new <age> \"5\" .", "").await;
    let new_uid = uid_of(&mut c, "new").await;
    assert!(
        u64::from_str_radix(new_uid.trim_start_matches("0x"), 16).unwrap() > max_uid,
        "{new_uid} is above {max_uid:#x}"
    );
    // A finished restore stays done: restarting the alpha and the worker keeps the write
    // made after it, and the cluster is not draining.
    let after = export(&mut c, None).await;
    target.proc_mut("alpha").unwrap().restart().await.unwrap();
    target
        .proc_mut("backup-worker")
        .unwrap()
        .restart()
        .await
        .unwrap();
    let mut c = dgraph(&target).await;
    assert_eq!(export(&mut c, None).await, after);
    mutate(&mut c, "_:m <name> \"more\" .\n_:m <age> \"6\" .", "").await;

    // Offline: each backupNum into its own directory, then an alpha started on it.
    let out = tempfile::tempdir().unwrap();
    let secret = target
        .dir()
        .join(lodestar_integration_tests::CLUSTER_SECRET_FILE)
        .display()
        .to_string();
    // An encrypted target's alphas start only on directories under their own key.
    let postings_key = lodestar_integration_tests::test_encryption().then(|| {
        lodestar_integration_tests::ensure_encryption_key(target.dir())
            .unwrap()
            .display()
            .to_string()
    });
    for num in [1usize, 2, 3] {
        let p = out.path().join(format!("r{num}"));
        let zero = target.zero_grpc_addrs()[0].clone();
        let backup_num = num.to_string();
        let mut args = vec![
            "restore",
            "-p",
            p.to_str().unwrap(),
            "-l",
            &location,
            "-z",
            &zero,
            "--backup_num",
            &backup_num,
            "--encryption_key_file",
            key,
            "--cluster_secret_file",
            &secret,
        ];
        if let Some(k) = &postings_key {
            args.extend(["--postings_encryption_key_file", k]);
        }
        let (version, restored_max) = restore_offline(&args).unwrap();
        assert_eq!(version, src.read_ts[num - 1]);
        assert!(restored_max >= src.exports[num - 1].2, "{restored_max}");
        // Each group's restored directory seeds every alpha of the group: each starts from a
        // copy (its --wal, holding another history, is set aside), and they form the group
        // anew.
        let groups = common::replicas::group_of_each_alpha(&target).await;
        for a in target.alphas.iter_mut() {
            a.stop().await.unwrap();
        }
        for (i, a) in target.alphas.iter_mut().enumerate() {
            let seeded = out.path().join(format!("r{num}-alpha{i}"));
            common::copy_dir(&p.join(format!("p{}", groups[i])), &seeded);
            let at = a.args.iter().position(|x| x == "-p").unwrap();
            a.args[at + 1] = seeded.to_str().unwrap().to_string();
        }
        for a in target.alphas.iter_mut() {
            a.start().unwrap();
        }
        for a in target.alphas.iter_mut() {
            a.wait_healthy(Duration::from_secs(60)).await.unwrap();
        }
        let mut c = dgraph(&target).await;
        assert_eq!(
            export(&mut c, None).await,
            src.exports[num - 1],
            "offline restore of backup {num}"
        );
    }
    // A directory that already holds data is refused, and nothing is written.
    let err = restore_offline(&[
        "restore",
        "-p",
        out.path().join("r1").to_str().unwrap(),
        "-l",
        &location,
        "--force_zero=false",
        "--encryption_key_file",
        key,
    ])
    .unwrap_err();
    assert!(err.contains("already holds data"), "{err}");
    // A zero that does not take the call (no cluster credential) stops it before any write.
    let p = out.path().join("no-credential");
    let err = restore_offline(&[
        "restore",
        "-p",
        p.to_str().unwrap(),
        "-l",
        &location,
        "-z",
        &target.zero_grpc_addrs()[0],
        "--encryption_key_file",
        key,
    ])
    .unwrap_err();
    assert!(
        err.contains("cluster credential") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!p.exists());
    // Without -z, force_zero refuses; with the wrong key, nothing is written.
    let err = restore_offline(&["restore", "-p", "/nonexistent/x", "-l", &location]).unwrap_err();
    assert!(err.contains("--zero is required"), "{err}");
    // The backup worker's old command says where the restore went, and writes nothing.
    let p = out.path().join("moved");
    let moved = run_bin(
        "backup-worker",
        [
            "restore",
            "-p",
            p.to_str().unwrap(),
            "-l",
            &location,
            "--force_zero=false",
        ],
    );
    assert!(!moved.status.success());
    let said = String::from_utf8_lossy(&moved.stderr);
    assert!(said.contains("run `alpha restore`"), "{said}");
    assert!(!p.exists());
    let wrong = key_file(out.path(), 9);
    let p = out.path().join("wrong");
    let err = restore_offline(&[
        "restore",
        "-p",
        p.to_str().unwrap(),
        "-l",
        &location,
        "--force_zero=false",
        "--encryption_key_file",
        wrong.to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(err.contains("encryption key is wrong"), "{err}");
    assert!(!p.join("p1").exists(), "a wrong key writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_restores_are_refused_and_leave_the_data_as_it_was() {
    let src = source().await;
    let location = src.location();
    let key = src.key.to_str().unwrap();
    let target = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&target).await;
    load_initial(&mut c).await;
    mutate(&mut c, "_:z <name> \"own\" .\n_:z <age> \"1\" .", "").await;
    let own = export(&mut c, None).await;

    let refused = |v: serde_json::Value| v["errors"][0]["message"].as_str().unwrap().to_string();
    let e = refused(
        restore_online(
            &target,
            &format!(r#"location: "{location}", backupNum: -1"#),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        e.contains("backupNum value should be equal or greater than zero"),
        "{e}"
    );
    let e = refused(
        restore_online(
            &target,
            &format!(
                r#"location: "{location}", backupId: "nobody_knows1", encryptionKeyFile: "{key}""#
            ),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        e.contains("failed to verify backup") && e.contains("nobody_knows1"),
        "{e}"
    );
    let e = refused(
        restore_online(
            &target,
            &format!(r#"location: "{location}", backupNum: 4, encryptionKeyFile: "{key}""#),
        )
        .await
        .unwrap_err(),
    );
    assert!(e.contains("not enough backups"), "{e}");
    let unkeyed = restore_online(&target, &format!(r#"location: "{location}""#))
        .await
        .unwrap_err();
    if lodestar_integration_tests::test_encryption() {
        // The target's worker has a key of its own (its cluster is encrypted), which it tries:
        // not the series' key, so the files do not decrypt, and nothing is dropped.
        let errors = unkeyed["data"]["restoreStatus"]["errors"].to_string();
        assert!(errors.contains("encryption key is wrong"), "{errors}");
    } else {
        assert!(refused(unkeyed).contains("is encrypted"));
    }

    // A wrong key: the files are intact but do not decrypt; found before anything is dropped.
    let wrong = key_file(src.dir.path(), 9);
    let status = restore_online(
        &target,
        &format!(
            r#"location: "{location}", encryptionKeyFile: "{}""#,
            wrong.display()
        ),
    )
    .await
    .unwrap_err();
    let errors = status["data"]["restoreStatus"]["errors"].to_string();
    assert!(errors.contains("encryption key is wrong"), "{errors}");
    assert_eq!(export(&mut c, None).await, own);

    // One flipped byte in the second backup's file.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&location).join("manifest.json")).unwrap())
            .unwrap();
    let second = &manifest["Manifests"][1];
    let file = Path::new(&location)
        .join(second["path"].as_str().unwrap())
        .join(format!("r{}-g1.backup", second["read_ts"]));
    let original = std::fs::read(&file).unwrap();
    let mut flipped = original.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x20;
    std::fs::write(&file, &flipped).unwrap();
    let status = restore_online(
        &target,
        &format!(r#"location: "{location}", encryptionKeyFile: "{key}""#),
    )
    .await
    .unwrap_err();
    let errors = status["data"]["restoreStatus"]["errors"].to_string();
    assert!(
        errors.contains("SHA-256") && errors.contains("damaged"),
        "{errors}"
    );
    assert_eq!(
        export(&mut c, None).await,
        own,
        "a refused restore drops nothing"
    );
    // verify names the same damage, through the CLI.
    let out = run_bin(
        "backup-worker",
        ["verify", "-l", &location, "--encryption_key_file", key],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    std::fs::write(&file, &original).unwrap();
    let out = run_bin(
        "backup-worker",
        ["verify", "-l", &location, "--encryption_key_file", key],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["backup_nums"], serde_json::json!([1, 2, 3]));
    assert_eq!(
        report["files"].as_array().unwrap().len(),
        3 * default_groups()
    );

    // A missing incremental: backup 3 cannot be restored, backup 1 still can be chosen.
    let folder = Path::new(&location).join(second["path"].as_str().unwrap());
    let moved = src.dir.path().join("moved");
    std::fs::rename(&folder, &moved).unwrap();
    let e = refused(
        restore_online(
            &target,
            &format!(r#"location: "{location}", encryptionKeyFile: "{key}""#),
        )
        .await
        .unwrap_err(),
    );
    assert!(
        e.contains("backup 2 of series") && e.contains("missing files"),
        "{e}"
    );
    assert_eq!(export(&mut c, None).await, own);
    // Writes go on: the cluster was never left draining.
    mutate(&mut c, "_:w <name> \"still\" .\n_:w <age> \"2\" .", "").await;
    std::fs::rename(&moved, &folder).unwrap();
    restore_online(
        &target,
        &format!(r#"location: "{location}", backupNum: 1, encryptionKeyFile: "{key}""#),
    )
    .await
    .unwrap();
    assert_eq!(export(&mut c, None).await, src.exports[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_comes_from_vault_and_verify_checks_a_series_through_admin() {
    let src = source().await;
    let location = src.location();
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("role-id");
    let secret = dir.path().join("secret-id");
    std::fs::write(&role, "role-1").unwrap();
    std::fs::write(&secret, "secret-1").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let vault = common::vault_stand_in("role-1", "secret-1", &[7u8; 32]).await;
    let target = ClusterBuilder::new().services(true).start().await.unwrap();
    let vault_input = format!(
        r#"location: "{location}", vaultAddr: "{vault}", vaultRoleIDFile: "{}", vaultSecretIDFile: "{}", vaultPath: "secret/data/dgraph", vaultField: "enc_key", vaultFormat: "base64""#,
        role.display(),
        secret.display()
    );
    let v = admin(
        &target,
        &format!("mutation {{ verifyBackup(input: {{{vault_input}}}) {{ response {{ code }} backupNums files {{ path size sha256 keys }} }} }}"),
    )
    .await;
    assert_eq!(
        v["data"]["verifyBackup"]["response"]["code"], "Success",
        "{v}"
    );
    assert_eq!(
        v["data"]["verifyBackup"]["backupNums"],
        serde_json::json!(["1", "2", "3"])
    );
    restore_online(&target, &vault_input).await.unwrap();
    let mut c = dgraph(&target).await;
    assert_eq!(export(&mut c, None).await, src.exports[2]);
    // A secret-id that Vault refuses: the restore is refused before it starts.
    std::fs::write(&secret, "wrong").unwrap();
    let e = restore_online(&target, &vault_input).await.unwrap_err();
    let message = e["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Vault"), "{message}");
    assert!(
        !message.contains("wrong"),
        "the secret is not echoed: {message}"
    );
}

/// The `dgraph.*` backup folders in a local destination.
fn backup_folders(dest: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dest)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dgraph."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_worker_killed_mid_backup_leaves_no_manifest_entry_and_no_files() {
    let mut cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut c = dgraph(&cluster).await;
    alter(&mut c, "name: string @index(exact, term) .").await;
    for chunk in 0..10 {
        let rdf: String = (0..2_000)
            .map(|i| format!("_:n{i} <name> \"node {chunk} {i} with some words\" .\n"))
            .collect();
        mutate(&mut c, &rdf, "").await;
    }
    let dest = tempfile::tempdir().unwrap();
    let location = dest.path().to_str().unwrap().to_string();
    let mut b = backup_client(&cluster);
    let id = start_backup(&mut b, to(&location, false)).await;
    let mut running = false;
    for _ in 0..5000 {
        let t = b
            .get_task(TaskRef { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_ne!(
            t.status, "Success",
            "the backup finished before it could be killed"
        );
        // Killed once it has started writing its file.
        if t.status == "Running" && !backup_folders(dest.path()).is_empty() {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(running);
    let worker = cluster.proc_mut("backup-worker").unwrap();
    worker.kill9();
    assert!(!dest.path().join("manifest.json").exists());
    assert_eq!(backup_folders(dest.path()).len(), 1);
    worker.start().unwrap();
    worker.wait_healthy(Duration::from_secs(30)).await.unwrap();
    // The restarted worker removes the cut-off backup's files.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !backup_folders(dest.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "a cut-off backup's files stayed: {:?}",
            backup_folders(dest.path())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut b = backup_client(&cluster);
    let t = b
        .get_task(TaskRef { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.status, "Failed", "{t:?}");
    assert!(
        t.errors
            .iter()
            .any(|e| e.contains("stopped while this task was running")),
        "{t:?}"
    );
    let next = run_backup(&mut b, to(&location, false)).await;
    assert_eq!(
        next.backup_num, 1,
        "the next backup starts the series: {next:?}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dest.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["Manifests"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_are_refused_while_enterprise_features_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = ClusterBuilder::new().services(true).start().await.unwrap();
    let mut b = backup_client(&cluster);
    let location = dir.path().to_str().unwrap().to_string();
    run_backup(&mut b, to(&location, false)).await;
    common::move_zero_clock(&mut cluster, 0, "31d").await;
    let mut b = backup_client(&cluster);
    let e = b.start_backup(to(&location, false)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(
        e.message()
            .starts_with("you must enable enterprise features first"),
        "{e:?}"
    );
    let e = restore_online(&cluster, &format!(r#"location: "{location}""#))
        .await
        .unwrap_err();
    let message = e["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("you must enable enterprise features first"),
        "{message}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["Manifests"].as_array().unwrap().len(),
        1,
        "nothing was added"
    );
}
