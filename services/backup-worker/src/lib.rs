//! The backup worker: will run backup and restore tasks (a durable task registry, destinations
//! through opendal, gzip + AES-CTR, manifests) and the offline `restore` command, serving
//! `backup.Backup` on gRPC 7090 with health and metrics on HTTP 7091.
//!
//! This release only runs the service shell: it prepares its data directory and serves health,
//! reflection, node info, `/health` and `/metrics`; every `backup.Backup` RPC answers
//! `Unimplemented`. Backups, restores and listing come in a later release; nothing here writes or
//! reads a backup yet.

use lodestar_proto::backup::backup_server::{Backup, BackupServer};
use lodestar_proto::backup::{
    BackupRequest, ListBackupsRequest, ListBackupsResponse, RestoreRequest, TaskRef, TaskStatus,
};
use lodestar_runtime::config::{CommonArgs, UpstreamArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::path::PathBuf;

/// Flags of the `backup-worker` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "backup-worker",
    version,
    about = "Backup and restore tasks (this release serves health only; backup and restore come later)"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub upstream: UpstreamArgs,

    /// Directory for the worker's own state (the task registry); created if missing.
    #[arg(long, env = "LODESTAR_BACKUP_DATA", default_value = "bw")]
    pub data: PathBuf,
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        self.upstream.validate()?;
        Ok(())
    }
}

fn not_yet(what: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!(
        "{what} is not available in this release: backup and restore come in a later release"
    ))
}

/// `backup.Backup`. Every RPC answers `Unimplemented` until backup and restore land.
#[derive(Debug, Default)]
struct BackupApi;

#[tonic::async_trait]
impl Backup for BackupApi {
    async fn start_backup(
        &self,
        _request: tonic::Request<BackupRequest>,
    ) -> Result<tonic::Response<TaskRef>, tonic::Status> {
        Err(not_yet("backup"))
    }

    async fn start_restore(
        &self,
        _request: tonic::Request<RestoreRequest>,
    ) -> Result<tonic::Response<TaskRef>, tonic::Status> {
        Err(not_yet("restore"))
    }

    async fn get_task(
        &self,
        _request: tonic::Request<TaskRef>,
    ) -> Result<tonic::Response<TaskStatus>, tonic::Status> {
        Err(not_yet("task status"))
    }

    async fn list_backups(
        &self,
        _request: tonic::Request<ListBackupsRequest>,
    ) -> Result<tonic::Response<ListBackupsResponse>, tonic::Status> {
        Err(not_yet("listing backups"))
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

/// Runs the backup worker until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    let grpc_addr = args.common.grpc_addr(ports::BACKUP_GRPC)?;
    let http_addr = args.common.http_addr(ports::BACKUP_HTTP)?;
    let grpc = serve::bind(grpc_addr, "the backup API (gRPC)").await?;
    let http = serve::bind(http_addr, "HTTP").await?;
    prepare_data_dir(&args.data)?;
    let node = NodeHandle::new("backup-worker", format!("localhost:{}", grpc_addr.port()));
    tracing::info!(
        grpc = %grpc_addr,
        http = %http_addr,
        zero = %args.upstream.zero,
        alpha = %args.upstream.alpha,
        data = %args.data.display(),
        "serving; backup and restore are not available in this release"
    );

    let routes = tonic::service::Routes::new(BackupServer::new(BackupApi));
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_point_at_the_local_cluster() {
        let args = Args::try_parse_from(["backup-worker"]).unwrap();
        assert_eq!(args.upstream.zero, "localhost:5080");
        assert_eq!(args.upstream.alpha, "localhost:9080");
        assert_eq!(args.data, PathBuf::from("bw"));
        assert!(args.validate().is_ok());
        assert_eq!(
            args.common.http_addr(ports::BACKUP_HTTP).unwrap().port(),
            7091
        );
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

    #[tokio::test]
    async fn every_rpc_says_it_is_not_available_yet() {
        let api = BackupApi;
        let codes = [
            api.start_backup(tonic::Request::new(BackupRequest::default()))
                .await
                .unwrap_err(),
            api.start_restore(tonic::Request::new(RestoreRequest::default()))
                .await
                .unwrap_err(),
            api.get_task(tonic::Request::new(TaskRef::default()))
                .await
                .unwrap_err(),
            api.list_backups(tonic::Request::new(ListBackupsRequest::default()))
                .await
                .unwrap_err(),
        ];
        for status in codes {
            assert_eq!(status.code(), tonic::Code::Unimplemented);
            assert!(status.message().contains("later release"), "{status:?}");
        }
    }
}
