//! Flags shared by every service binary. How flags, environment and config files combine is
//! [`crate::settings`].

use std::net::SocketAddr;

/// Flags every service accepts. Flatten this into a service's own clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// A config file (TOML, or YAML/JSON) whose keys are flag names; the command line and the
    /// environment override it (see `lodestar_runtime::settings`).
    #[arg(long = "config", env = "LODESTAR_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Added to every default port of the service, as Dgraph's `--port_offset`.
    #[arg(
        short = 'o',
        long = "port_offset",
        env = "LODESTAR_PORT_OFFSET",
        default_value_t = 0
    )]
    pub port_offset: u16,

    /// Address to bind the listeners to.
    #[arg(
        long = "bindall_addr",
        env = "LODESTAR_BIND",
        default_value = "0.0.0.0"
    )]
    pub bind: std::net::IpAddr,

    /// OTLP/gRPC endpoint to export traces to (for example http://127.0.0.1:4317). The standard
    /// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables work too.
    #[arg(long = "otlp_endpoint", env = "LODESTAR_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(
        long = "log_format",
        env = "LODESTAR_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// The gRPC port, instead of the default shifted by `--port_offset`.
    #[arg(long = "grpc_port", env = "LODESTAR_GRPC_PORT")]
    pub grpc_port: Option<u16>,

    /// The HTTP port, instead of the default shifted by `--port_offset`.
    #[arg(long = "http_port", env = "LODESTAR_HTTP_PORT")]
    pub http_port: Option<u16>,

    /// The cluster secret (at least 32 bytes, readable by its owner only), the same file for
    /// every service: internal gRPC calls carry a credential derived from it, and internal
    /// services refuse calls without it. Required when ACL is on.
    #[arg(long = "cluster_secret_file", env = "LODESTAR_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<std::path::PathBuf>,

    /// How long one request may run before it is stopped with DeadlineExceeded (gRPC) or 504
    /// (HTTP); `0s` for no bound. A client's shorter `grpc-timeout` still applies. The
    /// client-streaming restore load is not bounded by it.
    #[arg(
        long = "request_timeout",
        env = "LODESTAR_REQUEST_TIMEOUT",
        default_value = "5m",
        value_parser = humantime::parse_duration
    )]
    pub request_timeout: std::time::Duration,

    /// How many requests each listener handles at once; more are refused at once with
    /// ResourceExhausted (gRPC) or 429 (HTTP) instead of queueing. Health checks are never
    /// refused.
    #[arg(
        long = "max_pending_requests",
        env = "LODESTAR_MAX_PENDING_REQUESTS",
        default_value_t = crate::limits::DEFAULT_MAX_PENDING,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_pending_requests: usize,

    /// The largest HTTP request body taken, in bytes; a larger one is refused with 413 before
    /// it is read.
    #[arg(
        long = "max_body_bytes",
        env = "LODESTAR_MAX_BODY_BYTES",
        default_value_t = crate::limits::DEFAULT_MAX_BODY_BYTES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_body_bytes: usize,

    /// Log filter in `RUST_LOG` syntax.
    #[arg(
        long = "log",
        env = "RUST_LOG",
        default_value = "info,openraft=warn,fjall=warn,lsm_tree=warn,h2=warn,tower=warn"
    )]
    pub log_filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl CommonArgs {
    /// The request bounds these flags set.
    pub fn limits(&self) -> crate::limits::Limits {
        crate::limits::Limits {
            request_timeout: (!self.request_timeout.is_zero()).then_some(self.request_timeout),
            max_pending: self.max_pending_requests,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// The gRPC listen address: `--grpc_port`, else `default_port + --port_offset`.
    pub fn grpc_addr(&self, default_port: u16) -> Result<SocketAddr, crate::ServiceError> {
        self.explicit_or(self.grpc_port, default_port)
    }

    /// The HTTP listen address: `--http_port`, else `default_port + --port_offset`.
    pub fn http_addr(&self, default_port: u16) -> Result<SocketAddr, crate::ServiceError> {
        self.explicit_or(self.http_port, default_port)
    }

    /// `explicit` when given, else `default_port` shifted by `--port_offset`.
    pub fn explicit_or(
        &self,
        explicit: Option<u16>,
        default_port: u16,
    ) -> Result<SocketAddr, crate::ServiceError> {
        match explicit {
            Some(port) => Ok(SocketAddr::new(self.bind, port)),
            None => self.addr(default_port),
        }
    }

    /// The socket address for a default port shifted by `--port_offset`.
    pub fn addr(&self, default_port: u16) -> Result<SocketAddr, crate::ServiceError> {
        let port = default_port.checked_add(self.port_offset).ok_or_else(|| {
            crate::ServiceError::invalid(format!(
                "--port_offset {} moves port {default_port} past 65535",
                self.port_offset
            ))
        })?;
        Ok(SocketAddr::new(self.bind, port))
    }
}

/// Default ports, as Dgraph's (zero, alpha) and the suite's own (auth, backup-worker).
pub mod ports {
    pub const ZERO_GRPC: u16 = 5080;
    pub const ZERO_HTTP: u16 = 6080;
    pub const ALPHA_INTERNAL_GRPC: u16 = 7080;
    pub const ALPHA_HTTP: u16 = 8081;
    pub const ALPHA_GRPC: u16 = 9080;
    pub const AUTH_GRPC: u16 = 7070;
    pub const AUTH_HTTP: u16 = 7071;
    pub const BACKUP_GRPC: u16 = 7090;
    pub const BACKUP_HTTP: u16 = 7091;
    pub const GATEWAY_HTTP: u16 = 8080;
}

/// The zeros a service talks to: `--zero`'s comma-separated `host:port` list, parsed once here
/// for every service (spaces around entries are dropped; an empty list or an entry without a
/// port is refused when the flags are parsed, naming the entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroList(Vec<String>);

impl ZeroList {
    /// Parses `--zero`'s value.
    pub fn parse(list: &str) -> Result<ZeroList, String> {
        let addrs: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if addrs.is_empty() {
            return Err("give the gRPC address of at least one zero, e.g. localhost:5080".into());
        }
        for addr in &addrs {
            let port = addr
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return Err(format!(
                    "{addr:?} is not host:port (e.g. zero1:5080); separate several zeros with commas"
                ));
            }
        }
        Ok(ZeroList(addrs))
    }

    /// The addresses, in the order given.
    pub fn addrs(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Display for ZeroList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl std::str::FromStr for ZeroList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZeroList::parse(s)
    }
}

/// The services a backend service talks to: the zeros and an alpha.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Comma-separated gRPC addresses of the zeros.
    #[arg(long, env = "LODESTAR_ZERO", default_value = "localhost:5080")]
    pub zero: ZeroList,

    /// gRPC addresses of alphas, comma separated: any of them answers, and the next is tried
    /// when one cannot be reached.
    #[arg(long, env = "LODESTAR_ALPHA", default_value = "localhost:9080")]
    pub alpha: String,

    /// TLS toward the alphas' public port, when they serve it with --tls: "ca-cert=PATH;
    /// server-name=NAME; client-cert=PATH; client-key=PATH" (Dgraph's client --tls).
    #[arg(long = "alpha_tls", value_parser = crate::tls::ClientTls::parse_alpha_tls)]
    pub alpha_tls: Option<crate::tls::ClientTls>,
}

