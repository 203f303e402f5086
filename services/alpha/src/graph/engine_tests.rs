//! The graph engine end to end on an in-memory store, with an in-process oracle standing in
//! for zero (zero itself is tested against real processes elsewhere).

use super::mutate::MutationCtx;
use super::{Graph, GraphError, Oracle};
use lodestar_storage::Store;
use parking_lot::Mutex;
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A minimal oracle: a counter and first-committer-wins on conflict keys.
#[derive(Default)]
pub struct LocalOracle {
    state: Mutex<OracleState>,
}

#[derive(Default)]
struct OracleState {
    ts: u64,
    uid: u64,
    last_write: HashMap<u64, u64>,
    decided: HashMap<u64, Option<u64>>,
}

#[tonic::async_trait]
impl Oracle for LocalOracle {
    async fn timestamps(&self, n: u64) -> Result<u64, GraphError> {
        let mut s = self.state.lock();
        let first = s.ts + 1;
        s.ts += n;
        Ok(first)
    }
    async fn read_ts(&self) -> Result<u64, GraphError> {
        Ok(self.state.lock().ts)
    }
    async fn commit(
        &self,
        start: u64,
        keys: Vec<u64>,
        _preds: Vec<String>,
        abort: bool,
    ) -> Result<Option<u64>, GraphError> {
        let mut s = self.state.lock();
        if let Some(d) = s.decided.get(&start) {
            return Ok(*d);
        }
        if abort
            || keys
                .iter()
                .any(|k| s.last_write.get(k).is_some_and(|c| *c > start))
        {
            s.decided.insert(start, None);
            return Ok(None);
        }
        s.ts += 1;
        let c = s.ts;
        for k in keys {
            s.last_write.insert(k, c);
        }
        s.decided.insert(start, Some(c));
        Ok(Some(c))
    }
    async fn status(&self, start: u64) -> Result<Option<Option<u64>>, GraphError> {
        Ok(self.state.lock().decided.get(&start).copied())
    }
    /// One group: every tablet is group 1's (what zero chooses when asked with group 0).
    async fn tablet(&self, _predicate: &str, group: u32) -> Result<u32, GraphError> {
        Ok(if group == 0 { 1 } else { group })
    }
    async fn uids(&self, n: u64) -> Result<u64, GraphError> {
        let mut s = self.state.lock();
        let first = s.uid + 1;
        s.uid += n;
        Ok(first)
    }
    async fn max_uid(&self) -> Result<u64, GraphError> {
        Ok(self.state.lock().uid)
    }
}

pub(super) async fn graph() -> Arc<Graph> {
    Graph::open(
        Arc::new(Store::in_memory()),
        Arc::new(LocalOracle::default()),
    )
    .await
    .unwrap()
}

async fn alter(g: &Graph, schema: &str) {
    let update = lodestar_types::schema::parse(schema).unwrap();
    g.write_schema(update.predicates, update.types, vec![], vec![])
        .await
        .unwrap();
}

/// Runs one mutation transaction and commits it; returns the blank-node uids.
pub(super) async fn set(g: &Graph, rdf: &str) -> HashMap<String, u64> {
    let (start, blanks) = buffered(g, rdf).await;
    g.commit(start).await.unwrap();
    blanks
}

/// Buffers one set in a new transaction; returns its start timestamp and blank-node uids.
async fn buffered(g: &Graph, rdf: &str) -> (u64, HashMap<String, u64>) {
    let start = g.begin().await.unwrap();
    let nqs = lodestar_dql::parse_set_nquads(rdf).unwrap();
    let mut ctx = MutationCtx::default();
    g.assign_blanks(&nqs, &[], &mut ctx).await.unwrap();
    let txn = g.txn(start).unwrap();
    let mut t = txn.lock().await;
    g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
    g.mutate(&mut t, &nqs, &[], &ctx).unwrap();
    (start, ctx.blanks)
}

/// Runs `nquads` as one delete transaction and commits it.
pub(super) async fn delete(g: &Graph, nquads: &str) {
    let start = g.begin().await.unwrap();
    let dels = lodestar_dql::parse_delete_nquads(nquads).unwrap();
    {
        let txn = g.txn(start).unwrap();
        let mut t = txn.lock().await;
        g.prepare(&dels.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut t, &[], &dels, &MutationCtx::default())
            .unwrap();
    }
    g.commit(start).await.unwrap();
}

pub(super) async fn query(g: &Graph, q: &str) -> Json {
    let ts = g.read_ts().await.unwrap();
    let parsed = lodestar_dql::parse_query(q, &HashMap::new()).unwrap();
    let out = g.run_query(&g.view(ts, None), &parsed).unwrap();
    Json::Object(out.json)
}

