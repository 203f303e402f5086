//! Reads of predicates another group serves, for a query running here.
//!
//! The query engine reads keys through its [`super::view::View`]; a key of a predicate that
//! another group serves is answered from a per-query cache filled by that group
//! (`worker.Worker/ReadKeys`, any member that has applied the read timestamp). The engine asks
//! for whole levels ahead ([`RemoteReads::prefetch`]: one call per group for every uid of a
//! level), and anything it reads that was not fetched ahead is fetched on the spot, so answers
//! never depend on what was prefetched.
//!
//! Keys come back in the serving group's numbering with the names of their ids; they are
//! renumbered into this store's: a predicate or language this store never interned gets a
//! per-query id above every interned one.

use super::GraphError;
use lodestar_storage::Store;
use lodestar_storage::keys::{self, KeyKind};
use lodestar_types::schema::PredicateSchema;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Keys of one kind of one predicate: each prefix continues the key after `[kind, pred]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub predicate: String,
    pub kind: KeyKind,
    pub prefixes: Vec<Vec<u8>>,
}

/// What a group answered.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Keys in the serving store's numbering, and their values.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The name of every id in those keys.
    pub names: HashMap<u32, String>,
    pub schemas: HashMap<String, PredicateSchema>,
}

/// Where the other groups are: the tablet map and a way to read from them.
#[tonic::async_trait]
pub trait RemoteSource: Send + Sync + 'static {
    /// This alpha's group.
    fn my_group(&self) -> u32;
    /// Every group of the cluster.
    async fn groups(&self) -> Result<Vec<u32>, GraphError>;
    /// Forgets where predicates are served (a restore or a move gave them new groups): the
    /// next [`RemoteSource::resolve`] asks zero again.
    fn forget_tablets(&self);
    /// Learns which group serves each of `names` (asking zero about those not known yet).
    async fn resolve(&self, names: Vec<String>) -> Result<(), GraphError>;
    /// The group serving `predicate`, if any does.
    fn group_of(&self, predicate: &str) -> Option<u32>;
    /// Reads `ranges` (and the schema of `schema_of`) from a member of `group` at `read_ts`.
    async fn read(
        &self,
        group: u32,
        read_ts: u64,
        start_ts: u64,
        ranges: Vec<Range>,
        schema_of: Vec<String>,
    ) -> Result<Fetched, GraphError>;
    /// Sends `group`'s leader its part of a mutation in `start_ts` (see
    /// [`super::shared`]); answers the part's conflict keys and predicates.
    async fn mutate(
        &self,
        group: u32,
        start_ts: u64,
        part: Vec<u8>,
    ) -> Result<(Vec<u64>, Vec<String>), GraphError>;
    /// Asks `group` for the conflict keys of its part of `start_ts`, now decided elsewhere.
    async fn prepare(&self, group: u32, start_ts: u64) -> Result<Vec<u64>, GraphError>;
    /// Applies `schema` (text) in `group`, through its leader.
    async fn alter(&self, group: u32, schema: String) -> Result<(), GraphError>;
    /// Applies a drop ([`super::alter::Drop`], as text) in `group`, through its leader.
    async fn apply_drop(&self, group: u32, drop: String) -> Result<(), GraphError>;
    /// Tells `group` zero's decision on `start_ts` (`commit_ts` 0: aborted).
    async fn decide(&self, group: u32, start_ts: u64, commit_ts: u64) -> Result<u64, GraphError>;
    /// Streams into `tx` what `group` holds of `predicate` in `(since, read_ts]` (see
    /// [`super::Graph::send_tablet`]); an error ends the stream.
    async fn fetch_tablet(
        &self,
        group: u32,
        predicate: String,
        since: u64,
        read_ts: u64,
        tx: tokio::sync::mpsc::Sender<Result<lodestar_backup::record::Record, GraphError>>,
    );
}

/// Ids handed to names this store never interned: from here up, per query.
const FIRST_VIRTUAL: u32 = 0xF000_0000;

/// The other groups' keys one query has read.
pub struct RemoteReads {
    source: Arc<dyn RemoteSource>,
    store: Arc<Store>,
    read_ts: u64,
    start_ts: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Ids (this store's or per-query) of predicates another group serves: name and group.
    remote: HashMap<u32, (String, u32)>,
    /// Per-query ids of names this store does not know, both ways.
    virtual_ids: HashMap<String, u32>,
    virtual_names: HashMap<u32, String>,
    /// What the other groups answered, in this store's numbering.
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Prefixes fetched (this store's numbering): everything under them is in `data`.
    covered: HashSet<Vec<u8>>,
    schemas: HashMap<String, Option<PredicateSchema>>,
}

impl std::fmt::Debug for RemoteReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteReads")
            .field("read_ts", &self.read_ts)
            .finish()
    }
}

impl RemoteReads {
    pub fn new(
        source: Arc<dyn RemoteSource>,
        store: Arc<Store>,
        read_ts: u64,
        start_ts: u64,
    ) -> Self {
        RemoteReads {
            source,
            store,
            read_ts,
            start_ts,
            inner: Mutex::default(),
        }
    }

    /// The id the query uses for `name` when another group serves it (`None`: served here,
    /// or by no group).
    pub fn pred_id(&self, name: &str) -> Option<u32> {
        let group = self.source.group_of(name)?;
        if group == self.source.my_group() {
            return None;
        }
        let mut inner = self.inner.lock();
        let id = inner.id_for(&self.store, name);
        inner.remote.insert(id, (name.to_string(), group));
        Some(id)
    }

    /// The name of a per-query id.
    pub fn name_of(&self, id: u32) -> Option<String> {
        self.inner.lock().virtual_names.get(&id).cloned()
    }

    /// Whether `key` belongs to a predicate another group serves.
    pub fn is_remote(&self, key: &[u8]) -> bool {
        match keys::parse_pred(key) {
            Some((kind, pred)) if kind != KeyKind::Schema && kind != KeyKind::Type => {
                self.inner.lock().remote.contains_key(&pred)
            }
            _ => false,
        }
    }

    /// The schema of `name`, served by another group (asked once per query).
    pub fn schema(&self, name: &str) -> Result<Option<PredicateSchema>, GraphError> {
        if let Some(s) = self.inner.lock().schemas.get(name) {
            return Ok(s.clone());
        }
        let Some(group) = self.source.group_of(name) else {
            return Ok(None);
        };
        let fetched = self.block_on(self.source.read(
            group,
            self.read_ts,
            self.start_ts,
            Vec::new(),
            vec![name.to_string()],
        ))?;
        let mut inner = self.inner.lock();
        let schema = fetched.schemas.get(name).cloned();
        inner.schemas.insert(name.to_string(), schema.clone());
        Ok(schema)
    }

    /// The value of `key` (a remote predicate's), fetching what is under it if need be.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        self.ensure(key)?;
        Ok(self.inner.lock().data.get(key).cloned())
    }

    /// Every key under `prefix` (a remote predicate's), fetching them if need be.
    pub fn scan(&self, prefix: &[u8]) -> Result<super::view::Entries, GraphError> {
        self.ensure(prefix)?;
        let inner = self.inner.lock();
        Ok(inner
            .data
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    /// Fetches ahead, one call per group, the keys under each prefix (this store's numbering,
    /// `[kind, pred, …]`) that belong to remote predicates and were not fetched yet.
    pub fn prefetch(&self, prefixes: Vec<Vec<u8>>) -> Result<(), GraphError> {
        let mut by_group: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
        {
            let inner = self.inner.lock();
            for p in prefixes {
                let Some((_, pred)) = keys::parse_pred(&p) else {
                    continue;
                };
                if let Some((_, group)) = inner.remote.get(&pred)
                    && !inner.is_covered(&p)
                {
                    by_group.entry(*group).or_default().push(p);
                }
            }
        }
        if by_group.is_empty() {
            return Ok(());
        }
        let calls = by_group
            .into_iter()
            .map(|(group, prefixes)| self.fetch(group, prefixes));
        let results = self.block_on(futures::future::join_all(calls));
        results
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
    }

    fn ensure(&self, prefix: &[u8]) -> Result<(), GraphError> {
        let group = {
            let inner = self.inner.lock();
            if inner.is_covered(prefix) {
                return Ok(());
            }
            match keys::parse_pred(prefix).and_then(|(_, p)| inner.remote.get(&p)) {
                Some((_, group)) => *group,
                None => return Ok(()),
            }
        };
        self.block_on(self.fetch(group, vec![prefix.to_vec()]))
    }

    /// Reads `prefixes` (this store's numbering) from `group` into the cache.
    async fn fetch(&self, group: u32, prefixes: Vec<Vec<u8>>) -> Result<(), GraphError> {
        let mut ranges: BTreeMap<(String, KeyKind), Vec<Vec<u8>>> = BTreeMap::new();
        {
            let inner = self.inner.lock();
            for p in &prefixes {
                let Some((kind, pred)) = keys::parse_pred(p) else {
                    continue;
                };
                if let Some((name, _)) = inner.remote.get(&pred) {
                    ranges
                        .entry((name.clone(), kind))
                        .or_default()
                        .push(p[keys::PRED_PREFIX_LEN..].to_vec());
                }
            }
        }
        let ranges = ranges
            .into_iter()
            .map(|((predicate, kind), prefixes)| Range {
                predicate,
                kind,
                prefixes,
            })
            .collect();
        tracing::debug!(
            group,
            read_ts = self.read_ts,
            prefixes = prefixes.len(),
            "reading another group's keys"
        );
        let fetched = self
            .source
            .read(group, self.read_ts, self.start_ts, ranges, Vec::new())
            .await?;
        tracing::debug!(
            group,
            entries = fetched.entries.len(),
            "read another group's keys"
        );
        let mut inner = self.inner.lock();
        for (mut key, value) in fetched.entries {
            let renumbered = keys::remap_ids(&mut key, |id| {
                fetched
                    .names
                    .get(&id)
                    .map(|name| inner.id_for(&self.store, name))
                    .ok_or(())
            });
            if matches!(renumbered, Some(Ok(_))) {
                inner.data.insert(key, value);
            }
        }
        inner.covered.extend(prefixes);
        Ok(())
    }

    fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
    }
}

impl Inner {
    /// This store's id for `name`, or a per-query one.
    fn id_for(&mut self, store: &Store, name: &str) -> u32 {
        if let Some(id) = store.lookup_predicate(name) {
            return id;
        }
        if let Some(id) = self.virtual_ids.get(name) {
            return *id;
        }
        let id = FIRST_VIRTUAL + self.virtual_ids.len() as u32;
        self.virtual_ids.insert(name.to_string(), id);
        self.virtual_names.insert(id, name.to_string());
        id
    }

    fn is_covered(&self, prefix: &[u8]) -> bool {
        (keys::PRED_PREFIX_LEN..=prefix.len()).any(|n| self.covered.contains(&prefix[..n]))
    }
}

/// One range a reader in another group asks of this store (see [`super::Graph::read_keys`]).
#[derive(Debug, Clone)]
pub struct Asked {
    pub predicate: String,
    pub kind: u32,
    pub prefixes: Vec<Vec<u8>>,
}

/// What this store answers another group's reader.
#[derive(Debug, Default)]
pub struct Answer {
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    pub names: HashMap<u32, String>,
    pub schemas: HashMap<String, Vec<u8>>,
}

impl super::Graph {
    /// Reads `ranges` at `ts` (with `txn`'s own writes) for a query another group runs, and the
    /// schema of `schema_of`. Only posting kinds are read (data, index, reverse, count).
    pub fn read_keys(
        &self,
        ts: u64,
        txn: Option<&super::Txn>,
        ranges: &[Asked],
        schema_of: &[String],
    ) -> Result<Answer, GraphError> {
        let view = self.view(ts, txn);
        let mut answer = Answer::default();
        for r in ranges {
            let kind = u8::try_from(r.kind)
                .ok()
                .and_then(KeyKind::from_byte)
                .filter(|k| {
                    matches!(
                        k,
                        KeyKind::Data | KeyKind::Index | KeyKind::Reverse | KeyKind::Count
                    )
                })
                .ok_or_else(|| {
                    GraphError::Invalid(format!(
                        "key kind {} cannot be read by another group",
                        r.kind
                    ))
                })?;
            let Some(pred) = self.store.lookup_predicate(&r.predicate) else {
                continue;
            };
            let whole = [Vec::new()];
            let prefixes = if r.prefixes.is_empty() {
                &whole[..]
            } else {
                &r.prefixes[..]
            };
            for p in prefixes {
                let mut prefix = keys::prefix(kind, pred);
                prefix.extend_from_slice(p);
                for (k, v) in view.scan(&prefix)? {
                    if let Some((_, offsets)) = keys::interned_ids(&k) {
                        for at in offsets.into_iter().flatten() {
                            if let Some(id) = keys::id_at(&k, at).filter(|id| *id != 0)
                                && !answer.names.contains_key(&id)
                                && let Some(name) = self.store.predicate_name(id)
                            {
                                answer.names.insert(id, name);
                            }
                        }
                    }
                    answer.entries.push((k, v));
                }
            }
        }
        for name in schema_of {
            if let Some(s) = self.predicate(name) {
                let raw = serde_json::to_vec(&s)
                    .map_err(|e| GraphError::Internal(format!("encoding a schema: {e}")))?;
                answer.schemas.insert(name.clone(), raw);
            }
        }
        Ok(answer)
    }
}
