//! A tablet moving between groups, as zero drives it (see zero's `moves`): the group that
//! serves the predicate streams its keys ([`Graph::send_tablet`]), the group it moves to writes
//! them through its own log ([`Graph::receive_tablet`]) and then holds the predicate as of the
//! copy's timestamp, and the old group lets go ([`Graph::release_tablet`]).
//!
//! What each group did is remembered per predicate ([`Handoff`]) so that no read sees the
//! predicate missing or doubled around the switch: the new group refuses reads older than its
//! copy, the old one refuses reads at or past the timestamp it let go at (its keys are deleted
//! at that timestamp, so older reads still find them) and every write. A refused read is
//! retried after the reader learns the tablet's group again.

use super::backup::stream_prefixes;
use super::log::{Op, OpReply, refused};
use super::{Graph, GraphError};
use lodestar_backup::record::Record;
use lodestar_storage::Write;
use lodestar_storage::keys::{self, KeyKind};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// The kinds of keys a predicate's tablet holds.
const TABLET_KINDS: [KeyKind; 4] = [
    KeyKind::Data,
    KeyKind::Index,
    KeyKind::Reverse,
    KeyKind::Count,
];

/// Writes per log entry while a copy is written.
const WRITES_PER_OP: usize = 1024;

/// What this group last did with a predicate that moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handoff {
    /// It arrived here holding everything up to this timestamp.
    Arrived(u64),
    /// It left at this timestamp.
    Left(u64),
}

/// Counts of what a copy wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    pub keys: u64,
    pub bytes: u64,
}

impl Graph {
    /// Streams `predicate`'s keys whose newest version at `read_ts` is newer than `since`
    /// (deletes included when `since > 0`), once this replica holds every commit up to
    /// `read_ts`. An error ends the stream.
    pub async fn send_tablet(
        &self,
        predicate: String,
        since: u64,
        read_ts: u64,
        tx: mpsc::Sender<Result<Record, GraphError>>,
    ) {
        if let Some(Handoff::Left(at)) = self.handoff(&predicate) {
            let _ = tx
                .send(Err(GraphError::Moving(format!(
                    "group {} let go of {predicate} at timestamp {at}",
                    self.group()
                ))))
                .await;
            return;
        }
        if let Err(e) = self.settle_for(read_ts).await {
            let _ = tx.send(Err(e)).await;
            return;
        }
        // The schema entry goes too: a predicate defined by its first use has it in its own
        // group only.
        let prefixes = match self.store.lookup_predicate(&predicate) {
            Some(pred) => TABLET_KINDS
                .iter()
                .map(|kind| keys::prefix(*kind, pred))
                .chain([keys::schema_key(pred)])
                .collect(),
            None => Vec::new(),
        };
        stream_prefixes(self.store.clone(), prefixes, since, read_ts, tx).await;
    }

    /// On the leader of the group `predicate` moves to: copies what group `from` holds of it
    /// in `(since, read_ts]` and writes it at `read_ts` through this group's log; with `last`,
    /// this group then holds the predicate as of `read_ts`.
    pub async fn receive_tablet(
        &self,
        predicate: &str,
        from: u32,
        since: u64,
        read_ts: u64,
        last: bool,
    ) -> Result<Copied, GraphError> {
        let source = self.remote.get().cloned().ok_or_else(|| {
            GraphError::Invalid("a tablet can only move between the groups of a cluster".into())
        })?;
        let (tx, mut records) = mpsc::channel(4);
        let name = predicate.to_string();
        let fetch = tokio::spawn(async move {
            source.fetch_tablet(from, name, since, read_ts, tx).await;
        });
        let copied = self
            .write_copy(predicate, read_ts, last, &mut records)
            .await;
        fetch.abort();
        copied
    }

