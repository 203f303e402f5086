//! The ACL administration operations, as DQL against an alpha.
//!
//! Each change reads the ACL data in a transaction, checks the request against it, and commits
//! one mutation at that transaction's start timestamp; `dgraph.xid` is `@upsert`, so two
//! requests creating the same name cannot both commit (the loser is retried on fresh data and
//! then sees the name taken).

use crate::{Acl, is_guardian};
use lodestar_acl::{AccessClaims, Perm};
use lodestar_proto::api::{Mutation, Request};
use lodestar_proto::auth::*;
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tonic::Status;

const ROOT_PROTECTED: &str = "guardians group and groot user cannot be deleted.";
const ROOT_PROPERTIES: &str = "Properties of guardians group and groot user cannot be deleted";
const ATTEMPTS: usize = 3;

/// A query's answer and the start timestamp it ran at.
pub(crate) struct Answer {
    pub json: Json,
    pub start_ts: u64,
}

fn upstream(e: Status) -> Status {
    // The alpha's refusals (short password, permission range, protected roots) pass through
    // with their code and text.
    e
}

/// Runs a query on the alpha as a guardian acting for `userid`, read-only.
pub(crate) async fn read(
    acl: &Acl,
    userid: &str,
    query: &str,
    vars: HashMap<String, String>,
) -> Result<Answer, Status> {
    run_query(acl, userid, query, vars, true).await
}

async fn run_query(
    acl: &Acl,
    userid: &str,
    query: &str,
    vars: HashMap<String, String>,
    read_only: bool,
) -> Result<Answer, Status> {
    let mut req = tonic::Request::new(Request {
        query: query.to_string(),
        vars,
        read_only,
        ..Default::default()
    });
    authorize(acl, userid, &mut req)?;
    let resp = acl
        .alpha
        .clone()
        .query(req)
        .await
        .map_err(upstream)?
        .into_inner();
    let json = serde_json::from_slice(&resp.json).map_err(|e| {
        Status::internal(format!("the alpha answered JSON that does not parse: {e}"))
    })?;
    Ok(Answer {
        json,
        start_ts: resp.txn.map(|t| t.start_ts).unwrap_or_default(),
    })
}

fn authorize<T>(acl: &Acl, userid: &str, req: &mut tonic::Request<T>) -> Result<(), Status> {
    let token = acl.service_token(userid)?;
    req.metadata_mut().insert(
        "accessjwt",
        token
            .parse()
            .map_err(|_| Status::internal("a service token that is not ASCII"))?,
    );
    Ok(())
}

/// Commits one mutation at `start_ts`.
async fn commit(
    acl: &Acl,
    userid: &str,
    start_ts: u64,
    set: Vec<Json>,
    del: String,
) -> Result<(), Status> {
    if set.is_empty() && del.is_empty() {
        return Ok(());
    }
    let mut req = tonic::Request::new(Request {
        start_ts,
        mutations: vec![Mutation {
            set_json: if set.is_empty() {
                Vec::new()
            } else {
                serde_json::to_vec(&set).map_err(|e| Status::internal(e.to_string()))?
            },
            del_nquads: del.into_bytes(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    });
    authorize(acl, userid, &mut req)?;
    acl.alpha.clone().query(req).await.map_err(upstream)?;
    Ok(())
}

const ACL_QUERY: &str = r#"{
  users(func: type(dgraph.type.User)) { uid dgraph.xid dgraph.user.group { uid dgraph.xid } }
  groups(func: type(dgraph.type.Group)) {
    uid dgraph.xid
    dgraph.acl.rule { uid dgraph.rule.predicate dgraph.rule.permission }
  }
}"#;

#[derive(Debug, Clone)]
struct UserNode {
    uid: String,
    /// (uid, name) of each group.
    groups: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct RuleNode {
    uid: String,
    predicate: String,
    permission: i32,
}

#[derive(Debug, Clone)]
struct GroupNode {
    uid: String,
    rules: Vec<RuleNode>,
}

/// Every user, group and rule, as read at `start_ts`.
#[derive(Debug, Default)]
pub(crate) struct AclData {
    users: BTreeMap<String, UserNode>,
    groups: BTreeMap<String, GroupNode>,
    start_ts: u64,
}

fn str_field<'a>(v: &'a Json, name: &str) -> Option<&'a str> {
    v.get(name).and_then(|x| x.as_str())
}

fn items<'a>(v: &'a Json, name: &str) -> impl Iterator<Item = &'a Json> {
    v.get(name).and_then(|x| x.as_array()).into_iter().flatten()
}

impl AclData {
    /// The current ACL data, read-only.
    pub async fn load(acl: &Acl, userid: &str) -> Result<AclData, Status> {
        Self::read(acl, userid, true).await
    }

