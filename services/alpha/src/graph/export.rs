//! The alpha's side of an export (Dgraph's `export`): the data of its group at one timestamp,
//! rendered as RDF N-Quads or JSON, and the schema of the predicates it exports (and, when
//! asked, the types) as schema text that `alter` takes back.
//!
//! Everything is read from one snapshot at `read_ts`, once this replica holds every commit at
//! or below it, so the export of every group at the same `read_ts` is one consistent graph.
//! Each posting becomes one N-Quad (or one JSON object): values carry their type
//! (`"42"^^<xs:int>`), language (`"chat"@fr`) and facets; edges name both nodes by uid
//! (`<0x1> <friend> <0x2> .`), so a load that keeps uids gives back the same graph. Reverse
//! edges, indexes and counts are not exported: loading rebuilds them from the schema.

use super::posting::{Posting, Slot};
use super::schema::Schema;
use super::{Graph, GraphError};
use lodestar_dql::nquad::{Facet, FacetValue, NQuad, Object, Predicate, Subject, Value};
use lodestar_storage::keys::{self, KeyKind};
use lodestar_types::Val;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Text per chunk sent, about.
const CHUNK_BYTES: usize = 1 << 20;

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rdf,
    Json,
}

impl Format {
    /// Dgraph's names, `rdf` and `json` (any case); anything else is Dgraph's error.
    pub fn parse(name: &str) -> Result<Format, GraphError> {
        match name.to_ascii_lowercase().as_str() {
            "rdf" => Ok(Format::Rdf),
            "json" => Ok(Format::Json),
            _ => Err(GraphError::Invalid(format!(
                "invalid export format: {name}"
            ))),
        }
    }
}

/// One export of this group.
#[derive(Debug, Clone)]
pub struct Plan {
    pub read_ts: u64,
    pub format: Format,
    /// The predicates to export: these, or (with `except`) every other one of the schema.
    pub predicates: BTreeSet<String>,
    pub except: bool,
    /// Whether the schema text ends with the type definitions.
    pub types: bool,
}

/// A piece of the export: text for the data file, text for the schema file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub schema: Vec<u8>,
    pub done: bool,
    /// On the last chunk: N-Quads or JSON objects written.
    pub count: u64,
}

impl Graph {
    /// Renders the export `plan` of this group as chunks on `tx`; a failure is the last item.
    /// Stops early, without error, when the receiver goes away.
    pub async fn stream_export(
        self: &Arc<Self>,
        plan: Plan,
        tx: mpsc::Sender<Result<Chunk, GraphError>>,
    ) {
        if let Err(e) = self.settle_for(plan.read_ts).await {
            let _ = tx.send(Err(e)).await;
            return;
        }
        let store = self.store.clone();
        let sender = tx.clone();
        let rendered = tokio::task::spawn_blocking(move || render(&store, &plan, &sender)).await;
        let failure = match rendered {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(e) => GraphError::Internal(format!("the export stopped: {e}")),
        };
        tracing::warn!(error = %failure, "an export failed");
        let _ = tx.send(Err(failure)).await;
    }
}

