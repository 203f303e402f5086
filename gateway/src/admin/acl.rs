//! The ACL part of `/admin`: `login`, `addUser`, `addGroup`, `updateUser`, `updateGroup`,
//! `deleteUser`, `deleteGroup`, `getUser`, `getGroup`, `getCurrentUser`, `queryUser` and
//! `queryGroup`, with Dgraph's names and shapes. Each becomes calls to the auth service with
//! the caller's `X-Dgraph-AccessToken` as `accessjwt`; the auth service decides who may do
//! what (guardians for changes; anyone else sees only their own user and groups).
//!
//! Filters (`UserFilter`, `GroupFilter`), ordering and paging are applied here to the lists
//! the auth service returns: ACL data is small, and this keeps the auth API to plain lists.

use super::types::{List, list};
use super::{graphql_error, grpc_error as failed, on_behalf_of as request};
use crate::routes::GatewayState;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use lodestar_proto::auth::{self as pb, auth_client::AuthClient};
use lodestar_runtime::ServiceError;

pub use super::AccessToken;

/// The caller's network address, for login throttling.
#[derive(Clone, Debug, Default)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

fn auth(state: &GatewayState) -> Result<AuthClient<lodestar_client::TracedChannel>, ServiceError> {
    Ok(AuthClient::new(
        state.cluster.channel_to(&state.services.auth)?,
    ))
}

async fn list_users(ctx: &Context<'_>, names: Vec<String>) -> async_graphql::Result<Vec<User>> {
    let state = ctx.data::<GatewayState>()?;
    let resp = auth(state)
        .map_err(graphql_error)?
        .list_users(request(ctx, pb::ListRequest { names })?)
        .await
        .map_err(failed)?;
    Ok(resp
        .into_inner()
        .users
        .into_iter()
        .map(User::from)
        .collect())
}

async fn list_groups(ctx: &Context<'_>, names: Vec<String>) -> async_graphql::Result<Vec<Group>> {
    let state = ctx.data::<GatewayState>()?;
    let resp = auth(state)
        .map_err(graphql_error)?
        .list_groups(request(ctx, pb::ListRequest { names })?)
        .await
        .map_err(failed)?;
    Ok(resp
        .into_inner()
        .groups
        .into_iter()
        .map(Group::from)
        .collect())
}

// ---- output types ----

#[derive(Clone, Debug, Default, SimpleObject)]
pub struct LoginResponse {
    #[graphql(name = "accessJWT")]
    pub access_jwt: Option<String>,
    #[graphql(name = "refreshJWT")]
    pub refresh_jwt: Option<String>,
}

#[derive(Clone, Debug, Default, SimpleObject)]
pub struct LoginPayload {
    pub response: Option<LoginResponse>,
}

#[derive(Clone, Debug)]
pub struct User {
    name: String,
    groups: Vec<String>,
}

impl From<pb::User> for User {
    fn from(u: pb::User) -> Self {
        User {
            name: u.name,
            groups: u.groups,
        }
    }
}

#[Object]
impl User {
    async fn name(&self) -> &str {
        &self.name
    }

    async fn groups(&self, ctx: &Context<'_>) -> async_graphql::Result<List<Group>> {
        if self.groups.is_empty() {
            return Ok(list(Vec::new()));
        }
        Ok(list(list_groups(ctx, self.groups.clone()).await?))
    }
}

#[derive(Clone, Debug)]
pub struct Group {
    name: String,
    users: Vec<String>,
    rules: Vec<Rule>,
}

impl From<pb::Group> for Group {
    fn from(g: pb::Group) -> Self {
        Group {
            name: g.name,
            users: g.users,
            rules: g
                .rules
                .into_iter()
                .map(|r| Rule {
                    predicate: r.predicate,
                    permission: r.permission,
                })
                .collect(),
        }
    }
}

#[Object]
impl Group {
    async fn name(&self) -> &str {
        &self.name
    }

    async fn users(&self, ctx: &Context<'_>) -> async_graphql::Result<List<User>> {
        if self.users.is_empty() {
            return Ok(list(Vec::new()));
        }
        Ok(list(list_users(ctx, self.users.clone()).await?))
    }

    async fn rules(&self) -> List<Rule> {
        list(self.rules.clone())
    }
}

#[derive(Clone, Debug, SimpleObject)]
pub struct Rule {
    pub predicate: String,
    pub permission: i32,
}

#[derive(Clone, Debug, Default, SimpleObject)]
pub struct AddUserPayload {
    pub user: List<User>,
}

#[derive(Clone, Debug, Default, SimpleObject)]
pub struct AddGroupPayload {
    pub group: List<Group>,
}

#[derive(Clone, Debug, Default, SimpleObject)]
pub struct DeleteUserPayload {
    pub msg: Option<String>,
    #[graphql(name = "numUids")]
    pub num_uids: Option<i32>,
}

