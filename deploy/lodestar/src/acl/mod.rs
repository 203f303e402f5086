//! `lodestar acl`: Dgraph's ACL tool (`dgraph acl`), with its flags and its output. It logs in
//! to an alpha as a guardian (the `Login` RPC) and changes the ACL's data with DQL queries and
//! mutations in transactions, the access token in `accessjwt`:
//!
//! - `add -u USER [-p PASSWORD]` (asked for twice when not given), `add -g GROUP`;
//! - `del -u USER`, `del -g GROUP` (every edge of the node goes, `S * *`);
//! - `mod -u USER -l g1,g2` sets the user's groups (`-l ""` takes them all away);
//!   `mod -u USER -n` asks for a new password twice; `mod -g GROUP -p PRED -m PERM` sets the
//!   group's rule on the predicate to PERM (READ=4, WRITE=2, MODIFY=1), by one upsert, and a
//!   negative PERM deletes the rule. In `mod`, `-p` is `--pred`; in `add` it is `--password`;
//! - `info -u USER` (its groups), `info -g GROUP` (its users and rules).
//!
//! The guardian logs in with `--guardian-creds "user=…;password=…;namespace=…"` (or
//! `LODESTAR_GUARDIAN_CREDS`) or, as in Dgraph v20, `-w/--guardian_name` (default groot) and
//! `-x/--guardian_password`; a password not given is asked for. `--tls` is the client
//! superflag of `live`. As in Dgraph, everything the tool says goes to stdout, errors
//! included, and a failure exits with status 1. The alpha decides who may do what: a user who
//! is not a guardian is refused by its ACL checks.

#![allow(clippy::print_stdout)]

mod client;
mod prompt;

use crate::error::CmdError;
use client::{Alpha, Txn};
use lodestar_proto::api::{self, Mutation, NQuad, Request};
use lodestar_runtime::tls::ClientTls;
use prompt::Kind;
use std::collections::BTreeSet;
use std::process::ExitCode;

/// The alpha the tool calls when `--alpha` does not say.
const DEFAULT_ALPHA: &str = "127.0.0.1:9080";

/// The guardian that logs in when neither `--guardian-creds` nor `-w` names one.
const DEFAULT_GUARDIAN: &str = "groot";

/// The help heading of the flags every subcommand takes.
const LOGIN: &str = "Alpha and login";

/// Dgraph's wildcard predicate and value of `S * *`.
const STAR: &str = "_STAR_ALL";

/// `lodestar acl` (Dgraph's flags).
#[derive(Debug, clap::Parser)]
#[command(
    name = "acl",
    version,
    about = "Add, delete, change and show users, groups and their predicate rules, as a guardian"
)]
pub struct AclCli {
    /// The alpha's gRPC address.
    #[arg(short = 'a', long = "alpha", default_value = DEFAULT_ALPHA, global = true, help_heading = LOGIN)]
    alpha: String,

    /// The guardian to log in as: "user=NAME; password=PASSWORD; namespace=N" (user groot,
    /// namespace 0 when not given; a password not given is asked for). The environment keeps
    /// the password out of the process list.
    #[arg(long = "guardian-creds", env = "LODESTAR_GUARDIAN_CREDS", hide_env_values = true, global = true, help_heading = LOGIN)]
    guardian_creds: Option<String>,

    /// The guardian to log in as (the older form of --guardian-creds) [default: groot].
    #[arg(short = 'w', long = "guardian_name", global = true, help_heading = LOGIN)]
    guardian_name: Option<String>,

    /// The guardian's password (the older form of --guardian-creds); asked for when not given.
    #[arg(short = 'x', long = "guardian_password", global = true, help_heading = LOGIN)]
    guardian_password: Option<String>,

    /// TLS toward an alpha that serves it: "ca-cert=PATH; server-name=NAME;
    /// client-cert=PATH; client-key=PATH".
    #[arg(long = "tls", global = true, help_heading = LOGIN, value_parser = parse_tls)]
    tls: Option<ClientTls>,

    #[command(subcommand)]
    command: Command,
}