/// Reads the snapshot and sends the chunks (blocking).
fn render(
    store: &lodestar_storage::Store,
    plan: &Plan,
    tx: &mpsc::Sender<Result<Chunk, GraphError>>,
) -> Result<(), GraphError> {
    let snap = store.snapshot();
    let schema = Schema::load(store, &snap, plan.read_ts)?;
    let wanted = |name: &str| plan.predicates.contains(name) != plan.except;
    let mut schema_text = String::new();
    for p in schema.preds.values().filter(|p| wanted(&p.name)) {
        schema_text.push_str(&lodestar_types::schema::render(p));
        schema_text.push('\n');
    }
    if plan.types {
        for t in schema.types.values() {
            schema_text.push_str(&lodestar_types::schema::render_type(t));
            schema_text.push('\n');
        }
    }
    let mut out = Writer {
        tx,
        format: plan.format,
        chunk: Chunk {
            schema: schema_text.into_bytes(),
            ..Chunk::default()
        },
        text: String::new(),
        count: 0,
    };
    if plan.format == Format::Json {
        out.text.push('[');
    }
    for name in schema.preds.keys().filter(|n| wanted(n)) {
        let Some(pred) = store.lookup_predicate(name) else {
            continue;
        };
        let prefix = keys::prefix(KeyKind::Data, pred);
        for item in snap.scan_prefix_at(&prefix, plan.read_ts) {
            let (key, raw) = item?;
            let parsed = keys::parse(&key)
                .filter(|k| k.rest.len() > 8)
                .ok_or_else(|| corrupt(&key))?;
            let subject = u64::from_be_bytes(parsed.rest[..8].try_into().expect("8 bytes"));
            let slot = Slot::parse(&parsed.rest[8..]).ok_or_else(|| corrupt(&key))?;
            let posting = Posting::decode(&raw)?;
            let lang = match slot {
                Slot::Value { lang } if lang != 0 => Some(
                    store
                        .predicate_name(lang)
                        .map(|n| n.trim_start_matches("\0lang:").to_string())
                        .ok_or_else(|| {
                            GraphError::Internal(format!(
                                "language id {lang} of {name} has no name in the dictionary"
                            ))
                        })?,
                ),
                _ => None,
            };
            let object = match (slot, posting.value) {
                (Slot::Edge(target), _) => Target::Node(target),
                (_, Some(v)) => Target::Value(v),
                (_, None) => return Err(corrupt(&key)),
            };
            if !out.push(subject, name, object, lang, &posting.facets)? {
                return Ok(());
            }
        }
    }
    if plan.format == Format::Json {
        out.text
            .push_str(if out.count == 0 { "]\n" } else { "\n]\n" });
    }
    out.finish();
    Ok(())
}

fn corrupt(key: &[u8]) -> GraphError {
    GraphError::Internal(format!(
        "a stored data key of unknown layout ({} bytes)",
        key.len()
    ))
}

/// What a posting points at.
enum Target {
    Node(u64),
    Value(Val),
}

/// Collects rendered postings and sends them a chunk at a time.
struct Writer<'a> {
    tx: &'a mpsc::Sender<Result<Chunk, GraphError>>,
    format: Format,
    chunk: Chunk,
    text: String,
    count: u64,
}

impl Writer<'_> {
    /// Renders one posting; false when the receiver has gone.
    fn push(
        &mut self,
        subject: u64,
        pred: &str,
        object: Target,
        lang: Option<String>,
        facets: &[(String, Val)],
    ) -> Result<bool, GraphError> {
        match self.format {
            Format::Rdf => {
                let nquad = NQuad {
                    subject: Subject::Uid(subject),
                    predicate: Predicate::Named(pred.to_string()),
                    object: match object {
                        Target::Node(uid) => Object::Uid(uid),
                        // A value with a language is a string: written as a plain literal, so
                        // that the tag goes on it (`"chat"@fr`), as RDF and Dgraph write it.
                        Target::Value(v) if lang.is_some() => {
                            Object::Value(Value::Default(v.literal_text()))
                        }
                        Target::Value(v) => Object::Value(rdf_value(&v)),
                    },
                    lang,
                    facets: facets
                        .iter()
                        .map(|(key, v)| Facet {
                            key: key.clone(),
                            value: facet_value(v),
                        })
                        .collect(),
                };
                let _ = writeln!(self.text, "{nquad}");
            }
            Format::Json => {
                let mut node = serde_json::Map::new();
                node.insert("uid".into(), format!("{subject:#x}").into());
                let facet_json = |into: &mut serde_json::Map<String, serde_json::Value>| {
                    for (key, v) in facets {
                        into.insert(format!("{pred}|{key}"), json_value(v));
                    }
                };
                match object {
                    Target::Node(uid) => {
                        let mut child = serde_json::Map::new();
                        child.insert("uid".into(), format!("{uid:#x}").into());
                        facet_json(&mut child);
                        node.insert(pred.to_string(), child.into());
                    }
                    Target::Value(v) => {
                        let key = match &lang {
                            Some(l) => format!("{pred}@{l}"),
                            None => pred.to_string(),
                        };
                        node.insert(key, json_value(&v));
                        facet_json(&mut node);
                    }
                }
                self.text
                    .push_str(if self.count == 0 { "\n" } else { ",\n" });
                self.text
                    .push_str(&serde_json::Value::Object(node).to_string());
            }
        }
        self.count += 1;
        if self.text.len() >= CHUNK_BYTES {
            self.chunk.data = std::mem::take(&mut self.text).into_bytes();
            let chunk = std::mem::take(&mut self.chunk);
            return Ok(self.tx.blocking_send(Ok(chunk)).is_ok());
        }
        Ok(true)
    }

    fn finish(mut self) {
        self.chunk.data = std::mem::take(&mut self.text).into_bytes();
        self.chunk.done = true;
        self.chunk.count = self.count;
        let _ = self.tx.blocking_send(Ok(self.chunk));
    }
}

