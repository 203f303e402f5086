//! Everything that changes an alpha's store, as operations ([`Op`]) that go through its group's
//! Raft log and that every replica applies the same way, in the same order
//! ([`Graph::apply_op`]). A graph without a group (tests, the offline tools) applies them at
//! once.
//!
//! The leader computes what to write (mutations, index rebuilds, drops) from its own state and
//! proposes the result; applying never looks at anything a replica holds alone, so replicas
//! stay identical key for key. Two exceptions are deterministic by construction: interned ids
//! are handed out only while applying ([`Op::Intern`], and the names a restore brings), in log
//! order, so every dictionary numbers names alike; and a commit ([`Op::Commit`]) applies the
//! transaction's pending record, which an earlier entry wrote on every replica.

use super::schema::Schema;
use super::{Graph, GraphError, PENDING, Txn, pending_key};
use lodestar_backup::record::Record;
use lodestar_storage::Write;
use prost::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One key and its new value (`None` deletes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
}

impl From<Write> for KeyValue {
    fn from(w: Write) -> Self {
        KeyValue {
            key: w.key,
            value: w.value,
        }
    }
}

impl From<&KeyValue> for Write {
    fn from(kv: &KeyValue) -> Self {
        Write {
            key: kv.key.clone(),
            value: kv.value.clone(),
        }
    }
}

/// What the in-memory state of a replica must catch up on after a [`Op::Write`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    /// Schema or type entries changed: the schema is read again.
    pub schema: bool,
    /// ACL data may have changed: the rules are read again.
    pub acl: bool,
    /// Everything the replica held was replaced or dropped: tablets are confirmed afresh.
    pub tablets: bool,
}

/// A change to a group's store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Gives each name without an interned id the next one, in order.
    Intern(Vec<String>),
    /// Versions at `ts` (none when `data` is empty) and meta entries, in one atomic batch.
    /// `durable` asks a graph without a group to wait for the disk (a group's log is durable
    /// already).
    Write {
        ts: u64,
        data: Vec<KeyValue>,
        meta: Vec<KeyValue>,
        effects: Effects,
        durable: bool,
    },
    /// Decided commits, `(start_ts, commit_ts)`: each transaction's pending record is written
    /// at its commit timestamp and removed, in one batch. A record already gone (applied
    /// before) is skipped.
    Commit(Vec<(u64, u64)>),
    /// A restore begins: a bulk load at `ts` that replaces everything with `replace`.
    LoadBegin { ts: u64, replace: bool },
    /// One record of a backup file (`lodestar_backup::record::Record`, encoded), its ids
    /// renumbered into this store's; `new_file` when a file starts.
    LoadRecord {
        new_file: bool,
        #[serde(with = "serde_bytes")]
        record: Vec<u8>,
    },
    /// The restore is complete: it becomes durable and what reads see.
    LoadEnd,
    /// The restore is abandoned: the store is as it was before it.
    LoadAbort,
    /// One part of an op too large for one log entry (see [`Op::Whole`]), kept in the meta
    /// space until the whole is applied.
    Part {
        id: u64,
        seq: u32,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The op whose encoding parts `0..parts` of `id` carry, applied as if it were this entry;
    /// its parts are removed in the same batch.
    Whole { id: u64, parts: u32 },
    /// Removes the parts of ops that never arrived whole (their leader lost its term while
    /// proposing them).
    DropParts,
    /// A tablet moved: it `arrived` here holding everything up to `ts`, or left at `ts` (its
    /// keys are deleted at `ts`). See [`super::handoff`].
    Handoff {
        predicate: String,
        arrived: bool,
        ts: u64,
    },
}

/// Entries larger than this are proposed in parts ([`Op::Part`], [`Op::Whole`]): every
/// message between replicas then stays small enough to be written and acknowledged within a
/// heartbeat, however large a transaction is.
pub const PART_BYTES: usize = 1 << 20;

/// Meta-space prefix of the parts of an op: `raft/part/<id><seq>`.
const PART_PREFIX: &[u8] = b"raft/part/";

