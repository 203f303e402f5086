//! The graph engine of an alpha: schema, transactions, mutations and queries over the MVCC
//! store. The API layer (`crate::api`) turns `api.Dgraph` requests into calls here.
//!
//! Transactions: a transaction reads at its `start_ts` (plus its own pending writes) and
//! buffers its writes; they are kept durably in the meta space until the commit decision,
//! which zero's oracle makes from the transaction's conflict keys. Commits run side by side
//! (zero batches their decisions; the store takes their batches together), and a read at
//! timestamp `t` first waits for the commits under way when it got `t`, so it sees every commit
//! at or below `t`: a commit that starts later gets a commit timestamp above `t`.

pub mod access;
pub mod acl;
pub mod alter;
pub mod backup;
pub mod export;
pub mod handoff;
pub mod log;
pub mod mutate;
pub mod posting;
pub mod query;
pub mod rdf_out;
pub mod remote;
pub mod schema;
mod shape;
pub mod shared;
mod stream;
pub mod view;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod search_tests;

use lodestar_storage::{StorageError, Store, Write};
use lodestar_types::schema::{PredicateSchema, TypeDef};
use parking_lot::{Mutex, RwLock};
use schema::Schema;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use view::View;

/// Meta-space prefix of pending transactions: `[PENDING, start_ts]`.
const PENDING: u8 = b'p';

/// Writes per store batch when many are applied in a row.
const APPLY_CHUNK: usize = 50_000;

/// How a graph's changes reach its store when it is one replica of a group (see [`log`]).
#[tonic::async_trait]
pub trait Replication: Send + Sync + 'static {
    /// Proposes `op` to the group's log; returns once this replica has applied it.
    async fn propose(&self, op: log::Op) -> Result<log::OpReply, GraphError>;
    /// Waits until this replica holds every commit at or below `ts`, so a read at `ts` sees
    /// what the leader would (and that the leader still leads).
    async fn read_barrier(&self, ts: u64) -> Result<(), GraphError>;
}

/// What the graph needs from zero.
#[tonic::async_trait]
pub trait Oracle: Send + Sync + 'static {
    /// `n` fresh timestamps; returns the first.
    async fn timestamps(&self, n: u64) -> Result<u64, GraphError>;
    /// A timestamp at which every decided commit is visible.
    async fn read_ts(&self) -> Result<u64, GraphError>;
    /// Asks for a commit decision: `Ok(Some(commit_ts))`, or `Ok(None)` when aborted. `preds`
    /// are the predicates the transaction writes (zero aborts one writing a moving tablet).
    async fn commit(
        &self,
        start_ts: u64,
        conflict_keys: Vec<u64>,
        preds: Vec<String>,
        abort: bool,
    ) -> Result<Option<u64>, GraphError>;
    /// What became of `start_ts`: `Some(Some(ts))` committed, `Some(None)` aborted, `None` unknown.
    async fn status(&self, start_ts: u64) -> Result<Option<Option<u64>>, GraphError>;
    /// Leases `n` new uids; returns the first.
    async fn uids(&self, n: u64) -> Result<u64, GraphError>;
    /// The highest uid zero has leased to anyone.
    async fn max_uid(&self) -> Result<u64, GraphError>;
    /// The group serving `predicate`, assigned on first use to `group`, or (`group` 0) to the
    /// group zero chooses.
    async fn tablet(&self, predicate: &str, group: u32) -> Result<u32, GraphError>;
}

/// Runs long synchronous work (a scan over every key, a restore's writes) without stalling the
/// runtime: on a multi-threaded runtime the worker thread hands its other tasks (gRPC
/// connections answering keepalive pings among them) to another thread first.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Errors of the graph engine, each mapped to a gRPC code by the API layer.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("{0}")]
    Invalid(String),
    #[error("Transaction has been aborted. Please retry")]
    Aborted,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    /// The predicate's tablet moved (or is moving) between groups: the reader or writer
    /// learns its group again and retries.
    #[error("{0}")]
    Moving(String),
    #[error("{0}")]
    Internal(String),
}

impl GraphError {
    /// What kind of failure this is, for the edge that reports it.
    pub fn code(&self) -> lodestar_runtime::ErrorCode {
        use lodestar_runtime::ErrorCode as C;
        match self {
            GraphError::Invalid(_) => C::InvalidArgument,
            GraphError::Aborted => C::Aborted,
            GraphError::NotFound(_) => C::NotFound,
            GraphError::Unavailable(_) => C::Unavailable,
            GraphError::Moving(_) => C::FailedPrecondition,
            GraphError::Internal(_) => C::Internal,
        }
    }
}

impl From<GraphError> for lodestar_runtime::ServiceError {
    fn from(e: GraphError) -> Self {
        lodestar_runtime::ServiceError::new(e.code(), e.to_string())
    }
}

impl From<StorageError> for GraphError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::TooLarge(m) => GraphError::Invalid(m),
            e => GraphError::Internal(e.to_string()),
        }
    }
}

/// Keys one transaction may write at most. Its conflict keys go to zero in one message and its
/// pending record is one stored value: both stay well inside their limits.
pub const MAX_TXN_KEYS: usize = 2_000_000;
/// Bytes (keys and values) one transaction may write at most.
pub const MAX_TXN_BYTES: usize = 1 << 30;

