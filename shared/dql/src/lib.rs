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
//!
//! ```
//! use std::collections::HashMap;
//!
//! use lodestar_dql::query::{FieldKind, Func};
//! use lodestar_dql::{Object, Value, parse_query, parse_set_nquads};
//!
//! let vars = HashMap::from([("$name".to_string(), "Alice".to_string())]);
//! let q = parse_query("query q($name: string) { me(func: eq(name, $name)) { uid name } }", &vars)?;
//! assert_eq!(q.blocks[0].name, "me");
//! assert!(matches!(q.blocks[0].func, Some(Func::Compare { .. })));
//! assert_eq!(q.blocks[0].children[0].kind, FieldKind::Uid);
//!
//! let nquads = parse_set_nquads("_:a <name> \"Alice\"@en .")?;
//! assert_eq!(nquads[0].object, Object::Value(Value::Default("Alice".into())));
//!
//! let err = parse_query("{\n  me(func: foo(x)) { uid }\n}", &HashMap::new()).unwrap_err();
//! assert_eq!(err.to_string(), "line 2 column 12: unknown function foo");
//! # Ok::<(), lodestar_dql::ParseError>(())
//! ```

#![warn(missing_docs)]

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
