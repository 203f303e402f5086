//! Dgraph's reserved schema: the `dgraph.*` predicates and types every namespace starts with
//! (ACL, GraphQL, drop records, `dgraph.type`), and the rules that protect them.
//!
//! Names starting with `dgraph.` (any case) are reserved. The pre-defined ones below may be
//! re-submitted unchanged but never modified or dropped; other `dgraph.*` names cannot be
//! created at all (`edgraph/server.go`, `x/keys.go`).

use std::sync::LazyLock;

use super::{PredicateSchema, SchemaUpdate, TypeDef, parse};

/// The pre-defined schema, as Dgraph v24 creates it (ACL predicates included).
pub const RESERVED_SCHEMA: &str = "\
dgraph.type: [string] @index(exact) .
dgraph.drop.op: string .
dgraph.graphql.schema: string .
dgraph.graphql.xid: string @index(exact) @upsert .
dgraph.graphql.p_query: string @index(sha256) .
dgraph.xid: string @index(exact) @upsert @unique .
dgraph.password: password .
dgraph.user.group: [uid] @reverse .
dgraph.acl.rule: [uid] .
dgraph.rule.predicate: string @index(exact) @upsert .
dgraph.rule.permission: int .
type dgraph.graphql {
	dgraph.graphql.schema
	dgraph.graphql.xid
}
type dgraph.graphql.persisted_query {
	dgraph.graphql.p_query
}
type dgraph.type.User {
	dgraph.xid
	dgraph.password
	dgraph.user.group
}
type dgraph.type.Group {
	dgraph.xid
	dgraph.acl.rule
}
type dgraph.type.Rule {
	dgraph.rule.predicate
	dgraph.rule.permission
}
";

// The text is a constant and a unit test parses it, so the fallback is never taken.
static RESERVED: LazyLock<SchemaUpdate> =
    LazyLock::new(|| parse(RESERVED_SCHEMA).unwrap_or_default());

/// The pre-defined predicates and types ([`RESERVED_SCHEMA`], parsed).
pub fn reserved() -> &'static SchemaUpdate {
    &RESERVED
}

/// Whether `name` is in the reserved `dgraph.` namespace (ASCII case ignored).
pub fn is_reserved_name(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("dgraph."))
}

/// The pre-defined predicate called `name`, ignoring ASCII case as Dgraph does.
pub fn predefined_predicate(name: &str) -> Option<&'static PredicateSchema> {
    reserved()
        .predicates
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The pre-defined type called exactly `name` (Dgraph compares type names exactly).
pub fn predefined_type(name: &str) -> Option<&'static TypeDef> {
    reserved().types.iter().find(|t| t.name == name)
}

/// An `Alter` that would change or drop reserved schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservedError {
    /// A pre-defined predicate with a different definition.
    #[error("predicate {0} is pre-defined and is not allowed to be modified")]
    PredicateModified(String),
    /// Dropping a pre-defined predicate.
    #[error("predicate {0} is pre-defined and is not allowed to be dropped")]
    PredicateDropped(String),
    /// A pre-defined type with different fields.
    #[error("type {0} is pre-defined and is not allowed to be modified")]
    TypeModified(String),
    /// Dropping a pre-defined type.
    #[error("type {0} is pre-defined and is not allowed to be dropped")]
    TypeDropped(String),
    /// Creating a `dgraph.*` predicate that is not pre-defined.
    #[error(
        "Can't alter predicate `{0}` as it is prefixed with `dgraph.` which is reserved as the namespace for dgraph's internal types/predicates."
    )]
    ReservedPredicate(String),
    /// Creating a `dgraph.*` type that is not pre-defined.
    #[error(
        "Can't alter type `{0}` as it is prefixed with `dgraph.` which is reserved as the namespace for dgraph's internal types/predicates."
    )]
    ReservedType(String),
}

/// Refuses an update that touches reserved schema other than by restating it. A pre-defined
/// predicate must match its definition exactly, except that `@unique` may be left out (older
/// clients send `dgraph.xid` without it); the update then gets the pre-defined value, as
/// Dgraph's `CheckAndModifyPreDefPredicate` does.
pub fn check_alter(update: &mut SchemaUpdate) -> Result<(), ReservedError> {
    for p in &mut update.predicates {
        match predefined_predicate(&p.name) {
            Some(def) => {
                let mut restated = p.clone();
                restated.unique = def.unique;
                if restated != *def {
                    return Err(ReservedError::PredicateModified(p.name.clone()));
                }
                p.unique = def.unique;
            }
            None if is_reserved_name(&p.name) => {
                return Err(ReservedError::ReservedPredicate(p.name.clone()));
            }
            None => {}
        }
    }
    for t in &update.types {
        match predefined_type(&t.name) {
            Some(def) => {
                let mut want = def.fields.clone();
                let mut got = t.fields.clone();
                want.sort();
                got.sort();
                if want != got {
                    return Err(ReservedError::TypeModified(t.name.clone()));
                }
            }
            None if is_reserved_name(&t.name) => {
                return Err(ReservedError::ReservedType(t.name.clone()));
            }
            None => {}
        }
    }
    Ok(())
}

