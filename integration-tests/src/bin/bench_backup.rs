//! `bench-backup`: full backup and restore throughput of the real services, in MiB/s of
//! logical data (the uncompressed, framed record bytes a backup file holds: a u64 length plus
//! the record, the bytes our encoder compresses), next to what this machine can do with the
//! standard tools on the same bytes, all in one run:
//!
//! - full backups to a local directory and to SeaweedFS (S3 API, `minio://…?secure=false`),
//!   plain and encrypted (the worker restarted with `--encryption_key_file`);
//! - `pigz -p 2 -c EXPORT | openssl enc -aes-256-ctr` and `restic backup` of an export of
//!   exactly the records of the plain local backup file (pigz alone too);
//! - an incremental backup after 1% of the nodes got a new long text, as a fraction of the
//!   full backup's time;
//! - online restores of the full backups (local and SeaweedFS, plain and encrypted), each
//!   followed by a node count.
//!
//! Every time is wall clock from the request to the task's `Success`. The dataset is loaded
//! through the alpha's gRPC API by several loaders in 1,000-triple batches (a batch aborted by
//! zero's oracle is retried, as clients do): nodes with an exact-indexed short `xid` and an
//! unindexed `text` of 500–1,000 bytes of words drawn from a seeded vocabulary (ranks
//! log-uniform, like word frequencies). SeaweedFS is started with the suite's own helper
//! (`lodestar_test_support::seaweed`, as the tests use it).
//!
//! Run it with `integration-tests/bench/backup.sh` (installs pigz and restic, makes sure
//! SeaweedFS is in `.venv`, builds release binaries, passes its arguments on), or:
//!
//! ```text
//! cargo build --release --bins && target/release/bench-backup --mb 1024
//! ```
//!
//! `--mb 50` is a quick check of the whole run. The page cache cannot be dropped between
//! measurements: the baselines read an export that was just written (warm), and the alpha's
//! store is warm as well.

#![allow(clippy::print_stdout)]

use lodestar_test_support::seaweed;

use anyhow::Context as _;
use clap::Parser;
use lodestar_integration_tests::{Cluster, ClusterBuilder, RESTART_HEALTH_TIMEOUT, Service};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request};
use lodestar_proto::backup::backup_client::BackupClient;
use lodestar_proto::backup::{BackupRequest, Credentials, KeySource, RestoreRequest, TaskRef};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use std::ffi::OsStr;
use std::io::{BufWriter, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const MIB: f64 = (1 << 20) as f64;
/// Nodes per load batch: two triples each, so 1,000 triples per commit.
const NODES_PER_BATCH: u64 = 500;
/// Nodes per batch of the 1% change: one triple each.
const CHANGES_PER_BATCH: u64 = 1_000;
/// The average length of a generated text (500..=1000 bytes).
const AVG_TEXT: u64 = 750;
const BUCKET: &str = "lodestar-bench";
/// The longest a backup or restore may take before the run gives up.
const TASK_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

#[derive(Debug, Parser)]
#[command(
    name = "bench-backup",
    about = "Backup and restore throughput against pigz+openssl and restic"
)]
struct Args {
    /// MiB of long text to load (the logical backup is somewhat larger: keys, xids, index).
    #[arg(long, default_value_t = 1024)]
    mb: u64,
    /// Concurrent loaders.
    #[arg(long, default_value_t = 4)]
    loaders: usize,
    /// Percent of the nodes whose text changes before the incremental backup.
    #[arg(long, default_value_t = 1.0)]
    changed_percent: f64,
    /// Seed of the vocabulary and the texts.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Words in the vocabulary.
    #[arg(long, default_value_t = 8192)]
    vocabulary: usize,
    /// Skip SeaweedFS (local backups and restores only).
    #[arg(long)]
    skip_s3: bool,
    /// The backup worker's gzip level (its --compression_level).
    #[arg(long, default_value_t = 6)]
    compression_level: u32,
}

/// A seeded vocabulary of made-up words; texts draw word ranks log-uniformly, so frequent
/// words are much more frequent than rare ones, as in real text.
struct Words {
    vocab: Vec<String>,
}

impl Words {
    fn new(seed: u64, size: usize) -> Words {
        const SYLLABLES: [&str; 32] = [
            "ka", "lo", "mi", "ne", "ra", "to", "su", "ve", "da", "ri", "en", "or", "an", "il",
            "us", "th", "er", "st", "ch", "qu", "bel", "mar", "tin", "gor", "pha", "lex", "ion",
            "ar", "wy", "dro", "sca", "ment",
        ];
        let mut rng = StdRng::seed_from_u64(seed);
        let vocab = (0..size.max(2))
            .map(|_| {
                let n = rng.gen_range(1..=4);
                (0..n)
                    .map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())])
                    .collect()
            })
            .collect();
        Words { vocab }
    }

    /// Appends a text of 500 to 1,000 bytes (words, sentences) to `out`.
    fn text(&self, rng: &mut StdRng, out: &mut String) {
        let len = rng.gen_range(500..=1000);
        let start = out.len();
        let mut sentence = 0;
        while out.len() - start < len {
            let rank = (self.vocab.len() as f64).powf(rng.r#gen::<f64>()) as usize - 1;
            let word = &self.vocab[rank.min(self.vocab.len() - 1)];
            if sentence == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(word);
            }
            sentence += 1;
            if rng.gen_range(0..12) == 0 {
                out.push_str(". ");
                sentence = 0;
            } else {
                out.push(' ');
            }
        }
    }
}

