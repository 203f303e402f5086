//! `lodestar-local`: the one-command Lodestar cluster for a fresh machine. It starts the zero(s),
//! an alpha, auth, the backup worker and the gateway as separate processes on their default ports
//! (shifted by `--port_offset`), keeps their data under `--data` and their logs in
//! `<data>/logs`, waits until every one is healthy, prints the endpoints, and on Ctrl-C or
//! SIGTERM stops them all (SIGTERM, at most 5 s, then SIGKILL) and exits 0.
//!
//! The service binaries are taken from the directory of this executable, so
//! `cargo build --workspace && target/debug/lodestar-local` works. Starting again with the same
//! `--data` reuses the data: the zeros get the same `--idx` and wal directories, and only zero 1
//! bootstraps a cluster, when its wal directory is new.

// A command-line tool: its output to the user is the point.
#![allow(clippy::print_stdout)]

use anyhow::Context as _;
use clap::Parser;
use lodestar_harness::{
    Cluster, ClusterBuilder, Ports, SERVICE_BINARIES, Service, bin_path_in, fixed_ports,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How long the services get to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long each service may take to become healthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// The file in the data directory that records the cluster's shape.
const SHAPE_FILE: &str = "lodestar-local.conf";

#[derive(Debug, Parser)]
#[command(
    name = "lodestar-local",
    version,
    about = "Runs a whole Lodestar cluster on this machine: zero(s), alpha, auth, backup worker and gateway"
)]
struct Args {
    /// Directory for the data (zero1, zero2…, p, bw) and the logs (logs/); reused on the next
    /// start.
    #[arg(long, default_value = "./data")]
    data: PathBuf,

    /// How many zeros to run: 1, 3 or 5.
    #[arg(long, default_value_t = 1, value_parser = parse_zeros)]
    zeros: usize,

    /// How many alphas to run (alpha n on the default ports shifted by n - 1); 1 unless
    /// --groups says.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=9))]
    alphas: Option<u16>,

    /// How many groups to run: --groups G --replicas R runs G × R alphas (at most 9).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=9))]
    groups: Option<u16>,

    /// Alphas per group (zero's --replicas): 1, 3 or 5. `--alphas 3 --replicas 3` is one group
    /// that survives the loss of any one alpha.
    #[arg(long, default_value_t = 1, value_parser = parse_replicas)]
    replicas: usize,

    /// Added to every default port (zero 5080/6080, alpha 9080/7080/8081, auth 7070/7071,
    /// backup-worker 7090/7091, gateway 8080), as each service's --port_offset.
    #[arg(short = 'o', long = "port_offset", default_value_t = 0)]
    port_offset: u16,

    /// The address every service binds. 0.0.0.0 accepts other machines: their calls to the
    /// internal ports still need the cluster secret (./data/cluster_secret), but the client
    /// API and the gateway are open to them unless ACL is on.
    #[arg(long = "bindall_addr", default_value = "127.0.0.1")]
    bind: IpAddr,

    /// Turns ACL on: the HS256 secret (at least 32 bytes, mode 600) given to the alpha, auth,
    /// the backup worker and the gateway. Log in as groot / password and change it.
    #[arg(long = "acl_secret_file")]
    acl_secret_file: Option<PathBuf>,

    /// TLS on the alphas' client port: their --tls superflag ("server-cert=PATH;
    /// server-key=PATH; ca-cert=PATH; client-auth-type=…"). Give absolute paths: the services
    /// run in --data. Needs --alpha_tls.
    #[arg(long = "tls", requires = "alpha_tls")]
    tls: Option<String>,

    /// How auth, the backup worker and the gateway reach the TLS alphas: their --alpha_tls
    /// ("ca-cert=PATH; server-name=NAME; client-cert=PATH; client-key=PATH"), absolute paths.
    #[arg(long = "alpha_tls", requires = "tls")]
    alpha_tls: Option<String>,
}

fn parse_replicas(s: &str) -> Result<usize, String> {
    match s.trim() {
        "1" => Ok(1),
        "3" => Ok(3),
        "5" => Ok(5),
        other => Err(format!(
            "--replicas {other:?}: give 1, 3 or 5 (an odd number, so a majority of a group survives a failure)"
        )),
    }
}

/// The alphas to run for `--alphas` and `--groups` (each group has `replicas`).
fn alpha_count(alphas: Option<u16>, groups: Option<u16>, replicas: usize) -> anyhow::Result<usize> {
    let from_groups = groups.map(|g| usize::from(g) * replicas);
    match (alphas.map(usize::from), from_groups) {
        (Some(a), Some(g)) if a != g => anyhow::bail!(
            "--alphas {a} does not make --groups {} of --replicas {replicas} ({g} alphas): give one of them",
            groups.unwrap_or(0)
        ),
        (_, Some(g)) if g > 9 => anyhow::bail!(
            "--groups {} of --replicas {replicas} is {g} alphas; this launcher runs at most 9",
            groups.unwrap_or(0)
        ),
        (Some(a), _) => Ok(a),
        (None, Some(g)) => Ok(g),
        (None, None) => Ok(1),
    }
}

