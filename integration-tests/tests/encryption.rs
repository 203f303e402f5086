//! Encryption at rest, driven as a user would: a cluster started with `--encryption_key_file`
//! keeps no written string in any file of any data directory (values, index tokens, a large
//! value, predicate names, an open transaction) even when killed with SIGKILL; it comes back
//! whole with its key; without the key, or with another, it refuses to start, names the
//! problem, and changes no file.

mod common;

use common::backups::{alter, dgraph, read_only, set, set_request};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A key file of `len` random bytes, owner-only.
fn key_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    use rand::RngCore as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut key = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut key);
    let path = dir.join(name);
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Every file under `dir` (logs aside: they are not data) with its bytes.
fn data_files(dir: &Path, logs: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d == logs && d != dir {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "log")
                && let Ok(bytes) = std::fs::read(&p)
            {
                out.insert(p, bytes);
            }
        }
    }
    out
}

fn files_holding(files: &BTreeMap<PathBuf, Vec<u8>>, needle: &str) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Starts `proc` and waits for it to exit; its output of that run.
async fn refused_start(proc: &mut lodestar_integration_tests::Proc) -> String {
    proc.start().unwrap();
    let started = Instant::now();
    while proc.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} kept running:\n{}",
            proc.name,
            proc.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!proc.exit_status().unwrap().success());
    proc.run_log()
}

fn set_flag(args: &mut Vec<String>, flag: &str, value: Option<&Path>) {
    if let Some(i) = args.iter().position(|a| a == flag) {
        args.drain(i..i + 2);
    }
    if let Some(v) = value {
        args.push(flag.to_string());
        args.push(v.display().to_string());
    }
}

