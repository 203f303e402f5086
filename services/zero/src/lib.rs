//! Zero, the cluster coordinator: a Raft group (openraft, with the log and snapshots in fjall)
//! that owns the cluster id and creation time, the enterprise license and 30-day trial, the
//! timestamp oracle and commit conflict detection, UID and namespace leases, alpha membership,
//! tablets (predicate → group) and the cluster-wide draining flag.
//!
//! Serves `zero.Zero` and the Raft transport on gRPC 5080 and Dgraph's Zero HTTP API on 6080.

pub mod clock;
pub mod http;
pub mod license;
pub mod moves;
pub mod node;
pub mod raft;
pub mod security;
pub mod server;
pub mod state;

use clock::{Clock, SystemClock};
use ed25519_dalek::VerifyingKey;
use lodestar_client::ZeroClient;
use lodestar_proto::zero::zero_server::ZeroServer;
use lodestar_runtime::config::{CommonArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use node::{ZeroConfig, ZeroError, ZeroNode};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest `zero.Zero` request: a commit of the largest transaction an alpha takes (2M
/// conflict keys) fits.
const MAX_ZERO_MESSAGE: usize = 64 << 20;

/// The `zero` command line: run a zero, or manage licenses.
#[derive(Debug, clap::Parser)]
#[command(
    name = "zero",
    version,
    about = "The cluster coordinator",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    #[command(flatten)]
    pub run: Args,
}

#[derive(Debug, clap::Subcommand)]
pub enum CliCommand {
    /// Issue and inspect enterprise licenses.
    #[command(subcommand)]
    License(LicenseCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum LicenseCommand {
    /// Make an Ed25519 key pair for signing licenses (private key written with mode 0600).
    Keygen {
        #[arg(long = "private-key")]
        private_key: PathBuf,
        #[arg(long = "public-key")]
        public_key: PathBuf,
    },
    /// Sign a license. Zero verifies it with the matching --license_public_key.
    Issue {
        /// PEM PKCS#8 Ed25519 private key (from `zero license keygen` or `openssl genpkey -algorithm ed25519`).
        #[arg(long = "private-key")]
        private_key: PathBuf,
        /// Who the license is for.
        #[arg(long)]
        user: String,
        /// How many alphas plus zeros the cluster may have.
        #[arg(long = "max-nodes")]
        max_nodes: u64,
        /// When it expires: RFC 3339 (2027-01-31T00:00:00Z) or a duration from now (365d; -1d for an expired one).
        #[arg(long, allow_hyphen_values = true)]
        expiry: String,
        /// Write the license here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a license file against a public key and print its terms.
    Verify {
        #[arg(long = "public-key")]
        public_key: Option<PathBuf>,
        file: PathBuf,
    },
}

/// Flags for running a zero.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// This zero's Raft id, unique in the cluster and never reused.
    #[arg(long, env = "LODESTAR_ZERO_IDX", default_value_t = 1)]
    pub idx: u64,

    /// The gRPC address other nodes reach this zero at (default localhost:5080 + offset).
    #[arg(long)]
    pub my: Option<String>,

    /// gRPC address of a zero already in the cluster; this zero joins it. Without it, a zero
    /// with an empty --wal starts a new cluster.
    #[arg(long)]
    pub peer: Option<String>,

    /// How many alphas serve each group.
    #[arg(long, default_value_t = 1)]
    pub replicas: u32,

    /// Directory for the Raft log and snapshots.
    #[arg(short = 'w', long = "wal", default_value = "zw")]
    pub wal: PathBuf,

    /// Encryption at rest of --wal (its log and snapshots name every predicate).
    #[command(flatten)]
    pub encryption: lodestar_runtime::config::EncryptionArgs,

    /// A license file to apply when this zero becomes leader (replaces the current one).
    #[arg(long = "enterprise_license")]
    pub enterprise_license: Option<PathBuf>,

    /// PEM Ed25519 public key that licenses must be signed for (default: the built-in key).
    #[arg(long = "license_public_key")]
    pub license_public_key: Option<PathBuf>,

    /// Testing aid: move zero's clock forward, for example `31d`.
    #[arg(long = "clock_offset", hide = true, allow_hyphen_values = true)]
    pub clock_offset: Option<String>,

    /// Raft entries between snapshots (older entries are then purged from the log).
    #[arg(long = "snapshot_after_entries", hide = true, default_value_t = 10_000)]
    pub snapshot_after_entries: u64,

    /// Who may use the admin HTTP endpoints (/assign, /removeNode, /moveTablet,
    /// /enterpriseLicense), as Dgraph's: "token=<secret>; whitelist=<ip or cidr>,...". Without
    /// it they answer loopback callers only; with it /state is guarded too. LODESTAR_SECURITY
    /// keeps the token out of the process list.
    #[arg(long = "security", env = "LODESTAR_SECURITY", value_parser = security::Security::parse)]
    pub security: Option<security::Security>,

    /// How often the leader looks for a tablet to move from the group holding the most data to
    /// the one holding the least (Dgraph's --rebalance_interval); 0s turns it off.
    #[arg(long = "rebalance_interval", default_value = "8m", value_parser = humantime::parse_duration)]
    pub rebalance_interval: Duration,

    /// How often the license expiry is checked.
    #[arg(long = "license_check_interval", hide = true, default_value = "5s", value_parser = humantime::parse_duration)]
    pub license_check_interval: Duration,
}

impl Args {
    fn validate(&self) -> Result<(), ServiceError> {
        if self.idx == 0 {
            return Err(ServiceError::invalid("--idx must be at least 1"));
        }
        if self.replicas == 0 || self.replicas.is_multiple_of(2) {
            return Err(ServiceError::invalid(format!(
                "--replicas must be odd (1, 3, 5...) so each group can elect a leader; got {}",
                self.replicas
            )));
        }
        Ok(())
    }

    /// Zero's clock. The testing offset only moves it forward: a clock set back would keep an
    /// expired license or trial alive.
    fn clock(&self) -> Result<Arc<dyn Clock>, ServiceError> {
        let offset_secs = match &self.clock_offset {
            None => 0,
            Some(text) if text.starts_with('-') => {
                return Err(ServiceError::invalid(format!(
                    "--clock_offset {text:?}: the clock can only be moved forward"
                )));
            }
            Some(text) => humantime::parse_duration(text.trim_start_matches('+'))
                .map_err(|e| ServiceError::invalid(format!("--clock_offset {text:?}: {e}")))?
                .as_secs() as i64,
        };
        Ok(Arc::new(SystemClock { offset_secs }))
    }

    fn license_key(&self) -> Result<VerifyingKey, ServiceError> {
        match &self.license_public_key {
            Some(path) => {
                license::read_public_key(path).map_err(|e| ServiceError::invalid(e.to_string()))
            }
            None => license::public_key_from_pem(license::BUILT_IN_PUBLIC_KEY, "built-in")
                .map_err(|e| ServiceError::internal(e.to_string())),
        }
    }
}

/// Runs a zero until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    let grpc_addr = args.common.grpc_addr(ports::ZERO_GRPC)?;
    let http_addr = args.common.http_addr(ports::ZERO_HTTP)?;
    let grpc = serve::bind(grpc_addr, "zero gRPC").await?;
    let http = serve::bind(http_addr, "zero HTTP").await?;
    let my = args
        .my
        .clone()
        .unwrap_or_else(|| format!("localhost:{}", grpc_addr.port()));
    let clock = args.clock()?;
    let license_key = args.license_key()?;
    let startup_license = match &args.enterprise_license {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| {
                ServiceError::invalid(format!("--enterprise_license {}: {e}", path.display()))
            })?;
            license::verify(&text, &license_key).map_err(|e| {
                ServiceError::invalid(format!("--enterprise_license {}: {e}", path.display()))
            })?;
            Some(text)
        }
        None => None,
    };

    std::fs::create_dir_all(&args.wal).map_err(|e| {
        ServiceError::invalid(format!("cannot create --wal {}: {e}", args.wal.display()))
    })?;
    // Checked before fjall opens (and so writes into) the directory.
    let master_key = args.encryption.master_key().await?;
    let sealer = args
        .encryption
        .open_dir(&args.wal, master_key.as_ref())
        .map_err(|e| ServiceError::new(e.code, format!("--wal: {e}")))?
        .map(lodestar_crypto::sealer::Sealer::new);
    let encrypted_at_rest = sealer.is_some();
    let db = fjall::Database::builder(&args.wal).open().map_err(|e| {
        ServiceError::invalid(format!(
            "cannot open --wal {} (is another zero using it?): {e}",
            args.wal.display()
        ))
    })?;
    let storage_err =
        |e: &dyn std::fmt::Display| ServiceError::internal(format!("zero storage: {e}"));
    let log_store = raft::LogStore::open(&db, sealer.clone()).map_err(|e| storage_err(&e))?;
    let state_machine =
        raft::state_machine::StateMachine::open(&db, sealer).map_err(|e| storage_err(&e))?;
    let applied = state_machine.applied.clone();
    let raft = raft::Raft::new(
        args.idx,
        Arc::new(raft::config(args.snapshot_after_entries.max(10))),
        raft::Network::new(lodestar_raft::ZERO_GROUP, Arc::new(raft::Snapshots)),
        log_store,
        state_machine,
    )
    .await
    .map_err(|e| ServiceError::internal(format!("starting raft: {e}")))?;

    let config = ZeroConfig {
        id: args.idx,
        my_addr: my.clone(),
        replicas: args.replicas,
        license_key,
    };
    let node = ZeroNode::new(config, raft.clone(), applied, clock);
    // Healthy once this zero knows a leader and has the cluster's identity applied.
    let handle = Arc::new(NodeHandle::starting("zero", my.clone()));
    shutdown.spawn(report_ready(node.clone(), handle.clone(), shutdown.clone()));

    shutdown.spawn(bootstrap(node.clone(), args.peer.clone(), shutdown.clone()));
    shutdown.spawn(leader_duties(
        node.clone(),
        startup_license,
        shutdown.clone(),
    ));
    if !args.rebalance_interval.is_zero() {
        shutdown.spawn(moves::rebalance(
            node.clone(),
            args.rebalance_interval,
            shutdown.clone(),
        ));
    }
    shutdown.spawn(watch_license(
        node.clone(),
        encrypted_at_rest,
        args.license_check_interval,
        handle.status.clone(),
        shutdown.clone(),
    ));

    let routes = tonic::service::Routes::new(
        ZeroServer::new(server::ZeroService { node: node.clone() })
            .max_decoding_message_size(MAX_ZERO_MESSAGE),
    )
    .add_service(
        raft::RaftService::new(
            lodestar_raft::ZERO_GROUP,
            args.idx,
            raft.clone(),
            Arc::new(raft::Snapshots),
        )
        .into_server(),
    );
    let client = Arc::new(
        ZeroClient::new([my.as_str()])
            .map_err(|e| ServiceError::invalid(e.message().to_string()))?,
    );

    tracing::info!(idx = args.idx, my = %my, grpc = %grpc_addr, http = %http_addr, wal = %args.wal.display(), "zero serving");
    let served = serve::serve_service(
        grpc,
        routes,
        http,
        http::router(client, Arc::new(args.security.clone().unwrap_or_default())),
        handle.identity.clone(),
        shutdown.clone(),
    )
    .await;
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "raft did not stop cleanly");
    }
    if let Err(e) = db.persist(fjall::PersistMode::SyncAll) {
        tracing::warn!(error = %e, "flushing zero storage");
    }
    served
}

