//! AES keys and the key file: 16, 24 or 32 bytes exactly, in a file only its owner can read.

use crate::private_file::PrivateFileError;
use std::path::Path;

/// Why an encryption key cannot be had. Messages say what failed and how to fix it; they never
/// hold key bytes, Vault tokens or secret-ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key has a length AES does not take. `what` names where it came from.
    #[error("{what} holds {len} bytes: AES needs exactly 16, 24 or 32")]
    WrongSize {
        /// "encryption key file /x/k", "vault field enc_key at secret/data/dgraph", ...
        what: String,
        /// The length found.
        len: usize,
    },
    /// A key or credential file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A secret file that group or other users can read: whoever reads it can read the data.
    #[error(
        "{path} can be read by group or other users (mode {mode:03o}): it holds a secret; run `chmod 600 {path}`"
    )]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A credential file that is empty (or only whitespace).
    #[error("{what} {path} is empty")]
    EmptyFile {
        /// What the file should hold ("vault role-id file").
        what: &'static str,
        /// The file.
        path: String,
    },
    /// A setting that is required and was not given.
    #[error("{0}")]
    NotConfigured(String),
    /// A Vault format other than base64 or raw.
    #[error("vault format {0:?} is not known: use base64 or raw")]
    UnknownVaultFormat(String),
    /// Vault could not be reached, or did not answer in time.
    #[error("cannot reach vault at {addr}: {reason}")]
    VaultUnreachable {
        /// The Vault address.
        addr: String,
        /// What went wrong (connection refused, timed out, ...).
        reason: String,
    },
    /// Vault answered a request with an error status.
    #[error("vault at {addr} refused {what} (http {status}){detail}")]
    VaultRefused {
        /// The Vault address.
        addr: String,
        /// "the approle login", "to read secret/data/dgraph".
        what: String,
        /// The HTTP status.
        status: u16,
        /// Vault's own error texts and a hint, prefixed with ": " when present.
        detail: String,
    },
    /// Vault answered with something that is not what its API documents.
    #[error("vault at {addr} sent an unexpected answer to {what}: {reason}")]
    VaultResponse {
        /// The Vault address.
        addr: String,
        /// Which request.
        what: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The secret exists but has no such field.
    #[error("vault secret {path} has no field {field:?}: check --vault field and path")]
    VaultFieldMissing {
        /// The field looked for.
        field: String,
        /// The secret's path.
        path: String,
    },
    /// The field exists but its value cannot be turned into key bytes.
    #[error("vault field {field:?} at {path} {reason}")]
    VaultBadValue {
        /// The field.
        field: String,
        /// The secret's path.
        path: String,
        /// Why ("is not a string", "is not valid base64: ...").
        reason: String,
    },
}

/// An AES key: 16, 24 or 32 bytes (AES-128, AES-192, AES-256).
///
/// `Debug` prints only the size; nothing here prints the bytes.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey(AES-{}, ..)", self.bits())
    }
}

impl EncryptionKey {
    /// A key from its bytes; any length other than 16, 24 or 32 is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<EncryptionKey, KeyError> {
        Self::sized(bytes.to_vec(), || "encryption key".to_owned())
    }

    /// Checks the size, naming the source (`what`) in the error.
    pub(crate) fn sized(
        bytes: Vec<u8>,
        what: impl FnOnce() -> String,
    ) -> Result<EncryptionKey, KeyError> {
        match bytes.len() {
            16 | 24 | 32 => Ok(EncryptionKey { bytes }),
            len => Err(KeyError::WrongSize { what: what(), len }),
        }
    }

    /// Reads a key file (Dgraph's `--encryption key-file`): exactly 16, 24 or 32 bytes, taken
    /// as they are (a trailing newline counts and makes the size wrong), in a file that neither
    /// group nor others can read.
    pub fn from_file(path: &Path) -> Result<EncryptionKey, KeyError> {
        let bytes = read_private(path)?;
        Self::sized(bytes, || format!("encryption key file {}", path.display()))
    }

    /// The key bytes, for the cipher. Never log them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key size in bits: 128, 192 or 256.
    pub fn bits(&self) -> u32 {
        // Lengths are checked at construction, so this is 128, 192 or 256.
        (self.bytes.len() * 8) as u32
    }
}

/// Reads a secret file, refusing it when group or others can read it (stricter than the ACL
/// secret check, which only refuses world-readable files: an encryption key opens all the data).
pub(crate) fn read_private(path: &Path) -> Result<Vec<u8>, KeyError> {
    crate::private_file::read_private(path, 0o077).map_err(|e| match e {
        PrivateFileError::Unreadable { path, reason } => KeyError::Unreadable { path, reason },
        PrivateFileError::TooOpen { path, mode } => KeyError::TooOpen { path, mode },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn write(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn accepts_the_three_aes_sizes_only() {
        for (len, bits) in [(16, 128), (24, 192), (32, 256)] {
            assert_eq!(
                EncryptionKey::from_bytes(&vec![7; len]).unwrap().bits(),
                bits
            );
        }
        for len in [0, 1, 15, 17, 20, 31, 33, 64] {
            let err = EncryptionKey::from_bytes(&vec![7; len]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("encryption key holds {len} bytes: AES needs exactly 16, 24 or 32")
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = EncryptionKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "EncryptionKey(AES-256, ..)");
        assert!(!shown.contains("0123"));
    }

    #[test]
    fn key_file_must_be_private_and_sized() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "good", &[1; 32], 0o600);
        assert_eq!(EncryptionKey::from_file(&good).unwrap().bits(), 256);
        let owner_only = write(dir.path(), "ro", &[1; 16], 0o400);
        assert_eq!(EncryptionKey::from_file(&owner_only).unwrap().bits(), 128);

        for mode in [0o640, 0o604, 0o644, 0o660] {
            let open = write(dir.path(), &format!("open{mode:o}"), &[1; 32], mode);
            let msg = EncryptionKey::from_file(&open).unwrap_err().to_string();
            let path = open.display().to_string();
            assert!(msg.contains(&path), "{msg}");
            assert!(msg.contains(&format!("mode {mode:03o}")), "{msg}");
            assert!(msg.contains(&format!("chmod 600 {path}")), "{msg}");
        }

        let sized = write(dir.path(), "k", &[b'x'; 20], 0o600);
        assert_eq!(
            EncryptionKey::from_file(&sized).unwrap_err().to_string(),
            format!(
                "encryption key file {} holds 20 bytes: AES needs exactly 16, 24 or 32",
                sized.display()
            )
        );

        let missing = dir.path().join("missing");
        let msg = EncryptionKey::from_file(&missing).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("cannot read {}", missing.display())),
            "{msg}"
        );
    }

    #[test]
    fn errors_never_show_key_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let open = write(dir.path(), "k", b"SECRETSECRETSECR", 0o644);
        let msg = EncryptionKey::from_file(&open).unwrap_err().to_string();
        assert!(!msg.contains("SECRET"), "{msg}");
    }
}
