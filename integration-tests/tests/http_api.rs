//! Dgraph's HTTP API on the gateway (`/query`, `/mutate`, `/alter`, `/commit`, `/login`),
//! driven by the real `curl` binary as Dgraph's documentation drives it: the quickstart's
//! scripts (integration-tests/http/) as published, then every endpoint with ACL off and on,
//! open transactions with a conflict, aborts, upserts, and bad requests. The clusters take
//! their shape from `LODESTAR_TEST_GROUPS` / `LODESTAR_TEST_REPLICAS`, so the same requests
//! run against several groups of replicated alphas.

mod common;

use lodestar_integration_tests::{Cluster, ClusterBuilder};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The gateway as a curl user sees it: its address, and the access token once logged in.
struct Gateway {
    url: String,
    token: Option<String>,
    /// Zero's HTTP address: `/state` says where each predicate is served when a read surprises.
    zero_http: String,
}

/// What curl got: the HTTP status and the body, as JSON.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

/// Runs `curl` with `args`; the status and the JSON body. Fails when curl is not installed:
/// this test is about what the real client sends.
async fn curl(args: &[&str]) -> Reply {
    let out = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--write-out", "\n%{http_code}"])
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run curl ({e}): this test needs the curl binary (apt-get install curl)")
        });
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 from curl");
    let (body, status) = text.rsplit_once('\n').expect("the status line");
    Reply {
        status: status.trim().parse().expect("an HTTP status"),
        body: serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("curl {args:?}: not JSON ({e}): {body}")),
    }
}

impl Gateway {
    fn new(cluster: &Cluster) -> Self {
        Gateway {
            url: cluster.gateway_http(),
            token: None,
            zero_http: cluster.zero_http(0),
        }
    }

