//! The alpha: serves Dgraph's `api.Dgraph` client API on 9080 (what dgo and pydgraph call) and
//! the internal `worker.Worker` API on 7080, and holds the data of its group in the MVCC store
//! (`lodestar-storage`, fjall underneath).
//!
//! At start it joins its group through zero, opens its store, settles transactions a crash
//! left pending, and then serves. Queries, mutations, upserts, schema changes and transactions
//! are in [`graph`]; [`api`] speaks the wire protocol. `alpha restore` ([`offline`]) writes a
//! backup series into the directories alphas start from.

pub mod api;
pub mod graph;
pub mod login;
pub mod offline;
pub mod oracle;
pub mod worker;

use lodestar_client::ZeroClient;
use lodestar_proto::api::dgraph_server::DgraphServer;
use lodestar_proto::worker::worker_server::WorkerServer;
use lodestar_proto::zero::ConnectRequest;
use lodestar_runtime::config::{CommonArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Flags of the `alpha` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "alpha",
    version,
    about = "Serves the Dgraph client API and holds a group's data"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Comma-separated gRPC addresses of the zeros.
    #[arg(long, env = "LODESTAR_ZERO", default_value = "localhost:5080")]
    pub zero: lodestar_runtime::config::ZeroList,

    /// The internal address other nodes reach this alpha at (defaults to localhost:7080 + offset).
    #[arg(long)]
    pub my: Option<String>,

    /// The internal gRPC port, instead of 7080 + --port_offset.
    #[arg(long = "internal_port")]
    pub internal_port: Option<u16>,

    /// Directory for the posting lists.
    #[arg(short = 'p', long = "postings", default_value = "p")]
    pub postings: std::path::PathBuf,

    /// Open transactions no request uses for this long are aborted.
    #[arg(long = "txn_idle_timeout", default_value = "10m", value_parser = humantime::parse_duration)]
    pub txn_idle_timeout: Duration,

    /// Largest request the client API accepts, in bytes.
    #[arg(long = "max_request_bytes", default_value_t = 256 << 20)]
    pub max_request_bytes: usize,

    /// ACL: with a secret, user groot and group guardians always exist, `Login` issues tokens,
    /// every other call needs a valid one, and predicate rules decide what it may read, write
    /// and alter.
    #[command(flatten)]
    pub acl: lodestar_acl::AclArgs,

    /// Keep the data in TiKV instead of --postings: its PD endpoints, comma separated.
    #[cfg(feature = "tikv")]
    #[arg(long = "tikv_pd", value_delimiter = ',')]
    pub tikv_pd: Vec<String>,

    /// The key namespace of this alpha's data in TiKV (alphas sharing a cluster need their own).
    #[cfg(feature = "tikv")]
    #[arg(long = "tikv_namespace", default_value = "lodestar")]
    pub tikv_namespace: String,

    /// An offline command instead of serving.
    #[command(subcommand)]
    pub command: Option<offline::Command>,
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        if self.txn_idle_timeout.is_zero() {
            return Err(ServiceError::invalid(
                "--txn_idle_timeout 0s would abort every transaction at once: give a duration such as 10m",
            ));
        }
        if self.max_request_bytes < 1024 {
            return Err(ServiceError::invalid(format!(
                "--max_request_bytes {} is too small for any request: give at least 1024",
                self.max_request_bytes
            )));
        }
        if let Some(my) = &self.my
            && !matches!(my.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok())
        {
            return Err(ServiceError::invalid(format!(
                "--my {my:?} is not host:port: give the internal address other nodes reach this alpha at, e.g. alpha1:7080"
            )));
        }
        Ok(())
    }

    fn open_store(&self) -> Result<lodestar_storage::Store, ServiceError> {
        #[cfg(feature = "tikv")]
        if !self.tikv_pd.is_empty() {
            return lodestar_storage::Store::open_tikv(
                &self.tikv_pd,
                self.tikv_namespace.as_bytes(),
            )
            .map_err(|e| ServiceError::invalid(format!("--tikv_pd: {e}")));
        }
        lodestar_storage::Store::open(&self.postings).map_err(|e| {
            ServiceError::invalid(format!(
                "postings directory {}: {e}",
                self.postings.display()
            ))
        })
    }
}