/// An open transaction's buffered state.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub start_ts: u64,
    /// Data keys → new posting bytes (`None` deletes).
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub conflicts: BTreeSet<u64>,
    pub preds: BTreeSet<String>,
    /// Predicates this transaction defines by using them first.
    pub new_preds: BTreeMap<String, PredicateSchema>,
    /// `@count` entries (predicate, reverse, node) the current mutation may have changed.
    pub counted: BTreeSet<(u32, bool, u64)>,
    /// The count this transaction's writes record for each (predicate, reverse, node) so far.
    pub count_recorded: BTreeMap<(u32, bool, u64), u32>,
    /// Set once a commit or abort has taken the transaction's writes: later mutations are
    /// refused rather than silently left out.
    pub closed: bool,
    /// Whether the pending record holds the writes as they are now (a commit proposes only
    /// what every replica holds a record of).
    pub persisted: bool,
    /// The other groups holding parts of this transaction (this alpha decides it).
    pub groups: BTreeSet<u32>,
    /// The groups that took a part of the request being applied (see
    /// [`Graph::mutate_across`]).
    pub sent: BTreeSet<u32>,
    /// This is one group's part of a transaction decided elsewhere: reads here settle it
    /// with zero before they run (see [`Graph::settle_shared`]).
    pub shared: bool,
}

impl Txn {
    /// The names of the predicates this transaction writes (its `preds` are `<ns>-<name>`).
    pub fn written_preds(&self) -> Vec<String> {
        self.preds
            .iter()
            .map(|p| p.split_once('-').map_or(p.as_str(), |(_, n)| n).to_string())
            .collect()
    }

    pub fn new(start_ts: u64) -> Self {
        Txn {
            start_ts,
            ..Default::default()
        }
    }

    /// A compact encoding for the pending-transaction record.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.start_ts.to_be_bytes());
        out.extend_from_slice(&(self.writes.len() as u64).to_be_bytes());
        for (k, v) in &self.writes {
            put_bytes(&mut out, k);
            match v {
                Some(v) => {
                    out.push(1);
                    put_bytes(&mut out, v);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.conflicts.len() as u64).to_be_bytes());
        for c in &self.conflicts {
            out.extend_from_slice(&c.to_be_bytes());
        }
        let new_preds: Vec<&PredicateSchema> = self.new_preds.values().collect();
        put_bytes(
            &mut out,
            &serde_json::to_vec(&new_preds).expect("schema serializes"),
        );
        let preds: Vec<&String> = self.preds.iter().collect();
        put_bytes(
            &mut out,
            &serde_json::to_vec(&preds).expect("names serialize"),
        );
        out
    }

