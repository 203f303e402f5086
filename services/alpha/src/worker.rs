//! `worker.Worker` on the internal port: what the backup worker calls to stream a backup out of
//! this alpha's group and to load a restore into it.

use crate::api::to_status;
use crate::graph::Graph;
use lodestar_backup::record::Record;
use lodestar_proto::worker::worker_server::Worker;
use lodestar_proto::worker::{KvBatch, LoadResult, SnapshotRequest};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug)]
pub struct WorkerApi {
    pub graph: Arc<Graph>,
    pub group: u32,
}

type BatchStream = Pin<Box<dyn Stream<Item = Result<KvBatch, Status>> + Send>>;

#[tonic::async_trait]
impl Worker for WorkerApi {
    async fn stream_snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<BatchStream>, Status> {
        let req = request.into_inner();
        if req.group_id != 0 && req.group_id != self.group {
            return Err(Status::failed_precondition(format!(
                "this alpha serves group {}, not group {}",
                self.group, req.group_id
            )));
        }
        if req.read_ts == 0 || req.since_ts >= req.read_ts {
            return Err(Status::invalid_argument(format!(
                "a backup stream needs since_ts < read_ts (got since_ts {} and read_ts {})",
                req.since_ts, req.read_ts
            )));
        }
        tracing::info!(
            since = req.since_ts,
            read_ts = req.read_ts,
            "streaming a backup"
        );
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let graph = self.graph.clone();
        tokio::spawn(async move {
            graph.stream_changes(req.since_ts, req.read_ts, tx).await;
        });
        let stream = ReceiverStream::new(rx).map(|item| item.map(KvBatch::from).map_err(to_status));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn load_kvs(
        &self,
        request: Request<Streaming<KvBatch>>,
    ) -> Result<Response<LoadResult>, Status> {
        let mut stream = request.into_inner();
        let Some(first) = stream.message().await? else {
            return Err(Status::invalid_argument(
                "a restore stream needs at least one batch",
            ));
        };
        if first.restore_ts == 0 {
            return Err(Status::invalid_argument(
                "the first batch of a restore must carry restore_ts",
            ));
        }
        tracing::info!(
            restore_ts = first.restore_ts,
            drop_all = first.drop_all,
            "loading a restore"
        );
        let (mut restore, guard) = self
            .graph
            .begin_restore(first.restore_ts, first.drop_all)
            .await
            .map_err(to_status)?;
        // A stream that breaks off or a batch that does not load takes back everything the
        // restore wrote, so the data it was replacing is served again as it was.
        let mut next = Some(first);
        let loaded = loop {
            let Some(batch) = next.take() else {
                break Ok(());
            };
            if batch.new_file {
                restore.new_file();
            }
            if let Err(e) = self.graph.restore_batch(&mut restore, Record::from(batch)) {
                break Err(to_status(e));
            }
            match stream.message().await {
                Ok(batch) => next = batch,
                Err(e) => break Err(e),
            }
        };
        if let Err(status) = loaded {
            self.graph
                .abort_restore(restore, guard)
                .map_err(to_status)?;
            return Err(status);
        }
        let (loaded, max_uid) = self
            .graph
            .finish_restore(restore, guard)
            .await
            .map_err(to_status)?;
        tracing::info!(loaded, max_uid, "restore loaded");
        Ok(Response::new(LoadResult { loaded, max_uid }))
    }
}
