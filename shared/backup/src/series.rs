//! Reading a backup series back: opening a location, choosing the series with Dgraph's rules,
//! resolving the key it was encrypted with, and reading its files, each file's size and SHA-256
//! checked on the same pass that decodes its records.
//!
//! The online restore (the backup worker), the offline restore (`alpha restore`) and
//! `backup-worker verify` all read through this module, so every one of them refuses the same
//! damaged file, wrong key or gap in a series with the same message.

use crate::codec::{CodecError, Decoder, HashingReader};
use crate::destination::{Credentials, Destination};
use crate::error::BackupError;
use crate::manifest::{self, BackupFile, Manifest, SelectError};
use crate::record::{self, Record};
use bytes::Bytes;
use futures::StreamExt;
use lodestar_crypto::EncryptionKey;
use lodestar_crypto::vault::{VaultConfig, VaultFormat};
use prost::Message as _;
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, Read};
use std::path::PathBuf;

pub use opendal::Operator;

/// Where the key of an encrypted series comes from: a key file, or Vault (AppRole, KV v2).
/// Empty strings are unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySource {
    pub key_file: String,
    pub vault_addr: String,
    pub vault_role_id_file: String,
    pub vault_secret_id_file: String,
    pub vault_path: String,
    pub vault_field: String,
    pub vault_format: String,
}

/// The flags of a command that reads an encrypted series (`alpha restore`,
/// `backup-worker verify`): where its key comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// The key file the series was encrypted with (16, 24 or 32 bytes, owner-only).
    #[arg(long = "encryption_key_file")]
    pub encryption_key_file: Option<String>,
    /// Vault's address: fetch the key from Vault (AppRole, KV v2) instead of a file.
    #[arg(long = "vault_addr")]
    pub vault_addr: Option<String>,
    /// The file holding the AppRole role-id.
    #[arg(long = "vault_role_id_file")]
    pub vault_role_id_file: Option<String>,
    /// The file holding the AppRole secret-id (owner-only).
    #[arg(long = "vault_secret_id_file")]
    pub vault_secret_id_file: Option<String>,
    /// The KV v2 path of the secret [default: secret/data/dgraph].
    #[arg(long = "vault_path")]
    pub vault_path: Option<String>,
    /// The field holding the key [default: enc_key].
    #[arg(long = "vault_field")]
    pub vault_field: Option<String>,
    /// base64 or raw [default: base64].
    #[arg(long = "vault_format")]
    pub vault_format: Option<String>,
}

impl KeyArgs {
    /// The flags as a key source.
    pub fn source(&self) -> KeySource {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        KeySource {
            key_file: s(&self.encryption_key_file),
            vault_addr: s(&self.vault_addr),
            vault_role_id_file: s(&self.vault_role_id_file),
            vault_secret_id_file: s(&self.vault_secret_id_file),
            vault_path: s(&self.vault_path),
            vault_field: s(&self.vault_field),
            vault_format: s(&self.vault_format),
        }
    }
}

/// The flags of a command that reads a series from a location: which series, up to which
/// backup, and its key.
#[derive(Debug, Clone, clap::Args)]
pub struct SeriesArgs {
    /// The backup location (a path, file://, s3://, minio:// or gs:// URI).
    #[arg(short = 'l', long = "location")]
    pub location: String,
    /// The series to read [default: the newest].
    #[arg(long = "backup_id", default_value = "")]
    pub backup_id: String,
    /// Read up to this backup of the series [default: 0, its newest].
    #[arg(
        long = "backup_num",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub backup_num: i64,
    #[command(flatten)]
    pub key: KeyArgs,
}

impl SeriesArgs {
    /// Opens the series ([`open_series`]); object-store credentials come from the environment.
    pub async fn open(&self) -> Result<Series, BackupError> {
        open_series(
            &self.location,
            &Credentials::default(),
            &self.backup_id,
            self.backup_num,
            Some(&self.key.source()),
            None,
        )
        .await
    }
}

