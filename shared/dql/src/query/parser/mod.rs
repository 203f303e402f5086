//! Recursive-descent parser for DQL queries, upsert blocks, mutation blocks and `@if`
//! conditions. This file holds the parser state, token helpers, documents and variables;
//! `select` the blocks and selections, `func` functions and boolean expressions, and
//! `upsert` schema queries, upserts and mutation blocks.

mod func;
mod math;
mod select;
mod upsert;

use std::collections::{HashMap, HashSet};

use super::ast::*;
use super::lexer::{Lexer, Tok, Token};
use crate::cursor::{MAX_DEPTH, parse_uid};
use crate::error::{ParseError, Pos, Result};
use crate::nquad::{Mode, parse_block};

/// Functions of DQL this parser knows but does not support, so that their error says so
/// rather than calling them unknown.
const UNSUPPORTED_FUNCS: &[&str] = &["similar_to", "checkpwd", "math", "min", "max", "sum", "avg"];

const DIRECTIVES: &[&str] = &[
    "filter",
    "facets",
    "cascade",
    "normalize",
    "recurse",
    "groupby",
    "ignorereflex",
];
const UNSUPPORTED_DIRECTIVES: &[&str] = &["if"];

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
    Regex {
        pattern: String,
        flags: String,
        pos: Pos,
    },
}

impl RawArg {
    fn pos(&self) -> Pos {
        match self {
            RawArg::Text { pos, .. }
            | RawArg::List(_, pos)
            | RawArg::Call { pos, .. }
            | RawArg::Regex { pos, .. } => *pos,
        }
    }

    fn describe(&self) -> String {
        match self {
            RawArg::Text {
                text, quoted: true, ..
            } => format!("\"{text}\""),
            RawArg::Text { text, .. } => text.clone(),
            RawArg::List(..) => "a list".to_string(),
            RawArg::Call { name, .. } => format!("{name}(...)"),
            RawArg::Regex { pattern, flags, .. } => format!("/{pattern}/{flags}"),
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
            Err(ParseError::at(
                tok.pos,
                format!("expected {t} {}, found {}", context(), tok.tok),
            ))
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
            other => Err(ParseError::at(
                tok.pos,
                format!("expected {what}, found {other}"),
            )),
        }
    }

