//! Query results as RDF (`Request.resp_format = RDF`), as Dgraph writes them: one
//! `<subject> <predicate> object .` line per value or edge, level by level (each field of a
//! level over all of the level's nodes, then the levels below), numbers and dates as plain
//! quoted literals, aliases as predicate names.
//!
//! The query runs with a hidden `uid` in every selection so that each object's node is known;
//! what RDF cannot say (`@groupby`, `count(uid)`, `@normalize`, `@ignorereflex`, `checkpwd`,
//! facets) is refused before anything runs, with Dgraph's messages.

use super::GraphError;
use lodestar_dql::Query;
use lodestar_dql::query::ast::{CountOf, Field, FieldKind};
use serde_json::{Map, Value as Json};
use std::fmt::Write;

/// The alias of the hidden uid field (a name no query can write).
const HIDDEN_UID: &str = "\u{1}uid";

/// Refuses what RDF output cannot express.
pub fn check(query: &Query) -> Result<(), GraphError> {
    fn fields(fs: &[Field]) -> Result<(), GraphError> {
        for f in fs {
            match &f.kind {
                FieldKind::Count(CountOf::Uid) => {
                    return Err(refuse(
                        "uid count is not supported in the rdf output format",
                    ));
                }
                FieldKind::Checkpwd { .. } => {
                    return Err(refuse(
                        "chkpwd function is not supported in the rdf output format",
                    ));
                }
                FieldKind::Predicate(e) => {
                    directives(&e.directives)?;
                    fields(&e.children)?;
                }
                FieldKind::Expand { children, .. } => fields(children)?,
                _ => {}
            }
        }
        Ok(())
    }
    fn directives(d: &lodestar_dql::query::ast::Directives) -> Result<(), GraphError> {
        if d.groupby.is_some() {
            return Err(refuse("groupby is not supported in rdf output format"));
        }
        if d.normalize {
            return Err(refuse(
                "normalize directive is not supported in the rdf output format",
            ));
        }
        if d.ignorereflex {
            return Err(refuse(
                "ignorereflex directive is not supported in the rdf output format",
            ));
        }
        if d.facets.is_some() || d.facet_filter.is_some() || !d.facet_order.is_empty() {
            return Err(refuse("facets are not supported in the rdf output format"));
        }
        Ok(())
    }
    for b in &query.blocks {
        directives(&b.directives)?;
        fields(&b.children)?;
    }
    Ok(())
}

fn refuse(msg: &str) -> GraphError {
    GraphError::Invalid(msg.to_string())
}

/// `query` with a hidden `uid` field in every selection.
pub fn with_uids(query: &Query) -> Query {
    fn add(fs: &mut Vec<Field>) {
        for f in fs.iter_mut() {
            if let FieldKind::Predicate(e) = &mut f.kind
                && !e.children.is_empty()
            {
                add(&mut e.children);
            }
        }
        fs.push(Field {
            alias: Some(HIDDEN_UID.to_string()),
            var: None,
            kind: FieldKind::Uid,
        });
    }
    let mut q = query.clone();
    for b in &mut q.blocks {
        if b.func.is_some() {
            add(&mut b.children);
        }
    }
    q
}

/// The RDF lines of `json`, the result of [`with_uids`]`(query)`.
pub fn render(query: &Query, json: &Map<String, Json>) -> String {
    let mut out = String::new();
    for b in &query.blocks {
        if b.name == "var" || b.func.is_none() {
            continue;
        }
        let Some(Json::Array(items)) = json.get(&b.name) else {
            continue;
        };
        let objs: Vec<&Map<String, Json>> = items.iter().filter_map(Json::as_object).collect();
        level(&mut out, &objs, &b.children);
    }
    out
}

/// The objects of one level.
type Objects<'a> = Vec<&'a Map<String, Json>>;

