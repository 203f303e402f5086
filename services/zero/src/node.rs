//! A running zero: its Raft node and state, the timestamp and commit oracle, leases, membership
//! and the license. RPC and HTTP handlers are thin layers over these methods.

use crate::clock::Clock;
use crate::license::{self, LicenseError};
use crate::raft::Raft;
use crate::raft::state_machine::Applied;
use crate::state::{Command, ID_CEILING, IdKind, LicenseRecord, MemberRecord, Reply, max_lease};
use ed25519_dalek::VerifyingKey;
use lodestar_proto::zero as pb;
use lodestar_runtime::{ErrorCode, ServiceError};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Timestamps reserved through Raft at a time; the hot path hands them out from memory.
pub const TS_BLOCK: u64 = 1_000_000;
/// Conflict keys remembered before the oracle starts a new epoch (see [`OracleState::fence`]).
const MAX_CONFLICT_KEYS: usize = 1 << 21;
/// Commit decisions proposed in one Raft entry at most.
const MAX_DECISION_BATCH: usize = 8192;
/// A leader that has not heard from a quorum for this long stops handing out timestamps:
/// well before another zero can be elected (a follower waits the longest election timeout
/// plus at least the shortest after the last heartbeat it answered).
const LEADER_LEASE_MS: u64 = lodestar_raft::ELECTION_TIMEOUT.1.as_millis() as u64 * 2 / 3;
/// The longest tablet (predicate) name zero records; alphas allow names of 1,024 bytes.
pub(crate) const MAX_TABLET_NAME: usize = 2048;
/// How long a repeated commit request waits for the first one's decision to become durable.
const DECISION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a zero could not serve a request, take a flag's value or run a `zero license` command.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ZeroError {
    /// Only the leader serves this; `leader` is its gRPC address when known.
    #[error("this zero is not the leader{}", leader.as_ref().map(|l| format!("; the leader is {l}")).unwrap_or_else(|| "; no leader is elected yet".into()))]
    NotLeader { leader: Option<String> },
    #[error("{0}")]
    Service(#[from] ServiceError),
}

impl ZeroError {
    pub(crate) fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        ZeroError::Service(ServiceError::new(code, msg))
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, msg)
    }
}

impl From<ZeroError> for tonic::Status {
    fn from(err: ZeroError) -> Self {
        match &err {
            ZeroError::NotLeader { leader } => {
                let mut status = tonic::Status::unavailable(err.to_string());
                if let Some(addr) = leader.as_deref().and_then(|a| a.parse().ok()) {
                    status
                        .metadata_mut()
                        .insert(lodestar_client::LEADER_ADDR_METADATA, addr);
                }
                status
            }
            ZeroError::Service(e) => e.clone().into(),
        }
    }
}

impl From<LicenseError> for ZeroError {
    fn from(e: LicenseError) -> Self {
        ZeroError::invalid(e.to_string())
    }
}

/// Key files are the ones the operator names: a refusal is theirs to fix.
impl From<license::KeyError> for ZeroError {
    fn from(e: license::KeyError) -> Self {
        ZeroError::invalid(e.to_string())
    }
}

/// The oracle's in-memory state; valid only for the leader term it was built in.
#[derive(Debug, Default)]
struct OracleState {
    term: u64,
    /// Next timestamp to hand out; `end` is one past the reserved block.
    next: u64,
    end: u64,
    /// Transactions that started before the fence are aborted: the oracle no longer (or never)
    /// knew what they might conflict with. Set at the start of each leader term and whenever the
    /// conflict table is reset.
    fence: u64,
    /// Conflict key fingerprint → commit_ts of the last transaction that wrote it.
    conflicts: HashMap<u64, u64>,
    /// Commit timestamps handed out whose decision is not yet durable.
    pending: BTreeSet<u64>,
    /// start_ts → commit_ts (0: abort) of the decisions being made durable; a retry of the same
    /// transaction waits for its decision instead of taking a second one.
    deciding: HashMap<u64, u64>,
}