fn parse_tls(text: &str) -> Result<ClientTls, String> {
    ClientTls::parse("--tls", text)
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add a user or a group.
    Add {
        /// The user to create.
        #[arg(short = 'u', long = "user")]
        user: Option<String>,
        /// The new user's password (asked for twice when not given).
        #[arg(short = 'p', long = "password")]
        password: Option<String>,
        /// The group to create.
        #[arg(short = 'g', long = "group")]
        group: Option<String>,
    },
    /// Delete a user or a group.
    Del {
        /// The user to delete.
        #[arg(short = 'u', long = "user")]
        user: Option<String>,
        /// The group to delete.
        #[arg(short = 'g', long = "group")]
        group: Option<String>,
    },
    /// Change a user's password or groups, or a group's permission on a predicate.
    Mod {
        /// The user to change.
        #[arg(short = 'u', long = "user")]
        user: Option<String>,
        /// Ask for a new password for the user.
        #[arg(short = 'n', long = "new_password")]
        new_password: bool,
        /// The groups the user is to be in, comma separated ("" for none).
        #[arg(short = 'l', long = "group_list")]
        group_list: Option<String>,
        /// The group whose permission is to be changed.
        #[arg(short = 'g', long = "group")]
        group: Option<String>,
        /// The predicate whose permission is to be changed.
        #[arg(short = 'p', long = "pred")]
        pred: Option<String>,
        /// The permission: READ=4, WRITE=2, MODIFY=1, added up (0 to 7); a negative value
        /// removes the group's rule on the predicate.
        #[arg(
            short = 'm',
            long = "perm",
            default_value_t = 0,
            allow_negative_numbers = true
        )]
        perm: i64,
    },
    /// Show a user (its groups) or a group (its users and rules).
    Info {
        /// The user to show.
        #[arg(short = 'u', long = "user")]
        user: Option<String>,
        /// The group to show.
        #[arg(short = 'g', long = "group")]
        group: Option<String>,
    },
}

impl Command {
    /// What Dgraph's tool writes before the reason when this command fails.
    fn failure_prefix(&self) -> &'static str {
        match self {
            Command::Add { .. } => "",
            Command::Del { .. } => "Unable to delete the user: ",
            Command::Mod { .. } => "Unable to modify: ",
            Command::Info { .. } => "Unable to show info: ",
        }
    }
}

/// What a command line asks for, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    AddUser {
        user: String,
        password: Option<String>,
    },
    AddGroup(String),
    DelUser(String),
    DelGroup(String),
    SetGroups {
        user: String,
        groups: BTreeSet<String>,
    },
    NewPassword(String),
    SetRule {
        group: String,
        pred: String,
        perm: i64,
    },
    InfoUser(String),
    InfoGroup(String),
}

/// A user or a group: exactly one of the two flags.
enum Who {
    User(String),
    Group(String),
}

/// A flag's value; an empty one counts as not given, as in Dgraph's tool.
fn given(flag: &Option<String>) -> Option<&str> {
    flag.as_deref().filter(|v| !v.is_empty())
}

fn who(user: &Option<String>, group: &Option<String>) -> Result<Who, CmdError> {
    match (given(user), given(group)) {
        (Some(u), None) => Ok(Who::User(u.to_string())),
        (None, Some(g)) => Ok(Who::Group(g.to_string())),
        _ => Err(CmdError::invalid(
            "one of the --user or --group must be specified, but not both",
        )),
    }
}

fn forbidden(flag: &str) -> CmdError {
    CmdError::invalid(format!("the option --{flag} should not be set"))
}

