//! JSON mutations (`set_json` / `delete_json`) turned into [`NQuad`]s the way Dgraph does.
//!
//! * The body is an object or an array of objects. Each object is a node: its `"uid"` is
//!   `"0x1a"`, a number, `"_:name"` or `"uid(v)"`; without one (in a set) it is a new blank node
//!   named `_:dg.0`, `_:dg.1`, ... in document order. A `"namespace"` key is skipped, as Dgraph
//!   does (the alpha takes the namespace from the login).
//! * Every other key is a predicate: strings ([`Value::Str`], as in Dgraph, so that a new
//!   predicate gets the `string` type), integers, floats and booleans become values (a string
//!   `"uid(v)"` / `"val(v)"` refers to an upsert variable), a nested object becomes an edge to that
//!   node (and its own N-Quads), an object with exactly `type` and `coordinates` is a GeoJSON
//!   value, and an array gives one N-Quad per element.
//! * `"name@en"` carries a language. `"pred|facet": value` puts a facet on `pred`'s N-Quad; for a
//!   list, `"pred|facet": {"0": v, "2": w}` puts it on the listed elements; for an edge to a nested
//!   object, the `"pred|facet"` key is written inside the nested object.
//! * Deletion: `"pred": null` deletes every value (`S pred *`), an object holding only `"uid"`
//!   at the top level deletes the node's edges (`S * *`), and, as in Dgraph, `""` and `false`
//!   also mean `*`.

mod value;

use crate::datetime::is_facet_datetime;
use crate::error::{ParseError, Pos, Result};
use crate::nquad::is_var_char;
use crate::nquad::{Facet, FacetValue, NQuad, Object, Predicate, Subject, Value};
use value::{JKind, JVal, Member};

/// Parses the body of a `set_json` mutation.
pub fn parse_set_json(input: &str) -> Result<Vec<NQuad>> {
    JsonParser::new().parse_set(input)
}

/// Parses the body of a `delete_json` mutation.
pub fn parse_delete_json(input: &str) -> Result<Vec<NQuad>> {
    JsonParser::new().parse_delete(input)
}

/// Parses several JSON mutation bodies of one request, numbering the generated blank nodes
/// (`_:dg.N`) across all of them so that two bodies never share a generated node.
#[derive(Debug, Default, Clone)]
pub struct JsonParser {
    next_blank: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Delete,
}

impl JsonParser {
    /// A parser whose first generated blank node is `_:dg.0`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a `set_json` body.
    pub fn parse_set(&mut self, input: &str) -> Result<Vec<NQuad>> {
        self.parse(input, Op::Set)
    }

    /// Parses a `delete_json` body.
    pub fn parse_delete(&mut self, input: &str) -> Result<Vec<NQuad>> {
        self.parse(input, Op::Delete)
    }

    fn parse(&mut self, input: &str, op: Op) -> Result<Vec<NQuad>> {
        let root = value::parse(input)?;
        let mut conv = Converter {
            src: input,
            op,
            next_blank: &mut self.next_blank,
            out: Vec::new(),
        };
        match &root.kind {
            JKind::Obj(members) => conv.top(members, root.pos)?,
            JKind::Arr(items) => {
                for item in items {
                    match &item.kind {
                        JKind::Obj(members) => conv.top(members, item.pos)?,
                        other => {
                            return Err(ParseError::at(
                                item.pos,
                                format!(
                                    "expected an object in the top-level array, found {}",
                                    other.type_name()
                                ),
                            ));
                        }
                    }
                }
            }
            other => {
                return Err(ParseError::at(
                    root.pos,
                    format!(
                        "a JSON mutation must be an object or an array of objects, found {}",
                        other.type_name()
                    ),
                ));
            }
        }
        Ok(conv.out)
    }
}

struct Converter<'s, 'n> {
    src: &'s str,
    op: Op,
    next_blank: &'n mut u64,
    out: Vec<NQuad>,
}

const GEO_TYPES: [&str; 7] = [
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
];

