//! One running member of a group: what the graph asks of its group's log
//! ([`crate::graph::Replication`]), and the background duties that keep the group whole.
//!
//! - **Writes** are proposed only by the leader, and only while it hears from a majority: a
//!   leader cut off from its group refuses them within [`QUORUM_LOST`] instead of waiting.
//! - **Reads** at a timestamp wait for a read barrier. The leader applies every commit at or
//!   below the timestamp (its commits in flight hold the graph's commit lock) and confirms with
//!   a majority that it still leads; a follower asks the leader for that barrier's log index
//!   (`worker.Worker/ReadIndex`) and waits until it has applied as far. Requests that arrive
//!   while one barrier is under way share the next, so a burst of reads costs one round.
//! - **Taking over**: a replica that becomes leader applies everything committed, then settles
//!   every transaction its predecessor left pending (zero says what became of each), writes
//!   what the reserved schema lacks and, with ACL on, makes sure of groot and guardians. Only
//!   then does it take writes and answer read barriers.
//! - **Membership** follows zero's: the leader adds the alphas zero placed in its group as
//!   learners, promotes them to voters once they have caught up (unless they are learners by
//!   choice), and removes members zero no longer lists (`/removeNode`, a replica replaced by a
//!   wiped one).

use super::Raft;
use crate::graph::log::{Op, OpReply};
use crate::graph::{Graph, GraphError};
use lodestar_client::ZeroClient;
use lodestar_proto::worker::ReadIndexRequest;
use lodestar_proto::worker::worker_client::WorkerClient;
use lodestar_runtime::Shutdown;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A leader that heard from a majority this recently still leads: no other replica can have
/// been elected since (their election timers run at least [`lodestar_raft::ELECTION_TIMEOUT`]'s
/// minimum from the last heartbeat they answered), so it serves read barriers without another
/// round to its followers. A third of that minimum, for scheduling delays and clock drift
/// between machines; longer than a heartbeat round, so a busy leader rarely needs the round.
const LEASE: Duration =
    Duration::from_millis(lodestar_raft::ELECTION_TIMEOUT.0.as_millis() as u64 / 3);

/// A leader that has not heard from a majority of its group for this long refuses writes at
/// once (rather than let them wait for [`PROPOSE_TIMEOUT`]). Long enough that a loaded group,
/// whose followers answer late while they write large batches (a restore), is not mistaken
/// for a cut-off one.
pub const QUORUM_LOST: Duration = Duration::from_secs(5);
/// How long a proposal may take to commit before the caller is told the group is unavailable.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read waits for its barrier (the leader's answer and this replica's applying).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the leader brings the group's membership in line with zero's.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);
/// A learner this many entries or fewer behind the leader becomes a voter.
const CAUGHT_UP: u64 = 100;

type Reply = oneshot::Sender<Result<u64, GraphError>>;

/// A member of a group's Raft.
pub struct Replica {
    pub id: u64,
    pub group: u32,
    pub raft: Raft,
    graph: Arc<Graph>,
    /// The term in which this replica, leading, finished taking over (0: it does not lead).
    ready: tokio::sync::watch::Sender<u64>,
    /// Read barriers waiting for the leader's confirmation that it still leads.
    linearize: mpsc::UnboundedSender<Reply>,
    /// Read barriers a follower waits for (their timestamps).
    read_index: mpsc::UnboundedSender<(u64, Reply)>,
    /// Channels to the other members' internal ports, by address.
    channels: Mutex<HashMap<String, lodestar_client::TracedChannel>>,
    /// The log index the group's leader last gave this replica as a read barrier, or that this
    /// replica confirmed as leader.
    pub confirmed: AtomicU64,
    /// Until when this replica's leadership is known without asking its followers (see
    /// [`LEASE`]): set from openraft's time since a majority last acknowledged it, as each new
    /// value is published.
    lease: Mutex<Option<std::time::Instant>>,
    /// Numbers the large ops this replica proposes in parts (with its term, see
    /// [`Op::Whole`]).
    part_ids: AtomicU64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("group", &self.group)
            .finish()
    }
}

