//! The Raft transport: openraft's messages as postcard inside `raft.Raft` gRPC calls, and whole
//! snapshots streamed in chunks that the application makes and reads ([`SnapshotTransfer`]).
//!
//! Calls go out through `lodestar_client::traced_channel`, so they carry the cluster credential
//! and the trace context like every other internal call. A batch of entries larger than the
//! message limit is sent in part (openraft's `PartialSuccess`) and the rest follows.

use crate::codec::{Codec, Postcard};
use futures::stream::BoxStream;
use futures::{StreamExt, future::BoxFuture};
use lodestar_proto::raft::raft_client::RaftClient;
use lodestar_proto::raft::raft_server::{Raft as RaftRpc, RaftServer};
use lodestar_proto::raft::{RaftMessage, SnapshotChunk};
use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Entry, OptionalSend, RaftTypeConfig, Snapshot, SnapshotMeta, Vote};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::io;
use std::sync::Arc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// Largest Raft message sent or accepted (a batch of entries, a snapshot chunk, one large
/// entry). Batches above [`BATCH_BYTES`] are split.
pub const MAX_MESSAGE: usize = 1 << 30;

/// Entries sent in one append are cut to about this many bytes: openraft gives an append one
/// heartbeat interval to be written and acknowledged, so messages stay small (applications
/// propose large changes in parts).
pub const BATCH_BYTES: usize = 2 << 20;

/// The smallest batch a connection cuts to after appends ran out of time (one entry is always
/// sent whole).
const MIN_BATCH_BYTES: usize = 64 << 10;

/// Chunks in flight between the snapshot's producer and the wire.
const CHUNKS_IN_FLIGHT: usize = 4;

/// How an application moves its snapshot data between nodes.
pub trait SnapshotTransfer<C: RaftTypeConfig>: Send + Sync + 'static {
    /// The byte chunks that carry `data` to another node, in order. An error ends the
    /// transfer; the receiver installs nothing.
    fn send(&self, data: Box<C::SnapshotData>) -> BoxStream<'static, io::Result<Vec<u8>>>;

    /// Rebuilds snapshot data from the chunks another node sent for `meta`. The stream yields
    /// an error if it was cut off before its last chunk.
    fn receive(
        &self,
        meta: SnapshotMeta<u64, BasicNode>,
        chunks: BoxStream<'static, io::Result<Vec<u8>>>,
    ) -> BoxFuture<'static, io::Result<Box<C::SnapshotData>>>;
}

/// Makes connections to the other nodes of Raft group `group`.
pub struct Network<C, T> {
    group: u32,
    transfer: Arc<T>,
    _types: std::marker::PhantomData<fn() -> C>,
}

impl<C, T> Network<C, T> {
    pub fn new(group: u32, transfer: Arc<T>) -> Self {
        Network {
            group,
            transfer,
            _types: std::marker::PhantomData,
        }
    }
}

impl<C, T> RaftNetworkFactory<C> for Network<C, T>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    T: SnapshotTransfer<C>,
{
    type Network = Connection<C, T>;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection<C, T> {
        Connection {
            group: self.group,
            target,
            node: node.clone(),
            transfer: self.transfer.clone(),
            client: None,
            batch_bytes: BATCH_BYTES,
            appending: false,
            _types: std::marker::PhantomData,
        }
    }
}

/// A connection to one node, made lazily.
pub struct Connection<C, T> {
    group: u32,
    target: u64,
    node: BasicNode,
    transfer: Arc<T>,
    client: Option<RaftClient<lodestar_client::TracedChannel>>,
    /// What an append carries at most now: halved each time an append was cut off by its
    /// timeout (a slow or starved follower), doubled back after each that went through, so a
    /// follower catching up on large entries gets batches it can write in time.
    batch_bytes: usize,
    /// An append is under way; still set when the next starts, it was cut off.
    appending: bool,
    _types: std::marker::PhantomData<fn() -> C>,
}

#[derive(Clone, Copy)]
enum Method {
    Vote,
    Append,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    Postcard::encode(value)
}

fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, String> {
    Postcard::decode(raw)
}

