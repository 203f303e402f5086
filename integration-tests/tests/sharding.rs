//! A cluster of several groups: zero gives each new predicate (tablet) to the group holding
//! the least data, keeps the reserved `dgraph.*` predicates in group 1, and shows each tablet's
//! group and size in `/state`.

mod common;

use common::backups::admin;
use common::json;
use common::replicas::{client, rdf};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Proc, http_get};
use lodestar_proto::api::Operation;
use std::time::{Duration, Instant};

/// One zero and `groups` groups of one alpha each.
async fn groups(groups: usize) -> Cluster {
    ClusterBuilder::new()
        .zeros(1)
        .alphas(groups)
        .replicas(1)
        .start()
        .await
        .expect("cluster")
}

async fn state(cluster: &Cluster) -> serde_json::Value {
    let (status, body) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(status, 200, "{body}");
    json(&body)
}

/// The group zero's `/state` shows serving `pred` (0: none), and the size it shows.
async fn tablet(cluster: &Cluster, pred: &str) -> (u64, i64) {
    let state = state(cluster).await;
    for (g, group) in state["groups"].as_object().expect("groups") {
        if let Some(t) = group["tablets"].get(pred) {
            let space = t["space"]
                .as_i64()
                .or_else(|| t["space"].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0);
            return (g.parse().unwrap(), space);
        }
    }
    (0, 0)
}

/// The alpha zero placed in `group`.
async fn alpha_of(cluster: &Cluster, group: u64) -> &Proc {
    let state = state(cluster).await;
    let members = state["groups"][group.to_string()]["members"]
        .as_object()
        .unwrap_or_else(|| panic!("no group {group}: {state}"));
    let addr = members.values().next().expect("a member")["addr"]
        .as_str()
        .expect("addr")
        .to_string();
    cluster
        .alphas
        .iter()
        .find(|a| a.internal_addr() == addr)
        .unwrap_or_else(|| panic!("no alpha at {addr}"))
}

