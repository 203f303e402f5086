//! Mutations: N-Quads (from RDF or JSON) turned into a transaction's writes, with the derived
//! index and reverse entries and the conflict keys zero's oracle checks.

use super::posting::{Posting, Slot, list_hash};
use super::schema::lang_dict_name;
use super::{Graph, GraphError, Txn};
use lodestar_dql::{NQuad, Object, Predicate, Subject, Value};
use lodestar_storage::keys;
use lodestar_types::schema::PredicateSchema;
use lodestar_types::tokenizer;
use lodestar_types::value::{Literal, ScalarType, Val};
use std::collections::{BTreeSet, HashMap};

/// What a mutation's variables and blank nodes resolve to.
#[derive(Debug, Default, Clone)]
pub struct MutationCtx {
    /// Blank node name (without `_:`) → uid; new nodes are reported to the client.
    pub blanks: HashMap<String, u64>,
    /// Upsert uid variables.
    pub uid_vars: HashMap<String, Vec<u64>>,
    /// Upsert value variables: node → value.
    pub val_vars: HashMap<String, HashMap<u64, Val>>,
    /// Nodes created by this request: they have nothing stored yet, so nothing to read back.
    pub fresh: std::collections::HashSet<u64>,
}

/// The name under which an empty `uid(v)` subject gets a new node in a `set`.
fn var_blank(var: &str) -> String {
    format!("uid({var})")
}

