//! The gateway's HTTP routes. [`router`] needs no socket: tests drive it with `oneshot`.

use crate::admin::acl::{AccessToken, ClientAddr};
use crate::admin::{self, AdminSchema};
use crate::cluster::{Cluster, Services};
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use lodestar_runtime::ServiceError;
use lodestar_runtime::serve::{self, NodeIdentity};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the health check waits for one service before calling it unhealthy.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a request handler needs: the backends, where the services are, and the gateway's
/// own identity (for `/health` and its entry in the `health` query).
#[derive(Clone)]
pub struct GatewayState {
    pub cluster: Arc<dyn Cluster>,
    pub services: Services,
    pub node: NodeIdentity,
    /// How long the health check waits for each service.
    pub probe_timeout: Duration,
    /// With ACL on, the token checker for the operations only guardians may run.
    pub tokens: Option<lodestar_acl::Verifier>,
    /// The largest body the DQL endpoints read (after decompression); the process's
    /// `--max_body_bytes` unless changed.
    pub max_body_bytes: usize,
}

impl GatewayState {
    pub fn new(cluster: Arc<dyn Cluster>, services: Services, node: NodeIdentity) -> Self {
        GatewayState {
            cluster,
            services,
            node,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            tokens: None,
            max_body_bytes: lodestar_runtime::limits::installed().max_body_bytes,
        }
    }

    /// Turns ACL on: guardian-only operations check the caller's token with `verifier`.
    pub fn with_acl(mut self, verifier: lodestar_acl::Verifier) -> Self {
        self.tokens = Some(verifier);
        self
    }

    /// Lets the call go on only for a guardian when ACL is on (Dgraph's rule for the
    /// cluster's admin operations). A gateway without an ACL secret refuses them when the
    /// cluster's alphas run with ACL: it could not tell who calls. Returns zero's membership
    /// state when it had to read it to decide.
    pub async fn require_guardian(
        &self,
        token: Option<&str>,
    ) -> Result<Option<lodestar_proto::zero::MembershipState>, ServiceError> {
        match &self.tokens {
            Some(verifier) => {
                verifier.guardian(token.unwrap_or_default()).await?;
                Ok(None)
            }
            None => {
                let state = self.cluster.membership_state().await?;
                if let Some(alpha) = state
                    .groups
                    .values()
                    .flat_map(|g| g.members.values())
                    .find(|m| m.acl)
                {
                    return Err(ServiceError::new(
                        lodestar_runtime::ErrorCode::FailedPrecondition,
                        format!(
                            "ACL is on in this cluster (the alpha at {} runs with --acl_secret_file) but this gateway has no --acl_secret_file, so it cannot check who calls: it refuses admin operations until it is started with the same file",
                            alpha.addr
                        ),
                    ));
                }
                Ok(Some(state))
            }
        }
    }

    /// Zero's membership state, for guardians only when ACL is on.
    pub async fn guarded_state(
        &self,
        token: Option<&str>,
    ) -> Result<lodestar_proto::zero::MembershipState, ServiceError> {
        match self.require_guardian(token).await? {
            Some(state) => Ok(state),
            None => self.cluster.membership_state().await,
        }
    }

    /// Changes the largest body the DQL endpoints read.
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Changes how long the health check waits for each service.
    pub fn with_probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }
}

#[derive(Clone)]
struct App {
    state: GatewayState,
    schema: AdminSchema,
}

/// The gateway's routes: `/health` and `/metrics` (the shared base router), `/state`,
/// `POST /enterpriseLicense`, `POST /login`, GraphQL `/admin` (`POST`, or `GET` with a `query` parameter;
/// a plain `GET` opens GraphiQL), and Dgraph's HTTP API for DQL ([`crate::dql_http`]:
/// `/query`, `/mutate`, `/alter`, `/commit`, `/probe/graphql`).
pub fn router(state: GatewayState) -> Router {
    let base = serve::base_router(state.node.clone());
    let dql = crate::dql_http::router(state.clone());
    let app = App {
        schema: admin::schema(state.clone()),
        state,
    };
    Router::new()
        .route("/state", get(membership_state))
        .route("/enterpriseLicense", post(enterprise_license))
        .route("/admin", get(admin_get).post(admin_post))
        .route("/login", post(login))
        .with_state(app.clone())
        .merge(dql)
        .merge(base)
        .layer(axum::middleware::from_fn_with_state(app, health_all))
        .layer(axum::middleware::from_fn(crate::dql_http::cors))
}

