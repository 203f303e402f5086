//! The backup part of `/admin` driven with `oneshot`, through the gateway's real gRPC client,
//! against `FakeWorker`: a stand-in for the backup worker (`backup.Backup` on 127.0.0.1:0) that
//! records every request with its `accessjwt` and answers canned replies. The worker itself
//! (tasks, storage, restores) has its own end-to-end tests; these check what the gateway asks
//! it and how the answers come out in Dgraph's GraphQL shapes.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use lodestar_gateway::{GatewayState, GrpcCluster, Services, router};
use lodestar_proto::backup::backup_server::{Backup, BackupServer};
use lodestar_proto::backup::{
    BackupRequest, Credentials, KeySource, ListBackupsRequest, ListBackupsResponse,
    ListSchedulesRequest, ListSchedulesResponse, RestoreRequest, ScheduleRun, ScheduleStatus,
    TaskRef, TaskStatus, VerifiedFile, VerifyRequest, VerifyResponse,
};
use lodestar_runtime::Shutdown;
use lodestar_runtime::serve::{self, NodeHandle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tonic::Status;
use tower::ServiceExt;

/// One request the worker received.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    StartBackup(BackupRequest),
    StartRestore(RestoreRequest),
    GetTask(String),
    ListBackups(ListBackupsRequest),
    Verify(VerifyRequest),
    ListSchedules,
}

/// What the fake worker answers.
struct Replies {
    backup: Result<TaskRef, Status>,
    restore: Result<TaskRef, Status>,
    /// By id as asked; an id not here is NotFound, as the worker answers it.
    tasks: HashMap<String, Result<TaskStatus, Status>>,
    manifests: Result<Vec<u8>, Status>,
    verify: Result<VerifyResponse, Status>,
    schedules: Result<ListSchedulesResponse, Status>,
}

impl Default for Replies {
    fn default() -> Self {
        Replies {
            backup: Ok(TaskRef { id: "0x1".into() }),
            restore: Ok(TaskRef { id: "1".into() }),
            tasks: HashMap::new(),
            manifests: Ok(br#"{"Manifests":[]}"#.to_vec()),
            verify: Ok(VerifyResponse::default()),
            schedules: Ok(ListSchedulesResponse::default()),
        }
    }
}

/// A call with the `accessjwt` it carried.
type Seen = (Call, Option<String>);

#[derive(Clone, Default)]
struct FakeWorker {
    calls: Arc<Mutex<Vec<Seen>>>,
    replies: Arc<Mutex<Replies>>,
}

impl FakeWorker {
    fn record<T>(&self, req: &tonic::Request<T>, call: Call) {
        let token = req
            .metadata()
            .get("accessjwt")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.calls.lock().unwrap().push((call, token));
    }

    fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    fn tokens(&self) -> Vec<Option<String>> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    fn replies(&self) -> std::sync::MutexGuard<'_, Replies> {
        self.replies.lock().unwrap()
    }
}

type Reply<T> = Result<tonic::Response<T>, Status>;

#[tonic::async_trait]
impl Backup for FakeWorker {
    async fn start_backup(&self, req: tonic::Request<BackupRequest>) -> Reply<TaskRef> {
        self.record(&req, Call::StartBackup(req.get_ref().clone()));
        self.replies().backup.clone().map(tonic::Response::new)
    }

    async fn start_restore(&self, req: tonic::Request<RestoreRequest>) -> Reply<TaskRef> {
        self.record(&req, Call::StartRestore(req.get_ref().clone()));
        self.replies().restore.clone().map(tonic::Response::new)
    }

    async fn get_task(&self, req: tonic::Request<TaskRef>) -> Reply<TaskStatus> {
        let id = req.get_ref().id.clone();
        self.record(&req, Call::GetTask(id.clone()));
        let reply = self.replies().tasks.get(&id).cloned();
        reply
            .unwrap_or_else(|| Err(Status::not_found(format!("no task with id {id}"))))
            .map(tonic::Response::new)
    }

    async fn list_backups(
        &self,
        req: tonic::Request<ListBackupsRequest>,
    ) -> Reply<ListBackupsResponse> {
        self.record(&req, Call::ListBackups(req.get_ref().clone()));
        self.replies()
            .manifests
            .clone()
            .map(|manifests_json| tonic::Response::new(ListBackupsResponse { manifests_json }))
    }

    async fn verify(&self, req: tonic::Request<VerifyRequest>) -> Reply<VerifyResponse> {
        self.record(&req, Call::Verify(req.get_ref().clone()));
        self.replies().verify.clone().map(tonic::Response::new)
    }

    async fn list_schedules(
        &self,
        req: tonic::Request<ListSchedulesRequest>,
    ) -> Reply<ListSchedulesResponse> {
        self.record(&req, Call::ListSchedules);
        self.replies().schedules.clone().map(tonic::Response::new)
    }
}