impl Plan {
    fn of(command: &Command) -> Result<Plan, CmdError> {
        match command {
            Command::Add {
                user,
                password,
                group,
            } => match who(user, group)? {
                Who::User(user) => Ok(Plan::AddUser {
                    user,
                    password: given(password).map(str::to_string),
                }),
                Who::Group(_) if given(password).is_some() => Err(forbidden("password")),
                Who::Group(group) => Ok(Plan::AddGroup(group)),
            },
            Command::Del { user, group } => Ok(match who(user, group)? {
                Who::User(user) => Plan::DelUser(user),
                Who::Group(group) => Plan::DelGroup(group),
            }),
            Command::Info { user, group } => Ok(match who(user, group)? {
                Who::User(user) => Plan::InfoUser(user),
                Who::Group(group) => Plan::InfoGroup(group),
            }),
            Command::Mod {
                user,
                new_password,
                group_list,
                group,
                pred,
                perm,
            } => match who(user, group)? {
                Who::User(user) => {
                    if given(pred).is_some() {
                        return Err(forbidden("pred"));
                    }
                    if *perm > 0 {
                        return Err(forbidden("perm"));
                    }
                    match (new_password, group_list) {
                        (true, None) => Ok(Plan::NewPassword(user)),
                        (false, Some(list)) => Ok(Plan::SetGroups {
                            user,
                            groups: list
                                .split(',')
                                .map(str::trim)
                                .filter(|g| !g.is_empty())
                                .map(str::to_string)
                                .collect(),
                        }),
                        _ => Err(CmdError::invalid(
                            "one of --new_password or --group_list must be provided, but not both",
                        )),
                    }
                }
                Who::Group(group) => {
                    if group_list.is_some() {
                        return Err(forbidden("group_list"));
                    }
                    if *new_password {
                        return Err(forbidden("new_password"));
                    }
                    let Some(pred) = given(pred) else {
                        return Err(CmdError::invalid("no predicates specified"));
                    };
                    if *perm > 7 {
                        return Err(CmdError::invalid(format!(
                            "the perm value must be less than or equal to 7, the provided value is {perm}"
                        )));
                    }
                    Ok(Plan::SetRule {
                        group,
                        pred: pred.to_string(),
                        perm: *perm,
                    })
                }
            },
        }
    }
}

/// The guardian's login: user, password (asked for when `None`), namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Guardian {
    user: String,
    password: Option<String>,
    namespace: u64,
}

impl Guardian {
    fn of(cli: &AclCli) -> Result<Guardian, CmdError> {
        let Some(creds) = &cli.guardian_creds else {
            return Ok(Guardian {
                user: given(&cli.guardian_name)
                    .unwrap_or(DEFAULT_GUARDIAN)
                    .to_string(),
                password: given(&cli.guardian_password).map(str::to_string),
                namespace: 0,
            });
        };
        if cli.guardian_name.is_some() || cli.guardian_password.is_some() {
            return Err(CmdError::invalid(
                "give the guardian once: --guardian-creds, or -w/--guardian_name and -x/--guardian_password",
            ));
        }
        let mut guardian = Guardian {
            user: DEFAULT_GUARDIAN.to_string(),
            password: None,
            namespace: 0,
        };
        for part in creds.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                CmdError::invalid(format!("--guardian-creds: {part:?} is not key=value"))
            })?;
            match key.trim() {
                "user" if !value.trim().is_empty() => guardian.user = value.trim().to_string(),
                "user" => {}
                "password" => guardian.password = Some(value.to_string()).filter(|p| !p.is_empty()),
                "namespace" => {
                    guardian.namespace = value.trim().parse().map_err(|_| {
                        CmdError::invalid(format!(
                            "--guardian-creds: namespace {value:?} is not a number"
                        ))
                    })?
                }
                other => {
                    return Err(CmdError::invalid(format!(
                        "--guardian-creds: unknown key {other:?} (user, password, namespace)"
                    )));
                }
            }
        }
        Ok(guardian)
    }
}

