//! The graph's [`Oracle`] backed by zero over gRPC.

use crate::graph::{GraphError, Oracle};
use lodestar_client::ZeroClient;
use lodestar_proto::zero::{CommitRequest, NumLeaseType, TabletRequest, TxnStatusRequest};
use std::sync::Arc;

/// Zero as the graph's timestamp, commit and uid oracle. Timestamp requests that arrive while
/// one is under way are served together by the next call to zero (each waiter's answer comes
/// from a call that started after it asked, so reads stay linearizable).
#[derive(Debug, Clone)]
pub struct ZeroOracle {
    pub zero: Arc<ZeroClient>,
    batches: tokio::sync::mpsc::UnboundedSender<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    /// A fresh timestamp (a transaction's start), or else a read timestamp.
    fresh: bool,
    reply: tokio::sync::oneshot::Sender<Result<u64, GraphError>>,
}

impl ZeroOracle {
    pub fn new(zero: Arc<ZeroClient>) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(batch_timestamps(zero.clone(), rx));
        ZeroOracle { zero, batches: tx }
    }

    async fn batched(&self, fresh: bool) -> Result<u64, GraphError> {
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.batches
            .send(Waiter { fresh, reply })
            .map_err(|_| GraphError::Unavailable("the alpha is stopping".into()))?;
        wait.await
            .unwrap_or_else(|_| Err(GraphError::Unavailable("the alpha is stopping".into())))
    }
}

/// Serves waiting timestamp requests in rounds: one `Timestamps(n)` call for all the fresh
/// ones and one read-only call for all the reads.
async fn batch_timestamps(
    zero: Arc<ZeroClient>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Waiter>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let fresh = waiters.iter().filter(|w| w.fresh).count() as u64;
        let reads = waiters.len() as u64 > fresh;
        // A read timestamp always comes from zero's read-only oracle, which stays below every
        // undecided commit; fresh ones from a block of new timestamps.
        let (fresh_ids, read_ts) = tokio::join!(
            async {
                if fresh > 0 {
                    zero.timestamps(fresh).await.map(|ids| ids.start_id)
                } else {
                    Ok(0)
                }
            },
            async { if reads { zero.read_ts().await } else { Ok(0) } },
        );
        match fresh_ids.and_then(|f| read_ts.map(|r| (f, r))) {
            Ok((first_fresh, read)) => {
                let mut next = first_fresh;
                for w in waiters {
                    let ts = if w.fresh {
                        next += 1;
                        next - 1
                    } else {
                        read
                    };
                    let _ = w.reply.send(Ok(ts));
                }
            }
            Err(status) => {
                let e = from_status(status);
                for w in waiters {
                    let _ = w.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn from_status(status: tonic::Status) -> GraphError {
    match status.code() {
        tonic::Code::InvalidArgument => GraphError::Invalid(status.message().to_string()),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            GraphError::Unavailable(format!("zero: {}", status.message()))
        }
        _ => GraphError::Internal(format!("zero: {}", status.message())),
    }
}

#[tonic::async_trait]
impl Oracle for ZeroOracle {
    async fn timestamps(&self, n: u64) -> Result<u64, GraphError> {
        if n == 1 {
            return self.batched(true).await;
        }
        Ok(self.zero.timestamps(n).await.map_err(from_status)?.start_id)
    }

    async fn read_ts(&self) -> Result<u64, GraphError> {
        self.batched(false).await
    }

    async fn commit(
        &self,
        start_ts: u64,
        conflict_keys: Vec<u64>,
        preds: Vec<String>,
        abort: bool,
    ) -> Result<Option<u64>, GraphError> {
        let d = self
            .zero
            .commit_or_abort(CommitRequest {
                start_ts,
                conflict_keys,
                preds,
                abort,
            })
            .await
            .map_err(from_status)?;
        Ok(if d.aborted { None } else { Some(d.commit_ts) })
    }

    async fn status(&self, start_ts: u64) -> Result<Option<Option<u64>>, GraphError> {
        let d = self
            .zero
            .call(|mut c| async move { c.txn_status(TxnStatusRequest { start_ts }).await })
            .await
            .map_err(from_status)?;
        Ok(match (d.known, d.aborted) {
            (false, _) => None,
            (true, true) => Some(None),
            (true, false) => Some(Some(d.commit_ts)),
        })
    }

    async fn tablet(&self, predicate: &str, group: u32) -> Result<u32, GraphError> {
        let req = TabletRequest {
            predicate: predicate.to_string(),
            group_id: group,
            read_only: false,
            force: false,
        };
        let t = self
            .zero
            .call(|mut c| {
                let req = req.clone();
                async move { c.tablet(req).await }
            })
            .await
            .map_err(from_status)?;
        Ok(t.group_id)
    }

    async fn max_uid(&self) -> Result<u64, GraphError> {
        Ok(self.zero.state().await.map_err(from_status)?.max_uid)
    }

    async fn uids(&self, n: u64) -> Result<u64, GraphError> {
        Ok(self
            .zero
            .assign_ids(NumLeaseType::Uid, n)
            .await
            .map_err(from_status)?
            .start_id)
    }
}
