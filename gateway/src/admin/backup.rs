//! The backup part of `/admin`: Dgraph's `backup`, `export`, `restore`, `restoreStatus`, `task` and
//! `listBackups`, with Dgraph's names and shapes, and our `verifyBackup` and `backupSchedules`. Each becomes one call
//! to the backup worker (`backup.Backup`) with the caller's `X-Dgraph-AccessToken` as
//! `accessjwt`; the worker decides who may call (guardians only, when ACL is on) and runs the
//! tasks. This module only checks what Dgraph's resolvers check before queueing anything and
//! translates between GraphQL and the worker's messages.
//!
//! Restores are tasks too: the worker answers a restore's id in decimal, which becomes Dgraph's
//! integer `restoreId`, and `task` reports restores with the kind `Restore` (an addition to
//! Dgraph's `TaskKind`).

use super::types::{AdminResponse, DateTime, List, UInt64, list};
use super::{graphql_error, grpc_error, on_behalf_of};
use crate::routes::GatewayState;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use lodestar_client::TracedChannel;
use lodestar_proto::backup::{self as pb, backup_client::BackupClient};
use lodestar_runtime::{ErrorCode, ServiceError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Dgraph's answer to a `backup` without a destination.
pub const NO_DESTINATION: &str = "you must specify a 'destination' value";

/// Dgraph's message for a restore that was accepted and runs in the background.
pub const RESTORE_STARTED: &str = "Restore operation started.";

/// The largest reply taken from the worker: a location's manifest list names every predicate
/// of every backup, which outgrows gRPC's 4 MiB default on large schemas.
const MAX_REPLY_BYTES: usize = 64 << 20;

// ---- inputs ----

/// The credential fields of every input that names a location (Dgraph's names); empty ones
/// leave the choice to the worker's environment.
#[derive(Clone, Debug, Default, InputObject)]
pub struct CredentialFields {
    /// Access key credential for the destination.
    pub access_key: Option<String>,
    /// Secret key credential for the destination.
    pub secret_key: Option<String>,
    /// AWS session token, if required.
    pub session_token: Option<String>,
    /// Set to true to use an S3 or Minio bucket that requires no credentials.
    pub anonymous: Option<bool>,
}

impl CredentialFields {
    /// The credentials given, or none (the worker then uses its own).
    fn into_proto(self) -> Option<pb::Credentials> {
        let creds = pb::Credentials {
            access_key: text(self.access_key),
            secret_key: text(self.secret_key),
            session_token: text(self.session_token),
            anonymous: self.anonymous.unwrap_or(false),
        };
        (creds != pb::Credentials::default()).then_some(creds)
    }
}

/// The key fields of `restore` and `verifyBackup` (Dgraph's names).
#[derive(Clone, Debug, Default, InputObject)]
pub struct KeyFields {
    /// Path to the key file needed to decrypt the backup.
    pub encryption_key_file: Option<String>,
    /// Vault server address where the key is stored.
    pub vault_addr: Option<String>,
    /// Path to the Vault RoleID file.
    #[graphql(name = "vaultRoleIDFile")]
    pub vault_role_id_file: Option<String>,
    /// Path to the Vault SecretID file.
    #[graphql(name = "vaultSecretIDFile")]
    pub vault_secret_id_file: Option<String>,
    /// Vault kv store path where the key lives.
    pub vault_path: Option<String>,
    /// Vault kv store field whose value is the key.
    pub vault_field: Option<String>,
    /// Vault kv store field's format. Must be "base64" or "raw".
    pub vault_format: Option<String>,
}

impl KeyFields {
    /// Where the key comes from, or none for an unencrypted backup (or the worker's defaults).
    fn into_source(self) -> Option<pb::KeySource> {
        let key = pb::KeySource {
            key_file: text(self.encryption_key_file),
            vault_addr: text(self.vault_addr),
            vault_role_id_file: text(self.vault_role_id_file),
            vault_secret_id_file: text(self.vault_secret_id_file),
            vault_path: text(self.vault_path),
            vault_field: text(self.vault_field),
            vault_format: text(self.vault_format),
        };
        (key != pb::KeySource::default()).then_some(key)
    }
}

/// Dgraph's `BackupInput`.
#[derive(Clone, Debug, InputObject)]
pub struct BackupInput {
    /// Destination for the backup: e.g. Minio or S3 bucket.
    pub destination: String,
    #[graphql(flatten)]
    pub credentials: CredentialFields,
    /// Force a full backup instead of an incremental backup.
    pub force_full: Option<bool>,
}

/// Dgraph's `RestoreInput`.
#[derive(Clone, Debug, InputObject)]
pub struct RestoreInput {
    /// Destination for the backup: e.g. Minio or S3 bucket.
    pub location: String,
    /// Backup ID of the backup series to restore. This ID is included in the manifest.json
    /// file. If missing, it defaults to the latest series.
    pub backup_id: Option<String>,
    /// Number of the backup within the backup series to be restored. Backups with a greater
    /// value will be ignored. If the value is zero or missing, the entire series will be
    /// restored.
    pub backup_num: Option<i32>,
    /// Dgraph's partial restore from an incremental backup; only 0 (or 1, which Dgraph treats
    /// the same) is supported.
    pub incremental_from: Option<i32>,
    /// Dgraph's partial restore that leaves the cluster draining; not supported.
    pub is_partial: Option<bool>,
    #[graphql(flatten)]
    pub key: KeyFields,
    #[graphql(flatten)]
    pub credentials: CredentialFields,
}

/// Dgraph's `TaskInput`.
#[derive(Clone, Debug, InputObject)]
pub struct TaskInput {
    /// The task's id, `0x…` or decimal.
    pub id: String,
}

/// Dgraph's `ListBackupsInput`.
#[derive(Clone, Debug, InputObject)]
pub struct ListBackupsInput {
    /// Destination for the backup: e.g. Minio or S3 bucket.
    pub location: String,
    #[graphql(flatten)]
    pub credentials: CredentialFields,
}

/// Input of our `verifyBackup`: which series to check and how to read it, as for `restore`.
#[derive(Clone, Debug, InputObject)]
pub struct VerifyBackupInput {
    /// Where the backups are.
    pub location: String,
    /// The series to check; the newest series if missing.
    pub backup_id: Option<String>,
    /// Check the series up to this backup number; the whole series if zero or missing.
    pub backup_num: Option<i32>,
    #[graphql(flatten)]
    pub key: KeyFields,
    #[graphql(flatten)]
    pub credentials: CredentialFields,
}

/// Dgraph's `BackupPayload`.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct BackupPayload {
    /// `Success` and the queued message.
    pub response: Option<AdminResponse>,
    /// The backup task's id, for `task`.
    pub task_id: Option<String>,
}