struct Harness {
    app: Router,
    worker: FakeWorker,
    _worker_node: NodeHandle,
    shutdown: Shutdown,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// The gateway with `services.backup` at a fresh fake worker; the other services are addresses
/// nothing listens on (these tests never reach them).
async fn harness() -> Harness {
    let worker = FakeWorker::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let worker_node = NodeHandle::new("backup-worker", addr.clone());
    let shutdown = Shutdown::new();
    tokio::spawn(serve::serve_grpc(
        listener,
        tonic::service::Routes::new(BackupServer::new(worker.clone())),
        worker_node.identity.clone(),
        shutdown.clone(),
    ));
    Harness {
        app: gateway(addr),
        worker,
        _worker_node: worker_node,
        shutdown,
    }
}

fn gateway(backup: String) -> Router {
    let services = Services {
        zeros: vec!["127.0.0.1:1".into()],
        alpha: "127.0.0.1:1".into(),
        auth: "127.0.0.1:1".into(),
        backup,
    };
    let node = NodeHandle::new("gateway", "localhost:8080".into());
    router(GatewayState::new(
        Arc::new(GrpcCluster::new(&services.zeros).unwrap()),
        services,
        node.identity.clone(),
    ))
}

async fn graphql_as(app: &Router, token: Option<&str>, query: &str) -> Value {
    let mut req = Request::post("/admin").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        req = req.header("X-Dgraph-AccessToken", token);
    }
    let req = req
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "GraphQL answers travel in a 200"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

async fn graphql(app: &Router, query: &str) -> Value {
    graphql_as(app, None, query).await
}

/// The one error of a failed answer: `(message, extensions.code)`.
fn error_of(body: &Value) -> (String, String) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["message"].as_str().unwrap().to_string(),
        errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn backup_request(destination: &str, force_full: bool) -> Call {
    Call::StartBackup(BackupRequest {
        destination: destination.into(),
        credentials: None,
        force_full,
        requested_by: String::new(),
    })
}

// ---- backup ----

// The doc's backup mutations, verbatim.
const SEED_S3: &str = r#"mutation {
  backup(input: {destination: "s3://s3.us-west-2.amazonaws.com/<bucketname>"}) {
    response {
      message
      code
    }
  }
}"#;

const SEED_MINIO: &str = r#"mutation {
  backup(input: {destination: "minio://127.0.0.1:9000/<bucketname>"}) {
    response {
      message
      code
    }
  }
}"#;

const SEED_MINIO_INSECURE: &str = r#"mutation {
  backup(input: {destination: "minio://127.0.0.1:9000/<bucketname>?secure=false"}) {
    response {
      message
      code
    }
  }
}"#;

const SEED_NFS: &str = r#"mutation {
  backup(input: {destination: "/path/to/local/directory"}) {
    response {
      message
      code
    }
  }
}"#;

const SEED_FORCE_FULL: &str = r#"mutation {
  backup(input: {destination: "/path/to/local/directory", forceFull: true}) {
    response {
      message
      code
    }
  }
}"#;

#[tokio::test]
async fn seed_backup_mutations_queue_backups_with_the_right_fields() {
    let h = harness().await;
    let cases = [
        (
            SEED_S3,
            "0x1",
            backup_request("s3://s3.us-west-2.amazonaws.com/<bucketname>", false),
        ),
        (
            SEED_MINIO,
            "0x2",
            backup_request("minio://127.0.0.1:9000/<bucketname>", false),
        ),
        (
            SEED_MINIO_INSECURE,
            "0x3",
            backup_request("minio://127.0.0.1:9000/<bucketname>?secure=false", false),
        ),
        (
            SEED_NFS,
            "0x4",
            backup_request("/path/to/local/directory", false),
        ),
        (
            SEED_FORCE_FULL,
            "0x1a",
            backup_request("/path/to/local/directory", true),
        ),
    ];
    let mut expected = Vec::new();
    for (mutation, task_id, call) in cases {
        h.worker.replies().backup = Ok(TaskRef { id: task_id.into() });
        let body = graphql(&h.app, mutation).await;
        assert_eq!(
            body,
            json!({"data": {"backup": {"response": {
                "message": format!("Backup queued with ID {task_id}"),
                "code": "Success"
            }}}}),
            "{mutation}"
        );
        expected.push(call);
        assert_eq!(h.worker.calls(), expected);
    }
}

#[tokio::test]
async fn backup_answers_the_task_id_and_passes_credentials() {
    let h = harness().await;
    h.worker.replies().backup = Ok(TaskRef {
        id: "0x100000001".into(),
    });
    let body = graphql(
        &h.app,
        r#"mutation { backup(input: {destination: "s3://s3.us-west-2.amazonaws.com/b/dir",
            accessKey: "AK", secretKey: "SK", sessionToken: "ST", anonymous: false}) {
            response { code message } taskId } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["backup"],
        json!({"response": {"code": "Success", "message": "Backup queued with ID 0x100000001"},
               "taskId": "0x100000001"})
    );
    let anonymous = graphql(
        &h.app,
        r#"mutation { backup(input: {destination: "minio://m:9000/b", anonymous: true}) { taskId } }"#,
    )
    .await;
    assert_eq!(anonymous["data"]["backup"]["taskId"], "0x100000001");
    assert_eq!(
        h.worker.calls(),
        vec![
            Call::StartBackup(BackupRequest {
                destination: "s3://s3.us-west-2.amazonaws.com/b/dir".into(),
                credentials: Some(Credentials {
                    access_key: "AK".into(),
                    secret_key: "SK".into(),
                    session_token: "ST".into(),
                    anonymous: false,
                }),
                force_full: false,
                requested_by: String::new(),
            }),
            Call::StartBackup(BackupRequest {
                destination: "minio://m:9000/b".into(),
                credentials: Some(Credentials {
                    anonymous: true,
                    ..Default::default()
                }),
                force_full: false,
                requested_by: String::new(),
            }),
        ]
    );
}

