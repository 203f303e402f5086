//! The group's state machine is the alpha's store. Each entry's changes are written with the
//! entry's log id (and, for a membership entry, the membership) in the meta space, in the same
//! batch, so after a crash the store says exactly which entries it holds and openraft replays
//! the rest from the log. Stores apply without waiting for the disk: the log is durable, and a
//! snapshot point flushes the store before openraft may purge the log behind it.
//!
//! A snapshot is the store itself: building one flushes it and notes the applied log id; the
//! snapshot sent to a replica is an export of the store at that moment, which is consistent
//! with the log id written in it.

use super::TypeConfig;
use super::transfer::GroupSnapshot;
use crate::graph::Graph;
use crate::graph::log::{Op, OpReply};
use lodestar_raft::{StorageError, io_message};
use lodestar_storage::Write;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend,
    RaftSnapshotBuilder, SnapshotMeta, StoredMembership,
};
use std::sync::Arc;

/// Meta key of the last applied log id (JSON).
pub const APPLIED: &[u8] = b"raft/applied";
/// Meta key of the last applied membership (JSON).
pub const MEMBERSHIP: &[u8] = b"raft/membership";

/// The state machine over one replica's graph; clones share it.
#[derive(Clone)]
pub struct GroupStateMachine {
    graph: Arc<Graph>,
}

type Membership = StoredMembership<u64, BasicNode>;

fn sm_error(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    io_message(ErrorSubject::StateMachine, verb, e.to_string())
}

impl GroupStateMachine {
    pub fn new(graph: Arc<Graph>) -> Self {
        GroupStateMachine { graph }
    }

    /// The applied log id and membership the store holds.
    fn stored(&self) -> Result<(Option<LogId<u64>>, Membership), StorageError> {
        let store = &self.graph.store;
        let applied = store
            .meta_get(APPLIED)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
            .map(|raw| serde_json::from_slice(&raw))
            .transpose()
            .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let membership = store
            .meta_get(MEMBERSHIP)
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
            .map(|raw| serde_json::from_slice(&raw))
            .transpose()
            .map_err(|e| sm_error(ErrorVerb::Read, e))?
            .unwrap_or_default();
        Ok((applied, membership))
    }

    /// The meta writes that record `log_id` (and a new membership) as applied.
    fn applied_writes(log_id: &LogId<u64>, membership: Option<&Membership>) -> Vec<Write> {
        let mut out = vec![Write::put(
            APPLIED.to_vec(),
            serde_json::to_vec(log_id).expect("a log id serializes"),
        )];
        if let Some(m) = membership {
            out.push(Write::put(
                MEMBERSHIP.to_vec(),
                serde_json::to_vec(m).expect("a membership serializes"),
            ));
        }
        out
    }

    fn snapshot_now(&self, sync: bool) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let graph = &self.graph;
        if sync {
            graph
                .store
                .sync()
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        }
        let (applied, membership) = self.stored()?;
        let Some(last) = applied else {
            return Ok(None);
        };
        let export = graph.store.export();
        let meta = SnapshotMeta {
            last_log_id: Some(last),
            last_membership: membership,
            snapshot_id: format!("{}-{}", last.leader_id.term, last.index),
        };
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(GroupSnapshot::Export(export)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for GroupStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let snapshot = crate::graph::blocking(|| self.snapshot_now(true))?;
        match snapshot {
            Some(s) => {
                tracing::info!(last_applied = ?s.meta.last_log_id, "group snapshot point: store flushed");
                Ok(s)
            }
            None => Err(sm_error(
                ErrorVerb::Write,
                "no entry is applied yet: nothing to snapshot",
            )),
        }
    }
}

impl RaftStateMachine<TypeConfig> for GroupStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, Membership), StorageError> {
        self.stored()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<OpReply>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let graph = self.graph.clone();
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        crate::graph::blocking(move || {
            let mut replies = Vec::with_capacity(entries.len());
            for entry in entries {
                let log_id = entry.log_id;
                let reply = match entry.payload {
                    EntryPayload::Blank => {
                        graph
                            .apply_op(&Op::Intern(Vec::new()), &Self::applied_writes(&log_id, None))
                            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
                        OpReply::Done
                    }
                    EntryPayload::Normal(op) => graph
                        .apply_op(&op, &Self::applied_writes(&log_id, None))
                        .map_err(|e| {
                            tracing::error!(error = %e, log = %log_id, "applying a group log entry failed: this replica stops");
                            sm_error(ErrorVerb::Write, e)
                        })?,
                    EntryPayload::Membership(m) => {
                        let stored = StoredMembership::new(Some(log_id), m);
                        graph
                            .apply_op(
                                &Op::Intern(Vec::new()),
                                &Self::applied_writes(&log_id, Some(&stored)),
                            )
                            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
                        OpReply::Done
                    }
                };
                replies.push(reply);
            }
            Ok(replies)
        })
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<GroupSnapshot>, StorageError> {
        Ok(Box::new(GroupSnapshot::Empty))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<GroupSnapshot>,
    ) -> Result<(), StorageError> {
        let GroupSnapshot::Import {
            import,
            mut meta_entries,
        } = *snapshot
        else {
            return Err(sm_error(
                ErrorVerb::Write,
                "a snapshot to install must come from a received copy",
            ));
        };
        // The copy's own record of what it holds is the snapshot's meta; make sure of it.
        meta_entries.retain(|(k, _)| k.as_slice() != APPLIED && k.as_slice() != MEMBERSHIP);
        if let Some(last) = &meta.last_log_id {
            for w in Self::applied_writes(last, Some(&meta.last_membership)) {
                if let Some(v) = w.value {
                    meta_entries.push((w.key, v));
                }
            }
        }
        let graph = self.graph.clone();
        crate::graph::blocking(move || graph.install_copy(import, meta_entries))
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        tracing::info!(last_applied = ?meta.last_log_id, "group snapshot installed: this replica's store is now the leader's copy");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        crate::graph::blocking(|| self.snapshot_now(false))
    }
}
