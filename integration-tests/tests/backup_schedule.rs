//! Scheduled backups through the real backup worker (`--backup_schedule`): a schedule backs up
//! to a local directory on its own, full and incremental; retention takes the oldest series
//! out of the manifest and off the disk while the newest restores; `/admin backupSchedules`
//! and the worker's `/metrics` show the runs, the next ticks and a failing schedule; the state
//! survives a restart of the worker; and with ACL on the schedule runs as the cluster itself
//! while `backupSchedules` stays guardians-only.
//!
//! The schedules tick every few seconds through the worker's hidden testing aid
//! `--backup_schedule_seconds` (6-field cron expressions, seconds first); the flag users give
//! takes 5 fields.

mod common;

use common::backups::{
    admin, admin_as, alter, backup_client, dgraph, groot_token, read_only, set, wait_task,
};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service};
use lodestar_proto::backup::RestoreRequest;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const SCHEDULES: &str = r#"{ backupSchedules { name destination full incremental keepSeries
    keepDays credentials lastRun { kind status startedAt finishedAt taskId backupId backupNum
    error deletedSeries } nextFull nextIncremental lastError lastErrorAt lastSuccess lastTaskId
    failing running } }"#;

/// The schedule named `name` in a `backupSchedules` answer.
fn schedule<'a>(body: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    body["data"]["backupSchedules"]
        .as_array()
        .unwrap_or_else(|| panic!("no schedules: {body}"))
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no schedule {name}: {body}"))
}

