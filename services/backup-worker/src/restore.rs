//! Reading backups back: choosing the series to restore, checking its files, verifying a
//! series without restoring it, and the online restore.
//!
//! Every path that restores checks the whole chosen series first: each file's size and
//! SHA-256 against the manifest and its first record decoded with the key (so a wrong key or a
//! damaged file is found before anything is dropped). Only then does the online restore drain
//! the cluster, take a restore timestamp from zero and stream every group's files, oldest
//! backup first, into that group's alpha (`worker.Worker/LoadKvs`), which replaces its data
//! in one step or, when the stream breaks, takes back everything it loaded. Zero's timestamps
//! and its UID and namespace leases are then raised above what the backup holds, and draining
//! is turned off again.

use crate::backup::{Context, group_sources};
use crate::tasks::Status as TaskState;
use bytes::Bytes;
use futures::StreamExt;
use lodestar_backup::codec::{CodecError, Decoder, HashingReader};
use lodestar_backup::destination::Destination;
use lodestar_backup::manifest::{self, BackupFile, Manifest, SelectError};
use lodestar_client::ZeroClient;
use lodestar_crypto::EncryptionKey;
use lodestar_crypto::vault::{VaultConfig, VaultFormat};
use lodestar_proto::backup::{KeySource, VerifiedFile};
use lodestar_proto::worker::KvBatch;
use lodestar_proto::worker::worker_client::WorkerClient;
use lodestar_proto::zero::NumLeaseType;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{self, Read};
use std::path::PathBuf;
use tonic::Status as RpcStatus;

/// Dgraph's answer when a restore is asked for while one runs.
pub const RESTORE_RUNNING: &str =
    "another restore operation is already running. Please retry later.";

/// The key a restore or verify reads with: the request's key file, or Vault, or none.
pub async fn resolve_key(source: Option<&KeySource>) -> Result<Option<EncryptionKey>, String> {
    let Some(s) = source else {
        return Ok(None);
    };
    let vault_set = [
        &s.vault_role_id_file,
        &s.vault_secret_id_file,
        &s.vault_path,
        &s.vault_field,
        &s.vault_format,
    ]
    .iter()
    .any(|v| !v.is_empty());
    if !s.key_file.is_empty() {
        if !s.vault_addr.is_empty() || vault_set {
            return Err(
                "give either encryptionKeyFile or the Vault settings, not both".to_string(),
            );
        }
        return EncryptionKey::from_file(std::path::Path::new(&s.key_file))
            .map(Some)
            .map_err(|e| format!("encryptionKeyFile: {e}"));
    }
    if s.vault_addr.is_empty() {
        if vault_set {
            return Err("vaultAddr is required with the other Vault settings".to_string());
        }
        return Ok(None);
    }
    if s.vault_role_id_file.is_empty() || s.vault_secret_id_file.is_empty() {
        return Err(
            "vaultRoleIDFile and vaultSecretIDFile are required with vaultAddr".to_string(),
        );
    }
    let mut cfg = VaultConfig {
        addr: s.vault_addr.clone(),
        role_id_file: PathBuf::from(&s.vault_role_id_file),
        secret_id_file: PathBuf::from(&s.vault_secret_id_file),
        ..VaultConfig::default()
    };
    if !s.vault_path.is_empty() {
        cfg.path = s.vault_path.clone();
    }
    if !s.vault_field.is_empty() {
        cfg.field = s.vault_field.clone();
    }
    if !s.vault_format.is_empty() {
        cfg.format =
            VaultFormat::parse(&s.vault_format).map_err(|e| format!("vaultFormat: {e}"))?;
    }
    lodestar_crypto::vault::fetch_key(&cfg)
        .await
        .map(Some)
        .map_err(|e| format!("the encryption key from Vault at {}: {e}", cfg.addr))
}

