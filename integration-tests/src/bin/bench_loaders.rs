//! Loading and exporting, measured in one run (`integration-tests/bench/loaders.sh`): a
//! generated file of `--triples` N-Quads (people with a name, an age and two follows edges;
//! gzipped; an exact index, an int index and a reverse edge to build) is turned into a `p`
//! directory by `bulk` (offline; its peak memory too), then loaded into a fresh cluster (one
//! zero, one alpha, the services) by `live` with its default batch and concurrency, and the
//! loaded graph is exported as RDF by the backup worker. Prints a markdown table of N-Quads/s
//! with bulk's speed as a multiple of live's.

#![allow(clippy::print_stdout)]

use clap::Parser;
use lodestar_integration_tests::{Cluster, ClusterBuilder};
use lodestar_proto::backup::backup_client::BackupClient;
use lodestar_proto::backup::{ExportRequest, TaskRef};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Live loading and export throughput on one generated file")]
struct Args {
    /// N-Quads in the generated file (four per person).
    #[arg(long, default_value_t = 1_000_000)]
    triples: u64,
    /// `live --batch`.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// `live --conc`.
    #[arg(long, default_value_t = 10)]
    conc: u64,
}

const SCHEMA: &str =
    "name: string @index(exact) .\nage: int @index(int) .\nfollows: [uid] @reverse .\n";

/// Writes the data file; returns how many N-Quads it holds.
fn generate(path: &Path, triples: u64) -> anyhow::Result<u64> {
    let people = triples.div_ceil(4).max(2);
    let file = std::fs::File::create(path)?;
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    for i in 0..people {
        let a = i.wrapping_mul(7919) % people;
        let b = i.wrapping_mul(104_729) % people;
        writeln!(
            gz,
            "_:p{i} <name> \"person {i}\" .\n_:p{i} <age> \"{}\" .\n_:p{i} <follows> _:p{a} .\n_:p{i} <follows> _:p{b} .",
            i % 100
        )?;
    }
    gz.finish()?.flush()?;
    Ok(people * 4)
}

async fn cluster(bin_dir: &Path) -> anyhow::Result<Cluster> {
    ClusterBuilder::new()
        .zeros(1)
        .alphas(1)
        .services(true)
        .bin_dir(bin_dir)
        .quiet(true)
        .start()
        .await
}

/// Exports the cluster as RDF into `dest`; the time the task took.
async fn export(cluster: &Cluster, dest: &Path) -> anyhow::Result<Duration> {
    let addr = cluster
        .backup
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no backup worker"))?
        .grpc_addr();
    let mut worker = BackupClient::new(lodestar_client::traced_channel(&addr)?);
    let started = Instant::now();
    let id = worker
        .start_export(ExportRequest {
            format: "rdf".into(),
            destination: dest.display().to_string(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    loop {
        let t = worker
            .get_task(TaskRef { id: id.clone() })
            .await?
            .into_inner();
        match t.status.as_str() {
            "Success" => return Ok(started.elapsed()),
            "Failed" => anyhow::bail!("the export failed: {:?}", t.errors),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = tempfile::tempdir()?;
    let data = scratch.path().join("people.rdf.gz");
    let schema = scratch.path().join("people.schema");
    std::fs::write(&schema, SCHEMA)?;
    let triples = generate(&data, args.triples)?;
    println!(
        "bench-loaders: {triples} N-Quads ({:.1} MB gzipped), live --batch {} --conc {}",
        std::fs::metadata(&data)?.len() as f64 / 1e6,
        args.batch,
        args.conc
    );
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    let started = Instant::now();
    let bulk = std::process::Command::new(bin_dir.join("bulk"))
        .args(["-f", &data.display().to_string()])
        .args(["-s", &schema.display().to_string()])
        .args(["--out", &scratch.path().join("out").display().to_string()])
        .output()?;
    let bulk_time = started.elapsed();
    if !bulk.status.success() {
        anyhow::bail!("bulk failed: {}", String::from_utf8_lossy(&bulk.stderr));
    }
    // The only child waited for so far: bulk's peak resident memory.
    let bulk_rss_kib =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?.max_rss();
    let cluster = cluster(&bin_dir).await?;
    let started = Instant::now();
    let out = std::process::Command::new(bin_dir.join("live"))
        .args(["-f", &data.display().to_string()])
        .args(["-s", &schema.display().to_string()])
        .args(["-a", &cluster.alpha_grpc()])
        .args(["-b", &args.batch.to_string(), "-c", &args.conc.to_string()])
        .output()?;
    let live = started.elapsed();
    if !out.status.success() {
        anyhow::bail!("live failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dest = scratch.path().join("export");
    let exported = export(&cluster, &dest).await?;
    let rate = |d: Duration| triples as f64 / d.as_secs_f64();
    println!();
    println!("| step | time | N-Quads/s |");
    println!("|---|---|---|");
    println!(
        "| bulk (offline, one p directory; peak RSS {:.0} MB) | {:.1} s | {:.0} ({:.1}x live) |",
        bulk_rss_kib as f64 / 1024.0,
        bulk_time.as_secs_f64(),
        rate(bulk_time),
        live.as_secs_f64() / bulk_time.as_secs_f64()
    );
    println!(
        "| live (schema, data, indexes) | {:.1} s | {:.0} |",
        live.as_secs_f64(),
        rate(live)
    );
    println!(
        "| export (RDF, gzip) | {:.1} s | {:.0} |",
        exported.as_secs_f64(),
        rate(exported)
    );
    println!();
    println!("live's summary:\n{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