/// The enterprise features zero's `/health` lists (Dgraph's names), once it lists any (zero
/// publishes them every few seconds).
async fn ee_features(cluster: &Cluster) -> Vec<String> {
    let started = Instant::now();
    loop {
        let url = format!("{}/health", cluster.zeros[0].http_url());
        let v: serde_json::Value = reqwest::Client::new()
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let features: Vec<String> = v["ee_features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        if !features.is_empty() || started.elapsed() > Duration::from_secs(12) {
            return features;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Restarts zero and the alpha (with their args as they are now) and checks that one node
/// holds `name`.
async fn restart_and_find(cluster: &mut Cluster, name: &str) {
    cluster.zeros[0].restart().await.unwrap();
    cluster.alpha_mut().restart().await.unwrap();
    let mut c = dgraph(cluster).await;
    let q = format!(r#"{{ q(func: eq(Kq7pred_name, "{name}")) {{ count(uid) }} }}"#);
    let v = read_only(&mut c, &q, 0).await;
    assert_eq!(v["q"][0]["count"], 1, "{v}");
}

const SCHEMA: &str = "Kq7pred_name: string @index(exact, term) .\n\
                      Kq7pred_big: string .\n\
                      Kq7pred_link: [uid] @reverse .";

/// `builder` with zero and the alphas encrypted under `key`.
fn keyed(builder: ClusterBuilder, key: &Path) -> ClusterBuilder {
    let key = key.display().to_string();
    builder
        .arg(Service::Zero, "--encryption_key_file", key.clone())
        .arg(Service::Alpha, "--encryption_key_file", key)
}

async fn encrypted_cluster(key: &Path) -> Cluster {
    keyed(ClusterBuilder::new().zeros(1).alphas(1), key)
        // A short period, so the store's files are sealed under more than one data key.
        .arg(Service::Alpha, "--encryption_key_rotation", "2s")
        .start()
        .await
        .expect("an encrypted cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_written_string_reaches_a_disk_and_only_the_key_opens_the_data() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "enc_key_file", 32);
    let other = key_file(keys.path(), "other_key_file", 32);
    let mut cluster = encrypted_cluster(&key).await;
    let mut c = dgraph(&cluster).await;
    alter(&mut c, SCHEMA).await;
    let big = "Kq7blob ".repeat(20_000);
    for i in 0..40 {
        set(
            &mut c,
            &format!(
                "_:n <Kq7pred_name> \"Kq7exact{i} Kq7term{i} Kq7words running\" .\n\
                 _:n <Kq7pred_link> _:m .\n_:m <Kq7pred_name> \"Kq7other{i}\" ."
            ),
        )
        .await;
        if i == 20 {
            // Past a data-key rotation.
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
    }
    set(&mut c, &format!("_:b <Kq7pred_big> \"{big}\" .")).await;
    // An open transaction: its writes are pending, not committed.
    let pending = c
        .query(set_request("_:p <Kq7pred_name> \"Kq7pending\" .", false))
        .await
        .unwrap()
        .into_inner();
    assert!(pending.txn.unwrap().start_ts > 0);
    assert_eq!(
        ee_features(&cluster).await,
        [
            "encryption_at_rest",
            "encrypted_backup_restore",
            "acl",
            "multi_tenancy"
        ]
    );
    let q = r#"{ q(func: anyofterms(Kq7pred_name, "Kq7term7 Kq7term33")) { Kq7pred_name Kq7pred_link { Kq7pred_name } } }"#;
    let before = read_only(&mut c, q, 0).await;
    assert_eq!(before["q"].as_array().unwrap().len(), 2, "{before}");

    // SIGKILL: nothing is flushed or closed cleanly.
    for p in cluster.procs_mut() {
        p.kill9();
    }
    let files = data_files(cluster.dir(), cluster.log_dir());
    assert!(files.len() > 5, "{:?}", files.keys());
    for needle in [
        "Kq7pred",
        "Kq7exact",
        "Kq7term",
        "Kq7other",
        "Kq7blob",
        "Kq7pending",
        "running",
    ] {
        assert_eq!(
            files_holding(&files, needle),
            Vec::<PathBuf>::new(),
            "{needle} is on disk in plaintext"
        );
    }

    // Without the key, or with another, the alpha refuses and names the problem; zero too.
    let alpha = cluster.alpha_mut();
    let with_key = alpha.args.clone();
    set_flag(&mut alpha.args, "--encryption_key_file", None);
    let out = refused_start(alpha).await;
    assert!(
        out.contains("is encrypted: start with the encryption key"),
        "{out}"
    );
    set_flag(&mut alpha.args, "--encryption_key_file", Some(&other));
    let out = refused_start(alpha).await;
    assert!(out.contains("Encryption key mismatch"), "{out}");
    let zero = &mut cluster.zeros[0];
    let zero_with_key = zero.args.clone();
    set_flag(&mut zero.args, "--encryption_key_file", Some(&other));
    let out = refused_start(zero).await;
    assert!(out.contains("Encryption key mismatch"), "{out}");
    assert_eq!(
        data_files(cluster.dir(), cluster.log_dir()),
        files,
        "a refused start changes no file"
    );

    // With the key, everything committed is back.
    cluster.zeros[0].args = zero_with_key;
    cluster.zeros[0].restart().await.unwrap();
    cluster.alpha_mut().args = with_key;
    cluster.alpha_mut().restart().await.unwrap();
    let mut c = dgraph(&cluster).await;
    let after = read_only(&mut c, q, 0).await;
    assert_eq!(after, before);
    let count = read_only(
        &mut c,
        r#"{ q(func: has(Kq7pred_name)) { count(uid) } b(func: has(Kq7pred_big)) { Kq7pred_big } }"#,
        0,
    )
    .await;
    assert_eq!(count["q"][0]["count"], 80, "{count}");
    assert_eq!(count["b"][0]["Kq7pred_big"], big.as_str());
    let eq = read_only(
        &mut c,
        r#"{ q(func: eq(Kq7pred_name, "Kq7other5")) { ~Kq7pred_link { Kq7pred_name } } }"#,
        0,
    )
    .await;
    assert_eq!(
        eq["q"][0]["~Kq7pred_link"][0]["Kq7pred_name"], "Kq7exact5 Kq7term5 Kq7words running",
        "{eq}"
    );
    assert!(!cluster.alpha().log().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_cluster_does_not_become_encrypted_by_adding_a_key() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "enc_key_file", 16);
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .alphas(1)
        .start()
        .await
        .unwrap();
    assert_eq!(
        ee_features(&cluster).await,
        ["backup_restore", "acl", "multi_tenancy"]
    );
    let mut c = dgraph(&cluster).await;
    alter(&mut c, SCHEMA).await;
    set(&mut c, "_:n <Kq7pred_name> \"Kq7plain\" .").await;
    cluster.alpha_mut().stop().await.unwrap();
    let before = data_files(cluster.dir(), cluster.log_dir());
    assert!(
        !files_holding(&before, "Kq7plain").is_empty(),
        "a plain store keeps the string in its files (or the search is broken)"
    );
    let alpha = cluster.alpha_mut();
    let plain = alpha.args.clone();
    set_flag(&mut alpha.args, "--encryption_key_file", Some(&key));
    let out = refused_start(alpha).await;
    assert!(out.contains("is not encrypted"), "{out}");
    assert_eq!(data_files(cluster.dir(), cluster.log_dir()), before);
    cluster.alpha_mut().args = plain;
    cluster.alpha_mut().restart().await.unwrap();
    let mut c = dgraph(&cluster).await;
    let v = read_only(
        &mut c,
        r#"{ q(func: eq(Kq7pred_name, "Kq7plain")) { count(uid) } }"#,
        0,
    )
    .await;
    assert_eq!(v["q"][0]["count"], 1, "{v}");
}

/// `alpha rotate-key` as a user runs it: `rotate-key --dir D -o OLD -n NEW`.
fn rotate(dir: &Path, old: &Path, new: &Path) -> std::process::Output {
    lodestar_integration_tests::run_bin(
        "alpha",
        [
            "rotate-key",
            "--dir",
            common::path(dir),
            "-o",
            common::path(old),
            "-n",
            common::path(new),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_rotates_offline_and_only_the_new_key_opens_the_data() {
    let keys = tempfile::tempdir().unwrap();
    let old = key_file(keys.path(), "old_key", 32);
    let new = key_file(keys.path(), "new_key", 24);
    let mut cluster = encrypted_cluster(&old).await;
    let mut c = dgraph(&cluster).await;
    alter(&mut c, SCHEMA).await;
    set(&mut c, "_:n <Kq7pred_name> \"Kq7rotated\" .").await;
    let dirs = [
        cluster.dir().join("p"),
        cluster.dir().join("w"),
        cluster.dir().join("zero1"),
    ];
    for d in &dirs {
        assert!(d.join("KEYREGISTRY").exists(), "{}", d.display());
    }
    // A running node's directory is refused: its own rotation could race the new key.
    let busy = rotate(&dirs[0], &old, &new);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use by another process"),
        "{busy:?}"
    );
    for p in cluster.procs_mut() {
        p.stop().await.unwrap();
    }
    // The wrong old key changes nothing.
    let wrong = rotate(&dirs[0], &new, &old);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Encryption key mismatch"));
    // The command as Dgraph documents it, on the alpha's w.
    let badger = lodestar_integration_tests::run_bin(
        "badger",
        [
            "rotate",
            "--dir",
            common::path(&dirs[1]),
            "--old-key-path",
            common::path(&old),
            "--new-key-path",
            common::path(&new),
        ],
    );
    assert!(badger.status.success(), "{badger:?}");
    for d in [&dirs[0], &dirs[2]] {
        let out = rotate(d, &old, &new);
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("re-sealed under the new master key"),
            "{out:?}"
        );
    }
    let alpha = cluster.alpha_mut();
    let out = refused_start(alpha).await;
    assert!(out.contains("Encryption key mismatch"), "{out}");
    for p in cluster.procs_mut() {
        set_flag(&mut p.args, "--encryption_key_file", Some(&new));
    }
    restart_and_find(&mut cluster, "Kq7rotated").await;
    set(
        &mut dgraph(&cluster).await,
        "_:n <Kq7pred_name> \"Kq7after\" .",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_comes_from_vault() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("role-id");
    let secret = dir.path().join("secret-id");
    std::fs::write(&role, "role-9").unwrap();
    std::fs::write(&secret, "secret-9").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = [0x42u8; 24];
    let vault = common::vault_stand_in("role-9", "secret-9", &key).await;
    let flag = format!(
        "addr={vault}; role-id-file={}; secret-id-file={}; path=secret/data/dgraph; field=enc_key; format=base64",
        role.display(),
        secret.display()
    );
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .alphas(1)
        .arg(Service::Zero, "--vault", flag.clone())
        .arg(Service::Alpha, "--vault", flag.clone())
        .start()
        .await
        .expect("a cluster keyed from Vault starts");
    let mut c = dgraph(&cluster).await;
    alter(&mut c, SCHEMA).await;
    set(&mut c, "_:n <Kq7pred_name> \"Kq7vaulted\" .").await;
    for p in cluster.procs_mut() {
        p.stop().await.unwrap();
    }
    let files = data_files(cluster.dir(), cluster.log_dir());
    assert_eq!(files_holding(&files, "Kq7vaulted"), Vec::<PathBuf>::new());
    // The key Vault serves is the key: the same bytes from a file open the data.
    let key_path = dir.path().join("same_key");
    std::fs::write(&key_path, key).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A Vault that refuses the login stops the start and names it.
    let alpha = cluster.alpha_mut();
    let bad = flag.replace(common::path(&role), common::path(&secret));
    let i = alpha.args.iter().position(|a| a == "--vault").unwrap();
    alpha.args[i + 1] = bad;
    let out = refused_start(alpha).await;
    assert!(out.contains("--vault") && out.contains("refused"), "{out}");
    for p in cluster.procs_mut() {
        let i = p.args.iter().position(|a| a == "--vault").unwrap();
        p.args.drain(i..i + 2);
        set_flag(&mut p.args, "--encryption_key_file", Some(&key_path));
    }
    restart_and_find(&mut cluster, "Kq7vaulted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_license_refuses_new_encrypted_stores_and_never_locks_out_existing_ones() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "enc_key_file", 32);
    let mut cluster = encrypted_cluster(&key).await;
    let mut c = dgraph(&cluster).await;
    alter(&mut c, SCHEMA).await;
    set(&mut c, "_:n <Kq7pred_name> \"Kq7kept\" .").await;
    // The trial ends.
    common::move_zero_clock(&mut cluster, 0, "31d").await;
    // The encrypted alpha restarts and serves its data.
    cluster.alpha_mut().restart().await.unwrap();
    let mut c = dgraph(&cluster).await;
    let v = read_only(
        &mut c,
        r#"{ q(func: eq(Kq7pred_name, "Kq7kept")) { count(uid) } }"#,
        0,
    )
    .await;
    assert_eq!(v["q"][0]["count"], 1, "{v}");
    // A new encrypted store is refused with Dgraph's message, and nothing is created.
    let alpha = cluster.alpha_mut();
    alpha.stop().await.unwrap();
    let fresh = keys.path().join("fresh-p");
    let i = alpha.args.iter().position(|a| a == "-p").unwrap();
    alpha.args[i + 1] = fresh.display().to_string();
    let out = refused_start(alpha).await;
    assert!(
        out.contains("Valid Enterprise License needed for the Encryption feature."),
        "{out}"
    );
    assert!(!fresh.exists(), "a refused start creates no store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_clusters_backup_is_encrypted_and_restores_under_the_targets_own_key() {
    use common::backups::{admin, backup_client, run_backup, start_backup, to, wait_task};
    let keys = tempfile::tempdir().unwrap();
    let (a, b) = (
        key_file(keys.path(), "source_key", 32),
        key_file(keys.path(), "target_key", 16),
    );
    let backups = tempfile::tempdir().unwrap();
    let dest = backups.path().display().to_string();
    let with_services = |key: &Path| keyed(ClusterBuilder::new().services(true), key);
    let mut src = with_services(&a).start().await.unwrap();
    let mut c = dgraph(&src).await;
    alter(&mut c, SCHEMA).await;
    for i in 0..30 {
        set(
            &mut c,
            &format!("_:n <Kq7pred_name> \"Kq7backed{i}\" .\n_:n <Kq7pred_link> _:m .\n_:m <Kq7pred_name> \"Kq7linked{i}\" ."),
        )
        .await;
    }
    let q = r#"{ q(func: has(Kq7pred_link), orderasc: Kq7pred_name) { Kq7pred_name Kq7pred_link { Kq7pred_name } } }"#;
    let before = read_only(&mut c, q, 0).await;
    assert_eq!(before["q"].as_array().unwrap().len(), 30);

    // A worker without a key refuses: the data would leave the cluster in plaintext.
    let mut worker = backup_client(&src);
    let id = start_backup(&mut worker, to(&dest, true)).await;
    let refused = wait_task(&mut worker, &id).await;
    assert_eq!(refused.status, "Failed");
    assert!(
        refused
            .errors
            .iter()
            .any(|e| e.contains("encrypted at rest") && e.contains("no encryption key")),
        "{refused:?}"
    );
    assert!(!backups.path().join("manifest.json").exists());

    // With a key the backup is encrypted.
    let bw = src.backup.as_mut().unwrap();
    set_flag(&mut bw.args, "--encryption_key_file", Some(&a));
    bw.restart().await.unwrap();
    let mut worker = backup_client(&src);
    run_backup(&mut worker, to(&dest, true)).await;
    let manifest = std::fs::read_to_string(backups.path().join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"encrypted\":true") || manifest.contains("\"encrypted\": true"),
        "{manifest}"
    );
    let backup_files = data_files(backups.path(), Path::new("/nonexistent"));
    assert!(files_holding(&backup_files, "Kq7backed").is_empty());

    // Into another cluster with its own key: the same graph, sealed under the target's key.
    let mut target = with_services(&b).start().await.unwrap();
    let v = admin(
        &target,
        &format!(
            r#"mutation {{ restore(input: {{location: "{dest}", encryptionKeyFile: "{}"}}) {{ code message restoreId }} }}"#,
            a.display()
        ),
    )
    .await;
    let rid = v["data"]["restore"]["restoreId"]
        .as_i64()
        .expect("restoreId");
    let mut status = String::new();
    for _ in 0..600 {
        let s = admin(
            &target,
            &format!("query {{ restoreStatus(restoreId: {rid}) {{ status errors }} }}"),
        )
        .await;
        status = s["data"]["restoreStatus"]["status"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(status, "ERR", "{s}");
        if status == "OK" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "OK");
    let mut t = dgraph(&target).await;
    assert_eq!(read_only(&mut t, q, 0).await, before);
    for p in target.procs_mut() {
        p.kill9();
    }
    let files = data_files(target.dir(), target.log_dir());
    for needle in ["Kq7backed", "Kq7linked", "Kq7pred"] {
        assert_eq!(
            files_holding(&files, needle),
            Vec::<PathBuf>::new(),
            "{needle}"
        );
    }
    let alpha = target.alpha_mut();
    set_flag(&mut alpha.args, "--encryption_key_file", Some(&a));
    let out = refused_start(alpha).await;
    assert!(out.contains("Encryption key mismatch"), "{out}");
    drop(src);
}
