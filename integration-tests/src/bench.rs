//! Measurement helpers the benchmark binaries share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Runs `op` from `clients` tasks for `secs`; returns (successful ops/s, p50, p99). `op(i)` is
/// the i-th call overall and answers whether it succeeded.
pub async fn measure<F, Fut>(clients: usize, secs: u64, op: F) -> (f64, Duration, Duration)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let seq = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (op, seq) = (op.clone(), seq.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let i = seq.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if op(i).await {
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (all.len() as f64 / secs as f64, pct(0.50), pct(0.99))
}

/// The `i`-th of `len` items in a scattered order, so consecutive queries touch far-apart keys.
pub fn spread(i: u64, len: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) % len as u64) as usize
}

/// Loads nodes `first..first + nodes` (each `xid` "node-<i>" and an int `n`: two triples) in
/// committed batches of 500 from `loaders` clients spread over `targets`, retrying a batch a
/// conflict aborted; returns the time it took and the uids given, in no order.
pub async fn ingest_nodes(
    targets: &[tonic::transport::Channel],
    loaders: usize,
    first: u64,
    nodes: u64,
) -> anyhow::Result<(Duration, Vec<u64>)> {
    use lodestar_proto::api::dgraph_client::DgraphClient;
    use lodestar_proto::api::{Mutation, Request};
    let batches = nodes.div_ceil(500);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> =
        (0..loaders)
            .map(|l| {
                let mut c = DgraphClient::new(targets[l % targets.len()].clone());
                let next = next.clone();
                tokio::spawn(async move {
                    let mut uids = Vec::new();
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches {
                            return Ok::<_, anyhow::Error>(uids);
                        }
                        let mut text = String::with_capacity(64 * 500);
                        for i in first + b * 500..first + ((b + 1) * 500).min(nodes) {
                            text.push_str(&format!(
                                "_:n{i} <xid> \"node-{i}\" .\n_:n{i} <n> \"{i}\"^^<xs:int> .\n"
                            ));
                        }
                        let req = Request {
                            mutations: vec![Mutation {
                                set_nquads: text.into_bytes(),
                                ..Default::default()
                            }],
                            commit_now: true,
                            ..Default::default()
                        };
                        let resp = loop {
                            match c.query(req.clone()).await {
                                Ok(r) => break r.into_inner(),
                                Err(s) if s.code() == tonic::Code::Aborted => continue,
                                Err(s) => return Err(s.into()),
                            }
                        };
                        uids.extend(resp.uids.values().filter_map(|u| {
                            u64::from_str_radix(u.trim_start_matches("0x"), 16).ok()
                        }));
                    }
                })
            })
            .collect();
    let mut uids = Vec::new();
    for t in tasks {
        uids.extend(t.await??);
    }
    anyhow::ensure!(
        uids.len() as u64 == nodes,
        "loaded {} of {nodes} nodes",
        uids.len()
    );
    Ok((started.elapsed(), uids))
}
