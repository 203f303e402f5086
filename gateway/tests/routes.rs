//! The gateway's routes driven with `oneshot` against a fake cluster (this file's `FakeCluster`;
//! the real services are exercised by the workspace's integration tests).

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use lodestar_gateway::{Cluster, GatewayState, Services, router};
use lodestar_proto::node::NodeInfo;
use lodestar_proto::zero::{
    ApplyLicenseResponse, Group, License, Member, MembershipState, TabletInfo,
};
use lodestar_runtime::serve::NodeHandle;
use lodestar_runtime::{ErrorCode, ServiceError};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const GOOD_LICENSE: &str = "-----BEGIN PGP SIGNED MESSAGE-----\ngood\n";
const BAD_LICENSE_MESSAGE: &str =
    "while extracting enterprise details from the license: while decoding license file: EOF";

/// How one fake service behaves when asked for its `Info`.
#[derive(Clone)]
enum Node {
    Answers(NodeInfo),
    Refuses,
    Hangs,
}

struct FakeCluster {
    state: Result<MembershipState, ServiceError>,
    /// What zero says when a license is applied.
    license_message: String,
    nodes: HashMap<String, Node>,
    licenses: Mutex<Vec<Vec<u8>>>,
    /// How many `Info` calls the gateway made.
    probes: std::sync::atomic::AtomicUsize,
}

#[tonic::async_trait]
impl Cluster for FakeCluster {
    async fn membership_state(&self) -> Result<MembershipState, ServiceError> {
        self.state.clone()
    }

    async fn apply_license(&self, license: Vec<u8>) -> Result<ApplyLicenseResponse, ServiceError> {
        self.licenses.lock().unwrap().push(license.clone());
        if license == GOOD_LICENSE.as_bytes() {
            Ok(ApplyLicenseResponse {
                message: self.license_message.clone(),
                license: None,
            })
        } else {
            Err(ServiceError::invalid(BAD_LICENSE_MESSAGE))
        }
    }

    async fn node_info(&self, addr: &str) -> Result<NodeInfo, ServiceError> {
        self.probes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.nodes.get(addr).cloned() {
            Some(Node::Answers(info)) => Ok(info),
            Some(Node::Hangs) => std::future::pending().await,
            Some(Node::Refuses) | None => Err(ServiceError::unavailable(format!(
                "cannot connect to {addr}: connection refused"
            ))),
        }
    }
}

fn member(id: u64, group_id: u32, addr: &str, leader: bool) -> Member {
    Member {
        id,
        group_id,
        addr: addr.to_string(),
        leader,
        last_update: 1_700_000_000,
        ..Default::default()
    }
}

fn sample_state() -> MembershipState {
    let tablet = TabletInfo {
        predicate: "name".into(),
        group_id: 1,
        space: 1234,
        move_ts: 7,
        ..Default::default()
    };
    MembershipState {
        counter: 12,
        groups: [(
            1,
            Group {
                members: [(3, member(3, 1, "alpha1:7080", true))]
                    .into_iter()
                    .collect(),
                tablets: [("name".to_string(), tablet)].into_iter().collect(),
                snapshot_ts: 40,
                checksum: 99,
            },
        )]
        .into_iter()
        .collect(),
        zeros: [
            (2, member(2, 0, "zero2:5080", false)),
            (1, member(1, 0, "zero1:5080", true)),
        ]
        .into_iter()
        .collect(),
        max_uid: 10_000,
        max_txn_ts: 20_000,
        max_raft_id: 3,
        max_ns_id: 4,
        removed: vec![member(9, 1, "gone:7080", false)],
        cid: "c0ffee".into(),
        license: Some(License {
            user: String::new(),
            max_nodes: u64::MAX,
            expiry_ts: 1_800_000_000,
            enabled: true,
        }),
        namespaces: vec![0, u64::MAX],
        ..Default::default()
    }
}

fn info(instance: &str, address: &str) -> NodeInfo {
    NodeInfo {
        instance: instance.into(),
        address: address.into(),
        status: "healthy".into(),
        group: if instance == "alpha" { 1 } else { 0 },
        version: "v0.1.0".into(),
        uptime: 30,
        last_echo: 1_700_000_100,
        ongoing: vec![],
        indexing: vec![],
        ee_features: if instance == "alpha" {
            vec!["backup_restore".into()]
        } else {
            vec![]
        },
    }
}