/// What one look at the oracle found for a commit request.
enum Step {
    /// Already decided (commit_ts, 0 for aborted).
    Known(u64),
    /// Decided now; the decision is to be made durable.
    Decided(u64),
    /// Being made durable by an earlier request.
    Wait,
    /// The oracle needs a timestamp block for this term first.
    Refill,
}

struct Decision {
    start_ts: u64,
    commit_ts: u64,
    done: oneshot::Sender<Result<(), ZeroError>>,
}

/// Settings a zero starts with.
#[derive(Debug, Clone)]
pub struct ZeroConfig {
    pub id: u64,
    pub my_addr: String,
    pub replicas: u32,
    pub license_key: VerifyingKey,
}

/// A running zero.
pub struct ZeroNode {
    pub config: ZeroConfig,
    pub raft: Raft,
    applied: Arc<RwLock<Applied>>,
    pub clock: Arc<dyn Clock>,
    oracle: Mutex<OracleState>,
    refill: tokio::sync::Mutex<()>,
    decisions: mpsc::UnboundedSender<Decision>,
    /// Woken each time a batch of decisions has been made durable (or failed).
    decided: tokio::sync::Notify,
    /// What each alpha last reported of its standing in its group, and when (kept by the
    /// leading zero, which answers `/state`).
    reports: Mutex<HashMap<u64, (pb::MemberReport, std::time::Instant)>>,
    /// The size of each tablet in bytes, as its group's leader last reported it.
    sizes: Mutex<HashMap<String, i64>>,
}

/// An alpha that has not reported for this long is shown dead.
const REPORT_DEAD_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

impl std::fmt::Debug for ZeroNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroNode")
            .field("id", &self.config.id)
            .finish()
    }
}

impl ZeroNode {
    pub fn new(
        config: ZeroConfig,
        raft: Raft,
        applied: Arc<RwLock<Applied>>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let node = Arc::new(ZeroNode {
            config,
            raft,
            applied,
            clock,
            oracle: Mutex::default(),
            refill: tokio::sync::Mutex::new(()),
            decisions: tx,
            decided: tokio::sync::Notify::new(),
            reports: Mutex::default(),
            sizes: Mutex::default(),
        });
        tokio::spawn(decide_batches(Arc::downgrade(&node), rx));
        node
    }

