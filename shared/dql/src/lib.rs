//! Parsers for the languages a Dgraph client speaks, for Lodestar's alpha: pure functions from
//! text to our own syntax trees, with no I/O.
//!
//! * [`nquad`]: RDF N-Quads of `set` / `delete` blocks and `set_nquads` / `del_nquads`, into
//!   [`NQuad`]s (with a [`Display`](std::fmt::Display) that writes them back as RDF).
//! * [`json`]: JSON mutations (`set_json` / `delete_json`) into the same [`NQuad`]s.
//! * [`query`]: DQL queries, `schema` queries, upsert blocks, `{ set { } }` mutation blocks and
//!   `@if` conditions, with GraphQL-style `$variables` substituted.
//!
//! Every error is a [`ParseError`] naming the 1-based line and column of the problem and saying
//! what was expected, e.g. `line 3 column 1: expected '}' to close the block opened at line 1
//! column 25`.

mod cursor;
mod datetime;
pub mod error;
pub mod json;
pub mod nquad;
pub mod query;

pub use error::{ParseError, Pos};
pub use json::{JsonParser, parse_delete_json, parse_set_json};
pub use nquad::{
    Facet, FacetValue, NQuad, Object, Predicate, Subject, Value, parse_delete_nquads, parse_nquads,
    parse_set_nquads,
};
pub use query::{Document, Query, Upsert, parse_condition, parse_dql, parse_query, parse_upsert};