#[derive(Clone, Debug, Default, SimpleObject)]
pub struct DeleteGroupPayload {
    pub msg: Option<String>,
    #[graphql(name = "numUids")]
    pub num_uids: Option<i32>,
}

// ---- inputs ----

#[derive(Clone, Debug, InputObject)]
pub struct StringHashFilter {
    pub eq: Option<String>,
}

#[derive(Clone, Debug, InputObject)]
pub struct UserFilter {
    pub name: Option<StringHashFilter>,
    pub and: Option<Box<UserFilter>>,
    pub or: Option<Box<UserFilter>>,
    pub not: Option<Box<UserFilter>>,
}

/// Dgraph's `GroupFilter`, whose `and`/`or`/`not` take a `UserFilter` (as in Dgraph's schema).
#[derive(Clone, Debug, InputObject)]
pub struct GroupFilter {
    pub name: Option<StringHashFilter>,
    pub and: Option<Box<UserFilter>>,
    pub or: Option<Box<UserFilter>>,
    pub not: Option<Box<UserFilter>>,
}

/// Whether `name` passes a filter: the conditions given hold together, or `or` holds.
fn passes(
    name: &str,
    eq: &Option<StringHashFilter>,
    and: &Option<Box<UserFilter>>,
    or: &Option<Box<UserFilter>>,
    not: &Option<Box<UserFilter>>,
) -> bool {
    let mut conds = Vec::new();
    if let Some(f) = eq {
        conds.push(f.eq.as_deref().is_none_or(|e| e == name));
    }
    if let Some(f) = and {
        conds.push(f.matches(name));
    }
    if let Some(f) = not {
        conds.push(!f.matches(name));
    }
    match or {
        Some(f) if conds.is_empty() => f.matches(name),
        Some(f) => conds.iter().all(|c| *c) || f.matches(name),
        None => conds.iter().all(|c| *c),
    }
}

impl UserFilter {
    fn matches(&self, name: &str) -> bool {
        passes(name, &self.name, &self.and, &self.or, &self.not)
    }
}

