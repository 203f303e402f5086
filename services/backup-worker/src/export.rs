//! One export (Dgraph's `export`), start to end.
//!
//! The request is checked before anything is queued (format, namespace, destination). Exports
//! wait in the backup queue and run one at a time with backups: take `read_ts` from zero, then
//! ask one alpha of every group to render its predicates at `read_ts` ([`Worker::export`]),
//! and write what it sends to `dgraph.r<read_ts>.u<MMDD.HHMM>/g<NN>.<rdf|json>.gz` and
//! `g<NN>.schema.gz` through the backup codec's gzip (and AES-CTR under the cluster's key when
//! the worker has it: an encrypted cluster's export is encrypted, as Dgraph's). The groups
//! share the one `read_ts`, so the files are one consistent graph. An export that fails has
//! its folder removed.
//!
//! [`Worker::export`]: lodestar_proto::worker::worker_server::Worker::export

use crate::backup::{
    Context, Job, OutFile, Prefer, alpha_client, first_serving, group_sources, leased_read_ts,
    recording, remote, remove_partial, tablets,
};
use crate::tasks::Status as TaskState;
use lodestar_backup::BackupError;
use lodestar_proto::worker::{ExportChunk, ExportRequest};
use std::collections::{BTreeMap, BTreeSet};

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rdf,
    Json,
}

impl Format {
    /// Dgraph's names (any case); empty is RDF, Dgraph's default.
    pub fn parse(name: &str) -> Result<Format, BackupError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "rdf" => Ok(Format::Rdf),
            "json" => Ok(Format::Json),
            _ => Err(BackupError::invalid(format!(
                "invalid export format: {name}"
            ))),
        }
    }

    /// The name alphas take, also the data file's extension.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rdf => "rdf",
            Format::Json => "json",
        }
    }
}

/// Checks the namespace of a request: this cluster has one, 0; -1 (all) means it too.
pub fn check_namespace(namespace: i64) -> Result<(), BackupError> {
    match namespace {
        0 | -1 => Ok(()),
        other => Err(BackupError::invalid(format!(
            "namespace {other} does not exist: this cluster has the default namespace 0 only"
        ))),
    }
}

/// The folder of an export at `read_ts` made at `now` (Dgraph's `dgraph.r<ts>.u<MMDD.HHMM>`).
pub fn folder_name(read_ts: u64, now: chrono::DateTime<chrono::Utc>) -> String {
    format!("dgraph.r{read_ts}.u{}", now.format("%m%d.%H%M"))
}

/// Runs one export job.
pub async fn run(ctx: &Context, job: Job, format: Format) -> Result<(), BackupError> {
    let task = job.task;
    ctx.registry
        .update(task, |t| t.status = TaskState::Running)
        .map_err(recording)?;
    let read_ts = leased_read_ts(&ctx.zero).await?;
    let sources = group_sources(&ctx.zero, Prefer::Follower).await?;
    let tablets = tablets(&ctx.zero).await?;
    let folder = folder_name(read_ts, chrono::Utc::now());
    ctx.registry
        .update(task, |t| {
            t.read_ts = read_ts;
            t.groups_total = sources.len() as u32;
            t.folder = Some(folder.clone());
        })
        .map_err(recording)?;
    tracing::info!(task, destination = %job.destination, folder = %folder, read_ts, format = format.name(), "export started");
    let mut requests = requests(&tablets, sources.keys().copied(), read_ts, format);
    let mut total = 0;
    for (&gid, addrs) in &sources {
        let request = requests.remove(&gid).expect("one request per group");
        match export_group(ctx, &job, &folder, format, addrs, request).await {
            Ok(n) => total += n,
            Err(e) => {
                remove_partial(ctx, task, &job.operator).await;
                return Err(e);
            }
        }
        ctx.registry.progress(task, |t| t.groups_done += 1);
    }
    tracing::info!(task, folder = %folder, nquads = total, "export written");
    Ok(())
}

/// Opens the export stream of a group on the first of `addrs` that serves it, with its first
/// chunk.
async fn open(
    addrs: &[String],
    request: &ExportRequest,
) -> Result<(tonic::Streaming<ExportChunk>, ExportChunk), BackupError> {
    let gid = request.group_id;
    first_serving(gid, addrs, |addr| async move {
        let mut stream = alpha_client(gid, &addr)?
            .export(request.clone())
            .await
            .map_err(|e| {
                remote(e).context(format_args!("group {gid}: alpha {addr} refused the export"))
            })?
            .into_inner();
        let first = stream
            .message()
            .await
            .map_err(|e| {
                remote(e).context(format_args!("group {gid}: alpha {addr} could not export"))
            })?
            .ok_or_else(|| {
                BackupError::unavailable(format!(
                    "group {gid}: alpha {addr} ended the export before it began"
                ))
            })?;
        Ok((stream, first))
    })
    .await
}

