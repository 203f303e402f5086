//! `live`: Dgraph's live loader. Applies a schema, then sends N-Quad or JSON files to a
//! running cluster as committed transactions of `--batch` N-Quads, `--conc` at a time.
//!
//! Blank nodes (`_:x`, and with `--new_uids` uids too) get uids leased through the alpha's
//! `AllocateIDs`, one map for every file of the run; with `--xidmap DIR` the map is kept in
//! `DIR/xids` (each piece's new entries written and synced before its transaction is sent),
//! so a run repeated or resumed after a failure reuses the uids and duplicates nothing. Uids
//! written in the files are kept (an export reloads as the same graph): zero's uid lease is
//! first raised above the highest, so later nodes never collide with them. A transaction
//! that aborts on a conflict is retried; one the cluster refuses stops the run, naming the
//! file and the line. With ACL on, `--creds "user=…;password=…"` logs in (and in again when
//! the token expires). Progress goes to stderr every two seconds, a summary to stdout.

use super::input::{self, Body, Format, Piece};
use lodestar_crypto::EncryptionKey;
use lodestar_crypto::sealer::Sealer;
use lodestar_dql::nquad::{NQuad, Object, Subject};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{self, Mutation, Operation, Request};
use lodestar_runtime::{ErrorCode, ServiceError};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Uids leased at a time for blank nodes.
const LEASE_BLOCK: u64 = 10_000;
/// Attempts of a transaction that aborted or met an unavailable cluster.
const ATTEMPTS: u32 = 30;

/// `live` (Dgraph's flags).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "live",
    version,
    about = "Load N-Quad or JSON files (gzipped, optionally encrypted) into a running cluster"
)]
pub struct LiveArgs {
    /// Data files or directories, comma-separated (.rdf, .nq, .nt, .json, gzipped or not).
    #[arg(short = 'f', long = "files")]
    pub files: String,
    /// Schema files, comma-separated, applied before any data.
    #[arg(short = 's', long = "schema")]
    pub schema: Option<String>,
    /// The alpha's gRPC address.
    #[arg(short = 'a', long = "alpha", default_value = "localhost:9080")]
    pub alpha: String,
    /// Zero's address, as Dgraph's live loader takes it: accepted, not dialled (uids are
    /// leased through the alpha).
    #[arg(short = 'z', long = "zero", default_value = "localhost:5080")]
    pub zero: String,
    /// N-Quads (or JSON objects) per transaction.
    #[arg(short = 'b', long = "batch", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
    /// Transactions in flight at once.
    #[arg(short = 'c', long = "conc", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub conc: u64,
    /// The data files' format, when their names do not say it.
    #[arg(long = "format", value_enum)]
    pub format: Option<Format>,
    /// A directory keeping the blank-node-to-uid map across runs.
    #[arg(short = 'x', long = "xidmap")]
    pub xidmap: Option<PathBuf>,
    /// Give the uids written in the files new uids too, as blank nodes.
    #[arg(short = 'U', long = "new_uids")]
    pub new_uids: bool,
    /// The key the files (data and schema) are encrypted with (16, 24 or 32 bytes).
    #[arg(long = "encryption_key_file")]
    pub encryption_key_file: Option<PathBuf>,
    /// Dgraph's superflag form of the key: "key-file=PATH".
    #[arg(long = "encryption")]
    pub encryption: Option<String>,
    /// Login with ACL on: "user=groot;password=…;namespace=0".
    #[arg(long = "creds")]
    pub creds: Option<String>,
    /// Login user (older form of --creds).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Login password (older form of --creds).
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// TLS toward an alpha that serves it, Dgraph's client superflag: "ca-cert=PATH;
    /// server-name=NAME; client-cert=PATH; client-key=PATH".
    #[arg(long = "tls", value_parser = parse_tls)]
    pub tls: Option<lodestar_runtime::tls::ClientTls>,
}