fn unavailable(why: impl Into<String>) -> GraphError {
    GraphError::Unavailable(why.into())
}

impl Replica {
    /// A replica over `raft` and `graph`; the caller joins the graph to it
    /// ([`Graph::replicate`]) and spawns its duties.
    pub fn new(id: u64, group: u32, raft: Raft, graph: Arc<Graph>) -> Arc<Replica> {
        let (linearize, linearize_rx) = mpsc::unbounded_channel();
        let (read_index, read_index_rx) = mpsc::unbounded_channel();
        let (ready, _) = tokio::sync::watch::channel(0);
        let replica = Arc::new(Replica {
            id,
            group,
            raft,
            graph,
            ready,
            linearize,
            read_index,
            channels: Mutex::default(),
            confirmed: AtomicU64::new(0),
            lease: Mutex::new(None),
            part_ids: AtomicU64::new(0),
        });
        tokio::spawn(track_lease(Arc::downgrade(&replica)));
        tokio::spawn(linearize_rounds(Arc::downgrade(&replica), linearize_rx));
        tokio::spawn(read_index_rounds(Arc::downgrade(&replica), read_index_rx));
        replica
    }

    /// The graph this replica holds.
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    fn metrics(&self) -> openraft::RaftMetrics<u64, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// Whether this replica leads its group now.
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// The id and internal address of the group's leader, as far as this replica knows.
    pub fn leader(&self) -> Option<(u64, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some((id, node.addr.clone()))
    }

    /// The leader as [`Self::leader`] knows it, with the term it knows it in: what a request
    /// forwarded to it is watched against ([`Self::leader_gone`]).
    pub fn leader_in_term(&self) -> Option<(u64, String, u64)> {
        let term = self.raft.metrics().borrow().current_term;
        self.leader().map(|(id, addr)| (id, addr, term))
    }

