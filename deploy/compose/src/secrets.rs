//! The secret files a cluster needs: checking the ones the flags name (with the rules the
//! services apply to them), and making demo ones beside the compose file.

use crate::error::ComposeError;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The secrets the services read, by the file name their private copy has in the containers
/// (`/run/lodestar/secrets/<name>`, the names the Kubernetes manifests use too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// `--cluster_secret_file`: every service.
    Cluster,
    /// `--acl_secret_file`: alphas, auth, gateway, backup-worker.
    Acl,
    /// `--encryption_key_file`: zeros, alphas, backup-worker.
    Encryption,
}

impl Secret {
    /// The name of the compose secret and of the file the services read.
    pub fn name(self) -> &'static str {
        match self {
            Secret::Cluster => "cluster_secret",
            Secret::Acl => "hmac_secret",
            Secret::Encryption => "enc_key",
        }
    }

    /// The service flag that takes the file.
    pub fn service_flag(self) -> &'static str {
        match self {
            Secret::Cluster => "--cluster_secret_file",
            Secret::Acl => "--acl_secret_file",
            Secret::Encryption => "--encryption_key_file",
        }
    }

    /// The `lodestar compose` flag that names a host file for it.
    pub fn compose_flag(self) -> &'static str {
        match self {
            Secret::Cluster => "--cluster_secret",
            Secret::Acl => "--acl_secret",
            Secret::Encryption => "--enc_key",
        }
    }

    /// The demo file written beside the compose file when no file is named.
    pub fn demo_file_name(self) -> &'static str {
        match self {
            Secret::Cluster => "cluster-secret",
            Secret::Acl => "acl-secret",
            Secret::Encryption => "enc-secret",
        }
    }

    /// Checks `bytes` as the service will: the cluster secret at least 32 bytes once trailing
    /// blanks are dropped, the ACL secret at least 32 bytes as they are, the key exactly 16, 24
    /// or 32 bytes (a trailing newline counts).
    pub fn check(self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Secret::Cluster => {
                let len = bytes.trim_ascii_end().len();
                if len < 32 {
                    return Err(format!(
                        "holds {len} bytes (trailing blanks and newlines not counted); a cluster secret needs at least 32: make one with head -c 32 /dev/urandom | base64 > FILE"
                    ));
                }
            }
            Secret::Acl => {
                if bytes.len() < 32 {
                    return Err(format!(
                        "holds {} bytes; the ACL secret signs tokens with HMAC-SHA256 and needs at least 32: make one with head -c 32 /dev/urandom | base64 > FILE",
                        bytes.len()
                    ));
                }
            }
            Secret::Encryption => {
                if !matches!(bytes.len(), 16 | 24 | 32) {
                    return Err(format!(
                        "holds {} bytes; an encryption key is exactly 16, 24 or 32 bytes (AES-128/192/256), a trailing newline included: make one with head -c 32 /dev/urandom > FILE",
                        bytes.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Fresh demo contents: 32 random bytes, as text (hex) for the secrets and raw for the key,
    /// which is used as it is.
    pub fn demo_contents(self) -> Vec<u8> {
        let bytes = random_bytes(32);
        match self {
            Secret::Encryption => bytes,
            Secret::Cluster | Secret::Acl => hex(&bytes).into_bytes(),
        }
    }
}

/// Reads a file a flag names and checks it with `check`; the error names the flag and the file,
/// never what is in it.
pub fn read_checked(
    flag: &'static str,
    path: &Path,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<(), ComposeError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ComposeError::file(
            flag,
            path,
            format!("cannot be read ({e}); give a file this user can read"),
        )
    })?;
    check(&bytes).map_err(|reason| ComposeError::file(flag, path, reason))
}

/// Whether others than the owner may read `path` (a note, not an error: the services read
/// private copies, but the host file is still open to them).
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// The variables an S3 environment file must set: what the backup worker reads for
/// `minio://` destinations, and what the SeaweedFS service takes as its access key.
pub const MINIO_KEYS: [&str; 2] = ["MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"];

/// Checks an env file for [`MINIO_KEYS`]: both set, non-empty, and made of characters that
/// can go into the S3 server's JSON identity file unquoted.
pub fn check_minio_env(bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    for key in MINIO_KEYS {
        let value = text.lines().rev().find_map(|line| {
            let line = line.trim();
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        });
        match value {
            None => {
                return Err(format!(
                    "does not set {key}: give {} (the backup worker's credentials for minio:// and the SeaweedFS access key)",
                    MINIO_KEYS.join(" and ")
                ));
            }
            Some(v) if v.is_empty() => return Err(format!("sets {key} to nothing")),
            Some(v)
                if !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+/=_.-".contains(c)) =>
            {
                return Err(format!(
                    "{key} may hold only letters, digits and + / = _ . - (no quotes or spaces)"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Demo contents of the S3 env file: a random access key and secret key.
pub fn demo_minio_env() -> Vec<u8> {
    format!(
        "# Demo S3 credentials made by lodestar compose: the SeaweedFS service's only identity,\n# and the backup worker's credentials for minio://seaweedfs:<port>/<bucket> destinations.\n{}={}\n{}={}\n",
        MINIO_KEYS[0],
        hex(&random_bytes(10)),
        MINIO_KEYS[1],
        hex(&random_bytes(20))
    )
    .into_bytes()
}

/// A file `lodestar compose` makes when it is missing, and checks when it is there.
#[derive(Debug, Clone)]
pub struct DemoFile {
    /// Where, on the host.
    pub path: PathBuf,
    /// What goes in it.
    pub kind: DemoKind,
}

/// What a [`DemoFile`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoKind {
    Secret(Secret),
    MinioEnv,
}

impl DemoFile {
    fn flag(&self) -> &'static str {
        match self.kind {
            DemoKind::Secret(s) => s.compose_flag(),
            DemoKind::MinioEnv => "--minio_env_file",
        }
    }

    fn check(&self, bytes: &[u8]) -> Result<(), String> {
        match self.kind {
            DemoKind::Secret(s) => s.check(bytes),
            DemoKind::MinioEnv => check_minio_env(bytes),
        }
    }

    fn contents(&self) -> Vec<u8> {
        match self.kind {
            DemoKind::Secret(s) => s.demo_contents(),
            DemoKind::MinioEnv => demo_minio_env(),
        }
    }

    /// Makes the file (mode 0600) if it is missing, and says so; an existing one is kept, never
    /// replaced (a new encryption key would leave the data written under the old one unreadable),
    /// but it must pass the same checks as a file given by flag.
    pub fn ensure(&self) -> Result<Outcome, ComposeError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.path);
        match file {
            Ok(mut file) => {
                let written = file
                    .write_all(&self.contents())
                    .and_then(|()| file.sync_all());
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&self.path);
                    return Err(ComposeError::write(&self.path, e));
                }
                Ok(Outcome::Made)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let flag = self.flag();
                read_checked(flag, &self.path, |b| {
                    self.check(b).map_err(|reason| {
                        format!(
                            "{reason} (this file was kept from an earlier run; remove it to get a new one, or give {flag})"
                        )
                    })
                })?;
                Ok(Outcome::Kept)
            }
            Err(e) => Err(ComposeError::write(&self.path, e)),
        }
    }
}

/// What [`DemoFile::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Made,
    Kept,
}

fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn secrets_are_checked_as_the_services_check_them() {
        assert!(Secret::Acl.check(&[b'k'; 32]).is_ok());
        assert!(
            Secret::Acl
                .check(&[b'k'; 31])
                .unwrap_err()
                .contains("at least 32")
        );
        let mut cluster = vec![b'k'; 31];
        cluster.push(b'\n');
        assert!(
            Secret::Cluster
                .check(&cluster)
                .unwrap_err()
                .contains("holds 31 bytes")
        );
        for ok in [16, 24, 32] {
            assert!(Secret::Encryption.check(&vec![1u8; ok]).is_ok());
        }
        assert!(
            Secret::Encryption
                .check(&[1u8; 33])
                .unwrap_err()
                .contains("exactly 16, 24 or 32")
        );
        for s in [Secret::Cluster, Secret::Acl, Secret::Encryption] {
            assert!(s.check(&s.demo_contents()).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn minio_env_files_need_both_keys_in_plain_characters() {
        assert!(check_minio_env(b"MINIO_ACCESS_KEY=abc\nMINIO_SECRET_KEY=def+/=\n").is_ok());
        assert!(check_minio_env(&demo_minio_env()).is_ok());
        assert!(
            check_minio_env(b"MINIO_ACCESS_KEY=abc\n")
                .unwrap_err()
                .contains("does not set MINIO_SECRET_KEY")
        );
        assert!(
            check_minio_env(b"MINIO_ACCESS_KEY=abc\nMINIO_SECRET_KEY=\"x\"\n")
                .unwrap_err()
                .contains("only letters")
        );
    }

    #[test]
    fn demo_files_are_made_private_once_and_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let demo = DemoFile {
            path: dir.path().join("enc-secret"),
            kind: DemoKind::Secret(Secret::Encryption),
        };
        assert_eq!(demo.ensure().unwrap(), Outcome::Made);
        let first = std::fs::read(&demo.path).unwrap();
        assert_eq!(first.len(), 32);
        let mode = std::fs::metadata(&demo.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(demo.ensure().unwrap(), Outcome::Kept);
        assert_eq!(std::fs::read(&demo.path).unwrap(), first, "never replaced");

        std::fs::write(&demo.path, b"short").unwrap();
        let err = demo.ensure().unwrap_err().to_string();
        assert!(err.contains("--enc_key"), "{err}");
        assert!(err.contains("kept from an earlier run"), "{err}");
    }
}
