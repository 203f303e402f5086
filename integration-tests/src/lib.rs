//! The end-to-end tests, the fault suite and the benchmarks. They drive the real binaries through
//! the cluster harness (`lodestar-harness`), re-exported here so every test writes
//! `use lodestar_integration_tests::{ClusterBuilder, …}`; [`bench`] holds what the benchmark
//! binaries share.
//!
//! The binaries are not built by `cargo test` of this crate: run `cargo build --workspace` first
//! (`integration-tests/run-tests.sh` does).

pub mod bench;

pub use lodestar_harness::*;