    fn decode(raw: &[u8]) -> Option<Txn> {
        let mut r = raw;
        let start_ts = take_u64(&mut r)?;
        let mut txn = Txn::new(start_ts);
        for _ in 0..take_u64(&mut r)? {
            let k = take_bytes(&mut r)?;
            let (&flag, rest) = r.split_first()?;
            r = rest;
            let v = if flag == 1 {
                Some(take_bytes(&mut r)?)
            } else {
                None
            };
            txn.writes.insert(k, v);
        }
        for _ in 0..take_u64(&mut r)? {
            txn.conflicts.insert(take_u64(&mut r)?);
        }
        let new_preds: Vec<PredicateSchema> = serde_json::from_slice(&take_bytes(&mut r)?).ok()?;
        txn.new_preds = new_preds.into_iter().map(|p| (p.name.clone(), p)).collect();
        let preds: Vec<String> = serde_json::from_slice(&take_bytes(&mut r)?).ok()?;
        txn.preds = preds.into_iter().collect();
        Some(txn)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

fn take_u64(r: &mut &[u8]) -> Option<u64> {
    let (head, rest) = r.split_at_checked(8)?;
    *r = rest;
    Some(u64::from_be_bytes(head.try_into().ok()?))
}

fn take_bytes(r: &mut &[u8]) -> Option<Vec<u8>> {
    let n = usize::try_from(take_u64(r)?).ok()?;
    let (head, rest) = r.split_at_checked(n)?;
    *r = rest;
    Some(head.to_vec())
}

pub(crate) fn pending_key(start_ts: u64) -> Vec<u8> {
    let mut k = vec![PENDING];
    k.extend_from_slice(&start_ts.to_be_bytes());
    k
}

/// How a transaction ended: its commit timestamp, or why not.
pub type Outcome = Result<u64, GraphError>;

/// Outcomes of recently finished transactions, the newest [`Outcomes::KEEP`].
#[derive(Debug, Default)]
struct Outcomes {
    by_start: HashMap<u64, Outcome>,
    order: std::collections::VecDeque<u64>,
}

impl Outcomes {
    const KEEP: usize = 100_000;

    fn get(&self, start_ts: u64) -> Option<Outcome> {
        self.by_start.get(&start_ts).cloned()
    }

    fn record(&mut self, start_ts: u64, outcome: Outcome) {
        if self.by_start.insert(start_ts, outcome).is_none() {
            self.order.push_back(start_ts);
        }
        while self.order.len() > Self::KEEP {
            if let Some(old) = self.order.pop_front() {
                self.by_start.remove(&old);
            }
        }
    }
}

/// An open transaction and when a request last used it.
struct OpenTxn {
    txn: Arc<tokio::sync::Mutex<Txn>>,
    used: std::time::Instant,
}

/// Dgraph's default `query-edge` limit.
pub const DEFAULT_QUERY_EDGE_LIMIT: usize = 1_000_000;

/// The graph of one alpha.
pub struct Graph {
    /// This graph, for the tasks it spawns (see [`Graph::commit`]).
    me: std::sync::Weak<Graph>,
    pub store: Arc<Store>,
    pub oracle: Arc<dyn Oracle>,
    schema: RwLock<Schema>,
    /// Commits in flight hold it shared (many at once, so zero and the store see them
    /// together); a read takes it exclusively for an instant to wait for those in flight when
    /// it got its timestamp; schema changes and drops hold it exclusively.
    commits: tokio::sync::RwLock<()>,
    /// Open transactions by start_ts.
    txns: Mutex<HashMap<u64, OpenTxn>>,
    /// The group this alpha serves, and the predicates zero has confirmed are ours.
    group: std::sync::atomic::AtomicU32,
    tablets: RwLock<BTreeSet<String>>,
    /// Predicates that moved into or out of this group (see [`handoff`]).
    handoffs: RwLock<HashMap<String, handoff::Handoff>>,
    /// Commits and aborts under way, by start_ts. Each runs in its own task, so a caller that
    /// goes away (a client deadline, a dropped connection) cannot stop a decision from being
    /// applied; a repeated request for the same transaction waits on the same outcome.
    finishing: Mutex<HashMap<u64, tokio::sync::watch::Receiver<Option<Outcome>>>>,
    /// What became of recently finished transactions (including those settled at start), so a
    /// retried commit answers the real outcome.
    outcomes: Mutex<Outcomes>,
    /// Set when a decided commit could not be written: the alpha refuses requests until it is
    /// restarted, which applies the commit from its pending record.
    failed: std::sync::OnceLock<String>,
    /// The highest uid known to be leased (a lower bound of zero's).
    max_uid: std::sync::atomic::AtomicU64,
    /// The highest timestamp written so far, for best-effort reads.
    max_applied: std::sync::atomic::AtomicU64,
    /// How many edges a recursive query may follow and show (Dgraph's `query-edge` limit).
    query_edge_limit: std::sync::atomic::AtomicUsize,
    /// groot and guardians, when ACL is on (see [`acl`]).
    acl_roots: RwLock<Option<acl::AclRoots>>,
    /// The group's log, when this graph is a replica of one; without, changes apply at once.
    replication: std::sync::OnceLock<Arc<dyn Replication>>,
    /// The restore being applied, if any (see [`log::Op::LoadBegin`]).
    loading: Mutex<Option<log::Loading>>,
    /// Meta entries an op asked to write durably while a restore was being loaded: written
    /// when it ends.
    held_applied: Mutex<Vec<Write>>,
    /// Open transactions whose part here is decided by an alpha of another group.
    shared_parts: Mutex<BTreeSet<u64>>,
    /// Where the predicates of other groups are read (none for a graph on its own).
    remote: std::sync::OnceLock<Arc<dyn remote::RemoteSource>>,
    /// Transactions whose commit this leader proposed, so applying it here need not decode the
    /// pending record again.
    prepared: Mutex<HashMap<u64, Arc<Txn>>>,
    /// A timestamp taken when this graph last took over: a transaction that started before it
    /// and is not open here was left by a crash or by the group's previous leader, and was
    /// settled; it takes no more writes.
    fence: std::sync::atomic::AtomicU64,
    /// Predicate rules, reloaded after ACL data changes (see [`access`]).
    rule_cache: access::RuleCache,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("store", &self.store).finish()
    }
}

impl Graph {
    /// Opens the graph over `store` as one replica of a group: loads the schema and takes back
    /// a restore a crash cut off. Changes wait for [`Graph::replicate`]; the group's leader
    /// runs [`Graph::take_over`].
    pub fn open_replica(
        store: Arc<Store>,
        oracle: Arc<dyn Oracle>,
    ) -> Result<Arc<Graph>, GraphError> {
        let schema = Schema::default();
        let graph = Arc::new_cyclic(|me| Graph {
            me: me.clone(),
            store,
            oracle,
            schema: RwLock::new(schema),
            commits: tokio::sync::RwLock::new(()),
            txns: Mutex::default(),
            group: std::sync::atomic::AtomicU32::new(1),
            tablets: RwLock::default(),
            handoffs: RwLock::default(),
            finishing: Mutex::default(),
            outcomes: Mutex::default(),
            failed: std::sync::OnceLock::new(),
            max_applied: std::sync::atomic::AtomicU64::new(0),
            query_edge_limit: std::sync::atomic::AtomicUsize::new(DEFAULT_QUERY_EDGE_LIMIT),
            max_uid: std::sync::atomic::AtomicU64::new(0),
            acl_roots: RwLock::default(),
            rule_cache: access::RuleCache::new(),
            replication: std::sync::OnceLock::new(),
            loading: Mutex::default(),
            held_applied: Mutex::default(),
            remote: std::sync::OnceLock::new(),
            shared_parts: Mutex::default(),
            prepared: Mutex::default(),
            fence: std::sync::atomic::AtomicU64::new(0),
        });
        graph.undo_unfinished_restore()?;
        *graph.schema.write() = Schema::load(&graph.store, &graph.store.snapshot(), u64::MAX)?;
        Ok(graph)
    }