fn services() -> Services {
    Services {
        zeros: vec!["flagzero:5080".into()],
        alpha: "alpha:9080".into(),
        auth: "auth:7070".into(),
        backup: "backup:7090".into(),
    }
}

/// Every service answers, zero says it has two zeros.
fn healthy_cluster() -> FakeCluster {
    let nodes = [
        ("zero1:5080", Node::Answers(info("zero", "zero1:5080"))),
        ("zero2:5080", Node::Answers(info("zero", "zero2:5080"))),
        (
            "flagzero:5080",
            Node::Answers(info("zero", "flagzero:5080")),
        ),
        // The alpha given by flag, and the same alpha as zero lists it (its internal port).
        ("alpha:9080", Node::Answers(info("alpha", "alpha1:7080"))),
        ("alpha1:7080", Node::Answers(info("alpha", "alpha1:7080"))),
        ("auth:7070", Node::Answers(info("auth", "auth:7070"))),
        (
            "backup:7090",
            Node::Answers(info("backup-worker", "backup:7090")),
        ),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_string(), n))
    .collect();
    FakeCluster {
        state: Ok(sample_state()),
        license_message: "License applied.".into(),
        nodes,
        licenses: Mutex::new(Vec::new()),
        probes: Default::default(),
    }
}

struct Harness {
    app: Router,
    cluster: Arc<FakeCluster>,
    node: NodeHandle,
}

fn harness(cluster: FakeCluster) -> Harness {
    let cluster = Arc::new(cluster);
    let node = NodeHandle::new("gateway", "localhost:8080".into());
    let state = GatewayState::new(cluster.clone(), services(), node.identity.clone())
        .with_probe_timeout(Duration::from_millis(200));
    Harness {
        app: router(state),
        cluster,
        node,
    }
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn graphql(app: &Router, query: &str, variables: Value) -> (StatusCode, Value) {
    let req = Request::post("/admin")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "query": query, "variables": variables }).to_string(),
        ))
        .unwrap();
    let (status, body) = send(app, req).await;
    (status, serde_json::from_str(&body).unwrap())
}

const STATE_QUERY: &str = r#"{ state {
    counter maxUID maxNsID maxTxnTs maxRaftId cid namespaces
    groups { id snapshotTs checksum
      members { id groupId addr leader amDead lastUpdate clusterInfoOnly forceGroupId }
      tablets { groupId predicate force space remove readOnly moveTs } }
    zeros { id addr leader }
    removed { id addr }
    license { user maxNodes expiryTs enabled } } }"#;

