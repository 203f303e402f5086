//! The other groups as one alpha sees them: which group serves each predicate (zero's tablet
//! map, cached) and where their members are, so queries can read what other groups serve
//! ([`crate::graph::remote`]).

use crate::graph::GraphError;
use crate::graph::remote::{Fetched, Range, RemoteSource};
use lodestar_backup::record::Record;
use lodestar_client::ZeroClient;
use lodestar_proto::worker::worker_client::WorkerClient;
use lodestar_proto::worker::{
    AlterPartRequest, KeyRange, MutatePartRequest, ReadKeysRequest, SendTabletRequest,
    TxnPartRequest,
};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a call meant for a group's leader keeps trying while the group elects one.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// How long the members of the other groups are known without asking zero again.
const MEMBERS_FRESH: Duration = Duration::from_secs(2);

/// How long zero's tablet map is used without asking again in a cluster of several groups: a
/// tablet that moved between two other groups is found by then even without a refusal. (A
/// move into or out of this alpha's own group makes it forget the map when it applies.)
const TABLETS_FRESH: Duration = Duration::from_secs(2);

/// Group → member addresses, leader first.
type Members = HashMap<u32, Vec<String>>;

/// The cluster seen from one alpha.
pub struct Cluster {
    zero: Arc<ZeroClient>,
    group: u32,
    /// Predicate → group, as zero last said, and when.
    tablets: RwLock<HashMap<String, u32>>,
    tablets_at: Mutex<Option<Instant>>,
    /// Group → member addresses (leader first), and when zero said so.
    members: Mutex<(Members, Option<Instant>)>,
    channels: Mutex<HashMap<String, lodestar_client::TracedChannel>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("group", &self.group)
            .finish()
    }
}

impl Cluster {
    pub fn new(zero: Arc<ZeroClient>, group: u32) -> Arc<Cluster> {
        Arc::new(Cluster {
            zero,
            group,
            tablets: RwLock::default(),
            tablets_at: Mutex::default(),
            members: Mutex::default(),
            channels: Mutex::default(),
        })
    }

    /// Learns from zero which group serves each of `names` not known yet (a predicate no
    /// group serves is asked again next time: it may be created meanwhile).
    async fn learn(&self, names: Vec<String>) -> Result<(), GraphError> {
        // A map forgotten, or too old where there are other groups, is asked for again, and
        // replaced whole once zero answers: readers meanwhile use the old one. With one group
        // no query pays for asking.
        let several = self.members.lock().0.len() > 1;
        let stale = self
            .tablets_at
            .lock()
            .is_none_or(|at| several && at.elapsed() >= TABLETS_FRESH);
        let unknown = {
            let tablets = self.tablets.read();
            names.iter().any(|n| !tablets.contains_key(n))
        };
        if !unknown && !stale {
            return Ok(());
        }
        let state = match self.zero.state().await {
            Ok(s) => s,
            // A cluster of one group reads everything here: a zero out of reach for a moment
            // does not fail its queries.
            Err(_) if self.members.lock().0.len() <= 1 => return Ok(()),
            Err(e) => return Err(unreachable_zero(e)),
        };
        let mut tablets = HashMap::new();
        for (g, group) in &state.groups {
            for pred in group.tablets.keys() {
                tablets.insert(pred.clone(), *g);
            }
        }
        *self.tablets.write() = tablets;
        *self.tablets_at.lock() = Some(Instant::now());
        *self.members.lock() = (members_of(&state), Some(Instant::now()));
        Ok(())
    }

    /// The members of `group`, leader first.
    async fn members(&self, group: u32, refresh: bool) -> Result<Vec<String>, GraphError> {
        {
            let members = self.members.lock();
            let fresh = members.1.is_some_and(|at| at.elapsed() < MEMBERS_FRESH);
            if let (Some(m), true, false) = (members.0.get(&group), fresh, refresh) {
                return Ok(m.clone());
            }
        }
        let state = self.zero.state().await.map_err(unreachable_zero)?;
        let members = members_of(&state);
        let found = members.get(&group).cloned().unwrap_or_default();
        *self.members.lock() = (members, Some(Instant::now()));
        Ok(found)
    }