fn part_key(id: u64, seq: u32) -> Vec<u8> {
    let mut k = PART_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl Op {
    /// `self` as the entries to propose in order: itself when small, else its parts and the
    /// entry that applies them whole, as `id`.
    pub fn into_entries(self, id: u64) -> Vec<Op> {
        let encoded = match postcard::to_allocvec(&self) {
            Ok(e) if e.len() > PART_BYTES => e,
            _ => return vec![self],
        };
        let mut entries: Vec<Op> = encoded
            .chunks(PART_BYTES)
            .enumerate()
            .map(|(seq, bytes)| Op::Part {
                id,
                seq: seq as u32,
                bytes: bytes.to_vec(),
            })
            .collect();
        let parts = entries.len() as u32;
        entries.push(Op::Whole { id, parts });
        entries
    }
}

/// What applying an [`Op`] gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum OpReply {
    #[default]
    Done,
    /// A finished restore: keys loaded and the highest uid seen.
    Loaded { keys: u64, max_uid: u64 },
    /// The operation was refused by its input, the same way on every replica (a corrupt
    /// backup record); nothing of it was written.
    Refused(String),
}

/// An op's reply, or the reason every replica refused it.
pub(super) fn refused(reply: OpReply) -> Result<OpReply, GraphError> {
    match reply {
        OpReply::Refused(why) => Err(GraphError::Invalid(why)),
        other => Ok(other),
    }
}

/// A restore being applied.
pub(super) struct Loading {
    restore: super::backup::Restore,
}

impl std::fmt::Debug for Loading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loading")
    }
}

impl Graph {
    /// Changes the store through the group's log (or at once without a group), and returns
    /// once this replica has applied the change.
    pub async fn propose(&self, op: Op) -> Result<OpReply, GraphError> {
        match self.replication.get() {
            Some(r) => r.propose(op).await,
            None => super::blocking(|| self.apply_op(&op, &[])),
        }
    }

