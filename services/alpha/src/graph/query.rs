//! Query execution: a parsed DQL query run against a [`View`], producing Dgraph's JSON.
//!
//! Blocks run in an order that respects their variables (a block that uses `v` runs after the
//! block that defines it). Root functions use indexes (`eq`, `le`… need one, as in Dgraph);
//! the same functions in `@filter` check the candidates' values directly.

use super::access::Access;
use super::posting::{Posting, Slot};
use super::schema::lang_dict_name;
pub(super) use super::shape::Level;
use super::view::View;
use super::{Graph, GraphError};
use lodestar_dql::Query;
use lodestar_dql::query::ast::{
    Attr, Block, BoolExpr, CompareOp, CountOf, EdgeArgs, Expand, Field, FieldKind, Filter, Func,
    FuncValue, OrderBy, SchemaQuery, UidRef,
};
use lodestar_storage::keys;
use lodestar_types::schema::PredicateSchema;
use lodestar_types::tokenizer::{self, IndexKind};
use lodestar_types::value::{ScalarType, Val};
use serde_json::{Map, Value as Json, json};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

#[path = "search.rs"]
mod search;

use super::stream::{Postings, Stream};

/// What a query produced: the response JSON and the variables (for upserts).
#[derive(Debug, Default)]
pub struct QueryOutput {
    pub json: Map<String, Json>,
    pub uid_vars: HashMap<String, Vec<u64>>,
    pub val_vars: HashMap<String, HashMap<u64, Val>>,
}

pub(super) struct Exec<'g, 'v> {
    pub(super) graph: &'g Graph,
    pub(super) view: &'v View<'v>,
    pub(super) out: QueryOutput,
    /// The caller's permissions (ACL on); `expand` and schema queries consult it.
    pub(super) access: Option<&'v Access>,
    /// The nodes above the one being written, for `@ignorereflex`.
    pub(super) path: Vec<u64>,
    /// Uid variables whose order is meaningful (a shortest path's nodes, from → to): a block
    /// rooted at one of them keeps that order.
    pub(super) ordered_vars: HashMap<String, Vec<u64>>,
    /// While a root function runs: how many of its smallest matching uids the block can show
    /// at most (`offset + first` of a block that neither filters nor sorts), so a function
    /// that checks candidates one by one, in uid order, may stop there.
    pub(super) root_limit: Option<usize>,
}

fn uid_str(u: u64) -> String {
    format!("{u:#x}")
}

impl Graph {
    /// Runs `query` against `view`.
    pub fn run_query(&self, view: &View<'_>, query: &Query) -> Result<QueryOutput, GraphError> {
        self.run_query_as(view, query, None)
    }

    /// Runs `query` as a caller with `access` (ACL on): what it may not read is left out
    /// (see [`super::access`]).
    pub fn run_query_as(
        &self,
        view: &View<'_>,
        query: &Query,
        access: Option<&Access>,
    ) -> Result<QueryOutput, GraphError> {
        let pruned;
        let query = match access {
            Some(a) if !a.is_guardian() => {
                pruned = a.prune_query(query);
                &pruned
            }
            _ => query,
        };
        let mut exec = Exec {
            graph: self,
            view,
            out: QueryOutput::default(),
            access,
            path: Vec::new(),
            ordered_vars: HashMap::new(),
            root_limit: None,
        };
        let mut pending: Vec<&Block> = query.blocks.iter().collect();
        let all_defined = query.defined_vars();
        for v in query.used_vars() {
            if !all_defined.contains(&v) {
                return Err(GraphError::Invalid(format!(
                    "variables are not defined: [{v}]"
                )));
            }
        }
        let mut results: Vec<(usize, String, Json)> = Vec::new();
        // Variables of the blocks that ran, with or without values.
        let mut done: BTreeSet<String> = BTreeSet::new();
        while !pending.is_empty() {
            let ready = pending.iter().position(|b| {
                let q = Query {
                    name: None,
                    blocks: vec![(*b).clone()],
                    schema: None,
                };
                let defined_here = q.defined_vars();
                q.used_vars()
                    .iter()
                    .all(|v| defined_here.contains(v) || done.contains(v))
            });
            let Some(i) = ready else {
                return Err(GraphError::Invalid(
                    "the query's variables depend on each other in a cycle".into(),
                ));
            };
            let block = pending.remove(i);
            let order = query
                .blocks
                .iter()
                .position(|b| std::ptr::eq(b, block))
                .unwrap_or(0);
            let json = exec.block(block)?;
            done.extend(
                Query {
                    name: None,
                    blocks: vec![block.clone()],
                    schema: None,
                }
                .defined_vars(),
            );
            if let Some(json) = json
                && block.name != "var"
            {
                let key = if block.shortest.is_some() {
                    "_path_".to_string()
                } else {
                    block.name.clone()
                };
                results.push((order, key, json));
            }
        }
        results.sort_by_key(|r| r.0);
        for (_, name, json) in results {
            exec.out.json.insert(name, json);
        }
        if let Some(sq) = &query.schema {
            let (preds, types) = self.schema_json(sq, access);
            if !preds.is_empty() {
                exec.out.json.insert("schema".into(), Json::Array(preds));
            }
            if !types.is_empty() {
                exec.out.json.insert("types".into(), Json::Array(types));
            }
        }
        Ok(exec.out)
    }

    fn schema_json(&self, sq: &SchemaQuery, access: Option<&Access>) -> (Vec<Json>, Vec<Json>) {
        let schema = self.schema();
        let mut preds = Vec::new();
        for (name, p) in &schema.preds {
            if !sq.predicates.is_empty() && !sq.predicates.contains(name) {
                continue;
            }
            if access.is_some_and(|a| !a.readable(name)) {
                continue;
            }
            let mut node = p.to_json();
            if !sq.fields.is_empty()
                && let Json::Object(m) = &mut node
            {
                m.retain(|k, _| k == "predicate" || sq.fields.iter().any(|f| f == k));
            }
            preds.push(node);
        }
        let mut types = Vec::new();
        if sq.predicates.is_empty() {
            for (name, t) in &schema.types {
                if sq.types.is_empty() || sq.types.contains(name) {
                    types.push(t.to_json());
                }
            }
        }
        (preds, types)
    }
}

impl<'g, 'v> Exec<'g, 'v> {
    pub(super) fn schema(&self, name: &str) -> Option<PredicateSchema> {
        if let Some(s) = self.graph.predicate(name) {
            return Some(s);
        }
        // Implicit schema of a predicate another group serves lives there.
        let r = self.view.remote()?;
        r.pred_id(name)?;
        r.schema(name).ok().flatten()
    }

    /// The id `name` has in the keys this query reads (another group's predicates included).
    fn pred_id(&self, name: &str) -> Option<u32> {
        if let Some(id) = self.view.remote().and_then(|r| r.pred_id(name)) {
            return Some(id);
        }
        self.graph.store.lookup_predicate(name)
    }