    /// The current term if this zero is the leader with a fresh quorum contact.
    pub fn leader_term(&self) -> Result<u64, ZeroError> {
        let m = self.raft.metrics();
        let m = m.borrow();
        if m.state == ServerState::Leader && m.current_leader == Some(self.config.id) {
            match m.millis_since_quorum_ack {
                Some(ms) if ms > LEADER_LEASE_MS => Err(ZeroError::NotLeader { leader: None }),
                _ => Ok(m.current_term),
            }
        } else {
            let leader = m.current_leader.and_then(|id| {
                m.membership_config
                    .membership()
                    .get_node(&id)
                    .map(|n| n.addr.clone())
            });
            Err(ZeroError::NotLeader { leader })
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader_term().is_ok()
    }

    /// Proposes `cmd` through Raft and returns what applying it replied.
    pub async fn propose(&self, cmd: Command) -> Result<Reply, ZeroError> {
        match self.raft.client_write(cmd).await {
            Ok(resp) => match resp.data {
                Reply::Refused(msg) => Err(ZeroError::new(ErrorCode::FailedPrecondition, msg)),
                reply => Ok(reply),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ZeroError::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                })
            }
            Err(e) => Err(ZeroError::new(ErrorCode::Unavailable, format!("raft: {e}"))),
        }
    }

    async fn propose_range(&self, cmd: Command) -> Result<(u64, u64), ZeroError> {
        match self.propose(cmd).await? {
            Reply::Range { start, end } => Ok((start, end)),
            other => Err(ZeroError::new(
                ErrorCode::Internal,
                format!("unexpected reply {other:?}"),
            )),
        }
    }

    /// Reads the applied state.
    pub fn with_state<T>(&self, f: impl FnOnce(&Applied) -> T) -> T {
        f(&self.applied.read())
    }

    // ---- timestamps ----

    /// `n` strictly increasing timestamps, never handed out before by any leader.
    pub async fn timestamps(&self, n: u64) -> Result<(u64, u64), ZeroError> {
        if n == 0 {
            return Err(ZeroError::invalid("asked for 0 timestamps"));
        }
        check_lease(IdKind::Timestamp, n)?;
        loop {
            let term = self.leader_term()?;
            {
                let mut o = self.oracle.lock();
                if o.term == term && o.end - o.next >= n {
                    let start = o.next;
                    o.next += n;
                    return Ok((start, start + n - 1));
                }
            }
            self.refill(term, n).await?;
        }
    }

    /// Reserves a new block through Raft unless another task just did.
    async fn refill(&self, term: u64, n: u64) -> Result<(), ZeroError> {
        let _guard = self.refill.lock().await;
        {
            let o = self.oracle.lock();
            if o.term == term && o.end - o.next >= n {
                return Ok(());
            }
        }
        let (start, end) = self
            .propose_range(Command::Lease {
                kind: IdKind::Timestamp,
                count: n.max(TS_BLOCK),
            })
            .await?;
        if self.leader_term()? != term {
            return Err(ZeroError::NotLeader { leader: None });
        }
        let mut o = self.oracle.lock();
        if o.term != term {
            tracing::info!(term, first_ts = start, "oracle starts a new leader term");
            *o = OracleState {
                term,
                next: start,
                end: end + 1,
                fence: start,
                ..Default::default()
            };
        } else if o.end == start {
            o.end = end + 1;
        } else {
            o.next = start;
            o.end = end + 1;
        }
        Ok(())
    }

    /// A timestamp at which every decided commit is visible and no undecided one is.
    pub async fn read_only_ts(&self) -> Result<u64, ZeroError> {
        loop {
            let term = self.leader_term()?;
            {
                let o = self.oracle.lock();
                if o.term == term && o.next > 0 {
                    return Ok(match o.pending.first() {
                        Some(p) => p - 1,
                        None => o.next - 1,
                    });
                }
            }
            self.refill(term, 1).await?;
        }
    }

    /// Makes every id of `kind` up to `at_least` count as handed out (after a restore).
    pub async fn bump(&self, kind: IdKind, at_least: u64) -> Result<(u64, u64), ZeroError> {
        if at_least > ID_CEILING {
            return Err(ZeroError::invalid(format!(
                "cannot mark {} up to {at_least} as used: ids stop at {ID_CEILING}",
                kind.name()
            )));
        }
        self.leader_term()?;
        let range = self.propose_range(Command::Bump { kind, at_least }).await?;
        if kind == IdKind::Timestamp {
            // Timestamps left in the in-memory block may be below the bump: drop them.
            let mut o = self.oracle.lock();
            o.next = o.end;
            o.term = 0;
        }
        Ok(range)
    }

    /// Leases `n` UIDs or namespace ids.
    pub async fn lease(&self, kind: IdKind, n: u64) -> Result<(u64, u64), ZeroError> {
        if n == 0 {
            return Err(ZeroError::invalid("Nothing to be leased"));
        }
        check_lease(kind, n)?;
        self.leader_term()?;
        self.propose_range(Command::Lease { kind, count: n }).await
    }

    // ---- commits ----

    /// Decides a transaction: the first committer wins on overlapping conflict keys. Asking
    /// again for a transaction already decided (or being decided) answers that decision, even
    /// when the second request asks to abort: a decision never changes.
    ///
    /// The decision is made durable by the batching task, not by this call, so a caller that
    /// goes away (a client deadline, an alpha killed) leaves nothing behind: the decision still
    /// lands and the read-only timestamp moves past it.
    ///
    /// `preds` are the predicates the transaction writes: a transaction writing a tablet that
    /// is being moved, or that moved after it started, is aborted.
    pub async fn commit_or_abort(
        &self,
        start_ts: u64,
        keys: &[u64],
        preds: &[String],
        abort: bool,
    ) -> Result<pb::CommitDecision, ZeroError> {
        if start_ts == 0 {
            return Err(ZeroError::invalid("a transaction needs a start_ts"));
        }
        let commit_ts = loop {
            let term = self.leader_term()?;
            let waiting = self.decided.notified();
            tokio::pin!(waiting);
            waiting.as_mut().enable();
            match self.try_decide(term, start_ts, keys, preds, abort)? {
                Step::Known(decided) => return Ok(decision(start_ts, decided, true)),
                Step::Decided(ts) => break ts,
                Step::Wait => {
                    // Wait for that decision to become durable, then look again.
                    if tokio::time::timeout(DECISION_WAIT, waiting).await.is_err() {
                        return Err(ZeroError::new(
                            ErrorCode::Unavailable,
                            format!(
                                "the decision on transaction {start_ts} is still being made durable; ask again"
                            ),
                        ));
                    }
                }
                Step::Refill => self.refill(term, 1).await?,
            }
        };
        let (done, wait) = oneshot::channel();
        let sent = self.decisions.send(Decision {
            start_ts,
            commit_ts,
            done,
        });
        let stopping = || ZeroError::new(ErrorCode::Unavailable, "zero is stopping");
        match sent {
            Ok(()) => wait.await.unwrap_or_else(|_| Err(stopping()))?,
            Err(_) => {
                self.forget_decision(start_ts, commit_ts);
                return Err(stopping());
            }
        }
        Ok(decision(start_ts, commit_ts, true))
    }

    /// One look at the oracle for [`ZeroNode::commit_or_abort`], under its lock.
    fn try_decide(
        &self,
        term: u64,
        start_ts: u64,
        keys: &[u64],
        preds: &[String],
        abort: bool,
    ) -> Result<Step, ZeroError> {
        let mut o = self.oracle.lock();
        // Under the oracle lock: a batch leaves `deciding` only after its decisions are in the
        // state, so one of the two always shows a decision already made. A tablet move takes
        // its timestamps after its state changed, so a commit decided before that change is
        // below them (and settled before the move copies), and one decided after sees it.
        let (known, movable) = self.with_state(|a| {
            (
                a.state.txns.get(&start_ts).copied(),
                preds.iter().all(|p| a.state.may_write(p, start_ts)),
            )
        });
        if let Some(decided) = known {
            return Ok(Step::Known(decided));
        }
        if o.term != term || o.next >= o.end {
            return Ok(Step::Refill);
        }
        if o.deciding.contains_key(&start_ts) {
            return Ok(Step::Wait);
        }
        if start_ts >= o.next {
            return Err(ZeroError::invalid(format!(
                "start_ts {start_ts} was never handed out (next timestamp is {})",
                o.next
            )));
        }
        if abort
            || !movable
            || start_ts < o.fence
            || keys
                .iter()
                .any(|k| o.conflicts.get(k).is_some_and(|c| *c > start_ts))
        {
            o.deciding.insert(start_ts, 0);
            return Ok(Step::Decided(0));
        }
        let ts = o.next;
        o.next += 1;
        if o.conflicts.len() + keys.len() > MAX_CONFLICT_KEYS {
            // Start a new epoch: forget old writes and abort transactions from before.
            o.conflicts.clear();
            o.fence = ts;
        }
        for k in keys {
            o.conflicts.insert(*k, ts);
        }
        o.pending.insert(ts);
        o.deciding.insert(start_ts, ts);
        Ok(Step::Decided(ts))
    }

    /// A decision is durable (or failed to become so): it no longer holds back read-only
    /// timestamps, and a retry finds it in the state (or decides again).
    fn forget_decision(&self, start_ts: u64, commit_ts: u64) {
        let mut o = self.oracle.lock();
        o.deciding.remove(&start_ts);
        if commit_ts != 0 {
            o.pending.remove(&commit_ts);
        }
    }

    /// What became of the transaction that started at `start_ts`, if zero remembers it.
    pub fn txn_status(&self, start_ts: u64) -> Result<pb::CommitDecision, ZeroError> {
        self.leader_term()?;
        Ok(
            match self.with_state(|a| a.state.txns.get(&start_ts).copied()) {
                Some(commit_ts) => decision(start_ts, commit_ts, true),
                None => decision(start_ts, 0, false),
            },
        )
    }

    // ---- membership ----

    pub async fn join_group(
        &self,
        addr: String,
        group: u32,
        acl: bool,
        id: u64,
        learner: bool,
    ) -> Result<MemberRecord, ZeroError> {
        if addr.is_empty() {
            return Err(ZeroError::invalid("an alpha must give its address (--my)"));
        }
        self.leader_term()?;
        let cmd = Command::JoinGroup {
            addr,
            group,
            replicas: self.config.replicas,
            now: self.clock.now(),
            acl,
            id,
            learner,
        };
        match self.propose(cmd).await? {
            Reply::Member(m) => Ok(m),
            other => Err(ZeroError::new(
                ErrorCode::Internal,
                format!("unexpected reply {other:?}"),
            )),
        }
    }

    /// The group serving `predicate`; assigns one on first use unless `read_only`, or gives it
    /// to `group` whatever had it with `force`.
    pub async fn tablet(
        &self,
        predicate: String,
        group: u32,
        read_only: bool,
        force: bool,
    ) -> Result<u32, ZeroError> {
        if predicate.is_empty() {
            return Err(ZeroError::invalid("a tablet needs a predicate"));
        }
        if predicate.len() > MAX_TABLET_NAME {
            return Err(ZeroError::invalid(format!(
                "a predicate name of {} bytes is longer than the {MAX_TABLET_NAME} allowed",
                predicate.len()
            )));
        }
        self.leader_term()?;
        if force {
            let known = self.with_state(|a| a.state.members.values().any(|m| m.group == group));
            if !known {
                return Err(ZeroError::invalid(format!(
                    "group {group} has no alpha: a tablet can only be given to a group of the cluster"
                )));
            }
            return match self
                .propose(Command::ForceTablet { predicate, group })
                .await?
            {
                Reply::Group(g) => Ok(g),
                Reply::Refused(why) => Err(ZeroError::invalid(why)),
                other => Err(ZeroError::new(
                    ErrorCode::Internal,
                    format!("unexpected reply {other:?}"),
                )),
            };
        }
        if let Some(g) = self.with_state(|a| a.state.tablets.get(&predicate).copied()) {
            return Ok(g);
        }
        if read_only {
            return Ok(0);
        }
        let group = if group == 0 {
            self.choose_group(&predicate)
        } else {
            group
        };
        match self
            .propose(Command::AssignTablet { predicate, group })
            .await?
        {
            Reply::Group(g) => Ok(g),
            other => Err(ZeroError::new(
                ErrorCode::Internal,
                format!("unexpected reply {other:?}"),
            )),
        }
    }

    pub async fn set_draining(&self, on: bool) -> Result<(), ZeroError> {
        self.leader_term()?;
        self.propose(Command::SetDraining(on)).await.map(|_| ())
    }

    /// Adds a zero as a voter (it becomes a learner first and catches up).
    pub async fn add_zero(&self, id: u64, addr: String) -> Result<(), ZeroError> {
        self.leader_term()?;
        if id == 0 || addr.is_empty() {
            return Err(ZeroError::invalid(
                "a joining zero needs --idx > 0 and --my",
            ));
        }
        if self.with_state(|a| a.state.removed_zeros.contains(&id)) {
            return Err(ZeroError::invalid(format!(
                "zero {id} was removed from this cluster; start it with a new --idx and an empty --wal"
            )));
        }
        let membership = self.raft.metrics().borrow().membership_config.clone();
        if let Some(node) = membership.membership().get_node(&id) {
            if node.addr != addr {
                return Err(ZeroError::invalid(format!(
                    "zero {id} is already a member at {}; pick another --idx",
                    node.addr
                )));
            }
            if membership.voter_ids().any(|v| v == id) {
                return Ok(());
            }
        }
        let map_err = |e: RaftError<u64, ClientWriteError<u64, BasicNode>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ZeroError::NotLeader {
                leader: f.leader_node.map(|n| n.addr),
            },
            e => ZeroError::new(ErrorCode::Unavailable, format!("adding zero {id}: {e}")),
        };
        self.raft
            .add_learner(id, BasicNode::new(addr.clone()), true)
            .await
            .map_err(map_err)?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(map_err)?;
        tracing::info!(zero = id, addr = %addr, "zero joined the cluster");
        Ok(())
    }

    /// Records what an alpha reports of its standing in its group (leader only).
    pub fn report_member(&self, report: pb::MemberReport) -> Result<(), ZeroError> {
        self.leader_term()?;
        // The state is read before this node's own locks are taken (`/state` holds the state
        // while it takes them).
        let group = report.group_id;
        let (member, others) = self.with_state(|a| {
            let member = a.state.members.contains_key(&report.id);
            let others: BTreeSet<String> = if report.sizes {
                a.state
                    .tablets
                    .iter()
                    .filter(|(_, g)| **g != group)
                    .map(|(p, _)| p.clone())
                    .collect()
            } else {
                BTreeSet::new()
            };
            (member, others)
        });
        let mut reports = self.reports.lock();
        if !member {
            reports.remove(&report.id);
            return Err(ZeroError::invalid(format!(
                "alpha {} is not a member of this cluster",
                report.id
            )));
        }
        if report.sizes {
            let mut sizes = self.sizes.lock();
            sizes.retain(|pred, _| others.contains(pred));
            sizes.extend(report.tablet_sizes.iter().map(|(p, n)| (p.clone(), *n)));
        }
        reports.insert(report.id, (report, std::time::Instant::now()));
        Ok(())
    }

    /// Each tablet's size in bytes as its group's leader last reported it.
    pub fn tablet_sizes(&self) -> HashMap<String, i64> {
        self.sizes.lock().clone()
    }

    /// The group a new tablet goes to: group 1 for the reserved `dgraph.*` predicates, else
    /// the group holding the fewest bytes (then the fewest tablets, then the lowest id).
    fn choose_group(&self, predicate: &str) -> u32 {
        // The reserved namespace, its case ignored as alphas do.
        if predicate
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("dgraph."))
        {
            return 1;
        }
        let (groups, tablets) = self.with_state(|a| {
            let groups: BTreeSet<u32> = a.state.members.values().map(|m| m.group).collect();
            (groups, a.state.tablets.clone())
        });
        let mut load: BTreeMap<u32, (i64, usize)> =
            groups.into_iter().map(|g| (g, (0, 0))).collect();
        let sizes = self.sizes.lock();
        for (pred, g) in &tablets {
            if let Some((bytes, count)) = load.get_mut(g) {
                *bytes = bytes.saturating_add(sizes.get(pred).copied().unwrap_or(0));
                *count += 1;
            }
        }
        load.into_iter()
            .min_by_key(|(g, load)| (*load, *g))
            .map(|(g, _)| g)
            .unwrap_or(1)
    }

    /// Removes a zero (group 0) or an alpha from the cluster.
    pub async fn remove_node(&self, id: u64, group: u32) -> Result<String, ZeroError> {
        self.leader_term()?;
        if group == 0 {
            let membership = self.raft.metrics().borrow().membership_config.clone();
            if !membership.voter_ids().any(|v| v == id) {
                return Err(ZeroError::invalid(format!(
                    "no zero with idx {id} in the cluster"
                )));
            }
            if id == self.config.id {
                return Err(ZeroError::invalid(
                    "a zero cannot remove itself while it leads; send the request after another zero leads",
                ));
            }
            self.raft
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
                .map_err(|e| {
                    ZeroError::new(ErrorCode::Unavailable, format!("removing zero {id}: {e}"))
                })?;
            self.propose(Command::RemoveZero { id }).await?;
        } else {
            let in_group = self.with_state(|a| a.state.members.get(&id).map(|m| m.group));
            if in_group != Some(group) {
                return Err(ZeroError::invalid(format!(
                    "no alpha with idx {id} in group {group}"
                )));
            }
            self.propose(Command::RemoveMember { id }).await?;
        }
        Ok(format!("Removed node with group: {group}, idx: {id}"))
    }

    // ---- license ----

    /// Verifies and records a license; refuses it when the cluster has more nodes than it allows.
    pub async fn apply_license(&self, text: &[u8]) -> Result<LicenseRecord, ZeroError> {
        let verified = license::verify(text, &self.config.license_key)?;
        self.leader_term()?;
        let nodes = self.node_count();
        if verified.max_nodes < nodes {
            return Err(ZeroError::invalid(format!(
                "Your license only allows [{}] (Alpha + Zero) nodes. You have: [{}].",
                verified.max_nodes, nodes
            )));
        }
        let record = LicenseRecord {
            user: verified.user,
            max_nodes: verified.max_nodes,
            expiry_ts: verified.expiry_ts,
        };
        self.propose(Command::ApplyLicense(record.clone())).await?;
        tracing::info!(
            user = %record.user,
            max_nodes = record.max_nodes,
            expiry_ts = record.expiry_ts,
            enabled = record.enabled_at(self.clock.now()),
            "enterprise license applied"
        );
        Ok(record)
    }

    fn node_count(&self) -> u64 {
        let zeros = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .voter_ids()
            .count();
        self.with_state(|a| a.state.node_count(zeros))
    }

    /// Whether enterprise features are on, and if not, why.
    pub fn enterprise(&self) -> pb::EnterpriseStateResponse {
        let now = self.clock.now();
        let license = self.with_state(|a| a.state.license.clone());
        match license {
            None => pb::EnterpriseStateResponse {
                enabled: false,
                reason: "the cluster is not initialized yet: no trial or license is recorded"
                    .into(),
                license: None,
                trial: false,
            },
            Some(l) => {
                let enabled = l.enabled_at(now);
                let when = chrono::DateTime::from_timestamp(l.expiry_ts, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_else(|| l.expiry_ts.to_string());
                let reason = match (enabled, l.is_trial()) {
                    (true, _) => String::new(),
                    (false, true) => format!(
                        "Enterprise features are disabled: the 30-day trial ended at {when}. Supply a license file to zero with POST /enterpriseLicense (zero's HTTP port or the gateway) or --enterprise_license"
                    ),
                    (false, false) => format!(
                        "Enterprise features are disabled: the license of {} expired at {when}. Supply a new license file to zero with POST /enterpriseLicense (zero's HTTP port or the gateway) or --enterprise_license",
                        l.user
                    ),
                };
                pb::EnterpriseStateResponse {
                    enabled,
                    reason,
                    trial: l.is_trial(),
                    license: Some(license_pb(&l, now)),
                }
            }
        }
    }

    /// The cluster as Dgraph's MembershipState.
    pub fn membership_state(&self) -> pb::MembershipState {
        let now = self.clock.now();
        let (leader, membership) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_leader, m.membership_config.clone())
        };
        let applied = self.applied.read();
        let state = &applied.state;
        let zeros = membership
            .membership()
            .nodes()
            .map(|(id, node)| {
                (
                    *id,
                    pb::Member {
                        id: *id,
                        addr: node.addr.clone(),
                        leader: Some(*id) == leader,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let mut groups: HashMap<u32, pb::Group> = HashMap::new();
        let reports = self.reports.lock();
        // Each group's leader: the member that reports leading in the highest term.
        let mut leaders: HashMap<u32, (u64, u64)> = HashMap::new();
        for (r, at) in reports.values() {
            if r.role == "leader" && at.elapsed() < REPORT_DEAD_AFTER {
                let best = leaders.entry(r.group_id).or_insert((r.term, r.id));
                if r.term > best.0 {
                    *best = (r.term, r.id);
                }
            }
        }
        for m in state.members.values() {
            let mut member = member_pb(m);
            if let Some((r, at)) = reports.get(&m.id) {
                member.applied = r.applied;
                member.behind = r.behind;
                member.am_dead = at.elapsed() >= REPORT_DEAD_AFTER;
            }
            member.leader = leaders.get(&m.group).is_some_and(|(_, id)| *id == m.id);
            groups
                .entry(m.group)
                .or_default()
                .members
                .insert(m.id, member);
        }
        drop(reports);
        let sizes = self.sizes.lock();
        for (pred, g) in &state.tablets {
            groups.entry(*g).or_default().tablets.insert(
                pred.clone(),
                pb::TabletInfo {
                    predicate: pred.clone(),
                    group_id: *g,
                    space: sizes.get(pred).copied().unwrap_or(0),
                    // Writes are refused while a move copies its last changes.
                    read_only: state.moving.get(pred).is_some_and(|m| m.blocked),
                    move_ts: state.moved_at.get(pred).copied().unwrap_or(0),
                    ..Default::default()
                },
            );
        }
        drop(sizes);
        let max_zero = membership
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .max()
            .unwrap_or(0);
        pb::MembershipState {
            counter: applied.last_applied.map(|l| l.index).unwrap_or(0),
            groups,
            zeros,
            max_uid: state.max_uid,
            max_txn_ts: state.max_ts,
            max_raft_id: state.max_member_id.max(max_zero),
            removed: state
                .removed
                .iter()
                .map(member_pb)
                .chain(state.removed_zeros.iter().map(|id| pb::Member {
                    id: *id,
                    group_id: 0,
                    ..Default::default()
                }))
                .collect(),
            cid: state.cid.clone(),
            license: state.license.as_ref().map(|l| license_pb(l, now)),
            max_ns_id: state.max_ns_id,
            namespaces: vec![0],
            draining: state.draining,
            created_at: state.created_at,
        }
    }
}

/// Refuses a lease larger than one request may take, before anything is proposed.
fn check_lease(kind: IdKind, n: u64) -> Result<(), ZeroError> {
    if n > max_lease(kind) {
        return Err(ZeroError::invalid(format!(
            "Requested {} lease({n}) is greater than allowed({}) per request",
            kind.name(),
            max_lease(kind)
        )));
    }
    Ok(())
}

fn decision(start_ts: u64, commit_ts: u64, known: bool) -> pb::CommitDecision {
    pb::CommitDecision {
        start_ts,
        commit_ts,
        aborted: known && commit_ts == 0,
        known,
    }
}

fn member_pb(m: &MemberRecord) -> pb::Member {
    pb::Member {
        id: m.id,
        group_id: m.group,
        addr: m.addr.clone(),
        last_update: m.last_update,
        acl: m.acl,
        learner: m.learner,
        ..Default::default()
    }
}

pub fn license_pb(l: &LicenseRecord, now: i64) -> pb::License {
    pb::License {
        user: l.user.clone(),
        max_nodes: l.max_nodes,
        expiry_ts: l.expiry_ts,
        enabled: l.enabled_at(now),
    }
}

/// Collects commit decisions and proposes them in batches, a few batches in flight at once.
async fn decide_batches(
    node: std::sync::Weak<ZeroNode>,
    mut rx: mpsc::UnboundedReceiver<Decision>,
) {
    let in_flight = Arc::new(Semaphore::new(4));
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_DECISION_BATCH {
            match rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        let Some(node) = node.upgrade() else { return };
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            let cmd = Command::Decide(batch.iter().map(|d| (d.start_ts, d.commit_ts)).collect());
            let result = node.propose(cmd).await.map(|_| ());
            for d in batch {
                node.forget_decision(d.start_ts, d.commit_ts);
                // The caller may be gone; the decision stands either way.
                let _ = d.done.send(result.clone());
            }
            node.decided.notify_waiters();
            drop(permit);
        });
    }
}
