//! The backup worker: runs backups and restores as tasks in a durable registry, writes and
//! reads backups through opendal (S3, MinIO, GCS, local disk or NFS) with gzip + AES-CTR and
//! Dgraph's `manifest.json`, and serves `backup.Backup` on gRPC 7090 with health and metrics
//! on HTTP 7091. The same binary runs the offline `restore` command.
//!
//! Exports ([`export`]) render every group at one timestamp as RDF or JSON into
//! Dgraph's export layout; they share the backup queue.
//!
//! Backups ([`backup`]): one at a time, at most 16 waiting; each group's alpha streams its
//! changed keys over `worker.Worker`, and the manifest entry is written last, only when every
//! group's file is complete. Tasks ([`tasks`]) survive restarts; one cut off by a crash shows
//! failed with the reason.
//!
//! Scheduled backups ([`schedule`], `--backup_schedule`): cron-driven full and incremental
//! backups through the same queue, with retention, their state in `<data>/schedules`, shown
//! by `ListSchedules` and in metrics.

pub mod api;
pub mod backup;
pub mod export;
pub mod offline;
pub mod restore;
pub mod schedule;
pub mod tasks;

use lodestar_proto::backup::backup_server::BackupServer;
use lodestar_runtime::config::{CommonArgs, UpstreamArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of the `backup-worker` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "backup-worker",
    version,
    about = "Backup and restore tasks: binary backups to S3, MinIO, GCS or disk, and restores"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    /// Directory for the worker's own state (the task registry); created if missing.
    #[arg(long, env = "LODESTAR_BACKUP_DATA", default_value = "bw")]
    pub data: PathBuf,

    /// The cluster's encryption key (16, 24 or 32 bytes: AES-128/192/256, readable only by its
    /// owner): with it every backup is encrypted with AES-CTR.
    #[arg(long = "encryption_key_file", env = "LODESTAR_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,

    /// gzip level of backup files: 1 is fastest, 9 smallest (6, gzip's default, is a balance).
    #[arg(long = "compression_level", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub compression_level: u32,

    /// A backup schedule: "full=CRON; incremental=CRON; destination=URI; keep_series=N;
    /// keep_days=N; name=NAME" (5-field cron expressions in UTC; incremental, retention and
    /// name optional; s3/minio keys from access_key_file= and secret_key_file= or the
    /// environment). Give it once per schedule (or newline-separated schedules in one value).
    #[arg(
        long = "backup_schedule",
        value_name = "SCHEDULE",
        value_delimiter = '\n'
    )]
    pub backup_schedule: Vec<String>,

    /// Testing aid: schedules' cron expressions take a seconds field first (6 fields).
    #[arg(long = "backup_schedule_seconds", hide = true)]
    pub backup_schedule_seconds: bool,

    /// ACL: with the cluster's secret, only guardians may back up, restore or list.
    #[command(flatten)]
    pub acl: lodestar_acl::AclArgs,

    /// An offline command instead of serving.
    #[command(subcommand)]
    pub command: Option<offline::Command>,
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        self.upstream.validate()?;
        self.schedules()?;
        Ok(())
    }

    /// The parsed `--backup_schedule` values (blank ones are ignored).
    pub fn schedules(&self) -> Result<Vec<schedule::Schedule>, ServiceError> {
        let given: Vec<String> = self
            .backup_schedule
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect();
        schedule::Schedule::parse_all(&given, self.backup_schedule_seconds)
    }

    fn key(&self) -> Result<Option<lodestar_crypto::EncryptionKey>, ServiceError> {
        self.encryption_key_file
            .as_deref()
            .map(|path| {
                lodestar_crypto::EncryptionKey::from_file(path)
                    .map_err(|e| ServiceError::invalid(format!("--encryption_key_file: {e}")))
            })
            .transpose()
    }
}

/// Creates the data directory if it is missing.
fn prepare_data_dir(dir: &std::path::Path) -> Result<(), ServiceError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        ServiceError::invalid(format!(
            "cannot create the data directory {}: {e} (pick another with --data)",
            dir.display()
        ))
    })
}

