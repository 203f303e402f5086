//! The DQL syntax tree: what the alpha's query engine executes. GraphQL-style `$variables` are
//! already substituted, so the tree holds only literal values.

use std::collections::BTreeSet;

use crate::nquad::{NQuad, Object, Subject};

/// Any DQL text a client can send: a query, an upsert block, or a `{ set { } delete { } }`
/// mutation block.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// Query blocks and/or a schema query.
    Query(Query),
    /// `upsert { query { } mutation { } }`.
    Upsert(Upsert),
    /// `{ set { ... } delete { ... } }`.
    Mutation(Mutation),
}

/// A query request: the blocks of every `{ ... }` / `query name(...) { ... }` operation, and the
/// `schema` block if there is one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The operation name of `query name(...) { }`, if given.
    pub name: Option<String>,
    /// The query blocks, in the order written (including `var` blocks).
    pub blocks: Vec<Block>,
    /// `schema { ... }` / `schema(pred: [...]) { ... }`.
    pub schema: Option<SchemaQuery>,
}

/// A top-level block: `me(func: eq(name, "x"), first: 10) @filter(...) { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The block's name in the response; `var` for a var block.
    pub name: String,
    /// The uid variable the block defines: `v as var(func: ...)`.
    pub var: Option<String>,
    /// The root function, `func: ...`; none in a block that only aggregates variables
    /// (`me() { min(val(x)) }`) and in a shortest-path block.
    pub func: Option<Func>,
    /// `shortest(from: ..., to: ...)`: the block finds paths rather than nodes.
    pub shortest: Option<Shortest>,
    /// Pagination and ordering.
    pub args: EdgeArgs,
    /// `@filter(...)`.
    pub filter: Option<Filter>,
    /// `@cascade`, `@normalize`, `@facets`.
    pub directives: Directives,
    /// The selection set.
    pub children: Vec<Field>,
}

impl Block {
    /// Whether this is a `var` block, which computes variables but is not returned.
    pub fn is_var_block(&self) -> bool {
        self.name == "var"
    }
}

/// The arguments of a `shortest(...)` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortest {
    /// `from:`, a uid or a uid variable holding one node.
    pub from: UidRef,
    /// `to:`.
    pub to: UidRef,
    /// `numpaths:` (default 1).
    pub numpaths: u64,
    /// `depth:`, the most edges a path may have.
    pub depth: Option<u64>,
    /// `minweight:`, the least total weight a path may have.
    pub minweight: Option<f64>,
    /// `maxweight:`, the most total weight a path may have.
    pub maxweight: Option<f64>,
}

/// `first`, `offset`, `after`, `orderasc` / `orderdesc` of a block or edge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeArgs {
    /// `first: N` (negative: the last N).
    pub first: Option<i64>,
    /// `offset: N`.
    pub offset: Option<i64>,
    /// `after: 0x…`, the uid to page after.
    pub after: Option<u64>,
    /// Sort keys, most significant first.
    pub order: Vec<Order>,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// `orderdesc` rather than `orderasc`.
    pub desc: bool,
    /// What to sort by.
    pub by: OrderBy,
}

/// The sort attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderBy {
    /// A predicate, optionally in one language (`name@en`).
    Predicate {
        /// The predicate.
        name: String,
        /// The language, if given.
        lang: Option<String>,
    },
    /// A value variable, `val(v)`.
    Val(String),
}

/// Directives other than `@filter`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Directives {
    /// `@facets` (`Some(vec![])`: all facets) or `@facets(a, b, alias: c, v as d)`.
    pub facets: Option<Vec<FacetKey>>,
    /// `@facets(eq(close, true))`: only edges whose facets satisfy it.
    pub facet_filter: Option<Filter>,
    /// `@facets(orderasc: since)`: edges ordered by a facet, most significant first (`true`:
    /// descending).
    pub facet_order: Vec<(bool, String)>,
    /// `@cascade` (`Some(vec![])`: every child) or `@cascade(a, b)`.
    pub cascade: Option<Vec<String>>,
    /// `@normalize`.
    pub normalize: bool,
    /// `@recurse(depth: N, loop: bool)`.
    pub recurse: Option<Recurse>,
    /// `@ignorereflex`: a node never lists itself among its descendants.
    pub ignorereflex: bool,
    /// `@groupby(a, b)`: the predicates the level is grouped by.
    pub groupby: Option<Vec<GroupKey>>,
}

impl Directives {
    /// Whether no directive is set.
    pub fn is_empty(&self) -> bool {
        self == &Directives::default()
    }
}