/// Chooses the backups to restore (oldest first) from the location's manifest, with Dgraph's
/// rules and messages; entries whose files are missing count as gaps.
pub async fn choose(
    op: &opendal::Operator,
    destination: &Destination,
    backup_id: &str,
    backup_num: i64,
) -> Result<Vec<Manifest>, RpcStatus> {
    if backup_num < 0 {
        return Err(RpcStatus::invalid_argument(
            SelectError::NegativeBackupNum.to_string(),
        ));
    }
    let master = manifest::read_master(op).await.map_err(|e| {
        RpcStatus::failed_precondition(format!("reading the manifest at {destination}: {e}"))
    })?;
    let id = (!backup_id.trim().is_empty()).then_some(backup_id.trim());
    // Only the series that can be chosen (the named one, else the newest entry's) has its
    // files looked up: other series are never read.
    let candidate = id.or_else(|| master.manifests.last().map(|m| m.backup_id.as_str()));
    let mut incomplete = HashSet::new();
    for m in master
        .manifests
        .iter()
        .filter(|m| Some(m.backup_id.as_str()) == candidate)
    {
        let missing = manifest::missing_files(op, m).await.map_err(|e| {
            RpcStatus::unavailable(format!("listing the backup files at {destination}: {e}"))
        })?;
        if !missing.is_empty() {
            tracing::warn!(path = %m.path, missing = ?missing, "backup files are missing");
            incomplete.insert((m.backup_id.clone(), m.backup_num, m.path.clone()));
        }
    }
    manifest::select_series(&master.manifests, id, backup_num, |m| {
        !incomplete.contains(&(m.backup_id.clone(), m.backup_num, m.path.clone()))
    })
    .map_err(|e| match e.at(destination) {
        e @ SelectError::NegativeBackupNum => RpcStatus::invalid_argument(e.to_string()),
        e @ SelectError::UnknownBackupId(_) => {
            RpcStatus::not_found(format!("failed to verify backup: {e}"))
        }
        e @ SelectError::NoBackups { .. } => RpcStatus::not_found(e.to_string()),
        e => RpcStatus::failed_precondition(e.to_string()),
    })
}

/// A restore's or a verify's backups, opened: where they are and the key to read them with.
#[derive(Debug)]
pub struct Series {
    pub destination: Destination,
    pub operator: opendal::Operator,
    /// The backups to read, oldest first.
    pub series: Vec<Manifest>,
    pub key: Option<EncryptionKey>,
}

/// Opens a location, chooses its series ([`choose`]) and the key to read it with: the given
/// source's, else `fallback` (the cluster's own); refuses what cannot be read
/// ([`check_readable`]).
pub async fn open_series(
    location: &str,
    credentials: &lodestar_backup::destination::Credentials,
    backup_id: &str,
    backup_num: i64,
    key: Option<&KeySource>,
    fallback: Option<&EncryptionKey>,
) -> Result<Series, RpcStatus> {
    if location.trim().is_empty() {
        return Err(RpcStatus::invalid_argument(
            "you must specify a 'location' value",
        ));
    }
    if backup_num < 0 {
        return Err(RpcStatus::invalid_argument(
            SelectError::NegativeBackupNum.to_string(),
        ));
    }
    let (destination, operator, _) = crate::backup::prepare(location, credentials, false)?;
    let series = choose(&operator, &destination, backup_id, backup_num).await?;
    let key = match resolve_key(key)
        .await
        .map_err(RpcStatus::invalid_argument)?
    {
        Some(key) => Some(key),
        None => fallback.cloned(),
    };
    check_readable(&series, key.as_ref())?;
    Ok(Series {
        destination,
        operator,
        series,
        key,
    })
}

/// Checks that the series can be read with the key it will get: refuses an encrypted series
/// without a key and a series written by another program (no checksums to check against).
pub fn check_readable(series: &[Manifest], key: Option<&EncryptionKey>) -> Result<(), RpcStatus> {
    for m in series {
        if m.encrypted && key.is_none() {
            return Err(RpcStatus::invalid_argument(format!(
                "backup {} of series {} is encrypted: give encryptionKeyFile or the Vault settings",
                m.backup_num, m.backup_id
            )));
        }
        if !m.compression_kind().decodable() {
            return Err(RpcStatus::failed_precondition(format!(
                "backup {} of series {} is compressed with {:?}, which this version cannot read",
                m.backup_num, m.backup_id, m.compression
            )));
        }
        for (gid, name) in m.file_names() {
            if !m.files.contains_key(&gid) {
                return Err(RpcStatus::failed_precondition(format!(
                    "{}/{name}: the manifest records no size or checksum for it, so it was not written by this backup worker and cannot be restored",
                    m.path
                )));
            }
        }
    }
    Ok(())
}