/// Dgraph's `ExportInput`.
#[derive(Clone, Debug, InputObject)]
pub struct ExportInput {
    /// Data format for the export, e.g. "rdf" or "json" (default: "rdf").
    pub format: Option<String>,
    /// Namespace for the export in a multi-tenant cluster (this cluster has namespace 0; -1
    /// exports all namespaces).
    pub namespace: Option<i32>,
    /// Destination for the export: e.g. Minio or S3 bucket or /absolute/path (default: the
    /// backup worker's export directory).
    pub destination: Option<String>,
    #[graphql(flatten)]
    pub credentials: CredentialFields,
}

/// Dgraph's `ExportPayload`.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct ExportPayload {
    /// `Success` and the queued message.
    pub response: Option<AdminResponse>,
    /// The export task's id, for `task`.
    pub task_id: Option<String>,
}

/// Dgraph's `RestorePayload`, with v20.11's `restoreId` for `restoreStatus`.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct RestorePayload {
    /// A short string indicating the status of the operation.
    pub code: Option<String>,
    /// A longer explanation of the status of the operation.
    pub message: Option<String>,
    /// The id to pass to `restoreStatus` (and, as a string, to `task`).
    pub restore_id: Option<i32>,
}

/// Dgraph's (v20.11) `RestoreStatus`.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct RestoreStatus {
    /// "OK", "ERR", "UNKNOWN" or "IN_PROGRESS".
    pub status: String,
    /// Why the restore failed; empty otherwise.
    pub errors: List<String>,
}