/// The key a restore or verify reads with: the source's key file, or Vault, or none.
pub async fn resolve_key(source: Option<&KeySource>) -> Result<Option<EncryptionKey>, BackupError> {
    let Some(s) = source else {
        return Ok(None);
    };
    let vault_set = [
        &s.vault_role_id_file,
        &s.vault_secret_id_file,
        &s.vault_path,
        &s.vault_field,
        &s.vault_format,
    ]
    .iter()
    .any(|v| !v.is_empty());
    if !s.key_file.is_empty() {
        if !s.vault_addr.is_empty() || vault_set {
            return Err(BackupError::invalid(
                "give either encryptionKeyFile or the Vault settings, not both",
            ));
        }
        return EncryptionKey::from_file(std::path::Path::new(&s.key_file))
            .map(Some)
            .map_err(|e| BackupError::invalid(format!("encryptionKeyFile: {e}")));
    }
    if s.vault_addr.is_empty() {
        if vault_set {
            return Err(BackupError::invalid(
                "vaultAddr is required with the other Vault settings",
            ));
        }
        return Ok(None);
    }
    if s.vault_role_id_file.is_empty() || s.vault_secret_id_file.is_empty() {
        return Err(BackupError::invalid(
            "vaultRoleIDFile and vaultSecretIDFile are required with vaultAddr",
        ));
    }
    let mut cfg = VaultConfig {
        addr: s.vault_addr.clone(),
        role_id_file: PathBuf::from(&s.vault_role_id_file),
        secret_id_file: PathBuf::from(&s.vault_secret_id_file),
        ..VaultConfig::default()
    };
    if !s.vault_path.is_empty() {
        cfg.path = s.vault_path.clone();
    }
    if !s.vault_field.is_empty() {
        cfg.field = s.vault_field.clone();
    }
    if !s.vault_format.is_empty() {
        cfg.format = VaultFormat::parse(&s.vault_format)
            .map_err(|e| BackupError::invalid(format!("vaultFormat: {e}")))?;
    }
    lodestar_crypto::vault::fetch_key(&cfg)
        .await
        .map(Some)
        .map_err(|e| {
            BackupError::unavailable(format!(
                "the encryption key from Vault at {}: {e}",
                cfg.addr
            ))
        })
}

/// Parses a location (`what` names the field for the message when it is empty) and opens an
/// operator on it; credentials missing from `credentials` come from the environment.
pub fn open_location(
    location: &str,
    credentials: &Credentials,
    what: &str,
) -> Result<(Destination, opendal::Operator), BackupError> {
    if location.trim().is_empty() {
        return Err(BackupError::invalid(format!(
            "you must specify a '{what}' value"
        )));
    }
    let dest = Destination::parse(location).map_err(|e| BackupError::invalid(e.to_string()))?;
    let op = dest
        .operator(credentials, &|name| std::env::var(name).ok())
        .map_err(|e| BackupError::invalid(e.to_string()))?;
    Ok((dest, op))
}

/// Chooses the backups to restore (oldest first) from the location's manifest, with Dgraph's
/// rules and messages; entries whose files are missing count as gaps.
pub async fn choose(
    op: &opendal::Operator,
    destination: &Destination,
    backup_id: &str,
    backup_num: i64,
) -> Result<Vec<Manifest>, BackupError> {
    if backup_num < 0 {
        return Err(BackupError::invalid(
            SelectError::NegativeBackupNum.to_string(),
        ));
    }
    let master = manifest::read_master(op).await.map_err(|e| {
        BackupError::precondition(format!("reading the manifest at {destination}: {e}"))
    })?;
    let id = (!backup_id.trim().is_empty()).then_some(backup_id.trim());
    // Only the series that can be chosen (the named one, else the newest entry's) has its
    // files looked up: other series are never read.
    let candidate = id.or_else(|| master.manifests.last().map(|m| m.backup_id.as_str()));
    let mut incomplete = HashSet::new();
    for m in master
        .manifests
        .iter()
        .filter(|m| Some(m.backup_id.as_str()) == candidate)
    {
        let missing = manifest::missing_files(op, m).await.map_err(|e| {
            BackupError::unavailable(format!("listing the backup files at {destination}: {e}"))
        })?;
        if !missing.is_empty() {
            tracing::warn!(path = %m.path, missing = ?missing, "backup files are missing");
            incomplete.insert((m.backup_id.clone(), m.backup_num, m.path.clone()));
        }
    }
    manifest::select_series(&master.manifests, id, backup_num, |m| {
        !incomplete.contains(&(m.backup_id.clone(), m.backup_num, m.path.clone()))
    })
    .map_err(|e| match e.at(destination) {
        e @ SelectError::NegativeBackupNum => BackupError::invalid(e.to_string()),
        e @ SelectError::UnknownBackupId(_) => BackupError::new(
            lodestar_runtime::ErrorCode::NotFound,
            format!("failed to verify backup: {e}"),
        ),
        e @ SelectError::NoBackups { .. } => {
            BackupError::new(lodestar_runtime::ErrorCode::NotFound, e.to_string())
        }
        e => BackupError::precondition(e.to_string()),
    })
}