    async fn read(acl: &Acl, userid: &str, read_only: bool) -> Result<AclData, Status> {
        let answer = run_query(acl, userid, ACL_QUERY, HashMap::new(), read_only).await?;
        let mut data = AclData {
            start_ts: answer.start_ts,
            ..Default::default()
        };
        for u in items(&answer.json, "users") {
            let (Some(uid), Some(name)) = (str_field(u, "uid"), str_field(u, "dgraph.xid")) else {
                continue;
            };
            let groups = items(u, "dgraph.user.group")
                .filter_map(|g| {
                    Some((
                        str_field(g, "uid")?.into(),
                        str_field(g, "dgraph.xid")?.into(),
                    ))
                })
                .collect();
            data.users.insert(
                name.to_string(),
                UserNode {
                    uid: uid.to_string(),
                    groups,
                },
            );
        }
        for g in items(&answer.json, "groups") {
            let (Some(uid), Some(name)) = (str_field(g, "uid"), str_field(g, "dgraph.xid")) else {
                continue;
            };
            let rules = items(g, "dgraph.acl.rule")
                .filter_map(|r| {
                    Some(RuleNode {
                        uid: str_field(r, "uid")?.to_string(),
                        predicate: str_field(r, "dgraph.rule.predicate")?.to_string(),
                        permission: r.get("dgraph.rule.permission")?.as_i64()? as i32,
                    })
                })
                .collect();
            data.groups.insert(
                name.to_string(),
                GroupNode {
                    uid: uid.to_string(),
                    rules,
                },
            );
        }
        Ok(data)
    }

    fn user(&self, name: &str) -> Option<User> {
        let node = self.users.get(name)?;
        let groups: BTreeSet<String> = node.groups.iter().map(|(_, g)| g.clone()).collect();
        Some(User {
            name: name.to_string(),
            groups: groups.into_iter().collect(),
        })
    }

    fn group(&self, name: &str) -> Option<Group> {
        let node = self.groups.get(name)?;
        let users = self
            .users
            .iter()
            .filter(|(_, u)| u.groups.iter().any(|(uid, _)| *uid == node.uid))
            .map(|(n, _)| n.clone())
            .collect();
        let mut rules: Vec<Rule> = node
            .rules
            .iter()
            .map(|r| Rule {
                predicate: r.predicate.clone(),
                permission: r.permission,
            })
            .collect();
        rules.sort_by(|a, b| a.predicate.cmp(&b.predicate));
        Some(Group {
            name: name.to_string(),
            users,
            rules,
        })
    }

    /// The users named (all when `names` is empty) that `caller` may see: a guardian sees
    /// everyone, anyone else only themselves.
    pub fn users_visible_to(&self, caller: &AccessClaims, names: &[String]) -> UserList {
        let wanted = |n: &String| names.is_empty() || names.contains(n);
        let users = self
            .users
            .keys()
            .filter(|n| wanted(n) && (is_guardian(caller) || **n == caller.userid))
            .filter_map(|n| self.user(n))
            .collect();
        UserList { users }
    }

    /// The groups named (all when empty) that `caller` may see: a guardian sees every group,
    /// anyone else the groups they are in, listing no other user.
    pub fn groups_visible_to(&self, caller: &AccessClaims, names: &[String]) -> GroupList {
        let guardian = is_guardian(caller);
        let mine: BTreeSet<&str> = self
            .users
            .get(&caller.userid)
            .map(|u| u.groups.iter().map(|(_, g)| g.as_str()).collect())
            .unwrap_or_default();
        let groups = self
            .groups
            .keys()
            .filter(|n| names.is_empty() || names.contains(n))
            .filter(|n| guardian || mine.contains(n.as_str()))
            .filter_map(|n| self.group(n))
            .map(|mut g| {
                if !guardian {
                    g.users.retain(|u| *u == caller.userid);
                }
                g
            })
            .collect();
        GroupList { groups }
    }

    /// A reference to group `name` for a JSON mutation, creating it when missing (each new
    /// group once per mutation).
    fn group_ref(&self, name: &str, created: &mut BTreeMap<String, String>) -> Json {
        if let Some(g) = self.groups.get(name) {
            return json!({"uid": g.uid});
        }
        if let Some(blank) = created.get(name) {
            return json!({"uid": blank});
        }
        let blank = format!("_:g{}", created.len());
        created.insert(name.to_string(), blank.clone());
        json!({"uid": blank, "dgraph.type": "dgraph.type.Group", "dgraph.xid": name})
    }
}

