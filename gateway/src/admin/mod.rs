//! Dgraph's `/admin` GraphQL schema, served by the gateway: `health`, `state`, the
//! `enterpriseLicense` mutation and the ACL operations ([`acl`]), with Dgraph's names and
//! shapes.

pub mod acl;
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
pub struct QueryRoot(Query, acl::AclQuery);

/// Every `/admin` mutation.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(Mutation, acl::AclMutation);

/// Builds the `/admin` schema over `state`'s backends.
pub fn schema(state: GatewayState) -> AdminSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(state)
    .finish()
}

/// A backend error as a GraphQL error: the message as the service wrote it, the code in
/// `extensions.code` (the same spelling as the HTTP error bodies).
pub(crate) fn graphql_error(e: ServiceError) -> async_graphql::Error {
    let code = format!("{:?}", e.code);
    async_graphql::Error::new(e.message).extend_with(|_, ext| ext.set("code", code))
}

#[derive(Default)]
pub struct Query;

#[Object(name = "ClusterQuery")]
impl Query {
    /// The health of every service in the cluster; one that does not answer is "unhealthy".
    async fn health(&self, ctx: &Context<'_>) -> async_graphql::Result<List<NodeState>> {
        let state = ctx.data::<GatewayState>()?;
        Ok(types::list(
            health::probe_all(state)
                .await
                .into_iter()
                .map(NodeState::from),
        ))
    }

    /// Zero's membership state: groups, members, tablets, leases and the license.
    async fn state(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<types::MembershipState>> {
        let state = ctx.data::<GatewayState>()?;
        let ms = state
            .cluster
            .membership_state()
            .await
            .map_err(graphql_error)?;
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
        let message = apply_license(state, input.license.into_bytes())
            .await
            .map_err(graphql_error)?;
        Ok(Some(EnterpriseLicensePayload {
            response: Some(AdminResponse::success(message)),
        }))
    }
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
