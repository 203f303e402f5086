//! A cluster of real service processes: zeros, and optionally an alpha, auth, a backup worker
//! and the gateway, each started from its built binary and waited on until healthy.

use crate::ports::{Ports, ProcPorts};
use crate::process::{Proc, Stopped};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many times a process is started on new free ports after "address in use".
const PORT_ATTEMPTS: usize = 5;

/// The services a cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Zero,
    Alpha,
    Auth,
    BackupWorker,
    Gateway,
}

impl Service {
    /// The binary's file name.
    pub fn binary(self) -> &'static str {
        match self {
            Service::Zero => "zero",
            Service::Alpha => "alpha",
            Service::Auth => "auth",
            Service::BackupWorker => "backup-worker",
            Service::Gateway => "gateway",
        }
    }

    /// Whether it listens on a gRPC port (all but the gateway).
    pub fn has_grpc(self) -> bool {
        self != Service::Gateway
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.binary())
    }
}

/// How a cluster's processes authenticate the calls they make to each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterSecret {
    /// Every process gets `--cluster_secret_file <dir>/cluster_secret`, written (mode 600) when
    /// the directory has none; this process installs the same credential, so its clients reach
    /// the internal services. The default.
    InDir,
    /// No credential: the internal ports take calls from anyone (ACL cannot be turned on).
    Off,
}

/// The file name of the cluster secret in a cluster directory.
pub const CLUSTER_SECRET_FILE: &str = "cluster_secret";

/// Builds and starts a [`Cluster`]. By default: one zero, free ports, everything bound to
/// 127.0.0.1, a fresh temporary directory with a cluster secret, binaries from
/// [`crate::bin_dir`].
#[derive(Clone, Debug)]
pub struct ClusterBuilder {
    zeros: usize,
    alphas: usize,
    /// Where alpha `n` runs, when not beside the others (index `n - 1`).
    alpha_hosts: BTreeMap<usize, Host>,
    /// Alphas were asked for: start them even without the other services.
    with_alphas: bool,
    services: bool,
    args: BTreeMap<Service, Vec<String>>,
    env: BTreeMap<Service, Vec<(String, String)>>,
    dir: Option<PathBuf>,
    log_dir: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    /// The one binary every service runs as a subcommand of, when not their own binaries.
    one_binary: Option<PathBuf>,
    ports: Ports,
    bind: IpAddr,
    health_timeout: Duration,
    shutdown_grace: Duration,
    quiet: bool,
    cluster_secret: ClusterSecret,
    acl_secret: Option<PathBuf>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            zeros: 1,
            services: false,
            args: BTreeMap::new(),
            env: BTreeMap::new(),
            dir: None,
            log_dir: None,
            bin_dir: None,
            one_binary: None,
            alphas: 1,
            alpha_hosts: BTreeMap::new(),
            with_alphas: false,
            ports: Ports::Free,
            bind: IpAddr::from([127, 0, 0, 1]),
            health_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::ZERO,
            quiet: false,
            cluster_secret: ClusterSecret::InDir,
            acl_secret: None,
        }
    }
}

