//! The key that signs and checks tokens: an HS256 secret (`--acl_secret_file`, at least 32
//! bytes) or an EdDSA key pair (the private key only where tokens are issued, the public key
//! where they are checked). Files that other users can read are refused: anyone who reads the
//! key can mint a guardian's token.

use lodestar_crypto::private_file::PrivateFileError;
use std::path::Path;

/// The shortest HS256 secret accepted, in bytes (Dgraph's minimum too).
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a key file cannot be used. Messages name the file and the fix, never the contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "{path} can be read by other users (mode {mode:03o}): it holds a signing key; run `chmod 600 {path}`"
    )]
    WorldReadable { path: String, mode: u32 },
    #[error("{path} holds {len} bytes: the ACL secret needs at least {MIN_SECRET_BYTES}")]
    TooShort { path: String, len: usize },
    #[error("{path} is not a {what} PEM file: {reason}")]
    BadPem {
        path: String,
        what: &'static str,
        reason: String,
    },
}

/// What tokens are signed and checked with.
#[derive(Clone)]
pub enum SigningKey {
    /// HS256 with a shared secret: whoever checks tokens can also issue them.
    Hmac(Vec<u8>),
    /// EdDSA (Ed25519) with the private key: can issue and check.
    EdPrivate {
        private_pem: Vec<u8>,
        public_pem: Vec<u8>,
    },
    /// EdDSA with the public key only: can check, never issue.
    EdPublic { public_pem: Vec<u8> },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            SigningKey::Hmac(_) => "SigningKey::Hmac(..)",
            SigningKey::EdPrivate { .. } => "SigningKey::EdPrivate(..)",
            SigningKey::EdPublic { .. } => "SigningKey::EdPublic(..)",
        })
    }
}

impl SigningKey {
    /// Reads the HS256 secret from `path`: at least [`MIN_SECRET_BYTES`] bytes, taken as they
    /// are (a trailing newline counts, as in Dgraph), in a file only its owner can read.
    pub fn hmac_file(path: &Path) -> Result<SigningKey, SecretError> {
        let bytes = read_private(path)?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort {
                path: path.display().to_string(),
                len: bytes.len(),
            });
        }
        Ok(SigningKey::Hmac(bytes))
    }

    /// Reads an Ed25519 private key (PKCS#8 PEM) from `path`, a file only its owner can read.
    pub fn ed_private_file(path: &Path) -> Result<SigningKey, SecretError> {
        use ed25519_dalek::pkcs8::spki::EncodePublicKey as _;
        use ed25519_dalek::pkcs8::{DecodePrivateKey as _, spki::der::pem::LineEnding};
        let bytes = read_private(path)?;
        let bad = |reason: String| SecretError::BadPem {
            path: path.display().to_string(),
            what: "Ed25519 private key (PKCS#8)",
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
        let key =
            ed25519_dalek::SigningKey::from_pkcs8_pem(text).map_err(|e| bad(e.to_string()))?;
        let public_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| bad(e.to_string()))?;
        Ok(SigningKey::EdPrivate {
            private_pem: bytes,
            public_pem: public_pem.into_bytes(),
        })
    }

    /// Reads an Ed25519 public key (SPKI PEM) from `path`; public keys may be world-readable.
    pub fn ed_public_file(path: &Path) -> Result<SigningKey, SecretError> {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        let bytes = std::fs::read(path).map_err(|e| SecretError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| SecretError::BadPem {
            path: path.display().to_string(),
            what: "Ed25519 public key",
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
        ed25519_dalek::VerifyingKey::from_public_key_pem(text).map_err(|e| bad(e.to_string()))?;
        Ok(SigningKey::EdPublic { public_pem: bytes })
    }
}

/// Reads a file that must not be accessible to other users.
fn read_private(path: &Path) -> Result<Vec<u8>, SecretError> {
    lodestar_crypto::private_file::read_private(path, 0o007).map_err(|e| match e {
        PrivateFileError::Unreadable { path, reason } => SecretError::Unreadable { path, reason },
        PrivateFileError::TooOpen { path, mode } => SecretError::WorldReadable { path, mode },
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
    fn short_world_readable_and_missing_secrets_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let short = write(
            dir.path(),
            "short",
            b"0123456789012345678901234567890",
            0o600,
        );
        let err = SigningKey::hmac_file(&short).unwrap_err();
        assert!(
            matches!(err, SecretError::TooShort { len: 31, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("at least 32"), "{err}");
        let open = write(dir.path(), "open", &[b'k'; 40], 0o644);
        let err = SigningKey::hmac_file(&open).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(
            !err.to_string().contains("kkkk"),
            "the secret is never shown: {err}"
        );
        let err = SigningKey::hmac_file(&dir.path().join("none")).unwrap_err();
        assert!(matches!(err, SecretError::Unreadable { .. }), "{err}");
        let ok = write(
            dir.path(),
            "ok",
            b"0123456789012345678901234567890\n",
            0o600,
        );
        assert!(matches!(SigningKey::hmac_file(&ok), Ok(SigningKey::Hmac(b)) if b.len() == 32));
        assert_eq!(
            format!("{:?}", SigningKey::hmac_file(&ok).unwrap()),
            "SigningKey::Hmac(..)"
        );
    }

    #[test]
    fn ed25519_keys_load_from_pem_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = crate::token::tests::ed_pems();
        let p = write(dir.path(), "ed", private.as_bytes(), 0o600);
        let SigningKey::EdPrivate { public_pem, .. } = SigningKey::ed_private_file(&p).unwrap()
        else {
            panic!("a private key");
        };
        assert_eq!(String::from_utf8(public_pem).unwrap().trim(), public.trim());
        let pubf = write(dir.path(), "ed.pub", public.as_bytes(), 0o644);
        assert!(matches!(
            SigningKey::ed_public_file(&pubf),
            Ok(SigningKey::EdPublic { .. })
        ));
        let open = write(dir.path(), "ed-open", private.as_bytes(), 0o604);
        assert!(matches!(
            SigningKey::ed_private_file(&open),
            Err(SecretError::WorldReadable { mode: 0o604, .. })
        ));
        let junk = write(dir.path(), "junk", b"not a key", 0o600);
        assert!(matches!(
            SigningKey::ed_private_file(&junk),
            Err(SecretError::BadPem { .. })
        ));
    }
}
