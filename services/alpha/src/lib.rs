//! The alpha: serves Dgraph's `api.Dgraph` client API on 9080 (what dgo and pydgraph call) and
//! the internal `worker.Worker` API on 7080, and holds the data of its group in the MVCC store
//! (`lodestar-storage`, fjall underneath).
//!
//! At start it joins its group through zero, opens its store, settles transactions a crash
//! left pending, and then serves. Queries, mutations, upserts, schema changes and transactions
//! are in [`graph`]; [`api`] speaks the wire protocol. `alpha restore` ([`offline`]) writes a
//! backup series into the directories alphas start from; the `live` binary ([`loader`]) loads
//! N-Quad and JSON files (an export, say) into a running cluster.

pub mod api;
pub mod cluster;
pub mod graph;
pub mod group;
pub mod loader;
pub mod login;
pub mod offline;
pub mod oracle;
pub mod worker;

use lodestar_client::ZeroClient;
use lodestar_proto::api::dgraph_server::DgraphServer;
use lodestar_proto::worker::worker_server::WorkerServer;
use lodestar_proto::zero::ConnectRequest;
use lodestar_runtime::config::{CommonArgs, ports};
use lodestar_runtime::serve::{self, NodeHandle};
use lodestar_runtime::{ServiceError, Shutdown};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Flags of the `alpha` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "alpha",
    version,
    about = "Serves the Dgraph client API and holds a group's data"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Comma-separated gRPC addresses of the zeros.
    #[arg(long, env = "LODESTAR_ZERO", default_value = "localhost:5080")]
    pub zero: lodestar_runtime::config::ZeroList,

    /// The internal address other nodes reach this alpha at (defaults to localhost:7080 + offset).
    #[arg(long)]
    pub my: Option<String>,

    /// The internal gRPC port, instead of 7080 + --port_offset.
    #[arg(long = "internal_port")]
    pub internal_port: Option<u16>,

    /// Directory for the posting lists.
    #[arg(short = 'p', long = "postings", default_value = "p")]
    pub postings: std::path::PathBuf,

    /// Directory for the group's Raft log (and this alpha's id in its group).
    #[arg(short = 'w', long = "wal", default_value = "w")]
    pub wal: std::path::PathBuf,

    /// Join as a learner: replicate the group and serve reads without voting or counting as
    /// one of its --replicas.
    #[arg(long)]
    pub learner: bool,

    /// The group a learner joins (0: group 1).
    #[arg(long, default_value_t = 0)]
    pub group: u32,

    /// Take a snapshot point of the group's log (the store is flushed and the log behind it
    /// may be purged) every this many entries.
    #[arg(long = "snapshot_after_entries", default_value_t = 10_000)]
    pub snapshot_after_entries: u64,

    /// Open transactions no request uses for this long are aborted.
    #[arg(long = "txn_idle_timeout", default_value = "10m", value_parser = humantime::parse_duration)]
    pub txn_idle_timeout: Duration,

    /// Largest request the client API accepts, in bytes.
    #[arg(long = "max_request_bytes", default_value_t = 256 << 20)]
    pub max_request_bytes: usize,

    /// Dgraph's `--limit` superflag, of which "query-edge=N" is taken: the most edges a
    /// recursive query follows and shows (default 1000000).
    #[arg(long = "limit", value_parser = parse_limits)]
    pub limit: Option<usize>,

    /// TLS on the client API port (gRPC 9080), Dgraph's superflag: "server-cert=PATH;
    /// server-key=PATH; ca-cert=PATH; client-auth-type=VERIFYIFGIVEN|REQUIREANDVERIFY". The
    /// internal port stays plain.
    #[arg(long = "tls", value_parser = lodestar_runtime::tls::ServerTls::parse)]
    pub tls: Option<lodestar_runtime::tls::ServerTls>,

    /// ACL: with a secret, user groot and group guardians always exist, `Login` issues tokens,
    /// every other call needs a valid one, and predicate rules decide what it may read, write
    /// and alter.
    #[command(flatten)]
    pub acl: lodestar_acl::AclArgs,

    /// Encryption at rest of --postings and --wal.
    #[command(flatten)]
    pub encryption: lodestar_runtime::config::EncryptionArgs,

    /// Keep the data in TiKV instead of --postings: its PD endpoints, comma separated.
    #[cfg(feature = "tikv")]
    #[arg(long = "tikv_pd", value_delimiter = ',')]
    pub tikv_pd: Vec<String>,

    /// The key namespace of this alpha's data in TiKV (alphas sharing a cluster need their own).
    #[cfg(feature = "tikv")]
    #[arg(long = "tikv_namespace", default_value = "lodestar")]
    pub tikv_namespace: String,

    /// An offline command instead of serving.
    #[command(subcommand)]
    pub command: Option<offline::Command>,
}