fn parse_zeros(s: &str) -> Result<usize, String> {
    match s.trim() {
        "1" => Ok(1),
        "3" => Ok(3),
        "5" => Ok(5),
        other => Err(format!(
            "{other:?} zeros: run 1, 3 or 5 (an odd number, so a majority survives a failure)"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lodestar-local: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lodestar-local: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bin_dir = own_dir()?;
    for name in SERVICE_BINARIES {
        bin_path_in(&bin_dir, name)?;
    }
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create the data directory {}", args.data.display()))?;
    let alphas = alpha_count(args.alphas, args.groups, args.replicas)?;
    let shape = Shape {
        zeros: args.zeros,
        alphas,
        replicas: args.replicas,
        port_offset: args.port_offset,
    };
    check_shape(&args.data.join(SHAPE_FILE), shape)?;
    check_ports_free(args.bind, shape)?;

    // One stop signal for the start-up and the run that follows.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None::<&'static str>);
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
            let _ = stop_tx.send(Some(name));
        });
    }
    let stop_requested = |mut rx: tokio::sync::watch::Receiver<Option<&'static str>>| async move {
        let _ = rx.wait_for(Option::is_some).await;
    };

    let logs = args.data.join("logs");
    println!(
        "Starting Lodestar: {} zero(s), {} alpha(s) in {} group(s) of {}, auth, backup-worker, gateway (data in {}, logs in {})",
        args.zeros,
        alphas,
        alphas.div_ceil(args.replicas),
        args.replicas,
        args.data.display(),
        logs.display()
    );
    let builder = ClusterBuilder::new()
        .zeros(args.zeros)
        .alphas(alphas)
        .replicas(args.replicas)
        .services(true)
        .dir(&args.data)
        .log_dir(&logs)
        .bin_dir(&bin_dir)
        .ports(Ports::Fixed {
            offset: args.port_offset,
        })
        .bind(args.bind)
        .health_timeout(HEALTH_TIMEOUT)
        .shutdown_grace(STOP_GRACE);
    let builder = match &args.acl_secret_file {
        Some(secret) => {
            let secret = std::path::absolute(secret)
                .with_context(|| format!("--acl_secret_file {}", secret.display()))?;
            builder.acl_secret_file(secret)
        }
        None => builder,
    };
    let builder = match (&args.tls, &args.alpha_tls) {
        (Some(server), Some(client)) => builder.alpha_tls(server, client),
        _ => builder,
    };
    let mut cluster = match builder.start_until(stop_requested(stop_rx.clone())).await {
        Ok(cluster) => cluster,
        Err(e) => {
            if let Some(signal) = *stop_rx.borrow() {
                println!("{signal}: stopped before the cluster was up");
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e);
        }
    };
    print!(
        "{}",
        endpoints(&cluster, args.bind, &args.data, &logs, args.tls.is_some())
    );

    let died = tokio::select! {
        () = stop_requested(stop_rx.clone()) => None,
        died = watch_for_exit(&mut cluster) => Some(died),
    };
    // Ctrl-C reaches the services too (one process group): an exit seen together with the
    // signal is the requested stop, not a crash.
    let died = died.filter(|_| stop_rx.borrow().is_none());
    match (&died, *stop_rx.borrow()) {
        (None, Some(signal)) => println!("{signal}: stopping every service"),
        _ => println!("stopping the other services"),
    }
    for (name, outcome) in cluster.stop_all(STOP_GRACE).await {
        match outcome {
            Ok(stopped) => println!("  {name}: {stopped}"),
            Err(e) => eprintln!("  {name}: {e:#}"),
        }
    }
    match died {
        None => Ok(ExitCode::SUCCESS),
        Some(message) => {
            eprintln!("lodestar-local: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The directory of this executable, where the service binaries are built next to it.
fn own_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent()
        .map(Path::to_path_buf)
        .context("this executable has no parent directory")
}

/// Resolves once a service exits on its own, describing which and how.
async fn watch_for_exit(cluster: &mut Cluster) -> String {
    loop {
        for p in cluster.procs_mut() {
            if !p.is_running() {
                let status = p
                    .exit_status()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown status".to_string());
                return format!(
                    "{} exited on its own ({status}); last lines of {}:\n{}",
                    p.name,
                    p.log_path.display(),
                    p.log_tail(30)
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What a data directory was created with. Zeros record their addresses in the Raft membership,
/// so restarting with another number of zeros or other ports would break the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    zeros: usize,
    alphas: usize,
    replicas: usize,
    port_offset: u16,
}

impl Shape {
    fn render(self) -> String {
        format!(
            "# Written by lodestar-local: the shape this data directory was created with.\nzeros={}\nalphas={}\nreplicas={}\nport_offset={}\n",
            self.zeros, self.alphas, self.replicas, self.port_offset
        )
    }

    fn parse(text: &str) -> Option<Shape> {
        let mut zeros = None;
        let mut port_offset = None;
        // Directories made before alphas and replicas were recorded ran one of each.
        let (mut alphas, mut replicas) = (Some(1), Some(1));
        for line in text.lines().map(str::trim) {
            match line.split_once('=') {
                Some(("zeros", v)) => zeros = v.trim().parse().ok(),
                Some(("alphas", v)) => alphas = v.trim().parse().ok(),
                Some(("replicas", v)) => replicas = v.trim().parse().ok(),
                Some(("port_offset", v)) => port_offset = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(Shape {
            zeros: zeros?,
            alphas: alphas?,
            replicas: replicas?,
            port_offset: port_offset?,
        })
    }
}

/// Refuses a data directory created with another shape; records the shape of a new one.
fn check_shape(path: &Path, shape: Shape) -> anyhow::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let recorded = Shape::parse(&text).with_context(|| {
                format!(
                    "{} is damaged: fix it (zeros=N, alphas=N, replicas=N, port_offset=N) or use a new --data",
                    path.display()
                )
            })?;
            anyhow::ensure!(
                recorded == shape,
                "the data directory was created with --zeros {} --alphas {} --replicas {} \
                 --port_offset {}: start it with the same flags, or use a new --data for a \
                 different cluster",
                recorded.zeros,
                recorded.alphas,
                recorded.replicas,
                recorded.port_offset
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::write(path, shape.render())
            .with_context(|| format!("cannot write {}", path.display())),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Every listener of the cluster: the service's process name, what the port is for, the port.
fn planned_ports(shape: Shape) -> anyhow::Result<Vec<(String, &'static str, u16)>> {
    let mut planned = Vec::new();
    let mut add = |name: String, service: Service, idx: usize| -> anyhow::Result<()> {
        let p = fixed_ports(service, idx, shape.port_offset)?;
        if let Some(port) = p.grpc {
            planned.push((name.clone(), "gRPC", port));
        }
        if let Some(port) = p.internal {
            planned.push((name.clone(), "internal gRPC", port));
        }
        planned.push((name, "HTTP", p.http));
        Ok(())
    };
    for idx in 1..=shape.zeros {
        add(format!("zero{idx}"), Service::Zero, idx)?;
    }
    for idx in 1..=shape.alphas {
        let name = if idx == 1 {
            "alpha".to_string()
        } else {
            format!("alpha{idx}")
        };
        add(name, Service::Alpha, idx)?;
    }
    for service in [Service::Auth, Service::BackupWorker, Service::Gateway] {
        add(service.binary().to_string(), service, 0)?;
    }
    Ok(planned)
}

/// Fails early, naming the port, when another program already listens where a service would.
fn check_ports_free(bind: IpAddr, shape: Shape) -> anyhow::Result<()> {
    for (name, what, port) in planned_ports(shape)? {
        if let Err(e) = std::net::TcpListener::bind((bind, port)) {
            anyhow::bail!(
                "port {port} ({name} {what}) on {bind} is not available: {e}. Is another cluster \
                 running? Stop it, or shift every port with --port_offset"
            );
        }
    }
    Ok(())
}

/// The endpoints to show the user once everything is up.
fn endpoints(cluster: &Cluster, bind: IpAddr, data: &Path, logs: &Path, tls: bool) -> String {
    let host = if bind.is_loopback() || bind.is_unspecified() {
        "localhost".to_string()
    } else {
        match bind {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        }
    };
    let mut out = format!(
        "\nLodestar is up (data in {}, logs in {}):\n",
        data.display(),
        logs.display()
    );
    if let Some(gw) = &cluster.gateway {
        out += &format!(
            "  gateway        http://{host}:{p}/admin (GraphQL admin), http://{host}:{p}/health\n",
            p = gw.http_port
        );
    }
    let grpc = if tls { "gRPC over TLS" } else { "gRPC" };
    for alpha in &cluster.alphas {
        out += &format!(
            "  {:<14} {host}:{} ({grpc}, for dgo/pydgraph), internal {host}:{}, HTTP http://{host}:{}\n",
            alpha.name,
            alpha.grpc_port.unwrap_or_default(),
            alpha.internal_port.unwrap_or_default(),
            alpha.http_port
        );
    }
    for zero in &cluster.zeros {
        out += &format!(
            "  {:<14} {host}:{} (gRPC), HTTP http://{host}:{} (/state, /health)\n",
            zero.name,
            zero.grpc_port.unwrap_or_default(),
            zero.http_port
        );
    }
    for p in cluster.auth.iter().chain(cluster.backup.iter()) {
        out += &format!(
            "  {:<14} {host}:{} (gRPC), HTTP http://{host}:{}\n",
            p.name,
            p.grpc_port.unwrap_or_default(),
            p.http_port
        );
    }
    out += "Press Ctrl-C to stop every service.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_odd_zero_counts_are_accepted() {
        assert_eq!(parse_zeros("3"), Ok(3));
        assert!(parse_zeros("2").unwrap_err().contains("1, 3 or 5"));
        let args = Args::try_parse_from(["lodestar-local"]).unwrap();
        assert_eq!(
            (args.zeros, args.port_offset, args.data),
            (1, 0, PathBuf::from("./data"))
        );
        assert!(Args::try_parse_from(["lodestar-local", "--zeros", "4"]).is_err());
        let args = Args::try_parse_from(["lodestar-local", "-o", "100", "--zeros", "5"]).unwrap();
        assert_eq!((args.zeros, args.port_offset), (5, 100));
    }

    #[test]
    fn groups_make_alphas_and_contradictions_are_refused() {
        assert_eq!(alpha_count(None, None, 1).unwrap(), 1);
        assert_eq!(alpha_count(Some(3), None, 3).unwrap(), 3);
        assert_eq!(alpha_count(None, Some(2), 3).unwrap(), 6);
        assert_eq!(alpha_count(Some(6), Some(2), 3).unwrap(), 6);
        let e = alpha_count(Some(4), Some(2), 3).unwrap_err().to_string();
        assert!(e.contains("--alphas 4 does not make --groups 2"), "{e}");
        let e = alpha_count(None, Some(5), 3).unwrap_err().to_string();
        assert!(e.contains("at most 9"), "{e}");
        let args =
            Args::try_parse_from(["lodestar-local", "--groups", "2", "--replicas", "3"]).unwrap();
        assert_eq!(
            (args.groups, args.alphas, args.replicas),
            (Some(2), None, 3)
        );
    }

    #[test]
    fn the_shape_round_trips_and_a_different_one_is_refused() {
        let dir = tempfile_dir();
        let path = dir.join(SHAPE_FILE);
        let shape = Shape {
            zeros: 3,
            alphas: 3,
            replicas: 3,
            port_offset: 10,
        };
        check_shape(&path, shape).unwrap();
        assert_eq!(
            Shape::parse(&std::fs::read_to_string(&path).unwrap()),
            Some(shape)
        );
        check_shape(&path, shape).unwrap();
        let err = check_shape(
            &path,
            Shape {
                zeros: 3,
                alphas: 1,
                replicas: 1,
                port_offset: 10,
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("--zeros 3 --alphas 3 --replicas 3 --port_offset 10"),
            "{err}"
        );
        // A directory recorded before alphas and replicas were ran one of each.
        assert_eq!(
            Shape::parse("zeros=1\nport_offset=0\n"),
            Some(Shape {
                zeros: 1,
                alphas: 1,
                replicas: 1,
                port_offset: 0
            })
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_ports_are_the_defaults_shifted() {
        let ports = planned_ports(Shape {
            zeros: 3,
            alphas: 3,
            replicas: 3,
            port_offset: 0,
        })
        .unwrap();
        let find = |name: &str, what: &str| {
            ports
                .iter()
                .find(|(n, w, _)| n == name && *w == what)
                .map(|p| p.2)
        };
        assert_eq!(find("zero1", "gRPC"), Some(5080));
        assert_eq!(find("zero3", "HTTP"), Some(6082));
        assert_eq!(find("alpha", "internal gRPC"), Some(7080));
        assert_eq!(find("alpha3", "gRPC"), Some(9082));
        assert_eq!(find("alpha2", "HTTP"), Some(8082));
        assert_eq!(find("backup-worker", "gRPC"), Some(7090));
        assert_eq!(find("gateway", "HTTP"), Some(8080));
        assert_eq!(find("gateway", "gRPC"), None);
        assert_eq!(ports.len(), 3 * 2 + 3 * 3 + 2 + 2 + 1);
        let all: std::collections::BTreeSet<u16> = ports.iter().map(|p| p.2).collect();
        assert_eq!(
            all.len(),
            ports.len(),
            "no two listeners share a port: {ports:?}"
        );
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lodestar-local-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