#[tokio::test]
async fn backup_without_destination_is_refused_before_the_worker() {
    let h = harness().await;
    for destination in ["", "  "] {
        let body = graphql(
            &h.app,
            &format!(
                r#"mutation {{ backup(input: {{destination: "{destination}"}}) {{ response {{ code }} }} }}"#
            ),
        )
        .await;
        assert_eq!(body["data"]["backup"], Value::Null, "{body}");
        assert_eq!(
            error_of(&body),
            (
                "you must specify a 'destination' value".to_string(),
                "InvalidArgument".to_string()
            )
        );
    }
    assert_eq!(h.worker.calls(), vec![]);
}

#[tokio::test]
async fn a_worker_error_keeps_its_message_and_code() {
    let h = harness().await;
    h.worker.replies().backup = Err(Status::permission_denied(
        "only guardians of the galaxy may back up",
    ));
    let body = graphql(
        &h.app,
        r#"mutation { backup(input: {destination: "/backups"}) { taskId } }"#,
    )
    .await;
    assert_eq!(body["data"]["backup"], Value::Null);
    assert_eq!(body["errors"][0]["path"], json!(["backup"]));
    assert_eq!(
        error_of(&body),
        (
            "only guardians of the galaxy may back up".to_string(),
            "PermissionDenied".to_string()
        )
    );
    h.worker.replies().backup = Err(Status::invalid_argument(
        "Unable to handle url: gs://bucket",
    ));
    let body = graphql(
        &h.app,
        r#"mutation { backup(input: {destination: "gs://bucket"}) { taskId } }"#,
    )
    .await;
    assert_eq!(error_of(&body).1, "InvalidArgument");
}

#[tokio::test]
async fn an_unreachable_worker_is_unavailable() {
    // Port 1 on localhost refuses connections.
    let app = gateway("127.0.0.1:1".into());
    let body = graphql(
        &app,
        r#"mutation { backup(input: {destination: "/backups"}) { taskId } }"#,
    )
    .await;
    assert_eq!(body["data"]["backup"], Value::Null);
    assert_eq!(error_of(&body).1, "Unavailable");
}

// ---- restore ----

/// The doc's restore mutation with its one typo mended: it closes the input object with `)`
/// instead of `}` (see the next test).
const SEED_RESTORE: &str = r#"mutation restore() {
	restore(input: {location: "your-backup-location", backupId: "your-backup-id"}) {
		code
		message
		restoreId
	}
}"#;

/// The doc's restore mutation exactly as printed.
const SEED_RESTORE_AS_PRINTED: &str = r#"mutation restore() {
	restore(input: {location: "your-backup-location", backupId: "your-backup-id") {
		code
		message
		restoreId
	}
}"#;

/// The doc's status query, verbatim (the empty `()` is valid for our parser as for Dgraph's).
const SEED_RESTORE_STATUS: &str = r#"query status() {
	restoreStatus(restoreId: 1) {
		status
		errors
	}
}"#;

