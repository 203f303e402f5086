//! The Raft log and vote in fjall: `raft_log` holds entries by index, `raft_meta` the vote, the
//! committed id and the last purged id. Appends are fsynced before openraft is told they are
//! durable. With a [`Sealer`] (a directory encrypted at rest), every value is sealed before it
//! reaches fjall, so its journal and tables hold only ciphertext; the keys are log indexes and
//! fixed names.

use crate::codec::Codec;
use crate::{StorageError, io_error};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use lodestar_crypto::sealer::{Sealer, open_if, seal_if};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    BasicNode, Entry, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftTypeConfig, Vote,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";
/// What a sealed log entry is bound to.
const LOG_CONTEXT: &[u8] = b"raft log entry";

/// The log store of one Raft node; cheap to clone (clones share the database). `K` encodes
/// the entries; the vote and log ids are always JSON.
pub struct LogStore<C, K> {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
    sealer: Option<Sealer>,
    _types: PhantomData<fn() -> (C, K)>,
}

impl<C, K> Clone for LogStore<C, K> {
    fn clone(&self) -> Self {
        LogStore {
            db: self.db.clone(),
            log: self.log.clone(),
            meta: self.meta.clone(),
            sealer: self.sealer.clone(),
            _types: PhantomData,
        }
    }
}

impl<C, K> LogStore<C, K>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    K: Codec,
{
    /// Opens the log in `db` (its keyspaces are made on first use), sealing its values with
    /// `sealer` when there is one.
    pub fn open(db: &Database, sealer: Option<Sealer>) -> Result<Self, fjall::Error> {
        Ok(LogStore {
            db: db.clone(),
            log: db.keyspace("raft_log", KeyspaceCreateOptions::default)?,
            meta: db.keyspace("raft_meta", KeyspaceCreateOptions::default)?,
            sealer,
            _types: PhantomData,
        })
    }

    /// `raw` as it is stored: sealed (with `context`) when the log is encrypted.
    fn seal(&self, context: &[u8], raw: Vec<u8>) -> Vec<u8> {
        seal_if(self.sealer.as_ref(), context, raw)
    }

    /// What [`LogStore::seal`] stored, opened.
    fn unseal(
        &self,
        context: &[u8],
        stored: &[u8],
        subject: ErrorSubject<u64>,
    ) -> Result<Vec<u8>, StorageError> {
        open_if(self.sealer.as_ref(), context, stored)
            .map_err(|e| io_error(subject, ErrorVerb::Read, e))
    }

    /// Whether nothing was ever written: no vote, no entry, nothing purged.
    pub fn is_empty(&self) -> Result<bool, fjall::Error> {
        Ok(self.meta.is_empty()? && self.log.is_empty()?)
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let raw = self
            .meta
            .get(key)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Read, e))?;
        raw.map(|v| {
            let plain = self.unseal(key, &v, ErrorSubject::Store)?;
            serde_json::from_slice(&plain)
                .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Read, e))
        })
        .transpose()
    }

    fn put_meta<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
        sync: bool,
    ) -> Result<(), StorageError> {
        let raw = serde_json::to_vec(value)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.meta
            .insert(key, self.seal(key, raw))
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        blocking(|| self.db.persist(PersistMode::SyncAll))
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    fn decode(&self, stored: &[u8]) -> Result<Entry<C>, StorageError> {
        let raw = self.unseal(LOG_CONTEXT, stored, ErrorSubject::Logs)?;
        K::decode(&raw).map_err(|e| {
            crate::io_message(
                ErrorSubject::Logs,
                ErrorVerb::Read,
                format!("undecodable log entry: {e}"),
            )
        })
    }

    fn last_entry(&self) -> Result<Option<Entry<C>>, StorageError> {
        match self.log.last_key_value() {
            Some(guard) => {
                let (_, v) = guard
                    .into_inner()
                    .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                Ok(Some(self.decode(&v)?))
            }
            None => Ok(None),
        }
    }

    fn remove_range(&self, range: impl RangeBounds<[u8; 8]>) -> Result<(), StorageError> {
        let keys: Vec<_> = self
            .log
            .range::<[u8; 8], _>(range)
            .map(|g| g.key())
            .collect::<Result<_, _>>()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        let mut batch = self.db.batch();
        for k in keys {
            batch.remove(&self.log, k);
        }
        batch
            .commit()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}

/// Runs a blocking disk call without stalling the runtime's other tasks (on a multi-threaded
/// runtime; elsewhere in place).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl<C, K> RaftLogReader<C> for LogStore<C, K>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    K: Codec,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<C>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for guard in self
            .log
            .range::<[u8; 8], _>((Bound::Included(key(start)), end))
        {
            let (_, v) = guard
                .into_inner()
                .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
            out.push(self.decode(&v)?);
        }
        Ok(out)
    }
}

impl<C, K> RaftLogStorage<C> for LogStore<C, K>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    K: Codec,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError> {
        let last_purged: Option<LogId<u64>> = self.get_meta(LAST_PURGED)?;
        let last = self.last_entry()?.map(|e| e.log_id).or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote, true)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        self.put_meta(COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.get_meta::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = self.db.batch();
        for entry in entries {
            let raw = K::encode(&entry).map_err(|e| {
                crate::io_message(
                    ErrorSubject::Logs,
                    ErrorVerb::Write,
                    format!("log entry {}: {e}", entry.log_id),
                )
            })?;
            batch.insert(
                &self.log,
                key(entry.log_id.index),
                self.seal(LOG_CONTEXT, raw),
            );
        }
        batch
            .commit()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        let synced = blocking(|| self.db.persist(PersistMode::SyncAll));
        callback.log_io_completed(synced.map_err(std::io::Error::other));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.remove_range(key(log_id.index)..)?;
        self.sync()
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.put_meta(LAST_PURGED, &log_id, true)?;
        self.remove_range(..=key(log_id.index))
    }
}
