//! The key registry of an encrypted directory: the data keys its files are sealed with, kept
//! in one small file (`KEYREGISTRY`) sealed under the master key.
//!
//! The master key (16, 24 or 32 bytes: AES-128/192/256) never seals data itself. It seals the
//! registry with AES-GCM, whose tag tells a wrong master key apart at open; a checksum over the
//! sealed bytes tells a damaged file apart from a wrong key. Data keys are 32 bytes, each with
//! an id and the time it was made. A new data key becomes the active one every rotation period
//! (files written before keep theirs, which stay readable), and changing the master key
//! ([`KeyRegistry::rewrap`]) re-seals only this file: its cost does not depend on the data.
//!
//! Every rewrite goes to `REWRITE-KEYREGISTRY`, is synced, and is renamed over the registry, so
//! a crash leaves either the old registry or the new one.

use crate::EncryptionKey;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use parking_lot::RwLock;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The registry's file name in the directory it serves.
pub const REGISTRY_FILE: &str = "KEYREGISTRY";
/// Where a rewrite is prepared before it is renamed over [`REGISTRY_FILE`].
const REWRITE_FILE: &str = "REWRITE-KEYREGISTRY";
/// Locked while a registry is open, so a master-key rotation cannot race a running node's
/// data-key rotation.
const LOCK_FILE: &str = "KEYREGISTRY.lock";
/// The first bytes of the file; the byte after them is the format version.
const MAGIC: &[u8; 11] = b"LODESTAR-KR";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// Bytes of the SHA-256 of the rest of the file kept at its end.
const CHECK_LEN: usize = 8;
/// Length of a data key.
pub const DATA_KEY_LEN: usize = 32;
/// One data key's record in the sealed body: id, creation time (Unix seconds), key.
const RECORD_LEN: usize = 4 + 8 + DATA_KEY_LEN;
/// Dgraph's default data-key rotation period: ten days.
pub const DEFAULT_ROTATION: Duration = Duration::from_secs(10 * 24 * 3600);

/// Dgraph's words for a master key that does not open a registry.
pub const KEY_MISMATCH: &str = "Encryption key mismatch. Please provide the valid encryption key";

/// Why a registry could not be opened, created or rewritten. Never holds key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The master key given does not open the registry.
    #[error("{KEY_MISMATCH}: the key given does not open {path}, which was sealed with another")]
    WrongKey { path: String },
    /// The file is damaged (its checksum does not match) or not a registry at all.
    #[error("the key registry {path} is damaged: {reason}")]
    Corrupt { path: String, reason: String },
    /// There is no registry where one was expected.
    #[error("there is no key registry in {dir}: it is not an encrypted directory")]
    Missing { dir: String },
    /// An encrypted directory opened without a key.
    #[error(
        "{dir} is encrypted: start with the encryption key it was created with (--encryption_key_file or --vault); {KEY_MISMATCH}"
    )]
    NeedsKey { dir: String },
    /// A key given for a directory that holds plain data.
    #[error(
        "{dir} holds data that is not encrypted, and encryption cannot be added to it: start without an encryption key, or export the data and load it into a new encrypted cluster"
    )]
    NotEncrypted { dir: String },
    /// Another process has the registry open.
    #[error("{dir} is in use by another process: stop it first")]
    InUse { dir: String },
    /// The file system refused.
    #[error("key registry {path}: {reason}")]
    Io { path: String, reason: String },
}

/// One data key.
struct DataKey {
    id: u32,
    created: u64,
    key: Zeroizing<[u8; DATA_KEY_LEN]>,
}

/// The data keys of one directory, opened with its master key.
pub struct KeyRegistry {
    dir: PathBuf,
    master: EncryptionKey,
    rotation: Duration,
    /// Ascending ids; the last is the active key.
    keys: RwLock<Vec<DataKey>>,
    /// Held (locked) while the registry is open.
    _lock: std::fs::File,
}

impl std::fmt::Debug for KeyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRegistry")
            .field("dir", &self.dir)
            .field("master", &self.master)
            .field("keys", &self.key_ids())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Whether `dir` holds a key registry (an encrypted directory).
pub fn is_encrypted(dir: &Path) -> bool {
    dir.join(REGISTRY_FILE).exists()
}

/// Whether `dir` holds anything besides a key registry.
fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries
            .any(|e| e.is_ok_and(|e| e.file_name() != REGISTRY_FILE && e.file_name() != LOCK_FILE))
    })
}