/// Dgraph's `TaskStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(rename_items = "PascalCase")]
pub enum TaskStatus {
    /// Waiting for the worker.
    Queued,
    /// Being worked on.
    Running,
    /// Finished with errors.
    Failed,
    /// Finished.
    Success,
    /// No task has this id.
    Unknown,
}

/// Dgraph's `TaskKind`, plus `Restore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[graphql(rename_items = "PascalCase")]
pub enum TaskKind {
    /// A backup.
    Backup,
    /// An export.
    Export,
    /// A restore.
    Restore,
    /// No task has this id.
    Unknown,
}

/// Dgraph's `TaskPayload`, plus the worker's progress and the backup the task made or read.
#[derive(Clone, Debug, PartialEq, SimpleObject)]
pub struct TaskPayload {
    /// What the task does.
    pub kind: Option<TaskKind>,
    /// Where it is.
    pub status: Option<TaskStatus>,
    /// When its status last changed.
    pub last_updated: Option<DateTime>,
    /// Why the task failed.
    pub errors: List<String>,
    /// Bytes written so far (backup files, or data restored).
    pub bytes_written: Option<UInt64>,
    /// Groups finished so far.
    pub groups_done: Option<i32>,
    /// Groups the task covers.
    pub groups_total: Option<i32>,
    /// The backup series, once known.
    pub backup_id: Option<String>,
    /// The backup's number in its series, once known.
    pub backup_num: Option<UInt64>,
}

impl TaskPayload {
    /// What Dgraph answers for an id it has no task for.
    fn unknown() -> Self {
        TaskPayload {
            kind: Some(TaskKind::Unknown),
            status: Some(TaskStatus::Unknown),
            last_updated: None,
            errors: None,
            bytes_written: None,
            groups_done: None,
            groups_total: None,
            backup_id: None,
            backup_num: None,
        }
    }
}

impl From<pb::TaskStatus> for TaskPayload {
    fn from(t: pb::TaskStatus) -> Self {
        let kind = match t.kind.as_str() {
            "Backup" => TaskKind::Backup,
            "Export" => TaskKind::Export,
            "Restore" => TaskKind::Restore,
            _ => TaskKind::Unknown,
        };
        let status = task_status(&t.status);
        TaskPayload {
            kind: Some(kind),
            status: Some(status),
            last_updated: (t.last_updated > 0).then_some(DateTime {
                unix_secs: t.last_updated,
            }),
            errors: list(t.errors),
            bytes_written: Some(UInt64(t.bytes_written)),
            groups_done: Some(saturating_i32(t.groups_done)),
            groups_total: Some(saturating_i32(t.groups_total)),
            backup_id: (!t.backup_id.is_empty()).then_some(t.backup_id),
            // Backup numbers start at 1: 0 means not known yet.
            backup_num: (t.backup_num > 0).then_some(UInt64(t.backup_num)),
        }
    }
}

fn saturating_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Dgraph's `Manifest`: one backup of a location.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct Manifest {
    /// Unique ID for the backup series.
    pub backup_id: Option<String>,
    /// Number of this backup within the backup series. The full backup always has a value of
    /// one.
    pub backup_num: Option<UInt64>,
    /// Whether this backup was encrypted.
    pub encrypted: Option<bool>,
    /// List of groups and the predicates they store in this backup.
    pub groups: List<BackupGroup>,
    /// Path to the manifest file.
    pub path: Option<String>,
    /// The timestamp at which this backup was taken. The next incremental backup will start
    /// from this timestamp.
    pub since: Option<UInt64>,
    /// The type of backup, either full or incremental.
    #[graphql(name = "type")]
    pub backup_type: Option<String>,
}