    /// `curl -X POST <path>` with a `Content-Type` (none: curl's default for `--data`), the
    /// body, the access token if logged in, and `extra` flags.
    async fn post_with(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: &str,
        extra: &[&str],
    ) -> Reply {
        let url = format!("{}{path}", self.url);
        let mut args: Vec<String> = vec!["-X".into(), "POST".into(), url];
        if let Some(ct) = content_type {
            args.extend(["-H".into(), format!("Content-Type: {ct}")]);
        }
        if let Some(token) = &self.token {
            args.extend(["-H".into(), format!("X-Dgraph-AccessToken: {token}")]);
        }
        args.extend(["--data-binary".into(), body.into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        curl(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
    }

    async fn post(&self, path: &str, content_type: Option<&str>, body: &str) -> Reply {
        self.post_with(path, content_type, body, &[]).await
    }

    /// A successful request: 200 and no errors.
    async fn ok(&self, path: &str, content_type: Option<&str>, body: &str) -> Value {
        let r = self.post(path, content_type, body).await;
        assert_eq!(r.status, 200, "{path} {body}: {}", r.body);
        assert!(r.body.get("errors").is_none(), "{path} {body}: {}", r.body);
        r.body
    }

    async fn query(&self, dql: &str) -> Value {
        self.ok("/query", Some("application/dql"), dql).await
    }

    async fn get(&self, path: &str) -> Reply {
        curl(&[&format!("{}{path}", self.url)]).await
    }

    /// What a read that did not see an acknowledged write tells about where the write went:
    /// the same query again (a late read heals, a lost write does not), the nodes read by uid,
    /// and the groups zero says serve each predicate.
    async fn diagnose(&self, dql: &str, uids: &str) -> String {
        let mut out = String::new();
        for attempt in 1..=3 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let again = self.post("/query", Some("application/dql"), dql).await;
            out.push_str(&format!(
                "\nthe same query again ({attempt}): {}",
                again.body
            ));
        }
        let by_uid = self
            .post(
                "/query",
                Some("application/dql"),
                &format!("{{ q(func: uid({uids})) {{ uid name balance dgraph.type }} }}"),
            )
            .await;
        out.push_str(&format!("\nthe nodes by uid: {}", by_uid.body));
        let state = curl(&[&format!("{}/state", self.zero_http)]).await;
        let tablets: Vec<String> = state.body["groups"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(g, group)| {
                let names: Vec<&str> = group["tablets"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(n, _)| n.as_str())
                    .filter(|n| !n.starts_with("dgraph."))
                    .collect();
                format!("group {g}: {names:?}")
            })
            .collect();
        out.push_str(&format!("\nzero's tablets: {tablets:?}"));
        out
    }
}

fn start_ts(reply: &Value) -> u64 {
    reply["extensions"]["txn"]["start_ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("no start_ts: {reply}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// A failure Dgraph answers with 200: its error body, `extensions.code` and message.
fn assert_error_200(r: &Reply, code: &str, mentions: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["errors"][0]["extensions"]["code"], code,
        "{}",
        r.body
    );
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains(&mentions.to_lowercase()),
        "wanted {mentions:?}: {}",
        r.body
    );
}

/// A request the gateway cannot read: 400 with Dgraph's error body.
fn assert_bad(r: &Reply, mentions: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "wanted {mentions:?}: {}",
        r.body
    );
    assert!(r.body["errors"][0]["extensions"]["code"].is_string());
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("http")
}

/// Runs one of the quickstart scripts against the gateway; its answer.
async fn script(gateway: &str, name: &str) -> Value {
    let out = tokio::process::Command::new("bash")
        .arg(scripts_dir().join(name))
        .env("DGRAPH", gateway)
        .output()
        .await
        .expect("run bash");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_runs_as_published() {
    // The scripts call curl themselves; make its absence a failure here, not a skipped step.
    let version = tokio::process::Command::new("curl")
        .arg("--version")
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run curl ({e}): the quickstart scripts need it"));
    assert!(version.status.success());
    let cluster = common::start_cluster().await;
    let gw = cluster.gateway_http();

    let mutated = script(&gw, "01-mutate.sh").await;
    assert_eq!(mutated["data"]["code"], "Success", "{mutated}");
    let mut blank: Vec<&String> = mutated["data"]["uids"]
        .as_object()
        .expect("uids")
        .keys()
        .collect();
    blank.sort();
    assert_eq!(
        blank,
        [
            "han", "irvin", "leia", "lucas", "luke", "richard", "st1", "sw1", "sw2", "sw3"
        ]
    );
    assert!(mutated["extensions"]["txn"]["commit_ts"].as_u64() > Some(0));

    let altered = script(&gw, "02-alter.sh").await;
    assert_eq!(
        altered,
        json!({"data": {"code": "Success", "message": "Done"}})
    );

    let all = script(&gw, "03-query-all-movies.sh").await;
    let mut names: Vec<&str> = all["data"]["me"]
        .as_array()
        .unwrap_or_else(|| panic!("{all}"))
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Star Wars: Episode IV - A New Hope",
            "Star Wars: Episode V - The Empire Strikes Back",
            "Star Wars: Episode VI - Return of the Jedi",
        ]
    );

    // The answer the guide prints.
    let after = script(&gw, "04-query-star-wars-after-1980.sh").await;
    let films = after["data"]["me"]
        .as_array()
        .unwrap_or_else(|| panic!("{after}"));
    let expected = [
        (
            "Star Wars: Episode V - The Empire Strikes Back",
            "1980-05-21T00:00:00Z",
            534000000.0,
            124,
            "Irvin Kernshner",
        ),
        (
            "Star Wars: Episode VI - Return of the Jedi",
            "1983-05-25T00:00:00Z",
            572000000.0,
            131,
            "Richard Marquand",
        ),
    ];
    assert_eq!(films.len(), expected.len(), "{after}");
    for (film, (name, date, revenue, minutes, director)) in films.iter().zip(expected) {
        assert_eq!(film["name"], name, "{after}");
        assert_eq!(film["release_date"], date, "{after}");
        assert_eq!(film["revenue"].as_f64(), Some(revenue), "{after}");
        assert_eq!(film["running_time"], minutes, "{after}");
        assert_eq!(film["director"], json!([{"name": director}]), "{after}");
        assert_eq!(
            film["starring"],
            json!([{"name": "Han Solo"}, {"name": "Luke Skywalker"}, {"name": "Princess Leia"}]),
            "{after}"
        );
    }
}

