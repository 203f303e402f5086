//! The gateway: the cluster's one HTTP front door (default port 8080). It serves Dgraph's GraphQL
//! `/admin` endpoint, Dgraph's HTTP API for DQL (`/query`, `/mutate`, `/alter`, `/commit`,
//! `/login`), the HTTP license API (`POST /enterpriseLicense`), `/state`, `/health` and
//! `/metrics`, translating each request into gRPC calls to zero, the alphas, auth and the
//! backup-worker. It holds no state of its own.
//!
//! The pieces:
//! - [`cluster`]: the [`Cluster`] trait with the backend calls the routes make, and
//!   [`GrpcCluster`], its implementation over gRPC;
//! - [`routes`]: [`router`], buildable without a socket, and [`GatewayState`];
//! - [`admin`]: the `/admin` GraphQL schema;
//! - [`dql_http`]: Dgraph's HTTP API for DQL (`/query`, `/mutate`, `/alter`, `/commit`);
//! - [`health`]: the cluster-wide health check behind the `health` query.

pub mod admin;
pub mod cluster;
pub mod dql_http;
pub mod health;
pub mod routes;

pub use cluster::{AlphaCall, Cluster, GrpcCluster, Services};
pub use routes::{GatewayState, router};

use lodestar_runtime::config::{CommonArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::sync::Arc;

/// Flags of the `gateway` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gateway",
    version,
    about = "The cluster's HTTP front door: /query, /mutate, /alter, /commit, /admin GraphQL, /enterpriseLicense, /state, /health"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Comma-separated gRPC addresses of the zeros.
    #[arg(long, env = "LODESTAR_ZERO", default_value = "localhost:5080")]
    pub zero: lodestar_runtime::config::ZeroList,

    /// The alphas' public gRPC addresses, comma separated: any of them answers, and the next is
    /// tried when one cannot be reached.
    #[arg(long, env = "LODESTAR_ALPHA", default_value = "localhost:9080")]
    pub alpha: String,

    /// TLS toward the alphas' public port, when they serve it with --tls: "ca-cert=PATH;
    /// server-name=NAME; client-cert=PATH; client-key=PATH" (Dgraph's client --tls).
    #[arg(long = "alpha_tls", value_parser = lodestar_runtime::tls::ClientTls::parse_alpha_tls)]
    pub alpha_tls: Option<lodestar_runtime::tls::ClientTls>,

    /// The auth service's gRPC address.
    #[arg(long, env = "LODESTAR_AUTH", default_value = "localhost:7070")]
    pub auth: String,

    /// The backup-worker's gRPC address.
    #[arg(long, env = "LODESTAR_BACKUP", default_value = "localhost:7090")]
    pub backup: String,

    /// ACL: the same secret file as the alphas', so that the cluster's admin operations
    /// (`state`, `enterpriseLicense`, `draining`) are for guardians only.
    #[command(flatten)]
    pub acl: lodestar_acl::AclArgs,
}

impl Args {
    /// Checks the flags beyond what clap can, so that a mistake fails at startup.
    pub fn validate(&self) -> Result<(), ServiceError> {
        for (flag, addr) in [
            ("--alpha", &self.alpha),
            ("--auth", &self.auth),
            ("--backup", &self.backup),
        ] {
            if addr.trim().is_empty() {
                return Err(ServiceError::invalid(format!(
                    "{flag} is empty: give the service's gRPC address as host:port"
                )));
            }
        }
        Ok(())
    }

    /// The service addresses the flags name.
    pub fn services(&self) -> Services {
        Services {
            zeros: self.zero.addrs().to_vec(),
            alpha: self.alpha.trim().to_string(),
            auth: self.auth.trim().to_string(),
            backup: self.backup.trim().to_string(),
        }
    }
}

/// Runs the `gateway` service until it is stopped. The `gateway` binary and `lodestar gateway`
/// both call it.
pub fn main(args: Args) -> std::process::ExitCode {
    let common = args.common.clone();
    lodestar_runtime::run_main("gateway", &common, |shutdown| run(args, shutdown))
}

/// Runs the gateway until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    lodestar_runtime::tls::install_alpha_client(args.alpha_tls.as_ref())?;
    let tokens = args.acl.tokens().map_err(ServiceError::invalid)?;
    if tokens.is_some() {
        lodestar_runtime::cluster::require_with_acl()?;
    }
    let http_addr = args.common.http_addr(ports::GATEWAY_HTTP)?;
    let listener = serve::bind(http_addr, "HTTP").await?;
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(http_addr.port());
    let node = NodeHandle::new("gateway", format!("localhost:{port}"));
    let services = args.services();
    let cluster = Arc::new(GrpcCluster::new(&services.zeros)?.with_alphas(&services.alpha)?);
    tracing::info!(
        port,
        zero = %args.zero,
        alpha = %services.alpha,
        auth = %services.auth,
        backup = %services.backup,
        "gateway listening"
    );
    let mut state = GatewayState::new(cluster, services, node.identity.clone());
    if let Some(tokens) = tokens {
        let verifier = lodestar_acl::Verifier::new(Arc::new(tokens), &args.alpha)
            .map_err(|e| ServiceError::invalid(format!("--alpha: {e}")))?;
        state = state.with_acl(verifier);
    }
    let result = tokio::join!(
        serve::serve_http(listener, router(state), shutdown.clone()),
        async {
            // Health turns 503 as soon as the drain starts.
            shutdown.wait().await;
            node.stop_serving();
        }
    );
    result.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_are_dgraph_and_suite_ports() {
        let args = Args::try_parse_from(["gateway"]).unwrap();
        assert_eq!(
            args.services(),
            Services {
                zeros: vec!["localhost:5080".into()],
                alpha: "localhost:9080".into(),
                auth: "localhost:7070".into(),
                backup: "localhost:7090".into(),
            }
        );
        assert_eq!(
            args.common.http_addr(ports::GATEWAY_HTTP).unwrap().port(),
            8080
        );
    }

    #[test]
    fn port_offset_shifts_the_http_port_and_zeros_split() {
        let args =
            Args::try_parse_from(["gateway", "-o", "100", "--zero", "z1:5080,z2:5081"]).unwrap();
        assert_eq!(
            args.common.http_addr(ports::GATEWAY_HTTP).unwrap().port(),
            8180
        );
        assert_eq!(args.services().zeros, vec!["z1:5080", "z2:5081"]);
        let args = Args::try_parse_from(["gateway", "--http_port", "9999"]).unwrap();
        assert_eq!(
            args.common.http_addr(ports::GATEWAY_HTTP).unwrap().port(),
            9999
        );
    }

    #[test]
    fn an_empty_zero_list_is_refused() {
        let e = Args::try_parse_from(["gateway", "--zero", " , "]).unwrap_err();
        assert!(e.to_string().contains("--zero"), "{e}");
    }
}
