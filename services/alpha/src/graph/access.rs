//! Predicate permissions with ACL on: who may read, write and alter which predicate.
//!
//! Rules live in the graph as Dgraph keeps them: a group (`dgraph.type.Group`) points through
//! `dgraph.acl.rule` at rules holding `dgraph.rule.predicate` and `dgraph.rule.permission`
//! (READ=4, WRITE=2, MODIFY=1). A caller's permission on a predicate is the OR of the rules of
//! the groups in its access token; with no rule the answer is no (default deny). A rule on
//! `dgraph.all` covers every predicate except the ACL's own, which only guardians may touch;
//! `~pred` is checked under its own name. Guardians pass every check.
//!
//! The rules are cached per alpha. A commit that writes any ACL predicate, and every drop,
//! bumps a generation counter; the next request that needs the rules reloads them from the
//! store, so a rule change is in force for the next request after its commit.
//!
//! Reads drop what the caller may not read, silently, as Dgraph does: a field on such a
//! predicate disappears, and a block or edge whose function, filter or ordering uses one
//! matches nothing (a filter is never half-applied, so `not` cannot turn a hidden value into
//! an answer). `expand(_all_)` and schema queries skip such predicates too.

use super::{Graph, GraphError};
use lodestar_acl::Perm;
use lodestar_dql::query::ast::{
    AggArg, Attr, Block, BoolExpr, CountOf, EdgeArgs, Field, FieldKind, Filter, Func, OrderBy,
};
use lodestar_dql::{NQuad, Predicate, Query};
use parking_lot::RwLock;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The ACL's own predicates (guardians only, never covered by `dgraph.all`).
pub const ACL_PREDICATES: [&str; 7] = [
    "dgraph.xid",
    "dgraph.password",
    "dgraph.user.group",
    "~dgraph.user.group",
    "dgraph.acl.rule",
    "dgraph.rule.predicate",
    "dgraph.rule.permission",
];

/// The rule predicate that stands for every non-ACL predicate.
pub const ALL_PREDICATES: &str = "dgraph.all";

pub fn is_acl_predicate(name: &str) -> bool {
    ACL_PREDICATES.contains(&name)
}

/// Rules by group name: predicate → permission bits; and every user's current groups.
#[derive(Debug, Default)]
pub struct Rules {
    groups: HashMap<String, HashMap<String, Perm>>,
    users: HashMap<String, Vec<String>>,
}

/// How long an alpha outside group 1 uses the rules it read from group 1 (which keeps the
/// ACL's data and is the one that sees it change) before reading them again.
const RULES_ELSEWHERE_FRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// The rule cache and its generation.
#[derive(Debug, Default)]
pub struct RuleCache {
    /// Bumped by every change to ACL data; starts above the loaded generation (0).
    generation: AtomicU64,
    loaded: RwLock<(u64, Arc<Rules>)>,
    /// When rules read from another group were loaded.
    loaded_at: parking_lot::Mutex<Option<std::time::Instant>>,
}

impl RuleCache {
    pub fn new() -> Self {
        RuleCache {
            generation: AtomicU64::new(1),
            loaded: RwLock::default(),
            loaded_at: parking_lot::Mutex::default(),
        }
    }

    /// Marks the cached rules stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// What one caller may do.
#[derive(Debug, Clone)]
pub struct Access {
    guardian: bool,
    perms: HashMap<String, Perm>,
    all: Perm,
}

impl Access {
    /// A guardian: every check passes.
    pub fn guardian() -> Access {
        Access {
            guardian: true,
            perms: HashMap::new(),
            all: Perm::ALL,
        }
    }

    pub fn is_guardian(&self) -> bool {
        self.guardian
    }

    /// Whether the caller holds every bit of `need` on `pred` (`~name` for a reverse edge).
    pub fn allows(&self, pred: &str, need: Perm) -> bool {
        if self.guardian {
            return true;
        }
        if is_acl_predicate(pred) {
            return false;
        }
        let own = self.perms.get(pred).copied().unwrap_or_default();
        own.union(self.all).allows(need)
    }

    pub fn readable(&self, pred: &str) -> bool {
        self.allows(pred, Perm::READ)
    }

    /// Refuses a mutation touching predicates the caller may not write, naming them as
    /// Dgraph does.
    pub fn check_mutation<'a>(
        &self,
        quads: impl Iterator<Item = &'a NQuad>,
    ) -> Result<(), AccessDenied> {
        if self.guardian {
            return Ok(());
        }
        let mut denied = BTreeSet::new();
        for nq in quads {
            let name = match &nq.predicate {
                Predicate::Named(n) => n.as_str(),
                // `<s> * *` deletes every predicate of the node: only with a wildcard grant.
                Predicate::Star => "*",
            };
            let ok = if name == "*" {
                self.all.allows(Perm::WRITE)
            } else {
                self.allows(name, Perm::WRITE)
            };
            if !ok {
                denied.insert(name.to_string());
            }
        }
        deny("mutate", denied)
    }