    /// Calls `call` on the leader of `group`, trying the other members (and zero's latest
    /// word on them) while the group elects one.
    async fn on_leader<T, F, Fut>(&self, group: u32, what: &str, call: F) -> Result<T, GraphError>
    where
        F: Fn(WorkerClient<lodestar_client::TracedChannel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.on_members(group, what, LEADER_WAIT, call).await
    }

    /// Calls `call` on the members of `group`, leader first, until one answers: once over
    /// the members known, then over zero's latest word on them, again every 100 ms until
    /// `wait` has passed. A refusal of the input (InvalidArgument) or an abort is final.
    async fn on_members<T, F, Fut>(
        &self,
        group: u32,
        what: &str,
        wait: Duration,
        call: F,
    ) -> Result<T, GraphError>
    where
        F: Fn(WorkerClient<lodestar_client::TracedChannel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + wait;
        let mut last = String::from("zero lists no live member");
        let mut refresh = false;
        loop {
            for addr in self.members(group, refresh).await? {
                let reply = match self.worker(&addr) {
                    Ok(w) => call(w).await,
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
                match reply {
                    Ok(r) => return Ok(r.into_inner()),
                    Err(s) if s.code() == tonic::Code::InvalidArgument => {
                        return Err(GraphError::Invalid(s.message().to_string()));
                    }
                    Err(s) if s.code() == tonic::Code::Aborted => return Err(GraphError::Aborted),
                    // The group does not serve what was asked (a tablet moved): the caller
                    // learns the tablet map again.
                    Err(s) if s.code() == tonic::Code::FailedPrecondition => {
                        self.forget_tablets();
                        return Err(GraphError::Moving(s.message().to_string()));
                    }
                    Err(s) => last = format!("{addr}: {}", s.message()),
                }
            }
            if refresh {
                if Instant::now() >= deadline {
                    return Err(GraphError::Unavailable(format!(
                        "{what} in group {group} failed: {last}"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            refresh = true;
        }
    }

    fn worker(
        &self,
        addr: &str,
    ) -> Result<WorkerClient<lodestar_client::TracedChannel>, GraphError> {
        let mut channels = self.channels.lock();
        let channel = match channels.get(addr) {
            Some(c) => c.clone(),
            None => {
                let c = lodestar_client::traced_channel(addr).map_err(|e| {
                    GraphError::Internal(format!("a channel to {addr}: {}", e.message()))
                })?;
                channels.insert(addr.to_string(), c.clone());
                c
            }
        };
        Ok(WorkerClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX))
    }
}

fn unreachable_zero(status: tonic::Status) -> GraphError {
    GraphError::Unavailable(format!(
        "asking zero where predicates are served: {}",
        status.message()
    ))
}

fn members_of(state: &lodestar_proto::zero::MembershipState) -> Members {
    state
        .groups
        .iter()
        .map(|(g, group)| {
            let mut members: Vec<_> = group.members.values().filter(|m| !m.am_dead).collect();
            members.sort_by_key(|m| (!m.leader, m.id));
            (*g, members.into_iter().map(|m| m.addr.clone()).collect())
        })
        .collect()
}

#[tonic::async_trait]
impl RemoteSource for Cluster {
    fn my_group(&self) -> u32 {
        self.group
    }

    async fn resolve(&self, names: Vec<String>) -> Result<(), GraphError> {
        self.learn(names).await
    }

    fn forget_tablets(&self) {
        *self.tablets_at.lock() = None;
    }

    async fn groups(&self) -> Result<Vec<u32>, GraphError> {
        self.members(self.group, false).await?;
        let mut groups: Vec<u32> = self.members.lock().0.keys().copied().collect();
        groups.sort_unstable();
        Ok(groups)
    }

    fn group_of(&self, predicate: &str) -> Option<u32> {
        self.tablets.read().get(predicate).copied()
    }

    async fn mutate(
        &self,
        group: u32,
        start_ts: u64,
        part: Vec<u8>,
    ) -> Result<(Vec<u64>, Vec<String>), GraphError> {
        let req = MutatePartRequest {
            start_ts,
            group_id: group,
            part,
        };
        let r = self
            .on_leader(group, "a mutation's part", |mut w| {
                let req = req.clone();
                async move { w.mutate(req).await }
            })
            .await?;
        Ok((r.keys, r.preds))
    }

    async fn alter(&self, group: u32, schema: String) -> Result<(), GraphError> {
        let req = AlterPartRequest {
            group_id: group,
            schema,
            drop: String::new(),
        };
        self.on_leader(group, "a schema change", |mut w| {
            let req = req.clone();
            async move { w.alter(req).await }
        })
        .await
        .map(|_| ())
    }

    async fn apply_drop(&self, group: u32, drop: String) -> Result<(), GraphError> {
        let req = AlterPartRequest {
            group_id: group,
            schema: String::new(),
            drop,
        };
        self.on_leader(group, "a drop", |mut w| {
            let req = req.clone();
            async move { w.alter(req).await }
        })
        .await
        .map(|_| ())
    }

    async fn prepare(&self, group: u32, start_ts: u64) -> Result<Vec<u64>, GraphError> {
        let req = TxnPartRequest {
            start_ts,
            group_id: group,
            commit_ts: 0,
        };
        let r = self
            .on_leader(group, "preparing a commit", |mut w| async move {
                w.prepare(req).await
            })
            .await?;
        Ok(r.keys)
    }

    async fn decide(&self, group: u32, start_ts: u64, commit_ts: u64) -> Result<u64, GraphError> {
        let req = TxnPartRequest {
            start_ts,
            group_id: group,
            commit_ts,
        };
        let r = self
            .on_leader(group, "applying a commit", |mut w| async move {
                w.decide(req).await
            })
            .await?;
        Ok(r.commit_ts)
    }

    async fn fetch_tablet(
        &self,
        group: u32,
        predicate: String,
        since: u64,
        read_ts: u64,
        tx: tokio::sync::mpsc::Sender<Result<Record, GraphError>>,
    ) {
        let req = SendTabletRequest {
            predicate,
            group_id: group,
            since_ts: since,
            read_ts,
        };
        // Any member that has applied read_ts streams it; the first to answer does.
        let stream = self
            .on_members(group, "streaming a tablet", LEADER_WAIT, |mut w| {
                let req = req.clone();
                async move { w.send_tablet(req).await }
            })
            .await;
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        loop {
            let item = match stream.message().await {
                Ok(Some(batch)) => Ok(Record::from(batch)),
                Ok(None) => return,
                Err(s) => Err(GraphError::Unavailable(format!(
                    "the tablet stream from group {group} broke off: {}",
                    s.message()
                ))),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    }

    async fn read(
        &self,
        group: u32,
        read_ts: u64,
        start_ts: u64,
        ranges: Vec<Range>,
        schema_of: Vec<String>,
    ) -> Result<Fetched, GraphError> {
        let request = ReadKeysRequest {
            read_ts,
            start_ts,
            group_id: group,
            ranges: ranges
                .into_iter()
                .map(|r| KeyRange {
                    predicate: r.predicate,
                    kind: r.kind as u32,
                    prefixes: r.prefixes,
                })
                .collect(),
            schema_of,
        };
        // Any member that has applied the read timestamp answers; none is waited for.
        let r = self
            .on_members(
                group,
                "reading the predicates it serves",
                Duration::ZERO,
                |mut w| {
                    let request = request.clone();
                    async move { w.read_keys(request).await }
                },
            )
            .await?;
        let mut schemas = HashMap::new();
        for (name, raw) in r.schemas {
            let schema = serde_json::from_slice(&raw).map_err(|e| {
                GraphError::Internal(format!(
                    "group {group} sent an unreadable schema of {name}: {e}"
                ))
            })?;
            schemas.insert(name, schema);
        }
        Ok(Fetched {
            entries: r.entries.into_iter().map(|kv| (kv.key, kv.value)).collect(),
            names: r.names.into_iter().collect(),
            schemas,
        })
    }
}
