//! Moving a tablet to another group (`/moveTablet`, `/admin` `moveTablet`), driven by the
//! leading zero:
//!
//! 1. `MoveStart`; the new group's leader copies the predicate's keys as of `ts1` from the old
//!    group (`worker.Worker/ReceiveTablet`, which pulls `SendTablet`) while writes go on.
//! 2. `MoveBlock`: commits writing the predicate are aborted from here; the new group copies
//!    what changed in `(ts1, move_ts]` and holds the predicate as of `move_ts`.
//! 3. `MoveReleased` at `released_ts`, then the old group's leader lets go of the predicate
//!    (`ReleaseTablet`: refuses reads at or past `released_ts` and writes, deletes its keys
//!    at `released_ts`), then `MoveFinish` gives the tablet to the new group and records
//!    `released_ts`, before which no transaction writing the predicate can commit.
//!
//! Until step 3 a failure calls the move off (the old group still serves everything and the
//! copy is never read). From step 3 the new group holds everything, so the move only
//! finishes; a zero that becomes leader finishes moves found released and calls off the rest.

use crate::node::{ZeroError, ZeroNode};
use crate::state::{Command, Reply};
use lodestar_proto::worker::worker_client::WorkerClient;
use lodestar_proto::worker::{ReceiveTabletRequest, ReleaseTabletRequest};
use lodestar_proto::zero as pb;
use lodestar_runtime::ErrorCode;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a call for a group's leader keeps trying while the group elects one.
const LEADER_WAIT: Duration = Duration::from_secs(15);

/// How long a finishing move keeps asking the old group to let go before it reports that it
/// will finish once that group is back.
const RELEASE_WAIT: Duration = Duration::from_secs(60);

