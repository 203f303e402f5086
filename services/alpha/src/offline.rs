//! `alpha rotate-key`: re-seals an encrypted directory's key registry under a new master key
//! (Dgraph's `badger rotate`); only the registry is rewritten, so it takes the same time for
//! any amount of data.
//!
//! `alpha restore`: writes a backup series into the `p<group>` directories alphas start from,
//! without a running cluster (Dgraph's `dgraph restore`, which lives in the binary that owns
//! `p`).
//!
//! Credentials for object stores come from the environment (`AWS_*`, `MINIO_*`,
//! `GOOGLE_APPLICATION_CREDENTIALS`), as in Dgraph. The restore checks the whole series before
//! it writes anything, writes every key at version 1 (as Dgraph does) and, with `--zero`,
//! raises zero's timestamps to the restore version and its UID and namespace leases above what
//! the backup holds, so the alphas never hand out a uid or a timestamp the data already uses.
//! The alpha that starts on a restored directory puts back what the backup lacks (reserved
//! predicates, and groot and guardians with ACL on), as it does on any start.
//!
//! Results go to stdout (the restore version and max uid), progress and errors to stderr.
#![allow(clippy::print_stdout)]

use crate::graph::backup::Restore;
use crate::graph::blocking;
use lodestar_backup::BackupError;
use lodestar_backup::manifest::Manifest;
use lodestar_backup::series::{self, Depth, SeriesArgs};
use lodestar_client::ZeroClient;
use lodestar_crypto::EncryptionKey;
use lodestar_runtime::ServiceError;
use std::path::{Path, PathBuf};

/// The version Dgraph's offline restore writes at.
pub(crate) const OFFLINE_VERSION: u64 = 1;

/// The offline commands of the `alpha` binary.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Restore a backup series into p<group> directories (offline; start the alphas on them).
    Restore(RestoreArgs),
    /// Change the master key of an encrypted directory (p, w, or zero's zw): run it on each
    /// directory of a stopped node, then start the node with the new key.
    RotateKey(RotateKeyArgs),
}

/// `alpha rotate-key`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateKeyArgs {
    /// The encrypted directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The key the directory opens with now.
    #[arg(short = 'o', long = "old-key-path")]
    pub old_key_path: PathBuf,
    /// The key it opens with afterwards (16, 24 or 32 bytes, owner-only).
    #[arg(short = 'n', long = "new-key-path")]
    pub new_key_path: PathBuf,
}

/// `alpha restore`.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The directory to write p1, p2, … into (one per group).
    #[arg(short = 'p', long = "postings")]
    pub postings: PathBuf,
    /// Zero's gRPC address: its timestamps and UID and namespace leases are raised above the
    /// backup's.
    #[arg(short = 'z', long = "zero")]
    pub zero: Option<String>,
    /// Without --zero, refuse to run (set false to bump zero by hand with the printed values).
    #[arg(long = "force_zero", default_value_t = true, action = clap::ArgAction::Set)]
    pub force_zero: bool,
    /// The cluster's secret file, when its zeros run with --cluster_secret_file.
    #[arg(long = "cluster_secret_file", env = "LODESTAR_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// The series to restore, up to which backup, and its key.
    #[command(flatten)]
    pub series: SeriesArgs,
    /// Write the p<group> directories encrypted at rest under this key (the
    /// --encryption_key_file the alphas will start with); without it they are plain.
    #[arg(long = "postings_encryption_key_file")]
    pub postings_encryption_key_file: Option<PathBuf>,
}

/// Runs an offline command to its end: exit status 0 on success, 1 with the reason on stderr.
pub fn main(command: Command) -> std::process::ExitCode {
    match command {
        Command::Restore(args) => lodestar_runtime::run_command(restore(args)),
        Command::RotateKey(args) => lodestar_runtime::run_command(async move { rotate_key(&args) }),
    }
}

