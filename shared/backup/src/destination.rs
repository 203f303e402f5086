//! Where backups go: a destination URI parsed and checked before any work, and the opendal
//! [`Operator`] that reads and writes under it.
//!
//! The URI forms are Dgraph's (`s3://`, `minio://`, `file://`, a plain path) plus native
//! Google Cloud Storage (`gs://`). Credentials come only from the request or from the
//! documented environment variables: opendal's own loading (profile files, instance metadata)
//! is switched off so a backup never picks up keys nobody asked for.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::services::{Fs, Gcs, S3};
use opendal::{HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;

/// AWS's global S3 endpoint, used for `s3:///bucket` and dot-less hosts (as Dgraph does).
pub const AWS_DEFAULT_HOST: &str = "s3.amazonaws.com";

/// The region used when the host does not name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Attempts made by the retry layer on object stores (the first try included).
const RETRY_TIMES: usize = 4;

/// Why a destination was refused. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The URI was empty or blank.
    #[error(
        "empty destination: give s3://host/bucket/path, minio://host:port/bucket/path, gs://bucket/path, file:///path or a path"
    )]
    Empty,
    /// A scheme we do not write to.
    #[error("unsupported destination scheme '{0}': use s3://, minio://, gs://, file:// or a path")]
    UnsupportedScheme(String),
    /// An object-store URI without a bucket.
    #[error("{scheme} destination has no bucket: use {example}")]
    MissingBucket {
        /// The scheme, e.g. `s3`.
        scheme: &'static str,
        /// The expected shape.
        example: &'static str,
    },
    /// A `minio://` URI without a host.
    #[error("minio destinations need a host: minio://host:port/bucket/path")]
    MissingHost,
    /// A `..` (or encoded equivalent) that would leave the destination's root.
    #[error("destination path may not contain '..': '{0}' would escape its root")]
    EscapesRoot(String),
    /// Query parameters we do not understand.
    #[error("unknown destination parameter(s) {}: {supported}", .names.join(", "))]
    UnknownParameters {
        /// The offending parameter names (values are never shown).
        names: Vec<String>,
        /// What this scheme accepts.
        supported: &'static str,
    },
    /// Anything else wrong with the URI's shape.
    #[error("invalid destination: {0}")]
    Malformed(String),
    /// A path in a kernel file system (`/proc`, `/sys`, `/dev`), which holds no directories
    /// of files to write to.
    #[error(
        "destination {0} is inside /proc, /sys or /dev: back up to a directory on a disk or an NFS mount"
    )]
    SpecialPath(String),
    /// Missing, partial or contradictory credentials.
    #[error("{0}")]
    Credentials(String),
    /// opendal refused the configuration.
    #[error("cannot open destination {destination}: {source}")]
    Open {
        /// The destination as displayed.
        destination: String,
        /// The underlying error.
        source: opendal::Error,
    },
}

/// The kind of store behind a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Amazon S3 or an S3-compatible server (`s3://`).
    S3,
    /// A MinIO (or other S3-compatible) server with path-style buckets (`minio://`).
    Minio,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Local disk or an NFS mount (`file://` or a plain path).
    File,
}

impl Scheme {
    /// The URI scheme: `s3`, `minio`, `gs` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Minio => "minio",
            Scheme::Gcs => "gs",
            Scheme::File => "file",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Credentials sent with a backup, restore or listBackups request.
///
/// Empty strings mean "not given". `Debug` never shows the keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`accessKey`).
    pub access_key: String,
    /// The secret key (`secretKey`).
    pub secret_key: String,
    /// A temporary session token (`sessionToken`).
    pub session_token: Option<String>,
    /// Send unsigned requests, for public buckets (`anonymous`).
    pub anonymous: bool,
}

impl Credentials {
    /// Static keys, without a session token.
    pub fn keys(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Credentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            ..Credentials::default()
        }
    }

    /// Unsigned access to a public bucket.
    pub fn anonymous() -> Self {
        Credentials {
            anonymous: true,
            ..Credentials::default()
        }
    }

    fn has_keys(&self) -> bool {
        !self.access_key.is_empty()
            || !self.secret_key.is_empty()
            || self.session_token.as_deref().is_some_and(|t| !t.is_empty())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn shown(v: &str) -> &'static str {
            if v.is_empty() {
                "<empty>"
            } else {
                "<redacted>"
            }
        }
        f.debug_struct("Credentials")
            .field("access_key", &shown(&self.access_key))
            .field("secret_key", &shown(&self.secret_key))
            .field("session_token", &self.session_token.as_deref().map(shown))
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

/// A parsed, validated backup location.
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    target: Target,
}

#[derive(Clone, PartialEq, Eq)]
enum Target {
    /// `s3://` and `minio://`.
    S3 {
        minio: bool,
        /// The host as written (empty for `s3:///bucket`), with its port.
        written_host: String,
        /// The host requests go to, with its port.
        host: String,
        bucket: String,
        prefix: String,
        secure: bool,
        region: String,
        aws: bool,
    },
    Gcs {
        bucket: String,
        prefix: String,
    },
    File {
        root: PathBuf,
        /// Written as `file://` (shown that way again).
        uri: bool,
    },
}