impl ZeroNode {
    /// Moves `predicate`'s tablet to group `to`; answers once the new group serves it. The
    /// move goes on if the caller goes away.
    pub async fn move_tablet(
        self: Arc<Self>,
        predicate: String,
        to: u32,
        namespace: u64,
    ) -> Result<pb::MoveTabletResponse, ZeroError> {
        self.leader_term()?;
        if namespace != 0 {
            return Err(ZeroError::invalid(format!(
                "namespace {namespace} does not exist: this cluster has namespace 0 only"
            )));
        }
        if predicate.is_empty() {
            return Err(ZeroError::invalid(
                "moveTablet needs a tablet (a predicate name)",
            ));
        }
        if predicate.len() > crate::node::MAX_TABLET_NAME {
            return Err(ZeroError::invalid(format!(
                "a predicate name of {} bytes is longer than the {} allowed",
                predicate.len(),
                crate::node::MAX_TABLET_NAME
            )));
        }
        if predicate
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("dgraph."))
        {
            return Err(ZeroError::invalid(format!(
                "Unable to move reserved predicate {predicate}"
            )));
        }
        if !self.with_state(|a| a.state.members.values().any(|m| m.group == to)) {
            return Err(ZeroError::invalid(format!(
                "Group: [{to}] is not a known group."
            )));
        }
        let node = self.clone();
        tokio::spawn(async move { node.run_move(predicate, to).await })
            .await
            .map_err(|e| ZeroError::new(ErrorCode::Internal, format!("the move stopped: {e}")))?
    }

    async fn run_move(
        self: Arc<Self>,
        predicate: String,
        to: u32,
    ) -> Result<pb::MoveTabletResponse, ZeroError> {
        let started = Instant::now();
        let from = match self
            .propose(Command::MoveStart {
                predicate: predicate.clone(),
                to,
            })
            .await?
        {
            Reply::Group(from) => from,
            other => return Err(unexpected(other)),
        };
        tracing::info!(%predicate, from, to, "moving a tablet");
        let copied = self.copy(&predicate, from, to).await;
        let (keys, bytes, blocked) = match copied {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%predicate, error = %e, "calling the tablet move off");
                if let Err(abort) = self
                    .propose(Command::MoveAbort {
                        predicate: predicate.clone(),
                    })
                    .await
                {
                    tracing::warn!(%predicate, error = %abort, "the called-off move stays recorded until a leader calls it off");
                }
                return Err(e);
            }
        };
        let released_ts = self.settled_ts().await?;
        self.propose_ok(Command::MoveReleased {
            predicate: predicate.clone(),
            at: released_ts,
        })
        .await?;
        self.finish_move(&predicate, from, released_ts, RELEASE_WAIT)
            .await?;
        let blocked_ms = blocked.elapsed().as_millis() as u64;
        tracing::info!(%predicate, from, to, keys, bytes, blocked_ms, "tablet moved");
        Ok(pb::MoveTabletResponse {
            message: format!("Predicate: [{predicate}] moved from group [{from}] to [{to}]"),
            from_group: from,
            keys,
            bytes,
            blocked_ms,
            total_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Steps 1 and 2: the new group holds the predicate as of a timestamp after which no
    /// commit writes it. Answers keys and bytes copied and when writes were blocked.
    async fn copy(
        &self,
        predicate: &str,
        from: u32,
        to: u32,
    ) -> Result<(u64, u64, Instant), ZeroError> {
        let ts1 = self.settled_ts().await?;
        let first = self.receive(predicate, from, to, 0, ts1, false).await?;
        self.propose_ok(Command::MoveBlock {
            predicate: predicate.to_string(),
        })
        .await?;
        let blocked = Instant::now();
        let move_ts = self.settled_ts().await?;
        let last = self
            .receive(predicate, from, to, ts1, move_ts, true)
            .await?;
        Ok((first.keys + last.keys, first.bytes + last.bytes, blocked))
    }

    async fn receive(
        &self,
        predicate: &str,
        from: u32,
        to: u32,
        since_ts: u64,
        read_ts: u64,
        last: bool,
    ) -> Result<lodestar_proto::worker::ReceiveTabletResponse, ZeroError> {
        let req = ReceiveTabletRequest {
            predicate: predicate.to_string(),
            group_id: to,
            from_group: from,
            since_ts,
            read_ts,
            last,
        };
        self.on_group_leader(to, "copying the tablet", LEADER_WAIT, |mut w| {
            let req = req.clone();
            async move { w.receive_tablet(req).await }
        })
        .await
    }

    /// Step 3 from `MoveReleased` on: the old group lets go, the tablet changes groups.
    async fn finish_move(
        &self,
        predicate: &str,
        from: u32,
        released_ts: u64,
        wait: Duration,
    ) -> Result<(), ZeroError> {
        let req = ReleaseTabletRequest {
            predicate: predicate.to_string(),
            group_id: from,
            released_ts,
        };
        self.on_group_leader(from, "letting go of the tablet", wait, |mut w| {
            let req = req.clone();
            async move { w.release_tablet(req).await }
        })
        .await
        .map_err(|e| {
            ZeroError::new(
                ErrorCode::Unavailable,
                format!(
                    "{predicate} is copied, but group {from} has not let go of it yet ({e}); the move finishes when that group is back"
                ),
            )
        })?;
        self.propose_ok(Command::MoveFinish {
            predicate: predicate.to_string(),
        })
        .await
    }

    /// On becoming leader: finishes the moves the old group let go of (retrying until it is
    /// reachable) and calls off the others.
    pub async fn resume_moves(self: Arc<Self>) {
        let moving = self.with_state(|a| a.state.moving.clone());
        for (predicate, m) in moving {
            if m.released_at == 0 {
                tracing::info!(%predicate, "calling off a tablet move a previous leader left");
                if let Err(e) = self
                    .propose(Command::MoveAbort {
                        predicate: predicate.clone(),
                    })
                    .await
                {
                    tracing::warn!(%predicate, error = %e, "cannot call the move off yet");
                }
                continue;
            }
            let from = self.with_state(|a| a.state.tablets.get(&predicate).copied());
            let Some(from) = from else { continue };
            let node = self.clone();
            tokio::spawn(async move {
                while node.is_leader() {
                    match node
                        .finish_move(&predicate, from, m.released_at, LEADER_WAIT)
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(%predicate, to = m.to, "finished a tablet move a previous leader left");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(%predicate, error = %e, "finishing a tablet move")
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    }

    /// A fresh timestamp below which every commit decision is durable: a group asked to read
    /// at it settles every transaction decided below it first (it asks zero about those it
    /// holds parts of), so a copy at it misses no commit.
    async fn settled_ts(&self) -> Result<u64, ZeroError> {
        let ts = self.timestamps(1).await?.0;
        let deadline = Instant::now() + LEADER_WAIT;
        while self.read_only_ts().await? < ts {
            if Instant::now() >= deadline {
                return Err(ZeroError::new(
                    ErrorCode::Unavailable,
                    format!("commit decisions below {ts} are still being made durable"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(ts)
    }

    /// Proposes `cmd`; a refusal is an error (FailedPrecondition).
    async fn propose_ok(&self, cmd: Command) -> Result<(), ZeroError> {
        self.propose(cmd).await.map(|_| ())
    }

    /// Calls `call` on the leader of `group` (members as zero last heard of them, leader
    /// first), until one answers or `wait` has passed. A refusal of the input is final.
    async fn on_group_leader<T, F, Fut>(
        &self,
        group: u32,
        what: &str,
        wait: Duration,
        call: F,
    ) -> Result<T, ZeroError>
    where
        F: Fn(WorkerClient<lodestar_client::TracedChannel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + wait;
        let mut last = String::from("no live member");
        loop {
            let state = self.membership_state();
            let mut members: Vec<_> = state
                .groups
                .get(&group)
                .map(|g| g.members.values().filter(|m| !m.am_dead).cloned().collect())
                .unwrap_or_default();
            members.sort_by_key(|m| (!m.leader, m.id));
            for m in members {
                let channel = match lodestar_client::traced_channel(&m.addr) {
                    Ok(c) => c,
                    Err(s) => {
                        last = s.message().to_string();
                        continue;
                    }
                };
                let client = WorkerClient::new(channel)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX);
                match call(client).await {
                    Ok(r) => return Ok(r.into_inner()),
                    Err(s)
                        if matches!(
                            s.code(),
                            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
                        ) =>
                    {
                        return Err(ZeroError::invalid(format!(
                            "{what} in group {group}: {}",
                            s.message()
                        )));
                    }
                    Err(s) => last = format!("{}: {}", m.addr, s.message()),
                }
            }
            if Instant::now() >= deadline {
                return Err(ZeroError::new(
                    ErrorCode::Unavailable,
                    format!("{what} in group {group} failed: {last}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Every `interval`, on the leader: moves the tablet [`pick_rebalance`] chooses, if any.
pub async fn rebalance(
    node: Arc<ZeroNode>,
    interval: Duration,
    shutdown: lodestar_runtime::Shutdown,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait() => return,
        }
        if !node.is_leader() {
            continue;
        }
        let (tablets, groups, moving) = node.with_state(|a| {
            let groups: BTreeSet<u32> = a.state.members.values().map(|m| m.group).collect();
            (a.state.tablets.clone(), groups, !a.state.moving.is_empty())
        });
        if moving {
            continue;
        }
        let sizes = node.tablet_sizes();
        let Some((predicate, from, to)) = pick_rebalance(&tablets, &sizes, &groups) else {
            continue;
        };
        tracing::info!(%predicate, from, to, "rebalancing: moving a tablet to the group with the least data");
        if let Err(e) = node.clone().move_tablet(predicate.clone(), to, 0).await {
            tracing::warn!(%predicate, error = %e, "rebalancing: the move failed");
        }
    }
}

/// The tablet a rebalancing round moves, and from and to which group: the largest tablet of
/// the group holding the most bytes that, moved to the group holding the fewest, narrows the
/// gap between them (it is smaller than the gap). Nothing when the gap is under a fifth of the
/// larger group. The reserved `dgraph.*` predicates stay in group 1.
pub fn pick_rebalance(
    tablets: &BTreeMap<String, u32>,
    sizes: &HashMap<String, i64>,
    groups: &BTreeSet<u32>,
) -> Option<(String, u32, u32)> {
    let mut load: BTreeMap<u32, i64> = groups.iter().map(|g| (*g, 0)).collect();
    for (pred, g) in tablets {
        if let Some(bytes) = load.get_mut(g) {
            *bytes = bytes.saturating_add(sizes.get(pred).copied().unwrap_or(0));
        }
    }
    let (&from, &most) = load
        .iter()
        .max_by_key(|(g, b)| (**b, std::cmp::Reverse(**g)))?;
    let (&to, &least) = load.iter().min_by_key(|(g, b)| (**b, **g))?;
    let gap = most - least;
    if from == to || gap <= 0 || gap < most / 5 {
        return None;
    }
    tablets
        .iter()
        .filter(|(pred, g)| {
            **g == from
                && !pred
                    .get(..7)
                    .is_some_and(|p| p.eq_ignore_ascii_case("dgraph."))
        })
        .filter_map(|(pred, _)| {
            let size = sizes.get(pred).copied().unwrap_or(0);
            (size > 0 && size < gap).then_some((size, pred))
        })
        .max()
        .map(|(_, pred)| (pred.clone(), from, to))
}

fn unexpected(reply: Reply) -> ZeroError {
    ZeroError::new(ErrorCode::Internal, format!("unexpected reply {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(tablets: &[(&str, u32, i64)]) -> (BTreeMap<String, u32>, HashMap<String, i64>) {
        (
            tablets
                .iter()
                .map(|(p, g, _)| (p.to_string(), *g))
                .collect(),
            tablets
                .iter()
                .map(|(p, _, s)| (p.to_string(), *s))
                .collect(),
        )
    }

    #[test]
    fn rebalancing_moves_the_largest_tablet_that_narrows_the_gap() {
        let groups = BTreeSet::from([1, 2]);
        // Group 1: 900 bytes, group 2: 100, a gap of 800: moving the 700-byte tablet narrows
        // it to 600. The reserved one never moves.
        let (t, s) = cluster(&[
            ("dgraph.xid", 1, 150),
            ("big", 1, 700),
            ("small", 1, 50),
            ("other", 2, 100),
        ]);
        assert_eq!(
            pick_rebalance(&t, &s, &groups),
            Some(("big".to_string(), 1, 2))
        );
        // A tablet as large as the gap would only move the imbalance: the next one goes.
        let (t, s) = cluster(&[("huge", 1, 1000), ("mid", 1, 300), ("other", 2, 800)]);
        assert_eq!(
            pick_rebalance(&t, &s, &groups),
            Some(("mid".to_string(), 1, 2))
        );
    }

    #[test]
    fn rebalancing_leaves_a_balanced_cluster_and_a_lone_group_alone() {
        let (t, s) = cluster(&[("a", 1, 500), ("b", 2, 450)]);
        assert_eq!(pick_rebalance(&t, &s, &BTreeSet::from([1, 2])), None);
        let (t, s) = cluster(&[("a", 1, 500), ("b", 1, 450)]);
        assert_eq!(pick_rebalance(&t, &s, &BTreeSet::from([1])), None);
        // Only reserved predicates in the big group: nothing to move.
        let (t, s) = cluster(&[("dgraph.type", 1, 5000), ("b", 2, 10)]);
        assert_eq!(pick_rebalance(&t, &s, &BTreeSet::from([1, 2])), None);
        // An empty group receives from a loaded one.
        let (t, s) = cluster(&[("a", 2, 500), ("b", 2, 400)]);
        assert_eq!(
            pick_rebalance(&t, &s, &BTreeSet::from([1, 2])),
            Some(("a".to_string(), 2, 1))
        );
    }
}