impl Converter<'_, '_> {
    fn top(&mut self, members: &[Member], pos: Pos) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let (subject, _) = self.node(members, pos, None)?;
        if self.op == Op::Delete && members.len() == 1 && members[0].key == "uid" {
            self.out.push(NQuad {
                subject,
                predicate: Predicate::Star,
                object: Object::Star,
                lang: None,
                facets: Vec::new(),
            });
        }
        Ok(())
    }

    /// Emits the N-Quads of one object and returns its subject and the facets it carries for
    /// the edge from its parent (`"parent_pred|facet"` keys).
    fn node(
        &mut self,
        members: &[Member],
        pos: Pos,
        parent: Option<&str>,
    ) -> Result<(Subject, Vec<Facet>)> {
        let subject = match members.iter().find(|m| m.key == "uid") {
            Some(m) => uid(&m.value)?,
            None => None,
        };
        let subject = match subject {
            Some(s) => s,
            None if self.op == Op::Delete => {
                return Err(ParseError::at(
                    pos,
                    "a \"uid\" (\"0x…\" or \"uid(v)\") is required on every object of a delete mutation",
                ));
            }
            None => {
                let name = format!("dg.{}", self.next_blank);
                *self.next_blank += 1;
                Subject::Blank(name)
            }
        };

        for m in members {
            // "namespace" is the node's namespace in Dgraph's JSON (set by loaders), never a
            // predicate; the alpha takes the namespace from the login instead.
            if m.key == "uid" || m.key == "namespace" || m.key.find('|').is_some_and(|i| i > 0) {
                continue;
            }
            let (pred, lang) = predicate(m)?;
            let quad = |object: Object, facets: Vec<Facet>| NQuad {
                subject: subject.clone(),
                predicate: Predicate::Named(pred.clone()),
                object,
                lang: lang.clone(),
                facets,
            };
            match &m.value.kind {
                JKind::Null => {
                    if self.op == Op::Delete {
                        self.out.push(quad(Object::Star, Vec::new()));
                    }
                }
                JKind::Str(_) | JKind::Num(_) | JKind::Bool(_) => {
                    let object = self.scalar(&m.value, &m.key)?;
                    self.out.push(quad(object, facets(members, &m.key, None)?));
                }
                JKind::Obj(child) => {
                    if child.is_empty() {
                        continue;
                    }
                    if let Some(geo) = self.geo(&m.value, child) {
                        self.out.push(quad(geo, facets(members, &m.key, None)?));
                        continue;
                    }
                    let (child_subject, edge_facets) =
                        self.node(child, m.value.pos, Some(&m.key))?;
                    self.out
                        .push(quad(subject_as_object(child_subject), edge_facets));
                }
                JKind::Arr(items) => {
                    for (i, item) in items.iter().enumerate() {
                        match &item.kind {
                            JKind::Str(_) | JKind::Num(_) | JKind::Bool(_) => {
                                let object = self.scalar(item, &m.key)?;
                                let f = facets(members, &m.key, Some(i))?;
                                self.out.push(quad(object, f));
                            }
                            JKind::Obj(child) => {
                                if let Some(geo) = self.geo(item, child) {
                                    self.out.push(quad(geo, Vec::new()));
                                    continue;
                                }
                                let (child_subject, edge_facets) =
                                    self.node(child, item.pos, Some(&m.key))?;
                                self.out
                                    .push(quad(subject_as_object(child_subject), edge_facets));
                            }
                            other => {
                                return Err(ParseError::at(
                                    item.pos,
                                    format!(
                                        "a list for \"{}\" may hold strings, numbers, booleans or objects, found {}",
                                        m.key,
                                        other.type_name()
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }

        let edge_facets = match parent {
            Some(p) => facets(members, p, None)?,
            None => Vec::new(),
        };
        Ok((subject, edge_facets))
    }

    fn scalar(&self, v: &JVal, key: &str) -> Result<Object> {
        Ok(match &v.kind {
            JKind::Str(s) => {
                let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
                if s.is_empty() && self.op == Op::Delete {
                    Object::Star
                } else if compact.starts_with("uid(") || compact.starts_with("val(") {
                    // Upsert variables, as Dgraph reads them in JSON values.
                    let var = compact[4..].strip_suffix(')').ok_or_else(|| {
                        ParseError::at(
                            v.pos,
                            format!(
                                "\"{s}\" does not close its bracket; write {}v)",
                                &compact[..4]
                            ),
                        )
                    })?;
                    if var.is_empty() || !var.chars().all(is_var_char) {
                        return Err(ParseError::at(
                            v.pos,
                            format!("\"{s}\" does not name a variable"),
                        ));
                    }
                    if compact.starts_with("uid(") {
                        Object::UidVar(var.to_string())
                    } else {
                        Object::ValVar(var.to_string())
                    }
                } else {
                    Object::Value(Value::Str(s.clone()))
                }
            }
            JKind::Bool(false) if self.op == Op::Delete => Object::Star,
            JKind::Bool(b) => Object::Value(Value::Bool(*b)),
            JKind::Num(n) => Object::Value(match number(n, v.pos, key)? {
                Number::Int(i) => Value::Int(i),
                Number::Float(f) => Value::Float(f),
            }),
            other => {
                return Err(ParseError::at(
                    v.pos,
                    format!("expected a scalar value, found {}", other.type_name()),
                ));
            }
        })
    }

    fn geo(&self, v: &JVal, members: &[Member]) -> Option<Object> {
        if members.len() != 2 {
            return None;
        }
        let ty = members.iter().find(|m| m.key == "type")?;
        let coords = members.iter().find(|m| m.key == "coordinates")?;
        match (&ty.value.kind, &coords.value.kind) {
            (JKind::Str(t), JKind::Arr(_)) if GEO_TYPES.contains(&t.as_str()) => Some(
                Object::Value(Value::Geo(self.src[v.start..v.end].to_string())),
            ),
            _ => None,
        }
    }
}

fn subject_as_object(s: Subject) -> Object {
    match s {
        Subject::Uid(u) => Object::Uid(u),
        Subject::Blank(b) => Object::Blank(b),
        Subject::Var(v) => Object::UidVar(v),
    }
}

/// Reads a `"uid"` member: `None` means "no uid" (absent, empty, null or zero).
fn uid(v: &JVal) -> Result<Option<Subject>> {
    let bad = |what: &str| {
        ParseError::at(
            v.pos,
            format!("uid {what} is not valid: use \"0x1a\", a number, \"_:name\" or \"uid(var)\""),
        )
    };
    match &v.kind {
        JKind::Null => Ok(None),
        JKind::Num(n) => match n.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(u) => Ok(Some(Subject::Uid(u))),
            Err(_) => Err(bad(n)),
        },
        JKind::Str(s) => {
            let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            if s.is_empty() {
                Ok(None)
            } else if let Some(label) = s.strip_prefix("_:") {
                if label.is_empty() || label.chars().any(char::is_whitespace) {
                    return Err(bad(&format!("\"{s}\"")));
                }
                Ok(Some(Subject::Blank(label.to_string())))
            } else if let Some(var) = compact
                .strip_prefix("uid(")
                .and_then(|r| r.strip_suffix(')'))
            {
                if var.is_empty() || !var.chars().all(is_var_char) {
                    return Err(bad(&format!("\"{s}\"")));
                }
                Ok(Some(Subject::Var(var.to_string())))
            } else if matches!(s.as_str(), "0" | "0x0" | "0X0") {
                Ok(None)
            } else {
                crate::cursor::parse_uid(s)
                    .map(|u| Some(Subject::Uid(u)))
                    .ok_or_else(|| bad(&format!("\"{s}\"")))
            }
        }
        other => Err(bad(other.type_name())),
    }
}

/// Splits a key into predicate and language, rejecting keys Dgraph cannot store.
fn predicate(m: &Member) -> Result<(String, Option<String>)> {
    let (pred, lang) = match m.key.rfind('@') {
        Some(i) => (&m.key[..i], Some(&m.key[i + 1..])),
        None => (m.key.as_str(), None),
    };
    if pred.is_empty() {
        return Err(ParseError::at(
            m.key_pos,
            format!("\"{}\" has no predicate name", m.key),
        ));
    }
    if let Some(forward) = pred.strip_prefix('~') {
        return Err(ParseError::at(
            m.key_pos,
            format!(
                "reverse predicate \"{pred}\" cannot be mutated; mutate the forward edge \"{forward}\" instead"
            ),
        ));
    }
    if let Some(l) = lang
        && (l.is_empty() || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(ParseError::at(
            m.key_pos,
            format!("\"{}\" does not end in a language tag like @en", m.key),
        ));
    }
    Ok((pred.to_string(), lang.map(str::to_string)))
}

enum Number {
    Int(i64),
    Float(f64),
}

/// A JSON number: an integer when written without fraction or exponent, else a float.
fn number(n: &str, pos: Pos, key: &str) -> Result<Number> {
    if !n.contains(['.', 'e', 'E']) {
        return n.parse::<i64>().map(Number::Int).map_err(|_| {
            ParseError::at(
                pos,
                format!("integer {n} for \"{key}\" does not fit in 64 bits"),
            )
        });
    }
    match n.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Number::Float(f)),
        _ => Err(ParseError::at(
            pos,
            format!("number {n} for \"{key}\" is out of range"),
        )),
    }
}

/// The facets `"<key>|name"` in `members`; `index` selects an element of a list through the
/// `{"0": v}` form.
fn facets(members: &[Member], key: &str, index: Option<usize>) -> Result<Vec<Facet>> {
    let mut out = Vec::new();
    for m in members {
        let Some(name) = m.key.strip_prefix(key).and_then(|r| r.strip_prefix('|')) else {
            continue;
        };
        if name.is_empty() {
            return Err(ParseError::at(
                m.key_pos,
                format!("\"{}\" has no facet name after '|'", m.key),
            ));
        }
        let v = match (&m.value.kind, index) {
            (JKind::Obj(by_index), Some(i)) => {
                if let Some(bad) = by_index.iter().find(|e| e.key.parse::<usize>().is_err()) {
                    return Err(ParseError::at(
                        bad.key_pos,
                        format!(
                            "facet \"{}\" of a list is keyed by element index, like \"0\", found \"{}\"",
                            m.key, bad.key
                        ),
                    ));
                }
                match by_index.iter().find(|e| e.key.parse::<usize>() == Ok(i)) {
                    Some(e) => &e.value,
                    None => continue,
                }
            }
            (JKind::Null, _) => continue,
            (_, Some(_)) => {
                return Err(ParseError::at(
                    m.value.pos,
                    format!(
                        "facets of the list \"{key}\" must be written as {{\"0\": value, ...}} keyed by element index, found {}",
                        m.value.kind.type_name()
                    ),
                ));
            }
            (JKind::Obj(_), None) => {
                return Err(ParseError::at(
                    m.value.pos,
                    format!(
                        "facet \"{}\" must be a string, number or boolean; the {{\"0\": value}} form is only for lists",
                        m.key
                    ),
                ));
            }
            _ => &m.value,
        };
        let value = match &v.kind {
            JKind::Null => continue,
            JKind::Bool(b) => FacetValue::Bool(*b),
            JKind::Str(s) if is_facet_datetime(s) => FacetValue::DateTime(s.clone()),
            JKind::Str(s) => FacetValue::Str(s.clone()),
            JKind::Num(n) => match number(n, v.pos, &m.key)? {
                Number::Int(i) => FacetValue::Int(i),
                Number::Float(f) => FacetValue::Float(f),
            },
            other => {
                return Err(ParseError::at(
                    v.pos,
                    format!(
                        "facet \"{}\" must be a string, number or boolean, found {}",
                        m.key,
                        other.type_name()
                    ),
                ));
            }
        };
        out.push(Facet {
            key: name.to_string(),
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
