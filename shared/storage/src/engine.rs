//! The private engine trait: ordered byte keys in two spaces, atomic batches, snapshots.

use crate::StorageError;
use std::sync::Arc;

/// The two key spaces an engine keeps apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Space {
    /// Versioned data, keys already MVCC-encoded.
    Data,
    /// Unversioned bookkeeping.
    Meta,
}

/// One write of a batch; `None` deletes.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub space: Space,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

pub(crate) type KvIter<'a> =
    Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + Send + 'a>;

/// Decides, key by key and in key order, whether a range entry's value is needed.
pub(crate) type Want<'a> = Box<dyn FnMut(&[u8]) -> bool + Send + 'a>;

/// What every backend provides.
pub(crate) trait Engine: Send + Sync + 'static {
    /// Applies `ops` atomically; with `durable`, they survive a crash once this returns.
    fn apply(&self, ops: Vec<Op>, durable: bool) -> Result<(), StorageError>;
    /// A consistent point-in-time view.
    fn snapshot(&self) -> Arc<dyn EngineSnapshot>;
    /// Makes everything written so far durable.
    fn sync(&self) -> Result<(), StorageError>;
    /// Moves what is held in memory into the engine's files (an engine without such a step
    /// does nothing).
    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// The engine's name, for messages.
    fn name(&self) -> &'static str;
    /// Whether every file the engine writes is encrypted at rest.
    fn encrypted(&self) -> bool {
        false
    }
    /// Starts building a new data space that replaces the current one as a whole when it is
    /// committed, or `None` when the engine cannot (the store then replaces in place).
    fn begin_replacement(&self) -> Result<Option<Box<dyn Replacement>>, StorageError> {
        Ok(None)
    }
    /// Starts building a new data space for an import (a copy of another store), which must
    /// replace the data and meta spaces together in one atomic, durable step; `None` when the
    /// engine cannot. An engine whose bulk loads replace in place still gives one here.
    fn begin_import(&self) -> Result<Option<Box<dyn Replacement>>, StorageError> {
        self.begin_replacement()
    }
}

/// What the commit of a [`Replacement`] does to the meta space, in the same atomic step as the
/// switch of the data space.
#[derive(Debug)]
pub(crate) enum MetaUpdate {
    /// These writes (`None` deletes) over the meta space as it is: a bulk load that records
    /// what it loaded.
    Write(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// The meta space becomes exactly these entries, every other key gone: an import. Keys are
    /// unique and ascending.
    Replace(Vec<(Vec<u8>, Vec<u8>)>),
}

/// A data space under construction: invisible until [`Replacement::commit`] swaps it in for
/// the current one; dropping it uncommitted (or a crash before the commit) leaves the current
/// one as it was.
pub(crate) trait Replacement: Send {
    /// Adds data-space entries. A key given again replaces its earlier value.
    fn write(&mut self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StorageError>;
    /// Makes the new space durable and the one every later read and write uses, and applies
    /// `meta` in the same atomic step: after a crash, either both happened or neither did.
    fn commit(self: Box<Self>, meta: MetaUpdate) -> Result<(), StorageError>;
    /// Throws the new space away.
    fn abort(self: Box<Self>) -> Result<(), StorageError>;
}

/// A point-in-time view of an engine.
pub(crate) trait EngineSnapshot: Send + Sync {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Entries with `start <= key < end` (no end: to the end of the space), in key order.
    fn range(&self, space: Space, start: &[u8], end: Option<&[u8]>) -> KvIter<'_>;
    /// Like [`EngineSnapshot::range`], but only the entries whose key `want` accepts (asked in
    /// key order, once per entry); an engine that keeps large values apart from the keys never
    /// reads the others' values.
    fn range_select<'a>(
        &'a self,
        space: Space,
        start: &[u8],
        end: Option<&[u8]>,
        mut want: Want<'a>,
    ) -> KvIter<'a> {
        Box::new(
            self.range(space, start, end)
                .filter(move |item| match item {
                    Ok((k, _)) => want(k),
                    Err(_) => true,
                }),
        )
    }
}
