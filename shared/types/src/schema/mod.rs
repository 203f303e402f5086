//! Dgraph's schema language: parsing `Alter` schema text into predicate and type
//! definitions, validating them with Dgraph's rules and messages, rendering them back to text
//! and to the JSON a `schema {}` query returns.
//!
//! ```text
//! # comment
//! name: string @index(exact, term) @upsert @count @lang .
//! friend: [uid] @reverse @count .
//! dob: datetime @index(year) .
//! type Person {
//!     name
//!     friend
//!     <~friend>
//! }
//! ```
//!
//! Supported: every scalar type, `[T]` lists (not of `bool` or `password`, as in Dgraph), the
//! directives `@index(...)`, `@reverse`, `@count`, `@upsert`, `@unique`, `@noconflict` and
//! `@lang`, `<IRI>` names, type declarations in the current form and the deprecated
//! `field: type` form (types ignored), `#` comments. Not supported: vector types and indexes
//! (`float32vector`, `hnsw`), `bigfloat`, the `ngram` tokenizer (refused with a clear message),
//! and the `[0x0]` namespace prefix of Dgraph exports.

mod parse;
pub mod reserved;

use serde::{Deserialize, Serialize};

use crate::tokenizer::IndexKind;
use crate::value::ScalarType;

pub use parse::{MAX_NAME_LEN, parse};

/// The definition of one predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredicateSchema {
    /// The predicate's name (without `<>`).
    pub name: String,
    /// The type of its values (`uid` for edges).
    pub value_type: ScalarType,
    /// Whether it holds a list (`[T]`).
    pub list: bool,
    /// Its index tokenizers, in the order written.
    pub indexes: Vec<IndexKind>,
    /// `@reverse`: maintain the `~name` reverse edges (uid only).
    pub reverse: bool,
    /// `@count`: index the number of values per node.
    pub count: bool,
    /// `@upsert`: check index-key conflicts in transactions (needs an index).
    pub upsert: bool,
    /// `@lang`: values carry language tags (non-list string only).
    pub lang: bool,
    /// `@unique`: no two nodes may have the same value (needs a suitable index; implies
    /// `upsert`).
    pub unique: bool,
    /// `@noconflict`: skip conflict detection for this predicate.
    pub noconflict: bool,
}

impl PredicateSchema {
    /// A predicate of type `value_type` with no list, index or directive.
    pub fn new(name: impl Into<String>, value_type: ScalarType) -> Self {
        PredicateSchema {
            name: name.into(),
            value_type,
            list: false,
            indexes: Vec::new(),
            reverse: false,
            count: false,
            upsert: false,
            lang: false,
            unique: false,
            noconflict: false,
        }
    }

    /// Checks the definition against Dgraph's rules (the ones the parser applies, for
    /// definitions built in code): list element types, which types and tokenizers may be
    /// indexed, one sortable index, `@reverse` on uid, `@lang` on string, an index for
    /// `@upsert` and `@unique`.
    pub fn validate(&self) -> Result<(), SchemaErrorKind> {
        let (name, ty) = (&self.name, self.value_type);
        if name.eq_ignore_ascii_case("uid") {
            return Err(SchemaErrorKind::InternalName { name: name.clone() });
        }
        if self.list && matches!(ty, ScalarType::Bool | ScalarType::Password) {
            return Err(SchemaErrorKind::UnsupportedListType { ty });
        }
        if !self.indexes.is_empty() {
            check_indexable(name, ty)?;
        }
        let mut sortable = false;
        for (i, kind) in self.indexes.iter().enumerate() {
            check_tokenizer_fits(name, ty, *kind)?;
            if self.indexes[..i].contains(kind) {
                return Err(SchemaErrorKind::DuplicateTokenizer {
                    predicate: name.clone(),
                });
            }
            if kind.is_sortable() {
                if sortable {
                    return Err(SchemaErrorKind::MultipleSortable {
                        predicate: name.clone(),
                    });
                }
                sortable = true;
            }
        }
        if self.reverse && ty != ScalarType::Uid {
            return Err(SchemaErrorKind::ReverseNonUid);
        }
        if self.lang && (ty != ScalarType::String || self.list) {
            return Err(SchemaErrorKind::LangNonString {
                ty,
                predicate: name.clone(),
            });
        }
        if self.unique {
            let ok = match ty {
                ScalarType::String => self
                    .indexes
                    .iter()
                    .any(|k| matches!(k, IndexKind::Exact | IndexKind::Hash)),
                ScalarType::Int => self.indexes.contains(&IndexKind::Int),
                _ => !self.indexes.is_empty(),
            };
            if !ok {
                return Err(SchemaErrorKind::UniqueWithoutIndex {
                    predicate: name.clone(),
                    ty,
                });
            }
        }
        if self.upsert && self.indexes.is_empty() {
            return Err(SchemaErrorKind::UpsertWithoutIndex {
                predicate: name.clone(),
            });
        }
        Ok(())
    }

