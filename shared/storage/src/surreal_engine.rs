//! The encrypted embedded engine: surrealkv, every file it writes sealed (manifest, tables,
//! value log, write-ahead log), under data keys from the directory's [`KeyRegistry`].
//!
//! One surrealkv tree holds every space, each under its own first byte:
//! `d` + data generation (u32, big-endian) + key, `m` + key, and `e` + name for the engine's
//! own bookkeeping ([`ACTIVE`]: the active data generation). A replacement or an import writes
//! the next generation, then switches [`ACTIVE`] and applies its meta writes in one durable
//! transaction, and drops the old generation with a range tombstone. At open, every generation
//! but the active one (left by a crash) is dropped the same way.
//!
//! surrealkv runs its background work and commits on tokio: the engine owns a small runtime
//! of its own, so its callers (threads of any kind, runtime workers included) only ever wait
//! on a channel.
//!
//! A thread makes a new data key whenever the registry's rotation period has passed; files
//! started after that are sealed under it, and older ones keep theirs.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, MetaUpdate, Op, Replacement, Space};
use lodestar_crypto::registry::{DATA_KEY_LEN, KeyRegistry};
use parking_lot::RwLock;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use surrealkv::{
    CipherPreference, Durability, KeyManager, KeyState, LSMIterator, Mode, Transaction, Tree,
    TreeBuilder,
};
use zeroize::Zeroizing;

const DATA: u8 = b'd';
const META: u8 = b'm';
/// The engine key holding the active data generation (`e`: the engine's own bookkeeping).
const ACTIVE: &[u8] = b"eactive-data";
/// Entries a replacement writes per transaction.
const REPLACEMENT_CHUNK_BYTES: usize = 8 << 20;
/// The block cache: decrypted blocks, so a hot read opens no seal.
const BLOCK_CACHE: u64 = 128 << 20;

fn err(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Engine(format!("surrealkv {what}: {e}"))
}

/// The registry's data keys, as surrealkv's root keys: the newest is active, the others are
/// kept to read what was written under them.
struct RegistryKeys(Arc<KeyRegistry>);

impl KeyManager for RegistryKeys {
    fn active_key_id(&self) -> u32 {
        self.0.active_id()
    }

    fn key_state(&self, key_id: u32) -> KeyState {
        if key_id == self.0.active_id() {
            KeyState::Active
        } else if self.0.data_key(key_id).is_some() {
            KeyState::DecryptOnly
        } else {
            KeyState::Unknown
        }
    }

    fn root_key(
        &self,
        key_id: u32,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>, surrealkv::EncryptionError> {
        self.0
            .data_key(key_id)
            .ok_or(surrealkv::EncryptionError::UnknownKeyId)
    }
}

/// The prefix of generation `generation` of the data space.
fn data_prefix(generation: u32) -> [u8; 5] {
    let g = generation.to_be_bytes();
    [DATA, g[0], g[1], g[2], g[3]]
}

fn stored_key(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(key);
    k
}

/// The first key above every key that starts with `prefix` (the prefixes here never end in
/// 0xff bytes only).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// What the engine and its replacements share.
struct Shared {
    tree: Tree,
    runtime: OwnedRuntime,
    /// The active data generation; written only under its lock, by a committing replacement.
    active: RwLock<u32>,
    /// The next generation a replacement may take.
    next_generation: AtomicU32,
}

impl Shared {
    /// Runs `future` on the engine's runtime and waits for it from any thread.
    fn wait<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .expect("the engine's runtime runs its tasks to the end")
    }

    fn begin_write(&self, durable: bool) -> Result<Transaction, StorageError> {
        let mut tx = self
            .tree
            .begin_with_mode(Mode::WriteOnly)
            .map_err(|e| err("begin", e))?;
        // Not durable still reaches the OS at once: a process killed after the commit loses
        // nothing (a machine that loses power may).
        tx.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::Eventual
        });
        Ok(tx)
    }

    fn commit(&self, tx: Transaction) -> Result<(), StorageError> {
        self.wait(async move {
            let mut tx = tx;
            tx.commit().await
        })
        .map_err(|e| err("commit", e))
    }

    /// Drops generation `generation` of the data space.
    fn drop_generation(&self, generation: u32) -> Result<(), StorageError> {
        let prefix = data_prefix(generation);
        let mut tx = self.begin_write(false)?;
        tx.delete_range(prefix.to_vec(), prefix_end(&prefix))
            .map_err(|e| err("delete a range", e))?;
        self.commit(tx)
    }
}

