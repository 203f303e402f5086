//! One backup, start to end.
//!
//! The request is checked before anything is queued (enterprise features on, destination
//! parsed and its store reachable). Then, one backup at a time: read the location's manifest,
//! take `read_ts` from zero, plan full or incremental (Dgraph's rules, see
//! [`lodestar_backup::manifest::next_backup`]), stream each group's changed keys from one of
//! its alphas into `dgraph.<time>/r<read_ts>-g<group>.backup` through the codec (framed
//! records → gzip in parallel chunks → AES-CTR when the cluster has a key), and only when
//! every group's file is complete append the manifest entry with each file's size and SHA-256.
//! A backup that fails leaves no manifest entry; its partial files are removed.

use crate::tasks::{Kind, Registry, Status as TaskState, Task};
use bytes::Bytes;
use lodestar_backup::BackupError;
use lodestar_backup::codec::{ByteSink, EncodeOptions, Encoder, FileSummary};
use lodestar_backup::destination::{Credentials, Destination};
use lodestar_backup::manifest::retention::Retention;
use lodestar_backup::manifest::{self, BackupFile, BackupKind, Manifest};
use lodestar_backup::record::Record;
use lodestar_client::ZeroClient;
use lodestar_crypto::EncryptionKey;
use lodestar_proto::worker::worker_client::WorkerClient;
use lodestar_proto::worker::{KvBatch, SnapshotRequest};
use lodestar_runtime::ErrorCode;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Backups waiting behind the one running, at most (Dgraph's limit).
pub const MAX_PENDING: usize = 16;

/// Dgraph's answer when more backups wait than [`MAX_PENDING`].
pub const TOO_MANY_PENDING: &str = "too many pending tasks, please try again later";

/// The manifest format version we write (Dgraph's v2105 layout).
const MANIFEST_VERSION: u32 = 2105;

/// A backup or export accepted and waiting its turn.
#[derive(Debug)]
pub struct Job {
    pub task: u64,
    pub destination: Destination,
    pub operator: opendal::Operator,
    pub work: Work,
    /// A scheduled backup's follow-up; `None` for requests.
    pub then: Option<AfterBackup>,
}

/// What a scheduled backup asks of the queue besides the backup: its retention, applied after
/// a successful backup while the queue is still held (no other backup rewrites the manifest
/// meanwhile), and where to report how both went.
#[derive(Debug)]
pub struct AfterBackup {
    pub retention: Retention,
    pub report: tokio::sync::oneshot::Sender<JobReport>,
}

/// How a scheduled backup and its retention went.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub outcome: Result<(), BackupError>,
    /// `None` when no retention ran (no rule, or the backup failed).
    pub retention: Option<Result<crate::schedule::retention::Applied, BackupError>>,
}

/// What a queued job does.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    Backup { force_full: bool },
    Export(crate::export::Format),
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Backup { .. } => "backup",
            Work::Export(_) => "export",
        }
    }
}

/// What a backup needs from the worker.
#[derive(Debug, Clone)]
pub struct Context {
    pub zero: Arc<ZeroClient>,
    pub registry: Registry,
    /// The cluster's encryption key: backups are encrypted exactly when it is set.
    pub key: Option<EncryptionKey>,
    /// gzip level of backup files.
    pub compression_level: u32,
    /// Background work (the queue, restores) stops on it and is awaited at exit.
    pub shutdown: lodestar_runtime::Shutdown,
    /// Where an export without a destination goes (`<data>/export`, as Dgraph's alphas write
    /// theirs to `export`).
    pub export_dir: std::path::PathBuf,
}

/// An opendal writer as the codec's sink, counting bytes into the task's progress.
struct Sink {
    writer: opendal::Writer,
    registry: Registry,
    task: u64,
}

impl ByteSink for Sink {
    async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let n = chunk.len() as u64;
        self.writer
            .write(chunk)
            .await
            .map_err(std::io::Error::other)?;
        self.registry.progress(self.task, |t| t.bytes_written += n);
        Ok(())
    }
}

/// A file being written into the destination through the codec (gzip, then AES-CTR under the
/// worker's key when it has one).
pub(crate) struct OutFile {
    path: String,
    encoder: Encoder<Sink>,
}

