//! `bench-acl`: what ACL costs and what its login does, on one machine, in one run:
//!
//! - point queries by uid against an alpha with ACL off and, in the same run, one with ACL on
//!   (as a user whose rules allow the queried predicates, so every request pays token
//!   verification, the rule lookup and the query pruning; and as groot), with the on/off ratio;
//! - password logins per second with p50/p99 (argon2id dominates);
//! - 1,000 wrong passwords for one user from one client, as fast as it can send them: how many
//!   reach a password check and how many the throttle refuses before any work.
//!
//! Run with release binaries:
//!
//! ```text
//! cargo build --release --workspace && target/release/bench-acl
//! ```

#![allow(clippy::print_stdout)]

use clap::Parser;
use lodestar_integration_tests::bench::{measure, spread};
use lodestar_integration_tests::{Cluster, ClusterBuilder};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Jwt, LoginRequest, Mutation, Operation, Request};
use prost::Message as _;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(
    name = "bench-acl",
    about = "ACL on/off query cost, login rate, throttling"
)]
struct Args {
    /// Nodes to load into each alpha.
    #[arg(long, default_value_t = 20_000)]
    nodes: u64,
    /// Concurrent query clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Concurrent login clients.
    #[arg(long, default_value_t = 4)]
    login_clients: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Rounds of the off/on query measurements (the best round of each counts).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

fn request<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("accessjwt", token.parse().expect("ascii token"));
    }
    r
}