/// Runs the `alpha` command line to its end: an offline command, or the alpha itself until it
/// is stopped. The `alpha` binary and `lodestar alpha` both call it.
pub fn main(mut args: Args) -> std::process::ExitCode {
    if let Some(command) = args.command.take() {
        return offline::main(command);
    }
    let common = args.common.clone();
    lodestar_runtime::run_main("alpha", &common, |shutdown| run(args, shutdown))
}

impl Args {
    /// Checks the flags clap cannot check, failing fast with a message that says what to fix.
    pub fn validate(&self) -> Result<(), ServiceError> {
        if self.txn_idle_timeout.is_zero() {
            return Err(ServiceError::invalid(
                "--txn_idle_timeout 0s would abort every transaction at once: give a duration such as 10m",
            ));
        }
        if self.snapshot_after_entries < 10 {
            return Err(ServiceError::invalid(format!(
                "--snapshot_after_entries {} would flush the store at almost every write: give at least 10",
                self.snapshot_after_entries
            )));
        }
        if self.max_request_bytes < 1024 {
            return Err(ServiceError::invalid(format!(
                "--max_request_bytes {} is too small for any request: give at least 1024",
                self.max_request_bytes
            )));
        }
        if let Some(my) = &self.my
            && !matches!(my.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok())
        {
            return Err(ServiceError::invalid(format!(
                "--my {my:?} is not host:port: give the internal address other nodes reach this alpha at, e.g. alpha1:7080"
            )));
        }
        Ok(())
    }

    fn open_store(
        &self,
        key: Option<&lodestar_crypto::EncryptionKey>,
    ) -> Result<lodestar_storage::Store, ServiceError> {
        #[cfg(feature = "tikv")]
        if !self.tikv_pd.is_empty() {
            if key.is_some() {
                return Err(ServiceError::invalid(
                    "--tikv_pd keeps the data in TiKV, which --encryption_key_file cannot encrypt: use TiKV's own encryption at rest ([security.encryption])",
                ));
            }
            return lodestar_storage::Store::open_tikv(
                &self.tikv_pd,
                self.tikv_namespace.as_bytes(),
            )
            .map_err(|e| ServiceError::invalid(format!("--tikv_pd: {e}")));
        }
        let encryption = key.map(|key| lodestar_storage::Encryption {
            key: key.clone(),
            rotation: self.encryption.encryption_key_rotation,
        });
        lodestar_storage::Store::open_with(&self.postings, encryption.as_ref()).map_err(|e| {
            ServiceError::invalid(format!(
                "postings directory {}: {e}",
                self.postings.display()
            ))
        })
    }
}

/// Refuses to create an encrypted store unless enterprise features are on (Dgraph's message),
/// asking zero until it answers (it may still be starting) or the alpha stops.
async fn require_enterprise_for_encryption(
    zero: &ZeroClient,
    shutdown: &Shutdown,
) -> Result<(), ServiceError> {
    let mut waited = std::time::Duration::ZERO;
    loop {
        match zero.enterprise_state().await {
            Ok(state) if state.enabled => return Ok(()),
            Ok(state) => {
                return Err(ServiceError::new(
                    lodestar_runtime::ErrorCode::FailedPrecondition,
                    format!(
                        "Valid Enterprise License needed for the Encryption feature. ({}; an existing encrypted store opens without one)",
                        state.reason
                    ),
                ));
            }
            Err(e) if waited >= std::time::Duration::from_secs(60) => {
                return Err(ServiceError::unavailable(format!(
                    "cannot ask zero whether enterprise features are on, which creating an encrypted store needs: {}",
                    e.message()
                )));
            }
            Err(_) => {
                let pause = std::time::Duration::from_millis(250);
                tokio::select! {
                    () = tokio::time::sleep(pause) => waited += pause,
                    () = shutdown.wait() => {
                        return Err(ServiceError::unavailable(
                            "stopped before zero said whether enterprise features are on",
                        ));
                    }
                }
            }
        }
    }
}

