//! `bulk`: Dgraph's bulk loader. Builds the `p` directories of a new cluster straight from
//! N-Quad or JSON files, with no server running: every posting, index entry, reverse edge and
//! count is computed here, sorted, and ingested into a new store per group in one sorted load
//! (the way an offline restore writes), so it runs many times faster than sending the same
//! data through transactions.
//!
//! Uids written in the files are kept; blank nodes get the uids above the highest of those, in
//! the order they first appear. A predicate absent from the schema gets the type its first
//! value says, as a mutation would. With `--groups N` the predicates are spread over N groups
//! (largest first onto the least loaded; `dgraph.*` in group 1): `out/0/p` is group 1's
//! directory, `out/1/p` group 2's, and each holds the whole schema. With `--zero`, zero's
//! uid lease is raised above the highest uid and each predicate is placed in its group.
//! `--encryption_key_file` writes the directories encrypted at rest under that key, as the
//! alphas will start with it (`--encrypted_out=false` leaves them plain), and with
//! `--encrypted` reads encrypted input with it, as Dgraph's flags do.

use super::input::{self, Body, Format};
use crate::graph::GraphError;
use crate::graph::backup::Restore;
use crate::graph::blocking;
use crate::graph::mutate::{check_predicate_name, convert, facets, index_key, literal_type};
use crate::graph::posting::{Posting, Slot, list_hash};
use crate::graph::schema::{lang_dict_name, type_dict_name};
use crate::offline::{OFFLINE_VERSION, offline_zero, place_tablets};
use lodestar_backup::record::{Entry, Name, Record};
use lodestar_crypto::EncryptionKey;
use lodestar_dql::nquad::{NQuad, Object, Predicate, Subject};
use lodestar_runtime::ServiceError;
use lodestar_storage::keys;
use lodestar_types::schema::PredicateSchema;
use lodestar_types::{ScalarType, TypeDef, Val, tokenizer};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// N-Quads parsed at a time.
const PIECE: usize = 10_000;
/// Uncompressed bytes of keys and values per record handed to the store.
const RECORD_BYTES: usize = 4 << 20;

/// `bulk` (Dgraph's flags, with `--groups` for `--reduce_shards`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "bulk",
    version,
    about = "Build the p directories of a new cluster from N-Quad or JSON files, offline"
)]
pub struct BulkArgs {
    /// Data files or directories, comma-separated (.rdf, .nq, .nt, .json, gzipped or not).
    #[arg(short = 'f', long = "files")]
    pub files: String,
    /// Schema files, comma-separated.
    #[arg(short = 's', long = "schema")]
    pub schema: Option<String>,
    /// Where to write the group directories (`out/0/p`, `out/1/p`, …); must be empty or absent.
    #[arg(long = "out", default_value = "out")]
    pub out: PathBuf,
    /// How many groups to spread the predicates over (Dgraph's --reduce_shards).
    #[arg(long = "groups", visible_alias = "reduce_shards", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub groups: u32,
    /// The data files' format, when their names do not say it.
    #[arg(long = "format", value_enum)]
    pub format: Option<Format>,
    /// Give the uids written in the files new uids too, as blank nodes.
    #[arg(short = 'U', long = "new_uids")]
    pub new_uids: bool,
    /// The key (16, 24 or 32 bytes) the directories are encrypted at rest under (start the
    /// alphas with it) and, with --encrypted, the input files are read with.
    #[arg(long = "encryption_key_file")]
    pub encryption_key_file: Option<PathBuf>,
    /// The schema and data files are encrypted with the key (Dgraph's flag).
    #[arg(long = "encrypted")]
    pub encrypted: bool,
    /// Write the directories encrypted at rest under the key (Dgraph's flag; set false to
    /// only read encrypted input).
    #[arg(long = "encrypted_out", default_value_t = true, action = clap::ArgAction::Set)]
    pub encrypted_out: bool,
    /// Zero's gRPC address: its uid lease is raised above the data's and each predicate placed
    /// in its group.
    #[arg(short = 'z', long = "zero")]
    pub zero: Option<String>,
    /// The cluster's secret file, when its zeros run with --cluster_secret_file.
    #[arg(long = "cluster_secret_file")]
    pub cluster_secret_file: Option<PathBuf>,
}

