//! `@cascade`, `@normalize`, `@recurse`, `@ignorereflex`, `@groupby`, aggregates, `math` and
//! shortest paths on the small graph Dgraph's own query tests use (Michonne and her friends);
//! the expected JSON is Dgraph's answer to the same queries on the same data.

use super::{alter, graph, query, set};
use crate::graph::Graph;
use serde_json::{Value as Json, json};
use std::collections::HashMap;

/// Michonne (38), her friends Rick (15), Glenn (15), Daryl (17), Andrea (19) and a friend
/// without a name; Rick's friend is Michonne, Andrea's is Glenn. Rick, Glenn and Daryl go to
/// School B, Andrea and the nameless one to School A.
async fn walking_dead() -> (std::sync::Arc<Graph>, HashMap<String, u64>) {
    let g = graph().await;
    alter(
        &g,
        "name: string @index(exact, term) .\nage: int @index(int) .\ngender: string .\n\
         dob: datetime .\nfriend: [uid] @reverse @count .\nschool: uid .",
    )
    .await;
    let uids = set(
        &g,
        r#"_:m <name> "Michonne" .
           _:m <age> "38" .
           _:m <gender> "female" .
           _:m <dob> "1910-01-01" .
           _:r <name> "Rick Grimes" .
           _:r <age> "15" .
           _:r <dob> "1910-01-02" .
           _:g <name> "Glenn Rhee" .
           _:g <age> "15" .
           _:g <dob> "1909-05-05" .
           _:d <name> "Daryl Dixon" .
           _:d <age> "17" .
           _:d <dob> "1909-01-10" .
           _:a <name> "Andrea" .
           _:a <age> "19" .
           _:a <dob> "1901-01-15" .
           _:x <gender> "unknown" .
           _:m <friend> _:r .
           _:m <friend> _:g .
           _:m <friend> _:d .
           _:m <friend> _:a .
           _:m <friend> _:x .
           _:r <friend> _:m .
           _:a <friend> _:g .
           _:sa <name> "School A" .
           _:sb <name> "School B" .
           _:r <school> _:sb .
           _:g <school> _:sb .
           _:d <school> _:sb .
           _:a <school> _:sa .
           _:x <school> _:sa ."#,
    )
    .await;
    (g, uids)
}

fn hex(u: u64) -> String {
    format!("{u:#x}")
}

/// The query with `$m`, `$r`... replaced by the uids of those blank nodes.
fn with_uids(q: &str, uids: &HashMap<String, u64>) -> String {
    let mut out = q.to_string();
    let mut names: Vec<&String> = uids.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names {
        out = out.replace(&format!("${n}"), &hex(uids[n]));
    }
    out
}

async fn run(g: &Graph, uids: &HashMap<String, u64>, q: &str) -> Json {
    query(g, &with_uids(q, uids)).await
}

