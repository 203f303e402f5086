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

use super::posting::{EDGE, VALUE};
use super::schema::Schema;
use super::{Graph, GraphError};
use lodestar_proto::worker::{DictEntry, Kv, KvBatch};
use lodestar_storage::keys::KeyKind;
use lodestar_storage::{BulkLoad, Store, Write};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Uncompressed bytes of keys and values per streamed batch.
const BATCH_BYTES: usize = 1 << 20;

/// Where the interned ids of a key are: the predicate (or type) id always, and the language id
/// of a single value.
fn id_positions(key: &[u8]) -> Option<(KeyKind, [Option<usize>; 2])> {
    let kind = KeyKind::from_byte(*key.first()?)?;
    if key.len() < 5 {
        return None;
    }
    let lang = match kind {
        // [Data, pred u32, subject u64, VALUE, lang u32]
        KeyKind::Data if key.len() == 18 && key[13] == VALUE => Some(14),
        _ => None,
    };
    Some((kind, [Some(1), lang]))
}

fn read_u32(key: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(key[at..at + 4].try_into().expect("four bytes"))
}

fn read_u64(key: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(key[at..at + 8].try_into().expect("eight bytes"))
}

/// The uids a key mentions: the subject of a posting and the target of an edge, or both ends
/// of a reverse entry.
fn key_uids(key: &[u8]) -> [u64; 2] {
    match KeyKind::from_byte(key[0]) {
        Some(KeyKind::Data) if key.len() >= 13 => {
            let subject = read_u64(key, 5);
            let target = if key.len() == 22 && key[13] == EDGE {
                read_u64(key, 14)
            } else {
                0
            };
            [subject, target]
        }
        Some(KeyKind::Reverse) if key.len() == 21 => [read_u64(key, 5), read_u64(key, 13)],
        _ => [0, 0],
    }
}

/// A predicate's dictionary name, or `None` for the names of types and language tags.
fn predicate_name(name: &str) -> Option<&str> {
    (!name.starts_with('\0')).then_some(name)
}