impl GroupFilter {
    fn matches(&self, name: &str) -> bool {
        passes(name, &self.name, &self.and, &self.or, &self.not)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(rename_items = "camelCase")]
pub enum UserOrderable {
    Name,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(rename_items = "camelCase")]
pub enum GroupOrderable {
    Name,
}

#[derive(Clone, Debug, InputObject)]
pub struct UserOrder {
    pub asc: Option<UserOrderable>,
    pub desc: Option<UserOrderable>,
    pub then: Option<Box<UserOrder>>,
}

#[derive(Clone, Debug, InputObject)]
pub struct GroupOrder {
    pub asc: Option<GroupOrderable>,
    pub desc: Option<GroupOrderable>,
    pub then: Option<Box<GroupOrder>>,
}

/// Orders by name (the only orderable field) and pages.
fn order_and_page<T>(
    mut items: Vec<T>,
    name: impl Fn(&T) -> &str,
    desc: bool,
    first: Option<i32>,
    offset: Option<i32>,
) -> Vec<T> {
    items.sort_by(|a, b| name(a).cmp(name(b)));
    if desc {
        items.reverse();
    }
    let skip = offset.unwrap_or(0).max(0) as usize;
    let take = first.map_or(usize::MAX, |f| f.max(0) as usize);
    items.into_iter().skip(skip).take(take).collect()
}

#[derive(Clone, Debug, InputObject)]
pub struct GroupRef {
    pub name: String,
}

#[derive(Clone, Debug, InputObject)]
pub struct RuleRef {
    pub predicate: String,
    pub permission: i32,
}

#[derive(Clone, Debug, InputObject)]
pub struct AddUserInput {
    pub name: String,
    pub password: String,
    pub groups: Option<Vec<Option<GroupRef>>>,
}

#[derive(Clone, Debug, InputObject)]
pub struct AddGroupInput {
    pub name: String,
    pub rules: Option<Vec<Option<RuleRef>>>,
}

#[derive(Clone, Debug, InputObject)]
pub struct UserPatch {
    pub password: Option<String>,
    pub groups: Option<Vec<Option<GroupRef>>>,
}

#[derive(Clone, Debug, InputObject)]
pub struct UpdateUserInput {
    pub filter: UserFilter,
    pub set: Option<UserPatch>,
    pub remove: Option<UserPatch>,
}

#[derive(Clone, Debug, InputObject)]
pub struct SetGroupPatch {
    pub rules: Vec<RuleRef>,
}

#[derive(Clone, Debug, InputObject)]
pub struct RemoveGroupPatch {
    pub rules: Vec<String>,
}

#[derive(Clone, Debug, InputObject)]
pub struct UpdateGroupInput {
    pub filter: GroupFilter,
    pub set: Option<SetGroupPatch>,
    pub remove: Option<RemoveGroupPatch>,
}

fn group_names(refs: &Option<Vec<Option<GroupRef>>>) -> Vec<String> {
    refs.iter()
        .flatten()
        .flatten()
        .map(|g| g.name.clone())
        .collect()
}

fn rules(refs: impl IntoIterator<Item = RuleRef>) -> Vec<pb::Rule> {
    refs.into_iter()
        .map(|r| pb::Rule {
            predicate: r.predicate,
            permission: r.permission,
        })
        .collect()
}

// ---- resolvers ----

#[derive(Default)]
pub struct AclQuery;

#[Object]
impl AclQuery {
    async fn get_user(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<User>> {
        Ok(list_users(ctx, vec![name]).await?.into_iter().next())
    }

    async fn get_group(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<Group>> {
        Ok(list_groups(ctx, vec![name]).await?.into_iter().next())
    }

    async fn get_current_user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let state = ctx.data::<GatewayState>()?;
        let resp = auth(state)
            .map_err(graphql_error)?
            .current_user(request(ctx, pb::CurrentUserRequest {})?)
            .await
            .map_err(failed)?;
        Ok(resp.into_inner().users.into_iter().next().map(User::from))
    }

    async fn query_user(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        order: Option<UserOrder>,
        first: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<List<User>> {
        let users: Vec<User> = list_users(ctx, Vec::new())
            .await?
            .into_iter()
            .filter(|u| filter.as_ref().is_none_or(|f| f.matches(&u.name)))
            .collect();
        let desc = order.is_some_and(|o| o.desc.is_some());
        Ok(list(order_and_page(
            users,
            |u| &u.name,
            desc,
            first,
            offset,
        )))
    }

    async fn query_group(
        &self,
        ctx: &Context<'_>,
        filter: Option<GroupFilter>,
        order: Option<GroupOrder>,
        first: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<List<Group>> {
        let groups: Vec<Group> = list_groups(ctx, Vec::new())
            .await?
            .into_iter()
            .filter(|g| filter.as_ref().is_none_or(|f| f.matches(&g.name)))
            .collect();
        let desc = order.is_some_and(|o| o.desc.is_some());
        Ok(list(order_and_page(
            groups,
            |g| &g.name,
            desc,
            first,
            offset,
        )))
    }
}

#[derive(Default)]
pub struct AclMutation;

#[Object]
impl AclMutation {
    /// Logs in by userId and password, or trades a refresh token for new tokens.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "userId")] user_id: Option<String>,
        password: Option<String>,
        namespace: Option<i32>,
        #[graphql(name = "refreshToken")] refresh_token: Option<String>,
    ) -> async_graphql::Result<Option<LoginPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let client_addr = ctx
            .data_opt::<ClientAddr>()
            .and_then(|a| a.0)
            .map(|a| a.to_string())
            .unwrap_or_default();
        let namespace = u64::try_from(namespace.unwrap_or(0))
            .map_err(|_| async_graphql::Error::new("namespace must not be negative"))?;
        let resp = auth(state)
            .map_err(graphql_error)?
            .login(pb::LoginRequest {
                userid: user_id.unwrap_or_default(),
                password: password.unwrap_or_default(),
                refresh_token: refresh_token.unwrap_or_default(),
                namespace,
                client_addr,
            })
            .await
            .map_err(failed)?
            .into_inner();
        Ok(Some(LoginPayload {
            response: Some(LoginResponse {
                access_jwt: Some(resp.access_jwt),
                refresh_jwt: Some(resp.refresh_jwt),
            }),
        }))
    }

    async fn add_user(
        &self,
        ctx: &Context<'_>,
        input: Vec<AddUserInput>,
    ) -> async_graphql::Result<Option<AddUserPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let users = input
            .into_iter()
            .map(|u| pb::NewUser {
                groups: group_names(&u.groups),
                name: u.name,
                password: u.password,
            })
            .collect();
        let resp = auth(state)
            .map_err(graphql_error)?
            .add_users(request(ctx, pb::AddUsersRequest { users })?)
            .await
            .map_err(failed)?;
        Ok(Some(AddUserPayload {
            user: list(resp.into_inner().users.into_iter().map(User::from)),
        }))
    }

    async fn add_group(
        &self,
        ctx: &Context<'_>,
        input: Vec<AddGroupInput>,
    ) -> async_graphql::Result<Option<AddGroupPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let groups = input
            .into_iter()
            .map(|g| pb::NewGroup {
                name: g.name,
                rules: rules(g.rules.into_iter().flatten().flatten()),
            })
            .collect();
        let resp = auth(state)
            .map_err(graphql_error)?
            .add_groups(request(ctx, pb::AddGroupsRequest { groups })?)
            .await
            .map_err(failed)?;
        Ok(Some(AddGroupPayload {
            group: list(resp.into_inner().groups.into_iter().map(Group::from)),
        }))
    }