fn parse_tls(text: &str) -> Result<lodestar_runtime::tls::ClientTls, String> {
    lodestar_runtime::tls::ClientTls::parse("--tls", text)
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub txns: u64,
    pub nquads: u64,
    pub aborts: u64,
    pub elapsed: Duration,
}

impl super::Report for Summary {
    /// Dgraph's closing lines.
    fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        format!(
            "Number of TXs run            : {}\nNumber of N-Quads processed  : {}\nTime spent                   : {:.3}s\nN-Quads processed per second : {}\n",
            self.txns,
            self.nquads,
            secs,
            (self.nquads as f64 / secs).round() as u64
        )
    }
}

impl LiveArgs {
    fn key(&self) -> Result<Option<EncryptionKey>, ServiceError> {
        let from_super = match &self.encryption {
            Some(flag) => Some(
                flag.split(';')
                    .map(str::trim)
                    .find_map(|kv| kv.strip_prefix("key-file="))
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .ok_or_else(|| {
                        ServiceError::invalid(format!("--encryption {flag:?}: give key-file=PATH"))
                    })?,
            ),
            None => None,
        };
        let path = match (self.encryption_key_file.clone(), from_super) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::invalid(
                    "give the key once: --encryption_key_file or --encryption key-file=…",
                ));
            }
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => return Ok(None),
        };
        EncryptionKey::from_file(&path)
            .map(Some)
            .map_err(|e| ServiceError::invalid(format!("the encryption key: {e}")))
    }

    /// (user, password, namespace) to log in with, if any.
    fn login(&self) -> Result<Option<(String, String, u64)>, ServiceError> {
        if let Some(creds) = &self.creds {
            let mut user = None;
            let mut password = None;
            let mut namespace = 0;
            for kv in creds.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    ServiceError::invalid(format!("--creds: {kv:?} is not key=value"))
                })?;
                match k.trim() {
                    "user" => user = Some(v.trim().to_string()),
                    "password" => password = Some(v.to_string()),
                    "namespace" => {
                        namespace = v.trim().parse().map_err(|_| {
                            ServiceError::invalid(format!(
                                "--creds: namespace {v:?} is not a number"
                            ))
                        })?
                    }
                    other => {
                        return Err(ServiceError::invalid(format!(
                            "--creds: unknown key {other:?} (user, password, namespace)"
                        )));
                    }
                }
            }
            return match (user, password) {
                (Some(u), Some(p)) => Ok(Some((u, p, namespace))),
                _ => Err(ServiceError::invalid("--creds needs user=… and password=…")),
            };
        }
        match (&self.user, &self.password) {
            (Some(u), Some(p)) => Ok(Some((u.clone(), p.clone(), 0))),
            (None, None) => Ok(None),
            _ => Err(ServiceError::invalid("give both --user and --password")),
        }
    }
}

/// A client of the alpha that logs in (again) when ACL asks for it.
#[derive(Clone)]
struct Client {
    inner: DgraphClient<tonic::transport::Channel>,
    login: Option<(String, String, u64)>,
    token: Arc<parking_lot::Mutex<Option<String>>>,
}

impl Client {
    async fn connect(
        addr: &str,
        tls: Option<&tonic::transport::ClientTlsConfig>,
        login: Option<(String, String, u64)>,
    ) -> Result<Client, ServiceError> {
        let channel = lodestar_client::channel_tls(addr, tls)
            .map_err(|e| ServiceError::invalid(format!("--alpha {addr}: {}", e.message())))?;
        let client = Client {
            inner: DgraphClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(256 << 20),
            login,
            token: Default::default(),
        };
        if client.login.is_some() {
            client.log_in().await?;
        }
        Ok(client)
    }

