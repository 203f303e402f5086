//! Transactions across groups.
//!
//! The alpha a mutation reaches buffers the part its group serves, as always, and sends every
//! other group's leader its part ([`Part`], `worker.Worker/Mutate`); each part is kept in a
//! pending record on every replica of its group before the mutation answers. The alpha that
//! commits decides for all: it asks each other group for its conflict keys and marks the part
//! as decided elsewhere (`Prepare`), asks zero once with every key, applies its own part and
//! tells the others (`Decide`).
//!
//! A group holding a part decided elsewhere ([`super::Txn::shared`]) must not serve a read
//! that should see it before it is applied: before a read at `ts`, it asks zero about each
//! such part that started below `ts` and applies the ones zero committed at or below `ts`
//! ([`Graph::settle_shared`]). A part zero has not decided yet cannot commit below `ts` (its
//! commit timestamp will be newer than `ts`), so it does not hold the read. A coordinator that
//! dies leaves parts pending; a new leader settles them with zero, and reads settle them too.

use super::mutate::MutationCtx;
use super::{Graph, GraphError};
use lodestar_dql::NQuad;
use lodestar_types::value::Val;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One group's part of a mutation, with what its blank nodes and variables resolve to.
#[derive(Debug, Serialize, Deserialize)]
pub struct Part {
    pub sets: Vec<NQuad>,
    pub dels: Vec<NQuad>,
    blanks: HashMap<String, u64>,
    uid_vars: HashMap<String, Vec<u64>>,
    /// Value variables, each value encoded ([`Val::encode`]).
    val_vars: HashMap<String, HashMap<u64, Vec<u8>>>,
    fresh: Vec<u64>,
}

