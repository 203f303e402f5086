//! The auth service: will own login and token refresh (password check against the hash stored in
//! the graph, JWT issue) and the ACL administration operations, serving `auth.Auth` on gRPC 7070
//! with health and metrics on HTTP 7071.
//!
//! This release only runs the service shell: it serves health, reflection, node info, `/health`
//! and `/metrics`, and every `auth.Auth` RPC answers `Unimplemented`. Login and ACL come in a
//! later release; nothing here checks a password or issues a token yet.

use lodestar_proto::auth::auth_server::{Auth, AuthServer};
use lodestar_proto::auth::{LoginRequest, LoginResponse};
use lodestar_runtime::config::{CommonArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};

/// Flags of the `auth` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "auth",
    version,
    about = "Login and ACL administration (this release serves health only; login and ACL come later)"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Comma-separated gRPC addresses of the zeros (for the license state).
    #[arg(long, env = "LODESTAR_ZERO", default_value = "localhost:5080")]
    pub zero: String,

    /// gRPC address of an alpha (the ACL data lives in the graph).
    #[arg(long, env = "LODESTAR_ALPHA", default_value = "localhost:9080")]
    pub alpha: String,
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        if self.zero.split(',').all(|a| a.trim().is_empty()) {
            return Err(ServiceError::invalid(
                "--zero is empty: give the gRPC address of at least one zero, e.g. localhost:5080",
            ));
        }
        if self.alpha.trim().is_empty() {
            return Err(ServiceError::invalid(
                "--alpha is empty: give the gRPC address of an alpha, e.g. localhost:9080",
            ));
        }
        Ok(())
    }
}

/// `auth.Auth`. Every RPC answers `Unimplemented` until login and ACL land.
#[derive(Debug, Default)]
struct AuthApi;

#[tonic::async_trait]
impl Auth for AuthApi {
    async fn login(
        &self,
        _request: tonic::Request<LoginRequest>,
    ) -> Result<tonic::Response<LoginResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "login is not available in this release: ACL and login come in a later release",
        ))
    }
}

/// Runs the auth service until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    let grpc_addr = args.common.grpc_addr(ports::AUTH_GRPC)?;
    let http_addr = args.common.http_addr(ports::AUTH_HTTP)?;
    let grpc = serve::bind(grpc_addr, "the auth API (gRPC)").await?;
    let http = serve::bind(http_addr, "HTTP").await?;
    let node = NodeHandle::new("auth", format!("localhost:{}", grpc_addr.port()));
    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        zero = %args.zero,
        alpha = %args.alpha,
        "serving; login and ACL are not available in this release"
    );

    let routes = tonic::service::Routes::new(AuthServer::new(AuthApi));
    let identity = node.identity.clone();
    let (a, b) = tokio::join!(
        serve::serve_grpc(grpc, routes, identity.clone(), shutdown.clone()),
        serve::serve_http(http, serve::base_router(identity), shutdown.clone()),
    );
    a.and(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_point_at_the_local_cluster() {
        let args = Args::try_parse_from(["auth"]).unwrap();
        assert_eq!(args.zero, "localhost:5080");
        assert_eq!(args.alpha, "localhost:9080");
        assert!(args.validate().is_ok());
        assert_eq!(
            args.common.grpc_addr(ports::AUTH_GRPC).unwrap().port(),
            7070
        );
    }

    #[test]
    fn an_empty_zero_list_is_refused() {
        let args = Args::try_parse_from(["auth", "--zero", " , "]).unwrap();
        let err = args.validate().unwrap_err();
        assert!(err.message.contains("--zero"), "{err}");
    }

    #[tokio::test]
    async fn login_says_it_is_not_available_yet() {
        let status = AuthApi
            .login(tonic::Request::new(LoginRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.message().contains("later release"));
    }
}
