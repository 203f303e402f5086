//! The state machine: the [`ClusterState`] in memory, made durable by snapshots in fjall plus
//! the Raft log, which openraft replays from the snapshot up to the committed index at start.
//! In an encrypted --wal the snapshot is sealed before it is stored (it names every tablet).

use super::{StorageError, TypeConfig};
use crate::state::{ClusterState, Reply};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use lodestar_crypto::sealer::{Sealer, open_if, seal_if};
use lodestar_raft::io_error;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend,
    RaftSnapshotBuilder, SnapshotMeta, StoredMembership,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::Arc;

const CURRENT: &[u8] = b"current";
/// What a sealed snapshot is bound to.
const SNAPSHOT_CONTEXT: &[u8] = b"zero raft snapshot";

/// The applied state, shared with the RPC handlers that read it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Applied {
    pub last_applied: Option<LogId<u64>>,
    pub membership: StoredMembership<u64, BasicNode>,
    pub state: ClusterState,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// The state machine store; clones share the state.
#[derive(Clone)]
pub struct StateMachine {
    pub applied: Arc<RwLock<Applied>>,
    db: Database,
    snapshots: Keyspace,
    sealer: Option<Sealer>,
}

impl StateMachine {
    /// Opens the store and loads the last snapshot, if any.
    pub fn open(db: &Database, sealer: Option<Sealer>) -> Result<Self, StorageError> {
        let snapshots = db
            .keyspace("raft_snapshot", KeyspaceCreateOptions::default)
            .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        let sm = StateMachine {
            applied: Arc::default(),
            db: db.clone(),
            snapshots,
            sealer,
        };
        if let Some(stored) = sm.stored()? {
            *sm.applied.write() = decode_applied(&stored.data)?;
        }
        Ok(sm)
    }

    fn stored(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let raw = self
            .snapshots
            .get(CURRENT)
            .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        raw.map(|v| {
            let plain = open_if(self.sealer.as_ref(), SNAPSHOT_CONTEXT, &v)
                .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
            serde_json::from_slice(&plain)
                .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))
        })
        .transpose()
    }

    fn store(&self, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
        let subject = || ErrorSubject::Snapshot(Some(snapshot.meta.signature()));
        let raw =
            serde_json::to_vec(snapshot).map_err(|e| io_error(subject(), ErrorVerb::Write, e))?;
        let raw = seal_if(self.sealer.as_ref(), SNAPSHOT_CONTEXT, raw);
        self.snapshots
            .insert(CURRENT, raw)
            .map_err(|e| io_error(subject(), ErrorVerb::Write, e))?;
        tokio::task::block_in_place(|| self.db.persist(PersistMode::SyncAll))
            .map_err(|e| io_error(subject(), ErrorVerb::Write, e))
    }
}

fn decode_applied(data: &[u8]) -> Result<Applied, StorageError> {
    serde_json::from_slice(data)
        .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let applied = self.applied.read().clone();
        let data = serde_json::to_vec(&applied)
            .map_err(|e| io_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        let snapshot_id = match applied.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, data.len()),
            None => format!("empty-{}", data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        self.store(&stored)?;
        tracing::info!(last_applied = ?meta.last_log_id, bytes = data.len(), "raft snapshot written");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError> {
        let applied = self.applied.read();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut applied = self.applied.write();
        let mut replies = Vec::new();
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Reply::Done,
                EntryPayload::Normal(cmd) => applied.state.apply(cmd),
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    Reply::Done
                }
            };
            replies.push(reply);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let mut received = decode_applied(&data)?;
        received.last_applied = meta.last_log_id;
        received.membership = meta.last_membership.clone();
        self.store(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })?;
        *self.applied.write() = received;
        tracing::info!(last_applied = ?meta.last_log_id, "raft snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.stored()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