/// The files of a series in restore order: (backup, group, path, record).
pub fn series_files(series: &[Manifest]) -> Vec<(&Manifest, u32, String, &BackupFile)> {
    let mut out = Vec::new();
    for m in series {
        for (gid, file) in &m.files {
            let path = if m.path.is_empty() {
                file.name.clone()
            } else {
                format!("{}/{}", m.path, file.name)
            };
            out.push((m, *gid, path, file));
        }
    }
    out
}

/// An object's bytes, fetched by a task on the runtime, as a blocking [`Read`].
pub struct ObjectReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ObjectReader {
    /// Starts fetching `path`.
    pub async fn open(op: &opendal::Operator, path: &str) -> Result<ObjectReader, String> {
        let reader = op
            .reader_with(path)
            .chunk(8 << 20)
            .concurrent(2)
            .await
            .map_err(|e| format!("opening {path}: {e}"))?;
        let mut stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| format!("reading {path}: {e}"))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(ObjectReader {
            rx,
            current: Bytes::new(),
        })
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(bytes)) => self.current = bytes,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// How much of a file [`read_file`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Size and SHA-256 of every byte, and the first record (proves the key and the format).
    Check,
    /// Every record, and their key count against the manifest.
    Full,
}

/// Reads one backup file (blocking): decodes its records (all, or the first), handing each to
/// `each`, and checks the file's size and SHA-256 against the manifest's record. A damaged file
/// is reported as such even when the damage also broke decoding.
pub fn read_file(
    reader: impl Read,
    path: &str,
    expected: &BackupFile,
    key: Option<&EncryptionKey>,
    depth: Depth,
    mut each: impl FnMut(KvBatch) -> Result<(), String>,
) -> Result<VerifiedFile, String> {
    let mut records = 0u64;
    let mut keys = 0u64;
    let mut decode_error = None;
    let hashing = HashingReader::new(reader);
    let mut hashing = match Decoder::new(hashing, key) {
        Ok(mut decoder) => {
            for frame in &mut decoder {
                let batch = frame.map_err(DecodeError::Codec).and_then(|f| {
                    KvBatch::decode(f.as_slice()).map_err(|e| DecodeError::Record(records, e))
                });
                match batch {
                    Ok(batch) => {
                        records += 1;
                        keys += batch.kvs.len() as u64;
                        each(batch)?;
                    }
                    Err(e) => {
                        decode_error = Some(e);
                        break;
                    }
                }
                if depth == Depth::Check {
                    break;
                }
            }
            decoder.into_inner()
        }
        Err(e) => return Err(format!("{path}: {e}")),
    };
    if let Err(e) = io::copy(&mut hashing, &mut io::sink()) {
        return Err(format!("{path}: {e}"));
    }
    let (size, sha256) = hashing.summary();
    if size != expected.size {
        return Err(format!(
            "{path} is {size} bytes but the manifest says {}: the file is damaged or was replaced",
            expected.size
        ));
    }
    if !expected.sha256.eq_ignore_ascii_case(&sha256) {
        return Err(format!(
            "{path} has SHA-256 {sha256} but the manifest says {}: the file is damaged",
            expected.sha256
        ));
    }
    if let Some(e) = decode_error {
        return Err(match e {
            DecodeError::Codec(e @ CodecError::Decompress(_)) if key.is_some() => format!(
                "{path} is intact (its checksum matches) but does not decrypt and decompress: the encryption key is wrong ({e})"
            ),
            DecodeError::Codec(e) => format!("{path}: {e}"),
            DecodeError::Record(n, e) => format!(
                "{path}: record {n} is not a backup batch ({e}): wrong key, or not a backup of this version"
            ),
        });
    }
    if records == 0 {
        return Err(format!(
            "{path} holds no records: it was not written completely"
        ));
    }
    if depth == Depth::Full && keys != expected.keys {
        return Err(format!(
            "{path} holds {keys} keys but the manifest says {}",
            expected.keys
        ));
    }
    Ok(VerifiedFile {
        path: path.to_string(),
        size,
        sha256,
        records,
        keys,
    })
}