fn batch_rng(seed: u64, round: u64, batch: u64) -> StdRng {
    StdRng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (round << 48) ^ batch.wrapping_mul(7919),
    )
}

/// Commits `batches` N-Quads batches (`make(b)` is the b-th) from `loaders` clients at once,
/// retrying a batch whose transaction was aborted (as Dgraph clients do: zero's oracle aborts
/// the transactions in flight when it starts a new conflict epoch); returns the blank-node →
/// uid pairs of every answer and the number of retries.
async fn run_loaders(
    channel: &Channel,
    loaders: usize,
    batches: u64,
    make: Arc<dyn Fn(u64) -> String + Send + Sync>,
) -> anyhow::Result<(Vec<(String, String)>, u64)> {
    const ATTEMPTS: u32 = 20;
    let next = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..loaders.max(1))
        .map(|_| {
            let (next, make, retries) = (next.clone(), make.clone(), retries.clone());
            let mut c = DgraphClient::new(channel.clone());
            tokio::spawn(async move {
                let mut uids = Vec::new();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return Ok::<_, anyhow::Error>(uids);
                    }
                    let rdf = make(b).into_bytes();
                    let mut attempt = 1;
                    let resp = loop {
                        let req = Request {
                            mutations: vec![Mutation {
                                set_nquads: rdf.clone(),
                                ..Default::default()
                            }],
                            commit_now: true,
                            ..Default::default()
                        };
                        match c.query(req).await {
                            Ok(resp) => break resp.into_inner(),
                            Err(e) if e.code() == tonic::Code::Aborted && attempt < ATTEMPTS => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                attempt += 1;
                            }
                            Err(e) => {
                                return Err(anyhow::Error::new(e)
                                    .context(format!("batch {b}, attempt {attempt}")));
                            }
                        }
                    };
                    uids.extend(resp.uids);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, retries.load(Ordering::Relaxed)))
}