    /// Refuses a schema change (or drop) of predicates the caller may not modify.
    pub fn check_alter<'a>(
        &self,
        preds: impl Iterator<Item = &'a str>,
    ) -> Result<(), AccessDenied> {
        if self.guardian {
            return Ok(());
        }
        let denied: BTreeSet<String> = preds
            .filter(|p| !self.allows(p, Perm::MODIFY))
            .map(str::to_string)
            .collect();
        deny("alter", denied)
    }

    /// The query as this caller may run it (see the module docs).
    pub fn prune_query(&self, query: &Query) -> Query {
        if self.guardian {
            return query.clone();
        }
        let mut q = query.clone();
        for block in &mut q.blocks {
            self.prune_block(block);
        }
        q
    }

    fn prune_block(&self, block: &mut Block) {
        if !block.func.as_ref().is_none_or(|f| self.func_readable(f))
            || !self.filter_readable(&block.filter)
            || !self.args_readable(&block.args)
            || !self.groupby_readable(&block.directives)
        {
            block.func = Some(Func::Uid(Vec::new()));
            block.filter = None;
            block.args.order.clear();
        }
        self.prune_fields(&mut block.children);
    }

    fn prune_fields(&self, fields: &mut Vec<Field>) {
        fields.retain_mut(|f| match &mut f.kind {
            FieldKind::Predicate(edge) => {
                let shown = if edge.reverse {
                    format!("~{}", edge.name)
                } else {
                    edge.name.clone()
                };
                if !self.readable(&shown)
                    || !self.filter_readable(&edge.filter)
                    || !self.args_readable(&edge.args)
                    || !self.groupby_readable(&edge.directives)
                {
                    return false;
                }
                self.prune_fields(&mut edge.children);
                true
            }
            FieldKind::Count(CountOf::Predicate {
                name,
                reverse,
                filter,
            }) => self.readable(&reverse_name(name, *reverse)) && self.filter_readable(filter),
            FieldKind::Checkpwd { predicate, .. } => self.readable(predicate),
            FieldKind::Expand { children, .. } => {
                self.prune_fields(children);
                true
            }
            FieldKind::Aggregate {
                arg: AggArg::Predicate(p),
                ..
            } => self.readable(p),
            FieldKind::Uid
            | FieldKind::Count(CountOf::Uid)
            | FieldKind::Val(_)
            | FieldKind::Aggregate { .. }
            | FieldKind::Math(_) => true,
        });
    }

    fn groupby_readable(&self, d: &lodestar_dql::query::ast::Directives) -> bool {
        d.groupby
            .iter()
            .flatten()
            .all(|k| self.readable(&k.predicate))
    }

    fn args_readable(&self, args: &EdgeArgs) -> bool {
        args.order.iter().all(|o| match &o.by {
            OrderBy::Predicate { name, .. } => self.readable(name),
            OrderBy::Val(_) => true,
        })
    }

    fn filter_readable(&self, filter: &Option<Filter>) -> bool {
        fn walk(access: &Access, f: &Filter) -> bool {
            match f {
                BoolExpr::Leaf(func) => access.func_readable(func),
                BoolExpr::And(parts) | BoolExpr::Or(parts) => parts.iter().all(|p| walk(access, p)),
                BoolExpr::Not(p) => walk(access, p),
            }
        }
        filter.as_ref().is_none_or(|f| walk(self, f))
    }

    fn func_readable(&self, func: &Func) -> bool {
        match func {
            Func::Uid(_) => true,
            Func::Type(_) => self.readable("dgraph.type"),
            Func::Compare { attr, .. } => match attr {
                Attr::Predicate { name, .. } => self.readable(name),
                Attr::Count { name, reverse } => self.readable(&reverse_name(name, *reverse)),
                Attr::Val(_) => true,
            },
            Func::Has { predicate, reverse } => self.readable(&reverse_name(predicate, *reverse)),
            Func::AllOfTerms { predicate, .. }
            | Func::AnyOfTerms { predicate, .. }
            | Func::UidIn { predicate, .. }
            | Func::Text { predicate, .. }
            | Func::Regexp { predicate, .. }
            | Func::Match { predicate, .. }
            | Func::Between { predicate, .. }
            | Func::Geo { predicate, .. } => self.readable(predicate),
        }
    }
}

fn reverse_name(name: &str, reverse: bool) -> String {
    if reverse {
        format!("~{name}")
    } else {
        name.to_string()
    }
}