    /// Resolves once this replica sees a term after `term` or a leader other than `leader`:
    /// the leader a request was forwarded to has been voted out (cut off, killed, or stepped
    /// down), so an answer from it may never come. A connection to a host that vanished
    /// from the network gives no error until transport keepalives time out, long after the
    /// group elected another leader.
    pub async fn leader_gone(&self, leader: u64, term: u64) {
        let mut metrics = self.raft.metrics();
        loop {
            {
                let m = metrics.borrow_and_update();
                if m.current_term > term || m.current_leader.is_some_and(|l| l != leader) {
                    return;
                }
            }
            if metrics.changed().await.is_err() {
                // Shutting down: the call's own end comes first or the server stops.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Why this replica cannot take a write now, naming the leader when it knows one.
    pub fn not_leader(&self) -> GraphError {
        match self.leader() {
            Some((id, addr)) if id != self.id => unavailable(format!(
                "this alpha does not lead group {}: alpha {id} at {addr} does",
                self.group
            )),
            _ => unavailable(format!(
                "group {} has no leader right now (an election is under way, or a majority of its alphas is unreachable); retry shortly",
                self.group
            )),
        }
    }

    /// Waits until this replica leads and has taken over, or fails at once when it does not
    /// lead.
    pub async fn until_ready(&self) -> Result<(), GraphError> {
        let mut ready = self.ready.subscribe();
        let wait = async {
            loop {
                let term = self.metrics().current_term;
                if !self.is_leader() {
                    return Err(self.not_leader());
                }
                if *ready.borrow_and_update() == term {
                    return Ok(());
                }
                if ready.changed().await.is_err() {
                    return Err(unavailable("the alpha is stopping"));
                }
            }
        };
        tokio::time::timeout(BARRIER_TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| {
                Err(unavailable(format!(
                    "this alpha leads group {} but has not finished taking over (settling its predecessor's transactions needs zero); retry shortly",
                    self.group
                )))
            })
    }

    /// Whether this replica leads, has taken over, and heard from a majority lately.
    pub fn serving_writes(&self) -> Result<(), GraphError> {
        let m = self.metrics();
        if !(m.state == ServerState::Leader && m.current_leader == Some(self.id)) {
            return Err(self.not_leader());
        }
        if let Some(ms) = m.millis_since_quorum_ack
            && Duration::from_millis(ms) > QUORUM_LOST
        {
            return Err(unavailable(format!(
                "this alpha leads group {} but has not heard from a majority of its replicas for {ms} ms: it takes no writes until it does (is the network partitioned?)",
                self.group
            )));
        }
        Ok(())
    }

    /// The log index this replica must have applied to serve a read at `ts`, asked of the
    /// leader (as a follower) or confirmed with a majority (as the leader).
    async fn barrier_index(&self, ts: u64) -> Result<u64, GraphError> {
        let (tx, rx) = oneshot::channel();
        if self.is_leader() {
            self.until_ready().await?;
            self.graph.settle().await;
            self.graph.settle_shared(ts).await?;
            // Every commit at or below the timestamp is applied here now; within the lease no
            // other replica can have committed anything since.
            let leased = self
                .lease
                .lock()
                .is_some_and(|until| std::time::Instant::now() < until);
            // The only voter leads for as long as it is the only voter: no one else can be
            // elected without a membership change through it.
            let alone = {
                let m = self.metrics();
                let mut voters = m.membership_config.membership().voter_ids();
                voters.next() == Some(self.id) && voters.next().is_none()
            };
            if (leased || alone) && self.is_leader() {
                let applied = self.metrics().last_applied.map_or(0, |l| l.index);
                return Ok(applied);
            }
            self.linearize
                .send(tx)
                .map_err(|_| unavailable("the alpha is stopping"))?;
        } else {
            self.read_index
                .send((ts, tx))
                .map_err(|_| unavailable("the alpha is stopping"))?;
        }
        rx.await
            .unwrap_or_else(|_| Err(unavailable("the alpha is stopping")))
    }

    /// The leader's side of a follower's read barrier at `ts` (`worker.Worker/ReadIndex`).
    pub async fn answer_read_index(&self, ts: u64) -> Result<u64, GraphError> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        self.barrier_index(ts).await
    }

    /// A channel to another member's internal port at `addr`.
    pub fn channel(&self, addr: &str) -> Result<lodestar_client::TracedChannel, GraphError> {
        let mut channels = self.channels.lock();
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let channel = lodestar_client::traced_channel(addr)
            .map_err(|e| GraphError::Internal(format!("a channel to {addr}: {}", e.message())))?;
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// A `worker.Worker` client of the member at `addr`.
    pub fn worker(
        &self,
        addr: &str,
    ) -> Result<WorkerClient<lodestar_client::TracedChannel>, GraphError> {
        Ok(WorkerClient::new(self.channel(addr)?)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX))
    }

    /// Where this replica stands, for `/health` and zero's `/state`: (role, leader id, applied
    /// index, entries behind the leader's log).
    pub fn standing(&self) -> Standing {
        let m = self.metrics();
        let applied = m.last_applied.map_or(0, |l| l.index);
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Follower => "follower",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "stopped",
        };
        let behind = if m.state == ServerState::Leader {
            0
        } else {
            self.confirmed
                .load(Ordering::Relaxed)
                .saturating_sub(applied)
        };
        Standing {
            role,
            leader: m.current_leader.unwrap_or(0),
            term: m.current_term,
            applied,
            behind,
        }
    }
}

impl Replica {
    /// Proposes one entry and waits until this replica applied it.
    async fn propose_one(&self, op: Op) -> Result<OpReply, GraphError> {
        let write = tokio::time::timeout(PROPOSE_TIMEOUT, self.raft.client_write(op)).await;
        match write {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(self.not_leader())
            }
            Ok(Err(e)) => Err(unavailable(format!("group {}: {e}", self.group))),
            Err(_) => Err(unavailable(format!(
                "group {} did not commit a change within {} s: is a majority of its alphas reachable? The change may still be applied",
                self.group,
                PROPOSE_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// Where a replica stands (see [`Replica::standing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub role: &'static str,
    pub leader: u64,
    pub term: u64,
    pub applied: u64,
    pub behind: u64,
}

#[tonic::async_trait]
impl crate::graph::Replication for Replica {
    async fn propose(&self, op: Op) -> Result<OpReply, GraphError> {
        self.serving_writes()?;
        let id = (self.metrics().current_term << 40)
            | (self.part_ids.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1));
        let mut entries = op.into_entries(id);
        let last = entries.pop().expect("an op is at least one entry");
        // Parts go in together; the entry that applies them follows once all are in the log.
        let parts = futures::future::try_join_all(entries.into_iter().map(|p| self.propose_one(p)));
        for reply in parts.await? {
            if let OpReply::Refused(why) = reply {
                return Err(GraphError::Internal(why));
            }
        }
        self.propose_one(last).await
    }

    async fn read_barrier(&self, ts: u64) -> Result<(), GraphError> {
        let index = self.barrier_index(ts).await?;
        self.confirmed.fetch_max(index, Ordering::Relaxed);
        if self.metrics().last_applied.map_or(0, |l| l.index) >= index {
            return Ok(());
        }
        self.raft
            .wait(Some(BARRIER_TIMEOUT))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map(|_| ())
            .map_err(|e| {
                unavailable(format!(
                    "this alpha has not caught up with group {}'s leader (index {index}): {e}",
                    self.group
                ))
            })
    }
}

/// Keeps [`Replica::lease`] current: at each metrics update of a leader, the lease runs until
/// [`LEASE`] after the majority's last acknowledgement (now minus the time since it).
async fn track_lease(replica: std::sync::Weak<Replica>) {
    let Some(mut metrics) = replica.upgrade().map(|r| r.raft.metrics()) else {
        return;
    };
    loop {
        let until = {
            let m = metrics.borrow_and_update();
            match (m.state, m.millis_since_quorum_ack) {
                (ServerState::Leader, Some(ms)) => std::time::Instant::now()
                    .checked_sub(Duration::from_millis(ms))
                    .map(|acked| acked + LEASE),
                _ => None,
            }
        };
        match replica.upgrade() {
            Some(r) => *r.lease.lock() = until,
            None => return,
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Confirms leadership for the read barriers waiting, one round at a time: every barrier that
/// asks while a round is under way is answered by the next round, which starts after it asked.
async fn linearize_rounds(
    replica: std::sync::Weak<Replica>,
    mut rx: mpsc::UnboundedReceiver<Reply>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiting.push(w);
        }
        let Some(r) = replica.upgrade() else { return };
        // A round can miss a majority for a moment (followers busy writing a large batch
        // answer after the heartbeat's deadline): it is tried again while the barrier waits
        // and this replica still leads, unless it has been cut off from a majority for
        // `QUORUM_LOST` (then reads fail as writes do).
        let deadline = tokio::time::Instant::now() + BARRIER_TIMEOUT;
        let answer = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let answer = match tokio::time::timeout(left, r.raft.ensure_linearizable()).await {
                Ok(Ok(log_id)) => Ok(log_id.map_or(0, |l| l.index)),
                Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))))
                    if r.serving_writes().is_ok()
                        && tokio::time::Instant::now() + Duration::from_millis(50) < deadline =>
                {
                    tracing::debug!(group = r.group, error = %e, "confirming leadership; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Ok(Err(e)) => Err(unavailable(format!(
                    "this alpha could not confirm it still leads group {}: {e}",
                    r.group
                ))),
                Err(_) => Err(unavailable(format!(
                    "this alpha could not reach a majority of group {} to confirm it still leads",
                    r.group
                ))),
            };
            break answer;
        };
        if let Ok(index) = answer {
            r.confirmed.fetch_max(index, Ordering::Relaxed);
        }
        for w in waiting {
            let _ = w.send(answer.clone());
        }
    }
}

