//! The embedded engine: fjall, one keyspace per [`Space`].
//!
//! The data space is a keyspace named `data` or `data-<generation>`: a replacement (a restore)
//! or an import is bulk-ingested into the next generation, and the `engine` keyspace's
//! [`ACTIVE`] entry is switched to it in one durable batch, together with the meta writes that
//! must land with it (a load's record of what it loaded; an import's whole meta space, old keys
//! removed), after which the old generation is deleted whole. At open, a generation other than
//! the active one (a replacement or import cut off by a crash, or an old one not yet deleted)
//! is deleted. A keyspace is never deleted while it holds the highest keyspace id (an empty
//! `fence-<n>` keyspace takes a higher one first; see [`delete_keyspace`]), so fjall never
//! gives an id twice.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, MetaUpdate, Op, Replacement, Space, Want};
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

/// Name prefix of the empty keyspaces that hold the highest keyspace id: see
/// [`delete_keyspace`].
const FENCE: &str = "fence-";

/// Every keyspace of `db` with its name.
fn all_keyspaces(db: &Database) -> Result<Vec<(String, Keyspace)>, StorageError> {
    db.list_keyspace_names()
        .into_iter()
        .map(|name| {
            // Opening an existing keyspace keeps the options it was created with.
            let ks = db
                .keyspace(&name, KeyspaceCreateOptions::default)
                .map_err(|e| err("open a keyspace", e))?;
            Ok((name.to_string(), ks))
        })
        .collect()
}

/// Deletes `doomed` (`what`, for messages) without ever deleting the keyspace with the highest
/// id: when `doomed` holds it, an empty fence keyspace is created first and takes a higher one.
///
/// fjall numbers a new keyspace after the highest id it finds at open, and takes its sequence
/// numbers up from those of the surviving keyspaces only. Once the keyspace with the highest
/// id was deleted (an aborted or crashed replacement), the next session could give its id to
/// a new keyspace whose name record then sorts below the earlier removal record of that id:
/// the new keyspace, and with it a committed replacement's data, would vanish at the next
/// open. With the highest id always alive, no id is given twice.
fn delete_keyspace(db: &Database, doomed: Keyspace, what: &str) -> Result<(), StorageError> {
    // One deletion at a time: another could delete a keyspace between listing it and opening
    // it by name here, which would create it anew.
    let _deleting = DELETING.lock();
    let highest = all_keyspaces(db)?
        .iter()
        .map(|(_, ks)| ks.id())
        .max()
        .unwrap_or(0);
    if doomed.id() >= highest {
        let mut n = doomed.id();
        while db.keyspace_exists(&format!("{FENCE}{n}")) {
            n += 1;
        }
        db.keyspace(&format!("{FENCE}{n}"), KeyspaceCreateOptions::default)
            .map_err(|e| err("create a fence keyspace", e))?;
    }
    db.delete_keyspace(doomed)
        .map_err(|e| err(&format!("delete {what}"), e))?;
    delete_spare_fences(db)
}

/// Serializes [`delete_keyspace`] (rare: once per replacement) across the process.
static DELETING: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Deletes the fences that no longer hold the highest keyspace id.
fn delete_spare_fences(db: &Database) -> Result<(), StorageError> {
    let all = all_keyspaces(db)?;
    let highest = all.iter().map(|(_, ks)| ks.id()).max().unwrap_or(0);
    for (name, ks) in all {
        if name.starts_with(FENCE) && ks.id() < highest {
            db.delete_keyspace(ks)
                .map_err(|e| err("delete a spare fence keyspace", e))?;
        }
    }
    Ok(())
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
        if active != FIRST_DATA && !db.keyspace_exists(&active) {
            // Opening it would create it empty: the store would come up without its data.
            return Err(StorageError::Corrupt(format!(
                "the active data keyspace {active} is missing from {}; restore the store from a \
                 backup or copy it from a replica",
                path.display()
            )));
        }
        let data = db
            .keyspace(&active, data_options)
            .map_err(|e| err("open data", e))?;
        for name in db.list_keyspace_names() {
            if generation(&name).is_some() && *name != *active {
                let stale = db
                    .keyspace(&name, data_options)
                    .map_err(|e| err("open a stale data keyspace", e))?;
                delete_keyspace(&db, stale, "a stale data keyspace")?;
            }
        }
        // Fences left by a crash in the middle of a deletion.
        {
            let _deleting = DELETING.lock();
            delete_spare_fences(&db)?;
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
        // Not durable still reaches the OS at once: a process killed after this returns loses
        // nothing (a machine that loses power may).
        let mut batch = self.db.batch().durability(Some(PersistMode::Buffer));
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
            meta: self.meta.clone(),
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
    meta: Keyspace,
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
            Some(target) => delete_keyspace(&self.db, target, "an abandoned data keyspace"),
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

    fn commit(mut self: Box<Self>, meta: MetaUpdate) -> Result<(), StorageError> {
        if !self.chunk.is_empty() {
            self.send_chunk()?;
        }
        self.join()?;
        let target = self.target.take().ok_or_else(|| {
            StorageError::Engine("fjall: a replacement was committed after it ended".into())
        })?;
        // Held from reading the meta keys to the swap: no batch can land in between (each
        // holds the read side through its commit), so nothing written meanwhile is lost to
        // the old keyspace or survives a meta rewrite that should have removed it.
        let mut active = self.active.write();
        // Ingested tables are synced as they are written. The switch and the meta writes are
        // one batch, one journal record: after a crash, both happened or neither did.
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.engine, ACTIVE, self.name.as_bytes());
        match meta {
            MetaUpdate::Write(writes) => {
                for (key, value) in writes {
                    match value {
                        Some(v) => batch.insert(&self.meta, key, v),
                        None => batch.remove(&self.meta, key),
                    }
                }
            }
            MetaUpdate::Replace(entries) => {
                // Only keys that are not rewritten are removed: a removal and an insert of one
                // key in one batch share a sequence number, and which wins is not defined.
                let mut next = entries.iter().map(|(k, _)| k.as_slice()).peekable();
                for guard in self.meta.iter() {
                    let key = guard.key().map_err(|e| err("read", e))?;
                    while next.next_if(|k| *k < &*key).is_some() {}
                    if next.peek() != Some(&&*key) {
                        batch.remove(&self.meta, key);
                    }
                }
                for (key, value) in entries {
                    batch.insert(&self.meta, key, value);
                }
            }
        }
        batch.commit().map_err(|e| err("write", e))?;
        let old = std::mem::replace(&mut *active, target);
        drop(active);
        // Its files go once the last snapshot reading it is dropped; a crash before that
        // leaves it for the next open to delete.
        delete_keyspace(&self.db, old, "the replaced data keyspace")
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
