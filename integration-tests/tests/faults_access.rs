//! The fault suite's access half: a cluster with ACL on is scanned the way an outsider would
//! scan it (every gRPC method of every proto on every gRPC port, every HTTP endpoint on every
//! HTTP port, without credentials or with wrong ones), and nothing changes and nothing is read.
//! Also: services that cannot check tokens refuse admin operations, and failed logins from one
//! address cannot lock the real user out from another.

mod common;

use lodestar_integration_tests::{Cluster, ClusterBuilder, Service, http_get, http_post_json};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{LoginRequest, Request};
use prost::Message as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

/// An ACL secret file (40 bytes, mode 600) in `dir`.
fn acl_secret(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("acl_secret");
    std::fs::write(&path, "0123456789abcdef0123456789abcdef01234567").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

async fn acl_cluster(dir: &std::path::Path, builder: ClusterBuilder) -> Cluster {
    builder
        .zeros(1)
        .services(true)
        .acl_secret_file(acl_secret(dir))
        .start()
        .await
        .expect("cluster")
}

/// Logs in through the gateway's `POST /login`; the access token.
async fn login(cluster: &Cluster, user: &str, password: &str) -> Result<String, String> {
    let (status, body) = http_post_json(
        &format!("{}/login", cluster.gateway_http()),
        &serde_json::json!({"userid": user, "password": password}),
    )
    .await;
    match body["data"]["accessJWT"].as_str() {
        Some(t) if status == 200 => Ok(t.to_string()),
        _ => Err(body.to_string()),
    }
}

/// A message with no fields: every request message decodes from it (all fields default).
#[derive(Clone, PartialEq, prost::Message)]
struct Nothing {}

/// Calls `path` (`/package.Service/Method`) with an empty request over a channel that carries
/// only the metadata given: no cluster credential, no access token.
async fn call_raw(addr: &str, path: &str, metadata: &[(&'static str, String)]) -> tonic::Status {
    let channel = lodestar_client::channel(addr).unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(Nothing {});
    for (k, v) in metadata {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    let codec = tonic_prost::ProstCodec::<Nothing, Nothing>::default();
    let path = http::uri::PathAndQuery::try_from(path.to_string()).unwrap();
    match grpc.unary(req, path, codec).await {
        Ok(_) => tonic::Status::ok(""),
        Err(s) => s,
    }
}

/// Every `/package.Service/Method` the suite's protos define.
fn every_method() -> Vec<String> {
    let set = prost_types::FileDescriptorSet::decode(lodestar_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut out = Vec::new();
    for file in set.file {
        let package = file.package().to_string();
        for service in &file.service {
            for method in &service.method {
                out.push(format!("/{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    out
}

/// What an outsider can observe of the cluster's state: zero's `/state` minus the counters
/// that move on their own, the draining flag, and the data.
async fn observable(cluster: &Cluster, token: &str) -> serde_json::Value {
    let mut c = DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap());
    let mut req = tonic::Request::new(Request {
        query: "{ q(func: has(name), orderasc: name) { name secret } }".into(),
        read_only: true,
        ..Default::default()
    });
    req.metadata_mut()
        .insert("accessjwt", token.parse().unwrap());
    let data: serde_json::Value =
        serde_json::from_slice(&c.query(req).await.unwrap().into_inner().json).unwrap();
    let mut zero = lodestar_client::ZeroClient::new(cluster.zero_grpc_addrs())
        .unwrap()
        .state()
        .await
        .unwrap();
    zero.counter = 0;
    zero.max_txn_ts = 0;
    for g in zero.groups.values_mut() {
        for m in g.members.values_mut() {
            // What the alphas report every second (progress, who leads, tablet sizes), not
            // state a caller could change: a report may land between two observations.
            m.last_update = 0;
            m.applied = 0;
            m.behind = 0;
            m.leader = false;
        }
        for t in g.tablets.values_mut() {
            t.space = 0;
        }
    }
    serde_json::json!({
        "data": data,
        "draining": zero.draining,
        "state": lodestar_proto::json::membership_state(&zero),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_without_credentials_changes_nothing_and_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let zero_token = "zero-admin-token-for-the-scan";
    let cluster = acl_cluster(
        dir.path(),
        ClusterBuilder::new().zero_arg("--security", format!("token={zero_token}")),
    )
    .await;
    let groot = login(&cluster, "groot", "password").await.unwrap();
    let mut c = DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap());
    let mut req = tonic::Request::new(common::backups::set_request(
        "_:a <name> \"Ann\" .\n_:a <secret> \"s3cr3t-value\" .",
        true,
    ));
    req.metadata_mut()
        .insert("accessjwt", groot.parse().unwrap());
    c.query(req).await.unwrap();
    let before = observable(&cluster, &groot).await;

    // gRPC: every method of every proto on every gRPC port.
    let mut ports: Vec<String> = cluster
        .procs()
        .filter_map(|p| p.grpc_port.map(|_| p.grpc_addr()))
        .collect();
    ports.push(cluster.alpha().internal_addr());
    let mut probed = 0;
    for addr in &ports {
        for method in every_method() {
            for metadata in [vec![], vec![("x-lodestar-cluster", "00".repeat(32))]] {
                let status = call_raw(addr, &method, &metadata).await;
                probed += 1;
                if lodestar_runtime::cluster::is_public(&method) {
                    // The client API needs a token (ACL); other services' ports do not serve it.
                    let allowed = [
                        tonic::Code::Unauthenticated,
                        tonic::Code::Unimplemented,
                        tonic::Code::Ok,
                        tonic::Code::InvalidArgument,
                        tonic::Code::PermissionDenied,
                    ];
                    assert!(
                        allowed.contains(&status.code()),
                        "{addr}{method}: {status:?}"
                    );
                    if method.starts_with("/api.Dgraph/")
                        && ["Query", "Alter", "CommitOrAbort"]
                            .iter()
                            .any(|m| method.ends_with(m))
                        && *addr == cluster.alpha_grpc()
                    {
                        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{method}");
                    }
                } else {
                    assert_eq!(
                        status.code(),
                        tonic::Code::Unauthenticated,
                        "{addr}{method} answered an outsider: {status:?}"
                    );
                }
            }
        }
    }
    assert!(probed > 200, "{probed}");

    // HTTP: every endpoint on every HTTP port, without credentials.
    let mutations = [
        "mutation { draining(enable: true) { response { code message } } }",
        r#"mutation { backup(input: {destination: "/tmp/lodestar-scan"}) { response { code } taskId } }"#,
        r#"mutation { restore(input: {location: "/tmp/lodestar-scan"}) { code message } }"#,
        r#"mutation { export(input: {format: "rdf", destination: "/tmp/lodestar-scan"}) { taskId } }"#,
        r#"mutation { enterpriseLicense(input: {license: "x"}) { response { code } } }"#,
        r#"mutation { moveTablet(input: {tablet: "name", groupId: 1}) { response { code } } }"#,
        r#"mutation { addUser(input: [{name: "eve", password: "evepassword"}]) { user { name } } }"#,
        r#"mutation { deleteUser(filter: {name: {eq: "groot"}}) { msg } }"#,
        "query { state { cid } }",
        r#"query { listBackups(input: {location: "/tmp"}) { backupId } }"#,
        "query { queryUser { name } }",
    ];
    for m in mutations {
        let (_, body) = http_post_json(
            &format!("{}/admin", cluster.gateway_http()),
            &serde_json::json!({ "query": m }),
        )
        .await;
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{m}: {body}"
        );
    }
    // Dgraph's HTTP API for DQL on the gateway: the alphas refuse every call without a token.
    for (path, content_type, body) in [
        ("/alter", None, r#"{"drop_all": true}"#),
        ("/alter", None, "eve: string ."),
        (
            "/mutate?commitNow=true",
            Some("application/rdf"),
            r#"{ set { _:e <dgraph.xid> "eve" . } }"#,
        ),
        (
            "/query",
            Some("application/dql"),
            "{ q(func: has(dgraph.xid)) { dgraph.xid } }",
        ),
        ("/commit?startTs=1", None, "[]"),
        ("/commit?startTs=1&abort=true", None, ""),
    ] {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", cluster.gateway_http()))
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
        assert!(body["data"].get("q").is_none(), "{path}: {body}");
    }
    let (status, _) = http_get(&format!("{}/state", cluster.gateway_http())).await;
    assert_eq!(status, 403);
    let zero_http = cluster.zero_http(0);
    for path in [
        "/assign?what=uids&num=5",
        "/removeNode?id=1&group=1",
        "/moveTablet?tablet=name&group=1",
        "/state",
    ] {
        let (status, body) = http_get(&format!("{zero_http}{path}")).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, _) = lodestar_integration_tests::http_post(
        &format!("{zero_http}/enterpriseLicense"),
        "not a license",
    )
    .await;
    assert_eq!(status, 403);
    for p in cluster.procs() {
        for path in [
            "/admin",
            "/assign?what=uids&num=5",
            "/removeNode?id=1&group=1",
        ] {
            if p.service == Service::Gateway || p.service == Service::Zero {
                continue;
            }
            let (status, _) = http_get(&format!("{}{path}", p.http_url())).await;
            assert_eq!(status, 404, "{}{path}", p.name);
        }
    }
    // With zero's token its admin endpoints answer, and its state reads back.
    let resp = reqwest::Client::new()
        .get(format!("{zero_http}/state"))
        .header("X-Dgraph-AuthToken", zero_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    assert_eq!(observable(&cluster, &groot).await, before);
    assert!(login(&cluster, "groot", "password").await.is_ok());
    assert!(login(&cluster, "eve", "evepassword").await.is_err());
    assert!(!std::path::Path::new("/tmp/lodestar-scan").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_that_cannot_check_tokens_refuse_admin_operations_in_an_acl_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    // The backup worker and the gateway restarted without the ACL secret.
    for name in ["backup-worker", "gateway"] {
        let p = cluster.proc_mut(name).unwrap();
        let at = p
            .args
            .iter()
            .position(|a| a == "--acl_secret_file")
            .unwrap();
        p.args.drain(at..at + 2);
        p.restart().await.unwrap();
    }
    let backups = dir.path().join("backups");
    let mut b = common::backups::backup_client(&cluster);
    let err = b
        .start_backup(common::backups::to(backups.to_str().unwrap(), false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("ACL is on in this cluster"),
        "{err:?}"
    );
    assert!(!backups.exists());
    let (_, body) = http_post_json(
        &format!("{}/admin", cluster.gateway_http()),
        &serde_json::json!({"query": "mutation { draining(enable: true) { response { code } } }"}),
    )
    .await;
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("ACL is on in this cluster"), "{body}");
    let (status, _) = http_get(&format!("{}/state", cluster.gateway_http())).await;
    assert_eq!(status, 412);
    let state = lodestar_client::ZeroClient::new(cluster.zero_grpc_addrs())
        .unwrap()
        .state()
        .await
        .unwrap();
    assert!(!state.draining);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_drains_and_undrains_the_cluster_through_admin() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let groot = login(&cluster, "groot", "password").await.unwrap();
    let admin = |q: &'static str, token: String| {
        let url = format!("{}/admin", cluster.gateway_http());
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("X-Dgraph-AccessToken", token)
                .json(&serde_json::json!({ "query": q }))
                .send()
                .await
                .unwrap();
            resp.json::<serde_json::Value>().await.unwrap()
        }
    };
    let on = admin(
        "mutation { draining(enable: true) { response { code message } } }",
        groot.clone(),
    )
    .await;
    assert_eq!(
        on["data"]["draining"]["response"]["message"], "draining mode has been set to true",
        "{on}"
    );
    let mut c = DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap());
    let query = || {
        let mut req = tonic::Request::new(Request {
            query: "{ q(func: has(name)) { uid } }".into(),
            ..Default::default()
        });
        req.metadata_mut()
            .insert("accessjwt", groot.parse().unwrap());
        req
    };
    // The alpha learns of it at its next look at zero (every 500 ms).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let err = loop {
        match c.query(query()).await {
            Err(e) => break e,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(_) => panic!("the alpha never started draining"),
        }
    };
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("draining(enable: false)"), "{err:?}");
    let off = admin(
        "mutation { draining(enable: false) { response { code message } } }",
        groot.clone(),
    )
    .await;
    assert_eq!(
        off["data"]["draining"]["response"]["code"], "Success",
        "{off}"
    );
    c.query(query()).await.expect("serving again at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_one_address_do_not_lock_groot_out_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let url = format!("{}/login", cluster.gateway_http());
    // The attacker comes from 127.0.0.2 (another loopback address of this machine).
    let attacker = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .no_proxy()
        .build()
        .unwrap();
    let mut locked = false;
    for _ in 0..30 {
        let resp = attacker
            .post(&url)
            .json(&serde_json::json!({"userid": "groot", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        let body = resp.text().await.unwrap();
        locked |= body.contains("too many failed logins");
    }
    assert!(locked, "the attacker's address was never throttled");
    // groot, from the usual address, gets in (the per-user part of the lock is at most 2 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match login(&cluster, "groot", "password").await {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "groot is locked out: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // A direct caller of auth cannot pass for another address: it has no cluster credential.
    let auth = cluster.auth.as_ref().unwrap().grpc_addr();
    let err = lodestar_proto::auth::auth_client::AuthClient::new(
        lodestar_client::channel(&auth).unwrap(),
    )
    .login(lodestar_proto::auth::LoginRequest {
        userid: "groot".into(),
        password: "wrong".into(),
        client_addr: "10.9.9.9".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // And the alpha's own Login, called from here, still works for groot.
    let mut c = DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap());
    c.login(LoginRequest {
        userid: "groot".into(),
        password: "password".into(),
        ..Default::default()
    })
    .await
    .expect("groot logs in on the alpha");
}