/// Dgraph's `BackupGroup`.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct BackupGroup {
    /// The ID of the cluster group.
    pub group_id: Option<UInt64>,
    /// List of predicates assigned to the group, as the manifest stores them (`0-name`).
    pub predicates: List<String>,
}

/// One file of a verified series.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct VerifiedFile {
    /// The file's path under the location.
    pub path: Option<String>,
    /// Its size in bytes, as the manifest records it.
    pub size: Option<UInt64>,
    /// Its SHA-256, hex.
    pub sha256: Option<String>,
    /// Records (KV lists) read from it.
    pub records: Option<UInt64>,
    /// Keys read from it.
    pub keys: Option<UInt64>,
}

/// The result of our `verifyBackup`.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct VerifyBackupPayload {
    /// `Success` and what was checked.
    pub response: Option<AdminResponse>,
    /// The series checked.
    pub backup_id: Option<String>,
    /// The backups of the series checked.
    pub backup_nums: List<UInt64>,
    /// Every file checked.
    pub files: List<VerifiedFile>,
}

/// One of the backup worker's schedules (`--backup_schedule`). Times are UTC; credentials are
/// never shown.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct BackupSchedule {
    /// The schedule's name (`name=`, else "default").
    pub name: Option<String>,
    /// Where its backups go.
    pub destination: Option<String>,
    /// The cron expression of its full backups.
    pub full: Option<String>,
    /// The cron expression of its incremental backups, if any.
    pub incremental: Option<String>,
    /// Retention: the newest restorable series kept, if set.
    pub keep_series: Option<i32>,
    /// Retention: series younger than this many days kept, if set.
    pub keep_days: Option<i32>,
    /// Where the destination's credentials come from: "environment" or "files".
    pub credentials: Option<String>,
    /// The newest run.
    pub last_run: Option<BackupScheduleRun>,
    /// When the next full backup falls due.
    pub next_full: Option<DateTime>,
    /// When the next incremental backup falls due.
    pub next_incremental: Option<DateTime>,
    /// The newest error of any run (kept after later successes).
    pub last_error: Option<String>,
    /// When that error happened.
    pub last_error_at: Option<DateTime>,
    /// When the newest successful backup finished.
    pub last_success: Option<DateTime>,
    /// The task of the newest run, for `task`.
    pub last_task_id: Option<String>,
    /// Whether the newest run failed (its backup, or the retention after it).
    pub failing: Option<bool>,
    /// Whether a run is queued or running now.
    pub running: Option<bool>,
}

/// One run of a backup schedule.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct BackupScheduleRun {
    /// "full" or "incremental": what the tick asked for.
    pub kind: Option<String>,
    /// Running, Success or Failed.
    pub status: Option<TaskStatus>,
    /// When it started.
    pub started_at: Option<DateTime>,
    /// When it ended.
    pub finished_at: Option<DateTime>,
    /// Its backup task.
    pub task_id: Option<String>,
    /// The series of the backup it made.
    pub backup_id: Option<String>,
    /// The backup's number in its series (1: a full backup).
    pub backup_num: Option<UInt64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Series the retention deleted after it.
    pub deleted_series: Option<i32>,
}

// ---- conversions ----

/// A Unix time from the worker (0: none).
fn time(unix_secs: i64) -> Option<DateTime> {
    (unix_secs > 0).then_some(DateTime { unix_secs })
}

fn nonempty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn task_status(status: &str) -> TaskStatus {
    match status {
        "Queued" => TaskStatus::Queued,
        "Running" => TaskStatus::Running,
        "Failed" => TaskStatus::Failed,
        "Success" => TaskStatus::Success,
        _ => TaskStatus::Unknown,
    }
}

