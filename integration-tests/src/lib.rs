//! The cluster harness for end-to-end tests: it starts the REAL built binaries (`zero`, `alpha`,
//! `auth`, `backup-worker`, `gateway`) as separate processes on free ports, each in a shared
//! temporary directory with its own data directory and log file, and tears them down with
//! SIGKILL when the cluster is dropped. The local launcher (`deploy/launcher`) reuses it with
//! fixed ports and a kept directory.
//!
//! The binaries are not built by `cargo test` of this crate: run `cargo build --workspace` first.
//! They are taken from `$LODESTAR_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`, else
//! `<workspace>/target/debug`.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use lodestar_integration_tests::{ClusterBuilder, http_get};
//!
//! let mut cluster = ClusterBuilder::new().zeros(3).services(true).start().await?;
//! let (status, body) = http_get(&format!("{}/health", cluster.zero_http(0))).await;
//! assert_eq!((status, body.as_str()), (200, "OK"));
//! cluster.zeros[1].kill9();
//! cluster.zeros[1].restart().await?;
//! let stopped = cluster.zeros[0].stop().await?;
//! assert!(stopped.status.success(), "{stopped}");
//! # Ok(())
//! # }
//! ```
//!
//! Tests run in parallel processes (cargo nextest), so every listener gets a port from
//! [`free_port`]; a process that loses its port to another before binding it is restarted on new
//! ports. When a test panics, the cluster directory is kept and its path printed with the end of
//! every log; set `LODESTAR_KEEP_CLUSTER=1` to keep it always.

pub mod bench;
mod bins;
mod cluster;
mod http;
mod ports;
mod process;

pub use bins::{
    SERVICE_BINARIES, bin_command, bin_dir, bin_dir_from, bin_path, bin_path_in, current_exe_dir,
    run_bin,
};
pub use cluster::{
    CLUSTER_SECRET_FILE, Cluster, ClusterBuilder, ClusterSecret, Service, ensure_cluster_secret,
};
pub use http::{
    REQUEST_TIMEOUT, http_get, http_post, http_post_json, http_post_with, try_http_get,
    try_http_post,
};
pub use ports::{
    Ports, ProcPorts, defaults as default_ports, fixed_ports, free_port, try_free_port,
};
pub use process::{Proc, RESTART_HEALTH_TIMEOUT, STOP_TIMEOUT, Stopped};