    async fn log_in(&self) -> Result<(), ServiceError> {
        let Some((user, password, namespace)) = &self.login else {
            return Ok(());
        };
        let resp = self
            .inner
            .clone()
            .login(api::LoginRequest {
                userid: user.clone(),
                password: password.clone(),
                namespace: *namespace,
                ..Default::default()
            })
            .await
            .map_err(|s| remote(s, format_args!("logging in as {user}")))?
            .into_inner();
        let jwt = <api::Jwt as prost::Message>::decode(resp.json.as_slice())
            .map_err(|e| ServiceError::internal(format!("the login answer: {e}")))?;
        *self.token.lock() = Some(jwt.access_jwt);
        Ok(())
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Some(token) = self.token.lock().as_deref()
            && let Ok(v) = token.parse()
        {
            req.metadata_mut().insert("accessjwt", v);
        }
        req
    }

    /// Runs `call` with the current token, logging in again once when the token expired.
    async fn call<T, R, F, Fut>(&self, message: T, call: F) -> Result<R, tonic::Status>
    where
        T: Clone,
        F: Fn(DgraphClient<tonic::transport::Channel>, tonic::Request<T>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        match call(self.inner.clone(), self.request(message.clone())).await {
            Err(s) if s.code() == tonic::Code::Unauthenticated && self.login.is_some() => {
                self.log_in()
                    .await
                    .map_err(|e| tonic::Status::unauthenticated(e.message))?;
                call(self.inner.clone(), self.request(message))
                    .await
                    .map(tonic::Response::into_inner)
            }
            other => other.map(tonic::Response::into_inner),
        }
    }

    async fn allocate(&self, how_many: u64) -> Result<(u64, u64), ServiceError> {
        let req = api::AllocateIDsRequest {
            how_many,
            lease_type: api::LeaseType::Uid as i32,
        };
        let ids = self
            .call(req, |mut c, r| async move { c.allocate_i_ds(r).await })
            .await
            .map_err(|s| remote(s, "leasing uids"))?;
        Ok((ids.start, ids.end))
    }
}

/// What the alpha answered, with what was being done.
fn remote(s: tonic::Status, doing: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(
        ErrorCode::from_grpc(s.code()),
        format!("{doing}: {}", s.message()),
    )
}

/// Blank node (and, with `--new_uids`, uid) labels → uids, and the uids leased so far.
struct Uids {
    map: HashMap<String, u64>,
    next: u64,
    end: u64,
    /// Every uid at or below this is leased.
    leased: u64,
    new_uids: bool,
    log: Option<std::fs::File>,
    /// Seals the map's lines when the files have a key.
    sealer: Option<Sealer>,
    pending: Vec<u8>,
}

/// Leases `n` more uids: (first, last).
type Lease<'a> = dyn FnMut(u64) -> Result<(u64, u64), ServiceError> + 'a;

/// What a sealed line of the xid map is bound to.
const XID_CONTEXT: &[u8] = b"live xid map entry";

