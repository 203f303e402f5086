//! Helpers for tests of replicated groups: which alpha leads, where each replica stands, digests
//! of each replica's data, clients of each alpha.

use lodestar_integration_tests::{Cluster, Proc};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Request};
use lodestar_proto::worker::DigestRequest;
use lodestar_proto::worker::worker_client::WorkerClient;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// A cluster of one zero and three alphas in one group, with `extra` applied to the builder.
pub async fn three_replicas(
    extra: impl FnOnce(
        lodestar_integration_tests::ClusterBuilder,
    ) -> lodestar_integration_tests::ClusterBuilder,
) -> Cluster {
    extra(
        lodestar_integration_tests::ClusterBuilder::new()
            .zeros(1)
            .alphas(3)
            .replicas(3),
    )
    .start()
    .await
    .expect("cluster")
}

/// A cluster of one zero and six alphas in two groups of three.
pub async fn two_groups_of_three() -> Cluster {
    lodestar_integration_tests::ClusterBuilder::new()
        .zeros(1)
        .alphas(6)
        .replicas(3)
        .start()
        .await
        .expect("cluster")
}

/// A client of `alpha`'s public port.
pub fn client(alpha: &Proc) -> DgraphClient<Channel> {
    DgraphClient::new(lodestar_client::channel(&alpha.grpc_addr()).expect("channel"))
}

/// `alpha`'s standing in its group from `/health` (`{role, leader, term, applied, behind}`),
/// or `None` if it does not answer.
pub async fn standing(alpha: &Proc) -> Option<serde_json::Value> {
    alpha.raft_standing().await
}

/// Asserts that every alpha of `cluster` holds the same data, version for version, at `ts`.
pub async fn assert_replicas_equal(cluster: &Cluster, ts: u64) {
    let mut digests = Vec::new();
    for a in &cluster.alphas {
        digests.push((a.name.clone(), digest(a, ts).await));
    }
    assert!(
        digests.iter().all(|(_, d)| *d == digests[0].1),
        "the replicas differ at {ts}: {digests:?}"
    );
}

/// The index in `cluster.alphas` of the alpha that leads, waiting up to `timeout` for one that
/// every running alpha agrees on.
pub async fn leader(cluster: &mut Cluster, timeout: Duration) -> usize {
    let started = Instant::now();
    loop {
        let mut leaders = Vec::new();
        let mut ids = Vec::new();
        for (i, a) in cluster.alphas.iter_mut().enumerate() {
            if !a.is_running() {
                continue;
            }
            if let Some(s) = standing(a).await {
                ids.push(s["leader"].as_u64().unwrap_or(0));
                if s["role"] == "leader" {
                    leaders.push(i);
                }
            }
        }
        let agreed = ids.windows(2).all(|w| w[0] == w[1]) && ids.first().is_some_and(|&l| l != 0);
        if leaders.len() == 1 && agreed {
            return leaders[0];
        }
        assert!(
            started.elapsed() < timeout,
            "no single leader within {timeout:?}: leaders {leaders:?}, leader ids seen {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `alpha`'s digest of its data at `read_ts` (versions, sha256).
pub async fn digest(alpha: &Proc, read_ts: u64) -> (u64, String) {
    let channel = lodestar_client::traced_channel(&alpha.internal_addr()).expect("channel");
    let resp = WorkerClient::new(channel)
        .digest(DigestRequest { read_ts })
        .await
        .unwrap_or_else(|e| panic!("digest from {}: {e:?}", alpha.name))
        .into_inner();
    (resp.versions, resp.sha256)
}

/// A fresh read timestamp, from a read-only query through `c`.
pub async fn read_ts(c: &mut DgraphClient<Channel>) -> u64 {
    let resp = c
        .query(Request {
            query: "{ q(func: uid(0x1)) { uid } }".into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .expect("read")
        .into_inner();
    resp.txn.expect("txn").start_ts
}

/// An RDF mutation request, committed at once or not.
pub fn rdf(set: &str, commit_now: bool) -> Request {
    Request {
        mutations: vec![Mutation {
            set_nquads: set.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now,
        ..Default::default()
    }
}

/// The group zero placed each alpha of `cluster` in (`/state`), in the order of
/// `cluster.alphas`.
pub async fn group_of_each_alpha(cluster: &Cluster) -> Vec<u64> {
    let (status, body) =
        lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(status, 200, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    cluster
        .alphas
        .iter()
        .map(|a| {
            let addr = a.internal_addr();
            state["groups"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(_, g)| {
                    g["members"]
                        .as_object()
                        .is_some_and(|m| m.values().any(|m| m["addr"] == addr.as_str()))
                })
                .map(|(id, _)| id.parse().unwrap())
                .unwrap_or_else(|| panic!("no group lists {addr}: {state}"))
        })
        .collect()
}