    /// Opens the graph of a store of its own (no group): as [`Graph::open_replica`], then it
    /// settles transactions left pending by a crash and adds the reserved predicates if
    /// missing.
    pub async fn open(
        store: Arc<Store>,
        oracle: Arc<dyn Oracle>,
    ) -> Result<Arc<Graph>, GraphError> {
        let graph = Self::open_replica(store, oracle)?;
        graph.take_over().await?;
        Ok(graph)
    }

    /// What a graph does before it takes writes: it settles the transactions a crash or the
    /// previous leader of its group left pending (asking zero what became of each), and adds
    /// the reserved predicates if missing. With ACL on, the caller then makes sure of groot
    /// and guardians.
    pub async fn take_over(&self) -> Result<(), GraphError> {
        self.txns.lock().clear();
        self.settle_pending().await?;
        let fence = self.oracle.timestamps(1).await?;
        self.fence.store(fence, std::sync::atomic::Ordering::SeqCst);
        let (preds, types) = self.schema.read().missing_reserved();
        if !preds.is_empty() || !types.is_empty() {
            self.write_schema(preds, types, Vec::new(), Vec::new())
                .await?;
        }
        Ok(())
    }

    /// Asks zero where predicates are served before the next read (a tablet moved).
    pub fn forget_tablets(&self) {
        if let Some(source) = self.remote.get() {
            source.forget_tablets();
        }
    }

    /// Lets queries read the predicates other groups serve through `source`.
    pub fn read_other_groups(&self, source: Arc<dyn remote::RemoteSource>) {
        let _ = self.remote.set(source);
    }

    /// What `query` needs to read the predicates other groups serve at `read_ts` (as the
    /// transaction `start_ts`), or `None` when it reads none.
    pub async fn remote_reads(
        &self,
        query: &lodestar_dql::Query,
        read_ts: u64,
        start_ts: u64,
    ) -> Result<Option<remote::RemoteReads>, GraphError> {
        let Some(source) = self.remote.get() else {
            return Ok(None);
        };
        let mut names = query::query_predicates(query);
        // expand() reads the predicates of types: every one that may be expanded.
        let (all, types) = query::expanded_types(query);
        if all || !types.is_empty() {
            let schema = self.schema();
            for (name, t) in &schema.types {
                if all || types.contains(name) {
                    names.extend(
                        t.fields
                            .iter()
                            .map(|f| f.trim_start_matches('~').to_string()),
                    );
                }
            }
            names.sort();
            names.dedup();
        }
        source.resolve(names.clone()).await?;
        let mine = source.my_group();
        for name in &names {
            if source.group_of(name).is_none_or(|g| g == mine) {
                self.check_readable(name, read_ts)?;
            }
        }
        if !names
            .iter()
            .any(|n| source.group_of(n).is_some_and(|g| g != mine))
        {
            return Ok(None);
        }
        Ok(Some(remote::RemoteReads::new(
            source.clone(),
            self.store.clone(),
            read_ts,
            start_ts,
        )))
    }

    /// After a query at `read_ts` ran: refuses it if this group let go of a predicate it read
    /// here meanwhile (see [`handoff`]).
    pub fn check_still_served(
        &self,
        query: &lodestar_dql::Query,
        read_ts: u64,
    ) -> Result<(), GraphError> {
        let Some(source) = self.remote.get() else {
            return Ok(());
        };
        if self.handoffs.read().is_empty() {
            return Ok(());
        }
        let mine = source.my_group();
        for name in query::query_predicates(query) {
            if source.group_of(&name).is_none_or(|g| g == mine) {
                self.check_readable(&name, read_ts)?;
            }
        }
        Ok(())
    }

    /// Joins this graph to its group's log: from now on every change goes through it.
    pub fn replicate(&self, replication: Arc<dyn Replication>) {
        let _ = self.replication.set(replication);
    }

    /// Whether this graph is one replica of a group.
    pub fn replicated(&self) -> bool {
        self.replication.get().is_some()
    }

    /// This replica no longer leads its group: the transactions it held open are settled by
    /// the next leader from their pending records, so they are forgotten here (a client's
    /// commit reaches the new leader, which answers the outcome zero recorded).
    pub fn step_down(&self) {
        self.txns.lock().clear();
    }

