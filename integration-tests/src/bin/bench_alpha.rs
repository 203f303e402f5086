//! `bench-alpha`: ingest and query throughput of one alpha through its gRPC API, with the bare
//! transport as the baseline in the same run. Run with release binaries:
//!
//! ```text
//! cargo build --release --workspace && target/release/bench-alpha --nodes 1000000
//! ```
//!
//! It loads `--nodes` nodes (two triples each: an indexed `xid` string and an `n` int) in
//! batches of 1,000 triples from several clients at once, then runs point queries by uid and
//! `eq` lookups on the index, and reports queries/s with p50/p99 latency, the alpha's resident
//! memory, and `CheckVersion` (an RPC that does no work) as the transport's ceiling.

#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use clap::Parser;
use lodestar_integration_tests::ClusterBuilder;
use lodestar_integration_tests::bench::{ingest_nodes, measure, spread};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Check, Operation, Request};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(name = "bench-alpha", about = "Alpha ingest and query benchmark")]
struct Args {
    /// Nodes to load (two triples each).
    #[arg(long, default_value_t = 1_000_000)]
    nodes: u64,
    /// Concurrent loaders.
    #[arg(long, default_value_t = 4)]
    loaders: usize,
    /// Concurrent query clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// gRPC connections the query clients share.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds per query measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
}

/// Measures read-only queries (`query(i)` is the i-th) over the shared connections; a reply
/// counts when it carries a result.
async fn measure_queries(
    conns: &Arc<Vec<Channel>>,
    args: &Args,
    best_effort: bool,
    query: impl Fn(u64) -> String + Send + Sync + 'static,
) -> (f64, Duration, Duration) {
    let conns = conns.clone();
    measure(args.clients, args.secs, move |i| {
        let mut c = DgraphClient::new(conns[i as usize % conns.len()].clone());
        let req = Request {
            query: query(i),
            read_only: true,
            best_effort,
            ..Default::default()
        };
        async move {
            c.query(req)
                .await
                .is_ok_and(|r| r.into_inner().json.len() > 20)
        }
    })
    .await
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .bin_dir(&bin_dir)
        .quiet(true)
        .start()
        .await?;
    let alpha = cluster.alphas.first().context("alpha")?;
    let pid = alpha.pid().context("alpha pid")?;
    let channel = lodestar_client::channel(&cluster.alpha_grpc())?;
    let mut c = DgraphClient::new(channel.clone()).max_decoding_message_size(usize::MAX);
    c.alter(Operation {
        schema: "xid: string @index(exact) .\nn: int .".into(),
        ..Default::default()
    })
    .await?;
    println!(
        "bench-alpha: {} nodes ({} triples), {} loaders, binaries from {}",
        args.nodes,
        args.nodes * 2,
        args.loaders,
        bin_dir.display()
    );

    // Ingest: batches of 500 nodes = 1,000 triples, committed at once.
    let (ingest, uids) =
        ingest_nodes(std::slice::from_ref(&channel), args.loaders, 0, args.nodes).await?;
    let triples = args.nodes * 2;
    let rss = rss_kib(pid).unwrap_or(0);
    anyhow::ensure!(
        uids.len() as u64 == args.nodes,
        "loaded {} of {} nodes",
        uids.len(),
        args.nodes
    );
    let uids = Arc::new(uids);

    let conns: Arc<Vec<_>> = Arc::new(
        (0..args.connections.max(1))
            .map(|_| lodestar_client::channel(&cluster.alpha_grpc()))
            .collect::<Result<_, _>>()?,
    );
    let ch = conns.clone();
    let (echo, echo50, echo99) = measure(args.clients, args.secs, move |i| {
        let mut c = DgraphClient::new(ch[i as usize % ch.len()].clone());
        async move { c.check_version(Check {}).await.is_ok() }
    })
    .await;
    let u = uids.clone();
    let (by_uid, uid50, uid99) = measure_queries(&conns, &args, false, move |i| {
        let uid = u[spread(i, u.len())];
        format!("{{ q(func: uid({uid:#x})) {{ xid n }} }}")
    })
    .await;
    let nodes = args.nodes;
    let (by_eq, eq50, eq99) = measure_queries(&conns, &args, false, move |i| {
        let n = spread(i, nodes as usize);
        format!("{{ q(func: eq(xid, \"node-{n}\")) {{ uid n }} }}")
    })
    .await;
    let u = uids.clone();
    let (best, best50, best99) = measure_queries(&conns, &args, true, move |i| {
        let uid = u[spread(i, u.len())];
        format!("{{ q(func: uid({uid:#x})) {{ xid n }} }}")
    })
    .await;
    let rss_after = rss_kib(pid).unwrap_or(0);

    println!();
    println!(
        "{:<48} {:>14} {:>10} {:>10} {:>9}",
        "measurement", "per second", "p50", "p99", "vs base"
    );
    println!(
        "{:<48} {:>14.0}",
        format!("ingest, 1,000-triple batches, {} loaders", args.loaders),
        triples as f64 / ingest.as_secs_f64()
    );
    let row = |name: &str, qps: f64, p50: Duration, p99: Duration| {
        println!(
            "{:<48} {:>14.0} {:>9.2}ms {:>9.2}ms {:>8.2}x",
            name,
            qps,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            qps / echo
        );
    };
    row(
        "baseline: CheckVersion RPC (transport ceiling)",
        echo,
        echo50,
        echo99,
    );
    row("point query by uid", by_uid, uid50, uid99);
    row("eq() lookup on an exact index", by_eq, eq50, eq99);
    row(
        "point query by uid, best-effort (no zero call)",
        best,
        best50,
        best99,
    );
    println!(
        "{:<48} {:>14}",
        "alpha RSS after ingest",
        format!("{} MiB", rss / 1024)
    );
    println!(
        "{:<48} {:>14}",
        "alpha RSS after queries",
        format!("{} MiB", rss_after / 1024)
    );
    println!(
        "{:<48} {:>14}",
        "ingest wall time",
        format!("{:.1} s", ingest.as_secs_f64())
    );
    Ok(())
}
