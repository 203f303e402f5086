//! The gateway's HTTP routes. [`router`] needs no socket: tests drive it with `oneshot`.

use crate::admin::{self, AdminSchema};
use crate::cluster::{Cluster, Services};
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use lodestar_runtime::ServiceError;
use lodestar_runtime::serve::{self, NodeIdentity};
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
}

impl GatewayState {
    pub fn new(cluster: Arc<dyn Cluster>, services: Services, node: NodeIdentity) -> Self {
        GatewayState {
            cluster,
            services,
            node,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
        }
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
/// `POST /enterpriseLicense`, and GraphQL `/admin` (`POST`, or `GET` with a `query` parameter;
/// a plain `GET` opens GraphiQL).
pub fn router(state: GatewayState) -> Router {
    let base = serve::base_router(state.node.clone());
    let app = App {
        schema: admin::schema(state.clone()),
        state,
    };
    Router::new()
        .route("/state", get(membership_state))
        .route("/enterpriseLicense", post(enterprise_license))
        .route("/admin", get(admin_get).post(admin_post))
        .with_state(app)
        .merge(base)
}

/// `GET /state`: zero's membership state as zero's own `/state` writes it.
async fn membership_state(State(app): State<App>) -> Result<Json<serde_json::Value>, ServiceError> {
    let ms = app.state.cluster.membership_state().await?;
    Ok(Json(lodestar_proto::json::membership_state(&ms)))
}

/// `POST /enterpriseLicense`: the body is the license file, as for zero's endpoint.
async fn enterprise_license(
    State(app): State<App>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let message = admin::apply_license(&app.state, body.to_vec()).await?;
    Ok(Json(
        serde_json::json!({ "code": "Success", "message": message }),
    ))
}

async fn admin_post(State(app): State<App>, req: GraphQLRequest) -> GraphQLResponse {
    app.schema.execute(req.into_inner()).await.into()
}

async fn admin_get(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let query = query.filter(|q| q.split('&').any(|kv| kv.starts_with("query=")));
    match query {
        Some(q) => match async_graphql::http::parse_query_string(&q) {
            Ok(req) => GraphQLResponse::from(app.schema.execute(req).await).into_response(),
            Err(e) => ServiceError::invalid(format!("cannot read the GraphQL request: {e}"))
                .into_response(),
        },
        None => Html(GraphiQLSource::build().endpoint("/admin").finish()).into_response(),
    }
}