/// `alpha rotate-key`.
pub fn rotate_key(args: &RotateKeyArgs) -> Result<(), ServiceError> {
    let read = |flag: &str, path: &Path| {
        EncryptionKey::from_file(path).map_err(|e| ServiceError::invalid(format!("{flag}: {e}")))
    };
    let old = read("--old-key-path", &args.old_key_path)?;
    let new = read("--new-key-path", &args.new_key_path)?;
    let started = std::time::Instant::now();
    let keys = lodestar_crypto::registry::KeyRegistry::rewrap(&args.dir, old, new)
        .map_err(|e| ServiceError::invalid(e.to_string()))?;
    println!(
        "{}: {keys} data keys re-sealed under the new master key in {:.1} ms; start the node with --encryption_key_file {}",
        args.dir.display(),
        started.elapsed().as_secs_f64() * 1000.0,
        args.new_key_path.display()
    );
    Ok(())
}

/// `alpha restore`.
pub async fn restore(args: RestoreArgs) -> Result<(), ServiceError> {
    if args.zero.is_none() && args.force_zero {
        return Err(ServiceError::invalid(
            "--zero is required to raise zero's timestamps and leases above the backup's; pass --force_zero=false to skip it and raise them by hand with the printed values",
        ));
    }
    let zero = offline_zero(args.zero.as_deref(), args.cluster_secret_file.as_deref()).await?;
    let postings_encryption = args
        .postings_encryption_key_file
        .as_deref()
        .map(|path| {
            EncryptionKey::from_file(path)
                .map(lodestar_storage::Encryption::new)
                .map_err(|e| ServiceError::invalid(format!("--postings_encryption_key_file: {e}")))
        })
        .transpose()?;
    let opened = args.series.open().await?;
    let last = opened.last().clone();
    let groups = series::series_groups(&opened.series);
    for gid in &groups {
        let dir = args.postings.join(format!("p{gid}"));
        if dir.exists()
            && std::fs::read_dir(&dir)
                .map_err(|e| ServiceError::invalid(format!("{}: {e}", dir.display())))?
                .next()
                .is_some()
        {
            return Err(ServiceError::invalid(format!(
                "{} already holds data: restore into an empty directory (nothing was written)",
                dir.display()
            )));
        }
    }
    let files = series::series_files(&opened.series).len();
    eprintln!(
        "restoring series {} up to backup {} ({files} files); checking every file first",
        last.backup_id, last.backup_num,
    );
    series::check_series(
        &opened.operator,
        &opened.series,
        opened.key.as_ref(),
        Depth::Check,
        |f| eprintln!("ok  {} ({} bytes)", f.path, f.size),
    )
    .await?;
    let mut max_uid = series::max_uid(&opened.series);
    for gid in groups {
        let dir = args.postings.join(format!("p{gid}"));
        match restore_group(
            &opened.operator,
            &opened.series,
            opened.key.as_ref(),
            postings_encryption.as_ref(),
            gid,
            &dir,
        )
        .await
        {
            Ok(group_max) => max_uid = max_uid.max(group_max),
            Err(e) => {
                let removed = match std::fs::remove_dir_all(&dir) {
                    Ok(()) => format!("{} removed", dir.display()),
                    Err(r) => format!("removing {} failed too: {r}", dir.display()),
                };
                return Err(ServiceError::new(
                    e.code,
                    format!("group {gid}: {} ({removed})", e.message),
                ));
            }
        }
    }
    println!("Restore version: {}", last.read_ts);
    println!("Restore max uid: {max_uid}");
    let max_ns = series::max_namespace(&opened.series);
    match zero {
        Some((addr, zero)) => {
            zero.raise_above(last.read_ts, max_uid, max_ns).await?;
            eprintln!(
                "zero at {addr}: timestamps at or above {}, UID lease at or above {max_uid}, namespace lease at or above {max_ns}",
                last.read_ts
            );
            let moved = place_tablets(&zero, last.tablets()).await?;
            eprintln!(
                "zero at {addr}: {moved} tablets in the groups the backup lists them in (start each group's alphas on its p<group>)"
            );
        }
        None => eprintln!(
            "zero was not updated: raise its timestamps to {} and its UID lease to {max_uid} (namespace lease {max_ns}) before the alphas serve",
            last.read_ts
        ),
    }
    Ok(())
}

