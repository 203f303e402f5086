//! The offline commands of the `backup-worker` binary: `restore` writes a backup series into
//! `p<group>` directories an alpha starts from (Dgraph's `dgraph restore`), and `verify`
//! checks a series without restoring it.
//!
//! Credentials for object stores come from the environment (`AWS_*`, `MINIO_*`,
//! `GOOGLE_APPLICATION_CREDENTIALS`), as in Dgraph. The restore checks the whole series before
//! it writes anything, writes every key at version 1 (as Dgraph does) and, with `--zero`,
//! raises zero's timestamps to the restore version and its UID and namespace leases above what
//! the backup holds, so the alphas never hand out a uid or a timestamp the data already uses.
//!
//! Results go to stdout (the restore version and max uid, the verify report as JSON), progress
//! and errors to stderr.
#![allow(clippy::print_stdout)]

use crate::restore::{self, Depth};
use lodestar_alpha::graph::{Graph, GraphError, Oracle};
use lodestar_backup::destination::Credentials;
use lodestar_backup::manifest::Manifest;
use lodestar_client::ZeroClient;
use lodestar_crypto::EncryptionKey;
use lodestar_proto::backup::KeySource;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The offline commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Restore a backup series into p<group> directories (offline; start the alphas on them).
    Restore(RestoreArgs),
    /// Check every file of a series against the manifest (size, SHA-256) and that it decrypts
    /// and decompresses, without restoring anything.
    Verify(VerifyArgs),
}

/// Where the key of an encrypted series comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// The key file the series was encrypted with (16, 24 or 32 bytes, owner-only).
    #[arg(long = "encryption_key_file")]
    pub encryption_key_file: Option<String>,
    /// Vault's address: fetch the key from Vault (AppRole, KV v2) instead of a file.
    #[arg(long = "vault_addr")]
    pub vault_addr: Option<String>,
    /// The file holding the AppRole role-id.
    #[arg(long = "vault_role_id_file")]
    pub vault_role_id_file: Option<String>,
    /// The file holding the AppRole secret-id (owner-only).
    #[arg(long = "vault_secret_id_file")]
    pub vault_secret_id_file: Option<String>,
    /// The KV v2 path of the secret [default: secret/data/dgraph].
    #[arg(long = "vault_path")]
    pub vault_path: Option<String>,
    /// The field holding the key [default: enc_key].
    #[arg(long = "vault_field")]
    pub vault_field: Option<String>,
    /// base64 or raw [default: base64].
    #[arg(long = "vault_format")]
    pub vault_format: Option<String>,
}

impl KeyArgs {
    fn source(&self) -> KeySource {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        KeySource {
            key_file: s(&self.encryption_key_file),
            vault_addr: s(&self.vault_addr),
            vault_role_id_file: s(&self.vault_role_id_file),
            vault_secret_id_file: s(&self.vault_secret_id_file),
            vault_path: s(&self.vault_path),
            vault_field: s(&self.vault_field),
            vault_format: s(&self.vault_format),
        }
    }
}

/// `backup-worker restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The directory to write p1, p2, … into (one per group).
    #[arg(short = 'p', long = "postings")]
    pub postings: PathBuf,
    /// The backup location (a path, file://, s3://, minio:// or gs:// URI).
    #[arg(short = 'l', long = "location")]
    pub location: String,
    /// Zero's gRPC address: its timestamps and UID and namespace leases are raised above the
    /// backup's.
    #[arg(short = 'z', long = "zero")]
    pub zero: Option<String>,
    /// The series to restore [default: the newest].
    #[arg(long = "backup_id", default_value = "")]
    pub backup_id: String,
    /// Restore up to this backup of the series [default: 0, its newest].
    #[arg(
        long = "backup_num",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub backup_num: i64,
    /// Without --zero, refuse to run (set false to bump zero by hand with the printed values).
    #[arg(long = "force_zero", default_value_t = true, action = clap::ArgAction::Set)]
    pub force_zero: bool,
    /// The cluster's secret file, when its zeros run with --cluster_secret_file.
    #[arg(long = "cluster_secret_file", env = "LODESTAR_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// `backup-worker verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The backup location (a path, file://, s3://, minio:// or gs:// URI).
    #[arg(short = 'l', long = "location")]
    pub location: String,
    /// The series to verify [default: the newest].
    #[arg(long = "backup_id", default_value = "")]
    pub backup_id: String,
    /// Verify up to this backup of the series [default: 0, its newest].
    #[arg(
        long = "backup_num",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub backup_num: i64,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Runs an offline command to its end: exit status 0 on success, 1 with the reason on stderr.
