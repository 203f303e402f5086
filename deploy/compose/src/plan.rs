//! From the flags to the compose file: the cluster's shape (counts, ports, secrets, data), the
//! services, and the YAML.

use crate::args::ComposeArgs;
use crate::error::ComposeError;
use crate::secrets::{self, DemoFile, DemoKind, Secret};
use crate::shell;
use crate::yaml::{self, Map, Node, strs};
use std::path::{Path, PathBuf};

/// The uid and gid every service runs as (the image's user; the Kubernetes manifests run the
/// same one).
pub const SERVICE_USER: &str = "65532:65532";

/// Where the binary is in the image.
pub const BINARY: &str = "/usr/local/bin/lodestar";

/// Where each service finds its private copies of the secrets.
pub const SECRETS_DIR: &str = "/run/lodestar/secrets";

/// Default ports, shifted by each service's --port_offset (the services' own defaults).
mod ports {
    pub const ZERO_GRPC: u32 = 5080;
    pub const ZERO_HTTP: u32 = 6080;
    pub const ALPHA_INTERNAL: u32 = 7080;
    pub const ALPHA_HTTP: u32 = 8081;
    pub const ALPHA_GRPC: u32 = 9080;
    pub const AUTH_GRPC: u32 = 7070;
    pub const AUTH_HTTP: u32 = 7071;
    pub const BACKUP_GRPC: u32 = 7090;
    pub const BACKUP_HTTP: u32 = 7091;
    pub const GATEWAY_HTTP: u32 = 8080;
    /// Jaeger: OTLP/gRPC in, the UI, the admin (health) port.
    pub const JAEGER_OTLP: u32 = 4317;
    pub const JAEGER_UI: u32 = 16686;
    pub const JAEGER_ADMIN: u32 = 14269;
    /// What `weed mini` opens besides its S3 port (and each + 10000 for gRPC).
    pub const WEED_OWN: [u32; 4] = [9333, 9340, 8888, 23646];
}

/// Everything `lodestar compose` makes from its flags.
#[derive(Debug)]
pub struct Plan {
    /// The compose file.
    pub yaml: String,
    /// Demo secrets and env files to make beside it (when missing).
    pub demo_files: Vec<DemoFile>,
    /// The host directory of --data_dir, to create when missing.
    pub data_dir: Option<PathBuf>,
    /// Things worth saying on stderr (not errors).
    pub notes: Vec<String>,
    /// Dgraph's `Options: ...` line.
    pub summary: String,
}

/// A secret the services get, and the host file it comes from as the compose file names it.
#[derive(Debug, Clone)]
struct SecretSource {
    secret: Secret,
    /// As written in the compose file: absolute, or `./name` beside the file.
    source: String,
}

/// The roles that run the `lodestar` binary, and which secrets each gets a copy of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Zero,
    Alpha,
    Auth,
    Gateway,
    BackupWorker,
}

impl Role {
    const ALL: [Role; 5] = [
        Role::Zero,
        Role::Alpha,
        Role::Auth,
        Role::Gateway,
        Role::BackupWorker,
    ];

    /// The `lodestar` subcommand.
    fn command(self) -> &'static str {
        match self {
            Role::Zero => "zero",
            Role::Alpha => "alpha",
            Role::Auth => "auth",
            Role::Gateway => "gateway",
            Role::BackupWorker => "backup-worker",
        }
    }

    /// The volume holding this role's private secret copies.
    fn secrets_volume(self) -> String {
        format!("secrets-{}", self.command())
    }

    /// Whether this role reads `secret` (as the Kubernetes manifests give them out).
    fn reads(self, secret: Secret) -> bool {
        match secret {
            Secret::Cluster => true,
            Secret::Acl => self != Role::Zero,
            Secret::Encryption => matches!(self, Role::Zero | Role::Alpha | Role::BackupWorker),
        }
    }
}

/// A service's ports: the offset its --port_offset gets (the flag's, plus the index for the
/// second and later zeros and alphas, as Dgraph's compose does).
fn instance_offset(port_offset: u16, index: u32) -> u32 {
    u32::from(port_offset) + if index > 1 { index } else { 0 }
}

/// The cluster's shape, checked.
#[derive(Debug)]
struct Shape {
    zeros: u32,
    alphas: u32,
    /// zero's --replicas.
    replicas: u32,
    groups: u32,
}