fn task(id: &str, kind: &str, status: &str, errors: &[&str]) -> TaskStatus {
    TaskStatus {
        id: id.into(),
        kind: kind.into(),
        status: status.into(),
        last_updated: 1_621_245_401,
        errors: errors.iter().map(|e| e.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn seed_restore_starts_a_restore_and_restore_status_follows_it() {
    let h = harness().await;
    let body = graphql(&h.app, SEED_RESTORE).await;
    assert_eq!(
        body,
        json!({"data": {"restore": {
            "code": "Success", "message": "Restore operation started.", "restoreId": 1
        }}})
    );
    assert_eq!(
        h.worker.calls(),
        vec![Call::StartRestore(RestoreRequest {
            location: "your-backup-location".into(),
            backup_id: "your-backup-id".into(),
            backup_num: 0,
            credentials: None,
            key: None,
            requested_by: String::new(),
        })]
    );

    let cases: [(Option<TaskStatus>, Value); 6] = [
        (
            Some(task("1", "Restore", "Queued", &[])),
            json!({"status": "IN_PROGRESS", "errors": []}),
        ),
        (
            Some(task("1", "Restore", "Running", &[])),
            json!({"status": "IN_PROGRESS", "errors": []}),
        ),
        (
            Some(task("1", "Restore", "Success", &[])),
            json!({"status": "OK", "errors": []}),
        ),
        (
            Some(task(
                "1",
                "Restore",
                "Failed",
                &["reading r20-g1.backup: unexpected end of file"],
            )),
            json!({"status": "ERR", "errors": ["reading r20-g1.backup: unexpected end of file"]}),
        ),
        // A backup's id names no restore.
        (
            Some(task("0x1", "Backup", "Success", &[])),
            json!({"status": "UNKNOWN", "errors": []}),
        ),
        // The worker has no such task: NotFound.
        (None, json!({"status": "UNKNOWN", "errors": []})),
    ];
    for (reply, expected) in cases {
        {
            let mut replies = h.worker.replies();
            replies.tasks.clear();
            if let Some(t) = reply {
                replies.tasks.insert("1".into(), Ok(t));
            }
        }
        let body = graphql(&h.app, SEED_RESTORE_STATUS).await;
        assert_eq!(body, json!({"data": {"restoreStatus": expected}}));
    }
    assert_eq!(
        h.worker.calls()[1..],
        vec![Call::GetTask("1".into()); 6][..]
    );
}

#[tokio::test]
async fn seed_restore_typo_is_a_syntax_error_as_in_dgraph() {
    // Dgraph's parser rejects `{… )` too ("Expected Name, found )"): nothing reaches the worker.
    let h = harness().await;
    let body = graphql(&h.app, SEED_RESTORE_AS_PRINTED).await;
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    assert_eq!(h.worker.calls(), vec![]);
}

#[tokio::test]
async fn restore_passes_every_option_to_the_worker() {
    let h = harness().await;
    h.worker.replies().restore = Ok(TaskRef { id: "7".into() });
    let body = graphql(
        &h.app,
        r#"mutation { restore(input: {location: "minio://127.0.0.1:9000/b?secure=false",
            backupId: "quirky_kapitsa4", backupNum: 3, incrementalFrom: 0, isPartial: false,
            encryptionKeyFile: "/keys/enc", vaultAddr: "http://vault:8200",
            vaultRoleIDFile: "/vault/role", vaultSecretIDFile: "/vault/secret",
            vaultPath: "secret/data/dgraph", vaultField: "enc_key", vaultFormat: "raw",
            accessKey: "AK", secretKey: "SK", sessionToken: "ST", anonymous: false}) {
            code message restoreId } }"#,
    )
    .await;
    assert_eq!(
        body["data"]["restore"],
        json!({"code": "Success", "message": "Restore operation started.", "restoreId": 7})
    );
    assert_eq!(
        h.worker.calls(),
        vec![Call::StartRestore(RestoreRequest {
            location: "minio://127.0.0.1:9000/b?secure=false".into(),
            backup_id: "quirky_kapitsa4".into(),
            backup_num: 3,
            credentials: Some(Credentials {
                access_key: "AK".into(),
                secret_key: "SK".into(),
                session_token: "ST".into(),
                anonymous: false,
            }),
            key: Some(KeySource {
                key_file: "/keys/enc".into(),
                vault_addr: "http://vault:8200".into(),
                vault_role_id_file: "/vault/role".into(),
                vault_secret_id_file: "/vault/secret".into(),
                vault_path: "secret/data/dgraph".into(),
                vault_field: "enc_key".into(),
                vault_format: "raw".into(),
            }),
            requested_by: String::new(),
        })]
    );
}

#[tokio::test]
async fn a_refused_restore_is_dgraphs_resolving_restore_failed() {
    let h = harness().await;
    h.worker.replies().restore = Err(Status::failed_precondition(
        "another restore operation is already running. Please retry later.",
    ));
    let body = graphql(&h.app, SEED_RESTORE).await;
    assert_eq!(body["data"]["restore"], Value::Null, "{body}");
    assert_eq!(
        error_of(&body),
        (
            "resolving restore failed: another restore operation is already running. Please retry later."
                .to_string(),
            "FailedPrecondition".to_string()
        )
    );
    h.worker.replies().restore = Err(Status::invalid_argument(
        "backupNum value should be equal or greater than zero",
    ));
    let body = graphql(
        &h.app,
        r#"mutation { restore(input: {location: "/b", backupNum: -1}) { code } }"#,
    )
    .await;
    assert_eq!(
        error_of(&body).0,
        "resolving restore failed: backupNum value should be equal or greater than zero"
    );
    assert!(matches!(
        &h.worker.calls()[1],
        Call::StartRestore(RestoreRequest { backup_num: -1, .. })
    ));
}