/// Runs `lodestar acl`: what it did on stdout, or why it failed (on stdout too, as Dgraph's
/// tool) and status 1.
pub fn main(cli: AclCli) -> ExitCode {
    let prefix = cli.command.failure_prefix();
    let result = Plan::of(&cli.command).and_then(|plan| {
        let guardian = Guardian::of(&cli)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CmdError::failed(format!("cannot start the async runtime: {e}")))?;
        runtime.block_on(run(&cli, guardian, plan))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("{prefix}{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &AclCli, guardian: Guardian, plan: Plan) -> Result<(), CmdError> {
    // A password change says "client" where the others say "admin context", as in Dgraph.
    let doing = match plan {
        Plan::NewPassword(_) => "unable to get dgo client",
        _ => "unable to get admin context",
    };
    let alpha = log_in(cli, &guardian).await.map_err(|e| e.during(doing))?;
    let mut txn = alpha.txn(false);
    let result = match &plan {
        Plan::AddUser { user, password } => {
            let password = match password {
                Some(p) => p.clone(),
                None => prompt::ask_password(user, Kind::New)?,
            };
            add_user(&mut txn, user, &password).await
        }
        Plan::AddGroup(group) => add_group(&mut txn, group).await,
        Plan::DelUser(user) => delete(&mut txn, user, Entity::User).await,
        Plan::DelGroup(group) => delete(&mut txn, group, Entity::Group).await,
        Plan::SetGroups { user, groups } => match set_groups(&mut txn, user, groups).await {
            Ok(true) => {
                println!("Successfully modified groups for user {user}.");
                println!("The latest info is:");
                print_user(&mut alpha.txn(true), user).await
            }
            other => other.map(|_| ()),
        },
        Plan::NewPassword(user) => match prompt::ask_password(user, Kind::New) {
            Ok(password) => set_password(&mut txn, user, &password).await,
            Err(e) => Err(e),
        },
        Plan::SetRule { group, pred, perm } => set_rule(&mut txn, group, pred, *perm).await,
        Plan::InfoUser(user) => print_user(&mut txn, user).await,
        Plan::InfoGroup(group) => print_group(&mut txn, group).await,
    };
    txn.discard().await;
    result
}

/// Connects to the alpha and logs in as the guardian.
async fn log_in(cli: &AclCli, guardian: &Guardian) -> Result<Alpha, CmdError> {
    println!("\nRunning transaction with dgraph endpoint: {}", cli.alpha);
    let tls =
        match &cli.tls {
            Some(tls) => Some(tls.load().map_err(|e| {
                CmdError::failed(e.message).during("while loading TLS configuration")
            })?),
            None => None,
        };
    let mut alpha = Alpha::connect(&cli.alpha, tls.as_ref())?;
    let password = match &guardian.password {
        Some(p) => p.clone(),
        None => prompt::ask_password(&guardian.user, Kind::Current)?,
    };
    alpha
        .login(&guardian.user, &password, guardian.namespace)
        .await
        .map_err(|e| e.during(format!("unable to login to the {} account", guardian.user)))?;
    println!("Login successful.");
    Ok(alpha)
}

/// A user as the tool reads it.
#[derive(Debug, serde::Deserialize)]
struct User {
    #[serde(default)]
    uid: String,
    #[serde(rename = "dgraph.xid", default)]
    xid: String,
    #[serde(rename = "dgraph.user.group", default)]
    groups: Vec<Group>,
}

/// A group as the tool reads it.
#[derive(Debug, serde::Deserialize)]
struct Group {
    #[serde(default)]
    uid: String,
    #[serde(rename = "dgraph.xid", default)]
    xid: String,
    #[serde(rename = "~dgraph.user.group", default)]
    users: Vec<User>,
    #[serde(rename = "dgraph.acl.rule", default)]
    rules: Vec<Rule>,
}

/// A group's permission on a predicate.
#[derive(Debug, serde::Deserialize)]
struct Rule {
    #[serde(rename = "dgraph.rule.predicate", default)]
    predicate: String,
    #[serde(rename = "dgraph.rule.permission", default)]
    permission: i64,
}

/// Users or groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    User,
    Group,
}

const USER_QUERY: &str = r#"query search($userid: string) {
  user(func: eq(dgraph.xid, $userid)) @filter(type(dgraph.type.User)) {
    uid
    dgraph.xid
    dgraph.user.group { uid dgraph.xid }
  }
}"#;

/// The query of a group by name, with `fields` besides its uid.
fn group_query(fields: &str) -> String {
    format!(
        r#"query search($groupid: string) {{
  group(func: eq(dgraph.xid, $groupid)) @filter(type(dgraph.type.Group)) {{
    uid
    {fields}
  }}
}}"#
    )
}

/// The fields `info -g` shows.
const GROUP_INFO_FIELDS: &str = "dgraph.xid
    ~dgraph.user.group { dgraph.xid }
    dgraph.acl.rule { dgraph.rule.predicate dgraph.rule.permission }";

/// The one item under `key` of a query's result, if any; more than one is an error.
fn the_one<T: serde::de::DeserializeOwned>(
    json: serde_json::Value,
    key: &str,
    what: &str,
) -> Result<Option<T>, CmdError> {
    let list = json.get(key).cloned().unwrap_or_default();
    if list.is_null() {
        return Ok(None);
    }
    let mut items: Vec<T> = serde_json::from_value(list).map_err(|e| {
        CmdError::failed(format!(
            "unable to unmarshal the query {what} response: {e}"
        ))
    })?;
    match items.len() {
        0 | 1 => Ok(items.pop()),
        _ => Err(CmdError::failed(format!("found multiple {what}s: {json}"))),
    }
}