/// Asks the leader for read barriers, one round at a time, for the highest timestamp waiting.
async fn read_index_rounds(
    replica: std::sync::Weak<Replica>,
    mut rx: mpsc::UnboundedReceiver<(u64, Reply)>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiting.push(w);
        }
        let Some(r) = replica.upgrade() else { return };
        let ts = waiting.iter().map(|(ts, _)| *ts).max().unwrap_or(0);
        // While the group elects a new leader (the old one died) the barrier waits for it.
        let deadline = tokio::time::Instant::now() + BARRIER_TIMEOUT;
        let answer = loop {
            let answer = ask_leader(&r, ts).await;
            if answer.is_ok() || tokio::time::Instant::now() >= deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for (_, w) in waiting {
            let _ = w.send(answer.clone());
        }
    }
}

async fn ask_leader(r: &Replica, ts: u64) -> Result<u64, GraphError> {
    let Some((id, addr)) = r.leader() else {
        return Err(r.not_leader());
    };
    if id == r.id {
        // This replica became the leader meanwhile.
        return Box::pin(r.barrier_index(ts)).await;
    }
    let mut client = r.worker(&addr)?;
    let mut request = tonic::Request::new(ReadIndexRequest {
        read_ts: ts,
        group_id: r.group,
    });
    request.set_timeout(BARRIER_TIMEOUT);
    match client.read_index(request).await {
        Ok(resp) => Ok(resp.into_inner().index),
        Err(status) => Err(unavailable(format!(
            "asking group {}'s leader (alpha {id} at {addr}) for a read barrier: {}",
            r.group,
            status.message()
        ))),
    }
}

