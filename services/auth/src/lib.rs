//! The auth service: will own login and token refresh (password check against the hash stored in
//! the graph, JWT issue) and the ACL administration operations, serving `auth.Auth` on gRPC 7070
//! with health and metrics on HTTP 7071.
//!
//! This release only runs the service shell: it serves health, reflection, node info, `/health`
//! and `/metrics`, and every `auth.Auth` RPC answers `Unimplemented`. Login and ACL come in a
//! later release; nothing here checks a password or issues a token yet.

use lodestar_proto::auth::auth_server::{Auth, AuthServer};
use lodestar_proto::auth::{LoginRequest, LoginResponse};
use lodestar_runtime::config::{CommonArgs, UpstreamArgs, ports};
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

    /// Zeros (for the license state) and an alpha (the ACL data lives in the graph).
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        self.upstream.validate()?;
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
        zero = %args.upstream.zero,
        alpha = %args.upstream.alpha,
        "serving; login and ACL are not available in this release"
    );

    let routes = tonic::service::Routes::new(AuthServer::new(AuthApi));
    serve::serve_service(
        grpc,
        routes,
        http,
        Default::default(),
        node.identity.clone(),
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_point_at_the_local_cluster() {
        let args = Args::try_parse_from(["auth"]).unwrap();
        assert_eq!(args.upstream.zero, "localhost:5080");
        assert_eq!(args.upstream.alpha, "localhost:9080");
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