/// A runtime that, dropped, shuts down without waiting: a drop may run inside another
/// runtime, where waiting is not allowed.
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    fn spawn(&self, future: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0
            .as_ref()
            .expect("the runtime lives as long as its owner")
            .spawn(future);
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) struct SurrealEngine {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    rotator: Option<std::thread::JoinHandle<()>>,
}

impl SurrealEngine {
    /// Opens (or creates) the encrypted store in `path` under the data keys of `registry`
    /// (without one, the same engine unencrypted: only benchmarks use that, to measure what
    /// sealing costs).
    pub(crate) fn open(
        path: &Path,
        registry: Option<Arc<KeyRegistry>>,
    ) -> Result<Self, StorageError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("surrealkv")
            .enable_all()
            .build()
            .map_err(|e| err("start its runtime", e))?;
        let runtime = OwnedRuntime(Some(runtime));
        let keys = registry
            .clone()
            .map(|r| Arc::new(RegistryKeys(r)) as Arc<dyn KeyManager>);
        let dir = path.join("kv");
        // Built on the engine's runtime, which its background tasks then run on; waited for
        // through a channel, so this may be called from inside another runtime.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let mut builder = TreeBuilder::new()
                .with_path(dir)
                .with_block_cache_capacity(BLOCK_CACHE);
            if let Some(keys) = keys {
                builder = builder.with_encryption(keys, CipherPreference::Auto);
            }
            let built = builder.build_async().await;
            let _ = tx.send(built);
        });
        let tree = rx
            .recv()
            .map_err(|e| err("open", e))?
            .map_err(|e| open_error(path, e))?;
        let tx = tree
            .begin_with_mode(Mode::ReadOnly)
            .map_err(|e| err("begin", e))?;
        let active = match tx.get(ACTIVE).map_err(|e| open_error(path, e))? {
            Some(v) => u32::from_be_bytes(v.as_slice().try_into().map_err(|_| {
                StorageError::Corrupt("the active data generation is not 4 bytes".into())
            })?),
            None => 0,
        };
        drop(tx);
        let shared = Arc::new(Shared {
            tree,
            runtime,
            active: RwLock::new(active),
            next_generation: AtomicU32::new(active + 1),
        });
        // Whatever a crash left of other generations goes: below the active one, and above.
        let mut tx = shared.begin_write(true)?;
        tx.delete_range(data_prefix(0).to_vec(), data_prefix(active).to_vec())
            .map_err(|e| err("delete a range", e))?;
        tx.delete_range(prefix_end(&data_prefix(active)), vec![DATA + 1])
            .map_err(|e| err("delete a range", e))?;
        shared.commit(tx)?;
        let stop = Arc::new(AtomicBool::new(false));
        let rotator = match registry {
            Some(registry) => {
                let stop = stop.clone();
                Some(
                    std::thread::Builder::new()
                        .name("data-key-rotation".into())
                        .spawn(move || rotate_keys(&registry, &stop))
                        .map_err(|e| err("start the key rotation thread", e))?,
                )
            }
            None => None,
        };
        Ok(SurrealEngine {
            shared,
            stop,
            rotator,
        })
    }
}

/// Names the store and, for a key problem, what to do about it.
fn open_error(path: &Path, e: surrealkv::Error) -> StorageError {
    let shown = e.to_string();
    if shown.to_ascii_lowercase().contains("key") {
        StorageError::Engine(format!(
            "{}: the encrypted store does not open with the keys given ({shown}); {}",
            path.display(),
            lodestar_crypto::registry::KEY_MISMATCH
        ))
    } else {
        StorageError::Engine(format!(
            "cannot open {} (is another process using it?): {shown}",
            path.display()
        ))
    }
}