/// Every endpoint, as a client of the HTTP API uses them (with `gw`'s token when logged in).
async fn every_endpoint(gw: &Gateway) {
    // Schema, then data committed at once.
    let altered = gw
        .ok(
            "/alter",
            None,
            "name: string @index(term) .\nbalance: int .\nemail: string @index(exact) @upsert .\n\ntype User {\n  name\n  balance\n  email\n}\n",
        )
        .await;
    assert_eq!(
        altered,
        json!({"data": {"code": "Success", "message": "Done"}})
    );
    let created = gw
        .ok(
            "/mutate?commitNow=true",
            Some("application/rdf"),
            r#"{
  set {
    _:alice <name> "Alice" .
    _:alice <balance> "100" .
    _:alice <dgraph.type> "User" .
    _:bob <name> "Bob" .
    _:bob <balance> "70" .
    _:bob <dgraph.type> "User" .
  }
}"#,
        )
        .await;
    assert_eq!(created["data"]["code"], "Success");
    assert_eq!(created["data"]["message"], "Done");
    let alice = created["data"]["uids"]["alice"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let bob = created["data"]["uids"]["bob"].as_str().unwrap().to_string();
    let txn = &created["extensions"]["txn"];
    assert!(
        txn["commit_ts"].as_u64() > txn["start_ts"].as_u64(),
        "{created}"
    );
    assert!(txn.get("keys").is_none(), "committed: no keys: {created}");
    assert!(created["extensions"]["server_latency"].is_object());
    // RDF answers: the data is the RDF text.
    let rdf = gw
        .ok(
            "/query?respFormat=rdf",
            Some("application/dql"),
            &format!("{{ q(func: uid({alice})) {{ name balance }} }}"),
        )
        .await;
    assert_eq!(
        rdf["data"],
        json!(format!(
            "<{alice}> <name> \"Alice\" .\n<{alice}> <balance> \"100\" .\n"
        )),
        "{rdf}"
    );

    let balances =
        "{ users(func: anyofterms(name, \"Alice Bob\"), orderasc: name) { name balance } }";
    let read = gw.query(balances).await;
    let want = json!([{"name": "Alice", "balance": 100}, {"name": "Bob", "balance": 70}]);
    if read["data"]["users"] != want {
        let seen = gw.diagnose(balances, &format!("{alice}, {bob}")).await;
        panic!("{balances} answered {read}, not {want}{seen}");
    }
    assert!(start_ts(&read) > 0);
    assert!(read["extensions"]["server_latency"]["processing_ns"].as_u64() > Some(0));

    // JSON with variables, the legacy content type, read-only and best-effort, a timeout,
    // and a gzipped answer.
    let by_var = gw
        .ok(
            "/query",
            Some("application/json"),
            r#"{"query": "query q($n: string) { q(func: anyofterms(name, $n)) { balance } }", "variables": {"$n": "Bob"}}"#,
        )
        .await;
    assert_eq!(by_var["data"]["q"], json!([{"balance": 70}]));
    for path in ["/query?ro=true", "/query?be=true", "/query?timeout=5s"] {
        let r = gw.ok(path, Some("application/graphql+-"), balances).await;
        assert_eq!(r["data"], read["data"], "{path}");
    }
    // A timeout too short for any query: the alpha gets it as the deadline, the answer is
    // Dgraph's error (a 200).
    let late = gw
        .post("/query?timeout=1ns", Some("application/dql"), balances)
        .await;
    assert_error_200(&late, "ErrorInvalidRequest", "time");
    let gz = gw
        .post_with(
            "/query",
            Some("application/dql"),
            balances,
            &["--compressed"],
        )
        .await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.body["data"], read["data"]);

    // Two open transactions write Alice's balance; the first to commit wins.
    let ts1 = start_ts(&gw.query(balances).await);
    let m1 = gw
        .ok(
            &format!("/mutate?startTs={ts1}"),
            Some("application/rdf"),
            &format!("{{ set {{ <{alice}> <balance> \"110\" . }} }}"),
        )
        .await;
    assert_eq!(start_ts(&m1), ts1);
    let keys1 = strings(&m1["extensions"]["txn"]["keys"]);
    let preds1 = strings(&m1["extensions"]["txn"]["preds"]);
    assert!(!keys1.is_empty() && !preds1.is_empty(), "{m1}");
    let ts2 = start_ts(&gw.query(balances).await);
    let m2 = gw
        .ok(
            &format!("/mutate?startTs={ts2}"),
            Some("application/json"),
            &json!({"set": [{"uid": alice, "balance": 120}]}).to_string(),
        )
        .await;
    let keys2 = strings(&m2["extensions"]["txn"]["keys"]);
    // Not committed yet: nobody sees 110.
    assert_eq!(gw.query(balances).await["data"], read["data"]);
    let committed = gw
        .ok(
            &format!("/commit?startTs={ts1}"),
            None,
            &json!({"keys": keys1, "preds": preds1}).to_string(),
        )
        .await;
    assert_eq!(
        committed["data"],
        json!({"code": "Success", "message": "Done"})
    );
    assert_eq!(start_ts(&committed), ts1);
    assert!(committed["extensions"]["txn"]["commit_ts"].as_u64() > Some(ts1));
    let conflict = gw
        .post(
            &format!("/commit?startTs={ts2}"),
            None,
            &json!(keys2).to_string(),
        )
        .await;
    // dgraph-js-http retries an error whose message says "abort" and "retry".
    assert_error_200(&conflict, "ErrorInvalidRequest", "abort");
    assert_error_200(&conflict, "ErrorInvalidRequest", "retry");
    assert_eq!(
        gw.query(balances).await["data"]["users"][0],
        json!({"name": "Alice", "balance": 110})
    );

    // An aborted transaction leaves nothing behind.
    let ts3 = start_ts(&gw.query(balances).await);
    gw.ok(
        &format!("/mutate?startTs={ts3}"),
        Some("application/rdf"),
        &format!("{{ set {{ <{bob}> <balance> \"0\" . }} }}"),
    )
    .await;
    let aborted = gw
        .ok(&format!("/commit?startTs={ts3}&abort=true"), None, "")
        .await;
    assert_eq!(aborted, json!({"code": "Success", "message": "Done"}));
    assert_eq!(
        gw.query(balances).await["data"]["users"][1],
        json!({"name": "Bob", "balance": 70})
    );

    // An upsert creates Carol once; a conditional upsert in JSON then updates her.
    let upsert = r#"upsert {
  query {
    q(func: eq(email, "carol@example.com")) { v as uid }
  }
  mutation @if(eq(len(v), 0)) {
    set {
      _:carol <email> "carol@example.com" .
      _:carol <name> "Carol" .
      _:carol <dgraph.type> "User" .
    }
  }
}"#;
    let first = gw
        .ok("/mutate?commitNow=true", Some("application/rdf"), upsert)
        .await;
    assert!(first["data"]["uids"]["carol"].is_string(), "{first}");
    let again = gw
        .ok("/mutate?commitNow=true", Some("application/rdf"), upsert)
        .await;
    assert_eq!(again["data"]["uids"], json!({}), "{again}");
    let update = json!({
        "query": "{ q(func: eq(email, \"carol@example.com\")) { v as uid } }",
        "mutations": [
            {"cond": "@if(eq(len(v), 1))", "set": {"uid": "uid(v)", "balance": 5}},
            {"cond": "@if(eq(len(v), 0))", "set": {"uid": "_:nobody", "name": "Nobody"}}
        ]
    });
    let updated = gw
        .ok(
            "/mutate?commitNow=true",
            Some("application/json"),
            &update.to_string(),
        )
        .await;
    assert_eq!(updated["data"]["uids"], json!({}), "{updated}");
    assert_eq!(
        gw.query("{ c(func: eq(email, \"carol@example.com\")) { name balance } }")
            .await["data"]["c"],
        json!([{"name": "Carol", "balance": 5}])
    );
    assert_eq!(
        gw.query("{ n(func: anyofterms(name, \"Nobody\")) { uid } }")
            .await["data"]["n"],
        json!([])
    );

    // Deleting a value, then dropping a predicate through /alter.
    gw.ok(
        "/mutate?commitNow=true",
        Some("application/rdf"),
        &format!("{{ delete {{ <{alice}> <balance> * . }} }}"),
    )
    .await;
    assert_eq!(
        gw.query(balances).await["data"]["users"][0],
        json!({"name": "Alice"})
    );
    gw.ok("/alter", None, r#"{"drop_attr": "email"}"#).await;
    assert_eq!(
        gw.query("{ c(func: has(email)) { uid } }").await["data"]["c"],
        json!([])
    );

    // Requests the gateway cannot read: 400, Dgraph's error body, nothing done.
    let dql = Some("application/dql");
    assert_bad(&gw.post("/query", None, balances).await, "Content-Type");
    assert_bad(
        &gw.post("/query?startTs=soon", dql, balances).await,
        "startTs",
    );
    assert_bad(
        &gw.post(
            "/mutate",
            Some("application/rdf"),
            "{ set { _:x <name> \"X\" } }",
        )
        .await,
        "line 1",
    );
    assert_bad(
        &gw.post(
            "/mutate",
            Some("application/json"),
            r#"{"set": [{"name": "X"}"#,
        )
        .await,
        "JSON",
    );
    assert_bad(
        &gw.post("/alter", None, r#"{"drop_al": true}"#).await,
        "drop_al",
    );
    assert_bad(&gw.post("/commit", None, "[]").await, "startTs");
    assert_bad(
        &gw.post(&format!("/commit?startTs={ts1}"), None, "keys")
            .await,
        "keys",
    );
    // A DQL mistake the alpha finds is a 400 too, with the position.
    let typo = gw
        .post("/query", dql, "{ q(func: nosuchfunction(name)) { name } }")
        .await;
    assert_eq!(typo.status, 400, "{}", typo.body);
    assert_eq!(
        typo.body["errors"][0]["extensions"]["code"],
        "ErrorInvalidRequest"
    );
    let wrong_method = gw.get("/query").await;
    assert_eq!(wrong_method.status, 400);
    assert_eq!(
        wrong_method.body["errors"][0]["extensions"]["code"],
        "ErrorInvalidMethod"
    );
    assert_eq!(
        gw.query("{ n(func: has(name)) { count(uid) } }").await["data"]["n"],
        json!([{"count": 3}])
    );
}

async fn probes(gw: &Gateway, alphas: usize) {
    // dgraph-js-http (and Ratel through it) picks its API from `[0].version` of `/health`:
    // without one it falls back to Dgraph 1.0's.
    let health = gw.get("/health").await;
    assert_eq!(health.status, 200);
    let version = health.body[0]["version"].as_str().unwrap_or_default();
    assert!(
        !version.is_empty() && !version.starts_with("1.0."),
        "{}",
        health.body
    );
    assert_eq!(health.body[0]["status"], "healthy");
    let live = gw.get("/health?live=1").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body[0]["instance"], "gateway", "{}", live.body);
    let all = gw.get("/health?all").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let listed = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["instance"] == "alpha")
        .count();
    assert_eq!(listed, alphas, "{}", all.body);
    let probe = gw.get("/probe/graphql").await;
    assert_eq!(probe.status, 200);
    assert_eq!(
        probe.body,
        json!({"status": "up", "schemaUpdateCounter": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_through_curl_without_acl() {
    let cluster = common::start_cluster().await;
    let gw = Gateway::new(&cluster);
    every_endpoint(&gw).await;
    probes(&gw, cluster.alphas.len()).await;
    // A body over the gateway's limit (--max_body_bytes, 4 MiB by default) is refused whole.
    let big = format!(
        "{{ q(func: has(name)) {{ name }} }} # {}",
        "x".repeat(5 << 20)
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), big).unwrap();
    let at_file = format!("@{}", file.path().display());
    let r = curl(&[
        "-X",
        "POST",
        &format!("{}/query", gw.url),
        "-H",
        "Content-Type: application/dql",
        "--data-binary",
        &at_file,
    ])
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body.to_string().contains("--max_body_bytes"),
        "{}",
        r.body
    );
    // Dropping a type, then the data (the schema stays), then everything.
    gw.ok(
        "/alter",
        None,
        r#"{"drop_op": "TYPE", "drop_value": "User"}"#,
    )
    .await;
    gw.ok("/alter", None, r#"{"drop_op": "DATA"}"#).await;
    assert_eq!(
        gw.query("{ n(func: has(name)) { count(uid) } }").await["data"]["n"],
        json!([{"count": 0}])
    );
    let schema = gw.query("schema(pred: [name]) { type index }").await;
    assert_eq!(
        schema["data"]["schema"][0]["type"], "string",
        "the schema outlives drop_op DATA: {schema}"
    );
    gw.ok(
        "/mutate?commitNow=true",
        Some("application/rdf"),
        "{ set { _:z <name> \"Zed\" . } }",
    )
    .await;
    // drop_all over HTTP empties the graph.
    gw.ok("/alter", None, r#"{"drop_all": true}"#).await;
    assert_eq!(
        gw.query("{ n(func: has(name)) { count(uid) } }").await["data"]["n"],
        json!([{"count": 0}])
    );
}

fn acl_secret(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("acl_secret");
    std::fs::write(&path, "0123456789abcdef0123456789abcdef01234567").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_through_curl_with_acl() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .acl_secret_file(acl_secret(dir.path()))
        .start()
        .await
        .expect("cluster");
    let mut gw = Gateway::new(&cluster);
    let schema = "name: string @index(term) .";
    let query = "{ q(func: has(name)) { name } }";

    // Without a token, and with one that is no token, the alphas refuse in Dgraph's words.
    for token in [None, Some("not-a-jwt")] {
        gw.token = token.map(str::to_string);
        let r = gw.post("/query", Some("application/dql"), query).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"], Value::Null, "{}", r.body);
        assert_eq!(
            r.body["errors"][0]["extensions"]["code"],
            "ErrorInvalidRequest"
        );
        if token.is_none() {
            assert_error_200(&r, "ErrorInvalidRequest", "no accessJwt available");
        }
        let r = gw.post("/alter", None, schema).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.body["errors"][0]["extensions"]["code"], "Error",
            "{}",
            r.body
        );
        let r = gw
            .post(
                "/mutate?commitNow=true",
                Some("application/rdf"),
                "{ set { _:a <name> \"A\" . } }",
            )
            .await;
        assert!(r.body["errors"][0]["message"].is_string(), "{}", r.body);
        let r = gw.post("/commit?startTs=5", None, "[]").await;
        assert!(r.body["errors"][0]["message"].is_string(), "{}", r.body);
    }

    // A wrong password is refused; groot's logs in.
    gw.token = None;
    let wrong = gw
        .post(
            "/login",
            Some("application/json"),
            r#"{"userid": "groot", "password": "wrong"}"#,
        )
        .await;
    assert_error_200(
        &wrong,
        "ErrorInvalidRequest",
        "invalid username or password",
    );
    assert_eq!(wrong.body["data"], Value::Null);
    let login = gw
        .ok(
            "/login",
            Some("application/json"),
            r#"{"userid": "groot", "password": "password"}"#,
        )
        .await;
    let token = login["data"]["accessJWT"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"));
    assert!(login["data"]["refreshJWT"].is_string());
    gw.token = Some(token.to_string());
    every_endpoint(&gw).await;
    probes(&gw, cluster.alphas.len()).await;
}

/// The gateway is given every alpha (`--alpha`): when the first of its list dies, the HTTP API
/// goes on through the others, transactions included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_goes_on_when_an_alpha_dies() {
    let mut cluster = common::replicas::three_replicas(|b| b.services(true)).await;
    let gw = Gateway::new(&cluster);
    gw.ok("/alter", None, "name: string @index(term) .").await;
    cluster.alphas[0].kill9();
    common::replicas::leader(&mut cluster, std::time::Duration::from_secs(20)).await;
    let rdf = Some("application/rdf");
    let created = gw
        .ok(
            "/mutate?commitNow=true",
            rdf,
            "{ set { _:ada <name> \"Ada\" . } }",
        )
        .await;
    assert!(created["data"]["uids"]["ada"].is_string(), "{created}");
    let names = "{ q(func: has(name), orderasc: name) { name } }";
    let ts = start_ts(&gw.query(names).await);
    let open = gw
        .ok(
            &format!("/mutate?startTs={ts}"),
            rdf,
            "{ set { _:bo <name> \"Bo\" . } }",
        )
        .await;
    let txn = &open["extensions"]["txn"];
    gw.ok(
        &format!("/commit?startTs={ts}"),
        None,
        &json!({"keys": txn["keys"], "preds": txn["preds"]}).to_string(),
    )
    .await;
    assert_eq!(
        gw.query(names).await["data"]["q"],
        json!([{"name": "Ada"}, {"name": "Bo"}])
    );
}