/// Refuses dropping a pre-defined predicate (any case); the message names it as given.
pub fn check_drop_predicate(name: &str) -> Result<(), ReservedError> {
    match predefined_predicate(name) {
        Some(_) => Err(ReservedError::PredicateDropped(name.to_owned())),
        None => Ok(()),
    }
}

/// Refuses dropping a pre-defined type.
pub fn check_drop_type(name: &str) -> Result<(), ReservedError> {
    match predefined_type(name) {
        Some(_) => Err(ReservedError::TypeDropped(name.to_owned())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse;
    use crate::tokenizer::IndexKind;
    use crate::value::ScalarType;

    #[test]
    fn reserved_schema_parses_completely() {
        let r = parse(RESERVED_SCHEMA).expect("the reserved schema must parse");
        assert_eq!(reserved(), &r);
        assert_eq!(r.predicates.len(), 11);
        assert_eq!(r.types.len(), 5);
        let xid = predefined_predicate("dgraph.xid").unwrap();
        assert_eq!(xid.indexes, vec![IndexKind::Exact]);
        assert!(xid.upsert && xid.unique);
        let group = predefined_predicate("dgraph.user.group").unwrap();
        assert!(group.list && group.reverse);
        assert_eq!(group.value_type, ScalarType::Uid);
        assert_eq!(
            predefined_predicate("dgraph.graphql.p_query")
                .unwrap()
                .indexes,
            vec![IndexKind::Sha256]
        );
        assert_eq!(
            predefined_type("dgraph.type.User").unwrap().fields,
            vec!["dgraph.xid", "dgraph.password", "dgraph.user.group"]
        );
    }

    #[test]
    fn restating_predefined_schema_is_allowed() {
        let mut u = parse(RESERVED_SCHEMA).unwrap();
        check_alter(&mut u).unwrap();
        // Without @unique, as older clients send it: accepted, and @unique is kept.
        let mut u = parse("dgraph.xid: string @index(exact) @upsert .").unwrap();
        check_alter(&mut u).unwrap();
        assert!(u.predicates[0].unique);
        // Fields in another order are the same type.
        let mut u = parse("type dgraph.type.Rule { dgraph.rule.permission dgraph.rule.predicate }")
            .unwrap();
        check_alter(&mut u).unwrap();
    }

    #[test]
    fn modifying_predefined_schema_is_refused_with_dgraphs_message() {
        let mut u = parse("dgraph.xid: int .").unwrap();
        assert_eq!(
            check_alter(&mut u).unwrap_err().to_string(),
            "predicate dgraph.xid is pre-defined and is not allowed to be modified"
        );
        // Case-insensitive match, reported as written.
        let mut u = parse("dgraph.XID: int .").unwrap();
        assert_eq!(
            check_alter(&mut u).unwrap_err().to_string(),
            "predicate dgraph.XID is pre-defined and is not allowed to be modified"
        );
        let mut u = parse("type dgraph.type.Group { dgraph.xid }").unwrap();
        assert_eq!(
            check_alter(&mut u).unwrap_err().to_string(),
            "type dgraph.type.Group is pre-defined and is not allowed to be modified"
        );
    }

    #[test]
    fn other_reserved_names_cannot_be_created() {
        let mut u = parse("dgraph.foo: string .").unwrap();
        assert_eq!(
            check_alter(&mut u).unwrap_err(),
            ReservedError::ReservedPredicate("dgraph.foo".into())
        );
        let mut u = parse("type DGRAPH.mine { name }").unwrap();
        assert_eq!(
            check_alter(&mut u).unwrap_err(),
            ReservedError::ReservedType("DGRAPH.mine".into())
        );
        let mut u = parse("dgraphx: string .\ntype dgraph { name }").unwrap();
        check_alter(&mut u).unwrap();
    }

    #[test]
    fn dropping_predefined_schema_is_refused() {
        assert_eq!(
            check_drop_predicate("dgraph.xid").unwrap_err().to_string(),
            "predicate dgraph.xid is pre-defined and is not allowed to be dropped"
        );
        assert_eq!(
            check_drop_predicate("Dgraph.Type").unwrap_err().to_string(),
            "predicate Dgraph.Type is pre-defined and is not allowed to be dropped"
        );
        check_drop_predicate("name").unwrap();
        assert_eq!(
            check_drop_type("dgraph.type.Group")
                .unwrap_err()
                .to_string(),
            "type dgraph.type.Group is pre-defined and is not allowed to be dropped"
        );
        check_drop_type("Person").unwrap();
        assert!(is_reserved_name("DGraph.anything"));
        assert!(!is_reserved_name("dgraph"));
    }
}