    async fn update_user(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserInput,
    ) -> async_graphql::Result<Option<AddUserPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let names = list_users(ctx, Vec::new())
            .await?
            .into_iter()
            .filter(|u| input.filter.matches(&u.name))
            .map(|u| u.name)
            .collect();
        let req = pb::UpdateUsersRequest {
            names,
            password: input.set.as_ref().and_then(|s| s.password.clone()),
            add_groups: input
                .set
                .as_ref()
                .map(|s| group_names(&s.groups))
                .unwrap_or_default(),
            remove_groups: input
                .remove
                .as_ref()
                .map(|s| group_names(&s.groups))
                .unwrap_or_default(),
        };
        let resp = auth(state)
            .map_err(graphql_error)?
            .update_users(request(ctx, req)?)
            .await
            .map_err(failed)?;
        Ok(Some(AddUserPayload {
            user: list(resp.into_inner().users.into_iter().map(User::from)),
        }))
    }

    async fn update_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateGroupInput,
    ) -> async_graphql::Result<Option<AddGroupPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let names = list_groups(ctx, Vec::new())
            .await?
            .into_iter()
            .filter(|g| input.filter.matches(&g.name))
            .map(|g| g.name)
            .collect();
        let req = pb::UpdateGroupsRequest {
            names,
            set_rules: rules(input.set.map(|s| s.rules).unwrap_or_default()),
            remove_rules: input.remove.map(|r| r.rules).unwrap_or_default(),
        };
        let resp = auth(state)
            .map_err(graphql_error)?
            .update_groups(request(ctx, req)?)
            .await
            .map_err(failed)?;
        Ok(Some(AddGroupPayload {
            group: list(resp.into_inner().groups.into_iter().map(Group::from)),
        }))
    }

    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        filter: UserFilter,
    ) -> async_graphql::Result<Option<DeleteUserPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let names = list_users(ctx, Vec::new())
            .await?
            .into_iter()
            .filter(|u| filter.matches(&u.name))
            .map(|u| u.name)
            .collect();
        let resp = auth(state)
            .map_err(graphql_error)?
            .delete_users(request(ctx, pb::DeleteRequest { names })?)
            .await
            .map_err(failed)?;
        Ok(Some(DeleteUserPayload {
            msg: Some("Deleted".into()),
            num_uids: Some(resp.into_inner().deleted as i32),
        }))
    }

    async fn delete_group(
        &self,
        ctx: &Context<'_>,
        filter: GroupFilter,
    ) -> async_graphql::Result<Option<DeleteGroupPayload>> {
        let state = ctx.data::<GatewayState>()?;
        let names = list_groups(ctx, Vec::new())
            .await?
            .into_iter()
            .filter(|g| filter.matches(&g.name))
            .map(|g| g.name)
            .collect();
        let resp = auth(state)
            .map_err(graphql_error)?
            .delete_groups(request(ctx, pb::DeleteRequest { names })?)
            .await
            .map_err(failed)?;
        Ok(Some(DeleteGroupPayload {
            msg: Some("Deleted".into()),
            num_uids: Some(resp.into_inner().deleted as i32),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(name: &str) -> Option<StringHashFilter> {
        Some(StringHashFilter {
            eq: Some(name.into()),
        })
    }

    fn by_name(name: &str) -> UserFilter {
        UserFilter {
            name: eq(name),
            and: None,
            or: None,
            not: None,
        }
    }

    #[test]
    fn filters_combine_as_dgraph_graphql_does() {
        assert!(by_name("alice").matches("alice"));
        assert!(!by_name("alice").matches("bob"));
        let either = UserFilter {
            or: Some(Box::new(by_name("bob"))),
            ..by_name("alice")
        };
        assert!(either.matches("alice") && either.matches("bob") && !either.matches("carol"));
        let not_alice = UserFilter {
            name: None,
            and: None,
            or: None,
            not: Some(Box::new(by_name("alice"))),
        };
        assert!(!not_alice.matches("alice") && not_alice.matches("bob"));
    }

    #[test]
    fn order_and_page_by_name() {
        let names = vec!["c", "a", "b"];
        assert_eq!(
            order_and_page(names.clone(), |n| n, false, None, None),
            ["a", "b", "c"]
        );
        assert_eq!(
            order_and_page(names.clone(), |n| n, true, Some(2), None),
            ["c", "b"]
        );
        assert_eq!(
            order_and_page(names, |n| n, false, Some(5), Some(1)),
            ["b", "c"]
        );
    }
}