/// Takes over when this replica becomes leader, and lets go when it stops leading.
pub async fn leader_duties(replica: Arc<Replica>, acl: bool, shutdown: Shutdown) {
    let mut metrics = replica.raft.metrics();
    let mut led = false;
    loop {
        let (leading, term) = {
            let m = metrics.borrow_and_update();
            (
                m.state == ServerState::Leader && m.current_leader == Some(replica.id),
                m.current_term,
            )
        };
        if leading && *replica.ready.borrow() != term {
            led = true;
            match take_over(&replica).await {
                Ok(()) if replica.metrics().current_term == term && replica.is_leader() => {
                    replica.ready.send_replace(term);
                    tracing::info!(group = replica.group, term, "leading the group");
                    if acl {
                        ensure_acl_roots(&replica, term, &shutdown).await;
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(group = replica.group, term, error = %e, "taking over as leader failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = shutdown.wait() => return,
                    }
                    continue;
                }
            }
        } else if !leading && led {
            led = false;
            replica.ready.send_replace(0);
            replica.graph.step_down();
            tracing::info!(group = replica.group, term, "no longer leading the group");
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = shutdown.wait() => return,
        }
    }
}

async fn take_over(replica: &Replica) -> Result<(), GraphError> {
    // Everything committed before this term is applied first.
    match tokio::time::timeout(BARRIER_TIMEOUT, replica.raft.ensure_linearizable()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unavailable(format!("confirming leadership: {e}"))),
        Err(_) => return Err(unavailable("confirming leadership timed out")),
    }
    // Parts of an op the previous leader never finished proposing are dropped.
    if replica.graph.holds_parts()? {
        replica.propose_one(Op::DropParts).await?;
    }
    replica.graph.take_over().await
}