/// A facet selected by `@facets(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetKey {
    /// The facet.
    pub key: String,
    /// `alias: key`: the key it is shown under.
    pub alias: Option<String>,
    /// `v as key`: the value variable it defines (keyed by the edge's target).
    pub var: Option<String>,
}

impl FacetKey {
    /// A facet selected by name alone.
    pub fn named(key: impl Into<String>) -> FacetKey {
        FacetKey {
            key: key.into(),
            alias: None,
            var: None,
        }
    }
}

/// The arguments of `@recurse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recurse {
    /// `depth:`, how many levels to follow (none: until no new node is reached).
    pub depth: Option<u64>,
    /// `loop:`, whether a node already on the path may be visited again.
    pub allow_loop: bool,
}

/// One key of `@groupby(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    /// `alias: pred`.
    pub alias: Option<String>,
    /// The predicate.
    pub predicate: String,
    /// Its language, if given.
    pub lang: Option<String>,
}

/// An entry of a selection set.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// `alias: ...`.
    pub alias: Option<String>,
    /// The variable this field defines, `v as ...` (a value variable for scalars, a uid
    /// variable for edges).
    pub var: Option<String>,
    /// What is selected.
    pub kind: FieldKind,
}

impl Field {
    /// How the field is named in messages: the predicate (`~friend`), `uid`, `count`,
    /// `val(v)`, `checkpwd(p)`, the aggregate or `math`.
    pub fn label(&self) -> String {
        match &self.kind {
            FieldKind::Uid => "uid".into(),
            FieldKind::Predicate(e) => format!("{}{}", if e.reverse { "~" } else { "" }, e.name),
            FieldKind::Count(_) => "count".into(),
            FieldKind::Val(v) => format!("val({v})"),
            FieldKind::Expand { .. } => "expand".into(),
            FieldKind::Checkpwd { predicate, .. } => format!("checkpwd({predicate})"),
            FieldKind::Aggregate { func, .. } => func.name().into(),
            FieldKind::Math(_) => "math".into(),
        }
    }
}

/// What a field selects.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// `uid`.
    Uid,
    /// A predicate, scalar (`name@en`) or edge with a nested selection (`friend { name }`).
    Predicate(Edge),
    /// `count(friend)`, `count(~friend)`, `count(uid)`.
    Count(CountOf),
    /// `val(v)`.
    Val(String),
    /// `expand(_all_) { ... }` / `expand(Type1, Type2)`.
    Expand {
        /// Which predicates to expand.
        what: Expand,
        /// The selection applied to expanded edges.
        children: Vec<Field>,
    },
    /// `min(val(v))`, `max`, `sum`, `avg`: one value from a value variable's values over the
    /// level (or, below a node, over the node's children that defined it); inside `@groupby`,
    /// `max(pred)` over the group's values of a predicate.
    Aggregate {
        /// Which aggregate.
        func: Aggregate,
        /// What it aggregates.
        arg: AggArg,
    },
    /// `math(expr)` over value variables.
    Math(MathExpr),
    /// `checkpwd(pred, "password")`.
    Checkpwd {
        /// The password predicate.
        predicate: String,
        /// The clear-text password to check.
        password: String,
    },
}

/// A predicate selection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Edge {
    /// The predicate name, without `~`.
    pub name: String,
    /// Whether the reverse edge is selected (`~friend`).
    pub reverse: bool,
    /// Languages, in preference order (`name@en:fr`); may hold `.` (any language) or `*` (all).
    pub langs: Vec<String>,
    /// Pagination and ordering of the edge's targets.
    pub args: EdgeArgs,
    /// `@filter(...)` on the edge's targets.
    pub filter: Option<Filter>,
    /// `@facets`, `@cascade`, `@normalize`.
    pub directives: Directives,
    /// The nested selection; empty for a scalar.
    pub children: Vec<Field>,
}

/// What an aggregate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggArg {
    /// `val(v)`: a value variable.
    Val(String),
    /// A predicate (only inside `@groupby`).
    Predicate(String),
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// `min`
    Min,
    /// `max`
    Max,
    /// `sum`
    Sum,
    /// `avg`
    Avg,
}

