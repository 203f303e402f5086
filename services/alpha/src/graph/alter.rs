//! Schema changes and drops (`Alter`): new indexes and reverse edges are built from the data
//! already stored, and drops write tombstones at a fresh timestamp, so reads at older
//! timestamps (and backups) still see what was there.

use super::log::{Effects, write_op};
use super::posting::{Posting, Slot};
use super::schema::{Schema, type_dict_name};
use super::{Graph, GraphError};
use lodestar_storage::Write;
use lodestar_storage::keys::{self, KeyKind};
use lodestar_types::schema::{self, PredicateSchema, reserved};
use lodestar_types::tokenizer;
use std::collections::BTreeMap;

/// Every kind of key: what `drop_all` and a restore replace.
pub(super) const ALL_KINDS: [KeyKind; 6] = [
    KeyKind::Data,
    KeyKind::Index,
    KeyKind::Reverse,
    KeyKind::Count,
    KeyKind::Schema,
    KeyKind::Type,
];

const DATA_KINDS: [KeyKind; 4] = [
    KeyKind::Data,
    KeyKind::Index,
    KeyKind::Reverse,
    KeyKind::Count,
];

impl Graph {
    /// Applies schema text: validates it, refuses changes to reserved predicates, stores it, and
    /// builds indexes and reverse edges that the change adds. In a cluster of several groups
    /// every group keeps the whole schema (queries plan with it wherever they run); each group
    /// builds indexes only for the predicates it serves. The groups serving predicates of the
    /// change apply it first (they check it against their data), then the other groups, then
    /// this one.
    pub async fn alter_schema(&self, text: &str) -> Result<(), GraphError> {
        self.alter(text, true).await
    }

    /// [`Graph::alter_schema`] of a part another group's alpha sent: applied here only.
    pub async fn alter_schema_part(&self, text: &str) -> Result<(), GraphError> {
        self.alter(text, false).await
    }

    async fn alter(&self, text: &str, fan_out: bool) -> Result<(), GraphError> {
        let mut update = schema::parse(text).map_err(|e| GraphError::Invalid(e.to_string()))?;
        reserved::check_alter(&mut update).map_err(|e| GraphError::Invalid(e.to_string()))?;
        let elsewhere = self
            .claim_tablets(update.predicates.iter().map(|p| p.name.clone()).collect())
            .await?;
        if fan_out && self.spans_groups() {
            let others = self.other_groups().await?;
            if !others.is_empty() {
                let text: Vec<String> = update
                    .predicates
                    .iter()
                    .map(schema::render)
                    .chain(update.types.iter().map(schema::render_type))
                    .collect();
                let text = text.join("\n");
                let serving: std::collections::BTreeSet<u32> =
                    elsewhere.values().copied().collect();
                let (first, then): (Vec<u32>, Vec<u32>) =
                    others.into_iter().partition(|g| serving.contains(g));
                for group in first.into_iter().chain(then) {
                    self.alter_elsewhere(group, text.clone()).await?;
                }
            }
        }
        // The schema of a predicate another group serves is kept here too, under its name.
        self.intern(
            elsewhere
                .keys()
                .cloned()
                .chain(update.types.iter().map(|t| type_dict_name(&t.name))),
        )
        .await?;
        let current = self.schema();
        let mut rebuild = Vec::new();
        for p in &update.predicates {
            if let Some(old) = current.preds.get(&p.name) {
                // Only the group serving a predicate holds its data and indexes.
                let has_data = !elsewhere.contains_key(&p.name) && self.has_data(&p.name)?;
                schema::check_change(old, p, has_data)
                    .map_err(|e| GraphError::Invalid(e.to_string()))?;
                if has_data
                    && (old.indexes != p.indexes
                        || old.reverse != p.reverse
                        || old.count != p.count)
                {
                    rebuild.push(p.clone());
                }
            }
        }
        let _apply = self.commits.write().await;
        let ts = self.oracle.timestamps(1).await?;
        let mut writes = Vec::new();
        for p in &update.predicates {
            writes.push(Schema::pred_write(&self.store, p)?);
        }
        for t in &update.types {
            writes.push(Schema::type_write(&self.store, t)?);
        }
        for p in &rebuild {
            writes.extend(super::blocking(|| self.rebuild_writes(p))?);
        }
        let effects = Effects {
            schema: true,
            acl: true,
            tablets: false,
        };
        self.write_chunks(ts, writes, effects).await
    }

    /// Proposes `writes` at `ts`, a bounded number per entry of the group's log; the caller
    /// holds the commit lock, so no read at or above `ts` runs before the last is applied.
    async fn write_chunks(
        &self,
        ts: u64,
        writes: Vec<Write>,
        effects: Effects,
    ) -> Result<(), GraphError> {
        let mut chunks = writes.chunks(super::APPLY_CHUNK).peekable();
        if chunks.peek().is_none() {
            return Ok(());
        }
        while let Some(chunk) = chunks.next() {
            // The effects (schema reload, ...) follow the last chunk.
            let last = chunks.peek().is_none();
            let effects = if last { effects } else { Effects::default() };
            self.propose(write_op(ts, chunk.to_vec(), Vec::new(), effects, last))
                .await?;
        }
        Ok(())
    }