fn shape(args: &ComposeArgs) -> Result<Shape, ComposeError> {
    let r = args.num_replicas;
    if r.is_multiple_of(2) {
        return Err(ComposeError::invalid(format!(
            "--num_replicas {r} is even: a group of {r} stops when {} of its alphas are down, as a group of {} does; give an odd number (1, 3, 5)",
            r / 2,
            r - 1
        )));
    }
    let alphas = match (args.num_alphas, args.num_groups) {
        (Some(a), Some(g)) if a != g * r => {
            return Err(ComposeError::invalid(format!(
                "--num_alphas {a} and --num_groups {g} disagree: {g} groups of --num_replicas {r} are {} alphas; give one of the two",
                g * r
            )));
        }
        (Some(a), _) => a,
        (None, Some(g)) if g * r > 99 => {
            return Err(ComposeError::invalid(format!(
                "--num_groups {g} of --num_replicas {r} is {} alphas; at most 99 can run",
                g * r
            )));
        }
        (None, Some(g)) => g * r,
        (None, None) => 3,
    };
    // A single alpha runs alone whatever --num_replicas says, as in Dgraph's compose (zero
    // then gets --replicas 1). Otherwise every group is full: zero fills groups of r in the
    // order alphas join, and a last group with fewer would survive fewer failures than the
    // others without anyone having asked for that.
    let replicas = if alphas == 1 { 1 } else { r };
    if !alphas.is_multiple_of(replicas) {
        let fewer = alphas - alphas % replicas;
        let mut options = Vec::new();
        if fewer > 0 {
            options.push(format!("--num_alphas {fewer}"));
        }
        options.push(format!("--num_alphas {}", fewer + replicas));
        options.push("--num_replicas 1".to_string());
        return Err(ComposeError::invalid(format!(
            "--num_alphas {alphas} does not fill groups of --num_replicas {replicas}: zero puts alphas in groups of {replicas}, so the last group would have {} alpha(s); give {}",
            alphas % replicas,
            options.join(" or ")
        )));
    }
    Ok(Shape {
        zeros: args.num_zeros,
        alphas,
        replicas,
        groups: alphas / replicas,
    })
}

/// Where the compose file goes and where demo files go beside it.
struct Output {
    /// `None` for stdout.
    file: Option<PathBuf>,
    /// The directory of the compose file (the current one for stdout), absolute.
    dir: PathBuf,
}

impl Output {
    fn of(out: &str) -> Result<Output, ComposeError> {
        if out.is_empty() {
            return Err(ComposeError::invalid(
                "--out is empty: give a file name, or - for stdout",
            ));
        }
        if out == "-" {
            return Ok(Output {
                file: None,
                dir: absolute(Path::new("."))?,
            });
        }
        let file = PathBuf::from(out);
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => absolute(p)?,
            _ => absolute(Path::new("."))?,
        };
        Ok(Output {
            file: Some(file),
            dir,
        })
    }

    /// A demo file's host path, and how the compose file names it: `./name` beside a compose
    /// file (docker-compose resolves it from the file's directory, so the two can move
    /// together), the absolute path when the file goes to stdout.
    fn demo(&self, name: &str) -> (PathBuf, String) {
        let host = self.dir.join(name);
        let source = if self.file.is_some() {
            format!("./{name}")
        } else {
            host.display().to_string()
        };
        (host, source)
    }
}

fn absolute(p: &Path) -> Result<PathBuf, ComposeError> {
    std::path::absolute(p).map_err(|e| {
        ComposeError::invalid(format!(
            "cannot make {} absolute: {e} (is the current directory gone?)",
            p.display()
        ))
    })
}

fn path_text(p: &Path, flag: &str) -> Result<String, ComposeError> {
    p.to_str().map(str::to_string).ok_or_else(|| {
        ComposeError::invalid(format!(
            "{flag} {}: the compose file can only name UTF-8 paths",
            p.display()
        ))
    })
}

/// Checks --mem as docker-compose reads a byte size: digits with an optional fraction, an
/// optional unit b, k, m or g (any case), and an optional trailing b.
fn check_mem(mem: &str) -> Result<(), ComposeError> {
    if mem.is_empty() {
        return Ok(());
    }
    let mut number = mem.to_ascii_lowercase();
    if number.len() > 2
        && number.ends_with('b')
        && number[..number.len() - 1].ends_with(['k', 'm', 'g'])
    {
        number.pop();
    }
    if number.ends_with(['b', 'k', 'm', 'g']) {
        number.pop();
    }
    let dots = number.chars().filter(|&c| c == '.').count();
    let ok = number.chars().any(|c| c.is_ascii_digit())
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && dots <= 1;
    if ok {
        Ok(())
    } else {
        Err(ComposeError::invalid(format!(
            "--mem {mem:?} is not a size: give a number with an optional unit, e.g. 32G or 512m (empty for no limit)"
        )))
    }
}

fn check_image_part(flag: &str, value: &str) -> Result<(), ComposeError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '$') {
        return Err(ComposeError::invalid(format!(
            "{flag} {value:?} is not an image reference part: no spaces, no $, not empty"
        )));
    }
    Ok(())
}

/// The published ports, checked for clashes and range.
struct Published {
    ports: Vec<(u32, String)>,
}

impl Published {
    fn add(&mut self, port: u32, what: String) -> Result<(), ComposeError> {
        if port > u32::from(u16::MAX) {
            return Err(ComposeError::invalid(format!(
                "{what} would be port {port}, past 65535: lower --port_offset"
            )));
        }
        if let Some((_, other)) = self.ports.iter().find(|(p, _)| *p == port) {
            return Err(ComposeError::invalid(format!(
                "{what} and {other} would both publish port {port}: change --port_offset, --minio_port or the counts"
            )));
        }
        self.ports.push((port, what));
        Ok(())
    }
}

/// Refuses --backup_schedule values the backup worker would refuse at start, and key files,
/// which nothing copies into its container.
fn check_schedules(args: &ComposeArgs) -> Result<(), ComposeError> {
    for value in &args.backup_schedule {
        let key_file = value
            .split(';')
            .filter_map(|part| part.split_once('='))
            .map(|(key, _)| key.trim())
            .find(|key| key.ends_with("_file"));
        if let Some(key) = key_file {
            return Err(ComposeError::invalid(format!(
                "--backup_schedule: {key} names a file inside the backup worker's container, which the compose file does not provide: drop it, and the worker takes its S3 keys from --minio_env_file"
            )));
        }
    }
    match args.check_schedules {
        Some(check) if !args.backup_schedule.is_empty() => {
            check(&args.backup_schedule).map_err(ComposeError::invalid)
        }
        _ => Ok(()),
    }
}