impl Uids {
    /// The map kept in `dir` (none without one). With the files' key, its lines are sealed
    /// under a key registry in `dir` (blank node labels can be user data); a map written with
    /// a key does not open without it, nor the reverse.
    fn open(
        dir: Option<&PathBuf>,
        new_uids: bool,
        key: Option<&EncryptionKey>,
    ) -> Result<Uids, ServiceError> {
        let mut uids = Uids {
            map: HashMap::new(),
            next: 1,
            end: 0,
            leased: 0,
            new_uids,
            log: None,
            sealer: None,
            pending: Vec::new(),
        };
        let Some(dir) = dir else {
            return Ok(uids);
        };
        let shown = dir.display();
        let failed = |e: std::io::Error| ServiceError::invalid(format!("--xidmap {shown}: {e}"));
        std::fs::create_dir_all(dir).map_err(failed)?;
        let (plain, sealed) = (dir.join("xids"), dir.join("xids.sealed"));
        let path = match key {
            Some(_) if plain.exists() => {
                return Err(ServiceError::invalid(format!(
                    "--xidmap {shown} was written without a key: use another directory with --encryption_key_file"
                )));
            }
            None if sealed.exists() => {
                return Err(ServiceError::invalid(format!(
                    "--xidmap {shown} is sealed: give the --encryption_key_file it was written with"
                )));
            }
            Some(key) => {
                let keys = lodestar_crypto::registry::KeyRegistry::open_or_create(
                    dir,
                    key.clone(),
                    lodestar_crypto::registry::DEFAULT_ROTATION,
                )
                .map_err(|e| ServiceError::invalid(format!("--xidmap {shown}: {e}")))?;
                uids.sealer = Some(Sealer::new(Arc::new(keys)));
                sealed
            }
            None => plain,
        };
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                // A line cut by a crash is the last one; its piece was never sent.
                let line = match &uids.sealer {
                    Some(sealer) => {
                        let Some(opened) = hex::decode(line)
                            .ok()
                            .and_then(|raw| sealer.open(XID_CONTEXT, &raw).ok())
                            .and_then(|raw| String::from_utf8(raw).ok())
                        else {
                            continue;
                        };
                        opened
                    }
                    None => line.replace("\\n", "\n"),
                };
                let Some((uid, xid)) = line.split_once('\t') else {
                    continue;
                };
                if let Ok(uid) = u64::from_str_radix(uid.trim_start_matches("0x"), 16) {
                    uids.map.insert(xid.to_string(), uid);
                }
            }
        }
        uids.log = Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(failed)?,
        );
        Ok(uids)
    }

    fn uid(&mut self, xid: &str, lease: &mut Lease<'_>) -> Result<u64, ServiceError> {
        if let Some(&uid) = self.map.get(xid) {
            return Ok(uid);
        }
        if self.next > self.end {
            let (start, end) = lease(LEASE_BLOCK)?;
            (self.next, self.end) = (start, end);
            self.leased = self.leased.max(end);
        }
        let uid = self.next;
        self.next += 1;
        self.map.insert(xid.to_string(), uid);
        if self.log.is_some() {
            let line = format!("{uid:#x}\t{xid}");
            let _ = match &self.sealer {
                Some(sealer) => writeln!(
                    self.pending,
                    "{}",
                    hex::encode(sealer.seal(XID_CONTEXT, line.as_bytes()))
                ),
                None => writeln!(self.pending, "{}", line.replace('\n', "\\n")),
            };
        }
        Ok(uid)
    }

    /// A uid written in a file: kept (zero's lease raised above it first), or mapped like a
    /// blank node with `--new_uids`.
    fn kept(&mut self, uid: u64, lease: &mut Lease<'_>) -> Result<u64, ServiceError> {
        if self.new_uids {
            return self.uid(&format!("{uid:#x}"), lease);
        }
        if uid > self.leased {
            let (_, end) = lease(1)?;
            self.leased = end;
            if uid > end {
                let (_, end) = lease(uid - end)?;
                self.leased = end;
            }
        }
        Ok(uid)
    }

    /// Makes the entries of the piece just mapped durable, before it is sent.
    fn sync(&mut self) -> Result<(), ServiceError> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        log.write_all(&self.pending)
            .and_then(|()| log.sync_data())
            .map_err(|e| ServiceError::unavailable(format!("writing the xid map: {e}")))?;
        self.pending.clear();
        Ok(())
    }
}

/// A transaction ready to send: its mutation, how many N-Quads, and where it came from.
struct Txn {
    mutation: Mutation,
    nquads: u64,
    origin: String,
}

