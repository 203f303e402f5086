//! The suite's protobuf messages and gRPC services, generated once for every crate.
//!
//! `api` is Dgraph's public client API (package, names and field numbers unchanged, so dgo and
//! pydgraph work against it); `zero`, `raft`, `node`, `worker`, `auth` and `backup` are internal.

#![allow(clippy::all, missing_docs)]

pub mod json;

/// Dgraph's public client API, `api.Dgraph`.
pub mod api {
    tonic::include_proto!("api");
}

/// The cluster coordinator.
pub mod zero {
    tonic::include_proto!("zero");
}

/// The Raft transport of the zeros and of each group of alphas.
pub mod raft {
    tonic::include_proto!("raft");
}

/// Identity and health served by every service.
pub mod node {
    tonic::include_proto!("node");
}

/// Internal alpha RPCs.
pub mod worker {
    tonic::include_proto!("worker");
}

/// Login and ACL administration.
pub mod auth {
    tonic::include_proto!("auth");
}

/// Backup and restore tasks.
pub mod backup {
    tonic::include_proto!("backup");
}

/// The encoded descriptors of every service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("descriptors");
