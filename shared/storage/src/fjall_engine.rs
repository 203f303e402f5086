//! The embedded engine: fjall, one keyspace per [`Space`].
//!
//! The data space is a keyspace named `data` or `data-<generation>`: a replacement (a restore)
//! is bulk-ingested into the next generation, and the `engine` keyspace's [`ACTIVE`] entry is
//! switched to it in one durable write, after which the old generation is deleted whole. At
//! open, a generation other than the active one (a replacement cut off by a crash, or an old
//! one not yet deleted) is deleted.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, Op, Replacement, Space, Want};
use fjall::{
    Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode, Readable,
};
use parking_lot::RwLock;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

pub(crate) struct FjallEngine {
    db: Database,
    /// The active data keyspace; replaced whole by a committed [`Replacement`].
    data: Arc<RwLock<Keyspace>>,
    meta: Keyspace,
    /// The engine's own bookkeeping: which data keyspace is active.
    engine: Keyspace,
}

/// Values of at least this many bytes are kept apart from the keys.
const VALUE_SEPARATION: u32 = 512;

/// Key of the `engine` keyspace naming the active data keyspace (absent: `data`).
const ACTIVE: &str = "active-data";

/// The first data keyspace's name; later generations are `data-<n>`.
const FIRST_DATA: &str = "data";

/// Data-space entries (version key, encoded value) in the order a replacement ingests them.
type Chunk = Vec<(Vec<u8>, Vec<u8>)>;

/// Entries a replacement sorts and hands to its ingestion at a time (bytes of keys and values).
const INGEST_CHUNK_BYTES: usize = 32 << 20;

fn data_options() -> KeyspaceCreateOptions {
    // Values from VALUE_SEPARATION bytes up live in blob files beside the tree: scans that
    // only need keys (an incremental backup looking for what changed) skip them, and
    // compaction moves pointers instead of rewriting them. A keyspace keeps the options it was
    // created with.
    KeyspaceCreateOptions::default().with_kv_separation(Some(
        KvSeparationOptions::default().separation_threshold(VALUE_SEPARATION),
    ))
}

/// The generation of a data keyspace's name, or `None` for other keyspaces.
fn generation(name: &str) -> Option<u64> {
    if name == FIRST_DATA {
        return Some(0);
    }
    name.strip_prefix("data-")?.parse().ok()
}

fn err(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Engine(format!("fjall {what}: {e}"))
}

impl FjallEngine {
    pub(crate) fn open(path: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(path)
            .map_err(|e| StorageError::Engine(format!("cannot create {}: {e}", path.display())))?;
        let db = Database::builder(path).open().map_err(|e| {
            StorageError::Engine(format!(
                "cannot open {} (is another process using it?): {e}",
                path.display()
            ))
        })?;
        let engine = db
            .keyspace("engine", KeyspaceCreateOptions::default)
            .map_err(|e| err("open engine", e))?;
        let active = match engine.get(ACTIVE).map_err(|e| err("read", e))? {
            Some(name) => String::from_utf8(name.to_vec())
                .ok()
                .filter(|n| generation(n).is_some())
                .ok_or_else(|| {
                    StorageError::Corrupt("the active data keyspace's name is invalid".into())
                })?,
            None => FIRST_DATA.to_string(),
        };
        let data = db
            .keyspace(&active, data_options)
            .map_err(|e| err("open data", e))?;
        for name in db.list_keyspace_names() {
            if generation(&name).is_some() && *name != *active {
                let stale = db
                    .keyspace(&name, data_options)
                    .map_err(|e| err("open a stale data keyspace", e))?;
                db.delete_keyspace(stale)
                    .map_err(|e| err("delete a stale data keyspace", e))?;
            }
        }
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(|e| err("open meta", e))?;
        Ok(FjallEngine {
            db,
            data: Arc::new(RwLock::new(data)),
            meta,
            engine,
        })
    }
}

