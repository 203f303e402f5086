//! Replicated groups: three alphas in one group (`--replicas 3`) are one Raft group. Writes
//! through any alpha land on every replica; reads through any alpha at one timestamp agree; the
//! replicas' data is identical version for version; a replica that loses its disk comes back
//! empty and catches up from a copy of the leader's store.

mod common;

use common::backups::read_only;
use common::replicas::{
    assert_replicas_equal, client, digest, leader, rdf, read_ts, three_replicas,
};
use lodestar_proto::api::{Operation, Request, TxnContext};
use std::time::Duration;

const PEOPLE: &str =
    "{ q(func: has(name), orderasc: name) { name age friend { name } ~friend { name } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_alpha_reach_every_replica_and_reads_agree() {
    let mut cluster = three_replicas(|b| b).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let follower = (lead + 1) % 3;
    let other = (lead + 2) % 3;
    let mut c: Vec<_> = cluster.alphas.iter().map(client).collect();

    // The schema through a follower: forwarded to the leader.
    c[follower]
        .alter(Operation {
            schema:
                "name: string @index(exact) .\nage: int @index(int) .\nfriend: [uid] @reverse ."
                    .into(),
            ..Default::default()
        })
        .await
        .expect("alter through a follower");
    // One committed mutation through each alpha.
    for (i, ci) in c.iter_mut().enumerate() {
        let resp = ci
            .query(rdf(
                &format!("_:p <name> \"person{i}\" .\n_:p <age> \"{}\" .", 20 + i),
                true,
            ))
            .await
            .unwrap_or_else(|e| panic!("mutation through alpha {i}: {e:?}"))
            .into_inner();
        assert!(resp.txn.unwrap().commit_ts > 0);
    }
    // A transaction over several requests through a follower, committed through another.
    let open = c[follower]
        .query(rdf(
            "_:a <name> \"ann\" .\n_:b <name> \"bob\" .\n_:a <friend> _:b .",
            false,
        ))
        .await
        .expect("open transaction")
        .into_inner();
    let start_ts = open.txn.unwrap().start_ts;
    let own = c[follower]
        .query(Request {
            query: r#"{ q(func: eq(name, "ann")) { friend { name } } }"#.into(),
            start_ts,
            ..Default::default()
        })
        .await
        .expect("read own writes")
        .into_inner();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&own.json).unwrap(),
        serde_json::json!({"q": [{"friend": [{"name": "bob"}]}]}),
        "a transaction reads its own writes through a follower"
    );
    let committed = c[other]
        .commit_or_abort(TxnContext {
            start_ts,
            ..Default::default()
        })
        .await
        .expect("commit through another alpha")
        .into_inner();
    assert!(committed.commit_ts > start_ts);

    // The same answer through every alpha at one timestamp.
    let ts = read_ts(&mut c[lead]).await;
    let mut answers = Vec::new();
    for ci in c.iter_mut() {
        answers.push(read_only(ci, PEOPLE, ts).await);
    }
    assert_eq!(
        answers[0],
        serde_json::json!({"q": [
            {"name": "ann", "friend": [{"name": "bob"}]},
            {"name": "bob", "~friend": [{"name": "ann"}]},
            {"name": "person0", "age": 20},
            {"name": "person1", "age": 21},
            {"name": "person2", "age": 22},
        ]})
    );
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // And the same data, version for version, on every replica.
    assert!(digest(&cluster.alphas[0], ts).await.0 > 0);
    assert_replicas_equal(&cluster, ts).await;

    // Zero's /state names the group's leader among its three members.
    let leader_id = common::replicas::standing(&cluster.alphas[lead])
        .await
        .unwrap()["leader"]
        .as_u64()
        .unwrap();
    let mut shown = None;
    for _ in 0..50 {
        let (_, state) =
            lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        let members = state["groups"]["1"]["members"].as_object().unwrap().clone();
        assert_eq!(members.len(), 3, "{state}");
        let leaders: Vec<&String> = members
            .iter()
            .filter(|(_, m)| m["leader"] == true)
            .map(|(id, _)| id)
            .collect();
        if leaders.len() == 1 {
            shown = Some(leaders[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        shown,
        Some(leader_id.to_string()),
        "/state shows the group's leader"
    );

    // A fresh read on a follower sees everything committed before it asked.
    let resp = c[other]
        .query(rdf("_:z <name> \"zed\" .", true))
        .await
        .expect("one more")
        .into_inner();
    assert!(resp.txn.unwrap().commit_ts > 0);
    let fresh = c[follower]
        .query(Request {
            query: r#"{ q(func: eq(name, "zed")) { name } }"#.into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .expect("fresh read on a follower")
        .into_inner();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&fresh.json).unwrap(),
        serde_json::json!({"q": [{"name": "zed"}]}),
        "a read on a follower sees a commit acknowledged before it asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_replica_catches_up_from_a_copy_of_the_leaders_store() {
    let mut cluster = three_replicas(|b| {
        // Snapshot points often, so the log the wiped replica would need is gone.
        b.arg(
            lodestar_integration_tests::Service::Alpha,
            "--snapshot_after_entries",
            "20",
        )
    })
    .await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let victim = (lead + 1) % 3;
    let mut c = client(&cluster.alphas[lead]);
    c.alter(Operation {
        schema: "name: string @index(exact) .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    for i in 0..100 {
        c.query(rdf(&format!("_:n <name> \"n{i}\" ."), true))
            .await
            .expect("write");
    }

    // The victim loses its disk: both its store and its raft log.
    cluster.alphas[victim].kill9();
    let (p, w) = data_dirs(&cluster.alphas[victim]);
    std::fs::remove_dir_all(&p).expect("wipe p");
    std::fs::remove_dir_all(&w).expect("wipe w");
    // Writes go on meanwhile.
    for i in 100..150 {
        c.query(rdf(&format!("_:n <name> \"n{i}\" ."), true))
            .await
            .expect("write while a replica is down");
    }
    let a = &mut cluster.alphas[victim];
    a.start().expect("restart the wiped alpha");
    a.wait_healthy(Duration::from_secs(60))
        .await
        .expect("the wiped alpha catches up");
    a.wait_log("group snapshot installed", Duration::from_secs(30))
        .await
        .expect("it caught up from a snapshot");
    let ts = read_ts(&mut c).await;
    let q = "{ q(func: has(name)) { count(uid) } }";
    let want = serde_json::json!({"q": [{"count": 150}]});
    for a in &cluster.alphas {
        assert_eq!(read_only(&mut client(a), q, ts).await, want, "{}", a.name);
    }
    assert_replicas_equal(&cluster, ts).await;
    // Zero replaced the wiped member with a new one in the same group.
    let (_, state) =
        lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let members = state["groups"]["1"]["members"].as_object().unwrap();
    assert_eq!(members.len(), 3, "{state}");
    assert_eq!(
        state["removed"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
}

/// The `-p` and `--wal` directories of an alpha, from its command line.
fn data_dirs(alpha: &lodestar_integration_tests::Proc) -> (std::path::PathBuf, std::path::PathBuf) {
    let arg = |flag: &str| {
        let at = alpha
            .args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{} has no {flag}", alpha.name));
        std::path::PathBuf::from(&alpha.args[at + 1])
    };
    (arg("-p"), arg("--wal"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_leader_dies_restores_onto_every_replica() {
    use common::backups::{backup_client, finished, start_backup, to};
    let mut cluster = three_replicas(|b| b.services(true)).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let survivor = (lead + 1) % 3;
    let mut c = client(&cluster.alphas[survivor]);
    c.alter(Operation {
        schema: "name: string @index(exact) .\nfriend: [uid] @reverse .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    for batch in 0..20 {
        let mut rdf_text = String::new();
        for i in 0..200 {
            rdf_text.push_str(&format!(
                "_:n{i} <name> \"b{batch}-{i}\" .\n_:n{i} <friend> _:n{} .\n",
                (i + 1) % 200
            ));
        }
        c.query(rdf(&rdf_text, true)).await.expect("load");
    }
    let dest = tempfile::tempdir().unwrap();
    let location = dest.path().display().to_string();
    let mut b = backup_client(&cluster);
    // The leader dies as the backup starts: the backup reads from a follower, or from the next
    // alpha when the one it chose cannot serve its read timestamp.
    let id = start_backup(&mut b, to(&location, false)).await;
    cluster.alphas[lead].kill9();
    let task = finished(&mut b, &id).await;
    let everything =
        "{ q(func: has(name), orderasc: name) { name friend { name } ~friend { name } } }";
    let backed_up = read_only(&mut c, everything, task.read_ts).await;
    assert_eq!(backed_up["q"].as_array().unwrap().len(), 4000);
    let killed = &mut cluster.alphas[lead];
    killed.start().expect("restart");
    killed
        .wait_healthy(Duration::from_secs(60))
        .await
        .expect("the old leader rejoins");

    // Changes after the backup, then the restore: every replica holds the backup's state.
    c.query(rdf("_:x <name> \"after the backup\" .", true))
        .await
        .expect("a later write");
    let restore = b
        .start_restore(lodestar_proto::backup::RestoreRequest {
            location: location.clone(),
            ..Default::default()
        })
        .await
        .expect("start the restore")
        .into_inner()
        .id;
    finished(&mut b, &restore).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let ts = read_ts(&mut client(&cluster.alphas[lead])).await;
    for a in &cluster.alphas {
        assert_eq!(
            read_only(&mut client(a), everything, ts).await,
            backed_up,
            "{} after the restore",
            a.name
        );
    }
    assert_replicas_equal(&cluster, ts).await;
}

/// Logs `user` in through `alpha`'s `Login`; the access token.
async fn login_at(alpha: &lodestar_integration_tests::Proc, user: &str, password: &str) -> String {
    use prost::Message;
    let resp = client(alpha)
        .login(lodestar_proto::api::LoginRequest {
            userid: user.into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{user} logs in at {}: {e:?}", alpha.name))
        .into_inner();
    lodestar_proto::api::Jwt::decode(resp.json.as_slice())
        .expect("a Jwt")
        .access_jwt
}

/// `req` carrying `token`.
fn with_token<T>(req: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(req);
    req.metadata_mut()
        .insert("accessjwt", token.parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_tokens_and_acl_rules_work_on_every_replica() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("acl_secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef01234567").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cluster = three_replicas(|b| b.acl_secret_file(&secret)).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let follower = (lead + 1) % 3;
    // groot and guardians exist on every replica: groot logs in at each.
    let mut groot = String::new();
    for a in &cluster.alphas {
        groot = login_at(a, "groot", "password").await;
    }
    // Through a follower, with a token another alpha issued: the schema, data, and user alice
    // in group dev, which may read `name` only.
    let mut c = client(&cluster.alphas[follower]);
    c.alter(with_token(
        Operation {
            schema: "name: string @index(exact) .\nsecret: string .".into(),
            ..Default::default()
        },
        &groot,
    ))
    .await
    .expect("alter as groot through a follower");
    c.query(with_token(
        rdf(
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
_:a <secret> "s3cr3t" ."#,
            true,
        ),
        &groot,
    ))
    .await
    .expect("ACL data as groot");
    let q = r#"{ q(func: eq(name, "Ann")) { name secret } }"#;
    let read = |token: String, i: usize| {
        let mut c = client(&cluster.alphas[i]);
        async move {
            let resp = c
                .query(with_token(
                    Request {
                        query: q.into(),
                        read_only: true,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap_or_else(|e| panic!("alice reads through alpha {i}: {e:?}"))
                .into_inner();
            serde_json::from_slice::<serde_json::Value>(&resp.json).unwrap()
        }
    };
    let mut alice = Vec::new();
    for a in &cluster.alphas {
        alice.push(login_at(a, "alice", "alicepassword").await);
    }
    for i in 0..3 {
        // A token from any alpha works on every alpha.
        assert_eq!(
            read(alice[(i + 1) % 3].clone(), i).await,
            serde_json::json!({"q": [{"name": "Ann"}]}),
            "alpha {i}"
        );
    }
    // The guardian lets dev read `secret`, through another follower: every replica applies
    // the rule with the commit, so alice's next read anywhere sees it.
    let dev = {
        let out = client(&cluster.alphas[lead])
            .query(with_token(
                Request {
                    query: r#"{ q(func: eq(dgraph.xid, "dev")) { uid } }"#.into(),
                    read_only: true,
                    ..Default::default()
                },
                &groot,
            ))
            .await
            .expect("dev's uid")
            .into_inner();
        let v: serde_json::Value = serde_json::from_slice(&out.json).unwrap();
        v["q"][0]["uid"].as_str().unwrap().to_string()
    };
    let changed = std::time::Instant::now();
    client(&cluster.alphas[(lead + 2) % 3])
        .query(with_token(
            rdf(
                &format!(
                    r#"<{dev}> <dgraph.acl.rule> _:r2 .
_:r2 <dgraph.type> "dgraph.type.Rule" .
_:r2 <dgraph.rule.predicate> "secret" .
_:r2 <dgraph.rule.permission> "4" ."#
                ),
                true,
            ),
            &groot,
        ))
        .await
        .expect("a rule change through a follower");
    for (i, token) in alice.iter().enumerate() {
        assert_eq!(
            read(token.clone(), i).await,
            serde_json::json!({"q": [{"name": "Ann", "secret": "s3cr3t"}]}),
            "alpha {i} after the rule change"
        );
    }
    eprintln!(
        "a rule change was in force on all three replicas {:.3} s after it was sent",
        changed.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_replicates_and_serves_reads_without_voting() {
    let mut cluster = lodestar_integration_tests::ClusterBuilder::new()
        .zeros(1)
        .alphas(1)
        .start()
        .await
        .expect("cluster");
    let mut c = client(&cluster.alphas[0]);
    c.alter(Operation {
        schema: "name: string @index(exact) .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    c.query(rdf("_:a <name> \"before the learner\" .", true))
        .await
        .expect("write");
    cluster
        .add_alpha_with(&["--learner", "--group", "1"])
        .await
        .expect("a learner joins group 1");
    let learner = &cluster.alphas[1];
    let s = common::replicas::standing(learner).await.unwrap();
    assert_eq!(s["role"], "learner", "{s}");
    // It serves reads, and forwards writes to the group's leader.
    let mut l = client(learner);
    l.query(rdf("_:b <name> \"through the learner\" .", true))
        .await
        .expect("a write through the learner");
    let ts = read_ts(&mut c).await;
    assert_eq!(
        read_only(
            &mut l,
            "{ q(func: has(name), orderasc: name) { name } }",
            ts
        )
        .await,
        serde_json::json!({"q": [{"name": "before the learner"}, {"name": "through the learner"}]})
    );
    assert_replicas_equal(&cluster, ts).await;
    // Zero lists it as a learner, and the group's one voter still decides alone: with the
    // learner gone, writes go on.
    let (_, state) =
        lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let members = state["groups"]["1"]["members"].as_object().unwrap();
    assert_eq!(members.len(), 2, "{state}");
    assert_eq!(
        members.values().filter(|m| m["learner"] == true).count(),
        1,
        "{state}"
    );
    cluster.alphas[1].kill9();
    c.query(rdf("_:c <name> \"without the learner\" .", true))
        .await
        .expect("the voter alone commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replica_is_removed_and_a_new_alpha_takes_its_place() {
    let mut cluster = three_replicas(|b| b).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let victim = (lead + 1) % 3;
    let mut c = client(&cluster.alphas[lead]);
    c.alter(Operation {
        schema: "name: string @index(exact) .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    c.query(rdf("_:a <name> \"one\" .", true))
        .await
        .expect("write");
    let zero_http = cluster.zero_http(0);
    let state = || async {
        let (_, state) = lodestar_integration_tests::http_get(&format!("{zero_http}/state")).await;
        serde_json::from_str::<serde_json::Value>(&state).unwrap()
    };
    let victim_addr = cluster.alphas[victim].internal_addr();
    let before = state().await;
    let victim_id = before["groups"]["1"]["members"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, m)| m["addr"] == victim_addr.as_str())
        .map(|(id, _)| id.clone())
        .expect("the victim is a member");
    cluster.alphas[victim].kill9();
    // The machine is gone: an operator removes it through zero.
    let (status, body) = lodestar_integration_tests::http_get(&format!(
        "{zero_http}/removeNode?id={victim_id}&group=1"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    // A new alpha elsewhere takes the free place in group 1 and catches up.
    cluster.add_alpha().await.expect("a replacement joins");
    let after = state().await;
    let members = after["groups"]["1"]["members"].as_object().unwrap();
    assert_eq!(members.len(), 3, "{after}");
    assert!(!members.contains_key(&victim_id), "{after}");
    c.query(rdf("_:b <name> \"two\" .", true))
        .await
        .expect("a write with the replacement");
    let ts = read_ts(&mut c).await;
    let live: Vec<usize> = (0..4).filter(|&i| i != victim).collect();
    for &i in &live {
        assert_eq!(
            read_only(
                &mut client(&cluster.alphas[i]),
                "{ q(func: has(name), orderasc: name) { name } }",
                ts
            )
            .await,
            serde_json::json!({"q": [{"name": "one"}, {"name": "two"}]}),
            "{}",
            cluster.alphas[i].name
        );
    }
    let mut digests = Vec::new();
    for &i in &live {
        digests.push(digest(&cluster.alphas[i], ts).await);
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    // The removed alpha, started again on its old directories, is refused.
    let old = &mut cluster.alphas[victim];
    old.start().expect("start the removed alpha");
    let started = std::time::Instant::now();
    while old.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the removed alpha kept running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(old.run_log().contains("was removed"), "{}", old.run_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_group_restarted_together_comes_back_with_its_data() {
    let mut cluster = three_replicas(|b| b).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let mut c = client(&cluster.alphas[lead]);
    c.alter(Operation {
        schema: "name: string @index(exact) .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    for i in 0..30 {
        c.query(rdf(&format!("_:n <name> \"n{i}\" ."), true))
            .await
            .expect("write");
    }
    // Every alpha stops, then they start together: none could find a majority alone.
    cluster.restart_alphas().await.expect("the group restarts");
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let mut c = client(&cluster.alphas[lead]);
    c.query(rdf("_:n <name> \"after\" .", true))
        .await
        .expect("a write after the restart");
    let ts = read_ts(&mut c).await;
    for a in &cluster.alphas {
        assert_eq!(
            read_only(&mut client(a), "{ q(func: has(name)) { count(uid) } }", ts).await,
            serde_json::json!({"q": [{"count": 31}]}),
            "{}",
            a.name
        );
    }
    assert_replicas_equal(&cluster, ts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_and_auth_keep_working_when_an_alpha_dies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("acl_secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef01234567").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cluster = three_replicas(|b| b.services(true).acl_secret_file(&secret)).await;
    // Alpha 1, first in every service's --alpha list, dies.
    cluster.alphas[0].kill9();
    leader(&mut cluster, Duration::from_secs(20)).await;
    let (status, body) = lodestar_integration_tests::http_post_json(
        &format!("{}/login", cluster.gateway_http()),
        &serde_json::json!({"userid": "groot", "password": "password"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["accessJWT"]
        .as_str()
        .expect("a token")
        .to_string();
    // An ACL change through /admin: the gateway checks the token and auth writes the graph,
    // both through the surviving alphas.
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/admin", cluster.gateway_http()))
        .header("X-Dgraph-AccessToken", &token)
        .json(&serde_json::json!({
            "query": r#"mutation { addUser(input: [{name: "ops", password: "opspassword"}]) { user { name } } }"#
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["data"]["addUser"]["user"][0]["name"], "ops", "{resp}");
    let (status, body) = lodestar_integration_tests::http_post_json(
        &format!("{}/login", cluster.gateway_http()),
        &serde_json::json!({"userid": "ops", "password": "opspassword"}),
    )
    .await;
    assert_eq!(status, 200, "the new user logs in: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_larger_than_a_raft_message_batch_reach_every_replica() {
    let mut cluster = three_replicas(|b| b).await;
    let lead = leader(&mut cluster, Duration::from_secs(20)).await;
    let mut c = client(&cluster.alphas[lead]);
    c.alter(Operation {
        schema: "blob: string .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    // One transaction of about 12 MiB (proposed as 1 MiB parts and a whole), and several of
    // 3 MiB sent together (many parts in flight at once, batches cut to 2 MiB).
    let text = |n: usize, k: usize| "x".repeat(60_000 + k) + &n.to_string();
    let mut big = String::new();
    for k in 0..200 {
        big.push_str(&format!("_:b{k} <blob> \"{}\" .\n", text(0, k)));
    }
    c.query(rdf(&big, true))
        .await
        .expect("a 12 MiB transaction");
    let writers: Vec<_> = (1..=6)
        .map(|n| {
            let mut c = c.clone();
            let mut rdf_text = String::new();
            for k in 0..50 {
                rdf_text.push_str(&format!("_:b{k} <blob> \"{}\" .\n", text(n, k)));
            }
            tokio::spawn(async move { c.query(rdf(&rdf_text, true)).await.map(|_| ()) })
        })
        .collect();
    for w in writers {
        w.await.unwrap().expect("a 3 MiB transaction");
    }
    let ts = read_ts(&mut c).await;
    for a in &cluster.alphas {
        assert_eq!(
            read_only(&mut client(a), "{ q(func: has(blob)) { count(uid) } }", ts).await,
            serde_json::json!({"q": [{"count": 500}]}),
            "{}",
            a.name
        );
    }
    assert_replicas_equal(&cluster, ts).await;
}
