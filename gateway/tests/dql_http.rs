//! Dgraph's HTTP API for DQL (`/query`, `/mutate`, `/alter`, `/commit`) driven with `oneshot`
//! against a fake cluster that records what reaches the alphas and answers as told (the real
//! alphas are exercised by integration-tests/tests/http_api.rs, through curl).

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use lodestar_gateway::{AlphaCall, Cluster, GatewayState, Services, router};
use lodestar_proto::api;
use lodestar_proto::node::NodeInfo;
use lodestar_proto::zero::{ApplyLicenseResponse, MembershipState};
use lodestar_runtime::serve::NodeHandle;
use lodestar_runtime::{ErrorCode, ServiceError};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// What reached the fake alphas.
#[derive(Clone, Debug)]
enum Call {
    Query(api::Request, AlphaCall),
    Alter(api::Operation, AlphaCall),
    Commit(api::TxnContext, AlphaCall),
}

/// Alphas that record every call and answer with what the test set.
struct FakeAlphas {
    calls: Mutex<Vec<Call>>,
    query: Result<api::Response, ServiceError>,
    alter: Result<(), ServiceError>,
    /// The answer to a commit; an abort is answered `aborted` unless `abort_refused`.
    commit: Result<u64, ServiceError>,
    abort_refused: bool,
    /// Every call waits forever.
    hang: bool,
    healthy_alpha: bool,
}

impl Default for FakeAlphas {
    fn default() -> Self {
        FakeAlphas {
            calls: Mutex::new(Vec::new()),
            query: Ok(api::Response::default()),
            alter: Ok(()),
            commit: Ok(7),
            abort_refused: false,
            hang: false,
            healthy_alpha: true,
        }
    }
}

impl FakeAlphas {
    async fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
        if self.hang {
            std::future::pending::<()>().await;
        }
    }
}

#[tonic::async_trait]
impl Cluster for FakeAlphas {
    async fn membership_state(&self) -> Result<MembershipState, ServiceError> {
        Err(ServiceError::unavailable("no zero in this test"))
    }

    async fn apply_license(&self, _: Vec<u8>) -> Result<ApplyLicenseResponse, ServiceError> {
        Err(ServiceError::unavailable("no zero in this test"))
    }

    async fn node_info(&self, addr: &str) -> Result<NodeInfo, ServiceError> {
        if self.healthy_alpha {
            Ok(NodeInfo {
                instance: "alpha".into(),
                address: addr.into(),
                status: "healthy".into(),
                ..Default::default()
            })
        } else {
            Err(ServiceError::unavailable("connection refused"))
        }
    }

    async fn dgraph_query(
        &self,
        req: api::Request,
        call: &AlphaCall,
    ) -> Result<api::Response, ServiceError> {
        self.record(Call::Query(req, call.clone())).await;
        self.query.clone()
    }

    async fn dgraph_alter(
        &self,
        op: api::Operation,
        call: &AlphaCall,
    ) -> Result<api::Payload, ServiceError> {
        self.record(Call::Alter(op, call.clone())).await;
        self.alter.clone().map(|()| api::Payload::default())
    }

    async fn dgraph_commit_or_abort(
        &self,
        txn: api::TxnContext,
        call: &AlphaCall,
    ) -> Result<api::TxnContext, ServiceError> {
        self.record(Call::Commit(txn.clone(), call.clone())).await;
        if txn.aborted && !self.abort_refused {
            return Ok(api::TxnContext {
                start_ts: txn.start_ts,
                aborted: true,
                ..Default::default()
            });
        }
        let commit_ts = self.commit.clone()?;
        Ok(api::TxnContext {
            start_ts: txn.start_ts,
            commit_ts,
            keys: txn.keys,
            ..Default::default()
        })
    }
}

struct Harness {
    app: Router,
    alphas: Arc<FakeAlphas>,
    node: NodeHandle,
}