impl Engine for FjallEngine {
    fn apply(&self, ops: Vec<Op>, durable: bool) -> Result<(), StorageError> {
        // Held through the commit, so a replacement cannot swap the keyspace in between.
        let data = self.data.read();
        let mut batch = self.db.batch();
        for op in ops {
            let ks = match op.space {
                Space::Data => &*data,
                Space::Meta => &self.meta,
            };
            match op.value {
                Some(v) => batch.insert(ks, op.key, v),
                None => batch.remove(ks, op.key),
            }
        }
        batch.commit().map_err(|e| err("write", e))?;
        drop(data);
        if durable { self.sync() } else { Ok(()) }
    }

    fn snapshot(&self) -> Arc<dyn EngineSnapshot> {
        let data = self.data.read();
        Arc::new(FjallSnapshot {
            snapshot: self.db.snapshot(),
            data: data.clone(),
            meta: self.meta.clone(),
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| err("sync", e))
    }

    fn flush(&self) -> Result<(), StorageError> {
        let data = self.data.read().clone();
        for ks in [&data, &self.meta] {
            ks.rotate_memtable_and_wait().map_err(|e| err("flush", e))?;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "fjall"
    }

    fn begin_replacement(&self) -> Result<Option<Box<dyn Replacement>>, StorageError> {
        let current = generation(self.data.read().name()).unwrap_or(0);
        let mut next = current + 1;
        while self.db.keyspace_exists(&format!("data-{next}")) {
            next += 1;
        }
        let name = format!("data-{next}");
        let target = self
            .db
            .keyspace(&name, data_options)
            .map_err(|e| err("create a data keyspace", e))?;
        // Sorted chunks go to a thread that writes them straight into tables and blob files
        // (no journal, no memtable), while the caller decodes and sorts the next chunk.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(1);
        let ingest_into = target.clone();
        let ingester = std::thread::Builder::new()
            .name("fjall-ingest".into())
            .spawn(move || ingest(&ingest_into, &rx))
            .map_err(|e| err("start the ingestion thread", e))?;
        Ok(Some(Box::new(FjallReplacement {
            db: self.db.clone(),
            engine: self.engine.clone(),
            active: self.data.clone(),
            target: Some(target),
            name,
            chunk: Vec::new(),
            chunk_bytes: 0,
            tx: Some(tx),
            ingester: Some(ingester),
        })))
    }
}

/// Writes sorted chunks into `target` as few ingestions as their order allows: a chunk that
/// starts above the last key written continues the current one; one that does not starts a
/// new ingestion, whose entries shadow the earlier ones' (same key: the later chunk wins).
fn ingest(target: &Keyspace, chunks: &Receiver<Chunk>) -> Result<(), StorageError> {
    let mut next = chunks.recv().ok();
    while let Some(chunk) = next.take() {
        let mut ingestion = target.start_ingestion().map_err(|e| err("ingest", e))?;
        let mut last: Option<Vec<u8>> = None;
        let mut chunk = Some(chunk);
        while let Some(entries) = chunk.take() {
            if let Some((end, _)) = entries.last() {
                last = Some(end.clone());
            }
            for (key, value) in entries {
                ingestion.write(key, value).map_err(|e| err("ingest", e))?;
            }
            match chunks.recv() {
                Ok(more) => match (more.first(), &last) {
                    (Some((first, _)), Some(last)) if first <= last => next = Some(more),
                    _ => chunk = Some(more),
                },
                Err(_) => break,
            }
        }
        ingestion.finish().map_err(|e| err("ingest", e))?;
    }
    Ok(())
}

struct FjallReplacement {
    db: Database,
    engine: Keyspace,
    active: Arc<RwLock<Keyspace>>,
    /// The keyspace being built (taken by commit or abort).
    target: Option<Keyspace>,
    name: String,
    chunk: Chunk,
    chunk_bytes: usize,
    tx: Option<SyncSender<Chunk>>,
    ingester: Option<std::thread::JoinHandle<Result<(), StorageError>>>,
}

impl FjallReplacement {
    /// Sorts the chunk (a key given twice keeps its later value) and hands it on.
    fn send_chunk(&mut self) -> Result<(), StorageError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        self.chunk_bytes = 0;
        // Stable: equal keys keep their order, and the last of each run is the one kept.
        chunk.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Chunk = Vec::with_capacity(chunk.len());
        for entry in chunk {
            match kept.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(kept).is_ok());
        if sent {
            Ok(())
        } else {
            // The ingester stopped: its error says why.
            self.join()?;
            Err(StorageError::Engine(
                "fjall ingest: the ingestion stopped".into(),
            ))
        }
    }

    /// Ends the ingestion thread and returns its outcome.
    fn join(&mut self) -> Result<(), StorageError> {
        self.tx = None;
        match self.ingester.take() {
            Some(handle) => handle.join().map_err(|_| {
                StorageError::Engine("fjall ingest: the ingestion thread panicked".into())
            })?,
            None => Ok(()),
        }
    }

    /// Deletes the keyspace being built; what the ingestion made of it no longer matters.
    fn discard(&mut self) -> Result<(), StorageError> {
        let _ = self.join();
        match self.target.take() {
            Some(target) => self
                .db
                .delete_keyspace(target)
                .map_err(|e| err("delete an abandoned data keyspace", e)),
            None => Ok(()),
        }
    }
}

impl Replacement for FjallReplacement {
    fn write(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StorageError> {
        for (key, value) in entries {
            self.chunk_bytes += key.len() + value.len();
            self.chunk.push((key, value));
        }
        if self.chunk_bytes >= INGEST_CHUNK_BYTES {
            self.send_chunk()?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        if !self.chunk.is_empty() {
            self.send_chunk()?;
        }
        self.join()?;
        let target = self.target.take().expect("a replacement commits once");
        // Ingested tables are synced as they are written; the switch is one durable write.
        self.engine
            .insert(ACTIVE, self.name.as_bytes())
            .map_err(|e| err("write", e))?;
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| err("sync", e))?;
        let old = std::mem::replace(&mut *self.active.write(), target);
        // Its files go once the last snapshot reading it is dropped; a crash before that
        // leaves it for the next open to delete.
        self.db
            .delete_keyspace(old)
            .map_err(|e| err("delete the replaced data keyspace", e))
    }

    fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        self.discard()
    }
}

impl Drop for FjallReplacement {
    fn drop(&mut self) {
        // Dropped uncommitted: a failure here leaves the keyspace for the next open to delete.
        let _ = self.discard();
    }
}

struct FjallSnapshot {
    snapshot: fjall::Snapshot,
    data: Keyspace,
    meta: Keyspace,
}

impl FjallSnapshot {
    fn keyspace(&self, space: Space) -> &Keyspace {
        match space {
            Space::Data => &self.data,
            Space::Meta => &self.meta,
        }
    }