/// Runs the `backup-worker` command line to its end: an offline command, or the worker itself
/// until it is stopped. The `backup-worker` binary and `lodestar backup-worker` both call it.
pub fn main(mut args: Args) -> std::process::ExitCode {
    if let Some(command) = args.command.take() {
        return offline::main(command);
    }
    let common = args.common.clone();
    lodestar_runtime::run_main("backup-worker", &common, |shutdown| run(args, shutdown))
}

/// Runs the backup worker until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    args.upstream.install_alpha_tls()?;
    let key = args.key()?;
    let tokens = args
        .acl
        .tokens()
        .map_err(ServiceError::invalid)?
        .map(Arc::new);
    if tokens.is_some() {
        lodestar_runtime::cluster::require_with_acl()?;
    }
    let grpc_addr = args.common.grpc_addr(ports::BACKUP_GRPC)?;
    let http_addr = args.common.http_addr(ports::BACKUP_HTTP)?;
    let grpc = serve::bind(grpc_addr, "the backup API (gRPC)").await?;
    let http = serve::bind(http_addr, "HTTP").await?;
    prepare_data_dir(&args.data)?;
    let tasks_dir = args.data.join("tasks");
    let sealer = match &key {
        Some(key) => {
            let keys = lodestar_crypto::registry::KeyRegistry::open_or_create(
                &tasks_dir,
                key.clone(),
                lodestar_crypto::registry::DEFAULT_ROTATION,
            )
            .map_err(|e| ServiceError::invalid(format!("the task registry: {e}")))?;
            Some(lodestar_crypto::sealer::Sealer::new(Arc::new(keys)))
        }
        None => None,
    };
    let registry = tasks::Registry::open(&tasks_dir, sealer.clone()).map_err(|e| {
        ServiceError::invalid(format!(
            "opening the task registry in {}: {e}",
            args.data.display()
        ))
    })?;
    let schedules =
        schedule::Schedules::open(args.schedules()?, &args.data.join("schedules"), sealer)
            .map_err(|e| {
                ServiceError::invalid(format!(
                    "opening the schedules' state in {}: {e}",
                    args.data.display()
                ))
            })?;
    let zero = Arc::new(lodestar_client::ZeroClient::new(
        args.upstream.zero.addrs(),
    )?);
    let node = NodeHandle::new("backup-worker", format!("localhost:{}", grpc_addr.port()));
    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        zero = %args.upstream.zero,
        data = %args.data.display(),
        encrypted = key.is_some(),
        acl = tokens.is_some(),
        schedules = args.backup_schedule.len(),
        "serving"
    );

    let context = backup::Context {
        zero: zero.clone(),
        registry: registry.clone(),
        key,
        compression_level: args.compression_level,
        shutdown: shutdown.clone(),
        export_dir: std::path::absolute(args.data.join("export")).map_err(|e| {
            ServiceError::invalid(format!(
                "the export directory under {}: {e}",
                args.data.display()
            ))
        })?,
    };
    shutdown.spawn(settle_interrupted(context.clone()));
    let (backups, queue) = tokio::sync::mpsc::channel(backup::MAX_PENDING);
    shutdown.spawn(backup::run_queue(context.clone(), queue));
    schedules.spawn(&context, &backups);
    let verifier = tokens
        .map(|t| lodestar_acl::Verifier::new(t, &args.upstream.alpha))
        .transpose()
        .map_err(|e| ServiceError::invalid(format!("--alpha: {e}")))?;
    let api = api::BackupApi {
        zero,
        registry,
        verifier,
        backups,
        context,
        restoring: Default::default(),
        schedules,
    };
    let routes = tonic::service::Routes::new(BackupServer::new(api));
    serve::serve_service(
        grpc,
        routes,
        http,
        Default::default(),
        node.identity.clone(),
        shutdown,
    )
    .await
}