    /// The entry Dgraph returns for this predicate in a `schema {}` query.
    pub fn to_schema_node(&self) -> SchemaNode {
        SchemaNode {
            predicate: self.name.clone(),
            value_type: self.value_type.name().to_owned(),
            index: !self.indexes.is_empty(),
            tokenizer: self.indexes.iter().map(|k| k.name().to_owned()).collect(),
            reverse: self.reverse,
            count: self.count,
            list: self.list,
            upsert: self.upsert,
            lang: self.lang,
            no_conflict: self.noconflict,
            unique: self.unique,
        }
    }

    /// [`PredicateSchema::to_schema_node`] as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_schema_node()).unwrap_or_default()
    }
}

/// The explanation added when a refused type or tokenizer belongs to vector search.
fn vector_note(name: &str) -> &'static str {
    if ["float32vector", "hnsw"].contains(&name.to_ascii_lowercase().as_str()) {
        " (vector search: float32vector, @index(hnsw) and similar_to are not implemented)"
    } else {
        ""
    }
}

pub(crate) fn check_indexable(predicate: &str, ty: ScalarType) -> Result<(), SchemaErrorKind> {
    if matches!(
        ty,
        ScalarType::Uid | ScalarType::Default | ScalarType::Password
    ) {
        return Err(SchemaErrorKind::IndexNotAllowed {
            predicate: predicate.to_owned(),
            ty,
        });
    }
    Ok(())
}

pub(crate) fn check_tokenizer_fits(
    predicate: &str,
    ty: ScalarType,
    kind: IndexKind,
) -> Result<(), SchemaErrorKind> {
    if kind.value_type() != ty {
        return Err(SchemaErrorKind::TokenizerTypeMismatch {
            tokenizer: kind,
            predicate: predicate.to_owned(),
            ty,
        });
    }
    Ok(())
}

/// A node type: the predicates `expand(_all_)` and `type()` consider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDef {
    /// The type's name.
    pub name: String,
    /// Its predicates; reverse edges are written `~name`.
    pub fields: Vec<String>,
}

impl TypeDef {
    /// The entry Dgraph returns for this type in a `schema {}` query.
    pub fn to_type_node(&self) -> TypeNode {
        TypeNode {
            name: self.name.clone(),
            fields: self
                .fields
                .iter()
                .map(|f| FieldNode { name: f.clone() })
                .collect(),
        }
    }

    /// [`TypeDef::to_type_node`] as a JSON value: `{"name":"Person","fields":[{"name":"name"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_type_node()).unwrap_or_default()
    }
}

/// The result of parsing schema text: what an `Alter` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaUpdate {
    /// Predicate definitions, in the order written.
    pub predicates: Vec<PredicateSchema>,
    /// Type definitions, in the order written.
    pub types: Vec<TypeDef>,
}

/// A predicate in a `schema {}` response. Field names and order are Dgraph's
/// (`pb.SchemaNode`); false booleans and empty lists are left out, as Dgraph does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaNode {
    /// The predicate.
    pub predicate: String,
    /// Its type name.
    #[serde(rename = "type")]
    pub value_type: String,
    /// Whether it has an index.
    #[serde(default, skip_serializing_if = "is_false")]
    pub index: bool,
    /// Its tokenizers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokenizer: Vec<String>,
    /// `@reverse`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
    /// `@count`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub count: bool,
    /// List type.
    #[serde(default, skip_serializing_if = "is_false")]
    pub list: bool,
    /// `@upsert`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub upsert: bool,
    /// `@lang`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub lang: bool,
    /// `@noconflict`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_conflict: bool,
    /// `@unique`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
}

