//! Replicated groups, measured in one run (`integration-tests/bench/replicas.sh`):
//!
//! - ingest (triples/s) and point queries (queries/s) with one alpha (`--replicas 1`) and with a
//!   group of three (`--replicas 3`), writes sent to the leader and spread over every alpha;
//! - the failover time: kill -9 of the group's leader under a light write load, from the kill
//!   to the next commit that started after it, over `--kills` cycles (min, median, max);
//! - catch-up: an alpha of a group holding `--catchup-mb` of text is wiped and started empty;
//!   the time until it has caught up (a snapshot of the leader's store, streamed), next to a
//!   full restore of a backup of the same data into the same group.
//!
//! Prints the measurements as markdown tables with the ratios the targets name.

#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use clap::Parser;
use lodestar_integration_tests::bench::{ingest_nodes, measure, spread};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Proc, Service};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request};
use lodestar_proto::backup::backup_client::BackupClient;
use lodestar_proto::backup::{BackupRequest, RestoreRequest, TaskRef};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(about = "Replicated groups: ingest, queries, failover and catch-up")]
struct Args {
    /// Nodes to load in each ingest measurement (two triples each).
    #[arg(long, default_value_t = 300_000)]
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
    /// Leader kills for the failover measurement.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// MiB of text in the group a wiped replica catches up with.
    #[arg(long = "catchup-mb", default_value_t = 1024)]
    catchup_mb: u64,
}

