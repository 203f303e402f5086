//! `backup.Backup`: each RPC checks who calls (guardians only when ACL is on) and that
//! enterprise features are on (exports excepted), then hands the work to the task queue.

use crate::backup::{self, Job, Work};
use crate::export;
use crate::restore;
use crate::tasks::{self, Kind, Registry, Task};
use lodestar_backup::BackupError;
use lodestar_backup::destination::Credentials;
use lodestar_backup::series::{self, Depth, KeySource, Series};
use lodestar_client::ZeroClient;
use lodestar_proto::backup::backup_server::Backup;
use lodestar_proto::backup::{
    self as pb, BackupRequest, ListBackupsRequest, ListBackupsResponse, TaskRef, TaskStatus,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Dgraph's answer to a backup or restore while enterprise features are off.
pub const ENTERPRISE_OFF: &str = "you must enable enterprise features first. Supply the appropriate license file to Dgraph Zero using the HTTP endpoint";

#[derive(Debug)]
pub struct BackupApi {
    pub zero: Arc<ZeroClient>,
    pub registry: Registry,
    /// With ACL on, checks callers' tokens against the ACL data as it is now.
    pub verifier: Option<lodestar_acl::Verifier>,
    pub backups: tokio::sync::mpsc::Sender<Job>,
    /// What restores need (zero, the registry, the cluster's key).
    pub context: backup::Context,
    /// Held by the restore that runs: one at a time.
    pub restoring: Arc<tokio::sync::Mutex<()>>,
    /// The backup schedules (`--backup_schedule`).
    pub schedules: Arc<crate::schedule::Schedules>,
}

/// The request's credentials as the destination layer takes them.
pub fn credentials(c: Option<pb::Credentials>) -> Credentials {
    let c = c.unwrap_or_default();
    Credentials {
        access_key: c.access_key,
        secret_key: c.secret_key,
        session_token: (!c.session_token.is_empty()).then_some(c.session_token),
        anonymous: c.anonymous,
    }
}

/// A request's key source as the series reader takes it.
fn key_source(k: Option<pb::KeySource>) -> Option<KeySource> {
    k.map(|k| KeySource {
        key_file: k.key_file,
        vault_addr: k.vault_addr,
        vault_role_id_file: k.vault_role_id_file,
        vault_secret_id_file: k.vault_secret_id_file,
        vault_path: k.vault_path,
        vault_field: k.vault_field,
        vault_format: k.vault_format,
    })
}

/// The gRPC status of a backup error: its code, mapped once.
fn status(e: BackupError) -> Status {
    lodestar_runtime::ServiceError::from(e).into()
}

impl BackupApi {
    /// With ACL on, only guardians may run backup operations (as Dgraph's guardian-of-the-
    /// galaxy rule says); returns who called.
    /// Without ACL here, refused when the cluster's alphas run with ACL.
    async fn guardian<T>(&self, req: &Request<T>) -> Result<String, Status> {
        match &self.verifier {
            Some(verifier) => Ok(verifier.guardian_in(req.metadata()).await?.userid),
            None => {
                lodestar_acl::login::refuse_unguarded(&self.zero, "backup worker").await?;
                Ok(String::new())
            }
        }
    }

    /// Queues `job`, or fails its task when the queue is full.
    fn queue(&self, job: Job) -> Result<(), Status> {
        backup::enqueue(&self.registry, &self.backups, job).map_err(status)
    }

    async fn enterprise(&self) -> Result<(), Status> {
        let (enabled, reason) = lodestar_acl::login::enterprise_state(&self.zero).await?;
        if !enabled {
            return Err(Status::failed_precondition(format!(
                "{ENTERPRISE_OFF} ({reason})"
            )));
        }
        Ok(())
    }
}

fn to_status(task: &Task) -> TaskStatus {
    TaskStatus {
        id: task.display_id(),
        kind: format!("{:?}", task.kind),
        status: format!("{:?}", task.status),
        last_updated: task.last_updated,
        errors: task.errors.clone(),
        bytes_written: task.bytes_written,
        groups_done: task.groups_done,
        groups_total: task.groups_total,
        location: task.location.clone(),
        read_ts: task.read_ts,
        backup_id: task.backup_id.clone(),
        backup_num: task.backup_num,
    }
}

/// A schedule as `ListSchedules` answers it: settings without credentials, times in Unix
/// seconds (0: none).
fn to_schedule_status(view: crate::schedule::View) -> pb::ScheduleStatus {
    let s = view.schedule;
    let state = view.state;
    pb::ScheduleStatus {
        failing: state.failing(),
        name: s.name,
        destination: s.destination.to_string(),
        full: s.full.text,
        incremental: s.incremental.map(|c| c.text).unwrap_or_default(),
        keep_series: s.retention.keep_series.unwrap_or(0),
        keep_days: s.retention.keep_days.unwrap_or(0),
        credentials: if s.credentials.given() {
            "files"
        } else {
            "environment"
        }
        .to_string(),
        last_task_id: state
            .last_run
            .as_ref()
            .and_then(|r| r.task_id.clone())
            .unwrap_or_default(),
        last_run: state.last_run.map(|r| pb::ScheduleRun {
            kind: r.kind.as_str().to_string(),
            status: format!("{:?}", r.status),
            started_at: r.started_at,
            finished_at: r.finished_at.unwrap_or(0),
            task_id: r.task_id.unwrap_or_default(),
            backup_id: r.backup_id,
            backup_num: r.backup_num,
            error: r.error.unwrap_or_default(),
            deleted_series: r.deleted_series,
        }),
        next_full: view.next_full.unwrap_or(0),
        next_incremental: view.next_incremental.unwrap_or(0),
        last_error: state.last_error.unwrap_or_default(),
        last_error_at: state.last_error_at.unwrap_or(0),
        last_success: state.last_success.unwrap_or(0),
        running: view.running,
    }
}

#[tonic::async_trait]
impl Backup for BackupApi {
    async fn start_backup(
        &self,
        request: Request<BackupRequest>,
    ) -> Result<Response<TaskRef>, Status> {
        let user = self.guardian(&request).await?;
        self.enterprise().await?;
        let req = request.into_inner();
        let creds = credentials(req.credentials);
        let (destination, operator, force_full) =
            backup::prepare(&req.destination, &creds, req.force_full).map_err(status)?;
        let task =
            backup::create_task(&self.registry, Kind::Backup, &destination).map_err(status)?;
        tracing::info!(task = task.id, destination = %destination, force_full, user = %user, "backup queued");
        self.queue(Job {
            task: task.id,
            destination,
            operator,
            work: Work::Backup { force_full },
            then: None,
        })?;
        Ok(Response::new(TaskRef {
            id: task.display_id(),
        }))
    }

    async fn start_export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<TaskRef>, Status> {
        // Exports are not an enterprise feature: a cluster whose license lapsed can still take
        // its data out.
        let user = self.guardian(&request).await?;
        let req = request.into_inner();
        let format = export::Format::parse(&req.format).map_err(status)?;
        export::check_namespace(req.namespace).map_err(status)?;
        // Without a destination, the worker's own export directory (Dgraph writes to each
        // alpha's `export` directory).
        let target = match req.destination.trim() {
            "" => self.context.export_dir.display().to_string(),
            given => given.to_string(),
        };
        let (destination, operator, _) =
            backup::prepare(&target, &credentials(req.credentials), false).map_err(status)?;
        let task =
            backup::create_task(&self.registry, Kind::Export, &destination).map_err(status)?;
        tracing::info!(task = task.id, destination = %destination, format = format.name(), user = %user, "export queued");
        self.queue(Job {
            task: task.id,
            destination,
            operator,
            work: Work::Export(format),
            then: None,
        })?;
        Ok(Response::new(TaskRef {
            id: task.display_id(),
        }))
    }

    async fn start_restore(
        &self,
        request: Request<pb::RestoreRequest>,
    ) -> Result<Response<TaskRef>, Status> {
        let user = self.guardian(&request).await?;
        self.enterprise().await?;
        let req = request.into_inner();
        let running = self
            .restoring
            .clone()
            .try_lock_owned()
            .map_err(|_| Status::failed_precondition(restore::RESTORE_RUNNING))?;
        let Series {
            destination,
            operator,
            series,
            key,
        } = series::open_series(
            &req.location,
            &credentials(req.credentials),
            &req.backup_id,
            req.backup_num,
            key_source(req.key).as_ref(),
            self.context.key.as_ref(),
        )
        .await
        .map_err(status)?;
        let task = self
            .registry
            .create(Kind::Restore, &destination.to_string())
            .map_err(|e| Status::internal(format!("recording the task: {e}")))?;
        let last = series.last().expect("a chosen series is never empty");
        tracing::info!(
            task = task.id,
            location = %destination,
            backup_id = %last.backup_id,
            backup_num = last.backup_num,
            user = %user,
            "restore accepted"
        );
        let job = restore::Job {
            task: task.id,
            destination,
            operator,
            series,
            key,
        };
        let ctx = self.context.clone();
        self.context.shutdown.spawn(async move {
            restore::run(ctx, job).await;
            drop(running);
        });
        Ok(Response::new(TaskRef {
            id: task.display_id(),
        }))
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        self.guardian(&request).await?;
        let req = request.into_inner();
        let Series {
            operator,
            series,
            key,
            ..
        } = series::open_series(
            &req.location,
            &credentials(req.credentials),
            &req.backup_id,
            req.backup_num,
            key_source(req.key).as_ref(),
            self.context.key.as_ref(),
        )
        .await
        .map_err(status)?;
        // A damaged file is DataLoss; a store that stopped answering is Unavailable.
        let files = series::check_series(&operator, &series, key.as_ref(), Depth::Full, |_| {})
            .await
            .map_err(status)?;
        Ok(Response::new(pb::VerifyResponse {
            backup_id: series[0].backup_id.clone(),
            backup_nums: series.iter().map(|m| m.backup_num).collect(),
            files: files
                .into_iter()
                .map(|f| pb::VerifiedFile {
                    path: f.path,
                    size: f.size,
                    sha256: f.sha256,
                    records: f.records,
                    keys: f.keys,
                })
                .collect(),
        }))
    }

    async fn get_task(&self, request: Request<TaskRef>) -> Result<Response<TaskStatus>, Status> {
        self.guardian(&request).await?;
        let text = request.into_inner().id;
        let id = tasks::parse_id(&text).ok_or_else(|| {
            Status::invalid_argument(format!(
                "task id {text:?} is not a number: use the id the backup or restore answered (0x… or decimal)"
            ))
        })?;
        let task = self
            .registry
            .get(id)
            .ok_or_else(|| Status::not_found(format!("no task with id {text}")))?;
        Ok(Response::new(to_status(&task)))
    }

    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        self.guardian(&request).await?;
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: self
                .schedules
                .views()
                .into_iter()
                .map(to_schedule_status)
                .collect(),
        }))
    }

    async fn list_backups(
        &self,
        request: Request<ListBackupsRequest>,
    ) -> Result<Response<ListBackupsResponse>, Status> {
        self.guardian(&request).await?;
        let req = request.into_inner();
        let creds = credentials(req.credentials);
        if req.location.trim().is_empty() {
            return Err(Status::invalid_argument(
                "you must specify a 'location' value",
            ));
        }
        let (destination, op, _) = backup::prepare(&req.location, &creds, false).map_err(status)?;
        let master = lodestar_backup::manifest::read_master(&op)
            .await
            .map_err(|e| Status::failed_precondition(format!("{destination}: {e}")))?;
        let manifests_json = master
            .to_json()
            .map_err(|e| Status::internal(format!("rendering the manifest: {e}")))?;
        Ok(Response::new(ListBackupsResponse { manifests_json }))
    }
}
