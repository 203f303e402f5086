//! Zero's Raft: openraft (the maintained continuation of async-raft) with its log in fjall
//! (`lodestar_raft::LogStore`, entries as JSON), its state machine snapshot in fjall, and the
//! shared `raft.Raft` gRPC transport between zeros (group 0).

pub mod state_machine;

use crate::state::{Command, Reply};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use openraft::{BasicNode, SnapshotMeta};
use std::io::Cursor;

openraft::declare_raft_types!(
    /// Zero's Raft types: commands in, replies out, nodes addressed by their gRPC address.
    pub TypeConfig:
        D = Command,
        R = Reply,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type StorageError = lodestar_raft::StorageError;
pub type LogStore = lodestar_raft::LogStore<TypeConfig, lodestar_raft::Json>;
pub type Network = lodestar_raft::Network<TypeConfig, Snapshots>;
pub type RaftService = lodestar_raft::RaftService<TypeConfig, Snapshots>;

/// Raft timing ([`lodestar_raft::timed_config`]: a dead leader is replaced in about 3 s) and
/// compaction: a snapshot is taken every `snapshot_after` entries, keeping a tenth of that in
/// the log for followers that lag a little.
pub fn config(snapshot_after: u64) -> openraft::Config {
    openraft::Config {
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_after),
        max_in_snapshot_log_to_keep: snapshot_after / 10,
        purge_batch_size: 1,
        ..lodestar_raft::timed_config("lodestar-zero".into())
    }
}

/// Zero's snapshots are its whole cluster state, a few megabytes at most: sent in 4 MiB chunks
/// and put back together in memory.
#[derive(Debug, Default)]
pub struct Snapshots;

const CHUNK: usize = 4 << 20;

impl lodestar_raft::SnapshotTransfer<TypeConfig> for Snapshots {
    fn send(&self, data: Box<Cursor<Vec<u8>>>) -> BoxStream<'static, std::io::Result<Vec<u8>>> {
        let bytes = data.into_inner();
        let chunks: Vec<std::io::Result<Vec<u8>>> =
            bytes.chunks(CHUNK).map(|c| Ok(c.to_vec())).collect();
        futures::stream::iter(chunks).boxed()
    }

    fn receive(
        &self,
        _meta: SnapshotMeta<u64, BasicNode>,
        mut chunks: BoxStream<'static, std::io::Result<Vec<u8>>>,
    ) -> BoxFuture<'static, std::io::Result<Box<Cursor<Vec<u8>>>>> {
        Box::pin(async move {
            let mut all = Vec::new();
            while let Some(chunk) = chunks.next().await {
                all.extend_from_slice(&chunk?);
            }
            Ok(Box::new(Cursor::new(all)))
        })
    }
}