async fn count_nodes(channel: &Channel) -> anyhow::Result<u64> {
    let mut c = DgraphClient::new(channel.clone()).max_decoding_message_size(usize::MAX);
    let resp = c
        .query(Request {
            query: "{ q(func: has(xid)) { count(uid) } }".into(),
            read_only: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let v: serde_json::Value = serde_json::from_slice(&resp.json)?;
    v["q"][0]["count"]
        .as_u64()
        .with_context(|| format!("no count in {v}"))
}

fn backup_client(
    cluster: &Cluster,
) -> anyhow::Result<BackupClient<lodestar_client::TracedChannel>> {
    let addr = cluster
        .backup
        .as_ref()
        .context("no backup worker")?
        .grpc_addr();
    Ok(BackupClient::new(lodestar_client::traced_channel(&addr)?))
}

/// Polls a task until it ends; `Ok` only for `Success`.
async fn wait_task(
    b: &mut BackupClient<lodestar_client::TracedChannel>,
    id: &str,
    what: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let t = b
            .get_task(TaskRef { id: id.to_string() })
            .await?
            .into_inner();
        match t.status.as_str() {
            "Success" => return Ok(()),
            "Failed" => anyhow::bail!("{what} failed: {}", t.errors.join("; ")),
            _ if started.elapsed() > TASK_TIMEOUT => {
                anyhow::bail!("{what} did not finish in {} s", TASK_TIMEOUT.as_secs())
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// One backup: wall time, and its files as the worker logged them.
#[derive(Debug, Clone)]
struct BackupRun {
    secs: f64,
    /// CPU seconds the alpha and the worker spent meanwhile.
    cpu: (f64, f64),
    backup_num: u64,
    /// (path under the destination, stored bytes, logical bytes) of each group's file.
    files: Vec<(String, u64, u64)>,
}

impl BackupRun {
    fn logical(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }
    fn stored(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }
}

fn read_from(path: &Path, offset: u64) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The `backup file written … path=P bytes=N raw_bytes=R` lines of a worker log.
fn written_files(log: &str) -> Vec<(String, u64, u64)> {
    log.lines()
        .filter(|l| l.contains("backup file written"))
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(|v| v.trim_matches('"').to_string())
            };
            Some((
                field("path=")?,
                field("bytes=")?.parse().ok()?,
                field("raw_bytes=")?.parse().ok()?,
            ))
        })
        .collect()
}

fn worker_log(cluster: &Cluster) -> anyhow::Result<PathBuf> {
    Ok(cluster
        .backup
        .as_ref()
        .context("no backup worker")?
        .log_path
        .clone())
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_secs(pid: Option<u32>) -> f64 {
    let Some(stat) = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
    else {
        return 0.0;
    };
    // The fields after the command name: state is the first, utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// CPU seconds used so far by the alpha and the backup worker.
fn cpu_now(cluster: &Cluster) -> (f64, f64) {
    (
        cpu_secs(cluster.alphas.first().and_then(|p| p.pid())),
        cpu_secs(cluster.backup.as_ref().and_then(|p| p.pid())),
    )
}

fn cpu_since(cluster: &Cluster, before: (f64, f64)) -> (f64, f64) {
    let now = cpu_now(cluster);
    (now.0 - before.0, now.1 - before.1)
}

async fn backup(
    cluster: &Cluster,
    destination: &str,
    credentials: Option<Credentials>,
) -> anyhow::Result<BackupRun> {
    let log = worker_log(cluster)?;
    let offset = std::fs::metadata(&log)?.len();
    let mut b = backup_client(cluster)?;
    let cpu = cpu_now(cluster);
    let started = Instant::now();
    let id = b
        .start_backup(BackupRequest {
            destination: destination.to_string(),
            credentials,
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    wait_task(&mut b, &id, &format!("backup to {destination}")).await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_since(cluster, cpu);
    let t = b.get_task(TaskRef { id }).await?.into_inner();
    let files = written_files(&read_from(&log, offset)?);
    anyhow::ensure!(
        !files.is_empty(),
        "the worker log {} has no 'backup file written' line for the backup to {destination}",
        log.display()
    );
    Ok(BackupRun {
        secs,
        cpu,
        backup_num: t.backup_num,
        files,
    })
}

/// An online restore of backup 1 (the full) of `location`; returns its wall time and the CPU
/// seconds of the alpha and the worker.
async fn restore(
    cluster: &Cluster,
    location: &str,
    credentials: Option<Credentials>,
    key: Option<&Path>,
) -> anyhow::Result<(f64, (f64, f64))> {
    let mut b = backup_client(cluster)?;
    let cpu = cpu_now(cluster);
    let started = Instant::now();
    let id = b
        .start_restore(RestoreRequest {
            location: location.to_string(),
            backup_num: 1,
            credentials,
            key: key.map(|k| KeySource {
                key_file: k.display().to_string(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    wait_task(&mut b, &id, &format!("restore from {location}")).await?;
    Ok((started.elapsed().as_secs_f64(), cpu_since(cluster, cpu)))
}

/// Restarts the backup worker with or without `--encryption_key_file key`.
async fn restart_worker(cluster: &mut Cluster, key: Option<&Path>) -> anyhow::Result<()> {
    let worker = cluster.backup.as_mut().context("no backup worker")?;
    worker.stop().await?;
    if let Some(at) = worker
        .args
        .iter()
        .position(|a| a == "--encryption_key_file")
    {
        worker.args.drain(at..at + 2);
    }
    if let Some(key) = key {
        worker.args.push("--encryption_key_file".into());
        worker.args.push(key.display().to_string());
    }
    worker.start()?;
    worker.wait_healthy(RESTART_HEALTH_TIMEOUT).await
}

/// Writes the records of a plain backup file as one framed stream (u64-LE length, then the
/// record): the bytes the encoder compressed. Returns their count.
fn write_export(backup_file: &Path, export: &Path) -> anyhow::Result<u64> {
    let file = std::fs::File::open(backup_file)
        .with_context(|| format!("opening {}", backup_file.display()))?;
    let decoder = lodestar_backup::codec::Decoder::new(std::io::BufReader::new(file), None)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(export)?);
    let mut bytes = 0u64;
    for frame in decoder {
        let frame = frame?;
        out.write_all(&(frame.len() as u64).to_le_bytes())?;
        out.write_all(&frame)?;
        bytes += 8 + frame.len() as u64;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(bytes)
}

/// Runs a command to completion; its wall time, or an error with its output.
fn timed(cmd: &mut Command) -> anyhow::Result<f64> {
    let started = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(secs)
}

/// Runs `script` with bash (pipefail; `$1`… are `args`); returns its wall time and the CPU
/// seconds (user + system) of everything it ran.
fn timed_bash(
    script: &str,
    args: &[&OsStr],
    envs: &[(&str, &OsStr)],
) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!(
            "set -o pipefail; TIMEFORMAT='bench-cpu %3U %3S'; time {{ {script} ; }}"
        ))
        .arg("bash")
        .args(args)
        .envs(envs.iter().copied());
    let started = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {script}"))?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "{script} failed ({}): {}{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    let cpu = stderr
        .lines()
        .find_map(|l| l.strip_prefix("bench-cpu "))
        .map(|t| {
            t.split_whitespace()
                .filter_map(|v| v.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(f64::NAN);
    Ok((secs, cpu))
}

/// "total (alpha a, worker w)".
fn cpu_text((alpha, worker): (f64, f64)) -> String {
    format!(
        "{:.1} (alpha {alpha:.1}, worker {worker:.1})",
        alpha + worker
    )
}

/// The first line a tool prints for `args` (its version), or an error saying how to get it.
fn tool_version(tool: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(tool).args(args).output().with_context(|| {
        format!("{tool} is not installed: run integration-tests/bench/backup.sh, which installs it")
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// A restore to run: where from, and the backup it restores.
struct RestoreCase<'a> {
    name: String,
    location: String,
    s3: bool,
    encrypted: bool,
    run: &'a BackupRun,
}

/// One row of the results table.
struct Row {
    name: String,
    secs: f64,
    logical: u64,
    /// CPU seconds: of the alpha and the worker for ours, of the tools for the baselines.
    cpu: String,
    /// Compared with the baselines (full backups and the baselines themselves).
    compare: bool,
}

impl Row {
    fn rate(&self) -> f64 {
        mib(self.logical) / self.secs
    }
}

/// The external tools on the same records: `pigz | openssl enc`, `pigz` alone and `restic`,
/// each timed with its CPU, and the size each stored.
struct Baselines {
    pigz_openssl_row: Row,
    pigz_row: Row,
    restic_row: Row,
    pigz_openssl_secs: f64,
    restic_secs: f64,
    pigz_openssl_size: u64,
    pigz_size: u64,
    restic_size: u64,
}

/// Runs the baselines on `export` (`exported` bytes) in `work`, then removes the export.
fn baselines(
    work: &Path,
    export: &Path,
    exported: u64,
    key_bytes: &[u8],
    iv_bytes: &[u8],
) -> anyhow::Result<Baselines> {
    let pigz_openssl_out = work.join("export.gz.enc");
    let (pigz_openssl_secs, pigz_openssl_cpu) = timed_bash(
        r#"pigz -p 2 -c "$1" | openssl enc -aes-256-ctr -K "$2" -iv "$3" > "$4""#,
        &[
            export.as_os_str(),
            OsStr::new(&hex(key_bytes)),
            OsStr::new(&hex(iv_bytes)),
            pigz_openssl_out.as_os_str(),
        ],
        &[],
    )?;
    let pigz_openssl_size = std::fs::metadata(&pigz_openssl_out)?.len();
    std::fs::remove_file(&pigz_openssl_out)?;
    let pigz_out = work.join("export.gz");
    let (pigz_secs, pigz_cpu) = timed_bash(
        r#"pigz -p 2 -c "$1" > "$2""#,
        &[export.as_os_str(), pigz_out.as_os_str()],
        &[],
    )?;
    let pigz_size = std::fs::metadata(&pigz_out)?.len();
    std::fs::remove_file(&pigz_out)?;
    let password = work.join("restic-password");
    std::fs::write(&password, "bench-backup restic password\n")?;
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600))?;
    // restic's default repository (0.14 makes format 2, compression auto: zstd).
    let repo = work.join("restic-repo");
    let restic_cmd = |args: &[&str]| {
        let mut cmd = Command::new("restic");
        cmd.arg("--repo")
            .arg(&repo)
            .args(args)
            .env("RESTIC_PASSWORD_FILE", &password);
        cmd
    };
    timed(&mut restic_cmd(&["init", "--quiet"]))?;
    let (restic_secs, restic_cpu) = timed_bash(
        r#"restic --repo "$1" backup --quiet --no-cache --host bench "$2""#,
        &[repo.as_os_str(), export.as_os_str()],
        &[("RESTIC_PASSWORD_FILE", password.as_os_str())],
    )?;
    let restic_size = dir_size(&repo);
    let restic_format = restic_cmd(&["cat", "config", "--no-cache"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["version"].as_u64())
        .map_or("format unknown".to_string(), |v| {
            if v >= 2 {
                format!("repository format {v}, compression auto")
            } else {
                format!("repository format {v}, no compression")
            }
        });
    std::fs::remove_dir_all(&repo)?;
    std::fs::remove_file(export)?;
    let baseline = |name: &str, secs: f64, cpu: f64| Row {
        name: name.to_string(),
        secs,
        logical: exported,
        cpu: format!("{cpu:.1}"),
        compare: true,
    };
    let pigz_openssl_row = baseline(
        "`pigz -p 2 | openssl enc -aes-256-ctr` (export)",
        pigz_openssl_secs,
        pigz_openssl_cpu,
    );
    let restic_row = baseline(
        &format!("`restic backup` (export, {restic_format})"),
        restic_secs,
        restic_cpu,
    );
    let pigz_row = baseline("`pigz -p 2` alone (export)", pigz_secs, pigz_cpu);
    println!(
        "baselines: pigz+openssl {pigz_openssl_secs:.1} s, pigz {pigz_secs:.1} s, \
         restic {restic_secs:.1} s"
    );

    Ok(Baselines {
        pigz_openssl_row,
        pigz_row,
        restic_row,
        pigz_openssl_secs,
        restic_secs,
        pigz_openssl_size,
        pigz_size,
        restic_size,
    })
}

/// What loading the dataset gave: (node index, uid) pairs in index order, the bytes of text,
/// the time taken and the batches retried after an abort.
struct Loaded {
    uids: Vec<(u64, u64)>,
    text_bytes: u64,
    secs: f64,
    retries: u64,
}

/// Loads `nodes` nodes of generated text (`xid` and `text`) with `args.loaders` clients.
async fn load(
    channel: &Channel,
    args: &Args,
    words: &Arc<Words>,
    nodes: u64,
) -> anyhow::Result<Loaded> {
    let text_bytes = Arc::new(AtomicU64::new(0));
    let (w, tb, seed) = (words.clone(), text_bytes.clone(), args.seed);
    let started = Instant::now();
    let (pairs, load_retries) = run_loaders(
        channel,
        args.loaders,
        nodes.div_ceil(NODES_PER_BATCH),
        Arc::new(move |b| {
            let mut rng = batch_rng(seed, 0, b);
            let mut rdf = String::with_capacity(1100 * NODES_PER_BATCH as usize);
            let mut text = String::with_capacity(1100);
            for i in b * NODES_PER_BATCH..((b + 1) * NODES_PER_BATCH).min(nodes) {
                text.clear();
                w.text(&mut rng, &mut text);
                tb.fetch_add(text.len() as u64, Ordering::Relaxed);
                rdf.push_str(&format!(
                    "_:n{i} <xid> \"doc-{i}\" .\n_:n{i} <text> \"{text}\" .\n"
                ));
            }
            rdf
        }),
    )
    .await?;
    let load_secs = started.elapsed().as_secs_f64();
    let mut uids: Vec<(u64, u64)> = pairs
        .iter()
        .filter_map(|(blank, uid)| {
            Some((
                blank.strip_prefix("n")?.parse().ok()?,
                u64::from_str_radix(uid.trim_start_matches("0x"), 16).ok()?,
            ))
        })
        .collect();
    uids.sort_unstable();
    anyhow::ensure!(
        uids.len() as u64 == nodes,
        "loaded {} of {nodes} nodes",
        uids.len()
    );
    let text_bytes = text_bytes.load(Ordering::Relaxed);
    println!(
        "loaded {nodes} nodes ({} triples, {:.0} MiB of text) in {load_secs:.1} s: {:.0} triples/s, \
         {:.1} MiB/s of text; {load_retries} batches retried after an abort",
        nodes * 2,
        mib(text_bytes),
        (nodes * 2) as f64 / load_secs,
        mib(text_bytes) / load_secs
    );
    Ok(Loaded {
        uids,
        text_bytes,
        secs: load_secs,
        retries: load_retries,
    })
}

/// Changes the text of `changed_percent` of the nodes, then takes the next backup to
/// `location`, which must be the series' incremental number 2.
async fn change_and_back_up(
    cluster: &Cluster,
    channel: &Channel,
    args: &Args,
    words: &Arc<Words>,
    uids: &[(u64, u64)],
    nodes: u64,
    location: &str,
) -> anyhow::Result<BackupRun> {
    let stride = ((100.0 / args.changed_percent.clamp(0.01, 100.0)).round() as u64).max(1);
    let changed: Arc<Vec<u64>> = Arc::new(
        uids.iter()
            .filter(|(i, _)| i % stride == 0)
            .map(|(_, uid)| *uid)
            .collect(),
    );
    let (w, ch, seed) = (words.clone(), changed.clone(), args.seed);
    let started = Instant::now();
    let (_, change_retries) = run_loaders(
        channel,
        args.loaders,
        (changed.len() as u64).div_ceil(CHANGES_PER_BATCH),
        Arc::new(move |b| {
            let mut rng = batch_rng(seed, 1, b);
            let mut rdf = String::with_capacity(1100 * CHANGES_PER_BATCH as usize);
            let mut text = String::with_capacity(1100);
            let end = ((b + 1) * CHANGES_PER_BATCH).min(ch.len() as u64);
            for uid in &ch[(b * CHANGES_PER_BATCH) as usize..end as usize] {
                text.clear();
                w.text(&mut rng, &mut text);
                rdf.push_str(&format!("<{uid:#x}> <text> \"{text}\" .\n"));
            }
            rdf
        }),
    )
    .await?;
    println!(
        "changed the text of {} nodes ({:.2}%) in {:.1} s; {change_retries} batches retried",
        changed.len(),
        changed.len() as f64 * 100.0 / nodes as f64,
        started.elapsed().as_secs_f64()
    );
    let incremental = backup(cluster, location, None).await?;
    anyhow::ensure!(
        incremental.backup_num == 2,
        "the backup after the change is number {} of its series, not the incremental 2",
        incremental.backup_num
    );
    Ok(incremental)
}

/// Restores each case's full backup (backup 1 of its series), checking the node count after
/// each; returns each case's row and (name, seconds, backup run).
async fn run_restores<'a>(
    cluster: &Cluster,
    channel: &Channel,
    cases: Vec<RestoreCase<'a>>,
    key: &Path,
    s3_credentials: impl Fn() -> Option<Credentials>,
    nodes: u64,
) -> anyhow::Result<Vec<(Row, (String, f64, &'a BackupRun))>> {
    let mut out = Vec::new();
    for RestoreCase {
        name,
        location,
        s3,
        encrypted,
        run,
    } in cases
    {
        let credentials = if s3 { s3_credentials() } else { None };
        let key = encrypted.then_some(key);
        let (secs, cpu) = restore(cluster, &location, credentials, key).await?;
        let count = count_nodes(channel).await?;
        anyhow::ensure!(
            count == nodes,
            "after the restore from {location}: {count} nodes, not {nodes}"
        );
        println!("restore, {name}: {secs:.1} s");
        let row = Row {
            name: format!("restore, {name} (full)"),
            secs,
            logical: run.logical(),
            cpu: cpu_text(cpu),
            compare: false,
        };
        out.push((row, (name, secs, run)));
    }
    Ok(out)
}

/// Everything the closing report prints.
struct Report<'a> {
    args: &'a Args,
    nodes: u64,
    text_bytes: u64,
    load_secs: f64,
    load_retries: u64,
    /// The full, local, plain backup (the dataset's logical size).
    full: &'a BackupRun,
    exported: u64,
    pigz_openssl_secs: f64,
    restic_secs: f64,
    rows: &'a [Row],
    sizes: &'a [(String, u64, u64)],
    incremental_share: f64,
    restores: &'a [(String, f64, &'a BackupRun)],
    tools: [&'a str; 3],
    run_secs: f64,
}

/// Prints the dataset, the results and sizes tables, and each target's verdict.
fn report(r: &Report<'_>) {
    let Report {
        args,
        nodes,
        text_bytes,
        load_secs,
        load_retries,
        full: local_plain,
        exported,
        pigz_openssl_secs,
        restic_secs,
        rows,
        sizes,
        incremental_share,
        restores,
        tools: [pigz, openssl, restic],
        run_secs,
    } = *r;
    let pigz_rate = mib(exported) / pigz_openssl_secs;
    let restic_rate = mib(exported) / restic_secs;
    println!();
    println!(
        "Dataset: {nodes} nodes, {} triples, {:.0} MiB of text; {:.1} MiB logical in the full \
         backup ({} bytes); loaded in {load_secs:.1} s with {} loaders ({:.0} triples/s, \
         {load_retries} batches retried after an abort).",
        nodes * 2,
        mib(text_bytes),
        mib(local_plain.logical()),
        local_plain.logical(),
        args.loaders,
        (nodes * 2) as f64 / load_secs
    );
    println!();
    println!(
        "| measurement | seconds | logical MiB | logical MiB/s | vs pigz+openssl | vs restic | \
         CPU s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (vs_pigz, vs_restic) = if r.compare {
            (
                format!("{:.2}×", r.rate() / pigz_rate),
                format!("{:.2}×", r.rate() / restic_rate),
            )
        } else {
            ("—".to_string(), "—".to_string())
        };
        println!(
            "| {} | {:.2} | {:.1} | {:.1} | {vs_pigz} | {vs_restic} | {} |",
            r.name,
            r.secs,
            mib(r.logical),
            r.rate(),
            r.cpu
        );
    }
    println!();
    println!("| stored | logical MiB | stored MiB | compression |");
    println!("|---|---:|---:|---:|");
    for (name, logical, stored) in sizes {
        println!(
            "| {name} | {:.1} | {:.1} | {:.2}× |",
            mib(*logical),
            mib(*stored),
            *logical as f64 / (*stored).max(1) as f64
        );
    }

    println!();
    println!("Targets:");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    for r in rows.iter().filter(|r| r.name.starts_with("full backup")) {
        let vs = r.rate() / pigz_rate;
        let vr = r.rate() / restic_rate;
        println!(
            "- {}: {:.2}× pigz+openssl (target ≥ 0.80×: {}{}), {:.2}× restic (target > 1×: {})",
            r.name,
            vs,
            verdict(vs >= 0.8),
            if vs < 0.8 {
                format!(", {:.0}% short", (1.0 - vs / 0.8) * 100.0)
            } else {
                String::new()
            },
            vr,
            verdict(vr > 1.0)
        );
    }
    println!(
        "- incremental after {}%: {:.1}% of the full's time (target ≤ 5%: {})",
        args.changed_percent,
        incremental_share * 100.0,
        verdict(incremental_share <= 0.05)
    );
    for (name, secs, run) in restores {
        let ratio = run.secs / secs;
        println!(
            "- restore, {name}: {:.2}× the speed of its backup ({secs:.1} s vs {:.1} s; target ≥ 1×: {})",
            ratio,
            run.secs,
            verdict(ratio >= 1.0)
        );
    }
    println!();
    println!(
        "Notes: MiB = 2^20 bytes. Times are wall clock from StartBackup/StartRestore to the \
         task's Success. Logical bytes are the framed records of the backup files (the worker's \
         raw_bytes; checked against a decode of the local plain file), the same bytes the \
         baselines read from the export. Each baseline ran once, right after the export was \
         written (page cache warm; it cannot be dropped here); restic ran with --no-cache on a repository made by a plain `restic init`. \
         Restores restore backup 1 (the full) and replace the cluster's data. CPU s: user + \
         system seconds of the alpha and the backup worker (ours; SeaweedFS not counted) or of \
         the tool's processes (baselines); 2 cores give at most 2 per second. Tools: {pigz}; \
         {openssl}; {restic}. Total run time {:.0} s.",
        run_secs
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let run_started = Instant::now();
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    let pigz = tool_version("pigz", &["--version"])?;
    let openssl = tool_version("openssl", &["version"])?;
    let restic = tool_version("restic", &["version"])?;

    let work = tempfile::Builder::new().prefix("bench-backup-").tempdir()?;
    let key_bytes: [u8; 32] = rand::random();
    let iv_bytes: [u8; 16] = rand::random();
    let key = work.path().join("backup.key");
    std::fs::write(&key, key_bytes)?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;

    let s3 = if args.skip_s3 {
        None
    } else {
        let server = tokio::task::spawn_blocking(|| seaweed::Seaweed::start(&[BUCKET])).await?;
        Some(server.context(
            "SeaweedFS is not available (see above): run integration-tests/bench/backup.sh, \
             which installs it, or pass --skip-s3",
        )?)
    };
    let s3_credentials = || {
        Some(Credentials {
            access_key: seaweed::ACCESS_KEY.into(),
            secret_key: seaweed::SECRET_KEY.into(),
            ..Default::default()
        })
    };
    let s3_location = |name: &str| {
        s3.as_ref()
            .map(|s| format!("minio://{}/{BUCKET}/{name}?secure=false", s.address()))
    };

    let mut cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .bin_dir(&bin_dir)
        .arg(
            Service::BackupWorker,
            "--compression_level",
            args.compression_level.to_string(),
        )
        .quiet(true)
        .start()
        .await?;
    let channel = lodestar_client::channel(&cluster.alpha_grpc())?;
    DgraphClient::new(channel.clone())
        .alter(Operation {
            schema: "xid: string @index(exact) .\ntext: string .".into(),
            ..Default::default()
        })
        .await?;
    let nodes = (args.mb << 20).div_ceil(AVG_TEXT).max(1);
    println!(
        "bench-backup: {nodes} nodes of ~{AVG_TEXT}-byte texts (~{} MiB of text), {} loaders, \
         gzip level {}, binaries from {}",
        args.mb,
        args.loaders,
        args.compression_level,
        bin_dir.display()
    );
    println!("tools: {pigz}; {openssl}; {restic}");

    let words = Arc::new(Words::new(args.seed, args.vocabulary));
    let Loaded {
        uids,
        text_bytes,
        secs: load_secs,
        retries: load_retries,
    } = load(&channel, &args, &words, nodes).await?;
    anyhow::ensure!(count_nodes(&channel).await? == nodes, "node count");

    let mut rows: Vec<Row> = Vec::new();
    let mut sizes: Vec<(String, u64, u64)> = Vec::new();
    let local = |name: &str| work.path().join(name).display().to_string();

    // Full, local, plain; then the export of its records and the baselines on it.
    let local_plain = backup(&cluster, &local("local-plain"), None).await?;
    println!(
        "full backup, local, plain: {:.1} s, {:.0} MiB logical",
        local_plain.secs,
        mib(local_plain.logical())
    );
    let export = work.path().join("export.bin");
    let file = work
        .path()
        .join("local-plain")
        .join(&local_plain.files[0].0);
    let (e, f) = (export.clone(), file.clone());
    let started = Instant::now();
    let exported = tokio::task::spawn_blocking(move || write_export(&f, &e)).await??;
    let decode_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        local_plain.files.len() == 1 && exported == local_plain.logical(),
        "the export holds {exported} bytes, the worker logged {} over {} files",
        local_plain.logical(),
        local_plain.files.len()
    );
    println!(
        "export: {:.0} MiB written in {decode_secs:.1} s (one thread decoding the backup file: \
         {:.0} MiB/s)",
        mib(exported),
        mib(exported) / decode_secs
    );

    let Baselines {
        pigz_openssl_row,
        pigz_row,
        restic_row,
        pigz_openssl_secs,
        restic_secs,
        pigz_openssl_size,
        pigz_size,
        restic_size,
    } = baselines(work.path(), &export, exported, &key_bytes, &iv_bytes)?;

    let full_row = |name: &str, run: &BackupRun| Row {
        name: name.to_string(),
        secs: run.secs,
        logical: run.logical(),
        cpu: cpu_text(run.cpu),
        compare: true,
    };
    rows.push(full_row("full backup, local, plain", &local_plain));
    sizes.push((
        "full backup, local, plain".into(),
        local_plain.logical(),
        local_plain.stored(),
    ));

    // Full, SeaweedFS, plain.
    let mut s3_runs = Vec::new();
    if let Some(location) = s3_location("plain") {
        let run = backup(&cluster, &location, s3_credentials()).await?;
        println!("full backup, SeaweedFS, plain: {:.1} s", run.secs);
        rows.push(full_row("full backup, SeaweedFS, plain", &run));
        sizes.push((
            "full backup, SeaweedFS, plain".into(),
            run.logical(),
            run.stored(),
        ));
        s3_runs.push(("plain", location, run));
    }

    // Encrypted: the worker restarted with the key.
    restart_worker(&mut cluster, Some(&key)).await?;
    let local_enc = backup(&cluster, &local("local-enc"), None).await?;
    println!("full backup, local, encrypted: {:.1} s", local_enc.secs);
    rows.push(full_row("full backup, local, encrypted", &local_enc));
    sizes.push((
        "full backup, local, encrypted".into(),
        local_enc.logical(),
        local_enc.stored(),
    ));
    if let Some(location) = s3_location("enc") {
        let run = backup(&cluster, &location, s3_credentials()).await?;
        println!("full backup, SeaweedFS, encrypted: {:.1} s", run.secs);
        rows.push(full_row("full backup, SeaweedFS, encrypted", &run));
        sizes.push((
            "full backup, SeaweedFS, encrypted".into(),
            run.logical(),
            run.stored(),
        ));
        s3_runs.push(("encrypted", location, run));
    }

    // The incremental after a change of `changed_percent` of the nodes.
    let incremental = change_and_back_up(
        &cluster,
        &channel,
        &args,
        &words,
        &uids,
        nodes,
        &local("local-enc"),
    )
    .await?;
    let incremental_share = incremental.secs / local_enc.secs;
    println!(
        "incremental backup, local, encrypted: {:.2} s ({:.1}% of the full)",
        incremental.secs,
        incremental_share * 100.0
    );
    rows.push(Row {
        name: format!(
            "incremental after {}% changed, local, encrypted ({:.1}% of the full's time)",
            args.changed_percent,
            incremental_share * 100.0
        ),
        secs: incremental.secs,
        logical: incremental.logical(),
        cpu: cpu_text(incremental.cpu),
        compare: false,
    });
    sizes.push((
        format!("incremental after {}% changed", args.changed_percent),
        incremental.logical(),
        incremental.stored(),
    ));

    // Restores of the full backups (backup 1 of each series), each checked by a node count.
    let mut restores: Vec<(String, f64, &BackupRun)> = Vec::new();
    let mut todo = vec![
        RestoreCase {
            name: "local, plain".into(),
            location: local("local-plain"),
            s3: false,
            encrypted: false,
            run: &local_plain,
        },
        RestoreCase {
            name: "local, encrypted".into(),
            location: local("local-enc"),
            s3: false,
            encrypted: true,
            run: &local_enc,
        },
    ];
    for (kind, location, run) in &s3_runs {
        todo.push(RestoreCase {
            name: format!("SeaweedFS, {kind}"),
            location: location.clone(),
            s3: true,
            encrypted: *kind == "encrypted",
            run,
        });
    }
    for (row, restored) in
        run_restores(&cluster, &channel, todo, &key, s3_credentials, nodes).await?
    {
        rows.push(row);
        restores.push(restored);
    }
    rows.push(pigz_openssl_row);
    rows.push(pigz_row);
    rows.push(restic_row);
    sizes.push((
        "`pigz -p 2 | openssl` output".into(),
        exported,
        pigz_openssl_size,
    ));
    sizes.push(("`pigz -p 2` output".into(), exported, pigz_size));
    sizes.push(("restic repository".into(), exported, restic_size));

    report(&Report {
        args: &args,
        nodes,
        text_bytes,
        load_secs,
        load_retries,
        full: &local_plain,
        exported,
        pigz_openssl_secs,
        restic_secs,
        rows: &rows,
        sizes: &sizes,
        incremental_share,
        restores: &restores,
        tools: [&pigz, &openssl, &restic],
        run_secs: run_started.elapsed().as_secs_f64(),
    });
    drop(cluster);
    drop(s3);
    Ok(())
}
