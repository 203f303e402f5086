//! The whole suite as separate processes: every service is healthy over gRPC and HTTP, serves
//! metrics, says what needs a flag it was not given, and stops cleanly on SIGTERM.

mod common;

use common::json;
use lodestar_integration_tests::{ClusterBuilder, Service, http_get, http_post_json};
use std::time::Duration;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_services_serve_and_stop_cleanly() {
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster");

    // gRPC health on every gRPC port.
    let grpc: Vec<(String, String)> = cluster
        .procs()
        .filter(|p| p.grpc_port.is_some())
        .map(|p| (p.name.clone(), p.grpc_addr()))
        .collect();
    assert_eq!(
        grpc.len(),
        4,
        "zero, alpha, auth and backup-worker have gRPC ports"
    );
    for (name, addr) in &grpc {
        let mut health = HealthClient::new(lodestar_client::channel(addr).unwrap());
        let resp = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await;
        let status = resp
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, 1, "{name} is not SERVING");
    }

    // Without --acl_secret_file, login on the alpha and on auth says ACL is off.
    let alpha = lodestar_client::channel(&cluster.alpha_grpc()).unwrap();
    let mut dgraph = lodestar_proto::api::dgraph_client::DgraphClient::new(alpha);
    let err = dgraph
        .login(lodestar_proto::api::LoginRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(err.message().contains("ACL is not enabled"), "{err:?}");
    let version = dgraph
        .check_version(lodestar_proto::api::Check {})
        .await
        .unwrap()
        .into_inner();
    assert!(version.tag.starts_with('v'), "{version:?}");
    let auth = cluster.auth.as_ref().unwrap().grpc_addr();
    let mut auth = lodestar_proto::auth::auth_client::AuthClient::new(
        lodestar_client::traced_channel(&auth).unwrap(),
    );
    let err = auth
        .login(lodestar_proto::auth::LoginRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("ACL is not enabled"), "{err:?}");

    // The alpha joined group 1 through zero.
    let mut joined = false;
    for _ in 0..50 {
        let (_, body) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
        let members = json(&body)["groups"]["1"]["members"].clone();
        if members.as_object().is_some_and(|m| {
            m.values()
                .any(|m| m["addr"] == cluster.alpha().internal_addr())
        }) {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(joined, "alpha never showed up in zero's /state");

    // HTTP health and metrics everywhere.
    for p in cluster.procs() {
        let (status, body) = http_get(&format!("{}/health", p.http_url())).await;
        if p.service == Service::Gateway {
            // The gateway answers as Dgraph's alpha does: a list of one node state.
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!((status, &body[0]["status"]), (200, &"healthy".into()));
        } else {
            assert_eq!((status, body.as_str()), (200, "OK"), "{}", p.name);
        }
        let (status, metrics) = http_get(&format!("{}/metrics", p.http_url())).await;
        assert_eq!(status, 200, "{}", p.name);
        assert!(
            metrics.contains("http_server_requests_total"),
            "{}: {metrics}",
            p.name
        );
    }

    // The gateway's GraphQL health lists every service as healthy, with uptime and version.
    let (status, reply) = http_post_json(
        &format!("{}/admin", cluster.gateway_http()),
        &serde_json::json!({"query": "{ health { instance address status version uptime } }"}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let nodes = reply["data"]["health"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for instance in ["zero", "alpha", "auth", "backup-worker", "gateway"] {
        let node = nodes
            .iter()
            .find(|n| n["instance"] == instance)
            .unwrap_or_else(|| panic!("{instance} missing: {reply}"));
        assert_eq!(node["status"], "healthy", "{instance}: {reply}");
    }
    // The gateway's /state is zero's.
    let (_, gw) = http_get(&format!("{}/state", cluster.gateway_http())).await;
    let (_, zero) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(json(&gw)["cid"], json(&zero)["cid"]);

    // SIGTERM: each exits 0 within 5 s.
    for p in cluster.procs_mut() {
        let stopped = p.stop().await.expect("stop");
        assert!(
            stopped.status.success(),
            "{} exited with {:?}",
            p.name,
            stopped.status
        );
        assert!(
            stopped.took < Duration::from_secs(5),
            "{} took {:?}",
            p.name,
            stopped.took
        );
    }
}
