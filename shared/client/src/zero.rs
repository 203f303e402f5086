//! A zero client that finds and follows the Raft leader.

use crate::{TracedChannel, traced_channel};
use lodestar_proto::zero::zero_client::ZeroClient as RawZero;
use lodestar_proto::zero::*;
use parking_lot::Mutex;
use std::future::Future;
use std::time::{Duration, Instant};
use tonic::{Code, Status};

/// Metadata key in which a follower names the leader's gRPC address.
pub const LEADER_ADDR_METADATA: &str = "leader-addr";

/// How long a call keeps looking for a leader before it gives up.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// How long one attempt of a quick call (timestamps, commit decisions, leases, state) may
/// take before the next zero is tried over a new connection. A zero whose host vanished (a
/// container killed, a machine lost) sends no reset: calls on its connection would wait for
/// keepalives (10 s and more) while another zero already leads. Zero answers these within
/// milliseconds; a retried attempt is safe (a lost timestamp leaves a gap, a commit asked
/// again gets the decision recorded for its start).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A client for a set of zeros that always reaches the leader.
#[derive(Debug)]
pub struct ZeroClient {
    addrs: Vec<String>,
    state: Mutex<State>,
    deadline: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Index into `addrs` (or a leader learned from metadata) to try first.
    preferred: Option<String>,
    next: usize,
    channels: std::collections::HashMap<String, TracedChannel>,
}

impl ZeroClient {
    /// A client for the zeros at `addrs` (`host:port`, comma-separated lists are split).
    pub fn new<I, S>(addrs: I) -> Result<Self, Status>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let addrs: Vec<String> = addrs
            .into_iter()
            .flat_map(|a| {
                a.as_ref()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|a| !a.is_empty())
            .collect();
        if addrs.is_empty() {
            return Err(Status::invalid_argument("no zero address given"));
        }
        Ok(ZeroClient {
            addrs,
            state: Mutex::new(State::default()),
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// Changes how long one call may spend looking for a leader.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    fn pick(&self) -> Result<(String, TracedChannel), Status> {
        let mut state = self.state.lock();
        let addr = match state.preferred.clone() {
            Some(addr) => addr,
            None => {
                let addr = self.addrs[state.next % self.addrs.len()].clone();
                state.preferred = Some(addr.clone());
                addr
            }
        };
        let channel = match state.channels.get(&addr) {
            Some(c) => c.clone(),
            None => {
                let c = traced_channel(&addr)?;
                state.channels.insert(addr.clone(), c.clone());
                c
            }
        };
        Ok((addr, channel))
    }

    fn failed(&self, addr: &str, leader_hint: Option<String>, drop_channel: bool) {
        let mut state = self.state.lock();
        if drop_channel {
            state.channels.remove(addr);
        }
        if state.preferred.as_deref() == Some(addr) {
            state.preferred = leader_hint;
            if state.preferred.is_none() {
                state.next = state.next.wrapping_add(1);
            }
        }
    }

    /// Runs `call` against the leader, following redirects and skipping dead zeros; each
    /// attempt may take as long as it needs (a tablet move, a license).
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(RawZero<TracedChannel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_within(None, call).await
    }

    /// [`Self::call`] for a quick call: an attempt that takes longer than [`ATTEMPT_TIMEOUT`]
    /// is given up and the next zero tried.
    async fn quick<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(RawZero<TracedChannel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_within(Some(ATTEMPT_TIMEOUT), call).await
    }

    async fn call_within<T, F, Fut>(&self, attempt: Option<Duration>, call: F) -> Result<T, Status>
    where
        F: Fn(RawZero<TracedChannel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(20);
        loop {
            let (addr, channel) = self.pick()?;
            let answer = match attempt {
                Some(limit) => tokio::time::timeout(limit, call(RawZero::new(channel))).await,
                None => Ok(call(RawZero::new(channel)).await),
            };
            let (status, timed_out) = match answer {
                Ok(Ok(resp)) => return Ok(resp.into_inner()),
                Ok(Err(status)) => (status, false),
                // The connection may be dead without knowing it: the next try opens a new one.
                Err(_) => (
                    Status::unavailable(format!(
                        "{addr} took longer than {:?}",
                        attempt.unwrap_or_default()
                    )),
                    true,
                ),
            };
            if !retryable(&status) {
                return Err(status);
            }
            let hint = status
                .metadata()
                .get(LEADER_ADDR_METADATA)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .filter(|h| !h.is_empty() && *h != addr);
            let followed = hint.is_some();
            self.failed(&addr, hint, timed_out);
            if start.elapsed() >= self.deadline {
                return Err(Status::unavailable(format!(
                    "no zero leader reachable at {} within {:?}: {}",
                    self.addrs.join(","),
                    self.deadline,
                    status.message()
                )));
            }
            if !followed {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(250));
            }
        }
    }

    /// `n` fresh timestamps (inclusive range). A retried call never repeats ids: a lost answer
    /// leaves a gap, never a duplicate.
    pub async fn timestamps(&self, n: u64) -> Result<AssignedIds, Status> {
        self.quick(|mut c| async move {
            c.timestamps(Num {
                val: n,
                ..Default::default()
            })
            .await
        })
        .await
    }

    /// A read-only timestamp.
    pub async fn read_ts(&self) -> Result<u64, Status> {
        let ids = self
            .quick(|mut c| async move {
                c.timestamps(Num {
                    read_only: true,
                    ..Default::default()
                })
                .await
            })
            .await?;
        Ok(ids.read_only)
    }

    /// Leases `n` ids of `kind` (UID or namespace).
    pub async fn assign_ids(&self, kind: NumLeaseType, n: u64) -> Result<AssignedIds, Status> {
        self.quick(|mut c| async move {
            c.assign_ids(Num {
                val: n,
                r#type: kind as i32,
                ..Default::default()
            })
            .await
        })
        .await
    }

    /// Makes sure the lease of `kind` (timestamps too) is at least `at_least`.
    pub async fn bump(&self, kind: NumLeaseType, at_least: u64) -> Result<AssignedIds, Status> {
        self.call(|mut c| async move {
            let num = Num {
                val: at_least,
                r#type: kind as i32,
                bump: true,
                ..Default::default()
            };
            if kind == NumLeaseType::TxnTs {
                c.timestamps(num).await
            } else {
                c.assign_ids(num).await
            }
        })
        .await
    }

    /// After a restore: raises zero's timestamps to at least `ts` and its UID and namespace
    /// leases to at least `max_uid` and `max_ns` (zeros are skipped), so nothing zero hands
    /// out later collides with the restored data.
    pub async fn raise_above(&self, ts: u64, max_uid: u64, max_ns: u64) -> Result<(), Status> {
        for (kind, at_least, what) in [
            (NumLeaseType::TxnTs, ts, "timestamps"),
            (NumLeaseType::Uid, max_uid, "UID lease"),
            (NumLeaseType::NsId, max_ns, "namespace lease"),
        ] {
            if at_least == 0 {
                continue;
            }
            self.bump(kind, at_least).await.map_err(|e| {
                Status::new(
                    e.code(),
                    format!("raising zero's {what} to {at_least}: {}", e.message()),
                )
            })?;
        }
        Ok(())
    }

    pub async fn commit_or_abort(&self, req: CommitRequest) -> Result<CommitDecision, Status> {
        self.quick(|mut c| {
            let req = req.clone();
            async move { c.commit_or_abort(req).await }
        })
        .await
    }

    /// Gives `predicate` to `group` (with `force`, whichever group had it; without, only if
    /// no group has it); answers the group that serves it.
    pub async fn give_tablet(
        &self,
        predicate: &str,
        group: u32,
        force: bool,
    ) -> Result<u32, Status> {
        let req = TabletRequest {
            predicate: predicate.to_string(),
            group_id: group,
            read_only: false,
            force,
        };
        let info = self
            .quick(|mut c| {
                let req = req.clone();
                async move { c.tablet(req).await }
            })
            .await?;
        Ok(info.group_id)
    }

    pub async fn state(&self) -> Result<MembershipState, Status> {
        self.quick(|mut c| async move { c.state(StateRequest {}).await })
            .await
    }

    pub async fn enterprise_state(&self) -> Result<EnterpriseStateResponse, Status> {
        self.quick(|mut c| async move { c.enterprise_state(EnterpriseStateRequest {}).await })
            .await
    }

    pub async fn apply_license(&self, license: Vec<u8>) -> Result<ApplyLicenseResponse, Status> {
        self.call(|mut c| {
            let license = license.clone();
            async move { c.apply_license(ApplyLicenseRequest { license }).await }
        })
        .await
    }

    pub async fn join_group(&self, req: ConnectRequest) -> Result<ConnectResponse, Status> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.join_group(req).await }
        })
        .await
    }

    pub async fn set_draining(&self, enable: bool) -> Result<DrainingResponse, Status> {
        self.call(|mut c| async move { c.set_draining(DrainingRequest { enable }).await })
            .await
    }

    /// Moves a tablet to another group; answers once the group serves it (a move takes as
    /// long as its data: no deadline but the caller's).
    pub async fn move_tablet(&self, req: MoveTabletRequest) -> Result<MoveTabletResponse, Status> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.move_tablet(req).await }
        })
        .await
    }

    /// Tells the leading zero where an alpha stands in its group.
    pub async fn report_member(&self, report: MemberReport) -> Result<(), Status> {
        self.quick(|mut c| {
            let report = report.clone();
            async move { c.report_member(report).await }
        })
        .await
        .map(|_| ())
    }
}