/// A restore's or a verify's backups, opened: where they are and the key to read them with.
#[derive(Debug)]
pub struct Series {
    pub destination: Destination,
    pub operator: opendal::Operator,
    /// The backups to read, oldest first; never empty.
    pub series: Vec<Manifest>,
    pub key: Option<EncryptionKey>,
}

impl Series {
    /// The newest backup of the series: the state a restore ends at.
    pub fn last(&self) -> &Manifest {
        self.series.last().expect("a chosen series is never empty")
    }
}

/// Opens a location, chooses its series ([`choose`]) and the key to read it with: the given
/// source's, else `fallback` (the cluster's own); refuses what cannot be read
/// ([`check_readable`]).
pub async fn open_series(
    location: &str,
    credentials: &Credentials,
    backup_id: &str,
    backup_num: i64,
    key: Option<&KeySource>,
    fallback: Option<&EncryptionKey>,
) -> Result<Series, BackupError> {
    if location.trim().is_empty() {
        return Err(BackupError::invalid("you must specify a 'location' value"));
    }
    if backup_num < 0 {
        return Err(BackupError::invalid(
            SelectError::NegativeBackupNum.to_string(),
        ));
    }
    let (destination, operator) = open_location(location, credentials, "location")?;
    let series = choose(&operator, &destination, backup_id, backup_num).await?;
    let key = match resolve_key(key).await? {
        Some(key) => Some(key),
        None => fallback.cloned(),
    };
    check_readable(&series, key.as_ref())?;
    Ok(Series {
        destination,
        operator,
        series,
        key,
    })
}

/// Checks that the series can be read with the key it will get: refuses an encrypted series
/// without a key, records of a format this version does not know, and a series written by
/// another program (no checksums to check against).
pub fn check_readable(series: &[Manifest], key: Option<&EncryptionKey>) -> Result<(), BackupError> {
    for m in series {
        if m.encrypted && key.is_none() {
            return Err(BackupError::invalid(format!(
                "backup {} of series {} is encrypted: give encryptionKeyFile or the Vault settings",
                m.backup_num, m.backup_id
            )));
        }
        if !m.compression_kind().decodable() {
            return Err(BackupError::precondition(format!(
                "backup {} of series {} is compressed with {:?}, which this version cannot read",
                m.backup_num, m.backup_id, m.compression
            )));
        }
        record::check_format(m.format).map_err(|e| {
            e.context(format_args!(
                "backup {} of series {} cannot be read",
                m.backup_num, m.backup_id
            ))
        })?;
        for (gid, name) in m.file_names() {
            if !m.files.contains_key(&gid) {
                return Err(BackupError::precondition(format!(
                    "{}/{name}: the manifest records no size or checksum for it, so it was not written by this backup worker and cannot be restored",
                    m.path
                )));
            }
        }
    }
    Ok(())
}

/// One file of a series to read.
#[derive(Debug, Clone, Copy)]
pub struct SeriesFile<'a> {
    /// The backup it belongs to.
    pub backup: &'a Manifest,
    pub group: u32,
    pub record: &'a BackupFile,
}

impl SeriesFile<'_> {
    /// The object's path in the location.
    pub fn path(&self) -> String {
        if self.backup.path.is_empty() {
            self.record.name.clone()
        } else {
            format!("{}/{}", self.backup.path, self.record.name)
        }
    }

    /// The key to read it with: the series' key when the backup is encrypted.
    pub fn key<'k>(&self, key: Option<&'k EncryptionKey>) -> Option<&'k EncryptionKey> {
        if self.backup.encrypted { key } else { None }
    }
}

/// The files of a series in restore order: oldest backup first, then by group.
pub fn series_files(series: &[Manifest]) -> Vec<SeriesFile<'_>> {
    series
        .iter()
        .flat_map(|m| {
            m.files.iter().map(move |(gid, file)| SeriesFile {
                backup: m,
                group: *gid,
                record: file,
            })
        })
        .collect()
}

/// The groups a series holds files for, ascending.
pub fn series_groups(series: &[Manifest]) -> Vec<u32> {
    let groups: std::collections::BTreeSet<u32> = series
        .iter()
        .flat_map(|m| m.files.keys().copied())
        .collect();
    groups.into_iter().collect()
}