impl OutFile {
    pub(crate) async fn create(
        ctx: &Context,
        task: u64,
        op: &opendal::Operator,
        path: String,
    ) -> Result<OutFile, BackupError> {
        let writer = op
            .writer(&path)
            .await
            .map_err(|e| BackupError::unavailable(format!("opening {path} for writing: {e}")))?;
        let sink = Sink {
            writer,
            registry: ctx.registry.clone(),
            task,
        };
        let opts = EncodeOptions {
            key: ctx.key.clone(),
            level: ctx.compression_level,
            ..EncodeOptions::default()
        };
        Ok(OutFile {
            path,
            encoder: Encoder::new(sink, opts),
        })
    }

    fn failed(&self, e: impl std::fmt::Display) -> BackupError {
        BackupError::unavailable(format!("writing {}: {e}", self.path))
    }

    /// Appends one record (a backup file's frame).
    pub(crate) async fn frame(&mut self, payload: &[u8]) -> Result<(), BackupError> {
        let done = self.encoder.push_frame(payload).await;
        done.map_err(|e| self.failed(e))
    }

    /// Appends text as it is (an export file's).
    pub(crate) async fn text(&mut self, text: &[u8]) -> Result<(), BackupError> {
        let done = self.encoder.push_bytes(text).await;
        done.map_err(|e| self.failed(e))
    }

    /// Writes what is left and closes the file.
    pub(crate) async fn close(self) -> Result<FileSummary, BackupError> {
        let path = self.path;
        let (mut sink, summary) = self
            .encoder
            .finish()
            .await
            .map_err(|e| BackupError::unavailable(format!("writing {path}: {e}")))?;
        sink.writer
            .close()
            .await
            .map_err(|e| BackupError::unavailable(format!("finishing {path}: {e}")))?;
        Ok(summary)
    }
}

/// Checks a backup request and returns the job to queue.
pub fn prepare(
    destination: &str,
    credentials: &Credentials,
    force_full: bool,
) -> Result<(Destination, opendal::Operator, bool), BackupError> {
    let (dest, op) =
        lodestar_backup::series::open_location(destination, credentials, "destination")?;
    Ok((dest, op, force_full))
}

/// Queues `job`, or fails its task when the queue is full.
pub fn enqueue(
    registry: &Registry,
    jobs: &tokio::sync::mpsc::Sender<Job>,
    job: Job,
) -> Result<(), BackupError> {
    let id = job.task;
    if jobs.try_send(job).is_err() {
        let refused = registry.update(id, |t| {
            t.status = TaskState::Failed;
            t.errors.push(TOO_MANY_PENDING.to_string());
        });
        if let Err(e) = refused {
            tracing::warn!(task = id, error = %e, "recording a refused task");
        }
        return Err(BackupError::new(
            ErrorCode::ResourceExhausted,
            TOO_MANY_PENDING,
        ));
    }
    Ok(())
}

/// Runs queued backups and exports one at a time until the queue closes.
pub async fn run_queue(ctx: Context, mut jobs: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(mut job) = jobs.recv().await {
        let task = job.task;
        let operator = job.operator.clone();
        let destination = job.destination.clone();
        let work = job.work;
        let then = job.then.take();
        // Each job in its own task: whatever goes wrong in it (a panic in a store library
        // included) fails that job and leaves the queue working.
        let ctx2 = ctx.clone();
        let outcome = match isolated(async move {
            match work {
                Work::Backup { force_full } => run(&ctx2, job, force_full).await,
                Work::Export(format) => crate::export::run(&ctx2, job, format).await,
            }
        })
        .await
        {
            Ok(outcome) => outcome,
            Err(why) => {
                tracing::error!(task, error = %why, "a {} job crashed", work.name());
                remove_partial(&ctx, task, &operator).await;
                Err(why.context(format_args!("the {} stopped unexpectedly", work.name())))
            }
        };
        let result = ctx.registry.finish(task, &outcome);
        match (&outcome, result) {
            (_, Err(e)) => tracing::error!(task, error = %e, "recording the task's end"),
            (Ok(()), Ok(t)) => tracing::info!(
                task,
                backup_id = %t.backup_id,
                backup_num = t.backup_num,
                read_ts = t.read_ts,
                bytes = t.bytes_written,
                "{} finished",
                work.name()
            ),
            (Err(e), Ok(_)) => tracing::warn!(task, error = %e, "{} failed", work.name()),
        }
        if let Some(then) = then {
            let retention = match &outcome {
                Ok(()) if then.retention.is_set() => {
                    let rule = then.retention;
                    let applied = isolated(async move {
                        let now = chrono::Utc::now();
                        crate::schedule::retention::apply(&operator, &destination, &rule, now).await
                    })
                    .await;
                    Some(applied.and_then(|r| r))
                }
                _ => None,
            };
            // The schedule may have stopped waiting (the worker is stopping).
            let _ = then.report.send(JobReport { outcome, retention });
        }
    }
}

