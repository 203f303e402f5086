//! The change log: for each commit, the keys it wrote, so that an incremental backup reads the
//! keys that changed since the last one instead of walking every key.
//!
//! Each [`Store::commit`](crate::Store::commit) that writes data adds one meta entry in the
//! same atomic batch: `[ENTRY, commit_ts, seq, size]` → the written keys, each as a big-endian
//! `u32` length and the bytes. `FROM` holds the lowest timestamp from which every commit is
//! logged: a store created empty logs from 0; a store that held data before it kept a log
//! starts at its first logged commit; a bulk load restarts the log after its timestamp (its
//! keys are not logged). The log is kept to a budget: past it, the oldest entries go and `FROM`
//! rises. A read of changes since `since` uses the log only when it covers `(since, read_ts]`
//! and names few enough keys; otherwise the caller walks every key, as without a log.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, Op, Space};
use crate::mvcc;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of the log's entries in the meta space.
const ENTRY: &[u8] = b"\x01c";
/// Meta key of the lowest timestamp from which every commit is logged.
const FROM: &[u8] = b"\x01f";
/// `from` before the first commit of a store that held data without a log.
const UNKNOWN: u64 = u64::MAX;
/// Entry bytes (keys and their lengths) the log keeps; past it, the oldest half goes.
const BUDGET: u64 = 64 << 20;
/// The most entry bytes a read of changes takes from the log; more, and walking every key
/// costs about as much and needs no memory for the set of changed keys.
const READ_LIMIT: u64 = 16 << 20;

/// `ENTRY ++ ts ++ seq ++ size` (all big-endian).
const ENTRY_KEY_LEN: usize = ENTRY.len() + 8 + 8 + 4;

fn entry_key(ts: u64, seq: u64, size: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(ENTRY_KEY_LEN);
    key.extend_from_slice(ENTRY);
    key.extend_from_slice(&ts.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&size.to_be_bytes());
    key
}

/// (ts, seq, size) of an entry's key.
fn parse_entry_key(key: &[u8]) -> Result<(u64, u64, u32), StorageError> {
    let corrupt = || StorageError::Corrupt(format!("malformed change log key {key:02x?}"));
    let rest = key.strip_prefix(ENTRY).ok_or_else(corrupt)?;
    if rest.len() != 20 {
        return Err(corrupt());
    }
    let ts = u64::from_be_bytes(rest[0..8].try_into().map_err(|_| corrupt())?);
    let seq = u64::from_be_bytes(rest[8..16].try_into().map_err(|_| corrupt())?);
    let size = u32::from_be_bytes(rest[16..20].try_into().map_err(|_| corrupt())?);
    Ok((ts, seq, size))
}

fn ts_bound(ts: u64) -> Vec<u8> {
    let mut key = ENTRY.to_vec();
    key.extend_from_slice(&ts.to_be_bytes());
    key
}

/// Entries with `lo <= ts < hi` (no `hi`: to the end).
fn entry_range(lo: u64, hi: Option<u64>) -> (Vec<u8>, Option<Vec<u8>>) {
    let end = match hi {
        Some(hi) => Some(ts_bound(hi)),
        None => mvcc::prefix_end(ENTRY),
    };
    (ts_bound(lo), end)
}

/// Calls `each` with (ts, seq, size) of every entry in `[lo, hi)`, reading keys only.
fn walk_keys(
    snap: &dyn EngineSnapshot,
    lo: u64,
    hi: Option<u64>,
    mut each: impl FnMut(u64, u64, u32) + Send,
) -> Result<(), StorageError> {
    let (start, end) = entry_range(lo, hi);
    let mut bad: Option<StorageError> = None;
    let bad_ref = &mut bad;
    let want: crate::engine::Want<'_> = Box::new(move |key: &[u8]| {
        match parse_entry_key(key) {
            Ok((ts, seq, size)) => each(ts, seq, size),
            Err(e) => *bad_ref = Some(e),
        }
        false
    });
    for item in snap.range_select(Space::Meta, &start, end.as_deref(), want) {
        item?;
    }
    match bad {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn read_from(snap: &dyn EngineSnapshot) -> Result<Option<u64>, StorageError> {
    snap.get(Space::Meta, FROM)?
        .map(|raw| {
            raw.as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StorageError::Corrupt("the change log's start is not a timestamp".into())
                })
        })
        .transpose()
}