fn harness(alphas: FakeAlphas) -> Harness {
    let alphas = Arc::new(alphas);
    let node = NodeHandle::new("gateway", "localhost:8080".into());
    let services = Services {
        zeros: vec!["zero1:5080".into()],
        alpha: "alpha1:9080, alpha2:9080".into(),
        auth: "auth:7070".into(),
        backup: "backup:7090".into(),
    };
    let state = GatewayState::new(alphas.clone(), services, node.identity.clone())
        .with_probe_timeout(Duration::from_millis(200))
        .with_max_body_bytes(4096);
    Harness {
        app: router(state),
        alphas,
        node,
    }
}

impl Harness {
    fn calls(&self) -> Vec<Call> {
        self.alphas.calls.lock().unwrap().clone()
    }

    fn only_call(&self) -> Call {
        let calls = self.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls[0].clone()
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }

    /// POSTs `body` to `uri` with `content_type` (if any); the status and the JSON answer.
    async fn post(&self, uri: &str, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = Request::post(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let (status, _, body) = self
            .send(req.body(Body::from(body.to_string())).unwrap())
            .await;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        (status, value)
    }
}

const DQL: Option<&str> = Some("application/dql");
const RDF: Option<&str> = Some("application/rdf");
const JSON: Option<&str> = Some("application/json");

fn error_of(body: &Value) -> (&str, &str) {
    (
        body["errors"][0]["message"].as_str().unwrap_or_default(),
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default(),
    )
}

/// A request the gateway cannot read is a 400 with Dgraph's error body, and no alpha is asked.
async fn assert_bad(h: &Harness, uri: &str, ct: Option<&str>, body: &str, mentions: &str) {
    let before = h.calls().len();
    let (status, reply) = h.post(uri, ct, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {body}: {reply}");
    let (message, code) = error_of(&reply);
    assert_eq!(code, "ErrorInvalidRequest", "{reply}");
    assert!(message.contains(mentions), "{uri} {body}: {reply}");
    assert!(reply.get("data").is_none(), "{reply}");
    assert_eq!(
        h.calls().len(),
        before,
        "the alpha was asked for {uri} {body}"
    );
}

fn answered(json: &str) -> FakeAlphas {
    FakeAlphas {
        query: Ok(api::Response {
            json: json.as_bytes().to_vec(),
            txn: Some(api::TxnContext {
                start_ts: 6,
                ..Default::default()
            }),
            latency: Some(api::Latency {
                parsing_ns: 1,
                processing_ns: 2,
                encoding_ns: 3,
                assign_timestamp_ns: 4,
                total_ns: 10,
            }),
            metrics: Some(api::Metrics {
                num_uids: [("_total".to_string(), 2)].into(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_dql_query_reaches_the_alpha_with_its_parameters_token_and_deadline() {
    let h = harness(answered(r#"{"users":[{"name":"Alice"}]}"#));
    let req = Request::post("/query?startTs=0x10&hash=abc&timeout=2s&ro=true&debug=true")
        .header(header::CONTENT_TYPE, "application/dql")
        .header("X-Dgraph-AccessToken", "the-token")
        .body(Body::from("{ users(func: has(name)) { name } }"))
        .unwrap();
    let (status, headers, body) = h.send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers["dgraph-toucheduids"], "2");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({
            "data": {"users": [{"name": "Alice"}]},
            "extensions": {
                "server_latency": {"parsing_ns": 1, "processing_ns": 2, "encoding_ns": 3, "assign_timestamp_ns": 4, "total_ns": 10},
                "txn": {"start_ts": 6},
                "metrics": {"num_uids": {"_total": 2}},
            }
        })
    );
    let Call::Query(req, call) = h.only_call() else {
        panic!("not a query")
    };
    assert_eq!(req.query, "{ users(func: has(name)) { name } }");
    assert_eq!(req.start_ts, 16);
    assert_eq!(req.hash, "abc");
    // Inside a transaction (startTs given) ro and be do not apply, as in Dgraph.
    assert!(!req.read_only && !req.best_effort);
    assert!(req.mutations.is_empty());
    assert_eq!(call.access_token.as_deref(), Some("the-token"));
    assert_eq!(call.timeout, Some(Duration::from_secs(2)));
    // The token never shows in logs of the call.
    assert!(!format!("{call:?}").contains("the-token"));
}

#[tokio::test]
async fn query_flags_content_types_and_variables() {
    let h = harness(answered(r#"{"q":[]}"#));
    let (status, _) = h
        .post("/query?be=true", DQL, "{ q(func: has(a)) { a } }")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .post(
            "/query?ro=1",
            Some("application/graphql+-"),
            "{ q(func: has(a)) { a } }",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .post(
            "/query",
            Some("application/json; charset=utf-8"),
            r#"{"query": "query q($n: string) { q(func: eq(name, $n)) { name } }", "variables": {"$n": "Bob"}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let calls = h.calls();
    let [
        Call::Query(be, _),
        Call::Query(ro, no_token),
        Call::Query(json_query, _),
    ] = &calls[..]
    else {
        panic!("{calls:?}")
    };
    assert!(be.best_effort && be.read_only);
    assert!(ro.read_only && !ro.best_effort);
    assert_eq!(no_token, &AlphaCall::default());
    assert!(json_query.query.starts_with("query q($n: string)"));
    assert_eq!(json_query.vars["$n"], "Bob");
    assert!(!json_query.read_only);
}

#[tokio::test]
async fn unreadable_queries_are_400s_that_never_reach_an_alpha() {
    let h = harness(FakeAlphas::default());
    let q = "{ q(func: has(a)) { a } }";
    assert_bad(&h, "/query", None, q, "Content-Type").await;
    assert_bad(
        &h,
        "/query",
        Some("application/x-www-form-urlencoded"),
        q,
        "application/dql",
    )
    .await;
    assert_bad(&h, "/query", JSON, r#"{"query": "#, "line 1").await;
    assert_bad(&h, "/query", JSON, r#"{"query": 5}"#, "JSON").await;
    assert_bad(&h, "/query?startTs=abc", DQL, q, "startTs").await;
    assert_bad(&h, "/query?timeout=5", DQL, q, "timeout").await;
    assert_bad(&h, "/query?be=maybe", DQL, q, "be").await;
    assert_bad(&h, "/query?respFormat=xml", DQL, q, "respFormat").await;
    assert_bad(
        &h,
        "/query",
        Some("application/dql; charset=latin1"),
        q,
        "charset",
    )
    .await;
}

#[tokio::test]
async fn alpha_failures_keep_dgraph_s_200_and_body_but_an_unreachable_cluster_is_503() {
    for (code, message, status) in [
        (
            ErrorCode::Aborted,
            "Transaction has been aborted. Please retry",
            StatusCode::OK,
        ),
        (
            ErrorCode::PermissionDenied,
            "no accessJwt available",
            StatusCode::OK,
        ),
        (
            ErrorCode::Unauthenticated,
            "unable to parse jwt token: token has invalid claims: Token is expired",
            StatusCode::OK,
        ),
        (
            ErrorCode::InvalidArgument,
            "line 1 column 3: unknown function foo",
            StatusCode::BAD_REQUEST,
        ),
        (
            ErrorCode::Unavailable,
            "cannot reach any alpha",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ] {
        let h = harness(FakeAlphas {
            query: Err(ServiceError::new(code, message)),
            ..Default::default()
        });
        let (got, body) = h.post("/query", DQL, "{ q(func: foo(a)) { a } }").await;
        assert_eq!(got, status, "{code:?}: {body}");
        assert_eq!(
            body,
            json!({"errors": [{"message": message, "extensions": {"code": "ErrorInvalidRequest"}}], "data": null}),
            "{code:?}"
        );
    }
}

#[tokio::test]
async fn a_query_past_its_timeout_is_given_up() {
    let h = harness(FakeAlphas {
        hang: true,
        ..Default::default()
    });
    let started = Instant::now();
    let (status, body) = h
        .post("/query?timeout=100ms", DQL, "{ q(func: has(a)) { a } }")
        .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (message, code) = error_of(&body);
    assert_eq!(code, "ErrorInvalidRequest");
    assert!(message.contains("timeout of 100ms"), "{body}");
    let Call::Query(_, call) = h.only_call() else {
        panic!("not a query")
    };
    assert_eq!(call.timeout, Some(Duration::from_millis(100)));
}

#[tokio::test]
async fn rdf_output_asks_the_alpha_for_rdf_and_answers_its_text() {
    let mut alphas = answered("");
    if let Ok(resp) = &mut alphas.query {
        resp.rdf = b"<0x1> <a> \"x\" .\n".to_vec();
    }
    let h = harness(alphas);
    let (status, body) = h
        .post("/query?respFormat=rdf", DQL, "{ q(func: has(a)) { a } }")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], "<0x1> <a> \"x\" .\n", "{body}");
    let Call::Query(req, _) = h.only_call() else {
        panic!("not a query")
    };
    assert_eq!(req.resp_format, api::request::RespFormat::Rdf as i32);
}

fn mutated() -> FakeAlphas {
    FakeAlphas {
        query: Ok(api::Response {
            txn: Some(api::TxnContext {
                start_ts: 4,
                keys: vec!["k2".into(), "k1".into()],
                preds: vec!["1-name".into()],
                ..Default::default()
            }),
            uids: [("alice".to_string(), "0x1".to_string())].into(),
            latency: Some(api::Latency {
                processing_ns: 9,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn rdf_mutations_with_commit_now_and_in_an_open_transaction() {
    let h = harness(mutated());
    let body =
        "{\n  set {\n    _:alice <name> \"Alice\" .\n  }\n  delete {\n    <0x2> <name> * .\n  }\n}";
    let (status, reply) = h.post("/mutate?commitNow=true", RDF, body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        reply["data"],
        json!({"code": "Success", "message": "Done", "queries": null, "uids": {"alice": "0x1"}})
    );
    // Committed: the keys are of no more use and left out.
    assert_eq!(
        reply["extensions"]["txn"],
        json!({"start_ts": 4, "preds": ["1-name"]})
    );
    assert_eq!(reply["extensions"]["server_latency"]["processing_ns"], 9);
    let (status, reply) = h.post("/mutate?startTs=4", RDF, body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["extensions"]["txn"]["keys"], json!(["k1", "k2"]));
    let calls = h.calls();
    let [Call::Query(now, _), Call::Query(open, _)] = &calls[..] else {
        panic!("{calls:?}")
    };
    assert!(now.commit_now && now.start_ts == 0);
    assert!(!open.commit_now && open.start_ts == 4);
    let m = &now.mutations[0];
    assert_eq!(
        String::from_utf8_lossy(&m.set_nquads).trim(),
        "_:alice <name> \"Alice\" ."
    );
    assert_eq!(
        String::from_utf8_lossy(&m.del_nquads).trim(),
        "<0x2> <name> * ."
    );
}

#[tokio::test]
async fn upserts_and_conditional_upserts_in_rdf_and_json() {
    let h = harness(mutated());
    let upsert = r#"upsert {
  query {
    q(func: eq(email, "a@example.com")) { v as uid }
  }
  mutation @if(eq(len(v), 0)) {
    set { _:n <email> "a@example.com" . }
  }
}"#;
    let (status, reply) = h.post("/mutate?commitNow=true", RDF, upsert).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, reply) = h
        .post(
            "/mutate?commitNow=true",
            JSON,
            r#"{"query": "{ q(func: eq(email, \"a@example.com\")) { v as uid } }",
                "cond": "@if(eq(len(v), 1))",
                "set": {"uid": "uid(v)", "seen": true}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let calls = h.calls();
    let [Call::Query(rdf, _), Call::Query(json, _)] = &calls[..] else {
        panic!("{calls:?}")
    };
    assert!(rdf.query.contains("v as uid"), "{}", rdf.query);
    assert_eq!(rdf.mutations.len(), 1);
    assert!(
        rdf.mutations[0].cond.starts_with("@if("),
        "{:?}",
        rdf.mutations[0]
    );
    assert!(rdf.mutations[0].cond.contains("len(v)"));
    assert!(json.query.contains("v as uid"));
    assert_eq!(json.mutations[0].cond, "@if(eq(len(v), 1))");
    assert_eq!(
        json.mutations[0].set_json,
        br#"{"uid": "uid(v)", "seen": true}"#
    );
}

#[tokio::test]
async fn unreadable_mutations_are_400s() {
    let h = harness(mutated());
    assert_bad(&h, "/mutate", RDF, "{ set { _:a <name> \"x\" } }", "line 1").await;
    assert_bad(&h, "/mutate", RDF, "{ q(func: has(a)) { a } }", "/query").await;
    assert_bad(&h, "/mutate", JSON, r#"{"set": [{"name": "x"}"#, "JSON").await;
    assert_bad(
        &h,
        "/mutate",
        JSON,
        r#"{"set_json": [{"name": "x"}]}"#,
        "set_json",
    )
    .await;
    assert_bad(
        &h,
        "/mutate",
        DQL,
        "{ set { _:a <n> \"x\" . } }",
        "application/rdf",
    )
    .await;
    assert_bad(
        &h,
        "/mutate?commitNow=yes",
        RDF,
        "{ set { _:a <n> \"x\" . } }",
        "commitNow",
    )
    .await;
}

#[tokio::test]
async fn alter_takes_schema_text_and_json_operations() {
    let h = harness(FakeAlphas::default());
    for (body, check) in [
        (
            "name: string @index(term) .\ntype Person { name }",
            Box::new(|op: &api::Operation| op.schema.starts_with("name: string"))
                as Box<dyn Fn(&api::Operation) -> bool>,
        ),
        (r#"{"drop_all": true}"#, Box::new(|op| op.drop_all)),
        (
            r#"{"drop_attr": "name"}"#,
            Box::new(|op| op.drop_attr == "name"),
        ),
        (
            r#"{"drop_op": "DATA"}"#,
            Box::new(|op| op.drop_op == api::operation::DropOp::Data as i32),
        ),
        (
            r#"{"drop_op": "TYPE", "drop_value": "Person"}"#,
            Box::new(|op| {
                op.drop_op == api::operation::DropOp::Type as i32 && op.drop_value == "Person"
            }),
        ),
    ] {
        let (status, reply) = h.post("/alter", None, body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {reply}");
        assert_eq!(
            reply,
            json!({"data": {"code": "Success", "message": "Done"}})
        );
        let Some(Call::Alter(op, call)) = h.calls().pop() else {
            panic!("no alter")
        };
        assert!(check(&op), "{body}: {op:?}");
        assert_eq!(call, AlphaCall::default());
    }
    let req = Request::post("/alter?timeout=3s")
        .header("X-Dgraph-AccessToken", "groot-token")
        .body(Body::from("a: int ."))
        .unwrap();
    assert_eq!(h.send(req).await.0, StatusCode::OK);
    let Some(Call::Alter(_, call)) = h.calls().pop() else {
        panic!("no alter")
    };
    assert_eq!(call.access_token.as_deref(), Some("groot-token"));
    assert_eq!(call.timeout, Some(Duration::from_secs(3)));
    let (status, _) = h
        .post("/alter?runInBackground=true", None, "a: int @index(int) .")
        .await;
    assert_eq!(status, StatusCode::OK);
    let Some(Call::Alter(op, _)) = h.calls().pop() else {
        panic!("no alter")
    };
    assert!(op.run_in_background);
    assert_bad(&h, "/alter", None, r#"{"drop_al": true}"#, "drop_al").await;
    assert_bad(&h, "/alter", None, "", "empty").await;
}

#[tokio::test]
async fn alter_failures_carry_dgraph_s_error_code() {
    let h = harness(FakeAlphas {
        alter: Err(ServiceError::new(
            ErrorCode::PermissionDenied,
            "unauthorized to alter the predicate name",
        )),
        ..Default::default()
    });
    let (status, body) = h.post("/alter", None, "name: string .").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"errors": [{"message": "unauthorized to alter the predicate name", "extensions": {"code": "Error"}}]})
    );
}

#[tokio::test]
async fn commit_takes_keys_as_a_list_or_with_preds_and_aborts() {
    let h = harness(FakeAlphas::default());
    let (status, reply) = h.post("/commit?startTs=6", None, r#"["k1", "k2"]"#).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        reply,
        json!({"data": {"code": "Success", "message": "Done"}, "extensions": {"txn": {"start_ts": 6, "commit_ts": 7}}})
    );
    let (status, _) = h
        .post(
            "/commit?startTs=8&hash=h",
            None,
            r#"{"keys": ["k"], "preds": ["1-balance"]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = h.post("/commit?startTs=9&abort=true", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply, json!({"code": "Success", "message": "Done"}));
    let calls = h.calls();
    let [
        Call::Commit(list, no_token),
        Call::Commit(both, _),
        Call::Commit(abort, _),
    ] = &calls[..]
    else {
        panic!("{calls:?}")
    };
    assert_eq!(no_token, &AlphaCall::default());
    assert_eq!(list.keys, ["k1", "k2"]);
    assert!(list.preds.is_empty() && !list.aborted);
    assert_eq!(
        (both.keys.len(), both.preds.as_slice()),
        (1, &["1-balance".to_string()][..])
    );
    assert_eq!(both.hash, "h");
    assert!(abort.aborted && abort.start_ts == 9);

    assert_bad(&h, "/commit", None, "[]", "startTs").await;
    assert_bad(&h, "/commit?startTs=6", None, r#"{"keys": "k1"}"#, "keys").await;
}

#[tokio::test]
async fn a_conflicting_commit_is_dgraph_s_aborted_error() {
    let h = harness(FakeAlphas {
        commit: Err(ServiceError::new(
            ErrorCode::Aborted,
            "Transaction has been aborted. Please retry",
        )),
        abort_refused: true,
        ..Default::default()
    });
    let (status, body) = h.post("/commit?startTs=6", None, "[]").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"errors": [{"message": "Transaction has been aborted. Please retry", "extensions": {"code": "ErrorInvalidRequest"}}]})
    );
    let h = harness(FakeAlphas {
        abort_refused: true,
        ..Default::default()
    });
    let (status, body) = h.post("/commit?startTs=6&abort=true", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        error_of(&body).0.contains("already committed at 7"),
        "{body}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_gzip_works_both_ways() {
    use std::io::{Read, Write};
    let h = harness(answered(r#"{"q":[]}"#));
    let big = format!("{{ q(func: has(a)) {{ a }} }} #{}", "x".repeat(5000));
    let (status, body) = h.post("/query", DQL, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(error_of(&body).0.contains("4096 bytes"), "{body}");
    assert!(h.calls().is_empty());

    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"{ q(func: has(a)) { a } }").unwrap();
    let req = Request::post("/query")
        .header(header::CONTENT_TYPE, "application/dql")
        .header(header::CONTENT_ENCODING, "gzip")
        .header(header::ACCEPT_ENCODING, "deflate, gzip;q=0.9")
        .body(Body::from(enc.finish().unwrap()))
        .unwrap();
    let (status, headers, body) = h.send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["data"], json!({"q": []}));
    let Call::Query(req, _) = h.only_call() else {
        panic!("not a query")
    };
    assert_eq!(req.query, "{ q(func: has(a)) { a } }");
}

#[tokio::test]
async fn other_methods_are_refused_and_preflights_answered() {
    let h = harness(FakeAlphas::default());
    for path in ["/query", "/mutate", "/alter", "/commit"] {
        let (status, _, body) = h
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error_of(&body).1, "ErrorInvalidMethod", "{path}");
        let (status, headers, _) = h
            .send(
                Request::options(path)
                    .header("Origin", "http://localhost:8000")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("X-Dgraph-AccessToken")
        );
    }
    // The other routes too: Ratel logs in, reads /health and /admin from another origin.
    for path in ["/login", "/admin", "/health"] {
        let (status, headers, _) = h
            .send(Request::options(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
    }
    let (_, headers, _) = h
        .send(Request::get("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let req = Request::put("/alter").body(Body::from("a: int .")).unwrap();
    assert_eq!(h.send(req).await.0, StatusCode::OK);
    assert!(h.calls().len() == 1);
}

#[tokio::test]
async fn liveness_does_not_ask_the_cluster_and_readiness_needs_an_alpha() {
    let h = harness(FakeAlphas {
        healthy_alpha: false,
        ..Default::default()
    });
    let (status, _, body) = h
        .send(Request::get("/health?live=1").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body[0]["instance"], "gateway");
    assert_eq!(body[0]["status"], "healthy");
    let (status, _, body) = h
        .send(Request::get("/probe/graphql").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"status": "down", "schemaUpdateCounter": 0})
    );

    let h = harness(FakeAlphas::default());
    let (status, _, body) = h
        .send(Request::get("/probe/graphql").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"status": "up", "schemaUpdateCounter": 0})
    );
    h.node.stop_serving();
    let (status, _, _) = h
        .send(Request::get("/probe/graphql").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

mod hostile_input {
    //! The DQL endpoints under generated input: any bytes, or text made of the bodies' own
    //! tokens, as any endpoint's body. Every answer is a 200 or 400 with Dgraph's JSON (`data`
    //! or `errors`); nothing panics.
    use super::*;
    use proptest::prelude::*;

    fn check(
        rt: &tokio::runtime::Runtime,
        h: &Harness,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), TestCaseError> {
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let (status, _, body) = rt.block_on(h.send(req));
        let text = String::from_utf8_lossy(&body).to_string();
        prop_assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{path}: {status} {text}"
        );
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| TestCaseError::fail(format!("{path}: {e}: {text}")))?;
        prop_assert!(
            v.get("data").is_some() || v.get("errors").is_some() || v.get("code").is_some(),
            "{path}: {text}"
        );
        Ok(())
    }

    /// Text made of the tokens of RDF, upsert blocks, JSON mutations and operations.
    fn soup() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "{",
            "}",
            "set",
            "delete",
            "upsert",
            "query",
            "mutation",
            "@if(",
            "eq(len(v), 0)",
            ")",
            "_:a",
            "<0x1>",
            "<name>",
            "\"x\"",
            "*",
            ".",
            "uid(v)",
            "v as uid",
            "q(func:",
            "has(name))",
            "\"set\":",
            "\"delete\":",
            "\"cond\":",
            "\"query\":",
            "\"mutations\":",
            "[",
            "]",
            ",",
            ":",
            "\"drop_all\":",
            "true",
            "null",
            "\"drop_op\":",
            "\"TYPE\"",
            "\"keys\":",
            "\"preds\":",
            "\n",
            " ",
            "#",
            "\\",
            "\"",
            "@",
            "^^<xs:int>",
            "(k=1)",
        ]);
        prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn any_body_is_answered_in_dgraph_s_shape(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            text in soup(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let h = harness(mutated());
            for body in [bytes.clone(), text.clone().into_bytes()] {
                for (path, ct) in [
                    ("/mutate", "application/rdf"),
                    ("/mutate", "application/json"),
                    ("/query", "application/json"),
                    ("/query", "application/dql"),
                    ("/alter", "text/plain"),
                    ("/commit?startTs=5", "application/json"),
                ] {
                    check(&rt, &h, path, ct, body.clone())?;
                }
            }
        }
    }
}
