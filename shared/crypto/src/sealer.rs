//! Sealing single values under a [`KeyRegistry`]'s data keys, for stores whose keys carry no
//! user data (Raft logs indexed by number, snapshots under a fixed name, task records): each
//! value becomes `version (1) | data-key id (u32 BE) | nonce (12) | AES-256-GCM ciphertext and
//! tag`, with `context` (what the value is) as associated data, so a value moved to another
//! kind of record does not open.
//!
//! A value is sealed under the registry's active key and opened under the key it names, so
//! data-key rotation needs no rewrite.

use crate::registry::KeyRegistry;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use rand::RngCore as _;
use std::sync::Arc;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a sealed {context} value is cut short or of an unknown format")]
    Malformed { context: String },
    #[error("a sealed {context} value names data key {id}, which the key registry does not hold")]
    UnknownKey { context: String, id: u32 },
    #[error("a sealed {context} value does not authenticate: it was damaged or moved")]
    Damaged { context: String },
}

/// Seals and opens values under a registry's data keys. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sealer {
    keys: Arc<KeyRegistry>,
}

impl Sealer {
    pub fn new(keys: Arc<KeyRegistry>) -> Self {
        Sealer { keys }
    }

    /// The registry whose keys this uses.
    pub fn registry(&self) -> &Arc<KeyRegistry> {
        &self.keys
    }

    /// `plain` sealed under the active data key; `context` must be given again to open it.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let id = self.keys.active_id();
        let key = self
            .keys
            .data_key(id)
            .expect("the active data key is in the registry");
        let cipher = Aes256Gcm::new_from_slice(&*key).expect("data keys are 32 bytes");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&nonce);
        let sealed = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .expect("AES-GCM seals any message of a sane size");
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Sealer::seal`] made with the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let shown = || String::from_utf8_lossy(context).into_owned();
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return Err(SealError::Malformed { context: shown() });
        }
        let id = u32::from_be_bytes(sealed[1..5].try_into().expect("4 bytes"));
        let key = self
            .keys
            .data_key(id)
            .ok_or_else(|| SealError::UnknownKey {
                context: shown(),
                id,
            })?;
        let nonce: [u8; NONCE_LEN] = sealed[5..HEADER_LEN].try_into().expect("12 bytes");
        Aes256Gcm::new_from_slice(&*key)
            .expect("data keys are 32 bytes")
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: context,
                },
            )
            .map_err(|_| SealError::Damaged { context: shown() })
    }
}

/// `plain` as a store that may be encrypted keeps it: sealed when there is a sealer.
pub fn seal_if(sealer: Option<&Sealer>, context: &[u8], plain: Vec<u8>) -> Vec<u8> {
    match sealer {
        Some(s) => s.seal(context, &plain),
        None => plain,
    }
}

/// What [`seal_if`] stored, opened with the same sealer (or none) and `context`.
pub fn open_if(
    sealer: Option<&Sealer>,
    context: &[u8],
    stored: &[u8],
) -> Result<Vec<u8>, SealError> {
    match sealer {
        Some(s) => s.open(context, stored),
        None => Ok(stored.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EncryptionKey;
    use std::time::Duration;

    #[test]
    fn values_open_under_the_key_they_name_and_only_in_their_context() {
        let dir = tempfile::tempdir().unwrap();
        let master = EncryptionKey::from_bytes(&[1; 16]).unwrap();
        let keys =
            Arc::new(KeyRegistry::open_or_create(dir.path(), master, Duration::ZERO).unwrap());
        let sealer = Sealer::new(keys.clone());
        let first = sealer.seal(b"log", b"plain text here");
        assert!(!first.windows(5).any(|w| w == b"plain"));
        assert_ne!(
            sealer.seal(b"log", b"plain text here"),
            first,
            "fresh nonces"
        );
        keys.rotate_if_due().unwrap();
        let second = sealer.seal(b"log", b"after rotation");
        assert_eq!(second[1..5], 2u32.to_be_bytes());
        assert_eq!(sealer.open(b"log", &first).unwrap(), b"plain text here");
        assert_eq!(sealer.open(b"log", &second).unwrap(), b"after rotation");
        assert!(matches!(
            sealer.open(b"vote", &first),
            Err(SealError::Damaged { .. })
        ));
        let mut damaged = first.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(
            sealer.open(b"log", &damaged),
            Err(SealError::Damaged { .. })
        ));
        let mut unknown = first.clone();
        unknown[1..5].copy_from_slice(&9u32.to_be_bytes());
        assert!(matches!(
            sealer.open(b"log", &unknown),
            Err(SealError::UnknownKey { id: 9, .. })
        ));
        assert!(matches!(
            sealer.open(b"log", b"short"),
            Err(SealError::Malformed { .. })
        ));
    }
}