pub fn main(command: Command) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs an offline command; the error is what to print.
pub async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Restore(args) => restore_offline(args).await,
        Command::Verify(args) => verify_offline(args).await,
    }
}

/// The series at `location` (credentials from the environment) and its key.
async fn open(
    location: &str,
    backup_id: &str,
    backup_num: i64,
    key: &KeyArgs,
) -> Result<(opendal::Operator, Vec<Manifest>, Option<EncryptionKey>), String> {
    let opened = restore::open_series(
        location,
        &Credentials::default(),
        backup_id,
        backup_num,
        Some(&key.source()),
        None,
    )
    .await
    .map_err(|e| e.message().to_string())?;
    Ok((opened.operator, opened.series, opened.key))
}

async fn verify_offline(args: VerifyArgs) -> Result<(), String> {
    let (op, series, key) =
        open(&args.location, &args.backup_id, args.backup_num, &args.key).await?;
    let files = restore::check_series(&op, &series, key.as_ref(), Depth::Full, |f| {
        eprintln!("ok  {} ({} bytes, {} keys)", f.path, f.size, f.keys);
    })
    .await?;
    let report = serde_json::json!({
        "backup_id": series[0].backup_id,
        "backup_nums": series.iter().map(|m| m.backup_num).collect::<Vec<_>>(),
        "files": files.iter().map(|f| serde_json::json!({
            "path": f.path, "size": f.size, "sha256": f.sha256, "records": f.records, "keys": f.keys,
        })).collect::<Vec<_>>(),
    });
    println!("{report:#}");
    Ok(())
}

/// Timestamps for the few writes an offline restore makes after its data (the reserved
/// schema): above version 1, where the data is; no uids, every predicate in the group.
#[derive(Debug)]
struct OfflineOracle {
    next: AtomicU64,
    group: u32,
}

#[tonic::async_trait]
impl Oracle for OfflineOracle {
    async fn timestamps(&self, n: u64) -> Result<u64, GraphError> {
        Ok(self.next.fetch_add(n.max(1), Ordering::SeqCst))
    }
    async fn read_ts(&self) -> Result<u64, GraphError> {
        Ok(self.next.load(Ordering::SeqCst))
    }
    async fn commit(
        &self,
        _start_ts: u64,
        _conflict_keys: Vec<u64>,
        abort: bool,
    ) -> Result<Option<u64>, GraphError> {
        Ok((!abort).then(|| self.next.fetch_add(1, Ordering::SeqCst)))
    }
    async fn status(&self, _start_ts: u64) -> Result<Option<Option<u64>>, GraphError> {
        Ok(None)
    }
    async fn uids(&self, _n: u64) -> Result<u64, GraphError> {
        Err(GraphError::Internal(
            "an offline restore leases no uids".to_string(),
        ))
    }
    async fn max_uid(&self) -> Result<u64, GraphError> {
        Err(GraphError::Internal(
            "an offline restore leases no uids".to_string(),
        ))
    }
    async fn tablet(&self, _predicate: &str, _group: u32) -> Result<u32, GraphError> {
        Ok(self.group)
    }
}

/// The version Dgraph's offline restore writes at.
const OFFLINE_VERSION: u64 = 1;