impl From<pb::ScheduleStatus> for BackupSchedule {
    fn from(s: pb::ScheduleStatus) -> Self {
        BackupSchedule {
            name: Some(s.name),
            destination: Some(s.destination),
            full: Some(s.full),
            incremental: nonempty(s.incremental),
            keep_series: (s.keep_series > 0).then_some(saturating_i32(s.keep_series)),
            keep_days: (s.keep_days > 0).then_some(saturating_i32(s.keep_days)),
            credentials: Some(s.credentials),
            last_run: s.last_run.map(|r| BackupScheduleRun {
                kind: Some(r.kind),
                status: Some(task_status(&r.status)),
                started_at: time(r.started_at),
                finished_at: time(r.finished_at),
                task_id: nonempty(r.task_id),
                backup_id: nonempty(r.backup_id),
                backup_num: (r.backup_num > 0).then_some(UInt64(r.backup_num)),
                error: nonempty(r.error),
                deleted_series: Some(saturating_i32(r.deleted_series)),
            }),
            next_full: time(s.next_full),
            next_incremental: time(s.next_incremental),
            last_error: nonempty(s.last_error),
            last_error_at: time(s.last_error_at),
            last_success: time(s.last_success),
            last_task_id: nonempty(s.last_task_id),
            failing: Some(s.failing),
            running: Some(s.running),
        }
    }
}

fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

/// The refusals Dgraph's restore options we do not implement get, before anything is asked.
fn check_restore_options(input: &RestoreInput) -> Result<(), ServiceError> {
    match input.incremental_from.unwrap_or(0) {
        // Dgraph treats 1 as 0: backup 1 is the full backup a series starts from.
        0 | 1 => {}
        n if n < 0 => {
            return Err(ServiceError::invalid(format!(
                "incrementalFrom must not be negative, got {n}"
            )));
        }
        n => {
            return Err(ServiceError::new(
                ErrorCode::Unimplemented,
                format!(
                    "incrementalFrom is not supported (got {n}): a restore applies its series \
                     from the full backup up to backupNum over emptied data; leave \
                     incrementalFrom out"
                ),
            ));
        }
    }
    if input.is_partial == Some(true) {
        return Err(ServiceError::new(
            ErrorCode::Unimplemented,
            "isPartial is not supported: a restore always completes and ends its drain; \
             leave isPartial out or set it to false",
        ));
    }
    Ok(())
}

/// A restore id as the worker writes it (decimal, or `0x…`), as Dgraph's `restoreId: Int`.
fn restore_id(id: &str) -> Option<i32> {
    let id = id.trim();
    let n = match id.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => id.parse().ok()?,
    };
    i32::try_from(n).ok()
}

/// Dgraph's `restoreStatus` answer for a task.
fn restore_status(task: &pb::TaskStatus) -> RestoreStatus {
    let (status, errors) = match task.status.as_str() {
        "Queued" | "Running" => ("IN_PROGRESS", Vec::new()),
        "Success" => ("OK", Vec::new()),
        "Failed" => ("ERR", task.errors.clone()),
        _ => ("UNKNOWN", Vec::new()),
    };
    RestoreStatus {
        status: status.to_string(),
        errors: list(errors),
    }
}

fn unknown_restore() -> RestoreStatus {
    RestoreStatus {
        status: "UNKNOWN".to_string(),
        errors: list(Vec::new()),
    }
}

/// `manifest.json` as the worker hands it over: `{"Manifests": [...]}`.
#[derive(Debug, Deserialize)]
struct StoredManifests {
    #[serde(rename = "Manifests", default)]
    manifests: Option<Vec<StoredManifest>>,
}

/// The fields of a stored manifest that `listBackups` shows; the rest (`read_ts`, `version`,
/// `drop_operations`, `compression`) are not part of Dgraph's `Manifest` type.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StoredManifest {
    #[serde(rename = "type")]
    backup_type: String,
    since: u64,
    groups: Option<BTreeMap<String, Option<Vec<String>>>>,
    backup_id: String,
    backup_num: u64,
    path: String,
    encrypted: bool,
}