/// The rule every directory the suite keeps data in follows: the registry of `dir` when a
/// master key is given (made when `dir` is new), `None` when not. An encrypted directory
/// without its key, or with another, and a plain directory that holds data given a key, are
/// refused before anything is written.
pub fn open_dir(
    dir: &Path,
    master: Option<EncryptionKey>,
    rotation: Duration,
) -> Result<Option<KeyRegistry>, RegistryError> {
    let shown = || dir.display().to_string();
    match master {
        None if is_encrypted(dir) => Err(RegistryError::NeedsKey { dir: shown() }),
        None => Ok(None),
        Some(_) if !is_encrypted(dir) && holds_files(dir) => {
            Err(RegistryError::NotEncrypted { dir: shown() })
        }
        Some(master) => KeyRegistry::open_or_create(dir, master, rotation).map(Some),
    }
}

impl RegistryError {
    /// Whether the key given does not fit the directory (as opposed to a damaged registry or a
    /// failing disk).
    pub fn is_key_mismatch(&self) -> bool {
        matches!(
            self,
            RegistryError::WrongKey { .. }
                | RegistryError::NeedsKey { .. }
                | RegistryError::NotEncrypted { .. }
        )
    }
}

impl KeyRegistry {
    /// Opens the registry of `dir` with `master`, creating it (with one data key) when `dir`
    /// has none. Making an encrypted store of a directory that already holds a plain one is the
    /// caller's to refuse, before this.
    pub fn open_or_create(
        dir: &Path,
        master: EncryptionKey,
        rotation: Duration,
    ) -> Result<KeyRegistry, RegistryError> {
        if is_encrypted(dir) {
            return Self::open(dir, master, rotation);
        }
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let registry = KeyRegistry {
            _lock: lock(dir)?,
            dir: dir.to_path_buf(),
            master,
            rotation,
            keys: RwLock::new(vec![new_key(1)]),
        };
        registry.save(&registry.keys.read())?;
        Ok(registry)
    }

    /// Opens the registry of `dir` with `master`; refuses a wrong key or a missing registry.
    pub fn open(
        dir: &Path,
        master: EncryptionKey,
        rotation: Duration,
    ) -> Result<KeyRegistry, RegistryError> {
        let path = dir.join(REGISTRY_FILE);
        if !path.exists() {
            return Err(RegistryError::Missing {
                dir: dir.display().to_string(),
            });
        }
        let lock = lock(dir)?;
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        let keys = unseal(&path, &master, &bytes)?;
        Ok(KeyRegistry {
            _lock: lock,
            dir: dir.to_path_buf(),
            master,
            rotation,
            keys: RwLock::new(keys),
        })
    }

    /// Re-seals the registry of `dir` under `new` after opening it with `old`. Only this file
    /// changes, so the time taken does not depend on how much data the keys protect. Afterwards
    /// the directory opens with `new` only.
    pub fn rewrap(
        dir: &Path,
        old: EncryptionKey,
        new: EncryptionKey,
    ) -> Result<usize, RegistryError> {
        let mut registry = Self::open(dir, old, DEFAULT_ROTATION)?;
        registry.master = new;
        let keys = registry.keys.read();
        registry.save(&keys)?;
        Ok(keys.len())
    }

    /// The directory this registry serves.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id new files are sealed under.
    pub fn active_id(&self) -> u32 {
        self.keys.read().last().map_or(0, |k| k.id)
    }

    /// Every id, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys.read().iter().map(|k| k.id).collect()
    }

    /// The data key with `id`, if the registry holds it.
    pub fn data_key(&self, id: u32) -> Option<Zeroizing<[u8; DATA_KEY_LEN]>> {
        self.keys
            .read()
            .iter()
            .find(|k| k.id == id)
            .map(|k| Zeroizing::new(*k.key))
    }

    /// The master key's size in bits (128, 192 or 256).
    pub fn master_bits(&self) -> u32 {
        self.master.bits()
    }

    /// Makes a new active data key when the active one is older than the rotation period;
    /// `true` when it did. The new key is durable before it is used.
    pub fn rotate_if_due(&self) -> Result<bool, RegistryError> {
        let mut keys = self.keys.write();
        let due = keys
            .last()
            .is_none_or(|k| now_secs().saturating_sub(k.created) >= self.rotation.as_secs());
        if !due {
            return Ok(false);
        }
        let id = keys.last().map_or(1, |k| k.id + 1);
        keys.push(new_key(id));
        if let Err(e) = self.save(&keys) {
            keys.pop();
            return Err(e);
        }
        Ok(true)
    }

    /// How long until the active key is due for rotation.
    pub fn until_rotation(&self) -> Duration {
        let keys = self.keys.read();
        let age = keys
            .last()
            .map_or(0, |k| now_secs().saturating_sub(k.created));
        self.rotation.saturating_sub(Duration::from_secs(age))
    }

    /// Writes `keys` sealed under the master key: rewrite file, sync, rename, sync the
    /// directory.
    fn save(&self, keys: &[DataKey]) -> Result<(), RegistryError> {
        let bytes = seal(&self.master, keys);
        let tmp = self.dir.join(REWRITE_FILE);
        let path = self.dir.join(REGISTRY_FILE);
        write_synced(&tmp, &bytes).map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.dir, e))
    }
}