/// The index of the alpha that leads its group.
async fn leader(cluster: &mut Cluster) -> anyhow::Result<usize> {
    let started = Instant::now();
    loop {
        for (i, a) in cluster.alphas.iter_mut().enumerate() {
            if a.is_running()
                && a.raft_standing()
                    .await
                    .is_some_and(|h| h["role"] == "leader")
            {
                return Ok(i);
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "no leader within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn channels(cluster: &Cluster, which: &[usize]) -> anyhow::Result<Vec<Channel>> {
    which
        .iter()
        .map(|&i| Ok(lodestar_client::channel(&cluster.alphas[i].grpc_addr())?))
        .collect()
}

fn mutation(text: String) -> Request {
    Request {
        mutations: vec![Mutation {
            set_nquads: text.into_bytes(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    }
}

/// Loads `nodes` nodes from `first` over `targets`; returns (triples/s, the uids given).
async fn ingest(
    targets: &[Channel],
    loaders: usize,
    first: u64,
    nodes: u64,
) -> anyhow::Result<(f64, Vec<u64>)> {
    let (took, uids) = ingest_nodes(targets, loaders, first, nodes).await?;
    Ok(((nodes * 2) as f64 / took.as_secs_f64(), uids))
}

/// Read-only point queries by uid over `targets`: (queries/s, p50, p99).
async fn point_queries(
    targets: &[Channel],
    uids: Arc<Vec<u64>>,
    args: &Args,
) -> (f64, Duration, Duration) {
    let targets = Arc::new(targets.to_vec());
    measure(args.clients, args.secs, move |i| {
        let mut c = DgraphClient::new(targets[i as usize % targets.len()].clone());
        let uid = uids[spread(i, uids.len())];
        let req = Request {
            query: format!("{{ q(func: uid({uid:#x})) {{ xid n }} }}"),
            read_only: true,
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

async fn schema(c: Channel, schema: &str) -> anyhow::Result<()> {
    DgraphClient::new(c)
        .alter(Operation {
            schema: schema.into(),
            ..Default::default()
        })
        .await?;
    Ok(())
}

async fn start(alphas: usize, services: bool, extra: &[(&str, &str)]) -> anyhow::Result<Cluster> {
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    let mut b = ClusterBuilder::new()
        .zeros(1)
        .alphas(alphas)
        .replicas(alphas)
        .services(services)
        .bin_dir(&bin_dir)
        .quiet(true);
    for (flag, value) in extra {
        b = b.arg(Service::Alpha, *flag, *value);
    }
    b.start().await
}

/// Failover times over `kills` leader kills, under one writer committing small mutations to
/// any live alpha.
async fn failovers(cluster: &mut Cluster, kills: usize) -> anyhow::Result<Vec<f64>> {
    let clock = Instant::now();
    // (start, end) of every acknowledged commit, in seconds since `clock`.
    let acked: Arc<parking_lot::Mutex<Vec<(f64, f64)>>> = Arc::default();
    let addrs: Vec<String> = cluster.alphas.iter().map(Proc::grpc_addr).collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let clients: Vec<_> = addrs
                .iter()
                .map(|a| lodestar_client::channel(a).map(DgraphClient::new))
                .collect::<Result<_, _>>()?;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut c = clients[(i % clients.len() as u64) as usize].clone();
                i += 1;
                let start = clock.elapsed().as_secs_f64();
                let mut req = tonic::Request::new(mutation(format!("_:w <xid> \"w{i}\" .")));
                req.set_timeout(Duration::from_secs(5));
                if c.query(req).await.is_ok() {
                    acked.lock().push((start, clock.elapsed().as_secs_f64()));
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Ok::<_, anyhow::Error>(())
        })
    };
    let mut times = Vec::new();
    for cycle in 0..kills {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let lead = leader(cluster).await?;
        let killed = clock.elapsed().as_secs_f64();
        cluster.alphas[lead].kill9();
        let resumed = loop {
            let first = acked
                .lock()
                .iter()
                .filter(|(s, _)| *s >= killed)
                .map(|(_, e)| *e)
                .min_by(f64::total_cmp);
            if let Some(e) = first {
                break e;
            }
            anyhow::ensure!(
                clock.elapsed().as_secs_f64() - killed < 30.0,
                "cycle {cycle}: no commit within 30 s of the kill"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        times.push(resumed - killed);
        let a = &mut cluster.alphas[lead];
        a.start()?;
        a.wait_healthy(Duration::from_secs(60)).await?;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await??;
    Ok(times)
}

/// Loads `mb` MiB of text (nodes of ~1 KiB) through the leader.
async fn load_text(target: Channel, mb: u64, loaders: usize) -> anyhow::Result<f64> {
    const TEXT: usize = 1000;
    const PER_BATCH: u64 = 500;
    let nodes = (mb << 20) / TEXT as u64;
    let batches = nodes.div_ceil(PER_BATCH);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..loaders)
        .map(|_| {
            let mut c = DgraphClient::new(target.clone());
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let mut text = String::with_capacity((TEXT + 64) * PER_BATCH as usize);
                    for i in b * PER_BATCH..((b + 1) * PER_BATCH).min(nodes) {
                        // Words drawn from the node number: text that compresses like prose.
                        let mut words = String::with_capacity(TEXT);
                        let mut x = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        while words.len() < TEXT {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let len = 3 + (x % 7) as usize;
                            for k in 0..len {
                                words.push((b'a' + ((x >> (k * 5)) % 26) as u8) as char);
                            }
                            words.push(' ');
                        }
                        text.push_str(&format!("_:t{i} <text> \"{words}\" .\n"));
                    }
                    c.query(mutation(text)).await?;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Runs a backup task or a restore task to its end; its wall time.
async fn task(
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    id: String,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    loop {
        let t = b.get_task(TaskRef { id: id.clone() }).await?.into_inner();
        match t.status.as_str() {
            "Success" => return Ok(started.elapsed().as_secs_f64()),
            "Failed" => anyhow::bail!("task {id} failed: {:?}", t.errors),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn dir_mib(path: &std::path::Path) -> f64 {
    fn walk(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| match e.file_type() {
                        Ok(t) if t.is_dir() => walk(&e.path()),
                        _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(path) as f64 / f64::from(1u32 << 20)
}

/// The `-p` directory of an alpha, from its command line.
fn postings_dir(a: &Proc) -> anyhow::Result<std::path::PathBuf> {
    let at = a.args.iter().position(|x| x == "-p").context("-p")?;
    Ok(a.args[at + 1].clone().into())
}

fn wal_dir(a: &Proc) -> anyhow::Result<std::path::PathBuf> {
    let at = a.args.iter().position(|x| x == "--wal").context("--wal")?;
    Ok(a.args[at + 1].clone().into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run_started = Instant::now();
    println!(
        "bench-replicas: {} nodes per ingest, {} loaders, {} query clients, {} kills, {} MiB catch-up",
        args.nodes, args.loaders, args.clients, args.kills, args.catchup_mb
    );
    let schema_text = "xid: string @index(exact) .\nn: int .\ntext: string .";

    // One alpha.
    let single = start(1, false, &[]).await?;
    let one = channels(&single, &[0])?;
    schema(one[0].clone(), schema_text).await?;
    let (ingest_one, uids_one) = ingest(&one, args.loaders, 0, args.nodes).await?;
    println!("replicas 1: ingest {ingest_one:.0} triples/s");
    let (q_one, q_one50, q_one99) = point_queries(&one, Arc::new(uids_one), &args).await;
    drop(single);

    // A group of three.
    let mut group = start(3, false, &[]).await?;
    let lead = leader(&mut group).await?;
    let to_leader = channels(&group, &[lead])?;
    let all = channels(&group, &[0, 1, 2])?;
    schema(to_leader[0].clone(), schema_text).await?;
    let (ingest_lead, mut uids) = ingest(&to_leader, args.loaders, 0, args.nodes).await?;
    println!("replicas 3: ingest to the leader {ingest_lead:.0} triples/s");
    let (ingest_all, more) = ingest(&all, args.loaders, args.nodes, args.nodes).await?;
    println!("replicas 3: ingest over all alphas {ingest_all:.0} triples/s");
    uids.extend(more);
    let uids = Arc::new(uids);
    let (q_lead, q_lead50, q_lead99) = point_queries(&to_leader, uids.clone(), &args).await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != lead).collect();
    let to_followers = channels(&group, &followers)?;
    let (q_fol, q_fol50, q_fol99) = point_queries(&to_followers, uids.clone(), &args).await;
    let (q_all, q_all50, q_all99) = point_queries(&all, uids.clone(), &args).await;
    let mut times = failovers(&mut group, args.kills).await?;
    drop(group);
    times.sort_by(f64::total_cmp);

    // Catch-up of a wiped replica, next to a restore of the same data.
    let mut big = start(3, true, &[("--snapshot_after_entries", "1000")]).await?;
    let lead = leader(&mut big).await?;
    let to_leader = channels(&big, &[lead])?;
    schema(to_leader[0].clone(), schema_text).await?;
    let load_secs = load_text(to_leader[0].clone(), args.catchup_mb, args.loaders).await?;
    println!("loaded {} MiB of text in {load_secs:.1} s", args.catchup_mb);
    let victim = (lead + 1) % 3;
    big.alphas[victim].kill9();
    let (p, w) = (
        postings_dir(&big.alphas[victim])?,
        wal_dir(&big.alphas[victim])?,
    );
    let store_mib = dir_mib(&p);
    std::fs::remove_dir_all(&p)?;
    std::fs::remove_dir_all(&w)?;
    let started = Instant::now();
    big.alphas[victim].start()?;
    big.alphas[victim]
        .wait_healthy(Duration::from_secs(1800))
        .await?;
    let catchup_secs = started.elapsed().as_secs_f64();
    let log = big.alphas[victim].run_log();
    let sent_mib: f64 = log
        .lines()
        .filter(|l| l.contains("group snapshot received"))
        .filter_map(|l| {
            l.split("mib=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();
    println!("a wiped replica caught up in {catchup_secs:.1} s ({sent_mib:.0} MiB streamed)");
    let mut b = BackupClient::new(lodestar_client::traced_channel(
        &big.backup.as_ref().context("backup worker")?.grpc_addr(),
    )?);
    let dest = tempfile::tempdir()?;
    let location = dest.path().display().to_string();
    let id = b
        .start_backup(BackupRequest {
            destination: location.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    let backup_secs = task(&mut b, id).await?;
    let backup_mib = dir_mib(dest.path());
    let id = b
        .start_restore(RestoreRequest {
            location,
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    let restore_secs = task(&mut b, id).await?;
    println!(
        "backup {backup_secs:.1} s ({backup_mib:.0} MiB stored), restore into the group {restore_secs:.1} s"
    );
    drop(big);

    println!();
    println!("| measurement | replicas 1 | replicas 3 | ratio (3 / 1) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| ingest, triples/s, writes to the leader | {ingest_one:.0} | {ingest_lead:.0} | {:.2}× |",
        ingest_lead / ingest_one
    );
    println!(
        "| ingest, triples/s, writes spread over every alpha | {ingest_one:.0} | {ingest_all:.0} | {:.2}× |",
        ingest_all / ingest_one
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| point queries/s on the leader (p50 / p99 ms) | {q_one:.0} ({:.2} / {:.2}) | {q_lead:.0} ({:.2} / {:.2}) | {:.2}× |",
        ms(q_one50),
        ms(q_one99),
        ms(q_lead50),
        ms(q_lead99),
        q_lead / q_one
    );
    println!(
        "| point queries/s on the two followers | | {q_fol:.0} ({:.2} / {:.2}) | {:.2}× |",
        ms(q_fol50),
        ms(q_fol99),
        q_fol / q_one
    );
    println!(
        "| point queries/s over all three | | {q_all:.0} ({:.2} / {:.2}) | {:.2}× |",
        ms(q_all50),
        ms(q_all99),
        q_all / q_one
    );
    println!();
    println!(
        "Failover over {} leader kills (kill -9 to the next commit that started after it): min {:.2} s, median {:.2} s, max {:.2} s.",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    println!();
    println!("| catch-up of a wiped replica vs a restore | seconds | MiB | MiB/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| snapshot catch-up (store on disk {store_mib:.0} MiB; streamed) | {catchup_secs:.1} | {sent_mib:.0} | {:.1} |",
        sent_mib / catchup_secs
    );
    println!(
        "| restore of a full backup into the group (stored) | {restore_secs:.1} | {backup_mib:.0} | {:.1} |",
        backup_mib / restore_secs
    );
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("Targets:");
    println!(
        "- replicated ingest ≥ 0.6× single: {:.2}× to the leader, {:.2}× spread ({})",
        ingest_lead / ingest_one,
        ingest_all / ingest_one,
        verdict(ingest_lead / ingest_one >= 0.6)
    );
    println!(
        "- failover under 3 s: max {:.2} s ({})",
        times[times.len() - 1],
        verdict(times[times.len() - 1] < 3.0)
    );
    println!(
        "- catch-up at least as fast as a restore of the same data: {catchup_secs:.1} s vs {restore_secs:.1} s ({})",
        verdict(catchup_secs <= restore_secs)
    );
    println!(
        "Total run time {:.0} s.",
        run_started.elapsed().as_secs_f64()
    );
    Ok(())
}
