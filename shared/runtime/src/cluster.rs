//! The cluster credential: what lets one service of the suite call another's internal gRPC.
//!
//! Every service started with `--cluster_secret_file FILE` (the same file everywhere: at least
//! [`MIN_SECRET_LEN`] bytes, readable by its owner only) derives one token from it, sends it as
//! [`METADATA`] on every gRPC call it makes, and refuses, with `Unauthenticated`, any call to its
//! internal services that does not carry it. Internal means everything but what outsiders are
//! meant to reach: Dgraph's client API (`api.Dgraph`, which ACL guards), gRPC health, reflection
//! and `node.Node/Info`. The secret itself never leaves the process; the token is a SHA-256 of it
//! under a fixed label, and is compared in constant time.
//!
//! A process holds at most one credential ([`install`]), which the client channels of
//! `lodestar-client` and the servers of [`crate::serve`] pick up without being told.

use crate::ServiceError;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// The gRPC metadata key the token travels in.
pub const METADATA: &str = "x-lodestar-cluster";

/// The shortest cluster secret taken, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Service path prefixes any caller may use without the credential.
const PUBLIC: &[&str] = &[
    "/api.Dgraph/",
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
    "/node.Node/",
];

/// The token derived from a cluster secret. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterToken {
    hex: String,
}

impl std::fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterToken(..)")
    }
}

impl ClusterToken {
    /// The token of `secret` (which must be long enough; see [`read_secret_file`]).
    pub fn derive(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"lodestar cluster credential v1\0");
        h.update(secret);
        ClusterToken {
            hex: hex::encode(h.finalize()),
        }
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        presented.len() == self.hex.len() && bool::from(presented.ct_eq(self.hex.as_bytes()))
    }

    fn metadata_value(&self) -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
        let mut v = tonic::metadata::MetadataValue::try_from(self.hex.as_str())
            .expect("hex is valid metadata");
        v.set_sensitive(true);
        v
    }
}

/// Reads a cluster secret file and derives its token. The file must be at least
/// [`MIN_SECRET_LEN`] bytes and not readable by group or others; the errors name the file and
/// what to do, never its contents.
pub fn read_secret_file(path: &Path) -> Result<ClusterToken, ServiceError> {
    use lodestar_crypto::private_file::{PrivateFileError, read_private};
    let secret = read_private(path, 0o077).map_err(|e| match e {
        PrivateFileError::Unreadable { path, reason } => {
            ServiceError::invalid(format!("--cluster_secret_file {path}: {reason}"))
        }
        PrivateFileError::TooOpen { path, mode } => ServiceError::invalid(format!(
            "--cluster_secret_file {path} can be read by other users (mode {mode:03o}); make it private with chmod 600"
        )),
    })?;
    let trimmed = secret.trim_ascii_end();
    if trimmed.len() < MIN_SECRET_LEN {
        return Err(ServiceError::invalid(format!(
            "--cluster_secret_file {} holds {} bytes; a cluster secret needs at least {MIN_SECRET_LEN} (make one with: head -c 32 /dev/urandom | base64 > {0} && chmod 600 {0})",
            path.display(),
            trimmed.len()
        )));
    }
    Ok(ClusterToken::derive(trimmed))
}

static INSTALLED: OnceLock<ClusterToken> = OnceLock::new();

/// Makes `token` this process's credential: sent on every call, required on every internal
/// service. Installing the same token again is fine; a different one is refused.
pub fn install(token: ClusterToken) -> Result<(), ServiceError> {
    let installed = INSTALLED.get_or_init(|| token.clone());
    if *installed != token {
        return Err(ServiceError::invalid(
            "this process already has a different cluster secret",
        ));
    }
    Ok(())
}

/// The process's credential, if it has one.
pub fn installed() -> Option<&'static ClusterToken> {
    INSTALLED.get()
}

/// Whether internal calls to and from this process are authenticated.
pub fn enabled() -> bool {
    installed().is_some()
}

/// Refuses to run with ACL on but no cluster credential: the internal ports (zero, the alpha's
/// internal port, auth, the backup worker) would then take, from anyone, the calls that ACL
/// refuses on the public ones.
pub fn require_with_acl() -> Result<(), ServiceError> {
    if enabled() {
        return Ok(());
    }
    Err(ServiceError::invalid(
        "ACL is on (--acl_secret_file) but --cluster_secret_file is not: without it the internal ports would take calls from anyone, tokens or not. Give every service of the cluster (zeros included) the same --cluster_secret_file (head -c 32 /dev/urandom | base64 > cluster_secret && chmod 600 cluster_secret)",
    ))
}

