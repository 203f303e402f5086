//! Recursive-descent parser for DQL queries, upsert blocks, mutation blocks and `@if`
//! conditions.

use std::collections::{HashMap, HashSet};

use super::ast::*;
use super::lexer::{Lexer, Tok, Token};
use crate::cursor::{MAX_DEPTH, parse_uid};
use crate::error::{ParseError, Pos, Result};
use crate::nquad::{Mode, parse_block};

/// Functions of DQL this parser knows but does not support, so that their error says so
/// rather than calling them unknown.
const UNSUPPORTED_FUNCS: &[&str] = &[
    "alloftext",
    "anyoftext",
    "regexp",
    "match",
    "near",
    "within",
    "contains",
    "intersects",
    "between",
    "similar_to",
    "checkpwd",
    "math",
    "min",
    "max",
    "sum",
    "avg",
];

const DIRECTIVES: &[&str] = &["filter", "facets", "cascade", "normalize"];
const UNSUPPORTED_DIRECTIVES: &[&str] = &["recurse", "groupby", "ignorereflex", "if"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VarType {
    Int,
    Float,
    Bool,
    Str,
}

#[derive(Debug)]
struct VarDef {
    value: Option<String>,
}

/// An argument of a function call as written, before the function gives it a meaning.
#[derive(Debug, Clone)]
enum RawArg {
    Text {
        text: String,
        quoted: bool,
        from_var: bool,
        lang: Option<String>,
        pos: Pos,
    },
    List(Vec<RawArg>, Pos),
    Call {
        name: String,
        args: Vec<RawArg>,
        pos: Pos,
    },
}

impl RawArg {
    fn pos(&self) -> Pos {
        match self {
            RawArg::Text { pos, .. } | RawArg::List(_, pos) | RawArg::Call { pos, .. } => *pos,
        }
    }

    fn describe(&self) -> String {
        match self {
            RawArg::Text { text, quoted: true, .. } => format!("\"{text}\""),
            RawArg::Text { text, .. } => text.clone(),
            RawArg::List(..) => "a list".to_string(),
            RawArg::Call { name, .. } => format!("{name}(...)"),
        }
    }

    /// A bare name: a predicate, a variable or a type.
    fn bare_name(&self) -> Option<(&str, Option<&str>)> {
        match self {
            RawArg::Text {
                text,
                quoted: false,
                from_var: false,
                lang,
                ..
            } => Some((text, lang.as_deref())),
            _ => None,
        }
    }
}

pub(crate) struct Parser<'a, 'v> {
    lex: Lexer<'a>,
    given: HashMap<String, &'v str>,
    defs: HashMap<String, VarDef>,
    depth: usize,
    var_uses: Vec<(String, Pos)>,
    var_defs: HashSet<String>,
}

impl<'a, 'v> Parser<'a, 'v> {
    pub(crate) fn new(src: &'a str, vars: &'v HashMap<String, String>) -> Self {
        let given = vars
            .iter()
            .map(|(k, v)| (k.strip_prefix('$').unwrap_or(k).to_string(), v.as_str()))
            .collect();
        Parser {
            lex: Lexer::new(src),
            given,
            defs: HashMap::new(),
            depth: 0,
            var_uses: Vec::new(),
            var_defs: HashSet::new(),
        }
    }

    // ----- token helpers -----

    fn peek(&mut self) -> Result<&Tok> {
        Ok(&self.lex.peek()?.tok)
    }

    fn peek_is(&mut self, t: &Tok) -> Result<bool> {
        Ok(self.peek()? == t)
    }

    fn peek_word(&mut self, w: &str) -> Result<bool> {
        Ok(matches!(self.peek()?, Tok::Word(x) if x.eq_ignore_ascii_case(w)))
    }

    fn next(&mut self) -> Result<Token> {
        self.lex.next()
    }

    fn eat(&mut self, t: &Tok) -> Result<bool> {
        if self.peek_is(t)? {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect(&mut self, t: &Tok, context: impl FnOnce() -> String) -> Result<Token> {
        let tok = self.next()?;
        if &tok.tok == t {
            Ok(tok)
        } else {
            Err(ParseError::at(tok.pos, format!("expected {t} {}, found {}", context(), tok.tok)))
        }
    }

    fn close(&mut self, t: &Tok, what: &str, open: Pos) -> Result<Token> {
        self.expect(t, || format!("to close the {what} opened at {open}"))
    }

    fn name(&mut self, what: &str) -> Result<(String, Pos)> {
        let tok = self.next()?;
        match tok.tok {
            Tok::Word(w) => Ok((w, tok.pos)),
            Tok::Iri(w) => Ok((w, tok.pos)),
            other => Err(ParseError::at(tok.pos, format!("expected {what}, found {other}"))),
        }
    }

    fn enter(&mut self, pos: Pos) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn use_var(&mut self, name: &str, pos: Pos) {
        self.var_uses.push((name.to_string(), pos));
    }

    fn define_var(&mut self, name: &str) {
        self.var_defs.insert(name.to_string());
    }

    // ----- documents -----

    pub(crate) fn document(mut self) -> Result<Document> {
        if self.peek_word("upsert")? {
            return self.upsert_document().map(Document::Upsert);
        }
        if self.peek_is(&Tok::LBrace)? && self.is_mutation_block()? {
            let m = self.mutation_body(None)?;
            self.expect_eof()?;
            self.check_no_vars_given()?;
            return Ok(Document::Mutation(m));
        }
        self.query_document().map(Document::Query)
    }

    fn is_mutation_block(&mut self) -> Result<bool> {
        let mut probe = self.lex.clone();
        probe.next()?;
        let t = probe.next()?;
        Ok(matches!(&t.tok, Tok::Word(w) if w == "set" || w == "delete") && probe.next()?.tok == Tok::LBrace)
    }

    fn expect_eof(&mut self) -> Result<()> {
        let t = self.next()?;
        if t.tok != Tok::Eof {
            return Err(ParseError::at(t.pos, format!("expected the end of the text, found {}", t.tok)));
        }
        Ok(())
    }

    fn check_no_vars_given(&self) -> Result<()> {
        let mut undeclared: Vec<&String> = self.given.keys().filter(|k| !self.defs.contains_key(*k)).collect();
        undeclared.sort();
        match undeclared.first() {
            Some(k) => Err(ParseError::at(
                Pos::START,
                format!("variable ${k} was passed but the query does not declare it; declare it as query q(${k}: string)"),
            )),
            None => Ok(()),
        }
    }

    fn check_var_uses(&self) -> Result<()> {
        for (name, pos) in &self.var_uses {
            if !self.var_defs.contains(name) {
                return Err(ParseError::at(
                    *pos,
                    format!("variable {name} is used but not defined; define it with {name} as ..."),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn query_document(mut self) -> Result<Query> {
        let mut q = Query::default();
        loop {
            let t = self.lex.peek()?.clone();
            match &t.tok {
                Tok::Eof => break,
                Tok::LBrace => self.operation_body(&mut q)?,
                Tok::Word(w) => match w.as_str() {
                    "query" => {
                        self.next()?;
                        self.operation_after_keyword(&mut q)?;
                    }
                    "schema" => self.schema(&mut q)?,
                    "upsert" => return Err(ParseError::at(t.pos, "expected a query, found an upsert block")),
                    "fragment" => return Err(ParseError::at(t.pos, "fragments are not supported")),
                    "mutation" => {
                        return Err(ParseError::at(t.pos, "a mutation block is only allowed inside upsert { }"));
                    }
                    _ => {
                        return Err(ParseError::at(
                            t.pos,
                            format!("expected '{{', 'query' or 'schema' to start a query, found {}", t.tok),
                        ));
                    }
                },
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected '{{', 'query' or 'schema' to start a query, found {other}"),
                    ));
                }
            }
        }
        self.check_no_vars_given()?;
        self.check_var_uses()?;
        Ok(q)
    }

    /// After `query`: optional name, optional variable definitions, then `{ blocks }`.
    fn operation_after_keyword(&mut self, q: &mut Query) -> Result<()> {
        if let Tok::Word(_) = self.peek()? {
            let (name, pos) = self.name("a query name")?;
            if q.name.is_some() {
                return Err(ParseError::at(pos, "only one named query operation is allowed"));
            }
            q.name = Some(name);
        }
        if self.peek_is(&Tok::LParen)? {
            self.var_defs_list()?;
        }
        self.operation_body(q)
    }

    fn operation_body(&mut self, q: &mut Query) -> Result<()> {
        let open = self.expect(&Tok::LBrace, || "to start the query body".to_string())?.pos;
        loop {
            match self.peek()? {
                Tok::RBrace => {
                    self.next()?;
                    return Ok(());
                }
                Tok::Eof => {
                    self.close(&Tok::RBrace, "query", open)?;
                }
                Tok::Comma => {
                    self.next()?;
                }
                Tok::Word(w) if w == "schema" => self.schema(q)?,
                _ => {
                    let b = self.block()?;
                    q.blocks.push(b);
                }
            }
        }
    }

    // ----- variables -----

    fn var_defs_list(&mut self) -> Result<()> {
        let open = self.next()?.pos;
        if self.eat(&Tok::RParen)? {
            return Ok(());
        }
        loop {
            let t = self.next()?;
            let Tok::Var(name) = t.tok else {
                return Err(ParseError::at(t.pos, format!("expected a variable like $name, found {}", t.tok)));
            };
            if self.defs.contains_key(&name) {
                return Err(ParseError::at(t.pos, format!("variable ${name} is declared twice")));
            }
            self.expect(&Tok::Colon, || format!("after ${name}, as in ${name}: string"))?;
            let (ty_name, ty_pos) = self.name("a variable type (int, float, bool or string)")?;
            let ty = match ty_name.as_str() {
                "int" => VarType::Int,
                "float" => VarType::Float,
                "bool" => VarType::Bool,
                "string" => VarType::Str,
                _ => {
                    return Err(ParseError::at(
                        ty_pos,
                        format!("unknown variable type {ty_name}; use int, float, bool or string"),
                    ));
                }
            };
            let required = self.eat(&Tok::Bang)?;
            let mut default = None;
            if self.eat(&Tok::Equals)? {
                let d = self.next()?;
                if required {
                    return Err(ParseError::at(
                        d.pos,
                        format!("variable ${name} is required (!) and cannot have a default value"),
                    ));
                }
                default = match d.tok {
                    Tok::Str(s) | Tok::Word(s) => Some(s),
                    other => {
                        return Err(ParseError::at(d.pos, format!("expected a default value for ${name}, found {other}")));
                    }
                };
            }
            let value = self.given.get(&name).map(|v| v.to_string()).or(default);
            match &value {
                None if required => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("variable ${name} is required (!) but the request gives no value for it"),
                    ));
                }
                Some(v) if !value_fits(ty, v) => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("variable ${name} is declared {ty_name} but its value \"{v}\" is not a valid {ty_name}"),
                    ));
                }
                _ => {}
            }
            self.defs.insert(name, VarDef { value });
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(()),
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ',' or ')' to close the variable list opened at {open}, found {other}"),
                    ));
                }
            }
        }
    }

    fn var_value(&mut self, name: &str, pos: Pos) -> Result<String> {
        match self.defs.get(name) {
            None => Err(ParseError::at(
                pos,
                format!("variable ${name} is not declared; declare it as query q(${name}: string)"),
            )),
            Some(VarDef { value: None }) => Err(ParseError::at(
                pos,
                format!("variable ${name} has no value: pass it in the request's variables or give it a default"),
            )),
            Some(VarDef { value: Some(v) }) => Ok(v.clone()),
        }
    }

    // ----- blocks -----

    fn block(&mut self) -> Result<Block> {
        let (mut name, mut pos) = self.name("a block name like me(func: ...)")?;
        let mut var = None;
        if self.peek_word("as")? {
            self.next()?;
            self.define_var(&name);
            var = Some(name);
            (name, pos) = self.name("a block name after 'as'")?;
        }
        if name == "shortest" {
            return Err(ParseError::at(pos, "shortest path queries are not supported"));
        }
        if !self.peek_is(&Tok::LParen)? {
            let t = self.next()?;
            return Err(ParseError::at(
                t.pos,
                format!("expected '(' after the block name {name}, as in {name}(func: ...), found {}", t.tok),
            ));
        }
        let (func, args) = self.args(true)?;
        let Some(func) = func else {
            return Err(ParseError::at(pos, format!("block {name} needs a root function: {name}(func: ...)")));
        };
        let mut filter = None;
        let mut directives = Directives::default();
        self.directives(&mut filter, &mut directives)?;
        // A block may omit its selection, as var blocks of upserts often do:
        // `v as var(func: eq(email, "a@b.c"))`.
        let children = if self.peek_is(&Tok::LBrace)? { self.selection()? } else { Vec::new() };
        Ok(Block {
            name,
            var,
            func,
            args,
            filter,
            directives,
            children,
        })
    }

    /// `( key: value, ... )` of a block (`root`: `func:` allowed and expected) or an edge.
    fn args(&mut self, root: bool) -> Result<(Option<Func>, EdgeArgs)> {
        let open = self.next()?.pos;
        let mut func = None;
        let mut args = EdgeArgs::default();
        if self.eat(&Tok::RParen)? {
            return Ok((func, args));
        }
        loop {
            let (key, key_pos) = self.name("an argument name like first")?;
            self.expect(&Tok::Colon, || format!("after the argument name {key}"))?;
            let dup = || ParseError::at(key_pos, format!("argument {key} is given twice"));
            match key.as_str() {
                "func" if root => {
                    if func.is_some() {
                        return Err(dup());
                    }
                    let (fname, fpos) = self.name("a function like eq(...)")?;
                    func = Some(self.function(&fname, fpos)?);
                }
                "first" | "offset" => {
                    let v = self.int_arg(&key)?;
                    let slot = if key == "first" { &mut args.first } else { &mut args.offset };
                    if slot.is_some() {
                        return Err(dup());
                    }
                    *slot = Some(v);
                }
                "after" => {
                    if args.after.is_some() {
                        return Err(dup());
                    }
                    let (text, pos) = self.scalar_arg("after")?;
                    args.after = Some(parse_uid(&text).ok_or_else(|| {
                        ParseError::at(pos, format!("expected a uid like 0x1a for after, found {text}"))
                    })?);
                }
                "orderasc" | "orderdesc" => {
                    let arg = self.raw_arg()?;
                    let by = match &arg {
                        RawArg::Call { name, args, pos } if name == "val" => OrderBy::Val(self.val_var(args, *pos)?),
                        other => match other.bare_name() {
                            Some((n, lang)) if is_predicate_name(n) && !n.starts_with('~') => OrderBy::Predicate {
                                name: n.to_string(),
                                lang: lang.map(str::to_string),
                            },
                            _ => {
                                return Err(ParseError::at(
                                    other.pos(),
                                    format!("expected a predicate or val(v) to order by, found {}", other.describe()),
                                ));
                            }
                        },
                    };
                    args.order.push(Order {
                        desc: key == "orderdesc",
                        by,
                    });
                }
                _ => {
                    let allowed = if root {
                        "func, first, offset, after, orderasc or orderdesc"
                    } else {
                        "first, offset, after, orderasc or orderdesc"
                    };
                    return Err(ParseError::at(key_pos, format!("unknown argument {key}; expected {allowed}")));
                }
            }
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok((func, args)),
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ',' or ')' to close the arguments opened at {open}, found {other}"),
                    ));
                }
            }
        }
    }

    /// A single value: a word, a string or a `$variable`.
    fn scalar_arg(&mut self, what: &str) -> Result<(String, Pos)> {
        let t = self.next()?;
        match t.tok {
            Tok::Word(w) | Tok::Str(w) => Ok((w, t.pos)),
            Tok::Var(v) => Ok((self.var_value(&v, t.pos)?, t.pos)),
            other => Err(ParseError::at(t.pos, format!("expected a value for {what}, found {other}"))),
        }
    }

    fn int_arg(&mut self, what: &str) -> Result<i64> {
        let (text, pos) = self.scalar_arg(what)?;
        text.parse()
            .map_err(|_| ParseError::at(pos, format!("expected an integer for {what}, found {text}")))
    }

    fn directives(&mut self, filter: &mut Option<Filter>, d: &mut Directives) -> Result<()> {
        while self.peek_is(&Tok::At)? {
            self.next()?;
            let (name, pos) = self.name("a directive name like filter")?;
            self.directive(&name, pos, filter, d)?;
        }
        Ok(())
    }

    /// One directive, its `@` and name already read.
    fn directive(&mut self, name: &str, pos: Pos, filter: &mut Option<Filter>, d: &mut Directives) -> Result<()> {
        let dup = || ParseError::at(pos, format!("@{name} is given twice"));
        match name {
            "filter" => {
                if filter.is_some() {
                    return Err(dup());
                }
                let open = self.expect(&Tok::LParen, || "after @filter".to_string())?.pos;
                *filter = Some(self.bool_expr(Self::filter_leaf)?);
                self.close(&Tok::RParen, "@filter(", open)?;
            }
            "facets" => {
                if d.facets.is_some() {
                    return Err(dup());
                }
                d.facets = Some(self.name_list("@facets", true)?);
            }
            "cascade" => {
                if d.cascade.is_some() {
                    return Err(dup());
                }
                d.cascade = Some(self.name_list("@cascade", false)?);
            }
            "normalize" => d.normalize = true,
            n if UNSUPPORTED_DIRECTIVES.contains(&n) => {
                let hint = if n == "if" { "; @if belongs on an upsert mutation" } else { "" };
                return Err(ParseError::at(pos, format!("directive @{n} is not supported here{hint}")));
            }
            n => {
                return Err(ParseError::at(
                    pos,
                    format!("unknown directive @{n}; expected @filter, @facets, @cascade or @normalize"),
                ));
            }
        }
        Ok(())
    }

    /// An optional `(a, b, c)` after `@facets` / `@cascade`.
    fn name_list(&mut self, what: &str, facets: bool) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if !self.peek_is(&Tok::LParen)? {
            return Ok(out);
        }
        let open = self.next()?.pos;
        if self.eat(&Tok::RParen)? {
            return Ok(out);
        }
        loop {
            let (n, pos) = self.name(&format!("a name in {what}(...)"))?;
            if facets && self.peek_is(&Tok::LParen)? {
                return Err(ParseError::at(pos, "facet filters like @facets(eq(...)) are not supported"));
            }
            if facets && self.peek_is(&Tok::Colon)? {
                return Err(ParseError::at(pos, "facet aliases like @facets(alias: key) are not supported"));
            }
            out.push(n);
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(out),
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ',' or ')' to close the {what}( opened at {open}, found {other}"),
                    ));
                }
            }
        }
    }

    // ----- selections -----

    /// `{ field* }`.
    fn selection(&mut self) -> Result<Vec<Field>> {
        let open = self.next()?.pos;
        self.enter(open)?;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                Tok::RBrace => {
                    self.next()?;
                    break;
                }
                Tok::Eof => {
                    self.close(&Tok::RBrace, "block", open)?;
                }
                Tok::Comma => {
                    self.next()?;
                }
                _ => out.push(self.field()?),
            }
        }
        self.leave();
        Ok(out)
    }

    fn field(&mut self) -> Result<Field> {
        let (mut word, mut pos) = self.name("a predicate or uid")?;
        let mut var = None;
        let mut alias = None;
        if self.peek_word("as")? {
            self.next()?;
            self.define_var(&word);
            var = Some(word);
            (word, pos) = self.name("a predicate after 'as'")?;
        }
        if self.eat(&Tok::Colon)? {
            alias = Some(word);
            (word, pos) = self.name("a predicate after the alias")?;
        }
        let call = self.peek_is(&Tok::LParen)?;
        let kind = match word.as_str() {
            "uid" if !call => FieldKind::Uid,
            "count" if call => FieldKind::Count(self.count()?),
            "val" if call => {
                let open = self.next()?.pos;
                let (v, vpos) = self.name("a variable name in val( )")?;
                self.use_var(&v, vpos);
                self.close(&Tok::RParen, "val(", open)?;
                FieldKind::Val(v)
            }
            "expand" if call => self.expand()?,
            "checkpwd" if call => self.checkpwd()?,
            w if call && (UNSUPPORTED_FUNCS.contains(&w) || is_filter_func(w)) => {
                return Err(ParseError::at(
                    pos,
                    if is_filter_func(w) {
                        format!("function {w}(...) cannot be selected; use it in func: or @filter(...)")
                    } else {
                        format!("{w}(...) is not supported in a selection")
                    },
                ));
            }
            _ => FieldKind::Predicate(self.edge(word, pos)?),
        };
        Ok(Field { alias, var, kind })
    }

    fn edge(&mut self, word: String, pos: Pos) -> Result<Edge> {
        let (name, reverse) = predicate_parts(&word, pos)?;
        let mut e = Edge {
            name,
            reverse,
            ..Edge::default()
        };
        let mut lang_allowed = true;
        loop {
            match self.peek()? {
                Tok::At => {
                    self.next()?;
                    let (w, wpos) = self.name("a language or a directive after '@'")?;
                    if DIRECTIVES.contains(&w.as_str()) || UNSUPPORTED_DIRECTIVES.contains(&w.as_str()) {
                        lang_allowed = false;
                        self.directive(&w, wpos, &mut e.filter, &mut e.directives)?;
                    } else if lang_allowed {
                        lang_allowed = false;
                        e.langs = self.lang_list(w, wpos)?;
                    } else {
                        return Err(ParseError::at(
                            wpos,
                            format!("unknown directive @{w}; expected @filter, @facets, @cascade or @normalize"),
                        ));
                    }
                }
                Tok::LParen => {
                    if e.args != EdgeArgs::default() {
                        let t = self.next()?;
                        return Err(ParseError::at(t.pos, "the arguments of this predicate are given twice"));
                    }
                    lang_allowed = false;
                    e.args = self.args(false)?.1;
                }
                Tok::LBrace => {
                    e.children = self.selection()?;
                    return Ok(e);
                }
                _ => return Ok(e),
            }
        }
    }

    /// `en:fr:.` after `name@`; `first` is the first language, already read.
    fn lang_list(&mut self, first: String, pos: Pos) -> Result<Vec<String>> {
        let mut out = vec![check_lang(first, pos)?];
        while self.peek_is(&Tok::Colon)? {
            self.next()?;
            let (l, lpos) = self.name("a language after ':'")?;
            out.push(check_lang(l, lpos)?);
        }
        Ok(out)
    }

    fn count(&mut self) -> Result<CountOf> {
        let open = self.next()?.pos;
        let (word, pos) = self.name("uid or a predicate inside count( )")?;
        let c = if word == "uid" {
            CountOf::Uid
        } else {
            let (name, reverse) = predicate_parts(&word, pos)?;
            let mut filter = None;
            if self.peek_is(&Tok::At)? {
                self.next()?;
                let (d, dpos) = self.name("filter after '@'")?;
                if d != "filter" {
                    return Err(ParseError::at(dpos, format!("only @filter is allowed inside count( ), found @{d}")));
                }
                let mut ignored = Directives::default();
                self.directive(&d, dpos, &mut filter, &mut ignored)?;
            }
            CountOf::Predicate { name, reverse, filter }
        };
        self.close(&Tok::RParen, "count(", open)?;
        Ok(c)
    }

    fn expand(&mut self) -> Result<FieldKind> {
        let open = self.next()?.pos;
        let mut types = Vec::new();
        let mut all = false;
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::Word(w) if w == "_all_" => all = true,
                Tok::Word(w) if w == "val" || w == "_forward_" || w == "_reverse_" => {
                    return Err(ParseError::at(t.pos, format!("expand({w}...) is not supported; use _all_ or type names")));
                }
                Tok::Word(w) | Tok::Str(w) | Tok::Iri(w) => types.push(w),
                other => {
                    return Err(ParseError::at(t.pos, format!("expected _all_ or a type name in expand( ), found {other}")));
                }
            }
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => break,
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected ',' or ')' to close the expand( opened at {open}, found {other}"),
                    ));
                }
            }
        }
        if all && !types.is_empty() {
            return Err(ParseError::at(open, "expand(_all_) cannot be combined with type names"));
        }
        let children = if self.peek_is(&Tok::LBrace)? { self.selection()? } else { Vec::new() };
        Ok(FieldKind::Expand {
            what: if all { Expand::All } else { Expand::Types(types) },
            children,
        })
    }

    fn checkpwd(&mut self) -> Result<FieldKind> {
        let open = self.next()?.pos;
        let (word, pos) = self.name("the password predicate in checkpwd( )")?;
        let (predicate, reverse) = predicate_parts(&word, pos)?;
        if reverse {
            return Err(ParseError::at(pos, "checkpwd needs a forward password predicate"));
        }
        self.expect(&Tok::Comma, || "after the predicate of checkpwd".to_string())?;
        let (password, _) = self.scalar_arg("the password of checkpwd")?;
        self.close(&Tok::RParen, "checkpwd(", open)?;
        Ok(FieldKind::Checkpwd { predicate, password })
    }

    // ----- functions -----

    fn raw_arg(&mut self) -> Result<RawArg> {
        let t = self.next()?;
        let pos = t.pos;
        Ok(match t.tok {
            Tok::Str(s) => RawArg::Text {
                text: s,
                quoted: true,
                from_var: false,
                lang: None,
                pos,
            },
            Tok::Var(v) => RawArg::Text {
                text: self.var_value(&v, pos)?,
                quoted: true,
                from_var: true,
                lang: None,
                pos,
            },
            Tok::Word(w) | Tok::Iri(w) => {
                if self.peek_is(&Tok::LParen)? {
                    let args = self.call_args()?;
                    RawArg::Call {
                        name: w.to_ascii_lowercase(),
                        args,
                        pos,
                    }
                } else {
                    let mut lang = None;
                    if self.eat(&Tok::At)? {
                        let (l, lpos) = self.name("a language after '@'")?;
                        lang = Some(check_lang(l, lpos)?);
                    }
                    RawArg::Text {
                        text: w,
                        quoted: false,
                        from_var: false,
                        lang,
                        pos,
                    }
                }
            }
            Tok::LBracket => {
                self.enter(pos)?;
                let mut items = Vec::new();
                if !self.eat(&Tok::RBracket)? {
                    loop {
                        items.push(self.raw_arg()?);
                        let t = self.next()?;
                        match t.tok {
                            Tok::Comma => {}
                            Tok::RBracket => break,
                            other => {
                                return Err(ParseError::at(
                                    t.pos,
                                    format!("expected ',' or ']' to close the list opened at {pos}, found {other}"),
                                ));
                            }
                        }
                    }
                }
                self.leave();
                RawArg::List(items, pos)
            }
            other => return Err(ParseError::at(pos, format!("expected a value, found {other}"))),
        })
    }

    /// `( arg, ... )`, the `(` not yet read.
    fn call_args(&mut self) -> Result<Vec<RawArg>> {
        let open = self.next()?.pos;
        self.enter(open)?;
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen)? {
            loop {
                args.push(self.raw_arg()?);
                let t = self.next()?;
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    other => {
                        return Err(ParseError::at(
                            t.pos,
                            format!("expected ',' or ')' to close the arguments opened at {open}, found {other}"),
                        ));
                    }
                }
            }
        }
        self.leave();
        Ok(args)
    }

    fn filter_leaf(&mut self) -> Result<Func> {
        let (name, pos) = self.name("a function like eq(...)")?;
        self.function(&name, pos)
    }

    /// A function whose name was just read; its arguments come next.
    fn function(&mut self, name: &str, pos: Pos) -> Result<Func> {
        let lname = name.to_ascii_lowercase();
        if !is_filter_func(&lname) {
            return Err(ParseError::at(
                pos,
                if UNSUPPORTED_FUNCS.contains(&lname.as_str()) {
                    format!("function {lname} is not supported here")
                } else {
                    format!("unknown function {name}")
                },
            ));
        }
        if !self.peek_is(&Tok::LParen)? {
            let t = self.next()?;
            return Err(ParseError::at(t.pos, format!("expected '(' after the function name {name}, found {}", t.tok)));
        }
        let args = self.call_args()?;
        let arity = |n: usize, form: &str| -> Result<()> {
            if args.len() == n {
                Ok(())
            } else {
                Err(ParseError::at(pos, format!("{lname} takes {n} argument{}: {form}", if n == 1 { "" } else { "s" })))
            }
        };
        Ok(match lname.as_str() {
            "uid" => {
                if args.is_empty() {
                    return Err(ParseError::at(pos, "uid( ) needs at least one uid or variable"));
                }
                Func::Uid(self.uid_refs(&args)?)
            }
            "eq" | "le" | "lt" | "ge" | "gt" => {
                let op = compare_op(&lname);
                if args.len() < 2 {
                    return Err(ParseError::at(pos, format!("{lname} takes a predicate and a value: {lname}(pred, value)")));
                }
                let attr = self.attr(&args[0], &lname)?;
                let mut values = Vec::new();
                for a in &args[1..] {
                    self.func_values(a, &lname, &mut values)?;
                }
                if op != CompareOp::Eq && values.len() != 1 {
                    return Err(ParseError::at(pos, format!("{lname} compares with exactly one value")));
                }
                Func::Compare { op, attr, values }
            }
            "has" => {
                arity(1, "has(pred)")?;
                let (n, _) = pred_arg(&args[0], &lname)?;
                let (predicate, reverse) = predicate_parts(n, args[0].pos())?;
                Func::Has { predicate, reverse }
            }
            "type" => {
                arity(1, "type(TypeName)")?;
                match &args[0] {
                    RawArg::Text { text, lang: None, .. } => Func::Type(text.clone()),
                    other => {
                        return Err(ParseError::at(other.pos(), format!("expected a type name, found {}", other.describe())));
                    }
                }
            }
            "allofterms" | "anyofterms" => {
                arity(2, &format!("{lname}(pred, \"terms\")"))?;
                let (n, lang) = pred_arg(&args[0], &lname)?;
                let (predicate, reverse) = predicate_parts(n, args[0].pos())?;
                if reverse {
                    return Err(ParseError::at(args[0].pos(), format!("{lname} needs a forward predicate")));
                }
                let lang = lang.map(str::to_string);
                let terms = match &args[1] {
                    RawArg::Text { text, lang: None, .. } => text.clone(),
                    other => {
                        return Err(ParseError::at(other.pos(), format!("expected the terms as a string, found {}", other.describe())));
                    }
                };
                if lname == "allofterms" {
                    Func::AllOfTerms { predicate, lang, terms }
                } else {
                    Func::AnyOfTerms { predicate, lang, terms }
                }
            }
            "uid_in" => {
                if args.len() < 2 {
                    return Err(ParseError::at(pos, "uid_in takes a predicate and uids: uid_in(pred, 0x1)"));
                }
                let (n, _) = pred_arg(&args[0], &lname)?;
                let (predicate, reverse) = predicate_parts(n, args[0].pos())?;
                if reverse {
                    return Err(ParseError::at(args[0].pos(), "uid_in needs a forward predicate"));
                }
                Func::UidIn {
                    predicate,
                    uids: self.uid_refs(&args[1..])?,
                }
            }
            _ => return Err(ParseError::at(pos, format!("unknown function {name}"))),
        })
    }

    fn uid_refs(&mut self, args: &[RawArg]) -> Result<Vec<UidRef>> {
        let mut out = Vec::new();
        for a in args {
            self.uid_ref(a, &mut out)?;
        }
        Ok(out)
    }

    fn uid_ref(&mut self, a: &RawArg, out: &mut Vec<UidRef>) -> Result<()> {
        match a {
            RawArg::Text {
                text,
                from_var: true,
                pos,
                ..
            } => {
                let inner = text.trim();
                let inner = inner
                    .strip_prefix('[')
                    .and_then(|s| s.strip_suffix(']'))
                    .unwrap_or(inner);
                for part in inner.split(',') {
                    let part = part.trim().trim_matches('"');
                    out.push(UidRef::Uid(parse_uid(part).ok_or_else(|| {
                        ParseError::at(*pos, format!("expected uids like 0x1a or [0x1, 0x2] in the variable, found \"{text}\""))
                    })?));
                }
            }
            RawArg::Text { text, lang: None, pos, .. } => {
                if let Some(u) = parse_uid(text) {
                    out.push(UidRef::Uid(u));
                } else if text.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(ParseError::at(*pos, format!("{text} is not a valid uid; uids are 0x-hex or decimal and not 0")));
                } else if is_var_name(text) {
                    self.use_var(text, *pos);
                    out.push(UidRef::Var(text.clone()));
                } else {
                    return Err(ParseError::at(*pos, format!("expected a uid or a variable, found {}", a.describe())));
                }
            }
            RawArg::List(items, _) => {
                for i in items {
                    self.uid_ref(i, out)?;
                }
            }
            RawArg::Call { name, args, .. } if name == "uid" => {
                for i in args {
                    self.uid_ref(i, out)?;
                }
            }
            other => {
                return Err(ParseError::at(other.pos(), format!("expected a uid or a variable, found {}", other.describe())));
            }
        }
        Ok(())
    }

    fn val_var(&mut self, args: &[RawArg], pos: Pos) -> Result<String> {
        match args {
            [a] => match a.bare_name() {
                Some((v, None)) if is_var_name(v) => {
                    self.use_var(v, a.pos());
                    Ok(v.to_string())
                }
                _ => Err(ParseError::at(a.pos(), format!("expected a variable name in val( ), found {}", a.describe()))),
            },
            _ => Err(ParseError::at(pos, "val( ) takes one variable name")),
        }
    }

    fn attr(&mut self, a: &RawArg, func: &str) -> Result<Attr> {
        match a {
            RawArg::Call { name, args, pos } if name == "val" => Ok(Attr::Val(self.val_var(args, *pos)?)),
            RawArg::Call { name, args, pos } if name == "count" => match args.as_slice() {
                [p] => {
                    let (n, _) = pred_arg(p, "count")?;
                    let (name, reverse) = predicate_parts(n, p.pos())?;
                    Ok(Attr::Count { name, reverse })
                }
                _ => Err(ParseError::at(*pos, "count( ) takes one predicate")),
            },
            other => {
                let (n, lang) = pred_arg(other, func)?;
                if n.starts_with('~') {
                    return Err(ParseError::at(other.pos(), format!("{func} needs a forward predicate, found {n}")));
                }
                Ok(Attr::Predicate {
                    name: n.to_string(),
                    lang: lang.map(str::to_string),
                })
            }
        }
    }

    fn func_values(&mut self, a: &RawArg, func: &str, out: &mut Vec<FuncValue>) -> Result<()> {
        match a {
            RawArg::Text { text, lang: None, .. } => out.push(FuncValue::Literal(text.clone())),
            RawArg::Call { name, args, pos } if name == "val" => out.push(FuncValue::Val(self.val_var(args, *pos)?)),
            RawArg::List(items, pos) if func == "eq" => {
                if items.is_empty() {
                    return Err(ParseError::at(*pos, "the list of values of eq is empty"));
                }
                for i in items {
                    if let RawArg::List(_, p) = i {
                        return Err(ParseError::at(*p, "lists cannot be nested"));
                    }
                    self.func_values(i, func, out)?;
                }
            }
            other => {
                return Err(ParseError::at(
                    other.pos(),
                    format!("expected a value for {func}, found {}", other.describe()),
                ));
            }
        }
        Ok(())
    }

    // ----- boolean expressions -----

    fn bool_expr<T>(&mut self, leaf: fn(&mut Self) -> Result<T>) -> Result<BoolExpr<T>> {
        let mut terms = vec![self.and_expr(leaf)?];
        while self.peek_word("or")? {
            self.next()?;
            terms.push(self.and_expr(leaf)?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { BoolExpr::Or(terms) })
    }

    fn and_expr<T>(&mut self, leaf: fn(&mut Self) -> Result<T>) -> Result<BoolExpr<T>> {
        let mut terms = vec![self.unary(leaf)?];
        while self.peek_word("and")? {
            self.next()?;
            terms.push(self.unary(leaf)?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { BoolExpr::And(terms) })
    }

    fn unary<T>(&mut self, leaf: fn(&mut Self) -> Result<T>) -> Result<BoolExpr<T>> {
        let pos = self.lex.peek()?.pos;
        self.enter(pos)?;
        let e = if self.peek_word("not")? {
            self.next()?;
            BoolExpr::Not(Box::new(self.unary(leaf)?))
        } else if self.peek_is(&Tok::LParen)? {
            let open = self.next()?.pos;
            let e = self.bool_expr(leaf)?;
            self.close(&Tok::RParen, "parenthesis", open)?;
            e
        } else {
            BoolExpr::Leaf(leaf(self)?)
        };
        self.leave();
        Ok(e)
    }

    fn len_leaf(&mut self) -> Result<LenCondition> {
        let (name, pos) = self.name("a comparison like eq(len(v), 1)")?;
        let lname = name.to_ascii_lowercase();
        if !matches!(lname.as_str(), "eq" | "le" | "lt" | "ge" | "gt") {
            return Err(ParseError::at(
                pos,
                format!("unknown function {name} in @if; expected eq, le, lt, ge or gt of len(v)"),
            ));
        }
        if !self.peek_is(&Tok::LParen)? {
            let t = self.next()?;
            return Err(ParseError::at(t.pos, format!("expected '(' after {name}, found {}", t.tok)));
        }
        let args = self.call_args()?;
        let [RawArg::Call { name: len, args: inner, pos: lpos }, value] = args.as_slice() else {
            return Err(ParseError::at(pos, format!("expected {lname}(len(v), number)")));
        };
        if len != "len" {
            return Err(ParseError::at(*lpos, format!("expected len(v) in @if, found {len}(...)")));
        }
        let var = match inner.as_slice() {
            [a] => match a.bare_name() {
                Some((v, None)) if is_var_name(v) => v.to_string(),
                _ => return Err(ParseError::at(a.pos(), format!("expected a variable name in len( ), found {}", a.describe()))),
            },
            _ => return Err(ParseError::at(*lpos, "len( ) takes one variable name")),
        };
        let value = match value {
            RawArg::Text { text, lang: None, pos, .. } => text
                .parse::<i64>()
                .map_err(|_| ParseError::at(*pos, format!("expected an integer to compare len({var}) with, found {text}")))?,
            other => {
                return Err(ParseError::at(other.pos(), format!("expected an integer, found {}", other.describe())));
            }
        };
        Ok(LenCondition {
            op: compare_op(&lname),
            var,
            value,
        })
    }

    /// `@if(...)` as a whole text, as sent in a mutation's `cond`.
    pub(crate) fn condition_document(mut self) -> Result<Condition> {
        let c = self.if_directive()?;
        self.expect_eof()?;
        Ok(c)
    }

    fn if_directive(&mut self) -> Result<Condition> {
        self.expect(&Tok::At, || "to start the condition @if(...)".to_string())?;
        let (name, pos) = self.name("if after '@'")?;
        if name != "if" {
            return Err(ParseError::at(pos, format!("expected @if, found @{name}")));
        }
        let open = self.expect(&Tok::LParen, || "after @if".to_string())?.pos;
        let c = self.bool_expr(Self::len_leaf)?;
        self.close(&Tok::RParen, "@if(", open)?;
        Ok(c)
    }

    // ----- schema -----

    fn schema(&mut self, q: &mut Query) -> Result<()> {
        let kw = self.next()?.pos;
        if q.schema.is_some() {
            return Err(ParseError::at(kw, "only one schema block is allowed"));
        }
        let mut s = SchemaQuery::default();
        if self.peek_is(&Tok::LParen)? {
            let open = self.next()?.pos;
            loop {
                let (key, kpos) = self.name("pred or type")?;
                self.expect(&Tok::Colon, || format!("after {key}"))?;
                let names = self.schema_names()?;
                match key.as_str() {
                    "pred" => s.predicates.extend(names),
                    "type" => s.types.extend(names),
                    _ => return Err(ParseError::at(kpos, format!("unknown schema argument {key}; expected pred or type"))),
                }
                let t = self.next()?;
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    other => {
                        return Err(ParseError::at(
                            t.pos,
                            format!("expected ',' or ')' to close the schema( opened at {open}, found {other}"),
                        ));
                    }
                }
            }
        }
        let open = self.expect(&Tok::LBrace, || "to start the schema fields, as in schema { type index }".to_string())?.pos;
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::RBrace => break,
                Tok::Comma => {}
                Tok::Word(w) => s.fields.push(w),
                Tok::Eof => {
                    return Err(ParseError::at(t.pos, format!("expected '}}' to close the schema block opened at {open}")));
                }
                other => return Err(ParseError::at(t.pos, format!("expected a schema field like type or index, found {other}"))),
            }
        }
        q.schema = Some(s);
        Ok(())
    }

    fn schema_names(&mut self) -> Result<Vec<String>> {
        let t = self.next()?;
        match t.tok {
            Tok::Word(w) | Tok::Iri(w) | Tok::Str(w) => Ok(vec![w]),
            Tok::LBracket => {
                let mut out = Vec::new();
                if self.eat(&Tok::RBracket)? {
                    return Ok(out);
                }
                loop {
                    let n = self.next()?;
                    match n.tok {
                        Tok::Word(w) | Tok::Iri(w) | Tok::Str(w) => out.push(w),
                        other => return Err(ParseError::at(n.pos, format!("expected a name, found {other}"))),
                    }
                    let sep = self.next()?;
                    match sep.tok {
                        Tok::Comma => {}
                        Tok::RBracket => return Ok(out),
                        other => {
                            return Err(ParseError::at(
                                sep.pos,
                                format!("expected ',' or ']' to close the list opened at {}, found {other}", t.pos),
                            ));
                        }
                    }
                }
            }
            other => Err(ParseError::at(t.pos, format!("expected a name or a [list] of names, found {other}"))),
        }
    }

    // ----- upserts and mutation blocks -----

    fn upsert_document(mut self) -> Result<Upsert> {
        let kw = self.next()?.pos;
        let open = self.expect(&Tok::LBrace, || "after upsert".to_string())?.pos;
        let mut query: Option<Query> = None;
        let mut mutations = Vec::new();
        loop {
            let t = self.next()?;
            match &t.tok {
                Tok::RBrace => break,
                Tok::Word(w) if w == "query" => {
                    if query.is_some() {
                        return Err(ParseError::at(t.pos, "an upsert block may hold only one query"));
                    }
                    let mut q = Query::default();
                    self.operation_after_keyword(&mut q)?;
                    query = Some(q);
                }
                Tok::Word(w) if w == "mutation" => {
                    let cond = if self.peek_is(&Tok::At)? { Some(self.if_directive()?) } else { None };
                    if !self.peek_is(&Tok::LBrace)? {
                        let t = self.next()?;
                        return Err(ParseError::at(t.pos, format!("expected '{{' to start the mutation, found {}", t.tok)));
                    }
                    mutations.push(self.mutation_body(cond)?);
                }
                Tok::Word(w) if w == "fragment" => return Err(ParseError::at(t.pos, "fragments are not supported")),
                Tok::Eof => {
                    return Err(ParseError::at(t.pos, format!("expected '}}' to close the upsert block opened at {open}")));
                }
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!("expected query, mutation or '}}' in the upsert block, found {other}"),
                    ));
                }
            }
        }
        self.expect_eof()?;
        let Some(query) = query else {
            return Err(ParseError::at(kw, "an upsert block needs a query { ... }"));
        };
        if mutations.is_empty() {
            return Err(ParseError::at(kw, "an upsert block needs at least one mutation { ... }"));
        }
        self.check_no_vars_given()?;
        self.check_var_uses()?;
        Ok(Upsert { query, mutations })
    }

    /// `{ set { ... } delete { ... } }`; the `{` is next.
    fn mutation_body(&mut self, cond: Option<Condition>) -> Result<Mutation> {
        let open = self.next()?.pos;
        let mut m = Mutation {
            cond,
            ..Mutation::default()
        };
        loop {
            let t = self.next()?;
            let (mode, name) = match &t.tok {
                Tok::RBrace => return Ok(m),
                Tok::Word(w) if w == "set" => (Mode::Set, "set"),
                Tok::Word(w) if w == "delete" => (Mode::Delete, "delete"),
                Tok::Word(w) if w == "schema" || w == "dropall" => {
                    return Err(ParseError::at(t.pos, format!("{w} is not allowed in a mutation; use the alter operation")));
                }
                Tok::Eof => {
                    return Err(ParseError::at(t.pos, format!("expected '}}' to close the mutation opened at {open}")));
                }
                other => {
                    return Err(ParseError::at(t.pos, format!("expected set {{ ... }} or delete {{ ... }}, found {other}")));
                }
            };
            // Read the `{` without peeking past it, then let the N-Quad parser read the body.
            let brace = self.next()?;
            if brace.tok != Tok::LBrace {
                return Err(ParseError::at(brace.pos, format!("expected '{{' after {name}, found {}", brace.tok)));
            }
            let nquads = parse_block(self.lex.cursor(), mode, (name, brace.pos))?;
            match mode {
                Mode::Delete => m.delete.extend(nquads),
                _ => m.set.extend(nquads),
            }
        }
    }
}