/// Runs `job` in its own task: its output, or what its panic said (Internal).
async fn isolated<T: Send + 'static>(
    job: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::spawn(job).await.map_err(|e| {
        if !e.is_panic() {
            return BackupError::internal(e.to_string());
        }
        let payload = e.into_panic();
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        BackupError::internal(why)
    })
}

/// A failed call to zero or an alpha, with the code it answered.
pub(crate) fn remote(e: tonic::Status) -> BackupError {
    BackupError::new(ErrorCode::from_grpc(e.code()), e.message())
}

/// A task registry write that failed.
pub(crate) fn recording(e: std::io::Error) -> BackupError {
    BackupError::internal(format!("recording the task: {e}"))
}

/// Removes the files a backup that did not finish wrote (its folder, which no manifest entry
/// names); the task records the folder as soon as it is chosen.
pub(crate) async fn remove_partial(ctx: &Context, task: u64, op: &opendal::Operator) {
    let Some(folder) = ctx.registry.get(task).and_then(|t| t.folder) else {
        return;
    };
    match op.delete_with(&format!("{folder}/")).recursive(true).await {
        Ok(()) => tracing::info!(task, folder = %folder, "removed a failed backup's files"),
        Err(e) => {
            tracing::warn!(task, folder = %folder, error = %e, "removing a failed backup's files")
        }
    }
}

/// How long a backup keeps trying the members of a group when none can serve it yet.
const SOURCE_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// Which member of a group to ask first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefer {
    /// A follower (a backup reads; the leader keeps taking writes), then the leader.
    Follower,
    /// The leader (a restore writes through it; a follower would forward).
    Leader,
}

/// The alphas of each group that serves data, in the order to try them: followers least
/// behind first, or the leader first, as `prefer` says; members zero shows dead last.
pub(crate) async fn group_sources(
    zero: &ZeroClient,
    prefer: Prefer,
) -> Result<BTreeMap<u32, Vec<String>>, BackupError> {
    let state = zero
        .state()
        .await
        .map_err(|e| remote(e).context("asking zero for the groups"))?;
    let mut sources = BTreeMap::new();
    for (gid, group) in state.groups {
        if gid == 0 {
            continue;
        }
        let mut members: Vec<_> = group.members.values().collect();
        members.sort_by_key(|m| {
            let leader_last = match prefer {
                Prefer::Follower => m.leader,
                Prefer::Leader => !m.leader,
            };
            (m.am_dead, leader_last, m.behind, m.id)
        });
        if !members.is_empty() {
            sources.insert(gid, members.iter().map(|m| m.addr.clone()).collect());
        }
    }
    if sources.is_empty() {
        return Err(BackupError::precondition(
            "no alpha has joined the cluster: there is nothing to back up",
        ));
    }
    Ok(sources)
}

