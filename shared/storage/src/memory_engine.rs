//! An in-memory engine for tests: a sorted map per space; snapshots copy it.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, MetaUpdate, Op, Replacement, Space};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// The data and meta maps; snapshots share them until the next write copies one.
type Spaces = Arc<RwLock<(Arc<Map>, Arc<Map>)>>;

#[derive(Default)]
pub(crate) struct MemoryEngine {
    spaces: Spaces,
}

impl Engine for MemoryEngine {
    fn apply(&self, ops: Vec<Op>, _durable: bool) -> Result<(), StorageError> {
        let mut spaces = self.spaces.write();
        let (data, meta) = &mut *spaces;
        for op in ops {
            let map = Arc::make_mut(match op.space {
                Space::Data => &mut *data,
                Space::Meta => &mut *meta,
            });
            match op.value {
                Some(v) => map.insert(op.key, v),
                None => map.remove(&op.key),
            };
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<dyn EngineSnapshot> {
        let (data, meta) = self.spaces.read().clone();
        Arc::new(MemorySnapshot { data, meta })
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    // Bulk loads stay in place here (so the suite covers that path), but an import needs the
    // whole-space swap: a new data map, swapped in with the meta space under one lock.
    fn begin_import(&self) -> Result<Option<Box<dyn Replacement>>, StorageError> {
        Ok(Some(Box::new(MemoryReplacement {
            spaces: self.spaces.clone(),
            data: Map::new(),
        })))
    }
}

/// A data map under construction, swapped in whole by its commit.
struct MemoryReplacement {
    spaces: Spaces,
    data: Map,
}

impl Replacement for MemoryReplacement {
    fn write(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StorageError> {
        self.data.extend(entries);
        Ok(())
    }

    fn commit(self: Box<Self>, meta: MetaUpdate) -> Result<(), StorageError> {
        let MemoryReplacement { spaces, data } = *self;
        let mut spaces = spaces.write();
        let (current_data, current_meta) = &mut *spaces;
        match meta {
            MetaUpdate::Write(writes) => {
                let map = Arc::make_mut(current_meta);
                for (key, value) in writes {
                    match value {
                        Some(v) => map.insert(key, v),
                        None => map.remove(&key),
                    };
                }
            }
            MetaUpdate::Replace(entries) => *current_meta = Arc::new(entries.into_iter().collect()),
        }
        *current_data = Arc::new(data);
        Ok(())
    }

    fn abort(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

struct MemorySnapshot {
    data: Arc<Map>,
    meta: Arc<Map>,
}

impl EngineSnapshot for MemorySnapshot {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let map = if space == Space::Data {
            &self.data
        } else {
            &self.meta
        };
        Ok(map.get(key).cloned())
    }

    fn range(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> KvIter<'_> {
        let map = if space == Space::Data {
            &self.data
        } else {
            &self.meta
        };
        let end = match end {
            Some(e) => Bound::Excluded(e.to_vec()),
            None => Bound::Unbounded,
        };
        Box::new(
            map.range((Bound::Included(start.to_vec()), end))
                .map(|(k, v)| Ok((k.clone(), v.clone()))),
        )
    }
}