/// A type in a `schema {}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeNode {
    /// The type's name.
    pub name: String,
    /// Its fields.
    pub fields: Vec<FieldNode>,
}

/// One field of a [`TypeNode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldNode {
    /// The predicate.
    pub name: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Renders a predicate definition as schema text that [`parse()`] reads back to the same
/// definition, with directives in Dgraph's export order:
/// `name: [string] @index(exact,term) @count @lang @upsert @unique @noconflict .`
pub fn render(p: &PredicateSchema) -> String {
    let ty = p.value_type.name();
    let mut out = format!("{}: ", render_name(&p.name));
    if p.list {
        out.push_str(&format!("[{ty}]"));
    } else {
        out.push_str(ty);
    }
    if p.reverse {
        out.push_str(" @reverse");
    }
    if !p.indexes.is_empty() {
        let names: Vec<&str> = p.indexes.iter().map(|k| k.name()).collect();
        out.push_str(&format!(" @index({})", names.join(",")));
    }
    for (on, directive) in [
        (p.count, " @count"),
        (p.lang, " @lang"),
        (p.upsert, " @upsert"),
        (p.unique, " @unique"),
        (p.noconflict, " @noconflict"),
    ] {
        if on {
            out.push_str(directive);
        }
    }
    out.push_str(" .");
    out
}

/// Renders a type definition, one field per line.
pub fn render_type(t: &TypeDef) -> String {
    let mut out = format!("type {} {{\n", render_name(&t.name));
    for f in &t.fields {
        out.push('\t');
        out.push_str(&render_name(f));
        out.push('\n');
    }
    out.push('}');
    out
}

/// A name as a bare word when the lexer reads it back as one, otherwise as `<name>`.
fn render_name(name: &str) -> String {
    if parse::is_bare_word(name) {
        name.to_owned()
    } else {
        format!("<{name}>")
    }
}

/// Where in the schema text an error is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {kind}")]
pub struct SchemaError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong.
    pub kind: SchemaErrorKind,
}