/// Runs the alpha until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    let tokens = args.acl.tokens().map_err(ServiceError::invalid)?;
    if tokens.is_some() {
        lodestar_runtime::cluster::require_with_acl()?;
    }
    let grpc_addr = args.common.grpc_addr(ports::ALPHA_GRPC)?;
    let internal_addr = args
        .common
        .explicit_or(args.internal_port, ports::ALPHA_INTERNAL_GRPC)?;
    let http_addr = args.common.http_addr(ports::ALPHA_HTTP)?;
    let grpc = serve::bind(grpc_addr, "the client API (gRPC)").await?;
    let internal = serve::bind(internal_addr, "internal gRPC").await?;
    let http = serve::bind(http_addr, "HTTP").await?;
    let store = args.open_store()?;
    let my = args
        .my
        .clone()
        .unwrap_or_else(|| format!("localhost:{}", internal_addr.port()));
    let node = NodeHandle::new("alpha", my.clone());
    let zero = Arc::new(ZeroClient::new(args.zero.addrs())?);

    let Some(group) = join_group(&zero, &my, tokens.is_some(), &shutdown).await? else {
        return Ok(());
    };
    node.status.send_modify(|s| s.group = group);
    let oracle = Arc::new(oracle::ZeroOracle::new(zero.clone()));
    let graph = graph::Graph::open(Arc::new(store), oracle)
        .await
        .map_err(|e| ServiceError::unavailable(format!("opening the graph: {e}")))?;
    graph.set_group(group);
    if tokens.is_some() {
        graph
            .ensure_acl_roots()
            .await
            .map_err(|e| ServiceError::unavailable(format!("creating groot and guardians: {e}")))?;
        tracing::info!("ACL is on: every call needs a valid access token; predicate rules apply");
    }
    let draining = Arc::new(AtomicBool::new(false));
    shutdown.spawn(watch_draining(
        zero.clone(),
        draining.clone(),
        shutdown.clone(),
    ));
    shutdown.spawn(expire_transactions(
        graph.clone(),
        args.txn_idle_timeout,
        shutdown.clone(),
    ));
    tracing::info!(group, addr = %my, grpc = %grpc_addr, "alpha serving");

    let acl = tokens.map(|tokens| login::AclConfig {
        login: lodestar_acl::login::Login::new(Arc::new(tokens)),
        zero: zero.clone(),
    });
    let api = api::DgraphApi {
        graph: graph.clone(),
        draining,
        zero: zero.clone(),
        acl,
    };
    let api = Arc::new(api);
    let public = tonic::service::Routes::new(
        DgraphServer::from_arc(api.clone())
            .max_decoding_message_size(args.max_request_bytes)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(lodestar_proto::auth::session_server::SessionServer::from_arc(api));
    let worker = tonic::service::Routes::new(
        WorkerServer::new(worker::WorkerApi {
            graph: graph.clone(),
            group,
        })
        .max_decoding_message_size(args.max_request_bytes)
        .max_encoding_message_size(usize::MAX),
    );
    let identity = node.identity.clone();
    let (a, b, c) = tokio::join!(
        serve::serve_grpc(grpc, public, identity.clone(), shutdown.clone()),
        serve::serve_grpc(internal, worker, identity.clone(), shutdown.clone()),
        serve::serve_http(http, serve::base_router(identity), shutdown.clone()),
    );
    if let Err(e) = graph.store.sync() {
        tracing::warn!(error = %e, "flushing the store");
    }
    a.and(b).and(c)
}

/// Joins a group through zero, retrying until zero answers; `None` if the alpha stops first.
/// An alpha with a cluster credential refuses a zero that does not require one (its ACL would
/// guard nothing: zero's own calls would be open), and a zero that refuses this alpha's
/// credential stops the start with zero's reason.
async fn join_group(
    zero: &ZeroClient,
    my: &str,
    acl: bool,
    shutdown: &Shutdown,
) -> Result<Option<u32>, ServiceError> {
    let mut delay = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        let req = ConnectRequest {
            addr: my.to_string(),
            group_id: 0,
            id: 0,
            acl,
        };
        match zero.join_group(req).await {
            Ok(resp) => {
                if lodestar_runtime::cluster::enabled() && !resp.cluster_auth {
                    return Err(ServiceError::invalid(
                        "zero takes internal calls without the cluster credential while this alpha has one: start every zero with the same --cluster_secret_file",
                    ));
                }
                let group = resp.member.map(|m| m.group_id).unwrap_or(1);
                tracing::info!(group, addr = %my, "joined group");
                return Ok(Some(group));
            }
            Err(e) if e.code() == tonic::Code::Unauthenticated => {
                return Err(ServiceError::invalid(format!(
                    "zero refused this alpha: {}",
                    e.message()
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot join a group yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return Ok(None),
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    Ok(None)
}

/// Aborts transactions left open longer than `idle`.
async fn expire_transactions(graph: Arc<graph::Graph>, idle: Duration, shutdown: Shutdown) {
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
        if let Err(e) = graph.expire_idle(idle).await {
            tracing::warn!(error = %e, "aborting idle transactions");
        }
    }
}

/// Keeps the cluster's draining flag current.
async fn watch_draining(zero: Arc<ZeroClient>, flag: Arc<AtomicBool>, shutdown: Shutdown) {
    loop {
        if let Ok(state) = zero.state().await {
            let was = flag.swap(state.draining, Ordering::Relaxed);
            if was != state.draining {
                tracing::info!(draining = state.draining, "cluster draining flag changed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.wait() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parsed(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("alpha").chain(argv.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let args = parsed(&[]);
        assert!(args.validate().is_ok());
        assert_eq!(args.zero.addrs(), ["localhost:5080"]);
        for (argv, flag) in [
            (&["--txn_idle_timeout", "0s"][..], "--txn_idle_timeout"),
            (&["--max_request_bytes", "10"][..], "--max_request_bytes"),
            (&["--my", "alpha1"][..], "--my"),
        ] {
            let e = parsed(argv).validate().unwrap_err();
            assert!(e.message.contains(flag), "{argv:?}: {e}");
        }
        assert!(Args::try_parse_from(["alpha", "--zero", "z1"]).is_err());
        assert!(Args::try_parse_from(["alpha", "-p", ""]).is_err());
    }
}
