//! Zero's HTTP port (6080), as Dgraph documents it: `/health`, `/state`, `/assign`,
//! `/removeNode` and `POST /enterpriseLicense`. Requests reach the leader through the same
//! leader-following client other services use, so any zero answers. Who may call the admin
//! endpoints is [`crate::security`]'s to decide.

use crate::security::Security;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lodestar_client::ZeroClient;
use lodestar_proto::zero::{MoveTabletRequest, Num, NumLeaseType, RemoveNodeRequest};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Zero's own routes (the base router adds `/health` and `/metrics`). The admin endpoints and,
/// once `--security` is set, `/state` pass [`crate::security`]'s checks first.
pub fn router(client: Arc<ZeroClient>, security: Arc<Security>) -> Router {
    let admin = Router::new()
        .route("/assign", axum::routing::get(assign))
        .route("/removeNode", axum::routing::get(remove_node))
        .route("/moveTablet", axum::routing::get(move_tablet))
        .route(
            "/enterpriseLicense",
            axum::routing::post(enterprise_license),
        )
        .layer(axum::middleware::from_fn_with_state(
            security.clone(),
            crate::security::guard_admin,
        ));
    let state_route = Router::new()
        .route("/state", axum::routing::get(state))
        .layer(axum::middleware::from_fn_with_state(
            security,
            crate::security::guard_state,
        ));
    admin.merge(state_route).with_state(client)
}

/// An error in Dgraph's HTTP shape.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let code = if status == StatusCode::BAD_REQUEST {
        "ErrorInvalidRequest"
    } else {
        "Error"
    };
    let body = json!({"errors": [{"message": message.into(), "extensions": {"code": code}}]});
    (status, axum::Json(body)).into_response()
}

fn from_status(status: tonic::Status) -> Response {
    let code = lodestar_runtime::ErrorCode::from_grpc(status.code());
    error(code.http(), status.message())
}

async fn state(State(zero): State<Arc<ZeroClient>>) -> Response {
    match zero.state().await {
        Ok(state) => axum::Json(lodestar_proto::json::membership_state(&state)).into_response(),
        Err(status) => from_status(status),
    }
}

#[derive(Deserialize)]
struct AssignParams {
    what: Option<String>,
    num: Option<String>,
}

async fn assign(
    State(zero): State<Arc<ZeroClient>>,
    Query(params): Query<AssignParams>,
) -> Response {
    let what = params.what.unwrap_or_default();
    let kind = match what.as_str() {
        "uids" => NumLeaseType::Uid,
        "timestamps" => NumLeaseType::TxnTs,
        "nsids" => NumLeaseType::NsId,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Invalid what: [{what}]. Must be one of: [uids, timestamps, nsids]"),
            );
        }
    };
    let num = match params.num.as_deref().unwrap_or("").parse::<u64>() {
        Ok(n) => n,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "Invalid num: [{}]. It must be a non-negative integer",
                    params.num.unwrap_or_default()
                ),
            );
        }
    };
    let result = zero
        .call(|mut c| async move {
            let req = Num {
                val: num,
                r#type: kind as i32,
                read_only: num == 0,
                ..Default::default()
            };
            if kind == NumLeaseType::TxnTs {
                c.timestamps(req).await
            } else {
                c.assign_ids(req).await
            }
        })
        .await;
    match result {
        Ok(ids) => axum::Json(json!({
            "startId": ids.start_id.to_string(),
            "endId": ids.end_id.to_string(),
            "readOnly": ids.read_only.to_string(),
        }))
        .into_response(),
        Err(status) => from_status(status),
    }
}

#[derive(Deserialize)]
struct RemoveParams {
    id: Option<u64>,
    group: Option<u32>,
}

async fn remove_node(
    State(zero): State<Arc<ZeroClient>>,
    Query(params): Query<RemoveParams>,
) -> Response {
    let (Some(node_id), Some(group_id)) = (params.id, params.group) else {
        return error(
            StatusCode::BAD_REQUEST,
            "removeNode needs ?id=<node idx>&group=<group, 0 for zeros>",
        );
    };
    let result = zero
        .call(|mut c| async move { c.remove_node(RemoveNodeRequest { node_id, group_id }).await })
        .await;
    match result {
        Ok(resp) => resp.message.into_response(),
        Err(status) => from_status(status),
    }
}

#[derive(Deserialize)]
struct MoveParams {
    tablet: Option<String>,
    group: Option<u32>,
    namespace: Option<u64>,
}

/// Dgraph's `/moveTablet?tablet=&group=[&namespace=]`: answers once the group serves it.
async fn move_tablet(
    State(zero): State<Arc<ZeroClient>>,
    Query(params): Query<MoveParams>,
) -> Response {
    let (Some(predicate), Some(group_id)) = (params.tablet, params.group) else {
        return error(
            StatusCode::BAD_REQUEST,
            "moveTablet needs ?tablet=<predicate>&group=<group id>",
        );
    };
    let req = MoveTabletRequest {
        predicate,
        group_id,
        namespace: params.namespace.unwrap_or(0),
    };
    let result = zero
        .call(|mut c| {
            let req = req.clone();
            async move { c.move_tablet(req).await }
        })
        .await;
    match result {
        Ok(resp) => resp.message.into_response(),
        Err(status) => from_status(status),
    }
}

async fn enterprise_license(State(zero): State<Arc<ZeroClient>>, body: Bytes) -> Response {
    match zero.apply_license(body.to_vec()).await {
        Ok(resp) => axum::Json(json!({"code": "Success", "message": resp.message})).into_response(),
        Err(status) => from_status(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    use tower::ServiceExt as _;

    /// The router as a caller at `peer` reaches it; zero itself is not running (a refused
    /// request never gets that far, an admitted one fails to reach it).
    async fn status_from(security: &str, peer: &str, uri: &str, token: Option<&str>) -> StatusCode {
        let security = Arc::new(Security::parse(security).unwrap());
        let zero = Arc::new(ZeroClient::new(["127.0.0.1:1"]).unwrap());
        let mut req = axum::http::Request::get(uri);
        if let Some(t) = token {
            req = req.header(crate::security::TOKEN_HEADER, t);
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        router(zero, security).oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn admin_endpoints_refuse_callers_from_other_machines_unless_configured() {
        // Requests with bad parameters: once admitted they fail at once, without zero.
        for uri in ["/assign?what=bogus&num=1", "/removeNode"] {
            let from = |security, peer, token| status_from(security, peer, uri, token);
            assert_eq!(from("", "10.0.0.5:4000", None).await, StatusCode::FORBIDDEN);
            assert_eq!(
                from("", "127.0.0.1:4000", None).await,
                StatusCode::BAD_REQUEST
            );
            assert_eq!(from("", "[::1]:4000", None).await, StatusCode::BAD_REQUEST);
            assert_eq!(
                from("token=t0k", "10.0.0.5:4000", Some("t0k")).await,
                StatusCode::BAD_REQUEST
            );
            assert_eq!(
                from("token=t0k", "10.0.0.5:4000", Some("bad")).await,
                StatusCode::UNAUTHORIZED
            );
            assert_eq!(
                from("token=t0k", "127.0.0.1:4000", None).await,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                from("whitelist=10.0.0.0/8", "10.0.0.5:4000", None).await,
                StatusCode::BAD_REQUEST
            );
        }
        // /state is guarded once --security is set.
        assert_eq!(
            status_from("whitelist=192.168.0.0/16", "10.0.0.5:4000", "/state", None).await,
            StatusCode::FORBIDDEN
        );
    }
}