#[tokio::test]
async fn graphql_state_has_dgraph_field_names_and_uint64_strings() {
    let h = harness(healthy_cluster());
    let (status, body) = graphql(&h.app, STATE_QUERY, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
    let s = &body["data"]["state"];
    assert_eq!(s["counter"], "12");
    assert_eq!(s["maxUID"], "10000");
    assert_eq!(s["maxNsID"], "4");
    assert_eq!(s["maxTxnTs"], "20000");
    assert_eq!(s["maxRaftId"], "3");
    assert_eq!(s["cid"], "c0ffee");
    assert_eq!(s["namespaces"], json!(["0", "18446744073709551615"]));
    assert_eq!(
        s["license"],
        json!({"user": "", "maxNodes": "18446744073709551615", "expiryTs": 1_800_000_000i64, "enabled": true})
    );
    assert_eq!(
        s["groups"],
        json!([{
            "id": "1", "snapshotTs": "40", "checksum": "99",
            "members": [{"id": "3", "groupId": "1", "addr": "alpha1:7080", "leader": true,
                "amDead": false, "lastUpdate": "1700000000", "clusterInfoOnly": false,
                "forceGroupId": false}],
            "tablets": [{"groupId": "1", "predicate": "name", "force": false, "space": 1234,
                "remove": false, "readOnly": false, "moveTs": "7"}],
        }])
    );
    // Zeros in raft id order.
    assert_eq!(
        s["zeros"],
        json!([{"id": "1", "addr": "zero1:5080", "leader": true},
               {"id": "2", "addr": "zero2:5080", "leader": false}])
    );
    assert_eq!(s["removed"], json!([{"id": "9", "addr": "gone:7080"}]));
}

#[tokio::test]
async fn graphql_camel_case_spellings_that_dgraph_does_not_use_are_rejected() {
    let h = harness(healthy_cluster());
    for field in ["maxUid", "maxNsId", "eeFeatures"] {
        let query = if field == "eeFeatures" {
            format!("{{ health {{ {field} }} }}")
        } else {
            format!("{{ state {{ {field} }} }}")
        };
        let (_, body) = graphql(&h.app, &query, json!({})).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{field}: {body}");
    }
}

/// Renders an introspected type reference as GraphQL writes it: `String`, `[Member]`, `T!`.
fn type_ref(t: &Value) -> String {
    match t["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_ref(&t["ofType"])),
        "LIST" => format!("[{}]", type_ref(&t["ofType"])),
        _ => t["name"].as_str().unwrap().to_string(),
    }
}

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

async fn fields_of(app: &Router, type_name: &str) -> Vec<(String, String)> {
    let query = format!(
        "{{ __type(name: \"{type_name}\") {{ fields {{ name type {{ {TYPE_REF} }} }} \
         inputFields {{ name type {{ {TYPE_REF} }} }} }} }}"
    );
    let (_, body) = graphql(app, &query, json!({})).await;
    let t = &body["data"]["__type"];
    let fields = if t["fields"].is_array() {
        &t["fields"]
    } else {
        &t["inputFields"]
    };
    fields
        .as_array()
        .unwrap_or_else(|| panic!("no type {type_name}: {body}"))
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                type_ref(&f["type"]),
            )
        })
        .collect()
}

fn expect(spec: &str) -> Vec<(String, String)> {
    spec.split_whitespace()
        .map(|f| {
            let (name, ty) = f.split_once(':').unwrap();
            (name.to_string(), ty.to_string())
        })
        .collect()
}

