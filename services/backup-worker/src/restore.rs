//! The online restore: with the whole chosen series checked first (each file's size and
//! SHA-256 against the manifest and its first record decoded with the key, so a wrong key or a
//! damaged file is found before anything is dropped; [`lodestar_backup::series`]), the restore
//! drains the cluster, takes a restore timestamp from zero and streams every group's files,
//! oldest backup first, into that group's alpha (`worker.Worker/LoadKvs`), which replaces its
//! data in one step or, when the stream breaks, takes back everything it loaded. Zero's
//! timestamps and its UID and namespace leases are then raised above what the backup holds,
//! and draining is turned off again.

use crate::backup::{Context, Prefer, group_sources, recording, remote};
use crate::tasks::Status as TaskState;
use lodestar_backup::BackupError;
use lodestar_backup::destination::Destination;
use lodestar_backup::manifest::Manifest;
use lodestar_backup::series::{self, Depth};
use lodestar_crypto::EncryptionKey;
use lodestar_proto::worker::KvBatch;
use lodestar_proto::worker::worker_client::WorkerClient;
use lodestar_runtime::ErrorCode;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};

/// Dgraph's answer when a restore is asked for while one runs.
pub const RESTORE_RUNNING: &str =
    "another restore operation is already running. Please retry later.";

/// A restore accepted and checked, about to run.
#[derive(Debug)]
pub struct Job {
    pub task: u64,
    pub destination: Destination,
    pub operator: opendal::Operator,
    pub series: Vec<Manifest>,
    pub key: Option<EncryptionKey>,
}

/// Runs an online restore as task `job.task` and records its end.
pub async fn run(ctx: Context, job: Job) {
    let task = job.task;
    let outcome = restore(&ctx, &job).await;
    let result = ctx.registry.finish(task, &outcome);
    match (&outcome, result) {
        (_, Err(e)) => tracing::error!(task, error = %e, "recording the restore's end"),
        (Ok(()), Ok(t)) => tracing::info!(
            task,
            backup_id = %t.backup_id,
            backup_num = t.backup_num,
            bytes = t.bytes_written,
            "restore finished"
        ),
        (Err(e), Ok(_)) => tracing::warn!(task, error = %e, "restore failed"),
    }
}

async fn restore(ctx: &Context, job: &Job) -> Result<(), BackupError> {
    let task = job.task;
    let op = &job.operator;
    let last = job.series.last().expect("a chosen series is never empty");
    // A follower forwards a restore to its leader: the leader first saves that hop.
    let sources: BTreeMap<u32, String> = group_sources(&ctx.zero, Prefer::Leader)
        .await?
        .into_iter()
        .filter_map(|(g, addrs)| Some((g, addrs.into_iter().next()?)))
        .collect();
    ctx.registry
        .update(task, |t| {
            t.status = TaskState::Running;
            t.read_ts = last.read_ts;
            t.backup_id = last.backup_id.clone();
            t.backup_num = last.backup_num;
            t.groups_total = sources.len() as u32;
        })
        .map_err(recording)?;
    let backup_groups: BTreeSet<u32> = job
        .series
        .iter()
        .flat_map(|m| m.files.keys().copied())
        .collect();
    let cluster_groups: BTreeSet<u32> = sources.keys().copied().collect();
    if backup_groups != cluster_groups {
        return Err(BackupError::precondition(format!(
            "groups in cluster and latest backup manifest differ: the backup holds groups {:?} and the cluster serves groups {:?}; restore into a cluster with as many groups as the one backed up",
            backup_groups, cluster_groups
        )));
    }
    tracing::info!(
        task,
        location = %job.destination,
        backup_id = %last.backup_id,
        backup_num = last.backup_num,
        "restore: checking every file of the series"
    );
    series::check_series(op, &job.series, job.key.as_ref(), Depth::Check, |_| {}).await?;

    // Everything is readable: from here the cluster's data is replaced.
    let was_draining = ctx
        .zero
        .state()
        .await
        .map_err(|e| remote(e).context("asking zero for the cluster state"))?
        .draining;
    if !was_draining {
        // Recorded before draining starts: a worker that stops from here on turns draining off
        // at its next start. Without the record nothing is changed.
        ctx.registry
            .update(task, |t| t.drained = true)
            .map_err(|e| recording(e).context("the cluster was not drained"))?;
        ctx.zero
            .set_draining(true)
            .await
            .map_err(|e| remote(e).context("turning draining on"))?;
    }
    // Tablets first match the backup's groups, so each group loads what it will serve and every
    // alpha reads each predicate where it now lives (alphas learn the map again after a
    // restore).
    force_tablets(ctx, last).await?;
    let loaded = load(ctx, job, &sources).await;
    let bumped = match &loaded {
        Ok(max_uid) => ctx
            .zero
            .raise_above(
                last.read_ts,
                (*max_uid).max(series::max_uid(&job.series)),
                series::max_namespace(&job.series),
            )
            .await
            .map_err(remote),
        Err(_) => Ok(()),
    };
    if !was_draining {
        match ctx.zero.set_draining(false).await {
            Ok(_) => {
                // A stale record only makes the next start turn draining off once more.
                if let Err(e) = ctx.registry.update(task, |t| t.drained = false) {
                    tracing::warn!(task, error = %e, "recording that draining is off");
                }
            }
            Err(e) => {
                return Err(BackupError::new(
                    ErrorCode::from_grpc(e.code()),
                    format!(
                        "the restore {} but draining could not be turned off ({}): turn it off through /admin draining",
                        if loaded.is_ok() { "finished" } else { "failed" },
                        e.message()
                    ),
                ));
            }
        }
    }
    loaded?;
    bumped
}

