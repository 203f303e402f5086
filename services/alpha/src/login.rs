//! `api.Dgraph/Login` with ACL on: the shared login flow ([`lodestar_acl::login`]) over this
//! alpha's own graph. The reply carries the protobuf encoding of `api.Jwt` in `Response.json`,
//! as Dgraph's does, which is what dgo and pydgraph parse.

use crate::graph::{Graph, GraphError};
use lodestar_acl::AclError;
use lodestar_acl::login::{Credentials, Directory, FoundUser, Login};
use lodestar_client::ZeroClient;
use lodestar_proto::api::{Jwt, LoginRequest, Response};
use prost::Message as _;
use std::collections::HashMap;
use std::sync::Arc;

pub use lodestar_acl::login::{now, token_status};

/// What ACL needs at the alpha.
#[derive(Debug, Clone)]
pub struct AclConfig {
    pub login: Login,
    pub zero: Arc<ZeroClient>,
}

impl AclConfig {
    pub fn tokens(&self) -> &lodestar_acl::Tokens {
        &self.login.tokens
    }
}

/// Users as this alpha's graph has them at the newest read timestamp.
struct GraphDirectory<'a> {
    graph: &'a Arc<Graph>,
    zero: &'a ZeroClient,
}

#[tonic::async_trait]
impl Directory for GraphDirectory<'_> {
    async fn enterprise(&self) -> Result<(bool, String), AclError> {
        lodestar_acl::login::enterprise_state(self.zero).await
    }

    async fn find_user(
        &self,
        userid: &str,
        password: Option<&str>,
    ) -> Result<Option<FoundUser>, AclError> {
        let graph = self.graph;
        let ts = graph.read_ts().await.map_err(acl_error)?;
        let mut vars = HashMap::new();
        vars.insert("$u".to_string(), userid.to_string());
        vars.insert("$p".to_string(), password.unwrap_or_default().to_string());
        let q = lodestar_dql::parse_query(lodestar_acl::login::USER_QUERY, &vars)
            .map_err(|e| AclError::internal(format!("login query: {e}")))?;
        // Users live with the reserved predicates in group 1, read from here if need be.
        let remote = graph.remote_reads(&q, ts, 0).await.map_err(acl_error)?;
        let graph = graph.clone();
        // checkpwd hashes: off the executor.
        let out = tokio::task::spawn_blocking(move || {
            graph.run_query(&graph.view(ts, None).with_remote(remote.as_ref()), &q)
        })
        .await
        .map_err(|e| AclError::internal(e.to_string()))?
        .map_err(acl_error)?;
        Ok(FoundUser::from_json(&serde_json::Value::Object(out.json)))
    }
}

/// A graph error as the login flow reports it, with the same code and text.
fn acl_error(e: GraphError) -> AclError {
    AclError::new(e.code(), e.to_string())
}

/// Handles `Login` with ACL on.
pub async fn login(
    acl: &AclConfig,
    graph: &Arc<Graph>,
    req: LoginRequest,
    client_addr: Option<std::net::IpAddr>,
) -> Result<Response, AclError> {
    let dir = GraphDirectory {
        graph,
        zero: &acl.zero,
    };
    let creds = Credentials {
        userid: req.userid,
        password: req.password,
        refresh_token: req.refresh_token,
        namespace: req.namespace,
    };
    let issued = acl.login.login(&dir, &creds, client_addr).await?;
    Ok(Response {
        json: Jwt {
            access_jwt: issued.access_jwt,
            refresh_jwt: issued.refresh_jwt,
        }
        .encode_to_vec(),
        ..Default::default()
    })
}
