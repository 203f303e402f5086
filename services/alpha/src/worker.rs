//! `worker.Worker` on the internal port: what the backup worker calls to stream a backup out of
//! this alpha's group and to load a restore into it.

use crate::api::to_status;
use crate::graph::remote::Asked;
use crate::graph::{Graph, export};
use lodestar_backup::record::Record;
use lodestar_proto::worker::worker_server::Worker;
use lodestar_proto::worker::{
    AlterPartRequest, DigestRequest, DigestResponse, ExportChunk, ExportRequest, KeyValue, KvBatch,
    LoadResult, MutatePartRequest, MutatePartResponse, ReadIndexRequest, ReadIndexResponse,
    ReadKeysRequest, ReadKeysResponse, ReceiveTabletRequest, ReceiveTabletResponse,
    ReleaseTabletRequest, SendTabletRequest, SnapshotRequest, TxnPartRequest, TxnPartResponse,
};
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug)]
pub struct WorkerApi {
    pub graph: Arc<Graph>,
    pub group: u32,
    /// This alpha's place in its group: restores go to the leader; read barriers are answered
    /// there.
    pub replica: Option<Arc<crate::group::replica::Replica>>,
}

impl WorkerApi {
    /// Refuses a call meant for another group.
    fn serves(&self, group: u32) -> Result<(), Status> {
        if group != self.group {
            return Err(Status::failed_precondition(format!(
                "this alpha serves group {}, not group {group}",
                self.group
            )));
        }
        Ok(())
    }

    /// Refuses a call meant for the leader of `group` on any other alpha, and holds it on a
    /// leader until that leader has taken over: until then its schema, dictionary and open
    /// transactions may be behind what its predecessors committed (a part buffered then
    /// would be written without the index a schema change just added, or dropped by the
    /// take-over), as the client API's writes wait.
    async fn leading(&self, group: u32) -> Result<(), Status> {
        self.serves(group)?;
        match &self.replica {
            Some(r) => r.until_ready().await.map_err(to_status),
            None => Ok(()),
        }
    }
}