fn compare_op(name: &str) -> CompareOp {
    match name {
        "le" => CompareOp::Le,
        "lt" => CompareOp::Lt,
        "ge" => CompareOp::Ge,
        "gt" => CompareOp::Gt,
        _ => CompareOp::Eq,
    }
}

fn is_filter_func(name: &str) -> bool {
    matches!(
        name,
        "uid" | "eq" | "le" | "lt" | "ge" | "gt" | "has" | "type" | "allofterms" | "anyofterms" | "uid_in"
    )
}

fn value_fits(ty: VarType, v: &str) -> bool {
    match ty {
        VarType::Int => v.trim().parse::<i64>().is_ok(),
        VarType::Float => v.trim().parse::<f64>().is_ok_and(f64::is_finite),
        VarType::Bool => matches!(v.trim(), "true" | "false"),
        VarType::Str => true,
    }
}

pub(crate) fn is_var_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphabetic() || c == '_') && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

pub(crate) fn is_predicate_name(s: &str) -> bool {
    let body = s.strip_prefix('~').unwrap_or(s);
    body.chars().any(char::is_alphanumeric) && !body.contains(['~', '*', '+']) && !body.starts_with('-')
}

/// Splits `~name` into (name, reverse) and checks the name.
fn predicate_parts(word: &str, pos: Pos) -> Result<(String, bool)> {
    if !is_predicate_name(word) {
        return Err(ParseError::at(pos, format!("{word} is not a valid predicate name")));
    }
    Ok(match word.strip_prefix('~') {
        Some(n) => (n.to_string(), true),
        None => (word.to_string(), false),
    })
}

fn pred_arg<'r>(a: &'r RawArg, func: &str) -> Result<(&'r str, Option<&'r str>)> {
    match a.bare_name() {
        Some((n, lang)) if is_predicate_name(n) => Ok((n, lang)),
        _ => Err(ParseError::at(
            a.pos(),
            format!("expected a predicate as the first argument of {func}, found {}", a.describe()),
        )),
    }
}

fn check_lang(l: String, pos: Pos) -> Result<String> {
    let ok = l == "."
        || l == "*"
        || (l.split('-').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
            && l.starts_with(|c: char| c.is_ascii_alphabetic()));
    if ok {
        Ok(l)
    } else {
        Err(ParseError::at(pos, format!("{l} is not a language tag; write en, en-US, . or *")))
    }
}
