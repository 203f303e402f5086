//! Runs the REAL built binaries (`zero`, `alpha`, `auth`, `backup-worker`, `gateway`) as a local
//! cluster: separate processes on free or fixed ports, in one directory with a data directory and
//! a log file each, started in dependency order, waited on until healthy, killed (`kill -9`),
//! stopped and restarted on demand, and torn down with SIGKILL when the cluster is dropped.
//!
//! Two users share it: the end-to-end tests (`lodestar-integration-tests`: free ports, a
//! temporary directory) and the local launcher (`deploy/launcher`: fixed ports, a kept
//! directory). It holds no test assertions, so the launcher links no test code.
//!
//! The binaries are not built by this crate: run `cargo build --workspace` first. They are taken
//! from `$LODESTAR_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`, else `<workspace>/target/debug`;
//! [`ClusterBuilder::one_binary`] runs every service as a subcommand of the one `lodestar`
//! command instead.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use lodestar_harness::{ClusterBuilder, http_get};
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
    CLUSTER_SECRET_FILE, Cluster, ClusterBuilder, ClusterSecret, ENCRYPTION_KEY_FILE, Host,
    Service, default_groups, ensure_cluster_secret, ensure_encryption_key, test_encryption,
    test_encryption_key, test_groups, test_replicas,
};
pub use http::{
    REQUEST_TIMEOUT, http_get, http_post, http_post_json, http_post_with, try_http_get,
    try_http_post,
};
pub use ports::{
    Ports, ProcPorts, defaults as default_ports, fixed_ports, free_port, try_free_port,
};
pub use process::{Proc, RESTART_HEALTH_TIMEOUT, STOP_TIMEOUT, Stopped};