/// Maps one piece's nodes to uids and makes its mutation.
fn map_piece(
    piece: Piece,
    name: &str,
    uids: &mut Uids,
    client: &Client,
    rt: &tokio::runtime::Handle,
) -> Result<Txn, ServiceError> {
    let mut lease = |n: u64| rt.block_on(client.allocate(n));
    let origin = match &piece.body {
        Body::Rdf(_) => format!("{name}, the N-Quads from line {}", piece.first),
        Body::Json(_) => format!("{name}, the JSON objects from object {}", piece.first),
    };
    let txn = match piece.body {
        Body::Rdf(text) => {
            let nquads = lodestar_dql::parse_set_nquads(&text)
                .map_err(|e| ServiceError::invalid(format!("{origin}: {e}")))?;
            let mut out = String::with_capacity(text.len());
            for mut nq in nquads.iter().cloned() {
                nq.subject = match nq.subject {
                    Subject::Blank(x) => Subject::Uid(uids.uid(&x, &mut lease)?),
                    Subject::Uid(u) => Subject::Uid(uids.kept(u, &mut lease)?),
                    Subject::Var(v) => {
                        return Err(ServiceError::invalid(format!(
                            "{origin}: uid({v}) needs a query; the loader takes N-Quads whose nodes are uids or blank nodes"
                        )));
                    }
                };
                nq.object = match nq.object {
                    Object::Blank(x) => Object::Uid(uids.uid(&x, &mut lease)?),
                    Object::Uid(u) => Object::Uid(uids.kept(u, &mut lease)?),
                    other => other,
                };
                out.push_str(&NQuad::to_string(&nq));
                out.push('\n');
            }
            Txn {
                nquads: nquads.len() as u64,
                mutation: Mutation {
                    set_nquads: out.into_bytes(),
                    ..Default::default()
                },
                origin,
            }
        }
        Body::Json(mut objects) => {
            let mut facts = 0;
            for o in &mut objects {
                facts += map_json(o, uids, &mut lease)?;
            }
            Txn {
                nquads: facts,
                mutation: Mutation {
                    set_json: serde_json::to_vec(&objects).expect("JSON values serialize"),
                    ..Default::default()
                },
                origin,
            }
        }
    };
    uids.sync()?;
    Ok(txn)
}

/// Maps the `uid`s of a JSON object and the objects in it; returns its facts (values and
/// edges, facets aside).
fn map_json(
    v: &mut serde_json::Value,
    uids: &mut Uids,
    lease: &mut Lease<'_>,
) -> Result<u64, ServiceError> {
    let mut facts = 0;
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(uid)) = map.get_mut("uid") {
                let mapped = if let Some(label) = uid.strip_prefix("_:") {
                    Some(uids.uid(label, lease)?)
                } else if let Some(hex) = uid.strip_prefix("0x") {
                    let n = u64::from_str_radix(hex, 16).map_err(|_| {
                        ServiceError::invalid(format!("\"uid\": {uid:?} is not a uid"))
                    })?;
                    Some(uids.kept(n, lease)?)
                } else {
                    None
                };
                if let Some(m) = mapped {
                    *uid = format!("{m:#x}");
                }
            }
            for (k, child) in map.iter_mut() {
                if k == "uid" || k.contains('|') {
                    continue;
                }
                facts += match child {
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                        map_json(child, uids, lease)?.max(1)
                    }
                    _ => 1,
                };
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                facts += match item {
                    serde_json::Value::Object(_) => map_json(item, uids, lease)?.max(1),
                    _ => 1,
                };
            }
        }
        _ => {}
    }
    Ok(facts)
}