/// Marks the zero ready once it is a voter, knows a leader and has the cluster identity.
async fn report_ready(node: Arc<ZeroNode>, handle: Arc<NodeHandle>, shutdown: Shutdown) {
    while !shutdown.is_triggered() {
        let (has_leader, voter) = {
            let m = node.raft.metrics();
            let m = m.borrow();
            // A voter of a settled configuration: during a joint change (old and new voter
            // sets at once) stopping another zero could still leave the old set without a
            // majority.
            let settled = m.membership_config.membership().get_joint_config().len() == 1;
            let voter = m.membership_config.voter_ids().any(|v| v == node.config.id);
            (m.current_leader.is_some(), voter && settled)
        };
        // A joining zero is ready once it votes: until then the cluster's quorum does not
        // count it, and stopping another zero could leave no majority.
        if has_leader && voter && node.with_state(|a| !a.state.cid.is_empty()) {
            handle.set_ready(true);
            tracing::info!("zero is ready");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a new cluster (no --peer, empty --wal) or joins one through --peer.
async fn bootstrap(node: Arc<ZeroNode>, peer: Option<String>, shutdown: Shutdown) {
    match node.raft.is_initialized().await {
        Ok(true) => return,
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "raft stopped before bootstrap");
            return;
        }
    }
    let id = node.config.id;
    let Some(peer) = peer else {
        let members = std::collections::BTreeMap::from([(
            id,
            openraft::BasicNode::new(node.config.my_addr.clone()),
        )]);
        match node.raft.initialize(members).await {
            Ok(()) => tracing::info!(idx = id, "started a new cluster"),
            Err(e) => tracing::error!(error = %e, "cannot start a new cluster"),
        }
        return;
    };
    let client = match ZeroClient::new([peer.as_str()]) {
        Ok(c) => c.with_deadline(Duration::from_secs(30)),
        Err(e) => {
            tracing::error!(error = %e.message(), "bad --peer");
            return;
        }
    };
    let mut delay = Duration::from_millis(200);
    while !shutdown.is_triggered() {
        let req = lodestar_proto::zero::JoinZeroRequest {
            id,
            addr: node.config.my_addr.clone(),
        };
        let result = client.call(|mut c| {
            let req = req.clone();
            async move { c.join_zero(req).await }
        });
        match result.await {
            Ok(_) => {
                tracing::info!(idx = id, peer = %peer, "joined the cluster");
                return;
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                tracing::error!(error = %status.message(), "the cluster refused this zero");
                return;
            }
            Err(status) => {
                tracing::warn!(error = %status.message(), peer = %peer, "cannot join yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// On becoming leader: record the cluster's identity and trial once, and apply
/// `--enterprise_license` (once per process, replacing any license).
async fn leader_duties(
    node: Arc<ZeroNode>,
    mut startup_license: Option<Vec<u8>>,
    shutdown: Shutdown,
) {
    let mut metrics = node.raft.metrics();
    let mut handled_term = 0;
    loop {
        let term = metrics.borrow_and_update().current_term;
        if node.is_leader() && term != handled_term {
            handled_term = term;
            if node.with_state(|a| a.state.cid.is_empty()) {
                let cmd = state::Command::Init {
                    cid: uuid::Uuid::new_v4().to_string(),
                    now: node.clock.now(),
                };
                match node.propose(cmd).await {
                    Ok(_) => tracing::info!(
                        "new cluster initialized; the 30-day enterprise trial starts now"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot initialize the cluster yet");
                        handled_term = 0;
                    }
                }
            }
            node.clone().resume_moves().await;
            if let Some(text) = startup_license.take() {
                match node.apply_license(&text).await {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot apply --enterprise_license");
                        if matches!(e, node::ZeroError::NotLeader { .. }) {
                            startup_license = Some(text);
                        }
                    }
                }
            }
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Watches the license: warns daily in its last week, says when enterprise features stop, and
/// publishes the enabled features in this node's health info.
async fn watch_license(
    node: Arc<ZeroNode>,
    encrypted_at_rest: bool,
    every: Duration,
    status: tokio::sync::watch::Sender<serve::NodeStatus>,
    shutdown: Shutdown,
) {
    const DAY: i64 = 24 * 3600;
    let mut last_warned_day = None;
    let mut was_enabled = None;
    loop {
        let ee = node.enterprise();
        // Dgraph's names: with a key, encryption at rest and encrypted backups stand in for
        // plain backups.
        let features: Vec<String> = match (ee.enabled, encrypted_at_rest) {
            (false, _) => Vec::new(),
            (true, false) => ["backup_restore", "acl", "multi_tenancy"]
                .map(String::from)
                .to_vec(),
            (true, true) => [
                "encryption_at_rest",
                "encrypted_backup_restore",
                "acl",
                "multi_tenancy",
            ]
            .map(String::from)
            .to_vec(),
        };
        status.send_if_modified(|s| {
            let changed = s.ee_features != features;
            s.ee_features = features.clone();
            changed
        });
        if node.is_leader() {
            if let Some(l) = &ee.license {
                let now = node.clock.now();
                let left = l.expiry_ts - now;
                if ee.enabled && left < 7 * DAY {
                    let day = now / DAY;
                    if last_warned_day != Some(day) {
                        last_warned_day = Some(day);
                        tracing::warn!(
                            expiry_ts = l.expiry_ts,
                            days_left = left / DAY,
                            trial = ee.trial,
                            "the enterprise license expires within a week; apply a new one with POST /enterpriseLicense"
                        );
                    }
                }
                if was_enabled == Some(true) && !ee.enabled {
                    tracing::warn!(reason = %ee.reason, "enterprise features are now disabled; the cluster keeps serving");
                }
            }
            was_enabled = Some(ee.enabled);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Runs the `zero` command line to its end: a license command, or the zero itself until it is
/// stopped. The `zero` binary and `lodestar zero` both call it.
pub fn main(cli: Cli) -> std::process::ExitCode {
    match cli.command {
        Some(CliCommand::License(cmd)) => license_main("zero license", cmd),
        None => {
            let args = cli.run;
            let common = args.common.clone();
            lodestar_runtime::run_main("zero", &common, |shutdown| run(args, shutdown))
        }
    }
}

/// Runs a license command: its text on stdout and status 0, or `<name>: error: <reason>` on
/// stderr and status 1.
pub fn license_main(name: &str, cmd: LicenseCommand) -> std::process::ExitCode {
    use std::io::Write as _;
    match license_command(cmd) {
        Ok(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a `zero license …` command; returns the text to print.
pub fn license_command(cmd: LicenseCommand) -> Result<String, ZeroError> {
    match cmd {
        LicenseCommand::Keygen {
            private_key,
            public_key,
        } => {
            license::keygen(&private_key, &public_key)?;
            Ok(format!(
                "wrote private key {} (keep it secret) and public key {} (give it to zero with --license_public_key)\n",
                private_key.display(),
                public_key.display()
            ))
        }
        LicenseCommand::Issue {
            private_key,
            user,
            max_nodes,
            expiry,
            out,
        } => {
            let key = license::read_private_key(&private_key)?;
            let expiry = license::parse_expiry(&expiry, SystemClock::default().now())?;
            let terms = license::LicenseTerms {
                user,
                max_nodes,
                expiry,
            };
            let text = license::issue(&terms, &key)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &text).map_err(|e| {
                        ZeroError::invalid(format!("cannot write {}: {e}", path.display()))
                    })?;
                    Ok(format!(
                        "wrote license for {} to {}\n",
                        terms.user,
                        path.display()
                    ))
                }
                None => Ok(text),
            }
        }
        LicenseCommand::Verify { public_key, file } => {
            let key = match public_key {
                Some(p) => license::read_public_key(&p)?,
                None => license::public_key_from_pem(license::BUILT_IN_PUBLIC_KEY, "built-in")?,
            };
            let text = std::fs::read(&file)
                .map_err(|e| ZeroError::invalid(format!("cannot read {}: {e}", file.display())))?;
            let l = license::verify(&text, &key)?;
            Ok(format!(
                "{}\n",
                serde_json::json!({"user": l.user, "max_nodes": l.max_nodes, "expiry_ts": l.expiry_ts})
            ))
        }
    }
}