impl UpstreamArgs {
    /// Reads `--alpha_tls`'s files (refusing bad ones, naming them) and makes it this process's
    /// TLS toward the alphas. Call once, at start.
    pub fn install_alpha_tls(&self) -> Result<(), crate::ServiceError> {
        crate::tls::install_alpha_client(self.alpha_tls.as_ref())
    }

    /// Refuses an empty alpha address, naming the flag and an example.
    pub fn validate(&self) -> Result<(), crate::ServiceError> {
        if self.alpha.trim().is_empty() {
            return Err(crate::ServiceError::invalid(
                "--alpha is empty: give the gRPC address of an alpha, e.g. localhost:9080",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_lists_are_parsed_once_and_refused_by_entry() {
        let list = ZeroList::parse(" z1:5080, z2:5081 ,").unwrap();
        assert_eq!(list.addrs(), ["z1:5080", "z2:5081"]);
        assert_eq!(list.to_string(), "z1:5080,z2:5081");
        assert!(
            ZeroList::parse(" , ")
                .unwrap_err()
                .contains("at least one zero")
        );
        for bad in ["zero1", ":5080", "zero1:http", "z1:5080,z2"] {
            let e = ZeroList::parse(bad).unwrap_err();
            assert!(e.contains("not host:port"), "{bad}: {e}");
        }
        assert_eq!(
            ZeroList::parse("[::1]:5080").unwrap().addrs(),
            ["[::1]:5080"]
        );
    }
}

/// Encryption at rest of a service's directories (Dgraph's `--encryption key-file=…` and
/// `--vault`).
#[derive(Debug, Clone, clap::Args)]
pub struct EncryptionArgs {
    /// Encrypt the data directories at rest under this master key: a file of exactly 16, 24 or
    /// 32 bytes (AES-128/192/256) only its owner can read. Once a directory is encrypted, every
    /// start needs the same key.
    #[arg(long = "encryption_key_file", env = "LODESTAR_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<std::path::PathBuf>,

    /// The master key from HashiCorp Vault instead of a file (AppRole login, KV v2):
    /// "addr=http://localhost:8200; role-id-file=F; secret-id-file=F; path=secret/data/dgraph;
    /// field=enc_key; format=base64|raw".
    #[arg(long = "vault")]
    pub vault: Option<String>,

    /// How often a new data key is made; files written before keep theirs.
    #[arg(
        long = "encryption_key_rotation",
        default_value = "10d",
        value_parser = humantime::parse_duration
    )]
    pub encryption_key_rotation: std::time::Duration,
}

impl EncryptionArgs {
    /// The master key, if one was given (from the file, or fetched from Vault); a bad key file
    /// or a Vault that does not give the key stops the start, naming the problem.
    pub async fn master_key(
        &self,
    ) -> Result<Option<lodestar_crypto::EncryptionKey>, crate::ServiceError> {
        if self.encryption_key_rotation < std::time::Duration::from_secs(1) {
            return Err(crate::ServiceError::invalid(
                "--encryption_key_rotation must be at least 1s",
            ));
        }
        match (&self.encryption_key_file, &self.vault) {
            (Some(_), Some(_)) => Err(crate::ServiceError::invalid(
                "give either --encryption_key_file or --vault, not both",
            )),
            (Some(path), None) => lodestar_crypto::EncryptionKey::from_file(path)
                .map(Some)
                .map_err(|e| crate::ServiceError::invalid(format!("--encryption_key_file: {e}"))),
            (None, Some(flag)) => {
                let cfg = lodestar_crypto::vault::VaultConfig::parse_superflag(flag)
                    .map_err(|e| crate::ServiceError::invalid(e.to_string()))?;
                lodestar_crypto::vault::fetch_key(&cfg)
                    .await
                    .map(Some)
                    .map_err(|e| crate::ServiceError::unavailable(format!("--vault: {e}")))
            }
            (None, None) => Ok(None),
        }
    }

    /// The registry of `dir` under `key` (from [`EncryptionArgs::master_key`]): `None` without
    /// a key. A directory that does not fit the key (encrypted without it, with another, or
    /// plain with one) stops the start with the reason.
    pub fn open_dir(
        &self,
        dir: &std::path::Path,
        key: Option<&lodestar_crypto::EncryptionKey>,
    ) -> Result<Option<std::sync::Arc<lodestar_crypto::registry::KeyRegistry>>, crate::ServiceError>
    {
        let registry =
            lodestar_crypto::registry::open_dir(dir, key.cloned(), self.encryption_key_rotation)
                .map_err(|e| {
                    if e.is_key_mismatch() {
                        crate::ServiceError::invalid(e.to_string())
                    } else {
                        crate::ServiceError::internal(e.to_string())
                    }
                })?;
        Ok(registry.map(std::sync::Arc::new))
    }
}