/// A refused mutation or alter; the text is Dgraph's (gRPC PermissionDenied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccessDenied(pub String);

fn deny(what: &str, denied: BTreeSet<String>) -> Result<(), AccessDenied> {
    if denied.is_empty() {
        return Ok(());
    }
    let names: String = denied.iter().map(|p| format!("{p} ")).collect();
    Err(AccessDenied(format!(
        "unauthorized to {what} following predicates: {names}\n"
    )))
}

impl Graph {
    /// What a caller in `groups` may do, from the current rules.
    pub fn access_for(&self, groups: &[String]) -> Result<Access, GraphError> {
        if groups.iter().any(|g| g == super::acl::GUARDIANS) {
            return Ok(Access::guardian());
        }
        let rules = self.acl_rules()?;
        let mut perms: HashMap<String, Perm> = HashMap::new();
        let wanted: HashSet<&str> = groups.iter().map(String::as_str).collect();
        for (group, grants) in &rules.groups {
            if !wanted.contains(group.as_str()) {
                continue;
            }
            for (pred, perm) in grants {
                let e = perms.entry(pred.clone()).or_default();
                *e = e.union(*perm);
            }
        }
        let all = perms.remove(ALL_PREDICATES).unwrap_or_default();
        Ok(Access {
            guardian: false,
            perms,
            all,
        })
    }

    /// The groups `userid` is in now, or `None` when no such user exists (deleted since its
    /// token was issued): what a token's holder may do is decided by this, not by the groups
    /// written in the token, so deleting a user or taking them out of a group takes effect at
    /// once.
    pub fn current_groups(&self, userid: &str) -> Result<Option<Vec<String>>, GraphError> {
        Ok(self.acl_rules()?.users.get(userid).cloned())
    }

    /// Whether the ACL's data (the reserved predicates, which zero keeps in group 1) lives in
    /// another group than this alpha's.
    pub fn acl_elsewhere(&self) -> bool {
        self.spans_groups() && self.group() != 1
    }

    /// Marks the cached rules stale (a commit wrote ACL data, or data was dropped).
    pub fn acl_changed(&self) {
        self.rule_cache.invalidate();
    }

    /// The rules, reloaded when ACL data changed since they were read.
    fn acl_rules(&self) -> Result<Arc<Rules>, GraphError> {
        if self.acl_elsewhere()
            && self
                .rule_cache
                .loaded_at
                .lock()
                .is_none_or(|at| at.elapsed() >= RULES_ELSEWHERE_FRESH)
        {
            self.rule_cache.invalidate();
        }
        let generation = self.rule_cache.generation.load(Ordering::SeqCst);
        {
            let loaded = self.rule_cache.loaded.read();
            if loaded.0 == generation {
                return Ok(loaded.1.clone());
            }
        }
        let rules = Arc::new(self.load_rules()?);
        *self.rule_cache.loaded_at.lock() = Some(std::time::Instant::now());
        let mut loaded = self.rule_cache.loaded.write();
        if loaded.0 < generation {
            *loaded = (generation, rules.clone());
        }
        Ok(rules)
    }

