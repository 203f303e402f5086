//! `bench-search`: full-text and regular-expression query throughput on a generated text
//! corpus, with an `eq()` lookup on an exact index (the query `bench-alpha` measures) as the
//! baseline in the same run. Run with release binaries:
//!
//! ```text
//! integration-tests/bench/search.sh --nodes 1000000
//! ```
//!
//! It loads `--nodes` nodes, each an `xid` and a `text` of 6 to 12 words drawn (seeded, so every
//! run loads the same corpus) from a vocabulary of English words with their inflections and
//! generated words, indexed with `exact`, `term`, `fulltext` and `trigram`. Then it measures
//! queries/s with p50/p99 for each function, every query asking for the first 10 matches.

#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use clap::Parser;
use lodestar_integration_tests::ClusterBuilder;
use lodestar_integration_tests::bench::{measure, spread};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(name = "bench-search", about = "Full-text and regexp query benchmark")]
struct Args {
    /// Nodes to load (each an xid and a text).
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

/// English stems with inflections (so that stemming and stop words matter), then generated
/// words, for a vocabulary of a few thousand.
fn vocabulary() -> Vec<String> {
    const STEMS: &[&str] = &[
        "run", "walk", "talk", "jump", "play", "work", "read", "write", "build", "paint", "sing",
        "dance", "cook", "clean", "drive", "fly", "swim", "climb", "teach", "learn", "graph",
        "query", "index", "store", "search", "match", "river", "mountain", "forest", "city",
        "garden", "window", "letter", "number", "market", "engine", "signal", "bridge", "island",
        "station",
    ];
    const SUFFIXES: &[&str] = &["", "s", "ing", "ed", "er", "ers"];
    let mut words: Vec<String> = STEMS
        .iter()
        .flat_map(|s| SUFFIXES.iter().map(move |x| format!("{s}{x}")))
        .collect();
    words.extend(
        ["the", "a", "of", "and", "to", "in", "is", "with"]
            .iter()
            .map(|w| w.to_string()),
    );
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ren", "to", "sha", "vel", "qui", "dor", "ban", "zu", "fe", "gol", "tri",
        "nax", "pe", "sol", "vim", "ur", "yel",
    ];
    for a in SYLLABLES {
        for b in SYLLABLES {
            for c in ["", "n", "ra", "st"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words
}

/// A xorshift generator: the same corpus on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn text_of(i: u64, words: &[String]) -> String {
    let mut rng = Rng(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 6 + rng.below(7);
    (0..n)
        .map(|_| words[rng.below(words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Loads the corpus in committed batches of 500 nodes from `loaders` clients.
async fn load(
    channel: &Channel,
    args: &Args,
    words: &Arc<Vec<String>>,
) -> anyhow::Result<Duration> {
    let batches = args.nodes.div_ceil(500);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.loaders)
        .map(|_| {
            let mut c = DgraphClient::new(channel.clone());
            let (next, words, nodes) = (next.clone(), words.clone(), args.nodes);
            tokio::spawn(async move {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let mut text = String::with_capacity(160 * 500);
                    for i in b * 500..((b + 1) * 500).min(nodes) {
                        text.push_str(&format!(
                            "_:n{i} <xid> \"node-{i}\" .\n_:n{i} <text> \"{}\" .\n",
                            text_of(i, &words)
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
                    loop {
                        match c.query(req.clone()).await {
                            Ok(_) => break,
                            Err(s) if s.code() == tonic::Code::Aborted => continue,
                            Err(s) => return Err(s.into()),
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed())
}

/// Measures read-only queries (`query(i)` is the i-th); a reply counts when it carries the
/// block.
async fn measure_queries(
    conns: &Arc<Vec<Channel>>,
    args: &Args,
    query: impl Fn(u64) -> String + Send + Sync + 'static,
) -> (f64, Duration, Duration) {
    let conns = conns.clone();
    measure(args.clients, args.secs, move |i| {
        let mut c = DgraphClient::new(conns[i as usize % conns.len()].clone());
        let req = Request {
            query: query(i),
            read_only: true,
            ..Default::default()
        };
        async move {
            c.query(req)
                .await
                .is_ok_and(|r| r.into_inner().json.len() > 6)
        }
    })
    .await
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
    cluster.alphas.first().context("alpha")?;
    let channel = lodestar_client::channel(&cluster.alpha_grpc())?;
    DgraphClient::new(channel.clone())
        .alter(Operation {
            schema: "xid: string @index(exact) .\ntext: string @index(term, fulltext, trigram) ."
                .into(),
            ..Default::default()
        })
        .await?;
    let words = Arc::new(vocabulary());
    println!(
        "bench-search: {} nodes of 6-12 words from {} words, {} loaders, binaries from {}",
        args.nodes,
        words.len(),
        args.loaders,
        bin_dir.display()
    );
    let loaded = load(&channel, &args, &words).await?;

    let conns: Arc<Vec<_>> = Arc::new(
        (0..args.connections.max(1))
            .map(|_| lodestar_client::channel(&cluster.alpha_grpc()))
            .collect::<Result<_, _>>()?,
    );
    let nodes = args.nodes as usize;
    let (eq, eq50, eq99) = measure_queries(&conns, &args, move |i| {
        format!(
            "{{ q(func: eq(xid, \"node-{}\"), first: 10) {{ uid }} }}",
            spread(i, nodes)
        )
    })
    .await;
    // Query words come from the corpus itself: word j of node i's text.
    let pick = {
        let words = words.clone();
        move |i: u64, j: usize| {
            let t = text_of(spread(i, nodes) as u64, &words);
            let ws: Vec<&str> = t.split(' ').collect();
            ws[j % ws.len()].to_string()
        }
    };
    let p = pick.clone();
    let (terms, terms50, terms99) = measure_queries(&conns, &args, move |i| {
        format!(
            "{{ q(func: anyofterms(text, \"{}\"), first: 10) {{ uid }} }}",
            p(i, 0)
        )
    })
    .await;
    let p = pick.clone();
    let (all, all50, all99) = measure_queries(&conns, &args, move |i| {
        format!(
            "{{ q(func: alloftext(text, \"{} {}\"), first: 10) {{ uid }} }}",
            p(i, 0),
            p(i, 1)
        )
    })
    .await;
    let p = pick.clone();
    let (any, any50, any99) = measure_queries(&conns, &args, move |i| {
        format!(
            "{{ q(func: anyoftext(text, \"{}\"), first: 10) {{ uid }} }}",
            p(i, 2)
        )
    })
    .await;
    let p = pick.clone();
    let (re, re50, re99) = measure_queries(&conns, &args, move |i| {
        format!(
            "{{ q(func: regexp(text, /{}.*{}/), first: 10) {{ uid }} }}",
            p(i, 0),
            p(i, 1)
        )
    })
    .await;

    println!();
    println!(
        "{:<52} {:>12} {:>10} {:>10} {:>9}",
        "measurement", "per second", "p50", "p99", "vs eq()"
    );
    println!(
        "{:<52} {:>12.0}",
        format!("load (nodes/s), 500-node batches, {} loaders", args.loaders),
        args.nodes as f64 / loaded.as_secs_f64()
    );
    let row = |name: &str, qps: f64, p50: Duration, p99: Duration| {
        println!(
            "{:<52} {:>12.0} {:>9.2}ms {:>9.2}ms {:>8.2}x",
            name,
            qps,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            qps / eq
        );
    };
    row("baseline: eq() on an exact index", eq, eq50, eq99);
    row("anyofterms (term index), one word", terms, terms50, terms99);
    row("alloftext (fulltext index), two words", all, all50, all99);
    row("anyoftext (fulltext index), one word", any, any50, any99);
    row("regexp /w1.*w2/ (trigram index)", re, re50, re99);
    println!(
        "{:<52} {:>12}",
        "load wall time",
        format!("{:.1} s", loaded.as_secs_f64())
    );
    Ok(())
}