/// A conflict key fingerprint.
fn fingerprint(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

impl Graph {
    /// Leases uids for every blank node (and every empty `uid(v)` subject of a set) not yet in
    /// `ctx`.
    pub async fn assign_blanks(
        &self,
        sets: &[NQuad],
        dels: &[NQuad],
        ctx: &mut MutationCtx,
    ) -> Result<(), GraphError> {
        // In order of first use, each once.
        let mut names: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut want = |name: &str, ctx: &MutationCtx| {
            if !ctx.blanks.contains_key(name) && !seen.contains(name) {
                seen.insert(name.to_string());
                names.push(name.to_string());
            }
        };
        for nq in sets {
            match &nq.subject {
                Subject::Blank(b) => want(b, ctx),
                Subject::Var(v) if ctx.uid_vars.get(v).is_none_or(|u| u.is_empty()) => {
                    want(&var_blank(v), ctx)
                }
                _ => {}
            }
            if let Object::Blank(b) = &nq.object {
                want(b, ctx);
            }
        }
        for nq in dels {
            if let Subject::Blank(b) = &nq.subject {
                return Err(GraphError::Invalid(format!(
                    "a deletion cannot use the blank node _:{b}"
                )));
            }
            if let Object::Blank(b) = &nq.object {
                return Err(GraphError::Invalid(format!(
                    "a deletion cannot use the blank node _:{b}"
                )));
            }
        }
        self.check_leased(sets.iter().chain(dels)).await?;
        if names.is_empty() {
            return Ok(());
        }
        let n = names.len() as u64;
        let first = self.oracle.uids(n).await?;
        for (i, name) in names.into_iter().enumerate() {
            ctx.blanks.insert(name, first + i as u64);
            ctx.fresh.insert(first + i as u64);
        }
        self.uid_leased(first + n - 1);
        Ok(())
    }

    /// Refuses uids zero never leased, as Dgraph does: a write to `<0xffffffffffffffff>` would
    /// otherwise sit where a later lease hands the same uid to a new node.
    async fn check_leased<'a>(
        &self,
        nquads: impl Iterator<Item = &'a NQuad>,
    ) -> Result<(), GraphError> {
        let highest = nquads
            .flat_map(|nq| {
                let s = match nq.subject {
                    Subject::Uid(u) => u,
                    _ => 0,
                };
                let o = match nq.object {
                    Object::Uid(u) => u,
                    _ => 0,
                };
                [s, o]
            })
            .max()
            .unwrap_or(0);
        if highest <= self.max_leased_uid() {
            return Ok(());
        }
        // Another alpha or a client (`/assign`) may have leased it: ask zero.
        let lease = self.oracle.max_uid().await?;
        self.uid_leased(lease);
        if highest > lease {
            return Err(GraphError::Invalid(format!(
                "Uid: [{highest}] cannot be greater than lease: [{lease}]"
            )));
        }
        Ok(())
    }

    /// Readies the names a mutation writes: claims the tablets of its predicates through zero
    /// and interns those this group serves, with the language tags its values carry, through
    /// the group's log. Answers the predicates other groups serve, with their groups.
    pub async fn prepare(
        &self,
        nquads: &[&NQuad],
    ) -> Result<std::collections::BTreeMap<String, u32>, GraphError> {
        let names: BTreeSet<String> = nquads
            .iter()
            .filter_map(|nq| match &nq.predicate {
                Predicate::Named(n) => Some(n.clone()),
                Predicate::Star => None,
            })
            .collect();
        let elsewhere = self.claim_tablets(names.into_iter().collect()).await?;
        self.intern(
            nquads
                .iter()
                .filter_map(|nq| nq.lang.as_deref().map(lang_dict_name)),
        )
        .await?;
        Ok(elsewhere)
    }

    /// Adds the writes of `sets` and `dels` to `txn`.
    pub fn mutate(
        &self,
        txn: &mut Txn,
        sets: &[NQuad],
        dels: &[NQuad],
        ctx: &MutationCtx,
    ) -> Result<(), GraphError> {
        txn.persisted = false;
        self.check_acl_deletes(dels, ctx)?;
        for nq in dels {
            self.delete_one(txn, nq, ctx)?;
        }
        for nq in sets {
            self.set_one(txn, nq, ctx)?;
        }
        self.update_counts(txn)?;
        check_txn_size(txn)
    }

    fn subjects(
        &self,
        subject: &Subject,
        ctx: &MutationCtx,
        set: bool,
    ) -> Result<Vec<u64>, GraphError> {
        Ok(match subject {
            Subject::Uid(0) => {
                return Err(GraphError::Invalid("uid 0x0 is not a valid node".into()));
            }
            Subject::Uid(u) => vec![*u],
            Subject::Blank(b) => vec![
                *ctx.blanks
                    .get(b)
                    .ok_or_else(|| GraphError::Internal(format!("blank node _:{b} has no uid")))?,
            ],
            Subject::Var(v) => match ctx.uid_vars.get(v) {
                Some(uids) if !uids.is_empty() => uids.clone(),
                _ if set => ctx
                    .blanks
                    .get(&var_blank(v))
                    .map(|u| vec![*u])
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
        })
    }

    fn objects(&self, object: &Object, ctx: &MutationCtx) -> Result<Vec<u64>, GraphError> {
        Ok(match object {
            Object::Uid(0) => {
                return Err(GraphError::Invalid("uid 0x0 is not a valid node".into()));
            }
            Object::Uid(u) => vec![*u],
            Object::Blank(b) => vec![
                *ctx.blanks
                    .get(b)
                    .ok_or_else(|| GraphError::Internal(format!("blank node _:{b} has no uid")))?,
            ],
            Object::UidVar(v) => ctx.uid_vars.get(v).cloned().unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    /// The schema of `name` as this transaction sees it, defining it from the first use when
    /// the predicate is new (`[uid]` for edges, the value's own type otherwise).
    fn schema_for(
        &self,
        txn: &mut Txn,
        name: &str,
        object: &Object,
    ) -> Result<PredicateSchema, GraphError> {
        if let Some(p) = self
            .predicate(name)
            .or_else(|| txn.new_preds.get(name).cloned())
        {
            return Ok(p);
        }
        check_predicate_name(name)?;
        let p = match object {
            Object::Uid(_) | Object::Blank(_) | Object::UidVar(_) => {
                let mut p = PredicateSchema::new(name, ScalarType::Uid);
                p.list = true;
                p
            }
            Object::Value(v) => PredicateSchema::new(name, literal_type(v)),
            _ => PredicateSchema::new(name, ScalarType::Default),
        };
        txn.new_preds.insert(name.to_string(), p.clone());
        Ok(p)
    }

    fn set_one(&self, txn: &mut Txn, nq: &NQuad, ctx: &MutationCtx) -> Result<(), GraphError> {
        let Predicate::Named(name) = &nq.predicate else {
            return Err(GraphError::Invalid(
                "a set cannot use * as the predicate".into(),
            ));
        };
        if let Some(forward) = name.strip_prefix('~') {
            return Err(GraphError::Invalid(format!(
                "cannot set the reverse edge {name} directly; set {forward} instead"
            )));
        }
        if matches!(nq.object, Object::Star) {
            return Err(GraphError::Invalid(format!(
                "a set cannot use * as the value of {name}"
            )));
        }
        let schema = self.schema_for(txn, name, &nq.object)?;
        let pred = self.pred_id(name)?;
        let set = SetEdge {
            nq,
            name,
            pred,
            schema: &schema,
            facets: facets(nq)?,
            subjects: self.subjects(&nq.subject, ctx, true)?,
        };
        txn.preds.insert(format!("0-{name}"));
        match &nq.object {
            Object::Uid(_) | Object::Blank(_) | Object::UidVar(_) => self.set_uids(txn, &set, ctx),
            Object::Value(_) | Object::ValVar(_) => self.set_values(txn, &set, ctx),
            Object::Star => unreachable_object().map(|_| ()),
        }
    }

    /// Sets uid edges: a single-uid predicate's old edge is replaced, reverse edges and counts
    /// follow.
    fn set_uids(
        &self,
        txn: &mut Txn,
        set: &SetEdge<'_>,
        ctx: &MutationCtx,
    ) -> Result<(), GraphError> {
        let (nq, name, pred, schema) = (set.nq, set.name, set.pred, set.schema);
        if schema.value_type != ScalarType::Uid {
            return Err(GraphError::Invalid(format!(
                "Input for predicate \"{name}\" of type {} is uid. Edge: {nq}",
                schema.value_type.name()
            )));
        }
        let targets = self.objects(&nq.object, ctx)?;
        for &s in &set.subjects {
            mark_count(txn, schema, pred, false, s);
            if !schema.list {
                // A single uid edge replaces the old one.
                for old in self.edge_targets(txn, pred, s)? {
                    if !targets.contains(&old) {
                        self.remove_edge(txn, schema, pred, s, old);
                    }
                }
            }
            for &t in &targets {
                let posting = Posting {
                    value: None,
                    facets: set.facets.clone(),
                };
                let key = Slot::Edge(t).key(pred, s);
                txn.conflicts.insert(fingerprint(&key));
                txn.writes.insert(key, Some(posting.encode()));
                if schema.reverse {
                    txn.writes
                        .insert(keys::reverse_key(pred, t, s), Some(Vec::new()));
                    mark_count(txn, schema, pred, true, t);
                }
            }
        }
        Ok(())
    }

    /// Sets scalar values (literals or value variables), converted to the predicate's type; a
    /// single value's old index entries are removed before the new ones are written.
    fn set_values(
        &self,
        txn: &mut Txn,
        set: &SetEdge<'_>,
        ctx: &MutationCtx,
    ) -> Result<(), GraphError> {
        let SetEdge {
            nq,
            name,
            pred,
            schema,
            facets,
            subjects,
        } = set;
        let (name, pred, schema) = (*name, *pred, *schema);
        let subjects: &[u64] = subjects;
        if schema.value_type == ScalarType::Uid {
            return Err(GraphError::Invalid(format!(
                "Input for predicate \"{name}\" of type uid is scalar. Edge: {nq}"
            )));
        }
        let lang = match &nq.lang {
            Some(l) if !schema.lang => {
                return Err(GraphError::Invalid(format!(
                    "Attr: [{name}] should have @lang directive in schema to mutate edge with lang tag: {l}"
                )));
            }
            Some(l) => self.pred_id(&lang_dict_name(l))?,
            None => 0,
        };
        for &s in subjects {
            let val = match &nq.object {
                Object::Value(v) => convert(v, schema, name)?,
                Object::ValVar(var) => match ctx.val_vars.get(var).and_then(|m| m.get(&s)) {
                    Some(v) => convert_val(v.clone(), schema, name)?,
                    None => continue,
                },
                _ => unreachable_object()?,
            };
            if name == "dgraph.rule.permission" {
                check_permission_value(&val)?;
            }
            let slot = if schema.list {
                Slot::List(list_hash(&val))
            } else {
                Slot::Value { lang }
            };
            let key = slot.key(pred, s);
            if !schema.list {
                // Replace: drop the old value's index entries. A node this request
                // created can only have a value this request wrote.
                let old = if ctx.fresh.contains(&s) {
                    match txn.writes.get(&key) {
                        Some(Some(raw)) => Some(Posting::decode(raw)?),
                        _ => None,
                    }
                } else {
                    self.read_posting(txn, &key)?
                };
                if let Some(Posting {
                    value: Some(old), ..
                }) = old
                {
                    let removed = IndexOp::Remove { key: &key };
                    self.index(txn, schema, pred, s, &old, nq.lang.as_deref(), removed)?;
                }
            }
            self.index(txn, schema, pred, s, &val, nq.lang.as_deref(), IndexOp::Add)?;
            mark_count(txn, schema, pred, false, s);
            txn.conflicts.insert(fingerprint(&key));
            txn.writes.insert(
                key,
                Some(
                    Posting {
                        value: Some(val),
                        facets: facets.clone(),
                    }
                    .encode(),
                ),
            );
        }
        Ok(())
    }

    fn delete_one(&self, txn: &mut Txn, nq: &NQuad, ctx: &MutationCtx) -> Result<(), GraphError> {
        let subjects = self.subjects(&nq.subject, ctx, false)?;
        let names: Vec<String> = match &nq.predicate {
            Predicate::Named(n) => vec![n.clone()],
            Predicate::Star => {
                if !matches!(nq.object, Object::Star) {
                    return Err(GraphError::Invalid(
                        "a delete of every predicate (S * *) needs * as the value".into(),
                    ));
                }
                // Each group deletes the predicates it serves (the others get the same N-Quad).
                self.schema()
                    .preds
                    .keys()
                    .filter(|n| !n.starts_with("dgraph."))
                    .cloned()
                    .chain(["dgraph.type".to_string()])
                    .filter(|n| self.serves_here(n))
                    .collect()
            }
        };
        for name in names {
            let Some(schema) = self
                .predicate(&name)
                .or_else(|| txn.new_preds.get(&name).cloned())
            else {
                continue;
            };
            let Some(pred) = self.store.lookup_predicate(&name) else {
                continue;
            };
            txn.preds.insert(format!("0-{name}"));
            for &s in &subjects {
                match &nq.object {
                    Object::Star => {
                        for (key, raw) in self
                            .view(txn.start_ts, Some(txn))
                            .scan(&keys::data_prefix(pred, s))?
                        {
                            self.remove_posting(txn, &schema, pred, s, key, &raw)?;
                        }
                    }
                    Object::Uid(_) | Object::UidVar(_) => {
                        for t in self.objects(&nq.object, ctx)? {
                            self.remove_edge(txn, &schema, pred, s, t);
                        }
                    }
                    Object::Value(v) => {
                        let val = convert(v, &schema, &name)?;
                        let key = if schema.list {
                            Slot::List(list_hash(&val)).key(pred, s)
                        } else {
                            let lang = match &nq.lang {
                                Some(l) => self
                                    .store
                                    .lookup_predicate(&lang_dict_name(l))
                                    .unwrap_or(u32::MAX),
                                None => 0,
                            };
                            Slot::Value { lang }.key(pred, s)
                        };
                        if let Some(old) = self.read_posting(txn, &key)? {
                            let matches = old.value.as_ref().is_some_and(|o| {
                                o == &val || schema.value_type == ScalarType::Password
                            });
                            if matches {
                                let raw = old.encode();
                                self.remove_posting(txn, &schema, pred, s, key, &raw)?;
                            }
                        }
                    }
                    Object::Blank(_) => {
                        unreachable_object()?;
                    }
                    Object::ValVar(var) => {
                        if let Some(v) = ctx.val_vars.get(var).and_then(|m| m.get(&s)) {
                            let key = if schema.list {
                                Slot::List(list_hash(v)).key(pred, s)
                            } else {
                                Slot::Value { lang: 0 }.key(pred, s)
                            };
                            if let Some(old) = self.read_posting(txn, &key)? {
                                let raw = old.encode();
                                self.remove_posting(txn, &schema, pred, s, key, &raw)?;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn read_posting(&self, txn: &Txn, key: &[u8]) -> Result<Option<Posting>, GraphError> {
        match self.view(txn.start_ts, Some(txn)).get(key)? {
            Some(raw) => Posting::decode(&raw).map(Some),
            None => Ok(None),
        }
    }

    fn edge_targets(&self, txn: &Txn, pred: u32, s: u64) -> Result<Vec<u64>, GraphError> {
        let prefix = keys::data_prefix(pred, s);
        let mut out = Vec::new();
        for key in self.view(txn.start_ts, Some(txn)).scan_keys(&prefix)? {
            if let Some(Slot::Edge(t)) = Slot::parse(&key[prefix.len()..]) {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn remove_edge(&self, txn: &mut Txn, schema: &PredicateSchema, pred: u32, s: u64, t: u64) {
        let key = Slot::Edge(t).key(pred, s);
        txn.conflicts.insert(fingerprint(&key));
        txn.writes.insert(key, None);
        mark_count(txn, schema, pred, false, s);
        if schema.reverse {
            txn.writes.insert(keys::reverse_key(pred, t, s), None);
            mark_count(txn, schema, pred, true, t);
        }
    }

    fn remove_posting(
        &self,
        txn: &mut Txn,
        schema: &PredicateSchema,
        pred: u32,
        s: u64,
        key: Vec<u8>,
        raw: &[u8],
    ) -> Result<(), GraphError> {
        let prefix_len = keys::data_prefix(pred, s).len();
        if let Some(Slot::Edge(t)) = Slot::parse(&key[prefix_len..]) {
            self.remove_edge(txn, schema, pred, s, t);
            return Ok(());
        }
        let posting = Posting::decode(raw)?;
        if let Some(v) = &posting.value {
            let lang = match Slot::parse(&key[prefix_len..]) {
                Some(Slot::Value { lang }) if lang != 0 => self.lang_name(lang),
                _ => None,
            };
            let removed = IndexOp::Remove { key: &key };
            self.index(txn, schema, pred, s, v, lang.as_deref(), removed)?;
        }
        mark_count(txn, schema, pred, false, s);
        txn.conflicts.insert(fingerprint(&key));
        txn.writes.insert(key, None);
        Ok(())
    }

    /// Brings the `@count` entries of the nodes this mutation touched up to date: the entry
    /// for the old count goes, one for the new count (if not zero) comes. Changing a node's
    /// count is a conflict key, so two transactions that change the same count cannot both
    /// commit from the same old value.
    fn update_counts(&self, txn: &mut Txn) -> Result<(), GraphError> {
        let touched = std::mem::take(&mut txn.counted);
        if touched.is_empty() {
            return Ok(());
        }
        // Recount through one snapshot: as committed, and with this transaction's writes on top
        // (count keys are apart from the postings they count, so writing them later changes
        // no count).
        let mut counts = Vec::with_capacity(touched.len());
        {
            let committed = self.view(txn.start_ts, None);
            let own = committed.with_overlay(Some(&txn.writes));
            for (pred, reverse, node) in touched {
                let prefix = if reverse {
                    keys::reverse_prefix(pred, node)
                } else {
                    keys::data_prefix(pred, node)
                };
                let recorded = match txn.count_recorded.get(&(pred, reverse, node)) {
                    Some(&c) => c,
                    None => count_u32(committed.scan_keys(&prefix)?.len()),
                };
                let now = count_u32(own.scan_keys(&prefix)?.len());
                counts.push((pred, reverse, node, recorded, now));
            }
        }
        for (pred, reverse, node, recorded, now) in counts {
            txn.conflicts
                .insert(fingerprint(&keys::count_key(pred, reverse, 0, node)));
            if recorded != now {
                if recorded > 0 {
                    txn.writes
                        .insert(keys::count_key(pred, reverse, recorded, node), None);
                }
                if now > 0 {
                    txn.writes
                        .insert(keys::count_key(pred, reverse, now, node), Some(Vec::new()));
                }
            }
            txn.count_recorded.insert((pred, reverse, node), now);
        }
        Ok(())
    }

    /// The index tokens of node `s`'s values of `pred` other than the posting at `except`, as
    /// the transaction sees them.
    fn tokens_of_others(
        &self,
        txn: &Txn,
        schema: &PredicateSchema,
        pred: u32,
        s: u64,
        except: &[u8],
    ) -> Result<BTreeSet<Vec<u8>>, GraphError> {
        let prefix = keys::data_prefix(pred, s);
        let mut out = BTreeSet::new();
        for (key, raw) in self.view(txn.start_ts, Some(txn)).scan(&prefix)? {
            let lang = match Slot::parse(&key[prefix.len()..]) {
                _ if key == except => continue,
                Some(Slot::Edge(_)) | None => continue,
                Some(Slot::Value { lang }) if lang != 0 => self.lang_name(lang),
                Some(_) => None,
            };
            if let Some(v) = Posting::decode(&raw)?.value {
                for &kind in &schema.indexes {
                    // A value that cannot be tokenized has no entries to keep.
                    if let Ok(tokens) = tokenizer::tokens_in(kind, &v, lang.as_deref()) {
                        out.extend(tokens);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The language tag behind an interned language id.
    pub(crate) fn lang_name(&self, id: u32) -> Option<String> {
        self.store
            .predicate_name(id)
            .and_then(|n| n.strip_prefix("\0lang:").map(str::to_string))
    }

    /// Adds (or removes) the index entries of `value`, in language `lang`, for node `s`. A
    /// removal keeps the entries the node's other values of the predicate (other languages,
    /// other list members) still produce: a word or trigram two values share stays indexed.
    #[allow(clippy::too_many_arguments)]
    fn index(
        &self,
        txn: &mut Txn,
        schema: &PredicateSchema,
        pred: u32,
        s: u64,
        value: &Val,
        lang: Option<&str>,
        op: IndexOp<'_>,
    ) -> Result<(), GraphError> {
        let add = matches!(op, IndexOp::Add);
        let kept = match op {
            IndexOp::Remove { key } if schema.list || schema.lang => {
                self.tokens_of_others(txn, schema, pred, s, key)?
            }
            _ => BTreeSet::new(),
        };
        for &kind in &schema.indexes {
            let tokens = tokenizer::tokens_in(kind, value, lang)
                .map_err(|e| GraphError::Invalid(format!("indexing {}: {e}", schema.name)))?;
            for token in tokens {
                if !add && kept.contains(&token) {
                    continue;
                }
                let key = index_key(schema, kind, pred, &token, s)?;
                if schema.upsert || schema.unique {
                    // Two transactions claiming the same value conflict.
                    txn.conflicts
                        .insert(fingerprint(&keys::index_prefix(pred, &token)));
                }
                txn.writes
                    .insert(key, if add { Some(Vec::new()) } else { None });
            }
        }
        Ok(())
    }
}

/// What [`Graph::index`] does with a value's entries.
#[derive(Clone, Copy)]
enum IndexOp<'k> {
    /// Writes them.
    Add,
    /// Deletes them, for the value stored under posting key `key`.
    Remove { key: &'k [u8] },
}

/// The index key of `token`, refused (before anything is written) when it is too long to
/// store: an `exact` index keeps the whole string in its key.
pub(crate) fn index_key(
    schema: &PredicateSchema,
    kind: tokenizer::IndexKind,
    pred: u32,
    token: &[u8],
    subject: u64,
) -> Result<Vec<u8>, GraphError> {
    let key = keys::index_key(pred, token, subject);
    if key.len() > lodestar_storage::MAX_KEY_LEN {
        return Err(GraphError::Invalid(format!(
            "the value of {} on node {subject:#x} is too long for its {kind} index: its index key would be {} bytes, and keys may have at most {} (index long strings with hash instead)",
            schema.name,
            key.len(),
            lodestar_storage::MAX_KEY_LEN
        )));
    }
    Ok(key)
}

/// Refuses a transaction past [`super::MAX_TXN_KEYS`] or [`super::MAX_TXN_BYTES`], while its
/// writes are still only buffered.
pub(super) fn check_txn_size(txn: &Txn) -> Result<(), GraphError> {
    let keys = txn.writes.len().max(txn.conflicts.len());
    if keys > super::MAX_TXN_KEYS {
        return Err(GraphError::Invalid(format!(
            "the transaction is too large: it writes {keys} keys, and a transaction may write at most {}; split the work into smaller transactions",
            super::MAX_TXN_KEYS
        )));
    }
    let bytes: usize = txn
        .writes
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
        .sum();
    if bytes > super::MAX_TXN_BYTES {
        return Err(GraphError::Invalid(format!(
            "the transaction is too large: it writes {bytes} bytes, and a transaction may write at most {}; split the work into smaller transactions",
            super::MAX_TXN_BYTES
        )));
    }
    Ok(())
}

/// Notes that node `node`'s count of `pred` (in one direction) may change, when `pred` has
/// `@count`.
/// One N-Quad of a set, resolved: its predicate's name, id and schema, its facets and the
/// subjects it applies to.
struct SetEdge<'a> {
    nq: &'a NQuad,
    name: &'a str,
    pred: u32,
    schema: &'a PredicateSchema,
    facets: Vec<(String, Val)>,
    subjects: Vec<u64>,
}

fn mark_count(txn: &mut Txn, schema: &PredicateSchema, pred: u32, reverse: bool, node: u64) {
    if schema.count {
        txn.counted.insert((pred, reverse, node));
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn unreachable_object() -> Result<Val, GraphError> {
    Err(GraphError::Invalid(
        "this kind of value is not allowed here".into(),
    ))
}

/// Dgraph's rules for predicate names: no spaces or control characters.
pub(crate) fn check_predicate_name(name: &str) -> Result<(), GraphError> {
    if name.len() > lodestar_types::schema::MAX_NAME_LEN {
        return Err(GraphError::Invalid(format!(
            "a predicate name of {} bytes is longer than the {} allowed",
            name.len(),
            lodestar_types::schema::MAX_NAME_LEN
        )));
    }
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}\"^`\\".contains(c))
    {
        return Err(GraphError::Invalid(format!(
            "invalid predicate name {name:?}"
        )));
    }
    if name.starts_with("dgraph.") {
        return Err(GraphError::Invalid(format!(
            "predicate {name} is reserved: names starting with dgraph. are pre-defined"
        )));
    }
    Ok(())
}

/// The type a first use of a predicate with this literal gives it.
pub(crate) fn literal_type(v: &Value) -> ScalarType {
    match v {
        Value::Default(_) => ScalarType::Default,
        Value::Str(_) => ScalarType::String,
        Value::Int(_) => ScalarType::Int,
        Value::Float(_) => ScalarType::Float,
        Value::Bool(_) => ScalarType::Bool,
        Value::DateTime(_) => ScalarType::DateTime,
        Value::Password(_) => ScalarType::Password,
        Value::Geo(_) => ScalarType::Geo,
    }
}

/// Converts a mutation literal for a predicate, hashing passwords.
/// A rule's permission must be 0–7 (READ=4, WRITE=2, MODIFY=1), with Dgraph's message.
fn check_permission_value(val: &Val) -> Result<(), GraphError> {
    match val {
        Val::Int(i) => lodestar_acl::Perm::from_value(*i)
            .map(|_| ())
            .map_err(|e| GraphError::Invalid(e.to_string())),
        _ => Err(GraphError::Invalid(
            lodestar_acl::PermOutOfRange.to_string(),
        )),
    }
}

pub(crate) fn convert(v: &Value, schema: &PredicateSchema, name: &str) -> Result<Val, GraphError> {
    let bad = |e: &dyn std::fmt::Display| {
        GraphError::Invalid(format!(
            "value for predicate {name} of type {}: {e}",
            schema.value_type.name()
        ))
    };
    if schema.value_type == ScalarType::Password {
        let text = match v {
            Value::Password(s) | Value::Default(s) | Value::Str(s) => s.clone(),
            other => return Err(bad(&format!("{other:?} is not a password"))),
        };
        // An exported (or Dgraph's) hash is loaded as it is, not hashed again.
        if lodestar_types::password::is_hash(&text) {
            return Ok(Val::Password(text));
        }
        return tokio::task::block_in_place(|| lodestar_types::password::hash_val(&text))
            .map_err(|e| GraphError::Invalid(e.to_string()));
    }
    let lit = match v {
        Value::Default(s) => Literal::Untyped(s),
        Value::Str(s) => Literal::Str(s),
        Value::Int(i) => Literal::Int(*i),
        Value::Float(f) => Literal::Float(*f),
        Value::Bool(b) => Literal::Bool(*b),
        Value::DateTime(s) => Literal::Typed {
            value: s,
            ty: ScalarType::DateTime,
        },
        Value::Geo(s) => Literal::Typed {
            value: s,
            ty: ScalarType::Geo,
        },
        Value::Password(_) => return Err(bad(&"a password value needs a password predicate")),
    };
    Val::from_literal_for(&lit, schema.value_type).map_err(|e| bad(&e))
}

fn convert_val(v: Val, schema: &PredicateSchema, name: &str) -> Result<Val, GraphError> {
    if schema.value_type == ScalarType::Default {
        return Ok(v);
    }
    v.convert(schema.value_type).map_err(|e| {
        GraphError::Invalid(format!(
            "value for predicate {name} of type {}: {e}",
            schema.value_type.name()
        ))
    })
}

/// The facets of an N-Quad as stored values.
pub(crate) fn facets(nq: &NQuad) -> Result<Vec<(String, Val)>, GraphError> {
    use lodestar_dql::FacetValue;
    nq.facets
        .iter()
        .map(|f| {
            let v = match &f.value {
                FacetValue::Str(s) => Val::String(s.clone()),
                FacetValue::Int(i) => Val::Int(*i),
                FacetValue::Float(x) => Val::Float(*x),
                FacetValue::Bool(b) => Val::Bool(*b),
                FacetValue::DateTime(s) => Val::DateTime(
                    Val::parse_datetime(s)
                        .map_err(|e| GraphError::Invalid(format!("facet {}: {e}", f.key)))?,
                ),
            };
            Ok((f.key.clone(), v))
        })
        .collect()
}