    /// Reads every group's rules and every user's groups from the newest applied state.
    fn load_rules(&self) -> Result<Rules, GraphError> {
        let q = lodestar_dql::parse_query(
            r#"{
              g(func: type(dgraph.type.Group)) {
                dgraph.xid
                dgraph.acl.rule { dgraph.rule.predicate dgraph.rule.permission }
              }
              u(func: type(dgraph.type.User)) {
                dgraph.xid
                dgraph.user.group { dgraph.xid }
              }
            }"#,
            &HashMap::new(),
        )
        .map_err(|e| GraphError::Internal(format!("ACL rules query: {e}")))?;
        let out = if self.acl_elsewhere() {
            // Read from group 1 at a fresh timestamp (off the executor: this is called from
            // synchronous access checks).
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let ts = self.oracle.read_ts().await?;
                    let remote = self.remote_reads(&q, ts, 0).await?;
                    let view = self.view(ts, None).with_remote(remote.as_ref());
                    self.run_query(&view, &q)
                })
            })?
            .json
        } else {
            self.run_query(&self.view(u64::MAX, None), &q)?.json
        };
        let mut rules = Rules::default();
        for g in out
            .get("g")
            .and_then(|g| g.as_array())
            .into_iter()
            .flatten()
        {
            let Some(name) = g.get("dgraph.xid").and_then(|x| x.as_str()) else {
                continue;
            };
            let grants = rules.groups.entry(name.to_string()).or_default();
            for r in g
                .get("dgraph.acl.rule")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten()
            {
                let pred = r.get("dgraph.rule.predicate").and_then(|p| p.as_str());
                let perm = r
                    .get("dgraph.rule.permission")
                    .and_then(|p| p.as_i64())
                    .and_then(|p| Perm::from_value(p).ok());
                if let (Some(pred), Some(perm)) = (pred, perm) {
                    let e = grants.entry(pred.to_string()).or_default();
                    *e = e.union(perm);
                }
            }
        }
        let strings = |v: Option<&serde_json::Value>, field: &str| -> Vec<String> {
            v.and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|x| x.get(field).and_then(|x| x.as_str()).map(str::to_string))
                .collect()
        };
        for u in out
            .get("u")
            .and_then(|u| u.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(name) = u.get("dgraph.xid").and_then(|x| x.as_str()) {
                let groups = strings(u.get("dgraph.user.group"), "dgraph.xid");
                rules.users.insert(name.to_string(), groups);
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(perms: &[(&str, u8)]) -> Access {
        let mut map: HashMap<String, Perm> = perms
            .iter()
            .map(|(p, b)| (p.to_string(), Perm::from_value(*b as i64).unwrap()))
            .collect();
        let all = map.remove(ALL_PREDICATES).unwrap_or_default();
        Access {
            guardian: false,
            perms: map,
            all,
        }
    }

    fn pruned(a: &Access, text: &str) -> String {
        let q = lodestar_dql::parse_query(text, &HashMap::new()).unwrap();
        format!("{:?}", a.prune_query(&q))
    }

    #[test]
    fn default_deny_wildcard_and_acl_predicates() {
        let a = access(&[("friend", 4), ("name", 6)]);
        assert!(a.readable("friend"));
        assert!(!a.allows("friend", Perm::WRITE));
        assert!(a.allows("name", Perm::WRITE));
        assert!(!a.readable("~friend"), "~pred is its own name");
        assert!(!a.readable("age"), "no rule: denied");

        let all = access(&[(ALL_PREDICATES, 7)]);
        assert!(all.allows("age", Perm::MODIFY));
        assert!(
            !all.readable("dgraph.xid"),
            "dgraph.all never covers ACL data"
        );
        assert!(!all.readable("dgraph.password"));
        assert!(Access::guardian().allows("dgraph.rule.permission", Perm::WRITE));
    }

    #[test]
    fn mutation_and_alter_errors_name_the_predicates_as_dgraph_does() {
        let a = access(&[("name", 2)]);
        let quads = lodestar_dql::parse_set_nquads(
            "_:a <name> \"x\" .\n_:a <age> \"3\" .\n_:a <dgraph.xid> \"y\" .",
        )
        .unwrap();
        let err = a.check_mutation(quads.iter()).unwrap_err();
        assert_eq!(
            err.0,
            "unauthorized to mutate following predicates: age dgraph.xid \n"
        );
        let star = lodestar_dql::parse_delete_nquads("<0x1> * * .").unwrap();
        assert!(a.check_mutation(star.iter()).is_err());
        assert!(
            access(&[(ALL_PREDICATES, 2)])
                .check_mutation(star.iter())
                .is_ok()
        );
        let err = a.check_alter(["name", "age"].into_iter()).unwrap_err();
        assert_eq!(
            err.0,
            "unauthorized to alter following predicates: age name \n"
        );
        assert!(
            access(&[("name", 1)])
                .check_alter(["name"].into_iter())
                .is_ok()
        );
    }

    #[test]
    fn reads_drop_hidden_fields_and_empty_blocks_that_use_them() {
        let a = access(&[("name", 4), ("friend", 4)]);
        let out = pruned(
            &a,
            "{ q(func: has(name)) { name age friend { name secret } } }",
        );
        assert!(out.contains("\"name\"") && out.contains("\"friend\""));
        assert!(!out.contains("age") && !out.contains("secret"), "{out}");

        // A hidden predicate in the root function or a filter (even under `not`) matches nothing.
        for q in [
            "{ q(func: has(age)) { name } }",
            "{ q(func: has(name)) @filter(not eq(age, 3)) { name } }",
            "{ q(func: has(name), orderasc: age) { name } }",
        ] {
            let out = pruned(&a, q);
            assert!(out.contains("func: Some(Uid([]))"), "{q}: {out}");
        }
        // The same inside an edge removes the edge.
        let out = pruned(
            &a,
            "{ q(func: has(name)) { friend @filter(eq(age, 3)) { name } } }",
        );
        assert!(!out.contains("friend"), "{out}");
        let out = pruned(
            &a,
            "{ q(func: has(name)) { ~friend { name } count(~friend) } }",
        );
        assert!(!out.contains("friend"), "{out}");
    }
}