async fn query_user(txn: &mut Txn<'_>, userid: &str) -> Result<Option<User>, CmdError> {
    let json = txn
        .query(USER_QUERY, &[("$userid", userid)])
        .await
        .map_err(|e| e.during(format!("while query user with id {userid}")))?;
    the_one(json, "user", "user")
}

async fn query_group(
    txn: &mut Txn<'_>,
    groupid: &str,
    fields: &str,
) -> Result<Option<Group>, CmdError> {
    match txn
        .query(&group_query(fields), &[("$groupid", groupid)])
        .await
    {
        Ok(json) => the_one(json, "group", "group"),
        Err(e) => {
            println!("Error while querying group with id {groupid}: {e}");
            Err(e)
        }
    }
}

fn value(val: api::value::Val) -> Option<api::Value> {
    Some(api::Value { val: Some(val) })
}

/// `subject predicate "text"`.
fn text_quad(subject: &str, predicate: &str, text: &str) -> NQuad {
    NQuad {
        subject: subject.to_string(),
        predicate: predicate.to_string(),
        object_value: value(api::value::Val::StrVal(text.to_string())),
        ..Default::default()
    }
}

/// `subject predicate object` between two nodes.
fn edge_quad(subject: &str, predicate: &str, object: &str) -> NQuad {
    NQuad {
        subject: subject.to_string(),
        predicate: predicate.to_string(),
        object_id: object.to_string(),
        ..Default::default()
    }
}

/// `subject predicate *`, or with predicate `*` every edge of the subject.
fn delete_quad(subject: &str, predicate: &str) -> NQuad {
    NQuad {
        subject: subject.to_string(),
        predicate: predicate.to_string(),
        object_value: value(api::value::Val::DefaultVal(STAR.to_string())),
        ..Default::default()
    }
}

fn commit_now(set: Vec<NQuad>, del: Vec<NQuad>) -> Mutation {
    Mutation {
        set,
        del,
        commit_now: true,
        ..Default::default()
    }
}

async fn add_user(txn: &mut Txn<'_>, user: &str, password: &str) -> Result<(), CmdError> {
    let existing = query_user(txn, user)
        .await
        .map_err(|e| e.during("while querying user"))?;
    if existing.is_some() {
        return Err(CmdError::invalid(format!(
            "unable to create user because of conflict: {user}"
        )));
    }
    let new = "_:newuser";
    txn.mutate(commit_now(
        vec![
            text_quad(new, "dgraph.xid", user),
            text_quad(new, "dgraph.password", password),
            text_quad(new, "dgraph.type", "dgraph.type.User"),
        ],
        Vec::new(),
    ))
    .await
    .map_err(|e| e.during("unable to create user"))?;
    println!("Created new user with id {user}");
    Ok(())
}

async fn add_group(txn: &mut Txn<'_>, group: &str) -> Result<(), CmdError> {
    let existing = query_group(txn, group, "")
        .await
        .map_err(|e| e.during("while querying group"))?;
    if existing.is_some() {
        return Err(CmdError::invalid(format!("group {group:?} already exists")));
    }
    let new = "_:newgroup";
    txn.mutate(commit_now(
        vec![
            text_quad(new, "dgraph.xid", group),
            text_quad(new, "dgraph.type", "dgraph.type.Group"),
        ],
        Vec::new(),
    ))
    .await
    .map_err(|e| e.during("unable to create group"))?;
    println!("Created new group with id {group}");
    Ok(())
}

/// Deletes every edge of the user or group named `id`.
async fn delete(txn: &mut Txn<'_>, id: &str, entity: Entity) -> Result<(), CmdError> {
    let uid = match entity {
        Entity::User => query_user(txn, id).await?.map(|u| u.uid),
        Entity::Group => query_group(txn, id, "").await?.map(|g| g.uid),
    };
    let Some(uid) = uid.filter(|u| !u.is_empty()) else {
        return Err(CmdError::invalid(format!(
            "unable to delete {id:?} since it does not exist"
        )));
    };
    txn.mutate(commit_now(Vec::new(), vec![delete_quad(&uid, STAR)]))
        .await
        .map_err(|e| e.during(format!("unable to delete {id:?}")))?;
    println!("Successfully deleted {id:?}");
    Ok(())
}