/// Reads the flags into a [`Plan`]; refuses flags that cannot make a running cluster, and
/// secret files the services would refuse.
pub fn plan(args: &ComposeArgs) -> Result<Plan, ComposeError> {
    let shape = shape(args)?;
    let output = Output::of(&args.out)?;
    let mut notes = Vec::new();
    let mut demo_files = Vec::new();

    check_image_part("--image", &args.image)?;
    check_image_part("--tag", &args.tag)?;
    let image = format!("{}:{}", args.image, args.tag);
    check_mem(&args.mem)?;

    // Secrets: the file a flag names (checked now, as the service will check its copy), or a
    // demo file beside the compose file.
    let mut sources: Vec<SecretSource> = Vec::new();
    let wanted = [
        (Secret::Cluster, args.cluster_secret.as_ref(), true),
        (Secret::Acl, args.acl_secret.as_ref(), args.acl),
        (Secret::Encryption, args.enc_key.as_ref(), args.encryption),
    ];
    for (secret, given, demo) in wanted {
        let source = match given {
            Some(path) => {
                secrets::read_checked(secret.compose_flag(), path, |b| secret.check(b))?;
                if secrets::readable_by_others(path) {
                    notes.push(format!(
                        "{} {} can be read by other users of this machine: chmod 600 it (the services get private copies either way)",
                        secret.compose_flag(),
                        path.display()
                    ));
                }
                path_text(&absolute(path)?, secret.compose_flag())?
            }
            None if demo => {
                let (host, source) = output.demo(secret.demo_file_name());
                demo_files.push(DemoFile {
                    path: host,
                    kind: DemoKind::Secret(secret),
                });
                source
            }
            None => continue,
        };
        sources.push(SecretSource { secret, source });
    }
    let has = |s: Secret| sources.iter().any(|x| x.secret == s);

    // The S3 server's credentials.
    let minio_env = match (&args.minio_env_file, args.minio) {
        (Some(path), false) => {
            return Err(ComposeError::invalid(format!(
                "--minio_env_file {} needs --minio (the S3 server it configures)",
                path.display()
            )));
        }
        (Some(path), true) => {
            secrets::read_checked("--minio_env_file", path, secrets::check_minio_env)?;
            Some(path_text(&absolute(path)?, "--minio_env_file")?)
        }
        (None, true) => {
            let (host, source) = output.demo("minio.env");
            demo_files.push(DemoFile {
                path: host,
                kind: DemoKind::MinioEnv,
            });
            Some(source)
        }
        (None, false) => None,
    };

    // Data: the named volume `data`, or a host directory.
    let data_dir = match (&args.data_dir, args.data_vol) {
        (Some(dir), true) => {
            return Err(ComposeError::invalid(format!(
                "--data_dir {} and --data_vol both say where the data goes: give one (the volume `data`, or the host directory)",
                dir.display()
            )));
        }
        (Some(dir), false) => Some(absolute(dir)?),
        (None, _) => None,
    };
    let data_source = match &data_dir {
        Some(dir) => DataMount::Bind(path_text(dir, "--data_dir")?),
        None => DataMount::Volume,
    };

    // Traces.
    let otlp = match (args.jaeger, &args.otlp) {
        (true, Some(url)) => {
            return Err(ComposeError::invalid(format!(
                "--jaeger and --otlp {url} both say where traces go: give one"
            )));
        }
        (true, None) => {
            check_image_part("--jaeger_image", &args.jaeger_image)?;
            Some(format!("http://jaeger:{}", ports::JAEGER_OTLP))
        }
        (false, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.chars().any(char::is_whitespace)
            {
                return Err(ComposeError::invalid(format!(
                    "--otlp {url:?} is not an OTLP/gRPC endpoint: give a URL such as http://collector:4317"
                )));
            }
            Some(url.clone())
        }
        (false, None) => None,
    };

    check_schedules(args)?;

    let extra_alpha = shell::split(&args.extra_alpha_flags)
        .map_err(|e| ComposeError::invalid(format!("--extra_alpha_flags: {e}")))?;
    let extra_zero = shell::split(&args.extra_zero_flags)
        .map_err(|e| ComposeError::invalid(format!("--extra_zero_flags: {e}")))?;

    if shape.zeros.is_multiple_of(2) {
        notes.push(format!(
            "{} zeros: a majority of them is {}, so {} zeros survive no more failures than {} would; an odd number is usual",
            shape.zeros,
            shape.zeros / 2 + 1,
            shape.zeros,
            shape.zeros - 1
        ));
    }
    if args.enterprise {
        notes.push(
            "-e (--enterprise) changes nothing: enterprise features are on through the 30-day trial a new cluster starts, or a license given to zero (POST /enterpriseLicense)".to_string(),
        );
    }

    let ctx = Ctx {
        args,
        shape: &shape,
        image,
        sources: &sources,
        data: data_source,
        otlp,
        minio_env,
        extra_alpha,
        extra_zero,
    };
    let mut published = Published { ports: Vec::new() };
    let services = ctx.services(&mut published)?;

    // The file.
    let mut root = Map::spaced();
    root.put_commented(
        &[
            "3.5 as Dgraph's compose writes it. docker-compose 1.29 reads every 2.x and 3.x",
            "file as the Compose Specification, which has depends_on conditions; so does",
            "Docker Compose v2. (`docker stack deploy` does not: it is not a target.)",
        ],
        "version",
        Node::Str("3.5".into()),
    );
    root.put("services", Node::Map(services));
    let mut volumes = Map::new();
    if data_dir.is_none() {
        volumes.put_commented(
            &["The data of every zero, alpha and the backup worker, one directory each."],
            "data",
            Node::Map(Map::new()),
        );
    }
    for role in Role::ALL {
        volumes.put(role.secrets_volume(), Node::Map(Map::new()));
    }
    root.put("volumes", Node::Map(volumes));
    let mut secret_map = Map::new();
    for s in &sources {
        let mut file = Map::new();
        file.str("file", s.source.clone());
        secret_map.put(s.secret.name(), Node::Map(file));
    }
    root.put_commented(
        &["Read by the init service only, which gives each service a private copy (see there)."],
        "secrets",
        Node::Map(secret_map),
    );

    let command_line = if args.command_line.is_empty() {
        "lodestar compose".to_string()
    } else {
        shell::join(&args.command_line)
    };
    let mut header = vec![
        "Made by `lodestar compose`; run it again rather than editing this file:".to_string(),
        format!("  {command_line}"),
        String::new(),
        format!(
            "{} zero(s), {} alpha(s) in {} group(s) of {}, the gateway, auth and the backup worker.",
            shape.zeros, shape.alphas, shape.groups, shape.replicas
        ),
        "Start: docker-compose up -d (it waits for each service's dependencies to be healthy)."
            .to_string(),
    ];
    if args.expose_ports {
        header.push(format!(
            "Then: HTTP (/admin, /query, /health?all) on localhost:{}, gRPC (dgo, pydgraph) on localhost:{}.",
            ports::GATEWAY_HTTP + u32::from(args.port_offset),
            ports::ALPHA_GRPC + instance_offset(args.port_offset, 1)
        ));
    }
    if has(Secret::Acl) {
        header.push("ACL is on: log in as groot / password, then change the password.".into());
    }
    header.push(
        "Wipe everything: docker-compose down -v (the volumes go; a --data_dir stays).".into(),
    );
    let text = yaml::document(&header, &root);

    let summary = summary(args, &shape, &sources, &ctx, &output);
    Ok(Plan {
        yaml: text,
        demo_files,
        data_dir,
        notes,
        summary,
    })
}

