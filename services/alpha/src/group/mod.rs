//! The alphas of a group as one Raft group (openraft, through `lodestar-raft`): every change to
//! the group's data is an entry of its log ([`crate::graph::log::Op`]), applied by every replica
//! to its own store in the same order ([`state_machine`]). A replica that falls too far behind,
//! or joins empty, receives a copy of the leader's store ([`transfer`]). [`replica`] is the
//! running member: it proposes, answers read barriers, takes over when it becomes leader, and
//! keeps the group's membership in line with zero's.

pub mod replica;
pub mod state_machine;
pub mod transfer;

use crate::graph::log::{Op, OpReply};
use openraft::BasicNode;

openraft::declare_raft_types!(
    /// A group's Raft types: store changes in, their replies out, replicas addressed by their
    /// internal gRPC address.
    pub TypeConfig:
        D = Op,
        R = OpReply,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = transfer::GroupSnapshot,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogStore = lodestar_raft::LogStore<TypeConfig, lodestar_raft::Postcard>;
pub type Network = lodestar_raft::Network<TypeConfig, transfer::Transfer>;
pub type RaftService = lodestar_raft::RaftService<TypeConfig, transfer::Transfer>;

/// Raft timing and compaction for a group. Elections as zero's ([`lodestar_raft::timed_config`]);
/// a snapshot point every `snapshot_after` entries (the store is the snapshot: taking one costs
/// a flush), keeping a tenth of that in the log for replicas that lag a little.
pub fn config(group: u32, snapshot_after: u64) -> openraft::Config {
    openraft::Config {
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_after),
        max_in_snapshot_log_to_keep: snapshot_after / 10,
        max_payload_entries: 256,
        purge_batch_size: 256,
        ..lodestar_raft::timed_config(format!("lodestar-group-{group}"))
    }
}