/// The highest namespace a series' predicate names mention.
pub fn max_namespace(series: &[Manifest]) -> u64 {
    series
        .iter()
        .flat_map(|m| m.groups.values().flatten())
        .filter_map(|name| manifest::split_name(name).map(|(ns, _)| ns))
        .max()
        .unwrap_or(0)
}

/// The highest uid any backup of a series says was leased when it was taken.
pub fn max_uid(series: &[Manifest]) -> u64 {
    series.iter().map(|m| m.max_uid).max().unwrap_or(0)
}

/// An object's bytes, fetched by a task on the runtime, as a blocking [`Read`].
pub struct ObjectReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ObjectReader {
    /// Starts fetching `path`.
    pub async fn open(op: &opendal::Operator, path: &str) -> Result<ObjectReader, BackupError> {
        let reader = op
            .reader_with(path)
            .chunk(8 << 20)
            .concurrent(2)
            .await
            .map_err(|e| store_error(e, format!("opening {path}")))?;
        let mut stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| store_error(e, format!("reading {path}")))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(ObjectReader {
            rx,
            current: Bytes::new(),
        })
    }
}

/// A store's refusal: a missing object is a damaged series, anything else may pass.
fn store_error(e: opendal::Error, what: String) -> BackupError {
    if e.kind() == opendal::ErrorKind::NotFound {
        BackupError::damaged(format!("{what}: the file is missing ({e})"))
    } else {
        BackupError::unavailable(format!("{what}: {e}"))
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(bytes)) => self.current = bytes,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// How much of a file [`read_file`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Size and SHA-256 of every byte, and the first record (proves the key and the format).
    Check,
    /// Every record, and their key count against the manifest.
    Full,
}

/// What reading one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    pub path: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// Records decoded ([`Depth::Check`] decodes one).
    pub records: u64,
    /// Keys in the records decoded.
    pub keys: u64,
}

/// A reader that remembers whether its source failed, so a broken connection is reported as
/// such even when the decoder above saw it as a broken gzip stream.
struct SourceReader<'a, R> {
    inner: R,
    failure: &'a RefCell<Option<String>>,
}

impl<R: Read> Read for SourceReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failure
                .borrow_mut()
                .get_or_insert_with(|| e.to_string());
        })
    }
}

/// Reads one backup file (blocking): decodes its records (all, or the first), handing each to
/// `each`, and checks the file's size and SHA-256 against the manifest's record. A damaged file
/// is reported as damaged ([`lodestar_runtime::ErrorCode::DataLoss`]) even when the damage
/// also broke decoding; a source that stopped answering is
/// [`lodestar_runtime::ErrorCode::Unavailable`].
pub fn read_file(
    reader: impl Read,
    path: &str,
    expected: &BackupFile,
    key: Option<&EncryptionKey>,
    depth: Depth,
    mut each: impl FnMut(Record) -> Result<(), BackupError>,
) -> Result<VerifiedFile, BackupError> {
    let failure = RefCell::new(None);
    let source_failed = || {
        failure
            .borrow()
            .clone()
            .map(|e| BackupError::unavailable(format!("reading {path}: {e}")))
    };
    let mut records = 0u64;
    let mut keys = 0u64;
    let mut decode_error = None;
    let hashing = HashingReader::new(SourceReader {
        inner: reader,
        failure: &failure,
    });
    let mut hashing = match Decoder::new(hashing, key) {
        Ok(mut decoder) => {
            for frame in &mut decoder {
                let record = frame.map_err(DecodeError::Codec).and_then(|f| {
                    Record::decode(f.as_slice()).map_err(|e| DecodeError::Record(records, e))
                });
                match record {
                    Ok(record) => {
                        records += 1;
                        keys += record.entries.len() as u64;
                        each(record)?;
                    }
                    Err(e) => {
                        decode_error = Some(e);
                        break;
                    }
                }
                if depth == Depth::Check {
                    break;
                }
            }
            decoder.into_inner()
        }
        Err(e) => {
            return Err(source_failed().unwrap_or_else(|| codec_error(path, e, key.is_some())));
        }
    };
    if let Err(e) = io::copy(&mut hashing, &mut io::sink()) {
        return Err(source_failed()
            .unwrap_or_else(|| BackupError::unavailable(format!("reading {path}: {e}"))));
    }
    if let Some(e) = source_failed() {
        return Err(e);
    }
    let (size, sha256) = hashing.summary();
    if size != expected.size {
        return Err(BackupError::damaged(format!(
            "{path} is {size} bytes but the manifest says {}: the file is damaged or was replaced",
            expected.size
        )));
    }
    if !expected.sha256.eq_ignore_ascii_case(&sha256) {
        return Err(BackupError::damaged(format!(
            "{path} has SHA-256 {sha256} but the manifest says {}: the file is damaged",
            expected.sha256
        )));
    }
    if let Some(e) = decode_error {
        return Err(match e {
            DecodeError::Codec(e) => codec_error(path, e, key.is_some()),
            DecodeError::Record(n, e) => BackupError::invalid(format!(
                "{path}: record {n} is not a backup record ({e}): wrong key, or not a backup of this version"
            )),
        });
    }
    if records == 0 {
        return Err(BackupError::damaged(format!(
            "{path} holds no records: it was not written completely"
        )));
    }
    if depth == Depth::Full && keys != expected.keys {
        return Err(BackupError::damaged(format!(
            "{path} holds {keys} keys but the manifest says {}",
            expected.keys
        )));
    }
    Ok(VerifiedFile {
        path: path.to_string(),
        size,
        sha256,
        records,
        keys,
    })
}