/// A node as the files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Uid(u64),
    /// The n-th distinct blank node.
    Blank(u64),
}

enum Target {
    Node(Node),
    Value { lang: u32, val: Val },
}

/// One N-Quad, checked and converted.
struct Fact {
    /// Local id of the predicate.
    pred: u32,
    subject: Node,
    object: Target,
    facets: Vec<(String, Val)>,
}

/// Local interned ids (predicates, `\0type:` and `\0lang:` names), named in the records so the
/// store renumbers them into its own dictionary.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        self.names.push(name.to_string());
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// Everything read from the files.
#[derive(Default)]
struct Loaded {
    names: Names,
    schema: BTreeMap<String, PredicateSchema>,
    types: Vec<TypeDef>,
    facts: Vec<Fact>,
    blanks: HashMap<String, u64>,
    max_explicit: u64,
    nquads: u64,
}

impl Loaded {
    fn node(&mut self, label: Option<&str>, uid: u64, new_uids: bool) -> Node {
        let label = match label {
            Some(l) => l.to_string(),
            None if new_uids => format!("{uid:#x}"),
            None => {
                self.max_explicit = self.max_explicit.max(uid);
                return Node::Uid(uid);
            }
        };
        let next = self.blanks.len() as u64;
        Node::Blank(*self.blanks.entry(label).or_insert(next))
    }

    fn uid(&self, n: Node) -> u64 {
        match n {
            Node::Uid(u) => u,
            Node::Blank(i) => self.max_explicit + 1 + i,
        }
    }

    fn add(&mut self, nq: &NQuad, new_uids: bool) -> Result<(), GraphError> {
        let Predicate::Named(name) = &nq.predicate else {
            return Err(GraphError::Invalid(
                "a loaded N-Quad cannot use * as its predicate".into(),
            ));
        };
        if let Some(forward) = name.strip_prefix('~') {
            return Err(GraphError::Invalid(format!(
                "cannot set the reverse edge {name} directly; set {forward} instead"
            )));
        }
        if !self.schema.contains_key(name) {
            check_predicate_name(name)?;
            let mut p = match &nq.object {
                Object::Value(v) => PredicateSchema::new(name.as_str(), literal_type(v)),
                _ => PredicateSchema::new(name.as_str(), ScalarType::Uid),
            };
            p.list = p.value_type == ScalarType::Uid;
            self.schema.insert(name.clone(), p);
        }
        let schema = &self.schema[name];
        let subject = match &nq.subject {
            Subject::Uid(u) => (None, *u),
            Subject::Blank(b) => (Some(b.as_str()), 0),
            Subject::Var(v) => {
                return Err(GraphError::Invalid(format!(
                    "uid({v}) needs a query; the bulk loader takes uids and blank nodes"
                )));
            }
        };
        let object = match &nq.object {
            Object::Uid(_) | Object::Blank(_) if schema.value_type != ScalarType::Uid => {
                return Err(GraphError::Invalid(format!(
                    "Input for predicate \"{name}\" of type {} is uid. Edge: {nq}",
                    schema.value_type.name()
                )));
            }
            Object::Uid(u) => Err((None, *u)),
            Object::Blank(b) => Err((Some(b.clone()), 0)),
            Object::Value(_) if schema.value_type == ScalarType::Uid => {
                return Err(GraphError::Invalid(format!(
                    "Input for predicate \"{name}\" of type uid is scalar. Edge: {nq}"
                )));
            }
            Object::Value(v) => {
                if nq.lang.is_some() && !schema.lang {
                    return Err(GraphError::Invalid(format!(
                        "Attr: [{name}] should have @lang directive in schema to mutate edge with lang tag: {}",
                        nq.lang.as_deref().unwrap_or_default()
                    )));
                }
                Ok(convert(v, schema, name)?)
            }
            _ => {
                return Err(GraphError::Invalid(format!(
                    "the bulk loader takes uids, blank nodes and literals as objects: {nq}"
                )));
            }
        };
        let facets = facets(nq)?;
        let pred = self.names.id(name);
        let subject = self.node(subject.0, subject.1, new_uids);
        let object = match object {
            Ok(val) => Target::Value {
                lang: match &nq.lang {
                    Some(l) => self.names.id(&lang_dict_name(l)),
                    None => 0,
                },
                val,
            },
            Err((label, uid)) => Target::Node(self.node(label.as_deref(), uid, new_uids)),
        };
        self.facts.push(Fact {
            pred,
            subject,
            object,
            facets,
        });
        self.nquads += 1;
        Ok(())
    }
}

