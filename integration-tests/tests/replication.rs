//! Replicated groups: three alphas in one group (`--replicas 3`) are one Raft group. Writes
//! through any alpha land on every replica; reads through any alpha at one timestamp agree; the
//! replicas' data is identical version for version; a replica that loses its disk comes back
//! empty and catches up from a copy of the leader's store.

mod common;

use common::backups::read_only;
use common::replicas::{client, digest, leader, rdf, read_ts, three_replicas};
use lodestar_proto::api::{Operation, Request, TxnContext};
use std::time::Duration;

const PEOPLE: &str =
    "{ q(func: has(name), orderasc: name) { name age friend { name } ~friend { name } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_alpha_reach_every_replica_and_reads_agree() {
    let mut cluster = three_replicas(|b| b).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let follower = (lead + 1) % 3;
    let other = (lead + 2) % 3;
    let mut c: Vec<_> = cluster.alphas.iter().map(client).collect();

    // The schema through a follower: forwarded to the leader.
    c[follower]
        .alter(Operation {
            schema:
                "name: string @index(exact) .\nage: int @index(int) .\nfriend: [uid] @reverse ."
                    .into(),
            ..Default::default()
        })
        .await
        .expect("alter through a follower");
    // One committed mutation through each alpha.
    for (i, ci) in c.iter_mut().enumerate() {
        let resp = ci
            .query(rdf(
                &format!("_:p <name> \"person{i}\" .\n_:p <age> \"{}\" .", 20 + i),
                true,
            ))
            .await
            .unwrap_or_else(|e| panic!("mutation through alpha {i}: {e:?}"))
            .into_inner();
        assert!(resp.txn.unwrap().commit_ts > 0);
    }
    // A transaction over several requests through a follower, committed through another.
    let open = c[follower]
        .query(rdf(
            "_:a <name> \"ann\" .\n_:b <name> \"bob\" .\n_:a <friend> _:b .",
            false,
        ))
        .await
        .expect("open transaction")
        .into_inner();
    let start_ts = open.txn.unwrap().start_ts;
    let own = c[follower]
        .query(Request {
            query: r#"{ q(func: eq(name, "ann")) { friend { name } } }"#.into(),
            start_ts,
            ..Default::default()
        })
        .await
        .expect("read own writes")
        .into_inner();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&own.json).unwrap(),
        serde_json::json!({"q": [{"friend": [{"name": "bob"}]}]}),
        "a transaction reads its own writes through a follower"
    );
    let committed = c[other]
        .commit_or_abort(TxnContext {
            start_ts,
            ..Default::default()
        })
        .await
        .expect("commit through another alpha")
        .into_inner();
    assert!(committed.commit_ts > start_ts);

    // The same answer through every alpha at one timestamp.
    let ts = read_ts(&mut c[lead]).await;
    let mut answers = Vec::new();
    for ci in c.iter_mut() {
        answers.push(read_only(ci, PEOPLE, ts).await);
    }
    assert_eq!(
        answers[0],
        serde_json::json!({"q": [
            {"name": "ann", "friend": [{"name": "bob"}]},
            {"name": "bob", "~friend": [{"name": "ann"}]},
            {"name": "person0", "age": 20},
            {"name": "person1", "age": 21},
            {"name": "person2", "age": 22},
        ]})
    );
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // And the same data, version for version, on every replica.
    let mut digests = Vec::new();
    for a in &cluster.alphas {
        digests.push(digest(a, ts).await);
    }
    assert!(digests[0].0 > 0);
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");

    // Zero's /state names the group's leader among its three members.
    let leader_id = common::replicas::standing(&cluster.alphas[lead])
        .await
        .unwrap()["leader"]
        .as_u64()
        .unwrap();
    let mut shown = None;
    for _ in 0..50 {
        let (_, state) =
            lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        let members = state["groups"]["1"]["members"].as_object().unwrap().clone();
        assert_eq!(members.len(), 3, "{state}");
        let leaders: Vec<&String> = members
            .iter()
            .filter(|(_, m)| m["leader"] == true)
            .map(|(id, _)| id)
            .collect();
        if leaders.len() == 1 {
            shown = Some(leaders[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        shown,
        Some(leader_id.to_string()),
        "/state shows the group's leader"
    );

    // A fresh read on a follower sees everything committed before it asked.
    let resp = c[other]
        .query(rdf("_:z <name> \"zed\" .", true))
        .await
        .expect("one more")
        .into_inner();
    assert!(resp.txn.unwrap().commit_ts > 0);
    let fresh = c[follower]
        .query(Request {
            query: r#"{ q(func: eq(name, "zed")) { name } }"#.into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .expect("fresh read on a follower")
        .into_inner();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&fresh.json).unwrap(),
        serde_json::json!({"q": [{"name": "zed"}]}),
        "a read on a follower sees a commit acknowledged before it asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_replica_catches_up_from_a_copy_of_the_leaders_store() {
    let mut cluster = three_replicas(|b| {
        // Snapshot points often, so the log the wiped replica would need is gone.
        b.arg(
            lodestar_integration_tests::Service::Alpha,
            "--snapshot_after_entries",
            "20",
        )
    })
    .await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let victim = (lead + 1) % 3;
    let mut c = client(&cluster.alphas[lead]);
    c.alter(Operation {
        schema: "name: string @index(exact) .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    for i in 0..100 {
        c.query(rdf(&format!("_:n <name> \"n{i}\" ."), true))
            .await
            .expect("write");
    }

    // The victim loses its disk: both its store and its raft log.
    cluster.alphas[victim].kill9();
    let (p, w) = data_dirs(&cluster.alphas[victim]);
    std::fs::remove_dir_all(&p).expect("wipe p");
    std::fs::remove_dir_all(&w).expect("wipe w");
    // Writes go on meanwhile.
    for i in 100..150 {
        c.query(rdf(&format!("_:n <name> \"n{i}\" ."), true))
            .await
            .expect("write while a replica is down");
    }
    let a = &mut cluster.alphas[victim];
    a.start().expect("restart the wiped alpha");
    a.wait_healthy(Duration::from_secs(60))
        .await
        .expect("the wiped alpha catches up");
    a.wait_log("group snapshot installed", Duration::from_secs(30))
        .await
        .expect("it caught up from a snapshot");
    let ts = read_ts(&mut c).await;
    let q = "{ q(func: has(name)) { count(uid) } }";
    let want = serde_json::json!({"q": [{"count": 150}]});
    for a in &cluster.alphas {
        assert_eq!(read_only(&mut client(a), q, ts).await, want, "{}", a.name);
    }
    let mut digests = Vec::new();
    for a in &cluster.alphas {
        digests.push(digest(a, ts).await);
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    // Zero replaced the wiped member with a new one in the same group.
    let (_, state) =
        lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let members = state["groups"]["1"]["members"].as_object().unwrap();
    assert_eq!(members.len(), 3, "{state}");
    assert_eq!(
        state["removed"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
}

/// The `-p` and `--wal` directories of an alpha, from its command line.
fn data_dirs(alpha: &lodestar_integration_tests::Proc) -> (std::path::PathBuf, std::path::PathBuf) {
    let arg = |flag: &str| {
        let at = alpha
            .args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{} has no {flag}", alpha.name));
        std::path::PathBuf::from(&alpha.args[at + 1])
    };
    (arg("-p"), arg("--wal"))
}
