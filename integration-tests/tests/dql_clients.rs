//! pydgraph from PyPI against a real cluster: the v25 calls (`CheckVersion`, `RunDQL`,
//! `AllocateIDs`, `open()` connection strings), request details (`<_:x>` blank nodes, empty
//! requests, upserts, RDF answers) and the DQL directives with Dgraph's JSON, with ACL off and
//! on. Run again on two groups of three replicas by the test command.

mod common;

use lodestar_integration_tests::ClusterBuilder;
use std::os::unix::fs::PermissionsExt;

async fn run(args: &[&str], cluster: &lodestar_integration_tests::Cluster) {
    if let Err(out) = common::run_python("dql_clients.py", args).await {
        panic!(
            "pydgraph test failed:\n{out}\nalpha log:\n{}",
            cluster.alpha().log_tail(40)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_v25_calls_and_directives() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster");
    run(&[&cluster.alpha_grpc()], &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_with_acl_through_a_connection_string() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hmac_secret_file");
    std::fs::write(&secret, "a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .acl_secret_file(&secret)
        .services(true)
        .start()
        .await
        .expect("cluster");
    run(&[&cluster.alpha_grpc(), "--acl"], &cluster).await;
}