/// Runs the alpha until `shutdown` fires.
pub async fn run(args: Args, shutdown: Shutdown) -> Result<(), ServiceError> {
    args.validate()?;
    let tokens = args.acl.tokens().map_err(ServiceError::invalid)?;
    if tokens.is_some() {
        lodestar_runtime::cluster::require_with_acl()?;
    }
    let tls = args
        .tls
        .as_ref()
        .map(lodestar_runtime::tls::ServerTls::load)
        .transpose()?;
    let grpc_addr = args.common.grpc_addr(ports::ALPHA_GRPC)?;
    let internal_addr = args
        .common
        .explicit_or(args.internal_port, ports::ALPHA_INTERNAL_GRPC)?;
    let http_addr = args.common.http_addr(ports::ALPHA_HTTP)?;
    let grpc = serve::bind(grpc_addr, "the client API (gRPC)").await?;
    let internal = serve::bind(internal_addr, "internal gRPC").await?;
    let http = serve::bind(http_addr, "HTTP").await?;
    let master_key = args.encryption.master_key().await?;
    let zero = Arc::new(ZeroClient::new(args.zero.addrs())?);
    if master_key.is_some() && !lodestar_crypto::registry::is_encrypted(&args.postings) {
        // Creating an encrypted store is an enterprise feature; opening one never is, so a
        // lapsed license never locks anyone out of their data.
        require_enterprise_for_encryption(&zero, &shutdown).await?;
    }
    let store = Arc::new(args.open_store(master_key.as_ref())?);
    let my = args
        .my
        .clone()
        .unwrap_or_else(|| format!("localhost:{}", internal_addr.port()));
    let node = Arc::new(NodeHandle::starting("alpha", my.clone()));
    let wal = Wal::open_for(&args.wal, &store, &args.encryption, master_key.as_ref())?;

    let join = JoinArgs {
        my: &my,
        acl: tokens.is_some(),
        id: wal.node_id()?,
        learner: args.learner,
        group: args.group,
    };
    let Some(member) = join_group(&zero, join, &shutdown).await? else {
        return Ok(());
    };
    wal.set_node_id(member.id)?;
    let (id, group) = (member.id, member.group_id);
    node.status.send_modify(|s| s.group = group);
    let oracle = Arc::new(oracle::ZeroOracle::new(zero.clone()));
    let graph = graph::Graph::open_replica(store.clone(), oracle)
        .map_err(|e| ServiceError::unavailable(format!("opening the graph: {e}")))?;
    graph.set_group(group);
    if let Some(edges) = args.limit {
        graph.set_query_edge_limit(edges);
    }
    graph.read_other_groups(cluster::Cluster::new(zero.clone(), group));

    let transfer = Arc::new(group::transfer::Transfer::new(store.clone()));
    let raft = group::Raft::new(
        id,
        Arc::new(group::config(group, args.snapshot_after_entries)),
        group::Network::new(group, transfer.clone()),
        wal.log_store()?,
        group::state_machine::GroupStateMachine::new(graph.clone()),
    )
    .await
    .map_err(|e| ServiceError::internal(format!("starting the group's raft: {e}")))?;
    let replica = group::replica::Replica::new(id, group, raft.clone(), graph.clone());
    graph.replicate(replica.clone());
    shutdown.spawn(group::replica::bootstrap(
        replica.clone(),
        my.clone(),
        zero.clone(),
        shutdown.clone(),
    ));
    shutdown.spawn(group::replica::leader_duties(
        replica.clone(),
        tokens.is_some(),
        shutdown.clone(),
    ));
    shutdown.spawn(group::replica::reconcile_membership(
        replica.clone(),
        zero.clone(),
        shutdown.clone(),
    ));
    shutdown.spawn(report_ready(
        replica.clone(),
        node.clone(),
        tokens.is_some(),
        args.learner,
        shutdown.clone(),
    ));
    shutdown.spawn(report_to_zero(
        replica.clone(),
        zero.clone(),
        shutdown.clone(),
    ));
    if tokens.is_some() {
        tracing::info!("ACL is on: every call needs a valid access token; predicate rules apply");
    }
    let draining = Arc::new(AtomicBool::new(false));
    shutdown.spawn(watch_draining(
        zero.clone(),
        draining.clone(),
        shutdown.clone(),
    ));
    shutdown.spawn(expire_transactions(
        graph.clone(),
        args.txn_idle_timeout,
        shutdown.clone(),
    ));
    tracing::info!(group, id, addr = %my, grpc = %grpc_addr, "alpha serving");

    let acl = tokens.map(|tokens| login::AclConfig {
        login: lodestar_acl::login::Login::new(Arc::new(tokens)),
        zero: zero.clone(),
    });
    let api = Arc::new(api::DgraphApi {
        graph: graph.clone(),
        draining,
        zero: zero.clone(),
        acl,
        replica: Some(replica.clone()),
    });
    let dgraph = || {
        DgraphServer::from_arc(api.clone())
            .max_decoding_message_size(args.max_request_bytes)
            .max_encoding_message_size(usize::MAX)
    };
    let public = tonic::service::Routes::new(dgraph())
        .add_service(lodestar_proto::auth::session_server::SessionServer::from_arc(api.clone()));
    // The internal port also takes the client API: followers forward writes to their leader
    // there.
    let worker = tonic::service::Routes::new(
        WorkerServer::new(worker::WorkerApi {
            graph: graph.clone(),
            group,
            replica: Some(replica.clone()),
        })
        .max_decoding_message_size(args.max_request_bytes)
        .max_encoding_message_size(usize::MAX),
    )
    .add_service(group::RaftService::new(group, id, raft.clone(), transfer).into_server())
    .add_service(dgraph());
    let identity = node.identity.clone();
    let (a, b, c) = tokio::join!(
        serve::serve_grpc_tls(grpc, public, identity.clone(), shutdown.clone(), tls),
        serve::serve_grpc(internal, worker, identity.clone(), shutdown.clone()),
        serve::serve_http(http, serve::base_router(identity), shutdown.clone()),
    );
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "the group's raft did not stop cleanly");
    }
    if let Err(e) = graph.store.sync() {
        tracing::warn!(error = %e, "flushing the store");
    }
    a.and(b).and(c)
}