fn summary(
    args: &ComposeArgs,
    shape: &Shape,
    sources: &[SecretSource],
    ctx: &Ctx<'_>,
    output: &Output,
) -> String {
    let secret = |s: Secret| {
        sources
            .iter()
            .find(|x| x.secret == s)
            .map_or("off".to_string(), |x| x.source.clone())
    };
    let data = match &ctx.data {
        DataMount::Volume => "volume:data".to_string(),
        DataMount::Bind(dir) => dir.clone(),
    };
    let out = match &output.file {
        Some(f) => f.display().to_string(),
        None => "stdout".to_string(),
    };
    format!(
        "Options: num_zeros={} num_alphas={} num_replicas={} groups={} port_offset={} expose_ports={} acl={} encryption={} cluster_secret={} data={} tmpfs={} minio={} traces={} mem={} names={} image={} extra_alpha_flags={:?} extra_zero_flags={:?} out={}",
        shape.zeros,
        shape.alphas,
        shape.replicas,
        shape.groups,
        args.port_offset,
        args.expose_ports,
        secret(Secret::Acl),
        secret(Secret::Encryption),
        secret(Secret::Cluster),
        data,
        args.tmpfs,
        if args.minio {
            format!("seaweedfs:{}", args.minio_port)
        } else {
            "off".to_string()
        },
        ctx.otlp.as_deref().unwrap_or("off"),
        if args.mem.is_empty() {
            "none"
        } else {
            args.mem.as_str()
        },
        args.names,
        ctx.image,
        args.extra_alpha_flags,
        args.extra_zero_flags,
        out
    )
}

/// Where /data comes from.
#[derive(Debug, Clone)]
enum DataMount {
    /// The named volume `data`.
    Volume,
    /// A host directory (absolute).
    Bind(String),
}

/// What building the services needs.
struct Ctx<'a> {
    args: &'a ComposeArgs,
    shape: &'a Shape,
    image: String,
    sources: &'a [SecretSource],
    data: DataMount,
    otlp: Option<String>,
    minio_env: Option<String>,
    extra_alpha: Vec<String>,
    extra_zero: Vec<String>,
}

/// A depends_on condition.
#[derive(Debug, Clone, Copy)]
enum Condition {
    Started,
    Healthy,
    Completed,
}

impl Condition {
    fn name(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::Completed => "service_completed_successfully",
        }
    }
}

/// A healthcheck: busybox `wget` (in the image) against an HTTP path the service serves; it
/// exits non-zero on any status but 2xx. No `-T`: Debian's busybox 1.35 `wget -T` segfaults,
/// and Docker stops a check that outlives `timeout` anyway.
struct Health {
    port: u32,
    path: &'static str,
    /// Failures in this window do not count: a zero or alpha waits for its Raft group.
    start_period: &'static str,
    retries: &'static str,
}

