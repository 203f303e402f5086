//! The public store: versions over an engine, the meta space, the predicate dictionary.

use crate::changelog::{self, ChangeLog};
use crate::engine::{Engine, EngineSnapshot, MetaUpdate, Op, Replacement, Space};
use crate::fjall_engine::FjallEngine;
use crate::memory_engine::MemoryEngine;
use crate::mvcc;
use crate::surreal_engine::SurrealEngine;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a storage operation failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    #[error("storage engine: {0}")]
    Engine(String),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("too many predicates: the dictionary is full")]
    DictionaryFull,
    /// A key or value over the store's limits ([`MAX_KEY_LEN`], [`MAX_VALUE_LEN`]) or an empty
    /// key; nothing of the batch was written.
    #[error("{0}")]
    TooLarge(String),
    /// The store's encryption and the key given do not match (no key for an encrypted store, a
    /// key for a plain one, or another key): nothing was opened or changed.
    #[error("{0}")]
    Encryption(String),
}

/// Opening a store encrypted at rest: the master key and how often a new data key is made.
#[derive(Debug, Clone)]
pub struct Encryption {
    pub key: lodestar_crypto::EncryptionKey,
    pub rotation: std::time::Duration,
}

impl Encryption {
    /// Encryption under `key` with Dgraph's rotation period (ten days).
    pub fn new(key: lodestar_crypto::EncryptionKey) -> Self {
        Encryption {
            key,
            rotation: lodestar_crypto::registry::DEFAULT_ROTATION,
        }
    }
}

/// The longest key the store takes (data or meta). The engine limits its keys to 64 KiB and a
/// data key's escaped form can be twice as long plus its version, so this always fits.
pub const MAX_KEY_LEN: usize = 32_000;
/// The largest value the store takes, well inside the engine's 4 GiB.
pub const MAX_VALUE_LEN: usize = 1 << 31;

/// Refuses a batch the engine would not take (it panics on such keys rather than failing). A
/// data key may be empty (its stored form never is); a meta key, stored as it is, may not.
fn check_sizes<'a>(
    writes: impl IntoIterator<Item = &'a Write>,
    what: &str,
) -> Result<(), StorageError> {
    for w in writes {
        check_size(&w.key, w.value.as_deref(), what)?;
    }
    Ok(())
}

/// [`check_sizes`] for one write.
fn check_size(key: &[u8], value: Option<&[u8]>, what: &str) -> Result<(), StorageError> {
    if key.is_empty() && what == "meta" {
        return Err(StorageError::TooLarge("an empty meta key".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StorageError::TooLarge(format!(
            "a {what} key of {} bytes is longer than the {MAX_KEY_LEN} bytes allowed",
            key.len()
        )));
    }
    if let Some(v) = value
        && v.len() >= MAX_VALUE_LEN
    {
        return Err(StorageError::TooLarge(format!(
            "a {what} value of {} bytes is larger than the {MAX_VALUE_LEN} bytes allowed",
            v.len()
        )));
    }
    Ok(())
}

/// One write: `Some` puts a value, `None` deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl Write {
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Write {
            key: key.into(),
            value: Some(value.into()),
        }
    }
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Write {
            key: key.into(),
            value: None,
        }
    }
}

/// The newest version of a key at some timestamp; `value` is `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub value: Option<Vec<u8>>,
    pub commit_ts: u64,
}

/// A key whose newest version at `read_ts` was written after `since` (for incremental backups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: Vec<u8>,
    /// The value at `read_ts`, or `None` when the key was deleted.
    pub value: Option<Vec<u8>>,
    pub commit_ts: u64,
}

/// Meta-space prefix of the predicate dictionary: `[DICT, id (u32 BE)]` → name.
const DICT: u8 = b'd';

/// Meta key holding the timestamp of a [`BulkLoad`] written in place and not yet finished.
const LOADING: &[u8] = b"restore/in-progress";

/// What a [`Digest`] hashes first, so a change of its layout changes every digest.
const DIGEST_DOMAIN: &[u8] = b"lodestar-storage digest v1\0";

/// Writes per engine batch when many are applied in a row.
const APPLY_CHUNK: usize = 50_000;

#[derive(Debug, Default)]
struct Dictionary {
    ids: HashMap<String, u32>,
    names: HashMap<u32, String>,
    next: u32,
}

