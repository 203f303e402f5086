//! A read view: the store at a timestamp, with a transaction's own writes on top, and the keys
//! of predicates other groups serve read from them ([`RemoteReads`]).

use crate::graph::GraphError;
use crate::graph::remote::RemoteReads;
use lodestar_storage::Snapshot;
use std::collections::BTreeMap;

pub type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Keys and values, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What a query or mutation reads.
pub struct View<'a> {
    snap: Snapshot,
    pub ts: u64,
    overlay: Option<&'a Overlay>,
    remote: Option<&'a RemoteReads>,
}

impl<'a> View<'a> {
    pub fn new(snap: Snapshot, ts: u64, overlay: Option<&'a Overlay>) -> Self {
        View {
            snap,
            ts,
            overlay,
            remote: None,
        }
    }

    /// This view, reading the predicates other groups serve through `remote`.
    pub fn with_remote(mut self, remote: Option<&'a RemoteReads>) -> Self {
        self.remote = remote;
        self
    }

    /// Where the predicates of other groups are read, if anywhere.
    pub fn remote(&self) -> Option<&'a RemoteReads> {
        self.remote
    }

    /// A view of the same snapshot with another overlay.
    pub fn with_overlay<'b>(&self, overlay: Option<&'b Overlay>) -> View<'b>
    where
        'a: 'b,
    {
        View {
            snap: self.snap.clone(),
            ts: self.ts,
            overlay,
            remote: self.remote,
        }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        if let Some(r) = self.remote.filter(|r| r.is_remote(key)) {
            return r.get(key);
        }
        if let Some(v) = self.overlay.and_then(|o| o.get(key)) {
            return Ok(v.clone());
        }
        Ok(self.snap.get_at(key, self.ts)?)
    }

    /// Every key with `prefix` that has a value, in key order.
    pub fn scan(&self, prefix: &[u8]) -> Result<Entries, GraphError> {
        if let Some(r) = self.remote.filter(|r| r.is_remote(prefix)) {
            return r.scan(prefix);
        }
        let mut out = BTreeMap::new();
        for item in self.snap.scan_prefix_at(prefix, self.ts) {
            let (k, v) = item?;
            out.insert(k, v);
        }
        if let Some(overlay) = self.overlay {
            for (k, v) in overlay.range(prefix.to_vec()..) {
                if !k.starts_with(prefix) {
                    break;
                }
                match v {
                    Some(v) => out.insert(k.clone(), v.clone()),
                    None => out.remove(k),
                };
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Whether only this group's store holds keys with `prefix` (neither the transaction's
    /// own writes nor another group's reads cover it).
    pub fn store_only(&self, prefix: &[u8]) -> bool {
        !self.remote.is_some_and(|r| r.is_remote(prefix))
            && !self.overlay.is_some_and(|o| {
                o.range(prefix.to_vec()..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(prefix))
            })
    }

    /// The keys with `prefix` from the first `>= from` on, read lazily from the store; `None`
    /// when the transaction's own writes or another group's reads cover `prefix` (read those
    /// whole with [`View::scan_keys`]).
    pub fn keys_from<'s>(
        &'s self,
        prefix: &[u8],
        from: &[u8],
    ) -> Option<impl Iterator<Item = Result<Vec<u8>, GraphError>> + use<'s, 'a>> {
        if !self.store_only(prefix) {
            return None;
        }
        Some(
            self.snap
                .scan_from_at(prefix, from, self.ts)
                .map(|item| item.map(|(k, _)| k).map_err(GraphError::from)),
        )
    }

    /// The keys with `prefix`, without their values.
    pub fn scan_keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, GraphError> {
        Ok(self.scan(prefix)?.into_iter().map(|(k, _)| k).collect())
    }
}
