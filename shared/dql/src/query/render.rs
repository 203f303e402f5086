//! DQL text for the syntax tree: [`super::parse_dql`] reads it back to an equal tree.

use std::fmt::{self, Display, Write};

use super::ast::*;
use super::lexer::is_word_char;
use crate::nquad::quote;

/// Writes a name bare when the lexer reads it back as one word, else as `<name>`.
fn name(out: &mut String, n: &str) {
    if !n.is_empty() && n.chars().all(is_word_char) {
        out.push_str(n);
    } else {
        let _ = write!(out, "<{n}>");
    }
}

fn name_lang(out: &mut String, n: &str, lang: Option<&str>) {
    name(out, n);
    if let Some(l) = lang {
        let _ = write!(out, "@{l}");
    }
}

fn pred(out: &mut String, n: &str, reverse: bool) {
    if reverse {
        out.push('~');
    }
    name(out, n);
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn args(out: &mut String, a: &EdgeArgs, mut first_arg: bool) {
    let mut sep = |out: &mut String| {
        if !first_arg {
            out.push_str(", ");
        }
        first_arg = false;
    };
    if let Some(v) = a.first {
        sep(out);
        let _ = write!(out, "first: {v}");
    }
    if let Some(v) = a.offset {
        sep(out);
        let _ = write!(out, "offset: {v}");
    }
    if let Some(v) = a.after {
        sep(out);
        let _ = write!(out, "after: {v:#x}");
    }
    for o in &a.order {
        sep(out);
        out.push_str(if o.desc { "orderdesc: " } else { "orderasc: " });
        match &o.by {
            OrderBy::Predicate { name: n, lang } => {
                name(out, n);
                if let Some(l) = lang {
                    let _ = write!(out, "@{l}");
                }
            }
            OrderBy::Val(v) => {
                let _ = write!(out, "val({v})");
            }
        }
    }
}

fn directives(out: &mut String, filter: &Option<Filter>, d: &Directives) {
    if let Some(f) = filter {
        let _ = write!(out, " @filter({f})");
    }
    if let Some(f) = &d.facet_filter {
        let _ = write!(out, " @facets({f})");
    }
    if let Some(keys) = &d.facets {
        out.push_str(" @facets");
        let mut items: Vec<String> = d
            .facet_order
            .iter()
            .map(|(desc, k)| {
                let mut s = String::from(if *desc { "orderdesc: " } else { "orderasc: " });
                name(&mut s, k);
                s
            })
            .collect();
        for k in keys {
            if k.alias.is_none()
                && k.var.is_none()
                && d.facet_order.iter().any(|(_, o)| o == &k.key)
            {
                continue;
            }
            let mut s = String::new();
            if let Some(v) = &k.var {
                let _ = write!(s, "{v} as ");
            }
            if let Some(a) = &k.alias {
                name(&mut s, a);
                s.push_str(": ");
            }
            name(&mut s, &k.key);
            items.push(s);
        }
        if !items.is_empty() {
            let _ = write!(out, "({})", items.join(", "));
        }
    }
    if let Some(keys) = &d.cascade {
        out.push_str(" @cascade");
        list_in_parens(out, keys);
    }
    if d.normalize {
        out.push_str(" @normalize");
    }
    if let Some(r) = &d.recurse {
        out.push_str(" @recurse");
        match r.depth {
            Some(depth) => {
                let _ = write!(out, "(depth: {depth}, loop: {})", r.allow_loop);
            }
            None if r.allow_loop => out.push_str("(loop: true)"),
            None => {}
        }
    }
    if d.ignorereflex {
        out.push_str(" @ignorereflex");
    }
    if let Some(keys) = &d.groupby {
        out.push_str(" @groupby(");
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if let Some(a) = &k.alias {
                name(out, a);
                out.push_str(": ");
            }
            name(out, &k.predicate);
            if let Some(l) = &k.lang {
                let _ = write!(out, "@{l}");
            }
        }
        out.push(')');
    }
}

fn list_in_parens(out: &mut String, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    out.push('(');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        name(out, k);
    }
    out.push(')');
}