/// Builds the batches of a backup stream.
struct StreamBuilder<'a> {
    store: &'a Store,
    named: HashSet<u32>,
    batch: KvBatch,
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
            batch: KvBatch::default(),
            bytes: 0,
            count: 0,
            max_uid: 0,
            predicates: BTreeSet::new(),
        }
    }

    /// Adds a key; returns a full batch to send.
    fn push(
        &mut self,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        version: u64,
    ) -> Result<Option<KvBatch>, GraphError> {
        let Some((kind, positions)) = id_positions(&key) else {
            return Err(GraphError::Internal(format!(
                "a stored key of unknown layout ({} bytes, first byte {})",
                key.len(),
                key.first().copied().unwrap_or_default()
            )));
        };
        for at in positions.into_iter().flatten() {
            let id = read_u32(&key, at);
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
            self.batch.names.push(DictEntry { id, name });
        }
        for uid in key_uids(&key) {
            self.max_uid = self.max_uid.max(uid);
        }
        self.count += 1;
        self.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        self.batch.kvs.push(Kv {
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

    fn finish(mut self) -> KvBatch {
        self.batch.done = true;
        self.batch.max_uid = self.max_uid;
        self.batch.count = self.count;
        self.batch.predicates = self.predicates.into_iter().collect();
        self.batch
    }
}

/// The state of a restore in progress on this alpha.
#[derive(Debug)]
pub struct Restore {
    load: BulkLoad,
    /// The current file's ids → this alpha's ids.
    ids: HashMap<u32, u32>,
    loaded: u64,
    max_uid: u64,
}

impl Graph {
    /// Streams the keys that changed in `(since, read_ts]` as batches on `tx` (a full backup,
    /// `since = 0`, leaves deletes out). Waits first for commits at or below `read_ts` that are
    /// still being applied. Stops early, without error, when the receiver goes away.
    pub async fn stream_changes(
        self: &Arc<Self>,
        since: u64,
        read_ts: u64,
        tx: mpsc::Sender<Result<KvBatch, GraphError>>,
    ) {
        self.settle().await;
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<(), GraphError> {
            let snap = store.snapshot();
            let mut builder = StreamBuilder::new(&store);
            for change in snap.changes(&[], since, read_ts) {
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
            let _ = tx.blocking_send(Ok(builder.finish()));
            Ok(())
        })
        .await;
        let failure = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(e) => GraphError::Internal(format!("the backup stream stopped: {e}")),
        };
        tracing::warn!(error = %failure, since, read_ts, "backup stream failed");
    }

    /// Starts a restore at `ts`: with `drop_all`, everything the alpha holds is replaced.
    /// Commits wait until [`Graph::finish_restore`] or [`Graph::abort_restore`].
    pub async fn begin_restore(
        &self,
        ts: u64,
        drop_all: bool,
    ) -> Result<(Restore, tokio::sync::RwLockWriteGuard<'_, ()>), GraphError> {
        let guard = self.commits.write().await;
        let load = super::blocking(|| self.store.begin_load(ts, drop_all))?;
        Ok((
            Restore {
                load,
                ids: HashMap::new(),
                loaded: 0,
                max_uid: 0,
            },
            guard,
        ))
    }

    /// Loads one batch of a backup file into a restore.
    pub fn restore_batch(&self, restore: &mut Restore, batch: KvBatch) -> Result<(), GraphError> {
        if batch.new_file {
            restore.ids.clear();
        }
        for DictEntry { id, name } in batch.names {
            let ours = self.store.predicate_id(&name)?;
            restore.ids.insert(id, ours);
        }
        let mut writes = Vec::with_capacity(batch.kvs.len());
        for kv in batch.kvs {
            let mut key = kv.key;
            let Some((_, positions)) = id_positions(&key) else {
                return Err(GraphError::Invalid(format!(
                    "the backup holds a key of unknown layout ({} bytes): is it from a newer version?",
                    key.len()
                )));
            };
            for at in positions.into_iter().flatten() {
                let id = read_u32(&key, at);
                if id == 0 {
                    continue;
                }
                let ours = restore.ids.get(&id).ok_or_else(|| {
                    GraphError::Invalid(format!(
                        "the backup uses interned id {id} before naming it: the file is corrupt"
                    ))
                })?;
                key[at..at + 4].copy_from_slice(&ours.to_be_bytes());
            }
            for uid in key_uids(&key) {
                restore.max_uid = restore.max_uid.max(uid);
            }
            restore.loaded += 1;
            writes.push(if kv.deleted {
                Write::delete(key)
            } else {
                Write::put(key, kv.value)
            });
        }
        Ok(super::blocking(|| restore.load.write(&writes))?)
    }

    /// Makes a restore durable and serves what it wrote: the schema is reloaded, reserved
    /// predicates and (with ACL on) groot and guardians are put back if the backup lacked
    /// them, and the ACL rules are read afresh. Returns (keys loaded, highest uid seen).
    pub async fn finish_restore(
        &self,
        restore: Restore,
        guard: tokio::sync::RwLockWriteGuard<'_, ()>,
    ) -> Result<(u64, u64), GraphError> {
        let Restore {
            load,
            loaded,
            max_uid,
            ..
        } = restore;
        let ts = load.ts();
        super::blocking(|| load.finish())?;
        self.applied_up_to(ts);
        let snap = self.store.snapshot();
        *self.schema.write() = Schema::load(&self.store, &snap, u64::MAX)?;
        self.tablets.write().clear();
        drop(guard);
        let (preds, types) = self.schema.read().missing_reserved();
        if !preds.is_empty() || !types.is_empty() {
            self.write_schema(preds, types, Vec::new(), Vec::new())
                .await?;
        }
        self.restore_acl_roots().await?;
        Ok((loaded, max_uid))
    }

    /// Takes back everything a restore wrote: the data it replaced is served again as it was.
    pub fn abort_restore(
        &self,
        restore: Restore,
        guard: tokio::sync::RwLockWriteGuard<'_, ()>,
    ) -> Result<(), GraphError> {
        let ts = restore.load.ts();
        let erased = super::blocking(|| restore.load.abort())?;
        drop(guard);
        tracing::warn!(
            restore_ts = ts,
            erased,
            "restore abandoned: what it wrote was taken back"
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use lodestar_storage::keys;

    #[test]
    fn ids_are_found_where_keys_keep_them() {
        let value = keys::data_key(7, 42, &[VALUE, 0, 0, 0, 9]);
        assert_eq!(
            id_positions(&value),
            Some((KeyKind::Data, [Some(1), Some(14)]))
        );
        let mut edge = keys::data_key(7, 42, &[EDGE]);
        edge.extend_from_slice(&99u64.to_be_bytes());
        assert_eq!(id_positions(&edge), Some((KeyKind::Data, [Some(1), None])));
        assert_eq!(key_uids(&edge), [42, 99]);
        assert_eq!(key_uids(&keys::reverse_key(7, 99, 42)), [99, 42]);
        assert_eq!(
            id_positions(&keys::schema_key(3)),
            Some((KeyKind::Schema, [Some(1), None]))
        );
        assert_eq!(id_positions(&[0xff, 0, 0, 0, 1]), None);
        assert_eq!(id_positions(&[1, 0]), None);
    }
}