/// Whether another zero (or the same one, later) may answer: not the leader, or the connection
/// failed before or during the call (a killed leader closes its connections mid-request).
fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::Cancelled => true,
        Code::Unknown => {
            let mut source = std::error::Error::source(status);
            while let Some(err) = source {
                if err.is::<tonic::transport::Error>() || err.is::<std::io::Error>() {
                    return true;
                }
                source = err.source();
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_retried_and_answers_are_not() {
        assert!(retryable(&Status::unavailable("not the leader")));
        assert!(retryable(&Status::cancelled("connection closed")));
        assert!(!retryable(&Status::invalid_argument("bad")));
        assert!(!retryable(&Status::unknown("some application error")));
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        assert!(retryable(&Status::from_error(Box::new(io))));
    }

    /// A zero that accepts connections and never answers (its host vanished under an open
    /// connection looks the same): a quick call gives up on it within the client's deadline
    /// plus one attempt, instead of waiting for keepalives, and each attempt opens a new
    /// connection.
    #[tokio::test]
    async fn a_zero_that_never_answers_is_given_up_after_an_attempt() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                held.push(socket);
            }
        });
        let zero = ZeroClient::new([addr.as_str()])
            .unwrap()
            .with_deadline(Duration::from_secs(4));
        let started = Instant::now();
        let err = zero.timestamps(1).await.expect_err("nothing answers");
        let took = started.elapsed();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(err.message().contains("took longer than"), "{err:?}");
        assert!(
            took >= ATTEMPT_TIMEOUT && took < Duration::from_secs(4) + ATTEMPT_TIMEOUT * 2,
            "gave up after {took:?}"
        );
        assert!(
            accepted.load(std::sync::atomic::Ordering::Relaxed) >= 2,
            "each attempt opens a new connection"
        );
    }
}
