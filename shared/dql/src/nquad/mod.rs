//! RDF N-Quads as Dgraph accepts them in `set` / `delete` blocks and in a mutation's
//! `set_nquads` / `del_nquads`, and the [`NQuad`] type that the JSON mutation parser produces
//! too.
//!
//! One N-Quad per line (several may share a line), each ended by `.`:
//!
//! ```text
//! _:alice <name> "Alice"@en (since=2006-01-02T15:04:05, close=true) .
//! <0x1a> <age> "42"^^<xs:int> .
//! uid(v) <friend> _:alice .     # upsert variables
//! <0x1a> * * .                  # delete everything (delete blocks only)
//! ```

mod parse;
mod render;

pub(crate) use parse::{Mode, is_var_char, parse_block, quoted_string};
pub use parse::{parse_delete_nquads, parse_nquads, parse_set_nquads};
pub(crate) use render::quote;

/// One edge or value to add or delete: subject, predicate, object, plus language and facets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NQuad {
    /// The node the edge starts from.
    pub subject: Subject,
    /// The edge's name, or `*` (every predicate) in `S * *` deletions.
    pub predicate: Predicate,
    /// The node the edge points to, or the scalar value.
    pub object: Object,
    /// Language of a string value (`"chat"@fr`).
    pub lang: Option<String>,
    /// Key-value pairs stored on the edge, in the order written.
    pub facets: Vec<Facet>,
}

/// The subject of an N-Quad.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Subject {
    /// An existing node: `<0x1a>`, `<26>` or a bare `0x1a`.
    Uid(u64),
    /// A blank node, named without the `_:` prefix (`_:alice` is `Blank("alice")`).
    Blank(String),
    /// The uids held by a query variable in an upsert: `uid(v)` is `Var("v")`.
    Var(String),
}

/// The predicate of an N-Quad.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Predicate {
    /// A named predicate, `<name>` or bare `name`.
    Named(String),
    /// `*`, every predicate of the subject (only in deletions, with a `*` object).
    Star,
}

/// The object of an N-Quad.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Object {
    /// An existing node, `<0x1b>`.
    Uid(u64),
    /// A blank node, named without the `_:` prefix.
    Blank(String),
    /// The uids held by an upsert query variable, `uid(v)`.
    UidVar(String),
    /// The values held by an upsert value variable, `val(v)`.
    ValVar(String),
    /// `*`, every value or edge of the predicate (only in deletions).
    Star,
    /// A scalar value.
    Value(Value),
}

/// A scalar value, typed as the literal was written (`"42"^^<xs:int>` is `Int(42)`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// A literal without a type (`"x"`); the schema decides its type.
    Default(String),
    /// `xs:string`, and every string of a JSON mutation.
    Str(String),
    /// `xs:int` / `xs:integer` / `xs:positiveInteger`, or a JSON integer.
    Int(i64),
    /// `xs:float` / `xs:double`, or a JSON number with a fraction or exponent.
    Float(f64),
    /// `xs:boolean`, or a JSON boolean.
    Bool(bool),
    /// `xs:dateTime` / `xs:date`, kept exactly as written.
    DateTime(String),
    /// `xs:password`, the clear text (the alpha hashes it).
    Password(String),
    /// `geo:geojson`, the GeoJSON text as written.
    Geo(String),
}

/// A facet: a key-value pair on an edge, `(since=2006-01-02)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Facet {
    /// The facet's name.
    pub key: String,
    /// The facet's value, typed as Dgraph infers it.
    pub value: FacetValue,
}

/// A facet value. In RDF a quoted value is a string; otherwise it is an int, a float, `true` /
/// `false`, or an RFC 3339 date-time / `2006-01-02` date, tried in that order. In JSON a string
/// that is such a date-time is a date-time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FacetValue {
    /// A string (quoted in RDF).
    Str(String),
    /// A 64-bit integer (decimal, or `0x` / `0o` / `0b` in RDF).
    Int(i64),
    /// A finite float.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A date or date-time, kept as written.
    DateTime(String),
}

impl NQuad {
    /// The predicate's name, or `None` for `*`.
    pub fn predicate_name(&self) -> Option<&str> {
        match &self.predicate {
            Predicate::Named(n) => Some(n),
            Predicate::Star => None,
        }
    }
}
