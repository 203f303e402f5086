//! Encryption at rest, measured in one run (`integration-tests/bench/encryption.sh`):
//!
//! - the engines, in process, on the same MVCC workload (keys written in committed batches,
//!   random point reads at a timestamp, one full scan): fjall (the plain store), the encrypted
//!   engine (surrealkv, every file sealed) and that engine with sealing off, which gives the
//!   cost of sealing alone;
//! - a cluster (one zero, one alpha) without and with `--encryption_key_file`: ingest
//!   (triples/s) and point queries (queries/s, p50, p99), the on/off ratio the target names;
//! - master-key rotation (`alpha rotate-key`'s work) on an encrypted store of about 10 MB and
//!   of about 1 GB: the times should match, because only the key registry is rewritten.
//!
//! Prints markdown tables with the ratios.

#![allow(clippy::print_stdout)]

use clap::Parser;
use lodestar_crypto::EncryptionKey;
use lodestar_crypto::registry::KeyRegistry;
use lodestar_integration_tests::bench::{ingest_nodes, measure, spread};
use lodestar_integration_tests::{Cluster, ClusterBuilder, Service};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Operation, Request};
use lodestar_storage::{Encryption, Store, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Encryption at rest: engines, a cluster on and off, master-key rotation")]
struct Args {
    /// Keys written in the engine measurement.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Nodes loaded in each cluster ingest measurement (two triples each).
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
    /// Size of the large store of the rotation measurement, in MB.
    #[arg(long, default_value_t = 1024)]
    large_mb: u64,
    /// Cluster measurements per setting, alternating plain and encrypted (the better of each
    /// is reported, so a slow first run does not decide the ratio).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Which parts to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "engines,cluster,rotation"
    )]
    parts: Vec<String>,
}

fn master(byte: u8) -> EncryptionKey {
    EncryptionKey::from_bytes(&[byte; 32]).expect("32 bytes")
}

