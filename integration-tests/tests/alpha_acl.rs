//! An alpha with ACL on (`--acl_secret_file`): user groot (password "password") in group
//! guardians exists from the start, survives a restart without being duplicated, cannot be
//! deleted, and comes back after `drop_all`.

mod common;

use lodestar_integration_tests::{Cluster, ClusterBuilder, Service};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request};
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;
use tonic::transport::Channel;

const WHO: &str = r#"{
  u(func: eq(dgraph.xid, "groot")) @filter(type(dgraph.type.User)) {
    uid
    ok: checkpwd(dgraph.password, "password")
    dgraph.user.group { dgraph.xid }
  }
  g(func: eq(dgraph.xid, "guardians")) @filter(type(dgraph.type.Group)) { uid }
}"#;

async fn who(c: &mut DgraphClient<Channel>) -> serde_json::Value {
    let resp = c
        .query(Request {
            query: WHO.into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&resp.json).unwrap()
}

async fn client(cluster: &Cluster) -> DgraphClient<Channel> {
    DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groot_and_guardians_exist_once_resist_deletion_and_return_after_drop_all() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hmac_secret_file");
    std::fs::write(&secret, "1234567890abcdefghijklmnopqrstuvwxyz").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .arg(Service::Alpha, "--acl_secret_file", common::path(&secret))
        .services(true)
        .start()
        .await
        .expect("cluster");
    let mut c = client(&cluster).await;
    let first = who(&mut c).await;
    assert_eq!(first["u"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["u"][0]["ok"], serde_json::json!(true), "{first}");
    assert_eq!(
        first["u"][0]["dgraph.user.group"],
        serde_json::json!([{"dgraph.xid": "guardians"}])
    );
    let groot = first["u"][0]["uid"].as_str().unwrap().to_string();
    // Login does not pretend: tokens are not issued yet.
    let err = c
        .login(lodestar_proto::api::LoginRequest {
            userid: "groot".into(),
            password: "password".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(err.message().contains("later release"), "{err:?}");

    // A restart finds them and creates nothing.
    let alpha = cluster.alpha.as_mut().unwrap();
    alpha.restart().await.unwrap();
    alpha.wait_healthy(Duration::from_secs(30)).await.unwrap();
    let mut c = client(&cluster).await;
    assert_eq!(who(&mut c).await, first);

    // Deleting groot is refused and changes nothing.
    let err = c
        .query(Request {
            mutations: vec![Mutation {
                del_nquads: format!("<{groot}> * * .").into_bytes(),
                ..Default::default()
            }],
            commit_now: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "guardians group and groot user cannot be deleted."
    );
    assert_eq!(who(&mut c).await, first);

    // drop_all removes everything, then both are there again.
    c.alter(Operation {
        drop_all: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let after = who(&mut c).await;
    assert_eq!(after["u"][0]["ok"], serde_json::json!(true), "{after}");
    assert_eq!(after["g"].as_array().map(Vec::len), Some(1), "{after}");
    assert_ne!(
        after["u"][0]["uid"], first["u"][0]["uid"],
        "new nodes after drop_all"
    );
}
