//! Dgraph's `/admin` GraphQL schema, served by the gateway: `health`, `state`, the
//! `enterpriseLicense` mutation, the ACL operations ([`acl`]) and backup and restore
//! ([`backup`]), with Dgraph's names and shapes.

pub mod acl;
pub mod backup;
mod convert;
pub mod types;

use crate::health;
use crate::routes::GatewayState;
use async_graphql::{Context, EmptySubscription, ErrorExtensions, MergedObject, Object, Schema};
use lodestar_runtime::ServiceError;
use types::{AdminResponse, EnterpriseLicenseInput, EnterpriseLicensePayload, List, NodeState};

/// The message Dgraph answers a successful `enterpriseLicense` with, when zero says nothing.
pub const LICENSE_APPLIED: &str = "License applied.";

/// The executable `/admin` schema.
pub type AdminSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Every `/admin` query.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(Query, acl::AclQuery, backup::BackupQuery);

/// Every `/admin` mutation.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(Mutation, acl::AclMutation, backup::BackupMutation);

/// How deeply an `/admin` operation may nest fields (Dgraph's deepest shape, a group's rules
/// under a user's groups, is 5; the introspection query GraphiQL sends is 13).
pub const MAX_DEPTH: usize = 16;
/// What one `/admin` operation may cost: each field 1, each `health` probe of the cluster
/// [`HEALTH_COST`]. The largest Dgraph-shaped operation costs well under 200.
pub const MAX_COMPLEXITY: usize = 1_000;
/// The cost of one `health` field: it asks every service of the cluster.
pub const HEALTH_COST: usize = 100;

/// Builds the `/admin` schema over `state`'s backends, bounded so that one request cannot make
/// the gateway call its backends without limit (thousands of aliased `health` fields) or nest
/// without end.
pub fn schema(state: GatewayState) -> AdminSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(state)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(MAX_DEPTH * 2)
    .limit_directives(MAX_DEPTH)
    .finish()
}

/// A backend error as a GraphQL error: the message as the service wrote it, the code in
/// `extensions.code` (the same spelling as the HTTP error bodies).
pub(crate) fn graphql_error(e: ServiceError) -> async_graphql::Error {
    let code = format!("{:?}", e.code);
    async_graphql::Error::new(e.message).extend_with(|_, ext| ext.set("code", code))
}

/// A failed gRPC call to a backend as a GraphQL error (see [`graphql_error`]).
pub(crate) fn grpc_error(status: tonic::Status) -> async_graphql::Error {
    graphql_error(ServiceError::from(status))
}

/// The caller's `X-Dgraph-AccessToken`, if any.
#[derive(Clone, Debug, Default)]
pub struct AccessToken(pub Option<String>);

/// A gRPC request to a backend on behalf of the GraphQL caller: the caller's
/// `X-Dgraph-AccessToken` travels as `accessjwt` metadata, and the backend decides what the
/// caller may do.
pub(crate) fn on_behalf_of<T>(
    ctx: &Context<'_>,
    msg: T,
) -> async_graphql::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    if let Some(token) = ctx.data_opt::<AccessToken>().and_then(|t| t.0.as_deref()) {
        let value = token
            .parse()
            .map_err(|_| async_graphql::Error::new("X-Dgraph-AccessToken is not a valid token"))?;
        req.metadata_mut().insert("accessjwt", value);
    }
    Ok(req)
}

#[derive(Default)]
pub struct Query;

#[Object(name = "ClusterQuery")]
impl Query {
    /// The health of every service in the cluster; one that does not answer is "unhealthy".
    #[graphql(complexity = "HEALTH_COST + child_complexity")]
    async fn health(&self, ctx: &Context<'_>) -> async_graphql::Result<List<NodeState>> {
        let state = ctx.data::<GatewayState>()?;
        Ok(types::list(
            health::probe_all(state)
                .await
                .into_iter()
                .map(NodeState::from),
        ))
    }

    /// Zero's membership state: groups, members, tablets, leases and the license (guardians
    /// only with ACL on).
    async fn state(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<types::MembershipState>> {
        let state = ctx.data::<GatewayState>()?;
        let token = ctx.data_opt::<AccessToken>().and_then(|t| t.0.as_deref());
        let ms = state.guarded_state(token).await.map_err(graphql_error)?;
        Ok(Some(ms.into()))
    }
}

#[derive(Default)]
pub struct Mutation;

#[Object(name = "ClusterMutation")]
impl Mutation {
    /// Applies an enterprise license (the license file's contents) through zero.
    async fn enterprise_license(
        &self,
        ctx: &Context<'_>,
        input: EnterpriseLicenseInput,
    ) -> async_graphql::Result<Option<EnterpriseLicensePayload>> {
        let state = ctx.data::<GatewayState>()?;
        require_guardian(ctx).await?;
        let message = apply_license(state, input.license.into_bytes())
            .await
            .map_err(graphql_error)?;
        Ok(Some(EnterpriseLicensePayload {
            response: Some(AdminResponse::success(message)),
        }))
    }

    /// Moves a predicate's tablet to another group: its data is copied while writes go on,
    /// then writes to it are refused briefly for the switch. Answers once the group serves it.
    /// Guardians only with ACL on.
    async fn move_tablet(
        &self,
        ctx: &Context<'_>,
        input: types::MoveTabletInput,
    ) -> async_graphql::Result<Option<types::MoveTabletPayload>> {
        let state = ctx.data::<GatewayState>()?;
        require_guardian(ctx).await?;
        let group = u32::try_from(input.group_id.0)
            .ok()
            .filter(|g| *g > 0)
            .ok_or_else(|| {
                graphql_error(ServiceError::invalid(format!(
                    "groupId {} is not a group: groups are numbered from 1",
                    input.group_id.0
                )))
            })?;
        let namespace = input.namespace.map_or(0, |n| n.0);
        let message = state
            .cluster
            .move_tablet(input.tablet, group, namespace)
            .await
            .map_err(graphql_error)?;
        Ok(Some(types::MoveTabletPayload {
            response: Some(AdminResponse::success(message)),
        }))
    }

    /// Turns the cluster's draining mode on or off: while on, every alpha refuses queries and
    /// mutations (a restore turns it on and off by itself). As in Dgraph, a missing `enable`
    /// turns it off. Guardians only with ACL on.
    async fn draining(
        &self,
        ctx: &Context<'_>,
        enable: Option<bool>,
    ) -> async_graphql::Result<Option<types::DrainingPayload>> {
        let state = ctx.data::<GatewayState>()?;
        require_guardian(ctx).await?;
        let enable = enable.unwrap_or(false);
        state
            .cluster
            .set_draining(enable)
            .await
            .map_err(graphql_error)?;
        Ok(Some(types::DrainingPayload {
            response: Some(AdminResponse::success(format!(
                "draining mode has been set to {enable}"
            ))),
        }))
    }
}

/// The `/admin` caller must be a guardian (see [`GatewayState::require_guardian`]).
async fn require_guardian(ctx: &Context<'_>) -> async_graphql::Result<()> {
    let state = ctx.data::<GatewayState>()?;
    let token = ctx.data_opt::<AccessToken>().and_then(|t| t.0.as_deref());
    state
        .require_guardian(token)
        .await
        .map(|_| ())
        .map_err(graphql_error)
}

/// Hands `license` to zero; returns the message to report on success.
pub async fn apply_license(state: &GatewayState, license: Vec<u8>) -> Result<String, ServiceError> {
    let resp = state.cluster.apply_license(license).await?;
    Ok(if resp.message.is_empty() {
        LICENSE_APPLIED.to_string()
    } else {
        resp.message
    })
}