/// The Raft log of this alpha's group and its id there, in `--wal`.
struct Wal {
    db: fjall::Database,
    node: fjall::Keyspace,
    /// Seals the log's values when the directory is encrypted.
    sealer: Option<lodestar_crypto::sealer::Sealer>,
}

/// Key of this alpha's member id in the `node` keyspace of its --wal.
const NODE_ID: &[u8] = b"id";

impl Wal {
    /// Opens `dir` for `store`. A store with no record of the group log it applied (a `-p`
    /// written by an offline restore, or from before groups were replicated) beside a `--wal`
    /// that holds a log does not belong with it: replaying that log would write another
    /// history over the store. The log is set aside and the alpha joins as a new member that
    /// brings this store (zero replaces the old member at this address).
    fn open_for(
        dir: &std::path::Path,
        store: &lodestar_storage::Store,
        encryption: &lodestar_runtime::config::EncryptionArgs,
        key: Option<&lodestar_crypto::EncryptionKey>,
    ) -> Result<Wal, ServiceError> {
        let applied = store
            .meta_get(group::state_machine::APPLIED)
            .map_err(|e| ServiceError::internal(format!("reading the store: {e}")))?;
        let has_log = dir.exists()
            && std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
        if applied.is_none() && has_log {
            tracing::warn!(
                wal = %dir.display(),
                "the store (-p) was not written by the group log in --wal (an offline restore?): starting this alpha's raft afresh from the store; it joins its group as a new member"
            );
            std::fs::remove_dir_all(dir).map_err(|e| {
                ServiceError::internal(format!("cannot clear --wal {}: {e}", dir.display()))
            })?;
        }
        Self::open(dir, encryption, key)
    }

    fn open(
        dir: &std::path::Path,
        encryption: &lodestar_runtime::config::EncryptionArgs,
        key: Option<&lodestar_crypto::EncryptionKey>,
    ) -> Result<Wal, ServiceError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            ServiceError::invalid(format!("cannot create --wal {}: {e}", dir.display()))
        })?;
        let sealer = encryption
            .open_dir(dir, key)
            .map_err(|e| ServiceError::new(e.code, format!("--wal: {e}")))?
            .map(lodestar_crypto::sealer::Sealer::new);
        let db = fjall::Database::builder(dir).open().map_err(|e| {
            ServiceError::invalid(format!(
                "cannot open --wal {} (is another alpha using it?): {e}",
                dir.display()
            ))
        })?;
        let node = db
            .keyspace("node", fjall::KeyspaceCreateOptions::default)
            .map_err(|e| ServiceError::internal(format!("--wal {}: {e}", dir.display())))?;
        Ok(Wal { db, node, sealer })
    }

    /// The id zero gave this alpha when it first joined (0: none yet).
    fn node_id(&self) -> Result<u64, ServiceError> {
        let raw = self
            .node
            .get(NODE_ID)
            .map_err(|e| ServiceError::internal(format!("reading the alpha's id: {e}")))?;
        Ok(raw
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    fn set_node_id(&self, id: u64) -> Result<(), ServiceError> {
        if self.node_id()? == id {
            return Ok(());
        }
        self.node
            .insert(NODE_ID, id.to_be_bytes())
            .and_then(|()| self.db.persist(fjall::PersistMode::SyncAll))
            .map_err(|e| ServiceError::internal(format!("recording the alpha's id: {e}")))
    }

    fn log_store(&self) -> Result<group::LogStore, ServiceError> {
        group::LogStore::open(&self.db, self.sealer.clone())
            .map_err(|e| ServiceError::internal(format!("opening the group's raft log: {e}")))
    }
}

/// Who this alpha is when it asks zero for a place in a group.
struct JoinArgs<'a> {
    my: &'a str,
    acl: bool,
    id: u64,
    learner: bool,
    group: u32,
}