/// A decoding failure of a file whose bytes are the recorded ones: the key is wrong, or the
/// file is not a backup this version reads.
fn codec_error(path: &str, e: CodecError, keyed: bool) -> BackupError {
    match e {
        e @ CodecError::Decompress(_) if keyed => BackupError::invalid(format!(
            "{path} is intact (its checksum matches) but does not decrypt and decompress: the encryption key is wrong ({e})"
        )),
        e => BackupError::invalid(format!("{path}: {e}")),
    }
}

enum DecodeError {
    Codec(CodecError),
    Record(u64, prost::DecodeError),
}

/// Reads one file of a store on a blocking thread ([`read_file`]).
pub async fn read_object(
    op: &opendal::Operator,
    file: SeriesFile<'_>,
    key: Option<&EncryptionKey>,
    depth: Depth,
    each: impl FnMut(Record) -> Result<(), BackupError> + Send + 'static,
) -> Result<VerifiedFile, BackupError> {
    let path = file.path();
    let reader = ObjectReader::open(op, &path).await?;
    let (expected, key) = (file.record.clone(), file.key(key).cloned());
    tokio::task::spawn_blocking(move || {
        read_file(reader, &path, &expected, key.as_ref(), depth, each)
    })
    .await
    .map_err(|e| BackupError::internal(format!("reading a backup file stopped: {e}")))?
}

