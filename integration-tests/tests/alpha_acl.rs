//! An alpha with ACL on (`--acl_secret_file`): user groot (password "password") in group
//! guardians exists from the start, survives a restart without being duplicated, cannot be
//! deleted, and comes back after `drop_all`; `Login` issues tokens by password and by refresh
//! token, refuses bad ones, and is refused while enterprise features are off. Only guardians
//! may back up or restore, and a restore brings users, passwords and rules with it.

mod common;

use common::backups::admin_as as admin;
use common::{TokenClient as Client, token_client as client, token_read as read};
use lodestar_acl::{SigningKey, Tokens};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service, http_post};
use lodestar_proto::api::{Jwt, LoginRequest, Mutation, Operation, Request};
use prost::Message as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

const SECRET: &str = "1234567890abcdefghijklmnopqrstuvwxyz";

fn secret_bytes() -> Vec<u8> {
    SECRET.as_bytes().to_vec()
}

fn secret_file(dir: &std::path::Path) -> std::path::PathBuf {
    let secret = dir.join("hmac_secret_file");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    secret
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn login(
    c: &mut Client,
    userid: &str,
    password: &str,
    refresh_token: &str,
) -> Result<Jwt, tonic::Status> {
    let resp = c
        .login(LoginRequest {
            userid: userid.into(),
            password: password.into(),
            refresh_token: refresh_token.into(),
            namespace: 0,
        })
        .await?
        .into_inner();
    Ok(Jwt::decode(resp.json.as_slice()).expect("Response.json holds an api.Jwt"))
}

/// Password and refresh logins, and the refusals, against an alpha using `secret`.
async fn check_logins(c: &mut Client, secret: &[u8]) {
    let tokens = Tokens::new(
        &SigningKey::Hmac(secret.to_vec()),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .unwrap();
    let jwt = login(c, "groot", "password", "").await.unwrap();
    let claims = tokens.verify_access(&jwt.access_jwt, now()).unwrap();
    assert_eq!(
        (
            claims.userid.as_str(),
            claims.groups.as_slice(),
            claims.namespace
        ),
        ("groot", &["guardians".to_string()][..], 0)
    );
    assert!(
        claims.exp > now() + 3500,
        "the default access TTL is 6h: {claims:?}"
    );
    assert_eq!(
        tokens
            .verify_refresh(&jwt.refresh_jwt, now())
            .unwrap()
            .userid,
        "groot"
    );
    // Wrong password and unknown user: one answer.
    for (user, pass) in [("groot", "passwore"), ("nobody", "password"), ("groot", "")] {
        let err = login(c, user, pass, "").await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{user}");
        assert_eq!(err.message(), "invalid username or password", "{user}");
    }
    // A refresh token buys a new pair; an access token, garbage or a foreign token do not.
    let again = login(c, "", "", &jwt.refresh_jwt).await.unwrap();
    assert_eq!(
        tokens
            .verify_access(&again.access_jwt, now())
            .unwrap()
            .groups,
        ["guardians"]
    );
    tokens.verify_refresh(&again.refresh_jwt, now()).unwrap();
    for bad in [jwt.access_jwt.as_str(), "garbage"] {
        let err = login(c, "", "", bad).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert!(
            err.message().starts_with("unable to parse jwt token"),
            "{err:?}"
        );
    }
    let foreign = Tokens::new(
        &SigningKey::Hmac(vec![9; 32]),
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
    .unwrap()
    .issue("groot", vec!["guardians".into()], 0, now())
    .unwrap()
    .1;
    let err = login(c, "", "", &foreign).await.unwrap_err();
    assert_eq!(
        err.message(),
        "unable to parse jwt token: token signature is invalid"
    );
}

/// One zero and the services, the alpha and the auth service with ACL on (their secret
/// written into `dir`).
async fn acl_cluster(dir: &std::path::Path, builder: ClusterBuilder) -> Cluster {
    let secret = secret_file(dir);
    builder
        .zeros(1)
        .acl_secret_file(&secret)
        .services(true)
        .start()
        .await
        .expect("cluster")
}

const WHO: &str = r#"{
  u(func: eq(dgraph.xid, "groot")) @filter(type(dgraph.type.User)) {
    uid
    ok: checkpwd(dgraph.password, "password")
    dgraph.user.group { dgraph.xid }
  }
  g(func: eq(dgraph.xid, "guardians")) @filter(type(dgraph.type.Group)) { uid }
}"#;

async fn who(c: &mut Client) -> serde_json::Value {
    read(c, WHO).await
}

/// A client logged in as `userid`.
async fn logged_in(cluster: &Cluster, userid: &str, password: &str) -> Client {
    let jwt = login(&mut client(cluster, ""), userid, password, "")
        .await
        .unwrap_or_else(|e| panic!("{userid} logs in: {e:?}"));
    client(cluster, &jwt.access_jwt)
}

/// A client logged in as groot.
async fn groot(cluster: &Cluster) -> Client {
    logged_in(cluster, "groot", "password").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groot_and_guardians_exist_once_resist_deletion_and_return_after_drop_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let mut c = groot(&cluster).await;
    let first = who(&mut c).await;
    assert_eq!(first["u"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["u"][0]["ok"], serde_json::json!(true), "{first}");
    assert_eq!(
        first["u"][0]["dgraph.user.group"],
        serde_json::json!([{"dgraph.xid": "guardians"}])
    );
    let groot_uid = first["u"][0]["uid"].as_str().unwrap().to_string();
    check_logins(&mut c, &secret_bytes()).await;

    // A restart finds them and creates nothing.
    let alpha = cluster.alpha_mut();
    alpha.restart().await.unwrap();
    alpha.wait_healthy(Duration::from_secs(30)).await.unwrap();
    let mut c = groot(&cluster).await;
    assert_eq!(who(&mut c).await, first);

    // Deleting groot is refused and changes nothing.
    let err = c
        .query(Request {
            mutations: vec![Mutation {
                del_nquads: format!("<{groot_uid}> * * .").into_bytes(),
                ..Default::default()
            }],
            commit_now: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        err.message(),
        "guardians group and groot user cannot be deleted."
    );
    assert_eq!(who(&mut c).await, first);

    // drop_all removes everything, then both are there again.
    c.alter(Operation {
        drop_all: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let after = who(&mut c).await;
    assert_eq!(after["u"][0]["ok"], serde_json::json!(true), "{after}");
    assert_eq!(after["g"].as_array().map(Vec::len), Some(1), "{after}");
    assert_ne!(
        after["u"][0]["uid"], first["u"][0]["uid"],
        "new nodes after drop_all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_refused_while_enterprise_features_are_off_and_a_license_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let kit = common::LicenseKit::new();
    let builder = ClusterBuilder::new().zero_arg("--license_public_key", kit.public_key_arg());
    let mut cluster = acl_cluster(dir.path(), builder).await;
    let mut c = client(&cluster, "");
    login(&mut c, "groot", "password", "")
        .await
        .expect("the trial is on");

    // 31 days later (zero restarted with its testing clock): the trial is over.
    common::move_zero_clock(&mut cluster, 0, "31d").await;
    let err = login(&mut c, "groot", "password", "").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().starts_with("Enterprise features are disabled. You can enable them by supplying the appropriate license file to Dgraph Zero"),
        "{err:?}"
    );
    assert!(
        err.message().contains("trial"),
        "the reason is given: {err:?}"
    );

    // A valid license turns login back on, without restarting anything.
    let license = kit.issue("valid.txt", "acme", 10, "365d");
    let body = std::fs::read(&license).unwrap();
    let (status, text) =
        http_post(&format!("{}/enterpriseLicense", cluster.zero_http(0)), body).await;
    assert_eq!(status, 200, "{text}");
    login(&mut c, "groot", "password", "")
        .await
        .expect("licensed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_logs_in_and_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    // Access tokens live 2 s, so the script sees one expire and pydgraph refresh it.
    let builder = ClusterBuilder::new().arg(Service::Alpha, "--acl_access_ttl", "2s");
    let cluster = acl_cluster(dir.path(), builder).await;
    if let Err(out) = common::run_python("pydgraph_login.py", &[&cluster.alpha_grpc()]).await {
        panic!("pydgraph login failed:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_needs_a_valid_access_token() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let tokens = Tokens::new(
        &SigningKey::Hmac(secret_bytes()),
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
    .unwrap();
    let expired = tokens
        .issue("groot", vec!["guardians".into()], 0, now() - 3600)
        .unwrap()
        .0;
    let good = login(&mut client(&cluster, ""), "groot", "password", "")
        .await
        .unwrap()
        .access_jwt;
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    // One character of the signature changed (the first: every bit of it counts).
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(..1, first);
    let tampered = parts.join(".");
    let foreign = Tokens::new(
        &SigningKey::Hmac(vec![3; 32]),
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
    .unwrap()
    .issue("groot", vec!["guardians".into()], 0, now())
    .unwrap()
    .0;
    for (token, want) in [
        ("", "no accessJwt available"),
        ("not-a-jwt", "unable to parse jwt token: token is malformed"),
        (
            expired.as_str(),
            "unable to parse jwt token: token has invalid claims: Token is expired",
        ),
        (
            tampered.as_str(),
            "unable to parse jwt token: token signature is invalid",
        ),
        (
            foreign.as_str(),
            "unable to parse jwt token: token signature is invalid",
        ),
    ] {
        let mut c = client(&cluster, token);
        let q = c
            .query(Request {
                query: "{ q(func: has(name)) { uid } }".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        let a = c
            .alter(Operation {
                schema: "name: string .".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        let m = c.query(mutation("_:x <name> \"x\" .")).await.unwrap_err();
        let k = c
            .commit_or_abort(lodestar_proto::api::TxnContext {
                start_ts: 1,
                ..Default::default()
            })
            .await
            .unwrap_err();
        for err in [q, a, m, k] {
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{token}: {err:?}");
            assert!(err.message().starts_with(want), "{token}: {err:?}");
        }
    }
    // The same calls with groot's token work, and nothing was written before.
    let mut c = client(&cluster, &good);
    assert_eq!(
        read(&mut c, "{ q(func: has(name)) { uid } }").await,
        serde_json::json!({"q": []})
    );
    c.query(mutation("_:x <name> \"x\" .")).await.unwrap();
}

fn mutation(rdf: &str) -> Request {
    Request {
        mutations: vec![Mutation {
            set_nquads: rdf.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_then_forgiven() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let mut c = client(&cluster, "");
    // Five free failures, then the sixth locks groot (and this address) for 500 ms.
    for i in 0..6 {
        let err = login(&mut c, "groot", "wrong-password", "")
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "attempt {i}");
    }
    let err = login(&mut c, "groot", "password", "").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().starts_with("too many failed logins"),
        "{err:?}"
    );
    // The lock runs out; the right password then works and clears the record.
    tokio::time::sleep(Duration::from_millis(600)).await;
    login(&mut c, "groot", "password", "")
        .await
        .expect("after the lock");
    let err = login(&mut c, "groot", "wrong-password", "")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::Unauthenticated,
        "the count started again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_guardians_drop_all_data() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let mut root = groot(&cluster).await;
    // A user outside guardians, stored the way Dgraph stores users.
    root.query(mutation(
        "_:a <dgraph.xid> \"alice\" .\n_:a <dgraph.type> \"dgraph.type.User\" .\n_:a <dgraph.password> \"alicepassword\" .\n_:d <name> \"data\" .",
    ))
    .await
    .unwrap();
    let mut alice = logged_in(&cluster, "alice", "alicepassword").await;
    for op in [
        Operation {
            drop_all: true,
            ..Default::default()
        },
        Operation {
            drop_op: lodestar_proto::api::operation::DropOp::Data as i32,
            ..Default::default()
        },
    ] {
        let err = alice.alter(op).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unknown, "{err:?}");
        assert_eq!(
            err.message(),
            "only guardians are allowed to drop all data, but the current user is alice"
        );
    }
    assert_eq!(
        read(&mut root, "{ q(func: has(name)) { name } }").await,
        serde_json::json!({"q": [{"name": "data"}]}),
        "nothing was dropped"
    );
    root.alter(Operation {
        drop_all: true,
        ..Default::default()
    })
    .await
    .expect("groot may");
}

/// The message of a refused request.
async fn refused(c: &mut Client, req: Request) -> tonic::Status {
    c.query(req).await.expect_err("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predicate_rules_decide_what_a_user_reads_writes_and_alters() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let mut root = groot(&cluster).await;
    root.alter(Operation {
        schema: "name: string @index(exact) .\nage: int .\nfriend: [uid] @reverse .\ntype Person { name age friend }".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // alice in group dev, stored as Dgraph stores them: dev reads and writes name (7) and only
    // reads friend (4); no rule on age or ~friend.
    root.query(mutation(
        r#"_:alice <dgraph.xid> "alice" .
_:alice <dgraph.type> "dgraph.type.User" .
_:alice <dgraph.password> "alicepassword" .
_:alice <dgraph.user.group> _:dev .
_:dev <dgraph.xid> "dev" .
_:dev <dgraph.type> "dgraph.type.Group" .
_:dev <dgraph.acl.rule> _:r1 .
_:r1 <dgraph.type> "dgraph.type.Rule" .
_:r1 <dgraph.rule.predicate> "name" .
_:r1 <dgraph.rule.permission> "7" .
_:dev <dgraph.acl.rule> _:r2 .
_:r2 <dgraph.type> "dgraph.type.Rule" .
_:r2 <dgraph.rule.predicate> "friend" .
_:r2 <dgraph.rule.permission> "4" .
_:a <name> "Ann" .
_:a <age> "31" .
_:a <dgraph.type> "Person" .
_:a <friend> _:b .
_:b <name> "Bob" .
_:b <age> "40" ."#,
    ))
    .await
    .unwrap();
    let mut alice = logged_in(&cluster, "alice", "alicepassword").await;

    // Reads: what alice may not read is silently left out.
    assert_eq!(
        read(
            &mut alice,
            r#"{ q(func: eq(name, "Ann")) { name age friend { name age ~friend { name } } } }"#
        )
        .await,
        serde_json::json!({"q": [{"name": "Ann", "friend": [{"name": "Bob"}]}]})
    );
    assert_eq!(
        read(
            &mut alice,
            r#"{ q(func: eq(name, "Ann")) { expand(_all_) { name } } }"#
        )
        .await,
        serde_json::json!({"q": [{"name": "Ann", "friend": [{"name": "Bob"}]}]}),
        "expand(_all_) skips age"
    );
    for q in [
        "{ q(func: has(age)) { name } }",
        r#"{ q(func: has(name)) @filter(not eq(age, 31)) { name } }"#,
        r#"{ q(func: eq(dgraph.xid, "alice")) { uid } }"#,
    ] {
        assert_eq!(
            read(&mut alice, q).await,
            serde_json::json!({"q": []}),
            "{q}"
        );
    }
    let schema = read(&mut alice, "schema {}").await;
    let names: Vec<&str> = schema["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["predicate"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["friend", "name"], "{schema}");

    // Writes need WRITE on every predicate; nothing is written when one is refused.
    let err = refused(
        &mut alice,
        mutation("_:c <name> \"Cat\" .\n_:c <age> \"3\" .\n_:c <friend> _:c ."),
    )
    .await;
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "unauthorized to mutate following predicates: age friend \n"
    );
    let err = refused(&mut alice, mutation("_:x <dgraph.xid> \"mallory\" .")).await;
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    alice.query(mutation("_:c <name> \"Cat\" .")).await.unwrap();
    assert_eq!(
        read(
            &mut root,
            r#"{ q(func: has(name)) @filter(has(age) or eq(name, "Cat")) { name } }"#
        )
        .await
        .to_string()
        .matches("Cat")
        .count(),
        1
    );

    // Alter needs MODIFY.
    let err = alice
        .alter(Operation {
            schema: "age: int @index(int) .".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "unauthorized to alter following predicates: age \n"
    );
    alice
        .alter(Operation {
            schema: "name: string @index(exact, term) .".into(),
            ..Default::default()
        })
        .await
        .expect("dev has MODIFY on name");

    // Permission values outside 0-7 are refused, as Dgraph does.
    let err = refused(
        &mut root,
        mutation("_:r <dgraph.rule.predicate> \"x\" .\n_:r <dgraph.rule.permission> \"8\" ."),
    )
    .await;
    assert_eq!(
        err.message(),
        "Value for this predicate should be between 0 and 7"
    );

    // groot removes the rule on name: alice's next read no longer sees it, at once.
    root.query(Request {
        query: r#"{ r as var(func: eq(dgraph.rule.predicate, "name")) }"#.into(),
        mutations: vec![Mutation {
            del_nquads: b"uid(r) <dgraph.rule.predicate> * .\nuid(r) <dgraph.rule.permission> * ."
                .to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let removed = std::time::Instant::now();
    loop {
        let out = read(
            &mut alice,
            r#"{ q(func: has(friend)) { name friend { uid } } }"#,
        )
        .await;
        if out["q"][0].get("name").is_none() {
            assert!(out["q"][0]["friend"].is_array(), "{out}");
            break;
        }
        assert!(
            removed.elapsed() < Duration::from_secs(1),
            "the removed rule still applies after {:?}",
            removed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_workflow_through_admin_with_gql_then_pydgraph() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let admin = format!("{}/admin", cluster.gateway_http());
    if let Err(out) = common::run_python("acl_workflow.py", &[&admin, &cluster.alpha_grpc()]).await
    {
        panic!("the ACL workflow failed:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tampered_and_foreign_tokens_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let builder = ClusterBuilder::new().arg(Service::Auth, "--acl_access_ttl", "2s");
    let cluster = acl_cluster(dir.path(), builder).await;
    let foreign = Tokens::new(
        &SigningKey::Hmac(vec![9; 32]),
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
    .unwrap()
    .issue("groot", vec!["guardians".into()], 0, now())
    .unwrap()
    .0;
    let gateway = cluster.gateway_http();
    if let Err(out) = common::run_python("acl_tokens_http.py", &[&gateway, &foreign]).await {
        panic!("tokens over HTTP:\n{out}");
    }
}

/// The documented upsert that resets groot's password.
fn set_groot_password(password: &str) -> Request {
    Request {
        query: r#"{ groot as var(func: eq(dgraph.xid, "groot")) }"#.into(),
        ..mutation(&format!("uid(groot) <dgraph.password> \"{password}\" ."))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_groot_password_reset_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    // groot's password was changed and forgotten.
    let mut root = groot(&cluster).await;
    root.query(set_groot_password("forgotten-password"))
        .await
        .unwrap();
    let err = login(&mut client(&cluster, ""), "groot", "password", "")
        .await
        .unwrap_err();
    assert_eq!(err.message(), "invalid username or password");

    // Restart the alphas (every replica of the group) without ACL and run the documented
    // upsert, with no token at all.
    let mut with_acl = Vec::new();
    for alpha in &mut cluster.alphas {
        with_acl.push(alpha.args.clone());
        let at = alpha
            .args
            .iter()
            .position(|a| a == "--acl_secret_file")
            .unwrap();
        alpha.args.drain(at..at + 2);
    }
    cluster.restart_alphas().await.unwrap();
    let mut open = client(&cluster, "");
    open.query(set_groot_password("newpassword"))
        .await
        .expect("the documented upsert");

    // ACL back on: groot logs in with the new password, and is still the one guardian.
    for (alpha, args) in cluster.alphas.iter_mut().zip(with_acl) {
        alpha.args = args;
    }
    cluster.restart_alphas().await.unwrap();
    let mut root = logged_in(&cluster, "groot", "newpassword").await;
    let out = read(
        &mut root,
        r#"{ u(func: eq(dgraph.xid, "groot")) { dgraph.user.group { dgraph.xid } } }"#,
    )
    .await;
    assert_eq!(
        out,
        serde_json::json!({"u": [{"dgraph.user.group": [{"dgraph.xid": "guardians"}]}]})
    );
}

/// A backup worker call carrying `token`.
fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if !token.is_empty() {
        req.metadata_mut()
            .insert("accessjwt", token.parse().expect("ascii token"));
    }
    req
}

/// Waits for a backup or restore task, asking with `token`.
async fn task_done(
    b: &mut lodestar_proto::backup::backup_client::BackupClient<lodestar_client::TracedChannel>,
    id: &str,
    token: &str,
) -> lodestar_proto::backup::TaskStatus {
    for _ in 0..1200 {
        let t = b
            .get_task(with_token(
                lodestar_proto::backup::TaskRef { id: id.to_string() },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        if t.status == "Success" || t.status == "Failed" {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("task {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_brings_back_users_and_rules_and_only_guardians_may_back_up_or_restore() {
    use lodestar_proto::backup::backup_client::BackupClient;
    use lodestar_proto::backup::{BackupRequest, RestoreRequest};
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let location = common::path(&backups).to_string();
    let source_dir = dir.path().join("a");
    std::fs::create_dir(&source_dir).unwrap();
    let source = acl_cluster(&source_dir, ClusterBuilder::new()).await;
    let mut root = groot(&source).await;
    root.alter(Operation {
        schema: "name: string @index(exact) .\nage: int .".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    root.query(mutation(
        r#"_:alice <dgraph.xid> "alice" .
_:alice <dgraph.type> "dgraph.type.User" .
_:alice <dgraph.password> "alicepassword" .
_:alice <dgraph.user.group> _:dev .
_:dev <dgraph.xid> "dev" .
_:dev <dgraph.type> "dgraph.type.Group" .
_:dev <dgraph.acl.rule> _:r1 .
_:r1 <dgraph.type> "dgraph.type.Rule" .
_:r1 <dgraph.rule.predicate> "name" .
_:r1 <dgraph.rule.permission> "4" .
_:a <name> "Ann" .
_:a <age> "31" ."#,
    ))
    .await
    .unwrap();
    let addr = source.backup.as_ref().unwrap().grpc_addr();
    let mut b = BackupClient::new(lodestar_client::traced_channel(&addr).unwrap());
    let backup = |token: &str| {
        with_token(
            BackupRequest {
                destination: location.clone(),
                ..Default::default()
            },
            token,
        )
    };
    // Without a token, or as alice: refused.
    let err = b.start_backup(backup("")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let alice = login(&mut client(&source, ""), "alice", "alicepassword", "")
        .await
        .unwrap();
    let err = b.start_backup(backup(&alice.access_jwt)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let root_jwt = login(&mut client(&source, ""), "groot", "password", "")
        .await
        .unwrap();
    let id = b
        .start_backup(backup(&root_jwt.access_jwt))
        .await
        .unwrap()
        .into_inner()
        .id;
    let t = task_done(&mut b, &id, &root_jwt.access_jwt).await;
    assert_eq!(t.status, "Success", "{t:?}");

    // Another ACL cluster, where alice does not exist yet.
    let target_dir = dir.path().join("b");
    std::fs::create_dir(&target_dir).unwrap();
    let target = acl_cluster(&target_dir, ClusterBuilder::new()).await;
    assert!(
        login(&mut client(&target, ""), "alice", "alicepassword", "")
            .await
            .is_err()
    );
    let target_root = login(&mut client(&target, ""), "groot", "password", "")
        .await
        .unwrap();
    let addr = target.backup.as_ref().unwrap().grpc_addr();
    let mut tb = BackupClient::new(lodestar_client::traced_channel(&addr).unwrap());
    let restore = |token: &str| {
        with_token(
            RestoreRequest {
                location: location.clone(),
                ..Default::default()
            },
            token,
        )
    };
    let err = tb.start_restore(restore("")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let id = tb
        .start_restore(restore(&target_root.access_jwt))
        .await
        .unwrap()
        .into_inner()
        .id;
    let t = task_done(&mut tb, &id, &target_root.access_jwt).await;
    assert_eq!(t.status, "Success", "{t:?}");

    // alice's password and rules came with the backup: she reads name, not age.
    let mut alice = logged_in(&target, "alice", "alicepassword").await;
    assert_eq!(
        read(&mut alice, r#"{ q(func: eq(name, "Ann")) { name age } }"#).await,
        serde_json::json!({"q": [{"name": "Ann"}]})
    );
    // groot and guardians are there once, and groot may still do everything.
    let mut root = groot(&target).await;
    let w = who(&mut root).await;
    assert_eq!(w["u"].as_array().map(Vec::len), Some(1), "{w}");
    assert_eq!(w["g"].as_array().map(Vec::len), Some(1), "{w}");
    assert_eq!(
        read(&mut root, r#"{ q(func: eq(name, "Ann")) { name age } }"#).await,
        serde_json::json!({"q": [{"name": "Ann", "age": 31}]})
    );
}

fn admin_error(body: &serde_json::Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {body}"))
        .to_string()
}

/// A token used to outlive its user: a deleted user's token kept working, and a guardian
/// taken out of guardians stayed one, until the token expired. Every service now asks the ACL
/// data as it is when the token is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stop_working_when_their_user_is_deleted_or_leaves_guardians() {
    use lodestar_proto::backup::BackupRequest;
    use lodestar_proto::backup::backup_client::BackupClient;
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path(), ClusterBuilder::new()).await;
    let root_jwt = login(&mut client(&cluster, ""), "groot", "password", "")
        .await
        .unwrap()
        .access_jwt;
    let made = admin(
        &cluster,
        &root_jwt,
        r#"mutation {
          a: addUser(input: [{name: "ops", password: "opspassword", groups: [{name: "guardians"}]}]) { user { name } }
          b: addUser(input: [{name: "alice", password: "alicepassword"}]) { user { name } }
        }"#,
    )
    .await;
    assert!(made["errors"].is_null(), "{made}");
    let ops_jwt = login(&mut client(&cluster, ""), "ops", "opspassword", "")
        .await
        .unwrap()
        .access_jwt;
    let mut alice = logged_in(&cluster, "alice", "alicepassword").await;
    let mut ops = client(&cluster, &ops_jwt);
    // While ops is a guardian, its token works everywhere a guardian's does.
    assert!(
        admin(&cluster, &ops_jwt, "{ state { maxUID } }").await["errors"].is_null(),
        "ops reads the state"
    );
    assert_eq!(read(&mut ops, WHO).await["g"].as_array().unwrap().len(), 1);
    read(&mut alice, "{ q(func: has(name)) { uid } }").await;

    // Groot takes ops out of guardians and deletes alice.
    let changed = admin(
        &cluster,
        &root_jwt,
        r#"mutation {
          a: updateUser(input: {filter: {name: {eq: "ops"}}, remove: {groups: [{name: "guardians"}]}}) { user { name } }
          b: deleteUser(filter: {name: {eq: "alice"}}) { msg }
        }"#,
    )
    .await;
    assert!(changed["errors"].is_null(), "{changed}");

    // The same unexpired tokens: ops is no guardian anywhere any more.
    let not_guardian = "is not a member of guardians group";
    let body = admin(&cluster, &ops_jwt, "{ state { maxUID } }").await;
    assert!(admin_error(&body).contains(not_guardian), "gateway: {body}");
    let body = admin(
        &cluster,
        &ops_jwt,
        r#"mutation { addUser(input: [{name: "eve", password: "evepassword", groups: [{name: "guardians"}]}]) { user { name } } }"#,
    )
    .await;
    assert!(admin_error(&body).contains(not_guardian), "auth: {body}");
    let mut b = BackupClient::new(
        lodestar_client::traced_channel(&cluster.backup.as_ref().unwrap().grpc_addr()).unwrap(),
    );
    let err = b
        .start_backup(with_token(
            BackupRequest {
                destination: common::path(&dir.path().join("b")).to_string(),
                ..Default::default()
            },
            &ops_jwt,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(!dir.path().join("b").exists(), "no backup was written");
    let err = ops
        .alter(Operation {
            drop_all: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("only guardians"), "{err:?}");
    assert_eq!(
        read(&mut ops, WHO).await["g"],
        serde_json::json!([]),
        "ops no longer reads ACL data"
    );
    let who = read(
        &mut groot(&cluster).await,
        r#"{ q(func: eq(dgraph.xid, "eve")) { uid } }"#,
    )
    .await;
    assert_eq!(who["q"], serde_json::json!([]), "eve was not created");

    // alice's token is refused outright, by the alpha and by auth through the gateway.
    let err = alice
        .query(Request {
            query: "{ q(func: has(name)) { uid } }".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("no longer exists"), "{err:?}");
    let alice_jwt = login(&mut client(&cluster, ""), "alice", "alicepassword", "").await;
    assert!(alice_jwt.is_err(), "alice cannot log in again");
    // Groot's own token was never affected.
    assert!(admin(&cluster, &root_jwt, "{ state { maxUID } }").await["errors"].is_null());
}