/// How requests will be authenticated, resolved from the request and the environment.
#[derive(Clone, PartialEq, Eq)]
enum Auth {
    /// SigV4 with these keys.
    Keys {
        access_key: String,
        secret_key: String,
        session_token: Option<String>,
    },
    /// Unsigned requests.
    Anonymous,
    /// A Google service-account JSON file.
    GcsFile(String),
    /// The GCS emulator at this endpoint, unsigned.
    GcsEmulator(String),
    /// Local disk: nothing to sign.
    None,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the kind: keys and file paths stay out of logs and panics.
        f.write_str(match self {
            Auth::Keys { .. } => "Auth::Keys",
            Auth::Anonymous => "Auth::Anonymous",
            Auth::GcsFile(_) => "Auth::GcsFile",
            Auth::GcsEmulator(_) => "Auth::GcsEmulator",
            Auth::None => "Auth::None",
        })
    }
}

impl Destination {
    /// Parses and checks a destination URI; refuses anything doubtful before any work is done.
    pub fn parse(uri: &str) -> Result<Destination, DestinationError> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err(DestinationError::Empty);
        }
        let Some((scheme, rest)) = split_scheme(uri)? else {
            return parse_plain_path(uri);
        };
        match scheme.as_str() {
            "s3" => parse_s3(rest, false),
            "minio" => parse_s3(rest, true),
            "gs" => parse_gcs(rest),
            "file" => parse_file(rest),
            _ => Err(DestinationError::UnsupportedScheme(scheme)),
        }
    }

    /// The kind of store.
    pub fn scheme(&self) -> Scheme {
        match &self.target {
            Target::S3 { minio: false, .. } => Scheme::S3,
            Target::S3 { minio: true, .. } => Scheme::Minio,
            Target::Gcs { .. } => Scheme::Gcs,
            Target::File { .. } => Scheme::File,
        }
    }

    /// The bucket, for object stores.
    pub fn bucket(&self) -> Option<&str> {
        match &self.target {
            Target::S3 { bucket, .. } | Target::Gcs { bucket, .. } => Some(bucket),
            Target::File { .. } => None,
        }
    }

    /// Where backups live inside the store, for display: the object prefix inside the bucket
    /// (`dir/sub`, empty for the bucket's top) or the directory on disk.
    pub fn root(&self) -> String {
        match &self.target {
            Target::S3 { prefix, .. } | Target::Gcs { prefix, .. } => prefix.clone(),
            Target::File { root, .. } => root.display().to_string(),
        }
    }

    /// The HTTP endpoint of an S3 or MinIO destination, e.g. `https://s3.us-west-2.amazonaws.com`.
    pub fn endpoint(&self) -> Option<String> {
        match &self.target {
            Target::S3 { host, secure, .. } => Some(format!(
                "{}://{host}",
                if *secure { "https" } else { "http" }
            )),
            _ => None,
        }
    }

    /// The signing region of an S3 or MinIO destination.
    pub fn region(&self) -> Option<&str> {
        match &self.target {
            Target::S3 { region, .. } => Some(region),
            _ => None,
        }
    }

    /// Whether the store renames atomically (local disk); object stores need copy + delete.
    pub fn supports_rename(&self) -> bool {
        matches!(self.target, Target::File { .. })
    }

    /// Builds the operator for this destination. Credentials: the request's keys; else the
    /// environment (`AWS_ACCESS_KEY_ID`|`AWS_ACCESS_KEY`, `AWS_SECRET_ACCESS_KEY`|`AWS_SECRET_KEY`,
    /// `AWS_SESSION_TOKEN` for s3; `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY` for minio;
    /// `GOOGLE_APPLICATION_CREDENTIALS` or `STORAGE_EMULATOR_HOST` for gs); `anonymous` sends
    /// unsigned requests. `env` is how the environment is read (injectable for tests).
    pub fn operator(
        &self,
        creds: &Credentials,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Operator, DestinationError> {
        let auth = self.resolve_auth(creds, env)?;
        let open_err = |source| DestinationError::Open {
            destination: self.to_string(),
            source,
        };
        let op = match &self.target {
            Target::File { root, .. } => {
                let root = root.to_str().ok_or_else(|| {
                    DestinationError::Malformed(format!(
                        "path {} is not valid UTF-8",
                        root.display()
                    ))
                })?;
                return Operator::new(Fs::default().root(root)).map_err(open_err);
            }
            Target::S3 {
                bucket,
                prefix,
                region,
                aws,
                ..
            } => {
                let endpoint = self.endpoint().unwrap_or_default();
                let mut builder = S3::default()
                    .bucket(bucket)
                    .root(&object_root(prefix))
                    .endpoint(&endpoint)
                    .region(region)
                    .disable_config_load()
                    .disable_ec2_metadata();
                // AWS prefers virtual-hosted buckets; a dotted bucket would break the TLS name
                // check there, and MinIO and most compatible servers want path style.
                if *aws && !bucket.contains('.') {
                    builder = builder.enable_virtual_host_style();
                }
                builder = match &auth {
                    Auth::Keys {
                        access_key,
                        secret_key,
                        session_token,
                    } => {
                        let b = builder
                            .access_key_id(access_key)
                            .secret_access_key(secret_key);
                        match session_token {
                            Some(token) => b.session_token(token),
                            None => b,
                        }
                    }
                    _ => builder.skip_signature(),
                };
                Operator::new(builder).map_err(open_err)?
            }
            Target::Gcs { bucket, prefix } => {
                let builder = Gcs::default()
                    .bucket(bucket)
                    .root(&object_root(prefix))
                    .disable_config_load()
                    .disable_vm_metadata();
                let builder = match &auth {
                    Auth::GcsFile(path) => builder.credential_path(path),
                    Auth::GcsEmulator(endpoint) => builder.endpoint(endpoint).skip_signature(),
                    _ => builder.skip_signature(),
                };
                Operator::new(builder).map_err(open_err)?
            }
        };
        Ok(op
            .with_context(OperationContext::new().with_http_transport(http_transport()))
            .layer(
                TimeoutLayer::new()
                    .with_timeout(Duration::from_secs(120))
                    .with_io_timeout(Duration::from_secs(60)),
            )
            .layer(
                RetryLayer::new()
                    .with_max_times(RETRY_TIMES)
                    .with_min_delay(Duration::from_millis(500))
                    .with_max_delay(Duration::from_secs(10))
                    .with_jitter(),
            ))
    }

    fn resolve_auth(
        &self,
        creds: &Credentials,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Auth, DestinationError> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let cred_err = |m: &str| Err(DestinationError::Credentials(m.to_string()));
        match &self.target {
            Target::File { .. } => {
                if creds.has_keys() {
                    return cred_err(
                        "file destinations take no accessKey, secretKey or sessionToken",
                    );
                }
                Ok(Auth::None)
            }
            Target::Gcs { .. } => {
                if creds.has_keys() {
                    return cred_err(
                        "gs:// destinations take credentials from GOOGLE_APPLICATION_CREDENTIALS, not accessKey/secretKey",
                    );
                }
                if let Some(host) = env("STORAGE_EMULATOR_HOST") {
                    let endpoint = if host.contains("://") {
                        host
                    } else {
                        format!("http://{host}")
                    };
                    return Ok(Auth::GcsEmulator(
                        endpoint.trim_end_matches('/').to_string(),
                    ));
                }
                if creds.anonymous {
                    return Ok(Auth::Anonymous);
                }
                match env("GOOGLE_APPLICATION_CREDENTIALS") {
                    Some(path) if Path::new(&path).is_file() => Ok(Auth::GcsFile(path)),
                    Some(_) => cred_err(
                        "GOOGLE_APPLICATION_CREDENTIALS does not name a readable file: point it at a service-account JSON key",
                    ),
                    None => cred_err(
                        "gs:// destinations need GOOGLE_APPLICATION_CREDENTIALS (a service-account JSON key file), or anonymous: true for a public bucket",
                    ),
                }
            }
            Target::S3 { minio, .. } => {
                if creds.has_keys() {
                    if creds.anonymous {
                        return cred_err(
                            "anonymous access takes no accessKey, secretKey or sessionToken",
                        );
                    }
                    if creds.access_key.is_empty() || creds.secret_key.is_empty() {
                        return cred_err(
                            "accessKey and secretKey go together: give both, or neither to use the environment",
                        );
                    }
                    return Ok(Auth::Keys {
                        access_key: creds.access_key.clone(),
                        secret_key: creds.secret_key.clone(),
                        session_token: creds.session_token.clone().filter(|t| !t.is_empty()),
                    });
                }
                if creds.anonymous {
                    return Ok(Auth::Anonymous);
                }
                let (access, secret, token, names) = if *minio {
                    (
                        env("MINIO_ACCESS_KEY"),
                        env("MINIO_SECRET_KEY"),
                        None,
                        ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"),
                    )
                } else {
                    (
                        env("AWS_ACCESS_KEY_ID").or_else(|| env("AWS_ACCESS_KEY")),
                        env("AWS_SECRET_ACCESS_KEY").or_else(|| env("AWS_SECRET_KEY")),
                        env("AWS_SESSION_TOKEN"),
                        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                    )
                };
                match (access, secret) {
                    (Some(access_key), Some(secret_key)) => Ok(Auth::Keys {
                        access_key,
                        secret_key,
                        session_token: token,
                    }),
                    (Some(_), None) => Err(DestinationError::Credentials(format!(
                        "{} is set but {} is not: set both",
                        names.0, names.1
                    ))),
                    (None, Some(_)) => Err(DestinationError::Credentials(format!(
                        "{} is set but {} is not: set both",
                        names.1, names.0
                    ))),
                    (None, None) => Err(DestinationError::Credentials(format!(
                        "no credentials for {}: pass accessKey and secretKey, set {} and {}, or use anonymous: true for a public bucket",
                        self, names.0, names.1
                    ))),
                }
            }
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::S3 {
                minio,
                written_host,
                bucket,
                prefix,
                secure,
                ..
            } => {
                let scheme = if *minio { "minio" } else { "s3" };
                write!(f, "{scheme}://{written_host}/{bucket}")?;
                if !prefix.is_empty() {
                    write!(f, "/{prefix}")?;
                }
                if !secure {
                    f.write_str("?secure=false")?;
                }
                Ok(())
            }
            Target::Gcs { bucket, prefix } => {
                write!(f, "gs://{bucket}")?;
                if !prefix.is_empty() {
                    write!(f, "/{prefix}")?;
                }
                Ok(())
            }
            Target::File { root, uri: true } => write!(f, "file://{}", root.display()),
            Target::File { root, uri: false } => write!(f, "{}", root.display()),
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Destination({self})")
    }
}

/// The one HTTP transport for object stores. The opendal facade installs none with the TLS
/// provider left to us, so we install ring once and hand reqwest to each operator.
fn http_transport() -> HttpTransporter {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Another part of the process may have installed a provider already; that one is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    HttpTransporter::new(ReqwestTransport::default())
}

fn object_root(prefix: &str) -> String {
    if prefix.is_empty() {
        "/".to_string()
    } else {
        format!("/{prefix}/")
    }
}

/// Splits `scheme://rest`; `None` for a plain path. A known scheme without `//` is refused.
fn split_scheme(uri: &str) -> Result<Option<(String, &str)>, DestinationError> {
    if let Some((scheme, rest)) = uri.split_once("://") {
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            return Ok(Some((scheme.to_ascii_lowercase(), rest)));
        }
        if !scheme.contains('/') {
            return Err(DestinationError::Malformed(format!(
                "'{scheme}' is not a URI scheme"
            )));
        }
    }
    if let Some((scheme, _)) = uri.split_once(':') {
        let lower = scheme.to_ascii_lowercase();
        if matches!(lower.as_str(), "s3" | "minio" | "gs" | "file") {
            return Err(DestinationError::Malformed(format!(
                "'{lower}:' must be followed by '//', e.g. {lower}://..."
            )));
        }
    }
    Ok(None)
}