/// Gives every predicate of `manifest` to the group the manifest lists it in.
async fn force_tablets(ctx: &Context, manifest: &Manifest) -> Result<(), BackupError> {
    for (group, predicate) in manifest.tablets() {
        ctx.zero
            .give_tablet(predicate, group, true)
            .await
            .map_err(|e| remote(e).context(format_args!("giving {predicate} to group {group}")))?;
    }
    Ok(())
}

/// Streams the series into every group's alpha; returns the highest uid loaded.
async fn load(
    ctx: &Context,
    job: &Job,
    sources: &BTreeMap<u32, String>,
) -> Result<u64, BackupError> {
    let restore_ts = ctx
        .zero
        .timestamps(1)
        .await
        .map_err(|e| remote(e).context("asking zero for a restore timestamp"))?
        .start_id;
    let mut senders = BTreeMap::new();
    let mut calls = Vec::new();
    for (&gid, addr) in sources {
        let channel = lodestar_client::traced_channel(addr)
            .map_err(|e| remote(e).context(format_args!("group {gid}: alpha {addr}")))?;
        let mut alpha = WorkerClient::new(channel).max_encoding_message_size(usize::MAX);
        let (tx, rx) = tokio::sync::mpsc::channel::<KvBatch>(4);
        // Every group's data is replaced, also a group the backup has no file for.
        let header = KvBatch {
            restore_ts,
            drop_all: true,
            ..KvBatch::default()
        };
        tx.send(header)
            .await
            .map_err(|_| BackupError::unavailable("the restore stream closed"))?;
        let addr = addr.clone();
        calls.push((
            gid,
            tokio::spawn(async move {
                alpha
                    .load_kvs(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|e| remote(e).context(format_args!("group {gid}: alpha {addr}")))
            }),
        ));
        senders.insert(gid, tx);
    }
    tracing::info!(
        task = job.task,
        restore_ts,
        groups = sources.len(),
        "restore: loading"
    );
    let fed = feed(ctx, job, &senders).await;
    if let Err(e) = fed {
        // An alpha that refused the load is the cause worth naming.
        let mut cause = None;
        for (_, call) in calls {
            if call.is_finished() {
                if let Ok(Err(refused)) = call.await {
                    cause.get_or_insert(refused);
                }
            } else {
                // Cancelling the call breaks its stream: the alpha takes back what it loaded.
                call.abort();
            }
        }
        return Err(cause.unwrap_or(e));
    }
    drop(senders);
    let mut max_uid = 0;
    let mut failures = Vec::new();
    for (gid, call) in calls {
        match call.await {
            Ok(Ok(result)) => {
                max_uid = max_uid.max(result.max_uid);
                ctx.registry.progress(job.task, |t| t.groups_done += 1);
                tracing::info!(
                    task = job.task,
                    group = gid,
                    keys = result.loaded,
                    "group restored"
                );
            }
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(BackupError::internal(format!("group {gid}: {e}"))),
        }
    }
    if let Some(first) = failures.first() {
        let all: Vec<&str> = failures.iter().map(|e| e.message.as_str()).collect();
        return Err(BackupError::new(first.code, all.join("; ")));
    }
    Ok(max_uid)
}

/// Decodes every file and sends its batches to its group's stream, oldest backup first.
async fn feed(
    ctx: &Context,
    job: &Job,
    senders: &BTreeMap<u32, tokio::sync::mpsc::Sender<KvBatch>>,
) -> Result<(), BackupError> {
    for file in series::series_files(&job.series) {
        let (gid, path) = (file.group, file.path());
        let tx = senders
            .get(&gid)
            .ok_or_else(|| BackupError::internal(format!("no alpha for group {gid}")))?
            .clone();
        let mut first = true;
        let (registry, task) = (ctx.registry.clone(), job.task);
        let verified = series::read_object(
            &job.operator,
            file,
            job.key.as_ref(),
            Depth::Full,
            move |record| {
                let mut batch = KvBatch::from(record);
                batch.new_file = std::mem::take(&mut first);
                let bytes = batch.encoded_len() as u64;
                tx.blocking_send(batch).map_err(|_| {
                    BackupError::unavailable(format!(
                        "group {gid}: the alpha stopped taking the restore"
                    ))
                })?;
                registry.progress(task, |t| t.bytes_written += bytes);
                Ok(())
            },
        )
        .await?;
        tracing::info!(task = job.task, path = %path, keys = verified.keys, "restore: file loaded");
    }
    Ok(())
}
