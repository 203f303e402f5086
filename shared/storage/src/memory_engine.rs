//! An in-memory engine for tests: a sorted map per space; snapshots copy it.

use crate::StorageError;
use crate::engine::{Engine, EngineSnapshot, KvIter, Op, Space};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Default)]
pub(crate) struct MemoryEngine {
    spaces: RwLock<(Arc<Map>, Arc<Map>)>,
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