fn parse_plain_path(path: &str) -> Result<Destination, DestinationError> {
    let p = Path::new(path);
    let mut root = PathBuf::new();
    for component in p.components() {
        match component {
            Component::ParentDir => return Err(DestinationError::EscapesRoot(path.to_string())),
            Component::CurDir => {}
            c => root.push(c.as_os_str()),
        }
    }
    if root.as_os_str().is_empty() {
        root.push(".");
    }
    refuse_special(&root)?;
    Ok(Destination {
        target: Target::File { root, uri: false },
    })
}

/// Refuses paths in the kernel's own file systems: no backup can live there, and the store
/// layer does not expect what it finds.
fn refuse_special(root: &Path) -> Result<(), DestinationError> {
    let absolute = if root.is_absolute() {
        root.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(root)
    };
    let special = ["/proc", "/sys", "/dev"]
        .iter()
        .any(|dir| absolute.starts_with(dir));
    if special {
        return Err(DestinationError::SpecialPath(root.display().to_string()));
    }
    Ok(())
}

struct Parts<'a> {
    authority: &'a str,
    segments: Vec<String>,
    query: Vec<(String, String)>,
}

/// Splits `authority/path?query` and decodes the path segments; refuses fragments, user
/// info and `..`.
fn split_rest(rest: &str) -> Result<Parts<'_>, DestinationError> {
    if rest.contains('#') {
        return Err(DestinationError::Malformed(
            "a destination takes no '#' fragment".to_string(),
        ));
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(DestinationError::Malformed(
            "credentials do not belong in the destination URI: pass accessKey and secretKey, or set them in the environment".to_string(),
        ));
    }
    let mut segments = Vec::new();
    for raw in path.split('/') {
        let segment = percent_decode(raw)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => return Err(DestinationError::EscapesRoot(path.to_string())),
            s if s.contains('/') || s.contains('\\') || s.contains('\0') => {
                return Err(DestinationError::Malformed(format!(
                    "path segment '{raw}' decodes to a separator or NUL"
                )));
            }
            _ => segments.push(segment),
        }
    }
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(Parts {
        authority,
        segments,
        query: params,
    })
}