type BatchStream = Pin<Box<dyn Stream<Item = Result<KvBatch, Status>> + Send>>;
type ChunkStream = Pin<Box<dyn Stream<Item = Result<ExportChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Worker for WorkerApi {
    async fn stream_snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<BatchStream>, Status> {
        let req = request.into_inner();
        if req.group_id != 0 {
            self.serves(req.group_id)?;
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
        let encrypted_at_rest = self.graph.store.encrypted();
        let stream = ReceiverStream::new(rx).map(move |item| {
            item.map(|b| KvBatch {
                encrypted_at_rest,
                ..KvBatch::from(b)
            })
            .map_err(to_status)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn export(
        &self,
        request: Request<ExportRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let req = request.into_inner();
        self.serves(req.group_id)?;
        if req.read_ts == 0 {
            return Err(Status::invalid_argument("an export needs read_ts > 0"));
        }
        let plan = export::Plan {
            read_ts: req.read_ts,
            format: export::Format::parse(&req.format).map_err(to_status)?,
            predicates: req.predicates.into_iter().collect(),
            except: req.except,
            types: req.types,
        };
        tracing::info!(read_ts = plan.read_ts, format = ?plan.format, "exporting");
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let graph = self.graph.clone();
        tokio::spawn(async move {
            graph.stream_export(plan, tx).await;
        });
        let encrypted_at_rest = self.graph.store.encrypted();
        let stream = ReceiverStream::new(rx).map(move |item| {
            item.map(|c| ExportChunk {
                data: c.data,
                schema: c.schema,
                done: c.done,
                count: c.count,
                encrypted_at_rest,
            })
            .map_err(to_status)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn read_index(
        &self,
        request: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexResponse>, Status> {
        let req = request.into_inner();
        let Some(replica) = &self.replica else {
            return Err(Status::failed_precondition(
                "this alpha is not one replica of a group",
            ));
        };
        self.serves(req.group_id)?;
        let index = replica
            .answer_read_index(req.read_ts)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ReadIndexResponse { index }))
    }

    async fn digest(
        &self,
        request: Request<DigestRequest>,
    ) -> Result<Response<DigestResponse>, Status> {
        let read_ts = request.into_inner().read_ts;
        if read_ts == 0 {
            return Err(Status::invalid_argument("a digest needs read_ts > 0"));
        }
        self.graph.settle_for(read_ts).await.map_err(to_status)?;
        let applied = self.replica.as_ref().map_or(0, |r| r.standing().applied);
        let store = self.graph.store.clone();
        let digest = tokio::task::spawn_blocking(move || store.snapshot().digest(read_ts))
            .await
            .map_err(|e| Status::internal(format!("computing the digest: {e}")))?
            .map_err(|e| to_status(e.into()))?;
        Ok(Response::new(DigestResponse {
            versions: digest.versions,
            sha256: digest.sha256,
            applied,
        }))
    }

    async fn read_keys(
        &self,
        request: Request<ReadKeysRequest>,
    ) -> Result<Response<ReadKeysResponse>, Status> {
        let req = request.into_inner();
        self.serves(req.group_id)?;
        if req.read_ts == 0 {
            return Err(Status::invalid_argument("a read of keys needs read_ts > 0"));
        }
        tracing::debug!(read_ts = req.read_ts, "another group reads keys");
        for r in &req.ranges {
            self.graph
                .check_readable(&r.predicate, req.read_ts)
                .map_err(to_status)?;
        }
        self.graph
            .settle_for(req.read_ts)
            .await
            .map_err(to_status)?;
        let txn = match req.start_ts {
            0 => None,
            start => self.graph.existing_txn(start),
        };
        let guard = match &txn {
            Some(t) => Some(t.lock().await),
            None => None,
        };
        let ranges: Vec<Asked> = req
            .ranges
            .into_iter()
            .map(|r| Asked {
                predicate: r.predicate,
                kind: r.kind,
                prefixes: r.prefixes,
            })
            .collect();
        let answer = crate::graph::blocking(|| {
            self.graph
                .read_keys(req.read_ts, guard.as_deref(), &ranges, &req.schema_of)
        })
        .map_err(to_status)?;
        for r in &ranges {
            self.graph
                .check_readable(&r.predicate, req.read_ts)
                .map_err(to_status)?;
        }
        Ok(Response::new(ReadKeysResponse {
            entries: answer
                .entries
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
            names: answer.names.into_iter().collect(),
            schemas: answer.schemas.into_iter().collect(),
        }))
    }

    async fn mutate(
        &self,
        request: Request<MutatePartRequest>,
    ) -> Result<Response<MutatePartResponse>, Status> {
        let req = request.into_inner();
        self.leading(req.group_id).await?;
        let (keys, preds) = self
            .graph
            .mutate_part(req.start_ts, &req.part)
            .await
            .map_err(to_status)?;
        Ok(Response::new(MutatePartResponse { keys, preds }))
    }

    async fn prepare(
        &self,
        request: Request<TxnPartRequest>,
    ) -> Result<Response<MutatePartResponse>, Status> {
        let req = request.into_inner();
        self.leading(req.group_id).await?;
        let keys = self
            .graph
            .prepare_part(req.start_ts)
            .await
            .map_err(to_status)?;
        Ok(Response::new(MutatePartResponse {
            keys,
            preds: Vec::new(),
        }))
    }

    async fn alter(
        &self,
        request: Request<AlterPartRequest>,
    ) -> Result<Response<TxnPartResponse>, Status> {
        let req = request.into_inner();
        self.leading(req.group_id).await?;
        if req.drop.is_empty() {
            self.graph
                .alter_schema_part(&req.schema)
                .await
                .map_err(to_status)?;
        } else {
            let drop = crate::graph::alter::Drop::parse(&req.drop).map_err(to_status)?;
            self.graph.drop_here(&drop).await.map_err(to_status)?;
        }
        Ok(Response::new(TxnPartResponse { commit_ts: 0 }))
    }

    async fn decide(
        &self,
        request: Request<TxnPartRequest>,
    ) -> Result<Response<TxnPartResponse>, Status> {
        let req = request.into_inner();
        self.leading(req.group_id).await?;
        let commit_ts = self
            .graph
            .decide_part(req.start_ts, req.commit_ts)
            .await
            .map_err(to_status)?;
        Ok(Response::new(TxnPartResponse { commit_ts }))
    }

    async fn send_tablet(
        &self,
        request: Request<SendTabletRequest>,
    ) -> Result<Response<BatchStream>, Status> {
        let req = request.into_inner();
        self.serves(req.group_id)?;
        if req.read_ts == 0 || req.since_ts >= req.read_ts {
            return Err(Status::invalid_argument(format!(
                "a tablet stream needs since_ts < read_ts (got since_ts {} and read_ts {})",
                req.since_ts, req.read_ts
            )));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let graph = self.graph.clone();
        tokio::spawn(async move {
            graph
                .send_tablet(req.predicate, req.since_ts, req.read_ts, tx)
                .await;
        });
        let stream = ReceiverStream::new(rx).map(|item| item.map(KvBatch::from).map_err(to_status));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn receive_tablet(
        &self,
        request: Request<ReceiveTabletRequest>,
    ) -> Result<Response<ReceiveTabletResponse>, Status> {
        let req = request.into_inner();
        self.leading(req.group_id).await?;
        if req.from_group == req.group_id {
            return Err(Status::invalid_argument(
                "a tablet cannot move into the group it is in",
            ));
        }
        tracing::info!(predicate = %req.predicate, from = req.from_group, since = req.since_ts, read_ts = req.read_ts, "copying a tablet here");
        let copied = self
            .graph
            .receive_tablet(
                &req.predicate,
                req.from_group,
                req.since_ts,
                req.read_ts,
                req.last,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(ReceiveTabletResponse {
            keys: copied.keys,
            bytes: copied.bytes,
        }))
    }

    async fn release_tablet(
        &self,
        request: Request<ReleaseTabletRequest>,
    ) -> Result<Response<TxnPartResponse>, Status> {
        let req = request.into_inner();
        self.leading(req.group_id).await?;
        tracing::info!(predicate = %req.predicate, at = req.released_ts, "letting go of a tablet");
        self.graph
            .release_tablet(&req.predicate, req.released_ts)
            .await
            .map_err(to_status)?;
        Ok(Response::new(TxnPartResponse { commit_ts: 0 }))
    }

    async fn load_kvs(
        &self,
        request: Request<Streaming<KvBatch>>,
    ) -> Result<Response<LoadResult>, Status> {
        if let Some(replica) = &self.replica
            && !replica.is_leader()
        {
            return forward_restore(replica, request).await;
        }
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
        let guard = self
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
            let new_file = batch.new_file;
            if let Err(e) = self
                .graph
                .restore_batch(&Record::from(batch), new_file)
                .await
            {
                break Err(to_status(e));
            }
            match stream.message().await {
                Ok(batch) => next = batch,
                Err(e) => break Err(e),
            }
        };
        if let Err(status) = loaded {
            self.graph.abort_restore(guard).await.map_err(to_status)?;
            return Err(status);
        }
        let (loaded, max_uid) = self.graph.finish_restore(guard).await.map_err(to_status)?;
        tracing::info!(loaded, max_uid, "restore loaded");
        Ok(Response::new(LoadResult { loaded, max_uid }))
    }
}

/// Passes a restore stream on to the group's leader, which loads it through the group's log.
/// A stream that breaks off here breaks off there too (the call is dropped), so the leader
/// takes the restore back rather than finish it with part of the data.
async fn forward_restore(
    replica: &crate::group::replica::Replica,
    request: Request<Streaming<KvBatch>>,
) -> Result<Response<LoadResult>, Status> {
    let Some((_, addr)) = replica.leader() else {
        return Err(to_status(replica.not_leader()));
    };
    let mut client = replica.worker(&addr).map_err(to_status)?;
    let mut inbound = request.into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (broken_tx, broken) = tokio::sync::oneshot::channel::<Status>();
    tokio::spawn(async move {
        loop {
            match inbound.message().await {
                Ok(Some(batch)) => {
                    if tx.send(batch).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(status) => {
                    let _ = broken_tx.send(status);
                    return;
                }
            }
        }
    });
    tokio::select! {
        reply = client.load_kvs(ReceiverStream::new(rx)) => reply,
        Ok(status) = broken => Err(status),
    }
}
