//! Clients, writes and task polling shared by the backup and restore end-to-end tests.

use lodestar_integration_tests::Cluster;
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request};
use lodestar_proto::backup::backup_client::BackupClient;
use lodestar_proto::backup::{BackupRequest, TaskRef, TaskStatus};
use std::time::Duration;
use tonic::transport::Channel;

/// How often a task is polled, and how long it may take before the test gives up.
const POLL: Duration = Duration::from_millis(25);
const TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// A GraphQL request to the gateway's `/admin`, which must answer 200.
pub async fn admin(cluster: &Cluster, query: &str) -> serde_json::Value {
    let (status, v) = lodestar_integration_tests::http_post_json(
        &format!("{}/admin", cluster.gateway_http()),
        &serde_json::json!({ "query": query }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// `/admin` through the gateway with `token` in `X-Dgraph-AccessToken`: the JSON answer,
/// whatever the status.
pub async fn admin_as(cluster: &Cluster, token: &str, query: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}/admin", cluster.gateway_http()))
        .header("X-Dgraph-AccessToken", token)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// groot's access token, from the alpha's `Login`.
pub async fn groot_token(cluster: &Cluster) -> String {
    let resp = dgraph(cluster)
        .await
        .login(lodestar_proto::api::LoginRequest {
            userid: "groot".into(),
            password: "password".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    <lodestar_proto::api::Jwt as prost::Message>::decode(resp.json.as_slice())
        .unwrap()
        .access_jwt
}

/// A client of the cluster's backup worker.
pub fn backup_client(cluster: &Cluster) -> BackupClient<lodestar_client::TracedChannel> {
    let addr = cluster.backup.as_ref().unwrap().grpc_addr();
    BackupClient::new(lodestar_client::traced_channel(&addr).unwrap())
}

/// A Dgraph client of the cluster's alpha.
pub async fn dgraph(cluster: &Cluster) -> DgraphClient<Channel> {
    DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap())
}

/// Applies schema text.
pub async fn alter(c: &mut DgraphClient<Channel>, schema: &str) {
    c.alter(Operation {
        schema: schema.into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Sets `set` and deletes `del` (N-Quads) in one committed mutation.
pub async fn mutate(c: &mut DgraphClient<Channel>, set: &str, del: &str) {
    c.query(Request {
        mutations: vec![Mutation {
            set_nquads: set.as_bytes().to_vec(),
            del_nquads: del.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// A read-only query's JSON result at `start_ts` (0: zero's newest read-only timestamp), as
/// `txn(read_only=True)` sends it.
pub async fn read_only<T>(c: &mut DgraphClient<T>, q: &str, start_ts: u64) -> serde_json::Value
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let resp = c
        .query(Request {
            query: q.to_string(),
            start_ts,
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    serde_json::from_slice(&resp.json).unwrap()
}

/// A request that sets `rdf` (N-Quads), committed at once or left open.
pub fn set_request(rdf: &str, commit_now: bool) -> Request {
    Request {
        mutations: vec![Mutation {
            set_nquads: rdf.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now,
        ..Default::default()
    }
}

/// Sets `rdf` (N-Quads) in one committed mutation.
pub async fn set(c: &mut DgraphClient<Channel>, rdf: &str) {
    mutate(c, rdf, "").await;
}

/// A backup request to `destination`, with no credentials.
pub fn to(destination: &str, force_full: bool) -> BackupRequest {
    BackupRequest {
        destination: destination.to_string(),
        force_full,
        ..Default::default()
    }
}

/// Starts a backup and returns its task id.
pub async fn start_backup(
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    request: BackupRequest,
) -> String {
    b.start_backup(request).await.unwrap().into_inner().id
}

/// Waits for a task to end, as "Success" or "Failed"; panics if it has not within a minute.
pub async fn wait_task(
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    id: &str,
) -> TaskStatus {
    for _ in 0..TASK_TIMEOUT.as_millis() / POLL.as_millis() {
        let t = b
            .get_task(TaskRef { id: id.to_string() })
            .await
            .unwrap()
            .into_inner();
        if t.status == "Success" || t.status == "Failed" {
            return t;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("task {id} did not finish in {} s", TASK_TIMEOUT.as_secs());
}

/// Waits for a task to end; panics with its errors unless it succeeded.
pub async fn finished(
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    id: &str,
) -> TaskStatus {
    let t = wait_task(b, id).await;
    if t.status != "Success" {
        panic!("task {id} failed: {:?} ({t:?})", t.errors);
    }
    t
}

/// Starts a backup and waits for it; panics with its errors unless it succeeded.
pub async fn run_backup(
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    request: BackupRequest,
) -> TaskStatus {
    let id = start_backup(b, request).await;
    finished(b, &id).await
}

/// The key the backup worker encrypts with when the tests run on encrypted clusters
/// (`LODESTAR_TEST_ENCRYPTION=1`), for reading backup files back; `None` otherwise.
pub fn worker_key() -> Option<lodestar_crypto::EncryptionKey> {
    lodestar_integration_tests::test_encryption().then(|| {
        lodestar_crypto::EncryptionKey::from_bytes(
            &lodestar_integration_tests::test_encryption_key(),
        )
        .expect("32 bytes")
    })
}

/// What `openssl enc -d -aes-<bits>-ctr` (the IV taken from the file's first 16 bytes) then
/// `gunzip` make of a file written encrypted under `key`: the tools users decrypt with.
pub fn openssl_gunzip(path: &std::path::Path, key: &[u8]) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    let script = format!(
        "tail -c +17 '{}' | openssl enc -d -aes-{}-ctr -K {} -iv {} | gunzip",
        path.display(),
        key.len() * 8,
        hex::encode(key),
        hex::encode(&raw[..16])
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