/// Zero at `addr` (with the cluster's secret from `secret_file` installed), checked to answer
/// before anything is written, not after; `None` without an address.
pub(crate) async fn offline_zero<'a>(
    addr: Option<&'a str>,
    secret_file: Option<&Path>,
) -> Result<Option<(&'a str, ZeroClient)>, ServiceError> {
    if let Some(path) = secret_file {
        lodestar_runtime::cluster::read_secret_file(path)
            .and_then(lodestar_runtime::cluster::install)?;
    }
    let Some(addr) = addr else {
        return Ok(None);
    };
    let zero = ZeroClient::new([addr])?;
    zero.state().await.map_err(|e| {
        ServiceError::unavailable(format!(
            "zero at {addr} does not answer: {} (nothing was written)",
            e.message()
        ))
    })?;
    Ok(Some((addr, zero)))
}

/// Gives each predicate to its group (the one whose directory holds it), as an online restore
/// does: forced in a group that has alphas, and assigned (unless another group has it) in one
/// that has none yet, so each group's alphas serve what its directory holds. Returns how many
/// tablets were placed.
pub(crate) async fn place_tablets<'a>(
    zero: &ZeroClient,
    tablets: impl IntoIterator<Item = (u32, &'a str)>,
) -> Result<usize, ServiceError> {
    let state = zero.state().await?;
    let mut placed = 0;
    for (group, predicate) in tablets {
        let force = state
            .groups
            .get(&group)
            .is_some_and(|g| !g.members.is_empty());
        zero.give_tablet(predicate, group, force)
            .await
            .map_err(|e| {
                ServiceError::unavailable(format!(
                    "giving {predicate} to group {group}: {}",
                    e.message()
                ))
            })?;
        placed += 1;
    }
    Ok(placed)
}

/// Writes one group's files of the series into a new store at `dir`; returns the highest uid.
async fn restore_group(
    op: &series::Operator,
    series: &[Manifest],
    key: Option<&EncryptionKey>,
    encryption: Option<&lodestar_storage::Encryption>,
    gid: u32,
    dir: &Path,
) -> Result<u64, ServiceError> {
    let store = lodestar_storage::Store::open_with(dir, encryption)
        .map_err(|e| ServiceError::invalid(format!("{}: {e}", dir.display())))?;
    // The store is new, so the load replaces it whole: bulk-ingested tables holding exactly the
    // backup's keys at the restore version.
    let mut restore = blocking(|| Restore::begin(&store, OFFLINE_VERSION, true))?;
    for file in series::series_files(series) {
        if file.group != gid {
            continue;
        }
        restore.new_file();
        let path = file.path();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let reading = series::read_object(op, file, key, Depth::Full, move |record| {
            tx.blocking_send(record)
                .map_err(|_| BackupError::internal("the restore stopped taking records"))
        });
        let loading = async {
            let mut keys = 0u64;
            while let Some(record) = rx.recv().await {
                keys += record.entries.len() as u64;
                blocking(|| restore.load(&store, record))?;
            }
            Ok::<u64, ServiceError>(keys)
        };
        let (read, loaded) = tokio::join!(reading, loading);
        // A refused record stops the reader too: the load's error is the cause.
        let keys = loaded.map_err(|e| ServiceError::new(e.code, format!("{path}: {e}")))?;
        let verified = read?;
        eprintln!(
            "group {gid}: backup {} {path}: {keys} keys",
            file.backup.backup_num
        );
        debug_assert_eq!(keys, verified.keys);
    }
    let (loaded, max_uid) = blocking(|| restore.finish_offline())?;
    store
        .sync()
        .map_err(|e| ServiceError::internal(format!("{}: {e}", dir.display())))?;
    eprintln!("group {gid}: {loaded} keys written to {}", dir.display());
    Ok(max_uid)
}
