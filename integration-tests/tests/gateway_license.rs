//! Licenses through the gateway: HTTP `POST /enterpriseLicense` and the `/admin` GraphQL
//! `enterpriseLicense` mutation, the latter also with the real `gql` Python client.

mod common;

use common::{LicenseKit, json};
use lodestar_integration_tests::{ClusterBuilder, Service, http_get, http_post, http_post_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licenses_through_the_gateway() {
    let kit = LicenseKit::new();
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .arg(Service::Zero, "--license_public_key", kit.public_key_arg())
        .start()
        .await
        .expect("cluster");
    let gw = cluster.gateway_http();

    // HTTP, as Dgraph's curl example but against the gateway.
    let file = kit.issue("http.txt", "http-corp", 10, "200d");
    let (status, body) = http_post(
        &format!("{gw}/enterpriseLicense"),
        std::fs::read(&file).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body),
        serde_json::json!({"code": "Success", "message": "License applied."})
    );

    // GraphQL: the state query shows it with Dgraph's field names.
    let query = serde_json::json!({"query": "{ state { cid maxUID license { user maxNodes expiryTs enabled } } }"});
    let (status, reply) = http_post_json(&format!("{gw}/admin"), &query).await;
    assert_eq!(status, 200);
    assert_eq!(
        reply["data"]["state"]["license"]["user"], "http-corp",
        "{reply}"
    );
    assert_eq!(
        reply["data"]["state"]["license"]["maxNodes"], "10",
        "{reply}"
    );

    // The mutation, then a bad license through it: an error, and nothing changes.
    let text = std::fs::read_to_string(kit.issue("gql.txt", "gql-corp", 10, "300d")).unwrap();
    let mutation = |license: &str| {
        serde_json::json!({
            "query": "mutation ($l: String!) { enterpriseLicense(input: {license: $l}) { response { code message } } }",
            "variables": {"l": license},
        })
    };
    let (_, reply) = http_post_json(&format!("{gw}/admin"), &mutation(&text)).await;
    assert_eq!(
        reply["data"]["enterpriseLicense"]["response"],
        serde_json::json!({"code": "Success", "message": "License applied."}),
        "{reply}"
    );
    let (_, reply) = http_post_json(&format!("{gw}/admin"), &mutation("garbage")).await;
    assert!(reply["data"]["enterpriseLicense"].is_null(), "{reply}");
    let msg = reply["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("while decoding license file"), "{reply}");
    let (_, state) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(json(&state)["license"]["user"], "gql-corp");

    // Too many nodes counts the alpha too: zero + alpha = 2.
    let one = std::fs::read(kit.issue("one.txt", "one-node", 1, "300d")).unwrap();
    let (status, body) = http_post(&format!("{gw}/enterpriseLicense"), one).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Your license only allows [1] (Alpha + Zero) nodes. You have: [2]."),
        "{body}"
    );

    // The real GraphQL client, gql, drives the same operations.
    let expired = kit.issue("expired.txt", "expired-corp", 10, "-2d");
    let admin = format!("{gw}/admin");
    if let Err(out) =
        common::run_python("admin_license.py", &[&admin, common::path(&expired)]).await
    {
        panic!("gql client test failed:\n{out}");
    }
}