impl Aggregate {
    /// The DQL name.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
        }
    }

    /// The aggregate called `name`, if any.
    pub fn from_name(name: &str) -> Option<Aggregate> {
        [
            Aggregate::Min,
            Aggregate::Max,
            Aggregate::Sum,
            Aggregate::Avg,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// A `math(...)` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum MathExpr {
    /// A number as written (`2`, `0.5`).
    Number(String),
    /// A value variable, by name.
    Var(String),
    /// `-x`, `!x`.
    Unary(MathOp, Box<MathExpr>),
    /// `a op b`.
    Binary(MathOp, Box<MathExpr>, Box<MathExpr>),
    /// `ln(x)`, `pow(a, b)`, `cond(c, a, b)`, `since(t)`, `min(a, b)`...
    Call(String, Vec<MathExpr>),
}

/// The operators of a math expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MathOp {
    /// `+`
    Add,
    /// `-` (binary or unary)
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `&&`
    And,
    /// `||`
    Or,
    /// `!` (unary)
    Not,
}

impl MathOp {
    /// How it is written.
    pub fn symbol(self) -> &'static str {
        match self {
            MathOp::Add => "+",
            MathOp::Sub => "-",
            MathOp::Mul => "*",
            MathOp::Div => "/",
            MathOp::Rem => "%",
            MathOp::Lt => "<",
            MathOp::Le => "<=",
            MathOp::Gt => ">",
            MathOp::Ge => ">=",
            MathOp::Eq => "==",
            MathOp::Ne => "!=",
            MathOp::And => "&&",
            MathOp::Or => "||",
            MathOp::Not => "!",
        }
    }
}

impl MathExpr {
    /// The value variables the expression reads.
    pub fn vars(&self, out: &mut BTreeSet<String>) {
        match self {
            MathExpr::Number(_) => {}
            MathExpr::Var(v) => {
                out.insert(v.clone());
            }
            MathExpr::Unary(_, e) => e.vars(out),
            MathExpr::Binary(_, a, b) => {
                a.vars(out);
                b.vars(out);
            }
            MathExpr::Call(_, args) => args.iter().for_each(|a| a.vars(out)),
        }
    }
}

/// The argument of `count(...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum CountOf {
    /// `count(uid)`: how many nodes the enclosing block matched.
    Uid,
    /// `count(pred)` / `count(~pred)`, optionally filtered.
    Predicate {
        /// The predicate, without `~`.
        name: String,
        /// Whether it is the reverse edge.
        reverse: bool,
        /// `count(friend @filter(...))`.
        filter: Option<Filter>,
    },
}

/// The argument of `expand(...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expand {
    /// `_all_`: every predicate of the node's types.
    All,
    /// The predicates of these types.
    Types(Vec<String>),
}

/// A boolean combination of leaves: `@filter` conditions and upsert `@if` conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum BoolExpr<T> {
    /// One function.
    Leaf(T),
    /// All must hold.
    And(Vec<BoolExpr<T>>),
    /// One must hold.
    Or(Vec<BoolExpr<T>>),
    /// Must not hold.
    Not(Box<BoolExpr<T>>),
}

/// A `@filter(...)` expression.
pub type Filter = BoolExpr<Func>;

/// An upsert mutation's `@if(...)` expression.
pub type Condition = BoolExpr<LenCondition>;

/// `eq(len(v), 1)`: compares the number of uids in a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenCondition {
    /// The comparison.
    pub op: CompareOp,
    /// The variable whose length is compared.
    pub var: String,
    /// The number compared with.
    pub value: i64,
}

/// Comparison functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `le`
    Le,
    /// `lt`
    Lt,
    /// `ge`
    Ge,
    /// `gt`
    Gt,
}

impl CompareOp {
    /// The DQL function name.
    pub fn name(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Le => "le",
            CompareOp::Lt => "lt",
            CompareOp::Ge => "ge",
            CompareOp::Gt => "gt",
        }
    }
}