/// Checks every file of a series (see [`Depth`]); `done` hears each file as it passes.
pub async fn check_series(
    op: &opendal::Operator,
    series: &[Manifest],
    key: Option<&EncryptionKey>,
    depth: Depth,
    mut done: impl FnMut(&VerifiedFile),
) -> Result<Vec<VerifiedFile>, BackupError> {
    let mut out = Vec::new();
    for file in series_files(series) {
        let verified = read_object(op, file, key, depth, |_| Ok(())).await?;
        done(&verified);
        out.push(verified);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{EncodeOptions, Encoder};
    use crate::record::Entry;
    use lodestar_runtime::ErrorCode;

    fn record(n: u64) -> Record {
        Record {
            entries: (0..n)
                .map(|i| Entry {
                    key: i.to_be_bytes().to_vec(),
                    value: b"v".to_vec(),
                    version: 1,
                    ..Entry::default()
                })
                .collect(),
            ..Record::default()
        }
    }

    async fn encode(key: Option<EncryptionKey>) -> (Vec<u8>, BackupFile) {
        let opts = EncodeOptions {
            key,
            ..EncodeOptions::default()
        };
        let mut enc = Encoder::new(Vec::new(), opts);
        enc.push_frame(&record(3).encode_to_vec()).await.unwrap();
        let mut last = record(2);
        last.done = true;
        enc.push_frame(&last.encode_to_vec()).await.unwrap();
        let (bytes, summary) = enc.finish().await.unwrap();
        let file = BackupFile {
            name: "r5-g1.backup".into(),
            size: summary.size,
            sha256: summary.sha256,
            keys: 5,
        };
        (bytes, file)
    }

    #[tokio::test]
    async fn a_good_file_reads_fully_and_a_damaged_one_is_named_damaged() {
        let key = EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
        let (bytes, file) = encode(Some(key.clone())).await;
        let mut seen = 0;
        let v = read_file(&bytes[..], "f", &file, Some(&key), Depth::Full, |r| {
            seen += r.entries.len();
            Ok(())
        })
        .unwrap();
        assert_eq!((v.records, v.keys, seen), (2, 5, 5));
        let check =
            read_file(&bytes[..], "f", &file, Some(&key), Depth::Check, |_| Ok(())).unwrap();
        assert_eq!((check.records, check.size), (1, file.size));

        let mut flipped = bytes.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        let e = read_file(
            &flipped[..],
            "f",
            &file,
            Some(&key),
            Depth::Full,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(
            e.message.contains("SHA-256") && e.message.contains("damaged"),
            "{e}"
        );
        assert_eq!(e.code, ErrorCode::DataLoss);

        let wrong = EncryptionKey::from_bytes(&[8u8; 32]).unwrap();
        let e = read_file(&bytes[..], "f", &file, Some(&wrong), Depth::Check, |_| {
            Ok(())
        })
        .unwrap_err();
        assert!(e.message.contains("encryption key is wrong"), "{e}");
        assert_eq!(e.code, ErrorCode::InvalidArgument);

        let e = read_file(
            &bytes[..bytes.len() - 3],
            "f",
            &file,
            Some(&key),
            Depth::Check,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(e.message.contains("bytes but the manifest says"), "{e}");
        assert_eq!(e.code, ErrorCode::DataLoss);
    }

    /// A source that fails halfway is a failure to read, not a damaged file: retrying may
    /// work, and nothing says the backup is lost.
    #[tokio::test]
    async fn a_broken_connection_is_not_reported_as_damage() {
        struct Breaks<'a>(&'a [u8]);
        impl Read for Breaks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.len() < 40 {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "reset by peer",
                    ));
                }
                let n = buf.len().min(self.0.len() - 39).min(16);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (bytes, file) = encode(None).await;
        let e = read_file(Breaks(&bytes), "f", &file, None, Depth::Full, |_| Ok(())).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unavailable, "{e}");
        assert!(e.message.contains("reset by peer"), "{e}");
    }

    #[tokio::test]
    async fn the_manifest_key_count_is_checked_in_full_reads() {
        let (bytes, mut file) = encode(None).await;
        file.keys = 6;
        let e = read_file(&bytes[..], "f", &file, None, Depth::Full, |_| Ok(())).unwrap_err();
        assert!(
            e.message.contains("holds 5 keys but the manifest says 6"),
            "{e}"
        );
        assert!(read_file(&bytes[..], "f", &file, None, Depth::Check, |_| Ok(())).is_ok());
    }

    #[tokio::test]
    async fn key_sources_are_checked_before_use() {
        assert!(resolve_key(None).await.unwrap().is_none());
        let both = KeySource {
            key_file: "/k".into(),
            vault_addr: "http://v".into(),
            ..KeySource::default()
        };
        let e = resolve_key(Some(&both)).await.unwrap_err();
        assert!(e.message.contains("not both"), "{e}");
        let no_addr = KeySource {
            vault_field: "f".into(),
            ..KeySource::default()
        };
        let e = resolve_key(Some(&no_addr)).await.unwrap_err();
        assert!(e.message.contains("vaultAddr is required"), "{e}");
        let no_ids = KeySource {
            vault_addr: "http://v".into(),
            ..KeySource::default()
        };
        let e = resolve_key(Some(&no_ids)).await.unwrap_err();
        assert!(e.message.contains("vaultRoleIDFile"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, [1u8; 16]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = KeySource {
            key_file: path.to_str().unwrap().into(),
            ..KeySource::default()
        };
        assert_eq!(resolve_key(Some(&file)).await.unwrap().unwrap().bits(), 128);
    }

    #[test]
    fn a_newer_record_format_is_refused_before_reading() {
        let mut m = Manifest {
            format: record::FORMAT + 1,
            ..Manifest::default()
        };
        let e = check_readable(std::slice::from_ref(&m), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::FailedPrecondition);
        assert!(e.message.contains("format 2"), "{e}");
        m.format = 0;
        assert!(check_readable(&[m], None).is_ok());
    }

    #[test]
    fn namespaces_come_from_predicate_names() {
        let mut m = Manifest::default();
        m.groups.insert(1, vec!["0-name".into(), "2a-age".into()]);
        assert_eq!(max_namespace(&[m]), 0x2a);
    }
}