#[tokio::test(flavor = "multi_thread")]
async fn set_commit_and_query_with_indexes_edges_and_order() {
    let g = graph().await;
    alter(
        &g,
        "name: string @index(exact, term) .\nage: int @index(int) .\nfriend: [uid] @reverse .",
    )
    .await;
    let uids = set(
        &g,
        r#"_:a <name> "Alice Liddell" .
           _:a <age> "30" .
           _:b <name> "Bob" .
           _:b <age> "25" .
           _:c <name> "Carol" .
           _:a <friend> _:b (since=2006) .
           _:a <friend> _:c ."#,
    )
    .await;
    let (a, b) = (uids["a"], uids["b"]);
    let r = query(&g, r#"{ q(func: eq(name, "Alice Liddell")) { name age friend(orderasc: name) @facets { name } } }"#).await;
    assert_eq!(
        r,
        json!({"q": [{"name": "Alice Liddell", "age": 30, "friend": [{"name": "Bob", "friend|since": 2006}, {"name": "Carol"}]}]})
    );
    let r = query(&g, r#"{ q(func: ge(age, 26)) { uid } }"#).await;
    assert_eq!(r, json!({"q": [{"uid": format!("{a:#x}")}]}));
    let r = query(
        &g,
        &format!("{{ q(func: uid({b:#x})) {{ name ~friend {{ name }} }} }}"),
    )
    .await;
    assert_eq!(
        r,
        json!({"q": [{"name": "Bob", "~friend": [{"name": "Alice Liddell"}]}]})
    );
    let r = query(
        &g,
        r#"{ q(func: anyofterms(name, "alice bob")) { count(friend) name } }"#,
    )
    .await;
    assert_eq!(r["q"].as_array().unwrap().len(), 2, "{r}");
    let r = query(
        &g,
        r#"{ q(func: has(name), orderdesc: age, first: 2) @filter(not eq(name, "Bob")) { name } }"#,
    )
    .await;
    assert_eq!(
        r,
        json!({"q": [{"name": "Alice Liddell"}, {"name": "Carol"}]})
    );
    let err = lodestar_dql::parse_query(
        r#"{ q(func: eq(friend_of, "x")) { uid } }"#,
        &HashMap::new(),
    )
    .unwrap();
    let ts = g.read_ts().await.unwrap();
    assert!(
        matches!(g.run_query(&g.view(ts, None), &err), Err(GraphError::Invalid(m)) if m.contains("not indexed"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicting_transactions_abort_the_second_committer() {
    let g = graph().await;
    alter(&g, "email: string @index(exact) @upsert .").await;
    let t1 = g.begin().await.unwrap();
    let t2 = g.begin().await.unwrap();
    for (t, who) in [(t1, "one"), (t2, "two")] {
        let nqs = lodestar_dql::parse_set_nquads(&format!(
            "_:x <email> \"same@example.com\" .\n_:x <who> \"{who}\" ."
        ))
        .unwrap();
        let mut ctx = MutationCtx::default();
        g.assign_blanks(&nqs, &[], &mut ctx).await.unwrap();
        let txn = g.txn(t).unwrap();
        let mut guard = txn.lock().await;
        g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut guard, &nqs, &[], &ctx).unwrap();
    }
    g.commit(t1).await.unwrap();
    assert_eq!(g.commit(t2).await.unwrap_err(), GraphError::Aborted);
    let r = query(&g, r#"{ q(func: eq(email, "same@example.com")) { who } }"#).await;
    assert_eq!(r, json!({"q": [{"who": "one"}]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_remove_values_edges_and_index_entries() {
    let g = graph().await;
    alter(&g, "name: string @index(exact) .\nfriend: [uid] @reverse .").await;
    let u = set(
        &g,
        "_:a <name> \"A\" .\n_:b <name> \"B\" .\n_:a <friend> _:b .",
    )
    .await;
    let (a, b) = (u["a"], u["b"]);
    delete(
        &g,
        &format!("<{a:#x}> <friend> <{b:#x}> .\n<{b:#x}> <name> * ."),
    )
    .await;
    assert_eq!(
        query(&g, r#"{ q(func: eq(name, "B")) { uid } }"#).await,
        json!({"q": []})
    );
    assert_eq!(
        query(
            &g,
            &format!("{{ q(func: uid({b:#x})) {{ ~friend {{ uid }} }} }}")
        )
        .await,
        json!({"q": []})
    );
    assert_eq!(
        query(&g, r#"{ q(func: eq(name, "A")) { name friend { uid } } }"#).await,
        json!({"q": [{"name": "A"}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_reads_its_own_writes_and_others_keep_their_snapshot() {
    let g = graph().await;
    alter(&g, "name: string @index(exact) .").await;
    set(&g, "_:a <name> \"before\" .").await;
    let reader_ts = g.read_ts().await.unwrap();
    let start = g.begin().await.unwrap();
    let nqs = lodestar_dql::parse_set_nquads("_:n <name> \"mine\" .").unwrap();
    let mut ctx = MutationCtx::default();
    g.assign_blanks(&nqs, &[], &mut ctx).await.unwrap();
    let txn = g.txn(start).unwrap();
    {
        let mut t = txn.lock().await;
        g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut t, &nqs, &[], &ctx).unwrap();
        let q =
            lodestar_dql::parse_query(r#"{ q(func: eq(name, "mine")) { name } }"#, &HashMap::new())
                .unwrap();
        let own = g.run_query(&g.view(start, Some(&t)), &q).unwrap();
        assert_eq!(Json::Object(own.json), json!({"q": [{"name": "mine"}]}));
    }
    g.commit(start).await.unwrap();
    let q = lodestar_dql::parse_query("{ q(func: has(name)) { name } }", &HashMap::new()).unwrap();
    let old = g.run_query(&g.view(reader_ts, None), &q).unwrap();
    assert_eq!(
        Json::Object(old.json),
        json!({"q": [{"name": "before"}]}),
        "an older read keeps its view"
    );
    let now = query(&g, "{ q(func: has(name)) { name } }").await;
    assert_eq!(now["q"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_transactions_are_settled_after_a_restart() {
    let store = Arc::new(Store::in_memory());
    let oracle = Arc::new(LocalOracle::default());
    let g = Graph::open(store.clone(), oracle.clone()).await.unwrap();
    alter(&g, "name: string @index(exact) .").await;
    // Two transactions persisted as pending; zero commits one, the other is never decided.
    let mut starts = Vec::new();
    for name in ["decided", "undecided"] {
        let start = g.begin().await.unwrap();
        let nqs = lodestar_dql::parse_set_nquads(&format!("_:n <name> \"{name}\" .")).unwrap();
        let mut ctx = MutationCtx::default();
        g.assign_blanks(&nqs, &[], &mut ctx).await.unwrap();
        let txn = g.txn(start).unwrap();
        let mut t = txn.lock().await;
        g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut t, &nqs, &[], &ctx).unwrap();
        g.persist_pending(&mut t, true).await.unwrap();
        starts.push((start, t.conflicts.iter().copied().collect::<Vec<_>>()));
    }
    oracle
        .commit(starts[0].0, starts[0].1.clone(), Vec::new(), false)
        .await
        .unwrap()
        .unwrap();
    drop(g);
    let g = Graph::open(store, oracle.clone()).await.unwrap();
    let r = query(&g, "{ q(func: has(name)) { name } }").await;
    assert_eq!(r, json!({"q": [{"name": "decided"}]}));
    assert_eq!(
        oracle.status(starts[1].0).await.unwrap(),
        Some(None),
        "the undecided one was recorded as aborted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn types_expand_values_vars_passwords_and_schema() {
    let g = graph().await;
    alter(&g, "name: string @index(exact) .\nage: int .\nfriend: [uid] .\npass: password .\ntype Person { name age friend }").await;
    set(&g, "_:a <name> \"A\" .\n_:a <age> \"7\" .\n_:a <dgraph.type> \"Person\" .\n_:a <pass> \"secret123\" .\n_:a <friend> _:b .\n_:b <name> \"B\" .").await;
    let r = query(
        &g,
        r#"{ q(func: type(Person)) { expand(_all_) { name } } }"#,
    )
    .await;
    assert_eq!(
        r,
        json!({"q": [{"name": "A", "age": 7, "friend": [{"name": "B"}]}]})
    );
    let r = query(&g, r#"{ var(func: eq(name, "A")) { a as age } q(func: eq(name, "A")) { val(a) checkpwd(pass, "secret123") pass } }"#).await;
    assert_eq!(
        r,
        json!({"q": [{"val(a)": 7, "checkpwd(pass)": true}]}),
        "passwords are never returned"
    );
    let r = query(
        &g,
        r#"{ q(func: eq(name, "A")) { checkpwd(pass, "wrong") } }"#,
    )
    .await;
    assert_eq!(r, json!({"q": [{"checkpwd(pass)": false}]}));
    let r = query(&g, "schema(pred: [name, age]) { type index }").await;
    assert_eq!(r["schema"].as_array().unwrap().len(), 2, "{r}");
    let r = query(&g, "schema {}").await;
    assert!(
        r["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Person"),
        "{r}"
    );
    let names: HashSet<&str> = r["schema"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["predicate"].as_str())
        .collect();
    assert!(
        names.contains("dgraph.xid") && names.contains("dgraph.type"),
        "reserved predicates are predefined: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn setting_a_new_nodes_value_twice_keeps_only_the_last_in_the_index() {
    let g = graph().await;
    alter(&g, "name: string @index(exact) .").await;
    let u = set(&g, "_:a <name> \"first\" .\n_:a <name> \"second\" .").await;
    let a = u["a"];
    assert_eq!(
        query(&g, r#"{ q(func: eq(name, "first")) { uid } }"#).await,
        json!({"q": []})
    );
    assert_eq!(
        query(&g, r#"{ q(func: eq(name, "second")) { uid } }"#).await,
        json!({"q": [{"uid": format!("{a:#x}")}]})
    );
    // No index entry is left behind for the overwritten value.
    let pred = g.store.lookup_predicate("name").unwrap();
    let token = lodestar_types::tokenizer::tokens(
        lodestar_types::tokenizer::IndexKind::Exact,
        &lodestar_types::value::Val::String("first".into()),
    )
    .unwrap()
    .remove(0);
    let ts = g.read_ts().await.unwrap();
    assert!(
        g.view(ts, None)
            .scan_keys(&lodestar_storage::keys::index_prefix(pred, &token))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_datetimes_languages_and_deleting_a_whole_node() {
    let g = graph().await;
    alter(&g, "tags: [string] @index(exact) .\nborn: datetime @index(year) .\nname: string @lang .\nfriend: [uid] @reverse .").await;
    let u = set(
        &g,
        r#"_:a <tags> "x" .
           _:a <tags> "y" .
           _:a <born> "1990-05-17T10:00:00Z" .
           _:a <name> "Ann" .
           _:a <name> "Anne"@fr .
           _:b <friend> _:a ."#,
    )
    .await;
    let a = u["a"];
    let r = query(
        &g,
        &format!("{{ q(func: uid({a:#x})) {{ tags born name name@fr }} }}"),
    )
    .await;
    let q = &r["q"][0];
    let mut tags: Vec<&str> = q["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["x", "y"]);
    assert_eq!(q["born"], "1990-05-17T10:00:00Z");
    assert_eq!(
        (q["name"].as_str(), q["name@fr"].as_str()),
        (Some("Ann"), Some("Anne"))
    );
    assert_eq!(
        query(&g, r#"{ q(func: eq(tags, "y")) { uid } }"#).await["q"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        query(&g, r#"{ q(func: lt(born, "2000-01-01")) { uid } }"#).await["q"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // S * * removes every predicate of the node, language-tagged values and index entries too.
    delete(&g, &format!("<{a:#x}> * * .")).await;
    assert_eq!(
        query(
            &g,
            &format!("{{ q(func: uid({a:#x})) {{ tags born name }} }}")
        )
        .await,
        json!({"q": []})
    );
    assert_eq!(
        query(&g, r#"{ q(func: eq(tags, "y")) { uid } }"#).await,
        json!({"q": []})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_transactions_are_aborted() {
    let g = graph().await;
    alter(&g, "name: string @index(exact) .").await;
    let start = g.begin().await.unwrap();
    let nqs = lodestar_dql::parse_set_nquads("_:n <name> \"forgotten\" .").unwrap();
    let mut ctx = MutationCtx::default();
    g.assign_blanks(&nqs, &[], &mut ctx).await.unwrap();
    {
        let txn = g.txn(start).unwrap();
        let mut t = txn.lock().await;
        g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut t, &nqs, &[], &ctx).unwrap();
        g.persist_pending(&mut t, true).await.unwrap();
    }
    assert_eq!(
        g.expire_idle(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "a fresh one stays"
    );
    assert_eq!(g.expire_idle(std::time::Duration::ZERO).await.unwrap(), 1);
    assert!(g.existing_txn(start).is_none());
    assert_eq!(
        g.oracle.status(start).await.unwrap(),
        Some(None),
        "zero recorded the abort"
    );
    let pending = g.store.snapshot().meta_scan_prefix(b"p").count();
    assert_eq!(pending, 0, "no pending record is left");
    assert_eq!(
        query(&g, r#"{ q(func: eq(name, "forgotten")) { uid } }"#).await,
        json!({"q": []})
    );
}

/// The names of the nodes a query's `q` block returns, sorted.
async fn names(g: &Graph, q: &str) -> Vec<String> {
    let r = query(g, q).await;
    let mut out: Vec<String> = r["q"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_count_index_follows_sets_deletes_and_transactions() {
    let g = graph().await;
    alter(
        &g,
        "name: string @index(exact) .\nfriend: [uid] @reverse @count .\nnick: [string] @count .",
    )
    .await;
    let u = set(
        &g,
        r#"_:a <name> "A" .
           _:b <name> "B" .
           _:c <name> "C" .
           _:a <friend> _:b .
           _:a <friend> _:c .
           _:b <friend> _:c .
           _:a <nick> "x" .
           _:a <nick> "y" ."#,
    )
    .await;
    let (a, b, c) = (u["a"], u["b"], u["c"]);
    let by = |f: &str| format!("{{ q(func: {f}) {{ name }} }}");
    assert_eq!(names(&g, &by("eq(count(friend), 2)")).await, ["A"]);
    assert_eq!(names(&g, &by("ge(count(friend), 1)")).await, ["A", "B"]);
    assert_eq!(names(&g, &by("lt(count(friend), 2)")).await, ["B"]);
    assert_eq!(names(&g, &by("eq(count(~friend), 2)")).await, ["C"]);
    assert_eq!(names(&g, &by("eq(count(~friend), 1)")).await, ["B"]);
    assert_eq!(names(&g, &by("eq(count(nick), 2)")).await, ["A"]);
    // Deleting an edge moves both of its nodes' counts.
    delete(&g, &format!("<{a:#x}> <friend> <{c:#x}> .")).await;
    assert_eq!(names(&g, &by("eq(count(friend), 1)")).await, ["A", "B"]);
    assert_eq!(
        names(&g, &by("eq(count(friend), 2)")).await,
        Vec::<String>::new()
    );
    assert_eq!(names(&g, &by("eq(count(~friend), 1)")).await, ["B", "C"]);
    // Two mutations in one transaction: the index records only the final count.
    let start = g.begin().await.unwrap();
    for rdf in [
        format!("<{c:#x}> <friend> <{a:#x}> ."),
        format!("<{c:#x}> <friend> <{b:#x}> ."),
    ] {
        let nqs = lodestar_dql::parse_set_nquads(&rdf).unwrap();
        let txn = g.txn(start).unwrap();
        let mut t = txn.lock().await;
        g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut t, &nqs, &[], &MutationCtx::default())
            .unwrap();
    }
    g.commit(start).await.unwrap();
    assert_eq!(names(&g, &by("eq(count(friend), 2)")).await, ["C"]);
    assert_eq!(names(&g, &by("eq(count(friend), 1)")).await, ["A", "B"]);
    assert_eq!(names(&g, &by("eq(count(~friend), 2)")).await, ["B"]);
    // Deleting everything of a node removes its count entry.
    delete(&g, &format!("<{c:#x}> * * .")).await;
    assert_eq!(names(&g, &by("ge(count(friend), 1)")).await, ["A", "B"]);
    assert_eq!(names(&g, &by("ge(count(~friend), 1)")).await, ["B"]);
    // Two transactions changing one node's count cannot both commit.
    let t1 = g.begin().await.unwrap();
    let t2 = g.begin().await.unwrap();
    for (t, rdf) in [
        (t1, format!("<{a:#x}> <nick> \"p\" .")),
        (t2, format!("<{a:#x}> <nick> \"q\" .")),
    ] {
        let nqs = lodestar_dql::parse_set_nquads(&rdf).unwrap();
        let txn = g.txn(t).unwrap();
        let mut guard = txn.lock().await;
        g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
        g.mutate(&mut guard, &nqs, &[], &MutationCtx::default())
            .unwrap();
    }
    g.commit(t1).await.unwrap();
    assert_eq!(g.commit(t2).await.unwrap_err(), GraphError::Aborted);
    assert_eq!(names(&g, &by("eq(count(nick), 3)")).await, ["A"]);
    // Without @count the root function names what is missing.
    let q = lodestar_dql::parse_query(&by("eq(count(name), 1)"), &HashMap::new()).unwrap();
    let ts = g.read_ts().await.unwrap();
    let err = g.run_query(&g.view(ts, None), &q).unwrap_err();
    assert_eq!(
        err,
        GraphError::Invalid(
            "Need @count directive in schema for attr: name for fn: eq at root".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_count_to_a_schema_indexes_the_existing_data() {
    let g = graph().await;
    g.alter_schema("name: string @index(exact) .\nfollows: [uid] @reverse .")
        .await
        .unwrap();
    set(
        &g,
        r#"_:a <name> "A" .
           _:b <name> "B" .
           _:a <follows> _:b .
           _:b <follows> _:a .
           _:a <follows> _:a ."#,
    )
    .await;
    g.alter_schema("follows: [uid] @reverse @count .")
        .await
        .unwrap();
    let q = |f: &str| format!("{{ q(func: {f}) {{ name }} }}");
    assert_eq!(names(&g, &q("eq(count(follows), 2)")).await, ["A"]);
    assert_eq!(names(&g, &q("eq(count(~follows), 2)")).await, ["A"]);
    assert_eq!(names(&g, &q("eq(count(~follows), 1)")).await, ["B"]);
    g.alter_schema("follows: [uid] @reverse .").await.unwrap();
    g.alter_schema("follows: [uid] @reverse @count .")
        .await
        .unwrap();
    assert_eq!(names(&g, &q("le(count(follows), 2)")).await, ["A", "B"]);
}

/// Dgraph's quickstart loads data first and types it with a schema after: values stored
/// untyped are indexed, filtered, sorted and answered as the schema's types.
#[tokio::test(flavor = "multi_thread")]
async fn data_written_before_its_schema_takes_the_schema_s_types() {
    let g = graph().await;
    set(
        &g,
        r#"_:a <name> "Star Wars: A New Hope" .
           _:a <released> "1977-05-25" .
           _:a <revenue> "775000000" .
           _:a <minutes> "121" .
           _:b <name> "Star Wars: Return of the Jedi" .
           _:b <released> "1983-05-25" .
           _:b <revenue> "572000000" .
           _:b <minutes> "131" .
           _:c <name> "Star Trek" .
           _:c <minutes> "not a number" ."#,
    )
    .await;
    g.alter_schema(
        "name: string @index(term) .
released: datetime @index(year) .
revenue: float .
minutes: int .",
    )
    .await
    .unwrap();
    let got = query(
        &g,
        r#"{ q(func: allofterms(name, "star wars"), orderdesc: released) @filter(ge(released, "1980")) {
              name released revenue minutes } }"#,
    )
    .await;
    assert_eq!(
        got["q"],
        json!([{"name": "Star Wars: Return of the Jedi", "released": "1983-05-25T00:00:00Z",
                "revenue": 572000000.0, "minutes": 131}])
    );
    // A value that does not convert is answered as it was stored.
    let got = query(&g, r#"{ q(func: anyofterms(name, "trek")) { minutes } }"#).await;
    assert_eq!(got["q"], json!([{"minutes": "not a number"}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_roots_are_created_once_protected_and_restored_after_drops() {
    let g = graph().await;
    let roots = g.ensure_acl_roots().await.unwrap();
    assert_eq!(
        g.ensure_acl_roots().await.unwrap(),
        roots,
        "a second call creates nothing"
    );
    let who = r#"{ q(func: eq(dgraph.xid, "groot")) @filter(type(dgraph.type.User)) {
        uid ok: checkpwd(dgraph.password, "password") bad: checkpwd(dgraph.password, "passwore")
        dgraph.user.group { dgraph.xid dgraph.type }
    } }"#;
    assert_eq!(
        query(&g, who).await,
        json!({"q": [{
            "uid": format!("{:#x}", roots.groot),
            "ok": true,
            "bad": false,
            "dgraph.user.group": [{"dgraph.xid": "guardians", "dgraph.type": ["dgraph.type.Group"]}]
        }]})
    );
    // Deleting either, or taking groot out of guardians, is refused with Dgraph's messages.
    let refuse = |rdf: String, msg: &'static str| {
        let g = g.clone();
        async move {
            let start = g.begin().await.unwrap();
            let dels = lodestar_dql::parse_delete_nquads(&rdf).unwrap();
            let txn = g.txn(start).unwrap();
            let mut t = txn.lock().await;
            let err = g
                .mutate(&mut t, &[], &dels, &MutationCtx::default())
                .unwrap_err();
            assert_eq!(err, GraphError::Invalid(msg.into()), "{rdf}");
            assert!(t.writes.is_empty(), "nothing is written: {rdf}");
        }
    };
    let (u, gr) = (roots.groot, roots.guardians);
    refuse(
        format!("<{u:#x}> * * ."),
        "guardians group and groot user cannot be deleted.",
    )
    .await;
    refuse(
        format!("<{gr:#x}> * * ."),
        "guardians group and groot user cannot be deleted.",
    )
    .await;
    let props = "Properties of guardians group and groot user cannot be deleted";
    refuse(format!("<{u:#x}> <dgraph.user.group> <{gr:#x}> ."), props).await;
    refuse(format!("<{gr:#x}> <dgraph.xid> * ."), props).await;
    // After drop_all and drop_data both are back, as new nodes.
    g.drop_all().await.unwrap();
    let after = g.acl_roots();
    assert!(after.is_some_and(|r| r != roots), "{after:?}");
    assert_eq!(query(&g, who).await["q"][0]["ok"], json!(true));
    g.drop_data().await.unwrap();
    assert_eq!(
        query(&g, who).await["q"][0]["dgraph.user.group"][0]["dgraph.xid"],
        json!("guardians")
    );
}

/// Streams `(since, read_ts]` out of `g` as the backup worker would receive it.
async fn stream(g: &Arc<Graph>, since: u64, read_ts: u64) -> Vec<lodestar_backup::record::Record> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let g2 = g.clone();
    tokio::spawn(async move { g2.stream_changes(since, read_ts, tx).await });
    let mut out = Vec::new();
    while let Some(batch) = rx.recv().await {
        out.push(batch.unwrap());
    }
    assert!(
        out.last().is_some_and(|b| b.done),
        "the stream ends with done"
    );
    out
}

/// Loads backups (oldest first) into `g` as one restore.
async fn restore(g: &Graph, files: &[Vec<lodestar_backup::record::Record>]) -> (u64, u64) {
    let ts = g.oracle.timestamps(1).await.unwrap();
    let guard = g.begin_restore(ts, true).await.unwrap();
    for file in files {
        for (i, record) in file.iter().enumerate() {
            g.restore_batch(record, i == 0).await.unwrap();
        }
    }
    g.finish_restore(guard).await.unwrap()
}

const EVERYTHING: &str = r#"{ q(func: has(name), orderasc: name) { name age nick@fr friend { name } ~friend { name } } }"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_full_and_an_incremental_backup_restore_the_state_at_read_ts_elsewhere() {
    let src = graph().await;
    alter(
        &src,
        "name: string @index(exact) .\nage: int @index(int) .\nnick: string @lang .\nfriend: [uid] @reverse @count .",
    )
    .await;
    let uids = set(
        &src,
        r#"_:a <name> "Ann" . _:a <age> "30" . _:a <nick> "Annie"@fr .
           _:b <name> "Bob" . _:b <age> "25" . _:a <friend> _:b ."#,
    )
    .await;
    let full_ts = src.read_ts().await.unwrap();
    let full = stream(&src, 0, full_ts).await;
    let done = full.last().unwrap();
    assert_eq!(done.max_uid, uids["a"].max(uids["b"]));
    assert!(
        done.predicates.contains(&"friend".to_string()),
        "{:?}",
        done.predicates
    );
    assert!(!done.predicates.iter().any(|p| p.starts_with('\0')));
    let at_full = query(&src, EVERYTHING).await;

    // Changes after the full backup, deletes included; a later write must not leak in.
    delete(&src, &format!("<{:#x}> <age> * .", uids["b"])).await;
    set(&src, r#"_:c <name> "Cy" . _:c <friend> _:c ."#).await;
    let incr_ts = src.read_ts().await.unwrap();
    let incr = stream(&src, full_ts, incr_ts).await;
    assert!(
        incr.iter().flat_map(|b| &b.entries).any(|kv| kv.deleted),
        "an incremental carries deletes"
    );
    let at_incr = query(&src, EVERYTHING).await;
    set(&src, r#"_:d <name> "Dee" ."#).await;

    // The target numbers its dictionary differently and holds data of its own.
    let dst = graph().await;
    alter(&dst, "color: string .\nname: string @index(exact) .").await;
    set(&dst, r#"_:x <color> "red" . _:x <name> "Zed" ."#).await;
    restore(&dst, std::slice::from_ref(&full)).await;
    assert_eq!(query(&dst, EVERYTHING).await, at_full);
    assert_eq!(
        query(&dst, r#"{ q(func: has(color)) { color } }"#).await,
        json!({"q": []}),
        "the restore replaced what was there"
    );
    assert_eq!(
        query(&dst, r#"{ q(func: eq(name, "Ann")) { age } }"#).await,
        json!({"q": [{"age": 30}]}),
        "indexes come back with the data"
    );
    assert!(
        dst.schema().preds.contains_key("friend"),
        "the schema comes back"
    );

    let (loaded, max_uid) = restore(&dst, &[full.clone(), incr.clone()]).await;
    assert!(loaded > 0);
    assert!(max_uid >= uids["a"]);
    assert_eq!(query(&dst, EVERYTHING).await, at_incr);
    assert_eq!(
        query(
            &dst,
            r#"{ q(func: ge(count(friend), 1), orderasc: name) { name } }"#
        )
        .await,
        query(
            &src,
            r#"{ q(func: ge(count(friend), 1), orderasc: name) { name } }"#
        )
        .await,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_restore_leaves_the_data_it_would_have_replaced() {
    let src = graph().await;
    set(&src, r#"_:a <name> "Ann" ."#).await;
    let ts = src.read_ts().await.unwrap();
    let full = stream(&src, 0, ts).await;

    let dst = graph().await;
    set(&dst, r#"_:x <name> "Zed" ."#).await;
    let before = query(&dst, EVERYTHING).await;
    let rts = dst.oracle.timestamps(1).await.unwrap();
    let guard = dst.begin_restore(rts, true).await.unwrap();
    dst.restore_batch(&full[0], true).await.unwrap();
    dst.abort_restore(guard).await.unwrap();
    assert_eq!(query(&dst, EVERYTHING).await, before);

    // One that the alpha never finished (it died) is taken back when the graph opens again.
    let store = dst.store.clone();
    let rts = dst.oracle.timestamps(1).await.unwrap();
    let guard = dst.begin_restore(rts, true).await.unwrap();
    dst.restore_batch(&full[0], true).await.unwrap();
    drop(guard);
    std::mem::forget(dst);
    let reopened = Graph::open(store, Arc::new(LocalOracle::default()))
        .await
        .unwrap();
    let parsed = lodestar_dql::parse_query(EVERYTHING, &HashMap::new()).unwrap();
    let out = reopened
        .run_query(&reopened.view(rts + 10, None), &parsed)
        .unwrap();
    assert_eq!(Json::Object(out.json), before);
}

/// Zero with faults: commit decisions can be held back until released, and the answer to a
/// commit can be lost after the decision is made (as when the connection drops).
struct FaultyOracle {
    inner: LocalOracle,
    hold: tokio::sync::Semaphore,
    holding: std::sync::atomic::AtomicBool,
    lose_answers: std::sync::atomic::AtomicUsize,
}

impl Default for FaultyOracle {
    fn default() -> Self {
        FaultyOracle {
            inner: LocalOracle::default(),
            hold: tokio::sync::Semaphore::new(0),
            holding: std::sync::atomic::AtomicBool::new(false),
            lose_answers: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl FaultyOracle {
    fn holding() -> Self {
        let o = FaultyOracle::default();
        o.holding.store(true, std::sync::atomic::Ordering::SeqCst);
        o
    }
    fn release(&self) {
        self.holding
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.hold.add_permits(1000);
    }
}

#[tonic::async_trait]
impl Oracle for FaultyOracle {
    async fn timestamps(&self, n: u64) -> Result<u64, GraphError> {
        self.inner.timestamps(n).await
    }
    async fn read_ts(&self) -> Result<u64, GraphError> {
        self.inner.read_ts().await
    }
    async fn commit(
        &self,
        start: u64,
        keys: Vec<u64>,
        _preds: Vec<String>,
        abort: bool,
    ) -> Result<Option<u64>, GraphError> {
        if self.holding.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = self.hold.acquire().await;
        }
        let decided = self.inner.commit(start, keys, Vec::new(), abort).await?;
        let lose = &self.lose_answers;
        if lose
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            return Err(GraphError::Unavailable("zero: connection reset".into()));
        }
        Ok(decided)
    }
    async fn status(&self, start: u64) -> Result<Option<Option<u64>>, GraphError> {
        self.inner.status(start).await
    }
    async fn tablet(&self, predicate: &str, group: u32) -> Result<u32, GraphError> {
        self.inner.tablet(predicate, group).await
    }
    async fn uids(&self, n: u64) -> Result<u64, GraphError> {
        self.inner.uids(n).await
    }
    async fn max_uid(&self) -> Result<u64, GraphError> {
        self.inner.max_uid().await
    }
}

async fn graph_over(oracle: Arc<FaultyOracle>) -> Arc<Graph> {
    Graph::open(Arc::new(Store::in_memory()), oracle)
        .await
        .unwrap()
}

async fn all_names(g: &Graph) -> Json {
    query(g, r#"{ q(func: has(name), orderasc: name) { name } }"#).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_whose_caller_goes_away_is_still_applied_and_a_retry_gets_its_timestamp() {
    let oracle = Arc::new(FaultyOracle::holding());
    let g = graph_over(oracle.clone()).await;
    let (start, _) = buffered(&g, r#"_:a <name> "Ann" ."#).await;
    // The client's deadline passes while zero decides: its request is dropped.
    let cancelled =
        tokio::time::timeout(std::time::Duration::from_millis(50), g.commit(start)).await;
    assert!(
        cancelled.is_err(),
        "the commit should still be waiting on zero"
    );
    oracle.release();
    // No restart: the decision is applied anyway.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while all_names(&g).await != json!({"q": [{"name": "Ann"}]}) {
        assert!(
            std::time::Instant::now() < deadline,
            "the cancelled commit was never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let decided = oracle.inner.status(start).await.unwrap().unwrap().unwrap();
    // Retrying answers the one decision; so does a late discard; no more writes are taken.
    assert_eq!(g.commit(start).await.unwrap(), decided);
    assert_eq!(g.abort(start).await.unwrap(), Some(decided));
    let err = g.txn(start).unwrap_err();
    assert!(err.to_string().contains("already committed"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_whose_answer_was_lost_is_retried_to_the_same_decision() {
    let oracle = Arc::new(FaultyOracle::default());
    oracle
        .lose_answers
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let g = graph_over(oracle.clone()).await;
    let (start, _) = buffered(&g, r#"_:a <name> "Bob" ."#).await;
    // Zero decided, the answer never came: the alpha must not guess.
    assert!(matches!(
        g.commit(start).await,
        Err(GraphError::Unavailable(_))
    ));
    assert_eq!(all_names(&g).await, json!({"q": []}));
    let decided = oracle.inner.status(start).await.unwrap().unwrap().unwrap();
    assert_eq!(g.commit(start).await.unwrap(), decided);
    assert_eq!(all_names(&g).await, json!({"q": [{"name": "Bob"}]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_commits_of_one_transaction_share_one_outcome() {
    let oracle = Arc::new(FaultyOracle::holding());
    let g = graph_over(oracle.clone()).await;
    let (start, _) = buffered(&g, r#"_:a <name> "Cy" ."#).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.commit(start).await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    oracle.release();
    let mut seen = HashSet::new();
    for c in calls {
        seen.insert(c.await.unwrap().unwrap());
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_key_too_long_to_store_is_refused_when_buffered() {
    let g = graph().await;
    alter(
        &g,
        "name: string @index(exact) .\nbio: string @index(hash) .",
    )
    .await;
    let long = "x".repeat(70 * 1024);
    let start = g.begin().await.unwrap();
    let nqs = lodestar_dql::parse_set_nquads(&format!("_:a <name> \"{long}\" .")).unwrap();
    let mut ctx = MutationCtx::default();
    g.assign_blanks(&nqs, &[], &mut ctx).await.unwrap();
    let txn = g.txn(start).unwrap();
    let mut t = txn.lock().await;
    g.prepare(&nqs.iter().collect::<Vec<_>>()).await.unwrap();
    let err = g.mutate(&mut t, &nqs, &[], &ctx).unwrap_err();
    assert!(
        matches!(&err, GraphError::Invalid(m) if m.contains("too long for its exact index")),
        "{err}"
    );
    drop(t);
    // A hash index takes the same value; the graph keeps working.
    set(&g, &format!("_:b <bio> \"{long}\" .")).await;
    let q = format!(r#"{{ q(func: eq(bio, "{long}")) {{ count(uid) }} }}"#);
    assert_eq!(query(&g, &q).await, json!({"q": [{"count": 1}]}));
    // Adding an exact index over the long value is refused and changes nothing.
    let err = g
        .alter_schema("bio: string @index(exact) .")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::Invalid(m) if m.contains("too long")),
        "{err}"
    );
    assert_eq!(
        g.predicate("bio").unwrap().indexes,
        vec![lodestar_types::tokenizer::IndexKind::Hash]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uids_zero_never_leased_are_refused() {
    let g = graph().await;
    let ids = set(&g, r#"_:a <name> "Ann" ."#).await;
    let leased = ids["a"];
    for rdf in [
        "<0xffffffffffffffff> <name> \"x\" .".to_string(),
        format!("<{:#x}> <friend> <{:#x}> .", leased, leased + 1000),
    ] {
        let nqs = lodestar_dql::parse_set_nquads(&rdf).unwrap();
        let err = g
            .assign_blanks(&nqs, &[], &mut MutationCtx::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, GraphError::Invalid(m) if m.contains("cannot be greater than lease")),
            "{err}"
        );
    }
    set(&g, &format!("<{leased:#x}> <name> \"Ann2\" .")).await;
}

#[test]
fn a_transaction_past_the_key_limit_is_refused() {
    let mut t = super::Txn::new(1);
    t.conflicts = (0..=super::MAX_TXN_KEYS as u64).collect();
    let err = super::mutate::check_txn_size(&t).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    t.conflicts.pop_last();
    super::mutate::check_txn_size(&t).unwrap();
}

/// A model of the commit protocol between the alpha and zero, checked against the real
/// `Graph` over generated sequences of operations: transactions that write their own node and
/// a node they all share, commits whose answer zero loses, commits whose caller gives up while
/// zero decides, retries, aborts and restarts of the alpha (a new `Graph` over the same store
/// and zero). After every sequence every transaction is settled by asking again, and the data
/// must be exactly what the model says: every acknowledged commit visible, no write of an
/// aborted or never-committed transaction, the shared node holding the value of the newest
/// commit, and every repeated answer the same.
mod commit_protocol_model {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[derive(Debug, Clone)]
    enum Op {
        /// Starts transaction `n` (if it is not already started).
        Begin,
        /// Commits the open transaction at this index (modulo the open ones).
        Commit(usize),
        /// The same, with zero's answer lost on the way back.
        CommitAnswerLost(usize),
        /// The same, with the caller gone before zero decides.
        CommitCallerGone(usize),
        Abort(usize),
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Begin),
            3 => any::<usize>().prop_map(Op::Commit),
            2 => any::<usize>().prop_map(Op::CommitAnswerLost),
            2 => any::<usize>().prop_map(Op::CommitCallerGone),
            1 => any::<usize>().prop_map(Op::Abort),
            1 => Just(Op::Restart),
        ]
    }

    /// What the client knows of one transaction.
    #[derive(Debug, Clone, PartialEq)]
    enum Known {
        Open,
        /// Asked to commit; no answer (yet).
        Unknown,
        Committed(u64),
        Aborted,
    }

    struct Txn {
        start: u64,
        value: String,
        known: Known,
    }

    async fn open(store: &Arc<Store>, oracle: &Arc<FaultyOracle>) -> Arc<Graph> {
        Graph::open(store.clone(), oracle.clone()).await.unwrap()
    }

    async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let store = Arc::new(Store::in_memory());
        let oracle = Arc::new(FaultyOracle::default());
        let mut g = open(&store, &oracle).await;
        alter(&g, "own: string @index(exact) .\nshared: string .").await;
        let shared = set(&g, r#"_:s <shared> "initial" ."#).await["s"];
        let mut txns: Vec<Txn> = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            let open_ones: Vec<usize> = (0..txns.len())
                .filter(|t| txns[*t].known == Known::Open)
                .collect();
            let pick = |n: usize| open_ones.get(n % open_ones.len().max(1)).copied();
            match op {
                Op::Begin => {
                    let value = format!("v{i}");
                    let rdf =
                        format!("_:x <own> \"{value}\" .\n<{shared:#x}> <shared> \"{value}\" .");
                    let (start, _) = buffered(&g, &rdf).await;
                    // The API keeps the buffer durably before it answers the mutation.
                    let open = g.txn(start).unwrap();
                    g.persist_pending(&mut *open.lock().await, true)
                        .await
                        .unwrap();
                    txns.push(Txn {
                        start,
                        value,
                        known: Known::Open,
                    });
                }
                Op::Commit(n) | Op::CommitAnswerLost(n) | Op::CommitCallerGone(n) => {
                    let Some(t) = pick(n) else { continue };
                    let start = txns[t].start;
                    let answer = match op {
                        Op::CommitAnswerLost(_) => {
                            oracle.lose_answers.store(1, Ordering::SeqCst);
                            let r = g.commit(start).await;
                            oracle.lose_answers.store(0, Ordering::SeqCst);
                            Some(r)
                        }
                        Op::CommitCallerGone(_) => {
                            oracle.holding.store(true, Ordering::SeqCst);
                            let r = tokio::time::timeout(Duration::from_millis(5), g.commit(start))
                                .await;
                            oracle.release();
                            // Let the decision the caller left behind finish.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            r.ok()
                        }
                        _ => Some(g.commit(start).await),
                    };
                    txns[t].known = match answer {
                        Some(Ok(ts)) => Known::Committed(ts),
                        Some(Err(GraphError::Aborted)) => Known::Aborted,
                        Some(Err(GraphError::Unavailable(_))) | None => Known::Unknown,
                        Some(Err(e)) => return Err(TestCaseError::fail(format!("commit: {e}"))),
                    };
                }
                Op::Abort(n) => {
                    let Some(t) = pick(n) else { continue };
                    match g.abort(txns[t].start).await {
                        Ok(None) => txns[t].known = Known::Aborted,
                        Ok(Some(ts)) => {
                            return Err(TestCaseError::fail(format!(
                                "an open transaction that was never committed reports commit {ts}"
                            )));
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("abort: {e}"))),
                    }
                }
                Op::Restart => {
                    drop(g);
                    g = open(&store, &oracle).await;
                }
            }
        }
        // Settle: every transaction asked again, as a client that retries until it hears.
        for t in &mut txns {
            let again = match g.commit(t.start).await {
                Ok(ts) => Known::Committed(ts),
                Err(GraphError::Aborted) => Known::Aborted,
                Err(e) => return Err(TestCaseError::fail(format!("settling {}: {e}", t.start))),
            };
            match (&t.known, &again) {
                (Known::Committed(a), Known::Committed(b)) => {
                    prop_assert_eq!(a, b, "a second answer differs")
                }
                (Known::Aborted, Known::Aborted) => {}
                (Known::Open | Known::Unknown, _) => {}
                (before, after) => {
                    return Err(TestCaseError::fail(format!(
                        "transaction {} was {before:?}, now {after:?}",
                        t.start
                    )));
                }
            }
            // An open transaction asked to commit now may commit; what matters is that the
            // data follows the answer.
            t.known = again;
        }
        for restarted in [false, true] {
            if restarted {
                drop(g);
                g = open(&store, &oracle).await;
            }
            let out = query(&g, "{ q(func: has(own)) { own } }").await;
            let seen: std::collections::BTreeSet<String> = out["q"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["own"].as_str().unwrap().to_string())
                .collect();
            let committed: std::collections::BTreeSet<String> = txns
                .iter()
                .filter(|t| matches!(t.known, Known::Committed(_)))
                .map(|t| t.value.clone())
                .collect();
            prop_assert_eq!(&seen, &committed, "restarted: {}", restarted);
            let newest = txns
                .iter()
                .filter_map(|t| match t.known {
                    Known::Committed(ts) => Some((ts, t.value.clone())),
                    _ => None,
                })
                .max()
                .map(|(_, v)| v)
                .unwrap_or_else(|| "initial".into());
            let out = query(&g, &format!("{{ q(func: uid({shared:#x})) {{ shared }} }}")).await;
            prop_assert_eq!(out["q"][0]["shared"].as_str(), Some(newest.as_str()));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn the_alpha_follows_the_commit_protocol_model(ops in prop::collection::vec(op(), 1..24)) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run(ops))?;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_op_too_large_for_one_entry_applies_whole_from_its_parts() {
    use super::log::{Effects, Op, OpReply, PART_BYTES, write_op};
    use lodestar_storage::Write;
    let g = graph().await;
    let big: Vec<u8> = (0..3 * PART_BYTES + 17).map(|i| (i % 251) as u8).collect();
    let op = || {
        write_op(
            0,
            Vec::new(),
            vec![Write::put(b"x/big".to_vec(), big.clone())],
            Effects::default(),
            false,
        )
    };
    let entries = op().into_entries(7);
    assert_eq!(entries.len(), 5, "four parts and the whole");
    assert!(matches!(entries[4], Op::Whole { id: 7, parts: 4 }));
    for e in &entries[..4] {
        assert_eq!(g.apply_op(e, &[]).unwrap(), OpReply::Done);
    }
    assert!(g.holds_parts().unwrap());
    assert_eq!(
        g.store.meta_get(b"x/big").unwrap(),
        None,
        "nothing applies before the whole"
    );
    assert_eq!(g.apply_op(&entries[4], &[]).unwrap(), OpReply::Done);
    assert_eq!(g.store.meta_get(b"x/big").unwrap(), Some(big.clone()));
    assert!(!g.holds_parts().unwrap(), "the parts go with the whole");

    // A leader that lost its term mid-way: the next one drops the parts, and a whole arriving
    // after that is refused without writing anything.
    let entries = write_op(
        0,
        Vec::new(),
        vec![Write::put(b"x/other".to_vec(), big.clone())],
        Effects::default(),
        false,
    )
    .into_entries(8);
    g.apply_op(&entries[0], &[]).unwrap();
    g.apply_op(&Op::DropParts, &[]).unwrap();
    assert!(!g.holds_parts().unwrap());
    assert!(matches!(
        g.apply_op(entries.last().unwrap(), &[]).unwrap(),
        OpReply::Refused(_)
    ));
    assert_eq!(g.store.meta_get(b"x/other").unwrap(), None);
    assert_eq!(op().into_entries(9).len(), 5);
    let small = write_op(0, Vec::new(), Vec::new(), Effects::default(), false);
    assert_eq!(small.clone().into_entries(10), vec![small]);
}

#[path = "shape_tests.rs"]
mod shape_tests;