/// A function, at the root (`func: ...`) or in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Func {
    /// `uid(0x1, 0x2, v)`.
    Uid(Vec<UidRef>),
    /// `eq(attr, v1, [v2, ...])`, `le/lt/ge/gt(attr, v)`.
    Compare {
        /// The comparison.
        op: CompareOp,
        /// What is compared.
        attr: Attr,
        /// The values (several only for `eq`).
        values: Vec<FuncValue>,
    },
    /// `has(pred)` / `has(~pred)`.
    Has {
        /// The predicate, without `~`.
        predicate: String,
        /// Whether it is the reverse edge.
        reverse: bool,
    },
    /// `type(Name)`.
    Type(String),
    /// `allofterms(pred, "terms")`.
    AllOfTerms {
        /// The predicate.
        predicate: String,
        /// Its language, if given (`name@en`).
        lang: Option<String>,
        /// The terms, as written.
        terms: String,
    },
    /// `anyofterms(pred, "terms")`.
    AnyOfTerms {
        /// The predicate.
        predicate: String,
        /// Its language, if given.
        lang: Option<String>,
        /// The terms, as written.
        terms: String,
    },
    /// `uid_in(pred, 0x1)` / `uid_in(pred, [0x1, 0x2])` / `uid_in(pred, uid(v))`.
    UidIn {
        /// The uid predicate.
        predicate: String,
        /// The uids the edge must point to (any of them).
        uids: Vec<UidRef>,
    },
    /// `alloftext(pred, "text")` (`all`) / `anyoftext(pred, "text")`: full-text search.
    Text {
        /// Whether every word must occur (`alloftext`) or any (`anyoftext`).
        all: bool,
        /// The predicate.
        predicate: String,
        /// Its language, if given: the text is analysed in it.
        lang: Option<String>,
        /// The text, as written.
        text: String,
    },
    /// `regexp(pred, /pattern/flags)`.
    Regexp {
        /// The predicate.
        predicate: String,
        /// Its language, if given.
        lang: Option<String>,
        /// The expression between the slashes (`\/` read as `/`).
        pattern: String,
        /// The `i` flag.
        ignore_case: bool,
    },
    /// `match(pred, "text", distance)`: values within a Levenshtein distance of the text.
    Match {
        /// The predicate.
        predicate: String,
        /// Its language, if given.
        lang: Option<String>,
        /// The text, as written.
        text: String,
        /// The largest distance that matches.
        distance: u32,
    },
    /// `between(pred, low, high)`: values in `[low, high]`.
    Between {
        /// The predicate.
        predicate: String,
        /// Its language, if given.
        lang: Option<String>,
        /// The lower bound, as written.
        low: String,
        /// The upper bound, as written.
        high: String,
    },
    /// `near`, `within`, `contains`, `intersects` on a geo predicate.
    Geo {
        /// Which function.
        op: GeoOp,
        /// The predicate.
        predicate: String,
        /// The geometry argument.
        shape: GeoShape,
        /// The distance in metres (`near` only).
        distance: Option<f64>,
    },
}

/// A geo function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoOp {
    /// `near(pred, [long, lat], metres)`.
    Near,
    /// `within(pred, polygon)`.
    Within,
    /// `contains(pred, point or polygon)`.
    Contains,
    /// `intersects(pred, polygon)`.
    Intersects,
}

impl GeoOp {
    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            GeoOp::Near => "near",
            GeoOp::Within => "within",
            GeoOp::Contains => "contains",
            GeoOp::Intersects => "intersects",
        }
    }
}

/// A geometry written as nested `[longitude, latitude]` lists.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoShape {
    /// `[long, lat]`.
    Point([f64; 2]),
    /// `[[[long, lat], ...], ...]`: rings, the first the outer one.
    Polygon(Vec<Vec<[f64; 2]>>),
    /// `[[[[long, lat], ...]], ...]`: polygons.
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

impl GeoShape {
    /// The shape as a GeoJSON geometry object.
    pub fn to_geojson(&self) -> serde_json::Value {
        match self {
            GeoShape::Point(p) => serde_json::json!({"type": "Point", "coordinates": p}),
            GeoShape::Polygon(rings) => {
                serde_json::json!({"type": "Polygon", "coordinates": rings})
            }
            GeoShape::MultiPolygon(polys) => {
                serde_json::json!({"type": "MultiPolygon", "coordinates": polys})
            }
        }
    }
}

/// What a comparison compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A predicate's value, optionally in one language.
    Predicate {
        /// The predicate.
        name: String,
        /// Its language, if given.
        lang: Option<String>,
    },
    /// A value variable, `val(v)`.
    Val(String),
    /// The number of edges, `count(pred)`.
    Count {
        /// The predicate, without `~`.
        name: String,
        /// Whether it is the reverse edge.
        reverse: bool,
    },
}

/// A value a comparison compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum FuncValue {
    /// A literal, as written (quoted or not); converted to the predicate's type at run time.
    Literal(String),
    /// A value variable, `val(v)`.
    Val(String),
}

/// A uid or a uid variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UidRef {
    /// A literal uid.
    Uid(u64),
    /// A uid variable.
    Var(String),
}

/// `schema { type index }` / `schema(pred: [a, b], type: [T]) { ... }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaQuery {
    /// Only these predicates (empty: all).
    pub predicates: Vec<String>,
    /// Only these types (empty: all).
    pub types: Vec<String>,
    /// The schema fields asked for (`type`, `index`, ...); empty: all.
    pub fields: Vec<String>,
}