/// Keys and values, sorted by key.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What one group's directory got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group: u32,
    pub dir: PathBuf,
    pub keys: u64,
    pub predicates: Vec<String>,
}

/// What a bulk load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub nquads: u64,
    pub max_uid: u64,
    pub groups: Vec<GroupSummary>,
    pub elapsed: Duration,
}

impl super::Report for Summary {
    fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        let mut out = format!(
            "Number of N-Quads processed  : {}\nTime spent                   : {secs:.3}s\nN-Quads processed per second : {}\nMax uid                      : {}\n",
            self.nquads,
            (self.nquads as f64 / secs).round() as u64,
            self.max_uid
        );
        for g in &self.groups {
            out.push_str(&format!(
                "group {}: {} ({} keys, {} predicates)\n",
                g.group,
                g.dir.display(),
                g.keys,
                g.predicates.len()
            ));
        }
        out
    }
}

/// The predicates of each group: `dgraph.*` in group 1, the others by N-Quads, largest first,
/// onto the group holding the fewest.
fn assign(loaded: &Loaded, groups: u32) -> BTreeMap<String, u32> {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    for f in &loaded.facts {
        *counts.entry(f.pred).or_default() += 1;
    }
    let mut preds: Vec<(&String, u64)> = loaded
        .schema
        .keys()
        .map(|name| {
            let n = loaded
                .names
                .ids
                .get(name)
                .and_then(|id| counts.get(id))
                .copied()
                .unwrap_or(0);
            (name, n)
        })
        .collect();
    preds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut load = vec![0u64; groups as usize];
    let mut out = BTreeMap::new();
    for (name, n) in preds {
        let g = if name.starts_with("dgraph.") {
            0
        } else {
            (0..load.len()).min_by_key(|&g| (load[g], g)).unwrap_or(0)
        };
        load[g] += n;
        out.insert(name.clone(), g as u32 + 1);
    }
    out
}

