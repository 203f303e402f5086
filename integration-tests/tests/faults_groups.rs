//! Losing a group's leader right after a schema change, under writes that span two groups.
//!
//! Two groups of three replicas. Each cycle adds an index to a predicate group 2 serves, kills
//! group 2's leader with SIGKILL at once (its followers may not have applied the change yet),
//! and keeps writers committing nodes whose value lives in group 2 and whose type lives in
//! group 1 through group 1's alphas, so the first parts the new leader of group 2 takes arrive
//! the moment it is elected. Invariants: every acknowledged node is found through the new
//! index (a part written before the new leader had applied its predecessor's schema change
//! would hold the value but no index entry), writes resume after each kill, and each group's
//! replicas end identical.

mod common;

use common::faults::panics_in_logs;
use common::replicas::{client, digest, group_of_each_alpha, rdf, read_ts, standing};
use lodestar_integration_tests::Cluster;
use lodestar_proto::api::Operation;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Kill cycles (`LODESTAR_GROUP_LEADER_KILLS` for more or fewer).
const CYCLES: usize = 6;
/// Concurrent writers: several, so that one of them reaches the new leader the moment it leads.
const WRITERS: usize = 6;
/// Writes resume within this after a kill, or the test fails.
const RESUME_WITHIN: Duration = Duration::from_secs(30);

