//! `lodestar compose`'s flags: Dgraph's compose tool's names, short forms and defaults where
//! the suite has the feature, and a few of its own.

use std::path::PathBuf;

/// The version the default image tag names.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The Jaeger image `--jaeger` runs: all-in-one, which takes OTLP on 4317 and serves its UI on
/// 16686.
pub const JAEGER_IMAGE: &str = "jaegertracing/all-in-one:1.60";

/// Checks `--backup_schedule` values: the message of the first refusal.
pub type ScheduleCheck = fn(&[String]) -> Result<(), String>;

/// Writes a docker-compose file that runs a cluster of the suite's services: zeros, alphas,
/// the gateway, auth and the backup worker, all from one image.
///
/// Boolean flags take an optional value, as Dgraph's do: `--acl`, `--acl=true`,
/// `--expose_ports=false`. The flags have no environment variables: the file's header records
/// the command line, and the same command line makes the same file.
#[derive(Debug, Clone, clap::Args)]
pub struct ComposeArgs {
    /// How many zeros to run (zero1, zero2, ...): 1 to 99; an odd number keeps a majority
    /// through the loss of one.
    #[arg(
        short = 'z',
        long = "num_zeros",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=99)
    )]
    pub num_zeros: u32,

    /// How many alphas to run (alpha1, alpha2, ...): 1 to 99, a multiple of --num_replicas
    /// (a single alpha runs alone). [default: 3, or --num_groups × --num_replicas]
    #[arg(
        short = 'a',
        long = "num_alphas",
        value_parser = clap::value_parser!(u32).range(1..=99)
    )]
    pub num_alphas: Option<u32>,

    /// Alphas per group (zero's --replicas), an odd number: zero puts each alpha, in the order
    /// they join, into the first group with fewer than this many.
    #[arg(
        short = 'r',
        long = "num_replicas",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=99)
    )]
    pub num_replicas: u32,

    /// How many groups: --num_alphas is then --num_groups × --num_replicas (given both, they
    /// must agree).
    #[arg(long = "num_groups", value_parser = clap::value_parser!(u32).range(1..=99))]
    pub num_groups: Option<u32>,

    /// Turn ACL on with a demo HMAC secret: ./acl-secret beside the compose file (32 random
    /// bytes as hex, mode 600), made if missing and kept afterwards.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub acl: bool,

    /// Turn ACL on with this HMAC secret file (at least 32 bytes); implies --acl.
    #[arg(long = "acl_secret", value_name = "PATH")]
    pub acl_secret: Option<PathBuf>,

    /// Encrypt zero's and the alphas' directories and every backup with a demo key:
    /// ./enc-secret beside the compose file (32 random bytes, mode 600), made if missing and
    /// kept afterwards (the data cannot be read without it).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub encryption: bool,

    /// Encrypt with this key file (exactly 16, 24 or 32 bytes); implies --encryption.
    #[arg(long = "enc_key", value_name = "PATH")]
    pub enc_key: Option<PathBuf>,

    /// The cluster secret every service shares (at least 32 bytes): internal calls carry a
    /// credential derived from it. Without it, ./cluster-secret beside the compose file is
    /// made if missing and used.
    #[arg(long = "cluster_secret", value_name = "PATH")]
    pub cluster_secret: Option<PathBuf>,

    /// Accepted for old command lines (`compose -e --acl_secret FILE`), where it turned on the
    /// enterprise features ACL needed. It changes nothing: a new cluster starts a 30-day
    /// enterprise trial by itself, and a license goes to zero later (POST /enterpriseLicense).
    #[arg(short = 'e', long = "enterprise", default_value = "false", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub enterprise: bool,

    /// Publish ports on the same host port (zero 6080, alpha 8081 and 9080, gateway 8080, each
    /// shifted by --port_offset and, from the second instance on, by the index); with false,
    /// Docker picks free host ports (`docker-compose port alpha1 9180` tells which).
    #[arg(long = "expose_ports", default_value = "true", num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub expose_ports: bool,

    /// Added to every service's ports (each gets --port_offset), as in Dgraph's compose;
    /// the second and later zeros and alphas add their index as well (alpha2: 9182).
    #[arg(short = 'o', long = "port_offset", default_value_t = 100)]
    pub port_offset: u16,

    /// Keep the data in this host directory (bound at /data; one subdirectory per service,
    /// owned by uid 65532) instead of the named volume `data`.
    #[arg(short = 'd', long = "data_dir", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,

    /// Keep the data in the named volume `data` (the default; `docker-compose down -v` removes
    /// it). Not with --data_dir.
    #[arg(long = "data_vol", default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub data_vol: bool,

    /// Put the zeros' and alphas' Raft logs (zw, w) in memory (tmpfs): faster, for throwaway
    /// clusters only, since a restarted container has lost its log.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub tmpfs: bool,

    /// Add an S3 server for backups (service `seaweedfs`, image <image>-seaweedfs:<tag>):
    /// back up to minio://seaweedfs:<minio_port>/<bucket>?secure=false.
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub minio: bool,

    /// The S3 server's port, inside the network and published.
    #[arg(long = "minio_port", default_value_t = 9001)]
    pub minio_port: u16,

    /// An env file setting MINIO_ACCESS_KEY and MINIO_SECRET_KEY, given to the S3 server (its
    /// only identity) and to the backup worker. Without it, ./minio.env beside the compose file
    /// is made if missing (mode 600) and used.
    #[arg(long = "minio_env_file", value_name = "PATH")]
    pub minio_env_file: Option<PathBuf>,

    /// Add a Jaeger service (UI on 16686) and send every service's traces to it over OTLP.
    #[arg(short = 'j', long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub jaeger: bool,

    /// The image --jaeger runs.
    #[arg(long = "jaeger_image", default_value = JAEGER_IMAGE)]
    pub jaeger_image: String,

    /// Send every service's traces to this OTLP/gRPC endpoint (e.g. http://collector:4317).
    /// Not with --jaeger.
    #[arg(long = "otlp", value_name = "URL")]
    pub otlp: Option<String>,

    /// Memory limit of each zero and alpha (deploy.resources.limits.memory, e.g. 32G, 512m);
    /// empty for none.
    #[arg(long, default_value = "32G")]
    pub mem: String,

    /// Name each container after its service (container_name), so `docker logs alpha1` works;
    /// only one such stack can run per Docker host.
    #[arg(long, default_value = "true", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub names: bool,

    /// The image every service runs (`lodestar <role> ...`).
    #[arg(long, default_value = "lodestar")]
    pub image: String,

    /// The image's tag.
    #[arg(short = 't', long, default_value = VERSION)]
    pub tag: String,

    /// More flags for every alpha, split as a shell would (e.g. "--snapshot_after_entries 5000").
    #[arg(
        long = "extra_alpha_flags",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub extra_alpha_flags: String,

    /// More flags for every zero, split as a shell would.
    #[arg(
        long = "extra_zero_flags",
        default_value = "",
        allow_hyphen_values = true
    )]
    pub extra_zero_flags: String,

    /// A backup schedule for the backup worker, passed as its `--backup_schedule` (e.g.
    /// "full=0 0 * * *; incremental=0 * * * *; destination=minio://seaweedfs:9001/backups/cluster?secure=false; keep_series=7");
    /// repeat for several. The worker's S3 keys are those of --minio_env_file.
    #[arg(long = "backup_schedule", value_name = "SETTINGS")]
    pub backup_schedule: Vec<String>,

    /// Where to write the compose file; `-` for stdout (the demo files then go to the current
    /// directory).
    #[arg(short = 'O', long = "out", default_value = "./docker-compose.yml")]
    pub out: String,

    /// The command line recorded in the file's header; [`crate::run`] fills it from the
    /// process's arguments when it is empty.
    #[arg(skip)]
    pub command_line: Vec<String>,

    /// Checks the --backup_schedule values as the backup worker will (the caller that links
    /// the worker sets it); without it they are passed on unchecked.
    #[arg(skip)]
    pub check_schedules: Option<ScheduleCheck>,
}
