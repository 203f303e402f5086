//! The graph's [`Oracle`] backed by zero over gRPC.

use crate::graph::{GraphError, Oracle};
use lodestar_client::ZeroClient;
use lodestar_proto::zero::{CommitRequest, NumLeaseType, TabletRequest, TxnStatusRequest};
use std::sync::Arc;

/// Zero as the graph's timestamp, commit and uid oracle.
#[derive(Debug, Clone)]
pub struct ZeroOracle {
    pub zero: Arc<ZeroClient>,
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
        Ok(self.zero.timestamps(n).await.map_err(from_status)?.start_id)
    }

    async fn read_ts(&self) -> Result<u64, GraphError> {
        self.zero.read_ts().await.map_err(from_status)
    }

    async fn commit(
        &self,
        start_ts: u64,
        conflict_keys: Vec<u64>,
        abort: bool,
    ) -> Result<Option<u64>, GraphError> {
        let d = self
            .zero
            .commit_or_abort(CommitRequest {
                start_ts,
                conflict_keys,
                preds: Vec::new(),
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

    async fn uids(&self, n: u64) -> Result<u64, GraphError> {
        Ok(self
            .zero
            .assign_ids(NumLeaseType::Uid, n)
            .await
            .map_err(from_status)?
            .start_id)
    }
}
