//! The embedded engine: fjall, one keyspace per [`Space`].

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, Op, Space, Want};
use fjall::{
    Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode, Readable,
};
use std::path::Path;
use std::sync::Arc;

pub(crate) struct FjallEngine {
    db: Database,
    data: Keyspace,
    meta: Keyspace,
}

/// Values of at least this many bytes are kept apart from the keys.
const VALUE_SEPARATION: u32 = 512;

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
        // Values from VALUE_SEPARATION bytes up live in blob files beside the tree: scans that
        // only need keys (an incremental backup looking for what changed) skip them, and
        // compaction moves pointers instead of rewriting them. A keyspace keeps the options
        // it was created with.
        let data = db
            .keyspace("data", || {
                KeyspaceCreateOptions::default().with_kv_separation(Some(
                    KvSeparationOptions::default().separation_threshold(VALUE_SEPARATION),
                ))
            })
            .map_err(|e| err("open data", e))?;
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .map_err(|e| err("open meta", e))?;
        Ok(FjallEngine { db, data, meta })
    }

    fn keyspace(&self, space: Space) -> &Keyspace {
        match space {
            Space::Data => &self.data,
            Space::Meta => &self.meta,
        }
    }
}

impl Engine for FjallEngine {
    fn apply(&self, ops: Vec<Op>, durable: bool) -> Result<(), StorageError> {
        let mut batch = self.db.batch();
        for op in ops {
            let ks = self.keyspace(op.space);
            match op.value {
                Some(v) => batch.insert(ks, op.key, v),
                None => batch.remove(ks, op.key),
            }
        }
        batch.commit().map_err(|e| err("write", e))?;
        if durable { self.sync() } else { Ok(()) }
    }

    fn snapshot(&self) -> Arc<dyn EngineSnapshot> {
        Arc::new(FjallSnapshot {
            snapshot: self.db.snapshot(),
            data: self.data.clone(),
            meta: self.meta.clone(),
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| err("sync", e))
    }

    fn flush(&self) -> Result<(), StorageError> {
        for ks in [&self.data, &self.meta] {
            ks.rotate_memtable_and_wait().map_err(|e| err("flush", e))?;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "fjall"
    }
}

struct FjallSnapshot {
    snapshot: fjall::Snapshot,
    data: Keyspace,
    meta: Keyspace,
}

impl EngineSnapshot for FjallSnapshot {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let ks = match space {
            Space::Data => &self.data,
            Space::Meta => &self.meta,
        };
        Ok(self
            .snapshot
            .get(ks, key)
            .map_err(|e| err("read", e))?
            .map(|v| v.to_vec()))
    }

    fn range(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> KvIter<'_> {
        let ks = match space {
            Space::Data => &self.data,
            Space::Meta => &self.meta,
        };
        let iter = match end {
            Some(end) => self.snapshot.range(ks, start.to_vec()..end.to_vec()),
            None => self.snapshot.range(ks, start.to_vec()..),
        };
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
        let ks = match space {
            Space::Data => &self.data,
            Space::Meta => &self.meta,
        };
        let iter = match end {
            Some(end) => self.snapshot.range(ks, start.to_vec()..end.to_vec()),
            None => self.snapshot.range(ks, start.to_vec()..),
        };
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
