//! Sharded clusters, measured in one run (`integration-tests/bench/groups.sh`): the same data
//! and queries on one group and on two groups whose predicates live apart (`xid` in one, `n`
//! in the other, so every node's two values are in different groups):
//!
//! - ingest (triples/s): every mutation writes both groups, so every commit is a transaction
//!   across groups;
//! - point queries by uid (`{ xid n }`, one value read from the other group) and queries of
//!   50 nodes at once (one batched read of the other group per query): queries/s, p50, p99.
//!
//! - on two groups, a tablet move: `xid` (values and exact index) moved to the other group
//!   and back through zero's `MoveTablet`, with the ingest's byte rate as the baseline.
//!
//! Prints markdown tables with the ratios the targets name (cross-group p50 within 2× of one
//! group).

#![allow(clippy::print_stdout)]

use clap::Parser;
use lodestar_integration_tests::bench::{ingest_nodes, measure, spread};
use lodestar_integration_tests::{Cluster, ClusterBuilder};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Operation, Request};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(about = "Sharded clusters: ingest and queries on one group and on two")]
struct Args {
    /// Nodes to load in each ingest measurement (two triples each).
    #[arg(long, default_value_t = 200_000)]
    nodes: u64,
    /// Concurrent loaders.
    #[arg(long, default_value_t = 4)]
    loaders: usize,
    /// Concurrent query clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds per query measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
}

async fn start(groups: usize) -> anyhow::Result<Cluster> {
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    ClusterBuilder::new()
        .zeros(1)
        .alphas(groups)
        .replicas(1)
        .bin_dir(&bin_dir)
        .quiet(true)
        .start()
        .await
}

/// Alters `schema` (one predicate) through whichever alpha serves it.
async fn alter_where_served(channels: &[Channel], schema: &str) -> anyhow::Result<()> {
    let mut last = None;
    for c in channels {
        match DgraphClient::new(c.clone())
            .alter(Operation {
                schema: schema.into(),
                ..Default::default()
            })
            .await
        {
            Ok(_) => return Ok(()),
            Err(s) => last = Some(s),
        }
    }
    anyhow::bail!("no alpha took {schema:?}: {last:?}")
}

struct Run {
    ingest: f64,
    point: (f64, Duration, Duration),
    fifty: (f64, Duration, Duration),
    /// Each move of `xid`: (bytes, total, writes blocked).
    moves: Vec<(u64, Duration, Duration)>,
}

/// Moves `xid` to the group that does not serve it, then back.
async fn move_both_ways(cluster: &Cluster) -> anyhow::Result<Vec<(u64, Duration, Duration)>> {
    let zero = lodestar_client::ZeroClient::new([cluster.zeros[0].grpc_addr()])?;
    let mut moves = Vec::new();
    for _ in 0..2 {
        let state = zero.state().await?;
        let from = state
            .groups
            .iter()
            .find(|(_, g)| g.tablets.contains_key("xid"))
            .map(|(id, _)| *id)
            .ok_or_else(|| anyhow::anyhow!("no group serves xid"))?;
        let to = if from == 1 { 2 } else { 1 };
        let r = zero
            .move_tablet(lodestar_proto::zero::MoveTabletRequest {
                predicate: "xid".into(),
                group_id: to,
                namespace: 0,
            })
            .await?;
        println!(
            "moved xid from group {from} to {to}: {} keys, {} bytes in {} ms, writes blocked {} ms",
            r.keys, r.bytes, r.total_ms, r.blocked_ms
        );
        moves.push((
            r.bytes,
            Duration::from_millis(r.total_ms),
            Duration::from_millis(r.blocked_ms),
        ));
    }
    Ok(moves)
}

async fn run(groups: usize, args: &Args) -> anyhow::Result<Run> {
    let cluster = start(groups).await?;
    let channels: Vec<Channel> = cluster
        .alphas
        .iter()
        .map(|a| lodestar_client::channel(&a.grpc_addr()))
        .collect::<Result<_, _>>()?;
    alter_where_served(&channels, "xid: string @index(exact) .").await?;
    alter_where_served(&channels, "n: int .").await?;
    let (took, uids) = ingest_nodes(&channels, args.loaders, 0, args.nodes).await?;
    let ingest = (args.nodes * 2) as f64 / took.as_secs_f64();
    println!("{groups} group(s): ingest {ingest:.0} triples/s");
    let uids = Arc::new(uids);
    let targets = Arc::new(channels);
    let query = |width: usize| {
        let (uids, targets) = (uids.clone(), targets.clone());
        measure(args.clients, args.secs, move |i| {
            let mut c = DgraphClient::new(targets[i as usize % targets.len()].clone());
            let list: Vec<String> = (0..width as u64)
                .map(|k| format!("{:#x}", uids[spread(i * 64 + k, uids.len())]))
                .collect();
            let req = Request {
                query: format!("{{ q(func: uid({})) {{ xid n }} }}", list.join(", ")),
                read_only: true,
                ..Default::default()
            };
            async move {
                c.query(req)
                    .await
                    .is_ok_and(|r| r.into_inner().json.len() > 20 * width)
            }
        })
    };
    let point = query(1).await;
    let fifty = query(50).await;
    let moves = if groups > 1 {
        move_both_ways(&cluster).await?
    } else {
        Vec::new()
    };
    Ok(Run {
        ingest,
        point,
        fifty,
        moves,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    println!(
        "bench-groups: {} nodes, {} loaders, {} query clients, {} s per query measurement",
        args.nodes, args.loaders, args.clients, args.secs
    );
    let one = run(1, &args).await?;
    let two = run(2, &args).await?;
    println!();
    println!("| measurement | 1 group | 2 groups | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| ingest, triples/s (every commit spans both groups) | {:.0} | {:.0} | {:.2}× |",
        one.ingest,
        two.ingest,
        two.ingest / one.ingest
    );
    for (name, a, b) in [
        ("point query `{ xid n }`", one.point, two.point),
        ("50 nodes per query", one.fifty, two.fifty),
    ] {
        println!(
            "| {name}: queries/s | {:.0} | {:.0} | {:.2}× |",
            a.0,
            b.0,
            b.0 / a.0
        );
        println!(
            "| {name}: p50 ms | {} | {} | **{:.2}×** |",
            ms(a.1),
            ms(b.1),
            b.1.as_secs_f64() / a.1.as_secs_f64()
        );
        println!(
            "| {name}: p99 ms | {} | {} | {:.2}× |",
            ms(a.2),
            ms(b.2),
            b.2.as_secs_f64() / a.2.as_secs_f64()
        );
    }
    if !two.moves.is_empty() {
        // The ingest's rate in bytes of the moved tablet: the same keys written by mutations.
        let tablet_bytes = two.moves[0].0 as f64;
        let ingest_secs = (args.nodes * 2) as f64 / two.ingest;
        let ingest_mb_s = tablet_bytes / 1e6 / ingest_secs;
        println!();
        println!("| tablet move of `xid` | MB | MB/s | writes blocked, ms | vs ingest MB/s |");
        println!("|---|---:|---:|---:|---:|");
        for (i, (bytes, took, blocked)) in two.moves.iter().enumerate() {
            let mb_s = *bytes as f64 / 1e6 / took.as_secs_f64().max(1e-3);
            println!(
                "| move {} | {:.1} | {:.1} | {} | {:.2}× |",
                i + 1,
                *bytes as f64 / 1e6,
                mb_s,
                blocked.as_millis(),
                mb_s / ingest_mb_s
            );
        }
    }
    println!();
    println!(
        "bench-groups finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
