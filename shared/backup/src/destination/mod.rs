//! Where backups go: a destination URI parsed and checked before any work, and the opendal
//! [`Operator`] that reads and writes under it.
//!
//! The URI forms are Dgraph's (`s3://`, `minio://`, `file://`, a plain path) plus native
//! Google Cloud Storage (`gs://`). Credentials come only from the request or from the
//! documented environment variables: opendal's own loading (profile files, instance metadata)
//! is switched off so a backup never picks up keys nobody asked for.
//!
//! Three concerns, one file each: `uri` reads the URI forms into a [`Destination`], `auth`
//! decides how its requests are signed, and this module holds the value and builds its operator.

use std::fmt;
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::services::{Fs, Gcs, S3};
use opendal::{HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;

use auth::Auth;

mod auth;
mod uri;

pub use uri::aws_region;

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
impl Destination {
    /// Parses and checks a destination URI; refuses anything doubtful before any work is done.
    pub fn parse(uri: &str) -> Result<Destination, DestinationError> {
        uri::parse(uri)
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

#[cfg(test)]
mod test_env {
    use std::collections::HashMap;

    pub fn no_env(_: &str) -> Option<String> {
        None
    }

    pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::test_env::no_env;
    use super::*;

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
        let env = super::test_env::env_of(&[("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")]);
        gcs.operator(&Credentials::default(), &env).unwrap();
    }
}