/// The sorted keys and values of group `gid`: postings, index entries, reverse edges, counts,
/// and the whole schema.
fn group_entries(
    loaded: &mut Loaded,
    tablets: &BTreeMap<String, u32>,
    gid: u32,
) -> Result<Entries, GraphError> {
    let by_id: HashMap<u32, &PredicateSchema> = loaded
        .schema
        .values()
        .filter(|p| tablets.get(&p.name) == Some(&gid))
        .filter_map(|p| loaded.names.ids.get(&p.name).map(|&id| (id, p)))
        .collect();
    // Postings in file order; a later one replaces an earlier one with the same key, and a
    // later edge of a single-uid predicate replaces the node's earlier edge.
    let mut postings: Vec<(Vec<u8>, Posting)> = Vec::new();
    let mut single: HashMap<(u32, u64), usize> = HashMap::new();
    for f in &loaded.facts {
        let Some(schema) = by_id.get(&f.pred) else {
            continue;
        };
        let s = loaded.uid(f.subject);
        let (slot, value) = match &f.object {
            Target::Node(n) => (Slot::Edge(loaded.uid(*n)), None),
            Target::Value { val, .. } if schema.list => {
                (Slot::List(list_hash(val)), Some(val.clone()))
            }
            Target::Value { lang, val } => (Slot::Value { lang: *lang }, Some(val.clone())),
        };
        let entry = (
            slot.key(f.pred, s),
            Posting {
                value,
                facets: f.facets.clone(),
            },
        );
        if matches!(slot, Slot::Edge(_)) && !schema.list {
            if let Some(&at) = single.get(&(f.pred, s)) {
                postings[at] = entry;
                continue;
            }
            single.insert((f.pred, s), postings.len());
        }
        postings.push(entry);
    }
    // Stable: equal keys keep file order, and the last of them wins.
    postings.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<(Vec<u8>, Posting)> = Vec::with_capacity(postings.len());
    for p in postings {
        match kept.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => kept.push(p),
        }
    }
    let mut out: Entries = Vec::with_capacity(kept.len() * 2);
    let mut forward: BTreeMap<(u32, u64), u32> = BTreeMap::new();
    let mut reverse: BTreeMap<(u32, u64), u32> = BTreeMap::new();
    for (key, posting) in kept {
        let parsed = keys::parse(&key).ok_or_else(|| GraphError::Internal("a bulk key".into()))?;
        let schema = by_id[&parsed.pred];
        let subject = u64::from_be_bytes(parsed.rest[..8].try_into().expect("8 bytes"));
        if schema.count {
            *forward.entry((parsed.pred, subject)).or_default() += 1;
        }
        match (&posting.value, Slot::parse(&parsed.rest[8..])) {
            (None, Some(Slot::Edge(t))) if schema.reverse => {
                out.push((keys::reverse_key(parsed.pred, t, subject), Vec::new()));
                if schema.count {
                    *reverse.entry((parsed.pred, t)).or_default() += 1;
                }
            }
            (Some(v), slot) => {
                let lang = match slot {
                    Some(Slot::Value { lang }) if lang != 0 => loaded
                        .names
                        .names
                        .get(lang as usize - 1)
                        .and_then(|n| n.strip_prefix("\0lang:")),
                    _ => None,
                };
                for &kind in &schema.indexes {
                    let tokens = tokenizer::tokens_in(kind, v, lang).map_err(|e| {
                        GraphError::Invalid(format!("indexing {}: {e}", schema.name))
                    })?;
                    for token in tokens {
                        out.push((
                            index_key(schema, kind, parsed.pred, &token, subject)?,
                            Vec::new(),
                        ));
                    }
                }
            }
            _ => {}
        }
        out.push((key, posting.encode()));
    }
    for (counts, is_reverse) in [(forward, false), (reverse, true)] {
        for ((pred, node), n) in counts {
            out.push((keys::count_key(pred, is_reverse, n, node), Vec::new()));
        }
    }
    // Every group keeps the whole schema.
    let preds: Vec<PredicateSchema> = loaded.schema.values().cloned().collect();
    for p in preds {
        let id = loaded.names.id(&p.name);
        out.push((
            keys::schema_key(id),
            serde_json::to_vec(&p).expect("schema serializes"),
        ));
    }
    for t in loaded.types.clone() {
        let id = loaded.names.id(&type_dict_name(&t.name));
        out.push((
            keys::type_key(id),
            serde_json::to_vec(&t).expect("types serialize"),
        ));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// Writes one group's entries into a new store at `dir`; returns the keys written.
fn write_group(
    dir: &Path,
    key: Option<&EncryptionKey>,
    names: &Names,
    entries: Entries,
) -> Result<u64, ServiceError> {
    let encryption = key.map(|k| lodestar_storage::Encryption::new(k.clone()));
    let store = lodestar_storage::Store::open_with(dir, encryption.as_ref())
        .map_err(|e| ServiceError::invalid(format!("{}: {e}", dir.display())))?;
    let mut restore = Restore::begin(&store, OFFLINE_VERSION, true).map_err(ServiceError::from)?;
    restore.new_file();
    let mut record = Record {
        names: names
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| Name {
                id: i as u32 + 1,
                name: name.clone(),
            })
            .collect(),
        ..Record::default()
    };
    let mut bytes = 0;
    for (k, v) in entries {
        bytes += k.len() + v.len();
        record.entries.push(Entry {
            key: k,
            value: v,
            version: OFFLINE_VERSION,
            ..Entry::default()
        });
        if bytes >= RECORD_BYTES {
            restore
                .load(&store, std::mem::take(&mut record))
                .map_err(ServiceError::from)?;
            bytes = 0;
        }
    }
    restore.load(&store, record).map_err(ServiceError::from)?;
    let (loaded, _) = restore.finish_offline().map_err(ServiceError::from)?;
    store
        .sync()
        .map_err(|e| ServiceError::internal(format!("{}: {e}", dir.display())))?;
    Ok(loaded)
}

