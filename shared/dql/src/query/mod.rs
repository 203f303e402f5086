//! DQL: queries, upsert blocks, mutation blocks and upsert conditions, parsed into the
//! syntax-tree types of [`ast`] (re-exported here). GraphQL-style variables (`$name`, declared in
//! `query q($name: string)`) are substituted while parsing, from the request's variables map
//! (keys with or without `$`).

pub mod ast;
mod lexer;
mod parser;
mod render;

use std::collections::HashMap;

pub use ast::*;

use crate::error::Result;
use parser::Parser;

/// Parses a query request: `{ ... }`, `query name($a: int = 1) { ... }`, `schema { ... }`.
///
/// `vars` maps variable names (`"$a"` or `"a"`) to their values as strings. A variable that is
/// used but not declared, declared without a value or default, passed but not declared, or not
/// of its declared type is an error.
pub fn parse_query(text: &str, vars: &HashMap<String, String>) -> Result<Query> {
    Parser::new(text, vars).query_document()
}

/// Parses any DQL document: a query, an `upsert { ... }` block, or a `{ set { } delete { } }`
/// mutation block.
pub fn parse_dql(text: &str, vars: &HashMap<String, String>) -> Result<Document> {
    Parser::new(text, vars).document()
}

/// Parses an `upsert { query { ... } mutation @if(...) { set { ... } delete { ... } } }` block.
/// The N-Quads of the mutations are parsed in place, so their errors carry positions in `text`.
pub fn parse_upsert(text: &str, vars: &HashMap<String, String>) -> Result<Upsert> {
    Parser::new(text, vars).upsert_only()
}

/// Parses a mutation's condition as sent in `Mutation.cond`: `@if(eq(len(v), 1) AND gt(len(w), 0))`.
pub fn parse_condition(text: &str) -> Result<Condition> {
    let none = HashMap::new();
    Parser::new(text, &none).condition_document()
}

#[cfg(test)]
mod tests;