enum DecodeError {
    Codec(CodecError),
    Record(u64, prost::DecodeError),
}

/// Reads one file of a store on a blocking thread.
pub async fn read_object(
    op: &opendal::Operator,
    path: &str,
    expected: &BackupFile,
    key: Option<&EncryptionKey>,
    depth: Depth,
    each: impl FnMut(KvBatch) -> Result<(), String> + Send + 'static,
) -> Result<VerifiedFile, String> {
    let reader = ObjectReader::open(op, path).await?;
    let (path, expected, key) = (path.to_string(), expected.clone(), key.cloned());
    tokio::task::spawn_blocking(move || {
        read_file(reader, &path, &expected, key.as_ref(), depth, each)
    })
    .await
    .map_err(|e| format!("reading a backup file stopped: {e}"))?
}

/// Checks every file of a series (see [`Depth`]); `done` hears each file as it passes.
pub async fn check_series(
    op: &opendal::Operator,
    series: &[Manifest],
    key: Option<&EncryptionKey>,
    depth: Depth,
    mut done: impl FnMut(&VerifiedFile),
) -> Result<Vec<VerifiedFile>, String> {
    let mut out = Vec::new();
    for (m, _, path, file) in series_files(series) {
        let key = if m.encrypted { key } else { None };
        let verified = read_object(op, &path, file, key, depth, |_| Ok(())).await?;
        done(&verified);
        out.push(verified);
    }
    Ok(out)
}

/// The highest namespace a series' predicate names mention.
pub fn max_namespace(series: &[Manifest]) -> u64 {
    series
        .iter()
        .flat_map(|m| m.groups.values().flatten())
        .filter_map(|name| manifest::split_name(name).map(|(ns, _)| ns))
        .max()
        .unwrap_or(0)
}

/// Raises zero's timestamps and its UID and namespace leases to at least the given values
/// (zeros are skipped).
pub async fn bump_zero(
    zero: &ZeroClient,
    ts: u64,
    max_uid: u64,
    max_ns: u64,
) -> Result<(), String> {
    for (kind, at_least, what) in [
        (NumLeaseType::TxnTs, ts, "timestamps"),
        (NumLeaseType::Uid, max_uid, "UID lease"),
        (NumLeaseType::NsId, max_ns, "namespace lease"),
    ] {
        if at_least == 0 {
            continue;
        }
        zero.bump(kind, at_least)
            .await
            .map_err(|e| format!("raising zero's {what} to {at_least}: {}", e.message()))?;
    }
    Ok(())
}

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

