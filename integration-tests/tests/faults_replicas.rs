//! Losing the leader of a replicated group under load: a steady pydgraph write load (one client
//! over every alpha of a three-replica group) runs while the group's leader is killed with
//! SIGKILL and restarted, again and again. Invariants: every acknowledged commit is there
//! afterwards, on every replica; no uid was given to two nodes; writes resume after each kill;
//! the replicas end identical. The time from each kill to the next commit that started after
//! it is printed (the failover time).

mod common;

use common::backups::read_only;
use common::faults::panics_in_logs;
use common::replicas::{assert_replicas_equal, client, leader, read_ts, three_replicas};
use lodestar_proto::api::Operation;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

/// Kill cycles (`LODESTAR_LEADER_KILLS` for more or fewer).
const CYCLES: usize = 20;
/// Writes resume within this after a kill, or the test fails.
const RESUME_WITHIN: Duration = Duration::from_secs(30);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the writer reported: acknowledged commits (xid → (uid, start, end)) and failures.
#[derive(Default)]
struct Ledger {
    acked: BTreeMap<String, (String, f64, f64)>,
    failed: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_load_loses_no_acknowledged_commit() {
    let cycles: usize = std::env::var("LODESTAR_LEADER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CYCLES);
    let mut cluster = three_replicas(|b| b).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    client(&cluster.alphas[lead])
        .alter(Operation {
            schema: "xid: string @index(exact) .".into(),
            ..Default::default()
        })
        .await
        .expect("schema");

    let python = std::env::var("LODESTAR_PYTHON")
        .expect("LODESTAR_PYTHON is not set: run the tests with integration-tests/run-tests.sh");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/replica_writer.py");
    let mut writer = tokio::process::Command::new(python)
        .arg(script)
        .arg("4")
        .args(cluster.alphas.iter().map(|a| a.grpc_addr()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the pydgraph writer");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let reader = {
        let ledger = ledger.clone();
        let stdout = writer.stdout.take().unwrap();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let mut l = ledger.lock().await;
                match parts.as_slice() {
                    ["ack", xid, uid, start, end] => {
                        let dup = l.acked.insert(
                            xid.to_string(),
                            (
                                uid.to_string(),
                                start.parse().unwrap(),
                                end.parse().unwrap(),
                            ),
                        );
                        assert!(dup.is_none(), "{xid} acknowledged twice");
                    }
                    ["err", ..] => l.failed += 1,
                    other => panic!("unexpected writer output {other:?}"),
                }
            }
        })
    };

    let mut failovers = Vec::new();
    for cycle in 0..cycles {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let lead = leader(&mut cluster, Duration::from_secs(20)).await;
        let before = ledger.lock().await.acked.len();
        let killed_at = now();
        cluster.alphas[lead].kill9();
        // The first commit that started after the kill and was acknowledged.
        let resumed = loop {
            let first = ledger
                .lock()
                .await
                .acked
                .values()
                .filter(|(_, start, _)| *start >= killed_at)
                .map(|(_, _, end)| *end)
                .min_by(f64::total_cmp);
            if let Some(end) = first {
                break end;
            }
            assert!(
                now() - killed_at < RESUME_WITHIN.as_secs_f64(),
                "cycle {cycle}: no write acknowledged within {RESUME_WITHIN:?} of killing {}",
                cluster.alphas[lead].name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        failovers.push(resumed - killed_at);
        let a = &mut cluster.alphas[lead];
        a.start().expect("restart the killed leader");
        a.wait_healthy(Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("cycle {cycle}: {} did not come back: {e:#}", a.name));
        let after = ledger.lock().await.acked.len();
        eprintln!(
            "cycle {cycle}: killed {} (leader), next commit after {:.2} s; {} commits acknowledged meanwhile",
            cluster.alphas[lead].name,
            resumed - killed_at,
            after - before
        );
    }
    drop(writer.stdin.take());
    let status = writer.wait().await.expect("the writer exits");
    reader.await.unwrap();
    assert!(status.success(), "the pydgraph writer failed: {status}");

    let ledger = ledger.lock().await;
    assert!(
        ledger.acked.len() > cycles * 10,
        "too few writes: {}",
        ledger.acked.len()
    );
    // Every acknowledged commit is on every replica, once, with the uid it was given; no uid
    // holds two xids.
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let ts = read_ts(&mut client(&cluster.alphas[lead])).await;
    let q = "{ q(func: has(xid)) { uid xid } }";
    let mut seen_by = Vec::new();
    for a in &cluster.alphas {
        let out = read_only(&mut client(a), q, ts).await;
        let mut by_xid: BTreeMap<String, String> = BTreeMap::new();
        let mut uids = BTreeSet::new();
        for n in out["q"].as_array().unwrap() {
            let xid = n["xid"].as_str().unwrap().to_string();
            let uid = n["uid"].as_str().unwrap().to_string();
            assert!(uids.insert(uid.clone()), "{}: uid {uid} twice", a.name);
            assert!(
                by_xid.insert(xid.clone(), uid).is_none(),
                "{}: xid {xid} on two nodes",
                a.name
            );
        }
        for (xid, (uid, _, _)) in &ledger.acked {
            assert_eq!(
                by_xid.get(xid),
                Some(uid),
                "{}: acknowledged commit {xid} lost or moved",
                a.name
            );
        }
        seen_by.push(by_xid);
    }
    assert!(seen_by.iter().all(|s| *s == seen_by[0]), "replicas differ");
    assert_replicas_equal(&cluster, ts).await;
    assert_eq!(panics_in_logs(&cluster), Vec::<String>::new());

    failovers.sort_by(f64::total_cmp);
    eprintln!(
        "{} acknowledged commits, {} failed attempts over {cycles} leader kills; failover min {:.2} s, median {:.2} s, max {:.2} s",
        ledger.acked.len(),
        ledger.failed,
        failovers[0],
        failovers[failovers.len() / 2],
        failovers[failovers.len() - 1]
    );
}
