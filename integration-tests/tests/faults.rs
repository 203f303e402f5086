//! The fault suite: each test reproduces a defect a fault-injection and hostile-input probe
//! found, against the real binaries, and checks the invariants that must hold whatever the
//! input or the timing: no acknowledged write lost or hidden from a later read, no process
//! panics or crash-loops, and bad input is refused with a clear error that changes nothing.
//! It runs as its own stage of the test command (`run-tests.sh`).

mod common;

use common::backups::{alter, dgraph, read_only, set_request as set};
use common::{json, start_cluster};
use lodestar_integration_tests::{Cluster, ClusterBuilder, http_get};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Request, TxnContext};
use lodestar_proto::zero::zero_client::ZeroClient as RawZero;
use lodestar_proto::zero::{CommitRequest, Num, NumLeaseType, TxnStatusRequest};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

fn raw_zero(cluster: &Cluster) -> RawZero<lodestar_client::TracedChannel> {
    RawZero::new(lodestar_client::traced_channel(&cluster.zeros[0].grpc_addr()).unwrap())
}

fn json_set(doc: &str) -> Request {
    Request {
        mutations: vec![Mutation {
            set_json: doc.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    }
}

/// The `count` a read-only query's `q` block answers.
async fn count(c: &mut DgraphClient<Channel>, q: &str) -> u64 {
    read_only(c, q, 0).await["q"][0]["count"].as_u64().unwrap()
}

/// A request that gives up after `ms` milliseconds, as a client deadline does.
fn deadline<T>(msg: T, ms: u64) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(Duration::from_millis(ms));
    req
}

/// `GET /assign?what=uids&num=2^64-1` once bricked zero: the lease saturated its counter, the
/// next lease panicked the state machine, and every restart panicked again replaying it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_refuses_leases_past_its_bounds_and_keeps_serving_across_restarts() {
    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .start()
        .await
        .expect("cluster");
    let http = cluster.zero_http(0);
    for what in ["uids", "timestamps", "nsids"] {
        let (status, body) = http_get(&format!(
            "{http}/assign?what={what}&num=18446744073709551615"
        ))
        .await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("is greater than allowed"), "{what}: {body}");
    }
    let mut zero = raw_zero(&cluster);
    for kind in [NumLeaseType::Uid, NumLeaseType::NsId, NumLeaseType::TxnTs] {
        let err = zero
            .assign_ids(Num {
                val: u64::MAX,
                r#type: kind as i32,
                bump: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{kind:?}: {err}");
    }
    let lease = |body: &str| -> (u64, u64) {
        let v = json(body);
        let n = |k: &str| v[k].as_str().unwrap().parse::<u64>().unwrap();
        (n("startId"), n("endId"))
    };
    let (status, body) = http_get(&format!("{http}/assign?what=uids&num=10")).await;
    assert_eq!(status, 200, "{body}");
    let (_, first_end) = lease(&body);

    // A restart replays the whole log without stopping on anything it refused.
    cluster.zeros[0].kill9();
    cluster.zeros[0].restart().await.unwrap();
    cluster.zeros[0]
        .wait_healthy(Duration::from_secs(30))
        .await
        .expect("zero serves again after a restart");
    let (status, body) = http_get(&format!("{http}/assign?what=uids&num=10")).await;
    assert_eq!(status, 200, "{body}");
    assert!(lease(&body).0 > first_end, "{body}");
    assert!(cluster.zeros[0].is_running());
    assert!(!cluster.zeros[0].log().contains("panicked"));
}

/// Zero once removed a commit's timestamp from its undecided set only in the caller's task: a
/// client deadline left it there, and read-only reads stayed below it until zero restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_cut_off_by_deadlines_at_zero_never_hold_back_read_only_reads() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .start()
        .await
        .expect("cluster");
    let mut zero = raw_zero(&cluster);
    let mut starts = Vec::new();
    for i in 0..60u64 {
        let start = zero
            .timestamps(Num {
                val: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .start_id;
        starts.push(start);
        // 0 ms: the call is cut off before or while zero decides.
        let _ = zero
            .commit_or_abort(deadline(
                CommitRequest {
                    start_ts: start,
                    conflict_keys: vec![i],
                    preds: vec![],
                    abort: false,
                },
                i % 3,
            ))
            .await;
    }
    let mut highest = 0;
    for &start in &starts {
        // Asking again answers the decision already made, never a second one.
        let again = zero
            .commit_or_abort(CommitRequest {
                start_ts: start,
                conflict_keys: vec![],
                preds: vec![],
                abort: true,
            })
            .await
            .unwrap()
            .into_inner();
        let status = zero
            .txn_status(TxnStatusRequest { start_ts: start })
            .await
            .unwrap()
            .into_inner();
        assert!(status.known);
        assert_eq!(
            (again.commit_ts, again.aborted),
            (status.commit_ts, status.aborted)
        );
        highest = highest.max(status.commit_ts);
    }
    assert!(highest > 0, "no commit was decided at all");
    let read_only = zero
        .timestamps(Num {
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .read_only;
    assert!(
        read_only >= highest,
        "read-only timestamp {read_only} is below the decided commit {highest}"
    );
}

/// A transaction of ~500k keys could never commit: its conflict keys did not fit zero's 4 MiB
/// message limit. The alpha takes up to 2M keys, and zero takes a commit that large.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_takes_the_commit_of_the_largest_transaction_an_alpha_buffers() {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .start()
        .await
        .expect("cluster");
    let mut zero = raw_zero(&cluster);
    let start = zero
        .timestamps(Num {
            val: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .start_id;
    // Fingerprints are spread over the whole u64 range: ten bytes each on the wire.
    let keys: Vec<u64> = (0..2_000_000u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | (1 << 63))
        .collect();
    let decision = zero
        .commit_or_abort(CommitRequest {
            start_ts: start,
            conflict_keys: keys,
            preds: vec![],
            abort: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        decision.commit_ts > start && !decision.aborted,
        "{decision:?}"
    );
}

/// The alpha once forgot a transaction before zero decided it: a cut-off commit was applied
/// only at the next restart, and a retried commit answered "committed" without writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_and_retried_commits_lose_no_acknowledged_write_and_hide_none() {
    let mut cluster = start_cluster().await;
    let mut c = dgraph(&cluster).await;
    alter(&mut c, "n: int @index(int) .").await;
    let mut acknowledged = Vec::new();
    for i in 0..40u64 {
        let start = c
            .query(set(&format!("_:x <n> \"{i}\" ."), false))
            .await
            .unwrap()
            .into_inner()
            .txn
            .unwrap()
            .start_ts;
        let ctx = TxnContext {
            start_ts: start,
            ..Default::default()
        };
        let first = c.commit_or_abort(deadline(ctx.clone(), i % 3)).await;
        // The client retries until it hears an answer, as pydgraph users do.
        let answer = match first {
            Ok(r) => Ok(r.into_inner()),
            Err(_) => c.commit_or_abort(ctx.clone()).await.map(|r| r.into_inner()),
        };
        match answer {
            Ok(r) => {
                assert!(r.commit_ts > start, "{r:?}");
                // A third ask gets the same answer.
                let again = c.commit_or_abort(ctx).await.unwrap().into_inner();
                assert_eq!(again.commit_ts, r.commit_ts);
                acknowledged.push(i);
            }
            Err(s) => assert_eq!(s.code(), tonic::Code::Aborted, "{s}"),
        }
    }
    assert!(!acknowledged.is_empty());
    // Every acknowledged write is visible at once to a read-only read, without a restart.
    let q = "{ q(func: has(n)) { count(uid) } }";
    assert_eq!(count(&mut c, q).await, acknowledged.len() as u64);
    // A later acknowledged write is visible to a read-only read too.
    c.query(set("_:y <n> \"1000\" .", true)).await.unwrap();
    assert_eq!(
        count(&mut c, "{ q(func: eq(n, 1000)) { count(uid) } }").await,
        1
    );
    // And all of it survives kill -9.
    let alpha = cluster.alpha_mut();
    alpha.kill9();
    alpha.restart().await.unwrap();
    alpha.wait_healthy(Duration::from_secs(30)).await.unwrap();
    let mut c = dgraph(&cluster).await;
    assert_eq!(count(&mut c, q).await, acknowledged.len() as u64 + 1);
}

/// One 70 KB string on an `@index(exact)` predicate once made an index key longer than the
/// store takes: the alpha panicked after zero recorded the commit, and crash-looped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_values_names_and_unleased_uids_are_refused_and_the_alpha_keeps_running() {
    let mut cluster = start_cluster().await;
    let mut c = dgraph(&cluster).await;
    alter(&mut c, "name: string @index(exact) .").await;
    let long = "x".repeat(70 * 1024);
    let rdf = format!("_:a <name> \"{long}\" .");
    for commit_now in [true, false] {
        let err = c.query(set(&rdf, commit_now)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
        assert!(
            err.message().contains("too long for its exact index"),
            "{}",
            err.message()
        );
    }
    let name = "p".repeat(1_000_000);
    let err = c
        .query(set(&format!("_:a <{name}> \"v\" ."), true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("longer than the 1024 allowed"));
    for bad in [
        set("<0xffffffffffffffff> <name> \"x\" .", true),
        json_set(r#"{"uid": 123456789, "name": "x"}"#),
    ] {
        let err = c.query(bad).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
        assert!(
            err.message().contains("cannot be greater than lease"),
            "{}",
            err.message()
        );
    }
    let (_, state) = http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert!(!state.contains(&name[..2000]));

    // Nothing was recorded that a restart would trip over.
    let alpha = cluster.alpha_mut();
    alpha.kill9();
    alpha.restart().await.unwrap();
    alpha.wait_healthy(Duration::from_secs(30)).await.unwrap();
    let started = Instant::now();
    let mut c = dgraph(&cluster).await;
    c.query(set("_:a <name> \"short\" .", true)).await.unwrap();
    assert_eq!(
        count(&mut c, r#"{ q(func: eq(name, "short")) { count(uid) } }"#).await,
        1
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!cluster.alpha().log().contains("panicked"));
}

/// `backup(destination: "file:///proc/self/fd")` once panicked the job runner: the task stayed
/// Running and every later backup was refused until a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_destination_fails_its_own_backup_and_the_queue_keeps_working() {
    let cluster = start_cluster().await;
    let mut b = common::backups::backup_client(&cluster);
    for bad in ["file:///proc/self/fd", "/sys/kernel", "file:///dev/shm"] {
        let err = b
            .start_backup(common::backups::to(bad, false))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad}: {err:?}");
        assert!(
            err.message().contains("inside /proc, /sys or /dev"),
            "{err:?}"
        );
    }
    // A destination that fails while the backup runs (its root is a file) fails that task.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    let id =
        common::backups::start_backup(&mut b, common::backups::to(file.to_str().unwrap(), false))
            .await;
    let failed = common::backups::wait_task(&mut b, &id).await;
    assert_eq!(failed.status, "Failed", "{failed:?}");
    assert!(!failed.errors.is_empty());
    // The next backup runs.
    let good = dir.path().join("backups");
    let done =
        common::backups::run_backup(&mut b, common::backups::to(good.to_str().unwrap(), false))
            .await;
    assert_eq!(done.status, "Success", "{done:?}");
}

/// A 100 MB body once took the gateway 162 s, and 10,000 aliases of `health` made 50,000
/// backend calls: the real gateway now refuses both at once, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_huge_bodies_and_costly_operations_at_once() {
    let cluster = start_cluster().await;
    let url = format!("{}/admin", cluster.gateway_http());
    let started = Instant::now();
    let huge = vec![b' '; 100 << 20];
    let resp = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    // The gateway answers 413 from the header; it may close the connection before the whole
    // body is sent, which the client reports as an error instead.
    if let Ok(resp) = resp {
        assert_eq!(resp.status().as_u16(), 413);
        let body = resp.text().await.unwrap();
        assert!(body.contains("--max_body_bytes"), "{body}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let aliases: String = (0..10_000)
        .map(|i| format!("h{i}: health {{ status }} "))
        .collect();
    let started = Instant::now();
    let (status, body) = lodestar_integration_tests::http_post_json(
        &url,
        &serde_json::json!({ "query": format!("{{ {aliases} }}") }),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(status < 500, "{status}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{body}"
    );
    let (status, body) = lodestar_integration_tests::http_post_json(
        &url,
        &serde_json::json!({ "query": "{ health { instance status } }" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["health"].as_array().unwrap().len() >= 5,
        "{body}"
    );
}
