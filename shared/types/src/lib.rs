//! Lodestar's value layer: the pure building blocks the alpha's storage and query engine
//! share with tools.
//!
//! * [`value`]: scalar types and typed values ([`Val`]), conversion from mutation literals
//!   with Dgraph's rules, the stable storage encoding, Dgraph's JSON rendering and sort order.
//! * [`schema`]: Dgraph's schema language (parse, validate, render, `schema {}` JSON) and the
//!   reserved `dgraph.*` schema.
//! * [`tokenizer`]: index tokens for every supported `@index` tokenizer, for writes and for
//!   query functions (equality, terms, ranges).
//! * [`password`]: argon2id hashing and verification for `password` predicates.
//!
//! Nothing here does I/O. Password hashing is CPU-heavy: call it from `spawn_blocking`.

#![warn(missing_docs)]

pub mod password;
pub mod schema;
pub mod tokenizer;
pub mod value;

pub use schema::{PredicateSchema, SchemaUpdate, TypeDef};
pub use tokenizer::IndexKind;
pub use value::{ConvertError, Literal, ScalarType, Val};