fn from_op(ts: u64) -> Op {
    Op {
        space: Space::Meta,
        key: FROM.to_vec(),
        value: Some(ts.to_be_bytes().to_vec()),
    }
}

/// (next entry number, start, entry bytes) of the log the engine holds; a store created empty
/// gets its start (0) written here.
fn read_state(engine: &dyn Engine) -> Result<(u64, u64, u64), StorageError> {
    let snap = engine.snapshot();
    let from = match read_from(&*snap)? {
        Some(from) => from,
        None if snap.range(Space::Data, &[], None).next().is_none() => {
            engine.apply(vec![from_op(0)], true)?;
            0
        }
        None => UNKNOWN,
    };
    let (mut max_seq, mut bytes) = (0u64, 0u64);
    walk_keys(&*snap, 0, None, |_, seq, size| {
        max_seq = max_seq.max(seq);
        bytes += u64::from(size);
    })?;
    Ok((max_seq + 1, from, bytes))
}

/// The store's side of the log: numbering entries, its start, its size.
#[derive(Debug)]
pub(crate) struct ChangeLog {
    next_seq: AtomicU64,
    from: AtomicU64,
    bytes: AtomicU64,
    pruning: Mutex<()>,
    /// [`BUDGET`], lower in tests.
    pub(crate) budget: AtomicU64,
    /// [`READ_LIMIT`], lower in tests.
    pub(crate) read_limit: AtomicU64,
}

impl ChangeLog {
    /// Reads where the log starts and how big it is (entry keys only).
    pub(crate) fn load(engine: &dyn Engine) -> Result<Self, StorageError> {
        let (next_seq, from, bytes) = read_state(engine)?;
        Ok(ChangeLog {
            next_seq: AtomicU64::new(next_seq),
            from: AtomicU64::new(from),
            bytes: AtomicU64::new(bytes),
            pruning: Mutex::new(()),
            budget: AtomicU64::new(BUDGET),
            read_limit: AtomicU64::new(READ_LIMIT),
        })
    }