async fn run(ctx: &Context, job: Job, force_full: bool) -> Result<(), BackupError> {
    let task = job.task;
    ctx.registry
        .update(task, |t| t.status = TaskState::Running)
        .map_err(recording)?;
    let op = &job.operator;
    let master = manifest::read_master(op).await.map_err(|e| {
        BackupError::precondition(format!("reading the manifest at {}: {e}", job.destination))
    })?;
    let read_ts = leased_read_ts(&ctx.zero).await?;
    let plan = manifest::next_backup(&master.manifests, force_full, ctx.key.is_some(), read_ts)
        .map_err(|e| BackupError::precondition(e.to_string()))?;
    let sources = group_sources(&ctx.zero, Prefer::Follower).await?;
    ctx.registry
        .update(task, |t| {
            t.read_ts = read_ts;
            t.backup_id = plan.backup_id.clone();
            t.backup_num = plan.backup_num;
            t.groups_total = sources.len() as u32;
        })
        .map_err(recording)?;
    let folder = manifest::folder_name(chrono::Utc::now());
    ctx.registry
        .update(task, |t| t.folder = Some(folder.clone()))
        .map_err(recording)?;
    tracing::info!(
        task,
        destination = %job.destination,
        folder = %folder,
        read_ts,
        since = plan.since,
        backup_id = %plan.backup_id,
        backup_num = plan.backup_num,
        "backup started"
    );

    // Every group keeps the whole schema; the manifest lists under each group the predicates
    // zero's tablet map gives it (a predicate with schema only, under the lowest group).
    let tablets = tablets(&ctx.zero).await?;
    let mut listed = std::collections::BTreeSet::new();
    let mut files = BTreeMap::new();
    let mut groups = BTreeMap::new();
    let mut max_uid = 0;
    for (&gid, addrs) in &sources {
        let written = backup_group(ctx, task, op, &folder, gid, addrs, plan.since, read_ts).await;
        let (file, predicates, group_max_uid) = match written {
            Ok(w) => w,
            Err(e) => {
                // No manifest entry names the folder; remove what was written of it.
                remove_partial(ctx, task, op).await;
                return Err(e);
            }
        };
        files.insert(gid, file);
        groups.insert(
            gid,
            predicates
                .iter()
                .filter(|p| match tablets.get(p.as_str()) {
                    Some(g) => *g == gid,
                    None => listed.insert(p.to_string()),
                })
                .map(|p| manifest::galaxy_name(p))
                .collect(),
        );
        max_uid = max_uid.max(group_max_uid);
        ctx.registry.progress(task, |t| t.groups_done += 1);
    }
    let entry = Manifest {
        kind: plan.kind,
        since: 0,
        read_ts,
        groups,
        backup_id: plan.backup_id.clone(),
        backup_num: plan.backup_num,
        version: MANIFEST_VERSION,
        path: folder,
        encrypted: ctx.key.is_some(),
        drop_operations: None,
        compression: "gzip".to_string(),
        files,
        max_uid,
        format: lodestar_backup::record::FORMAT,
    };
    debug_assert!(plan.kind != BackupKind::Full || plan.backup_num == 1);
    manifest::append(op, entry, job.destination.supports_rename())
        .await
        .map_err(|e| {
            BackupError::unavailable(format!("writing the manifest at {}: {e}", job.destination))
        })?;
    Ok(())
}

/// A read timestamp for a backup or export. A leased one, not a read-only one: it is new even
/// when nothing was committed since the last backup, so a read_ts that is not above the last
/// one can only mean zero's timestamps went back. Reads at it see every commit below it, as a
/// transaction's do.
pub(crate) async fn leased_read_ts(zero: &ZeroClient) -> Result<u64, BackupError> {
    Ok(zero
        .timestamps(1)
        .await
        .map_err(|e| remote(e).context("asking zero for a read timestamp"))?
        .start_id)
}

/// Zero's tablets: each served predicate and its group.
pub(crate) async fn tablets(zero: &ZeroClient) -> Result<BTreeMap<String, u32>, BackupError> {
    Ok(zero
        .state()
        .await
        .map_err(|e| remote(e).context("asking zero for the tablets"))?
        .groups
        .into_iter()
        .flat_map(|(g, group)| group.tablets.into_keys().map(move |p| (p, g)))
        .collect())
}

