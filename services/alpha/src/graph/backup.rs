//! The alpha's side of backups and restores.
//!
//! A backup streams every key whose newest version at `read_ts` is newer than `since`, read
//! from one consistent snapshot while commits go on. Keys carry interned ids (predicates, types,
//! language tags); each batch names the ids its keys use that no earlier batch named, so a
//! backup file can be restored into a cluster whose dictionary numbers things differently.
//!
//! A restore writes a series (the full backup, then each incremental) at one timestamp as one
//! [`BulkLoad`] that replaces everything the alpha holds: each backup's keys in order, a later
//! backup's put or delete replacing an earlier one's (same key, same timestamp). So the result
//! is exactly the state at the last backup's `read_ts`. On fjall the load is bulk-ingested into
//! a new keyspace that is swapped in at the end, and the replaced data is deleted whole.

use super::log::{Op, OpReply, refused};
use super::{Graph, GraphError};
use lodestar_backup::record::{Entry, Name, Record};
use lodestar_storage::keys::{self, KeyKind};
use lodestar_storage::{BulkLoad, Store, Write};
use prost::Message;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Uncompressed bytes of keys and values per streamed record.
const BATCH_BYTES: usize = 1 << 20;

/// A predicate's dictionary name, or `None` for the names of types and language tags.
fn predicate_name(name: &str) -> Option<&str> {
    (!name.starts_with('\0')).then_some(name)
}

/// Builds the records of a backup stream (or a tablet's, see [`super::handoff`]).
struct StreamBuilder<'a> {
    store: &'a Store,
    named: HashSet<u32>,
    batch: Record,
    bytes: usize,
    count: u64,
    max_uid: u64,
    predicates: BTreeSet<String>,
}

impl<'a> StreamBuilder<'a> {
    fn new(store: &'a Store) -> Self {
        StreamBuilder {
            store,
            named: HashSet::new(),
            batch: Record::default(),
            bytes: 0,
            count: 0,
            max_uid: 0,
            predicates: BTreeSet::new(),
        }
    }

    /// Adds a key; returns a full record to send.
    fn push(
        &mut self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        version: u64,
    ) -> Result<Option<Record>, GraphError> {
        let Some((kind, positions)) = keys::interned_ids(&key) else {
            return Err(GraphError::Internal(format!(
                "a stored key of unknown layout ({} bytes, first byte {})",
                key.len(),
                key.first().copied().unwrap_or_default()
            )));
        };
        for at in positions.into_iter().flatten() {
            let id = keys::id_at(&key, at).unwrap_or(0);
            if id == 0 || !self.named.insert(id) {
                continue;
            }
            let name = self.store.predicate_name(id).ok_or_else(|| {
                GraphError::Internal(format!("interned id {id} has no name in the dictionary"))
            })?;
            if kind != KeyKind::Type
                && at == 1
                && let Some(p) = predicate_name(&name)
            {
                self.predicates.insert(p.to_string());
            }
            self.batch.names.push(Name { id, name });
        }
        for uid in keys::key_uids(&key) {
            self.max_uid = self.max_uid.max(uid);
        }
        self.count += 1;
        self.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        self.batch.entries.push(Entry {
            key,
            deleted: value.is_none(),
            value: value.unwrap_or_default(),
            version,
            user_meta: 0,
        });
        if self.bytes >= BATCH_BYTES {
            self.bytes = 0;
            return Ok(Some(std::mem::take(&mut self.batch)));
        }
        Ok(None)
    }

    fn finish(mut self) -> Record {
        self.batch.done = true;
        self.batch.max_uid = self.max_uid;
        self.batch.count = self.count;
        self.batch.predicates = self.predicates.into_iter().collect();
        self.batch
    }
}

/// Streams, as records into `tx`, the keys under `prefixes` whose newest version at `read_ts`
/// was written after `since` (deletes only when `since > 0`), from one snapshot of `store`.
/// A failure is the stream's last item.
pub(super) async fn stream_prefixes(
    store: Arc<Store>,
    prefixes: Vec<Vec<u8>>,
    since: u64,
    read_ts: u64,
    tx: mpsc::Sender<Result<Record, GraphError>>,
) {
    let failed = tx.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<(), GraphError> {
        let snap = store.snapshot();
        let mut builder = StreamBuilder::new(&store);
        for prefix in &prefixes {
            for change in snap.changes(prefix, since, read_ts) {
                let change = change?;
                if change.value.is_none() && since == 0 {
                    continue;
                }
                if let Some(full) = builder.push(change.key, change.value, change.commit_ts)?
                    && tx.blocking_send(Ok(full)).is_err()
                {
                    return Ok(());
                }
            }
        }
        let _ = tx.blocking_send(Ok(builder.finish()));
        Ok(())
    })
    .await;
    let failure = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(e) => GraphError::Internal(format!("the stream stopped: {e}")),
    };
    tracing::warn!(error = %failure, since, read_ts, "a stream of keys failed");
    let _ = failed.send(Err(failure)).await;
}

/// A restore in progress: a bulk load of a backup series into a store at one timestamp, with
/// the interned ids of each file renumbered into the store's own.
#[derive(Debug)]
pub struct Restore {
    load: BulkLoad,
    /// The current file's ids → this store's ids.
    ids: HashMap<u32, u32>,
    loaded: u64,
    max_uid: u64,
}

impl Restore {
    /// Starts loading into `store` at `ts`; with `drop_all` the load replaces everything the
    /// store holds. [`Graph::begin_restore`] is the way for a store a graph serves: this alone
    /// is for a store no server has open (the offline restore).
    pub fn begin(store: &Store, ts: u64, drop_all: bool) -> Result<Restore, GraphError> {
        Ok(Restore {
            load: store.begin_load(ts, drop_all)?,
            ids: HashMap::new(),
            loaded: 0,
            max_uid: 0,
        })
    }