impl ClusterBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many zeros (default 1). Zero 1 bootstraps the cluster; the others join it.
    pub fn zeros(mut self, n: usize) -> Self {
        self.zeros = n;
        self
    }

    /// Also start the alphas, auth, a backup worker and the gateway (default false).
    pub fn services(mut self, yes: bool) -> Self {
        self.services = yes;
        self
    }

    /// How many alphas to start (default 1, with [`ClusterBuilder::services`]; asked for
    /// alone, the alphas start without the other services). Alpha 1 keeps its data in `p`
    /// and `w`, alpha `n` in `p<n>` and `w<n>`.
    pub fn alphas(mut self, n: usize) -> Self {
        self.alphas = n;
        self.with_alphas = true;
        self
    }

    /// Runs alpha `n` (1-based) on a host of its own: under `host.wrapper` (`ip netns exec
    /// <ns>`), bound to and reached at `host.ip`. The other processes should then bind an
    /// address the host reaches ([`ClusterBuilder::bind`]).
    pub fn alpha_host(mut self, n: usize, host: Host) -> Self {
        self.alpha_hosts.insert(n, host);
        self
    }

    /// `--replicas n` for every zero: alphas per group.
    pub fn replicas(self, n: usize) -> Self {
        self.zero_arg("--replicas", n.to_string())
    }

    /// Adds `flag value` to the command line of every process of `service`.
    pub fn arg(
        mut self,
        service: Service,
        flag: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        let args = self.args.entry(service).or_default();
        args.push(flag.into());
        args.push(value.into());
        self
    }

    /// TLS on the alphas' client port: `server` is the alphas' `--tls` superflag, `client`
    /// the `--alpha_tls` of auth, the backup worker and the gateway (which dial that port).
    pub fn alpha_tls(self, server: impl Into<String>, client: impl Into<String>) -> Self {
        let client = client.into();
        self.arg(Service::Alpha, "--tls", server)
            .arg(Service::Auth, "--alpha_tls", client.clone())
            .arg(Service::BackupWorker, "--alpha_tls", client.clone())
            .arg(Service::Gateway, "--alpha_tls", client)
    }

    /// Adds a flag without a value to the command line of every process of `service`.
    pub fn flag(mut self, service: Service, flag: impl Into<String>) -> Self {
        self.args.entry(service).or_default().push(flag.into());
        self
    }

    /// Sets an environment variable for every process of `service`.
    pub fn env(
        mut self,
        service: Service,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.env
            .entry(service)
            .or_default()
            .push((key.into(), value.into()));
        self
    }

    /// `arg(Service::Zero, flag, value)`.
    pub fn zero_arg(self, flag: impl Into<String>, value: impl Into<String>) -> Self {
        self.arg(Service::Zero, flag, value)
    }

    /// `flag(Service::Zero, flag)`.
    pub fn zero_flag(self, flag: impl Into<String>) -> Self {
        self.flag(Service::Zero, flag)
    }

    /// `env(Service::Zero, key, value)`.
    pub fn zero_env(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env(Service::Zero, key, value)
    }

    /// Runs the cluster in `dir` (created if missing, reused if present, never deleted) instead
    /// of a fresh temporary directory.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Writes `<name>.log` files to `dir` instead of the cluster directory.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Takes the binaries from `dir` instead of [`crate::bin_dir`].
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// Runs every service as `<path> <service> <flags>` (the `lodestar` command, which serves
    /// every role) instead of from its own binary in the binary directory.
    pub fn one_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.one_binary = Some(path.into());
        self
    }

    /// How ports are chosen (default [`Ports::Free`]).
    pub fn ports(mut self, ports: Ports) -> Self {
        self.ports = ports;
        self
    }

    /// The address every process binds (`--bindall_addr`, default 127.0.0.1).
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// How long each process may take to become healthy (default 60 s).
    pub fn health_timeout(mut self, timeout: Duration) -> Self {
        self.health_timeout = timeout;
        self
    }

    /// When a start fails, how long the processes already running get to exit after SIGTERM
    /// before SIGKILL (default zero: SIGKILL at once).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How the processes authenticate their internal calls (default [`ClusterSecret::InDir`]).
    pub fn cluster_secret(mut self, secret: ClusterSecret) -> Self {
        self.cluster_secret = secret;
        self
    }

    /// Turns ACL on: `--acl_secret_file path` for every service that checks tokens (the
    /// alpha, auth, the backup worker and the gateway).
    pub fn acl_secret_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.acl_secret = Some(path.into());
        self
    }

    /// Do not print progress to stderr.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Starts the zeros one after the other (zero 1 first), then the alpha, auth, the backup
    /// worker and the gateway if asked, each waited on until `GET /health` answers 200.
    pub async fn start(self) -> anyhow::Result<Cluster> {
        self.start_until(std::future::pending()).await
    }

    /// [`ClusterBuilder::start`], abandoned when `cancel` completes first (the local launcher
    /// passes its Ctrl-C signal). On failure or cancellation every process already started is
    /// stopped and the cluster directory is kept for inspection; the error names its path.
    pub async fn start_until(self, cancel: impl Future<Output = ()>) -> anyhow::Result<Cluster> {
        anyhow::ensure!(self.zeros >= 1, "a cluster needs at least one zero");
        let mut cluster = Cluster::prepare(self)?;
        let result = tokio::select! {
            result = cluster.start_procs() => result,
            () = cancel => Err(anyhow::anyhow!("start-up interrupted")),
        };
        match result {
            Ok(()) => Ok(cluster),
            Err(e) => {
                let grace = cluster.config.shutdown_grace;
                for (name, stopped) in cluster.stop_all(grace).await {
                    if let Err(err) = stopped {
                        eprintln!("lodestar: stopping {name}: {err:#}");
                    }
                }
                if cluster.temp.is_none() {
                    return Err(e);
                }
                let dir = cluster.keep_dir();
                Err(e.context(format!(
                    "the cluster did not start; its directory is kept at {}",
                    dir.display()
                )))
            }
        }
    }
}

