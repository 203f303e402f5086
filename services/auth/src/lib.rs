//! The auth service: login and token refresh, and the ACL administration operations (users,
//! groups, rules), serving `auth.Auth` on gRPC 7070 with health and metrics on HTTP 7071. The
//! gateway turns `/admin` `login`, `addUser` … `getCurrentUser` and `POST /login` into these
//! calls.
//!
//! Users, groups and rules live in the graph as Dgraph keeps them; this service reads and
//! writes them through an alpha's `api.Dgraph`, with a short-lived guardian token it signs
//! itself (it holds the ACL key). The alpha's own checks still apply on that path: groot and
//! guardians cannot be deleted nor groot taken out of guardians, passwords shorter than 6
//! characters and permissions outside 0–7 are refused. ACL is on exactly when
//! `--acl_secret_file` is given; without it every call says ACL is not enabled.

mod admin;

use lodestar_acl::login::{Credentials, Directory, FoundUser, Login, now};
use lodestar_acl::{AccessClaims, AclError, Tokens};
use lodestar_client::{AlphaChannel, ZeroClient};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::auth::auth_server::{Auth, AuthServer};
use lodestar_proto::auth::*;
use lodestar_runtime::config::{CommonArgs, UpstreamArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Flags of the `auth` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "auth",
    version,
    about = "Login and ACL administration (users, groups and predicate rules)"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Zeros (for the license state) and an alpha (the ACL data lives in the graph).
    #[command(flatten)]
    pub upstream: UpstreamArgs,

    /// ACL: the same secret as the alphas'; without it every call says ACL is off.
    #[command(flatten)]
    pub acl: lodestar_acl::AclArgs,
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        self.upstream.validate()?;
        Ok(())
    }
}

const ACL_OFF: &str =
    "ACL is not enabled: start the auth service and the alphas with --acl_secret_file to enable it";

/// What the service holds with ACL on.
#[derive(Debug, Clone)]
pub(crate) struct Acl {
    pub login: Login,
    pub zero: Arc<ZeroClient>,
    pub alpha: DgraphClient<AlphaChannel>,
    /// Checks callers' tokens against the ACL data as it is now.
    pub verifier: lodestar_acl::Verifier,
}

impl Acl {
    pub fn tokens(&self) -> &Tokens {
        &self.login.tokens
    }

    /// A guardian token for this service's own calls to the alpha. It is groot's, who can
    /// be neither deleted nor taken out of guardians: the alpha grants what a token's user may
    /// do now, so a token in another user's name would not be a guardian's. `userid`, the
    /// caller this call is for, goes to the log only.
    pub fn service_token(&self, userid: &str) -> Result<String, Status> {
        tracing::debug!(caller = userid, "acting as groot for an ACL operation");
        self.tokens()
            .issue("groot", vec!["guardians".into()], 0, now())
            .map(|(access, _)| access)
            .map_err(|e| Status::internal(format!("signing a service token: {e}")))
    }

    /// The caller's verified access token (`accessjwt` metadata), with the groups the user is
    /// in now; a deleted user's token is Unauthenticated.
    pub async fn caller<T>(&self, req: &Request<T>) -> Result<AccessClaims, AclError> {
        self.verifier.caller_in(req.metadata()).await
    }

    /// The caller's token checked by its signature and expiry only: for `CurrentUser`, which
    /// answers an empty list for a user that no longer exists.
    pub fn token_holder<T>(&self, req: &Request<T>) -> Result<AccessClaims, AclError> {
        lodestar_acl::login::caller(self.tokens(), req.metadata())
    }

    /// The caller, who must be a guardian now.
    pub async fn guardian<T>(&self, req: &Request<T>) -> Result<AccessClaims, AclError> {
        self.verifier.guardian_in(req.metadata()).await
    }
}

pub(crate) use lodestar_acl::login::is_guardian;

#[tonic::async_trait]
impl Directory for Acl {
    async fn enterprise(&self) -> Result<(bool, String), AclError> {
        lodestar_acl::login::enterprise_state(&self.zero).await
    }

    async fn find_user(
        &self,
        userid: &str,
        password: Option<&str>,
    ) -> Result<Option<FoundUser>, AclError> {
        let vars = [
            ("$u".to_string(), userid.to_string()),
            ("$p".to_string(), password.unwrap_or_default().to_string()),
        ]
        .into_iter()
        .collect();
        let answer = admin::read(self, "auth", lodestar_acl::login::USER_QUERY, vars).await?;
        Ok(FoundUser::from_json(&answer.json))
    }
}

/// `auth.Auth`.
#[derive(Debug, Clone)]
struct AuthApi {
    acl: Option<Acl>,
}

impl AuthApi {
    fn acl(&self) -> Result<&Acl, Status> {
        self.acl
            .as_ref()
            .ok_or_else(|| Status::failed_precondition(ACL_OFF))
    }
}

#[tonic::async_trait]
impl Auth for AuthApi {
    async fn login(
        &self,
        request: Request<LoginRequest>,
    ) -> Result<Response<LoginResponse>, Status> {
        let acl = self.acl()?;
        let peer = request.remote_addr().map(|a| a.ip());
        let from_cluster = lodestar_runtime::cluster::from_cluster(&request);
        let req = request.into_inner();
        // The gateway passes its caller's address; anyone else is throttled by its own, whatever
        // address it claims.
        let client = if from_cluster {
            req.client_addr.parse().ok().or(peer)
        } else {
            peer
        };
        let creds = Credentials {
            userid: req.userid,
            password: req.password,
            refresh_token: req.refresh_token,
            namespace: req.namespace,
        };
        let issued = acl.login.login(acl, &creds, client).await?;
        Ok(Response::new(LoginResponse {
            access_jwt: issued.access_jwt,
            refresh_jwt: issued.refresh_jwt,
        }))
    }

