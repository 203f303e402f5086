//! Three zeros: the leader is killed while clients stream timestamps and UID leases; a new
//! leader serves within 3 s, nothing handed out is ever handed out again, and after a full
//! stop and restart the next timestamp is above every earlier one.

mod common;

use common::json;
use lodestar_client::ZeroClient;
use lodestar_integration_tests::{ClusterBuilder, http_get};
use lodestar_proto::zero::NumLeaseType;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Stream {
    /// (when it arrived, first, last) of each successful call.
    ranges: Vec<(Instant, u64, u64)>,
}

async fn stream(client: Arc<ZeroClient>, uids: bool, stop: Arc<AtomicBool>) -> Stream {
    let mut out = Stream::default();
    while !stop.load(Ordering::Relaxed) {
        let result = if uids {
            client.assign_ids(NumLeaseType::Uid, 10).await
        } else {
            client.timestamps(3).await
        };
        if let Ok(ids) = result {
            out.ranges.push((Instant::now(), ids.start_id, ids.end_id));
        }
    }
    out
}

async fn leader_index(cluster: &lodestar_integration_tests::Cluster) -> Option<usize> {
    for (i, _) in cluster.zeros.iter().enumerate() {
        let (status, body) = http_get(&format!("{}/state", cluster.zero_http(i))).await;
        if status == 200 {
            let state = json(&body);
            let zeros = state["zeros"].as_object()?;
            let leader = zeros.values().find(|z| z["leader"] == true)?;
            let addr = leader["addr"].as_str()?;
            return cluster.zeros.iter().position(|z| z.grpc_addr() == addr);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_kill_keeps_ids_unique_and_increasing() {
    let mut cluster = ClusterBuilder::new()
        .zeros(3)
        .start()
        .await
        .expect("cluster");
    let leader = leader_index(&cluster).await.expect("a leader");
    let addrs = cluster.zero_grpc_addrs();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for uids in [false, false, true, true] {
        let client = Arc::new(ZeroClient::new(addrs.iter()).unwrap());
        tasks.push(tokio::spawn(stream(client, uids, stop.clone())));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = Instant::now();
    cluster.zeros[leader].kill9();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut streams = Vec::new();
    for t in tasks {
        streams.push(t.await.unwrap());
    }

    let mut all_ts = Vec::new();
    let mut all_uids = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        assert!(
            s.ranges.len() > 10,
            "client {i} got only {} answers",
            s.ranges.len()
        );
        for pair in s.ranges.windows(2) {
            assert!(
                pair[1].1 > pair[0].2,
                "client {i}: {:?} after {:?} is not increasing",
                pair[1],
                pair[0]
            );
        }
        let before = s.ranges.iter().filter(|r| r.0 < killed_at).count();
        let after: Vec<_> = s.ranges.iter().filter(|r| r.0 >= killed_at).collect();
        assert!(before > 0, "client {i} got nothing before the kill");
        let first_after = after
            .first()
            .unwrap_or_else(|| panic!("client {i} got nothing after the kill"));
        let failover = first_after.0 - killed_at;
        // A follower stands after the longest election timeout plus its own (at most 3 s in
        // all); a split vote costs one more round.
        assert!(
            failover < Duration::from_secs(5),
            "client {i}: new leader served after {failover:?}"
        );
        let target = if i < 2 { &mut all_ts } else { &mut all_uids };
        for r in &s.ranges {
            target.extend(r.1..=r.2);
        }
    }
    for (what, ids) in [("timestamp", &mut all_ts), ("uid", &mut all_uids)] {
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "some {what} was handed out twice");
    }
    let max_ts = *all_ts.last().unwrap();

    // The killed zero comes back as a follower; then all three stop and restart.
    cluster.zeros[leader]
        .restart()
        .await
        .expect("restart killed zero");
    for z in cluster.zeros.iter_mut() {
        let stopped = z.stop().await.expect("stop");
        assert!(
            stopped.took < Duration::from_secs(5),
            "{} took {:?} to stop",
            z.name,
            stopped.took
        );
    }
    for z in cluster.zeros.iter_mut() {
        z.start().expect("start");
    }
    for z in cluster.zeros.iter_mut() {
        z.wait_healthy(Duration::from_secs(20))
            .await
            .expect("healthy after restart");
    }
    let client = ZeroClient::new(cluster.zero_grpc_addrs())
        .unwrap()
        .with_deadline(Duration::from_secs(20));
    let next = client.timestamps(1).await.expect("timestamp after restart");
    assert!(
        next.start_id > max_ts,
        "timestamp {} after restart is not above {max_ts}",
        next.start_id
    );
    let uid = client
        .assign_ids(NumLeaseType::Uid, 1)
        .await
        .expect("uid after restart");
    assert!(
        uid.start_id > *all_uids.last().unwrap(),
        "uid {} reused after restart",
        uid.start_id
    );
}

#[tokio::test]
async fn read_only_timestamps_and_commit_oracle() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .start()
        .await
        .expect("cluster");
    let client = ZeroClient::new(cluster.zero_grpc_addrs()).unwrap();
    let t1 = client.timestamps(1).await.unwrap().start_id;
    let t2 = client.timestamps(1).await.unwrap().start_id;
    // Two transactions write the same key: the first committer wins.
    let req = |start_ts, keys: Vec<u64>| lodestar_proto::zero::CommitRequest {
        start_ts,
        conflict_keys: keys,
        ..Default::default()
    };
    let c1 = client.commit_or_abort(req(t1, vec![42, 7])).await.unwrap();
    assert!(!c1.aborted && c1.commit_ts > t2, "{c1:?}");
    let c2 = client.commit_or_abort(req(t2, vec![42])).await.unwrap();
    assert!(
        c2.aborted,
        "overlapping writer that started before the commit must abort: {c2:?}"
    );
    // Disjoint keys commit; a later start sees no conflict.
    let t3 = client.timestamps(1).await.unwrap().start_id;
    let c3 = client.commit_or_abort(req(t3, vec![42])).await.unwrap();
    assert!(!c3.aborted && c3.commit_ts > c1.commit_ts, "{c3:?}");
    // Asking again returns the recorded decision, not a new one.
    let again = client.commit_or_abort(req(t1, vec![42])).await.unwrap();
    assert_eq!(again.commit_ts, c1.commit_ts);
    // A read-only timestamp sees every decided commit.
    let ro = client.read_ts().await.unwrap();
    assert!(
        ro >= c3.commit_ts,
        "read-only ts {ro} is below commit {}",
        c3.commit_ts
    );
    // A start_ts that was never handed out is refused.
    let bad = client
        .commit_or_abort(req(ro + 10_000_000, vec![1]))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
}
