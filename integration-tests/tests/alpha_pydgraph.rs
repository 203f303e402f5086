//! pydgraph from PyPI drives the alpha end to end, as a new user would.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_end_to_end() {
    common::python_against_cluster("pydgraph_e2e.py").await;
}