/// Makes a new data key whenever one is due, until `stop`.
fn rotate_keys(registry: &KeyRegistry, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let wait = registry
            .until_rotation()
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        std::thread::park_timeout(wait);
        if stop.load(Ordering::Acquire) {
            return;
        }
        match registry.rotate_if_due() {
            Ok(true) => tracing::info!(
                dir = %registry.dir().display(),
                key_id = registry.active_id(),
                "made a new data key; new files are sealed under it"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!("data key rotation: {e}"),
        }
    }
}

impl Drop for SurrealEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(rotator) = self.rotator.take() {
            rotator.thread().unpark();
            let _ = rotator.join();
        }
        let shared = self.shared.clone();
        let closed = self.shared.wait(async move { shared.tree.close().await });
        if let Err(e) = closed {
            tracing::warn!("closing the encrypted store: {e}");
        }
    }
}

impl Engine for SurrealEngine {
    fn apply(&self, ops: Vec<Op>, durable: bool) -> Result<(), StorageError> {
        // Held through the commit, so a replacement cannot switch generations in between.
        let active = self.shared.active.read();
        let prefix = data_prefix(*active);
        let mut tx = self.shared.begin_write(durable)?;
        for op in ops {
            let key = match op.space {
                Space::Data => stored_key(&prefix, &op.key),
                Space::Meta => stored_key(&[META], &op.key),
            };
            match op.value {
                Some(v) => tx.set(key, v),
                None => tx.delete(key),
            }
            .map_err(|e| err("write", e))?;
        }
        self.shared.commit(tx)
    }

    fn snapshot(&self) -> Arc<dyn EngineSnapshot> {
        let active = self.shared.active.read();
        let tx = self.shared.tree.begin_with_mode(Mode::ReadOnly);
        Arc::new(SurrealSnapshot {
            tx: tx.map_err(|e| err("begin", e)),
            data: data_prefix(*active),
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.shared.tree.flush_wal(true).map_err(|e| err("sync", e))
    }

    fn encrypted(&self) -> bool {
        self.rotator.is_some()
    }

    fn name(&self) -> &'static str {
        if self.encrypted() {
            "surrealkv (encrypted)"
        } else {
            "surrealkv"
        }
    }

    fn begin_replacement(&self) -> Result<Option<Box<dyn Replacement>>, StorageError> {
        let generation = self.shared.next_generation.fetch_add(1, Ordering::AcqRel);
        Ok(Some(Box::new(SurrealReplacement {
            shared: self.shared.clone(),
            generation,
            pending: Vec::new(),
            pending_bytes: 0,
            done: false,
        })))
    }
}

struct SurrealReplacement {
    shared: Arc<Shared>,
    generation: u32,
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    pending_bytes: usize,
    /// Committed or aborted.
    done: bool,
}

impl SurrealReplacement {
    fn write_pending(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let prefix = data_prefix(self.generation);
        let mut tx = self.shared.begin_write(false)?;
        for (key, value) in std::mem::take(&mut self.pending) {
            tx.set(stored_key(&prefix, &key), value)
                .map_err(|e| err("write", e))?;
        }
        self.pending_bytes = 0;
        self.shared.commit(tx)
    }
}

impl Replacement for SurrealReplacement {
    fn write(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StorageError> {
        for (key, value) in entries {
            self.pending_bytes += key.len() + value.len();
            self.pending.push((key, value));
        }
        if self.pending_bytes >= REPLACEMENT_CHUNK_BYTES {
            self.write_pending()?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>, meta: MetaUpdate) -> Result<(), StorageError> {
        self.write_pending()?;
        let shared = self.shared.clone();
        // Held from reading the meta keys to the switch: no batch lands in between.
        let mut active = shared.active.write();
        let mut tx = shared.begin_write(true)?;
        tx.set(ACTIVE.to_vec(), self.generation.to_be_bytes().to_vec())
            .map_err(|e| err("write", e))?;
        match meta {
            MetaUpdate::Write(writes) => {
                for (key, value) in writes {
                    let key = stored_key(&[META], &key);
                    match value {
                        Some(v) => tx.set(key, v),
                        None => tx.delete(key),
                    }
                    .map_err(|e| err("write", e))?;
                }
            }
            MetaUpdate::Replace(entries) => {
                tx.delete_range(vec![META], vec![META + 1])
                    .map_err(|e| err("delete a range", e))?;
                for (key, value) in entries {
                    tx.set(stored_key(&[META], &key), value)
                        .map_err(|e| err("write", e))?;
                }
            }
        }
        shared.commit(tx)?;
        let old = std::mem::replace(&mut *active, self.generation);
        drop(active);
        self.done = true;
        // A crash before this leaves the old generation for the next open to drop.
        shared.drop_generation(old)
    }

    fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        self.done = true;
        self.pending.clear();
        self.shared.drop_generation(self.generation)
    }
}

impl Drop for SurrealReplacement {
    fn drop(&mut self) {
        if !self.done {
            // Dropped uncommitted: a failure here leaves the generation for the next open.
            let _ = self.shared.drop_generation(self.generation);
        }
    }
}

struct SurrealSnapshot {
    tx: Result<Transaction, StorageError>,
    data: [u8; 5],
}

impl SurrealSnapshot {
    fn prefix(&self, space: Space) -> &[u8] {
        match space {
            Space::Data => &self.data,
            Space::Meta => &[META],
        }
    }