async fn run_err(g: &Graph, uids: &HashMap<String, u64>, q: &str) -> String {
    let ts = g.read_ts().await.unwrap();
    let parsed = lodestar_dql::parse_query(&with_uids(q, uids), &HashMap::new()).unwrap();
    match g.run_query(&g.view(ts, None), &parsed) {
        Ok(out) => panic!("{q} answered {:?}", out.json),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cascade_removes_nodes_missing_a_field_at_every_level() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) @cascade { name gender friend(orderasc: name) { name friend { name dob age } } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"name": "Michonne", "gender": "female", "friend": [
            {"name": "Andrea", "friend": [{"name": "Glenn Rhee", "dob": "1909-05-05T00:00:00Z", "age": 15}]},
            {"name": "Rick Grimes", "friend": [{"name": "Michonne", "dob": "1910-01-01T00:00:00Z", "age": 38}]}
        ]}]})
    );
    // Without @cascade everyone is there.
    let r = run(&g, &u, "{ me(func: uid($m)) { count(friend) } }").await;
    assert_eq!(r, json!({"me": [{"count(friend)": 5}]}));
    // uid, count and val never remove a node.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($d)) @cascade { uid name count(friend) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"uid": hex(u["d"]), "name": "Daryl Dixon", "count(friend)": 0}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cascade_pages_after_removing_and_takes_a_predicate_list() {
    let (g, u) = walking_dead().await;
    // Nodes with a name and a friend, by name: Andrea, Michonne, Rick; offset 1 first 2.
    let r = run(
        &g,
        &u,
        "{ me(func: has(age), orderasc: name, first: 2, offset: 1) @cascade { name friend { uid } } }",
    )
    .await;
    let names: Vec<&str> = r["me"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Michonne", "Rick Grimes"]);
    // @cascade(friend) is inherited by every level that selects friend: Andrea's only friend
    // (Glenn) has none, so she goes; a level without friend is not pruned.
    let r = run(
        &g,
        &u,
        "{ me(func: has(age), orderasc: name) @cascade(friend) { name friend(orderasc: name) { name friend(orderasc: name) { name } } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [
            {"name": "Michonne", "friend": [
                {"name": "Andrea", "friend": [{"name": "Glenn Rhee"}]},
                {"name": "Rick Grimes", "friend": [{"name": "Michonne"}]}
            ]},
            {"name": "Rick Grimes", "friend": [
                {"name": "Michonne", "friend": [
                    {"name": "Andrea"}, {"name": "Daryl Dixon"}, {"name": "Glenn Rhee"}, {"name": "Rick Grimes"}
                ]}
            ]}
        ]})
    );
    // A nested @cascade prunes only its own level; the parent stays.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($d)) { name friend @cascade { name } } }",
    )
    .await;
    assert_eq!(r, json!({"me": [{"name": "Daryl Dixon"}]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn normalize_keeps_aliased_values_in_flat_rows() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) @normalize { mn: name gender friend(orderasc: name) { n: name friend { fn: name } } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [
            {"mn": "Michonne", "n": "Andrea", "fn": "Glenn Rhee"},
            {"mn": "Michonne", "n": "Daryl Dixon"},
            {"mn": "Michonne", "n": "Glenn Rhee"},
            {"mn": "Michonne", "n": "Rick Grimes", "fn": "Michonne"}
        ]})
    );
    // Two edges give their cartesian product.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($a)) @normalize { n: name friend { f: name } school { s: name } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"n": "Andrea", "f": "Glenn Rhee", "s": "School A"}]})
    );
    // Nested: only that edge is flattened.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($r)) { name friend @normalize { n: name friend(orderasc: name, first: 2) { fn: name } } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"name": "Rick Grimes", "friend": [
            {"n": "Michonne", "fn": "Andrea"},
            {"n": "Michonne", "fn": "Daryl Dixon"}
        ]}]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recurse_follows_each_edge_once_unless_looping() {
    let (g, u) = walking_dead().await;
    let r = run(&g, &u, "{ me(func: uid($m)) @recurse { name friend } }").await;
    // Michonne appears again under Rick, without her (already followed) edges.
    assert_eq!(
        r,
        json!({"me": [{"name": "Michonne", "friend": [
            {"name": "Rick Grimes", "friend": [{"name": "Michonne"}]},
            {"name": "Glenn Rhee"},
            {"name": "Daryl Dixon"},
            {"name": "Andrea", "friend": [{"name": "Glenn Rhee"}]}
        ]}]})
    );
    // Depth counts levels, the root's included.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) @recurse(depth: 2) { name friend } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"name": "Michonne", "friend": [
            {"name": "Rick Grimes"}, {"name": "Glenn Rhee"}, {"name": "Daryl Dixon"}, {"name": "Andrea"}
        ]}]})
    );
    // With loop, edges repeat until the depth: Michonne → Rick → Michonne → her friends.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) @recurse(depth: 4, loop: true) { name friend } }",
    )
    .await;
    let again = &r["me"][0]["friend"][0]["friend"][0];
    assert_eq!(again["name"], "Michonne", "{r}");
    assert_eq!(again["friend"].as_array().map(Vec::len), Some(4), "{r}");
    let e = run_err(
        &g,
        &u,
        "{ me(func: uid($m)) @recurse { name friend { name } } }",
    )
    .await;
    assert!(
        e.contains("all predicates are specified in one level"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recurse_is_held_to_the_edge_limit_and_a_nesting_depth() {
    let (g, u) = walking_dead().await;
    let q = "{ me(func: uid($m)) @recurse(depth: 4, loop: true) { name friend } }";
    assert!(run(&g, &u, q).await["me"][0]["friend"].is_array());
    g.set_query_edge_limit(5);
    let e = run_err(&g, &u, q).await;
    assert!(e.contains("Exceeded query edge limit = 5. Found"), "{e}");
    g.set_query_edge_limit(crate::graph::DEFAULT_QUERY_EDGE_LIMIT);

    // A chain longer than the nesting allowed: refused with the way out, not a crash.
    let chain: String = (0..1_002)
        .map(|i| format!("_:n{i} <friend> _:n{} .\n", i + 1))
        .collect();
    let nodes = set(&g, &chain).await;
    let start = HashMap::from([("m".to_string(), nodes["n0"])]);
    let e = run_err(&g, &start, "{ me(func: uid($m)) @recurse { friend } }").await;
    assert!(
        e.contains("deeper than 1000 levels; give it a depth"),
        "{e}"
    );
    let r = run(
        &g,
        &start,
        "{ me(func: uid($m)) @recurse(depth: 3) { uid friend } }",
    )
    .await;
    assert!(r["me"][0]["friend"][0]["friend"].is_array(), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ignorereflex_drops_nodes_already_on_the_path() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m, $r), orderasc: name) @ignorereflex { name friend(orderasc: name) { name friend(orderasc: name) { name } } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [
            {"name": "Michonne", "friend": [
                {"name": "Andrea", "friend": [{"name": "Glenn Rhee"}]},
                {"name": "Daryl Dixon"},
                {"name": "Glenn Rhee"},
                {"name": "Rick Grimes"}
            ]},
            {"name": "Rick Grimes", "friend": [
                {"name": "Michonne", "friend": [
                    {"name": "Andrea"}, {"name": "Daryl Dixon"}, {"name": "Glenn Rhee"}
                ]}
            ]}
        ]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn groupby_at_the_root_nested_and_into_variables() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m, $r, $g, $d, $a)) @groupby(age) { count(uid) } }",
    )
    .await;
    // Smaller groups first, then by value.
    assert_eq!(
        r,
        json!({"me": [{"@groupby": [
            {"age": 17, "count": 1}, {"age": 19, "count": 1}, {"age": 38, "count": 1}, {"age": 15, "count": 2}
        ]}]})
    );
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { friend @groupby(age) { count(uid) oldest: max(name) } name } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"friend": [{"@groupby": [
            {"age": 17, "count": 1, "oldest": "Daryl Dixon"},
            {"age": 19, "count": 1, "oldest": "Andrea"},
            {"age": 15, "count": 2, "oldest": "Rick Grimes"}
        ]}], "name": "Michonne"}]})
    );
    let r = run(
        &g,
        &u,
        "{ var(func: uid($m)) { friend @groupby(school) { a as count(uid) } } order(func: uid(a), orderdesc: val(a)) { name val(a) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"order": [{"name": "School B", "val(a)": 3}, {"name": "School A", "val(a)": 2}]})
    );
    // No group at all: the block's key is left out.
    let r = run(&g, &u, "{ me(func: uid($x)) @groupby(age) { count(uid) } }").await;
    assert_eq!(r, json!({}));
    let e = run_err(&g, &u, "{ me(func: uid($m)) @groupby(age) { name } }").await;
    assert!(
        e.contains("Only aggregator/count functions allowed inside @groupby. Got: name"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregates_over_a_block_and_per_parent() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ var(func: uid($m, $r, $g, $d, $a)) { a as age } me() { avg(val(a)) min(val(a)) max(val(a)) total: sum(val(a)) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"avg(val(a))": 20.8}, {"min(val(a))": 15}, {"max(val(a))": 38}, {"total": 104}]})
    );
    // Per parent: over the values its children defined.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m, $d), orderasc: name) { name friend { x as dob y as age } min(val(x)) max(val(y)) s: sum(val(y)) } }",
    )
    .await;
    // The variables' own fields are shown too.
    let me = r["me"].as_array().unwrap();
    assert_eq!(me[0], json!({"name": "Daryl Dixon"}));
    assert_eq!(me[1]["friend"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        (&me[1]["min(val(x))"], &me[1]["max(val(y))"], &me[1]["s"]),
        (&json!("1901-01-15T00:00:00Z"), &json!(19), &json!(66))
    );
    // A variable without values: null.
    let r = run(
        &g,
        &u,
        "{ var(func: uid($x)) { b as age } me() { sum(val(b)) } }",
    )
    .await;
    assert_eq!(r, json!({"me": [{"sum(val(b))": null}]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn math_combines_variables_per_node() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { friend(orderasc: name) @filter(has(name)) { name a as age b as count(friend) s as math(a * 2 + b) half: math(a / 2) h2: math(a / 2.0) } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"friend": [
            {"name": "Andrea", "age": 19, "count(friend)": 1, "val(s)": 39, "half": 9, "h2": 9.5},
            {"name": "Daryl Dixon", "age": 17, "count(friend)": 0, "val(s)": 34, "half": 8, "h2": 8.5},
            {"name": "Glenn Rhee", "age": 15, "count(friend)": 0, "val(s)": 30, "half": 7, "h2": 7.5},
            {"name": "Rick Grimes", "age": 15, "count(friend)": 1, "val(s)": 31, "half": 7, "h2": 7.5}
        ]}]})
    );
    // Aggregates of an empty block are constants in its math.
    let r = run(
        &g,
        &u,
        "{ var(func: uid($m, $r, $g, $d, $a)) { a as age } me() { lo as min(val(a)) hi as max(val(a)) Sum: math(lo + hi) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"min(val(a))": 15}, {"max(val(a))": 38}, {"Sum": 53}]})
    );
    // Scores order a later block.
    let r = run(
        &g,
        &u,
        "{ var(func: uid($m)) { friend { a as age c as count(friend) s as math(cond(c > 0, a + 100, a)) } } top(func: uid(s), orderdesc: val(s), first: 2) { name val(s) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"top": [{"name": "Andrea", "val(s)": 119}, {"name": "Rick Grimes", "val(s)": 115}]})
    );
    let e = run_err(&g, &u, "{ me(func: uid($m)) { a as age math(a + 1) } }").await;
    assert!(
        e.contains("Function math should be used with a variable or have an alias"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shortest_paths_by_hops_and_by_facet_weight() {
    let (g, u) = walking_dead().await;
    // The path's nodes keep path order in a later block: Rick, Michonne, Glenn.
    let r = run(
        &g,
        &u,
        "{ p as shortest(from: $r, to: $g) { friend } path(func: uid(p)) { name } }",
    )
    .await;
    assert_eq!(
        r,
        json!({
            "_path_": [{"uid": hex(u["r"]), "_weight_": 2, "friend": {"uid": hex(u["m"]), "friend": {"uid": hex(u["g"])}}}],
            "path": [{"name": "Rick Grimes"}, {"name": "Michonne"}, {"name": "Glenn Rhee"}]
        })
    );
    // No path: no _path_ key and an empty dependent block.
    let r = run(
        &g,
        &u,
        "{ p as shortest(from: $g, to: $m) { friend } path(func: uid(p)) { name } }",
    )
    .await;
    assert_eq!(r, json!({"path": []}));

    alter(&g, "road: [uid] .").await;
    let n = set(
        &g,
        r#"_:n1 <road> _:n2 (weight=1) .
           _:n2 <road> _:n5 (weight=1) .
           _:n1 <road> _:n3 (weight=1) .
           _:n3 <road> _:n4 (weight=1) .
           _:n4 <road> _:n5 (weight=1) .
           _:n1 <road> _:n5 (weight=10) .
           _:n1 <road> _:n4 ."#,
    )
    .await;
    let q = |extra: &str| {
        with_uids(
            &format!("{{ shortest(from: $n1, to: $n5{extra}) {{ road @facets(weight) }} }}"),
            &n,
        )
    };
    let r = query(&g, &q(", numpaths: 3")).await;
    let weights: Vec<&Json> = r["_path_"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["_weight_"])
        .collect();
    // The unweighted n1 → n4 edge is not traversable by weight.
    assert_eq!(weights, [&json!(2), &json!(3), &json!(10)], "{r}");
    assert_eq!(
        r["_path_"][0],
        json!({"uid": hex(n["n1"]), "_weight_": 2, "road": {"uid": hex(n["n2"]), "road|weight": 1, "road": {"uid": hex(n["n5"]), "road|weight": 1}}})
    );
    let r = query(&g, &q(", numpaths: 3, maxweight: 5")).await;
    assert_eq!(r["_path_"].as_array().map(Vec::len), Some(2), "{r}");
    let r = query(&g, &q(", numpaths: 3, depth: 2")).await;
    let weights: Vec<&Json> = r["_path_"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["_weight_"])
        .collect();
    assert_eq!(weights, [&json!(2), &json!(10)], "{r}");
    // Unweighted, the direct edge is the one hop.
    let r = query(
        &g,
        &with_uids("{ shortest(from: $n1, to: $n5) { road } }", &n),
    )
    .await;
    assert_eq!(r["_path_"][0]["_weight_"], json!(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn several_sort_keys() {
    let (g, u) = walking_dead().await;
    let r = run(
        &g,
        &u,
        "{ me(func: has(age), orderasc: age, orderdesc: name) { name age } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [
            {"name": "Rick Grimes", "age": 15}, {"name": "Glenn Rhee", "age": 15},
            {"name": "Daryl Dixon", "age": 17}, {"name": "Andrea", "age": 19}, {"name": "Michonne", "age": 38}
        ]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn facets_filter_order_alias_and_define_variables() {
    let g = graph().await;
    alter(
        &g,
        "name: string @index(exact) .\nfriend: [uid] .\nalt_name: [string] .",
    )
    .await;
    let u = set(
        &g,
        r#"_:m <name> "Michonne" (origin="french", dummy=true) .
           _:m <alt_name> "Michelle" (origin="french") .
           _:m <alt_name> "Michelin" (origin="spanish", isNick=true) .
           _:r <name> "Rick" .
           _:g <name> "Glenn" .
           _:d <name> "Daryl" .
           _:m <friend> _:r (close=true, since=2006-01-02T15:04:05, weight=0.5) .
           _:m <friend> _:g (close=false, since=2004-05-02T15:04:05, weight=2) .
           _:m <friend> _:d (close=true, since=2007-05-02T15:04:05) .
           _:r <friend> _:g (weight=1) ."#,
    )
    .await;
    // A filter keeps the close friends; the facets asked for are shown in each child.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { friend @facets(eq(close, true)) @facets(since) (orderasc: name) { name } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"friend": [
            {"name": "Daryl", "friend|since": "2007-05-02T15:04:05Z"},
            {"name": "Rick", "friend|since": "2006-01-02T15:04:05Z"}
        ]}]})
    );
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { friend @facets(not eq(close, true) OR ge(since, \"2007-01-01\")) { name } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"friend": [{"name": "Glenn"}, {"name": "Daryl"}]}]})
    );
    // Ordered by a facet (shown too), edges without it last; an alias replaces the key.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { buddies: friend @facets(orderdesc: weight, c: close) { name } } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"buddies": [
            {"name": "Glenn", "buddies|weight": 2, "c": false},
            {"name": "Rick", "buddies|weight": 0.5, "c": true},
            {"name": "Daryl", "c": true}
        ]}]})
    );
    // Facet variables are keyed by the edge's target, summed over several edges.
    let r = run(
        &g,
        &u,
        "{ var(func: uid($m, $r)) { friend @facets(w as weight) } me(func: uid(w), orderasc: name) { name val(w) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{"name": "Glenn", "val(w)": 3}, {"name": "Rick", "val(w)": 0.5}]})
    );
    // Facets of values: beside the value, and for lists one map per facet by index.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { name @facets alt_name @facets(origin, nick: isNick) } }",
    )
    .await;
    assert_eq!(
        r,
        json!({"me": [{
            "name": "Michonne", "name|origin": "french", "name|dummy": true,
            "alt_name": ["Michelle", "Michelin"],
            "alt_name|origin": {"0": "french", "1": "spanish"},
            "nick": {"1": true}
        }]})
    );
    // A filter on a value hides it.
    let r = run(
        &g,
        &u,
        "{ me(func: uid($m)) { name @facets(eq(origin, \"german\")) alt_name } }",
    )
    .await;
    assert_eq!(r, json!({"me": [{"alt_name": ["Michelle", "Michelin"]}]}));
    let e = run_err(
        &g,
        &u,
        "{ me(func: uid($m)) { friend(orderasc: name) @facets(orderasc: since) { name } } }",
    )
    .await;
    assert!(e.contains("both a predicate and a facet"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn paged_search_functions_answer_the_same_first_matches() {
    let g = graph().await;
    alter(&g, "text: string @index(fulltext, trigram) .").await;
    let mut rdf = String::new();
    for i in 0..60 {
        // Every third text matches; the others share the words' trigrams but not the words.
        let text = if i % 3 == 0 {
            format!("running rivers {i}")
        } else {
            format!("runner riverside {i}")
        };
        rdf.push_str(&format!("_:n{i} <text> \"{text}\" .\n"));
    }
    let u = set(&g, &rdf).await;
    for f in [
        "anyoftext(text, \"run river\")",
        "alloftext(text, \"rivers running\")",
        "regexp(text, /running r.vers/)",
    ] {
        let all = run(&g, &u, &format!("{{ q(func: {f}) {{ uid }} }}")).await;
        let all = all["q"].as_array().unwrap().clone();
        assert!(all.len() >= 20, "{f}: {}", all.len());
        let paged = run(
            &g,
            &u,
            &format!("{{ q(func: {f}, first: 3, offset: 2) {{ uid }} }}"),
        )
        .await;
        assert_eq!(paged["q"], json!(all[2..5]), "{f}");
        // With a count(uid) the whole set is still counted.
        let counted = run(
            &g,
            &u,
            &format!("{{ q(func: {f}, first: 3) {{ count(uid) }} }}"),
        )
        .await;
        assert_eq!(counted["q"][0]["count"], json!(all.len().min(3)), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn normalize_refuses_a_product_too_large_to_answer() {
    let g = graph().await;
    alter(&g, "name: string .\na: [uid] .\nb: [uid] .\nc: [uid] .").await;
    // 25 × 25 × 25 = 15,625 rows from 76 nodes.
    let mut rdf = String::from("_:root <name> \"root\" .\n");
    for p in ["a", "b", "c"] {
        for i in 0..25 {
            rdf.push_str(&format!(
                "_:root <{p}> _:{p}{i} .\n_:{p}{i} <name> \"{p}{i}\" .\n"
            ));
        }
    }
    let u = set(&g, &rdf).await;
    let e = run_err(
        &g,
        &u,
        "{ q(func: uid($root)) @normalize { n: name a { x: name } b { y: name } c { z: name } } }",
    )
    .await;
    assert!(e.contains("too many results"), "{e}");
    // Two of the edges (625 rows) are answered.
    let r = run(
        &g,
        &u,
        "{ q(func: uid($root)) @normalize { n: name a { x: name } b { y: name } } }",
    )
    .await;
    assert_eq!(r["q"].as_array().map(Vec::len), Some(625));
}