/// `GET /health`: the gateway's own state as Dgraph's alpha answers it, a list of one node
/// state (dgraph-js-http, and so Ratel, read the version from `[0].version` and fall back to
/// Dgraph 1.0's API without it), 503 once the gateway stops serving; with `?live`, always 200
/// and without asking the cluster (a gateway whose backends are down is alive, and restarting
/// it would not help). `GET /health?all`: the health of every member of the cluster, 503 when
/// any is unhealthy. Other requests pass on.
async fn health_all(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path() != "/health" {
        return next.run(req).await;
    }
    let params = crate::dql_http::Params::parse(req.uri().query());
    if !params.has("all") {
        let me = crate::health::probe_json(&crate::health::Probe::Answered(app.state.node.info()));
        let status = if params.has("live") || app.state.node.is_serving() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return (status, axum::Json(vec![me])).into_response();
    }
    let probes = crate::health::probe_all(&app.state).await;
    let status = if probes.iter().all(crate::health::Probe::is_healthy) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body: Vec<serde_json::Value> = probes.iter().map(crate::health::probe_json).collect();
    (status, axum::Json(body)).into_response()
}

/// The `X-Dgraph-AccessToken` header, if any.
fn access_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-dgraph-accesstoken")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `GET /state`: zero's membership state as zero's own `/state` writes it (guardians only with
/// ACL on).
async fn membership_state(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let ms = app
        .state
        .guarded_state(access_token(&headers).as_deref())
        .await?;
    Ok(Json(lodestar_proto::json::membership_state(&ms)))
}

/// `POST /enterpriseLicense`: the body is the license file, as for zero's endpoint.
async fn enterprise_license(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ServiceError> {
    app.state
        .require_guardian(access_token(&headers).as_deref())
        .await?;
    let message = admin::apply_license(&app.state, body.to_vec()).await?;
    Ok(Json(
        serde_json::json!({ "code": "Success", "message": message }),
    ))
}

/// What `/admin` resolvers learn about the HTTP caller: the `X-Dgraph-AccessToken` header and
/// the client's address (for login throttling).
fn caller_data(
    req: async_graphql::Request,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> async_graphql::Request {
    req.data(AccessToken(access_token(headers)))
        .data(ClientAddr(peer.map(|Extension(ConnectInfo(a))| a.ip())))
}

/// `POST /admin`. A body that is no GraphQL request (not JSON, cut off at the size limit) is
/// a 400 with the JSON error shape every other answer has.
async fn admin_post(
    State(app): State<App>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    req: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    match req {
        Ok(req) => GraphQLResponse::from(
            app.schema
                .execute(caller_data(req.into_inner(), &headers, peer))
                .await,
        )
        .into_response(),
        Err(e) => ServiceError::invalid(format!("cannot read the GraphQL request: {}", e.0))
            .into_response(),
    }
}

/// `POST /login`'s body, as Dgraph's alpha takes it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LoginBody {
    userid: String,
    password: String,
    refresh_token: String,
    namespace: u64,
}

/// `POST /login`: `{"data": {"accessJWT", "refreshJWT"}}`, as Dgraph answers it. A refused
/// login is Dgraph's error body ([`crate::dql_http::ApiError`]), as for the other DQL
/// endpoints.
async fn login(
    State(app): State<App>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, crate::dql_http::ApiError> {
    let body: LoginBody = serde_json::from_slice(&body).map_err(|e| {
        crate::dql_http::ApiError::invalid(format!(
            "the login body must be JSON {{userid, password, refresh_token, namespace}}: {e}"
        ))
    })?;
    let channel = app.state.cluster.channel_to(&app.state.services.auth)?;
    let resp = lodestar_proto::auth::auth_client::AuthClient::new(channel)
        .login(lodestar_proto::auth::LoginRequest {
            userid: body.userid,
            password: body.password,
            refresh_token: body.refresh_token,
            namespace: body.namespace,
            client_addr: peer
                .map(|Extension(ConnectInfo(a))| a.ip().to_string())
                .unwrap_or_default(),
        })
        .await
        .map_err(ServiceError::from)?
        .into_inner();
    Ok(Json(serde_json::json!({
        "data": {"accessJWT": resp.access_jwt, "refreshJWT": resp.refresh_jwt}
    })))
}

async fn admin_get(
    State(app): State<App>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.filter(|q| q.split('&').any(|kv| kv.starts_with("query=")));
    match query {
        Some(q) => match async_graphql::http::parse_query_string(&q) {
            Ok(req) => {
                GraphQLResponse::from(app.schema.execute(caller_data(req, &headers, peer)).await)
                    .into_response()
            }
            Err(e) => ServiceError::invalid(format!("cannot read the GraphQL request: {e}"))
                .into_response(),
        },
        None => Html(GraphiQLSource::build().endpoint("/admin").finish()).into_response(),
    }
}