    async fn write_copy(
        &self,
        predicate: &str,
        read_ts: u64,
        last: bool,
        records: &mut mpsc::Receiver<Result<Record, GraphError>>,
    ) -> Result<Copied, GraphError> {
        let mut copied = Copied::default();
        let mut done = false;
        // The stream names each id once, in the first record that uses it.
        let mut ids: HashMap<u32, u32> = HashMap::new();
        while let Some(record) = records.recv().await {
            let record = record?;
            let names: Vec<String> = record.names.iter().map(|n| n.name.clone()).collect();
            self.intern(names).await?;
            for n in &record.names {
                ids.insert(n.id, self.pred_id(&n.name)?);
            }
            let mut writes = Vec::with_capacity(record.entries.len());
            for entry in record.entries {
                let mut key = entry.key;
                keys::remap_ids(&mut key, |id| {
                    ids.get(&id).copied().ok_or_else(|| {
                        GraphError::Internal(format!(
                            "the tablet stream used interned id {id} before naming it"
                        ))
                    })
                })
                .ok_or_else(|| {
                    GraphError::Internal("the tablet stream held a key of unknown layout".into())
                })??;
                copied.keys += 1;
                copied.bytes += (key.len() + entry.value.len()) as u64;
                writes.push(if entry.deleted {
                    Write::delete(key)
                } else {
                    Write::put(key, entry.value)
                });
            }
            for chunk in writes.chunks(WRITES_PER_OP) {
                let schema = chunk.iter().any(|w| {
                    keys::parse_pred(&w.key).is_some_and(|(kind, _)| kind == KeyKind::Schema)
                });
                let effects = super::log::Effects {
                    schema,
                    ..Default::default()
                };
                let op = super::log::write_op(read_ts, chunk.to_vec(), Vec::new(), effects, false);
                refused(self.propose(op).await?)?;
            }
            if record.done {
                done = true;
                break;
            }
        }
        if !done {
            return Err(GraphError::Unavailable(format!(
                "the copy of {predicate} broke off before its end"
            )));
        }
        if last {
            refused(
                self.propose(Op::Handoff {
                    predicate: predicate.to_string(),
                    arrived: true,
                    ts: read_ts,
                })
                .await?,
            )?;
        }
        Ok(copied)
    }

    /// On the leader of the group `predicate` moves from: stops serving it at `at` on every
    /// replica (see [`Handoff::Left`]). Asking again changes nothing.
    pub async fn release_tablet(&self, predicate: &str, at: u64) -> Result<(), GraphError> {
        if self.handoff(predicate) == Some(Handoff::Left(at)) {
            return Ok(());
        }
        // Commits under way finish first: none writes the predicate at `at` or later.
        let _settled = self.commits.write().await;
        refused(
            self.propose(Op::Handoff {
                predicate: predicate.to_string(),
                arrived: false,
                ts: at,
            })
            .await?,
        )
        .map(|_| ())
    }

    /// Applies [`Op::Handoff`] on this replica.
    pub(super) fn apply_handoff(
        &self,
        predicate: &str,
        arrived: bool,
        ts: u64,
        applied: &[Write],
    ) -> Result<OpReply, GraphError> {
        let handoff = if arrived {
            Handoff::Arrived(ts)
        } else {
            self.tablets.write().remove(predicate);
            Handoff::Left(ts)
        };
        // Known before the deletes are written: a read that checks after reading (see
        // [`Graph::check_readable`]) cannot have seen them unnoticed.
        self.handoffs.write().insert(predicate.to_string(), handoff);
        let mut deletes = Vec::new();
        if !arrived && let Some(pred) = self.store.lookup_predicate(predicate) {
            let snap = self.store.snapshot();
            for kind in TABLET_KINDS {
                for item in snap.scan_prefix_at(&keys::prefix(kind, pred), u64::MAX) {
                    deletes.push(Write::delete(item?.0));
                }
            }
        }
        for chunk in deletes.chunks(super::APPLY_CHUNK) {
            self.store.commit(ts, chunk, &[], false)?;
        }
        if !applied.is_empty() {
            self.store.write_meta(applied, false)?;
        }
        if let Some(source) = self.remote.get() {
            source.forget_tablets();
        }
        Ok(OpReply::Done)
    }

    /// What this group last did with `predicate` if it moved.
    pub fn handoff(&self, predicate: &str) -> Option<Handoff> {
        self.handoffs.read().get(predicate).copied()
    }

    /// Refuses a read at `read_ts` of `predicate`, served here as far as the reader knows,
    /// that this group cannot answer because the predicate moved. Checked before a read and
    /// again after it (the group may let go of the predicate while it reads).
    pub fn check_readable(&self, predicate: &str, read_ts: u64) -> Result<(), GraphError> {
        match self.handoff(predicate) {
            Some(Handoff::Arrived(at)) if read_ts < at => Err(GraphError::Moving(format!(
                "{predicate} moved to group {} at timestamp {at}, after this read's timestamp {read_ts}; retry with a new transaction",
                self.group()
            ))),
            Some(Handoff::Left(at)) if read_ts >= at => Err(GraphError::Moving(format!(
                "{predicate} moved out of group {} at timestamp {at}; retry",
                self.group()
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses a write of `predicate` here once this group let go of it.
    pub fn check_writable(&self, predicate: &str) -> Result<(), GraphError> {
        match self.handoff(predicate) {
            Some(Handoff::Left(at)) => Err(GraphError::Moving(format!(
                "predicate {predicate} moved out of group {} at timestamp {at}; retry the mutation",
                self.group()
            ))),
            _ => Ok(()),
        }
    }
}