    /// Interns every name of `names` that has no id yet (through the log).
    pub async fn intern(&self, names: impl IntoIterator<Item = String>) -> Result<(), GraphError> {
        let mut missing: Vec<String> = names
            .into_iter()
            .filter(|n| self.store.lookup_predicate(n).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        missing.dedup();
        for name in &missing {
            if name.len() > lodestar_types::schema::MAX_NAME_LEN {
                return Err(GraphError::Invalid(format!(
                    "a predicate name of {} bytes is longer than the {} allowed",
                    name.len(),
                    lodestar_types::schema::MAX_NAME_LEN
                )));
            }
        }
        self.propose(Op::Intern(missing)).await.map(|_| ())
    }

    /// The interned id of `name`, which must have been interned through the log (see
    /// [`Graph::intern`]): handing out an id here would number this replica's dictionary
    /// differently from the others'.
    pub fn pred_id(&self, name: &str) -> Result<u32, GraphError> {
        self.store.lookup_predicate(name).ok_or_else(|| {
            GraphError::Internal(format!(
                "{name:?} has no interned id: it must be interned before it is written"
            ))
        })
    }

    /// Applies `op` to this replica's store and in-memory state. `applied` are meta entries
    /// that must become durable with the op (a group's applied log id); they are held back
    /// while a restore is being loaded and written when it ends, so a crash in the middle
    /// replays the restore from its start.
    ///
    /// An error means the store itself failed: the replica cannot go on.
    pub fn apply_op(&self, op: &Op, applied: &[Write]) -> Result<OpReply, GraphError> {
        if let Op::Whole { id, parts } = op {
            return self.apply_whole(*id, *parts, applied);
        }
        let mut loading = self.loading.lock();
        let applied: &[Write] = if loading.is_some() {
            hold(&mut self.held_applied.lock(), applied);
            &[]
        } else {
            applied
        };
        match op {
            Op::Part { id, seq, bytes } => {
                let mut meta = vec![Write::put(part_key(*id, *seq), bytes.clone())];
                meta.extend_from_slice(applied);
                self.store.write_meta(&meta, false)?;
                Ok(OpReply::Done)
            }
            Op::DropParts => {
                let mut meta = Vec::new();
                for item in self.store.snapshot().meta_scan_prefix(PART_PREFIX) {
                    meta.push(Write::delete(item?.0));
                }
                meta.extend_from_slice(applied);
                if !meta.is_empty() {
                    self.store.write_meta(&meta, false)?;
                }
                Ok(OpReply::Done)
            }
            Op::Whole { .. } => Ok(OpReply::Refused("an op in parts cannot hold one".into())),
            Op::Intern(names) => {
                for name in names {
                    self.store.predicate_id(name)?;
                }
                if !applied.is_empty() {
                    self.store.write_meta(applied, false)?;
                }
                Ok(OpReply::Done)
            }
            Op::Write {
                ts,
                data,
                meta,
                effects,
                durable,
            } => {
                let data: Vec<Write> = data.iter().map(Write::from).collect();
                let mut meta: Vec<Write> = meta.iter().map(Write::from).collect();
                meta.extend_from_slice(applied);
                let durable = *durable && self.replication.get().is_none();
                if data.is_empty() {
                    self.store.write_meta(&meta, durable)?;
                } else {
                    for chunk in data.chunks(super::APPLY_CHUNK) {
                        self.store.commit(*ts, chunk, &[], false)?;
                    }
                    self.store.commit(*ts, &[], &meta, durable)?;
                    if durable {
                        self.store.sync()?;
                    }
                    self.applied_up_to(*ts);
                }
                self.after_write(*effects)?;
                Ok(OpReply::Done)
            }
            Op::Handoff {
                predicate,
                arrived,
                ts,
            } => self.apply_handoff(predicate, *arrived, *ts, applied),
            Op::Commit(decisions) => {
                for (i, &(start_ts, commit_ts)) in decisions.iter().enumerate() {
                    let last = i + 1 == decisions.len();
                    self.apply_commit(start_ts, commit_ts, if last { applied } else { &[] })?;
                }
                Ok(OpReply::Done)
            }
            Op::LoadBegin { ts, replace } => {
                if loading.is_some() {
                    // A leader that failed in the middle of a restore leaves it open; the next
                    // one starts over.
                    if let Some(old) = loading.take() {
                        old.restore.abort()?;
                    }
                }
                let restore = super::backup::Restore::begin(&self.store, *ts, *replace)?;
                hold(&mut self.held_applied.lock(), applied);
                *loading = Some(Loading { restore });
                Ok(OpReply::Done)
            }
            Op::LoadRecord { new_file, record } => {
                let Some(load) = loading.as_mut() else {
                    return Ok(OpReply::Refused(
                        "no restore is being loaded: it was abandoned (a leader change?); start the restore again".into(),
                    ));
                };
                let record = match Record::decode(record.as_slice()) {
                    Ok(r) => r,
                    Err(e) => return Ok(OpReply::Refused(format!("an undecodable record: {e}"))),
                };
                if *new_file {
                    load.restore.new_file();
                }
                match load.restore.load(&self.store, record) {
                    Ok(()) => Ok(OpReply::Done),
                    Err(GraphError::Invalid(why)) => Ok(OpReply::Refused(why)),
                    Err(e) => Err(e),
                }
            }
            Op::LoadEnd => {
                let Some(load) = loading.take() else {
                    return Ok(OpReply::Refused(
                        "no restore is being loaded: it was abandoned (a leader change?); start the restore again".into(),
                    ));
                };
                let held = std::mem::take(&mut *self.held_applied.lock());
                let (keys, max_uid, ts) = load.restore.finish_with(&held)?;
                self.applied_up_to(ts);
                drop(loading);
                self.reload_after_replace()?;
                Ok(OpReply::Loaded { keys, max_uid })
            }
            Op::LoadAbort => {
                if let Some(load) = loading.take() {
                    load.restore.abort()?;
                }
                let held = std::mem::take(&mut *self.held_applied.lock());
                if !held.is_empty() {
                    self.store.write_meta(&held, false)?;
                }
                Ok(OpReply::Done)
            }
        }
    }

    /// Applies the op parts `0..parts` of `id` carry, removing the parts with it. Parts that
    /// are missing or do not decode refuse it the same way on every replica.
    fn apply_whole(&self, id: u64, parts: u32, applied: &[Write]) -> Result<OpReply, GraphError> {
        let mut encoded = Vec::new();
        let mut with = applied.to_vec();
        for seq in 0..parts {
            let key = part_key(id, seq);
            match self.store.meta_get(&key)? {
                Some(bytes) => encoded.extend_from_slice(&bytes),
                None => {
                    return self.apply_op(&Op::Intern(Vec::new()), applied).map(|_| {
                        OpReply::Refused(format!(
                            "part {seq} of a large change is missing (its leader lost its term); retry"
                        ))
                    });
                }
            }
            with.push(Write::delete(key));
        }
        match postcard::from_bytes::<Op>(&encoded) {
            Ok(Op::Part { .. } | Op::Whole { .. } | Op::DropParts) | Err(_) => self
                .apply_op(&Op::Intern(Vec::new()), applied)
                .map(|_| OpReply::Refused("the parts of a large change do not decode".into())),
            Ok(op) => self.apply_op(&op, &with),
        }
    }

    /// Whether parts of an op that never arrived whole are held here.
    pub(crate) fn holds_parts(&self) -> Result<bool, GraphError> {
        match self.store.snapshot().meta_scan_prefix(PART_PREFIX).next() {
            Some(item) => item.map(|_| true).map_err(Into::into),
            None => Ok(false),
        }
    }

    /// Applies one decided commit from the transaction's pending record.
    fn apply_commit(
        &self,
        start_ts: u64,
        commit_ts: u64,
        applied: &[Write],
    ) -> Result<(), GraphError> {
        let txn: Arc<Txn> = match self.prepared.lock().remove(&start_ts) {
            Some(t) => t,
            None => match self.store.meta_get(&pending_key(start_ts))? {
                Some(raw) => Arc::new(Txn::decode(&raw).ok_or_else(|| {
                    GraphError::Internal(format!(
                        "the pending record of transaction {start_ts} cannot be decoded"
                    ))
                })?),
                None => {
                    // Applied before (a replay), or settled as aborted: nothing to write.
                    if !applied.is_empty() {
                        self.store.write_meta(applied, false)?;
                    }
                    return Ok(());
                }
            },
        };
        let mut writes: Vec<Write> = txn
            .writes
            .iter()
            .map(|(k, v)| Write {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        let mut adopted = Vec::new();
        for p in txn.new_preds.values() {
            if self.schema.read().preds.contains_key(&p.name) {
                continue;
            }
            self.store.predicate_id(&p.name)?;
            writes.push(Schema::pred_write(&self.store, p)?);
            adopted.push(p.clone());
        }
        let mut meta = vec![Write::delete(pending_key(start_ts))];
        meta.extend_from_slice(applied);
        let durable = self.replication.get().is_none();
        self.store.commit(commit_ts, &writes, &meta, durable)?;
        self.applied_up_to(commit_ts);
        if txn.preds.iter().any(|p| {
            p.strip_prefix("0-")
                .is_some_and(|name| super::access::is_acl_predicate(name) || name == "dgraph.type")
        }) {
            self.acl_changed();
        }
        if !adopted.is_empty() {
            let mut schema = self.schema.write();
            for p in adopted {
                schema.preds.entry(p.name.clone()).or_insert(p);
            }
        }
        Ok(())
    }

    /// Catches the in-memory state up with a write.
    fn after_write(&self, effects: Effects) -> Result<(), GraphError> {
        if effects.schema {
            let snap = self.store.snapshot();
            *self.schema.write() = Schema::load(&self.store, &snap, u64::MAX)?;
        }
        if effects.tablets {
            self.tablets.write().clear();
        }
        if effects.acl || effects.schema {
            self.acl_changed();
        }
        Ok(())
    }

    /// Reads everything in memory again after the store was replaced (a restore, a snapshot
    /// from the group's leader).
    pub(crate) fn reload_after_replace(&self) -> Result<(), GraphError> {
        if let Some(source) = self.remote.get() {
            source.forget_tablets();
        }
        self.after_write(Effects {
            schema: true,
            acl: true,
            tablets: true,
        })
    }

    /// Makes this replica's store the copy `import` took of its leader's (a Raft snapshot),
    /// with `meta` as its whole meta space; a restore being applied here is dropped (the copy
    /// is newer).
    pub(crate) fn install_copy(
        &self,
        import: lodestar_storage::Import,
        meta: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), GraphError> {
        let mut loading = self.loading.lock();
        if let Some(old) = loading.take() {
            old.restore.abort()?;
        }
        self.held_applied.lock().clear();
        import.finish(meta)?;
        drop(loading);
        self.prepared.lock().clear();
        self.reload_after_replace()
    }

    /// The pending transactions this replica holds records of.
    pub(crate) fn pending_records(&self) -> Result<Vec<Txn>, GraphError> {
        let snap = self.store.snapshot();
        let mut out = Vec::new();
        for item in snap.meta_scan_prefix(&[PENDING]) {
            let (_, raw) = item?;
            out.push(
                Txn::decode(&raw).ok_or_else(|| {
                    GraphError::Internal("undecodable pending transaction".into())
                })?,
            );
        }
        Ok(out)
    }
}

/// Adds `writes` to the meta entries held back during a restore: a later write of the same
/// key replaces the held one (the applied log id), others are kept (removed parts).
fn hold(held: &mut Vec<Write>, writes: &[Write]) {
    for w in writes {
        match held.iter_mut().find(|h| h.key == w.key) {
            Some(h) => *h = w.clone(),
            None => held.push(w.clone()),
        }
    }
}

/// A batch of writes at `ts` as an [`Op::Write`].
pub fn write_op(
    ts: u64,
    data: Vec<Write>,
    meta: Vec<Write>,
    effects: Effects,
    durable: bool,
) -> Op {
    Op::Write {
        ts,
        data: data.into_iter().map(KeyValue::from).collect(),
        meta: meta.into_iter().map(KeyValue::from).collect(),
        effects,
        durable,
    }
}