/// Reads every file into facts (blocking).
fn read(args: &BulkArgs, key: Option<&EncryptionKey>) -> Result<Loaded, ServiceError> {
    let mut loaded = Loaded::default();
    for p in &lodestar_types::schema::reserved::reserved().predicates {
        loaded.schema.insert(p.name.clone(), p.clone());
    }
    loaded.types = lodestar_types::schema::reserved::reserved().types.clone();
    if let Some(schema) = &args.schema {
        let mut text = String::new();
        for path in schema.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            text.push_str(&input::read_text(Path::new(path), key)?);
            text.push('\n');
        }
        let mut update = lodestar_types::schema::parse(&text)
            .map_err(|e| ServiceError::invalid(format!("the schema: {e}")))?;
        lodestar_types::schema::reserved::check_alter(&mut update)
            .map_err(|e| ServiceError::invalid(format!("the schema: {e}")))?;
        for p in update.predicates {
            loaded.schema.insert(p.name.clone(), p);
        }
        for t in update.types {
            loaded.types.retain(|have| have.name != t.name);
            loaded.types.push(t);
        }
    }
    let mut json = lodestar_dql::JsonParser::new();
    let started = Instant::now();
    for path in input::data_files(&args.files)? {
        let name = path.display().to_string();
        let format = args.format.or_else(|| Format::of(&path)).ok_or_else(|| {
            ServiceError::invalid(format!(
                "{name}: its name does not say rdf or json; give --format"
            ))
        })?;
        let stream = input::open(&path, key)?;
        input::pieces(stream, format, PIECE, &name, |piece| {
            let at = |what: &str| format!("{name}, the {what} from {}", piece.first);
            let nquads = match &piece.body {
                Body::Rdf(text) => lodestar_dql::parse_set_nquads(text).map_err(|e| {
                    ServiceError::invalid(format!("{}: {e}", at("N-Quads at line")))
                })?,
                Body::Json(objects) => json
                    .parse_set(&serde_json::to_string(objects).expect("JSON serializes"))
                    .map_err(|e| {
                        ServiceError::invalid(format!("{}: {e}", at("objects at object")))
                    })?,
            };
            for nq in &nquads {
                loaded.add(nq, args.new_uids).map_err(|e| {
                    ServiceError::invalid(format!("{}: {e}", at("N-Quads at line")))
                })?;
            }
            Ok(())
        })?;
        eprintln!(
            "read {name}: {} N-Quads so far ({:.1} s)",
            loaded.nquads,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(loaded)
}

/// Runs a bulk load; returns its summary.
pub async fn run(args: BulkArgs) -> Result<Summary, ServiceError> {
    let started = Instant::now();
    let key = match &args.encryption_key_file {
        Some(p) => Some(
            EncryptionKey::from_file(p)
                .map_err(|e| ServiceError::invalid(format!("--encryption_key_file: {e}")))?,
        ),
        None if args.encrypted => {
            return Err(ServiceError::invalid(
                "--encrypted needs --encryption_key_file: the key the files are encrypted with",
            ));
        }
        None => None,
    };
    let input_key = key.clone().filter(|_| args.encrypted);
    let output_key = key.filter(|_| args.encrypted_out);
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map_err(|e| ServiceError::invalid(format!("--out {}: {e}", args.out.display())))?
            .next()
            .is_some()
    {
        return Err(ServiceError::invalid(format!(
            "--out {} is not empty: give an empty or new directory (nothing was written)",
            args.out.display()
        )));
    }
    let zero = offline_zero(args.zero.as_deref(), args.cluster_secret_file.as_deref()).await?;
    let mut loaded = blocking(|| read(&args, input_key.as_ref()))?;
    let tablets = assign(&loaded, args.groups);
    let max_uid = loaded.max_explicit + loaded.blanks.len() as u64;
    let mut groups = Vec::new();
    for gid in 1..=args.groups {
        let dir = args.out.join((gid - 1).to_string()).join("p");
        let phase = Instant::now();
        let entries = group_entries(&mut loaded, &tablets, gid).map_err(ServiceError::from)?;
        eprintln!(
            "group {gid}: {} keys computed and sorted ({:.1} s)",
            entries.len(),
            phase.elapsed().as_secs_f64()
        );
        let phase = Instant::now();
        let written = blocking(|| write_group(&dir, output_key.as_ref(), &loaded.names, entries));
        let keys = match written {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&args.out);
                return Err(ServiceError::new(
                    e.code,
                    format!(
                        "group {gid}: {} ({} removed)",
                        e.message,
                        args.out.display()
                    ),
                ));
            }
        };
        eprintln!(
            "group {gid}: {keys} keys written to {} ({:.1} s)",
            dir.display(),
            phase.elapsed().as_secs_f64()
        );
        groups.push(GroupSummary {
            group: gid,
            dir,
            keys,
            predicates: tablets
                .iter()
                .filter(|(_, g)| **g == gid)
                .map(|(p, _)| p.clone())
                .collect(),
        });
    }
    let with_data: HashMap<u32, ()> = loaded.facts.iter().map(|f| (f.pred, ())).collect();
    match zero {
        Some((addr, zero)) => {
            zero.raise_above(OFFLINE_VERSION, max_uid, 0).await?;
            let placed = place_tablets(
                &zero,
                tablets
                    .iter()
                    .filter(|(p, _)| {
                        loaded
                            .names
                            .ids
                            .get(*p)
                            .is_some_and(|id| with_data.contains_key(id))
                    })
                    .map(|(p, g)| (*g, p.as_str())),
            )
            .await?;
            eprintln!(
                "zero at {addr}: UID lease at or above {max_uid}; {placed} predicates placed in their groups"
            );
        }
        None => eprintln!(
            "zero was not told: raise its UID lease to {max_uid} (/assign?what=uids&num={}) before the alphas serve{}",
            max_uid + 1,
            if args.groups > 1 {
                ", and move each predicate to the group whose directory holds it"
            } else {
                ""
            }
        ),
    }
    Ok(Summary {
        nquads: loaded.nquads,
        max_uid,
        groups,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lodestar_types::tokenizer::IndexKind;

    fn loaded(rdf: &str, schema: &str) -> Loaded {
        let mut l = Loaded::default();
        for p in lodestar_types::schema::parse(schema).unwrap().predicates {
            l.schema.insert(p.name.clone(), p);
        }
        for nq in lodestar_dql::parse_set_nquads(rdf).unwrap() {
            l.add(&nq, false).unwrap();
        }
        l
    }

    #[test]
    fn blank_nodes_get_uids_above_the_files_uids_and_predicates_spread_over_groups() {
        let mut l = loaded(
            "_:a <name> \"A\" .\n<0x10> <name> \"B\" .\n_:a <knows> <0x10> .\n_:b <age> \"3\" .\n_:b <age> \"4\" .",
            "name: string @index(exact) .\nknows: [uid] @reverse @count .\nage: int .",
        );
        assert_eq!(l.max_explicit, 0x10);
        assert_eq!(l.uid(Node::Blank(0)), 0x11);
        let tablets = assign(&l, 2);
        // The two largest predicates (two N-Quads each) go to different groups.
        assert_ne!(tablets["age"], tablets["name"]);
        let kinds = |entries: &[(Vec<u8>, Vec<u8>)], kind: keys::KeyKind| {
            entries
                .iter()
                .filter(|(k, _)| keys::parse(k).is_some_and(|p| p.kind == kind))
                .count()
        };
        let mut all = Vec::new();
        for g in 1..=2 {
            let entries = group_entries(&mut l, &tablets, g).unwrap();
            assert!(
                entries.windows(2).all(|w| w[0].0 < w[1].0),
                "entries are sorted and unique"
            );
            // Every group keeps the whole schema.
            assert_eq!(kinds(&entries, keys::KeyKind::Schema), 3);
            all.extend(entries);
        }
        // Two names with their exact index entries, one age (the later value replaced the
        // earlier), the edge with its reverse and both counts.
        assert_eq!(kinds(&all, keys::KeyKind::Data), 4);
        assert_eq!(kinds(&all, keys::KeyKind::Index), 2);
        assert_eq!(kinds(&all, keys::KeyKind::Reverse), 1);
        assert_eq!(kinds(&all, keys::KeyKind::Count), 2);
        let age = all
            .iter()
            .find(|(k, _)| {
                keys::parse(k).is_some_and(|p| {
                    p.kind == keys::KeyKind::Data && Some(&p.pred) == l.names.ids.get("age")
                })
            })
            .unwrap();
        assert_eq!(Posting::decode(&age.1).unwrap().value, Some(Val::Int(4)));
    }

    #[test]
    fn fulltext_entries_follow_each_values_language() {
        let mut l = loaded(
            "_:a <name> \"Die Häuser\"@de .\n_:b <name> \"The houses\" .",
            "name: string @index(fulltext) @lang .",
        );
        let tablets = assign(&l, 1);
        let entries = group_entries(&mut l, &tablets, 1).unwrap();
        let tokens: Vec<Vec<u8>> = entries
            .iter()
            .filter_map(|(k, _)| keys::parse(k).filter(|p| p.kind == keys::KeyKind::Index))
            .map(|p| p.rest[2..p.rest.len() - 8].to_vec())
            .collect();
        // German stems "Häuser" to "haus" and drops "die"; English stems "houses" and drops
        // "the".
        let mut want = tokenizer::tokens_in(
            IndexKind::Fulltext,
            &Val::String("Die Häuser".into()),
            Some("de"),
        )
        .unwrap();
        want.extend(
            tokenizer::tokens(IndexKind::Fulltext, &Val::String("The houses".into())).unwrap(),
        );
        assert_eq!(want, vec![b"\x08haus".to_vec(), b"\x08hous".to_vec()]);
        let mut tokens = tokens;
        tokens.sort();
        assert_eq!(tokens, want);
    }

    #[test]
    fn bad_facts_are_refused_naming_them() {
        let mut l = Loaded::default();
        let schema = lodestar_types::schema::parse("age: int .").unwrap();
        l.schema.insert("age".into(), schema.predicates[0].clone());
        let nq = &lodestar_dql::parse_set_nquads("_:a <age> _:b .").unwrap()[0];
        let e = l.add(nq, false).unwrap_err();
        assert!(e.to_string().contains("of type int is uid"), "{e}");
        let nq = &lodestar_dql::parse_set_nquads("_:a <age> \"x\" .").unwrap()[0];
        assert!(l.add(nq, false).is_err());
    }
}