/// What is wrong with a schema. Where Dgraph has a message for the case, the text is Dgraph's
/// (`schema/parse.go`, `worker/mutation.go`, `edgraph/server.go`), so that clients matching on
/// it keep working.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaErrorKind {
    /// Malformed text; the message says what was expected.
    #[error("{0}")]
    Syntax(String),
    /// A type name that is not a scalar type.
    #[error("Undefined Type: {name}")]
    UndefinedType {
        /// The name as written.
        name: String,
    },
    /// A Dgraph type Lodestar does not implement.
    #[error(
        "type {name} is not supported by lodestar yet{}: use one of default, int, float, string, bool, datetime, geo, password, uid",
        vector_note(name)
    )]
    UnsupportedType {
        /// The name as written.
        name: String,
    },
    /// `[bool]` or `[password]`.
    #[error("Unsupported type for list: [{ty}].")]
    UnsupportedListType {
        /// The element type.
        ty: ScalarType,
    },
    /// An unknown directive.
    #[error("Invalid index specification: @{name}")]
    UnknownDirective {
        /// The directive as written.
        name: String,
    },
    /// `@index` on uid, default or password.
    #[error("Indexing not allowed on predicate {predicate} of type {ty}")]
    IndexNotAllowed {
        /// The predicate.
        predicate: String,
        /// Its type.
        ty: ScalarType,
    },
    /// `@index` without `(tokenizers)`.
    #[error("Require type of tokenizer for pred: {predicate} for indexing.")]
    MissingTokenizer {
        /// The predicate.
        predicate: String,
    },
    /// A tokenizer name Dgraph does not know.
    #[error("Invalid tokenizer {name}")]
    InvalidTokenizer {
        /// The name as written.
        name: String,
    },
    /// A Dgraph tokenizer Lodestar does not implement.
    #[error(
        "tokenizer {name} is not supported by lodestar yet{}: use one of exact, hash, term, fulltext, trigram, int, float, bool, year, month, day, hour, geo, sha256",
        vector_note(name)
    )]
    UnsupportedTokenizer {
        /// The name as written.
        name: String,
    },
    /// A tokenizer for another type, such as `@index(int)` on a string.
    #[error("Tokenizer: {tokenizer} isn't valid for predicate: {predicate} of type: {ty}")]
    TokenizerTypeMismatch {
        /// The tokenizer.
        tokenizer: IndexKind,
        /// The predicate.
        predicate: String,
        /// Its type.
        ty: ScalarType,
    },
    /// The same tokenizer twice.
    #[error("Duplicate tokenizers defined for pred {predicate}")]
    DuplicateTokenizer {
        /// The predicate.
        predicate: String,
    },
    /// Two sortable tokenizers, such as `year` and `month` on one datetime.
    #[error("More than one sortable index encountered for: {predicate}")]
    MultipleSortable {
        /// The predicate.
        predicate: String,
    },
    /// `@reverse` on a scalar predicate.
    #[error("Cannot reverse for non-UID type")]
    ReverseNonUid,
    /// `@lang` on anything but a non-list string.
    #[error(
        "@lang directive can only be specified for string type. Got: [{ty}] for attr: [{predicate}]"
    )]
    LangNonString {
        /// The predicate's type.
        ty: ScalarType,
        /// The predicate.
        predicate: String,
    },
    /// `@upsert` without `@index`.
    #[error("Index tokenizer is mandatory for: [{predicate}] when specifying @upsert directive")]
    UpsertWithoutIndex {
        /// The predicate.
        predicate: String,
    },
    /// `@unique` without an index that can find equal values.
    #[error("index for predicate [{predicate}] is missing, {}", unique_hint(*ty))]
    UniqueWithoutIndex {
        /// The predicate.
        predicate: String,
        /// Its type.
        ty: ScalarType,
    },
    /// The predicate `uid`, which the query language reserves.
    #[error("Cannot create user-defined predicate with internal name {name}")]
    InternalName {
        /// The name as written.
        name: String,
    },
    /// A predicate defined twice in one update.
    #[error("predicate {predicate} defined multiple times")]
    DuplicatePredicate {
        /// The predicate.
        predicate: String,
    },
    /// A type defined twice in one update.
    #[error("type {name} defined multiple times")]
    DuplicateType {
        /// The type.
        name: String,
    },
    /// A type listing a field twice.
    #[error("Duplicate fields with name: {name}")]
    DuplicateField {
        /// The field.
        name: String,
    },
}

fn unique_hint(ty: ScalarType) -> &'static str {
    match ty {
        ScalarType::String => "add either hash or exact index with @unique",
        ScalarType::Int => "add int index with @unique",
        _ => "add an index with @unique",
    }
}

/// A schema change that existing data or the old definition forbids (Dgraph's
/// `worker.checkSchema` rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaChangeError {
    /// Changing to or from `password`.
    #[error("Schema change not allowed from {from} to {to}")]
    Password {
        /// The old type.
        from: ScalarType,
        /// The new type.
        to: ScalarType,
    },
    /// Turning a list with data into a single value.
    #[error("Schema change not allowed from [{from}] => {to} without deleting pred: {predicate}")]
    ListToSingle {
        /// The old element type.
        from: ScalarType,
        /// The new type.
        to: ScalarType,
        /// The predicate.
        predicate: String,
    },
    /// Switching between uid and a scalar while data exists.
    #[error(
        "Schema change not allowed from scalar to uid or vice versa while there is data for pred: {predicate}"
    )]
    ScalarUid {
        /// The predicate.
        predicate: String,
    },
}

/// Checks replacing `old` by `new` for the same predicate: `password` cannot change type,
/// and while the predicate `has_data`, a list cannot become single-valued nor uid a scalar
/// (or back).
pub fn check_change(
    old: &PredicateSchema,
    new: &PredicateSchema,
    has_data: bool,
) -> Result<(), SchemaChangeError> {
    let (from, to) = (old.value_type, new.value_type);
    let is_uid = |t: ScalarType| t == ScalarType::Uid;
    if (from == ScalarType::Password || to == ScalarType::Password) && from != to {
        return Err(SchemaChangeError::Password { from, to });
    }
    if is_uid(from) == is_uid(to) {
        if old.list && !new.list && has_data {
            return Err(SchemaChangeError::ListToSingle {
                from,
                to,
                predicate: new.name.clone(),
            });
        }
    } else if has_data {
        return Err(SchemaChangeError::ScalarUid {
            predicate: new.name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
