//! The DQL search functions (full-text, regular expressions, fuzzy match, between, geo)
//! through pydgraph against a real cluster; with `LODESTAR_TEST_GROUPS=2` the predicates are
//! spread over two groups, so the functions also read another group's indexes.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_functions_through_pydgraph() {
    common::python_against_cluster("dql_search.py").await;
}