fn selection(out: &mut String, fields: &[Field], level: usize) {
    out.push_str(" {\n");
    for f in fields {
        indent(out, level + 1);
        field(out, f, level + 1);
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
}

fn field(out: &mut String, f: &Field, level: usize) {
    if let Some(v) = &f.var {
        let _ = write!(out, "{v} as ");
    }
    if let Some(a) = &f.alias {
        name(out, a);
        out.push_str(": ");
    }
    match &f.kind {
        FieldKind::Uid => out.push_str("uid"),
        FieldKind::Predicate(e) => {
            pred(out, &e.name, e.reverse);
            if !e.langs.is_empty() {
                let _ = write!(out, "@{}", e.langs.join(":"));
            }
            if e.args != EdgeArgs::default() {
                out.push_str(" (");
                args(out, &e.args, true);
                out.push(')');
            }
            directives(out, &e.filter, &e.directives);
            if !e.children.is_empty() {
                selection(out, &e.children, level);
            }
        }
        FieldKind::Count(CountOf::Uid) => out.push_str("count(uid)"),
        FieldKind::Count(CountOf::Predicate {
            name: n,
            reverse,
            filter,
        }) => {
            out.push_str("count(");
            pred(out, n, *reverse);
            if let Some(fl) = filter {
                let _ = write!(out, " @filter({fl})");
            }
            out.push(')');
        }
        FieldKind::Val(v) => {
            let _ = write!(out, "val({v})");
        }
        FieldKind::Aggregate { func, arg } => {
            let _ = match arg {
                AggArg::Val(v) => write!(out, "{}(val({v}))", func.name()),
                AggArg::Predicate(p) => write!(out, "{}({p})", func.name()),
            };
        }
        FieldKind::Math(e) => {
            let _ = write!(out, "math({e})");
        }
        FieldKind::Expand { what, children } => {
            out.push_str("expand(");
            match what {
                Expand::All => out.push_str("_all_"),
                Expand::Types(ts) => {
                    for (i, t) in ts.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        name(out, t);
                    }
                }
            }
            out.push(')');
            if !children.is_empty() {
                selection(out, children, level);
            }
        }
        FieldKind::Checkpwd {
            predicate,
            password,
        } => {
            out.push_str("checkpwd(");
            name(out, predicate);
            let _ = write!(out, ", {})", quote(password));
        }
    }
}

fn block(out: &mut String, b: &Block, level: usize) {
    indent(out, level);
    if let Some(v) = &b.var {
        let _ = write!(out, "{v} as ");
    }
    name(out, &b.name);
    if let Some(sp) = &b.shortest {
        let end = |out: &mut String, r: &UidRef| match r {
            UidRef::Var(v) => {
                let _ = write!(out, "uid({v})");
            }
            r => uid_ref(out, r),
        };
        out.push_str("(from: ");
        end(out, &sp.from);
        out.push_str(", to: ");
        end(out, &sp.to);
        let _ = write!(out, ", numpaths: {}", sp.numpaths);
        if let Some(d) = sp.depth {
            let _ = write!(out, ", depth: {d}");
        }
        if let Some(w) = sp.minweight {
            let _ = write!(out, ", minweight: {w}");
        }
        if let Some(w) = sp.maxweight {
            let _ = write!(out, ", maxweight: {w}");
        }
        out.push(')');
    } else {
        out.push('(');
        if let Some(f) = &b.func {
            let _ = write!(out, "func: {f}");
        }
        args(out, &b.args, b.func.is_none());
        out.push(')');
    }
    directives(out, &b.filter, &b.directives);
    if !b.children.is_empty() {
        selection(out, &b.children, level);
    }
    out.push('\n');
}