    /// Reads the log's state again, after the meta space was replaced whole (an import); the
    /// limits set with [`crate::Store::limit_change_log`] stay.
    pub(crate) fn reload(&self, engine: &dyn Engine) -> Result<(), StorageError> {
        let _pruning = self.pruning.lock();
        let (next_seq, from, bytes) = read_state(engine)?;
        self.next_seq.store(next_seq, Ordering::Relaxed);
        self.from.store(from, Ordering::Release);
        self.bytes.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// The ops that log a commit of `keys` at `ts`, added to its batch; returns the entry's
    /// size and whether this commit starts the log (undo with [`ChangeLog::not_applied`]).
    pub(crate) fn log<'k>(
        &self,
        ts: u64,
        keys: impl Iterator<Item = &'k [u8]>,
        ops: &mut Vec<Op>,
    ) -> (u64, bool) {
        let mut value = Vec::new();
        for key in keys {
            value.extend_from_slice(&(key.len() as u32).to_be_bytes());
            value.extend_from_slice(key);
        }
        let size = value.len() as u64;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        ops.push(Op {
            space: Space::Meta,
            key: entry_key(ts, seq, value.len() as u32),
            value: Some(value),
        });
        let starts = self
            .from
            .compare_exchange(UNKNOWN, ts, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if starts {
            ops.push(from_op(ts));
        }
        (size, starts)
    }

    /// A batch with a log entry failed: a start it claimed is given up.
    pub(crate) fn not_applied(&self, ts: u64, started: bool) {
        if started {
            let _ = self
                .from
                .compare_exchange(ts, UNKNOWN, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// A batch with an entry of `size` bytes was applied; past the budget, the oldest entries
    /// go.
    pub(crate) fn applied(&self, engine: &dyn Engine, size: u64) -> Result<(), StorageError> {
        let bytes = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        let budget = self.budget.load(Ordering::Relaxed);
        if bytes <= budget {
            return Ok(());
        }
        let Some(_pruning) = self.pruning.try_lock() else {
            return Ok(());
        };
        self.prune(engine, |_, kept| kept > budget / 2)
    }

    /// Makes the log start after `ts` (nothing at or below it is logged any more), durably:
    /// a bulk load at `ts` is not logged. Entries below the new start go.
    pub(crate) fn restart_after(&self, engine: &dyn Engine, ts: u64) -> Result<(), StorageError> {
        let from = ts.saturating_add(1);
        self.from.fetch_max(from, Ordering::AcqRel);
        let from = self.from.load(Ordering::Acquire);
        engine.apply(vec![from_op(from)], true)?;
        let _pruning = self.pruning.lock();
        self.prune(engine, |entry_ts, _| entry_ts < from)
    }

    /// Deletes entries oldest first while `goes(ts, bytes still kept)` says so, and raises the
    /// start above the newest one deleted, in one batch.
    fn prune(
        &self,
        engine: &dyn Engine,
        mut goes: impl FnMut(u64, u64) -> bool + Send,
    ) -> Result<(), StorageError> {
        let snap = engine.snapshot();
        let mut kept = self.bytes.load(Ordering::Relaxed);
        let mut deleted = Vec::new();
        let mut freed = 0u64;
        let mut done = false;
        walk_keys(&*snap, 0, None, |ts, seq, size| {
            if done || !goes(ts, kept) {
                done = true;
                return;
            }
            kept -= u64::from(size).min(kept);
            freed += u64::from(size);
            deleted.push((ts, seq, size));
        })?;
        let Some(&(newest, _, _)) = deleted.last() else {
            return Ok(());
        };
        let from = newest.saturating_add(1);
        self.from.fetch_max(from, Ordering::AcqRel);
        let mut ops: Vec<Op> = deleted
            .iter()
            .map(|&(ts, seq, size)| Op {
                space: Space::Meta,
                key: entry_key(ts, seq, size),
                value: None,
            })
            .collect();
        ops.push(from_op(self.from.load(Ordering::Acquire)));
        engine.apply(ops, false)?;
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        Ok(())
    }
}

/// The keys with prefix `prefix` that commits in `(since, read_ts]` wrote, each with the newest
/// timestamp it was logged at, as `snap` sees the log; `None` when the log does not cover
/// that span or names too many keys to be worth it.
pub(crate) fn changed_keys(
    snap: &dyn EngineSnapshot,
    prefix: &[u8],
    since: u64,
    read_ts: u64,
    read_limit: u64,
) -> Result<Option<BTreeMap<Vec<u8>, u64>>, StorageError> {
    let Some(from) = read_from(snap)? else {
        return Ok(None);
    };
    // Nothing is newer than the newest timestamp.
    let Some(lo) = since.checked_add(1) else {
        return Ok(Some(BTreeMap::new()));
    };
    if from > lo {
        return Ok(None);
    }
    let hi = read_ts.checked_add(1);
    let mut bytes = 0u64;
    walk_keys(snap, lo, hi, |_, _, size| bytes += u64::from(size))?;
    if bytes > read_limit {
        return Ok(None);
    }
    let (start, end) = entry_range(lo, hi);
    let mut keys = BTreeMap::new();
    for item in snap.range(Space::Meta, &start, end.as_deref()) {
        let (key, value) = item?;
        let (ts, _, _) = parse_entry_key(&key)?;
        let mut rest = value.as_slice();
        while !rest.is_empty() {
            let corrupt =
                || StorageError::Corrupt(format!("a change log entry at {ts} is cut short"));
            let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
            let len = u32::from_be_bytes(*len) as usize;
            let written = tail.get(..len).ok_or_else(corrupt)?;
            rest = &tail[len..];
            if written.starts_with(prefix) {
                let newest = keys.entry(written.to_vec()).or_insert(ts);
                *newest = (*newest).max(ts);
            }
        }
    }
    Ok(Some(keys))
}