#[tokio::test]
async fn restore_refuses_incremental_from_and_is_partial() {
    let h = harness().await;
    for (input, code) in [
        ("incrementalFrom: 3", "Unimplemented"),
        ("incrementalFrom: -2", "InvalidArgument"),
        ("isPartial: true", "Unimplemented"),
    ] {
        let body = graphql(
            &h.app,
            &format!(r#"mutation {{ restore(input: {{location: "/b", {input}}}) {{ code }} }}"#),
        )
        .await;
        assert_eq!(body["data"]["restore"], Value::Null, "{body}");
        let (message, got) = error_of(&body);
        let field = input.split(':').next().unwrap();
        assert!(message.contains(field), "{message}");
        if code == "Unimplemented" {
            assert!(message.contains("not supported"), "{message}");
        }
        assert_eq!(got, code, "{input}");
    }
    assert_eq!(h.worker.calls(), vec![], "refused before the worker");
    // Dgraph treats incrementalFrom 1 as 0: the series from its full backup.
    let body = graphql(
        &h.app,
        r#"mutation { restore(input: {location: "/b", incrementalFrom: 1, isPartial: false}) { code } }"#,
    )
    .await;
    assert_eq!(body["data"]["restore"]["code"], "Success", "{body}");
    assert_eq!(h.worker.calls().len(), 1);
}

#[tokio::test]
async fn restore_status_passes_other_worker_errors_and_skips_negative_ids() {
    let h = harness().await;
    h.worker.replies().tasks.insert(
        "2".into(),
        Err(Status::unauthenticated("no accessJwt available")),
    );
    let body = graphql(&h.app, "{ restoreStatus(restoreId: 2) { status } }").await;
    assert_eq!(body["data"]["restoreStatus"], Value::Null);
    assert_eq!(
        error_of(&body),
        (
            "no accessJwt available".to_string(),
            "Unauthenticated".to_string()
        )
    );
    let body = graphql(&h.app, "{ restoreStatus(restoreId: -1) { status errors } }").await;
    assert_eq!(
        body["data"]["restoreStatus"],
        json!({"status": "UNKNOWN", "errors": []})
    );
    assert_eq!(h.worker.calls(), vec![Call::GetTask("2".into())]);
}

// ---- task ----

const TASK_QUERY: &str = "query($id: String!) { task(input: {id: $id}) { kind status lastUpdated \
    errors bytesWritten groupsDone groupsTotal backupId backupNum } }";

async fn task_query(app: &Router, id: &str) -> Value {
    let req = Request::post("/admin")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "query": TASK_QUERY, "variables": {"id": id} }).to_string(),
        ))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn task_maps_the_workers_task() {
    let h = harness().await;
    {
        let mut replies = h.worker.replies();
        replies.tasks.insert(
            "0x1".into(),
            Ok(TaskStatus {
                id: "0x1".into(),
                kind: "Backup".into(),
                status: "Running".into(),
                last_updated: 1_621_245_401,
                errors: vec![],
                bytes_written: 18_446_744_073_709_551_615,
                groups_done: 1,
                groups_total: 3,
                location: "/backups".into(),
                read_ts: 40,
                backup_id: "quirky_kapitsa4".into(),
                backup_num: 2,
            }),
        );
        replies.tasks.insert(
            "3".into(),
            Ok(task("3", "Restore", "Failed", &["groups differ"])),
        );
        replies
            .tasks
            .insert("0x2".into(), Ok(task("0x2", "Backup", "Queued", &[])));
        replies.tasks.insert(
            "zz".into(),
            Err(Status::invalid_argument("invalid task ID: zz")),
        );
    }
    assert_eq!(
        task_query(&h.app, "0x1").await,
        json!({"data": {"task": {
            "kind": "Backup", "status": "Running", "lastUpdated": "2021-05-17T09:56:41Z",
            "errors": [], "bytesWritten": "18446744073709551615", "groupsDone": 1,
            "groupsTotal": 3, "backupId": "quirky_kapitsa4", "backupNum": "2"
        }}})
    );
    assert_eq!(
        task_query(&h.app, "3").await,
        json!({"data": {"task": {
            "kind": "Restore", "status": "Failed", "lastUpdated": "2021-05-17T09:56:41Z",
            "errors": ["groups differ"], "bytesWritten": "0", "groupsDone": 0,
            "groupsTotal": 0, "backupId": null, "backupNum": null
        }}})
    );
    assert_eq!(
        task_query(&h.app, "0x2").await["data"]["task"]["status"],
        "Queued"
    );
    // No such task: Unknown, as Dgraph answers.
    let unknown = task_query(&h.app, "0x99").await;
    assert!(unknown.get("errors").is_none(), "{unknown}");
    assert_eq!(unknown["data"]["task"]["kind"], "Unknown");
    assert_eq!(unknown["data"]["task"]["status"], "Unknown");
    // A malformed id is the caller's mistake.
    let bad = task_query(&h.app, "zz").await;
    assert_eq!(bad["data"]["task"], Value::Null);
    assert_eq!(
        error_of(&bad),
        (
            "invalid task ID: zz".to_string(),
            "InvalidArgument".to_string()
        )
    );
    let ids: Vec<Call> = ["0x1", "3", "0x2", "0x99", "zz"]
        .into_iter()
        .map(|id| Call::GetTask(id.into()))
        .collect();
    assert_eq!(h.worker.calls(), ids);
}

// ---- listBackups ----

/// A location's manifest.json as Dgraph v23 writes it: a full backup then an incremental one.
const MANIFEST_JSON: &str = r#"{"Manifests":[
  {"type":"full","since":0,"read_ts":12,
   "groups":{"2":["0-age"],"1":["0-name","0-dgraph.type","0-dgraph.drop.op"]},
   "backup_id":"quirky_kapitsa4","backup_num":1,"version":2105,
   "path":"dgraph.20210517.095641.969","encrypted":false,"drop_operations":null,
   "compression":"snappy"},
  {"type":"incremental","since":0,"read_ts":30,
   "groups":{"1":["0-name","0-dgraph.type"],"2":[]},
   "backup_id":"quirky_kapitsa4","backup_num":2,"version":2105,
   "path":"dgraph.20210517.100112.004","encrypted":true,
   "drop_operations":[{"drop_op":2,"drop_value":"0-email"}],"compression":"snappy"}
]}"#;