/// Dgraph's manifests from the JSON the worker returns, oldest first as stored, each one's
/// groups in id order.
pub fn manifests_from_json(json: &[u8]) -> Result<Vec<Manifest>, ServiceError> {
    let stored: StoredManifests = serde_json::from_slice(json).map_err(|e| {
        ServiceError::internal(format!(
            "the backup worker's manifest list is not manifest.json as Dgraph writes it: {e}"
        ))
    })?;
    stored
        .manifests
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let mut groups = m
                .groups
                .unwrap_or_default()
                .into_iter()
                .map(|(id, predicates)| {
                    let id: u64 = id.trim().parse().map_err(|_| {
                        ServiceError::internal(format!(
                            "manifest {:?} of backup {}: group id {id:?} is not a number",
                            m.path, m.backup_num
                        ))
                    })?;
                    Ok((id, predicates.unwrap_or_default()))
                })
                .collect::<Result<Vec<_>, ServiceError>>()?;
            groups.sort_by_key(|(id, _)| *id);
            Ok(Manifest {
                backup_id: Some(m.backup_id),
                backup_num: Some(UInt64(m.backup_num)),
                encrypted: Some(m.encrypted),
                groups: list(groups.into_iter().map(|(id, predicates)| BackupGroup {
                    group_id: Some(UInt64(id)),
                    predicates: list(predicates),
                })),
                path: Some(m.path),
                since: Some(UInt64(m.since)),
                backup_type: Some(m.backup_type),
            })
        })
        .collect()
}

fn verify_message(backup_id: &str, files: usize) -> String {
    let noun = if files == 1 { "file" } else { "files" };
    format!("Verified backup series {backup_id}: {files} {noun}")
}

// ---- calls ----

/// A client of the backup worker.
fn worker(ctx: &Context<'_>) -> async_graphql::Result<BackupClient<TracedChannel>> {
    let state = ctx.data::<GatewayState>()?;
    let channel = state
        .cluster
        .channel_to(&state.services.backup)
        .map_err(graphql_error)?;
    Ok(BackupClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES))
}

/// `GetTask`, with the caller's token.
async fn get_task(
    ctx: &Context<'_>,
    id: String,
) -> async_graphql::Result<Result<pb::TaskStatus, tonic::Status>> {
    let req = on_behalf_of(ctx, pb::TaskRef { id })?;
    Ok(worker(ctx)?
        .get_task(req)
        .await
        .map(tonic::Response::into_inner))
}

// ---- resolvers ----

/// The backup queries: `restoreStatus`, `task`, `listBackups` and `backupSchedules`.
#[derive(Default)]
pub struct BackupQuery;

#[Object]
impl BackupQuery {
    /// The state of a restore started with `restore`: "OK", "ERR" (with the errors),
    /// "IN_PROGRESS", or "UNKNOWN" for an id that names no restore.
    async fn restore_status(
        &self,
        ctx: &Context<'_>,
        restore_id: i32,
    ) -> async_graphql::Result<Option<RestoreStatus>> {
        if restore_id < 0 {
            return Ok(Some(unknown_restore()));
        }
        Ok(Some(match get_task(ctx, restore_id.to_string()).await? {
            Ok(task) if task.kind == "Restore" => restore_status(&task),
            // The id of a backup task: no restore has it.
            Ok(_) => unknown_restore(),
            Err(status) if status.code() == tonic::Code::NotFound => unknown_restore(),
            Err(status) => return Err(grpc_error(status)),
        }))
    }

    /// A backup or restore task by id (`0x…` or decimal); an id with no task is `Unknown`.
    async fn task(
        &self,
        ctx: &Context<'_>,
        input: TaskInput,
    ) -> async_graphql::Result<Option<TaskPayload>> {
        Ok(Some(match get_task(ctx, input.id).await? {
            Ok(task) => task.into(),
            Err(status) if status.code() == tonic::Code::NotFound => TaskPayload::unknown(),
            Err(status) => return Err(grpc_error(status)),
        }))
    }

    /// The backups stored at a location, oldest first.
    async fn list_backups(
        &self,
        ctx: &Context<'_>,
        input: ListBackupsInput,
    ) -> async_graphql::Result<List<Manifest>> {
        let req = pb::ListBackupsRequest {
            location: input.location,
            credentials: input.credentials.into_proto(),
        };
        let resp = worker(ctx)?
            .list_backups(on_behalf_of(ctx, req)?)
            .await
            .map_err(grpc_error)?
            .into_inner();
        Ok(list(
            manifests_from_json(&resp.manifests_json).map_err(graphql_error)?,
        ))
    }