    fn has_data(&self, name: &str) -> Result<bool, GraphError> {
        let Some(pred) = self.store.lookup_predicate(name) else {
            return Ok(false);
        };
        let snap = self.store.snapshot();
        let has = snap
            .scan_prefix_at(&keys::prefix(KeyKind::Data, pred), u64::MAX)
            .next()
            .transpose()?
            .is_some();
        Ok(has)
    }

    /// Removes `p`'s index, reverse and count entries and writes them anew from its data (read
    /// at the newest applied state: the caller holds the commit lock).
    fn rebuild_writes(&self, p: &PredicateSchema) -> Result<Vec<Write>, GraphError> {
        let pred = self.pred_id(&p.name)?;
        let snap = self.store.snapshot();
        let mut writes = Vec::new();
        for kind in [KeyKind::Index, KeyKind::Reverse, KeyKind::Count] {
            for item in snap.scan_prefix_at(&keys::prefix(kind, pred), u64::MAX) {
                writes.push(Write::delete(item?.0));
            }
        }
        // Postings per node, and edges pointing at each node, for `@count`.
        let mut forward: BTreeMap<u64, u32> = BTreeMap::new();
        let mut backward: BTreeMap<u64, u32> = BTreeMap::new();
        let data = keys::prefix(KeyKind::Data, pred);
        for item in snap.scan_prefix_at(&data, u64::MAX) {
            let (key, raw) = item?;
            let Some(subject) = keys::u64_at(&key, data.len()) else {
                continue;
            };
            let slot = Slot::parse(&key[data.len() + 8..]);
            if p.count {
                *forward.entry(subject).or_default() += 1;
                if let (true, Some(Slot::Edge(target))) = (p.reverse, &slot) {
                    *backward.entry(*target).or_default() += 1;
                }
            }
            match slot {
                Some(Slot::Edge(target)) if p.reverse => {
                    writes.push(Write::put(
                        keys::reverse_key(pred, target, subject),
                        Vec::new(),
                    ));
                }
                Some(ref slot @ (Slot::Value { .. } | Slot::List(_))) => {
                    let posting = Posting::decode(&raw)?;
                    let lang = match slot {
                        Slot::Value { lang } if *lang != 0 => self.lang_name(*lang),
                        _ => None,
                    };
                    if let Some(v) = posting.value {
                        let v = typed(v, p.value_type);
                        for &kind in &p.indexes {
                            let tokens =
                                tokenizer::tokens_in(kind, &v, lang.as_deref()).map_err(|e| {
                                    GraphError::Invalid(format!("indexing {}: {e}", p.name))
                                })?;
                            for t in tokens {
                                writes.push(Write::put(
                                    super::mutate::index_key(p, kind, pred, &t, subject)?,
                                    Vec::new(),
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (reverse, counts) in [(false, forward), (true, backward)] {
            for (node, n) in counts {
                writes.push(Write::put(
                    keys::count_key(pred, reverse, n, node),
                    Vec::new(),
                ));
            }
        }
        // Deleting and re-adding the same key in one batch: keep the last word.
        let mut dedup = std::collections::BTreeMap::new();
        for w in writes {
            dedup.insert(w.key, w.value);
        }
        Ok(dedup
            .into_iter()
            .map(|(key, value)| Write { key, value })
            .collect())
    }

    /// Tombstones for every live key of the given kinds (all predicates when `pred` is None).
    pub(super) fn tombstones(
        &self,
        kinds: &[KeyKind],
        pred: Option<u32>,
    ) -> Result<Vec<Write>, GraphError> {
        let snap = self.store.snapshot();
        let mut writes = Vec::new();
        for &kind in kinds {
            let prefix = match pred {
                Some(p) => keys::prefix(kind, p),
                None => vec![kind as u8],
            };
            for item in snap.scan_prefix_at(&prefix, u64::MAX) {
                writes.push(Write::delete(item?.0));
            }
        }
        Ok(writes)
    }

    async fn write_locked(&self, writes: Vec<Write>, effects: Effects) -> Result<u64, GraphError> {
        let ts = self.oracle.timestamps(1).await?;
        self.write_chunks(ts, writes, effects).await?;
        Ok(ts)
    }

    /// `drop_all`: every node, edge and schema entry goes; the reserved schema stays.
    pub async fn drop_all(&self) -> Result<(), GraphError> {
        {
            let _apply = self.commits.write().await;
            let writes = super::blocking(|| self.tombstones(&ALL_KINDS, None))?;
            let effects = Effects {
                schema: true,
                acl: true,
                tablets: true,
            };
            self.write_locked(writes, effects).await?;
            // Without a single key the schema is empty even where nothing was written.
            *self.schema.write() = Schema::default();
        }
        let (preds, types) = self.schema.read().missing_reserved();
        self.write_schema(preds, types, Vec::new(), Vec::new())
            .await?;
        self.restore_acl_roots().await
    }

    /// With ACL on, groot and guardians come back after a drop (as in Dgraph), in group 1,
    /// which keeps them (the other groups read them there).
    pub(super) async fn restore_acl_roots(&self) -> Result<(), GraphError> {
        self.acl_changed();
        if self.acl_roots.read().is_some() && !self.acl_elsewhere() {
            self.ensure_acl_roots().await?;
        }
        Ok(())
    }

    /// Applies `drop` in this group, then in every other group of the cluster (each holds
    /// the whole schema and its own tablets' data).
    pub async fn drop_everywhere(&self, drop: &Drop) -> Result<(), GraphError> {
        self.drop_here(drop).await?;
        let Some(source) = self.remote.get() else {
            return Ok(());
        };
        for group in self.other_groups().await? {
            source.apply_drop(group, drop.to_string()).await?;
        }
        Ok(())
    }

    /// Applies `drop` in this group only.
    pub async fn drop_here(&self, drop: &Drop) -> Result<(), GraphError> {
        match drop {
            Drop::All => self.drop_all().await,
            Drop::Data => self.drop_data().await,
            Drop::Attr(name) => self.drop_attr(name).await,
            Drop::Type(name) => self.drop_type(name).await,
        }
    }

    /// `DROP_OP DATA`: every node and edge goes; the schema stays.
    pub async fn drop_data(&self) -> Result<(), GraphError> {
        {
            let _apply = self.commits.write().await;
            let writes = super::blocking(|| self.tombstones(&DATA_KINDS, None))?;
            let effects = Effects {
                acl: true,
                ..Effects::default()
            };
            self.write_locked(writes, effects).await?;
        }
        self.restore_acl_roots().await
    }

    /// `DROP_OP ATTR` / `drop_attr`: a predicate's data, indexes and schema go.
    pub async fn drop_attr(&self, name: &str) -> Result<(), GraphError> {
        reserved::check_drop_predicate(name).map_err(|e| GraphError::Invalid(e.to_string()))?;
        let Some(pred) = self.store.lookup_predicate(name) else {
            return Ok(());
        };
        let _apply = self.commits.write().await;
        let mut writes = super::blocking(|| self.tombstones(&DATA_KINDS, Some(pred)))?;
        writes.push(Write::delete(keys::schema_key(pred)));
        let effects = Effects {
            schema: true,
            acl: true,
            tablets: false,
        };
        self.write_locked(writes, effects).await?;
        Ok(())
    }

    /// `DROP_OP TYPE`: a type definition goes (its predicates and data stay).
    pub async fn drop_type(&self, name: &str) -> Result<(), GraphError> {
        reserved::check_drop_type(name).map_err(|e| GraphError::Invalid(e.to_string()))?;
        if !self.schema.read().types.contains_key(name) {
            return Ok(());
        }
        self.write_schema(Vec::new(), Vec::new(), Vec::new(), vec![name.to_string()])
            .await?;
        Ok(())
    }
}

/// A drop an `Alter` asks for, applied in every group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    All,
    Data,
    Attr(String),
    Type(String),
}

impl Drop {
    /// Reads the text [`Drop`]'s `Display` writes (between alphas).
    pub fn parse(text: &str) -> Result<Drop, GraphError> {
        match text.split_once(':') {
            None if text == "all" => Ok(Drop::All),
            None if text == "data" => Ok(Drop::Data),
            Some(("attr", name)) => Ok(Drop::Attr(name.to_string())),
            Some(("type", name)) => Ok(Drop::Type(name.to_string())),
            _ => Err(GraphError::Invalid(format!("{text:?} is not a drop"))),
        }
    }
}

impl std::fmt::Display for Drop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drop::All => f.write_str("all"),
            Drop::Data => f.write_str("data"),
            Drop::Attr(name) => write!(f, "attr:{name}"),
            Drop::Type(name) => write!(f, "type:{name}"),
        }
    }
}

/// `v` as a value of `ty` when it was written before its predicate had a type (stored as
/// default): Dgraph reads and indexes such values as the schema's type now says, so data
/// loaded first and typed by a later schema (its quickstart's order) is found and answered
/// typed. A value that does not convert stays as it was.
pub(super) fn typed(
    v: lodestar_types::value::Val,
    ty: lodestar_types::value::ScalarType,
) -> lodestar_types::value::Val {
    use lodestar_types::value::{ScalarType, Val};
    match (&v, ty) {
        (Val::Default(_), ScalarType::Default | ScalarType::Uid | ScalarType::Password) => v,
        (Val::Default(_), _) => v.convert(ty).unwrap_or(v),
        _ => v,
    }
}