    /// The name behind an interned (or, for another group's keys, per-query) id.
    fn id_name(&self, id: u32) -> Option<String> {
        self.view
            .remote()
            .and_then(|r| r.name_of(id))
            .or_else(|| self.graph.store.predicate_name(id))
    }

    // ---- reading other groups' predicates ahead ----

    /// Fetches ahead, for every node of `uids`, the postings of the predicates in `names`
    /// that other groups serve (`(name, reverse)`).
    fn prefetch_names(&self, names: &[(String, bool)], uids: &[u64]) -> Result<(), GraphError> {
        let Some(r) = self.view.remote() else {
            return Ok(());
        };
        if uids.is_empty() {
            return Ok(());
        }
        let mut prefixes = Vec::new();
        for (name, reverse) in names {
            if let Some(id) = r.pred_id(name) {
                for &u in uids {
                    prefixes.push(if *reverse {
                        keys::reverse_prefix(id, u)
                    } else {
                        keys::data_prefix(id, u)
                    });
                }
            }
        }
        r.prefetch(prefixes)
    }

    /// Fetches ahead what a selection reads of other groups' predicates, level by level: one
    /// call per group and level rather than one per node.
    fn prefetch_levels(&self, fields: &[Field], uids: &[u64]) -> Result<(), GraphError> {
        let Some(r) = self.view.remote() else {
            return Ok(());
        };
        let mut all = Vec::new();
        fields_names(fields, &mut all);
        if uids.is_empty() || !all.iter().any(|(n, _)| r.pred_id(n).is_some()) {
            return Ok(());
        }
        let mut level = Vec::new();
        for f in fields {
            match &f.kind {
                FieldKind::Predicate(e) => level.push((e.name.clone(), e.reverse)),
                FieldKind::Count(CountOf::Predicate { name, reverse, .. }) => {
                    level.push((name.clone(), *reverse))
                }
                FieldKind::Checkpwd { predicate, .. } => level.push((predicate.clone(), false)),
                _ => {}
            }
        }
        self.prefetch_names(&level, uids)?;
        for f in fields {
            let FieldKind::Predicate(e) = &f.kind else {
                continue;
            };
            if e.children.is_empty() && e.filter.is_none() && e.args.order.is_empty() {
                continue;
            }
            let mut next = BTreeSet::new();
            for &u in uids {
                next.extend(
                    self.targets(&e.name, e.reverse, u)?
                        .into_iter()
                        .map(|(t, _)| t),
                );
            }
            let next: Vec<u64> = next.into_iter().collect();
            let mut around = Vec::new();
            if let Some(fl) = &e.filter {
                filter_names(fl, &mut around);
            }
            order_names(&e.args, &mut around);
            self.prefetch_names(&around, &next)?;
            self.prefetch_levels(&e.children, &next)?;
        }
        Ok(())
    }

    /// A block's result; `None` when its key is left out of the response (a shortest path
    /// that found nothing, a `@groupby` without groups).
    fn block(&mut self, block: &Block) -> Result<Option<Json>, GraphError> {
        if let Some(sp) = &block.shortest {
            return self.shortest(block, sp);
        }
        let Some(func) = &block.func else {
            return self.empty_block(block).map(Some);
        };
        self.root_limit = root_limit(block);
        let uids = self.root(func);
        self.root_limit = None;
        let mut uids = uids?;
        let keep_order = match func {
            Func::Uid(refs) => match refs.as_slice() {
                [UidRef::Var(v)] => self.ordered_vars.get(v).cloned(),
                _ => None,
            },
            _ => None,
        };
        let mut around = Vec::new();
        if let Some(f) = &block.filter {
            filter_names(f, &mut around);
        }
        order_names(&block.args, &mut around);
        self.prefetch_names(&around, &uids)?;
        if let Some(f) = &block.filter {
            uids = self.filter(f, uids)?;
        }
        if let (Some(order), true) = (keep_order, block.args.order.is_empty()) {
            let kept: BTreeSet<u64> = uids.iter().copied().collect();
            uids = order.into_iter().filter(|u| kept.contains(u)).collect();
            uids.dedup();
            uids = self.page(uids, &block.args);
        } else {
            uids = self.order(uids, &block.args)?;
            uids = if block.directives.cascade.is_some() {
                after_only(uids, &block.args)
            } else {
                self.page(uids, &block.args)
            };
        }
        self.prefetch_levels(&block.children, &uids)?;
        if let Some(v) = &block.var {
            self.out.uid_vars.insert(v.clone(), uids.clone());
        }
        let level = Level {
            cascade: block.directives.cascade.as_deref(),
            ignorereflex: block.directives.ignorereflex,
        };
        if let Some(keys) = &block.directives.groupby {
            return self.groupby(&uids, keys, &block.children);
        }
        if let Some(r) = &block.directives.recurse {
            return self.recurse(&uids, block, *r).map(Some);
        }
        let (items, shown) = self.level(
            &uids,
            &block.children,
            &block.directives,
            &block.args,
            level,
        )?;
        if level.cascade.is_some()
            && let Some(v) = &block.var
        {
            self.out.uid_vars.insert(v.clone(), shown);
        }
        Ok(Some(Json::Array(items)))
    }

    /// The objects of the nodes `uids` at one level: each node's fields, nodes without any
    /// left out, `@cascade` applied (and pagination after it, when it applies), then
    /// `count(uid)` and `@normalize`. Answers the items and the nodes shown.
    pub(super) fn level(
        &mut self,
        uids: &[u64],
        fields: &[Field],
        directives: &lodestar_dql::query::ast::Directives,
        args: &EdgeArgs,
        level: Level<'_>,
    ) -> Result<(Vec<Json>, Vec<u64>), GraphError> {
        let mut kept = Vec::new();
        for &u in uids {
            if let Some(obj) = self.node_at(u, fields, level)? {
                kept.push((u, obj));
            }
        }
        let (mut items, shown) = self.settle(kept, fields, args, level.cascade.is_some());
        if directives.normalize {
            items = super::shape::normalize_items(items, fields)?;
        }
        Ok((items, shown))
    }

    // ---- root functions and filters ----