/// Runs `change` on fresh data until it commits without a conflict (at most [`ATTEMPTS`]).
async fn transact<F>(acl: &Acl, caller: &AccessClaims, mut change: F) -> Result<(), Status>
where
    F: FnMut(&AclData) -> Result<(Vec<Json>, String), Status>,
{
    let mut last = Status::aborted("Transaction has been aborted. Please retry");
    for _ in 0..ATTEMPTS {
        let data = AclData::read(acl, &caller.userid, false).await?;
        let (set, del) = change(&data)?;
        match commit(acl, &caller.userid, data.start_ts, set, del).await {
            Err(e) if e.code() == tonic::Code::Aborted => last = e,
            other => return other,
        }
    }
    Err(last)
}

fn check_name(kind: &str, name: &str) -> Result<(), Status> {
    if name.trim().is_empty() {
        return Err(Status::invalid_argument(format!(
            "a {kind} needs a non-empty name"
        )));
    }
    Ok(())
}

fn exists(kind: &str, name: &str) -> Status {
    Status::already_exists(format!(
        "id {name} already exists for field name inside type {kind}"
    ))
}

fn check_rule(rule: &Rule) -> Result<(), Status> {
    if rule.predicate.trim().is_empty() {
        return Err(Status::invalid_argument("a rule needs a predicate"));
    }
    Perm::from_value(rule.permission.into())
        .map(|_| ())
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

fn check_password(password: &str) -> Result<(), Status> {
    if password.chars().count() < 6 {
        return Err(Status::invalid_argument(
            "Password too short, i.e. should have at least 6 chars",
        ));
    }
    Ok(())
}

pub(crate) async fn add_users(
    acl: &Acl,
    caller: &AccessClaims,
    req: AddUsersRequest,
) -> Result<UserList, Status> {
    let mut seen = BTreeSet::new();
    for u in &req.users {
        check_name("user", &u.name)?;
        check_password(&u.password)?;
        if !seen.insert(u.name.clone()) {
            return Err(exists("User", &u.name));
        }
    }
    transact(acl, caller, |data| {
        let mut created = BTreeMap::new();
        let mut set = Vec::new();
        for (i, u) in req.users.iter().enumerate() {
            if data.users.contains_key(&u.name) {
                return Err(exists("User", &u.name));
            }
            let mut node = json!({
                "uid": format!("_:u{i}"),
                "dgraph.type": "dgraph.type.User",
                "dgraph.xid": u.name,
                "dgraph.password": u.password,
            });
            let groups: Vec<Json> = u
                .groups
                .iter()
                .map(|g| data.group_ref(g, &mut created))
                .collect();
            if !groups.is_empty() {
                node["dgraph.user.group"] = Json::Array(groups);
            }
            set.push(node);
        }
        Ok((set, String::new()))
    })
    .await?;
    let names: Vec<String> = req.users.into_iter().map(|u| u.name).collect();
    Ok(AclData::load(acl, &caller.userid)
        .await?
        .users_visible_to(caller, &names))
}

pub(crate) async fn add_groups(
    acl: &Acl,
    caller: &AccessClaims,
    req: AddGroupsRequest,
) -> Result<GroupList, Status> {
    let mut seen = BTreeSet::new();
    for g in &req.groups {
        check_name("group", &g.name)?;
        g.rules.iter().try_for_each(check_rule)?;
        if !seen.insert(g.name.clone()) {
            return Err(exists("Group", &g.name));
        }
    }
    transact(acl, caller, |data| {
        let mut set = Vec::new();
        for (i, g) in req.groups.iter().enumerate() {
            if data.groups.contains_key(&g.name) {
                return Err(exists("Group", &g.name));
            }
            let mut node = json!({
                "uid": format!("_:g{i}"),
                "dgraph.type": "dgraph.type.Group",
                "dgraph.xid": g.name,
            });
            let rules: Vec<Json> = g.rules.iter().map(new_rule).collect();
            if !rules.is_empty() {
                node["dgraph.acl.rule"] = Json::Array(rules);
            }
            set.push(node);
        }
        Ok((set, String::new()))
    })
    .await?;
    let names: Vec<String> = req.groups.into_iter().map(|g| g.name).collect();
    Ok(AclData::load(acl, &caller.userid)
        .await?
        .groups_visible_to(caller, &names))
}

fn new_rule(r: &Rule) -> Json {
    json!({
        "dgraph.type": "dgraph.type.Rule",
        "dgraph.rule.predicate": r.predicate,
        "dgraph.rule.permission": r.permission,
    })
}

pub(crate) async fn update_users(
    acl: &Acl,
    caller: &AccessClaims,
    req: UpdateUsersRequest,
) -> Result<UserList, Status> {
    if let Some(p) = &req.password {
        check_password(p)?;
    }
    if req.names.iter().any(|n| n == "groot") && req.remove_groups.iter().any(|g| g == "guardians")
    {
        return Err(Status::invalid_argument(ROOT_PROPERTIES));
    }
    transact(acl, caller, |data| {
        let mut created = BTreeMap::new();
        let mut set = Vec::new();
        let mut del = String::new();
        for name in &req.names {
            let Some(user) = data.users.get(name) else {
                continue;
            };
            let mut node = json!({"uid": user.uid});
            if let Some(p) = &req.password {
                node["dgraph.password"] = json!(p);
            }
            let joins: Vec<Json> = req
                .add_groups
                .iter()
                .filter(|g| !user.groups.iter().any(|(_, have)| have == *g))
                .map(|g| data.group_ref(g, &mut created))
                .collect();
            if !joins.is_empty() {
                node["dgraph.user.group"] = Json::Array(joins);
            }
            if node.as_object().is_some_and(|o| o.len() > 1) {
                set.push(node);
            }
            for (guid, gname) in &user.groups {
                if req.remove_groups.contains(gname) {
                    del.push_str(&format!("<{}> <dgraph.user.group> <{guid}> .\n", user.uid));
                }
            }
        }
        Ok((set, del))
    })
    .await?;
    Ok(AclData::load(acl, &caller.userid)
        .await?
        .users_visible_to(caller, &only(req.names)))
}

/// An empty name list means "all" to the listing functions; a filter that matched nothing
/// must list nothing.
fn only(names: Vec<String>) -> Vec<String> {
    if names.is_empty() {
        vec![String::new()]
    } else {
        names
    }
}

pub(crate) async fn update_groups(
    acl: &Acl,
    caller: &AccessClaims,
    req: UpdateGroupsRequest,
) -> Result<GroupList, Status> {
    req.set_rules.iter().try_for_each(check_rule)?;
    transact(acl, caller, |data| {
        let mut set = Vec::new();
        let mut del = String::new();
        for name in &req.names {
            let Some(group) = data.groups.get(name) else {
                continue;
            };
            let mut added = Vec::new();
            for rule in &req.set_rules {
                match group.rules.iter().find(|r| r.predicate == rule.predicate) {
                    Some(have) => set
                        .push(json!({"uid": have.uid, "dgraph.rule.permission": rule.permission})),
                    None => added.push(new_rule(rule)),
                }
            }
            if !added.is_empty() {
                set.push(json!({"uid": group.uid, "dgraph.acl.rule": added}));
            }
            for r in group
                .rules
                .iter()
                .filter(|r| req.remove_rules.contains(&r.predicate))
            {
                del.push_str(&remove_rule(&group.uid, r));
            }
        }
        Ok((set, del))
    })
    .await?;
    Ok(AclData::load(acl, &caller.userid)
        .await?
        .groups_visible_to(caller, &only(req.names)))
}

fn remove_rule(group_uid: &str, r: &RuleNode) -> String {
    let u = &r.uid;
    format!(
        "<{group_uid}> <dgraph.acl.rule> <{u}> .\n<{u}> <dgraph.rule.predicate> * .\n<{u}> <dgraph.rule.permission> * .\n<{u}> <dgraph.type> * .\n"
    )
}

pub(crate) enum Kind {
    User,
    Group,
}

pub(crate) async fn delete(
    acl: &Acl,
    caller: &AccessClaims,
    kind: Kind,
    names: Vec<String>,
) -> Result<DeleteResponse, Status> {
    let protected = match kind {
        Kind::User => "groot",
        Kind::Group => "guardians",
    };
    if names.iter().any(|n| n == protected) {
        return Err(Status::invalid_argument(ROOT_PROTECTED));
    }
    let mut deleted = 0;
    transact(acl, caller, |data| {
        let mut del = String::new();
        deleted = 0;
        for name in &names {
            match kind {
                Kind::User => {
                    let Some(u) = data.users.get(name) else {
                        continue;
                    };
                    let s = &u.uid;
                    del.push_str(&format!(
                        "<{s}> <dgraph.xid> * .\n<{s}> <dgraph.password> * .\n<{s}> <dgraph.user.group> * .\n<{s}> <dgraph.type> * .\n"
                    ));
                }
                Kind::Group => {
                    let Some(g) = data.groups.get(name) else {
                        continue;
                    };
                    let s = &g.uid;
                    del.push_str(&format!("<{s}> <dgraph.xid> * .\n<{s}> <dgraph.type> * .\n"));
                    for r in &g.rules {
                        del.push_str(&remove_rule(s, r));
                    }
                    for u in data.users.values() {
                        if u.groups.iter().any(|(guid, _)| guid == s) {
                            del.push_str(&format!("<{}> <dgraph.user.group> <{s}> .\n", u.uid));
                        }
                    }
                }
            }
            deleted += 1;
        }
        Ok((Vec::new(), del))
    })
    .await?;
    Ok(DeleteResponse { deleted })
}