/// Whether the gRPC method at `path` (`/package.Service/Method`) is open to any caller.
pub fn is_public(path: &str) -> bool {
    PUBLIC.iter().any(|p| path.starts_with(p))
}

/// Adds the process's credential (if any) to an outgoing call's metadata.
pub fn attach(metadata: &mut tonic::metadata::MetadataMap) {
    if let Some(token) = installed() {
        metadata.insert(METADATA, token.metadata_value());
    }
}

/// Whether a call to `path` with `headers` may go on under `expected` (the process's
/// credential): public methods always; internal ones only with the matching token.
pub fn admits(expected: Option<&ClusterToken>, path: &str, headers: &http::HeaderMap) -> bool {
    let Some(token) = expected else {
        return true;
    };
    is_public(path)
        || headers
            .get(METADATA)
            .is_some_and(|v| token.matches(v.as_bytes()))
}

/// The answer to a call [`admits`] turned away.
pub fn refusal(path: &str) -> tonic::Status {
    tonic::Status::unauthenticated(format!(
        "{path} is internal to the cluster: the caller must present the cluster credential (start it with the same --cluster_secret_file as the other services)"
    ))
}

/// Whether `request` came from another service of the cluster. Only meaningful with a
/// credential installed, when the server has already turned away calls without it.
pub fn from_cluster<T>(request: &tonic::Request<T>) -> bool {
    installed().is_some_and(|t| {
        request
            .metadata()
            .get(METADATA)
            .is_some_and(|v| t.matches(v.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_file(dir: &Path, body: &[u8], mode: u32) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join("cluster_secret");
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn short_or_readable_secret_files_are_refused_without_showing_them() {
        let dir = tempfile::tempdir().unwrap();
        let short = secret_file(dir.path(), b"too-short-secret\n", 0o600);
        let err = read_secret_file(&short).unwrap_err().to_string();
        assert!(err.contains("holds 16 bytes"), "{err}");
        assert!(!err.contains("too-short-secret"));
        let open = secret_file(dir.path(), &[b'k'; 40], 0o644);
        let err = read_secret_file(&open).unwrap_err().to_string();
        assert!(
            err.contains("mode 644") && err.contains("chmod 600"),
            "{err}"
        );
        let good = secret_file(dir.path(), &[b'k'; 40], 0o600);
        let token = read_secret_file(&good).unwrap();
        assert_eq!(token, ClusterToken::derive(&[b'k'; 40]));
        assert_eq!(format!("{token:?}"), "ClusterToken(..)");
        // A trailing newline (echo > file) does not change the token.
        let newline = secret_file(dir.path(), &[&[b'k'; 40][..], b"\n"].concat(), 0o600);
        assert_eq!(read_secret_file(&newline).unwrap(), token);
    }

    #[test]
    fn internal_methods_need_the_token_and_public_ones_do_not() {
        let token = ClusterToken::derive(&[7; 32]);
        let other = ClusterToken::derive(&[8; 32]);
        let mut with = http::HeaderMap::new();
        with.insert(METADATA, token.hex.parse().unwrap());
        let mut wrong = http::HeaderMap::new();
        wrong.insert(METADATA, other.hex.parse().unwrap());
        let none = http::HeaderMap::new();
        let internal = "/zero.Zero/SetDraining";
        assert!(admits(Some(&token), internal, &with));
        assert!(!admits(Some(&token), internal, &wrong));
        assert!(!admits(Some(&token), internal, &none));
        assert!(!admits(
            Some(&token),
            "/worker.Worker/StreamSnapshot",
            &none
        ));
        for public in [
            "/api.Dgraph/Query",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/node.Node/Info",
        ] {
            assert!(admits(Some(&token), public, &none), "{public}");
        }
        // A look-alike path is not public.
        assert!(!admits(Some(&token), "/api.DgraphAdmin/X", &none));
        // Without a credential nothing is checked.
        assert!(admits(None, internal, &none));
        assert!(!token.matches(&token.hex.as_bytes()[..10]));
    }
}
