//! The offline commands of the `backup-worker` binary: `verify` checks a series without
//! restoring it. The offline restore is `alpha restore`, in the binary that owns the data;
//! `backup-worker restore` only says so.
//!
//! Credentials for object stores come from the environment (`AWS_*`, `MINIO_*`,
//! `GOOGLE_APPLICATION_CREDENTIALS`), as in Dgraph. The verify report goes to stdout as JSON,
//! progress and errors to stderr.
#![allow(clippy::print_stdout)]

use lodestar_backup::BackupError;
use lodestar_backup::series::{self, Depth, SeriesArgs};

/// The offline commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Moved: the offline restore is `alpha restore`, with the same flags.
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check every file of a series against the manifest (size, SHA-256) and that it decrypts
    /// and decompresses, without restoring anything.
    Verify(VerifyArgs),
}

/// `backup-worker verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The series to verify, up to which backup, and its key.
    #[command(flatten)]
    pub series: SeriesArgs,
}

/// What `backup-worker restore` answers.
pub const RESTORE_MOVED: &str = "the offline restore is a command of the alpha binary, which owns the data: run `alpha restore` with the same flags";

/// Runs an offline command to its end: exit status 0 on success, 1 with the reason on stderr.
pub fn main(command: Command) -> std::process::ExitCode {
    let args = match command {
        Command::Restore { args } => {
            eprintln!("error: {RESTORE_MOVED} (alpha restore {})", args.join(" "));
            return std::process::ExitCode::FAILURE;
        }
        Command::Verify(args) => args,
    };
    lodestar_runtime::run_command(verify(args))
}

/// `backup-worker verify`: every file of the series read in full; the report on stdout.
pub async fn verify(args: VerifyArgs) -> Result<(), BackupError> {
    let opened = args.series.open().await?;
    let files = series::check_series(
        &opened.operator,
        &opened.series,
        opened.key.as_ref(),
        Depth::Full,
        |f| eprintln!("ok  {} ({} bytes, {} keys)", f.path, f.size, f.keys),
    )
    .await?;
    let report = serde_json::json!({
        "backup_id": opened.series[0].backup_id,
        "backup_nums": opened.series.iter().map(|m| m.backup_num).collect::<Vec<_>>(),
        "files": files.iter().map(|f| serde_json::json!({
            "path": f.path, "size": f.size, "sha256": f.sha256, "records": f.records, "keys": f.keys,
        })).collect::<Vec<_>>(),
    });
    println!("{report:#}");
    Ok(())
}