async fn restore(ctx: &Context, job: &Job) -> Result<(), String> {
    let task = job.task;
    let op = &job.operator;
    let last = job.series.last().expect("a chosen series is never empty");
    let sources = group_sources(&ctx.zero).await?;
    ctx.registry
        .update(task, |t| {
            t.status = TaskState::Running;
            t.read_ts = last.read_ts;
            t.backup_id = last.backup_id.clone();
            t.backup_num = last.backup_num;
            t.groups_total = sources.len() as u32;
        })
        .map_err(|e| format!("recording the task: {e}"))?;
    let backup_groups: BTreeSet<u32> = job
        .series
        .iter()
        .flat_map(|m| m.files.keys().copied())
        .collect();
    if let Some(g) = backup_groups.iter().find(|g| !sources.contains_key(g)) {
        return Err(format!(
            "the backup holds group {g} but the cluster serves groups {:?}: restore into a cluster with the backup's groups",
            sources.keys().collect::<Vec<_>>()
        ));
    }
    tracing::info!(
        task,
        location = %job.destination,
        backup_id = %last.backup_id,
        backup_num = last.backup_num,
        "restore: checking every file of the series"
    );
    check_series(op, &job.series, job.key.as_ref(), Depth::Check, |_| {}).await?;

    // Everything is readable: from here the cluster's data is replaced.
    let was_draining = ctx
        .zero
        .state()
        .await
        .map_err(|e| format!("asking zero for the cluster state: {}", e.message()))?
        .draining;
    if !was_draining {
        ctx.zero
            .set_draining(true)
            .await
            .map_err(|e| format!("turning draining on: {}", e.message()))?;
        let _ = ctx.registry.update(task, |t| t.drained = true);
    }
    let loaded = load(ctx, job, &sources).await;
    let bumped = match &loaded {
        Ok(max_uid) => {
            bump_zero(
                &ctx.zero,
                last.read_ts,
                (*max_uid).max(job.series.iter().map(|m| m.max_uid).max().unwrap_or(0)),
                max_namespace(&job.series),
            )
            .await
        }
        Err(_) => Ok(()),
    };
    if !was_draining {
        match ctx.zero.set_draining(false).await {
            Ok(_) => {
                let _ = ctx.registry.update(task, |t| t.drained = false);
            }
            Err(e) => {
                return Err(format!(
                    "the restore {} but draining could not be turned off ({}): turn it off through /admin draining",
                    if loaded.is_ok() { "finished" } else { "failed" },
                    e.message()
                ));
            }
        }
    }
    loaded?;
    bumped
}

