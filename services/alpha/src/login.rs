//! `api.Dgraph/Login` with ACL on: a password login checks the user's `dgraph.password` in the
//! graph and issues an access and a refresh JWT; a refresh login trades a valid refresh token
//! for a new pair, reading the user's groups again. The reply carries the protobuf encoding of
//! `api.Jwt` in `Response.json`, as Dgraph's does, which is what dgo and pydgraph parse.
//!
//! An unknown user and a wrong password get the same answer, after the same amount of work,
//! and count against the user id and the client address ([`crate::throttle`]). Login is
//! refused while zero says enterprise features are off.

use crate::graph::Graph;
use lodestar_acl::{TokenError, Tokens};
use lodestar_client::ZeroClient;
use lodestar_proto::api::{Jwt, LoginRequest, Response};
use prost::Message as _;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::Status;

/// What ACL needs at the alpha.
#[derive(Debug, Clone)]
pub struct AclConfig {
    pub tokens: Arc<Tokens>,
    pub zero: Arc<ZeroClient>,
    pub throttle: Arc<crate::throttle::Throttle>,
}

const INVALID: &str = "invalid username or password";

/// A hash (of a random password) checked when the user does not exist, so that an unknown
/// user takes as long to refuse as a wrong password.
static DECOY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let random: [u8; 16] = rand::random();
    let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
    lodestar_types::password::hash(&password).unwrap_or_default()
});

/// Unix seconds, the clock tokens are issued and checked with.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn token_status(e: TokenError) -> Status {
    Status::unauthenticated(e.to_string())
}

/// The user `userid` as the graph has it at the newest read timestamp: their uid, whether
/// `password` matches (when given) and their groups.
struct Found {
    password_ok: bool,
    groups: Vec<String>,
}

async fn find_user(
    graph: &Arc<Graph>,
    userid: &str,
    password: Option<&str>,
) -> Result<Option<Found>, Status> {
    let ts = graph.read_ts().await.map_err(crate::api::to_status)?;
    let mut vars = HashMap::new();
    vars.insert("$u".to_string(), userid.to_string());
    vars.insert("$p".to_string(), password.unwrap_or_default().to_string());
    let q = lodestar_dql::parse_query(
        r#"query q($u: string, $p: string) {
          u(func: eq(dgraph.xid, $u)) @filter(type(dgraph.type.User)) {
            ok: checkpwd(dgraph.password, $p)
            dgraph.user.group { dgraph.xid }
          }
        }"#,
        &vars,
    )
    .map_err(|e| Status::internal(format!("login query: {e}")))?;
    let graph = graph.clone();
    // checkpwd hashes: off the executor.
    let out = tokio::task::spawn_blocking(move || graph.run_query(&graph.view(ts, None), &q))
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(crate::api::to_status)?;
    let Some(user) = out.json.get("u").and_then(|u| u.get(0)) else {
        return Ok(None);
    };
    let groups = user
        .get("dgraph.user.group")
        .and_then(|g| g.as_array())
        .map(|gs| {
            gs.iter()
                .filter_map(|g| g.get("dgraph.xid").and_then(|x| x.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Found {
        password_ok: user.get("ok").and_then(|o| o.as_bool()) == Some(true),
        groups,
    }))
}

/// Handles `Login` with ACL on.
pub async fn login(
    acl: &AclConfig,
    graph: &Arc<Graph>,
    req: LoginRequest,
    client_addr: Option<std::net::IpAddr>,
) -> Result<Response, Status> {
    let state = acl.zero.enterprise_state().await.map_err(|e| {
        Status::unavailable(format!(
            "cannot ask zero whether enterprise features are on: {}",
            e.message()
        ))
    })?;
    if !state.enabled {
        return Err(Status::failed_precondition(format!(
            "Enterprise features are disabled. You can enable them by supplying the appropriate license file to Dgraph Zero using the HTTP endpoint. ({})",
            state.reason
        )));
    }
    if req.namespace != 0 {
        return Err(Status::invalid_argument(format!(
            "namespace {} does not exist: this release serves namespace 0 only",
            req.namespace
        )));
    }
    let userid = if req.refresh_token.is_empty() {
        if req.userid.is_empty() || req.password.is_empty() {
            return Err(Status::unauthenticated(INVALID));
        }
        let keys = crate::throttle::keys(&req.userid, client_addr);
        if let Some(wait) = acl.throttle.locked(&keys, std::time::Instant::now()) {
            return Err(Status::resource_exhausted(format!(
                "too many failed logins for this user or from this address: try again in {} ms",
                wait.as_millis().max(1)
            )));
        }
        match find_user(graph, &req.userid, Some(&req.password)).await? {
            Some(found) if found.password_ok => {
                acl.throttle.succeeded(&keys);
                return issue(acl, &req.userid, found.groups);
            }
            Some(_) => {}
            None => {
                let password = req.password.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    lodestar_types::password::verify(&password, &DECOY_HASH)
                })
                .await;
            }
        }
        acl.throttle.failed(&keys, std::time::Instant::now());
        tracing::warn!(client = ?client_addr, "failed login");
        return Err(Status::unauthenticated(INVALID));
    } else {
        acl.tokens
            .verify_refresh(&req.refresh_token, now())
            .map_err(token_status)?
            .userid
    };
    match find_user(graph, &userid, None).await? {
        Some(found) => issue(acl, &userid, found.groups),
        None => Err(Status::unauthenticated(INVALID)),
    }
}

fn issue(acl: &AclConfig, userid: &str, groups: Vec<String>) -> Result<Response, Status> {
    let (access_jwt, refresh_jwt) = acl
        .tokens
        .issue(userid, groups, 0, now())
        .map_err(|e| Status::internal(e.to_string()))?;
    tracing::info!(userid, "login");
    Ok(Response {
        json: Jwt {
            access_jwt,
            refresh_jwt,
        }
        .encode_to_vec(),
        ..Default::default()
    })
}