    async fn list_users(
        &self,
        request: Request<ListRequest>,
    ) -> Result<Response<UserList>, Status> {
        let acl = self.acl()?;
        let caller = acl.caller(&request).await?;
        let data = admin::AclData::load(acl, &caller.userid).await?;
        let names = request.into_inner().names;
        Ok(Response::new(data.users_visible_to(&caller, &names)))
    }

    async fn list_groups(
        &self,
        request: Request<ListRequest>,
    ) -> Result<Response<GroupList>, Status> {
        let acl = self.acl()?;
        let caller = acl.caller(&request).await?;
        let data = admin::AclData::load(acl, &caller.userid).await?;
        let names = request.into_inner().names;
        Ok(Response::new(data.groups_visible_to(&caller, &names)))
    }

    async fn current_user(
        &self,
        request: Request<CurrentUserRequest>,
    ) -> Result<Response<UserList>, Status> {
        let acl = self.acl()?;
        let caller = acl.token_holder(&request)?;
        let data = admin::AclData::load(acl, &caller.userid).await?;
        Ok(Response::new(data.users_visible_to(
            &caller,
            std::slice::from_ref(&caller.userid),
        )))
    }

    async fn add_users(
        &self,
        request: Request<AddUsersRequest>,
    ) -> Result<Response<UserList>, Status> {
        let acl = self.acl()?;
        let caller = acl.guardian(&request).await?;
        admin::add_users(acl, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn add_groups(
        &self,
        request: Request<AddGroupsRequest>,
    ) -> Result<Response<GroupList>, Status> {
        let acl = self.acl()?;
        let caller = acl.guardian(&request).await?;
        admin::add_groups(acl, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn update_users(
        &self,
        request: Request<UpdateUsersRequest>,
    ) -> Result<Response<UserList>, Status> {
        let acl = self.acl()?;
        let caller = acl.guardian(&request).await?;
        admin::update_users(acl, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn update_groups(
        &self,
        request: Request<UpdateGroupsRequest>,
    ) -> Result<Response<GroupList>, Status> {
        let acl = self.acl()?;
        let caller = acl.guardian(&request).await?;
        admin::update_groups(acl, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_users(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let acl = self.acl()?;
        let caller = acl.guardian(&request).await?;
        admin::delete(acl, &caller, admin::Kind::User, request.into_inner().names)
            .await
            .map(Response::new)
    }

    async fn delete_groups(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let acl = self.acl()?;
        let caller = acl.guardian(&request).await?;
        admin::delete(acl, &caller, admin::Kind::Group, request.into_inner().names)
            .await
            .map(Response::new)
    }
}

/// Runs the `auth` service until it is stopped. The `auth` binary and `lodestar auth` both
/// call it.
pub fn main(args: Args) -> std::process::ExitCode {
    let common = args.common.clone();
    lodestar_runtime::run_main("auth", &common, |shutdown| run(args, shutdown))
}

/// Runs the auth service until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    args.upstream.install_alpha_tls()?;
    let acl = match args.acl.tokens().map_err(ServiceError::invalid)? {
        Some(tokens) => {
            lodestar_runtime::cluster::require_with_acl()?;
            let zero = ZeroClient::new(args.upstream.zero.addrs())
                .map_err(|e| ServiceError::invalid(format!("--zero: {}", e.message())))?;
            let channel = lodestar_client::alpha_channel(&args.upstream.alpha)
                .map_err(|e| ServiceError::invalid(format!("--alpha: {}", e.message())))?;
            let tokens = Arc::new(tokens);
            let verifier = lodestar_acl::Verifier::new(tokens.clone(), &args.upstream.alpha)
                .map_err(|e| ServiceError::invalid(format!("--alpha: {e}")))?;
            Some(Acl {
                verifier,
                login: Login::new(tokens),
                zero: Arc::new(zero),
                alpha: DgraphClient::new(channel),
            })
        }
        None => None,
    };
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
        acl = acl.is_some(),
        "serving"
    );

    let routes = tonic::service::Routes::new(AuthServer::new(AuthApi { acl }));
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
    use std::time::Duration;

    #[test]
    fn defaults_point_at_the_local_cluster() {
        let args = Args::try_parse_from(["auth"]).unwrap();
        assert_eq!(args.upstream.zero.to_string(), "localhost:5080");
        assert_eq!(args.upstream.alpha, "localhost:9080");
        assert!(args.validate().is_ok());
        assert_eq!(
            args.common.grpc_addr(ports::AUTH_GRPC).unwrap().port(),
            7070
        );
        assert_eq!(args.acl.access_ttl, Duration::from_secs(6 * 3600));
        assert_eq!(args.acl.refresh_ttl, Duration::from_secs(30 * 86400));
    }

    #[test]
    fn an_empty_zero_list_is_refused() {
        let err = Args::try_parse_from(["auth", "--zero", " , "]).unwrap_err();
        assert!(err.to_string().contains("--zero"), "{err}");
    }

    #[tokio::test]
    async fn without_a_secret_every_call_says_acl_is_off() {
        let api = AuthApi { acl: None };
        let status = api
            .login(Request::new(LoginRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert!(status.message().contains("--acl_secret_file"));
        let status = api
            .add_users(Request::new(AddUsersRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    }
}
