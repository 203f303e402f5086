//! Sharded clusters, measured in one run (`integration-tests/bench/groups.sh`): the same data
//! and queries on one group and on two groups whose predicates live apart (`xid` in one, `n`
//! in the other, so every node's two values are in different groups):
//!
//! - ingest (triples/s): every mutation writes both groups, so every commit is a transaction
//!   across groups;
//! - point queries by uid (`{ xid n }`, one value read from the other group) and queries of
//!   50 nodes at once (one batched read of the other group per query): queries/s, p50, p99.
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
    Ok(Run {
        ingest,
        point,
        fifty,
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
    println!();
    println!(
        "bench-groups finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