/// The location's manifest entries: (backup_id, backup_num, type, path), oldest first.
fn entries(dir: &Path) -> Vec<(String, u64, String, String)> {
    let Ok(raw) = std::fs::read(dir.join("manifest.json")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["Manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["backup_id"].as_str().unwrap().to_string(),
                m["backup_num"].as_u64().unwrap(),
                m["type"].as_str().unwrap().to_string(),
                m["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The series ids of a manifest, in order.
fn series(entries: &[(String, u64, String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (id, ..) in entries {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// The backup folders on disk.
fn folders(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("dgraph."))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the sample `name{labels}` in the worker's `/metrics`, if it is there.
async fn metric(cluster: &Cluster, sample: &str) -> Option<f64> {
    let url = format!("{}/metrics", cluster.backup.as_ref().unwrap().http_url());
    let (status, text) = lodestar_integration_tests::http_get(&url).await;
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Seconds since the epoch of an RFC 3339 `DateTime` from `/admin`.
fn secs_of(v: &serde_json::Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("not a DateTime: {v}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_backs_up_on_its_own_and_retention_keeps_the_newest_series() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("backups");
    // A destination under a regular file cannot be created: every run of that schedule fails.
    std::fs::write(dir.path().join("a-file"), b"not a directory").unwrap();
    let broken = dir.path().join("a-file").join("backups");
    let local = format!(
        "name=local; full=*/4 * * * * *; incremental=*/2 * * * * *; destination={}; keep_series=2",
        dest.display()
    );
    let mut cluster = ClusterBuilder::new()
        .services(true)
        .flag(Service::BackupWorker, "--backup_schedule_seconds")
        .arg(Service::BackupWorker, "--backup_schedule", local)
        .arg(
            Service::BackupWorker,
            "--backup_schedule",
            format!(
                "name=broken; full=*/3 * * * * *; destination={}",
                broken.display()
            ),
        )
        .start()
        .await
        .unwrap();
    let mut c = dgraph(&cluster).await;
    alter(&mut c, "name: string @index(exact) .").await;
    set(&mut c, r#"_:a <name> "Ann" . _:b <name> "Bob" ."#).await;
    let written = now_secs();

    // Watch the location while the schedule works: every folder and series it ever lists.
    let mut seen_series: Vec<String> = Vec::new();
    let mut seen_folders = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = entries(&dest);
        for id in series(&now) {
            if !seen_series.contains(&id) {
                seen_series.push(id);
            }
        }
        for (_, num, kind, path) in &now {
            seen_folders.insert(path.clone());
            kinds.insert((kind.clone(), *num > 1));
        }
        let body = admin(&cluster, SCHEDULES).await;
        let s = schedule(&body, "local");
        let run = &s["lastRun"];
        // Done when a full backup taken after the writes succeeded, an incremental has been
        // made, and retention has let a series go.
        let fresh_full = run["kind"] == "full"
            && run["status"] == "Success"
            && secs_of(&run["startedAt"]) > written;
        let deleted = metric(
            &cluster,
            r#"lodestar_backup_retention_deleted_series_total{schedule="local"}"#,
        )
        .await
        .unwrap_or(0.0);
        if fresh_full && deleted >= 1.0 && kinds.contains(&("incremental".to_string(), true)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the schedule did not get there in 120 s: {s}; series seen {seen_series:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What /admin shows of both schedules while they run.
    let body = admin(&cluster, SCHEDULES).await;
    let s = schedule(&body, "local");
    assert_eq!(s["destination"], dest.display().to_string());
    assert_eq!(s["full"], "*/4 * * * * *");
    assert_eq!(s["incremental"], "*/2 * * * * *");
    assert_eq!(
        (s["keepSeries"].clone(), s["keepDays"].clone()),
        (2.into(), serde_json::Value::Null)
    );
    assert_eq!(s["credentials"], "environment");
    assert!(s["lastTaskId"].as_str().unwrap().starts_with("0x"), "{s}");
    assert!(secs_of(&s["lastSuccess"]) >= written, "{s}");
    for next in ["nextFull", "nextIncremental"] {
        let t = secs_of(&s[next]);
        assert!(t >= now_secs() - 5 && t <= now_secs() + 5, "{next}: {s}");
    }
    let b = schedule(&body, "broken");
    assert_eq!(b["failing"], true, "{b}");
    assert_eq!(b["lastRun"]["status"], "Failed", "{b}");
    assert_eq!(b["lastSuccess"], serde_json::Value::Null, "{b}");
    let error = b["lastError"].as_str().unwrap();
    assert!(
        error.contains("cannot open destination") && error.contains("a-file"),
        "{error}"
    );
    assert_eq!(b["lastRun"]["error"], error, "{b}");
    assert_eq!(b["incremental"], serde_json::Value::Null);

    // And the worker's metrics: the failing gauge to alert on, counts, times. Each sample with
    // the least (and, for gauges, the most) value it may have.
    let written = written as f64;
    for (sample, least, most) in [
        (
            r#"lodestar_backup_schedule_failing{schedule="broken"}"#,
            1.0,
            1.0,
        ),
        (
            r#"lodestar_backup_schedule_failing{schedule="local"}"#,
            0.0,
            1.0,
        ),
        (
            r#"lodestar_backup_schedule_runs_total{kind="full",result="failure",schedule="broken"}"#,
            1.0,
            f64::MAX,
        ),
        (
            r#"lodestar_backup_schedule_runs_total{kind="full",result="success",schedule="local"}"#,
            2.0,
            f64::MAX,
        ),
        (
            r#"lodestar_backup_schedule_runs_total{kind="incremental",result="success",schedule="local"}"#,
            1.0,
            f64::MAX,
        ),
        (
            r#"lodestar_backup_schedule_last_success_timestamp_seconds{schedule="local"}"#,
            written,
            f64::MAX,
        ),
        (
            r#"lodestar_backup_schedule_last_success_timestamp_seconds{schedule="broken"}"#,
            0.0,
            0.0,
        ),
        (
            r#"lodestar_backup_schedule_next_run_timestamp_seconds{kind="incremental",schedule="local"}"#,
            written,
            f64::MAX,
        ),
        (
            r#"lodestar_backup_retention_deleted_series_total{schedule="local"}"#,
            1.0,
            f64::MAX,
        ),
    ] {
        let value = metric(&cluster, sample).await;
        assert!(
            value.is_some_and(|v| v >= least && v <= most),
            "{sample} is {value:?}"
        );
    }

    // Stop the worker (a run under way finishes first), so the location holds still.
    let success_before =
        secs_of(&schedule(&admin(&cluster, SCHEDULES).await, "local")["lastSuccess"]);
    let worker = cluster.backup.as_mut().unwrap();
    worker.stop().await.unwrap();
    let left = entries(&dest);
    let kept = series(&left);
    assert_eq!(kept.len(), 2, "keep_series=2 keeps two series: {left:?}");
    for id in &kept {
        assert!(
            left.iter()
                .any(|(i, num, kind, _)| i == id && *num == 1 && kind == "full"),
            "series {id} keeps its full backup: {left:?}"
        );
    }
    // The series that went are the oldest ones, gone from the manifest and from the disk.
    let gone = &seen_series[..seen_series.len() - 2];
    assert!(!gone.is_empty(), "{seen_series:?}");
    assert_eq!(&seen_series[seen_series.len() - 2..], kept.as_slice());
    let listed: BTreeSet<String> = left.iter().map(|(.., path)| path.clone()).collect();
    assert_eq!(
        folders(&dest),
        listed,
        "every folder left is one the manifest names"
    );
    for folder in seen_folders.difference(&listed) {
        assert!(!dest.join(folder).exists(), "{folder} should be gone");
    }
    assert!(!dest.join("manifest_tmp.json").exists());

    // A write after the last backup, which the restore must take back.
    set(&mut c, r#"_:z <name> "Zed" ."#).await;

    // The worker comes back with a schedule of the same name that will not tick in this test:
    // its state survived the restart.
    let worker = cluster.backup.as_mut().unwrap();
    for arg in worker.args.iter_mut() {
        if arg.starts_with("name=local;") {
            *arg = format!(
                "name=local; full=0 0 0 1 1 *; destination={}; keep_series=2",
                dest.display()
            );
        }
    }
    worker.restart().await.unwrap();
    let body = admin(&cluster, SCHEDULES).await;
    let after = schedule(&body, "local");
    assert!(secs_of(&after["lastSuccess"]) >= success_before, "{after}");
    let task_id = after["lastTaskId"].as_str().unwrap().to_string();
    assert_eq!(after["lastRun"]["taskId"], task_id.as_str(), "{after}");
    let mut b = backup_client(&cluster);
    let task = wait_task(&mut b, &task_id).await;
    if after["lastRun"]["status"] == "Success" {
        // The run remembered is the newest backup at the location.
        let (id, num, ..) = left.last().unwrap();
        assert_eq!((&task.backup_id, task.backup_num), (id, *num), "{after}");
        assert_eq!(after["lastRun"]["backupId"], id.as_str());
    }
    assert_eq!(after["full"], "0 0 0 1 1 *");
    assert_eq!(after["running"], false);
    assert_eq!(
        metric(
            &cluster,
            r#"lodestar_backup_schedule_failing{schedule="local"}"#
        )
        .await,
        // A run cut off by the stop is remembered as failed.
        Some(if after["lastRun"]["status"] == "Success" {
            0.0
        } else {
            1.0
        })
    );
    assert_eq!(
        metric(
            &cluster,
            r#"lodestar_backup_schedule_failing{schedule="broken"}"#
        )
        .await,
        Some(1.0)
    );
    assert!(schedule(&body, "broken")["lastError"].is_string());

    // The newest series restores.
    let restore = b
        .start_restore(RestoreRequest {
            location: dest.display().to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let done = wait_task(&mut b, &restore.id).await;
    assert_eq!(done.status, "Success", "{done:?}");
    assert_eq!(done.backup_id, kept[1], "{done:?}");
    let names = read_only(
        &mut dgraph(&cluster).await,
        r#"{ q(func: has(name)) { name } }"#,
        0,
    )
    .await;
    let mut names: Vec<&str> = names["q"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Ann", "Bob"], "the restore took Zed back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_acl_on_the_schedule_runs_as_the_cluster_and_only_guardians_see_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("acl_secret");
    std::fs::write(&secret, rand::random::<[u8; 32]>()).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dest = dir.path().join("backups");
    let cluster = ClusterBuilder::new()
        .services(true)
        .acl_secret_file(&secret)
        .flag(Service::BackupWorker, "--backup_schedule_seconds")
        .arg(
            Service::BackupWorker,
            "--backup_schedule",
            format!(
                "full=*/3 * * * * *; destination={}; keep_days=1",
                dest.display()
            ),
        )
        .start()
        .await
        .unwrap();
    let token = groot_token(&cluster).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let s = loop {
        let body = admin_as(&cluster, &token, SCHEDULES).await;
        let s = schedule(&body, "default").clone();
        if s["lastRun"]["status"] == "Success" {
            break s;
        }
        assert!(Instant::now() < deadline, "no successful run in 90 s: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(s["keepDays"], 1);
    assert_eq!(s["failing"], false);
    assert_eq!(s["lastRun"]["backupNum"], "1", "{s}");
    let left = entries(&dest);
    assert!(!left.is_empty() && left[0].2 == "full", "{left:?}");
    // Without a guardian's token the schedules are not shown.
    let body = admin(&cluster, SCHEDULES).await;
    assert_eq!(
        body["data"]["backupSchedules"],
        serde_json::Value::Null,
        "{body}"
    );
    assert!(body["errors"][0]["message"].is_string(), "{body}");
}

#[test]
fn a_bad_schedule_stops_the_worker_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bw");
    let data = data.to_str().unwrap();
    for (schedule, says) in [
        (
            "full=0 0 * *; destination=/tmp/x",
            "--backup_schedule: full=\"0 0 * *\" is not a cron expression of 5 fields",
        ),
        (
            "full=0 0 * * *; destination=/tmp/x; keep_series=0",
            "--backup_schedule: keep_series=0 would keep no series",
        ),
        (
            "full=0 0 * * *; destination=/tmp/x; every=day",
            "--backup_schedule: unknown setting \"every\"",
        ),
        (
            "full=0 0 * * *",
            "--backup_schedule: destination is missing",
        ),
    ] {
        let out = lodestar_integration_tests::run_bin(
            "backup-worker",
            ["--data", data, "--backup_schedule", schedule],
        );
        assert!(!out.status.success(), "{schedule}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{schedule}: {err}");
    }
}
