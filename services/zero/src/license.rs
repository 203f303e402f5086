//! Enterprise licenses: a JSON payload `{"user", "max_nodes", "expiry"}` (Dgraph's fields)
//! signed with Ed25519 and armored as text. Zero verifies with a public key built into the
//! binary, or the one given by `--license_public_key`; `zero license issue` signs new ones.
//!
//! ```text
//! -----BEGIN LODESTAR LICENSE-----
//! <base64 of the JSON payload, the exact bytes that were signed>
//! <base64 of the 64-byte Ed25519 signature>
//! -----END LODESTAR LICENSE-----
//! ```

use crate::node::ZeroError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

const BEGIN: &str = "-----BEGIN LODESTAR LICENSE-----";
const END: &str = "-----END LODESTAR LICENSE-----";

/// The verifying key compiled into zero. Its private half is kept off the repository; tests
/// and operators with their own key pair pass `--license_public_key`.
pub const BUILT_IN_PUBLIC_KEY: &str = include_str!("license_public_key.pem");

/// What a license grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseTerms {
    pub user: String,
    pub max_nodes: u64,
    /// RFC 3339.
    pub expiry: String,
}

/// A license whose signature verified, with its expiry as Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicense {
    pub user: String,
    pub max_nodes: u64,
    pub expiry_ts: i64,
}

/// Why a license was refused. The texts start as Dgraph's do, so scripts that match them work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LicenseError {
    #[error(
        "while extracting enterprise details from the license: while decoding license file: EOF"
    )]
    Empty,
    #[error(
        "while extracting enterprise details from the license: while decoding license file: {0}"
    )]
    Malformed(String),
    #[error(
        "while extracting enterprise details from the license: license signature does not verify: was it issued for this cluster's public key?"
    )]
    BadSignature,
    #[error("while extracting enterprise details from the license: {0}")]
    BadTerms(String),
}

/// Checks the signature of `text` against `key` and returns the terms.
pub fn verify(text: &[u8], key: &VerifyingKey) -> Result<VerifiedLicense, LicenseError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| LicenseError::Malformed("the license is not text".into()))?;
    if text.trim().is_empty() {
        return Err(LicenseError::Empty);
    }
    let start = text.find(BEGIN).ok_or_else(|| {
        LicenseError::Malformed(format!("no license block found (expected a line {BEGIN})"))
    })?;
    let body = &text[start + BEGIN.len()..];
    let end = body
        .find(END)
        .ok_or_else(|| LicenseError::Malformed(format!("the license block has no {END} line")))?;
    let lines: Vec<&str> = body[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let [payload_b64, signature_b64] = lines.as_slice() else {
        return Err(LicenseError::Malformed(format!(
            "the license block must hold 2 lines (payload, signature), found {}",
            lines.len()
        )));
    };
    let payload = B64
        .decode(payload_b64)
        .map_err(|e| LicenseError::Malformed(format!("payload is not base64: {e}")))?;
    let signature = B64
        .decode(signature_b64)
        .map_err(|e| LicenseError::Malformed(format!("signature is not base64: {e}")))?;
    let signature = Signature::from_slice(&signature).map_err(|_| LicenseError::BadSignature)?;
    key.verify(&payload, &signature)
        .map_err(|_| LicenseError::BadSignature)?;
    let terms: LicenseTerms = serde_json::from_slice(&payload).map_err(|e| {
        LicenseError::BadTerms(format!("the signed payload is not license JSON: {e}"))
    })?;
    check_terms(&terms)
}

fn check_terms(terms: &LicenseTerms) -> Result<VerifiedLicense, LicenseError> {
    if terms.user.is_empty() {
        return Err(LicenseError::BadTerms("the license names no user".into()));
    }
    if terms.max_nodes == 0 {
        return Err(LicenseError::BadTerms("the license allows 0 nodes".into()));
    }
    let expiry = chrono::DateTime::parse_from_rfc3339(&terms.expiry).map_err(|e| {
        LicenseError::BadTerms(format!(
            "expiry {:?} is not an RFC 3339 time: {e}",
            terms.expiry
        ))
    })?;
    Ok(VerifiedLicense {
        user: terms.user.clone(),
        max_nodes: terms.max_nodes,
        expiry_ts: expiry.timestamp(),
    })
}