/// The alphas of `group` that run, and which of them leads it.
async fn group_leader(cluster: &mut Cluster, groups: &[u64], group: u64) -> usize {
    let started = Instant::now();
    loop {
        for (i, a) in cluster.alphas.iter_mut().enumerate() {
            if groups[i] != group || !a.is_running() {
                continue;
            }
            if standing(a).await.is_some_and(|s| s["role"] == "leader") {
                return i;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "group {group} has no leader"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The group zero's `/state` shows serving `pred`.
async fn group_serving(cluster: &Cluster, pred: &str) -> u64 {
    let (status, body) =
        lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(status, 200, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    state["groups"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, g)| g["tablets"].get(pred).is_some())
        .map(|(id, _)| id.parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_group_leader_takes_parts_only_once_it_has_applied_its_predecessors_log() {
    let cycles: usize = std::env::var("LODESTAR_GROUP_LEADER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CYCLES);
    let mut cluster = common::replicas::two_groups_of_three().await;
    let groups = group_of_each_alpha(&cluster).await;
    assert_eq!(
        groups.iter().copied().collect::<BTreeSet<u64>>(),
        BTreeSet::from([1, 2]),
        "two groups of three: {groups:?}"
    );
    let in_group_1: Vec<String> = cluster
        .alphas
        .iter()
        .zip(&groups)
        .filter(|(_, g)| **g == 1)
        .map(|(a, _)| a.grpc_addr())
        .collect();

    // One predicate per cycle, without an index yet, each moved to group 2 if zero gave it
    // to group 1.
    let preds: Vec<String> = (0..cycles).map(|k| format!("v{k}")).collect();
    let leader1 = group_leader(&mut cluster, &groups, 1).await;
    let schema: String = preds.iter().map(|p| format!("{p}: string .\n")).collect();
    client(&cluster.alphas[leader1])
        .alter(Operation {
            schema,
            ..Default::default()
        })
        .await
        .expect("schema");
    for p in &preds {
        if group_serving(&cluster, p).await != 2 {
            let (status, body) = lodestar_integration_tests::http_get(&format!(
                "{}/moveTablet?tablet={p}&group=2",
                cluster.zero_http(0)
            ))
            .await;
            assert_eq!(status, 200, "moving {p} to group 2: {body}");
        }
        assert_eq!(group_serving(&cluster, p).await, 2, "{p} is in group 2");
    }

    // (cycle, value) → uid of every acknowledged node.
    let acked: Arc<Mutex<BTreeMap<(usize, String), String>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (cycle, pred) in preds.iter().enumerate() {
        let lead = group_leader(&mut cluster, &groups, 2).await;
        let mut c = client(&cluster.alphas[leader1]);
        c.alter(Operation {
            schema: format!("{pred}: string @index(exact) ."),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("cycle {cycle}: index on {pred}: {e}"));
        // At once: the followers learn that the change is committed with the next heartbeat.
        cluster.alphas[lead].kill9();
        let killed_at = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let addr = in_group_1[w % in_group_1.len()].clone();
            let (acked, failed, stop, pred) =
                (acked.clone(), failed.clone(), stop.clone(), pred.clone());
            writers.push(tokio::spawn(async move {
                let mut c = lodestar_proto::api::dgraph_client::DgraphClient::new(
                    lodestar_client::channel(&addr).expect("channel"),
                );
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let value = format!("c{cycle}-w{w}-{i}");
                    let set = format!("_:n <{pred}> \"{value}\" .\n_:n <dgraph.type> \"Probe\" .");
                    let mut req = tonic::Request::new(rdf(&set, true));
                    req.set_timeout(Duration::from_secs(10));
                    match c.query(req).await {
                        Ok(resp) => {
                            let uid = resp.into_inner().uids["n"].clone();
                            acked.lock().await.insert((cycle, value), uid);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        // Writes resume: some node of this cycle is acknowledged after the kill, then the
        // writers go on a moment longer against the new leader.
        loop {
            if acked.lock().await.keys().any(|(c, _)| *c == cycle) {
                break;
            }
            assert!(
                killed_at.elapsed() < RESUME_WITHIN,
                "cycle {cycle}: no write acknowledged within {RESUME_WITHIN:?} of killing group 2's leader {}",
                cluster.alphas[lead].name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let resumed = killed_at.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.expect("writer");
        }
        let a = &mut cluster.alphas[lead];
        a.start().expect("restart the killed leader");
        a.wait_healthy(Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("cycle {cycle}: {} did not come back: {e:#}", a.name));
        eprintln!(
            "cycle {cycle}: killed {} (group 2's leader) right after indexing {pred}; writes resumed after {:.2} s",
            cluster.alphas[lead].name,
            resumed.as_secs_f64()
        );
    }

    // Every acknowledged node holds its value, and the index finds it under that value.
    let acked = acked.lock().await;
    let mut c = client(&cluster.alphas[leader1]);
    let ts = read_ts(&mut c).await;
    let mut missing = Vec::new();
    for (cycle, pred) in preds.iter().enumerate() {
        let mine: BTreeMap<&String, &String> = acked
            .iter()
            .filter(|((c, _), _)| *c == cycle)
            .map(|((_, v), uid)| (v, uid))
            .collect();
        assert!(!mine.is_empty(), "cycle {cycle}: nothing acknowledged");
        let values: Vec<String> = mine.keys().map(|v| format!("{v:?}")).collect();
        let q = format!(
            "{{ by_index(func: eq({pred}, [{}])) {{ uid {pred} }} by_value(func: has({pred})) {{ uid {pred} }} }}",
            values.join(", ")
        );
        let out = common::backups::read_only(&mut c, &q, ts).await;
        for (list, what) in [("by_value", "the value"), ("by_index", "an index entry")] {
            let found: BTreeMap<String, String> = out[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    (
                        n[pred.as_str()].as_str().unwrap().to_string(),
                        n["uid"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            for (v, uid) in &mine {
                if found.get(*v) != Some(*uid) {
                    missing.push(format!("{pred} = {v} ({uid}) has no {what}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged nodes are incomplete: {missing:?}",
        missing.len(),
        acked.len()
    );
    // Each group's replicas hold the same data, version for version.
    for group in [1, 2] {
        let mut digests = Vec::new();
        for (a, g) in cluster.alphas.iter().zip(&groups) {
            if *g == group {
                digests.push((a.name.clone(), digest(a, ts).await));
            }
        }
        assert!(
            digests.iter().all(|(_, d)| *d == digests[0].1),
            "group {group}'s replicas differ at {ts}: {digests:?}"
        );
    }
    assert_eq!(panics_in_logs(&cluster), Vec::<String>::new());
    eprintln!(
        "{} acknowledged cross-group writes over {cycles} leader kills, {} failed attempts",
        acked.len(),
        failed.load(Ordering::Relaxed)
    );
}