#[tokio::test]
async fn list_backups_maps_dgraphs_manifest_json() {
    let h = harness().await;
    h.worker.replies().manifests = Ok(MANIFEST_JSON.as_bytes().to_vec());
    let body = graphql(
        &h.app,
        r#"query { listBackups(input: {location: "s3://s3.us-west-2.amazonaws.com/b",
            accessKey: "AK", secretKey: "SK"}) {
            backupId backupNum encrypted path since type
            groups { groupId predicates } } }"#,
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"listBackups": [
            {"backupId": "quirky_kapitsa4", "backupNum": "1", "encrypted": false,
             "path": "dgraph.20210517.095641.969", "since": "0", "type": "full",
             "groups": [
                {"groupId": "1", "predicates": ["0-name", "0-dgraph.type", "0-dgraph.drop.op"]},
                {"groupId": "2", "predicates": ["0-age"]}]},
            {"backupId": "quirky_kapitsa4", "backupNum": "2", "encrypted": true,
             "path": "dgraph.20210517.100112.004", "since": "0", "type": "incremental",
             "groups": [
                {"groupId": "1", "predicates": ["0-name", "0-dgraph.type"]},
                {"groupId": "2", "predicates": []}]}
        ]}})
    );
    assert_eq!(
        h.worker.calls(),
        vec![Call::ListBackups(ListBackupsRequest {
            location: "s3://s3.us-west-2.amazonaws.com/b".into(),
            credentials: Some(Credentials {
                access_key: "AK".into(),
                secret_key: "SK".into(),
                ..Default::default()
            }),
        })]
    );

    h.worker.replies().manifests = Err(Status::not_found(
        "no manifest.json at /nothing: is this a backup location?",
    ));
    let body = graphql(
        &h.app,
        r#"{ listBackups(input: {location: "/nothing"}) { backupId } }"#,
    )
    .await;
    assert_eq!(body["data"]["listBackups"], Value::Null);
    assert_eq!(error_of(&body).1, "NotFound");
}

// ---- verifyBackup ----

#[tokio::test]
async fn verify_backup_reports_the_series() {
    let h = harness().await;
    h.worker.replies().verify = Ok(VerifyResponse {
        backup_id: "quirky_kapitsa4".into(),
        backup_nums: vec![1, 2],
        files: vec![
            VerifiedFile {
                path: "dgraph.20210517.095641.969/r12-g1.backup".into(),
                size: 2048,
                sha256: "ab".repeat(32),
                records: 4,
                keys: 120,
            },
            VerifiedFile {
                path: "dgraph.20210517.100112.004/r30-g1.backup".into(),
                size: 512,
                sha256: "cd".repeat(32),
                records: 1,
                keys: 3,
            },
        ],
    });
    let body = graphql(
        &h.app,
        r#"mutation { verifyBackup(input: {location: "/backups", backupId: "quirky_kapitsa4",
            backupNum: 2, encryptionKeyFile: "/keys/enc"}) {
            response { code message } backupId backupNums
            files { path size sha256 records keys } } }"#,
    )
    .await;
    assert_eq!(
        body,
        json!({"data": {"verifyBackup": {
            "response": {"code": "Success", "message": "Verified backup series quirky_kapitsa4: 2 files"},
            "backupId": "quirky_kapitsa4",
            "backupNums": ["1", "2"],
            "files": [
                {"path": "dgraph.20210517.095641.969/r12-g1.backup", "size": "2048",
                 "sha256": "ab".repeat(32), "records": "4", "keys": "120"},
                {"path": "dgraph.20210517.100112.004/r30-g1.backup", "size": "512",
                 "sha256": "cd".repeat(32), "records": "1", "keys": "3"}]
        }}})
    );
    assert_eq!(
        h.worker.calls(),
        vec![Call::Verify(VerifyRequest {
            location: "/backups".into(),
            backup_id: "quirky_kapitsa4".into(),
            backup_num: 2,
            credentials: None,
            key: Some(KeySource {
                key_file: "/keys/enc".into(),
                ..Default::default()
            }),
        })]
    );

    h.worker.replies().verify = Err(Status::data_loss(
        "dgraph.20210517.100112.004/r30-g1.backup: SHA-256 differs from the manifest",
    ));
    let body = graphql(
        &h.app,
        r#"mutation { verifyBackup(input: {location: "/backups"}) { backupId } }"#,
    )
    .await;
    assert_eq!(body["data"]["verifyBackup"], Value::Null);
    assert_eq!(
        error_of(&body),
        (
            "dgraph.20210517.100112.004/r30-g1.backup: SHA-256 differs from the manifest"
                .to_string(),
            "DataLoss".to_string()
        ),
        "a damaged file keeps its code through the gateway"
    );
}

// ---- backupSchedules ----