/// An upsert block: a query whose variables the mutations use.
#[derive(Debug, Clone, PartialEq)]
pub struct Upsert {
    /// The `query { ... }` part.
    pub query: Query,
    /// The `mutation [@if(...)] { ... }` parts, in order.
    pub mutations: Vec<Mutation>,
}

/// One mutation of an upsert or mutation block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mutation {
    /// `@if(...)`: the mutation runs only when this holds.
    pub cond: Option<Condition>,
    /// N-Quads of the `set { }` blocks.
    pub set: Vec<NQuad>,
    /// N-Quads of the `delete { }` blocks.
    pub delete: Vec<NQuad>,
}

impl Query {
    /// Every variable the query defines (`v as ...`).
    pub fn defined_vars(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for b in &self.blocks {
            out.extend(b.var.iter().cloned());
            fields_defined(&b.children, &mut out);
        }
        out
    }

    /// Every variable the query uses (`uid(v)`, `val(v)`, ...).
    pub fn used_vars(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for b in &self.blocks {
            if let Some(f) = &b.func {
                func_used(f, &mut out);
            }
            if let Some(sp) = &b.shortest {
                for r in [&sp.from, &sp.to] {
                    if let UidRef::Var(v) = r {
                        out.insert(v.clone());
                    }
                }
            }
            args_used(&b.args, &mut out);
            if let Some(f) = &b.filter {
                filter_used(f, &mut out);
            }
            fields_used(&b.children, &mut out);
        }
        out
    }
}

impl Mutation {
    /// Every variable the mutation uses, in its N-Quads and its condition.
    pub fn used_vars(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for nq in self.set.iter().chain(&self.delete) {
            if let Subject::Var(v) = &nq.subject {
                out.insert(v.clone());
            }
            if let Object::UidVar(v) | Object::ValVar(v) = &nq.object {
                out.insert(v.clone());
            }
        }
        if let Some(c) = &self.cond {
            c.for_each_leaf(&mut |l| {
                out.insert(l.var.clone());
            });
        }
        out
    }
}

impl<T> BoolExpr<T> {
    /// Calls `f` on every leaf, left to right.
    pub fn for_each_leaf(&self, f: &mut impl FnMut(&T)) {
        match self {
            BoolExpr::Leaf(t) => f(t),
            BoolExpr::And(v) | BoolExpr::Or(v) => v.iter().for_each(|e| e.for_each_leaf(f)),
            BoolExpr::Not(e) => e.for_each_leaf(f),
        }
    }
}

fn fields_defined(fields: &[Field], out: &mut BTreeSet<String>) {
    for f in fields {
        out.extend(f.var.iter().cloned());
        match &f.kind {
            FieldKind::Predicate(e) => {
                for k in e.directives.facets.iter().flatten() {
                    out.extend(k.var.iter().cloned());
                }
                fields_defined(&e.children, out)
            }
            FieldKind::Expand { children, .. } => fields_defined(children, out),
            _ => {}
        }
    }
}

fn fields_used(fields: &[Field], out: &mut BTreeSet<String>) {
    for f in fields {
        match &f.kind {
            FieldKind::Predicate(e) => {
                args_used(&e.args, out);
                if let Some(fl) = &e.filter {
                    filter_used(fl, out);
                }
                fields_used(&e.children, out);
            }
            FieldKind::Count(CountOf::Predicate {
                filter: Some(fl), ..
            }) => filter_used(fl, out),
            FieldKind::Val(v)
            | FieldKind::Aggregate {
                arg: AggArg::Val(v),
                ..
            } => {
                out.insert(v.clone());
            }
            FieldKind::Math(e) => e.vars(out),
            FieldKind::Expand { children, .. } => fields_used(children, out),
            _ => {}
        }
    }
}

fn args_used(args: &EdgeArgs, out: &mut BTreeSet<String>) {
    for o in &args.order {
        if let OrderBy::Val(v) = &o.by {
            out.insert(v.clone());
        }
    }
}

fn filter_used(f: &Filter, out: &mut BTreeSet<String>) {
    f.for_each_leaf(&mut |func| func_used(func, out));
}

fn func_used(f: &Func, out: &mut BTreeSet<String>) {
    match f {
        Func::Uid(refs) | Func::UidIn { uids: refs, .. } => {
            for r in refs {
                if let UidRef::Var(v) = r {
                    out.insert(v.clone());
                }
            }
        }
        Func::Compare { attr, values, .. } => {
            if let Attr::Val(v) = attr {
                out.insert(v.clone());
            }
            for v in values {
                if let FuncValue::Val(v) = v {
                    out.insert(v.clone());
                }
            }
        }
        _ => {}
    }
}