/// Puts `user` in exactly `groups`; whether anything had to change.
async fn set_groups(
    txn: &mut Txn<'_>,
    user: &str,
    groups: &BTreeSet<String>,
) -> Result<bool, CmdError> {
    let found = query_user(txn, user)
        .await
        .map_err(|e| e.during("while querying user"))?;
    let Some(found) = found else {
        return Err(CmdError::invalid(format!("user {user:?} does not exist")));
    };
    let current: std::collections::BTreeMap<&str, &str> = found
        .groups
        .iter()
        .filter(|g| !g.xid.is_empty())
        .map(|g| (g.xid.as_str(), g.uid.as_str()))
        .collect();
    let mut set = Vec::new();
    let mut del = Vec::new();
    for group in groups.iter().filter(|g| !current.contains_key(g.as_str())) {
        println!("Adding user {user} to group {group}");
        let Some(target) = query_group(txn, group, "").await? else {
            return Err(CmdError::invalid(format!("group {group:?} does not exist")));
        };
        set.push(edge_quad(&found.uid, "dgraph.user.group", &target.uid));
    }
    for (group, uid) in current.iter().filter(|(g, _)| !groups.contains(**g)) {
        println!("Deleting user {user} from group {group}");
        del.push(edge_quad(&found.uid, "dgraph.user.group", uid));
    }
    if set.is_empty() && del.is_empty() {
        println!("Nothing needs to be changed for the groups of user: {user}");
        return Ok(false);
    }
    txn.mutate(commit_now(set, del))
        .await
        .map_err(|e| e.during("while mutating the group"))?;
    Ok(true)
}

async fn set_password(txn: &mut Txn<'_>, user: &str, password: &str) -> Result<(), CmdError> {
    let found = query_user(txn, user)
        .await
        .map_err(|e| e.during("while querying user"))?;
    let Some(found) = found else {
        return Err(CmdError::invalid(format!("user {user:?} does not exist")));
    };
    txn.mutate(commit_now(
        vec![text_quad(&found.uid, "dgraph.password", password)],
        Vec::new(),
    ))
    .await
    .map_err(|e| e.during(format!("unable to change password for user {user}")))?;
    println!("Successfully changed password for {user}");
    Ok(())
}

/// The upsert's query: the group (`gUID`), its rule on the predicate (`rUID`), and how many
/// groups of that name there are.
const RULE_QUERY: &str = r#"query rule($group: string, $pred: string) {
  var(func: eq(dgraph.xid, $group)) @filter(type(dgraph.type.Group)) {
    gUID as uid
    rUID as dgraph.acl.rule @filter(eq(dgraph.rule.predicate, $pred))
  }
  groupUIDCount(func: uid(gUID)) { count(uid) }
}"#;

/// The group exists and has a rule on the predicate.
const RULE_EXISTS: &str = "@if(eq(len(rUID), 1) AND eq(len(gUID), 1))";
/// The group exists and has no rule on the predicate.
const RULE_MISSING: &str = "@if(eq(len(rUID), 0) AND eq(len(gUID), 1))";

/// The mutations of the rule upsert: create or update the group's rule on `pred` with `perm`,
/// or, with a negative `perm`, delete it.
fn rule_mutations(pred: &str, perm: i64) -> Vec<Mutation> {
    let rule = "uid(rUID)";
    let group = "uid(gUID)";
    let permission = |subject: &str| NQuad {
        subject: subject.to_string(),
        predicate: "dgraph.rule.permission".to_string(),
        object_value: value(api::value::Val::IntVal(perm)),
        ..Default::default()
    };
    if perm < 0 {
        return vec![Mutation {
            del: vec![
                edge_quad(group, "dgraph.acl.rule", rule),
                delete_quad(rule, "dgraph.rule.predicate"),
                delete_quad(rule, "dgraph.rule.permission"),
                delete_quad(rule, "dgraph.type"),
            ],
            cond: RULE_EXISTS.to_string(),
            ..Default::default()
        }];
    }
    let new = "_:newrule";
    vec![
        Mutation {
            set: vec![
                permission(new),
                text_quad(new, "dgraph.rule.predicate", pred),
                text_quad(new, "dgraph.type", "dgraph.type.Rule"),
                edge_quad(group, "dgraph.acl.rule", new),
            ],
            cond: RULE_MISSING.to_string(),
            ..Default::default()
        },
        Mutation {
            set: vec![permission(rule)],
            cond: RULE_EXISTS.to_string(),
            ..Default::default()
        },
    ]
}