    /// The backup worker's schedules (`--backup_schedule`): settings, last run, next ticks and
    /// errors (guardians only with ACL on).
    async fn backup_schedules(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<List<BackupSchedule>> {
        let resp = worker(ctx)?
            .list_schedules(on_behalf_of(ctx, pb::ListSchedulesRequest {})?)
            .await
            .map_err(grpc_error)?
            .into_inner();
        Ok(list(resp.schedules.into_iter().map(BackupSchedule::from)))
    }
}

/// The backup mutations: `backup`, `export`, `restore` and `verifyBackup`.
#[derive(Default)]
pub struct BackupMutation;

#[Object]
impl BackupMutation {
    /// Queues a backup (full, or incremental on the location's newest series); answers at once
    /// with the task id.
    async fn backup(
        &self,
        ctx: &Context<'_>,
        input: BackupInput,
    ) -> async_graphql::Result<Option<BackupPayload>> {
        if input.destination.trim().is_empty() {
            return Err(graphql_error(ServiceError::invalid(NO_DESTINATION)));
        }
        let req = pb::BackupRequest {
            destination: input.destination,
            credentials: input.credentials.into_proto(),
            force_full: input.force_full.unwrap_or(false),
            // The worker fills this in from the token it verifies.
            requested_by: String::new(),
        };
        let task = worker(ctx)?
            .start_backup(on_behalf_of(ctx, req)?)
            .await
            .map_err(grpc_error)?
            .into_inner();
        Ok(Some(BackupPayload {
            response: Some(AdminResponse::success(format!(
                "Backup queued with ID {}",
                task.id
            ))),
            task_id: Some(task.id),
        }))
    }

    /// Queues an export of the whole cluster at one timestamp (RDF or JSON, with the schema);
    /// answers at once with the task id, which `task` follows.
    async fn export(
        &self,
        ctx: &Context<'_>,
        input: ExportInput,
    ) -> async_graphql::Result<Option<ExportPayload>> {
        let req = pb::ExportRequest {
            format: text(input.format),
            destination: text(input.destination),
            credentials: input.credentials.into_proto(),
            namespace: i64::from(input.namespace.unwrap_or(0)),
            // The worker fills this in from the token it verifies.
            requested_by: String::new(),
        };
        let task = worker(ctx)?
            .start_export(on_behalf_of(ctx, req)?)
            .await
            .map_err(grpc_error)?
            .into_inner();
        Ok(Some(ExportPayload {
            response: Some(AdminResponse::success(format!(
                "Export queued with ID {}",
                task.id
            ))),
            task_id: Some(task.id),
        }))
    }

    /// Starts restoring a backup series into the cluster; `restoreStatus` follows it.
    async fn restore(
        &self,
        ctx: &Context<'_>,
        input: RestoreInput,
    ) -> async_graphql::Result<Option<RestorePayload>> {
        check_restore_options(&input).map_err(graphql_error)?;
        let req = pb::RestoreRequest {
            location: input.location,
            backup_id: text(input.backup_id),
            backup_num: i64::from(input.backup_num.unwrap_or(0)),
            credentials: input.credentials.into_proto(),
            key: input.key.into_source(),
            requested_by: String::new(),
        };
        let task = worker(ctx)?
            .start_restore(on_behalf_of(ctx, req)?)
            .await
            .map_err(|status| {
                let mut e = ServiceError::from(status);
                // Dgraph's wording for every refusal of a restore the cluster was asked for.
                e.message = format!("resolving restore failed: {}", e.message);
                graphql_error(e)
            })?
            .into_inner();
        let restore_id = restore_id(&task.id);
        if restore_id.is_none() {
            // The restore runs anyway; `task` still finds it by the worker's id.
            tracing::warn!(task_id = %task.id, "restore id does not fit GraphQL's Int");
        }
        Ok(Some(RestorePayload {
            code: Some("Success".to_string()),
            message: Some(RESTORE_STARTED.to_string()),
            restore_id,
        }))
    }