impl Health {
    fn node(&self) -> Node {
        let mut m = Map::new();
        m.put(
            "test",
            strs([
                "CMD".to_string(),
                "wget".to_string(),
                "-q".to_string(),
                "-O".to_string(),
                "/dev/null".to_string(),
                format!("http://127.0.0.1:{}{}", self.port, self.path),
            ]),
        )
        .str("interval", "5s")
        .str("timeout", "5s")
        .put("retries", Node::Plain(self.retries))
        .str("start_period", self.start_period);
        Node::Map(m)
    }
}

/// One `lodestar <role>` service.
struct Lodestar {
    name: String,
    role: Role,
    comment: Vec<&'static str>,
    args: Vec<String>,
    /// Its own directory under /data, if it keeps data.
    data: bool,
    published: Vec<u32>,
    tmpfs: Vec<String>,
    env_file: Option<String>,
    depends_on: Vec<(String, Condition)>,
    health: Health,
    stop_grace: &'static str,
    mem_limit: bool,
}

impl Ctx<'_> {
    fn o(&self, index: u32) -> u32 {
        instance_offset(self.args.port_offset, index)
    }

    fn zero_addrs(&self) -> String {
        (1..=self.shape.zeros)
            .map(|i| format!("zero{i}:{}", ports::ZERO_GRPC + self.o(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn alpha_addrs(&self) -> String {
        (1..=self.shape.alphas)
            .map(|i| format!("alpha{i}:{}", ports::ALPHA_GRPC + self.o(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `--flag=/run/lodestar/secrets/<name>` for each secret `role` reads.
    fn secret_flags(&self, role: Role) -> Vec<String> {
        self.sources
            .iter()
            .filter(|s| role.reads(s.secret))
            .map(|s| {
                format!(
                    "{}={SECRETS_DIR}/{}",
                    s.secret.service_flag(),
                    s.secret.name()
                )
            })
            .collect()
    }

    fn init_dependency(&self) -> (String, Condition) {
        ("init".to_string(), Condition::Completed)
    }

    fn services(&self, published: &mut Published) -> Result<Map, ComposeError> {
        let mut services = Map::spaced();
        let offset = u32::from(self.args.port_offset);
        // Every port an instance listens on must fit, published or not; the alphas' client
        // port is the highest.
        let last = ports::ALPHA_GRPC + self.o(self.shape.alphas.max(self.shape.zeros));
        if last > u32::from(u16::MAX) {
            return Err(ComposeError::invalid(format!(
                "--port_offset {} puts ports up to {last}, past 65535: lower it",
                self.args.port_offset
            )));
        }
        services.put_commented(
            &[
                "Runs once before the others, as root, and exits: makes each service's data",
                "directory (owned by the services' uid 65532, mode 700) and gives each role a",
                "private copy (mode 600, owned by 65532) of the secrets it reads, in its own",
                "volume. The services refuse secret files others can read, and the host files",
                "belong to the host user, whom uid 65532 cannot read as: hence copies, as the",
                "Kubernetes manifests make with their init containers.",
            ],
            "init",
            Node::Map(self.init_service()),
        );

        let all_zeros = self.zero_addrs();
        for i in 1..=self.shape.zeros {
            let o = self.o(i);
            let name = format!("zero{i}");
            let mut args = vec![
                format!("--port_offset={o}"),
                format!("--idx={i}"),
                format!("--my={name}:{}", ports::ZERO_GRPC + o),
            ];
            let mut depends_on = vec![self.init_dependency()];
            let comment = if i == 1 {
                vec![
                    "Starts the cluster (no --peer). The other zeros only wait for it to start:",
                    "after a full stop none is healthy until a majority of them runs again.",
                ]
            } else {
                args.push(format!("--peer=zero1:{}", ports::ZERO_GRPC + self.o(1)));
                depends_on.push(("zero1".to_string(), Condition::Started));
                vec![]
            };
            args.push(format!("--replicas={}", self.shape.replicas));
            args.push(format!("--wal=/data/{name}/zw"));
            args.extend(self.secret_flags(Role::Zero));
            args.extend(self.extra_zero.iter().cloned());
            let http = ports::ZERO_HTTP + o;
            let svc = Lodestar {
                name: name.clone(),
                role: Role::Zero,
                comment,
                args,
                data: true,
                published: vec![http],
                tmpfs: if self.args.tmpfs {
                    vec![format!("/data/{name}/zw")]
                } else {
                    vec![]
                },
                env_file: None,
                depends_on,
                health: Health {
                    port: http,
                    path: "/health",
                    start_period: "60s",
                    retries: "12",
                },
                stop_grace: "60s",
                mem_limit: true,
            };
            self.add(&mut services, published, svc)?;
        }

        for i in 1..=self.shape.alphas {
            let o = self.o(i);
            let name = format!("alpha{i}");
            let mut args = vec![
                format!("--port_offset={o}"),
                format!("--my={name}:{}", ports::ALPHA_INTERNAL + o),
                format!("--zero={all_zeros}"),
                format!("--postings=/data/{name}/p"),
                format!("--wal=/data/{name}/w"),
            ];
            args.extend(self.secret_flags(Role::Alpha));
            args.extend(self.extra_alpha.iter().cloned());
            let (http, grpc) = (ports::ALPHA_HTTP + o, ports::ALPHA_GRPC + o);
            let svc = Lodestar {
                name: name.clone(),
                role: Role::Alpha,
                comment: if i == 1 {
                    vec![
                        "Zero gives each alpha its group as it joins. Alphas never wait for each other:",
                        "an alpha is healthy only once its group has a majority.",
                    ]
                } else {
                    vec![]
                },
                args,
                data: true,
                published: vec![http, grpc],
                tmpfs: if self.args.tmpfs {
                    vec![format!("/data/{name}/w")]
                } else {
                    vec![]
                },
                env_file: None,
                depends_on: vec![
                    self.init_dependency(),
                    ("zero1".to_string(), Condition::Healthy),
                ],
                health: Health {
                    port: http,
                    path: "/health",
                    start_period: "60s",
                    retries: "12",
                },
                stop_grace: "120s",
                mem_limit: true,
            };
            self.add(&mut services, published, svc)?;
        }

        let all_alphas = self.alpha_addrs();
        let alphas_healthy: Vec<(String, Condition)> = (1..=self.shape.alphas)
            .map(|i| (format!("alpha{i}"), Condition::Healthy))
            .collect();

        let mut auth_deps = vec![self.init_dependency()];
        auth_deps.extend(alphas_healthy.iter().cloned());
        let mut args = vec![
            format!("--port_offset={offset}"),
            format!("--zero={all_zeros}"),
            format!("--alpha={all_alphas}"),
        ];
        args.extend(self.secret_flags(Role::Auth));
        self.add(
            &mut services,
            published,
            Lodestar {
                name: "auth".into(),
                role: Role::Auth,
                comment: vec!["Login, token refresh and the ACL administration."],
                args,
                data: false,
                published: vec![],
                tmpfs: vec![],
                env_file: None,
                depends_on: auth_deps,
                health: Health {
                    port: ports::AUTH_HTTP + offset,
                    path: "/health",
                    start_period: "30s",
                    retries: "6",
                },
                stop_grace: "30s",
                mem_limit: false,
            },
        )?;

        let mut backup_deps = vec![self.init_dependency()];
        backup_deps.extend(alphas_healthy.iter().cloned());
        if self.args.minio {
            backup_deps.push(("seaweedfs".to_string(), Condition::Healthy));
        }
        let mut args = vec![
            format!("--port_offset={offset}"),
            format!("--zero={all_zeros}"),
            format!("--alpha={all_alphas}"),
            "--data=/data/backup-worker".to_string(),
        ];
        args.extend(self.secret_flags(Role::BackupWorker));
        args.extend(
            self.args
                .backup_schedule
                .iter()
                .map(|s| format!("--backup_schedule={s}")),
        );
        self.add(
            &mut services,
            published,
            Lodestar {
                name: "backup-worker".into(),
                role: Role::BackupWorker,
                comment: if self.args.minio {
                    vec![
                        "Backups, restores and exports; its task registry is in /data/backup-worker.",
                        "Back up to minio://seaweedfs:<minio_port>/<bucket>?secure=false.",
                    ]
                } else {
                    vec!["Backups, restores and exports; its task registry is in /data/backup-worker."]
                },
                args,
                data: true,
                published: vec![],
                tmpfs: vec![],
                env_file: self.minio_env.clone(),
                depends_on: backup_deps,
                health: Health {
                    port: ports::BACKUP_HTTP + offset,
                    path: "/health",
                    start_period: "30s",
                    retries: "6",
                },
                stop_grace: "60s",
                mem_limit: false,
            },
        )?;

        let mut args = vec![
            format!("--port_offset={offset}"),
            format!("--zero={all_zeros}"),
            format!("--alpha={all_alphas}"),
            format!("--auth=auth:{}", ports::AUTH_GRPC + offset),
            format!("--backup=backup-worker:{}", ports::BACKUP_GRPC + offset),
        ];
        args.extend(self.secret_flags(Role::Gateway));
        let gateway_http = ports::GATEWAY_HTTP + offset;
        self.add(
            &mut services,
            published,
            Lodestar {
                name: "gateway".into(),
                role: Role::Gateway,
                comment: vec![
                    "The HTTP front door: /admin, /query, /mutate, /alter, /login, /state, /health.",
                    "Healthy once it serves and an alpha answers healthy (/probe/graphql).",
                ],
                args,
                data: false,
                published: vec![gateway_http],
                tmpfs: vec![],
                env_file: None,
                depends_on: vec![
                    self.init_dependency(),
                    ("auth".to_string(), Condition::Healthy),
                    ("backup-worker".to_string(), Condition::Healthy),
                ],
                health: Health {
                    port: gateway_http,
                    path: "/probe/graphql",
                    start_period: "30s",
                    retries: "6",
                },
                stop_grace: "30s",
                mem_limit: false,
            },
        )?;

        if self.args.minio {
            services.put_commented(
                &[
                    "An S3 server for backups (SeaweedFS); its only identity is the access key",
                    "of the env file, which the backup worker gets too. Create buckets with any",
                    "S3 client (boto3, aws s3 mb) as that identity.",
                ],
                "seaweedfs",
                Node::Map(self.seaweedfs(published)?),
            );
        }
        if self.args.jaeger {
            services.put_commented(
                &["Traces: every service sends OTLP to 4317; the UI is on 16686."],
                "jaeger",
                Node::Map(self.jaeger(published)?),
            );
        }
        Ok(services)
    }

    fn common(&self, m: &mut Map, name: &str) {
        m.str("image", self.image.clone());
        if self.args.names {
            m.str("container_name", name);
        }
    }

    fn port_entries(&self, ports: &[u32]) -> Node {
        strs(ports.iter().map(|p| {
            if self.args.expose_ports {
                format!("{p}:{p}")
            } else {
                p.to_string()
            }
        }))
    }

    fn data_mount(&self) -> Node {
        let mut m = Map::new();
        match &self.data {
            DataMount::Volume => {
                m.str("type", "volume").str("source", "data");
            }
            DataMount::Bind(dir) => {
                m.str("type", "bind").str("source", dir.clone());
            }
        }
        m.str("target", "/data");
        Node::Map(m)
    }

    fn add(
        &self,
        services: &mut Map,
        published: &mut Published,
        svc: Lodestar,
    ) -> Result<(), ComposeError> {
        for &p in &svc.published {
            published.add(p, svc.name.clone())?;
        }

        let mut m = Map::new();
        self.common(&mut m, &svc.name);
        m.str("user", SERVICE_USER);
        if svc.data {
            m.str("working_dir", format!("/data/{}", svc.name));
        }
        m.put("entrypoint", strs([BINARY]));
        let mut command = vec![svc.role.command().to_string()];
        command.extend(svc.args);
        m.put("command", strs(command));
        if let Some(url) = &self.otlp {
            let mut env = Map::new();
            env.str("LODESTAR_OTLP_ENDPOINT", url.clone());
            m.put("environment", Node::Map(env));
        }
        if let Some(file) = &svc.env_file {
            m.put("env_file", strs([file.clone()]));
        }
        if !svc.published.is_empty() {
            m.put("ports", self.port_entries(&svc.published));
        }
        let mut volumes = Vec::new();
        if svc.data {
            volumes.push(self.data_mount());
        }
        let mut secrets = Map::new();
        secrets
            .str("type", "volume")
            .str("source", svc.role.secrets_volume())
            .str("target", SECRETS_DIR)
            .put("read_only", Node::Plain("true"));
        volumes.push(Node::Map(secrets));
        m.put("volumes", Node::List(volumes));
        if !svc.tmpfs.is_empty() {
            m.put(
                "tmpfs",
                strs(
                    svc.tmpfs
                        .iter()
                        .map(|t| format!("{t}:uid=65532,gid=65532,mode=0700")),
                ),
            );
        }
        m.put("depends_on", depends_on(&svc.depends_on));
        m.put("healthcheck", svc.health.node());
        m.str("restart", "unless-stopped");
        m.str("stop_grace_period", svc.stop_grace);
        if svc.mem_limit && !self.args.mem.is_empty() {
            let mut limits = Map::new();
            limits.str("memory", self.args.mem.clone());
            let mut resources = Map::new();
            resources.put("limits", Node::Map(limits));
            let mut deploy = Map::new();
            deploy.put("resources", Node::Map(resources));
            m.put("deploy", Node::Map(deploy));
        }
        hardening(&mut m, &[]);
        labels(&mut m, svc.role.command());
        services.put_commented(&svc.comment, svc.name, Node::Map(m));
        Ok(())
    }

    /// The one-shot service that prepares the data directories and the secret copies.
    fn init_service(&self) -> Map {
        let mut script = vec![
            "set -eu".to_string(),
            "umask 077".to_string(),
            // A busybox image may link only some applets into /bin: run the others through
            // busybox itself.
            "for t in mkdir chown chmod cat rm; do command -v $t >/dev/null 2>&1 || eval \"$t() { busybox $t \\\"\\$@\\\"; }\"; done".to_string(),
        ];
        let mut dirs: Vec<String> = (1..=self.shape.zeros)
            .map(|i| format!("/data/zero{i}"))
            .chain((1..=self.shape.alphas).map(|i| format!("/data/alpha{i}")))
            .collect();
        dirs.push("/data/backup-worker".into());
        if self.args.minio {
            dirs.push("/data/seaweedfs".into());
        }
        if self.args.tmpfs {
            // The tmpfs mount points, made here so that Docker does not make them owned by
            // root inside the volume, where they would outlive --tmpfs.
            dirs.extend((1..=self.shape.zeros).map(|i| format!("/data/zero{i}/zw")));
            dirs.extend((1..=self.shape.alphas).map(|i| format!("/data/alpha{i}/w")));
        }
        script.push(format!(
            "for d in {}; do mkdir -p \"$d\"; chown {SERVICE_USER} \"$d\"; chmod 700 \"$d\"; done",
            dirs.join(" ")
        ));
        for role in Role::ALL {
            let dir = format!("/secrets/{}", role.command());
            script.push(format!("rm -f {dir}/*"));
            for s in self.sources.iter().filter(|s| role.reads(s.secret)) {
                let name = s.secret.name();
                script.push(format!("cat /run/secrets/{name} > {dir}/{name}"));
            }
            script.push(format!(
                "chown -R {SERVICE_USER} {dir}; chmod 700 {dir}; chmod 600 {dir}/*"
            ));
        }

        let mut m = Map::new();
        self.common(&mut m, "init");
        m.str("user", "0:0");
        m.put("entrypoint", strs(["/bin/sh", "-c"]));
        m.put("command", strs([script.join("\n")]));
        m.put(
            "secrets",
            strs(self.sources.iter().map(|s| s.secret.name().to_string())),
        );
        let mut volumes = vec![self.data_mount()];
        for role in Role::ALL {
            let mut v = Map::new();
            v.str("type", "volume")
                .str("source", role.secrets_volume())
                .str("target", format!("/secrets/{}", role.command()));
            volumes.push(Node::Map(v));
        }
        m.put("volumes", Node::List(volumes));
        // A one-shot: restarting it would loop, and the image's health check (which looks for
        // a service's port) would mark it unhealthy while it runs and after it exits.
        m.str("restart", "no");
        let mut no_check = Map::new();
        no_check.put("disable", Node::Plain("true"));
        m.put("healthcheck", Node::Map(no_check));
        hardening(&mut m, &["CHOWN", "DAC_OVERRIDE", "FOWNER"]);
        labels(&mut m, "init");
        m
    }

    fn seaweedfs(&self, published: &mut Published) -> Result<Map, ComposeError> {
        let port = u32::from(self.args.minio_port);
        for own in ports::WEED_OWN {
            if port == own || port == own + 10000 || port + 10000 == own {
                return Err(ComposeError::invalid(format!(
                    "--minio_port {port} clashes with SeaweedFS's own port {own} (or its gRPC port, + 10000): pick another"
                )));
            }
        }
        if port + 10000 > u32::from(u16::MAX) || port == 0 {
            return Err(ComposeError::invalid(format!(
                "--minio_port {port}: SeaweedFS also opens port + 10000 (gRPC), so give 1 to 55535"
            )));
        }
        published.add(port, "seaweedfs".into())?;
        // The S3 identity file is written from the env file's keys at each start, into a
        // tmpfs, so the keys live only in the env file.
        let script = [
            "set -eu".to_string(),
            "umask 077".to_string(),
            "printf '{\"identities\":[{\"name\":\"admin\",\"credentials\":[{\"accessKey\":\"%s\",\"secretKey\":\"%s\"}],\"actions\":[\"Admin\",\"Read\",\"Write\",\"List\",\"Tagging\"]}]}' \"$MINIO_ACCESS_KEY\" \"$MINIO_SECRET_KEY\" > /run/seaweedfs/s3.json".to_string(),
            format!(
                "exec weed mini -dir=/data/seaweedfs -ip=seaweedfs -ip.bind=0.0.0.0 -master.telemetry=false -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.port={port} -s3.config=/run/seaweedfs/s3.json"
            ),
        ];
        let mut m = Map::new();
        m.str(
            "image",
            format!("{}-seaweedfs:{}", self.args.image, self.args.tag),
        );
        if self.args.names {
            m.str("container_name", "seaweedfs");
        }
        m.str("user", SERVICE_USER);
        m.str("working_dir", "/data/seaweedfs");
        m.put("entrypoint", strs(["/bin/sh", "-c"]));
        m.put("command", strs([script.join("\n")]));
        if let Some(file) = &self.minio_env {
            m.put("env_file", strs([file.clone()]));
        }
        m.put("ports", self.port_entries(&[port]));
        m.put("volumes", Node::List(vec![self.data_mount()]));
        m.put(
            "tmpfs",
            strs(["/run/seaweedfs:uid=65532,gid=65532,mode=0700"]),
        );
        m.put("depends_on", depends_on(&[self.init_dependency()]));
        m.put(
            "healthcheck",
            Health {
                port,
                path: "/healthz",
                start_period: "30s",
                retries: "12",
            }
            .node(),
        );
        m.str("restart", "unless-stopped");
        hardening(&mut m, &[]);
        labels(&mut m, "seaweedfs");
        Ok(m)
    }

    fn jaeger(&self, published: &mut Published) -> Result<Map, ComposeError> {
        let ui = ports::JAEGER_UI;
        published.add(ui, "jaeger".into())?;
        let mut m = Map::new();
        m.str("image", self.args.jaeger_image.clone());
        if self.args.names {
            m.str("container_name", "jaeger");
        }
        let mut env = Map::new();
        env.str("COLLECTOR_OTLP_ENABLED", "true");
        m.put("environment", Node::Map(env));
        m.put("ports", self.port_entries(&[ui]));
        m.put(
            "healthcheck",
            Health {
                port: ports::JAEGER_ADMIN,
                path: "/",
                start_period: "30s",
                retries: "6",
            }
            .node(),
        );
        m.str("restart", "unless-stopped");
        labels(&mut m, "jaeger");
        Ok(m)
    }
}

fn depends_on(deps: &[(String, Condition)]) -> Node {
    let mut m = Map::new();
    for (name, condition) in deps {
        let mut c = Map::new();
        c.str("condition", condition.name());
        m.put(name.clone(), Node::Map(c));
    }
    Node::Map(m)
}

/// No capabilities but `keep`, and no privilege gained through exec.
fn hardening(m: &mut Map, keep: &[&str]) {
    m.put("cap_drop", strs(["ALL"]));
    if !keep.is_empty() {
        m.put("cap_add", strs(keep.iter().copied()));
    }
    m.put("security_opt", strs(["no-new-privileges:true"]));
}

fn labels(m: &mut Map, role: &str) {
    let mut l = Map::new();
    l.str("cluster", "lodestar").str("lodestar.role", role);
    m.put("labels", Node::Map(l));
}