#[tokio::test]
async fn backup_schedules_shows_each_schedule_with_its_runs() {
    let h = harness().await;
    h.worker.replies().schedules = Ok(ListSchedulesResponse {
        schedules: vec![
            ScheduleStatus {
                name: "nightly".into(),
                destination: "s3://s3.eu-west-1.amazonaws.com/b/lodestar".into(),
                full: "0 0 * * *".into(),
                incremental: "0 * * * *".into(),
                keep_series: 7,
                keep_days: 0,
                credentials: "files".into(),
                last_run: Some(ScheduleRun {
                    kind: "incremental".into(),
                    status: "Failed".into(),
                    started_at: 1_621_245_401,
                    finished_at: 1_621_245_402,
                    task_id: "0x9".into(),
                    backup_id: String::new(),
                    backup_num: 0,
                    error: "writing the manifest at s3://s3.eu-west-1.amazonaws.com/b/lodestar: timed out".into(),
                    deleted_series: 0,
                }),
                next_full: 1_621_296_000,
                next_incremental: 1_621_249_200,
                last_error: "writing the manifest at s3://s3.eu-west-1.amazonaws.com/b/lodestar: timed out".into(),
                last_error_at: 1_621_245_402,
                last_success: 1_621_241_801,
                last_task_id: "0x9".into(),
                failing: true,
                running: false,
            },
            ScheduleStatus {
                name: "local".into(),
                destination: "/var/backups/lodestar".into(),
                full: "30 2 * * 0".into(),
                credentials: "environment".into(),
                keep_days: 30,
                ..Default::default()
            },
        ],
    });
    let body = graphql(
        &h.app,
        r#"{ backupSchedules { name destination full incremental keepSeries keepDays credentials
            lastRun { kind status startedAt finishedAt taskId backupId backupNum error deletedSeries }
            nextFull nextIncremental lastError lastErrorAt lastSuccess lastTaskId failing running } }"#,
    )
    .await;
    let error = "writing the manifest at s3://s3.eu-west-1.amazonaws.com/b/lodestar: timed out";
    assert_eq!(
        body,
        json!({"data": {"backupSchedules": [
            {"name": "nightly", "destination": "s3://s3.eu-west-1.amazonaws.com/b/lodestar",
             "full": "0 0 * * *", "incremental": "0 * * * *", "keepSeries": 7, "keepDays": null,
             "credentials": "files",
             "lastRun": {"kind": "incremental", "status": "Failed",
                         "startedAt": "2021-05-17T09:56:41Z", "finishedAt": "2021-05-17T09:56:42Z",
                         "taskId": "0x9", "backupId": null, "backupNum": null, "error": error,
                         "deletedSeries": 0},
             "nextFull": "2021-05-18T00:00:00Z", "nextIncremental": "2021-05-17T11:00:00Z",
             "lastError": error, "lastErrorAt": "2021-05-17T09:56:42Z",
             "lastSuccess": "2021-05-17T08:56:41Z", "lastTaskId": "0x9",
             "failing": true, "running": false},
            {"name": "local", "destination": "/var/backups/lodestar", "full": "30 2 * * 0",
             "incremental": null, "keepSeries": null, "keepDays": 30,
             "credentials": "environment", "lastRun": null, "nextFull": null,
             "nextIncremental": null, "lastError": null, "lastErrorAt": null,
             "lastSuccess": null, "lastTaskId": null, "failing": false, "running": false}
        ]}})
    );
    assert_eq!(h.worker.calls(), vec![Call::ListSchedules]);

    // A caller who is no guardian is refused by the worker; the code comes through.
    h.worker.replies().schedules = Err(Status::permission_denied(
        "only guardians are allowed to run backup operations",
    ));
    let body = graphql(&h.app, "{ backupSchedules { name } }").await;
    assert_eq!(body["data"]["backupSchedules"], Value::Null);
    assert_eq!(error_of(&body).1, "PermissionDenied");
}

// ---- the caller's token ----

#[tokio::test]
async fn every_operation_forwards_the_access_token_as_accessjwt() {
    let h = harness().await;
    h.worker
        .replies()
        .tasks
        .insert("1".into(), Ok(task("1", "Restore", "Running", &[])));
    let operations = [
        r#"mutation { backup(input: {destination: "/b"}) { taskId } }"#,
        r#"mutation { restore(input: {location: "/b"}) { restoreId } }"#,
        r#"mutation { verifyBackup(input: {location: "/b"}) { backupId } }"#,
        "{ restoreStatus(restoreId: 1) { status } }",
        r#"{ task(input: {id: "1"}) { status } }"#,
        r#"{ listBackups(input: {location: "/b"}) { backupId } }"#,
        "{ backupSchedules { name } }",
    ];
    for op in operations {
        let body = graphql_as(&h.app, Some("the.access.jwt"), op).await;
        assert!(body.get("errors").is_none(), "{op}: {body}");
    }
    assert_eq!(
        h.worker.tokens(),
        vec![Some("the.access.jwt".to_string()); 7]
    );
    // Without the header, nothing is sent: the worker decides what an anonymous caller may do.
    graphql(&h.app, operations[0]).await;
    assert_eq!(h.worker.tokens().last(), Some(&None));
}

// ---- the schema ----

fn type_ref(t: &Value) -> String {
    match t["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_ref(&t["ofType"])),
        "LIST" => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap().to_string(),
    }
}

