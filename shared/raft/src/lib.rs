//! The Raft plumbing the zeros and the alpha groups share, on openraft: a log store in fjall
//! whose appends are fsynced before openraft counts them durable ([`log_store`]), and a gRPC
//! transport (`raft.Raft`) that carries openraft's messages and streams snapshots in chunks the
//! application produces and consumes itself ([`network`]).
//!
//! Node ids are `u64` and nodes are addressed by their internal gRPC address
//! ([`openraft::BasicNode`]). Every message names its Raft group (0 for the zeros), so a node
//! refuses traffic meant for another group.

pub mod codec;
pub mod log_store;
pub mod network;

pub use codec::{Codec, Json, Postcard};
pub use log_store::LogStore;
pub use network::{Network, RaftService, SnapshotTransfer};

/// openraft's storage error with this crate's node ids.
pub type StorageError = openraft::StorageError<u64>;

/// The group number of the zeros' own Raft.
pub const ZERO_GROUP: u32 = 0;

/// A storage error about `subject` from any error type.
pub fn io_error<E: std::error::Error + 'static>(
    subject: openraft::ErrorSubject<u64>,
    verb: openraft::ErrorVerb,
    e: E,
) -> StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

/// A storage error about `subject` from a message.
pub fn io_message(
    subject: openraft::ErrorSubject<u64>,
    verb: openraft::ErrorVerb,
    message: impl Into<String>,
) -> StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::error(message.into())).into()
}

/// How often a leader sends heartbeats. openraft also gives every append this long to be
/// written and answered, so it must cover a follower's fsync on a busy disk: at 100 ms, loaded
/// two-core machines saw appends cut off, heartbeats missed and needless elections.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(250);
/// The range of a follower's random election timeout. openraft has a follower that heard
/// from a leader wait the longest timeout (the leader's lease) plus its own random one before
/// it stands, so a dead leader is replaced after 2.3 to 3 s, plus the vote (Dgraph's groups:
/// 2 to 4 s).
pub const ELECTION_TIMEOUT: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_millis(800),
    std::time::Duration::from_millis(1_500),
);

/// openraft's configuration with this crate's heartbeat and election timing; callers add
/// their snapshot and batching policy.
pub fn timed_config(cluster_name: String) -> openraft::Config {
    openraft::Config {
        cluster_name,
        heartbeat_interval: HEARTBEAT.as_millis() as u64,
        election_timeout_min: ELECTION_TIMEOUT.0.as_millis() as u64,
        election_timeout_max: ELECTION_TIMEOUT.1.as_millis() as u64,
        ..Default::default()
    }
}