/// Signs `terms` with `key` and returns the armored license text.
pub fn issue(terms: &LicenseTerms, key: &SigningKey) -> Result<String, LicenseError> {
    check_terms(terms)?;
    let payload = serde_json::to_vec(terms).expect("license terms serialize");
    let signature = key.sign(&payload);
    Ok(format!(
        "{BEGIN}\n{}\n{}\n{END}\n",
        B64.encode(&payload),
        B64.encode(signature.to_bytes())
    ))
}

/// Errors reading or writing key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM Ed25519 {what} key: {detail}")]
    Format {
        path: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "private key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    WorldReadable { path: String, mode: u32 },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: String },
}

/// Parses a PEM public key (SPKI, as `openssl pkey -pubout` writes).
pub fn public_key_from_pem(pem: &str, path: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| KeyError::Format {
        path: path.to_string(),
        what: "public",
        detail: e.to_string(),
    })
}

/// Reads a PEM public key file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let shown = path.display().to_string();
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    public_key_from_pem(&pem, &shown)
}

/// Reads a PEM PKCS#8 private key (as `openssl genpkey -algorithm ed25519` writes), refusing a
/// file that other users can read.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(KeyError::WorldReadable { path: shown, mode });
    }
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Format {
        path: shown,
        what: "private",
        detail: e.to_string(),
    })
}

/// Makes a new key pair and writes the private key (mode 0600) and the public key as PEM.
pub fn keygen(private_path: &Path, public_path: &Path) -> Result<VerifyingKey, KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    for path in [private_path, public_path] {
        if path.exists() {
            return Err(KeyError::Exists {
                path: path.display().to_string(),
            });
        }
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let private_pem = key
        .to_pkcs8_pem(Default::default())
        .expect("an ed25519 key encodes as PKCS#8");
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(Default::default())
        .expect("an ed25519 key encodes as SPKI");
    let write = |path: &Path, mode: u32, data: &[u8]| {
        let shown = path.display().to_string();
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(data))
            .map_err(|source| KeyError::Write {
                path: shown,
                source,
            })
    };
    write(private_path, 0o600, private_pem.as_bytes())?;
    write(public_path, 0o644, public_pem.as_bytes())?;
    Ok(key.verifying_key())
}