/// Alters `schema` through the alpha of `group`.
async fn alter_via(cluster: &Cluster, group: u64, schema: &str) -> Result<(), tonic::Status> {
    client(alpha_of(cluster, group).await)
        .alter(Operation {
            schema: schema.into(),
            ..Default::default()
        })
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tablets_go_to_the_group_with_the_least_data_and_reserved_ones_to_group_1() {
    let cluster = groups(2).await;
    // Both groups are empty: the first tablet goes to the lowest group, the next to the other.
    alter_via(&cluster, 1, "big: string .")
        .await
        .expect("alter big");
    assert_eq!(tablet(&cluster, "big").await.0, 1);
    // A schema change through any alpha reaches the group serving the predicate.
    alter_via(&cluster, 1, "small1: string @index(exact) .")
        .await
        .expect("alter small1 through group 1");
    assert_eq!(tablet(&cluster, "small1").await.0, 2);
    let schema = query_via(
        alpha_of(&cluster, 2).await,
        "schema(pred: small1) { index tokenizer }",
    )
    .await;
    assert_eq!(
        schema["schema"][0],
        serde_json::json!({"predicate": "small1", "index": true, "tokenizer": ["exact"]}),
        "{schema}"
    );

    // About 2 MB in group 1's tablet; group 2's stays tiny.
    let mut c1 = client(alpha_of(&cluster, 1).await);
    for batch in 0..4 {
        let text: String = (0..50)
            .map(|i| format!("_:n{i} <big> \"{}\" .\n", "b".repeat(10_000 + batch)))
            .collect();
        c1.query(rdf(&text, true)).await.expect("load big");
    }
    let mut c2 = client(alpha_of(&cluster, 2).await);
    c2.query(rdf("_:s <small1> \"tiny\" .", true))
        .await
        .expect("write small1");

    // The leaders report sizes at least every ten seconds.
    let started = Instant::now();
    loop {
        let (group, space) = tablet(&cluster, "big").await;
        assert_eq!(group, 1);
        if space > 2_000_000 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/state never showed big's size: {space} bytes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, small) = tablet(&cluster, "small1").await;
    assert!(small < 10_000, "small1 takes {small} bytes");

    // Group 2 now holds more tablets but far fewer bytes: the next tablets go there.
    for pred in ["small2", "small3"] {
        alter_via(&cluster, 1, &format!("{pred}: int ."))
            .await
            .unwrap_or_else(|e| panic!("{pred}: {e:?}"));
        assert_eq!(tablet(&cluster, pred).await.0, 2, "{pred}");
    }

    // The reserved predicates live in group 1, whichever alpha first writes them.
    c2.query(rdf(
        "_:t <dgraph.type> \"Thing\" .\n_:t <small1> \"typed\" .",
        true,
    ))
    .await
    .expect("a typed node written through group 2");
    assert_eq!(tablet(&cluster, "dgraph.type").await.0, 1);
    let typed = query_via(
        alpha_of(&cluster, 2).await,
        "{ q(func: type(Thing)) { small1 dgraph.type } }",
    )
    .await;
    assert_eq!(
        typed,
        serde_json::json!({"q": [{"small1": "typed", "dgraph.type": ["Thing"]}]})
    );
}

/// Alters `schema` (one predicate) through group 1's alpha; returns the group zero gave the
/// predicate.
async fn alter_where_served(cluster: &Cluster, schema: &str) -> u64 {
    alter_via(cluster, 1, schema).await.expect(schema);
    let pred = schema.split(':').next().unwrap().trim();
    tablet(cluster, pred).await.0
}

/// The commit request of the transaction `txn` (its keys and predicates, as a client sends
/// them).
fn commit_of(txn: &lodestar_proto::api::TxnContext) -> lodestar_proto::api::TxnContext {
    lodestar_proto::api::TxnContext {
        start_ts: txn.start_ts,
        keys: txn.keys.clone(),
        preds: txn.preds.clone(),
        ..Default::default()
    }
}

/// A request that deletes `del` (N-Quads) at once, after the upsert query `query` if any.
fn deletion(query: &str, del: &str) -> lodestar_proto::api::Request {
    lodestar_proto::api::Request {
        query: query.into(),
        mutations: vec![lodestar_proto::api::Mutation {
            del_nquads: del.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    }
}

async fn query_via(alpha: &Proc, q: &str) -> serde_json::Value {
    let resp = client(alpha)
        .query(lodestar_proto::api::Request {
            query: q.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{q}: {e:?}"))
        .into_inner();
    serde_json::from_slice(&resp.json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_join_predicates_that_different_groups_serve() {
    let cluster = groups(2).await;
    let mut home = std::collections::HashMap::new();
    for schema in [
        "name: string @index(exact) .",
        "friend: [uid] @reverse @count .",
        "age: int @index(int) .",
        "nick: string @lang .",
    ] {
        let pred = schema.split(':').next().unwrap().to_string();
        home.insert(pred, alter_where_served(&cluster, schema).await);
    }
    assert_ne!(
        home["name"], home["friend"],
        "the two predicates joined live apart: {home:?}"
    );

    // Nodes get their names in name's group; their other predicates go to where those live.
    let names = ["ann", "bob", "cat", "dan"];
    let text: String = names
        .iter()
        .map(|n| format!("_:{n} <name> \"{n}\" .\n"))
        .collect();
    let resp = client(alpha_of(&cluster, home["name"]).await)
        .query(rdf(&text, true))
        .await
        .expect("names")
        .into_inner();
    let uid = |n: &str| resp.uids[n].clone();
    let mut by_group: std::collections::HashMap<u64, String> = Default::default();
    let mut add = |pred: &str, line: String| {
        by_group.entry(home[pred]).or_default().push_str(&line);
    };
    for (i, n) in names.iter().enumerate() {
        add("age", format!("<{}> <age> \"{}\" .\n", uid(n), 20 + 5 * i));
    }
    add(
        "friend",
        format!("<{}> <friend> <{}> .\n", uid("ann"), uid("bob")),
    );
    add(
        "friend",
        format!("<{}> <friend> <{}> .\n", uid("ann"), uid("cat")),
    );
    add(
        "friend",
        format!("<{}> <friend> <{}> .\n", uid("dan"), uid("ann")),
    );
    add("nick", format!("<{}> <nick> \"annie\"@en .\n", uid("ann")));
    add("nick", format!("<{}> <nick> \"anita\"@es .\n", uid("ann")));
    for (group, text) in by_group {
        client(alpha_of(&cluster, group).await)
            .query(rdf(&text, true))
            .await
            .unwrap_or_else(|e| panic!("group {group}: {e:?}"));
    }

    let cases = [
        (
            r#"{ q(func: eq(name, "ann")) { name age nick@en nick@es friend(orderasc: age) { name age } ~friend { name } count(friend) } }"#,
            serde_json::json!({"q": [{"name": "ann", "age": 20, "nick@en": "annie", "nick@es": "anita",
                "friend": [{"name": "bob", "age": 25}, {"name": "cat", "age": 30}],
                "~friend": [{"name": "dan"}], "count(friend)": 2}]}),
        ),
        (
            "{ q(func: has(age), orderdesc: age, first: 2, offset: 1) { name age } }",
            serde_json::json!({"q": [{"name": "cat", "age": 30}, {"name": "bob", "age": 25}]}),
        ),
        (
            "{ q(func: has(name), orderasc: name) @filter(ge(age, 25) AND NOT has(friend)) { name } }",
            serde_json::json!({"q": [{"name": "bob"}, {"name": "cat"}]}),
        ),
        (
            r#"{ var(func: eq(name, "ann")) { f as friend } q(func: uid(f), orderasc: name) { name } }"#,
            serde_json::json!({"q": [{"name": "bob"}, {"name": "cat"}]}),
        ),
        (
            "{ q(func: ge(age, 30), orderasc: age) { name friend { name } } }",
            serde_json::json!({"q": [{"name": "cat"}, {"name": "dan", "friend": [{"name": "ann"}]}]}),
        ),
        (
            "{ q(func: has(friend), orderasc: name) @filter(gt(count(friend), 1)) { name } }",
            serde_json::json!({"q": [{"name": "ann"}]}),
        ),
    ];
    for (q, want) in cases {
        for group in [1, 2] {
            let got = query_via(alpha_of(&cluster, group).await, q).await;
            assert_eq!(got, want, "{q} through group {group}'s alpha");
        }
    }

    // A type defined through one alpha is known to every group: expand(_all_) anywhere.
    alter_via(&cluster, 1, "type Person { name age }")
        .await
        .expect("type");
    client(alpha_of(&cluster, 2).await)
        .query(rdf(
            &format!("<{}> <dgraph.type> \"Person\" .", uid("ann")),
            true,
        ))
        .await
        .expect("typed");
    for group in [1, 2] {
        let got = query_via(
            alpha_of(&cluster, group).await,
            "{ q(func: type(Person)) { expand(_all_) } }",
        )
        .await;
        assert_eq!(
            got,
            serde_json::json!({"q": [{"name": "ann", "age": 20}]}),
            "through group {group}'s alpha"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_across_groups_commit_or_abort_as_one() {
    use lodestar_proto::api::TxnContext;
    let cluster = groups(2).await;
    let g_name = alter_where_served(&cluster, "name: string @index(exact) .").await;
    let g_bal = alter_where_served(&cluster, "balance: int .").await;
    assert_ne!(g_name, g_bal, "name and balance live apart");
    let a = alpha_of(&cluster, g_name).await;
    let b = alpha_of(&cluster, g_bal).await;
    let both = r#"{ q(func: has(name), orderasc: name) { name balance } }"#;

    // Committed at once through either group's alpha: both halves, seen from both alphas.
    for (alpha, who) in [(a, "ann"), (b, "bob")] {
        client(alpha)
            .query(rdf(
                &format!("_:x <name> \"{who}\" .\n_:x <balance> \"10\" ."),
                true,
            ))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e:?}"));
    }
    let want =
        serde_json::json!({"q": [{"name": "ann", "balance": 10}, {"name": "bob", "balance": 10}]});
    assert_eq!(query_via(a, both).await, want);
    assert_eq!(query_via(b, both).await, want);

    // Mutated through one alpha, invisible until committed, committed through the other.
    let mut ca = client(a);
    let open = ca
        .query(rdf("_:x <name> \"cat\" .\n_:x <balance> \"7\" .", false))
        .await
        .expect("open")
        .into_inner();
    let txn = open.txn.clone().unwrap();
    assert_eq!(
        query_via(b, both).await,
        want,
        "uncommitted writes are invisible"
    );
    let done = client(b)
        .commit_or_abort(commit_of(&txn))
        .await
        .expect("commit through the other group's alpha")
        .into_inner();
    assert!(done.commit_ts > txn.start_ts);
    let want = serde_json::json!({"q": [{"name": "ann", "balance": 10}, {"name": "bob", "balance": 10},
        {"name": "cat", "balance": 7}]});
    for alpha in [a, b] {
        assert_eq!(query_via(alpha, both).await, want);
    }

    // Two transactions write the same balance: the second to commit aborts, its name too.
    let ann = query_via(a, r#"{ q(func: eq(name, "ann")) { uid } }"#).await["q"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let mut t = Vec::new();
    for (i, alpha) in [a, b].into_iter().enumerate() {
        let resp = client(alpha)
            .query(rdf(
                &format!(
                    "<{ann}> <balance> \"{}\" .\n_:n <name> \"racer{i}\" .",
                    100 + i
                ),
                false,
            ))
            .await
            .expect("racer")
            .into_inner();
        t.push((alpha, resp.txn.unwrap()));
    }
    let commit = |alpha: &Proc, txn: &TxnContext| {
        let mut c = client(alpha);
        let ctx = commit_of(txn);
        async move { c.commit_or_abort(ctx).await }
    };
    commit(t[0].0, &t[0].1).await.expect("the first commits");
    let second = commit(t[1].0, &t[1].1)
        .await
        .expect_err("the second conflicts");
    assert_eq!(second.code(), tonic::Code::Aborted, "{second:?}");
    let racers = r#"{ q(func: eq(name, ["racer0", "racer1"])) { name } a(func: eq(name, "ann")) { balance } }"#;
    let want = serde_json::json!({"q": [{"name": "racer0"}], "a": [{"balance": 100}]});
    for alpha in [a, b] {
        assert_eq!(
            query_via(alpha, racers).await,
            want,
            "through {}",
            alpha.name
        );
    }

    // Discarded: nothing of it anywhere.
    let open = client(b)
        .query(rdf(
            "_:x <name> \"dropped\" .\n_:x <balance> \"1\" .",
            false,
        ))
        .await
        .expect("open")
        .into_inner();
    let txn = open.txn.unwrap();
    let aborted = client(a)
        .commit_or_abort(TxnContext {
            aborted: true,
            ..commit_of(&txn)
        })
        .await
        .expect("abort")
        .into_inner();
    assert!(aborted.aborted);
    let q = r#"{ q(func: eq(name, "dropped")) { name } b(func: has(balance)) @filter(eq(balance, 1)) { uid } }"#;
    for alpha in [a, b] {
        assert_eq!(
            query_via(alpha, q).await,
            serde_json::json!({"q": [], "b": []})
        );
    }

    // `S * *` deletes the node's predicates in every group.
    let cat = query_via(a, r#"{ q(func: eq(name, "cat")) { uid } }"#).await["q"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    client(b)
        .query(deletion("", &format!("<{cat}> * * .")))
        .await
        .expect("delete cat");
    let q = format!("{{ q(func: uid({cat})) {{ name balance }} }}");
    for alpha in [a, b] {
        assert_eq!(query_via(alpha, &q).await, serde_json::json!({"q": []}));
    }
}

/// The index in `cluster.alphas` of the alpha zero placed in `group`.
async fn index_of(cluster: &Cluster, group: u64) -> usize {
    let addr = alpha_of(cluster, group).await.internal_addr();
    cluster
        .alphas
        .iter()
        .position(|a| a.internal_addr() == addr)
        .expect("the alpha")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_groups_leaves_no_transaction_half_applied() {
    let mut cluster = groups(2).await;
    let g_name = alter_where_served(&cluster, "name: string @index(exact) .").await;
    let g_bal = alter_where_served(&cluster, "balance: int .").await;
    assert_ne!(g_name, g_bal, "name and balance live apart");
    let (ia, ib) = (
        index_of(&cluster, g_name).await,
        index_of(&cluster, g_bal).await,
    );

    // The group holding one part is killed before the commit: the commit aborts, and once
    // that group is back nothing of the transaction is anywhere.
    let lost = client(&cluster.alphas[ia])
        .query(rdf("_:x <name> \"lost\" .\n_:x <balance> \"5\" .", false))
        .await
        .expect("open")
        .into_inner()
        .txn
        .unwrap();
    cluster.alphas[ib].kill9();
    let refused = client(&cluster.alphas[ia])
        .commit_or_abort(commit_of(&lost))
        .await
        .expect_err("a commit with a group down");
    assert_eq!(refused.code(), tonic::Code::Aborted, "{refused:?}");
    cluster.alphas[ib].restart().await.expect("restart");
    let nothing = r#"{ q(func: eq(name, "lost")) { name } b(func: has(balance)) { balance } }"#;
    for i in [ia, ib] {
        assert_eq!(
            query_via(&cluster.alphas[i], nothing).await,
            serde_json::json!({"q": [], "b": []})
        );
    }

    // Zero commits a transaction and the alpha that asked dies before any group applied it:
    // the other group applies its part before its next read, the dead one when it is back.
    let kept = client(&cluster.alphas[ia])
        .query(rdf("_:y <name> \"kept\" .\n_:y <balance> \"6\" .", false))
        .await
        .expect("open")
        .into_inner()
        .txn
        .unwrap();
    let zero = lodestar_client::ZeroClient::new(cluster.zero_grpc_addrs()).unwrap();
    let decided = zero
        .commit_or_abort(lodestar_proto::zero::CommitRequest {
            start_ts: kept.start_ts,
            conflict_keys: kept
                .keys
                .iter()
                .map(|k| u64::from_str_radix(k, 16).unwrap())
                .collect(),
            preds: kept.preds.clone(),
            abort: false,
        })
        .await
        .expect("zero decides");
    assert!(!decided.aborted && decided.commit_ts > kept.start_ts);
    cluster.alphas[ia].kill9();
    assert_eq!(
        query_via(&cluster.alphas[ib], "{ b(func: has(balance)) { balance } }").await,
        serde_json::json!({"b": [{"balance": 6}]}),
        "the surviving group applied its part before reading"
    );
    cluster.alphas[ia].restart().await.expect("restart");
    let q = r#"{ q(func: eq(name, "kept")) { name balance } }"#;
    for i in [ia, ib] {
        assert_eq!(
            query_via(&cluster.alphas[i], q).await,
            serde_json::json!({"q": [{"name": "kept", "balance": 6}]})
        );
    }
}

/// Restores `location` through `/admin`; Ok once restoreStatus says OK, Err with what it said.
async fn restore(cluster: &Cluster, location: &str) -> Result<(), serde_json::Value> {
    let v = admin(
        cluster,
        &format!(
            r#"mutation {{ restore(input: {{location: "{location}"}}) {{ code message restoreId }} }}"#
        ),
    )
    .await;
    if v.get("errors").is_some() {
        return Err(v);
    }
    let id = v["data"]["restore"]["restoreId"]
        .as_i64()
        .expect("restoreId");
    for _ in 0..1200 {
        let s = admin(
            cluster,
            &format!("query {{ restoreStatus(restoreId: {id}) {{ status errors }} }}"),
        )
        .await;
        match s["data"]["restoreStatus"]["status"].as_str() {
            Some("OK") => return Ok(()),
            Some("ERR") => return Err(s),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("restore {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_two_groups_restores_with_its_tablets_and_only_into_two_groups() {
    use common::backups::{backup_client, run_backup, to};
    let with_services = |n: usize| {
        ClusterBuilder::new()
            .zeros(1)
            .alphas(n)
            .replicas(1)
            .services(true)
            .start()
    };
    let source = with_services(2).await.expect("source");
    let g_name = alter_where_served(&source, "name: string @index(exact) .").await;
    let g_bal = alter_where_served(&source, "balance: int .").await;
    assert_ne!(g_name, g_bal, "name and balance live apart");
    let text: String = ["ann", "bob", "cat"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "_:{n} <name> \"{n}\" .\n_:{n} <balance> \"{}\" .\n",
                10 * (i + 1)
            )
        })
        .collect();
    client(alpha_of(&source, 1).await)
        .query(rdf(&text, true))
        .await
        .expect("load");
    let everything = "{ q(func: has(name), orderasc: name) { name balance } }";
    let want = query_via(alpha_of(&source, 1).await, everything).await;
    assert_eq!(want["q"].as_array().map(Vec::len), Some(3), "{want}");

    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("b").to_str().unwrap().to_string();
    run_backup(&mut backup_client(&source), to(&location, true)).await;
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("b/manifest.json")).expect("manifest"),
    )
    .unwrap();
    let groups = &manifest["Manifests"][0]["groups"];
    let listed = |g: u64, pred: &str| {
        groups[g.to_string()]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p == pred))
    };
    assert!(
        listed(g_name, "0-name") && listed(g_bal, "0-balance"),
        "the manifest lists each group's predicates: {groups}"
    );

    // name moves to balance's group; then a write, a delete and an incremental backup.
    let (status, body) = move_tablet(&source, "name", g_bal).await;
    assert_eq!(status, 200, "{body}");
    let mut c = client(alpha_of(&source, 1).await);
    c.query(rdf(
        "_:dan <name> \"dan\" .\n_:dan <balance> \"40\" .",
        true,
    ))
    .await
    .expect("write after the move");
    c.query(deletion(
        r#"{ b as var(func: eq(name, "bob")) }"#,
        "uid(b) <name> * .",
    ))
    .await
    .expect("delete after the move");
    let want = query_via(alpha_of(&source, 2).await, everything).await;
    assert_eq!(
        want,
        serde_json::json!({"q": [
            {"name": "ann", "balance": 10},
            {"name": "cat", "balance": 30},
            {"name": "dan", "balance": 40},
        ]})
    );
    run_backup(&mut backup_client(&source), to(&location, false)).await;
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("b/manifest.json")).expect("manifest"),
    )
    .unwrap();
    let latest = &manifest["Manifests"][1];
    assert_eq!(latest["type"], "incremental", "{latest}");
    assert!(
        latest["groups"][g_bal.to_string()]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p == "0-name")),
        "the incremental lists name in its new group: {latest}"
    );

    // A fresh cluster of two groups whose tablets start the other way round.
    let target = with_services(2).await.expect("target");
    let t_bal = alter_where_served(&target, "balance: int .").await;
    let t_name = alter_where_served(&target, "name: string @index(exact) .").await;
    assert_eq!(
        (t_bal, t_name),
        (g_name, g_bal),
        "the target's tablets start swapped"
    );
    restore(&target, &location).await.expect("restore");
    assert_eq!(
        tablet(&target, "balance").await.0,
        g_bal,
        "tablets follow the latest manifest"
    );
    assert_eq!(tablet(&target, "name").await.0, g_bal);
    for group in [1, 2] {
        assert_eq!(
            query_via(alpha_of(&target, group).await, everything).await,
            want,
            "the restored data through group {group}'s alpha"
        );
    }

    // One group cannot take a backup of two.
    let one = with_services(1).await.expect("one group");
    let refused = restore(&one, &location)
        .await
        .expect_err("a restore into one group");
    assert!(
        refused
            .to_string()
            .contains("groups in cluster and latest backup manifest differ"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_fails_after_another_group_took_its_part_aborts_the_transaction() {
    use lodestar_proto::api::{Mutation, Request};
    let cluster = groups(3).await;
    let mut home = Vec::new();
    for schema in [
        "name: string @index(exact) .",
        "nick: string .",
        "balance: int .",
    ] {
        home.push(alter_where_served(&cluster, schema).await);
    }
    home.sort_unstable();
    assert_eq!(home, [1, 2, 3], "one predicate per group");
    let a = alpha_of(&cluster, tablet(&cluster, "name").await.0).await;
    let open = client(a)
        .query(rdf("_:x <name> \"half\" .\n_:x <nick> \"h\" .", false))
        .await
        .expect("open")
        .into_inner()
        .txn
        .unwrap();
    // nick's group takes its part, balance's refuses a value that is not an int.
    let bad = client(a)
        .query(Request {
            start_ts: open.start_ts,
            mutations: vec![Mutation {
                set_nquads: b"_:y <nick> \"fine\" .\n_:y <balance> \"not a number\" .".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect_err("a value that is not an int");
    assert!(bad.message().contains("aborted"), "{bad:?}");
    let refused = client(a)
        .commit_or_abort(commit_of(&open))
        .await
        .expect_err("an aborted transaction does not commit");
    assert_eq!(refused.code(), tonic::Code::Aborted, "{refused:?}");
    let q = "{ q(func: has(name)) { name } n(func: has(nick)) { nick } }";
    for group in [1, 2, 3] {
        assert_eq!(
            query_via(alpha_of(&cluster, group).await, q).await,
            serde_json::json!({"q": [], "n": []}),
            "through group {group}'s alpha"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_is_down_fails_only_what_touches_its_predicates() {
    let mut cluster = groups(2).await;
    let g_name = alter_where_served(&cluster, "name: string @index(exact) .").await;
    let g_bal = alter_where_served(&cluster, "balance: int .").await;
    assert_ne!(g_name, g_bal, "name and balance live apart");
    let (ia, ib) = (
        index_of(&cluster, g_name).await,
        index_of(&cluster, g_bal).await,
    );
    client(&cluster.alphas[ia])
        .query(rdf("_:x <name> \"ann\" .\n_:x <balance> \"7\" .", true))
        .await
        .expect("write");
    cluster.alphas[ib].kill9();

    // What group `g_name` serves alone is still answered.
    assert_eq!(
        query_via(&cluster.alphas[ia], "{ q(func: has(name)) { name } }").await,
        serde_json::json!({"q": [{"name": "ann"}]})
    );
    // What needs the dead group fails, naming it.
    let err = client(&cluster.alphas[ia])
        .query(lodestar_proto::api::Request {
            query: "{ q(func: has(name)) { name balance } }".into(),
            ..Default::default()
        })
        .await
        .expect_err("a read of the dead group's predicate");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains(&format!("group {g_bal}")),
        "the error names the group: {err:?}"
    );
    let err = client(&cluster.alphas[ia])
        .query(rdf("_:y <name> \"bob\" .\n_:y <balance> \"1\" .", true))
        .await
        .expect_err("a write to the dead group's predicate");
    assert!(
        matches!(err.code(), tonic::Code::Unavailable | tonic::Code::Aborted),
        "{err:?}"
    );
    assert!(err.message().contains(&format!("group {g_bal}")), "{err:?}");
    // Writes to the live group alone go on.
    client(&cluster.alphas[ia])
        .query(rdf("_:z <name> \"cat\" .", true))
        .await
        .expect("a write to the live group");

    // Back up, the group serves again, and the failed write left nothing.
    cluster.alphas[ib].restart().await.expect("restart");
    assert_eq!(
        query_via(
            &cluster.alphas[ia],
            "{ q(func: has(name), orderasc: name) { name balance } }"
        )
        .await,
        serde_json::json!({"q": [{"name": "ann", "balance": 7}, {"name": "cat"}]})
    );
}

/// Asks zero to move `pred` to `group`; returns zero's answer.
async fn move_tablet(cluster: &Cluster, pred: &str, group: u64) -> (u16, String) {
    http_get(&format!(
        "{}/moveTablet?tablet={pred}&group={group}",
        cluster.zero_http(0)
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_moves_while_a_writer_writes_it_and_readers_read_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .alphas(2)
        .replicas(1)
        .services(true)
        .start()
        .await
        .expect("cluster");
    let from = alter_where_served(&cluster, "mv_val: int @index(int) .").await;
    alter_where_served(&cluster, "mv_tag: string .").await;
    let to = 3 - from;
    // Something to copy before the writer starts.
    let mut c = client(&cluster.alphas[0]);
    for chunk in 0..4 {
        let text: String = (0..500)
            .map(|i| {
                let v = 1_000_000 + chunk * 500 + i;
                format!("_:s{i} <mv_val> \"{v}\" .\n_:s{i} <mv_tag> \"seed\" .\n")
            })
            .collect();
        c.query(rdf(&text, true)).await.expect("seed");
    }
    let addrs: Vec<String> = cluster.alphas.iter().map(|a| a.grpc_addr()).collect();
    let stop = Arc::new(AtomicBool::new(false));

    // The writer writes value i in a transaction that also writes the other group's predicate,
    // through each alpha in turn, and notes which commits were acknowledged.
    let writer = {
        let (addrs, stop) = (addrs.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut tried = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let channel = lodestar_client::channel(&addrs[tried as usize % 2]).unwrap();
                let mut c = lodestar_proto::api::dgraph_client::DgraphClient::new(channel);
                let text = format!("_:n <mv_val> \"{tried}\" .\n_:n <mv_tag> \"w\" .");
                if c.query(rdf(&text, true)).await.is_ok() {
                    acked.push(tried);
                }
                tried += 1;
            }
            (acked, tried)
        })
    };
    // Readers count the values at fresh timestamps: a count never goes down (nothing seen
    // missing) and never passes what was written (nothing doubled).
    let reader = {
        let (addrs, stop) = (addrs.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut last, mut reads, mut errors) = (0u64, 0u64, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                let channel = lodestar_client::channel(&addrs[reads as usize % 2]).unwrap();
                let mut c = lodestar_proto::api::dgraph_client::DgraphClient::new(channel);
                let resp = c
                    .query(lodestar_proto::api::Request {
                        query: "{ q(func: has(mv_val)) { n: count(uid) } }".into(),
                        read_only: true,
                        ..Default::default()
                    })
                    .await;
                reads += 1;
                match resp {
                    Ok(r) => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&r.into_inner().json).expect("json");
                        let n = v["q"][0]["n"].as_u64().expect("a count");
                        assert!(
                            n >= last,
                            "a read through alpha {} saw {n} values after one saw {last} (at {:?})",
                            reads % 2,
                            std::time::SystemTime::now()
                        );
                        last = n;
                    }
                    Err(e) => errors.push(format!("{e:?}")),
                }
            }
            (reads, errors, last)
        })
    };

    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, body) = move_tablet(&cluster, "mv_val", to).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!("Predicate: [mv_val] moved from group [{from}] to [{to}]")
    );
    assert_eq!(tablet(&cluster, "mv_val").await.0, to);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // And back through `/admin`, so the group it left takes it in again.
    let moved = admin(
        &cluster,
        &format!(
            "mutation {{ moveTablet(input: {{tablet: \"mv_val\", groupId: {from}}}) {{ response {{ code message }} }} }}"
        ),
    )
    .await;
    assert_eq!(
        moved["data"]["moveTablet"]["response"],
        serde_json::json!({
            "code": "Success",
            "message": format!("Predicate: [mv_val] moved from group [{to}] to [{from}]")
        }),
        "{moved}"
    );
    assert_eq!(tablet(&cluster, "mv_val").await.0, from);
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::SeqCst);
    let (acked, tried) = writer.await.unwrap();
    let (reads, errors, _) = reader.await.unwrap();
    assert!(acked.len() >= 10, "the writer kept writing: {acked:?}");
    assert!(reads >= 10, "the readers kept reading ({reads})");
    assert!(
        errors.is_empty(),
        "reads failed across the move: {errors:?}"
    );

    // Every acknowledged value is there once, from either group's alpha; the seeds too.
    for alpha in &cluster.alphas {
        let all = query_via(alpha, "{ q(func: has(mv_val)) { v: mv_val } }").await;
        let values: Vec<u64> = all["q"]
            .as_array()
            .expect("values")
            .iter()
            .map(|n| n["v"].as_u64().expect("int"))
            .collect();
        let distinct: std::collections::BTreeSet<u64> = values.iter().copied().collect();
        assert_eq!(distinct.len(), values.len(), "a value was doubled");
        for v in &acked {
            assert!(distinct.contains(v), "acknowledged value {v} was lost");
        }
        assert_eq!(
            distinct.iter().filter(|v| **v >= 1_000_000).count(),
            2000,
            "the seeded values"
        );
        assert!(
            distinct.iter().all(|v| *v >= 1_000_000 || *v < tried),
            "a value nobody wrote"
        );
        // The index moved with the data.
        let probe = acked[acked.len() / 2];
        let hit = query_via(
            alpha,
            &format!("{{ q(func: eq(mv_val, {probe})) {{ mv_val mv_tag }} }}"),
        )
        .await;
        assert_eq!(
            hit,
            serde_json::json!({"q": [{"mv_val": probe, "mv_tag": "w"}]})
        );
    }

    // Once moved, the predicate is written through either group's alpha.
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        client(alpha)
            .query(rdf(&format!("_:a <mv_val> \"{}\" .", 2_000_000 + i), true))
            .await
            .unwrap_or_else(|e| panic!("a write through alpha {i} after the moves: {e:?}"));
    }

    // The gateway's `/health?all` lists both groups' alphas.
    let (status, body) = http_get(&format!("{}/health?all", cluster.gateway_http())).await;
    assert_eq!(status, 200, "{body}");
    let mut alphas: Vec<String> = json(&body)
        .as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["instance"] == "alpha")
        .map(|n| {
            format!(
                "{} {}",
                n["group"].as_str().unwrap(),
                n["status"].as_str().unwrap()
            )
        })
        .collect();
    alphas.sort();
    assert_eq!(alphas, ["1 healthy", "2 healthy"], "{body}");

    // Moving it where it is, a reserved predicate, or to a group that does not exist is refused.
    let (status, body) = move_tablet(&cluster, "mv_val", from).await;
    assert_eq!(status, 412, "{status} {body}");
    assert!(body.contains("already in group"), "{body}");
    let (status, body) = move_tablet(&cluster, "dgraph.type", to).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("reserved predicate"), "{body}");
    let (status, body) = move_tablet(&cluster, "mv_val", 7).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Group: [7] is not a known group."), "{body}");
    // An oversize name is refused without being echoed; a malformed group too.
    let (status, body) = move_tablet(&cluster, &"p".repeat(3_000), to).await;
    let head = &body[..body.len().min(300)];
    assert_eq!(status, 400, "{head}");
    assert!(
        body.contains("3000 bytes is longer than the 2048"),
        "{head}"
    );
    assert!(body.len() < 1_000, "the refusal echoes the name: {head}");
    let (status, _) = http_get(&format!(
        "{}/moveTablet?tablet=mv_val&group=abc",
        cluster.zero_http(0)
    ))
    .await;
    assert_eq!(status, 400);
}

/// A client of `alpha` that sends `token` as dgo and pydgraph do.
fn with_token(
    alpha: &Proc,
    token: &str,
) -> lodestar_proto::api::dgraph_client::DgraphClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        impl tonic::service::Interceptor + use<>,
    >,
> {
    let token: tonic::metadata::MetadataValue<_> = token.parse().expect("ascii token");
    lodestar_proto::api::dgraph_client::DgraphClient::with_interceptor(
        lodestar_client::channel(&alpha.grpc_addr()).expect("channel"),
        move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("accessjwt", token.clone());
            Ok(req)
        },
    )
}

/// Logs `user` in through `alpha`; the access token.
async fn login_via(alpha: &Proc, user: &str, password: &str) -> Result<String, tonic::Status> {
    use prost::Message as _;
    let resp = client(alpha)
        .login(lodestar_proto::api::LoginRequest {
            userid: user.into(),
            password: password.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(lodestar_proto::api::Jwt::decode(resp.json.as_slice())
        .expect("a Jwt")
        .access_jwt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_works_through_every_group_with_its_data_in_group_1() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hmac_secret_file");
    std::fs::write(&secret, "1234567890abcdefghijklmnopqrstuvwxyz").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .alphas(2)
        .replicas(1)
        .acl_secret_file(&secret)
        .start()
        .await
        .expect("cluster");
    let (g1, g2) = (alpha_of(&cluster, 1).await, alpha_of(&cluster, 2).await);
    // groot logs in through either group; its data is group 1's alone, created once.
    let root1 = login_via(g1, "groot", "password")
        .await
        .expect("groot via 1");
    let root2 = login_via(g2, "groot", "password")
        .await
        .expect("groot via 2");
    let who = r#"{ u(func: eq(dgraph.xid, "groot")) { uid dgraph.user.group { dgraph.xid } } }"#;
    let read = |alpha: &Proc, token: &str, q: &str| {
        let (mut c, q) = (with_token(alpha, token), q.to_string());
        async move {
            let r = c
                .query(lodestar_proto::api::Request {
                    query: q.clone(),
                    read_only: true,
                    ..Default::default()
                })
                .await;
            r.map(|r| serde_json::from_slice::<serde_json::Value>(&r.into_inner().json).unwrap())
        }
    };
    let seen1 = read(g1, &root1, who).await.expect("who via 1");
    assert_eq!(seen1["u"].as_array().unwrap().len(), 1, "{seen1}");
    assert_eq!(read(g2, &root2, who).await.expect("who via 2"), seen1);
    assert_eq!(tablet(&cluster, "dgraph.xid").await.0, 1);

    // A user and rule written through group 2's alpha (the data lands in group 1), the
    // predicate it grants in group 2.
    let mut c2 = with_token(g2, &root2);
    c2.alter(Operation {
        schema: "secret: string .\nopen: string .".into(),
        ..Default::default()
    })
    .await
    .expect("alter");
    c2.query(rdf(
        r#"_:al <dgraph.xid> "alice" .
_:al <dgraph.type> "dgraph.type.User" .
_:al <dgraph.password> "alicepassword" .
_:al <dgraph.user.group> _:dev .
_:dev <dgraph.xid> "dev" .
_:dev <dgraph.type> "dgraph.type.Group" .
_:dev <dgraph.acl.rule> _:r .
_:r <dgraph.type> "dgraph.type.Rule" .
_:r <dgraph.rule.predicate> "open" .
_:r <dgraph.rule.permission> "4" .
_:n <open> "yes" .
_:n <secret> "no" ."#,
        true,
    ))
    .await
    .expect("user, rule and data");
    // alice logs in through group 2's alpha and reads by her rules there and in group 1.
    let alice = login_via(g2, "alice", "alicepassword")
        .await
        .expect("alice");
    let q = "{ q(func: has(open)) { open secret } }";
    for alpha in [g1, g2] {
        assert_eq!(
            read(alpha, &alice, q).await.expect("alice reads"),
            serde_json::json!({"q": [{"open": "yes"}]})
        );
    }
    // Taken out of dev through group 1, she loses the predicate in group 2's alpha too, within
    // the time an alpha outside group 1 keeps the rules it read.
    let mut c1 = with_token(g1, &root1);
    c1.query(deletion(
        r#"{ a as var(func: eq(dgraph.xid, "alice")) }"#,
        "uid(a) <dgraph.user.group> * .",
    ))
    .await
    .expect("take alice out of dev");
    let started = Instant::now();
    loop {
        let got = read(g2, &alice, q).await.expect("alice reads");
        if got == serde_json::json!({"q": []}) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "group 2's alpha still applies the old rules: {got}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebalancer_moves_a_tablet_to_the_group_with_less_data() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .alphas(2)
        .replicas(1)
        .zero_arg("--rebalance_interval", "1s")
        .start()
        .await
        .expect("cluster");
    let g_a = alter_where_served(&cluster, "r_a: string .").await;
    let g_b = alter_where_served(&cluster, "r_b: string .").await;
    assert_ne!(g_a, g_b, "new tablets go to the emptier group");
    let mut c = client(&cluster.alphas[0]);
    for pred in ["r_a", "r_b"] {
        let text: String = (0..100)
            .map(|i| format!("_:n{i} <{pred}> \"{}\" .\n", "x".repeat(10_000 + i)))
            .collect();
        c.query(rdf(&text, true)).await.expect("load");
    }
    // Both in one group: the other holds nothing.
    let (status, body) = move_tablet(&cluster, "r_b", g_a).await;
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    loop {
        let (a, b) = (tablet(&cluster, "r_a").await, tablet(&cluster, "r_b").await);
        if a.0 != b.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the rebalancer moved nothing: r_a {a:?}, r_b {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        let counts = query_via(
            alpha,
            "{ a(func: has(r_a)) { count(uid) } b(func: has(r_b)) { count(uid) } }",
        )
        .await;
        assert_eq!(
            counts,
            serde_json::json!({"a": [{"count": 100}], "b": [{"count": 100}]}),
            "through alpha {i}"
        );
    }
}

/// The index in `cluster.alphas` of the alpha zero shows leading `group`.
async fn leader_of(cluster: &Cluster, group: u64) -> usize {
    let started = Instant::now();
    loop {
        let state = state(cluster).await;
        let leader = state["groups"][group.to_string()]["members"]
            .as_object()
            .and_then(|m| m.values().find(|m| m["leader"] == true))
            .and_then(|m| m["addr"].as_str().map(str::to_string));
        if let Some(addr) = leader {
            return cluster
                .alphas
                .iter()
                .position(|a| a.internal_addr() == addr)
                .expect("the leader");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "group {group} has no leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_cut_by_a_leader_crash_loses_nothing_and_completes_when_asked_again() {
    let mut cluster = common::replicas::two_groups_of_three().await;
    let from = alter_where_served(&cluster, "big: string @index(exact) .").await;
    let to = 3 - from;
    let mut c = client(&cluster.alphas[0]);
    for batch in 0..10 {
        let text: String = (0..2000)
            .map(|i| format!("_:n{i} <big> \"v{batch}-{i}-{}\" .\n", "x".repeat(40)))
            .collect();
        c.query(rdf(&text, true)).await.expect("load");
    }
    let count = "{ q(func: has(big)) { count(uid) } }";
    let full = serde_json::json!({"q": [{"count": 20000}]});

    // The new group's leader dies while it copies the tablet.
    let victim = leader_of(&cluster, to).await;
    let zero_http = cluster.zero_http(0);
    let mover = tokio::spawn(async move {
        http_get(&format!("{zero_http}/moveTablet?tablet=big&group={to}")).await
    });
    tokio::time::sleep(Duration::from_millis(40)).await;
    cluster.alphas[victim].kill9();
    let (status, body) = mover.await.unwrap();
    // The move finished through the group's next leader, or it was called off: either way the
    // tablet is in one group with all its data, and writes to it are not blocked.
    let (served_by, _) = tablet(&cluster, "big").await;
    if status == 200 {
        assert_eq!(served_by, to, "{body}");
    } else {
        assert_eq!(
            served_by, from,
            "a failed move leaves the tablet where it was: {body}"
        );
    }
    let state = state(&cluster).await;
    assert_ne!(
        state["groups"][served_by.to_string()]["tablets"]["big"]["readOnly"],
        true,
        "no move is left blocking writes: {state}"
    );
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        if i != victim {
            assert_eq!(query_via(alpha, count).await, full, "through alpha {i}");
        }
    }
    let live = (0..cluster.alphas.len()).find(|i| *i != victim).unwrap();
    client(&cluster.alphas[live])
        .query(rdf("_:w <big> \"written after\" .", true))
        .await
        .expect("a write after the cut move");

    // Back up, the victim catches up; the move (again, or back) succeeds.
    cluster.alphas[victim].restart().await.expect("restart");
    let target = if served_by == to { from } else { to };
    let (status, body) = move_tablet(&cluster, "big", target).await;
    assert_eq!(status, 200, "{body}");
    let after = serde_json::json!({"q": [{"count": 20001}]});
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        let started = Instant::now();
        loop {
            let got = query_via(alpha, count).await;
            if got == after {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "alpha {i} answers {got}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The replicas of each group hold the same versions.
    let mut c = client(&cluster.alphas[0]);
    let ts = common::replicas::read_ts(&mut c).await;
    let groups = common::replicas::group_of_each_alpha(&cluster).await;
    for g in [1, 2] {
        let mut digests = Vec::new();
        for (i, alpha) in cluster.alphas.iter().enumerate() {
            if groups[i] == g {
                digests.push(common::replicas::digest(alpha, ts).await);
            }
        }
        assert_eq!(digests.len(), 3, "group {g}");
        assert!(
            digests.iter().all(|d| *d == digests[0]),
            "group {g}'s replicas differ: {digests:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predicate_defined_by_its_first_use_moves_with_its_schema() {
    let cluster = groups(2).await;
    // No schema: the first write defines `imp` as an int, in the group zero gives it.
    let writer = client(&cluster.alphas[0])
        .query(rdf(
            "_:a <imp> \"42\"^^<xs:int> .\n_:b <imp> \"7\"^^<xs:int> .",
            true,
        ))
        .await;
    writer.expect("write");
    let (from, _) = tablet(&cluster, "imp").await;
    let to = 3 - from;
    let (status, body) = move_tablet(&cluster, "imp", to).await;
    assert_eq!(status, 200, "{body}");
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        assert_eq!(
            query_via(alpha, "{ q(func: has(imp), orderasc: imp) { imp } }").await,
            serde_json::json!({"q": [{"imp": 7}, {"imp": 42}]}),
            "through alpha {i}"
        );
        let schema = query_via(alpha, "schema(pred: imp) { type }").await;
        assert_eq!(
            schema["schema"][0]["type"], "int",
            "through alpha {i}: {schema}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_outlives_its_caller_and_a_zero_killed_mid_move_leaves_one_whole_tablet() {
    let mut cluster = groups(2).await;
    let from = alter_where_served(&cluster, "big: string @index(exact) .").await;
    let to = 3 - from;
    let mut c = client(&cluster.alphas[0]);
    for batch in 0..10 {
        let text: String = (0..2000)
            .map(|i| format!("_:n{i} <big> \"v{batch}-{i}-{}\" .\n", "x".repeat(40)))
            .collect();
        c.query(rdf(&text, true)).await.expect("load");
    }
    let count = "{ q(func: has(big)) { count(uid) } }";
    let whole = |n: u64| serde_json::json!({"q": [{"count": n}]});

    // A caller that gives up mid-move does not stop it: the call reaches zero well within
    // 200 ms, and copying 20,000 values takes about a second.
    let channel = lodestar_client::traced_channel(&cluster.zeros[0].grpc_addr()).unwrap();
    let mut req = tonic::Request::new(lodestar_proto::zero::MoveTabletRequest {
        predicate: "big".into(),
        group_id: to as u32,
        namespace: 0,
    });
    req.set_timeout(Duration::from_millis(200));
    let cut = lodestar_proto::zero::zero_client::ZeroClient::new(channel)
        .move_tablet(req)
        .await
        .expect_err("the caller's deadline passes first");
    assert!(
        matches!(
            cut.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{cut:?}"
    );
    let started = Instant::now();
    while tablet(&cluster, "big").await.0 != to {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the move stopped with its caller"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for alpha in &cluster.alphas {
        assert_eq!(query_via(alpha, count).await, whole(20_000));
    }

    // Zero is killed -9 while it moves the tablet back, then restarted: the move it left is
    // finished or called off, and the tablet is in one group, whole, taking writes.
    let zero_http = cluster.zero_http(0);
    let mover = tokio::spawn(async move {
        lodestar_integration_tests::try_http_get(&format!(
            "{zero_http}/moveTablet?tablet=big&group={from}"
        ))
        .await
    });
    tokio::time::sleep(Duration::from_millis(40)).await;
    cluster.zeros[0].kill9();
    let _ = mover.await;
    cluster.zeros[0].restart().await.expect("zero restarts");
    let started = Instant::now();
    loop {
        let state = state(&cluster).await;
        let (group, _) = tablet(&cluster, "big").await;
        let read_only = &state["groups"][group.to_string()]["tablets"]["big"]["readOnly"];
        if read_only != &serde_json::json!(true) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the restarted zero left writes blocked: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client(&cluster.alphas[0])
        .query(rdf("_:w <big> \"after the restart\" .", true))
        .await
        .expect("a write after zero's restart");
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        assert_eq!(
            query_via(alpha, count).await,
            whole(20_001),
            "through alpha {i}"
        );
    }
    // Nothing of the old move is left in the way of the next.
    let (group, _) = tablet(&cluster, "big").await;
    let (status, body) = move_tablet(&cluster, "big", 3 - group).await;
    assert_eq!(status, 200, "{body}");
    for (i, alpha) in cluster.alphas.iter().enumerate() {
        assert_eq!(
            query_via(alpha, count).await,
            whole(20_001),
            "through alpha {i}"
        );
    }
}
