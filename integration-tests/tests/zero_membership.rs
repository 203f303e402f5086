//! Zero membership: snapshots bring new zeros up after the log was compacted, zeros can be
//! removed (and not re-added under the same id), alphas join groups, tablets stick, draining,
//! and the expiry warning in the license's last week.

mod common;

use common::json;
use lodestar_client::ZeroClient;
use lodestar_integration_tests::{ClusterBuilder, http_get};
use lodestar_proto::zero::{ConnectRequest, JoinZeroRequest, NumLeaseType, TabletRequest};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_bring_new_zeros_up_and_zeros_can_be_removed() {
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .zero_arg("--snapshot_after_entries", "20")
        .start()
        .await
        .expect("cluster");
    let client = ZeroClient::new(cluster.zero_grpc_addrs()).unwrap();
    let mut max_uid = 0;
    for _ in 0..100 {
        max_uid = client
            .assign_ids(NumLeaseType::Uid, 7)
            .await
            .unwrap()
            .end_id;
    }
    assert_eq!(max_uid, 700);
    let cid = client.state().await.unwrap().cid;
    cluster.zeros[0]
        .wait_log("raft snapshot written", Duration::from_secs(10))
        .await
        .expect("a snapshot");

    // New zeros join after the log was purged: they must be sent the snapshot.
    cluster.add_zero().await.expect("zero 2");
    cluster.add_zero().await.expect("zero 3");
    for z in &mut cluster.zeros[1..] {
        z.wait_log("raft snapshot installed", Duration::from_secs(20))
            .await
            .expect("snapshot installed");
    }

    // Without zero 1, zeros 2 and 3 carry on from the snapshot's state.
    cluster.zeros[0].kill9();
    let others: Vec<String> = cluster.zeros[1..].iter().map(|z| z.grpc_addr()).collect();
    let client = ZeroClient::new(others)
        .unwrap()
        .with_deadline(Duration::from_secs(20));
    let next = client
        .assign_ids(NumLeaseType::Uid, 1)
        .await
        .expect("uid from the new leader");
    assert!(next.start_id > max_uid, "uid {} reused", next.start_id);
    assert_eq!(client.state().await.unwrap().cid, cid);

    // Remove the dead zero through the HTTP API of a survivor.
    let (status, body) =
        http_get(&format!("{}/removeNode?id=1&group=0", cluster.zero_http(1))).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Removed node with group: 0, idx: 1")
    );
    let (_, state) = http_get(&format!("{}/state", cluster.zero_http(2))).await;
    let state = json(&state);
    let zeros: Vec<&String> = state["zeros"].as_object().unwrap().keys().collect();
    assert_eq!(zeros, ["2", "3"], "{state}");
    assert!(
        state["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "1"),
        "{state}"
    );
    // Its id is never reused.
    let err = client
        .call(|mut c| async move {
            c.join_zero(JoinZeroRequest {
                id: 1,
                addr: "127.0.0.1:1".into(),
            })
            .await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("was removed"), "{err:?}");
    // Removing an unknown zero is a clear error.
    let (status, body) =
        http_get(&format!("{}/removeNode?id=9&group=0", cluster.zero_http(1))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no zero with idx 9"), "{body}");
}

#[tokio::test]
async fn alphas_tablets_and_draining() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .start()
        .await
        .expect("cluster");
    let client = ZeroClient::new(cluster.zero_grpc_addrs()).unwrap();
    let join = |addr: &str, id: u64| ConnectRequest {
        addr: addr.into(),
        id,
        ..Default::default()
    };
    let a = client
        .join_group(join("10.0.0.1:7080", 0))
        .await
        .unwrap()
        .member
        .unwrap();
    let again = client
        .join_group(join("10.0.0.1:7080", a.id))
        .await
        .unwrap()
        .member
        .unwrap();
    assert_eq!(
        (a.id, a.group_id),
        (again.id, again.group_id),
        "re-joining under its id keeps the member"
    );
    let b = client
        .join_group(join("10.0.0.2:7080", 0))
        .await
        .unwrap()
        .member
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(
        (a.group_id, b.group_id),
        (1, 2),
        "--replicas 1: one alpha per group"
    );

    let tablet = |p: &str, read_only: bool| TabletRequest {
        predicate: p.into(),
        group_id: 0,
        read_only,
        force: false,
    };
    let t = |req: TabletRequest| {
        let client = &client;
        async move {
            client
                .call(|mut c| {
                    let req = req.clone();
                    async move { c.tablet(req).await }
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(
        t(tablet("friend", true)).await.group_id,
        0,
        "a read-only lookup assigns nothing"
    );
    let first = t(tablet("friend", false)).await.group_id;
    assert!(first == 1 || first == 2);
    let second = t(tablet("name", false)).await.group_id;
    assert_ne!(first, second, "predicates spread over the groups");
    assert_eq!(
        t(tablet("friend", false)).await.group_id,
        first,
        "a tablet keeps its group"
    );
    let (_, state) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    let state = json(&state);
    assert_eq!(
        state["groups"][first.to_string()]["tablets"]["friend"]["predicate"],
        "friend",
        "{state}"
    );

    assert!(client.set_draining(true).await.unwrap().draining);
    let (_, state) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(json(&state)["draining"], true);
    client.set_draining(false).await.unwrap();
    assert!(!client.state().await.unwrap().draining);

    // Bumps (as a restore does) move leases and timestamps past what a backup used.
    client.bump(NumLeaseType::Uid, 50_000).await.unwrap();
    assert_eq!(
        client
            .assign_ids(NumLeaseType::Uid, 1)
            .await
            .unwrap()
            .start_id,
        50_001
    );
    let ts = client.timestamps(1).await.unwrap().start_id;
    client
        .bump(NumLeaseType::TxnTs, ts + 5_000_000)
        .await
        .unwrap();
    assert!(client.timestamps(1).await.unwrap().start_id > ts + 5_000_000);
    assert!(client.read_ts().await.unwrap() >= ts + 5_000_000);

    // Health as Dgraph's zero answers it, in text and JSON.
    let health = reqwest::Client::new()
        .get(format!("{}/health", cluster.zero_http(0)))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        (health["instance"].as_str(), health["status"].as_str()),
        (Some("zero"), Some("healthy")),
        "{health}"
    );
    let (status, body) =
        http_get(&format!("{}/assign?what=nsids&num=2", cluster.zero_http(0))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["endId"], "2");
    let (status, body) =
        http_get(&format!("{}/assign?what=uids&num=x", cluster.zero_http(0))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        http_get(&format!("{}/assign?what=uids&num=0", cluster.zero_http(0))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Nothing to be leased"), "{body}");
}

#[tokio::test]
async fn warns_in_the_last_week_of_the_trial() {
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .zero_arg("--clock_offset", "27d")
        .zero_arg("--license_check_interval", "100ms")
        .start()
        .await
        .expect("cluster");
    // The cluster was created "27 days from now", so its trial still has 30 days: no warning.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!cluster.zeros[0].log().contains("expires within a week"));
    // Restart with the clock 27 more days ahead: 3 days left.
    let zero = &mut cluster.zeros[0];
    zero.stop().await.unwrap();
    let pos = zero.args.iter().position(|a| a == "27d").unwrap();
    zero.args[pos] = "54d".into();
    zero.start().unwrap();
    zero.wait_healthy(Duration::from_secs(20)).await.unwrap();
    zero.wait_log("expires within a week", Duration::from_secs(10))
        .await
        .expect("a warning");
    let warnings = zero.run_log().matches("expires within a week").count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        zero.run_log().matches("expires within a week").count(),
        warnings,
        "warned more than once a day"
    );
}
