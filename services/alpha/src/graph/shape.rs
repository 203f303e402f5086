//! The query features that shape a result beyond reading nodes: `@cascade` and `@ignorereflex`
//! context ([`Level`]), `@normalize`, `@groupby`, `@recurse`, shortest paths, aggregates and
//! `math(...)`, each giving Dgraph's JSON.

use super::GraphError;
use super::query::{Exec, render};
use lodestar_dql::query::ast::{
    AggArg, Aggregate, Attr, Block, BoolExpr, CompareOp, Directives, FacetKey, Field, FieldKind,
    Filter, Func, FuncValue, GroupKey, MathExpr, MathOp, Recurse, Shortest, UidRef,
};
use lodestar_types::tokenizer;
use lodestar_types::value::{ScalarType, Val};
use serde_json::{Map, Value as Json};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

/// What a level of a selection inherits from above.
#[derive(Debug, Clone, Copy, Default)]
pub struct Level<'q> {
    /// `@cascade` in force: `Some(&[])` every field, `Some(list)` those predicates.
    pub cascade: Option<&'q [String]>,
    /// `@ignorereflex`: a node never lists a node above it.
    pub ignorereflex: bool,
}

impl<'q> Level<'q> {
    /// Whether a node at this level without predicate `name` is left out.
    pub fn requires(&self, name: &str) -> bool {
        match self.cascade {
            None => false,
            Some([]) => true,
            Some(list) => list.iter().any(|p| p == name || p == "__all__"),
        }
    }