async fn restore_offline(args: RestoreArgs) -> Result<(), String> {
    if let Some(path) = &args.cluster_secret_file {
        lodestar_runtime::cluster::read_secret_file(path)
            .and_then(lodestar_runtime::cluster::install)
            .map_err(|e| e.to_string())?;
    }
    if args.zero.is_none() && args.force_zero {
        return Err(
            "--zero is required to raise zero's timestamps and leases above the backup's; pass --force_zero=false to skip it and raise them by hand with the printed values"
                .to_string(),
        );
    }
    // Zero must take our calls before anything is written, not after.
    let zero = match &args.zero {
        Some(addr) => {
            let zero = ZeroClient::new([addr.as_str()]).map_err(|e| e.message().to_string())?;
            zero.state().await.map_err(|e| {
                format!(
                    "zero at {addr} does not answer: {} (nothing was written)",
                    e.message()
                )
            })?;
            Some((addr, zero))
        }
        None => None,
    };
    let (op, series, key) =
        open(&args.location, &args.backup_id, args.backup_num, &args.key).await?;
    let last = series
        .last()
        .expect("a chosen series is never empty")
        .clone();
    let groups: Vec<u32> = restore::series_files(&series)
        .iter()
        .map(|(_, gid, _, _)| *gid)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for gid in &groups {
        let dir = args.postings.join(format!("p{gid}"));
        if dir.exists()
            && std::fs::read_dir(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .next()
                .is_some()
        {
            return Err(format!(
                "{} already holds data: restore into an empty directory (nothing was written)",
                dir.display()
            ));
        }
    }
    eprintln!(
        "restoring series {} up to backup {} ({} files); checking every file first",
        last.backup_id,
        last.backup_num,
        restore::series_files(&series).len()
    );
    restore::check_series(&op, &series, key.as_ref(), Depth::Check, |f| {
        eprintln!("ok  {} ({} bytes)", f.path, f.size);
    })
    .await?;
    let mut max_uid = series.iter().map(|m| m.max_uid).max().unwrap_or(0);
    for gid in groups {
        let dir = args.postings.join(format!("p{gid}"));
        let group_max = restore_group(&op, &series, key.as_ref(), gid, &dir)
            .await
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                format!("group {gid}: {e} ({} removed)", dir.display())
            })?;
        max_uid = max_uid.max(group_max);
    }
    println!("Restore version: {}", last.read_ts);
    println!("Restore max uid: {max_uid}");
    let max_ns = restore::max_namespace(&series);
    match zero {
        Some((addr, zero)) => {
            restore::bump_zero(&zero, last.read_ts, max_uid, max_ns).await?;
            eprintln!(
                "zero at {addr}: timestamps at or above {}, UID lease at or above {max_uid}, namespace lease at or above {max_ns}",
                last.read_ts
            );
        }
        None => eprintln!(
            "zero was not updated: raise its timestamps to {} and its UID lease to {max_uid} (namespace lease {max_ns}) before the alphas serve",
            last.read_ts
        ),
    }
    Ok(())
}

/// Writes one group's files of the series into a new store at `dir`; returns the highest uid.
async fn restore_group(
    op: &opendal::Operator,
    series: &[Manifest],
    key: Option<&EncryptionKey>,
    gid: u32,
    dir: &Path,
) -> Result<u64, String> {
    let store =
        lodestar_storage::Store::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let oracle = Arc::new(OfflineOracle {
        next: AtomicU64::new(OFFLINE_VERSION + 1),
        group: gid,
    });
    let graph = Graph::open(Arc::new(store), oracle)
        .await
        .map_err(|e| format!("opening the store: {e}"))?;
    graph.set_group(gid);
    // The store is new (only what opening it wrote), so the load replaces it whole: bulk-ingested
    // tables holding exactly the backup's keys at the restore version.
    let (mut state, guard) = graph
        .begin_restore(OFFLINE_VERSION, true)
        .await
        .map_err(|e| e.to_string())?;
    for (m, file_gid, path, file) in restore::series_files(series) {
        if file_gid != gid {
            continue;
        }
        let file_key = if m.encrypted { key } else { None };
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let mut first = true;
        let reading =
            restore::read_object(op, &path, file, file_key, Depth::Full, move |mut batch| {
                batch.new_file = std::mem::take(&mut first);
                tx.blocking_send(batch)
                    .map_err(|_| "the restore stopped".to_string())
            });
        let (read, loaded) = tokio::join!(reading, async {
            let mut keys = 0u64;
            while let Some(batch) = rx.recv().await {
                keys += batch.kvs.len() as u64;
                graph.restore_batch(&mut state, batch)?;
            }
            Ok::<u64, GraphError>(keys)
        });
        let verified = read?;
        let keys = loaded.map_err(|e| format!("{path}: {e}"))?;
        eprintln!("group {gid}: backup {} {path}: {keys} keys", m.backup_num);
        debug_assert_eq!(keys, verified.keys);
    }
    let (loaded, max_uid) = graph
        .finish_restore(state, guard)
        .await
        .map_err(|e| e.to_string())?;
    graph.store.sync().map_err(|e| e.to_string())?;
    eprintln!("group {gid}: {loaded} keys written to {}", dir.display());
    Ok(max_uid)
}