impl<C, T> Connection<C, T>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    T: SnapshotTransfer<C>,
{
    fn client(&mut self) -> Result<RaftClient<lodestar_client::TracedChannel>, Unreachable> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let channel =
            lodestar_client::traced_channel(&self.node.addr).map_err(|e| Unreachable::new(&e))?;
        let client = RaftClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        self.client = Some(client.clone());
        Ok(client)
    }

    async fn call<Resp, E>(
        &mut self,
        method: Method,
        data: Vec<u8>,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let mut client = self.client().map_err(RPCError::Unreachable)?;
        let mut request = Request::new(RaftMessage {
            group: self.group,
            data,
            target: self.target,
        });
        request.set_timeout(option.hard_ttl());
        let result = match method {
            Method::Vote => client.vote(request).await,
            Method::Append => client.append_entries(request).await,
        };
        let reply = result.map_err(|status| RPCError::Unreachable(Unreachable::new(&status)))?;
        let decoded: Result<Resp, RaftError<u64, E>> = decode(&reply.into_inner().data)
            .map_err(|e| RPCError::Network(NetworkError::new(&io::Error::other(e))))?;
        decoded.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

fn encoding_failed<E: std::error::Error>(e: String) -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&io::Error::other(e)))
}

impl<C, T> RaftNetwork<C> for Connection<C, T>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    T: SnapshotTransfer<C>,
{
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        if self.appending {
            self.batch_bytes = (self.batch_bytes / 2).max(MIN_BATCH_BYTES);
        }
        let limit = self.batch_bytes;
        let mut data = encode(&rpc).map_err(encoding_failed)?;
        // Too large for one message: send the longest prefix that fits (at least one entry)
        // and report how far it got; openraft sends the rest next.
        let mut sent_part = None;
        if data.len() > limit && rpc.entries.len() > 1 {
            let mut keep = rpc.entries.len();
            while keep > 1 && data.len() > limit {
                keep = keep.div_ceil(2);
                rpc.entries.truncate(keep);
                data = encode(&rpc).map_err(encoding_failed)?;
            }
            sent_part = rpc.entries.last().map(|e| e.log_id);
        }
        self.appending = true;
        let reply = self.call(Method::Append, data, &option).await;
        self.appending = false;
        let reply: AppendEntriesResponse<u64> = reply?;
        self.batch_bytes = (self.batch_bytes * 2).min(BATCH_BYTES);
        Ok(match (reply, sent_part) {
            (AppendEntriesResponse::Success, Some(last)) => {
                AppendEntriesResponse::PartialSuccess(Some(last))
            }
            (reply, _) => reply,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let data = encode(&rpc).map_err(encoding_failed)?;
        self.call(Method::Vote, data, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<u64>,
        snapshot: Snapshot<C>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<C, Fatal<u64>>> {
        let header = encode(&(vote, snapshot.meta.clone()))
            .map_err(|e| StreamingError::Network(NetworkError::new(&io::Error::other(e))))?;
        let mut client = self.client()?;
        let (group, target) = (self.group, self.target);
        let mut data = self.transfer.send(snapshot.snapshot);
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        // The producer ends the stream with `done` only when every chunk was made; an error
        // ends it without, so the receiver throws the partial snapshot away.
        let producer = tokio::spawn(async move {
            let first = SnapshotChunk {
                group,
                header,
                target,
                ..Default::default()
            };
            if tx.send(first).await.is_err() {
                return Ok(());
            }
            while let Some(chunk) = data.next().await {
                let chunk = SnapshotChunk {
                    group,
                    data: chunk?,
                    ..Default::default()
                };
                if tx.send(chunk).await.is_err() {
                    return Ok(());
                }
            }
            let _ = tx
                .send(SnapshotChunk {
                    group,
                    done: true,
                    ..Default::default()
                })
                .await;
            Ok::<(), io::Error>(())
        });
        let call = client.snapshot(Request::new(ReceiverStream::new(rx)));
        let reply = tokio::select! {
            reply = call => reply,
            closed = cancel => {
                producer.abort();
                return Err(StreamingError::Closed(closed));
            }
        };
        let produced = producer.await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(status) => {
                let why = match produced {
                    Ok(Err(e)) => format!("reading the snapshot to send: {e}"),
                    _ => status.to_string(),
                };
                return Err(StreamingError::Unreachable(Unreachable::new(
                    &io::Error::other(why),
                )));
            }
        };
        let decoded: Result<SnapshotResponse<u64>, Fatal<u64>> =
            decode(&reply.into_inner().data)
                .map_err(|e| StreamingError::Network(NetworkError::new(&io::Error::other(e))))?;
        decoded.map_err(|e| {
            StreamingError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

/// The receiving side: hands messages of its group to the local Raft node.
pub struct RaftService<C: RaftTypeConfig, T> {
    group: u32,
    /// This node's id: messages for another node are refused.
    id: u64,
    raft: openraft::Raft<C>,
    transfer: Arc<T>,
}

impl<C, T> RaftService<C, T>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    T: SnapshotTransfer<C>,
{
    pub fn new(group: u32, id: u64, raft: openraft::Raft<C>, transfer: Arc<T>) -> Self {
        RaftService {
            group,
            id,
            raft,
            transfer,
        }
    }

    /// The gRPC service, with the message limits of this transport.
    pub fn into_server(self) -> RaftServer<Self> {
        RaftServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    /// Refuses a message meant for another group or another node (a member replaced by a new
    /// one at the same address: the old member's replication must not reach the new one).
    fn check_addressee(&self, group: u32, target: u64) -> Result<(), Status> {
        if group != self.group {
            return Err(Status::failed_precondition(format!(
                "a raft message for group {group} reached a node of group {}: is an address reused?",
                self.group
            )));
        }
        if target != self.id {
            return Err(Status::failed_precondition(format!(
                "a raft message for node {target} reached node {} of group {group}: the address now belongs to another member",
                self.id
            )));
        }
        Ok(())
    }

    fn message<V: DeserializeOwned>(&self, req: Request<RaftMessage>) -> Result<V, Status> {
        let msg = req.into_inner();
        self.check_addressee(msg.group, msg.target)?;
        decode(&msg.data)
            .map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
    }
}

fn reply<V: Serialize>(group: u32, value: &V) -> Result<Response<RaftMessage>, Status> {
    let data = encode(value).map_err(|e| Status::internal(format!("raft reply: {e}")))?;
    Ok(Response::new(RaftMessage {
        group,
        data,
        ..Default::default()
    }))
}

/// The data chunks of a snapshot stream after its header, ending in an error if the stream
/// stops before the chunk marked `done`.
fn chunks_after_header(
    mut stream: Streaming<SnapshotChunk>,
) -> BoxStream<'static, io::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        loop {
            let item = match stream.message().await {
                Ok(Some(chunk)) if chunk.done => return,
                Ok(Some(chunk)) => Ok(chunk.data),
                Ok(None) => Err(io::Error::other(
                    "the snapshot stream ended before its last chunk",
                )),
                Err(status) => Err(io::Error::other(format!(
                    "the snapshot stream failed: {}",
                    status.message()
                ))),
            };
            let end = item.is_err();
            if tx.send(item).await.is_err() || end {
                return;
            }
        }
    });
    ReceiverStream::new(rx).boxed()
}

#[tonic::async_trait]
impl<C, T> RaftRpc for RaftService<C, T>
where
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode, Entry = Entry<C>>,
    Entry<C>: Serialize + DeserializeOwned,
    T: SnapshotTransfer<C>,
{
    async fn vote(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let req: VoteRequest<u64> = self.message(req)?;
        reply(self.group, &self.raft.vote(req).await)
    }

    async fn append_entries(
        &self,
        req: Request<RaftMessage>,
    ) -> Result<Response<RaftMessage>, Status> {
        let req: AppendEntriesRequest<C> = self.message(req)?;
        reply(self.group, &self.raft.append_entries(req).await)
    }

    async fn snapshot(
        &self,
        req: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftMessage>, Status> {
        let mut stream = req.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("an empty snapshot stream"))?;
        self.check_addressee(first.group, first.target)?;
        let (vote, meta): (Vote<u64>, SnapshotMeta<u64, BasicNode>) = decode(&first.header)
            .map_err(|e| Status::invalid_argument(format!("undecodable snapshot header: {e}")))?;
        // A sender whose vote is behind ours is no leader of ours: answer before it sends the
        // data (openraft would refuse the install at the end anyway).
        let mine = self
            .raft
            .with_raft_state(|s| *s.vote_ref())
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if vote < mine {
            return reply(
                self.group,
                &Ok::<_, Fatal<u64>>(SnapshotResponse::new(mine)),
            );
        }
        tracing::info!(group = self.group, snapshot = %meta.snapshot_id, "receiving a raft snapshot");
        let data = self
            .transfer
            .receive(meta.clone(), chunks_after_header(stream))
            .await
            .map_err(|e| {
                Status::aborted(format!("receiving snapshot {}: {e}", meta.snapshot_id))
            })?;
        let installed = self
            .raft
            .install_full_snapshot(
                vote,
                Snapshot {
                    meta,
                    snapshot: data,
                },
            )
            .await;
        reply(self.group, &installed)
    }
}