/// Locks `dir`'s registry for this process, or says who holds it.
fn lock(dir: &Path) -> Result<std::fs::File, RegistryError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RegistryError::InUse {
            dir: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path, e)),
    }
}

fn new_key(id: u32) -> DataKey {
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(&mut *key);
    DataKey {
        id,
        created: now_secs(),
        key,
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// AES-GCM under `master`, whatever its size.
fn gcm(
    master: &EncryptionKey,
    seal: bool,
    nonce: &[u8; NONCE_LEN],
    payload: Payload<'_, '_>,
) -> Option<Vec<u8>> {
    let nonce = nonce.into();
    let key = master.as_bytes();
    macro_rules! run {
        ($cipher:ty) => {{
            let cipher = <$cipher>::new_from_slice(key).ok()?;
            if seal {
                cipher.encrypt(nonce, payload).ok()
            } else {
                cipher.decrypt(nonce, payload).ok()
            }
        }};
    }
    match key.len() {
        16 => run!(Aes128Gcm),
        24 => run!(AesGcm<aes::Aes192, aes_gcm::aead::consts::U12>),
        _ => run!(Aes256Gcm),
    }
}

/// The header every registry starts with; also the associated data of the seal.
fn header() -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.push(VERSION);
    h
}

fn seal(master: &EncryptionKey, keys: &[DataKey]) -> Vec<u8> {
    let mut body = Zeroizing::new(Vec::with_capacity(4 + keys.len() * RECORD_LEN));
    body.extend_from_slice(&(keys.len() as u32).to_be_bytes());
    for k in keys {
        body.extend_from_slice(&k.id.to_be_bytes());
        body.extend_from_slice(&k.created.to_be_bytes());
        body.extend_from_slice(&*k.key);
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let head = header();
    let sealed = gcm(
        master,
        true,
        &nonce,
        Payload {
            msg: &body,
            aad: &head,
        },
    )
    .expect("AES-GCM seals any message under a 16, 24 or 32-byte key");
    let mut out = head;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    let check = Sha256::digest(&out);
    out.extend_from_slice(&check[..CHECK_LEN]);
    out
}

fn unseal(
    path: &Path,
    master: &EncryptionKey,
    bytes: &[u8],
) -> Result<Vec<DataKey>, RegistryError> {
    let corrupt = |reason: &str| RegistryError::Corrupt {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let head = header();
    if bytes.len() < head.len() + NONCE_LEN + 16 + CHECK_LEN || !bytes.starts_with(MAGIC) {
        return Err(corrupt("it is not a key registry"));
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err(corrupt(&format!(
            "format version {} is not one this build reads",
            bytes[MAGIC.len()]
        )));
    }
    let (sealed_part, check) = bytes.split_at(bytes.len() - CHECK_LEN);
    if Sha256::digest(sealed_part)[..CHECK_LEN] != *check {
        return Err(corrupt("its checksum does not match"));
    }
    let nonce: [u8; NONCE_LEN] = sealed_part[head.len()..head.len() + NONCE_LEN]
        .try_into()
        .expect("sliced to the nonce length");
    let body = gcm(
        master,
        false,
        &nonce,
        Payload {
            msg: &sealed_part[head.len() + NONCE_LEN..],
            aad: &head,
        },
    )
    .map(Zeroizing::new)
    .ok_or_else(|| RegistryError::WrongKey {
        path: path.display().to_string(),
    })?;
    let count = body
        .get(..4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
        .ok_or_else(|| corrupt("its key list is cut short"))?;
    if body.len() != 4 + count * RECORD_LEN || count == 0 {
        return Err(corrupt("its key list has the wrong length"));
    }
    let mut keys = Vec::with_capacity(count);
    for rec in body[4..].chunks_exact(RECORD_LEN) {
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        key.copy_from_slice(&rec[12..]);
        keys.push(DataKey {
            id: u32::from_be_bytes(rec[..4].try_into().expect("4 bytes")),
            created: u64::from_be_bytes(rec[4..12].try_into().expect("8 bytes")),
            key,
        });
    }
    if keys.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(corrupt("its key ids are not ascending"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8, len: usize) -> EncryptionKey {
        EncryptionKey::from_bytes(&vec![byte; len]).unwrap()
    }

    #[test]
    fn a_registry_opens_with_its_master_key_only() {
        for len in [16, 24, 32] {
            let dir = tempfile::tempdir().unwrap();
            let made =
                KeyRegistry::open_or_create(dir.path(), key(1, len), DEFAULT_ROTATION).unwrap();
            assert_eq!(made.key_ids(), [1]);
            let first = made.data_key(1).unwrap();
            drop(made);
            let again = KeyRegistry::open(dir.path(), key(1, len), DEFAULT_ROTATION).unwrap();
            assert_eq!(*again.data_key(1).unwrap(), *first);
            drop(again);
            let err = KeyRegistry::open(dir.path(), key(2, len), DEFAULT_ROTATION).unwrap_err();
            assert!(matches!(err, RegistryError::WrongKey { .. }), "{err}");
            assert!(err.to_string().starts_with(KEY_MISMATCH), "{err}");
            // The same bytes at another size are another key.
            let other = if len == 16 { 32 } else { 16 };
            assert!(KeyRegistry::open(dir.path(), key(1, other), DEFAULT_ROTATION).is_err());
        }
    }

    #[test]
    fn the_file_holds_no_key_bytes_and_damage_is_told_from_a_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let reg = KeyRegistry::open_or_create(dir.path(), key(9, 32), DEFAULT_ROTATION).unwrap();
        let data_key = reg.data_key(1).unwrap();
        drop(reg);
        let path = dir.path().join(REGISTRY_FILE);
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(8).any(|w| w == &data_key[..8]));
        assert!(!bytes.windows(8).any(|w| w == [9u8; 8]));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let err = KeyRegistry::open(dir.path(), key(9, 32), DEFAULT_ROTATION).unwrap_err();
        assert!(matches!(err, RegistryError::Corrupt { .. }), "{err}");
        std::fs::write(&path, b"not a registry").unwrap();
        let err = KeyRegistry::open(dir.path(), key(9, 32), DEFAULT_ROTATION).unwrap_err();
        assert!(err.to_string().contains("is not a key registry"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = KeyRegistry::open(empty.path(), key(9, 32), DEFAULT_ROTATION).unwrap_err();
        assert!(matches!(err, RegistryError::Missing { .. }), "{err}");
    }

    #[test]
    fn rotation_adds_a_key_and_keeps_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let reg =
            KeyRegistry::open_or_create(dir.path(), key(3, 16), Duration::from_secs(3600)).unwrap();
        assert!(!reg.rotate_if_due().unwrap(), "a new key is not due");
        assert!(reg.until_rotation() > Duration::from_secs(3500));
        let err = KeyRegistry::open(dir.path(), key(3, 16), Duration::ZERO).unwrap_err();
        assert!(matches!(err, RegistryError::InUse { .. }), "{err}");
        drop(reg);
        let reg = KeyRegistry::open(dir.path(), key(3, 16), Duration::ZERO).unwrap();
        let first = reg.data_key(1).unwrap();
        assert!(reg.rotate_if_due().unwrap());
        assert_eq!(reg.active_id(), 2);
        assert_ne!(*reg.data_key(2).unwrap(), *first);
        drop(reg);
        let reopened = KeyRegistry::open(dir.path(), key(3, 16), DEFAULT_ROTATION).unwrap();
        assert_eq!(reopened.key_ids(), [1, 2]);
        assert_eq!(*reopened.data_key(1).unwrap(), *first);
    }

    #[test]
    fn rewrapping_changes_the_master_key_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let reg = KeyRegistry::open_or_create(dir.path(), key(4, 32), Duration::ZERO).unwrap();
        reg.rotate_if_due().unwrap();
        let keys: Vec<_> = reg
            .key_ids()
            .iter()
            .map(|&id| *reg.data_key(id).unwrap())
            .collect();
        drop(reg);
        let err = KeyRegistry::rewrap(dir.path(), key(5, 32), key(6, 24)).unwrap_err();
        assert!(matches!(err, RegistryError::WrongKey { .. }));
        assert_eq!(
            KeyRegistry::rewrap(dir.path(), key(4, 32), key(6, 24)).unwrap(),
            2
        );
        assert!(KeyRegistry::open(dir.path(), key(4, 32), DEFAULT_ROTATION).is_err());
        let reg = KeyRegistry::open(dir.path(), key(6, 24), DEFAULT_ROTATION).unwrap();
        let after: Vec<_> = reg
            .key_ids()
            .iter()
            .map(|&id| *reg.data_key(id).unwrap())
            .collect();
        assert_eq!(after, keys);
        assert!(!dir.path().join(REWRITE_FILE).exists());
    }
}