#[tokio::test]
async fn schema_types_match_dgraph_admin_schema() {
    let h = harness(healthy_cluster());
    let cases = [
        (
            "NodeState",
            "instance:String address:String status:String group:String version:String \
             uptime:Int64 lastEcho:Int64 ongoing:[String] indexing:[String] ee_features:[String]",
        ),
        (
            "MembershipState",
            "counter:UInt64 groups:[ClusterGroup] zeros:[Member] maxUID:UInt64 maxNsID:UInt64 \
             maxTxnTs:UInt64 maxRaftId:UInt64 removed:[Member] cid:String license:License \
             namespaces:[UInt64]",
        ),
        (
            "ClusterGroup",
            "id:UInt64 members:[Member] tablets:[Tablet] snapshotTs:UInt64 checksum:UInt64",
        ),
        (
            "Member",
            "id:UInt64 groupId:UInt64 addr:String leader:Boolean amDead:Boolean \
             lastUpdate:UInt64 clusterInfoOnly:Boolean forceGroupId:Boolean",
        ),
        (
            "Tablet",
            "groupId:UInt64 predicate:String force:Boolean space:Int remove:Boolean \
             readOnly:Boolean moveTs:UInt64",
        ),
        (
            "License",
            "user:String maxNodes:UInt64 expiryTs:Int64 enabled:Boolean",
        ),
        ("Response", "code:String message:String"),
        ("EnterpriseLicensePayload", "response:Response"),
        ("DrainingPayload", "response:Response"),
        ("EnterpriseLicenseInput", "license:String!"),
        ("MoveTabletPayload", "response:Response"),
        (
            "MoveTabletInput",
            "namespace:UInt64 tablet:String! groupId:UInt64!",
        ),
        (
            "Query",
            "health:[NodeState] state:MembershipState getUser:User getGroup:Group \
             getCurrentUser:User queryUser:[User] queryGroup:[Group] \
             restoreStatus:RestoreStatus task:TaskPayload listBackups:[Manifest] \
             backupSchedules:[BackupSchedule]",
        ),
        (
            "Mutation",
            "enterpriseLicense:EnterpriseLicensePayload moveTablet:MoveTabletPayload \
             draining:DrainingPayload login:LoginPayload \
             addUser:AddUserPayload addGroup:AddGroupPayload updateUser:AddUserPayload \
             updateGroup:AddGroupPayload deleteUser:DeleteUserPayload \
             deleteGroup:DeleteGroupPayload backup:BackupPayload export:ExportPayload \
             restore:RestorePayload verifyBackup:VerifyBackupPayload",
        ),
        ("ExportPayload", "response:Response taskId:String"),
        (
            "ExportInput",
            "format:String namespace:Int destination:String accessKey:String \
             secretKey:String sessionToken:String anonymous:Boolean",
        ),
        ("User", "name:String! groups:[Group]"),
        ("Group", "name:String! users:[User] rules:[Rule]"),
        ("Rule", "predicate:String! permission:Int!"),
        ("LoginResponse", "accessJWT:String refreshJWT:String"),
        ("LoginPayload", "response:LoginResponse"),
        ("AddUserPayload", "user:[User]"),
        ("AddGroupPayload", "group:[Group]"),
        ("DeleteUserPayload", "msg:String numUids:Int"),
        ("DeleteGroupPayload", "msg:String numUids:Int"),
        (
            "AddUserInput",
            "name:String! password:String! groups:[GroupRef]",
        ),
        ("AddGroupInput", "name:String! rules:[RuleRef]"),
        ("GroupRef", "name:String!"),
        ("RuleRef", "predicate:String! permission:Int!"),
        ("StringHashFilter", "eq:String"),
        (
            "UserFilter",
            "name:StringHashFilter and:UserFilter or:UserFilter not:UserFilter",
        ),
        (
            "GroupFilter",
            "name:StringHashFilter and:UserFilter or:UserFilter not:UserFilter",
        ),
        (
            "UserOrder",
            "asc:UserOrderable desc:UserOrderable then:UserOrder",
        ),
        ("UserPatch", "password:String groups:[GroupRef]"),
        (
            "UpdateUserInput",
            "filter:UserFilter! set:UserPatch remove:UserPatch",
        ),
        ("SetGroupPatch", "rules:[RuleRef!]!"),
        ("RemoveGroupPatch", "rules:[String!]!"),
        (
            "UpdateGroupInput",
            "filter:GroupFilter! set:SetGroupPatch remove:RemoveGroupPatch",
        ),
    ];
    for (type_name, spec) in cases {
        assert_eq!(
            fields_of(&h.app, type_name).await,
            expect(spec),
            "{type_name}"
        );
    }
    let (_, body) = graphql(
        &h.app,
        &format!(
            "{{ __type(name: \"Mutation\") {{ fields {{ args {{ name type {{ {TYPE_REF} }} }} }} }} }}"
        ),
        json!({}),
    )
    .await;
    let arg = &body["data"]["__type"]["fields"][0]["args"][0];
    assert_eq!(arg["name"], "input");
    assert_eq!(type_ref(&arg["type"]), "EnterpriseLicenseInput!");
}

const LICENSE_MUTATION: &str = "mutation($license: String!) { \
    enterpriseLicense(input: {license: $license}) { response { code message } } }";

#[tokio::test]
async fn graphql_enterprise_license_success() {
    let h = harness(healthy_cluster());
    let (status, body) =
        graphql(&h.app, LICENSE_MUTATION, json!({ "license": GOOD_LICENSE })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"data": {"enterpriseLicense": {"response": {"code": "Success", "message": "License applied."}}}})
    );
    assert_eq!(
        *h.cluster.licenses.lock().unwrap(),
        vec![GOOD_LICENSE.as_bytes().to_vec()]
    );
}

#[tokio::test]
async fn graphql_enterprise_license_passes_zeros_message_or_dgraphs_default() {
    let mut cluster = healthy_cluster();
    cluster.license_message = "License applied; expires 2027-01-01".into();
    let h = harness(cluster);
    let (_, body) = graphql(&h.app, LICENSE_MUTATION, json!({ "license": GOOD_LICENSE })).await;
    assert_eq!(
        body["data"]["enterpriseLicense"]["response"]["message"],
        "License applied; expires 2027-01-01"
    );

    let mut cluster = healthy_cluster();
    cluster.license_message = String::new();
    let h = harness(cluster);
    let (_, body) = graphql(&h.app, LICENSE_MUTATION, json!({ "license": GOOD_LICENSE })).await;
    assert_eq!(
        body["data"]["enterpriseLicense"]["response"]["message"],
        "License applied."
    );
}