async fn login(
    c: &mut DgraphClient<Channel>,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let resp = c
        .login(LoginRequest {
            userid: user.into(),
            password: password.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(Jwt::decode(resp.json.as_slice())?.access_jwt)
}

/// Loads `nodes` nodes (`xid`, `n`) as `token`'s user; returns their uids.
async fn load(channel: &Channel, token: &str, nodes: u64) -> anyhow::Result<Vec<u64>> {
    let mut c = DgraphClient::new(channel.clone());
    let schema = Operation {
        schema: "xid: string @index(exact) .\nn: int .\nsecret: string .".into(),
        ..Default::default()
    };
    c.alter(request(schema, token)).await?;
    let mut uids = Vec::new();
    for b in 0..nodes.div_ceil(500) {
        let mut text = String::new();
        for i in b * 500..((b + 1) * 500).min(nodes) {
            text.push_str(&format!(
                "_:n{i} <xid> \"node-{i}\" .\n_:n{i} <n> \"{i}\"^^<xs:int> .\n_:n{i} <secret> \"s{i}\" .\n"
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
        let resp = c.query(request(req, token)).await?.into_inner();
        uids.extend(
            resp.uids
                .values()
                .filter_map(|u| u64::from_str_radix(u.trim_start_matches("0x"), 16).ok()),
        );
    }
    Ok(uids)
}

/// Point queries by uid as `token`'s user; a reply counts when it carries `xid`.
async fn queries(
    channel: &Channel,
    token: &str,
    uids: &Arc<Vec<u64>>,
    args: &Args,
) -> (f64, Duration, Duration) {
    let (channel, token, uids) = (channel.clone(), token.to_string(), uids.clone());
    measure(args.clients, args.secs, move |i| {
        let mut c = DgraphClient::new(channel.clone());
        let uid = uids[spread(i, uids.len())];
        let req = request(
            Request {
                query: format!("{{ q(func: uid({uid:#x})) {{ xid n secret }} }}"),
                read_only: true,
                ..Default::default()
            },
            &token,
        );
        async move {
            c.query(req).await.is_ok_and(|r| {
                let json = r.into_inner().json;
                json.windows(5).any(|w| w == b"\"xid\"")
            })
        }
    })
    .await
}

async fn start(
    bin_dir: &std::path::Path,
    secret: Option<&std::path::Path>,
) -> anyhow::Result<Cluster> {
    let mut b = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .bin_dir(bin_dir)
        .quiet(true);
    if let Some(s) = secret {
        b = b.acl_secret_file(s);
    }
    b.start().await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin_dir = lodestar_integration_tests::current_exe_dir()?;
    let dir = tempfile::tempdir()?;
    let secret = dir.path().join("hmac_secret");
    let key: [u8; 32] = rand::random();
    std::fs::write(&secret, key.map(|b| format!("{b:02x}")).concat())?;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;

    let off = start(&bin_dir, None).await?;
    let on = start(&bin_dir, Some(&secret)).await?;
    let off_ch = lodestar_client::channel(&off.alpha_grpc())?;
    let on_ch = lodestar_client::channel(&on.alpha_grpc())?;
    println!(
        "bench-acl: {} nodes per alpha, {} query clients, {} s per measurement, binaries from {}",
        args.nodes,
        args.clients,
        args.secs,
        bin_dir.display()
    );

    let off_uids = Arc::new(load(&off_ch, "", args.nodes).await?);
    let mut c = DgraphClient::new(on_ch.clone());
    let groot = login(&mut c, "groot", "password").await?;
    let on_uids = Arc::new(load(&on_ch, &groot, args.nodes).await?);
    // A reader in group "readers", allowed xid and n but not secret (so every query is pruned).
    let setup = Request {
        mutations: vec![Mutation {
            set_nquads: br#"_:u <dgraph.xid> "reader" .
_:u <dgraph.type> "dgraph.type.User" .
_:u <dgraph.password> "readerpassword" .
_:u <dgraph.user.group> _:g .
_:g <dgraph.xid> "readers" .
_:g <dgraph.type> "dgraph.type.Group" .
_:g <dgraph.acl.rule> _:r1 .
_:r1 <dgraph.rule.predicate> "xid" .
_:r1 <dgraph.rule.permission> "4" .
_:g <dgraph.acl.rule> _:r2 .
_:r2 <dgraph.rule.predicate> "n" .
_:r2 <dgraph.rule.permission> "4" ."#
                .to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    };
    c.query(request(setup, &groot)).await?;
    let reader = login(&mut c, "reader", "readerpassword").await?;

    let best =
        |a: (f64, Duration, Duration), b: (f64, Duration, Duration)| if b.0 > a.0 { b } else { a };
    let zero = (0.0, Duration::ZERO, Duration::ZERO);
    let (mut q_off, mut q_reader, mut q_groot) = (zero, zero, zero);
    for _ in 0..args.rounds {
        q_off = best(q_off, queries(&off_ch, "", &off_uids, &args).await);
        q_reader = best(q_reader, queries(&on_ch, &reader, &on_uids, &args).await);
        q_groot = best(q_groot, queries(&on_ch, &groot, &on_uids, &args).await);
    }

    // Password logins (right password: no throttling).
    let ch = on_ch.clone();
    let logins = measure(args.login_clients, args.secs, move |_| {
        let mut c = DgraphClient::new(ch.clone());
        async move { login(&mut c, "reader", "readerpassword").await.is_ok() }
    })
    .await;

    // 1,000 wrong passwords for groot, one after another, as fast as the answers come.
    let (mut checked, mut locked, mut other) = (0, 0, 0);
    let started = Instant::now();
    for _ in 0..1000 {
        match login(&mut c, "groot", "wrong-password").await {
            Err(e) => match e.downcast_ref::<tonic::Status>().map(|s| s.code()) {
                Some(tonic::Code::Unauthenticated) => checked += 1,
                Some(tonic::Code::ResourceExhausted) => locked += 1,
                _ => other += 1,
            },
            Ok(_) => other += 1,
        }
    }
    let attack = started.elapsed();

    println!();
    println!(
        "{:<52} {:>12} {:>10} {:>10} {:>8}",
        "measurement", "per second", "p50", "p99", "vs off"
    );
    let row = |name: &str, (qps, p50, p99): (f64, Duration, Duration), base: f64| {
        println!(
            "{:<52} {:>12.0} {:>9.2}ms {:>9.2}ms {:>7.3}x",
            name,
            qps,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            qps / base
        );
    };
    row("point query by uid, ACL off", q_off, q_off.0);
    row(
        "point query by uid, ACL on, user with rules (pruned)",
        q_reader,
        q_off.0,
    );
    row(
        "point query by uid, ACL on, groot (guardian)",
        q_groot,
        q_off.0,
    );
    row(
        &format!("password login, {} clients", args.login_clients),
        logins,
        q_off.0,
    );
    println!(
        "1,000 wrong passwords for one user from one client: {checked} reached a password check, \
         {locked} refused by the throttle before any work, {other} other; {:.2} s in all \
         ({:.0} attempts/s, {:.1} checks/s)",
        attack.as_secs_f64(),
        1000.0 / attack.as_secs_f64(),
        checked as f64 / attack.as_secs_f64()
    );
    Ok(())
}