/// Reads the query parameters a scheme accepts; returns `secure`.
fn read_params(
    query: &[(String, String)],
    accepted: &[&str],
    supported: &'static str,
) -> Result<bool, DestinationError> {
    let unknown: Vec<String> = query
        .iter()
        .filter(|(k, _)| !accepted.contains(&k.as_str()))
        .map(|(k, _)| format!("'{k}'"))
        .collect();
    if !unknown.is_empty() {
        return Err(DestinationError::UnknownParameters {
            names: unknown,
            supported,
        });
    }
    let mut secure = None;
    for (k, v) in query {
        if k == "secure" {
            let value = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(DestinationError::Malformed(format!(
                        "secure must be true or false, not '{v}'"
                    )));
                }
            };
            if secure.replace(value).is_some() {
                return Err(DestinationError::Malformed(
                    "secure is given more than once".to_string(),
                ));
            }
        }
    }
    Ok(secure.unwrap_or(true))
}

fn percent_decode(s: &str) -> Result<String, DestinationError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(DestinationError::Malformed(format!(
                    "bad percent-escape in '{s}'"
                )));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| DestinationError::Malformed(format!("'{s}' is not valid UTF-8")))
}

/// Checks `host[:port]`; returns the host (normalized) and whether a port was given.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), DestinationError> {
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let Some((v6, tail)) = after.split_once(']') else {
            return Err(DestinationError::Malformed(format!(
                "unclosed '[' in host '{authority}'"
            )));
        };
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or_else(|| {
                DestinationError::Malformed(format!("invalid host '{authority}'"))
            })?),
        };
        (format!("[{v6}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            DestinationError::Malformed(format!("invalid port '{p}' in '{authority}'"))
        })?),
    };
    if host.is_empty() {
        if port.is_some() {
            return Err(DestinationError::Malformed(format!(
                "a port without a host in '{authority}'"
            )));
        }
        return Ok((String::new(), None));
    }
    let parsed = url::Host::parse(&host)
        .map_err(|_| DestinationError::Malformed(format!("invalid host '{host}'")))?;
    Ok((parsed.to_string(), port))
}