/// Sets (or with a negative `perm` deletes) `group`'s rule on `pred`, in one upsert.
async fn set_rule(txn: &mut Txn<'_>, group: &str, pred: &str, perm: i64) -> Result<(), CmdError> {
    let response = txn
        .run(Request {
            query: RULE_QUERY.to_string(),
            vars: [("$group", group), ("$pred", pred)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            mutations: rule_mutations(pred, perm),
            commit_now: true,
            ..Default::default()
        })
        .await?;
    let json: serde_json::Value = serde_json::from_slice(&response.json)
        .map_err(|_| CmdError::failed("malformed output of groupUIDCount"))?;
    match json["groupUIDCount"][0]["count"].as_u64() {
        None => Err(CmdError::failed("malformed output of groupUIDCount")),
        Some(0) => Err(CmdError::invalid(format!("group <{group}> doesn't exist"))),
        Some(_) => Ok(()),
    }
}

async fn print_user(txn: &mut Txn<'_>, user: &str) -> Result<(), CmdError> {
    let Some(found) = query_user(txn, user).await? else {
        return Err(CmdError::invalid(format!(
            "the user {user:?} does not exist"
        )));
    };
    println!("User  : {user}");
    println!("UID   : {}", found.uid);
    for group in &found.groups {
        println!("Group : {:<5}", group.xid);
    }
    Ok(())
}

async fn print_group(txn: &mut Txn<'_>, group: &str) -> Result<(), CmdError> {
    let Some(found) = query_group(txn, group, GROUP_INFO_FIELDS).await? else {
        return Err(CmdError::invalid(format!(
            "the group {group} doesn't exist"
        )));
    };
    println!("Group: {group}");
    println!("UID  : {}", found.uid);
    println!("ID   : {}", found.xid);
    let users: Vec<&str> = found.users.iter().map(|u| u.xid.as_str()).collect();
    println!("Users: {}", users.join(" "));
    for rule in &found.rules {
        println!("ACL: {{{} {}}}", rule.predicate, rule.permission);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn cli(words: &str) -> AclCli {
        AclCli::try_parse_from(std::iter::once("acl").chain(words.split_whitespace()))
            .unwrap_or_else(|e| panic!("{words}: {e}"))
    }

    fn plan(words: &str) -> Result<Plan, String> {
        Plan::of(&cli(words).command).map_err(|e| e.to_string())
    }

    #[test]
    fn the_flags_are_dgraphs() {
        <AclCli as clap::CommandFactory>::command().debug_assert();
        // The seed's command line, and the global flags after the subcommand too.
        let c =
            cli("-a localhost:9080 -w groot -x password mod --group dev --pred ~friend --perm 7");
        assert_eq!(c.alpha, "localhost:9080");
        assert_eq!(
            Plan::of(&c.command).unwrap(),
            Plan::SetRule {
                group: "dev".into(),
                pred: "~friend".into(),
                perm: 7
            }
        );
        let c = cli(
            "mod -g dev -p name -m -1 --alpha h:1 --guardian-creds user=g;password=p;namespace=0",
        );
        assert_eq!(c.alpha, "h:1");
        assert_eq!(
            Plan::of(&c.command).unwrap(),
            Plan::SetRule {
                group: "dev".into(),
                pred: "name".into(),
                perm: -1
            }
        );
        assert_eq!(cli("info -u x").alpha, DEFAULT_ALPHA);
        // -p is the password in add, the predicate in mod.
        assert_eq!(
            plan("add -u alice -p secret1").unwrap(),
            Plan::AddUser {
                user: "alice".into(),
                password: Some("secret1".into())
            }
        );
        assert_eq!(
            plan("mod -u alice -l dev,ops").unwrap(),
            Plan::SetGroups {
                user: "alice".into(),
                groups: ["dev".to_string(), "ops".to_string()].into()
            }
        );
        assert_eq!(
            plan("mod -u alice --group_list=").unwrap(),
            Plan::SetGroups {
                user: "alice".into(),
                groups: BTreeSet::new()
            }
        );
        assert_eq!(
            plan("mod -u alice -n").unwrap(),
            Plan::NewPassword("alice".into())
        );
        assert_eq!(plan("del -g dev").unwrap(), Plan::DelGroup("dev".into()));
        assert_eq!(plan("info -u bob").unwrap(), Plan::InfoUser("bob".into()));
    }

    #[test]
    fn contradictory_command_lines_are_refused_with_dgraphs_words() {
        let both = "one of the --user or --group must be specified, but not both";
        for words in ["add -u a -g b", "del", "info -u a -g b", "mod -l a"] {
            assert_eq!(plan(words).unwrap_err(), both, "{words}");
        }
        assert_eq!(
            plan("add -g dev -p secret").unwrap_err(),
            "the option --password should not be set"
        );
        assert_eq!(
            plan("mod -u a -l g -p name").unwrap_err(),
            "the option --pred should not be set"
        );
        assert_eq!(
            plan("mod -u a -l g -m 4").unwrap_err(),
            "the option --perm should not be set"
        );
        let one_of = "one of --new_password or --group_list must be provided, but not both";
        assert_eq!(plan("mod -u a").unwrap_err(), one_of);
        assert_eq!(plan("mod -u a -n -l g").unwrap_err(), one_of);
        assert_eq!(
            plan("mod -g dev -l a -p x").unwrap_err(),
            "the option --group_list should not be set"
        );
        assert_eq!(
            plan("mod -g dev -n -p x").unwrap_err(),
            "the option --new_password should not be set"
        );
        assert_eq!(
            plan("mod -g dev -m 4").unwrap_err(),
            "no predicates specified"
        );
        assert_eq!(
            plan("mod -g dev -p x -m 8").unwrap_err(),
            "the perm value must be less than or equal to 7, the provided value is 8"
        );
        assert_eq!(
            Command::Mod {
                user: None,
                new_password: false,
                group_list: None,
                group: None,
                pred: None,
                perm: 0
            }
            .failure_prefix(),
            "Unable to modify: "
        );
    }

    #[test]
    fn the_guardian_comes_from_either_form_of_the_flags() {
        let g = |words: &str| Guardian::of(&cli(words)).map_err(|e| e.to_string());
        assert_eq!(
            g("info -u a").unwrap(),
            Guardian {
                user: "groot".into(),
                password: None,
                namespace: 0
            }
        );
        assert_eq!(
            g("-w admin -x pw info -u a").unwrap(),
            Guardian {
                user: "admin".into(),
                password: Some("pw".into()),
                namespace: 0
            }
        );
        assert_eq!(
            g("--guardian-creds user=admin;password=a=b;namespace=2 info -u a").unwrap(),
            Guardian {
                user: "admin".into(),
                password: Some("a=b".into()),
                namespace: 2
            }
        );
        assert!(g("--guardian-creds user=a -x pw info -u a").is_err());
        assert!(
            g("--guardian-creds usr=a info -u a")
                .unwrap_err()
                .contains("unknown key \"usr\"")
        );
        assert!(
            g("--guardian-creds namespace=x info -u a")
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn the_rule_upsert_creates_updates_or_deletes() {
        let create_or_update = rule_mutations("~friend", 7);
        assert_eq!(create_or_update.len(), 2);
        assert_eq!(create_or_update[0].cond, RULE_MISSING);
        assert_eq!(create_or_update[1].cond, RULE_EXISTS);
        assert!(create_or_update.iter().all(|m| m.del.is_empty()));
        assert_eq!(
            create_or_update[1].set[0].object_value,
            value(api::value::Val::IntVal(7))
        );
        let delete = rule_mutations("~friend", -1);
        assert_eq!(delete.len(), 1);
        assert_eq!(delete[0].cond, RULE_EXISTS);
        assert!(delete[0].set.is_empty());
        assert_eq!(delete[0].del[0].object_id, "uid(rUID)");
    }

    #[test]
    fn one_user_or_none_is_read_and_more_is_an_error() {
        let json = serde_json::json!({"user": [{"uid": "0x1", "dgraph.xid": "a",
            "dgraph.user.group": [{"uid": "0x2", "dgraph.xid": "dev"}]}]});
        let user: User = the_one(json, "user", "user").unwrap().unwrap();
        assert_eq!(
            (user.uid.as_str(), user.groups[0].xid.as_str()),
            ("0x1", "dev")
        );
        assert!(
            the_one::<User>(serde_json::json!({}), "user", "user")
                .unwrap()
                .is_none()
        );
        let two = serde_json::json!({"user": [{"uid": "0x1"}, {"uid": "0x2"}]});
        assert!(
            the_one::<User>(two, "user", "user")
                .unwrap_err()
                .to_string()
                .starts_with("found multiple users")
        );
    }
}