    /// A new file of the series starts: its ids are named afresh.
    pub fn new_file(&mut self) {
        self.ids.clear();
    }

    /// Loads one record of a backup file (blocking).
    pub fn load(&mut self, store: &Store, record: Record) -> Result<(), GraphError> {
        for Name { id, name } in record.names {
            let ours = store.predicate_id(&name)?;
            self.ids.insert(id, ours);
        }
        let mut writes = Vec::with_capacity(record.entries.len());
        for entry in record.entries {
            let mut key = entry.key;
            let ids = &self.ids;
            keys::remap_ids(&mut key, |id| {
                ids.get(&id).copied().ok_or_else(|| {
                    GraphError::Invalid(format!(
                        "the backup uses interned id {id} before naming it: the file is corrupt"
                    ))
                })
            })
            .ok_or_else(|| {
                GraphError::Invalid(format!(
                    "the backup holds a key of unknown layout ({} bytes): is it from a newer version?",
                    key.len()
                ))
            })??;
            for uid in keys::key_uids(&key) {
                self.max_uid = self.max_uid.max(uid);
            }
            self.loaded += 1;
            writes.push(if entry.deleted {
                Write::delete(key)
            } else {
                Write::put(key, entry.value)
            });
        }
        Ok(self.load.write(&writes)?)
    }

    /// Makes a load into a store no server has open durable; returns (keys loaded, highest
    /// uid seen). The alpha that opens the store next completes what a served restore does at
    /// its end (reserved predicates, ACL roots).
    pub fn finish_offline(self) -> Result<(u64, u64), GraphError> {
        self.load.finish()?;
        Ok((self.loaded, self.max_uid))
    }

    /// Makes the load durable with `meta` in the same step; returns (keys loaded, highest uid
    /// seen, the load's timestamp).
    pub(super) fn finish_with(self, meta: &[Write]) -> Result<(u64, u64, u64), GraphError> {
        let ts = self.load.ts();
        self.load.finish_with(meta)?;
        Ok((self.loaded, self.max_uid, ts))
    }

    /// Takes the load back.
    pub(super) fn abort(self) -> Result<(), GraphError> {
        let ts = self.load.ts();
        let erased = self.load.abort()?;
        tracing::warn!(
            restore_ts = ts,
            erased,
            "restore abandoned: what it wrote was taken back"
        );
        Ok(())
    }
}

impl Graph {
    /// Streams the keys that changed in `(since, read_ts]` as batches on `tx` (a full backup,
    /// `since = 0`, leaves deletes out). Waits first for commits at or below `read_ts` that are
    /// still being applied. Stops early, without error, when the receiver goes away.
    pub async fn stream_changes(
        self: &Arc<Self>,
        since: u64,
        read_ts: u64,
        tx: mpsc::Sender<Result<Record, GraphError>>,
    ) {
        if let Err(e) = self.settle_for(read_ts).await {
            let _ = tx.send(Err(e)).await;
            return;
        }
        stream_prefixes(self.store.clone(), vec![Vec::new()], since, read_ts, tx).await;
    }

    /// Starts a restore at `ts` on every replica of the group: with `drop_all`, everything
    /// the group holds is replaced. Commits wait until [`Graph::finish_restore`] or
    /// [`Graph::abort_restore`] releases the returned guard.
    pub async fn begin_restore(
        &self,
        ts: u64,
        drop_all: bool,
    ) -> Result<tokio::sync::RwLockWriteGuard<'_, ()>, GraphError> {
        let guard = self.commits.write().await;
        refused(
            self.propose(Op::LoadBegin {
                ts,
                replace: drop_all,
            })
            .await?,
        )?;
        Ok(guard)
    }

    /// Loads one record of a backup file into the restore under way.
    pub async fn restore_batch(&self, record: &Record, new_file: bool) -> Result<(), GraphError> {
        refused(
            self.propose(Op::LoadRecord {
                new_file,
                record: record.encode_to_vec(),
            })
            .await?,
        )
        .map(|_| ())
    }

    /// Makes a restore durable and serves what it wrote: the schema is reloaded, reserved
    /// predicates and (with ACL on) groot and guardians are put back if the backup lacked
    /// them, and the ACL rules are read afresh. Returns (keys loaded, highest uid seen).
    pub async fn finish_restore(
        &self,
        guard: tokio::sync::RwLockWriteGuard<'_, ()>,
    ) -> Result<(u64, u64), GraphError> {
        let reply = refused(self.propose(Op::LoadEnd).await?)?;
        drop(guard);
        let OpReply::Loaded { keys, max_uid } = reply else {
            return Err(GraphError::Internal(format!(
                "a finished restore answered {reply:?}"
            )));
        };
        let (preds, types) = self.schema.read().missing_reserved();
        if !preds.is_empty() || !types.is_empty() {
            self.write_schema(preds, types, Vec::new(), Vec::new())
                .await?;
        }
        self.restore_acl_roots().await?;
        Ok((keys, max_uid))
    }

    /// Takes back everything a restore wrote: the data it replaced is served again as it was.
    pub async fn abort_restore(
        &self,
        guard: tokio::sync::RwLockWriteGuard<'_, ()>,
    ) -> Result<(), GraphError> {
        self.propose(Op::LoadAbort).await?;
        drop(guard);
        Ok(())
    }

    /// At start: takes back a restore that never finished.
    pub(super) fn undo_unfinished_restore(&self) -> Result<(), GraphError> {
        if let Some((ts, erased)) = self.store.undo_unfinished_load()? {
            tracing::warn!(
                restore_ts = ts,
                erased,
                "a restore did not finish before the alpha stopped: what it wrote was taken back"
            );
        }
        Ok(())
    }
}