/// Writes one group's data and schema files; returns how many N-Quads or objects it wrote.
async fn export_group(
    ctx: &Context,
    job: &Job,
    folder: &str,
    format: Format,
    addrs: &[String],
    request: ExportRequest,
) -> Result<u64, BackupError> {
    let gid = request.group_id;
    let (mut stream, first) = open(addrs, &request).await?;
    if ctx.key.is_none() && first.encrypted_at_rest {
        return Err(BackupError::precondition(format!(
            "group {gid} is encrypted at rest and the backup worker has no encryption key: start it with --encryption_key_file so exports of this cluster are encrypted too"
        )));
    }
    let (task, op) = (job.task, &job.operator);
    let data_path = format!("{folder}/g{gid:02}.{}.gz", format.name());
    let mut data = OutFile::create(ctx, task, op, data_path).await?;
    let schema_path = format!("{folder}/g{gid:02}.schema.gz");
    let mut schema = OutFile::create(ctx, task, op, schema_path).await?;
    let mut next = Some(first);
    let count = loop {
        let chunk = match next.take() {
            Some(c) => c,
            None => stream
                .message()
                .await
                .map_err(|e| {
                    remote(e).context(format_args!("group {gid}: the export stream broke"))
                })?
                .ok_or_else(|| {
                    BackupError::unavailable(format!(
                        "group {gid}: the export stream ended before its last chunk"
                    ))
                })?,
        };
        data.text(&chunk.data).await?;
        schema.text(&chunk.schema).await?;
        if chunk.done {
            break chunk.count;
        }
    };
    let bytes = data.close().await?.size + schema.close().await?.size;
    tracing::info!(
        task = job.task,
        group = gid,
        count,
        bytes,
        "export files written"
    );
    Ok(count)
}

/// What each of `groups` is asked to export: the predicates zero's `tablets` give it; the
/// lowest group also every predicate no group serves (schema only) and the types.
fn requests(
    tablets: &BTreeMap<String, u32>,
    groups: impl Iterator<Item = u32>,
    read_ts: u64,
    format: Format,
) -> BTreeMap<u32, ExportRequest> {
    let groups: BTreeSet<u32> = groups.collect();
    let lowest = groups.first().copied();
    groups
        .iter()
        .map(|&gid| {
            let lowest = Some(gid) == lowest;
            let predicates = tablets
                .iter()
                .filter(|(_, g)| (**g == gid) != lowest)
                .map(|(p, _)| p.clone())
                .collect();
            let request = ExportRequest {
                read_ts,
                group_id: gid,
                format: format.name().into(),
                predicates,
                except: lowest,
                types: lowest,
            };
            (gid, request)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use lodestar_runtime::ErrorCode;

    #[test]
    fn formats_and_namespaces_are_checked_as_dgraph_does() {
        assert_eq!(Format::parse("").unwrap(), Format::Rdf);
        assert_eq!(Format::parse("Json").unwrap(), Format::Json);
        let bad = Format::parse("xml").unwrap_err();
        assert_eq!(bad.message, "invalid export format: xml");
        assert_eq!(bad.code, ErrorCode::InvalidArgument);
        assert!(check_namespace(0).is_ok() && check_namespace(-1).is_ok());
        assert!(
            check_namespace(2)
                .unwrap_err()
                .message
                .contains("namespace 2")
        );
    }

    #[test]
    fn folders_are_named_by_read_ts_and_utc_time() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 9, 7, 5, 59).unwrap();
        assert_eq!(folder_name(42, t), "dgraph.r42.u0309.0705");
    }

    #[test]
    fn the_lowest_group_exports_what_no_other_group_serves_and_the_types() {
        let tablets = BTreeMap::from([
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 3),
        ]);
        let r = requests(&tablets, [3, 1, 2].into_iter(), 9, Format::Json);
        assert_eq!(r.len(), 3);
        assert!(r[&1].except && r[&1].types);
        assert_eq!(r[&1].predicates, vec!["b", "c"]);
        assert!(!r[&2].except && !r[&2].types);
        assert_eq!(r[&2].predicates, vec!["b"]);
        assert_eq!(r[&3].predicates, vec!["c"]);
        assert_eq!((r[&3].read_ts, r[&3].format.as_str()), (9, "json"));
    }
}