    /// Checks every file of a backup series against its manifest (size, SHA-256) and that it
    /// decrypts and decompresses, without restoring anything.
    async fn verify_backup(
        &self,
        ctx: &Context<'_>,
        input: VerifyBackupInput,
    ) -> async_graphql::Result<Option<VerifyBackupPayload>> {
        let req = pb::VerifyRequest {
            location: input.location,
            backup_id: text(input.backup_id),
            backup_num: i64::from(input.backup_num.unwrap_or(0)),
            credentials: input.credentials.into_proto(),
            key: input.key.into_source(),
        };
        let resp = worker(ctx)?
            .verify(on_behalf_of(ctx, req)?)
            .await
            .map_err(grpc_error)?
            .into_inner();
        Ok(Some(VerifyBackupPayload {
            response: Some(AdminResponse::success(verify_message(
                &resp.backup_id,
                resp.files.len(),
            ))),
            backup_nums: list(resp.backup_nums.into_iter().map(UInt64)),
            files: list(resp.files.into_iter().map(|f| VerifiedFile {
                path: Some(f.path),
                size: Some(UInt64(f.size)),
                sha256: Some(f.sha256),
                records: Some(UInt64(f.records)),
                keys: Some(UInt64(f.keys)),
            })),
            backup_id: Some(resp.backup_id),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_keep_stored_order_and_sort_groups_by_number() {
        let json = br#"{"Manifests":[
            {"type":"full","since":0,"read_ts":10,"groups":{"10":["0-b"],"2":["0-a","0-dgraph.type"]},
             "backup_id":"quirky_kapitsa4","backup_num":1,"version":2105,"path":"dgraph.1",
             "encrypted":false,"drop_operations":null,"compression":"snappy"},
            {"type":"incremental","read_ts":20,"groups":null,"backup_id":"quirky_kapitsa4",
             "backup_num":2,"path":"dgraph.2","encrypted":true}]}"#;
        let ms = manifests_from_json(json).unwrap();
        assert_eq!(ms.len(), 2);
        let ids: Vec<u64> = ms[0]
            .groups
            .iter()
            .flatten()
            .flatten()
            .map(|g| g.group_id.unwrap().0)
            .collect();
        assert_eq!(ids, [2, 10]);
        assert_eq!(ms[1].backup_type.as_deref(), Some("incremental"));
        assert_eq!(ms[1].groups, list(Vec::new()));
        assert_eq!(ms[1].since, Some(UInt64(0)));
        assert_eq!(manifests_from_json(b"{}").unwrap(), Vec::new());
        let bad = manifests_from_json(br#"{"Manifests":[{"groups":{"one":[]}}]}"#).unwrap_err();
        assert!(bad.message.contains("\"one\""), "{}", bad.message);
        assert!(manifests_from_json(b"not json").is_err());
    }

    #[test]
    fn restore_ids_are_decimal_or_hex_and_must_fit_an_int() {
        assert_eq!(restore_id("3"), Some(3));
        assert_eq!(restore_id("0x10"), Some(16));
        assert_eq!(restore_id("4294967296"), None);
        assert_eq!(restore_id("three"), None);
    }

    #[test]
    fn empty_credentials_and_keys_are_left_to_the_worker() {
        assert_eq!(CredentialFields::default().into_proto(), None);
        let not_anonymous = CredentialFields {
            anonymous: Some(false),
            ..Default::default()
        };
        assert_eq!(not_anonymous.into_proto(), None);
        let anonymous = CredentialFields {
            anonymous: Some(true),
            ..Default::default()
        };
        assert!(anonymous.into_proto().unwrap().anonymous);
        assert_eq!(KeyFields::default().into_source(), None);
    }

    #[test]
    fn verify_message_counts_files() {
        assert_eq!(verify_message("s1", 1), "Verified backup series s1: 1 file");
        assert_eq!(
            verify_message("s1", 4),
            "Verified backup series s1: 4 files"
        );
    }
}