/// Joins a group through zero, retrying until zero answers; `None` if the alpha stops first.
/// An alpha with a cluster credential refuses a zero that does not require one (its ACL would
/// guard nothing: zero's own calls would be open), and a zero that refuses this alpha's
/// credential, or its id (removed from the cluster), stops the start with zero's reason.
async fn join_group(
    zero: &ZeroClient,
    join: JoinArgs<'_>,
    shutdown: &Shutdown,
) -> Result<Option<lodestar_proto::zero::Member>, ServiceError> {
    let mut delay = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        let req = ConnectRequest {
            addr: join.my.to_string(),
            group_id: if join.learner { join.group } else { 0 },
            id: join.id,
            acl: join.acl,
            learner: join.learner,
        };
        match zero.join_group(req).await {
            Ok(resp) => {
                if lodestar_runtime::cluster::enabled() && !resp.cluster_auth {
                    return Err(ServiceError::invalid(
                        "zero takes internal calls without the cluster credential while this alpha has one: start every zero with the same --cluster_secret_file",
                    ));
                }
                let member = resp.member.unwrap_or_default();
                tracing::info!(group = member.group_id, id = member.id, addr = %join.my, "joined group");
                return Ok(Some(member));
            }
            // Refused for good: a credential zero does not take, an id zero removed.
            Err(e)
                if matches!(
                    e.code(),
                    tonic::Code::Unauthenticated
                        | tonic::Code::InvalidArgument
                        | tonic::Code::FailedPrecondition
                ) =>
            {
                return Err(ServiceError::invalid(format!(
                    "zero refused this alpha: {}",
                    e.message()
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot join a group yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return Ok(None),
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    Ok(None)
}

/// Marks the alpha ready once its group has a leader, it votes (unless it is a learner by
/// choice) and, on a follower, once it has applied what the leader had when it asked; keeps its standing in the group current for
/// `/health`.
async fn report_ready(
    replica: Arc<group::replica::Replica>,
    node: Arc<NodeHandle>,
    acl: bool,
    learner: bool,
    shutdown: Shutdown,
) {
    let mut ready = false;
    loop {
        if let Err(fatal) = &replica.raft.metrics().borrow().running_state {
            // The group's Raft stopped (a storage failure): refuse everything and say so.
            replica.graph().fail(format!(
                "this alpha's raft stopped ({fatal}): it serves nothing until it is restarted"
            ));
            node.set_ready(false);
            return;
        }
        let standing = replica.standing();
        node.status.send_if_modified(|s| {
            let raft = serve::RaftStatus {
                role: standing.role.to_string(),
                leader: standing.leader,
                term: standing.term,
                applied: standing.applied,
                behind: standing.behind,
            };
            let changed = s.raft.as_ref() != Some(&raft);
            s.raft = Some(raft);
            changed
        });
        if !ready && standing.leader != 0 {
            use crate::graph::Replication;
            // A leader once it has taken over (with ACL on, once groot and guardians exist), a
            // follower once it holds what its leader had.
            let roots = !acl || standing.role != "leader" || replica.graph().acl_roots().is_some();
            // A member that is to vote is ready once it does: until then the group's quorum
            // does not count it, and stopping another alpha could leave no majority.
            let voting = learner || standing.role != "learner";
            if roots && voting && replica.read_barrier(0).await.is_ok() {
                ready = true;
                node.set_ready(true);
                tracing::info!(role = standing.role, "alpha is ready");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(if ready { 500 } else { 50 })) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Tells zero where this alpha stands in its group every second: what `/state` shows as the
/// group's leader and how far each replica is behind. The leader also reports the size of each
/// of the group's tablets (zero gives new tablets to the group with the least data), measured
/// again after [`SIZES_EVERY`] or ten times as long as the last measurement took.
async fn report_to_zero(
    replica: Arc<group::replica::Replica>,
    zero: Arc<ZeroClient>,
    shutdown: Shutdown,
) {
    let mut next_sizes = tokio::time::Instant::now();
    loop {
        let s = replica.standing();
        let mut report = lodestar_proto::zero::MemberReport {
            id: replica.id,
            group_id: replica.group,
            role: s.role.to_string(),
            term: s.term,
            applied: s.applied,
            behind: s.behind,
            ..Default::default()
        };
        if s.role == "leader" && tokio::time::Instant::now() >= next_sizes {
            let graph = replica.graph().clone();
            let started = tokio::time::Instant::now();
            match tokio::task::spawn_blocking(move || graph.tablet_sizes()).await {
                Ok(Ok(sizes)) => {
                    report.tablet_sizes = sizes;
                    report.sizes = true;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "measuring tablet sizes"),
                Err(e) => tracing::warn!(error = %e, "measuring tablet sizes"),
            }
            next_sizes = tokio::time::Instant::now() + SIZES_EVERY.max(started.elapsed() * 10);
        }
        if let Err(e) = zero.report_member(report).await {
            tracing::debug!(error = %e.message(), "reporting to zero");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// How often a group's leader measures its tablets at most.
const SIZES_EVERY: Duration = Duration::from_secs(10);

/// Aborts transactions left open longer than `idle`.
async fn expire_transactions(graph: Arc<graph::Graph>, idle: Duration, shutdown: Shutdown) {
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
        if let Err(e) = graph.expire_idle(idle).await {
            tracing::warn!(error = %e, "aborting idle transactions");
        }
    }
}

/// Keeps the cluster's draining flag current.
async fn watch_draining(zero: Arc<ZeroClient>, flag: Arc<AtomicBool>, shutdown: Shutdown) {
    loop {
        if let Ok(state) = zero.state().await {
            let was = flag.swap(state.draining, Ordering::Relaxed);
            if was != state.draining {
                tracing::info!(draining = state.draining, "cluster draining flag changed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.wait() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parsed(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("alpha").chain(argv.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let args = parsed(&[]);
        assert!(args.validate().is_ok());
        assert_eq!(args.zero.addrs(), ["localhost:5080"]);
        for (argv, flag) in [
            (&["--txn_idle_timeout", "0s"][..], "--txn_idle_timeout"),
            (&["--max_request_bytes", "10"][..], "--max_request_bytes"),
            (&["--my", "alpha1"][..], "--my"),
        ] {
            let e = parsed(argv).validate().unwrap_err();
            assert!(e.message.contains(flag), "{argv:?}: {e}");
        }
        assert!(Args::try_parse_from(["alpha", "--zero", "z1"]).is_err());
        assert!(Args::try_parse_from(["alpha", "-p", ""]).is_err());
    }
}

/// The `query-edge` value of Dgraph's `--limit` superflag ("query-edge=N; ..."); its other
/// settings are refused by name, since this alpha does not apply them.
fn parse_limits(text: &str) -> Result<usize, String> {
    let mut edges = None;
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=').map(|(n, v)| (n.trim(), v.trim())) {
            Some(("query-edge", v)) => {
                let n: usize =
                    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("--limit: query-edge={v:?} is not a positive number")
                    })?;
                edges = Some(n);
            }
            Some((name, _)) => {
                return Err(format!(
                    "--limit: {name:?} is not supported; only query-edge=N is"
                ));
            }
            None => return Err(format!("--limit: {part:?} is not name=value")),
        }
    }
    edges.ok_or_else(|| "--limit: give query-edge=N".to_string())
}

#[cfg(test)]
mod limit_tests {
    #[test]
    fn the_limit_superflag_takes_query_edge_and_refuses_the_rest() {
        assert_eq!(super::parse_limits("query-edge=5000"), Ok(5000));
        assert_eq!(super::parse_limits(" query-edge = 7 ; "), Ok(7));
        for bad in [
            "query-edge=0",
            "query-edge=x",
            "mutations=disallow",
            "query-edge",
            "",
        ] {
            assert!(super::parse_limits(bad).is_err(), "{bad}");
        }
    }
}
