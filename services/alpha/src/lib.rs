//! The alpha: serves Dgraph's `api.Dgraph` client API on 9080 and the internal `worker.Worker`
//! API on 7080, and holds the data of its group.
//!
//! This release joins its group through zero and serves health, metrics and `CheckVersion`;
//! the data plane (queries, mutations, transactions) answers `Unimplemented` until it lands.

use lodestar_client::ZeroClient;
use lodestar_proto::api::dgraph_server::{Dgraph, DgraphServer};
use lodestar_proto::api::{Check, Version};
use lodestar_proto::worker::worker_server::{Worker, WorkerServer};
use lodestar_proto::zero::ConnectRequest;
use lodestar_runtime::config::{CommonArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::sync::Arc;
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
    pub zero: String,

    /// The internal address other nodes reach this alpha at (defaults to localhost:7080 + offset).
    #[arg(long)]
    pub my: Option<String>,

    /// The internal gRPC port, instead of 7080 + --port_offset.
    #[arg(long = "internal_port")]
    pub internal_port: Option<u16>,

    /// Directory for the posting lists.
    #[arg(short = 'p', long = "postings", default_value = "p")]
    pub postings: std::path::PathBuf,
}

/// The public API. Only `CheckVersion` is served in this release.
#[derive(Debug)]
struct DgraphApi;

#[tonic::async_trait]
impl Dgraph for DgraphApi {
    async fn check_version(
        &self,
        _request: tonic::Request<Check>,
    ) -> Result<tonic::Response<Version>, tonic::Status> {
        Ok(tonic::Response::new(Version {
            tag: lodestar_runtime::VERSION.to_string(),
        }))
    }
}

#[derive(Debug)]
struct WorkerApi;

impl Worker for WorkerApi {}

/// Runs the alpha until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    let grpc_addr = args.common.grpc_addr(ports::ALPHA_GRPC)?;
    let internal_addr = args
        .common
        .explicit_or(args.internal_port, ports::ALPHA_INTERNAL_GRPC)?;
    let http_addr = args.common.http_addr(ports::ALPHA_HTTP)?;
    let grpc = serve::bind(grpc_addr, "the client API (gRPC)").await?;
    let internal = serve::bind(internal_addr, "internal gRPC").await?;
    let http = serve::bind(http_addr, "HTTP").await?;
    std::fs::create_dir_all(&args.postings).map_err(|e| {
        ServiceError::invalid(format!(
            "cannot create postings directory {}: {e}",
            args.postings.display()
        ))
    })?;
    let my = args
        .my
        .clone()
        .unwrap_or_else(|| format!("localhost:{}", internal_addr.port()));
    let node = NodeHandle::new("alpha", my.clone());
    let zero = Arc::new(ZeroClient::new([args.zero.as_str()])?);
    tokio::spawn(join_group(zero, my, node.status.clone(), shutdown.clone()));

    let public = tonic::service::Routes::new(DgraphServer::new(DgraphApi));
    let worker = tonic::service::Routes::new(WorkerServer::new(WorkerApi));
    let identity = node.identity.clone();
    let (a, b, c) = tokio::join!(
        serve::serve_grpc(grpc, public, identity.clone(), shutdown.clone()),
        serve::serve_grpc(internal, worker, identity.clone(), shutdown.clone()),
        serve::serve_http(http, serve::base_router(identity), shutdown.clone()),
    );
    a.and(b).and(c)
}

/// Joins a group through zero, retrying until zero answers or the alpha stops.
async fn join_group(
    zero: Arc<ZeroClient>,
    my: String,
    status: tokio::sync::watch::Sender<serve::NodeStatus>,
    shutdown: Shutdown,
) {
    let mut delay = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        let req = ConnectRequest {
            addr: my.clone(),
            group_id: 0,
            id: 0,
        };
        match zero.join_group(req).await {
            Ok(resp) => {
                let group = resp.member.map(|m| m.group_id).unwrap_or_default();
                status.send_modify(|s| s.group = group);
                tracing::info!(group, addr = %my, "joined group");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot join a group yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}
