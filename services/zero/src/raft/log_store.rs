//! The Raft log and vote in fjall. Appends are fsynced before openraft is told they are durable.

use super::{StorageError, TypeConfig, io_error};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, ErrorSubject, ErrorVerb, LogId, OptionalSend, Vote};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// The log store; cheap to clone (shares the database).
#[derive(Clone)]
pub struct LogStore {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
}

impl LogStore {
    pub fn open(db: &Database) -> Result<Self, fjall::Error> {
        Ok(LogStore {
            db: db.clone(),
            log: db.keyspace("raft_log", KeyspaceCreateOptions::default)?,
            meta: db.keyspace("raft_meta", KeyspaceCreateOptions::default)?,
        })
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let raw = self
            .meta
            .get(key)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Read, e))?;
        raw.map(|v| serde_json::from_slice(&v))
            .transpose()
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Read, e))
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        value: &T,
        sync: bool,
    ) -> Result<(), StorageError> {
        let raw = serde_json::to_vec(value)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        self.meta
            .insert(key, raw)
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))?;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        tokio::task::block_in_place(|| self.db.persist(PersistMode::SyncAll))
            .map_err(|e| io_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    fn last_entry(&self) -> Result<Option<Entry<TypeConfig>>, StorageError> {
        match self.log.last_key_value() {
            Some(guard) => {
                let (_, v) = guard
                    .into_inner()
                    .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                Ok(Some(decode(&v)?))
            }
            None => Ok(None),
        }
    }
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode(raw: &[u8]) -> Result<Entry<TypeConfig>, StorageError> {
    serde_json::from_slice(raw).map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i + 1,
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
            out.push(decode(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
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

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = self.db.batch();
        for entry in entries {
            let raw = serde_json::to_vec(&entry)
                .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            batch.insert(&self.log, key(entry.log_id.index), raw);
        }
        batch
            .commit()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        let synced = tokio::task::block_in_place(|| self.db.persist(PersistMode::SyncAll));
        callback.log_io_completed(synced.map_err(std::io::Error::other));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        let keys: Vec<_> = self
            .log
            .range::<[u8; 8], _>(key(log_id.index)..)
            .map(|g| g.key())
            .collect::<Result<_, _>>()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        let mut batch = self.db.batch();
        for k in keys {
            batch.remove(&self.log, k);
        }
        batch
            .commit()
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        self.sync()
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.put_meta(LAST_PURGED, &log_id, true)?;
        let keys: Vec<_> = self
            .log
            .range::<[u8; 8], _>(..=key(log_id.index))
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