/// A multi-version store. Cheap to share behind an `Arc`.
pub struct Store {
    engine: Arc<dyn Engine>,
    // Shared with an [`Import`], which replaces what they hold when it finishes.
    dict: Arc<RwLock<Dictionary>>,
    interning: Arc<Mutex<()>>,
    changes: Arc<ChangeLog>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine.name())
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the embedded fjall store in `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::with_engine(Arc::new(FjallEngine::open(path)?))
    }

    /// Opens (or creates) the store in `path`: plain (fjall) without `encryption`, encrypted
    /// at rest (every file sealed) with it. A store keeps what it was created as: an encrypted
    /// one refuses to open without its key or with another, and a plain one with a key.
    pub fn open_with(path: &Path, encryption: Option<&Encryption>) -> Result<Self, StorageError> {
        let keys = lodestar_crypto::registry::open_dir(
            path,
            encryption.map(|e| e.key.clone()),
            encryption.map_or(Duration::ZERO, |e| e.rotation),
        )
        .map_err(|e| {
            if e.is_key_mismatch() {
                StorageError::Encryption(e.to_string())
            } else {
                StorageError::Engine(e.to_string())
            }
        })?;
        let Some(keys) = keys else {
            return Self::open(path);
        };
        Self::with_engine(Arc::new(SurrealEngine::open(path, Some(Arc::new(keys)))?))
    }

    /// The encrypted store's engine with encryption off, for benchmarks that measure what
    /// sealing costs; never used to keep data.
    #[doc(hidden)]
    pub fn open_unsealed_for_benchmarks(path: &Path) -> Result<Self, StorageError> {
        Self::with_engine(Arc::new(SurrealEngine::open(path, None)?))
    }

    /// Opens the store kept in a TiKV cluster reached through `pd_endpoints`, with its keys under
    /// `namespace` (so several stores can share one cluster).
    #[cfg(feature = "tikv")]
    pub fn open_tikv(pd_endpoints: &[String], namespace: &[u8]) -> Result<Self, StorageError> {
        Self::with_engine(Arc::new(crate::tikv_engine::TikvEngine::open(
            pd_endpoints,
            namespace,
        )?))
    }

    /// A store that lives in memory only, for tests.
    pub fn in_memory() -> Self {
        Self::with_engine(Arc::new(MemoryEngine::default())).expect("an empty memory store loads")
    }

    fn with_engine(engine: Arc<dyn Engine>) -> Result<Self, StorageError> {
        let changes = ChangeLog::load(&*engine)?;
        let dict = read_dictionary(&*engine.snapshot())?;
        Ok(Store {
            engine,
            dict: Arc::new(RwLock::new(dict)),
            interning: Arc::new(Mutex::new(())),
            changes: Arc::new(changes),
        })
    }

    /// Which engine is underneath.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Whether the store is encrypted at rest (every file it writes sealed).
    pub fn encrypted(&self) -> bool {
        self.engine.encrypted()
    }

    /// A consistent point-in-time view for reads.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            inner: self.engine.snapshot(),
            read_limit: self
                .changes
                .read_limit
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Lowers the change log's budget and the most of it a read of changes uses, so tests can
    /// reach both with little data.
    #[doc(hidden)]
    pub fn limit_change_log(&self, budget: u64, read_limit: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.changes.budget.store(budget, Relaxed);
        self.changes.read_limit.store(read_limit, Relaxed);
    }

    /// Writes `writes` as versions at `commit_ts` and `meta` as plain entries, atomically.
    /// With `durable`, they survive a crash once this returns.
    pub fn commit(
        &self,
        commit_ts: u64,
        writes: &[Write],
        meta: &[Write],
        durable: bool,
    ) -> Result<(), StorageError> {
        check_sizes(writes, "data")?;
        check_sizes(meta, "meta")?;
        let mut ops = Vec::with_capacity(writes.len() + meta.len());
        for w in writes {
            ops.push(Op {
                space: Space::Data,
                key: mvcc::version_key(&w.key, commit_ts),
                value: Some(mvcc::encode_value(w.value.as_deref())),
            });
        }
        ops.extend(meta.iter().map(|w| Op {
            space: Space::Meta,
            key: w.key.clone(),
            value: w.value.clone(),
        }));
        if writes.is_empty() {
            return self.engine.apply(ops, durable);
        }
        let (size, started) =
            self.changes
                .log(commit_ts, writes.iter().map(|w| w.key.as_slice()), &mut ops);
        if let Err(e) = self.engine.apply(ops, durable) {
            self.changes.not_applied(commit_ts, started);
            return Err(e);
        }
        // The commit stands; a prune that fails now is tried again after a later one.
        if let Err(e) = self.changes.applied(&*self.engine, size) {
            tracing::warn!(error = %e, "pruning the change log failed; a later commit tries again");
        }
        Ok(())
    }

    /// Writes plain meta entries atomically.
    pub fn write_meta(&self, meta: &[Write], durable: bool) -> Result<(), StorageError> {
        self.commit(0, &[], meta, durable)
    }

    /// The value of `key` at `ts`.
    pub fn get_at(&self, key: &[u8], ts: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.snapshot().get_at(key, ts)
    }

    pub fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.engine.snapshot().get(Space::Meta, key)
    }

    /// Makes everything written so far durable.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.engine.sync()
    }

    /// Moves what the engine holds in memory into its files (fjall: its memtables into
    /// tables and blob files), as a long run of writes would; for tests and tools.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.engine.flush()
    }

    /// Drops versions that no read at or after `below_ts` can see: for each key, everything
    /// older than its newest version at or below `below_ts`, and that version too when it is a
    /// delete. Returns how many versions were dropped.
    pub fn gc(&self, below_ts: u64) -> Result<usize, StorageError> {
        let snap = self.engine.snapshot();
        let mut drop = Vec::new();
        let mut current: Option<Vec<u8>> = None;
        let mut kept_base = false;
        for item in snap.range(Space::Data, &[], None) {
            let (raw, value) = item?;
            let (key, ts) = mvcc::decode_version_key(&raw)?;
            if current.as_deref() != Some(&key[..]) {
                current = Some(key);
                kept_base = false;
            }
            if ts > below_ts {
                continue;
            }
            if kept_base {
                drop.push(Op {
                    space: Space::Data,
                    key: raw,
                    value: None,
                });
            } else {
                kept_base = true;
                if mvcc::decode_value(&value)?.is_none() {
                    drop.push(Op {
                        space: Space::Data,
                        key: raw,
                        value: None,
                    });
                }
            }
        }
        let n = drop.len();
        for chunk in drop.chunks(10_000) {
            self.engine.apply(chunk.to_vec(), false)?;
        }
        Ok(n)
    }

    /// Removes every version written at exactly `ts`, as if those writes never happened (a
    /// restore that failed half way takes its writes back this way; older versions show
    /// again). Durable when it returns. Returns how many versions were removed.
    pub fn erase_versions_at(&self, ts: u64) -> Result<usize, StorageError> {
        erase_versions(&*self.engine, ts)
    }

    /// Starts writing a set of versions at `ts` as one unit (a restore). With `replace`, the
    /// load replaces everything the data space holds: once finished, reads at `ts` and later
    /// see exactly what was loaded. Until [`BulkLoad::finish`], reads see the old data, or
    /// (engines that load in place) part of the load; commits must wait. An aborted load, or
    /// one cut off by a crash, leaves the data as it was (after a crash, once
    /// [`Store::undo_unfinished_load`] has run).
    ///
    /// fjall builds the replacement as a new keyspace of sorted, bulk-ingested tables and
    /// swaps it in at the end, so the old data is neither tombstoned nor kept; other engines
    /// write tombstones over the old data at `ts` and take the load back by erasing `ts`.
    pub fn begin_load(&self, ts: u64, replace: bool) -> Result<BulkLoad, StorageError> {
        // A load is not in the change log: the log restarts after it.
        self.changes.restart_after(&*self.engine, ts)?;
        if replace && let Some(fresh) = self.engine.begin_replacement()? {
            return Ok(BulkLoad {
                engine: self.engine.clone(),
                ts,
                how: LoadKind::Fresh(fresh),
            });
        }
        self.write_meta(&[Write::put(LOADING, ts.to_be_bytes())], true)?;
        let mut load = BulkLoad {
            engine: self.engine.clone(),
            ts,
            how: LoadKind::InPlace,
        };
        if replace {
            let tombstones = (|| {
                let snap = self.snapshot();
                let mut deletes = Vec::new();
                for item in snap.scan_prefix_at(&[], u64::MAX) {
                    deletes.push(Write::delete(item?.0));
                    if deletes.len() == APPLY_CHUNK {
                        load.write(&std::mem::take(&mut deletes))?;
                    }
                }
                load.write(&deletes)
            })();
            if let Err(e) = tombstones {
                load.abort()?;
                return Err(e);
            }
        }
        Ok(load)
    }

    /// Takes back a load written in place that never finished (the process stopped): returns
    /// its timestamp and how many versions were erased. fjall throws an unfinished
    /// replacement away when it opens.
    pub fn undo_unfinished_load(&self) -> Result<Option<(u64, usize)>, StorageError> {
        let Some(raw) = self.meta_get(LOADING)? else {
            return Ok(None);
        };
        let ts = u64::from_be_bytes(raw.as_slice().try_into().map_err(|_| {
            StorageError::Corrupt("the unfinished load's marker is not a timestamp".into())
        })?);
        let erased = erase_versions(&*self.engine, ts)?;
        self.write_meta(&[Write::delete(LOADING)], true)?;
        Ok(Some((ts, erased)))
    }

    /// A consistent point-in-time copy of the whole store, as another store takes it with
    /// [`Store::begin_import`] (a Raft snapshot install): both spaces are read from one engine
    /// snapshot, entry by entry, so the copy is streamed and later writes are not in it.
    pub fn export(&self) -> Export {
        Export {
            snapshot: self.engine.snapshot(),
        }
    }

    /// Starts making this store a copy of another: give it [`Export::data`]'s entries with
    /// [`Import::data`], then [`Export::meta`]'s with [`Import::finish`], which swaps both
    /// spaces in at once. Until then the store reads and writes as before; an import aborted,
    /// dropped or cut off by a crash leaves it as it was. Commits and loads must wait for the
    /// finish (as for a [`BulkLoad`]). Not every engine can: TiKV refuses.
    pub fn begin_import(&self) -> Result<Import, StorageError> {
        let Some(target) = self.engine.begin_import()? else {
            return Err(StorageError::Engine(format!(
                "the {} engine cannot import a copy of another store; keep replicas that \
                 install snapshots on fjall",
                self.engine.name()
            )));
        };
        Ok(Import {
            engine: self.engine.clone(),
            target,
            dict: self.dict.clone(),
            interning: self.interning.clone(),
            changes: self.changes.clone(),
        })
    }

    // ---- predicate dictionary ----

    /// The numeric id of predicate `name`, assigned (durably) on first use.
    pub fn predicate_id(&self, name: &str) -> Result<u32, StorageError> {
        if let Some(id) = self.lookup_predicate(name) {
            return Ok(id);
        }
        let _guard = self.interning.lock();
        if let Some(id) = self.lookup_predicate(name) {
            return Ok(id);
        }
        let id = self.dict.read().next;
        if id == u32::MAX {
            return Err(StorageError::DictionaryFull);
        }
        let mut key = vec![DICT];
        key.extend_from_slice(&id.to_be_bytes());
        self.write_meta(&[Write::put(key, name.as_bytes())], true)?;
        let mut dict = self.dict.write();
        dict.next = id + 1;
        dict.ids.insert(name.to_string(), id);
        dict.names.insert(id, name.to_string());
        Ok(id)
    }

    /// The id of `name` if it has one.
    pub fn lookup_predicate(&self, name: &str) -> Option<u32> {
        self.dict.read().ids.get(name).copied()
    }

    /// The name of predicate `id`.
    pub fn predicate_name(&self, id: u32) -> Option<String> {
        self.dict.read().names.get(&id).cloned()
    }
}

/// The predicate dictionary the meta space of `snap` holds.
fn read_dictionary(snap: &dyn EngineSnapshot) -> Result<Dictionary, StorageError> {
    let mut dict = Dictionary::default();
    for item in snap.range(Space::Meta, &[DICT], Some(&[DICT + 1])) {
        let (key, name) = item?;
        let id: [u8; 4] = key[1..]
            .try_into()
            .map_err(|_| StorageError::Corrupt(format!("dictionary key {key:02x?}")))?;
        let id = u32::from_be_bytes(id);
        let name = String::from_utf8(name)
            .map_err(|_| StorageError::Corrupt(format!("dictionary entry {id} is not utf-8")))?;
        dict.next = dict.next.max(id.saturating_add(1));
        dict.ids.insert(name.clone(), id);
        dict.names.insert(id, name);
    }
    dict.next = dict.next.max(1);
    Ok(dict)
}

fn erase_versions(engine: &dyn Engine, ts: u64) -> Result<usize, StorageError> {
    let snap = engine.snapshot();
    let mut erase = Vec::new();
    for item in snap.range(Space::Data, &[], None) {
        let (raw, _) = item?;
        let (_, commit_ts) = mvcc::decode_version_key(&raw)?;
        if commit_ts == ts {
            erase.push(Op {
                space: Space::Data,
                key: raw,
                value: None,
            });
        }
    }
    let n = erase.len();
    for chunk in erase.chunks(APPLY_CHUNK) {
        engine.apply(chunk.to_vec(), false)?;
    }
    engine.sync()?;
    Ok(n)
}

/// Removes the in-place load's marker, durably: the load is over.
fn clear_load_marker(engine: &dyn Engine) -> Result<(), StorageError> {
    engine.apply(
        vec![Op {
            space: Space::Meta,
            key: LOADING.to_vec(),
            value: None,
        }],
        true,
    )
}

/// Versions at one timestamp written as one unit: see [`Store::begin_load`]. Ends with
/// [`BulkLoad::finish`] (or [`BulkLoad::finish_with`]) or [`BulkLoad::abort`].
pub struct BulkLoad {
    engine: Arc<dyn Engine>,
    ts: u64,
    how: LoadKind,
}

enum LoadKind {
    /// Into a new data space that replaces the current one when finished.
    Fresh(Box<dyn Replacement>),
    /// Over the current data, marked in the meta space until finished.
    InPlace,
}

impl std::fmt::Debug for BulkLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoad")
            .field("ts", &self.ts)
            .field("replacing", &matches!(self.how, LoadKind::Fresh(_)))
            .finish()
    }
}

impl BulkLoad {
    /// The timestamp the load writes at.
    pub fn ts(&self) -> u64 {
        self.ts
    }

    /// Adds writes at the load's timestamp; a key written again replaces its earlier write.
    pub fn write(&mut self, writes: &[Write]) -> Result<(), StorageError> {
        check_sizes(writes, "data")?;
        let ts = self.ts;
        match &mut self.how {
            LoadKind::Fresh(fresh) => fresh.write(
                writes
                    .iter()
                    .map(|w| {
                        (
                            mvcc::version_key(&w.key, ts),
                            mvcc::encode_value(w.value.as_deref()),
                        )
                    })
                    .collect(),
            ),
            LoadKind::InPlace => {
                for chunk in writes.chunks(APPLY_CHUNK) {
                    let ops = chunk
                        .iter()
                        .map(|w| Op {
                            space: Space::Data,
                            key: mvcc::version_key(&w.key, ts),
                            value: Some(mvcc::encode_value(w.value.as_deref())),
                        })
                        .collect();
                    self.engine.apply(ops, false)?;
                }
                Ok(())
            }
        }
    }

    /// Makes the load durable and what reads see.
    pub fn finish(self) -> Result<(), StorageError> {
        self.finish_with(&[])
    }

    /// [`BulkLoad::finish`] that also writes `meta` in the same atomic, durable step: after a
    /// crash either the load and `meta` both stand or neither does. A Raft state machine
    /// records the log position it applied this way, so the record never runs ahead of (or
    /// behind) the data. A `meta` the store refuses ([`StorageError::TooLarge`]) aborts the
    /// load.
    pub fn finish_with(self, meta: &[Write]) -> Result<(), StorageError> {
        if let Err(e) = check_sizes(meta, "meta") {
            self.abort()?;
            return Err(e);
        }
        // One write per key (the last given), so an engine need not order writes of one key
        // within a batch. With an in-place load, the marker goes in the batch that writes
        // `meta`: the load is over exactly when they land.
        let mut writes: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        if matches!(self.how, LoadKind::InPlace) {
            writes.insert(LOADING.to_vec(), None);
        }
        writes.extend(meta.iter().map(|w| (w.key.clone(), w.value.clone())));
        match self.how {
            LoadKind::Fresh(fresh) => fresh.commit(MetaUpdate::Write(writes.into_iter().collect())),
            LoadKind::InPlace => {
                self.engine.sync()?;
                let ops = writes
                    .into_iter()
                    .map(|(key, value)| Op {
                        space: Space::Meta,
                        key,
                        value,
                    })
                    .collect();
                self.engine.apply(ops, true)
            }
        }
    }

    /// Takes the load back: the data is as it was before. Returns how many versions were
    /// erased (0 for a replacement, which is thrown away whole).
    pub fn abort(self) -> Result<usize, StorageError> {
        match self.how {
            LoadKind::Fresh(fresh) => fresh.abort().map(|()| 0),
            LoadKind::InPlace => {
                let erased = erase_versions(&*self.engine, self.ts)?;
                clear_load_marker(&*self.engine)?;
                Ok(erased)
            }
        }
    }
}

/// A point-in-time copy source of a whole [`Store`] ([`Store::export`]): every meta entry and
/// every raw data entry, as the engine held them when the export was taken. Another store
/// becomes this one's copy by taking them through an [`Import`]; the entries are read as they
/// are iterated, and the engine keeps what the export reads alive until it is dropped.
pub struct Export {
    snapshot: Arc<dyn EngineSnapshot>,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Export")
    }
}

impl Export {
    /// Every meta-space entry `(key, value)`, in key order: what [`Import::finish`] takes.
    pub fn meta(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + '_ {
        self.snapshot.range(Space::Meta, &[], None)
    }

    /// Every data-space entry exactly as the engine holds it, in key order: the version key
    /// (escaped key and inverted commit timestamp) and the encoded value, every version and
    /// every tombstone. What [`Import::data`] takes.
    pub fn data(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + '_ {
        self.snapshot.range(Space::Data, &[], None)
    }
}

/// A copy of another store being taken in: see [`Store::begin_import`]. Ends with
/// [`Import::finish`] or [`Import::abort`]; dropped unfinished, it is aborted.
pub struct Import {
    engine: Arc<dyn Engine>,
    target: Box<dyn Replacement>,
    dict: Arc<RwLock<Dictionary>>,
    interning: Arc<Mutex<()>>,
    changes: Arc<ChangeLog>,
}

impl std::fmt::Debug for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("engine", &self.engine.name())
            .finish()
    }
}

impl Import {
    /// Adds raw data entries as [`Export::data`] yields them. Ascending key order across
    /// calls is the fast case; any order is correct, and a key given again replaces its
    /// earlier value. An entry that is no version this store could hold is refused
    /// ([`StorageError::Corrupt`], or [`StorageError::TooLarge`] past the store's limits), and
    /// the import should then be aborted.
    pub fn data(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StorageError> {
        for (key, value) in &entries {
            mvcc::check_raw_entry(key, value)?;
        }
        self.target.write(entries)
    }

    /// Makes, in one atomic and durable step, the data space exactly the entries given to
    /// [`Import::data`] and the meta space exactly `meta` (every other meta key gone; a key
    /// given twice keeps its later value), then reads the predicate dictionary and the change
    /// log's state from the new meta space: the store then behaves as a freshly opened copy of
    /// the exported one. Snapshots taken before keep reading the old data. A meta entry the
    /// store refuses ([`StorageError::TooLarge`]) throws the import away; should the reload
    /// fail after the swap, the store must be reopened.
    pub fn finish(self, meta: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StorageError> {
        for (key, value) in &meta {
            check_size(key, Some(value), "meta")?;
        }
        let meta: Vec<(Vec<u8>, Vec<u8>)> = meta
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        // No name is interned between the swap and the dictionary's reload.
        let _interning = self.interning.lock();
        self.target.commit(MetaUpdate::Replace(meta))?;
        let dict = read_dictionary(&*self.engine.snapshot())?;
        *self.dict.write() = dict;
        self.changes.reload(&*self.engine)
    }

    /// Throws the import away: the store is as it was before [`Store::begin_import`].
    pub fn abort(self) -> Result<(), StorageError> {
        self.target.abort()
    }
}

/// A fingerprint of a store's data up to a timestamp ([`Snapshot::digest`]): replicas with the
/// same history have equal digests, and any difference in a key, a value, a version or a
/// tombstone at or below the timestamp makes them differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// How many raw versions (tombstones included) the digest covers.
    pub versions: u64,
    /// SHA-256 over those versions in key order, lowercase hex.
    pub sha256: String,
}

/// A consistent point-in-time view of a [`Store`]: reads at any timestamp, scans, and the
/// changes between two timestamps, all unaffected by writes that happen meanwhile.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<dyn EngineSnapshot>,
    read_limit: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Snapshot {
    /// The newest version of `key` at or below `ts`, deletes included.
    pub fn version_at(&self, key: &[u8], ts: u64) -> Result<Option<Version>, StorageError> {
        let start = mvcc::version_key(key, ts);
        let end = mvcc::version_key(key, 0);
        let mut iter = self.inner.range(Space::Data, &start, None);
        match iter.next() {
            Some(item) => {
                let (raw, value) = item?;
                if raw > end {
                    return Ok(None);
                }
                let (_, commit_ts) = mvcc::decode_version_key(&raw)?;
                Ok(Some(Version {
                    value: mvcc::decode_value(&value)?,
                    commit_ts,
                }))
            }
            None => Ok(None),
        }
    }

    /// The value of `key` at `ts`.
    pub fn get_at(&self, key: &[u8], ts: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.version_at(key, ts)?.and_then(|v| v.value))
    }

    /// Every key starting with `prefix` that has a value at `ts`, in key order.
    pub fn scan_prefix_at<'a>(
        &'a self,
        prefix: &[u8],
        ts: u64,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + 'a {
        self.scan_from_at(prefix, prefix, ts)
    }

    /// Like [`Snapshot::scan_prefix_at`], starting at the first key `>= from` (a seek: the
    /// keys between `prefix` and `from` are not read).
    pub fn scan_from_at<'a>(
        &'a self,
        prefix: &[u8],
        from: &[u8],
        ts: u64,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + use<'a> {
        self.newest_versions_from(prefix, from.max(prefix), ts, 0)
            .filter_map(|item| match item {
                Ok(change) => change.value.map(|v| Ok((change.key, v))),
                Err(e) => Some(Err(e)),
            })
    }

    /// The keys starting with `prefix` whose newest version at `read_ts` was committed after
    /// `since`, with that version (a delete shows as `value: None`). With `since = 0` this is
    /// everything at `read_ts`, deletes included.
    ///
    /// With `since > 0`, the keys come from the change log when it covers `(since, read_ts]`
    /// (each then read at `read_ts`); otherwise every key with `prefix` is walked.
    pub fn changes<'a>(
        &'a self,
        prefix: &[u8],
        since: u64,
        read_ts: u64,
    ) -> Box<dyn Iterator<Item = Result<Change, StorageError>> + 'a> {
        if since > 0 {
            match changelog::changed_keys(&*self.inner, prefix, since, read_ts, self.read_limit) {
                Ok(Some(keys)) => return Box::new(self.logged_changes(keys, since, read_ts)),
                Ok(None) => {}
                Err(e) => return Box::new(std::iter::once(Err(e))),
            }
        }
        Box::new(self.newest_versions(prefix, read_ts, since))
    }

    /// Whether [`Snapshot::changes`] takes `(since, read_ts]` for `prefix` from the change log.
    pub(crate) fn uses_change_log(&self, prefix: &[u8], since: u64, read_ts: u64) -> bool {
        changelog::changed_keys(&*self.inner, prefix, since, read_ts, self.read_limit)
            .is_ok_and(|keys| keys.is_some())
    }

    /// What [`Snapshot::changes`] yields when it walks every key (the change log unused).
    pub(crate) fn changes_by_walking<'a>(
        &'a self,
        prefix: &[u8],
        since: u64,
        read_ts: u64,
    ) -> impl Iterator<Item = Result<Change, StorageError>> + 'a {
        self.newest_versions(prefix, read_ts, since)
    }

    /// The changes of the logged `keys` (each with the newest timestamp it was logged at): a
    /// key with no version left at `read_ts` (collected since) shows as deleted.
    fn logged_changes(
        &self,
        keys: std::collections::BTreeMap<Vec<u8>, u64>,
        since: u64,
        read_ts: u64,
    ) -> impl Iterator<Item = Result<Change, StorageError>> + '_ {
        keys.into_iter()
            .filter_map(move |(key, logged)| match self.version_at(&key, read_ts) {
                Ok(Some(v)) if v.commit_ts > since => Some(Ok(Change {
                    key,
                    value: v.value,
                    commit_ts: v.commit_ts,
                })),
                Ok(Some(_)) => None,
                Ok(None) => Some(Ok(Change {
                    key,
                    value: None,
                    commit_ts: logged,
                })),
                Err(e) => Some(Err(e)),
            })
    }

    /// For each key with `prefix`, its newest version at or below `ts`, when that version was
    /// committed after `since` (the values of the others are never decoded).
    fn newest_versions<'a>(
        &'a self,
        prefix: &[u8],
        ts: u64,
        since: u64,
    ) -> impl Iterator<Item = Result<Change, StorageError>> + 'a {
        self.newest_versions_from(prefix, prefix, ts, since)
    }

    /// [`Snapshot::newest_versions`] from the first key `>= from` (`from` starts with
    /// `prefix` or sorts after it). Escaping keeps key order, and the escaped `from` without
    /// its terminator sorts after every version of a smaller key.
    fn newest_versions_from<'a>(
        &'a self,
        prefix: &[u8],
        from: &[u8],
        ts: u64,
        since: u64,
    ) -> impl Iterator<Item = Result<Change, StorageError>> + use<'a> {
        let start = mvcc::escape_prefix(from);
        let end = mvcc::prefix_end(&mvcc::escape_prefix(prefix));
        // Versions come newest first within a key: the first at or below `ts` is the one, and
        // it is read only when it was committed after `since`. The decision works on the raw
        // version key (the escaped key, then the inverted timestamp), without copying it.
        let mut last_base: Vec<u8> = Vec::new();
        let want: crate::engine::Want<'a> = Box::new(move |raw: &[u8]| {
            let Some((base, inverted)) = raw.split_last_chunk::<8>() else {
                // Read it, so the error is reported below.
                return true;
            };
            let commit_ts = u64::MAX - u64::from_be_bytes(*inverted);
            if commit_ts > ts || last_base.as_slice() == base {
                return false;
            }
            last_base.clear();
            last_base.extend_from_slice(base);
            commit_ts > since
        });
        let mut raw = self
            .inner
            .range_select(Space::Data, &start, end.as_deref(), want);
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let item = raw.next()?.and_then(|(k, v)| {
                let (key, commit_ts) = mvcc::decode_version_key(&k)?;
                let value = mvcc::decode_value(&v)?;
                Ok(Change {
                    key,
                    value,
                    commit_ts,
                })
            });
            failed = item.is_err();
            Some(item)
        })
    }

    /// The [`Digest`] of every raw data-space entry committed at or below `read_ts`: each
    /// version key and encoded value, length-prefixed so no two sequences hash alike, in key
    /// order. Meta entries are not covered (the data is what replicas must agree on), and the
    /// versions gc has dropped are gone from it, so replicas compare equal when they collected
    /// alike. Engines that keep large values apart never read the values of versions above
    /// `read_ts`.
    pub fn digest(&self, read_ts: u64) -> Result<Digest, StorageError> {
        use sha2::Digest as _;
        let want: crate::engine::Want<'_> =
            Box::new(move |raw: &[u8]| mvcc::raw_commit_ts(raw).is_none_or(|ts| ts <= read_ts));
        let mut hash = sha2::Sha256::new();
        hash.update(DIGEST_DOMAIN);
        let mut versions = 0u64;
        for item in self.inner.range_select(Space::Data, &[], None, want) {
            let (key, value) = item?;
            if mvcc::raw_commit_ts(&key).is_none() {
                return Err(StorageError::Corrupt(format!(
                    "malformed version key {key:02x?}"
                )));
            }
            hash.update((key.len() as u64).to_be_bytes());
            hash.update(&key);
            hash.update((value.len() as u64).to_be_bytes());
            hash.update(&value);
            versions += 1;
        }
        Ok(Digest {
            versions,
            sha256: hex::encode(hash.finalize()),
        })
    }

    /// A plain meta entry as of this snapshot.
    pub fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(Space::Meta, key)
    }

    /// Plain meta entries whose key starts with `prefix`.
    pub fn meta_scan_prefix<'a>(
        &'a self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + 'a {
        let end = mvcc::prefix_end(prefix);
        self.inner.range(Space::Meta, prefix, end.as_deref())
    }
}