    fn tx(&self) -> Result<&Transaction, StorageError> {
        self.tx.as_ref().map_err(Clone::clone)
    }
}

impl EngineSnapshot for SurrealSnapshot {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.tx()?
            .get(stored_key(self.prefix(space), key))
            .map_err(|e| err("read", e))
    }

    fn range(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> KvIter<'_> {
        let prefix = self.prefix(space);
        let tx = match self.tx() {
            Ok(tx) => tx,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        Box::new(Entries {
            tx,
            strip: prefix.len(),
            from: stored_key(prefix, start),
            to: match end {
                Some(end) => stored_key(prefix, end),
                None => prefix_end(prefix),
            },
            batch: std::collections::VecDeque::new(),
            batch_len: FIRST_BATCH,
            done: false,
        })
    }
}

/// Entries a scan reads at its first step; each later step reads twice as many, up to
/// [`LAST_BATCH`]. A short scan (one key's versions) reads little, a long one pays the cursor
/// set-up rarely.
const FIRST_BATCH: usize = 32;
const LAST_BATCH: usize = 4096;

/// A scan as an iterator of (key without its space prefix, value). surrealkv's cursors cannot
/// move between threads, and a scan may: each step opens a cursor where the last one stopped,
/// reads a batch, and closes it.
struct Entries<'a> {
    tx: &'a Transaction,
    strip: usize,
    /// Where the next batch starts (stored form).
    from: Vec<u8>,
    to: Vec<u8>,
    batch: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    batch_len: usize,
    done: bool,
}

impl Entries<'_> {
    fn read_batch(&mut self) -> Result<(), surrealkv::Error> {
        let mut iter = self.tx.range(self.from.clone(), self.to.clone())?;
        let mut valid = iter.seek_first()?;
        while valid && iter.valid() && self.batch.len() < self.batch_len {
            let key = iter.key().user_key();
            self.batch
                .push_back((key[self.strip..].to_vec(), iter.value()?));
            valid = iter.next()?;
        }
        if self.batch.len() < self.batch_len {
            self.done = true;
        } else if let Some((last, _)) = self.batch.back() {
            // The next batch starts just above the last key read.
            self.from.truncate(self.strip);
            self.from.extend_from_slice(last);
            self.from.push(0);
        }
        self.batch_len = (self.batch_len * 2).min(LAST_BATCH);
        Ok(())
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.batch.is_empty()
            && !self.done
            && let Err(e) = self.read_batch()
        {
            self.done = true;
            self.batch.clear();
            return Some(Err(err("scan", e)));
        }
        self.batch.pop_front().map(Ok)
    }
}