impl Part {
    pub fn new(sets: Vec<NQuad>, dels: Vec<NQuad>, ctx: &MutationCtx) -> Part {
        Part {
            sets,
            dels,
            blanks: ctx.blanks.clone(),
            uid_vars: ctx.uid_vars.clone(),
            val_vars: ctx
                .val_vars
                .iter()
                .map(|(v, m)| (v.clone(), m.iter().map(|(u, x)| (*u, x.encode())).collect()))
                .collect(),
            fresh: ctx.fresh.iter().copied().collect(),
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, GraphError> {
        postcard::to_allocvec(self)
            .map_err(|e| GraphError::Internal(format!("encoding a mutation's part: {e}")))
    }

    /// The N-Quads and their context.
    pub fn decode(bytes: &[u8]) -> Result<(Vec<NQuad>, Vec<NQuad>, MutationCtx), GraphError> {
        let part: Part = postcard::from_bytes(bytes)
            .map_err(|e| GraphError::Invalid(format!("an undecodable mutation part: {e}")))?;
        let mut val_vars = HashMap::new();
        for (v, m) in part.val_vars {
            let mut vals = HashMap::new();
            for (u, raw) in m {
                let val = Val::decode(&raw).map_err(|e| {
                    GraphError::Invalid(format!("an undecodable value of val({v}): {e}"))
                })?;
                vals.insert(u, val);
            }
            val_vars.insert(v, vals);
        }
        let ctx = MutationCtx {
            blanks: part.blanks,
            uid_vars: part.uid_vars,
            val_vars,
            fresh: part.fresh.into_iter().collect(),
        };
        Ok((part.sets, part.dels, ctx))
    }
}

impl Graph {
    /// Adds `sets` and `dels` to `txn`: the N-Quads of predicates this group serves here, the
    /// others (`elsewhere`: predicate → group) as parts sent to their groups. `S * *`
    /// deletions go to every group involved.
    pub async fn mutate_across(
        &self,
        txn: &mut super::Txn,
        sets: &[NQuad],
        dels: &[NQuad],
        ctx: &MutationCtx,
        elsewhere: &std::collections::BTreeMap<String, u32>,
    ) -> Result<(), GraphError> {
        let source = self.remote.get().ok_or_else(|| {
            GraphError::Internal("a mutation across groups on an alpha without a cluster".into())
        })?;
        let mut involved: std::collections::BTreeSet<u32> = elsewhere.values().copied().collect();
        if dels.iter().any(|nq| nq.predicate_name().is_none()) {
            involved.extend(self.other_groups().await?);
        }
        let mut local = (Vec::new(), Vec::new());
        let mut parts: std::collections::BTreeMap<u32, (Vec<NQuad>, Vec<NQuad>)> =
            std::collections::BTreeMap::new();
        for (i, list) in [sets, dels].into_iter().enumerate() {
            for nq in list {
                let targets: Vec<Option<u32>> = match nq.predicate_name() {
                    Some(name) => vec![elsewhere.get(name).copied()],
                    None => std::iter::once(None)
                        .chain(involved.iter().map(|g| Some(*g)))
                        .collect(),
                };
                for target in targets {
                    let (s, d) = match target {
                        None => (&mut local.0, &mut local.1),
                        Some(g) => {
                            let p = parts.entry(g).or_default();
                            (&mut p.0, &mut p.1)
                        }
                    };
                    if i == 0 { s } else { d }.push(nq.clone());
                }
            }
        }
        super::blocking(|| self.mutate(txn, &local.0, &local.1, ctx))?;
        let start_ts = txn.start_ts;
        let sends = parts.into_iter().map(|(g, (s, d))| {
            let part = Part::new(s, d, ctx).encode();
            async move { (g, async { source.mutate(g, start_ts, part?).await }.await) }
        });
        for (g, sent) in futures::future::join_all(sends).await {
            // Recorded even when the part failed: the group may hold it, and the commit
            // decides for every group it may be in.
            txn.groups.insert(g);
            let (keys, preds) = sent?;
            txn.sent.insert(g);
            txn.conflicts.extend(keys);
            txn.preds.extend(preds);
        }
        Ok(())
    }

    /// Applies `schema` in `group` (see [`Graph::alter_schema`]).
    pub(crate) async fn alter_elsewhere(
        &self,
        group: u32,
        schema: String,
    ) -> Result<(), GraphError> {
        let source = self.remote.get().ok_or_else(|| {
            GraphError::Internal(
                "a schema change across groups on an alpha without a cluster".into(),
            )
        })?;
        source.alter(group, schema).await
    }

    /// Whether this alpha is one group of several (it reads and writes through others).
    pub fn spans_groups(&self) -> bool {
        self.remote.get().is_some()
    }

    /// Whether this alpha's group serves `name` (as far as it knows: a name no group serves
    /// yet is served here).
    pub(crate) fn serves_here(&self, name: &str) -> bool {
        match self.remote.get() {
            Some(source) => source.group_of(name).is_none_or(|g| g == source.my_group()),
            None => true,
        }
    }

    /// The cluster's other groups (where an `S * *` deletion goes too: each deletes the
    /// node's predicates it serves).
    pub(crate) async fn other_groups(&self) -> Result<std::collections::BTreeSet<u32>, GraphError> {
        let Some(source) = self.remote.get() else {
            return Ok(Default::default());
        };
        let mine = source.my_group();
        Ok(source
            .groups()
            .await?
            .into_iter()
            .filter(|g| *g != mine)
            .collect())
    }

    /// Before a client's commit or abort of `start_ts` here: the groups its predicates
    /// (`preds`, as the client's transaction context lists them, `<ns>-<name>`) live in besides
    /// this one take part, with the conflict keys the client holds (hex), so this alpha decides
    /// for all of them even when the mutations went through other alphas.
    pub async fn join_commit(
        &self,
        start_ts: u64,
        preds: &[String],
        keys: &[String],
    ) -> Result<(), GraphError> {
        let Some(source) = self.remote.get() else {
            return Ok(());
        };
        let names: Vec<String> = preds
            .iter()
            .map(|p| p.split_once('-').map_or(p.as_str(), |(_, n)| n).to_string())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        source.resolve(names.clone()).await?;
        let mine = self.group();
        let groups: std::collections::BTreeSet<u32> = names
            .iter()
            .filter_map(|n| source.group_of(n))
            .filter(|g| *g != mine)
            .collect();
        if groups.is_empty() {
            return Ok(());
        }
        // A transaction already ended or ending here answers its outcome as it is.
        let Ok(txn) = self.txn(start_ts) else {
            return Ok(());
        };
        let mut t = txn.lock().await;
        t.groups.extend(groups);
        // Zero refuses a commit writing a tablet that moved: it needs every group's predicates.
        t.preds.extend(preds.iter().cloned());
        t.conflicts
            .extend(keys.iter().filter_map(|k| u64::from_str_radix(k, 16).ok()));
        Ok(())
    }

    /// Buffers another alpha's part of a mutation in transaction `start_ts` and keeps its
    /// pending record on every replica; answers the part's conflict keys and predicates.
    pub async fn mutate_part(
        &self,
        start_ts: u64,
        part: &[u8],
    ) -> Result<(Vec<u64>, Vec<String>), GraphError> {
        let (sets, dels, ctx) = Part::decode(part)?;
        let nquads: Vec<&NQuad> = sets.iter().chain(dels.iter()).collect();
        let elsewhere = self.prepare(&nquads).await?;
        if let Some((name, group)) = elsewhere.into_iter().next() {
            return Err(GraphError::Unavailable(format!(
                "predicate {name} is served by group {group}, not by group {}: the tablet moved; retry the mutation",
                self.group()
            )));
        }
        let txn = self.txn(start_ts)?;
        let mut guard = txn.lock().await;
        if guard.closed {
            return Err(GraphError::Invalid(format!(
                "the transaction with start_ts {start_ts} is already being committed or aborted; start a new transaction"
            )));
        }
        let mut work = guard.clone();
        super::blocking(|| self.mutate(&mut work, &sets, &dels, &ctx))?;
        work.shared = true;
        self.persist_pending(&mut work, true).await?;
        *guard = work;
        self.shared_parts.lock().insert(start_ts);
        Ok((
            guard.conflicts.iter().copied().collect(),
            guard.preds.iter().cloned().collect(),
        ))
    }

    /// Marks this group's part of `start_ts` as decided elsewhere and answers its conflict
    /// keys (none when the group holds no part).
    pub async fn prepare_part(&self, start_ts: u64) -> Result<Vec<u64>, GraphError> {
        let Some(txn) = self.existing_txn(start_ts) else {
            return Ok(Vec::new());
        };
        let mut guard = txn.lock().await;
        guard.shared = true;
        self.shared_parts.lock().insert(start_ts);
        if !guard.persisted {
            let mut work = guard.clone();
            self.persist_pending(&mut work, true).await?;
            *guard = work;
        }
        Ok(guard.conflicts.iter().copied().collect())
    }

    /// Applies zero's recorded decision on this group's part of `start_ts` (`commit_ts` 0:
    /// aborted); answers the outcome applied.
    pub async fn decide_part(&self, start_ts: u64, commit_ts: u64) -> Result<u64, GraphError> {
        match self.finish_part(start_ts, commit_ts == 0).await {
            Ok(c) => Ok(c),
            Err(GraphError::Aborted) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Ends this group's part of `start_ts` by zero's recorded decision, without deciding for
    /// the other groups (whoever decided tells them, or they settle with zero themselves):
    /// two alphas deciding for each other would wait on each other.
    async fn finish_part(&self, start_ts: u64, abort: bool) -> Result<u64, GraphError> {
        if let Some(txn) = self.existing_txn(start_ts) {
            txn.lock().await.groups.clear();
        }
        self.finish(start_ts, abort).await
    }

    /// Applies, before a read at `ts`, every part held here of a transaction decided elsewhere
    /// that zero committed at or below `ts` (and drops those zero aborted).
    pub async fn settle_shared(&self, ts: u64) -> Result<(), GraphError> {
        // A part whose decision is being applied here already (its group was told, or
        // another read is settling it) is waited for: it left the open transactions before
        // its writes are in the store.
        let (shared, under_way) = {
            let finishing = self.finishing.lock();
            let open = self.txns.lock();
            let mut parts = self.shared_parts.lock();
            parts.retain(|start| open.contains_key(start) || finishing.contains_key(start));
            let under_way: Vec<_> = parts
                .range(..ts)
                .filter_map(|start| finishing.get(start).cloned())
                .collect();
            let shared: Vec<u64> = parts
                .range(..ts)
                .filter(|start| open.contains_key(start))
                .copied()
                .collect();
            (shared, under_way)
        };
        for mut outcome in under_way {
            let _ = outcome.wait_for(Option::is_some).await;
        }
        for start in shared {
            tracing::debug!(start, ts, "settling a part decided elsewhere before a read");
            match self.oracle.status(start).await? {
                Some(Some(commit_ts)) if commit_ts <= ts => {
                    self.finish_part(start, false).await?;
                }
                Some(None) => {
                    let _ = self.finish_part(start, true).await;
                }
                // Undecided, or committed after `ts`: invisible to this read either way.
                _ => {}
            }
        }
        Ok(())
    }
}