/// Sends one transaction, retrying aborts and unavailability; returns the aborts it met.
async fn send(client: &Client, txn: &Txn) -> Result<u64, ServiceError> {
    let request = Request {
        mutations: vec![txn.mutation.clone()],
        commit_now: true,
        ..Default::default()
    };
    let mut aborts = 0;
    let mut delay = Duration::from_millis(20);
    for attempt in 1..=ATTEMPTS {
        match client
            .call(request.clone(), |mut c, r| async move { c.query(r).await })
            .await
        {
            Ok(_) => return Ok(aborts),
            Err(s)
                if attempt < ATTEMPTS
                    && matches!(s.code(), tonic::Code::Aborted | tonic::Code::Unavailable) =>
            {
                if s.code() == tonic::Code::Aborted {
                    aborts += 1;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(s) => return Err(remote(s, &txn.origin)),
        }
    }
    unreachable!("the last attempt returns")
}

/// Runs a live load; prints progress to stderr and returns the summary.
pub async fn run(args: LiveArgs) -> Result<Summary, ServiceError> {
    let key = args.key()?;
    let files = input::data_files(&args.files)?;
    let formats = files
        .iter()
        .map(|f| {
            args.format.or_else(|| Format::of(f)).ok_or_else(|| {
                ServiceError::invalid(format!(
                    "{}: its name does not say rdf or json; give --format",
                    f.display()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tls = args
        .tls
        .as_ref()
        .map(lodestar_runtime::tls::ClientTls::load)
        .transpose()?;
    let client = Client::connect(&args.alpha, tls.as_ref(), args.login()?).await?;
    let started = Instant::now();
    if let Some(schema) = &args.schema {
        let mut text = String::new();
        for path in schema.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            text.push_str(&input::read_text(std::path::Path::new(path), key.as_ref())?);
            text.push('\n');
        }
        client
            .call(
                Operation {
                    schema: text,
                    ..Default::default()
                },
                |mut c, r| async move { c.alter(r).await },
            )
            .await
            .map_err(|s| remote(s, "applying the schema"))?;
        eprintln!("schema applied from {schema}");
    }

    let txns = Arc::new(AtomicU64::new(0));
    let nquads = Arc::new(AtomicU64::new(0));
    let aborts = Arc::new(AtomicU64::new(0));
    let (tx, rx) = tokio::sync::mpsc::channel::<Txn>(args.conc as usize * 2);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.conc {
        let (client, rx) = (client.clone(), rx.clone());
        let (txns, nquads, aborts) = (txns.clone(), nquads.clone(), aborts.clone());
        workers.spawn(async move {
            loop {
                let Some(txn) = rx.lock().await.recv().await else {
                    return Ok::<(), ServiceError>(());
                };
                match send(&client, &txn).await {
                    Ok(n) => aborts.fetch_add(n, Ordering::Relaxed),
                    Err(e) => {
                        // Stops the reader: nothing more is taken.
                        rx.lock().await.close();
                        return Err(e);
                    }
                };
                txns.fetch_add(1, Ordering::Relaxed);
                nquads.fetch_add(txn.nquads, Ordering::Relaxed);
            }
        });
    }
    drop(rx);
    let progress = {
        let (txns, nquads, aborts) = (txns.clone(), nquads.clone(), aborts.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = nquads.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "[{}] Elapsed: {:.0}s Txns: {} N-Quads: {} N-Quads/s: {:.0} Aborts: {}",
                    chrono::Utc::now().format("%H:%M:%S"),
                    secs,
                    txns.load(Ordering::Relaxed),
                    n,
                    n as f64 / secs.max(1e-3),
                    aborts.load(Ordering::Relaxed)
                );
            }
        })
    };
    let rt = tokio::runtime::Handle::current();
    let (reader_client, xidmap, new_uids, batch) = (
        client.clone(),
        args.xidmap.clone(),
        args.new_uids,
        args.batch as usize,
    );
    let reader = tokio::task::spawn_blocking(move || -> Result<(), ServiceError> {
        let mut uids = Uids::open(xidmap.as_ref(), new_uids, key.as_ref())?;
        for (path, format) in files.iter().zip(formats) {
            let name = path.display().to_string();
            let stream = input::open(path, key.as_ref())?;
            input::pieces(stream, format, batch, &name, |piece| {
                let txn = map_piece(piece, &name, &mut uids, &reader_client, &rt)?;
                tx.blocking_send(txn)
                    .map_err(|_| ServiceError::unavailable("the load stopped"))
            })?;
        }
        Ok(())
    });
    let read = reader
        .await
        .map_err(|e| ServiceError::internal(format!("reading the files: {e}")))?;
    let mut sent = Ok(());
    while let Some(done) = workers.join_next().await {
        let done = done.map_err(|e| ServiceError::internal(format!("a sender: {e}")))?;
        if sent.is_ok() && done.is_err() {
            sent = done;
            workers.abort_all();
        }
    }
    progress.abort();
    // A sender's refusal explains a reader stopped by it: report that first.
    sent?;
    read?;
    Ok(Summary {
        txns: txns.load(Ordering::Relaxed),
        nquads: nquads.load(Ordering::Relaxed),
        aborts: aborts.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn dgraphs_flags_parse() {
        let a = LiveArgs::try_parse_from([
            "live",
            "-f",
            "a.rdf.gz",
            "-s",
            "a.schema",
            "-a",
            "localhost:9180",
            "-z",
            "localhost:5180",
            "-b",
            "500",
            "-c",
            "4",
            "--creds",
            "user=groot;password=password;namespace=0",
        ])
        .unwrap();
        assert_eq!((a.batch, a.conc), (500, 4));
        assert_eq!(
            a.login().unwrap(),
            Some(("groot".into(), "password".into(), 0))
        );
        assert!(LiveArgs::try_parse_from(["live", "-f", "x", "-b", "0"]).is_err());
        let old = LiveArgs::try_parse_from(["live", "-f", "x", "-u", "groot"]).unwrap();
        assert!(old.login().unwrap_err().message.contains("both"));
        let bad = LiveArgs::try_parse_from(["live", "-f", "x", "--creds", "user=a;pw=b"]).unwrap();
        assert!(bad.login().unwrap_err().message.contains("unknown key"));
        let sup =
            LiveArgs::try_parse_from(["live", "-f", "x", "--encryption", "cipher=x"]).unwrap();
        assert!(sup.key().unwrap_err().message.contains("key-file="));
    }

    #[test]
    fn xid_maps_persist_and_are_sealed_under_the_files_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = EncryptionKey::from_bytes(&[3u8; 32]).unwrap();
        let mut leased = 0;
        let mut lease = |n: u64| {
            leased += n;
            Ok((leased - n + 1, leased))
        };
        let map = dir.path().join("xids");
        {
            let mut u = Uids::open(Some(&map), false, Some(&key)).unwrap();
            assert_eq!(u.uid("Zq8alice", &mut lease).unwrap(), 1);
            assert_eq!(u.uid("Zq8bob", &mut lease).unwrap(), 2);
            assert_eq!(u.uid("Zq8alice", &mut lease).unwrap(), 1);
            // A uid from the file is kept, and the lease raised above it.
            assert_eq!(u.kept(50_000, &mut lease).unwrap(), 50_000);
            assert!(u.leased >= 50_000);
            u.sync().unwrap();
        }
        for entry in std::fs::read_dir(&map).unwrap() {
            let raw = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!raw.windows(3).any(|w| w == b"Zq8"), "a label in clear");
        }
        let mut again = Uids::open(Some(&map), false, Some(&key)).unwrap();
        assert_eq!(again.uid("Zq8bob", &mut lease).unwrap(), 2);
        drop(again);
        let e = Uids::open(Some(&map), false, None).err().unwrap();
        assert!(e.message.contains("is sealed"), "{e:?}");
        let other = EncryptionKey::from_bytes(&[4u8; 32]).unwrap();
        assert!(Uids::open(Some(&map), false, Some(&other)).is_err());
        // Without a key the map is plain text, and refuses a key later.
        let plain = dir.path().join("plain");
        let mut p = Uids::open(Some(&plain), true, None).unwrap();
        assert_ne!(
            p.kept(7, &mut lease).unwrap(),
            7,
            "--new_uids maps file uids too"
        );
        p.sync().unwrap();
        drop(p);
        let e = Uids::open(Some(&plain), false, Some(&key)).err().unwrap();
        assert!(e.message.contains("without a key"), "{e:?}");
    }

    #[test]
    fn the_summary_is_dgraphs() {
        use crate::loader::Report as _;
        let s = Summary {
            txns: 3,
            nquads: 3000,
            aborts: 0,
            elapsed: Duration::from_millis(1500),
        };
        let text = s.render();
        assert!(
            text.contains("Number of TXs run            : 3\n"),
            "{text}"
        );
        assert!(
            text.contains("N-Quads processed per second : 2000\n"),
            "{text}"
        );
    }
}
