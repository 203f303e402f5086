//! `bench-zero`: timestamps per second and commit decisions per second through one zero and
//! through three, and leader failover time, against a trivial RPC on the same server as the
//! transport's ceiling. Run with release binaries:
//!
//! ```text
//! cargo build --release --workspace && target/release/bench-zero
//! ```
//!
//! The service binaries are taken from this executable's directory.

#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use clap::Parser;
use lodestar_client::ZeroClient;
use lodestar_integration_tests::{Cluster, ClusterBuilder, http_get};
use lodestar_proto::node::InfoRequest;
use lodestar_proto::node::node_client::NodeClient;
use lodestar_proto::zero::CommitRequest;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(name = "bench-zero", about = "Zero throughput and failover benchmark")]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Concurrent client tasks.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// gRPC connections the clients share (alphas each hold their own).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Failover repetitions.
    #[arg(long, default_value_t = 3)]
    failovers: usize,
}

/// Runs `op` from `clients` tasks for `secs` and returns (operations, ids) per second.
async fn drive<F, Fut>(clients: usize, secs: u64, op: F) -> (f64, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (op, stop, ops, ids) = (op.clone(), stop.clone(), ops.clone(), ids.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = op(i).await;
                    ops.fetch_add(1, Ordering::Relaxed);
                    ids.fetch_add(n, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    (
        ops.load(Ordering::Relaxed) as f64 / elapsed,
        ids.load(Ordering::Relaxed) as f64 / elapsed,
    )
}

async fn leader_addr(cluster: &Cluster) -> anyhow::Result<String> {
    for i in 0..cluster.zeros.len() {
        let (status, body) = http_get(&format!("{}/state", cluster.zero_http(i))).await;
        if status == 200 {
            let state: serde_json::Value = serde_json::from_str(&body)?;
            for z in state["zeros"].as_object().context("zeros")?.values() {
                if z["leader"] == true {
                    return Ok(z["addr"].as_str().context("addr")?.to_string());
                }
            }
        }
    }
    anyhow::bail!("no leader")
}

struct Row {
    what: String,
    per_sec: f64,
    ratio: Option<f64>,
}

async fn measure(
    cluster: &Cluster,
    label: &str,
    args: &Args,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let leader = leader_addr(cluster).await?;
    let zero_clients: Vec<Arc<ZeroClient>> = (0..args.connections)
        .map(|_| ZeroClient::new(cluster.zero_grpc_addrs()).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let zero_clients = Arc::new(zero_clients);
    let pick = move |i: usize| zero_clients[i % zero_clients.len()].clone();
    let (clients, secs) = (args.clients, args.secs);

    // Baseline: the trivial node.Info RPC on the leader, same transport, same concurrency.
    let channels: Vec<_> = (0..args.connections)
        .map(|_| lodestar_client::channel(&leader))
        .collect::<Result<_, _>>()?;
    let (info_rps, _) = drive(clients, secs, move |i| {
        let mut c = NodeClient::new(channels[i % channels.len()].clone());
        async move {
            let _ = c.info(InfoRequest {}).await;
            1
        }
    })
    .await;
    rows.push(Row {
        what: format!("{label}: baseline node.Info RPCs/s"),
        per_sec: info_rps,
        ratio: None,
    });

    let p = pick.clone();
    let (rps, _) = drive(clients, secs, move |i| {
        let c = p(i);
        async move { c.timestamps(1).await.map(|_| 1).unwrap_or(0) }
    })
    .await;
    rows.push(Row {
        what: format!("{label}: Timestamps(num=1) RPCs/s"),
        per_sec: rps,
        ratio: Some(rps / info_rps),
    });

    for batch in [100u64, 1000] {
        let p = pick.clone();
        let (_, ids) = drive(clients, secs, move |i| {
            let c = p(i);
            async move {
                c.timestamps(batch)
                    .await
                    .map(|r| r.end_id - r.start_id + 1)
                    .unwrap_or(0)
            }
        })
        .await;
        rows.push(Row {
            what: format!("{label}: timestamps/s, num={batch} per RPC"),
            per_sec: ids,
            ratio: None,
        });
    }

    // Commit decisions: start timestamps fetched in bulk beforehand (as if many transactions
    // were open), three random conflict keys each from a large space.
    let starts = client_starts(&pick(0), 2_000_000).await?;
    let next_start = Arc::new(AtomicU64::new(starts.0));
    let counter = Arc::new(AtomicU64::new(0x9e37_79b9));
    let p = pick.clone();
    let (decisions, _) = drive(clients, secs, move |i| {
        let c = p(i);
        let counter = counter.clone();
        let next_start = next_start.clone();
        async move {
            let start_ts = next_start.fetch_add(1, Ordering::Relaxed);
            let x = counter.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            let req = CommitRequest {
                start_ts,
                conflict_keys: vec![x, x.rotate_left(17), x.rotate_left(31)],
                ..Default::default()
            };
            c.commit_or_abort(req).await.map(|_| 1).unwrap_or(0)
        }
    })
    .await;
    rows.push(Row {
        what: format!("{label}: commit decisions/s (CommitOrAbort RPCs)"),
        per_sec: decisions,
        ratio: Some(decisions / info_rps),
    });
    Ok(())
}

/// A block of start timestamps for the commit benchmark.
async fn client_starts(client: &ZeroClient, n: u64) -> anyhow::Result<(u64, u64)> {
    let ids = client.timestamps(n).await?;
    Ok((ids.start_id, ids.end_id))
}

async fn failover(cluster: &mut Cluster) -> anyhow::Result<Duration> {
    let leader = leader_addr(cluster).await?;
    let idx = cluster
        .zeros
        .iter()
        .position(|z| z.grpc_addr() == leader)
        .context("leader proc")?;
    let client = ZeroClient::new(cluster.zero_grpc_addrs())?;
    client.timestamps(1).await?;
    let killed = Instant::now();
    cluster.zeros[idx].kill9();
    client.timestamps(1).await?;
    let took = killed.elapsed();
    cluster.zeros[idx].restart().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(took)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    println!(
        "bench-zero: binaries from {}, {} clients, {} s per measurement",
        bin_dir.display(),
        args.clients,
        args.secs
    );
    let mut rows = Vec::new();
    for zeros in [1, 3] {
        println!("measuring through {zeros} zero(s)...");
        let cluster = ClusterBuilder::new()
            .zeros(zeros)
            .bin_dir(&bin_dir)
            .quiet(true)
            .start()
            .await?;
        measure(
            &cluster,
            &format!("{zeros} zero{}", if zeros > 1 { "s" } else { "" }),
            &args,
            &mut rows,
        )
        .await?;
        drop(cluster);
    }
    let mut cluster = ClusterBuilder::new()
        .zeros(3)
        .bin_dir(&bin_dir)
        .quiet(true)
        .start()
        .await?;
    let mut times = Vec::new();
    println!("measuring failover...");
    for _ in 0..args.failovers {
        times.push(failover(&mut cluster).await?);
    }
    println!();
    println!(
        "{:<62} {:>14} {:>10}",
        "measurement", "per second", "vs base"
    );
    for r in &rows {
        let ratio = r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default();
        println!("{:<62} {:>14.0} {:>10}", r.what, r.per_sec, ratio);
    }
    for (i, t) in times.iter().enumerate() {
        println!(
            "{:<62} {:>14}",
            format!("failover {} (kill -9 leader → next timestamp)", i + 1),
            format!("{:.0} ms", t.as_secs_f64() * 1000.0)
        );
    }
    Ok(())
}
