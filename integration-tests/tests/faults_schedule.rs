//! The fault suite's seeded schedule: writers commit all the time, in every way a client can
//! (`commit_now`, mutate then commit, commits cut off by a deadline and retried, queries cut
//! off by a deadline), while a schedule drawn from a seed kills the alpha and zeros with
//! SIGKILL and restarts them. The invariants, checked after the schedule and again after one
//! more kill -9: every acknowledged write is visible to a read-only read, nothing appears that
//! no writer sent, and no process panicked. `LODESTAR_FAULT_SEED` picks another schedule; the
//! seed is printed so a failure can be replayed.

mod common;

use common::backups::{alter, dgraph, read_only, set_request as set};
use common::faults::{Rng, panics_in_logs, seed};
use lodestar_integration_tests::{Cluster, ClusterBuilder};
use lodestar_proto::api::TxnContext;
use lodestar_proto::api::dgraph_client::DgraphClient;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// What the writers sent and what was acknowledged to them.
#[derive(Default)]
struct Ledger {
    sent: BTreeSet<String>,
    acknowledged: BTreeSet<String>,
}

fn request<T>(msg: T, deadline_ms: Option<u64>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(Duration::from_millis(deadline_ms.unwrap_or(5_000)));
    req
}

/// One writer: until `stop`, writes one uniquely named node per iteration in a mode drawn from
/// `rng`, and records what it sent and what was acknowledged.
async fn writer(
    addr: String,
    id: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut rng = Rng::new(seed ^ (id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut c = DgraphClient::new(lodestar_client::channel(&addr).unwrap());
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let name = format!("w{id}-{n}");
        let rdf = format!("_:x <w> \"{name}\" .");
        ledger.lock().await.sent.insert(name.clone());
        let acknowledged = match rng.below(4) {
            // commit_now: acknowledged when the answer comes.
            0 => c.query(request(set(&rdf, true), None)).await.is_ok(),
            // A query cut off by a deadline (its answer is not needed), then commit_now.
            1 => {
                let q = lodestar_proto::api::Request {
                    query: "{ q(func: has(w)) { count(uid) } }".into(),
                    read_only: true,
                    ..Default::default()
                };
                let _ = c.query(request(q, Some(rng.below(3)))).await;
                c.query(request(set(&rdf, true), None)).await.is_ok()
            }
            // Mutate, then commit; a cut-off commit is asked again until an answer comes.
            _ => {
                let Ok(resp) = c.query(request(set(&rdf, false), None)).await else {
                    continue;
                };
                let Some(txn) = resp.into_inner().txn else {
                    continue;
                };
                let ctx = TxnContext {
                    start_ts: txn.start_ts,
                    ..Default::default()
                };
                let first_deadline = (rng.below(2) == 0).then(|| rng.below(4));
                let mut outcome = c
                    .commit_or_abort(request(ctx.clone(), first_deadline))
                    .await;
                let give_up = Instant::now() + Duration::from_secs(20);
                while let Err(s) = &outcome {
                    if s.code() == tonic::Code::Aborted || Instant::now() > give_up {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    outcome = c.commit_or_abort(request(ctx.clone(), None)).await;
                }
                match outcome {
                    Ok(r) => {
                        let r = r.into_inner();
                        !r.aborted && r.commit_ts > txn.start_ts
                    }
                    Err(_) => false,
                }
            }
        };
        if acknowledged {
            ledger.lock().await.acknowledged.insert(name);
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Every `w` value a read-only read sees.
async fn present(cluster: &Cluster) -> BTreeSet<String> {
    let mut c = dgraph(cluster).await;
    let out = read_only(&mut c, "{ q(func: has(w)) { w } }", 0).await;
    out["q"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["w"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_schedule_of_kills_loses_no_acknowledged_write() {
    let seed = seed("fault schedule");
    let mut rng = Rng::new(seed);
    let mut cluster = ClusterBuilder::new()
        .zeros(3)
        .services(true)
        .start()
        .await
        .expect("cluster");
    alter(&mut dgraph(&cluster).await, "w: string @index(exact) .").await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let writers: Vec<_> = (0..3)
        .map(|id| {
            tokio::spawn(writer(
                cluster.alpha_grpc(),
                id,
                seed,
                stop.clone(),
                ledger.clone(),
            ))
        })
        .collect();

    // Eight faults, each after 0.5-2 s of writes: the alpha or one of the zeros (a leader or
    // not, as it falls) dies by SIGKILL and comes back after 0.1-1 s.
    let mut schedule = Vec::new();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1_500))).await;
        let down = Duration::from_millis(100 + rng.below(900));
        let victim = rng.below(4);
        if victim == 3 {
            let alpha = cluster.alpha_mut();
            alpha.kill9();
            tokio::time::sleep(down).await;
            alpha.restart().await.expect("the alpha restarts");
            schedule.push(format!("alpha down {down:?}"));
        } else {
            let zero = &mut cluster.zeros[victim as usize];
            zero.kill9();
            tokio::time::sleep(down).await;
            zero.restart().await.expect("the zero restarts");
            schedule.push(format!("zero {} down {down:?}", victim + 1));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("schedule: {schedule:?}");

    let ledger = ledger.lock().await;
    assert!(
        ledger.acknowledged.len() >= 20,
        "the writers got too few writes through the faults to prove anything: {} of {}",
        ledger.acknowledged.len(),
        ledger.sent.len()
    );
    let check = |seen: &BTreeSet<String>, when: &str| {
        let lost: Vec<_> = ledger.acknowledged.difference(seen).collect();
        assert!(
            lost.is_empty(),
            "{when}: acknowledged writes missing: {lost:?}"
        );
        let phantom: Vec<_> = seen.difference(&ledger.sent).collect();
        assert!(
            phantom.is_empty(),
            "{when}: writes nobody sent: {phantom:?}"
        );
    };
    check(&present(&cluster).await, "after the schedule");
    let alpha = cluster.alpha_mut();
    alpha.kill9();
    alpha.restart().await.unwrap();
    check(&present(&cluster).await, "after one more kill -9");
    eprintln!(
        "{} writes sent, {} acknowledged, all present",
        ledger.sent.len(),
        ledger.acknowledged.len()
    );
    let panics = panics_in_logs(&cluster);
    assert!(panics.is_empty(), "{panics:#?}");
}