fn with_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

fn check_bucket(bucket: &str) -> Result<(), DestinationError> {
    let ok = bucket.len() <= 255
        && bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(DestinationError::Malformed(format!(
            "invalid bucket name '{bucket}': use letters, digits, '.', '-' and '_'"
        )))
    }
}

fn parse_s3(rest: &str, minio: bool) -> Result<Destination, DestinationError> {
    let parts = split_rest(rest)?;
    let secure = read_params(&parts.query, &["secure"], "only secure=false is supported")?;
    let (host, port) = parse_authority(parts.authority)?;
    if minio && host.is_empty() {
        return Err(DestinationError::MissingHost);
    }
    let (scheme, example) = if minio {
        ("minio", "minio://host:port/bucket/path")
    } else {
        ("s3", "s3://host/bucket/path or s3:///bucket/path")
    };
    let mut segments = parts.segments.into_iter();
    let bucket = segments
        .next()
        .ok_or(DestinationError::MissingBucket { scheme, example })?;
    check_bucket(&bucket)?;
    let prefix = segments.collect::<Vec<_>>().join("/");
    let written_host = with_port(&host, port);
    // Dgraph sends `s3:///bucket` and dot-less hosts to AWS; a dot-less host with an explicit
    // port (localhost:9000) is clearly a local server and kept.
    let dotless = !host.contains('.') && !host.starts_with('[') && port.is_none();
    let (target_host, bare_host) = if !minio && (host.is_empty() || dotless) {
        (AWS_DEFAULT_HOST.to_string(), AWS_DEFAULT_HOST)
    } else {
        (written_host.clone(), host.as_str())
    };
    let aws = !minio && is_aws_host(bare_host);
    let region = aws_region(bare_host).unwrap_or_else(|| DEFAULT_REGION.to_string());
    Ok(Destination {
        target: Target::S3 {
            minio,
            written_host,
            host: target_host,
            bucket,
            prefix,
            secure,
            region,
            aws,
        },
    })
}

fn parse_gcs(rest: &str) -> Result<Destination, DestinationError> {
    let parts = split_rest(rest)?;
    read_params(&parts.query, &[], "gs:// destinations take no parameters")?;
    if parts.authority.is_empty() {
        return Err(DestinationError::MissingBucket {
            scheme: "gs",
            example: "gs://bucket/path",
        });
    }
    let bucket = percent_decode(parts.authority)?;
    check_bucket(&bucket)?;
    Ok(Destination {
        target: Target::Gcs {
            bucket,
            prefix: parts.segments.join("/"),
        },
    })
}

fn parse_file(rest: &str) -> Result<Destination, DestinationError> {
    let parts = split_rest(rest)?;
    read_params(&parts.query, &[], "file destinations take no parameters")?;
    if !parts.authority.is_empty() && !parts.authority.eq_ignore_ascii_case("localhost") {
        return Err(DestinationError::Malformed(format!(
            "file URIs take an absolute path and no host: file:///{}{}",
            parts.authority,
            if parts.segments.is_empty() {
                ""
            } else {
                "/..."
            }
        )));
    }
    let mut root = PathBuf::from("/");
    for segment in &parts.segments {
        root.push(segment);
    }
    refuse_special(&root)?;
    Ok(Destination {
        target: Target::File { root, uri: true },
    })
}

