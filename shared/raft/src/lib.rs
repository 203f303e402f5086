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