/// `LODESTAR_TEST_REPLICAS`, when set to more than 1: the group size the tests' clusters get
/// unless they ask for one.
pub fn test_replicas() -> Option<usize> {
    std::env::var("LODESTAR_TEST_REPLICAS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 1)
}

/// `LODESTAR_TEST_GROUPS`, when set to more than 1: how many groups the tests' clusters get
/// unless they ask for a shape (each of `LODESTAR_TEST_REPLICAS` alphas, or one).
pub fn test_groups() -> Option<usize> {
    std::env::var("LODESTAR_TEST_GROUPS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 1)
}

/// `LODESTAR_TEST_ENCRYPTION=1`: the tests' clusters are encrypted at rest (zero and alphas).
pub fn test_encryption() -> bool {
    std::env::var("LODESTAR_TEST_ENCRYPTION").is_ok_and(|v| v.trim() == "1")
}

/// The file in a cluster directory holding the key of [`test_encryption`] clusters.
pub const ENCRYPTION_KEY_FILE: &str = "enc_key_file";

/// The key of this process's [`test_encryption`] clusters: one random key for all of them, so
/// a backup one test cluster makes restores into another (as one operator's clusters sharing
/// a backup key would); the encryption tests give clusters keys of their own.
pub fn test_encryption_key() -> [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *KEY.get_or_init(rand::random)
}

/// The cluster's encryption key file in `dir` (the process's [`test_encryption_key`],
/// owner-only), made when missing.
pub fn ensure_encryption_key(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(ENCRYPTION_KEY_FILE);
    if !path.exists() {
        write_new_private(&path, &test_encryption_key())?;
    }
    Ok(path)
}

/// Creates `path` (which must not exist) with `bytes`, readable by its owner only.
fn write_new_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// How many groups the clusters of tests that ask for no shape have (see [`test_groups`]).
pub fn default_groups() -> usize {
    test_groups().unwrap_or(1)
}

/// A host of its own for one process (a network namespace, say): the command it runs under
/// and the address it binds and is reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub wrapper: Vec<String>,
    pub ip: IpAddr,
}

/// A running cluster. Dropping it SIGKILLs every process still running and deletes its
/// temporary directory, except when the thread is panicking (or `LODESTAR_KEEP_CLUSTER=1`): then
/// the directory is kept, its path printed with the last lines of every log.
#[derive(Debug)]
pub struct Cluster {
    pub zeros: Vec<Proc>,
    /// The alphas, alpha 1 first.
    pub alphas: Vec<Proc>,
    pub auth: Option<Proc>,
    pub backup: Option<Proc>,
    pub gateway: Option<Proc>,
    config: ClusterBuilder,
    dir: PathBuf,
    log_dir: PathBuf,
    bin_dir: PathBuf,
    host: String,
    temp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Creates the directories and checks the binaries; starts nothing.
    fn prepare(config: ClusterBuilder) -> anyhow::Result<Cluster> {
        let (dir, temp) = match &config.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let dir = dir
                    .canonicalize()
                    .with_context(|| format!("cannot resolve {}", dir.display()))?;
                (dir, None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("lodestar-cluster-")
                    .tempdir()
                    .context("cannot create a temporary directory for the cluster")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let mut config = config;
        // The acceptance tests run again against replicated groups with
        // LODESTAR_TEST_REPLICAS=3 (and several groups with LODESTAR_TEST_GROUPS): every
        // cluster that did not ask for a shape gets that many alphas in each group.
        if (test_replicas().is_some() || test_groups().is_some())
            && !config.with_alphas
            && config.alpha_hosts.is_empty()
        {
            let replicas = test_replicas().unwrap_or(1);
            config.alphas = replicas * test_groups().unwrap_or(1);
            config = config.replicas(replicas);
        }
        if config.cluster_secret == ClusterSecret::InDir {
            let secret = ensure_cluster_secret(&dir)?;
            for service in ALL_SERVICES {
                let args = config.args.entry(service).or_default();
                args.push("--cluster_secret_file".into());
                args.push(secret.display().to_string());
            }
        }
        // The acceptance tests run again on clusters encrypted at rest with
        // LODESTAR_TEST_ENCRYPTION=1: zero, the alphas and the backup worker (whose backups of
        // an encrypted cluster must be encrypted) get a key kept in the cluster directory,
        // unless the test gives its own.
        if test_encryption() {
            let key = ensure_encryption_key(&dir)?;
            for service in [Service::Zero, Service::Alpha, Service::BackupWorker] {
                let args = config.args.entry(service).or_default();
                if !args.iter().any(|a| a == "--encryption_key_file") {
                    args.push("--encryption_key_file".into());
                    args.push(key.display().to_string());
                }
            }
        }
        // Tablets move on their own only in a test that asks for it.
        let zero_args = config.args.entry(Service::Zero).or_default();
        if !zero_args.iter().any(|a| a == "--rebalance_interval") {
            zero_args.extend(["--rebalance_interval".into(), "0s".into()]);
        }
        if let Some(acl) = config.acl_secret.clone() {
            for service in [
                Service::Alpha,
                Service::Auth,
                Service::BackupWorker,
                Service::Gateway,
            ] {
                let args = config.args.entry(service).or_default();
                args.push("--acl_secret_file".into());
                args.push(acl.display().to_string());
            }
        }
        let log_dir = config.log_dir.clone().unwrap_or_else(|| dir.clone());
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("cannot create {}", log_dir.display()))?;
        let bin_dir = config.bin_dir.clone().unwrap_or_else(crate::bin_dir);
        let services: &[Service] = if config.services {
            &[
                Service::Zero,
                Service::Alpha,
                Service::Auth,
                Service::BackupWorker,
                Service::Gateway,
            ]
        } else if config.with_alphas {
            &[Service::Zero, Service::Alpha]
        } else {
            &[Service::Zero]
        };
        match &config.one_binary {
            Some(path) => anyhow::ensure!(
                path.is_file(),
                "the binary every service runs as is missing: {} does not exist; run `cargo build --workspace` first",
                path.display()
            ),
            None => {
                for service in services {
                    crate::bin_path_in(&bin_dir, service.binary())?;
                }
            }
        }
        let host = connect_host(config.bind);
        Ok(Cluster {
            zeros: Vec::new(),
            alphas: Vec::new(),
            auth: None,
            backup: None,
            gateway: None,
            config,
            dir,
            log_dir,
            bin_dir,
            host,
            temp,
        })
    }

    async fn start_procs(&mut self) -> anyhow::Result<()> {
        for _ in 0..self.config.zeros {
            self.add_zero().await?;
        }
        if self.config.with_alphas && !self.config.services {
            return self.start_alphas(self.config.alphas).await;
        }
        if !self.config.services {
            return Ok(());
        }
        let bind = self.config.bind.to_string();
        let zeros = self.zero_addrs_flag();
        let dir = self.dir.clone();

        self.start_alphas(self.config.alphas.max(1)).await?;
        // The other services reach every alpha, so losing one costs them nothing.
        let alpha_addr = self
            .alphas
            .iter()
            .map(Proc::grpc_addr)
            .collect::<Vec<_>>()
            .join(",");

        let auth = self
            .launch(Service::Auth, 0, None, |p| {
                auth_args(p, &bind, &zeros, &alpha_addr)
            })
            .await?;
        let auth_addr = auth.grpc_addr();
        self.auth = Some(auth);

        let backup = self
            .launch(Service::BackupWorker, 0, Some(dir.join("bw")), |p| {
                backup_args(p, &bind, &dir, &zeros, &alpha_addr)
            })
            .await?;
        let backup_addr = backup.grpc_addr();
        self.backup = Some(backup);

        let gateway = self
            .launch(Service::Gateway, 0, None, |p| {
                gateway_args(p, &bind, &zeros, &alpha_addr, &auth_addr, &backup_addr)
            })
            .await?;
        self.gateway = Some(gateway);
        Ok(())
    }

    /// Starts one more alpha (alpha `n` = number of alphas + 1, data in `p<n>` and `w<n>`; alpha
    /// 1 in `p` and `w`) and waits until it is healthy: until its group has a leader and it
    /// has caught up with it.
    pub async fn add_alpha(&mut self) -> anyhow::Result<&mut Proc> {
        self.add_alpha_with(&[]).await
    }

    /// [`Cluster::add_alpha`] with `extra` flags for this alpha only (`--learner`, say).
    pub async fn add_alpha_with(&mut self, extra: &[&str]) -> anyhow::Result<&mut Proc> {
        let n = self.alphas.len() + 1;
        let (data, placed, make_args) = self.alpha_plan(n, extra);
        let alpha = self
            .launch_on(Service::Alpha, n, Some(data), placed.as_ref(), make_args)
            .await?;
        self.alphas.push(alpha);
        Ok(self.alphas.last_mut().expect("just added"))
    }

    /// Alpha `n`'s data directory, host and command line.
    fn alpha_plan(
        &self,
        n: usize,
        extra: &[&str],
    ) -> (
        PathBuf,
        Option<Host>,
        impl Fn(ProcPorts) -> Vec<String> + use<>,
    ) {
        let suffix = if n == 1 { String::new() } else { n.to_string() };
        let placed = self.config.alpha_hosts.get(&n).cloned();
        let (bind, host) = match &placed {
            Some(h) => (h.ip.to_string(), connect_host(h.ip)),
            None => (self.config.bind.to_string(), self.host.clone()),
        };
        let zeros = self.zero_addrs_flag();
        let dir = self.dir.clone();
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let data = dir.join(format!("p{suffix}"));
        let make_args = move |p: ProcPorts| {
            let mut args = alpha_args(p, &host, &bind, &dir, &zeros, &suffix);
            args.extend(extra.iter().cloned());
            args
        };
        (data, placed, make_args)
    }

    /// Stops every alpha (SIGTERM), starts them all again at once and waits until each is
    /// healthy: a whole group restarted, as after a power cut.
    pub async fn restart_alphas(&mut self) -> anyhow::Result<()> {
        for a in &mut self.alphas {
            a.stop().await?;
        }
        for a in &mut self.alphas {
            a.start()?;
        }
        for a in &mut self.alphas {
            a.wait_healthy(self.config.health_timeout).await?;
        }
        Ok(())
    }

    /// Starts alphas 1 to `count` at once, then waits for each. A group forms, or finds its
    /// majority again after a restart, only with its members up together: started one after
    /// the other, the first of a restarted group would wait for the others forever.
    async fn start_alphas(&mut self, count: usize) -> anyhow::Result<()> {
        if count <= 1 {
            // Alone it needs nobody: started the usual way, it gets new ports should another
            // process take one of its free ports first.
            return self.add_alpha().await.map(|_| ());
        }
        let mut procs = Vec::new();
        for n in 1..=count {
            let (data, placed, make_args) = self.alpha_plan(n, &[]);
            let data_is_new = !data.exists();
            let mut proc =
                self.new_proc(Service::Alpha, n, Some(data), placed.as_ref(), &make_args)?;
            proc.start()?;
            procs.push((n, data_is_new, proc));
        }
        let started = Instant::now();
        for (n, data_is_new, mut proc) in procs {
            // An alpha that lost one of its free ports to another process before it bound it
            // starts again on new ones (the others wait for it to join), as a lone one does.
            let mut attempt = 1;
            let waited = loop {
                match proc.wait_healthy(self.config.health_timeout).await {
                    Ok(()) => break Ok(()),
                    Err(e) => {
                        if !(self.config.ports.is_free()
                            && proc.failed_on_port_in_use()
                            && attempt < PORT_ATTEMPTS)
                        {
                            break Err(e);
                        }
                        proc.kill9();
                        if !self.config.quiet {
                            eprintln!(
                                "lodestar: {} lost a port to another process; retrying on new ports",
                                proc.name
                            );
                        }
                        let (data, placed, make_args) = self.alpha_plan(n, &[]);
                        if data_is_new {
                            let _ = std::fs::remove_dir_all(&data);
                        }
                        proc = self.new_proc(
                            Service::Alpha,
                            n,
                            Some(data),
                            placed.as_ref(),
                            &make_args,
                        )?;
                        proc.start()?;
                        attempt += 1;
                    }
                }
            };
            if let Err(e) = waited {
                self.alphas.push(proc);
                return Err(e);
            }
            if !self.config.quiet {
                eprintln!(
                    "lodestar: {} is healthy in {:.1} s ({})",
                    proc.name,
                    started.elapsed().as_secs_f64(),
                    describe_ports(&proc)
                );
            }
            self.alphas.push(proc);
        }
        Ok(())
    }

    /// Starts one more zero (`--idx` = number of zeros + 1) that joins zero 1, and waits until it
    /// is healthy. Zero 1 itself is started this way, without `--peer`.
    pub async fn add_zero(&mut self) -> anyhow::Result<&mut Proc> {
        let idx = self.zeros.len() + 1;
        let peer = self.zeros.first().map(Proc::grpc_addr);
        let bind = self.config.bind.to_string();
        let dir = self.dir.clone();
        let host = self.host.clone();
        let zero = self
            .launch(
                Service::Zero,
                idx,
                Some(dir.join(format!("zero{idx}"))),
                |p| zero_args(idx, p, &host, &bind, &dir, peer.as_deref()),
            )
            .await?;
        self.zeros.push(zero);
        Ok(self.zeros.last_mut().expect("just pushed"))
    }

    /// Starts one process and waits until it is healthy. With free ports, a start that fails
    /// because a port was taken in the meantime is retried on new ports.
    async fn launch(
        &self,
        service: Service,
        idx: usize,
        data_dir: Option<PathBuf>,
        make_args: impl Fn(ProcPorts) -> Vec<String>,
    ) -> anyhow::Result<Proc> {
        self.launch_on(service, idx, data_dir, None, make_args)
            .await
    }

    /// A process of `service` (number `idx`) on fresh ports, not started.
    fn new_proc(
        &self,
        service: Service,
        idx: usize,
        data_dir: Option<PathBuf>,
        host: Option<&Host>,
        make_args: &impl Fn(ProcPorts) -> Vec<String>,
    ) -> anyhow::Result<Proc> {
        let name = match service {
            Service::Zero => format!("zero{idx}"),
            Service::Alpha if idx > 1 => format!("alpha{idx}"),
            other => other.binary().to_string(),
        };
        let (bin, mut args) = match &self.config.one_binary {
            Some(path) => (path.clone(), vec![service.binary().to_string()]),
            None => (
                crate::bin_path_in(&self.bin_dir, service.binary())?,
                Vec::new(),
            ),
        };
        let ports = self.config.ports.plan(service, idx)?;
        args.extend(make_args(ports));
        args.extend(
            self.config
                .args
                .get(&service)
                .into_iter()
                .flatten()
                .cloned(),
        );
        let mut proc = Proc::new(
            name.clone(),
            service,
            self.host.clone(),
            ports,
            bin,
            args,
            self.dir.clone(),
            self.log_dir.join(format!("{name}.log")),
        );
        proc.data_dir = data_dir;
        if let Some(h) = host {
            proc.host = connect_host(h.ip);
            proc.wrapper = h.wrapper.clone();
        }
        proc.env = self.config.env.get(&service).cloned().unwrap_or_default();
        Ok(proc)
    }

    /// [`Cluster::launch`] on `host` (beside the others when `None`).
    async fn launch_on(
        &self,
        service: Service,
        idx: usize,
        data_dir: Option<PathBuf>,
        host: Option<&Host>,
        make_args: impl Fn(ProcPorts) -> Vec<String>,
    ) -> anyhow::Result<Proc> {
        let data_is_new = data_dir.as_deref().is_some_and(|d| !d.exists());
        let mut attempt = 1;
        loop {
            let mut proc = self.new_proc(service, idx, data_dir.clone(), host, &make_args)?;
            let name = proc.name.clone();
            let started = Instant::now();
            proc.start()?;
            match proc.wait_healthy(self.config.health_timeout).await {
                Ok(()) => {
                    if !self.config.quiet {
                        eprintln!(
                            "lodestar: {name} is healthy in {:.1} s ({})",
                            started.elapsed().as_secs_f64(),
                            describe_ports(&proc)
                        );
                    }
                    return Ok(proc);
                }
                Err(e) => {
                    proc.kill9();
                    if !(self.config.ports.is_free()
                        && proc.failed_on_port_in_use()
                        && attempt < PORT_ATTEMPTS)
                    {
                        return Err(e);
                    }
                    if !self.config.quiet {
                        eprintln!(
                            "lodestar: {name} lost a port to another process; retrying on new ports"
                        );
                    }
                    // A data directory made by the failed run may record the old address.
                    if let (true, Some(dir)) = (data_is_new, &data_dir) {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// The directory holding the cluster's data (and, by default, its logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory holding the `<name>.log` files.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Keeps the cluster directory after the cluster is dropped, returning its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let Some(temp) = self.temp.take() {
            let _ = temp.keep();
        }
        self.dir.clone()
    }

    /// The gRPC addresses (`127.0.0.1:port`) of the zeros, zero 1 first.
    pub fn zero_grpc_addrs(&self) -> Vec<String> {
        self.zeros.iter().map(Proc::grpc_addr).collect()
    }

    /// The zeros' gRPC addresses as one comma-separated `--zero` value.
    pub fn zero_addrs_flag(&self) -> String {
        self.zero_grpc_addrs().join(",")
    }

    /// The HTTP base URL (`http://127.0.0.1:port`) of `zeros[i]`; `i` is 0-based, so zero 1 is
    /// `zero_http(0)`.
    pub fn zero_http(&self, i: usize) -> String {
        self.zeros
            .get(i)
            .unwrap_or_else(|| panic!("the cluster has {} zeros, not {}", self.zeros.len(), i + 1))
            .http_url()
    }

    /// The gateway's HTTP base URL. Panics when the cluster was built without services.
    pub fn gateway_http(&self) -> String {
        self.gateway
            .as_ref()
            .expect("no gateway: build the cluster with .services(true)")
            .http_url()
    }

    /// Alpha 1's public gRPC address. Panics when the cluster was built without services.
    pub fn alpha_grpc(&self) -> String {
        self.alpha().grpc_addr()
    }

    /// Alpha 1. Panics when the cluster was built without services.
    pub fn alpha(&self) -> &Proc {
        self.alphas
            .first()
            .expect("no alpha: build the cluster with .services(true)")
    }

    /// Alpha 1, mutably. Panics when the cluster was built without services.
    pub fn alpha_mut(&mut self) -> &mut Proc {
        self.alphas
            .first_mut()
            .expect("no alpha: build the cluster with .services(true)")
    }

    /// Every process, in start order: zeros, alphas, auth, backup worker, gateway.
    pub fn procs(&self) -> impl Iterator<Item = &Proc> {
        self.zeros
            .iter()
            .chain(self.alphas.iter())
            .chain(self.auth.iter())
            .chain(self.backup.iter())
            .chain(self.gateway.iter())
    }

    /// Every process, mutably, in start order.
    pub fn procs_mut(&mut self) -> impl Iterator<Item = &mut Proc> {
        self.zeros
            .iter_mut()
            .chain(self.alphas.iter_mut())
            .chain(self.auth.iter_mut())
            .chain(self.backup.iter_mut())
            .chain(self.gateway.iter_mut())
    }

    /// The process called `name` (`zero2`, `alpha`, `backup-worker`…).
    pub fn proc_mut(&mut self, name: &str) -> Option<&mut Proc> {
        self.procs_mut().find(|p| p.name == name)
    }

    /// Sends SIGTERM to every running process at once, waits up to `grace` in all, and SIGKILLs
    /// the stragglers. Returns each process's outcome, an error for those killed. A zero `grace`
    /// SIGKILLs at once.
    pub async fn stop_all(&mut self, grace: Duration) -> Vec<(String, anyhow::Result<Stopped>)> {
        let mut running: Vec<&mut Proc> = self
            .procs_mut()
            .filter_map(|p| p.is_running().then_some(p))
            .collect();
        let mut outcomes = Vec::new();
        if grace.is_zero() {
            for p in running {
                p.kill9();
                outcomes.push((
                    p.name.clone(),
                    Err(anyhow::anyhow!("{} was killed", p.name)),
                ));
            }
            return outcomes;
        }
        let since = Instant::now();
        for p in running.iter_mut() {
            if let Err(e) = p.sigterm() {
                eprintln!("lodestar: {e:#}");
            }
        }
        // Poll them all, so each exit time is measured when it happens.
        let mut pending: Vec<(usize, &mut Proc)> = running.into_iter().enumerate().collect();
        let mut done: Vec<(usize, String, anyhow::Result<Stopped>)> = Vec::new();
        loop {
            pending.retain_mut(|(i, p)| match p.reap() {
                Some(status) => {
                    let took = since.elapsed();
                    done.push((*i, p.name.clone(), Ok(Stopped { took, status })));
                    false
                }
                None => p.pid().is_some(),
            });
            if pending.is_empty() {
                break;
            }
            if since.elapsed() >= grace {
                for (i, p) in pending {
                    let killed = p.kill_straggler(grace);
                    done.push((i, p.name.clone(), Err(killed)));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        done.sort_by_key(|(i, _, _)| *i);
        outcomes.extend(done.into_iter().map(|(_, name, outcome)| (name, outcome)));
        outcomes
    }

    /// SIGKILLs every running process.
    pub fn kill_all(&mut self) {
        for p in self.procs_mut() {
            p.kill9();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
        let panicking = std::thread::panicking();
        let keep = std::env::var("LODESTAR_KEEP_CLUSTER").is_ok_and(|v| !v.is_empty() && v != "0");
        if !(panicking || keep) || self.config.dir.is_some() {
            return;
        }
        let dir = self.keep_dir();
        eprintln!(
            "lodestar: the cluster directory is kept at {}",
            dir.display()
        );
        if panicking {
            for p in self.procs() {
                eprintln!(
                    "---- last lines of {} ({}):\n{}",
                    p.name,
                    p.log_path.display(),
                    p.log_tail(30)
                );
            }
        }
    }
}

const ALL_SERVICES: [Service; 5] = [
    Service::Zero,
    Service::Alpha,
    Service::Auth,
    Service::BackupWorker,
    Service::Gateway,
];

/// The cluster secret in `dir`, written (mode 600) from this process's own secret when the
/// directory has none; this process takes on its credential, so that the clients it makes
/// (tests, the launcher's checks) reach the cluster's internal services.
pub fn ensure_cluster_secret(dir: &Path) -> anyhow::Result<PathBuf> {
    static PROCESS_SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let path = dir.join(CLUSTER_SECRET_FILE);
    if !path.exists() {
        let secret = PROCESS_SECRET.get_or_init(|| {
            rand::random::<[u8; 32]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        });
        write_new_private(&path, secret.as_bytes())?;
    }
    let token = lodestar_runtime::cluster::read_secret_file(&path)?;
    lodestar_runtime::cluster::install(token).with_context(|| {
        format!(
            "{} holds another secret than the clusters this process already runs",
            path.display()
        )
    })?;
    Ok(path)
}

/// The host to reach a process bound to `bind` at.
fn connect_host(bind: IpAddr) -> String {
    match bind {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    }
}

fn describe_ports(p: &Proc) -> String {
    let mut parts = Vec::new();
    if let Some(port) = p.grpc_port {
        parts.push(format!("gRPC {port}"));
    }
    if let Some(port) = p.internal_port {
        parts.push(format!("internal {port}"));
    }
    parts.push(format!("HTTP {}", p.http_port));
    parts.join(", ")
}

fn common_args(p: ProcPorts, bind: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(grpc) = p.grpc {
        args.extend(["--grpc_port".to_string(), grpc.to_string()]);
    }
    args.extend([
        "--http_port".to_string(),
        p.http.to_string(),
        "--bindall_addr".to_string(),
        bind.to_string(),
    ]);
    args
}

fn path_arg(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// `zero --idx N --my host:grpc --wal <dir>/zeroN <ports> [--peer zero1]`.
fn zero_args(
    idx: usize,
    p: ProcPorts,
    host: &str,
    bind: &str,
    dir: &Path,
    peer: Option<&str>,
) -> Vec<String> {
    let grpc = p.grpc.expect("a zero has a gRPC port");
    let mut args = vec![
        "--idx".to_string(),
        idx.to_string(),
        "--my".to_string(),
        format!("{host}:{grpc}"),
        "--wal".to_string(),
        path_arg(dir, &format!("zero{idx}")),
    ];
    args.extend(common_args(p, bind));
    if let Some(peer) = peer {
        args.extend(["--peer".to_string(), peer.to_string()]);
    }
    args
}

/// `alpha --zero .. --my host:internal -p <dir>/p<n> -w <dir>/w<n> <ports> --internal_port ..`.
fn alpha_args(
    p: ProcPorts,
    host: &str,
    bind: &str,
    dir: &Path,
    zeros: &str,
    suffix: &str,
) -> Vec<String> {
    let internal = p.internal.expect("an alpha has an internal port");
    let mut args = vec![
        "--zero".to_string(),
        zeros.to_string(),
        "--my".to_string(),
        format!("{host}:{internal}"),
        "-p".to_string(),
        path_arg(dir, &format!("p{suffix}")),
        "--wal".to_string(),
        path_arg(dir, &format!("w{suffix}")),
        "--internal_port".to_string(),
        internal.to_string(),
    ];
    args.extend(common_args(p, bind));
    args
}

fn auth_args(p: ProcPorts, bind: &str, zeros: &str, alpha: &str) -> Vec<String> {
    let mut args = vec![
        "--zero".to_string(),
        zeros.to_string(),
        "--alpha".to_string(),
        alpha.to_string(),
    ];
    args.extend(common_args(p, bind));
    args
}

fn backup_args(p: ProcPorts, bind: &str, dir: &Path, zeros: &str, alpha: &str) -> Vec<String> {
    let mut args = vec![
        "--zero".to_string(),
        zeros.to_string(),
        "--alpha".to_string(),
        alpha.to_string(),
        "--data".to_string(),
        path_arg(dir, "bw"),
    ];
    args.extend(common_args(p, bind));
    args
}

fn gateway_args(
    p: ProcPorts,
    bind: &str,
    zeros: &str,
    alpha: &str,
    auth: &str,
    backup: &str,
) -> Vec<String> {
    let mut args = vec![
        "--zero".to_string(),
        zeros.to_string(),
        "--alpha".to_string(),
        alpha.to_string(),
        "--auth".to_string(),
        auth.to_string(),
        "--backup".to_string(),
        backup.to_string(),
    ];
    args.extend(common_args(p, bind));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(grpc: Option<u16>, http: u16, internal: Option<u16>) -> ProcPorts {
        ProcPorts {
            grpc,
            http,
            internal,
        }
    }

    #[test]
    fn zero_one_bootstraps_and_the_others_join_it() {
        let dir = Path::new("/c");
        let first = zero_args(
            1,
            ports(Some(5080), 6080, None),
            "127.0.0.1",
            "127.0.0.1",
            dir,
            None,
        );
        assert_eq!(
            first.join(" "),
            "--idx 1 --my 127.0.0.1:5080 --wal /c/zero1 --grpc_port 5080 --http_port 6080 --bindall_addr 127.0.0.1"
        );
        let second = zero_args(
            2,
            ports(Some(5081), 6081, None),
            "127.0.0.1",
            "127.0.0.1",
            dir,
            Some("127.0.0.1:5080"),
        );
        assert!(second.join(" ").ends_with("--peer 127.0.0.1:5080"));
        assert!(second.join(" ").contains("--wal /c/zero2"));
    }

    #[test]
    fn the_services_are_wired_to_each_other() {
        let dir = Path::new("/c");
        let alpha = alpha_args(
            ports(Some(9080), 8081, Some(7080)),
            "127.0.0.1",
            "0.0.0.0",
            dir,
            "z1,z2",
            "",
        );
        assert_eq!(
            alpha.join(" "),
            "--zero z1,z2 --my 127.0.0.1:7080 -p /c/p --wal /c/w --internal_port 7080 --grpc_port 9080 --http_port 8081 --bindall_addr 0.0.0.0"
        );
        let third = alpha_args(
            ports(Some(9082), 8083, Some(7082)),
            "127.0.0.1",
            "0.0.0.0",
            dir,
            "z1",
            "3",
        );
        assert!(
            third.join(" ").contains("-p /c/p3 --wal /c/w3"),
            "{third:?}"
        );
        let backup = backup_args(
            ports(Some(7090), 7091, None),
            "127.0.0.1",
            dir,
            "z",
            "a:9080",
        );
        assert!(
            backup
                .join(" ")
                .starts_with("--zero z --alpha a:9080 --data /c/bw --grpc_port 7090")
        );
        let gateway = gateway_args(ports(None, 8080, None), "127.0.0.1", "z", "a", "u", "b");
        assert_eq!(
            gateway.join(" "),
            "--zero z --alpha a --auth u --backup b --http_port 8080 --bindall_addr 127.0.0.1"
        );
        assert!(
            !auth_args(ports(Some(7070), 7071, None), "127.0.0.1", "z", "a")
                .contains(&"--data".to_string())
        );
    }

    #[test]
    fn processes_are_reached_on_a_concrete_host() {
        assert_eq!(connect_host("0.0.0.0".parse().unwrap()), "127.0.0.1");
        assert_eq!(connect_host("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(connect_host("::1".parse().unwrap()), "[::1]");
        assert_eq!(connect_host("::".parse().unwrap()), "127.0.0.1");
    }

    #[tokio::test]
    async fn a_missing_binary_fails_before_anything_starts() {
        let err = ClusterBuilder::new()
            .bin_dir("/nonexistent-bin-dir")
            .quiet(true)
            .start()
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("run `cargo build --workspace` first"),
            "{err:#}"
        );
        let err = ClusterBuilder::new()
            .one_binary("/nonexistent-bin-dir/lodestar")
            .quiet(true)
            .start()
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent-bin-dir/lodestar does not exist"),
            "{err:#}"
        );
    }
}