/// `name:Type` for each field (or input field) of a type, or each value of an enum.
async fn shape(app: &Router, type_name: &str) -> String {
    const REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";
    let query = format!(
        "{{ __type(name: \"{type_name}\") {{ fields {{ name type {{ {REF} }} }} \
         inputFields {{ name type {{ {REF} }} }} enumValues {{ name }} }} }}"
    );
    let body = graphql(app, &query).await;
    let t = &body["data"]["__type"];
    if let Some(values) = t["enumValues"].as_array() {
        return values
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
    }
    let fields = t["fields"]
        .as_array()
        .or(t["inputFields"].as_array())
        .unwrap_or_else(|| panic!("no type {type_name}: {body}"));
    fields
        .iter()
        .map(|f| format!("{}:{}", f["name"].as_str().unwrap(), type_ref(&f["type"])))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn schema_has_dgraphs_backup_names_and_shapes() {
    let h = harness().await;
    let cases = [
        (
            "BackupInput",
            "destination:String! accessKey:String secretKey:String sessionToken:String \
             anonymous:Boolean forceFull:Boolean",
        ),
        ("BackupPayload", "response:Response taskId:String"),
        (
            "RestoreInput",
            "location:String! backupId:String backupNum:Int incrementalFrom:Int \
             isPartial:Boolean encryptionKeyFile:String vaultAddr:String \
             vaultRoleIDFile:String vaultSecretIDFile:String vaultPath:String \
             vaultField:String vaultFormat:String accessKey:String secretKey:String \
             sessionToken:String anonymous:Boolean",
        ),
        ("RestorePayload", "code:String message:String restoreId:Int"),
        ("RestoreStatus", "status:String! errors:[String]"),
        ("TaskInput", "id:String!"),
        (
            "TaskPayload",
            "kind:TaskKind status:TaskStatus lastUpdated:DateTime errors:[String] \
             bytesWritten:UInt64 groupsDone:Int groupsTotal:Int backupId:String \
             backupNum:UInt64",
        ),
        ("TaskStatus", "Queued Running Failed Success Unknown"),
        ("TaskKind", "Backup Export Restore Unknown"),
        (
            "ListBackupsInput",
            "location:String! accessKey:String secretKey:String sessionToken:String \
             anonymous:Boolean",
        ),
        (
            "Manifest",
            "backupId:String backupNum:UInt64 encrypted:Boolean groups:[BackupGroup] \
             path:String since:UInt64 type:String",
        ),
        ("BackupGroup", "groupId:UInt64 predicates:[String]"),
        (
            "VerifyBackupInput",
            "location:String! backupId:String backupNum:Int encryptionKeyFile:String \
             vaultAddr:String vaultRoleIDFile:String vaultSecretIDFile:String \
             vaultPath:String vaultField:String vaultFormat:String accessKey:String \
             secretKey:String sessionToken:String anonymous:Boolean",
        ),
        (
            "VerifyBackupPayload",
            "response:Response backupId:String backupNums:[UInt64] files:[VerifiedFile]",
        ),
        (
            "VerifiedFile",
            "path:String size:UInt64 sha256:String records:UInt64 keys:UInt64",
        ),
        (
            "BackupSchedule",
            "name:String destination:String full:String incremental:String keepSeries:Int \
             keepDays:Int credentials:String lastRun:BackupScheduleRun nextFull:DateTime \
             nextIncremental:DateTime lastError:String lastErrorAt:DateTime \
             lastSuccess:DateTime lastTaskId:String failing:Boolean running:Boolean",
        ),
        (
            "BackupScheduleRun",
            "kind:String status:TaskStatus startedAt:DateTime finishedAt:DateTime \
             taskId:String backupId:String backupNum:UInt64 error:String deletedSeries:Int",
        ),
    ];
    for (type_name, expected) in cases {
        let expected = expected.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(shape(&h.app, type_name).await, expected, "{type_name}");
    }
    // The operations and their arguments.
    let body = graphql(
        &h.app,
        "{ q: __type(name: \"Query\") { fields { name args { name type { kind name ofType { kind name } } } type { kind name ofType { kind name } } } } \
           m: __type(name: \"Mutation\") { fields { name args { name type { kind name ofType { kind name } } } type { kind name ofType { kind name } } } } }",
    )
    .await;
    let signature = |root: &str, name: &str| -> String {
        let field = body["data"][root]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {root}.{name}: {body}"))
            .clone();
        let args: Vec<String> = field["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}: {}", a["name"].as_str().unwrap(), type_ref(&a["type"])))
            .collect();
        format!("{name}({}): {}", args.join(", "), type_ref(&field["type"]))
    };
    assert_eq!(
        signature("m", "backup"),
        "backup(input: BackupInput!): BackupPayload"
    );
    assert_eq!(
        signature("m", "restore"),
        "restore(input: RestoreInput!): RestorePayload"
    );
    assert_eq!(
        signature("m", "verifyBackup"),
        "verifyBackup(input: VerifyBackupInput!): VerifyBackupPayload"
    );
    assert_eq!(
        signature("q", "restoreStatus"),
        "restoreStatus(restoreId: Int!): RestoreStatus"
    );
    assert_eq!(
        signature("q", "task"),
        "task(input: TaskInput!): TaskPayload"
    );
    assert_eq!(
        signature("q", "listBackups"),
        "listBackups(input: ListBackupsInput!): [Manifest]"
    );
    assert_eq!(
        signature("q", "backupSchedules"),
        "backupSchedules(): [BackupSchedule]"
    );
}