/// The first of `addrs` (members of group `gid`) for which `open` succeeds. A member that
/// cannot serve now (Unavailable: it died, or its group is electing a leader and it cannot
/// reach the read timestamp yet) is passed over for the next, for up to [`SOURCE_RETRY`].
pub(crate) async fn first_serving<T, F, Fut>(
    gid: u32,
    addrs: &[String],
    mut open: F,
) -> Result<T, BackupError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, BackupError>>,
{
    let deadline = tokio::time::Instant::now() + SOURCE_RETRY;
    loop {
        let mut last = BackupError::unavailable(format!("group {gid} has no alpha"));
        for addr in addrs {
            match open(addr.clone()).await {
                Ok(o) => return Ok(o),
                Err(e) if e.code == ErrorCode::Unavailable => {
                    tracing::warn!(group = gid, alpha = %addr, error = %e, "this alpha cannot serve now; trying another");
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// A worker client of the alpha at `addr`.
pub(crate) fn alpha_client(
    gid: u32,
    addr: &str,
) -> Result<WorkerClient<lodestar_client::TracedChannel>, BackupError> {
    let channel = lodestar_client::traced_channel(addr)
        .map_err(|e| remote(e).context(format_args!("group {gid}: alpha {addr}")))?;
    Ok(WorkerClient::new(channel).max_decoding_message_size(usize::MAX))
}

/// Opens the backup stream of group `gid` on the first of `addrs` that serves it, and reads its
/// first batch.
async fn open_stream(
    gid: u32,
    addrs: &[String],
    since: u64,
    read_ts: u64,
) -> Result<(String, tonic::Streaming<KvBatch>, Option<KvBatch>), BackupError> {
    first_serving(gid, addrs, |addr| async move {
        let mut stream = alpha_client(gid, &addr)?
            .stream_snapshot(SnapshotRequest {
                since_ts: since,
                read_ts,
                group_id: gid,
            })
            .await
            .map_err(|e| {
                remote(e).context(format_args!(
                    "group {gid}: alpha {addr} refused the backup stream"
                ))
            })?
            .into_inner();
        let first = stream.message().await.map_err(|e| {
            remote(e).context(format_args!(
                "group {gid}: alpha {addr} could not stream the backup"
            ))
        })?;
        Ok((addr, stream, first))
    })
    .await
}

/// Streams one group into its file; returns the file's record, the predicates it holds and
/// the highest uid it mentions.
#[allow(clippy::too_many_arguments)]
async fn backup_group(
    ctx: &Context,
    task: u64,
    op: &opendal::Operator,
    folder: &str,
    gid: u32,
    addrs: &[String],
    since: u64,
    read_ts: u64,
) -> Result<(BackupFile, Vec<String>, u64), BackupError> {
    let name = manifest::file_name(read_ts, gid);
    let path = format!("{folder}/{name}");
    let (addr, mut stream, first) = open_stream(gid, addrs, since, read_ts).await?;
    let addr = addr.as_str();
    // An encrypted cluster's data never leaves it in plaintext: its backups are encrypted.
    if ctx.key.is_none() && first.as_ref().is_some_and(|b| b.encrypted_at_rest) {
        return Err(BackupError::precondition(format!(
            "group {gid} is encrypted at rest and the backup worker has no encryption key: start it with --encryption_key_file so backups of this cluster are encrypted too (the backup is not recorded)"
        )));
    }
    let mut file = OutFile::create(ctx, task, op, path.clone()).await?;
    let mut last = None;
    let mut next = first;
    loop {
        let batch = match next.take() {
            Some(b) => Some(b),
            None => stream.message().await.map_err(|e| {
                remote(e).context(format_args!(
                    "group {gid}: the stream from alpha {addr} broke"
                ))
            })?,
        };
        let Some(batch) = batch else { break };
        // The file holds backup records, whatever else the stream's batches carry.
        let record = Record::from(batch);
        file.frame(&record.encode_to_vec()).await?;
        if record.done {
            last = Some(record);
            break;
        }
    }
    let Some(last) = last else {
        return Err(BackupError::unavailable(format!(
            "group {gid}: the stream from alpha {addr} ended before its last batch"
        )));
    };
    let summary = file.close().await?;
    tracing::info!(
        task,
        group = gid,
        path = %path,
        keys = last.count,
        bytes = summary.size,
        raw_bytes = summary.raw_bytes,
        "backup file written"
    );
    Ok((
        BackupFile {
            name,
            size: summary.size,
            sha256: summary.sha256,
            keys: last.count,
        },
        last.predicates,
        last.max_uid,
    ))
}

/// Creates the task for an accepted backup or export.
pub fn create_task(
    registry: &Registry,
    kind: Kind,
    destination: &Destination,
) -> Result<Task, BackupError> {
    if registry.busy(Kind::Backup) + registry.busy(Kind::Export) > MAX_PENDING {
        return Err(BackupError::new(
            ErrorCode::ResourceExhausted,
            TOO_MANY_PENDING,
        ));
    }
    registry
        .create(kind, &destination.to_string())
        .map_err(recording)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_that_panics_is_an_error_and_the_next_one_runs() {
        let crashed = isolated(async { panic!("opendal: mode DIR not match") }).await;
        let crashed = crashed.unwrap_err();
        assert_eq!(crashed.message, "opendal: mode DIR not match");
        assert_eq!(crashed.code, ErrorCode::Internal);
        let owned = isolated(async { panic!("{}", String::from("owned")) }).await;
        assert_eq!(owned.unwrap_err().message, "owned");
        assert_eq!(isolated(async { 7 }).await, Ok(7));
    }
}