    fn enter(&mut self, pos: Pos) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(
                pos,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// After a list item: `,` (more follow, `false`) or `)` (the list opened at `open` ends,
    /// `true`).
    fn comma_or_close(&mut self, what: &str, open: Pos) -> Result<bool> {
        let t = self.next()?;
        match t.tok {
            Tok::Comma => Ok(false),
            Tok::RParen => Ok(true),
            other => Err(ParseError::at(
                t.pos,
                format!("expected ',' or ')' to close {what} opened at {open}, found {other}"),
            )),
        }
    }

    /// Runs one level of recursive descent with enough stack for it, whatever the thread's
    /// stack size and the build's frame sizes: [`MAX_DEPTH`] bounds the depth, this the bytes.
    fn deeper<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || f(self))
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
        Ok(
            matches!(&t.tok, Tok::Word(w) if w == "set" || w == "delete")
                && probe.next()?.tok == Tok::LBrace,
        )
    }

    fn expect_eof(&mut self) -> Result<()> {
        let t = self.next()?;
        if t.tok != Tok::Eof {
            return Err(ParseError::at(
                t.pos,
                format!("expected the end of the text, found {}", t.tok),
            ));
        }
        Ok(())
    }

    fn check_no_vars_given(&self) -> Result<()> {
        let mut undeclared: Vec<&String> = self
            .given
            .keys()
            .filter(|k| !self.defs.contains_key(*k))
            .collect();
        undeclared.sort();
        match undeclared.first() {
            Some(k) => Err(ParseError::at(
                Pos::START,
                format!(
                    "variable ${k} was passed but the query does not declare it; declare it as query q(${k}: string)"
                ),
            )),
            None => Ok(()),
        }
    }

    fn check_var_uses(&self) -> Result<()> {
        for (name, pos) in &self.var_uses {
            if !self.var_defs.contains(name) {
                return Err(ParseError::at(
                    *pos,
                    format!(
                        "variable {name} is used but not defined; define it with {name} as ..."
                    ),
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
                    "upsert" => {
                        return Err(ParseError::at(
                            t.pos,
                            "expected a query, found an upsert block",
                        ));
                    }
                    "fragment" => return Err(ParseError::at(t.pos, "fragments are not supported")),
                    "mutation" => {
                        return Err(ParseError::at(
                            t.pos,
                            "a mutation block is only allowed inside upsert { }",
                        ));
                    }
                    _ => {
                        return Err(ParseError::at(
                            t.pos,
                            format!(
                                "expected '{{', 'query' or 'schema' to start a query, found {}",
                                t.tok
                            ),
                        ));
                    }
                },
                other => {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "expected '{{', 'query' or 'schema' to start a query, found {other}"
                        ),
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
                return Err(ParseError::at(
                    pos,
                    "only one named query operation is allowed",
                ));
            }
            q.name = Some(name);
        }
        if self.peek_is(&Tok::LParen)? {
            self.var_defs_list()?;
        }
        self.operation_body(q)
    }

    fn operation_body(&mut self, q: &mut Query) -> Result<()> {
        let open = self
            .expect(&Tok::LBrace, || "to start the query body".to_string())?
            .pos;
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
                return Err(ParseError::at(
                    t.pos,
                    format!("expected a variable like $name, found {}", t.tok),
                ));
            };
            if self.defs.contains_key(&name) {
                return Err(ParseError::at(
                    t.pos,
                    format!("variable ${name} is declared twice"),
                ));
            }
            self.expect(&Tok::Colon, || {
                format!("after ${name}, as in ${name}: string")
            })?;
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
                        return Err(ParseError::at(
                            d.pos,
                            format!("expected a default value for ${name}, found {other}"),
                        ));
                    }
                };
            }
            let value = self.given.get(&name).map(|v| v.to_string()).or(default);
            match &value {
                None if required => {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "variable ${name} is required (!) but the request gives no value for it"
                        ),
                    ));
                }
                Some(v) if !value_fits(ty, v) => {
                    return Err(ParseError::at(
                        t.pos,
                        format!(
                            "variable ${name} is declared {ty_name} but its value \"{v}\" is not a valid {ty_name}"
                        ),
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
                        format!(
                            "expected ',' or ')' to close the variable list opened at {open}, found {other}"
                        ),
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
                format!(
                    "variable ${name} has no value: pass it in the request's variables or give it a default"
                ),
            )),
            Some(VarDef { value: Some(v) }) => Ok(v.clone()),
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
        "uid"
            | "eq"
            | "le"
            | "lt"
            | "ge"
            | "gt"
            | "has"
            | "type"
            | "allofterms"
            | "anyofterms"
            | "uid_in"
            | "alloftext"
            | "anyoftext"
            | "regexp"
            | "match"
            | "between"
            | "near"
            | "within"
            | "contains"
            | "intersects"
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
    s.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

pub(crate) fn is_predicate_name(s: &str) -> bool {
    let body = s.strip_prefix('~').unwrap_or(s);
    body.chars().any(char::is_alphanumeric)
        && !body.contains(['~', '*', '+'])
        && !body.starts_with('-')
}

/// Splits `~name` into (name, reverse) and checks the name.
fn predicate_parts(word: &str, pos: Pos) -> Result<(String, bool)> {
    if !is_predicate_name(word) {
        return Err(ParseError::at(
            pos,
            format!("{word} is not a valid predicate name"),
        ));
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
            format!(
                "expected a predicate as the first argument of {func}, found {}",
                a.describe()
            ),
        )),
    }
}

fn check_lang(l: String, pos: Pos) -> Result<String> {
    let ok = l == "."
        || l == "*"
        || (l
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
            && l.starts_with(|c: char| c.is_ascii_alphabetic()));
    if ok {
        Ok(l)
    } else {
        Err(ParseError::at(
            pos,
            format!("{l} is not a language tag; write en, en-US, . or *"),
        ))
    }
}