    pub(super) fn uid_refs(&self, refs: &[UidRef]) -> Vec<u64> {
        let mut out = BTreeSet::new();
        for r in refs {
            match r {
                UidRef::Uid(u) => {
                    out.insert(*u);
                }
                UidRef::Var(v) => {
                    if let Some(uids) = self.out.uid_vars.get(v) {
                        out.extend(uids.iter().copied());
                    } else if let Some(vals) = self.out.val_vars.get(v) {
                        out.extend(vals.keys().copied());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    fn root(&self, func: &Func) -> Result<Vec<u64>, GraphError> {
        match func {
            Func::Uid(refs) => Ok(self.uid_refs(refs)),
            Func::Has { predicate, reverse } => self.has(predicate, *reverse),
            Func::Type(name) => self.eq_index("dgraph.type", &[Val::String(name.clone())], true),
            Func::Compare {
                op,
                attr: Attr::Predicate { name, lang },
                values,
            } => {
                let schema = self.schema(name).ok_or_else(|| not_indexed(name))?;
                let vals = self.func_values(&schema, values)?;
                if *op == CompareOp::Eq {
                    return match lang {
                        Some(l) => self.eq_in_lang(name, &vals, l),
                        None => self.eq_index(name, &vals, false),
                    };
                }
                let kind = schema
                    .indexes
                    .iter()
                    .copied()
                    .find(|k| k.is_sortable())
                    .ok_or_else(|| not_indexed(name))?;
                let candidates = self.index_subjects(name, kind)?;
                self.compare_values(name, *op, &vals, lang.as_deref(), candidates)
            }
            Func::Compare {
                attr: Attr::Val(v),
                op,
                values,
            } => {
                let candidates: Vec<u64> = self
                    .out
                    .val_vars
                    .get(v)
                    .map(|m| m.keys().copied().collect())
                    .unwrap_or_default();
                self.compare_val_var(v, *op, values, candidates)
            }
            Func::Compare {
                op,
                attr: Attr::Count { name, reverse },
                values,
            } => self.count_index(*op, name, *reverse, count_operand(values)?),
            Func::AllOfTerms {
                predicate, terms, ..
            }
            | Func::AnyOfTerms {
                predicate, terms, ..
            } => {
                let all = matches!(func, Func::AllOfTerms { .. });
                let schema = self
                    .schema(predicate)
                    .ok_or_else(|| not_indexed(predicate))?;
                if !schema.indexes.contains(&IndexKind::Term) {
                    return Err(GraphError::Invalid(format!(
                        "Attribute {predicate} is not indexed with type term"
                    )));
                }
                let pred = self
                    .pred_id(predicate)
                    .ok_or_else(|| not_indexed(predicate))?;
                let lists = tokenizer::tokens_for_terms(terms)
                    .iter()
                    .map(|t| {
                        Postings::new(self.view, keys::index_prefix(pred, t)).map(Stream::List)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut matches = if all {
                    Stream::All(lists)
                } else {
                    Stream::Any(lists)
                };
                matches.plan(false)?;
                // The term index is exact: a block that shows the first n matches reads n.
                matches
                    .uids()
                    .take(self.root_limit.unwrap_or(usize::MAX))
                    .collect()
            }
            Func::UidIn { predicate, uids } => {
                let targets = self.uid_refs(uids);
                let Some(pred) = self.pred_id(predicate) else {
                    return Ok(Vec::new());
                };
                let mut out = BTreeSet::new();
                for t in targets {
                    for (k, _) in self.view.scan(&keys::reverse_prefix(pred, t))? {
                        out.insert(keys::u64_at(&k, k.len() - 8).unwrap_or(0));
                    }
                }
                if out.is_empty() {
                    // Without @reverse, look at every node with the predicate.
                    let wanted: BTreeSet<u64> = self.uid_refs(uids).into_iter().collect();
                    for s in self.has(predicate, false)? {
                        if self.edges(pred, s)?.iter().any(|(t, _)| wanted.contains(t)) {
                            out.insert(s);
                        }
                    }
                }
                Ok(out.into_iter().collect())
            }
            Func::Text { .. }
            | Func::Regexp { .. }
            | Func::Match { .. }
            | Func::Between { .. }
            | Func::Geo { .. } => self.search_root(func),
        }
    }

    pub(super) fn filter(&self, f: &Filter, candidates: Vec<u64>) -> Result<Vec<u64>, GraphError> {
        Ok(match f {
            BoolExpr::Leaf(func) => self.filter_func(func, candidates)?,
            BoolExpr::And(parts) => {
                let mut current = candidates;
                for p in parts {
                    current = self.filter(p, current)?;
                }
                current
            }
            BoolExpr::Or(parts) => {
                let mut keep = BTreeSet::new();
                for p in parts {
                    keep.extend(self.filter(p, candidates.clone())?);
                }
                candidates
                    .into_iter()
                    .filter(|u| keep.contains(u))
                    .collect()
            }
            BoolExpr::Not(inner) => {
                let drop: BTreeSet<u64> = self
                    .filter(inner, candidates.clone())?
                    .into_iter()
                    .collect();
                candidates
                    .into_iter()
                    .filter(|u| !drop.contains(u))
                    .collect()
            }
        })
    }

    fn filter_func(&self, func: &Func, candidates: Vec<u64>) -> Result<Vec<u64>, GraphError> {
        match func {
            Func::Uid(refs) => {
                let set: BTreeSet<u64> = self.uid_refs(refs).into_iter().collect();
                Ok(candidates.into_iter().filter(|u| set.contains(u)).collect())
            }
            Func::Has { predicate, reverse } => {
                let Some(pred) = self.pred_id(predicate) else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for u in candidates {
                    let prefix = if *reverse {
                        keys::reverse_prefix(pred, u)
                    } else {
                        keys::data_prefix(pred, u)
                    };
                    if !self.view.scan_keys(&prefix)?.is_empty() {
                        out.push(u);
                    }
                }
                Ok(out)
            }
            Func::Type(name) => {
                let mut out = Vec::new();
                for u in candidates {
                    if self.node_types(u)?.iter().any(|t| t == name) {
                        out.push(u);
                    }
                }
                Ok(out)
            }
            Func::Compare {
                op,
                attr: Attr::Predicate { name, lang },
                values,
            } => {
                let Some(schema) = self.schema(name) else {
                    return Ok(Vec::new());
                };
                let vals = self.func_values(&schema, values)?;
                self.compare_values(name, *op, &vals, lang.as_deref(), candidates)
            }
            Func::Compare {
                op,
                attr: Attr::Val(v),
                values,
            } => self.compare_val_var(v, *op, values, candidates),
            Func::Compare {
                op,
                attr: Attr::Count { name, reverse },
                values,
            } => {
                let n = count_operand(values)?;
                let mut out = Vec::new();
                for u in candidates {
                    let c = self.count(name, *reverse, u)? as i64;
                    if compare_holds(*op, c.cmp(&n)) {
                        out.push(u);
                    }
                }
                Ok(out)
            }
            Func::AllOfTerms {
                predicate,
                terms,
                lang,
            }
            | Func::AnyOfTerms {
                predicate,
                terms,
                lang,
            } => {
                let all = matches!(func, Func::AllOfTerms { .. });
                let wanted: BTreeSet<String> = tokenizer::terms(terms).into_iter().collect();
                let mut out = Vec::new();
                for u in candidates {
                    let mut have = BTreeSet::new();
                    for p in self.values(predicate, u, &lang_list(lang.as_deref()))? {
                        if let Some(Val::String(s) | Val::Default(s)) = p.1.value {
                            have.extend(tokenizer::terms(&s));
                        }
                    }
                    let ok = if all {
                        wanted.iter().all(|t| have.contains(t))
                    } else {
                        wanted.iter().any(|t| have.contains(t))
                    };
                    if ok && !wanted.is_empty() {
                        out.push(u);
                    }
                }
                Ok(out)
            }
            Func::UidIn { predicate, uids } => {
                let wanted: BTreeSet<u64> = self.uid_refs(uids).into_iter().collect();
                let Some(pred) = self.pred_id(predicate) else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for u in candidates {
                    if self.edges(pred, u)?.iter().any(|(t, _)| wanted.contains(t)) {
                        out.push(u);
                    }
                }
                Ok(out)
            }
            Func::Text { .. }
            | Func::Regexp { .. }
            | Func::Match { .. }
            | Func::Between { .. }
            | Func::Geo { .. } => self.search_filter(func, candidates),
        }
    }

    fn func_values(
        &self,
        schema: &PredicateSchema,
        values: &[FuncValue],
    ) -> Result<Vec<Val>, GraphError> {
        let mut out = Vec::new();
        for v in values {
            match v {
                FuncValue::Literal(s) => {
                    let ty = if schema.value_type == ScalarType::Default {
                        ScalarType::String
                    } else {
                        schema.value_type
                    };
                    let val = Val::String(s.clone()).convert(ty).map_err(|e| {
                        GraphError::Invalid(format!(
                            "cannot compare {} of type {} with {s:?}: {e}",
                            schema.name,
                            ty.name()
                        ))
                    })?;
                    out.push(val);
                }
                FuncValue::Val(var) => {
                    if let Some(m) = self.out.val_vars.get(var) {
                        out.extend(m.values().cloned());
                    }
                }
            }
        }
        Ok(out)
    }

    fn compare_val_var(
        &self,
        var: &str,
        op: CompareOp,
        values: &[FuncValue],
        candidates: Vec<u64>,
    ) -> Result<Vec<u64>, GraphError> {
        let Some(map) = self.out.val_vars.get(var) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for u in candidates {
            let Some(have) = map.get(&u) else { continue };
            for v in values {
                let FuncValue::Literal(s) = v else { continue };
                let want = Val::String(s.clone()).convert(have.ty());
                if let Ok(want) = want
                    && have.compare(&want).is_some_and(|o| compare_holds(op, o))
                {
                    out.push(u);
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Candidates whose value of `name` satisfies `op` against any of `vals`.
    fn compare_values(
        &self,
        name: &str,
        op: CompareOp,
        vals: &[Val],
        lang: Option<&str>,
        candidates: Vec<u64>,
    ) -> Result<Vec<u64>, GraphError> {
        let mut out = Vec::new();
        for u in candidates {
            let postings = self.values(name, u, &lang_list(lang))?;
            let hit = postings.iter().any(|(_, p)| {
                p.value.as_ref().is_some_and(|have| {
                    vals.iter()
                        .any(|want| have.compare(want).is_some_and(|o| compare_holds(op, o)))
                })
            });
            if hit {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// `eq` through the predicate's exact, hash (or other) index.
    fn eq_index(&self, name: &str, vals: &[Val], type_func: bool) -> Result<Vec<u64>, GraphError> {
        let schema = self.schema(name).ok_or_else(|| not_indexed(name))?;
        let kind = schema
            .indexes
            .iter()
            .copied()
            .find(|k| matches!(k, IndexKind::Exact | IndexKind::Hash))
            .or_else(|| {
                schema.indexes.iter().copied().find(|k| {
                    !matches!(
                        k,
                        IndexKind::Term | IndexKind::Fulltext | IndexKind::Trigram
                    )
                })
            })
            .ok_or_else(|| not_indexed(name))?;
        let Some(pred) = self.pred_id(name) else {
            return Ok(Vec::new());
        };
        let mut candidates = BTreeSet::new();
        for v in vals {
            for t in
                tokenizer::tokens_for_eq(kind, v).map_err(|e| GraphError::Invalid(e.to_string()))?
            {
                candidates.extend(self.index_lookup(pred, &t)?);
            }
        }
        if type_func {
            return Ok(candidates.into_iter().collect());
        }
        // Lossy tokens (hash, buckets) are confirmed against the stored values.
        self.compare_values(
            name,
            CompareOp::Eq,
            vals,
            None,
            candidates.into_iter().collect(),
        )
    }

    fn index_lookup(&self, pred: u32, token: &[u8]) -> Result<Vec<u64>, GraphError> {
        let prefix = keys::index_prefix(pred, token);
        Ok(self
            .view
            .scan_keys(&prefix)?
            .iter()
            .filter_map(|k| keys::u64_at(k, prefix.len()))
            .collect())
    }

    /// Every node with an entry in `kind`'s index of `name`.
    fn index_subjects(&self, name: &str, kind: IndexKind) -> Result<Vec<u64>, GraphError> {
        let Some(pred) = self.pred_id(name) else {
            return Ok(Vec::new());
        };
        let prefix = keys::prefix(keys::KeyKind::Index, pred);
        let mut out = BTreeSet::new();
        for k in self.view.scan_keys(&prefix)? {
            let token_len = u16::from_be_bytes([k[prefix.len()], k[prefix.len() + 1]]) as usize;
            let token = &k[prefix.len() + 2..prefix.len() + 2 + token_len];
            if token.first() == Some(&kind.id()) {
                out.insert(keys::u64_at(&k, k.len() - 8).unwrap_or(0));
            }
        }
        Ok(out.into_iter().collect())
    }

    fn has(&self, name: &str, reverse: bool) -> Result<Vec<u64>, GraphError> {
        let Some(pred) = self.pred_id(name) else {
            return Ok(Vec::new());
        };
        let kind = if reverse {
            keys::KeyKind::Reverse
        } else {
            keys::KeyKind::Data
        };
        let prefix = keys::prefix(kind, pred);
        let mut out = BTreeSet::new();
        for k in self.view.scan_keys(&prefix)? {
            if let Some(u) = keys::u64_at(&k, prefix.len()) {
                out.insert(u);
            }
        }
        Ok(out.into_iter().collect())
    }

    // ---- reading postings ----

    /// The value postings of `name` on node `u` in the languages asked for (see [`lang_list`]):
    /// (language, posting).
    fn values(
        &self,
        name: &str,
        u: u64,
        langs: &[String],
    ) -> Result<Vec<(Option<String>, Posting)>, GraphError> {
        let Some(pred) = self.pred_id(name) else {
            return Ok(Vec::new());
        };
        let prefix = keys::data_prefix(pred, u);
        let mut all = Vec::new();
        for (k, raw) in self.view.scan(&prefix)? {
            match Slot::parse(&k[prefix.len()..]) {
                Some(Slot::Value { lang }) => {
                    let lang = if lang == 0 {
                        None
                    } else {
                        self.id_name(lang)
                            .map(|n| n.trim_start_matches("\0lang:").to_string())
                    };
                    all.push((lang, Posting::decode(&raw)?));
                }
                Some(Slot::List(_)) => all.push((None, Posting::decode(&raw)?)),
                _ => {}
            }
        }
        // Values written before the predicate had a type read as the type it has now.
        if all
            .iter()
            .any(|(_, p)| matches!(p.value, Some(Val::Default(_))))
            && let Some(ty) = self.schema(name).map(|s| s.value_type)
        {
            for (_, p) in &mut all {
                if let Some(v) = p.value.take() {
                    p.value = Some(super::alter::typed(v, ty));
                }
            }
        }
        if langs.is_empty() {
            return Ok(all.into_iter().filter(|(l, _)| l.is_none()).collect());
        }
        if langs.iter().any(|l| l == "*") {
            return Ok(all);
        }
        for l in langs {
            if l == "." {
                if let Some(p) = all.iter().find(|(l, _)| l.is_none()).or(all.first()) {
                    return Ok(vec![p.clone()]);
                }
                continue;
            }
            if let Some(p) = all
                .iter()
                .find(|(have, _)| have.as_deref() == Some(l.as_str()))
            {
                return Ok(vec![p.clone()]);
            }
        }
        let _ = lang_dict_name;
        Ok(Vec::new())
    }

    fn edges(&self, pred: u32, u: u64) -> Result<Vec<(u64, Posting)>, GraphError> {
        let prefix = keys::data_prefix(pred, u);
        let mut out = Vec::new();
        for (k, raw) in self.view.scan(&prefix)? {
            if let Some(Slot::Edge(t)) = Slot::parse(&k[prefix.len()..]) {
                out.push((t, Posting::decode(&raw)?));
            }
        }
        Ok(out)
    }

    fn reverse(&self, pred: u32, u: u64) -> Result<Vec<u64>, GraphError> {
        let prefix = keys::reverse_prefix(pred, u);
        Ok(self
            .view
            .scan_keys(&prefix)?
            .iter()
            .filter_map(|k| keys::u64_at(k, prefix.len()))
            .collect())
    }

    /// `eq/le/lt/ge/gt(count(p), n)` at the root: the nodes whose number of `p` postings (or,
    /// for `~p`, of nodes pointing at them) compares with `n`, read from the `@count` index. As
    /// in Dgraph, a node without any `p` is not counted as having zero.
    fn count_index(
        &self,
        op: CompareOp,
        name: &str,
        reverse: bool,
        n: i64,
    ) -> Result<Vec<u64>, GraphError> {
        let schema = self.schema(name).ok_or_else(|| not_indexed(name))?;
        if !schema.count || (reverse && !schema.reverse) {
            let f = match op {
                CompareOp::Eq => "eq",
                CompareOp::Le => "le",
                CompareOp::Lt => "lt",
                CompareOp::Ge => "ge",
                CompareOp::Gt => "gt",
            };
            let attr = if reverse {
                format!("~{name}")
            } else {
                name.to_string()
            };
            return Err(GraphError::Invalid(format!(
                "Need @count directive in schema for attr: {attr} for fn: {f} at root"
            )));
        }
        let Some(pred) = self.pred_id(name) else {
            return Ok(Vec::new());
        };
        let mut out = BTreeSet::new();
        if op == CompareOp::Eq {
            let Ok(n) = u32::try_from(n) else {
                return Ok(Vec::new());
            };
            let prefix = keys::count_prefix(pred, reverse, n);
            for (k, _) in self.view.scan(&prefix)? {
                out.extend(keys::u64_at(&k, prefix.len()));
            }
        } else {
            let prefix = keys::count_dir_prefix(pred, reverse);
            for (k, _) in self.view.scan(&prefix)? {
                let count = k
                    .get(prefix.len()..prefix.len() + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes);
                if let Some(count) = count
                    && compare_holds(op, i64::from(count).cmp(&n))
                {
                    out.extend(keys::u64_at(&k, prefix.len() + 4));
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    fn count(&self, name: &str, reverse: bool, u: u64) -> Result<usize, GraphError> {
        let Some(pred) = self.pred_id(name) else {
            return Ok(0);
        };
        if reverse {
            return Ok(self.reverse(pred, u)?.len());
        }
        Ok(self.view.scan_keys(&keys::data_prefix(pred, u))?.len())
    }

    /// The first value of `name` on `u` (in language `lang`, if given).
    pub(super) fn first_value(
        &self,
        name: &str,
        lang: Option<&str>,
        u: u64,
    ) -> Result<Option<Val>, GraphError> {
        Ok(self
            .values(name, u, &lang_list(lang))?
            .into_iter()
            .find_map(|(_, p)| p.value))
    }

    fn node_types(&self, u: u64) -> Result<Vec<String>, GraphError> {
        Ok(self
            .values("dgraph.type", u, &[])?
            .into_iter()
            .filter_map(|(_, p)| match p.value {
                Some(Val::String(s) | Val::Default(s)) => Some(s),
                _ => None,
            })
            .collect())
    }

    // ---- ordering and pagination ----

    fn sort_value(&self, by: &OrderBy, u: u64) -> Result<Option<Val>, GraphError> {
        Ok(match by {
            OrderBy::Predicate { name, lang } => self
                .values(name, u, &lang_list(lang.as_deref()))?
                .into_iter()
                .find_map(|(_, p)| p.value),
            OrderBy::Val(v) => self.out.val_vars.get(v).and_then(|m| m.get(&u)).cloned(),
        })
    }

    pub(super) fn order_and_page(
        &self,
        uids: Vec<u64>,
        args: &EdgeArgs,
    ) -> Result<Vec<u64>, GraphError> {
        let uids = self.order(uids, args)?;
        Ok(self.page(uids, args))
    }

    /// `uids` sorted by `args`' sort keys (by uid without any), without duplicates.
    pub(super) fn order(
        &self,
        mut uids: Vec<u64>,
        args: &EdgeArgs,
    ) -> Result<Vec<u64>, GraphError> {
        if !args.order.is_empty() {
            let mut keyed = Vec::with_capacity(uids.len());
            for &u in &uids {
                let mut ks = Vec::with_capacity(args.order.len());
                for o in &args.order {
                    ks.push(self.sort_value(&o.by, u)?);
                }
                keyed.push((ks, u));
            }
            // Nodes without the sort value go last, as in Dgraph.
            keyed.sort_by(|(a, ua), (b, ub)| {
                for (i, o) in args.order.iter().enumerate() {
                    let ord = match (&a[i], &b[i]) {
                        (Some(x), Some(y)) => {
                            let c = x.cmp(y);
                            if o.desc { c.reverse() } else { c }
                        }
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                ua.cmp(ub)
            });
            uids = keyed.into_iter().map(|(_, u)| u).collect();
        } else {
            uids.sort_unstable();
            uids.dedup();
        }
        Ok(uids)
    }

    /// `after`, `offset` and `first` of `args` applied to `uids`, in their order.
    pub(super) fn page(&self, mut uids: Vec<u64>, args: &EdgeArgs) -> Vec<u64> {
        if let Some(after) = args.after {
            uids.retain(|u| *u > after);
        }
        if let Some(offset) = args.offset {
            let n = usize::try_from(offset.max(0))
                .unwrap_or(usize::MAX)
                .min(uids.len());
            uids.drain(..n);
        }
        if let Some(first) = args.first {
            if first >= 0 {
                uids.truncate(usize::try_from(first).unwrap_or(usize::MAX));
            } else {
                let n = usize::try_from(-first)
                    .unwrap_or(usize::MAX)
                    .min(uids.len());
                uids.drain(..uids.len() - n);
            }
        }
        uids
    }

    // ---- building the response ----

    /// Node `u`'s object for `fields`; `None` when `@cascade` (in `level`) removes it.
    pub(super) fn node_at(
        &mut self,
        u: u64,
        fields: &[Field],
        level: Level<'_>,
    ) -> Result<Option<Map<String, Json>>, GraphError> {
        self.path.push(u);
        let out = self.node_fields(u, fields, level);
        self.path.pop();
        out
    }

    fn node_fields(
        &mut self,
        u: u64,
        fields: &[Field],
        level: Level<'_>,
    ) -> Result<Option<Map<String, Json>>, GraphError> {
        let mut obj = Map::new();
        // The nodes each edge field showed, for aggregates over the children's variables.
        let mut shown: Vec<(usize, Vec<u64>)> = Vec::new();
        let mut missing = false;
        for (i, f) in fields.iter().enumerate() {
            match &f.kind {
                FieldKind::Uid => {
                    obj.insert(
                        f.alias.clone().unwrap_or_else(|| "uid".into()),
                        Json::String(uid_str(u)),
                    );
                }
                FieldKind::Predicate(edge) => {
                    let before = obj.len();
                    let targets = self.predicate_field(u, f, edge, &mut obj, level)?;
                    if obj.len() == before && level.requires(&edge.name) {
                        missing = true;
                    }
                    shown.push((i, targets));
                }
                FieldKind::Aggregate { .. } | FieldKind::Math(_) => {}
                FieldKind::Count(CountOf::Predicate {
                    name,
                    reverse,
                    filter,
                }) => {
                    let n = match filter {
                        None => self.count(name, *reverse, u)?,
                        Some(fl) => {
                            let targets = self.targets(name, *reverse, u)?;
                            self.filter(fl, targets.into_iter().map(|(t, _)| t).collect())?
                                .len()
                        }
                    };
                    let key = f.alias.clone().unwrap_or_else(|| {
                        format!("count({}{name})", if *reverse { "~" } else { "" })
                    });
                    if let Some(var) = &f.var {
                        self.out
                            .val_vars
                            .entry(var.clone())
                            .or_default()
                            .insert(u, Val::Int(n as i64));
                    }
                    obj.insert(key, json!(n));
                }
                FieldKind::Count(CountOf::Uid) => {}
                FieldKind::Val(v) => {
                    if let Some(val) = self.out.val_vars.get(v).and_then(|m| m.get(&u)).cloned() {
                        let key = f.alias.clone().unwrap_or_else(|| format!("val({v})"));
                        obj.insert(key, render(&val)?);
                    }
                }
                FieldKind::Checkpwd {
                    predicate,
                    password,
                } => {
                    let stored = self
                        .values(predicate, u, &[])?
                        .into_iter()
                        .find_map(|(_, p)| p.value);
                    let ok = match stored {
                        Some(Val::Password(hash)) => {
                            let (pw, hash) = (password.clone(), hash.clone());
                            tokio::task::block_in_place(|| {
                                lodestar_types::password::verify(&pw, &hash)
                            })
                        }
                        _ => false,
                    };
                    let key = f
                        .alias
                        .clone()
                        .unwrap_or_else(|| format!("checkpwd({predicate})"));
                    obj.insert(key, Json::Bool(ok));
                }
                FieldKind::Expand { what, children } => {
                    let types = match what {
                        Expand::All => self.node_types(u)?,
                        Expand::Types(t) => t.clone(),
                    };
                    let schema = self.graph.schema();
                    let mut preds: Vec<String> = Vec::new();
                    for t in types {
                        if let Some(def) = schema.types.get(&t) {
                            for field in &def.fields {
                                if !preds.contains(field) {
                                    preds.push(field.clone());
                                }
                            }
                        }
                    }
                    for p in preds {
                        if self.access.is_some_and(|a| !a.readable(&p)) {
                            continue;
                        }
                        let (name, reverse) = match p.strip_prefix('~') {
                            Some(n) => (n.to_string(), true),
                            None => (p.clone(), false),
                        };
                        // Another group's predicate has its schema there.
                        let is_edge = self
                            .schema(&name)
                            .is_some_and(|s| s.value_type == ScalarType::Uid);
                        let edge = lodestar_dql::query::ast::Edge {
                            name,
                            reverse,
                            children: if is_edge {
                                children.clone()
                            } else {
                                Vec::new()
                            },
                            ..Default::default()
                        };
                        let field = Field {
                            alias: None,
                            var: None,
                            kind: FieldKind::Predicate(edge.clone()),
                        };
                        self.predicate_field(u, &field, &edge, &mut obj, level)?;
                    }
                }
            }
        }
        if missing {
            return Ok(None);
        }
        // Aggregates and math read the variables the other fields just defined.
        for f in fields {
            match &f.kind {
                FieldKind::Aggregate { func, arg } => {
                    self.aggregate_field(u, f, *func, arg, fields, &shown, &mut obj)?
                }
                FieldKind::Math(expr) => self.math_field(u, f, expr, &mut obj)?,
                _ => {}
            }
        }
        Ok(Some(obj))
    }

    /// A level's items from the nodes that survived `@cascade` (`cascaded`: paginated now):
    /// the non-empty objects, then `count(uid)`; answers them and the level's nodes.
    fn settle(
        &mut self,
        mut kept: Vec<(u64, Map<String, Json>)>,
        fields: &[Field],
        args: &EdgeArgs,
        cascaded: bool,
    ) -> (Vec<Json>, Vec<u64>) {
        if cascaded {
            kept = page_kept(self, kept, args);
        }
        let uids: Vec<u64> = kept.iter().map(|(u, _)| *u).collect();
        let mut items: Vec<Json> = kept
            .into_iter()
            .filter(|(_, o)| !o.is_empty())
            .map(|(_, o)| Json::Object(o))
            .collect();
        self.level_extras(fields, &uids, &mut items);
        (items, uids)
    }

    /// What a selection says about its level as a whole: `count(uid)` adds `{"count": n}` to
    /// the level's items, and `v as uid` collects the level's nodes into `v`.
    fn level_extras(&mut self, fields: &[Field], uids: &[u64], items: &mut Vec<Json>) {
        for f in fields {
            if let FieldKind::Count(CountOf::Uid) = f.kind {
                let key = f.alias.clone().unwrap_or_else(|| "count".into());
                items.push(json!({ key: uids.len() }));
            }
            if let (FieldKind::Uid, Some(v)) = (&f.kind, &f.var) {
                let entry = self.out.uid_vars.entry(v.clone()).or_default();
                entry.extend(uids.iter().copied());
            }
        }
    }

    pub(super) fn targets(
        &self,
        name: &str,
        reverse: bool,
        u: u64,
    ) -> Result<Vec<(u64, Option<Posting>)>, GraphError> {
        let Some(pred) = self.pred_id(name) else {
            return Ok(Vec::new());
        };
        if reverse {
            return Ok(self
                .reverse(pred, u)?
                .into_iter()
                .map(|t| (t, None))
                .collect());
        }
        Ok(self
            .edges(pred, u)?
            .into_iter()
            .map(|(t, p)| (t, Some(p)))
            .collect())
    }

    /// Writes field `f` (predicate `edge`) of node `u` into `obj`; answers the nodes an edge
    /// showed.
    fn predicate_field(
        &mut self,
        u: u64,
        f: &Field,
        edge: &lodestar_dql::query::ast::Edge,
        obj: &mut Map<String, Json>,
        level: Level<'_>,
    ) -> Result<Vec<u64>, GraphError> {
        let shown = format!("{}{}", if edge.reverse { "~" } else { "" }, edge.name);
        let schema = self.schema(&edge.name);
        let is_edge = edge.reverse
            || schema
                .as_ref()
                .is_some_and(|s| s.value_type == ScalarType::Uid);
        if !is_edge {
            let mut postings = self.values(&edge.name, u, &edge.langs)?;
            if let Some(ff) = &edge.directives.facet_filter {
                let mut keep = Vec::with_capacity(postings.len());
                for p in postings {
                    if super::shape::facets_match(ff, &p.1.facets)? {
                        keep.push(p);
                    }
                }
                postings = keep;
            }
            if postings.is_empty() {
                return Ok(Vec::new());
            }
            let list = schema.as_ref().is_some_and(|s| s.list);
            if let Some(var) = &f.var
                && let Some((_, p)) = postings.first()
                && let Some(v) = &p.value
            {
                self.out
                    .val_vars
                    .entry(var.clone())
                    .or_default()
                    .insert(u, v.clone());
            }
            let key = |lang: &Option<String>| -> String {
                if let Some(a) = &f.alias {
                    return a.clone();
                }
                match (lang, edge.langs.iter().any(|l| l == "*")) {
                    (Some(l), true) => format!("{shown}@{l}"),
                    _ if edge.langs.is_empty() => shown.clone(),
                    _ => format!("{shown}@{}", edge.langs.join(":")),
                }
            };
            if list {
                let mut arr = Vec::new();
                // Facets of list values: one map per facet, from the value's index.
                let mut by_facet: Vec<(String, Map<String, Json>)> = Vec::new();
                for (_, p) in &postings {
                    if let Some(v) = &p.value {
                        if let Some(keys) = &edge.directives.facets {
                            for (k, fv) in self.facet_entries(keys, &p.facets, &key(&None), 0) {
                                let slot = match by_facet.iter().position(|(n, _)| *n == k) {
                                    Some(i) => i,
                                    None => {
                                        by_facet.push((k, Map::new()));
                                        by_facet.len() - 1
                                    }
                                };
                                by_facet[slot].1.insert(arr.len().to_string(), render(&fv)?);
                            }
                        }
                        arr.push(render(v)?);
                    }
                }
                obj.insert(key(&None), Json::Array(arr));
                for (k, m) in by_facet {
                    obj.insert(k, Json::Object(m));
                }
            } else {
                for (lang, p) in &postings {
                    if let Some(v) = &p.value {
                        if v.ty() == ScalarType::Password {
                            continue;
                        }
                        obj.insert(key(lang), render(v)?);
                        if let Some(keys) = &edge.directives.facets {
                            for (k, fv) in self.facet_entries(keys, &p.facets, &key(lang), 0) {
                                obj.insert(k, render(&fv)?);
                            }
                        }
                    }
                }
            }
            return Ok(Vec::new());
        }
        let targets = self.targets(&edge.name, edge.reverse, u)?;
        let facets_of: HashMap<u64, &Posting> = targets
            .iter()
            .filter_map(|(t, p)| p.as_ref().map(|p| (*t, p)))
            .collect();
        let mut uids: Vec<u64> = targets.iter().map(|(t, _)| *t).collect();
        if level.ignorereflex {
            uids.retain(|t| !self.path.contains(t));
        }
        if let Some(ff) = &edge.directives.facet_filter {
            let mut keep = Vec::with_capacity(uids.len());
            for t in uids {
                let facets = facets_of
                    .get(&t)
                    .map(|p| p.facets.as_slice())
                    .unwrap_or(&[]);
                if super::shape::facets_match(ff, facets)? {
                    keep.push(t);
                }
            }
            uids = keep;
        }
        if let Some(fl) = &edge.filter {
            uids = self.filter(fl, uids)?;
        }
        let child = level.below(&edge.directives);
        uids = self.order(uids, &edge.args)?;
        if !edge.directives.facet_order.is_empty() {
            if !edge.args.order.is_empty() {
                return Err(GraphError::Invalid(format!(
                    "cannot order {shown} by both a predicate and a facet"
                )));
            }
            super::shape::order_by_facets(&mut uids, &edge.directives.facet_order, &facets_of);
        }
        uids = if child.cascade.is_some() {
            after_only(uids, &edge.args)
        } else {
            self.page(uids, &edge.args)
        };
        if let Some(keys) = &edge.directives.groupby {
            if let Some(groups) = self.groupby(&uids, keys, &edge.children)? {
                obj.insert(f.alias.clone().unwrap_or(shown), groups);
            }
            return Ok(uids);
        }
        if let Some(var) = &f.var {
            let entry = self.out.uid_vars.entry(var.clone()).or_default();
            for t in &uids {
                if !entry.contains(t) {
                    entry.push(*t);
                }
            }
        }
        let mut kept = Vec::new();
        for t in &uids {
            let Some(mut node) = self.node_at(*t, &edge.children, child)? else {
                continue;
            };
            if let (Some(keys), Some(p)) = (&edge.directives.facets, facets_of.get(t)) {
                let prefix = f.alias.as_deref().unwrap_or(&shown);
                for (key, value) in self.facet_entries(keys, &p.facets, prefix, *t) {
                    node.insert(key, render(&value)?);
                }
            }
            kept.push((*t, node));
        }
        let (mut items, kept) =
            self.settle(kept, &edge.children, &edge.args, child.cascade.is_some());
        if edge.directives.normalize {
            items = super::shape::normalize_items(items, &edge.children)?;
        }
        if items.is_empty() {
            return Ok(kept);
        }
        let key = f.alias.clone().unwrap_or(shown);
        let single = !edge.reverse && schema.is_some_and(|s| !s.list);
        if single && items.len() == 1 && !edge.directives.normalize {
            obj.insert(key, items.pop().expect("one item"));
        } else {
            obj.insert(key, Json::Array(items));
        }
        Ok(kept)
    }
}

/// How many of the root function's matches (in uid order) a block can show: `offset + first`
/// when nothing between the root and the paging drops or reorders nodes.
fn root_limit(block: &Block) -> Option<usize> {
    let d = &block.directives;
    let plain = block.filter.is_none()
        && block.args.order.is_empty()
        && block.args.after.is_none()
        && d.cascade.is_none()
        && d.groupby.is_none()
        && d.recurse.is_none()
        && block.var.is_none()
        && block
            .children
            .iter()
            .all(|f| !matches!(f.kind, FieldKind::Count(CountOf::Uid)));
    let first = usize::try_from(block.args.first?).ok().filter(|f| *f > 0)?;
    let offset = usize::try_from(block.args.offset.unwrap_or(0)).ok()?;
    plain.then(|| offset.saturating_add(first))
}

/// `after` alone: `@cascade` pages the rest once it has removed nodes.
fn after_only(mut uids: Vec<u64>, args: &EdgeArgs) -> Vec<u64> {
    if let Some(after) = args.after {
        uids.retain(|u| *u > after);
    }
    uids
}

/// `first`/`offset` over what `@cascade` kept, in order (`after` was applied before).
fn page_kept(
    exec: &Exec<'_, '_>,
    kept: Vec<(u64, Map<String, Json>)>,
    args: &EdgeArgs,
) -> Vec<(u64, Map<String, Json>)> {
    let by_position = EdgeArgs {
        after: None,
        ..args.clone()
    };
    let keep: BTreeSet<u64> = exec
        .page((0..kept.len() as u64).collect(), &by_position)
        .into_iter()
        .collect();
    kept.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(&(*i as u64)))
        .map(|(_, k)| k)
        .collect()
}

/// Every predicate `query` reads.
pub fn query_predicates(query: &Query) -> Vec<String> {
    let mut out = Vec::new();
    for b in &query.blocks {
        if let Some(f) = &b.func {
            filter_names(&BoolExpr::Leaf(f.clone()), &mut out);
        }
        if let Some(keys) = &b.directives.groupby {
            out.extend(keys.iter().map(|k| (k.predicate.clone(), false)));
        }
        if let Some(f) = &b.filter {
            filter_names(f, &mut out);
        }
        order_names(&b.args, &mut out);
        fields_names(&b.children, &mut out);
    }
    let mut names: Vec<String> = out.into_iter().map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    names
}

/// What the query's `expand(...)`s read: whether any is `expand(_all_)`, and the types named.
pub fn expanded_types(query: &Query) -> (bool, Vec<String>) {
    fn walk(fields: &[Field], all: &mut bool, types: &mut Vec<String>) {
        for f in fields {
            match &f.kind {
                FieldKind::Expand { what, children } => {
                    match what {
                        Expand::All => *all = true,
                        Expand::Types(t) => types.extend(t.iter().cloned()),
                    }
                    walk(children, all, types);
                }
                FieldKind::Predicate(e) => walk(&e.children, all, types),
                _ => {}
            }
        }
    }
    let (mut all, mut types) = (false, Vec::new());
    for b in &query.blocks {
        walk(&b.children, &mut all, &mut types);
    }
    (all, types)
}

/// The predicates a selection reads, at every depth (`(name, reverse)`).
fn fields_names(fields: &[Field], out: &mut Vec<(String, bool)>) {
    for f in fields {
        match &f.kind {
            FieldKind::Predicate(e) => {
                out.push((e.name.clone(), e.reverse));
                if let Some(fl) = &e.filter {
                    filter_names(fl, out);
                }
                if let Some(keys) = &e.directives.groupby {
                    out.extend(keys.iter().map(|k| (k.predicate.clone(), false)));
                }
                order_names(&e.args, out);
                fields_names(&e.children, out);
            }
            FieldKind::Aggregate {
                arg: lodestar_dql::query::ast::AggArg::Predicate(p),
                ..
            } => out.push((p.clone(), false)),
            FieldKind::Count(CountOf::Predicate {
                name,
                reverse,
                filter,
            }) => {
                out.push((name.clone(), *reverse));
                if let Some(fl) = filter {
                    filter_names(fl, out);
                }
            }
            FieldKind::Checkpwd { predicate, .. } => out.push((predicate.clone(), false)),
            FieldKind::Expand { children, .. } => {
                out.push(("dgraph.type".into(), false));
                fields_names(children, out);
            }
            _ => {}
        }
    }
}

/// The predicates whose values a filter compares.
fn filter_names(f: &Filter, out: &mut Vec<(String, bool)>) {
    match f {
        BoolExpr::Leaf(func) => match func {
            Func::Compare { attr, .. } => match attr {
                Attr::Predicate { name, .. } => out.push((name.clone(), false)),
                Attr::Count { name, reverse } => out.push((name.clone(), *reverse)),
                Attr::Val(_) => {}
            },
            Func::Has { predicate, reverse } => out.push((predicate.clone(), *reverse)),
            Func::Type(_) => out.push(("dgraph.type".into(), false)),
            Func::AllOfTerms { predicate, .. }
            | Func::AnyOfTerms { predicate, .. }
            | Func::UidIn { predicate, .. }
            | Func::Text { predicate, .. }
            | Func::Regexp { predicate, .. }
            | Func::Match { predicate, .. }
            | Func::Between { predicate, .. }
            | Func::Geo { predicate, .. } => out.push((predicate.clone(), false)),
            Func::Uid(_) => {}
        },
        BoolExpr::And(parts) | BoolExpr::Or(parts) => {
            for p in parts {
                filter_names(p, out);
            }
        }
        BoolExpr::Not(inner) => filter_names(inner, out),
    }
}

/// The predicates a level is sorted by.
fn order_names(args: &EdgeArgs, out: &mut Vec<(String, bool)>) {
    for o in &args.order {
        if let OrderBy::Predicate { name, .. } = &o.by {
            out.push((name.clone(), false));
        }
    }
}

pub(super) fn render(v: &Val) -> Result<Json, GraphError> {
    v.to_json().map_err(|e| GraphError::Internal(e.to_string()))
}

fn lang_list(lang: Option<&str>) -> Vec<String> {
    lang.map(|l| l.split(':').map(str::to_string).collect())
        .unwrap_or_default()
}

fn compare_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Gt => ord == Ordering::Greater,
    }
}

/// The integer a `count(...)` is compared with.
fn count_operand(values: &[FuncValue]) -> Result<i64, GraphError> {
    match values {
        [FuncValue::Literal(s)] => s.trim().parse().map_err(|_| {
            GraphError::Invalid(format!("count must be compared with an integer, not {s:?}"))
        }),
        _ => Err(GraphError::Invalid(
            "count must be compared with one integer".into(),
        )),
    }
}

fn not_indexed(name: &str) -> GraphError {
    GraphError::Invalid(format!("Predicate {name} is not indexed"))
}