    /// Sets the group this alpha serves (from zero, when it joins).
    /// How many edges a recursive query may follow and show, at most.
    pub fn set_query_edge_limit(&self, edges: usize) {
        self.query_edge_limit
            .store(edges, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn query_edge_limit(&self) -> usize {
        self.query_edge_limit
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_group(&self, group: u32) {
        self.group
            .store(group, std::sync::atomic::Ordering::Relaxed);
    }

    /// Learns from zero which group serves each predicate (zero assigns a group on first use)
    /// and interns the ones this alpha's group serves; answers the others with their groups.
    pub async fn claim_tablets(
        &self,
        names: Vec<String>,
    ) -> Result<BTreeMap<String, u32>, GraphError> {
        let group = self.group.load(std::sync::atomic::Ordering::Relaxed);
        let mut elsewhere = BTreeMap::new();
        let mut here = Vec::new();
        for name in names {
            if self.tablets.read().contains(&name) {
                here.push(name);
                continue;
            }
            if name.len() > lodestar_types::schema::MAX_NAME_LEN {
                return Err(GraphError::Invalid(format!(
                    "a predicate name of {} bytes is longer than the {} allowed",
                    name.len(),
                    lodestar_types::schema::MAX_NAME_LEN
                )));
            }
            // Zero picks the group of a new tablet (the one holding the least data).
            let serving = self.oracle.tablet(&name, 0).await?;
            if serving != group {
                elsewhere.insert(name, serving);
                continue;
            }
            // Zero still says this group while a move lets go of the predicate here.
            self.check_writable(&name)?;
            self.tablets.write().insert(name.clone());
            here.push(name);
        }
        self.intern(here).await?;
        Ok(elsewhere)
    }

    /// This alpha's group.
    pub fn group(&self) -> u32 {
        self.group.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The bytes each predicate takes in this store: the keys and latest values of its data,
    /// index, reverse and count entries. Reads every such entry: callers space the calls out.
    pub fn tablet_sizes(&self) -> Result<HashMap<String, i64>, GraphError> {
        use lodestar_storage::keys::{self, KeyKind};
        let snap = self.store.snapshot();
        let mut by_id: HashMap<u32, i64> = HashMap::new();
        for kind in [
            KeyKind::Data,
            KeyKind::Index,
            KeyKind::Reverse,
            KeyKind::Count,
        ] {
            for item in snap.scan_prefix_at(&[kind as u8], u64::MAX) {
                let (k, v) = item?;
                if let Some(parsed) = keys::parse(&k) {
                    *by_id.entry(parsed.pred).or_default() += (k.len() + v.len()) as i64;
                }
            }
        }
        Ok(by_id
            .into_iter()
            .filter_map(|(id, n)| Some((self.store.predicate_name(id)?, n)))
            .filter(|(name, _)| !name.starts_with('\0'))
            .collect())
    }

    /// The current schema.
    pub fn schema(&self) -> Schema {
        self.schema.read().clone()
    }

    pub fn predicate(&self, name: &str) -> Option<PredicateSchema> {
        self.schema.read().preds.get(name).cloned()
    }

    /// Waits until every commit under way has been applied.
    pub async fn settle(&self) {
        drop(self.commits.write().await);
    }

    /// Waits until a read at `ts` sees every commit at or below it: the commits under way
    /// here, and on a replica of a group whatever its leader has applied.
    pub async fn settle_for(&self, ts: u64) -> Result<(), GraphError> {
        match self.replication.get() {
            Some(r) => r.read_barrier(ts).await,
            None => {
                self.settle().await;
                self.settle_shared(ts).await
            }
        }
    }

    /// A fresh read timestamp with everything committed below it applied.
    pub async fn read_ts(&self) -> Result<u64, GraphError> {
        let ts = self.oracle.read_ts().await?;
        self.settle_for(ts).await?;
        Ok(ts)
    }

    /// The highest uid this alpha knows to be leased.
    pub fn max_leased_uid(&self) -> u64 {
        self.max_uid.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes that zero has leased every uid up to `uid`.
    pub fn uid_leased(&self, uid: u64) {
        self.max_uid
            .fetch_max(uid, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records that everything up to `ts` is written.
    fn applied_up_to(&self, ts: u64) {
        self.max_applied
            .fetch_max(ts, std::sync::atomic::Ordering::Relaxed);
    }

    /// A timestamp for a best-effort read: the newest this alpha has applied, without asking
    /// zero (the read may miss commits this alpha has not heard of yet, as in Dgraph).
    pub async fn best_effort_ts(&self) -> Result<u64, GraphError> {
        match self.max_applied.load(std::sync::atomic::Ordering::Relaxed) {
            0 => self.read_ts().await,
            ts => Ok(ts),
        }
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<u64, GraphError> {
        let ts = self.oracle.timestamps(1).await?;
        self.settle_for(ts).await?;
        Ok(ts)
    }

    /// The open transaction `start_ts` if it has written anything on this alpha.
    pub fn existing_txn(&self, start_ts: u64) -> Option<Arc<tokio::sync::Mutex<Txn>>> {
        self.txns.lock().get_mut(&start_ts).map(|open| {
            open.used = std::time::Instant::now();
            open.txn.clone()
        })
    }

    /// Aborts open transactions no request has used for `idle`: a client that never commits
    /// nor discards must not hold memory and pending records forever. Returns how many.
    pub async fn expire_idle(&self, idle: std::time::Duration) -> Result<usize, GraphError> {
        let expired: Vec<u64> = self
            .txns
            .lock()
            .iter()
            .filter(|(_, open)| open.used.elapsed() >= idle)
            .map(|(ts, _)| *ts)
            .collect();
        for &ts in &expired {
            tracing::info!(
                start_ts = ts,
                idle_secs = idle.as_secs(),
                "aborting an idle transaction"
            );
            self.abort(ts).await?;
        }
        Ok(expired.len())
    }

    /// Forgets an open transaction that never reached zero and wrote nothing (a read-only
    /// one, a failed `commit_now` request).
    pub fn forget(&self, start_ts: u64) {
        self.txns.lock().remove(&start_ts);
    }

    /// The open transaction `start_ts`, creating the record if this alpha has none (a client
    /// may send a start_ts it got from another request). A transaction already committed or
    /// aborted (or being so) takes no more writes.
    pub fn txn(&self, start_ts: u64) -> Result<Arc<tokio::sync::Mutex<Txn>>, GraphError> {
        let finishing = self.finishing.lock();
        let finished = self.outcomes.lock().get(start_ts);
        if finishing.contains_key(&start_ts) || finished.is_some() {
            return Err(GraphError::Invalid(format!(
                "the transaction with start_ts {start_ts} is already {}; start a new transaction",
                match finished {
                    Some(Ok(_)) => "committed",
                    Some(Err(_)) => "aborted",
                    None => "being committed",
                }
            )));
        }
        let mut txns = self.txns.lock();
        if !txns.contains_key(&start_ts)
            && start_ts < self.fence.load(std::sync::atomic::Ordering::SeqCst)
        {
            // Its earlier writes were settled when this alpha took over (aborted, unless zero
            // had committed them): going on would commit the rest alone.
            return Err(GraphError::Aborted);
        }
        let open = txns.entry(start_ts).or_insert_with(|| OpenTxn {
            txn: Arc::new(tokio::sync::Mutex::new(Txn::new(start_ts))),
            used: std::time::Instant::now(),
        });
        open.used = std::time::Instant::now();
        Ok(open.txn.clone())
    }

    /// A read view at `ts` with `txn`'s writes on top.
    pub fn view<'a>(&self, ts: u64, txn: Option<&'a Txn>) -> View<'a> {
        View::new(self.store.snapshot(), ts, txn.map(|t| &t.writes))
    }

    /// Keeps `txn`'s writes until its commit decision, on every replica of the group (so a
    /// new leader can settle it): durably for a transaction the client commits later; a graph
    /// without a group need not wait for the disk for one committed at once (`commit_now`),
    /// whose client learns nothing until the commit is applied.
    pub async fn persist_pending(&self, txn: &mut Txn, durable: bool) -> Result<(), GraphError> {
        let meta = vec![Write::put(pending_key(txn.start_ts), txn.encode())];
        self.propose(log::write_op(
            0,
            Vec::new(),
            meta,
            log::Effects::default(),
            durable,
        ))
        .await?;
        txn.persisted = true;
        Ok(())
    }

    /// Removes a pending record (an aborted or empty transaction).
    async fn drop_pending(&self, start_ts: u64, durable: bool) -> Result<(), GraphError> {
        let meta = vec![Write::delete(pending_key(start_ts))];
        self.propose(log::write_op(
            0,
            Vec::new(),
            meta,
            log::Effects::default(),
            durable,
        ))
        .await
        .map(|_| ())
    }

    /// Makes this alpha refuse every request from now on, with `why` (its group's Raft stopped,
    /// say: nothing it holds can be trusted to be current).
    pub fn fail(&self, why: String) {
        tracing::error!("{why}");
        let _ = self.failed.set(why);
    }

    /// Why this alpha refuses requests, if a decided commit could not be written.
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// Commits `start_ts`: zero decides, then the writes are applied at the commit timestamp.
    /// Idempotent: asking again (a client retry, a second connection) answers the same
    /// outcome, and a caller that goes away does not stop the commit.
    pub async fn commit(&self, start_ts: u64) -> Result<u64, GraphError> {
        self.finish(start_ts, false).await
    }

    /// Aborts `start_ts` unless zero already committed it, in which case the commit is applied
    /// and its timestamp returned (`Some`).
    pub async fn abort(&self, start_ts: u64) -> Result<Option<u64>, GraphError> {
        match self.finish(start_ts, true).await {
            Ok(commit_ts) => Ok(Some(commit_ts)),
            Err(GraphError::Aborted) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ends a transaction (see [`Graph::commit`]).
    async fn finish(&self, start_ts: u64, abort: bool) -> Outcome {
        if let Some(why) = self.failure() {
            return Err(GraphError::Unavailable(why.to_string()));
        }
        let under_way = {
            let mut finishing = self.finishing.lock();
            if let Some(outcome) = self.outcomes.lock().get(start_ts) {
                return outcome;
            }
            match finishing.get(&start_ts) {
                Some(rx) => Some(rx.clone()),
                None => {
                    let Some(me) = self.me.upgrade() else {
                        return Err(GraphError::Unavailable("the alpha is stopping".into()));
                    };
                    let open = self.txns.lock().remove(&start_ts);
                    open.map(|open| {
                        let (tx, rx) = tokio::sync::watch::channel(None);
                        finishing.insert(start_ts, rx.clone());
                        tokio::spawn(me.decide(start_ts, open.txn, abort, tx));
                        rx
                    })
                }
            }
        };
        if let Some(mut rx) = under_way {
            return match rx.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone().unwrap_or(Err(GraphError::Aborted)),
                Err(_) => Err(GraphError::Unavailable(
                    "the alpha is stopping; the transaction's outcome is settled when it starts again"
                        .into(),
                )),
            };
        }
        // Nothing open here: the transaction wrote nothing on this alpha, or it ended before a
        // restart. Zero remembers every decision.
        if abort {
            return match self
                .oracle
                .commit(start_ts, Vec::new(), Vec::new(), true)
                .await?
            {
                Some(commit_ts) => Ok(commit_ts),
                None => Err(GraphError::Aborted),
            };
        }
        match self.oracle.status(start_ts).await? {
            Some(Some(commit_ts)) => Ok(commit_ts),
            Some(None) => Err(GraphError::Aborted),
            // Nothing was written in this transaction: it commits trivially.
            None => Ok(start_ts),
        }
    }

    /// The task behind [`Graph::finish`]: takes the decision and applies it, then publishes
    /// the outcome. When zero could not be reached the decision is unknown: the transaction
    /// stays open (its pending record too), so a retry asks again and gets the same answer.
    async fn decide(
        self: Arc<Self>,
        start_ts: u64,
        txn: Arc<tokio::sync::Mutex<Txn>>,
        abort: bool,
        done: tokio::sync::watch::Sender<Option<Outcome>>,
    ) {
        let snapshot = {
            let mut open = txn.lock().await;
            open.closed = true;
            open.clone()
        };
        let outcome = self.decide_txn(&snapshot, abort).await;
        let known = matches!(outcome, Ok(_) | Err(GraphError::Aborted));
        if !known {
            txn.lock().await.closed = false;
        }
        {
            let mut finishing = self.finishing.lock();
            if known {
                self.outcomes.lock().record(start_ts, outcome.clone());
            } else {
                self.txns.lock().insert(
                    start_ts,
                    OpenTxn {
                        txn,
                        used: std::time::Instant::now(),
                    },
                );
            }
            finishing.remove(&start_ts);
        }
        let _ = done.send(Some(outcome));
    }

    async fn decide_txn(&self, txn: &Txn, abort: bool) -> Outcome {
        if !txn.groups.is_empty() {
            return self.decide_across(txn, abort).await;
        }
        if !abort && txn.writes.is_empty() && txn.new_preds.is_empty() {
            // Nothing to write: it commits trivially.
            self.drop_pending(txn.start_ts, false).await?;
            return Ok(txn.start_ts);
        }
        if !abort && !txn.persisted {
            // Written without a pending record (the ACL bootstrap, say): every replica needs
            // one before the commit is decided, or a new leader could not settle it.
            self.persist_pending(&mut txn.clone(), true).await?;
        }
        let _apply = self.commits.read().await;
        let conflicts = txn.conflicts.iter().copied().collect();
        match self
            .oracle
            .commit(txn.start_ts, conflicts, txn.written_preds(), abort)
            .await?
        {
            Some(commit_ts) => {
                self.apply_decided(txn, commit_ts).await?;
                Ok(commit_ts)
            }
            None => {
                self.drop_pending(txn.start_ts, true).await?;
                Err(GraphError::Aborted)
            }
        }
    }

    /// Decides a transaction with parts in other groups (see [`shared`]): their keys, one
    /// decision at zero, this group's part applied, then theirs. A group that cannot be told
    /// settles its part with zero itself.
    async fn decide_across(&self, txn: &Txn, abort: bool) -> Outcome {
        let source = self.remote.get().ok_or_else(|| {
            GraphError::Internal("a transaction across groups on an alpha without a cluster".into())
        })?;
        let mut conflicts: BTreeSet<u64> = txn.conflicts.clone();
        let mut abort = abort;
        if !abort {
            let asks = txn.groups.iter().map(|g| source.prepare(*g, txn.start_ts));
            for (g, keys) in txn.groups.iter().zip(futures::future::join_all(asks).await) {
                match keys {
                    Ok(keys) => conflicts.extend(keys),
                    Err(e) => {
                        tracing::warn!(group = g, start_ts = txn.start_ts, error = %e, "a group could not prepare its part; aborting");
                        abort = true;
                    }
                }
            }
        }
        if !abort && !txn.persisted {
            self.persist_pending(&mut txn.clone(), true).await?;
        }
        let decision = {
            let _apply = self.commits.read().await;
            let decision = self
                .oracle
                .commit(
                    txn.start_ts,
                    conflicts.into_iter().collect(),
                    txn.written_preds(),
                    abort,
                )
                .await?;
            match decision {
                Some(commit_ts) => self.apply_decided(txn, commit_ts).await?,
                None => self.drop_pending(txn.start_ts, true).await?,
            }
            decision
        };
        let tells = txn
            .groups
            .iter()
            .map(|g| source.decide(*g, txn.start_ts, decision.unwrap_or(0)));
        for (g, told) in txn
            .groups
            .iter()
            .zip(futures::future::join_all(tells).await)
        {
            if let Err(e) = told {
                tracing::warn!(group = g, start_ts = txn.start_ts, error = %e, "a group was not told the outcome; it settles its part with zero");
            }
        }
        decision.ok_or(GraphError::Aborted)
    }

    /// Applies a commit zero has decided. Input was checked when it was buffered, so only the
    /// store itself can fail here; then the alpha stops serving (its pending record stays, and
    /// the next start applies it) rather than answer reads that miss a decided commit. A
    /// replica that stopped leading its group while the commit was proposed answers
    /// Unavailable: the group's new leader settles the transaction from its pending record,
    /// and a retried commit learns the outcome there.
    async fn apply_decided(&self, txn: &Txn, commit_ts: u64) -> Result<(), GraphError> {
        self.prepared
            .lock()
            .insert(txn.start_ts, Arc::new(txn.clone()));
        let applied = self
            .propose(log::Op::Commit(vec![(txn.start_ts, commit_ts)]))
            .await;
        self.prepared.lock().remove(&txn.start_ts);
        match applied {
            Ok(_) => Ok(()),
            Err(e @ GraphError::Unavailable(_)) if self.replicated() => Err(e),
            Err(e) => {
                let why = format!(
                    "the commit of transaction {} at {commit_ts} was decided but could not be written ({e}); this alpha refuses requests until it is restarted, which applies it",
                    txn.start_ts
                );
                tracing::error!("{why}");
                let _ = self.failed.set(why.clone());
                Err(GraphError::Unavailable(why))
            }
        }
    }

    /// Settles every pending transaction this replica holds a record of: applies those zero
    /// committed and drops the rest, recording an abort with zero for those it never decided
    /// (so a commit request still under way elsewhere is refused).
    async fn settle_pending(&self) -> Result<(), GraphError> {
        for txn in self.pending_records()? {
            let decided = match self.oracle.status(txn.start_ts).await? {
                Some(d) => d,
                None => {
                    self.oracle
                        .commit(txn.start_ts, Vec::new(), Vec::new(), true)
                        .await?
                }
            };
            match decided {
                Some(commit_ts) => {
                    tracing::info!(
                        start_ts = txn.start_ts,
                        commit_ts,
                        "applying a commit decided before this replica took over"
                    );
                    self.propose(log::Op::Commit(vec![(txn.start_ts, commit_ts)]))
                        .await?;
                    self.outcomes.lock().record(txn.start_ts, Ok(commit_ts));
                }
                None => {
                    tracing::info!(
                        start_ts = txn.start_ts,
                        "dropping a transaction aborted before this replica took over"
                    );
                    self.drop_pending(txn.start_ts, true).await?;
                    self.outcomes
                        .lock()
                        .record(txn.start_ts, Err(GraphError::Aborted));
                }
            }
        }
        Ok(())
    }

    /// Stores schema changes (and drops) at a fresh timestamp.
    pub async fn write_schema(
        &self,
        preds: Vec<PredicateSchema>,
        types: Vec<TypeDef>,
        drop_preds: Vec<String>,
        drop_types: Vec<String>,
    ) -> Result<u64, GraphError> {
        self.intern(
            preds
                .iter()
                .map(|p| p.name.clone())
                .chain(drop_preds.iter().cloned())
                .chain(types.iter().map(|t| schema::type_dict_name(&t.name)))
                .chain(drop_types.iter().map(|t| schema::type_dict_name(t))),
        )
        .await?;
        let _apply = self.commits.write().await;
        let ts = self.oracle.timestamps(1).await?;
        let mut writes = Vec::new();
        for p in &preds {
            writes.push(Schema::pred_write(&self.store, p)?);
        }
        for t in &types {
            writes.push(Schema::type_write(&self.store, t)?);
        }
        for p in &drop_preds {
            writes.push(Schema::pred_delete(&self.store, p)?);
        }
        for t in &drop_types {
            writes.push(Schema::type_delete(&self.store, t)?);
        }
        let effects = log::Effects {
            schema: true,
            acl: true,
            tablets: false,
        };
        self.propose(log::write_op(ts, writes, Vec::new(), effects, true))
            .await?;
        Ok(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_records_round_trip() {
        let mut t = Txn::new(42);
        t.writes.insert(vec![1, 2, 3], Some(vec![9]));
        t.writes.insert(vec![4], None);
        t.conflicts.insert(77);
        t.preds.insert("name".into());
        t.new_preds.insert(
            "name".into(),
            PredicateSchema::new("name", lodestar_types::value::ScalarType::String),
        );
        let back = Txn::decode(&t.encode()).unwrap();
        assert_eq!(back.start_ts, 42);
        assert_eq!(back.writes, t.writes);
        assert_eq!(back.conflicts, t.conflicts);
        assert_eq!(back.preds, t.preds);
        assert_eq!(back.new_preds, t.new_preds);
        assert!(Txn::decode(&t.encode()[..10]).is_none());
    }
}