#[tokio::test]
async fn graphql_enterprise_license_rejected_keeps_zeros_message() {
    let h = harness(healthy_cluster());
    let (status, body) = graphql(&h.app, LICENSE_MUTATION, json!({ "license": "" })).await;
    assert_eq!(status, StatusCode::OK, "GraphQL errors travel in a 200");
    assert_eq!(body["data"]["enterpriseLicense"], Value::Null);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["message"], BAD_LICENSE_MESSAGE);
    assert_eq!(errors[0]["path"], json!(["enterpriseLicense"]));
    assert_eq!(errors[0]["extensions"]["code"], "InvalidArgument");
    assert_eq!(*h.cluster.licenses.lock().unwrap(), vec![Vec::<u8>::new()]);
}

fn post_license(body: &str) -> Request<Body> {
    Request::post("/enterpriseLicense")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn http_enterprise_license_success_is_200_with_dgraphs_body() {
    let h = harness(healthy_cluster());
    let (status, body) = send(&h.app, post_license(GOOD_LICENSE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"code": "Success", "message": "License applied."})
    );
    assert_eq!(
        *h.cluster.licenses.lock().unwrap(),
        vec![GOOD_LICENSE.as_bytes().to_vec()]
    );
}

#[tokio::test]
async fn http_enterprise_license_rejected_is_400_with_zeros_message() {
    let h = harness(healthy_cluster());
    let (status, body) = send(&h.app, post_license("not a license")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errors"][0]["message"], BAD_LICENSE_MESSAGE);
    assert_eq!(body["errors"][0]["extensions"]["code"], "InvalidArgument");
}

#[tokio::test]
async fn http_state_is_zeros_state_json() {
    let h = harness(healthy_cluster());
    let (status, body) = send(&h.app, Request::get("/state").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        lodestar_proto::json::membership_state(&sample_state())
    );
    assert_eq!(body["maxUID"], "10000");
}

#[tokio::test]
async fn http_state_without_zero_is_503_and_says_why() {
    let mut cluster = healthy_cluster();
    cluster.state = Err(ServiceError::new(
        ErrorCode::Unavailable,
        "no zero leader reachable at flagzero:5080",
    ));
    let h = harness(cluster);
    let (status, body) = send(&h.app, Request::get("/state").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("no zero leader reachable"), "{body}");
}

const HEALTH_QUERY: &str = "{ health { instance address status group version uptime lastEcho ongoing indexing ee_features } }";

#[tokio::test]
async fn health_lists_every_service_with_dgraph_fields() {
    let h = harness(healthy_cluster());
    let (status, body) = graphql(&h.app, HEALTH_QUERY, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let nodes = body["data"]["health"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| {
            (
                n["instance"].as_str().unwrap(),
                n["address"].as_str().unwrap(),
                n["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("zero", "zero1:5080", "healthy"),
            ("zero", "zero2:5080", "healthy"),
            ("alpha", "alpha1:7080", "healthy"),
            ("auth", "auth:7070", "healthy"),
            ("backup-worker", "backup:7090", "healthy"),
            ("gateway", "localhost:8080", "healthy"),
        ]
    );
    let alpha = &nodes[2];
    assert_eq!(alpha["group"], "1");
    assert_eq!(alpha["uptime"], 30);
    assert_eq!(alpha["lastEcho"], 1_700_000_100i64);
    assert_eq!(alpha["ee_features"], json!(["backup_restore"]));
    assert_eq!(
        nodes[5]["version"],
        format!("{}", lodestar_runtime::VERSION)
    );
}

#[tokio::test]
async fn health_marks_services_that_do_not_answer_unhealthy() {
    let mut cluster = healthy_cluster();
    cluster.nodes.insert("auth:7070".into(), Node::Refuses);
    cluster.nodes.insert("zero2:5080".into(), Node::Hangs);
    let h = harness(cluster);
    let start = Instant::now();
    let (status, body) = graphql(&h.app, HEALTH_QUERY, json!({})).await;
    // The hung zero costs one probe timeout (200 ms here), not forever.
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("errors").is_none(), "{body}");
    let nodes = body["data"]["health"].as_array().unwrap();
    let status_of = |address: &str| {
        nodes
            .iter()
            .find(|n| n["address"] == address)
            .unwrap_or_else(|| panic!("{address} missing from {body}"))["status"]
            .clone()
    };
    assert_eq!(nodes.len(), 6);
    assert_eq!(status_of("zero1:5080"), "healthy");
    assert_eq!(status_of("zero2:5080"), "unhealthy");
    assert_eq!(status_of("auth:7070"), "unhealthy");
    assert_eq!(status_of("alpha1:7080"), "healthy");
    let auth = nodes.iter().find(|n| n["address"] == "auth:7070").unwrap();
    assert_eq!(auth["instance"], "auth");
    assert_eq!(auth["version"], Value::Null);
}

#[tokio::test]
async fn health_falls_back_to_the_zeros_given_by_flag() {
    let mut cluster = healthy_cluster();
    cluster.state = Err(ServiceError::unavailable("no zero leader"));
    let h = harness(cluster);
    let (_, body) = graphql(&h.app, "{ health { instance address status } }", json!({})).await;
    assert_eq!(
        body["data"]["health"][0],
        json!({"instance": "zero", "address": "flagzero:5080", "status": "healthy"})
    );
    assert_eq!(body["data"]["health"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn http_health_answers_dgraph_s_list_and_metrics_are_served() {
    let h = harness(healthy_cluster());
    // Dgraph's shape: a list of one node state, whatever the Accept header (dgraph-js-http
    // reads the version from it to pick its API).
    for accept in ["*/*", "application/json"] {
        let req = Request::get("/health")
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(&h.app, req).await;
        assert_eq!(status, StatusCode::OK);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body[0]["instance"], "gateway", "{body}");
        assert_eq!(body[0]["status"], "healthy");
        assert!(body[0]["version"].as_str().unwrap().starts_with('v'));
    }

    let resp = h
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn health_all_lists_every_member_and_turns_503_when_one_is_down() {
    let h = harness(healthy_cluster());
    let (status, body) = send(
        &h.app,
        Request::get("/health?all").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let nodes: Value = serde_json::from_str(&body).unwrap();
    let listed: Vec<(&str, &str)> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["instance"].as_str().unwrap(),
                n["address"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("zero", "zero1:5080"),
            ("zero", "zero2:5080"),
            ("alpha", "alpha1:7080"),
            ("auth", "auth:7070"),
            ("backup-worker", "backup:7090"),
            ("gateway", "localhost:8080"),
        ]
    );
    assert_eq!(nodes[2]["status"], "healthy");
    assert_eq!(nodes[2]["group"], "1");

    let mut cluster = healthy_cluster();
    cluster.nodes.insert("alpha1:7080".into(), Node::Refuses);
    let h = harness(cluster);
    let (status, body) = send(
        &h.app,
        Request::get("/health?all=true")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let nodes: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(nodes[2]["status"], "unhealthy", "{body}");
    assert!(
        nodes[2]["error"].as_str().unwrap().contains("refused"),
        "{body}"
    );
}

#[tokio::test]
async fn http_health_turns_503_when_the_gateway_stops_serving() {
    let h = harness(healthy_cluster());
    h.node.stop_serving();
    let (status, body) = send(&h.app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("unhealthy"), "{body}");
    // Liveness stays 200: the process is alive while it drains.
    let (status, _) = send(
        &h.app,
        Request::get("/health?live=1").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn admin_get_runs_a_query_or_opens_graphiql() {
    let h = harness(healthy_cluster());
    let req = Request::get("/admin?query=%7Bstate%7BmaxUID%7D%7D")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&h.app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"data": {"state": {"maxUID": "10000"}}})
    );
    let (status, body) = send(&h.app, Request::get("/admin").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("graphiql"), "{body}");
}

/// The probe found that 10,000 aliases of `health` made 50,000 backend calls and a 100 MB body
/// took minutes: an `/admin` operation is bounded in cost and depth before it runs.
#[tokio::test]
async fn costly_or_deep_admin_operations_are_refused_before_any_backend_call() {
    let h = harness(healthy_cluster());
    let aliases: String = (0..10_000)
        .map(|i| format!("h{i}: health {{ instance status }} "))
        .collect();
    let (_, body) = graphql(&h.app, &format!("{{ {aliases} }}"), json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too complex"), "{body}");
    assert!(body["data"].is_null(), "{body}");
    // Ten probes of the whole cluster are too many too; one is fine.
    let ten: String = (0..10)
        .map(|i| format!("h{i}: health {{ status }} "))
        .collect();
    let (_, body) = graphql(&h.app, &format!("{{ {ten} }}"), json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too complex"),
        "{body}"
    );
    assert_eq!(
        h.cluster.probes.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let (_, body) = graphql(&h.app, "{ health { instance status } }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(h.cluster.probes.load(std::sync::atomic::Ordering::SeqCst) > 0);

    let mut deep = String::from("{ __schema { types { fields { type ");
    for _ in 0..20 {
        deep.push_str("{ ofType ");
    }
    deep.push_str("{ name }");
    deep.push_str(&"}".repeat(20));
    deep.push_str(" } } } }");
    let (_, body) = graphql(&h.app, &deep, json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nested too deep"),
        "{body}"
    );
}

/// The introspection query GraphiQL and the GraphQL clients send still fits the bounds.
#[tokio::test]
async fn the_full_introspection_query_fits_the_bounds() {
    let h = harness(healthy_cluster());
    let query = r#"query IntrospectionQuery {
      __schema {
        queryType { name } mutationType { name } subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name } } } } } } }
    }"#;
    let (status, body) = graphql(&h.app, query, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 20);
}

fn limited(h: &Harness, limits: lodestar_runtime::limits::Limits) -> Router {
    lodestar_runtime::serve::with_http_limits(h.app.clone(), &limits)
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_before_they_are_read() {
    let h = harness(healthy_cluster());
    let app = limited(
        &h,
        lodestar_runtime::limits::Limits {
            max_body_bytes: 1 << 20,
            ..Default::default()
        },
    );
    // A declared 100 MB body is refused from its header alone.
    let started = Instant::now();
    let req = Request::post("/admin")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, 100_000_000)
        .body(Body::from(vec![b' '; 100_000_000]))
        .unwrap();
    let (status, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("--max_body_bytes"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body streamed without a length is cut at the limit.
    let chunks = (0..200).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 << 10]));
    let req = Request::post("/admin")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let (status, _) = send(&app, req).await;
    assert!(status.is_client_error(), "{status}");
    let (status, _) = send(&app, post_license(&"x".repeat(2 << 20))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.cluster.licenses.lock().unwrap().is_empty());
    // Bodies within the limit work as before.
    let (status, _) = send(&app, post_license(GOOD_LICENSE)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_request_past_the_timeout_is_504_and_a_full_server_answers_429_but_health() {
    let mut cluster = healthy_cluster();
    cluster.nodes.insert("auth:7070".into(), Node::Hangs);
    let cluster = Arc::new(cluster);
    let node = NodeHandle::new("gateway", "localhost:8080".into());
    let state = GatewayState::new(cluster.clone(), services(), node.identity.clone())
        .with_probe_timeout(Duration::from_secs(30));
    let app = lodestar_runtime::serve::with_http_limits(
        router(state),
        &lodestar_runtime::limits::Limits {
            request_timeout: Some(Duration::from_millis(300)),
            max_pending: 1,
            ..Default::default()
        },
    );
    let started = Instant::now();
    let (status, body) = graphql(&app, "{ health { status } }", json!({})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body.to_string().contains("--request_timeout"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // One slot: while a request holds it, the next is refused at once; health still answers.
    let slow = tokio::spawn({
        let app = app.clone();
        async move { graphql(&app, "{ health { status } }", json!({})).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = graphql(&app, "{ state { maxUID } }", json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body.to_string().contains("--max_pending_requests"),
        "{body}"
    );
    let (status, _) = send(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    slow.await.unwrap();
    let (status, _) = graphql(&app, "{ state { maxUID } }", json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

mod hostile_input {
    //! The `/admin` GraphQL input under generated hostile input: any text as the query, any
    //! JSON as the variables of every input type. Every answer is JSON with `data` or `errors`
    //! and a 2xx or 4xx status; nothing panics.
    use super::*;
    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn answers_json(
        rt: &tokio::runtime::Runtime,
        app: &Router,
        body: Vec<u8>,
    ) -> Result<(), TestCaseError> {
        let req = Request::post("/admin")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let (status, text) = rt.block_on(send(app, req));
        prop_assert!(
            status.is_success() || status.is_client_error(),
            "{} {}",
            status,
            text
        );
        let v: Value =
            serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert!(
            v.get("data").is_some() || v.get("errors").is_some(),
            "{}",
            text
        );
        Ok(())
    }

    fn graphql_soup() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("{".to_string()),
                Just("}".to_string()),
                Just("(".to_string()),
                Just(")".to_string()),
                Just("[".to_string()),
                Just("]".to_string()),
                Just(":".to_string()),
                Just(" ".to_string()),
                Just("\"".to_string()),
                Just("\\".to_string()),
                Just("...".to_string()),
                Just("$v".to_string()),
                Just("query".to_string()),
                Just("mutation".to_string()),
                Just("fragment".to_string()),
                Just("on".to_string()),
                Just("@include(if:".to_string()),
                Just("@skip(if:".to_string()),
                Just("health".to_string()),
                Just("state".to_string()),
                Just("backup".to_string()),
                Just("restore".to_string()),
                Just("listBackups".to_string()),
                Just("input:".to_string()),
                Just("destination:".to_string()),
                Just("backupNum:".to_string()),
                Just("addUser".to_string()),
                Just("updateGroup".to_string()),
                Just("filter:".to_string()),
                Just("draining".to_string()),
                Just("enterpriseLicense".to_string()),
                Just("__schema".to_string()),
                Just("__typename".to_string()),
                Just("-1".to_string()),
                Just("18446744073709551616".to_string()),
                Just("1e400".to_string()),
                Just("null".to_string()),
                "[a-zA-Z0-9_]{1,6}",
            ],
            0..60,
        )
        .prop_map(|parts| parts.concat())
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::hash_map(
                    prop_oneof![
                        Just("destination".to_string()),
                        Just("location".to_string()),
                        Just("backupId".to_string()),
                        Just("backupNum".to_string()),
                        Just("forceFull".to_string()),
                        Just("accessKey".to_string()),
                        Just("encryptionKeyFile".to_string()),
                        Just("vaultAddr".to_string()),
                        Just("name".to_string()),
                        Just("password".to_string()),
                        Just("groups".to_string()),
                        Just("rules".to_string()),
                        Just("predicate".to_string()),
                        Just("permission".to_string()),
                        Just("license".to_string()),
                        Just("taskId".to_string()),
                        "[a-zA-Z]{1,8}",
                    ],
                    inner,
                    0..5,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every operation with an input, its input taken from the variables.
    const WITH_INPUTS: &[&str] = &[
        "mutation($v: BackupInput!) { backup(input: $v) { response { code message } taskId } }",
        "mutation($v: RestoreInput!) { restore(input: $v) { code message restoreId } }",
        "query($v: ListBackupsInput!) { listBackups(input: $v) { backupId path } }",
        "query($v: TaskInput!) { task(input: $v) { status kind } }",
        "mutation($v: EnterpriseLicenseInput!) { enterpriseLicense(input: $v) { response { code } } }",
        "mutation($v: [AddUserInput!]!) { addUser(input: $v) { user { name } } }",
        "mutation($v: UpdateGroupInput!) { updateGroup(input: $v) { group { name } } }",
        "query($v: UserFilter) { queryUser(filter: $v) { name } }",
    ];

    fn config() -> ProptestConfig {
        ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_query_text_gets_a_json_answer(text in prop_oneof![any::<String>(), graphql_soup()]) {
            let rt = runtime();
            let h = harness(healthy_cluster());
            answers_json(&rt, &h.app, json!({ "query": text }).to_string().into_bytes())?;
        }

        #[test]
        fn any_body_gets_a_json_answer(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let rt = runtime();
            let h = harness(healthy_cluster());
            answers_json(&rt, &h.app, body)?;
        }

        #[test]
        fn any_variables_of_any_input_get_a_json_answer(op in 0..WITH_INPUTS.len(), v in json_value()) {
            let rt = runtime();
            let h = harness(healthy_cluster());
            let body = json!({ "query": WITH_INPUTS[op], "variables": { "v": v } });
            answers_json(&rt, &h.app, body.to_string().into_bytes())?;
        }
    }
}