fn level(out: &mut String, objs: &[&Map<String, Json>], fields: &[Field]) {
    let mut below: Vec<(Objects<'_>, &[Field])> = Vec::new();
    for f in fields {
        let Some(key) = output_key(f) else { continue };
        let mut children = Vec::new();
        for o in objs {
            let Some(Json::String(subject)) = o.get(HIDDEN_UID) else {
                continue;
            };
            let Some(value) = o.get(&key) else { continue };
            let predicate = f.alias.clone().unwrap_or_else(|| base_name(&key));
            let values: Vec<&Json> = match value {
                Json::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for v in values {
                match v {
                    Json::Object(child) => {
                        if let Some(Json::String(obj)) = child.get(HIDDEN_UID) {
                            let _ = writeln!(out, "<{subject}> <{predicate}> <{obj}> .");
                        }
                        children.push(child);
                    }
                    Json::Null => {}
                    other => {
                        let _ = writeln!(out, "<{subject}> <{predicate}> {} .", literal(other));
                    }
                }
            }
        }
        if let FieldKind::Predicate(e) = &f.kind
            && !children.is_empty()
        {
            below.push((children, &e.children));
        }
    }
    for (children, fields) in below {
        level(out, &children, fields);
    }
}

/// The key a field's values have in the JSON; `None` for what RDF leaves out (`uid`).
fn output_key(f: &Field) -> Option<String> {
    if f.alias.as_deref() == Some(HIDDEN_UID) || matches!(f.kind, FieldKind::Uid) {
        return None;
    }
    if let Some(a) = &f.alias {
        return Some(a.clone());
    }
    Some(match &f.kind {
        FieldKind::Predicate(e) => {
            let name = format!("{}{}", if e.reverse { "~" } else { "" }, e.name);
            if e.langs.is_empty() {
                name
            } else {
                format!("{name}@{}", e.langs.join(":"))
            }
        }
        FieldKind::Count(CountOf::Predicate { name, reverse, .. }) => {
            format!("count({}{name})", if *reverse { "~" } else { "" })
        }
        FieldKind::Val(v) => format!("val({v})"),
        FieldKind::Aggregate { func, arg } => match arg {
            lodestar_dql::query::ast::AggArg::Val(v) => format!("{}(val({v}))", func.name()),
            lodestar_dql::query::ast::AggArg::Predicate(p) => format!("{}({p})", func.name()),
        },
        FieldKind::Math(_) => match &f.var {
            Some(v) => format!("val({v})"),
            None => return None,
        },
        _ => return None,
    })
}

/// `name@en` is written as `<name>`, as Dgraph does.
fn base_name(key: &str) -> String {
    key.split('@').next().unwrap_or(key).to_string()
}

/// A value as an RDF literal: strings JSON-escaped, numbers and dates quoted, booleans bare.
fn literal(v: &Json) -> String {
    match v {
        Json::String(s) => Json::String(s.clone()).to_string(),
        Json::Number(n) => format!("\"{n}\""),
        Json::Bool(b) => b.to_string(),
        other => Json::String(other.to_string()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn q(text: &str) -> Query {
        lodestar_dql::parse_query(text, &HashMap::new()).unwrap()
    }

    #[test]
    fn levels_are_written_field_by_field_then_below() {
        let query = q("{ me(func: uid(0x1)) { name friend { name age } count(friend) } }");
        let hidden = with_uids(&query);
        assert_eq!(hidden.blocks[0].children.len(), 4);
        let json = json!({"me": [{
            "\u{1}uid": "0x1", "name": "Michonne", "count(friend)": 2,
            "friend": [
                {"\u{1}uid": "0x17", "name": "Rick \"G\"", "age": 15},
                {"\u{1}uid": "0x18", "name": "Glenn"}
            ]
        }]});
        let text = render(&query, json.as_object().unwrap());
        assert_eq!(
            text,
            "<0x1> <name> \"Michonne\" .\n\
             <0x1> <friend> <0x17> .\n\
             <0x1> <friend> <0x18> .\n\
             <0x1> <count(friend)> \"2\" .\n\
             <0x17> <name> \"Rick \\\"G\\\"\" .\n\
             <0x18> <name> \"Glenn\" .\n\
             <0x17> <age> \"15\" .\n"
        );
    }

    #[test]
    fn what_rdf_cannot_say_is_refused() {
        for (text, msg) in [
            ("{ me(func: uid(1)) { count(uid) } }", "uid count"),
            ("{ me(func: uid(1)) @normalize { n: name } }", "normalize"),
            (
                "{ me(func: uid(1)) @groupby(age) { count(uid) } }",
                "groupby",
            ),
            ("{ me(func: uid(1)) { friend @facets { name } } }", "facets"),
        ] {
            let e = check(&q(text)).unwrap_err().to_string();
            assert!(e.contains(msg), "{text}: {e}");
        }
        assert!(check(&q("{ me(func: uid(1)) { name friend { name } } }")).is_ok());
    }
}