/// Writes a query; `keyword` writes `query { ... }` (the form of an upsert block), with the
/// schema block inside the braces.
fn query(out: &mut String, q: &Query, level: usize, keyword: bool) {
    if let (Some(s), false) = (&q.schema, keyword) {
        indent(out, level);
        let _ = writeln!(out, "{s}");
    }
    if q.blocks.is_empty() && q.schema.is_some() && q.name.is_none() && !keyword {
        return;
    }
    indent(out, level);
    match (&q.name, keyword) {
        (Some(n), _) => {
            let _ = write!(out, "query {n} ");
        }
        (None, true) => out.push_str("query "),
        (None, false) => {}
    }
    out.push_str("{\n");
    if let (Some(s), true) = (&q.schema, keyword) {
        indent(out, level + 1);
        let _ = writeln!(out, "{s}");
    }
    for b in &q.blocks {
        block(out, b, level + 1);
    }
    indent(out, level);
    out.push_str("}\n");
}

fn mutation(out: &mut String, m: &Mutation, level: usize) {
    for (kw, nquads) in [("set", &m.set), ("delete", &m.delete)] {
        if nquads.is_empty() {
            continue;
        }
        indent(out, level);
        let _ = writeln!(out, "{kw} {{");
        for nq in nquads {
            indent(out, level + 1);
            let _ = writeln!(out, "{nq}");
        }
        indent(out, level);
        out.push_str("}\n");
    }
}

fn uid_ref(out: &mut String, r: &UidRef) {
    let _ = match r {
        UidRef::Uid(u) => write!(out, "{u:#x}"),
        UidRef::Var(v) => write!(out, "{v}"),
    };
}

impl Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match self {
            Func::Uid(refs) => {
                out.push_str("uid(");
                for (i, r) in refs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    uid_ref(&mut out, r);
                }
                out.push(')');
            }
            Func::Compare { op, attr, values } => {
                let _ = write!(out, "{}(", op.name());
                match attr {
                    Attr::Predicate { name: n, lang } => {
                        name(&mut out, n);
                        if let Some(l) = lang {
                            let _ = write!(out, "@{l}");
                        }
                    }
                    Attr::Val(v) => {
                        let _ = write!(out, "val({v})");
                    }
                    Attr::Count { name: n, reverse } => {
                        out.push_str("count(");
                        pred(&mut out, n, *reverse);
                        out.push(')');
                    }
                }
                out.push_str(", ");
                let many = values.len() != 1;
                if many {
                    out.push('[');
                }
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match v {
                        FuncValue::Literal(s) => out.push_str(&quote(s)),
                        FuncValue::Val(v) => {
                            let _ = write!(out, "val({v})");
                        }
                    }
                }
                if many {
                    out.push(']');
                }
                out.push(')');
            }
            Func::Has { predicate, reverse } => {
                out.push_str("has(");
                pred(&mut out, predicate, *reverse);
                out.push(')');
            }
            Func::Type(t) => {
                let _ = write!(out, "type({})", quote(t));
            }
            Func::AllOfTerms {
                predicate,
                lang,
                terms,
            }
            | Func::AnyOfTerms {
                predicate,
                lang,
                terms,
            } => {
                out.push_str(if matches!(self, Func::AllOfTerms { .. }) {
                    "allofterms("
                } else {
                    "anyofterms("
                });
                name(&mut out, predicate);
                if let Some(l) = lang {
                    let _ = write!(out, "@{l}");
                }
                let _ = write!(out, ", {})", quote(terms));
            }
            Func::Text {
                all,
                predicate,
                lang,
                text,
            } => {
                out.push_str(if *all { "alloftext(" } else { "anyoftext(" });
                name_lang(&mut out, predicate, lang.as_deref());
                let _ = write!(out, ", {})", quote(text));
            }
            Func::Regexp {
                predicate,
                lang,
                pattern,
                ignore_case,
            } => {
                out.push_str("regexp(");
                name_lang(&mut out, predicate, lang.as_deref());
                out.push_str(", /");
                let mut chars = pattern.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '/' => out.push_str("\\/"),
                        '\\' => {
                            out.push('\\');
                            if let Some(next) = chars.next() {
                                out.push(next);
                            }
                        }
                        c => out.push(c),
                    }
                }
                out.push('/');
                if *ignore_case {
                    out.push('i');
                }
                out.push(')');
            }
            Func::Match {
                predicate,
                lang,
                text,
                distance,
            } => {
                out.push_str("match(");
                name_lang(&mut out, predicate, lang.as_deref());
                let _ = write!(out, ", {}, {distance})", quote(text));
            }
            Func::Between {
                predicate,
                lang,
                low,
                high,
            } => {
                out.push_str("between(");
                name_lang(&mut out, predicate, lang.as_deref());
                let _ = write!(out, ", {}, {})", quote(low), quote(high));
            }
            Func::Geo {
                op,
                predicate,
                shape,
                distance,
            } => {
                let _ = write!(out, "{}(", op.name());
                name(&mut out, predicate);
                let _ = write!(out, ", {}", shape.to_geojson()["coordinates"]);
                if let Some(d) = distance {
                    let _ = write!(out, ", {d}");
                }
                out.push(')');
            }
            Func::UidIn { predicate, uids } => {
                out.push_str("uid_in(");
                name(&mut out, predicate);
                out.push_str(", [");
                for (i, r) in uids.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    uid_ref(&mut out, r);
                }
                out.push_str("])");
            }
        }
        f.write_str(&out)
    }
}