fn is_aws_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// The region an AWS S3 host names: `s3.<r>.amazonaws.com`, `s3-<r>.amazonaws.com`,
/// `s3.dualstack.<r>.amazonaws.com`, their `.amazonaws.com.cn` forms and the FIPS GovCloud
/// hosts. `None` when the host names no region.
pub fn aws_region(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let (rest, china) = if let Some(r) = host.strip_suffix(".amazonaws.com.cn") {
        (r, true)
    } else {
        (host.strip_suffix(".amazonaws.com")?, false)
    };
    // Virtual-hosted forms (`bucket.s3.<r>...`) name the region after the `s3` label.
    let rest = if rest.starts_with("s3") {
        rest
    } else {
        &rest[rest.find(".s3")? + 1..]
    };
    let rest = &rest[2..];
    let rest = rest.strip_prefix("-fips").unwrap_or(rest);
    let rest = rest
        .strip_prefix('.')
        .or_else(|| rest.strip_prefix('-'))
        .unwrap_or(rest);
    let rest = rest.strip_prefix("dualstack.").unwrap_or(rest);
    let region = match rest {
        "" => return china.then(|| "cn-north-1".to_string()),
        "external-1" => "us-east-1",
        "accelerate" => return None,
        r if r.contains("us-gov-west") => "us-gov-west-1",
        r => r,
    };
    let plausible = region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    plausible.then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// (uri, scheme, bucket, root, endpoint, region, display)
    type FormCase = (
        &'static str,
        Scheme,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn parses_every_form() {
        let cases: &[FormCase] = &[
            (
                "s3://s3.us-west-2.amazonaws.com/bucket/dir",
                Scheme::S3,
                Some("bucket"),
                "dir",
                Some("https://s3.us-west-2.amazonaws.com"),
                Some("us-west-2"),
                "s3://s3.us-west-2.amazonaws.com/bucket/dir",
            ),
            (
                "s3:///bucket/dir/sub",
                Scheme::S3,
                Some("bucket"),
                "dir/sub",
                Some("https://s3.amazonaws.com"),
                Some("us-east-1"),
                "s3:///bucket/dir/sub",
            ),
            (
                "s3://nodots/bucket",
                Scheme::S3,
                Some("bucket"),
                "",
                Some("https://s3.amazonaws.com"),
                Some("us-east-1"),
                "s3://nodots/bucket",
            ),
            (
                "S3://localhost:9000/bucket/a//b/./c/?secure=false",
                Scheme::S3,
                Some("bucket"),
                "a/b/c",
                Some("http://localhost:9000"),
                Some("us-east-1"),
                "s3://localhost:9000/bucket/a/b/c?secure=false",
            ),
            (
                "s3://127.0.0.1:8333/backups/dgraph?secure=false",
                Scheme::S3,
                Some("backups"),
                "dgraph",
                Some("http://127.0.0.1:8333"),
                Some("us-east-1"),
                "s3://127.0.0.1:8333/backups/dgraph?secure=false",
            ),
            (
                "minio://minio.local:9000/bucket/path?secure=true",
                Scheme::Minio,
                Some("bucket"),
                "path",
                Some("https://minio.local:9000"),
                Some("us-east-1"),
                "minio://minio.local:9000/bucket/path",
            ),
            (
                "minio://[::1]:9000/bucket",
                Scheme::Minio,
                Some("bucket"),
                "",
                Some("https://[::1]:9000"),
                Some("us-east-1"),
                "minio://[::1]:9000/bucket",
            ),
            (
                "gs://my-bucket/backups/prod",
                Scheme::Gcs,
                Some("my-bucket"),
                "backups/prod",
                None,
                None,
                "gs://my-bucket/backups/prod",
            ),
            (
                "file:///var/backups/dgraph",
                Scheme::File,
                None,
                "/var/backups/dgraph",
                None,
                None,
                "file:///var/backups/dgraph",
            ),
            (
                "file://localhost/mnt/nfs%20share",
                Scheme::File,
                None,
                "/mnt/nfs share",
                None,
                None,
                "file:///mnt/nfs share",
            ),
            (
                "/mnt/nfs/backups",
                Scheme::File,
                None,
                "/mnt/nfs/backups",
                None,
                None,
                "/mnt/nfs/backups",
            ),
            (
                "./relative/dir",
                Scheme::File,
                None,
                "relative/dir",
                None,
                None,
                "relative/dir",
            ),
            (
                "backups",
                Scheme::File,
                None,
                "backups",
                None,
                None,
                "backups",
            ),
        ];
        for (uri, scheme, bucket, root, endpoint, region, display) in cases {
            let d = Destination::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(d.scheme(), *scheme, "{uri}");
            assert_eq!(d.bucket(), *bucket, "{uri}");
            assert_eq!(d.root(), *root, "{uri}");
            assert_eq!(d.endpoint().as_deref(), *endpoint, "{uri}");
            assert_eq!(d.region(), *region, "{uri}");
            assert_eq!(d.to_string(), *display, "{uri}");
            assert_eq!(d.supports_rename(), *scheme == Scheme::File, "{uri}");
            // What we display parses back to the same destination.
            assert_eq!(Destination::parse(&d.to_string()).unwrap(), d, "{uri}");
        }
    }

    #[test]
    fn refuses_bad_uris_with_clear_messages() {
        let cases: &[(&str, &str)] = &[
            ("", "empty destination"),
            ("   ", "empty destination"),
            (
                "ftp://host/dir",
                "unsupported destination scheme 'ftp': use s3://, minio://, gs://, file:// or a path",
            ),
            (
                "azure://account/container",
                "unsupported destination scheme 'azure'",
            ),
            ("s3://s3.amazonaws.com", "s3 destination has no bucket"),
            ("s3://s3.amazonaws.com/", "s3 destination has no bucket"),
            ("s3:///", "s3 destination has no bucket"),
            ("minio://host:9000", "minio destination has no bucket"),
            (
                "minio:///bucket/dir",
                "minio destinations need a host: minio://host:port/bucket/path",
            ),
            ("gs://", "gs destination has no bucket"),
            ("s3://h.com/bucket/../other", "may not contain '..'"),
            ("s3://h.com/bucket/a/%2e%2e/b", "may not contain '..'"),
            ("gs://bucket/../x", "may not contain '..'"),
            ("file:///var/../etc", "may not contain '..'"),
            ("../outside", "may not contain '..'"),
            ("/backups/../../etc", "may not contain '..'"),
            (
                "s3://h.com/bucket?secure=false&region=x&trace=true",
                "unknown destination parameter(s) 'region', 'trace'",
            ),
            (
                "gs://bucket/dir?secure=false",
                "unknown destination parameter(s) 'secure'",
            ),
            (
                "file:///tmp/x?mode=1",
                "unknown destination parameter(s) 'mode'",
            ),
            (
                "s3://h.com/bucket?secure=maybe",
                "secure must be true or false",
            ),
            (
                "s3://h.com/bucket?secure=false&secure=true",
                "more than once",
            ),
            (
                "s3://AKIA:hunter2@h.com/bucket",
                "credentials do not belong",
            ),
            ("s3://h.com/bucket#frag", "no '#' fragment"),
            ("s3://h.com:99999/bucket", "invalid port"),
            ("s3://h.com/bu%zzcket", "bad percent-escape"),
            ("s3://h.com/bad*bucket", "invalid bucket name"),
            ("s3://h.com/a/b%2Fc", "decodes to a separator"),
            (
                "file://server/share",
                "file URIs take an absolute path and no host",
            ),
            ("s3:bucket/dir", "'s3:' must be followed by '//'"),
            ("1abc://x/y", "is not a URI scheme"),
            ("file:///proc/self/fd", "inside /proc, /sys or /dev"),
            ("/sys/kernel", "inside /proc, /sys or /dev"),
            ("file:///dev", "inside /proc, /sys or /dev"),
        ];
        for (uri, want) in cases {
            let err = Destination::parse(uri).expect_err(uri).to_string();
            assert!(err.contains(want), "{uri}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn errors_and_display_never_show_secrets() {
        let err = Destination::parse("s3://AKIAEXAMPLE:hunter2@h.com/bucket").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        let creds = Credentials {
            access_key: "AKIAEXAMPLE".into(),
            secret_key: "hunter2".into(),
            session_token: Some("tok3n".into()),
            anonymous: false,
        };
        let debug = format!("{creds:?}");
        for secret in ["AKIAEXAMPLE", "hunter2", "tok3n"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("<redacted>"));
        // A half-given pair names what is missing, never the value.
        let d = Destination::parse("s3://h.com/bucket").unwrap();
        let half = Credentials::keys("", "hunter2");
        let err = d.operator(&half, &no_env).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    }

    #[test]
    fn regions_from_aws_host_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("s3.amazonaws.com", None),
            ("s3.us-west-2.amazonaws.com", Some("us-west-2")),
            ("s3-eu-west-1.amazonaws.com", Some("eu-west-1")),
            ("s3.dualstack.ap-south-1.amazonaws.com", Some("ap-south-1")),
            ("s3.cn-north-1.amazonaws.com.cn", Some("cn-north-1")),
            (
                "s3.dualstack.cn-northwest-1.amazonaws.com.cn",
                Some("cn-northwest-1"),
            ),
            ("s3-fips-us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("s3-fips.us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("s3-us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("s3.us-gov-east-1.amazonaws.com", Some("us-gov-east-1")),
            ("s3-external-1.amazonaws.com", Some("us-east-1")),
            ("s3-accelerate.amazonaws.com", None),
            ("bucket.s3.eu-central-1.amazonaws.com", Some("eu-central-1")),
            ("S3.US-WEST-1.AMAZONAWS.COM", Some("us-west-1")),
            ("storage.googleapis.com", None),
            ("minio.example.com", None),
            ("notamazonaws.com", None),
        ];
        for (host, want) in cases {
            assert_eq!(aws_region(host).as_deref(), *want, "{host}");
        }
        let d = Destination::parse("s3://s3.eu-west-3.amazonaws.com/b").unwrap();
        assert_eq!(d.region(), Some("eu-west-3"));
        let d = Destination::parse("s3://minio.example.com:9000/b").unwrap();
        assert_eq!(d.region(), Some(DEFAULT_REGION));
    }

    fn keys(auth: Auth) -> (String, String, Option<String>) {
        match auth {
            Auth::Keys {
                access_key,
                secret_key,
                session_token,
            } => (access_key, secret_key, session_token),
            _ => panic!("expected keys"),
        }
    }

    #[test]
    fn s3_credential_precedence() {
        let d = Destination::parse("s3://s3.amazonaws.com/bucket").unwrap();
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "env-id"),
            ("AWS_ACCESS_KEY", "env-id-old"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SECRET_KEY", "env-secret-old"),
            ("AWS_SESSION_TOKEN", "env-token"),
            ("MINIO_ACCESS_KEY", "minio-id"),
            ("MINIO_SECRET_KEY", "minio-secret"),
        ]);
        // The request's keys win, and do not mix with the environment's token.
        let req = Credentials::keys("req-id", "req-secret");
        assert_eq!(
            keys(d.resolve_auth(&req, &env).unwrap()),
            ("req-id".into(), "req-secret".into(), None)
        );
        let with_token = Credentials {
            session_token: Some("req-token".into()),
            ..req.clone()
        };
        assert_eq!(
            keys(d.resolve_auth(&with_token, &env).unwrap()).2,
            Some("req-token".into())
        );
        // Then the AWS variables, the long names first.
        assert_eq!(
            keys(d.resolve_auth(&Credentials::default(), &env).unwrap()),
            (
                "env-id".into(),
                "env-secret".into(),
                Some("env-token".into())
            )
        );
        let old = env_of(&[
            ("AWS_ACCESS_KEY", "env-id-old"),
            ("AWS_SECRET_KEY", "env-secret-old"),
            ("MINIO_ACCESS_KEY", "minio-id"),
            ("MINIO_SECRET_KEY", "minio-secret"),
        ]);
        assert_eq!(
            keys(d.resolve_auth(&Credentials::default(), &old).unwrap()),
            ("env-id-old".into(), "env-secret-old".into(), None)
        );
        // MinIO's variables are not AWS's.
        let minio_only = env_of(&[("MINIO_ACCESS_KEY", "m"), ("MINIO_SECRET_KEY", "s")]);
        let err = d
            .resolve_auth(&Credentials::default(), &minio_only)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no credentials for s3://s3.amazonaws.com/bucket"),
            "{err}"
        );
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        // Anonymous: unsigned, even with keys in the environment.
        assert!(d.resolve_auth(&Credentials::anonymous(), &env).unwrap() == Auth::Anonymous);
        // Empty variables count as unset.
        let empty = env_of(&[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")]);
        assert!(d.resolve_auth(&Credentials::default(), &empty).is_err());
    }

    #[test]
    fn minio_credential_precedence() {
        let d = Destination::parse("minio://minio:9000/bucket").unwrap();
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "aws-id"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("MINIO_ACCESS_KEY", "minio-id"),
            ("MINIO_SECRET_KEY", "minio-secret"),
        ]);
        assert_eq!(
            keys(d.resolve_auth(&Credentials::keys("a", "b"), &env).unwrap()),
            ("a".into(), "b".into(), None)
        );
        assert_eq!(
            keys(d.resolve_auth(&Credentials::default(), &env).unwrap()),
            ("minio-id".into(), "minio-secret".into(), None)
        );
        let aws_only = env_of(&[("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "y")]);
        let err = d
            .resolve_auth(&Credentials::default(), &aws_only)
            .unwrap_err()
            .to_string();
        assert!(err.contains("MINIO_ACCESS_KEY"), "{err}");
    }

    #[test]
    fn partial_or_contradictory_credentials_are_refused() {
        let d = Destination::parse("s3://h.com/bucket").unwrap();
        let cases: &[(Credentials, &str)] = &[
            (
                Credentials::keys("id", ""),
                "accessKey and secretKey go together",
            ),
            (
                Credentials::keys("", "secret"),
                "accessKey and secretKey go together",
            ),
            (
                Credentials {
                    session_token: Some("t".into()),
                    ..Credentials::default()
                },
                "accessKey and secretKey go together",
            ),
            (
                Credentials {
                    anonymous: true,
                    ..Credentials::keys("id", "secret")
                },
                "anonymous access takes no accessKey",
            ),
        ];
        for (creds, want) in cases {
            let err = d.resolve_auth(creds, &no_env).unwrap_err().to_string();
            assert!(err.contains(want), "{creds:?}: {err}");
        }
        let half_env = env_of(&[("AWS_ACCESS_KEY_ID", "id")]);
        let err = d
            .resolve_auth(&Credentials::default(), &half_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both"
        );
        let f = Destination::parse("/tmp/x").unwrap();
        assert!(
            f.resolve_auth(&Credentials::keys("a", "b"), &no_env)
                .is_err()
        );
        assert!(f.resolve_auth(&Credentials::anonymous(), &no_env).unwrap() == Auth::None);
    }

    #[test]
    fn gcs_credentials() {
        let d = Destination::parse("gs://bucket/dir").unwrap();
        let err = d
            .resolve_auth(&Credentials::keys("a", "b"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gs:// destinations take credentials from GOOGLE_APPLICATION_CREDENTIALS"),
            "{err}"
        );
        let err = d
            .resolve_auth(&Credentials::default(), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("need GOOGLE_APPLICATION_CREDENTIALS"), "{err}");
        let missing = env_of(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]);
        assert!(d.resolve_auth(&Credentials::default(), &missing).is_err());

        let key = tempfile::NamedTempFile::new().unwrap();
        let path = key.path().to_str().unwrap().to_string();
        let with_file = env_of(&[("GOOGLE_APPLICATION_CREDENTIALS", &path)]);
        assert!(
            d.resolve_auth(&Credentials::default(), &with_file).unwrap()
                == Auth::GcsFile(path.clone())
        );

        // The emulator needs no credentials and wins over a key file.
        let emulator = env_of(&[
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent"),
        ]);
        assert!(
            d.resolve_auth(&Credentials::default(), &emulator).unwrap()
                == Auth::GcsEmulator("http://127.0.0.1:4443".into())
        );
        let emulator = env_of(&[("STORAGE_EMULATOR_HOST", "http://localhost:4443/")]);
        assert!(
            d.resolve_auth(&Credentials::default(), &emulator).unwrap()
                == Auth::GcsEmulator("http://localhost:4443".into())
        );
        assert!(d.resolve_auth(&Credentials::anonymous(), &no_env).unwrap() == Auth::Anonymous);
    }

    #[test]
    fn operators_build_without_network() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new/sub");
        let d = Destination::parse(root.to_str().unwrap()).unwrap();
        let op = d.operator(&Credentials::default(), &no_env).unwrap();
        assert!(root.is_dir(), "the fs root is created");
        assert!(op.info().capability().rename);

        let s3 = Destination::parse("s3://s3.eu-west-1.amazonaws.com/bucket/dir").unwrap();
        let op = s3.operator(&Credentials::keys("a", "b"), &no_env).unwrap();
        assert!(!op.info().capability().rename);
        assert_eq!(op.info().name(), "bucket");

        let gcs = Destination::parse("gs://bucket/dir").unwrap();
        let env = env_of(&[("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")]);
        gcs.operator(&Credentials::default(), &env).unwrap();
    }
}
