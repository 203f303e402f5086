//! pydgraph from PyPI drives the alpha end to end, as a new user would.

mod common;

use lodestar_integration_tests::ClusterBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_end_to_end() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster");
    if let Err(out) = common::run_python("pydgraph_e2e.py", &[&cluster.alpha_grpc()]).await {
        panic!(
            "pydgraph test failed:\n{out}\nalpha log:\n{}",
            cluster.alpha().log_tail(40)
        );
    }
}