/// Streams the series into every group's alpha; returns the highest uid loaded.
async fn load(ctx: &Context, job: &Job, sources: &BTreeMap<u32, String>) -> Result<u64, String> {
    let restore_ts = ctx
        .zero
        .timestamps(1)
        .await
        .map_err(|e| format!("asking zero for a restore timestamp: {}", e.message()))?
        .start_id;
    let mut senders = BTreeMap::new();
    let mut calls = Vec::new();
    for (&gid, addr) in sources {
        let channel = lodestar_client::traced_channel(addr)
            .map_err(|e| format!("group {gid}: alpha {addr}: {}", e.message()))?;
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
            .map_err(|_| "the restore stream closed".to_string())?;
        let addr = addr.clone();
        calls.push((
            gid,
            tokio::spawn(async move {
                alpha
                    .load_kvs(tokio_stream::wrappers::ReceiverStream::new(rx))
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|e| format!("group {gid}: alpha {addr}: {}", e.message()))
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
            Err(e) => failures.push(format!("group {gid}: {e}")),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    Ok(max_uid)
}

/// Decodes every file and sends its batches to its group's stream, oldest backup first.
async fn feed(
    ctx: &Context,
    job: &Job,
    senders: &BTreeMap<u32, tokio::sync::mpsc::Sender<KvBatch>>,
) -> Result<(), String> {
    for (m, gid, path, file) in series_files(&job.series) {
        let tx = senders
            .get(&gid)
            .ok_or_else(|| format!("no alpha for group {gid}"))?
            .clone();
        let key = if m.encrypted { job.key.as_ref() } else { None };
        let mut first = true;
        let (registry, task) = (ctx.registry.clone(), job.task);
        let verified = read_object(
            &job.operator,
            &path,
            file,
            key,
            Depth::Full,
            move |mut batch| {
                batch.new_file = std::mem::take(&mut first);
                let bytes = batch.encoded_len() as u64;
                tx.blocking_send(batch)
                    .map_err(|_| format!("group {gid}: the alpha stopped taking the restore"))?;
                registry.progress(task, |t| t.bytes_written += bytes);
                Ok(())
            },
        )
        .await?;
        tracing::info!(task = job.task, path = %path, keys = verified.keys, "restore: file loaded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lodestar_backup::codec::{EncodeOptions, Encoder};
    use lodestar_proto::worker::Kv;

    fn batch(n: u64) -> KvBatch {
        KvBatch {
            kvs: (0..n)
                .map(|i| Kv {
                    key: i.to_be_bytes().to_vec(),
                    value: b"v".to_vec(),
                    version: 1,
                    ..Kv::default()
                })
                .collect(),
            ..KvBatch::default()
        }
    }

    async fn encode(key: Option<EncryptionKey>) -> (Vec<u8>, BackupFile) {
        let opts = EncodeOptions {
            key,
            ..EncodeOptions::default()
        };
        let mut enc = Encoder::new(Vec::new(), opts);
        enc.push_frame(&batch(3).encode_to_vec()).await.unwrap();
        let mut last = batch(2);
        last.done = true;
        enc.push_frame(&last.encode_to_vec()).await.unwrap();
        let (bytes, summary) = enc.finish().await.unwrap();
        let file = BackupFile {
            name: "r5-g1.backup".into(),
            size: summary.size,
            sha256: summary.sha256,
            keys: 5,
        };
        (bytes, file)
    }

    #[tokio::test]
    async fn a_good_file_reads_fully_and_a_damaged_one_is_named_damaged() {
        let key = EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
        let (bytes, file) = encode(Some(key.clone())).await;
        let mut seen = 0;
        let v = read_file(&bytes[..], "f", &file, Some(&key), Depth::Full, |b| {
            seen += b.kvs.len();
            Ok(())
        })
        .unwrap();
        assert_eq!((v.records, v.keys, seen), (2, 5, 5));
        let check =
            read_file(&bytes[..], "f", &file, Some(&key), Depth::Check, |_| Ok(())).unwrap();
        assert_eq!((check.records, check.size), (1, file.size));

        let mut flipped = bytes.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        let e = read_file(
            &flipped[..],
            "f",
            &file,
            Some(&key),
            Depth::Full,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(e.contains("SHA-256") && e.contains("damaged"), "{e}");

        let wrong = EncryptionKey::from_bytes(&[8u8; 32]).unwrap();
        let e = read_file(&bytes[..], "f", &file, Some(&wrong), Depth::Check, |_| {
            Ok(())
        })
        .unwrap_err();
        assert!(e.contains("encryption key is wrong"), "{e}");

        let e = read_file(
            &bytes[..bytes.len() - 3],
            "f",
            &file,
            Some(&key),
            Depth::Check,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(e.contains("bytes but the manifest says"), "{e}");
    }

    #[tokio::test]
    async fn the_manifest_key_count_is_checked_in_full_reads() {
        let (bytes, mut file) = encode(None).await;
        file.keys = 6;
        let e = read_file(&bytes[..], "f", &file, None, Depth::Full, |_| Ok(())).unwrap_err();
        assert!(e.contains("holds 5 keys but the manifest says 6"), "{e}");
        assert!(read_file(&bytes[..], "f", &file, None, Depth::Check, |_| Ok(())).is_ok());
    }

    #[tokio::test]
    async fn key_sources_are_checked_before_use() {
        assert!(resolve_key(None).await.unwrap().is_none());
        let both = KeySource {
            key_file: "/k".into(),
            vault_addr: "http://v".into(),
            ..KeySource::default()
        };
        assert!(
            resolve_key(Some(&both))
                .await
                .unwrap_err()
                .contains("not both")
        );
        let no_addr = KeySource {
            vault_field: "f".into(),
            ..KeySource::default()
        };
        assert!(
            resolve_key(Some(&no_addr))
                .await
                .unwrap_err()
                .contains("vaultAddr is required")
        );
        let no_ids = KeySource {
            vault_addr: "http://v".into(),
            ..KeySource::default()
        };
        assert!(
            resolve_key(Some(&no_ids))
                .await
                .unwrap_err()
                .contains("vaultRoleIDFile")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, [1u8; 16]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = KeySource {
            key_file: path.to_str().unwrap().into(),
            ..KeySource::default()
        };
        assert_eq!(resolve_key(Some(&file)).await.unwrap().unwrap().bits(), 128);
    }

    #[test]
    fn namespaces_come_from_predicate_names() {
        let mut m = Manifest::default();
        m.groups.insert(1, vec!["0-name".into(), "2a-age".into()]);
        assert_eq!(max_namespace(&[m]), 0x2a);
    }
}
