//! pydgraph from PyPI drives the alpha end to end, as a new user would.

use lodestar_integration_tests::ClusterBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_end_to_end() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster");
    let python = std::env::var("LODESTAR_PYTHON").unwrap_or_else(|_| {
        panic!("LODESTAR_PYTHON is not set: run the tests with integration-tests/run-tests.sh, which prepares the Python clients")
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/pydgraph_e2e.py");
    let out = tokio::process::Command::new(python)
        .args([script, &cluster.alpha_grpc()])
        .output()
        .await
        .expect("run python");
    assert!(
        out.status.success(),
        "pydgraph test failed:\n{}\n{}\nalpha log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        cluster.alpha.as_ref().unwrap().log_tail(40)
    );
}