/// Parses an expiry given on the command line: RFC 3339, or a duration from `now` like `30d`.
pub fn parse_expiry(text: &str, now: i64) -> Result<String, ZeroError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let dur = humantime::parse_duration(rest).map_err(|e| {
        ZeroError::invalid(format!(
            "expiry {text:?} is neither RFC 3339 nor a duration like 30d: {e}"
        ))
    })?;
    let secs = dur.as_secs() as i64;
    let at = if negative { now - secs } else { now + secs };
    let t = chrono::DateTime::from_timestamp(at, 0)
        .ok_or_else(|| ZeroError::invalid(format!("expiry {text:?} is out of range")))?;
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn terms() -> LicenseTerms {
        LicenseTerms {
            user: "acme".into(),
            max_nodes: 5,
            expiry: "2030-01-02T03:04:05Z".into(),
        }
    }

    #[test]
    fn issued_license_verifies_with_its_key_only() {
        let text = issue(&terms(), &key()).unwrap();
        let got = verify(text.as_bytes(), &key().verifying_key()).unwrap();
        assert_eq!(got.user, "acme");
        assert_eq!(got.max_nodes, 5);
        assert_eq!(got.expiry_ts, 1_893_553_445);
        let other = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        assert_eq!(
            verify(text.as_bytes(), &other),
            Err(LicenseError::BadSignature)
        );
    }

    #[test]
    fn tampered_payload_fails_the_signature() {
        let text = issue(&terms(), &key()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let forged = LicenseTerms {
            max_nodes: 500,
            ..terms()
        };
        let forged_payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!(
            "{}\n{}\n{}\n{}\n",
            lines[0], forged_payload, lines[2], lines[3]
        );
        assert_eq!(
            verify(tampered.as_bytes(), &key().verifying_key()),
            Err(LicenseError::BadSignature)
        );
    }

    #[test]
    fn empty_and_garbage_are_refused_with_dgraph_style_messages() {
        let k = key().verifying_key();
        let empty = verify(b"", &k).unwrap_err();
        assert_eq!(
            empty.to_string(),
            "while extracting enterprise details from the license: while decoding license file: EOF"
        );
        assert!(matches!(
            verify(b"hello", &k),
            Err(LicenseError::Malformed(_))
        ));
        assert!(matches!(
            verify(&[0xff, 0xfe], &k),
            Err(LicenseError::Malformed(_))
        ));
    }

    #[test]
    fn zero_fields_cannot_be_issued() {
        let bad = LicenseTerms {
            max_nodes: 0,
            ..terms()
        };
        assert!(matches!(
            issue(&bad, &key()),
            Err(LicenseError::BadTerms(_))
        ));
        let bad = LicenseTerms {
            user: String::new(),
            ..terms()
        };
        assert!(matches!(
            issue(&bad, &key()),
            Err(LicenseError::BadTerms(_))
        ));
    }

    #[test]
    fn built_in_key_parses() {
        public_key_from_pem(BUILT_IN_PUBLIC_KEY, "built-in").unwrap();
    }

    #[test]
    fn expiry_accepts_durations_and_rfc3339() {
        assert_eq!(parse_expiry("30d", 0).unwrap(), "1970-01-31T00:00:00Z");
        assert_eq!(
            parse_expiry("-1d", 86_400 * 2).unwrap(),
            "1970-01-02T00:00:00Z"
        );
        assert_eq!(
            parse_expiry("2030-01-02T03:04:05+01:00", 0).unwrap(),
            "2030-01-02T02:04:05Z"
        );
        assert!(parse_expiry("soon", 0).is_err());
    }

    #[test]
    fn keygen_writes_private_key_owner_only_and_refuses_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("k"), dir.path().join("k.pub"));
        let vk = keygen(&private, &public).unwrap();
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_public_key(&public).unwrap(), vk);
        assert_eq!(read_private_key(&private).unwrap().verifying_key(), vk);
        assert!(matches!(
            keygen(&private, &public),
            Err(KeyError::Exists { .. })
        ));
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_private_key(&private),
            Err(KeyError::WorldReadable { .. })
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn config() -> ProptestConfig {
            ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            /// Any bytes at all: an error, never a panic.
            #[test]
            fn any_bytes_are_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = verify(&bytes, &key().verifying_key());
                let _ = verify(String::from_utf8_lossy(&bytes).as_bytes(), &key().verifying_key());
            }

            /// A license block with anything inside: refused with a clear error.
            #[test]
            fn any_block_content_is_refused(inner in "[ -~\n]{0,300}") {
                let text = format!("{BEGIN}\n{inner}\n{END}\n");
                prop_assert!(verify(text.as_bytes(), &key().verifying_key()).is_err());
            }

            /// A signed license changed anywhere (a byte replaced, inserted or cut off) either
            /// still verifies with exactly the signed terms or is refused: no change forges
            /// other terms.
            #[test]
            fn edits_of_a_signed_license_never_forge_terms(
                pos in any::<prop::sample::Index>(),
                byte in any::<u8>(),
                edit in 0..3u8,
            ) {
                let text = issue(&terms(), &key()).unwrap().into_bytes();
                let i = pos.index(text.len());
                let mut changed = text.clone();
                match edit {
                    0 => changed[i] = byte,
                    1 => changed.insert(i, byte),
                    _ => changed.truncate(i),
                }
                let want = verify(&text, &key().verifying_key()).unwrap();
                if let Ok(got) = verify(&changed, &key().verifying_key()) {
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