    /// Entries of `space` with `start <= key < end` (no end: to the end of the space).
    fn iter(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> fjall::Iter {
        let end = end.map_or(Bound::Unbounded, |end| Bound::Excluded(end.to_vec()));
        self.snapshot
            .range(self.keyspace(space), (Bound::Included(start.to_vec()), end))
    }
}

impl EngineSnapshot for FjallSnapshot {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .snapshot
            .get(self.keyspace(space), key)
            .map_err(|e| err("read", e))?
            .map(|v| v.to_vec()))
    }

    fn range(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> KvIter<'_> {
        let iter = self.iter(space, start, end);
        Box::new(iter.map(|guard| {
            let (k, v) = guard.into_inner().map_err(|e| err("scan", e))?;
            Ok((k.to_vec(), v.to_vec()))
        }))
    }

    fn range_select<'a>(
        &'a self,
        space: Space,
        start: &[u8],
        end: Option<&[u8]>,
        want: Want<'a>,
    ) -> KvIter<'a> {
        let iter = self.iter(space, start, end);
        // fjall asks its filter through `Fn`; the decision is stateful (in key order).
        let want = std::sync::Mutex::new(want);
        Box::new(iter.filter_map(move |guard| {
            match guard.into_inner_if(|key| (want.lock().expect("not poisoned"))(key)) {
                Ok((k, Some(v))) => Some(Ok((k.to_vec(), v.to_vec()))),
                Ok((_, None)) => None,
                Err(e) => Some(Err(err("scan", e))),
            }
        }))
    }
}
