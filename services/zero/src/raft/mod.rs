//! Zero's Raft: openraft (the maintained continuation of async-raft) with its log and state
//! machine snapshot in fjall, and a gRPC transport between zeros.

pub mod log_store;
pub mod network;
pub mod state_machine;

use crate::state::{Command, Reply};
use openraft::BasicNode;
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
pub type StorageError = openraft::StorageError<u64>;

/// Raft timing and compaction, tuned so that a leader's death is noticed and replaced in well
/// under three seconds on loopback or a LAN. A snapshot is taken every `snapshot_after`
/// entries, keeping a tenth of that in the log for followers that lag a little.
pub fn config(snapshot_after: u64) -> openraft::Config {
    openraft::Config {
        cluster_name: "lodestar-zero".into(),
        heartbeat_interval: 100,
        election_timeout_min: 400,
        election_timeout_max: 800,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_after),
        max_in_snapshot_log_to_keep: snapshot_after / 10,
        purge_batch_size: 1,
        ..Default::default()
    }
}

fn io_error<E: std::error::Error + 'static>(
    subject: openraft::ErrorSubject<u64>,
    verb: openraft::ErrorVerb,
    e: E,
) -> StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}