/// With ACL on, a new leader makes sure of groot and guardians (through the log, as any write),
/// retrying while it leads in `term`.
async fn ensure_acl_roots(replica: &Replica, term: u64, shutdown: &Shutdown) {
    while replica.is_leader() && replica.metrics().current_term == term {
        // The reserved predicates live in group 1 (zero keeps them there): the other groups
        // learn groot and guardians from it.
        let done = if replica.group == 1 {
            replica.graph.ensure_acl_roots().await.map(|_| true)
        } else {
            replica.graph.find_acl_roots().await.map(|r| r.is_some())
        };
        match done {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(group = replica.group, error = %e, "making sure of groot and guardians; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Starts the group's Raft when this replica is its first member: it has no Raft state and is
/// the lowest id among the group's members zero lists (an alpha that joins with no state gets a
/// new, higher id, so a lowest id with no state means every older member was removed). Any
/// other replica waits for the leader to add it.
pub async fn bootstrap(
    replica: Arc<Replica>,
    my_addr: String,
    zero: Arc<ZeroClient>,
    shutdown: Shutdown,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        match replica.raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "the group's raft stopped before it started");
                return;
            }
        }
        match zero.state().await {
            Ok(state) => {
                let members = state
                    .groups
                    .get(&replica.group)
                    .map(|g| g.members.keys().copied().collect::<BTreeSet<u64>>())
                    .unwrap_or_default();
                if members.first() == Some(&replica.id) {
                    let nodes = BTreeMap::from([(replica.id, BasicNode::new(my_addr.clone()))]);
                    match replica.raft.initialize(nodes).await {
                        Ok(()) => {
                            tracing::info!(
                                group = replica.group,
                                id = replica.id,
                                "started the group's raft as its first member"
                            );
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "starting the group's raft"),
                    }
                } else {
                    tracing::debug!(
                        group = replica.group,
                        "waiting for the group's leader to add this alpha"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e.message(), "asking zero for the group's members"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// On the leader: brings the group's Raft membership in line with zero's member list.
pub async fn reconcile_membership(
    replica: Arc<Replica>,
    zero: Arc<ZeroClient>,
    shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
            _ = shutdown.wait() => return,
        }
        if replica.serving_writes().is_err() || *replica.ready.borrow() == 0 {
            continue;
        }
        let state = match zero.state().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e.message(), "asking zero for the group's members");
                continue;
            }
        };
        let Some(group) = state.groups.get(&replica.group) else {
            continue;
        };
        if let Err(e) = reconcile_once(&replica, &group.members).await {
            tracing::info!(group = replica.group, error = %e, "changing the group's membership; retrying");
        }
    }
}

async fn reconcile_once(
    replica: &Replica,
    wanted: &HashMap<u64, lodestar_proto::zero::Member>,
) -> Result<(), String> {
    let m = replica.metrics();
    let membership = m.membership_config.membership().clone();
    if membership.get_joint_config().len() > 1 {
        return Ok(());
    }
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let nodes: BTreeMap<u64, BasicNode> =
        membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
    // New members start as learners and catch up.
    for (id, member) in wanted {
        if !nodes.contains_key(id) && !member.addr.is_empty() {
            tracing::info!(group = replica.group, id, addr = %member.addr, "adding an alpha to the group as a learner");
            replica
                .raft
                .add_learner(*id, BasicNode::new(member.addr.clone()), false)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    // Members zero no longer lists leave (never this leader itself).
    let gone: BTreeSet<u64> = nodes
        .keys()
        .copied()
        .filter(|id| !wanted.contains_key(id) && *id != replica.id)
        .collect();
    if !gone.is_empty() {
        tracing::info!(
            group = replica.group,
            ?gone,
            "removing alphas zero no longer lists from the group"
        );
        let change = if gone.iter().any(|id| voters.contains(id)) {
            ChangeMembers::RemoveVoters(gone.intersection(&voters).copied().collect())
        } else {
            ChangeMembers::RemoveNodes(gone)
        };
        replica
            .raft
            .change_membership(change, false)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    // Learners that caught up vote, unless they are learners by choice.
    let last = m.last_log_index.unwrap_or(0);
    let matched = m.replication.clone().unwrap_or_default();
    let promote: BTreeSet<u64> = nodes
        .keys()
        .copied()
        .filter(|id| !voters.contains(id))
        .filter(|id| wanted.get(id).is_some_and(|w| !w.learner))
        .filter(|id| {
            matched
                .get(id)
                .and_then(|l| l.as_ref())
                .is_some_and(|l| l.index + CAUGHT_UP >= last)
        })
        .collect();
    if !promote.is_empty() {
        tracing::info!(
            group = replica.group,
            ?promote,
            "alphas caught up: they vote from now on"
        );
        replica
            .raft
            .change_membership(ChangeMembers::AddVoterIds(promote), false)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