/// Writes the expression fully parenthesized, so it reads back to the same tree.
impl Display for MathExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MathExpr::Number(n) => f.write_str(n),
            MathExpr::Var(v) => f.write_str(v),
            MathExpr::Unary(op, e) => write!(f, "{}({e})", op.symbol()),
            MathExpr::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            MathExpr::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Display for LenCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(len({}), {})", self.op.name(), self.var, self.value)
    }
}

/// Writes `AND` / `OR` / `NOT`, parenthesizing nested `AND` / `OR` so the tree reads back
/// unchanged.
impl<T: Display> Display for BoolExpr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand<T: Display>(f: &mut fmt::Formatter<'_>, e: &BoolExpr<T>) -> fmt::Result {
            match e {
                BoolExpr::And(_) | BoolExpr::Or(_) => write!(f, "({e})"),
                _ => write!(f, "{e}"),
            }
        }
        match self {
            BoolExpr::Leaf(t) => t.fmt(f),
            BoolExpr::And(items) | BoolExpr::Or(items) => {
                let sep = if matches!(self, BoolExpr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    operand(f, e)?;
                }
                Ok(())
            }
            BoolExpr::Not(e) => {
                f.write_str("NOT ")?;
                operand(f, e)
            }
        }
    }
}

impl Display for SchemaQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("schema");
        let mut parts = Vec::new();
        for (key, names) in [("pred", &self.predicates), ("type", &self.types)] {
            if !names.is_empty() {
                let mut p = format!("{key}: [");
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        p.push_str(", ");
                    }
                    name(&mut p, n);
                }
                p.push(']');
                parts.push(p);
            }
        }
        if !parts.is_empty() {
            let _ = write!(out, "({})", parts.join(", "));
        }
        out.push_str(" {");
        for field in &self.fields {
            let _ = write!(out, " {field}");
        }
        out.push_str(" }");
        f.write_str(&out)
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        query(&mut out, self, 0, false);
        f.write_str(&out)
    }
}

impl Display for Mutation {
    /// The `{ set { } delete { } }` mutation block, with the `@if` condition first when there
    /// is one (that form is only valid inside an upsert block).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        if let Some(c) = &self.cond {
            let _ = write!(out, "@if({c}) ");
        }
        out.push_str("{\n");
        mutation(&mut out, self, 1);
        out.push_str("}\n");
        f.write_str(&out)
    }
}

impl Display for Upsert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("upsert {\n");
        query(&mut out, &self.query, 1, true);
        for m in &self.mutations {
            out.push_str("  mutation ");
            if let Some(c) = &m.cond {
                let _ = write!(out, "@if({c}) ");
            }
            out.push_str("{\n");
            mutation(&mut out, m, 2);
            out.push_str("  }\n");
        }
        out.push_str("}\n");
        f.write_str(&out)
    }
}

impl Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Document::Query(q) => q.fmt(f),
            Document::Upsert(u) => u.fmt(f),
            Document::Mutation(m) => m.fmt(f),
        }
    }
}