    /// The level below an edge with `directives`: its own `@cascade` replaces the inherited.
    pub fn below(&self, directives: &'q Directives) -> Level<'q> {
        Level {
            cascade: directives.cascade.as_deref().or(self.cascade),
            ignorereflex: self.ignorereflex,
        }
    }
}

/// Whether an edge's (or value's) `facets` satisfy a `@facets(...)` filter: comparisons
/// convert the literal to the facet's type (`eq(tag, "34")` matches an int 34), term
/// functions match string facets word by word; a missing facet matches nothing.
pub fn facets_match(filter: &Filter, facets: &[(String, Val)]) -> Result<bool, GraphError> {
    Ok(match filter {
        BoolExpr::Leaf(func) => facet_func(func, facets)?,
        BoolExpr::And(parts) => {
            for p in parts {
                if !facets_match(p, facets)? {
                    return Ok(false);
                }
            }
            true
        }
        BoolExpr::Or(parts) => {
            for p in parts {
                if facets_match(p, facets)? {
                    return Ok(true);
                }
            }
            false
        }
        BoolExpr::Not(inner) => !facets_match(inner, facets)?,
    })
}

fn facet_func(func: &Func, facets: &[(String, Val)]) -> Result<bool, GraphError> {
    let find = |k: &str| facets.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    match func {
        Func::Compare {
            op,
            attr: Attr::Predicate { name, .. },
            values,
        } => {
            let Some(have) = find(name) else {
                return Ok(false);
            };
            for v in values {
                let FuncValue::Literal(text) = v else {
                    return Err(GraphError::Invalid(
                        "facet filters compare with literal values".into(),
                    ));
                };
                let Ok(want) = Val::String(text.clone()).convert(have.ty()) else {
                    continue;
                };
                if have.compare(&want).is_some_and(|o| {
                    matches!(
                        (op, o),
                        (CompareOp::Eq, Ordering::Equal)
                            | (CompareOp::Lt, Ordering::Less)
                            | (CompareOp::Gt, Ordering::Greater)
                            | (CompareOp::Le, Ordering::Less | Ordering::Equal)
                            | (CompareOp::Ge, Ordering::Greater | Ordering::Equal)
                    )
                }) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Func::AllOfTerms {
            predicate, terms, ..
        }
        | Func::AnyOfTerms {
            predicate, terms, ..
        } => {
            let Some(Val::String(text) | Val::Default(text)) = find(predicate) else {
                return Ok(false);
            };
            let have: HashSet<String> = tokenizer::terms(text).into_iter().collect();
            let want = tokenizer::terms(terms);
            Ok(!want.is_empty()
                && if matches!(func, Func::AllOfTerms { .. }) {
                    want.iter().all(|t| have.contains(t))
                } else {
                    want.iter().any(|t| have.contains(t))
                })
        }
        other => Err(GraphError::Invalid(format!(
            "function {} cannot filter facets; use eq, le, lt, ge, gt, allofterms or anyofterms",
            func_name(other)
        ))),
    }
}

fn func_name(f: &Func) -> String {
    let text = f.to_string();
    text.split('(').next().unwrap_or("").to_string()
}

/// Orders `uids` by their edges' facets (`true`: descending), edges without one last.
pub fn order_by_facets(
    uids: &mut [u64],
    order: &[(bool, String)],
    facets_of: &HashMap<u64, &super::posting::Posting>,
) {
    let value = |u: &u64, k: &str| {
        facets_of
            .get(u)
            .and_then(|p| p.facets.iter().find(|(n, _)| n == k))
            .map(|(_, v)| v.clone())
    };
    uids.sort_by(|a, b| {
        for (desc, k) in order {
            let ord = match (value(a, k), value(b, k)) {
                (Some(x), Some(y)) => {
                    // Facets carry their own types: 2 and 0.5 compare as numbers.
                    let c = match (as_f64(&x), as_f64(&y)) {
                        (Some(p), Some(q)) => p.total_cmp(&q),
                        _ => x.cmp(&y),
                    };
                    if *desc { c.reverse() } else { c }
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

/// How deep a recursive answer may nest: each level is a frame while it is built, written
/// and freed.
const MAX_RECURSE_LEVELS: usize = 1_000;

/// The edges a recursive answer holds so far, and how many it may.
struct Shown {
    edges: usize,
    limit: usize,
}

/// Dgraph's words when a query passes its `query-edge` limit.
fn edge_limit_exceeded(limit: usize, edges: usize) -> GraphError {
    GraphError::Invalid(format!(
        "Exceeded query edge limit = {limit}. Found {edges} edges."
    ))
}

/// How many paths the shortest-path search may extend before it gives up.
const MAX_PATH_STEPS: usize = 1_000_000;

/// `@normalize`: every item becomes flat rows of its aliased values, one row per combination
/// of its edges' rows.
/// At most this many rows come out of one `@normalize` (Dgraph's default `normalize-node`
/// limit): the rows are a product over edges, which a small query can make enormous.
pub const MAX_NORMALIZED_ROWS: usize = 10_000;

pub fn normalize_items(items: Vec<Json>, fields: &[Field]) -> Result<Vec<Json>, GraphError> {
    let mut out = Vec::new();
    for item in items {
        if let Json::Object(obj) = item {
            for row in flatten(&obj, fields)? {
                if !row.is_empty() {
                    out.push(Json::Object(row));
                    too_many(out.len())?;
                }
            }
        }
    }
    Ok(out)
}

fn too_many(rows: usize) -> Result<(), GraphError> {
    if rows > MAX_NORMALIZED_ROWS {
        return Err(GraphError::Invalid(format!(
            "Couldn't evaluate @normalize directive - too many results (more than {MAX_NORMALIZED_ROWS} rows)"
        )));
    }
    Ok(())
}

fn field_key(f: &Field) -> Option<String> {
    if let Some(a) = &f.alias {
        return Some(a.clone());
    }
    match &f.kind {
        FieldKind::Predicate(e) => Some(format!("{}{}", if e.reverse { "~" } else { "" }, e.name)),
        _ => None,
    }
}

fn flatten(
    obj: &Map<String, Json>,
    fields: &[Field],
) -> Result<Vec<Map<String, Json>>, GraphError> {
    let mut base = Map::new();
    let mut groups: Vec<Vec<Map<String, Json>>> = Vec::new();
    let mut edge_keys = HashSet::new();
    for f in fields {
        let Some(key) = field_key(f) else { continue };
        let Some(value) = obj.get(&key) else { continue };
        let children: Vec<&Map<String, Json>> = match value {
            Json::Object(m) => vec![m],
            Json::Array(a) if a.iter().all(Json::is_object) && !a.is_empty() => {
                a.iter().filter_map(Json::as_object).collect()
            }
            _ => Vec::new(),
        };
        if let (FieldKind::Predicate(e), false) = (&f.kind, children.is_empty()) {
            edge_keys.insert(key.clone());
            let mut rows = Vec::new();
            for c in children {
                rows.extend(flatten(c, &e.children)?);
                too_many(rows.len())?;
            }
            if !rows.is_empty() {
                groups.push(rows);
            }
            continue;
        }
        if f.alias.is_some() && key != "uid" {
            base.insert(key, value.clone());
        }
    }
    // Facets travel without aliases.
    for (k, v) in obj {
        if k.contains('|') && !edge_keys.contains(k) {
            base.insert(k.clone(), v.clone());
        }
    }
    let mut rows = vec![base];
    for group in groups {
        // Checked before the product is built.
        too_many(rows.len().saturating_mul(group.len()))?;
        let mut next = Vec::with_capacity(rows.len() * group.len());
        for r in &rows {
            for g in &group {
                let mut merged = r.clone();
                for (k, v) in g {
                    merge_key(&mut merged, k, v.clone());
                }
                next.push(merged);
            }
        }
        rows = next;
    }
    Ok(rows)
}

/// A key already in a flattened row becomes a list of both values.
fn merge_key(row: &mut Map<String, Json>, k: &str, v: Json) {
    match row.get_mut(k) {
        None => {
            row.insert(k.to_string(), v);
        }
        Some(Json::Array(a)) => a.push(v),
        Some(old) => {
            let first = old.take();
            *old = Json::Array(vec![first, v]);
        }
    }
}

/// A float as Dgraph prints it: integral values without a fraction.
fn number(f: f64) -> Json {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Json::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Json::Number)
            .unwrap_or(Json::Null)
    }
}

fn agg_key(f: &Field, func: Aggregate, arg: &AggArg) -> String {
    f.alias.clone().unwrap_or_else(|| match arg {
        AggArg::Val(v) => format!("{}(val({v}))", func.name()),
        AggArg::Predicate(p) => format!("{}({p})", func.name()),
    })
}

/// `func` over `values`: min and max of any comparable values; sum of ints or floats (values
/// of another type than the first are skipped); avg always a float.
pub fn aggregate(func: Aggregate, values: &[Val]) -> Option<Val> {
    let first = values.first()?;
    match func {
        Aggregate::Min | Aggregate::Max => {
            let mut best = first.clone();
            for v in &values[1..] {
                let ord = v.compare(&best);
                let better = match func {
                    Aggregate::Min => ord == Some(Ordering::Less),
                    _ => ord == Some(Ordering::Greater),
                };
                if better {
                    best = v.clone();
                }
            }
            Some(best)
        }
        Aggregate::Sum | Aggregate::Avg => {
            let (sum, n) = match first {
                Val::Int(_) => {
                    let ints: Vec<i64> = values
                        .iter()
                        .filter_map(|v| match v {
                            Val::Int(i) => Some(*i),
                            _ => None,
                        })
                        .collect();
                    let total = ints.iter().fold(0i64, |a, b| a.saturating_add(*b));
                    if func == Aggregate::Sum {
                        return Some(Val::Int(total));
                    }
                    (total as f64, ints.len())
                }
                Val::Float(_) => {
                    let floats: Vec<f64> = values
                        .iter()
                        .filter_map(|v| match v {
                            Val::Float(f) => Some(*f),
                            _ => None,
                        })
                        .collect();
                    (floats.iter().sum::<f64>(), floats.len())
                }
                _ => return None,
            };
            if func == Aggregate::Sum {
                return Some(Val::Float(sum));
            }
            Some(Val::Float(if n == 0 { 0.0 } else { sum / n as f64 }))
        }
    }
}

impl Exec<'_, '_> {
    /// The facets `keys` selects (all of them when empty) as (output key, value): `prefix|key`
    /// or the facet's alias. A facet variable records the value for the edge's `target`
    /// (summed when several edges reach it); `target` 0 (a value's facets) records none.
    pub(super) fn facet_entries(
        &mut self,
        keys: &[FacetKey],
        facets: &[(String, Val)],
        prefix: &str,
        target: u64,
    ) -> Vec<(String, Val)> {
        let mut out = Vec::new();
        for (name, value) in facets {
            let chosen = if keys.is_empty() {
                None
            } else {
                match keys.iter().find(|k| &k.key == name) {
                    Some(k) => Some(k),
                    None => continue,
                }
            };
            let key = match chosen.and_then(|k| k.alias.clone()) {
                Some(alias) => alias,
                None => format!("{prefix}|{name}"),
            };
            if let (Some(var), true) = (chosen.and_then(|k| k.var.as_ref()), target != 0) {
                let vars = self.out.val_vars.entry(var.clone()).or_default();
                let sum = match (vars.get(&target), value) {
                    (Some(Val::Int(a)), Val::Int(b)) => Some(Val::Int(a.saturating_add(*b))),
                    (Some(old), new) => {
                        as_f64(old).zip(as_f64(new)).map(|(a, b)| Val::Float(a + b))
                    }
                    (None, new) => Some(new.clone()),
                };
                if let Some(v) = sum {
                    vars.insert(target, v);
                }
            }
            out.push((key, value.clone()));
        }
        out
    }

    /// A block without a root function: one object per aggregate or math field, over every
    /// value of the variables (`null` when there is none).
    pub(super) fn empty_block(&mut self, block: &Block) -> Result<Json, GraphError> {
        let mut items = Vec::new();
        for f in &block.children {
            let (key, value) = match &f.kind {
                FieldKind::Aggregate { func, arg } => {
                    let AggArg::Val(v) = arg else {
                        return Err(only_vars(arg));
                    };
                    let values: Vec<Val> = self
                        .out
                        .val_vars
                        .get(v)
                        .map(|m| m.values().cloned().collect())
                        .unwrap_or_default();
                    (agg_key(f, *func, arg), aggregate(*func, &values))
                }
                FieldKind::Math(expr) => {
                    let key = math_key(f)?;
                    (key, self.math(expr, 0)?)
                }
                _ => {
                    return Err(GraphError::Invalid(format!(
                        "Only aggregation/math functions allowed inside empty blocks. Got: {}",
                        f.label()
                    )));
                }
            };
            if let (Some(var), Some(v)) = (&f.var, &value) {
                self.out
                    .val_vars
                    .entry(var.clone())
                    .or_default()
                    .insert(0, v.clone());
            }
            let mut obj = Map::new();
            obj.insert(
                key,
                match &value {
                    Some(v) => render(v)?,
                    None => Json::Null,
                },
            );
            items.push(Json::Object(obj));
        }
        Ok(Json::Array(items))
    }

    /// An aggregate at node `u` over a variable its children (along a sibling edge) define.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn aggregate_field(
        &mut self,
        u: u64,
        f: &Field,
        func: Aggregate,
        arg: &AggArg,
        fields: &[Field],
        shown: &[(usize, Vec<u64>)],
        obj: &mut Map<String, Json>,
    ) -> Result<(), GraphError> {
        let AggArg::Val(var) = arg else {
            return Err(only_vars(arg));
        };
        let defining = shown.iter().find(|(i, _)| match &fields[*i].kind {
            FieldKind::Predicate(e) => e.children.iter().any(|c| c.var.as_ref() == Some(var)),
            _ => false,
        });
        let Some((_, targets)) = defining else {
            return Err(GraphError::Invalid(
                "Invalid variable aggregation. Check the levels.".into(),
            ));
        };
        let values: Vec<Val> = match self.out.val_vars.get(var) {
            Some(m) => targets.iter().filter_map(|t| m.get(t).cloned()).collect(),
            None => Vec::new(),
        };
        let Some(value) = aggregate(func, &values) else {
            return Ok(());
        };
        if let Some(name) = &f.var {
            self.out
                .val_vars
                .entry(name.clone())
                .or_default()
                .insert(u, value.clone());
        }
        obj.insert(agg_key(f, func, arg), render(&value)?);
        Ok(())
    }

    /// `math(...)` at node `u`.
    pub(super) fn math_field(
        &mut self,
        u: u64,
        f: &Field,
        expr: &MathExpr,
        obj: &mut Map<String, Json>,
    ) -> Result<(), GraphError> {
        let key = math_key(f)?;
        // A value that cannot be computed for this node (division by zero...) leaves it out.
        let Ok(Some(value)) = self.math(expr, u) else {
            return Ok(());
        };
        if let Some(name) = &f.var {
            self.out
                .val_vars
                .entry(name.clone())
                .or_default()
                .insert(u, value.clone());
        }
        obj.insert(key, render(&value)?);
        Ok(())
    }

    /// Evaluates `expr` for node `u`: a variable's value at `u` (or its one value when an
    /// empty block defined it), 0 when it has none.
    fn math(&self, expr: &MathExpr, u: u64) -> Result<Option<Val>, GraphError> {
        Ok(Some(match expr {
            MathExpr::Number(n) => {
                match n.parse::<i64>() {
                    Ok(i) => Val::Int(i),
                    Err(_) => Val::Float(n.parse().map_err(|_| {
                        GraphError::Invalid(format!("{n} is not a number in math( )"))
                    })?),
                }
            }
            MathExpr::Var(v) => {
                let m = self.out.val_vars.get(v);
                m.and_then(|m| {
                    m.get(&u)
                        .or_else(|| (m.len() == 1).then(|| m.get(&0)).flatten())
                })
                .cloned()
                .unwrap_or(Val::Int(0))
            }
            MathExpr::Unary(op, e) => {
                let Some(v) = self.math(e, u)? else {
                    return Ok(None);
                };
                match (op, v) {
                    (MathOp::Sub, Val::Int(i)) => Val::Int(i.checked_neg().ok_or_else(overflow)?),
                    (MathOp::Sub, Val::Float(f)) => Val::Float(-f),
                    (MathOp::Not, Val::Bool(b)) => Val::Bool(!b),
                    (op, v) => {
                        return Err(GraphError::Invalid(format!(
                            "Wrong type {} encountered for func {}",
                            v.ty().name(),
                            op.symbol()
                        )));
                    }
                }
            }
            MathExpr::Binary(op, a, b) => {
                let (Some(a), Some(b)) = (self.math(a, u)?, self.math(b, u)?) else {
                    return Ok(None);
                };
                binary(*op, a, b)?
            }
            MathExpr::Call(name, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    match self.math(a, u)? {
                        Some(v) => vals.push(v),
                        None => return Ok(None),
                    }
                }
                call(name, vals)?
            }
        }))
    }

    /// `@groupby(keys)` over `uids`: `[{"@groupby": [groups]}]`, groups by size then key
    /// values; `None` without any group.
    pub(super) fn groupby(
        &mut self,
        uids: &[u64],
        keys: &[GroupKey],
        fields: &[Field],
    ) -> Result<Option<Json>, GraphError> {
        for f in fields {
            match &f.kind {
                FieldKind::Aggregate { .. }
                | FieldKind::Count(lodestar_dql::query::ast::CountOf::Uid) => {}
                FieldKind::Count(_) => {
                    return Err(GraphError::Invalid(
                        "Only uid predicate is allowed in count within groupby".into(),
                    ));
                }
                _ => {
                    return Err(GraphError::Invalid(format!(
                        "Only aggregator/count functions allowed inside @groupby. Got: {}",
                        f.label()
                    )));
                }
            }
        }
        let by_uid: Vec<bool> = keys
            .iter()
            .map(|k| self.is_uid_predicate(&k.predicate))
            .collect();
        if fields.iter().any(|f| f.var.is_some()) && !(keys.len() == 1 && by_uid[0]) {
            return Err(GraphError::Invalid(
                "Vars can be assigned only when grouped by UID attribute".into(),
            ));
        }
        let mut groups: BTreeMap<Vec<Val>, Vec<u64>> = BTreeMap::new();
        for &u in uids {
            let mut combos: Vec<Vec<Val>> = vec![Vec::new()];
            for (k, &is_uid) in keys.iter().zip(&by_uid) {
                let values: Vec<Val> = if is_uid {
                    self.edge_targets(&k.predicate, u)?
                        .into_iter()
                        .map(Val::Uid)
                        .collect()
                } else {
                    self.first_value(&k.predicate, k.lang.as_deref(), u)?
                        .into_iter()
                        .collect()
                };
                let mut next = Vec::new();
                for c in &combos {
                    for v in &values {
                        let mut c = c.clone();
                        c.push(v.clone());
                        next.push(c);
                    }
                }
                combos = next;
            }
            for c in combos {
                groups.entry(c).or_default().push(u);
            }
        }
        if groups.is_empty() {
            return Ok(None);
        }
        let mut ordered: Vec<(Vec<Val>, Vec<u64>)> = groups.into_iter().collect();
        ordered.sort_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| a.0.cmp(&b.0)));
        let mut out = Vec::new();
        for (values, members) in ordered {
            let mut obj = Map::new();
            for (k, v) in keys.iter().zip(&values) {
                let key = k.alias.clone().unwrap_or_else(|| match &k.lang {
                    Some(l) => format!("{}@{l}", k.predicate),
                    None => k.predicate.clone(),
                });
                obj.insert(key, render(v)?);
            }
            for f in fields {
                let (key, value) = match &f.kind {
                    FieldKind::Aggregate { func, arg } => {
                        let mut vals = Vec::new();
                        for &m in &members {
                            match arg {
                                AggArg::Predicate(p) => vals.extend(self.first_value(p, None, m)?),
                                AggArg::Val(v) => vals.extend(
                                    self.out.val_vars.get(v).and_then(|vm| vm.get(&m)).cloned(),
                                ),
                            }
                        }
                        (agg_key(f, *func, arg), aggregate(*func, &vals))
                    }
                    _ => (
                        f.alias.clone().unwrap_or_else(|| "count".into()),
                        Some(Val::Int(members.len() as i64)),
                    ),
                };
                let Some(value) = value else { continue };
                if let (Some(var), Some(Val::Uid(g))) = (&f.var, values.first()) {
                    self.out
                        .val_vars
                        .entry(var.clone())
                        .or_default()
                        .insert(*g, value.clone());
                }
                obj.insert(key, render(&value)?);
            }
            out.push(Json::Object(obj));
        }
        let mut wrapper = Map::new();
        wrapper.insert("@groupby".into(), Json::Array(out));
        Ok(Some(Json::Array(vec![Json::Object(wrapper)])))
    }

    fn is_uid_predicate(&self, name: &str) -> bool {
        self.schema(name)
            .is_some_and(|s| s.value_type == ScalarType::Uid)
    }

    fn edge_targets(&self, name: &str, u: u64) -> Result<Vec<u64>, GraphError> {
        Ok(self
            .targets(name, false, u)?
            .into_iter()
            .map(|(t, _)| t)
            .collect())
    }

    /// `@recurse`: the block's predicates followed level by level from `uids`, each edge
    /// (predicate, from, to) at most once unless `loop` is set, `depth` levels at most
    /// (counting the root's).
    pub(super) fn recurse(
        &mut self,
        uids: &[u64],
        block: &Block,
        r: Recurse,
    ) -> Result<Json, GraphError> {
        let fields = &block.children;
        let mut edge_fields = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if let FieldKind::Predicate(e) = &f.kind {
                if !e.children.is_empty() {
                    return Err(GraphError::Invalid(
                        "recurse queries require that all predicates are specified in one level"
                            .into(),
                    ));
                }
                if e.reverse || self.is_uid_predicate(&e.name) {
                    edge_fields.push(i);
                }
            }
        }
        let depth = r.depth.filter(|d| *d > 0);
        let limit = self.graph.query_edge_limit();
        let mut edges = 0usize;
        let mut seen: HashSet<(usize, u64, u64)> = HashSet::new();
        let mut children: HashMap<(usize, u64, usize), Vec<u64>> = HashMap::new();
        let mut current: Vec<u64> = uids.to_vec();
        let mut lvl = 0usize;
        loop {
            if depth.is_some_and(|d| (lvl as u64) + 1 >= d) || current.is_empty() {
                break;
            }
            let mut next = BTreeSet::new();
            for &u in &current {
                for &i in &edge_fields {
                    let FieldKind::Predicate(e) = &fields[i].kind else {
                        continue;
                    };
                    let mut ts: Vec<u64> = self
                        .targets(&e.name, e.reverse, u)?
                        .into_iter()
                        .map(|(t, _)| t)
                        .collect();
                    if let Some(fl) = &e.filter {
                        ts = self.filter(fl, ts)?;
                    }
                    ts = self.order_and_page(ts, &e.args)?;
                    if !r.allow_loop {
                        ts.retain(|t| seen.insert((i, u, *t)));
                    }
                    if let Some(var) = &fields[i].var {
                        let entry = self.out.uid_vars.entry(var.clone()).or_default();
                        for t in &ts {
                            if !entry.contains(t) {
                                entry.push(*t);
                            }
                        }
                    }
                    edges = edges.saturating_add(ts.len());
                    if edges > limit {
                        return Err(edge_limit_exceeded(limit, edges));
                    }
                    next.extend(ts.iter().copied());
                    if !ts.is_empty() {
                        children.insert((lvl, u, i), ts);
                    }
                }
            }
            current = next.into_iter().collect();
            lvl += 1;
            // Without a depth, a level that adds no edge ends the recursion.
            if depth.is_none() && children.keys().all(|(l, _, _)| *l < lvl - 1) {
                break;
            }
        }
        let scalar_fields: Vec<Field> = fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !edge_fields.contains(i))
            .map(|(_, f)| f.clone())
            .collect();
        // Levels may repeat nodes (with `loop`, or nodes reached along several paths), so the
        // answer can hold far more edges than were followed: it is held to the limit too.
        let mut shown = Shown { edges: 0, limit };
        let mut items = Vec::new();
        for &u in uids {
            let obj = self.recurse_node(
                u,
                0,
                fields,
                (&edge_fields, &scalar_fields),
                &children,
                &mut shown,
            )?;
            if !obj.is_empty() {
                items.push(Json::Object(obj));
            }
        }
        Ok(Json::Array(items))
    }

    fn recurse_node(
        &mut self,
        u: u64,
        lvl: usize,
        fields: &[Field],
        (edge_fields, scalar_fields): (&[usize], &[Field]),
        children: &HashMap<(usize, u64, usize), Vec<u64>>,
        shown: &mut Shown,
    ) -> Result<Map<String, Json>, GraphError> {
        if lvl >= MAX_RECURSE_LEVELS {
            return Err(GraphError::Invalid(format!(
                "recurse went deeper than {MAX_RECURSE_LEVELS} levels; give it a depth"
            )));
        }
        let mut obj = self
            .node_at(u, scalar_fields, Level::default())?
            .unwrap_or_default();
        for &i in edge_fields {
            let Some(kids) = children.get(&(lvl, u, i)) else {
                continue;
            };
            let FieldKind::Predicate(e) = &fields[i].kind else {
                continue;
            };
            shown.edges = shown.edges.saturating_add(kids.len());
            if shown.edges > shown.limit {
                return Err(edge_limit_exceeded(shown.limit, shown.edges));
            }
            let mut items = Vec::new();
            for &t in kids {
                let child = self.recurse_node(
                    t,
                    lvl + 1,
                    fields,
                    (edge_fields, scalar_fields),
                    children,
                    shown,
                )?;
                if !child.is_empty() {
                    items.push(Json::Object(child));
                }
            }
            if items.is_empty() {
                continue;
            }
            let key = field_key(&fields[i]).unwrap_or_else(|| e.name.clone());
            let single = !e.reverse && self.schema(&e.name).is_some_and(|s| !s.list);
            if single && items.len() == 1 {
                obj.insert(key, items.pop().expect("one item"));
            } else {
                obj.insert(key, Json::Array(items));
            }
        }
        Ok(obj)
    }

    /// A shortest-path block: the `numpaths` cheapest loopless paths from `from` to `to` over
    /// the block's predicates (cost 1 per edge, or the facet named in `@facets(weight)`),
    /// under `_path_`; the block's variable holds the first path's nodes in path order.
    pub(super) fn shortest(
        &mut self,
        block: &Block,
        sp: &Shortest,
    ) -> Result<Option<Json>, GraphError> {
        let end = |this: &Self, r: &UidRef, what: &str| -> Result<Option<u64>, GraphError> {
            let uids = this.uid_refs(std::slice::from_ref(r));
            match uids.as_slice() {
                [] => Ok(None),
                [u] => Ok(Some(*u)),
                _ => Err(GraphError::Invalid(format!(
                    "{what} in shortest path can only take one uid, the variable holds {}",
                    uids.len()
                ))),
            }
        };
        let (Some(from), Some(to)) = (end(self, &sp.from, "from")?, end(self, &sp.to, "to")?)
        else {
            return Ok(None);
        };
        struct Via<'a> {
            name: &'a str,
            reverse: bool,
            weight: Option<&'a str>,
            field: &'a Field,
        }
        let mut vias = Vec::new();
        for f in &block.children {
            match &f.kind {
                FieldKind::Predicate(e) => {
                    let weight = match &e.directives.facets {
                        Some(keys) if keys.len() > 1 => {
                            return Err(GraphError::Invalid(format!(
                                "Expected 1 but got {} facets",
                                keys.len()
                            )));
                        }
                        Some(keys) => keys.first().map(|k| k.key.as_str()),
                        None => None,
                    };
                    vias.push(Via {
                        name: &e.name,
                        reverse: e.reverse,
                        weight,
                        field: f,
                    });
                }
                FieldKind::Expand { .. } => {
                    return Err(GraphError::Invalid(
                        "expand is not allowed in a shortest path query".into(),
                    ));
                }
                _ => {}
            }
        }
        // A hop: (node, the via index and its facet value).
        type Hop = (u64, Option<(usize, Option<Val>)>);
        let mut heap: BinaryHeap<Reverse<(OrderedCost, usize)>> = BinaryHeap::new();
        let mut paths: Vec<(f64, Vec<Hop>)> = vec![(0.0, vec![(from, None)])];
        heap.push(Reverse((OrderedCost(0.0), 0)));
        let k = sp.numpaths.max(1) as usize;
        let mut popped: HashMap<u64, usize> = HashMap::new();
        let mut found: Vec<(f64, Vec<Hop>)> = Vec::new();
        let mut steps = 0usize;
        while let Some(Reverse((OrderedCost(cost), idx))) = heap.pop() {
            steps += 1;
            if steps > MAX_PATH_STEPS {
                return Err(GraphError::Invalid(format!(
                    "the shortest path search visited more than {MAX_PATH_STEPS} paths; give it a depth or a maxweight"
                )));
            }
            let path = std::mem::take(&mut paths[idx].1);
            let last = path.last().map(|h| h.0).unwrap_or(from);
            let count = popped.entry(last).or_default();
            *count += 1;
            if *count > k {
                continue;
            }
            if last == to {
                if k == 1 || sp.minweight.is_none_or(|w| cost >= w) {
                    found.push((cost, path));
                    if found.len() == k {
                        break;
                    }
                }
                continue;
            }
            if sp.depth.is_some_and(|d| (path.len() as u64) > d) {
                continue;
            }
            for (vi, via) in vias.iter().enumerate() {
                let FieldKind::Predicate(e) = &via.field.kind else {
                    continue;
                };
                let targets = self.targets(via.name, via.reverse, last)?;
                let mut allowed: Vec<u64> = targets.iter().map(|(t, _)| *t).collect();
                if let Some(fl) = &e.filter {
                    allowed = self.filter(fl, allowed)?;
                }
                for (t, posting) in targets {
                    if !allowed.contains(&t) || path.iter().any(|h| h.0 == t) {
                        continue;
                    }
                    let (w, facet) = match via.weight {
                        None => (1.0, None),
                        Some(key) => {
                            let value = posting
                                .as_ref()
                                .and_then(|p| p.facets.iter().find(|(k, _)| k == key))
                                .map(|(_, v)| v.clone());
                            match &value {
                                Some(Val::Int(i)) => (*i as f64, value),
                                Some(Val::Float(f)) => (*f, value),
                                _ => continue,
                            }
                        }
                    };
                    let next_cost = cost + w;
                    if k > 1 && sp.maxweight.is_some_and(|m| next_cost > m) {
                        continue;
                    }
                    let mut next = path.clone();
                    next.push((t, Some((vi, facet))));
                    paths.push((next_cost, next));
                    heap.push(Reverse((OrderedCost(next_cost), paths.len() - 1)));
                }
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        if let Some(var) = &block.var {
            let nodes: Vec<u64> = found[0].1.iter().map(|h| h.0).collect();
            self.out.uid_vars.insert(var.clone(), nodes.clone());
            self.ordered_vars.insert(var.clone(), nodes);
        }
        let mut out = Vec::new();
        for (cost, path) in found {
            // Built from the far end inwards.
            let mut inner: Option<(String, Map<String, Json>)> = None;
            for (node, via) in path.iter().rev() {
                let mut obj = Map::new();
                obj.insert("uid".into(), Json::String(format!("{node:#x}")));
                if let Some((key, child)) = inner.take() {
                    obj.insert(key, Json::Object(child));
                }
                match via {
                    Some((vi, facet)) => {
                        let v = &vias[*vi];
                        let name = format!("{}{}", if v.reverse { "~" } else { "" }, v.name);
                        if let (Some(key), Some(val)) = (v.weight, facet) {
                            obj.insert(format!("{name}|{key}"), render(val)?);
                        }
                        inner = Some((name, obj));
                    }
                    None => {
                        obj.insert("_weight_".into(), number(cost));
                        inner = Some((String::new(), obj));
                    }
                }
            }
            if let Some((_, root)) = inner {
                out.push(Json::Object(root));
            }
        }
        Ok(Some(Json::Array(out)))
    }
}

/// A path cost in the search heap (costs are never NaN: facet weights are numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedCost(f64);

impl Eq for OrderedCost {}

impl PartialOrd for OrderedCost {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedCost {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn only_vars(arg: &AggArg) -> GraphError {
    let got = match arg {
        AggArg::Val(v) => v.clone(),
        AggArg::Predicate(p) => p.clone(),
    };
    GraphError::Invalid(format!(
        "Only variables allowed in aggregate functions. Got: {got}"
    ))
}

fn math_key(f: &Field) -> Result<String, GraphError> {
    match (&f.alias, &f.var) {
        (Some(a), _) => Ok(a.clone()),
        (None, Some(v)) => Ok(format!("val({v})")),
        (None, None) => Err(GraphError::Invalid(
            "Function math should be used with a variable or have an alias".into(),
        )),
    }
}

fn overflow() -> GraphError {
    GraphError::Invalid("Integer overflow".into())
}

fn as_f64(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    }
}

fn binary(op: MathOp, a: Val, b: Val) -> Result<Val, GraphError> {
    use MathOp::*;
    let wrong = || {
        GraphError::Invalid(format!(
            "invalid types {}, {} for func {}",
            a.ty().name(),
            b.ty().name(),
            op.symbol()
        ))
    };
    match op {
        Lt | Le | Gt | Ge | Eq | Ne => {
            let ord = match (&a, &b) {
                (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => as_f64(&a)
                    .zip(as_f64(&b))
                    .and_then(|(x, y)| x.partial_cmp(&y)),
                _ => a.compare(&b),
            }
            .ok_or_else(wrong)?;
            return Ok(Val::Bool(match op {
                Lt => ord == Ordering::Less,
                Le => ord != Ordering::Greater,
                Gt => ord == Ordering::Greater,
                Ge => ord != Ordering::Less,
                Eq => ord == Ordering::Equal,
                _ => ord != Ordering::Equal,
            }));
        }
        And | Or => {
            let (Val::Bool(x), Val::Bool(y)) = (&a, &b) else {
                return Err(wrong());
            };
            return Ok(Val::Bool(if op == And { *x && *y } else { *x || *y }));
        }
        _ => {}
    }
    if let (Val::Int(x), Val::Int(y)) = (&a, &b) {
        let (x, y) = (*x, *y);
        return Ok(Val::Int(match op {
            Add => x.checked_add(y).ok_or_else(overflow)?,
            Sub => x.checked_sub(y).ok_or_else(overflow)?,
            Mul => x.checked_mul(y).ok_or_else(overflow)?,
            Div | Rem if y == 0 => return Err(GraphError::Invalid("Division by zero".into())),
            Div => x.checked_div(y).ok_or_else(overflow)?,
            Rem => x.checked_rem(y).ok_or_else(overflow)?,
            _ => return Err(wrong()),
        }));
    }
    let (Some(x), Some(y)) = (as_f64(&a), as_f64(&b)) else {
        return Err(wrong());
    };
    Ok(Val::Float(match op {
        Add => x + y,
        Sub => x - y,
        Mul => x * y,
        Div | Rem if y == 0.0 => return Err(GraphError::Invalid("Division by zero".into())),
        Div => x / y,
        Rem => x % y,
        _ => return Err(wrong()),
    }))
}

fn call(name: &str, args: Vec<Val>) -> Result<Val, GraphError> {
    let num = |v: &Val| {
        as_f64(v).ok_or_else(|| {
            GraphError::Invalid(format!(
                "Wrong type {} encountered for func {name}",
                v.ty().name()
            ))
        })
    };
    Ok(match (name, args.as_slice()) {
        ("min" | "max", [a, b]) => {
            let ord = match (a, b) {
                (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
                    num(a)?.partial_cmp(&num(b)?)
                }
                _ => a.compare(b),
            }
            .ok_or_else(|| {
                GraphError::Invalid(format!(
                    "invalid types {}, {} for func {name}",
                    a.ty().name(),
                    b.ty().name()
                ))
            })?;
            let a_wins = if name == "min" {
                ord != Ordering::Greater
            } else {
                ord != Ordering::Less
            };
            if a_wins { a.clone() } else { b.clone() }
        }
        ("pow", [a, b]) => {
            let (x, y) = (num(a)?, num(b)?);
            if x < 0.0 && y.fract() != 0.0 {
                return Err(GraphError::Invalid(
                    "Fractional power of negative number".into(),
                ));
            }
            Val::Float(x.powf(y))
        }
        ("logbase", [a, b]) => {
            let (x, base) = (num(a)?, num(b)?);
            if x <= 0.0 || base <= 0.0 {
                return Err(GraphError::Invalid("Log of negative number".into()));
            }
            Val::Float(x.ln() / base.ln())
        }
        ("ln", [a]) => {
            let x = num(a)?;
            if x <= 0.0 {
                return Err(GraphError::Invalid("Log of negative number".into()));
            }
            Val::Float(x.ln())
        }
        ("exp", [a]) => Val::Float(num(a)?.exp()),
        ("sqrt", [a]) => {
            let x = num(a)?;
            if x < 0.0 {
                return Err(GraphError::Invalid("Root of negative number".into()));
            }
            Val::Float(x.sqrt())
        }
        ("floor" | "ceil", [Val::Int(i)]) => Val::Int(*i),
        ("floor", [a]) => Val::Float(num(a)?.floor()),
        ("ceil", [a]) => Val::Float(num(a)?.ceil()),
        ("since", [Val::DateTime(t)]) => {
            let now = chrono::Utc::now();
            let elapsed = now.signed_duration_since(t.with_timezone(&chrono::Utc));
            Val::Float(elapsed.num_nanoseconds().unwrap_or(i64::MAX) as f64 / 1e9)
        }
        ("since", [v]) => {
            return Err(GraphError::Invalid(format!(
                "Wrong type {} encountered for func since",
                v.ty().name()
            )));
        }
        ("cond", [c, a, b]) => match c {
            Val::Bool(true) => a.clone(),
            Val::Bool(false) => b.clone(),
            _ => {
                return Err(GraphError::Invalid(
                    "First variable of conditional function not a bool value".into(),
                ));
            }
        },
        _ => {
            return Err(GraphError::Invalid(format!(
                "Unknown math function: {name}"
            )));
        }
    })
}