/// A value as a typed RDF literal that converts back to an equal value.
fn rdf_value(v: &Val) -> Value {
    let text = v.literal_text();
    match v {
        Val::Default(_) => Value::Default(text),
        Val::String(_) | Val::Uid(_) => Value::Str(text),
        Val::Int(i) => Value::Int(*i),
        Val::Float(f) => Value::Float(*f),
        Val::Bool(b) => Value::Bool(*b),
        Val::DateTime(_) => Value::DateTime(text),
        Val::Password(_) => Value::Password(text),
        Val::Geo(_) => Value::Geo(text),
    }
}

/// A facet's value as a facet literal of the same type.
fn facet_value(v: &Val) -> FacetValue {
    match v {
        Val::Int(i) => FacetValue::Int(*i),
        Val::Float(f) => FacetValue::Float(*f),
        Val::Bool(b) => FacetValue::Bool(*b),
        Val::DateTime(_) => FacetValue::DateTime(v.literal_text()),
        other => FacetValue::Str(other.literal_text()),
    }
}

/// A value as JSON: numbers and booleans as such, the rest as strings (geometries as GeoJSON
/// objects), each of which the predicate's schema type converts back.
fn json_value(v: &Val) -> serde_json::Value {
    match v {
        Val::Int(i) => (*i).into(),
        Val::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| v.literal_text().into()),
        Val::Bool(b) => (*b).into(),
        Val::Geo(g) => serde_json::from_str(g).unwrap_or_else(|_| g.clone().into()),
        other => other.literal_text().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_dgraphs_names() {
        assert_eq!(Format::parse("rdf").unwrap(), Format::Rdf);
        assert_eq!(Format::parse("JSON").unwrap(), Format::Json);
        let err = Format::parse("csv").unwrap_err();
        assert_eq!(err.to_string(), "invalid export format: csv");
    }

    #[test]
    fn values_render_as_literals_that_parse_back() {
        let nquads = [
            rdf_value(&Val::Int(-7)),
            rdf_value(&Val::Float(0.1)),
            rdf_value(&Val::Bool(true)),
            rdf_value(&Val::String("line\n\"quoted\"".into())),
            rdf_value(&Val::Default("plain".into())),
        ]
        .into_iter()
        .map(|v| NQuad {
            subject: Subject::Uid(1),
            predicate: Predicate::Named("p".into()),
            object: Object::Value(v),
            lang: None,
            facets: vec![],
        })
        .collect::<Vec<_>>();
        let text = NQuad::to_rdf(&nquads);
        let back = lodestar_dql::parse_nquads(&text).unwrap();
        assert_eq!(back, nquads);
    }
}
