//! The alpha through its gRPC API with a Rust client: durability across kill -9, pending
//! transactions after a crash, snapshot isolation, bad input, draining and tablets.

mod common;

use common::backups::alter;
use common::{json, start_cluster};
use lodestar_client::ZeroClient;
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service, http_get};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request, TxnContext};
use std::time::Duration;
use tonic::transport::Channel;

async fn client(cluster: &Cluster) -> DgraphClient<Channel> {
    DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap())
}

fn rdf(set: &str, commit_now: bool) -> Request {
    common::backups::set_request(set, commit_now)
}

async fn query_at(c: &mut DgraphClient<Channel>, q: &str, start_ts: u64) -> serde_json::Value {
    let resp = c
        .query(Request {
            query: q.into(),
            start_ts,
            read_only: start_ts == 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&resp.json).unwrap()
}

async fn query(c: &mut DgraphClient<Channel>, q: &str) -> serde_json::Value {
    query_at(c, q, 0).await
}

async fn wait_alpha(c: &mut Cluster) {
    c.alpha_mut()
        .wait_healthy(Duration::from_secs(30))
        .await
        .expect("alpha healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_data_survives_kill_9_and_uncommitted_does_not() {
    let mut cluster = start_cluster().await;
    let mut c = client(&cluster).await;
    alter(
        &mut c,
        "n: int @index(int) .\nlabel: string @index(exact) .",
    )
    .await;
    // 10,000 triples in ten committed transactions.
    for batch in 0..10 {
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!("_:n{i} <n> \"{}\" .\n", batch * 1000 + i));
        }
        let resp = c.query(rdf(&text, true)).await.unwrap().into_inner();
        assert!(resp.txn.unwrap().commit_ts > 0);
    }
    // An open transaction with writes that is never committed.
    let open = c
        .query(rdf("_:x <label> \"uncommitted\" .", false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(open.txn.unwrap().commit_ts, 0);

    let alpha = cluster.alpha_mut();
    alpha.kill9();
    alpha.start().expect("restart alpha");
    wait_alpha(&mut cluster).await;
    let mut c = client(&cluster).await;
    let r = query(&mut c, "{ q(func: has(n)) { count(uid) } }").await;
    assert_eq!(r, serde_json::json!({"q": [{"count": 10000}]}));
    let r = query(&mut c, "{ q(func: ge(n, 9990)) { count(uid) } }").await;
    assert_eq!(
        r,
        serde_json::json!({"q": [{"count": 10}]}),
        "the index survived too"
    );
    let r = query(&mut c, r#"{ q(func: eq(label, "uncommitted")) { uid } }"#).await;
    assert_eq!(r, serde_json::json!({"q": []}));
    let log = cluster.alpha().run_log();
    assert!(
        log.contains("dropping a transaction aborted before this replica took over"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_transaction_keeps_its_view_while_others_commit() {
    let cluster = start_cluster().await;
    let mut c = client(&cluster).await;
    alter(&mut c, "v: int @index(int) .").await;
    c.query(rdf("_:a <v> \"1\" .", true)).await.unwrap();
    // A read-write transaction reads (gets its start_ts)...
    let first = c
        .query(Request {
            query: "{ q(func: has(v)) { v } }".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let start_ts = first.txn.unwrap().start_ts;
    // ...others commit meanwhile...
    for i in 2..5 {
        c.query(rdf(&format!("_:n <v> \"{i}\" ."), true))
            .await
            .unwrap();
    }
    // ...and it still sees only what was there at its start.
    let r = query_at(&mut c, "{ q(func: has(v)) { count(uid) } }", start_ts).await;
    assert_eq!(r, serde_json::json!({"q": [{"count": 1}]}));
    let r = query(&mut c, "{ q(func: has(v)) { count(uid) } }").await;
    assert_eq!(r, serde_json::json!({"q": [{"count": 4}]}));
    c.commit_or_abort(TxnContext {
        start_ts,
        aborted: true,
        ..Default::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_code_and_writes_nothing() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .arg(Service::Alpha, "--max_request_bytes", "100000")
        .services(true)
        .start()
        .await
        .expect("cluster");
    let mut c = client(&cluster).await;
    alter(&mut c, "age: int .\nname: string @index(exact) .").await;
    let cases: Vec<(Request, tonic::Code, &str)> = vec![
        (
            Request {
                query: "{ q(func: eq(name, \"x\") { name } }".into(),
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "line 1 column",
        ),
        (
            Request {
                query: "{ q(func: frobnicate(name)) { name } }".into(),
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "frobnicate",
        ),
        (
            Request {
                query: "{ q(func: eq(age, 3)) { name } }".into(),
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "not indexed",
        ),
        (
            rdf("_:a <name> \"ok\" .\n_:a <age> \"forty\" .", true),
            tonic::Code::InvalidArgument,
            "forty",
        ),
        (
            rdf("_:a <name> \"no dot\"", true),
            tonic::Code::InvalidArgument,
            "line 1",
        ),
        (
            Request {
                mutations: vec![Mutation {
                    set_json: b"{\"name\": \"x\", ".to_vec(),
                    ..Default::default()
                }],
                commit_now: true,
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "line 1",
        ),
        (
            rdf(&format!("_:a <name> \"{}\" .", "x".repeat(200_000)), true),
            tonic::Code::OutOfRange,
            "too large",
        ),
    ];
    for (req, code, needle) in cases {
        let err = c.query(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(
            err.message().contains(needle),
            "{:?} lacks {needle:?}",
            err.message()
        );
    }
    let r = query(&mut c, "{ q(func: has(name)) { count(uid) } }").await;
    assert_eq!(
        r,
        serde_json::json!({"q": [{"count": 0}]}),
        "nothing was written"
    );
    let err = c
        .alter(Operation {
            schema: "age: uid @index(exact) .".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let err = c
        .alter(Operation {
            drop_attr: "dgraph.xid".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.message().to_lowercase().contains("pre-defined"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_refuses_requests_and_tablets_are_registered() {
    let cluster = start_cluster().await;
    let mut c = client(&cluster).await;
    c.query(rdf("_:a <color> \"blue\" .", true)).await.unwrap();
    let (_, state) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(
        json(&state)["groups"]["1"]["tablets"]["color"]["predicate"],
        "color",
        "{state}"
    );

    let zero = ZeroClient::new(cluster.zero_grpc_addrs()).unwrap();
    zero.set_draining(true).await.unwrap();
    let mut refused = None;
    for _ in 0..40 {
        match c
            .query(Request {
                query: "{ q(func: has(color)) { color } }".into(),
                read_only: true,
                ..Default::default()
            })
            .await
        {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let err = refused.expect("draining never took effect");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("draining"), "{err:?}");
    zero.set_draining(false).await.unwrap();
    let mut ok = false;
    for _ in 0..40 {
        if c.query(Request {
            query: "{ q(func: has(color)) { color } }".into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "queries never came back after draining was turned off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_all_and_drop_attr() {
    let cluster = start_cluster().await;
    let mut c = client(&cluster).await;
    alter(&mut c, "name: string @index(exact) .\nage: int .").await;
    c.query(rdf("_:a <name> \"A\" .\n_:a <age> \"3\" .", true))
        .await
        .unwrap();
    c.alter(Operation {
        drop_attr: "age".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = query(&mut c, "{ q(func: has(name)) { name age } }").await;
    assert_eq!(r, serde_json::json!({"q": [{"name": "A"}]}));
    let r = query(&mut c, "schema(pred: [age]) { type }").await;
    assert!(r.get("schema").is_none(), "{r}");
    c.alter(Operation {
        drop_all: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let r = query(&mut c, "{ q(func: has(name)) { name } }").await;
    assert_eq!(r, serde_json::json!({"q": []}));
    let r = query(&mut c, "schema {}").await;
    let preds: Vec<&str> = r["schema"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["predicate"].as_str())
        .collect();
    assert!(
        preds.iter().all(|p| p.starts_with("dgraph.")),
        "only the reserved schema is left: {preds:?}"
    );
}