/// A restore cut off by a stop of the worker may have left the cluster draining: turn it off
/// (retrying until zero answers), as the restore would have.
async fn settle_interrupted(ctx: backup::Context) {
    let interrupted = ctx.registry.take_interrupted();
    // Backups cut off by a kill: their files, which no manifest entry names, go. The request's
    // own credentials are gone with it; the worker's environment serves for the rest.
    for task in interrupted.iter().filter(|t| {
        matches!(t.kind, tasks::Kind::Backup | tasks::Kind::Export) && t.folder.is_some()
    }) {
        match backup::prepare(&task.location, &Default::default(), false) {
            Ok((_, op, _)) => backup::remove_partial(&ctx, task.id, &op).await,
            Err(e) => tracing::warn!(
                task = task.id,
                folder = ?task.folder,
                location = %task.location,
                error = %e,
                "cannot reach the destination to remove a cut-off backup's files"
            ),
        }
    }
    let cut_off: Vec<_> = interrupted.into_iter().filter(|t| t.drained).collect();
    if cut_off.is_empty() {
        return;
    }
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match ctx.zero.set_draining(false).await {
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e.message(), "turning off the draining a cut-off restore left on; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
    for task in cut_off {
        if let Err(e) = ctx.registry.update(task.id, |t| t.drained = false) {
            tracing::warn!(task = task.id, error = %e, "recording that draining is off");
        }
        tracing::warn!(
            task = task.id,
            "draining turned off after a restore that was cut off"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_point_at_the_local_cluster() {
        let args = Args::try_parse_from(["backup-worker"]).unwrap();
        assert_eq!(args.upstream.zero.to_string(), "localhost:5080");
        assert_eq!(args.upstream.alpha, "localhost:9080");
        assert_eq!(args.data, PathBuf::from("bw"));
        assert_eq!(args.compression_level, 6);
        assert!(Args::try_parse_from(["backup-worker", "--compression_level", "0"]).is_err());
        assert!(Args::try_parse_from(["backup-worker", "--compression_level", "10"]).is_err());
        assert!(args.validate().is_ok());
        assert_eq!(
            args.common.http_addr(ports::BACKUP_HTTP).unwrap().port(),
            7091
        );
    }

    #[test]
    fn schedules_are_given_once_each_and_checked_at_start() {
        let args = Args::try_parse_from([
            "backup-worker",
            "--backup_schedule",
            "name=a; full=0 0 * * *; destination=/b1",
            "--backup_schedule",
            "name=b; full=0 1 * * *; incremental=*/15 * * * *; destination=/b2; keep_days=7",
        ])
        .unwrap();
        let schedules = args.schedules().unwrap();
        assert_eq!(
            schedules
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        // Newline-separated schedules in one value (the environment, a config file).
        let args = Args::try_parse_from([
            "backup-worker",
            "--backup_schedule",
            "name=a; full=0 0 * * *; destination=/b1\nname=b; full=0 1 * * *; destination=/b2\n",
        ])
        .unwrap();
        assert_eq!(args.schedules().unwrap().len(), 2);
        let bad = Args::try_parse_from([
            "backup-worker",
            "--backup_schedule",
            "full=0 0 * * *; destination=/b; keep_series=0",
        ])
        .unwrap();
        let e = bad.validate().unwrap_err();
        assert!(
            e.message.starts_with("--backup_schedule: keep_series=0"),
            "{}",
            e.message
        );
        // Seconds only with the testing aid.
        let args = |extra: &[&str]| {
            let mut argv = vec![
                "backup-worker",
                "--backup_schedule",
                "full=*/2 * * * * *; destination=/b",
            ];
            argv.extend(extra);
            Args::try_parse_from(argv).unwrap()
        };
        assert!(args(&[]).validate().is_err());
        assert!(args(&["--backup_schedule_seconds"]).validate().is_ok());
    }

    #[test]
    fn an_empty_data_dir_is_refused() {
        assert!(Args::try_parse_from(["backup-worker", "--data", ""]).is_err());
    }

    #[test]
    fn a_missing_data_dir_is_created() {
        let base = std::env::temp_dir().join(format!("lodestar-bw-test-{}", std::process::id()));
        let dir = base.join("nested").join("bw");
        prepare_data_dir(&dir).unwrap();
        assert!(dir.is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