/// (ingest keys/s, point reads/s, scan keys/s, bytes on disk).
fn engine_run(store: &Store, dir: &Path, keys: u64) -> anyhow::Result<(f64, f64, f64, u64)> {
    let key = |i: u64| format!("user/{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).into_bytes();
    let started = Instant::now();
    let batch = 1000;
    for b in 0..keys.div_ceil(batch) {
        let writes: Vec<Write> = (b * batch..((b + 1) * batch).min(keys))
            .map(|i| Write::put(key(i), format!("value-{i:010}-{}", "x".repeat(60))))
            .collect();
        store.commit(b + 1, &writes, &[], false)?;
    }
    store.sync()?;
    let ingest = keys as f64 / started.elapsed().as_secs_f64();
    store.flush()?;
    let read_ts = keys.div_ceil(batch) + 1;
    let started = Instant::now();
    let reads = 200_000u64.min(keys * 2);
    for i in 0..reads {
        let k = key(spread(i, keys as usize) as u64);
        anyhow::ensure!(
            store.get_at(&k, read_ts)?.is_some(),
            "a written key is missing"
        );
    }
    let point = reads as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut seen = 0u64;
    for entry in store.snapshot().scan_prefix_at(b"user/", read_ts) {
        entry?;
        seen += 1;
    }
    anyhow::ensure!(seen == keys, "the scan saw {seen} of {keys} keys");
    let scan = keys as f64 / started.elapsed().as_secs_f64();
    Ok((ingest, point, scan, disk_usage(dir)))
}

fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

async fn cluster(key: Option<&Path>) -> anyhow::Result<Cluster> {
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    let mut b = ClusterBuilder::new()
        .zeros(1)
        .alphas(1)
        .bin_dir(&bin_dir)
        .quiet(true);
    if let Some(key) = key {
        let key = key.display().to_string();
        b = b
            .arg(Service::Zero, "--encryption_key_file", key.clone())
            .arg(Service::Alpha, "--encryption_key_file", key);
    }
    b.start().await
}

/// (ingest triples/s, point queries (q/s, p50, p99)).
async fn cluster_run(
    key: Option<&Path>,
    args: &Args,
) -> anyhow::Result<(f64, (f64, Duration, Duration))> {
    let cluster = cluster(key).await?;
    let channel = lodestar_client::channel(&cluster.alpha_grpc())?;
    DgraphClient::new(channel.clone())
        .alter(Operation {
            schema: "xid: string @index(exact) .\nn: int .".into(),
            ..Default::default()
        })
        .await?;
    let targets = [channel.clone()];
    let (took, uids) = ingest_nodes(&targets, args.loaders, 0, args.nodes).await?;
    let ingest = (args.nodes * 2) as f64 / took.as_secs_f64();
    let uids = Arc::new(uids);
    let point = measure(args.clients, args.secs, move |i| {
        let mut c = DgraphClient::new(channel.clone());
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
    .await;
    drop(cluster);
    Ok((ingest, point))
}

/// An encrypted store of about `mb` MB; the time `rotate-key`'s work takes on it (median of 5).
fn rotation(dir: &Path, mb: u64) -> anyhow::Result<(u64, Duration)> {
    {
        let store = Store::open_with(dir, Some(&Encryption::new(master(1))))?;
        let value = vec![0x5au8; 4096];
        let per_batch = 256u64;
        let batches = (mb << 20) / (4096 * per_batch);
        for b in 0..batches.max(1) {
            let writes: Vec<Write> = (0..per_batch)
                .map(|i| Write::put(format!("big/{b:08}/{i:04}").into_bytes(), value.clone()))
                .collect();
            store.commit(b + 1, &writes, &[], false)?;
        }
        store.sync()?;
        store.flush()?;
    }
    let size = disk_usage(dir);
    let mut times = Vec::new();
    for round in 0..5u8 {
        let (old, new) = if round % 2 == 0 { (1, 2) } else { (2, 1) };
        let started = Instant::now();
        KeyRegistry::rewrap(dir, master(old), master(new))?;
        times.push(started.elapsed());
    }
    times.sort();
    // The store opens with the last key only.
    anyhow::ensure!(Store::open_with(dir, Some(&Encryption::new(master(1)))).is_err());
    drop(Store::open_with(dir, Some(&Encryption::new(master(2))))?);
    Ok((size, times[2]))
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "bench-encryption: {} engine keys, {} cluster nodes, {} loaders, {} query clients, {} s per query measurement",
        args.keys, args.nodes, args.loaders, args.clients, args.secs
    );
    let scratch = tempfile::tempdir()?;
    let part = |name: &str| args.parts.iter().any(|p| p == name);
    if part("engines") {
        engines(&args, scratch.path())?;
    }
    if part("cluster") {
        cluster_part(&args, scratch.path()).await?;
    }
    if part("rotation") {
        rotation_part(&args, scratch.path())?;
    }
    Ok(())
}

fn engines(args: &Args, scratch: &Path) -> anyhow::Result<()> {
    println!("\n## Engines (in process, {} keys)\n", args.keys);
    let mut engines = Vec::new();
    for name in [
        "fjall (plain)",
        "surrealkv, sealing off",
        "surrealkv, encrypted",
    ] {
        let dir = scratch.join(name.replace([' ', ',', '(', ')'], "_"));
        let store = match name {
            "fjall (plain)" => Store::open(&dir)?,
            "surrealkv, sealing off" => Store::open_unsealed_for_benchmarks(&dir)?,
            _ => Store::open_with(&dir, Some(&Encryption::new(master(7))))?,
        };
        let run = tokio::task::block_in_place(|| engine_run(&store, &dir, args.keys))?;
        println!(
            "{name}: ingest {:.0} keys/s, point reads {:.0}/s, scan {:.0} keys/s, {} MB on disk",
            run.0,
            run.1,
            run.2,
            mb(run.3)
        );
        drop(store);
        engines.push((name, run));
    }
    let base = engines[0].1;
    let unsealed = engines[1].1;
    println!(
        "\n| engine | ingest keys/s | vs fjall | point reads/s | vs fjall | scan keys/s | vs fjall | disk MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, r) in &engines {
        println!(
            "| {name} | {:.0} | {:.2}× | {:.0} | {:.2}× | {:.0} | {:.2}× | {} |",
            r.0,
            r.0 / base.0,
            r.1,
            r.1 / base.1,
            r.2,
            r.2 / base.2,
            mb(r.3)
        );
    }
    let sealed = engines[2].1;
    println!(
        "\nsealing on/off on the same engine: ingest **{:.2}**, point reads **{:.2}**, scan **{:.2}**",
        sealed.0 / unsealed.0,
        sealed.1 / unsealed.1,
        sealed.2 / unsealed.2
    );
    Ok(())
}

async fn cluster_part(args: &Args, scratch: &Path) -> anyhow::Result<()> {
    println!("\n## A cluster without and with --encryption_key_file\n");
    let key = scratch.join("enc_key_file");
    std::fs::write(&key, [9u8; 32])?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    }
    type Run = (f64, (f64, Duration, Duration));
    let better = |a: Run, b: Run| (a.0.max(b.0), if a.1.0 >= b.1.0 { a.1 } else { b.1 });
    let mut off: Run = (0.0, (0.0, Duration::ZERO, Duration::ZERO));
    let mut on = off;
    for round in 0..args.rounds.max(1) {
        // Alternating which goes first.
        for encrypted in [round % 2 == 1, round % 2 == 0] {
            let run = cluster_run(encrypted.then_some(key.as_path()), args).await?;
            println!(
                "round {}, {}: ingest {:.0} triples/s, point {:.0} q/s",
                round + 1,
                if encrypted { "encrypted" } else { "plain" },
                run.0,
                run.1.0
            );
            if encrypted {
                on = better(on, run);
            } else {
                off = better(off, run);
            }
        }
    }
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
    println!("\n| measurement | plain | encrypted | on/off |");
    println!("|---|---:|---:|---:|");
    println!(
        "| ingest, triples/s | {:.0} | {:.0} | **{:.2}** |",
        off.0,
        on.0,
        on.0 / off.0
    );
    println!(
        "| point queries/s | {:.0} | {:.0} | **{:.2}** |",
        off.1.0,
        on.1.0,
        on.1.0 / off.1.0
    );
    println!(
        "| point query p50 ms | {} | {} | |",
        ms(off.1.1),
        ms(on.1.1)
    );
    println!(
        "| point query p99 ms | {} | {} | |",
        ms(off.1.2),
        ms(on.1.2)
    );
    Ok(())
}

fn rotation_part(args: &Args, scratch: &Path) -> anyhow::Result<()> {
    println!("\n## Master-key rotation\n");
    let small = rotation(&scratch.join("rotate-small"), 10)?;
    let large = rotation(&scratch.join("rotate-large"), args.large_mb)?;
    println!("| store on disk | rotate-key (median of 5) |");
    println!("|---:|---:|");
    for (size, took) in [small, large] {
        println!(
            "| {} MB | {:.2} ms |",
            mb(size),
            took.as_secs_f64() * 1000.0
        );
    }
    println!(
        "\nlarge/small time: **{:.2}×** for {:.0}× the data",
        large.1.as_secs_f64() / small.1.as_secs_f64(),
        large.0 as f64 / small.0.max(1) as f64
    );
    Ok(())
}
