//! The `manifest.json` of a backup location, in Dgraph's layout, so Dgraph's `restore` and
//! `lsbackup` read what we write and we read what Dgraph (v20.11 to v24) wrote.
//!
//! `<location>/manifest.json` holds `{"Manifests":[...]}`, oldest first; each backup's files
//! sit in `<location>/dgraph.<UTC timestamp>/r<read_ts>-g<group>.backup`. We add three keys of
//! our own to each entry (`files`, `max_uid` and `format`); Dgraph's tools ignore them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use opendal::{ErrorKind, Operator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::names::new_backup_id;

/// The master manifest's name at the root of a location.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Where a new master manifest is written before it replaces [`MANIFEST_FILE`].
pub const MANIFEST_TMP_FILE: &str = "manifest_tmp.json";
/// The manifest version we write: Dgraph's v2105 layout (namespaced predicate names).
pub const MANIFEST_VERSION: u32 = 2105;
/// The compression we write.
pub const COMPRESSION_GZIP: &str = "gzip";

/// `{"Manifests": [...]}`: every backup at a location, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterManifest {
    /// The entries, oldest first (Dgraph's Go field has no JSON tag, hence the capital M).
    #[serde(rename = "Manifests", default, deserialize_with = "null_as_default")]
    pub manifests: Vec<Manifest>,
}

/// Whether a backup holds everything or the changes since the previous one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Every key at `read_ts`; `backup_num` 1 of a new series.
    #[default]
    Full,
    /// The keys changed since the previous backup of the series.
    Incremental,
}

impl fmt::Display for BackupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackupKind::Full => "full",
            BackupKind::Incremental => "incremental",
        })
    }
}

/// One backup: a manifest entry with exactly Dgraph's keys plus `files`, `max_uid` and `format`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `full` or `incremental`.
    #[serde(rename = "type")]
    pub kind: BackupKind,
    /// Legacy: the read timestamp as v20.11 wrote it; we write 0.
    #[serde(default)]
    pub since: u64,
    /// The backup's read timestamp; the next incremental starts after it.
    #[serde(default)]
    pub read_ts: u64,
    /// Predicates per group, in the v2105 form `<hex ns>-<pred>` (see [`galaxy_name`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: BTreeMap<u32, Vec<String>>,
    /// The series id, e.g. `quirky_kapitsa4`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backup_id: String,
    /// 1 for the full backup of a series, +1 for each incremental.
    #[serde(default)]
    pub backup_num: u64,
    /// 0 (up to v20.11), 2103 or 2105 (what we write).
    #[serde(default)]
    pub version: u32,
    /// The backup's folder, e.g. `dgraph.20210517.095641.969`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub path: String,
    /// Whether the files are encrypted.
    #[serde(default)]
    pub encrypted: bool,
    /// Drops recorded in the backup; `null` when none.
    #[serde(default)]
    pub drop_operations: Option<Vec<DropOperation>>,
    /// `gzip` (ours), `snappy` (Dgraph v21.03+) or empty (gzip, up to v20.11).
    #[serde(default, deserialize_with = "null_as_default")]
    pub compression: String,
    /// Ours: the file of each group with its size, SHA-256 and key count.
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: BTreeMap<u32, BackupFile>,
    /// Ours: the highest UID leased when the backup was taken.
    #[serde(default)]
    pub max_uid: u64,
    /// Ours: the format of the files' records ([`crate::record::FORMAT`]); 0 in entries written
    /// before it was recorded, which hold format 1.
    #[serde(default)]
    pub format: u32,
}

/// One group's backup file, as recorded in our `files` key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// `r<read_ts>-g<group>.backup` (see [`file_name`]).
    pub name: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Lowercase hex SHA-256 of the file's bytes.
    #[serde(default)]
    pub sha256: String,
    /// Number of keys written.
    #[serde(default)]
    pub keys: u64,
}

/// A drop recorded in a backup (`pb.DropOperation`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropOperation {
    /// What was dropped. Omitted for ALL, as Go's `omitempty` does for 0.
    #[serde(default, skip_serializing_if = "DropOp::is_all")]
    pub drop_op: DropOp,
    /// The namespace (`0x..`) for DATA and NS, the `<ns>-<pred>` name for ATTR.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub drop_value: String,
}

/// `pb.DropOperation.DropOp`, written as its number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DropOp {
    /// Everything (`DROP_ALL`).
    #[default]
    All,
    /// All data of a namespace, schema kept (`DROP_DATA`).
    Data,
    /// One predicate (`DROP_ATTR`).
    Attr,
    /// A namespace (`DROP_NS`).
    Ns,
}

impl DropOp {
    /// The protobuf number.
    pub fn number(self) -> u64 {
        match self {
            DropOp::All => 0,
            DropOp::Data => 1,
            DropOp::Attr => 2,
            DropOp::Ns => 3,
        }
    }

    fn is_all(&self) -> bool {
        *self == DropOp::All
    }

    fn from_number(n: u64) -> Option<DropOp> {
        Some(match n {
            0 => DropOp::All,
            1 => DropOp::Data,
            2 => DropOp::Attr,
            3 => DropOp::Ns,
            _ => return None,
        })
    }
}

impl Serialize for DropOp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.number())
    }
}

impl<'de> Deserialize<'de> for DropOp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // Go writes the number; accept the enum name too, as other tools may.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => DropOp::from_number(n)
                .ok_or_else(|| D::Error::custom(format!("unknown drop_op {n}"))),
            Raw::Name(name) => match name.as_str() {
                "ALL" => Ok(DropOp::All),
                "DATA" => Ok(DropOp::Data),
                "ATTR" => Ok(DropOp::Attr),
                "NS" => Ok(DropOp::Ns),
                _ => Err(D::Error::custom(format!("unknown drop_op '{name}'"))),
            },
        }
    }
}

/// How a backup's files are compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compression {
    /// gzip: ours, and Dgraph up to v20.11 (written as `gzip` or left empty).
    Gzip,
    /// Dgraph v21.03+'s snappy framing, which we do not decode.
    Snappy,
    /// Anything else.
    Other(String),
}

impl Compression {
    /// Whether our codec reads it.
    pub fn decodable(&self) -> bool {
        *self == Compression::Gzip
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Manifest {
    /// The compression of this backup's files (empty means gzip, as v20.11 wrote).
    pub fn compression_kind(&self) -> Compression {
        match self.compression.to_ascii_lowercase().as_str() {
            "" | "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            _ => Compression::Other(self.compression.clone()),
        }
    }

    /// The names of this backup's files, one per group: from `files` when we wrote it, else
    /// from `groups` and `read_ts` as Dgraph names them.
    pub fn file_names(&self) -> Vec<(u32, String)> {
        if !self.files.is_empty() {
            return self
                .files
                .iter()
                .map(|(g, f)| (*g, f.name.clone()))
                .collect();
        }
        self.groups
            .keys()
            .map(|g| (*g, file_name(self.read_ts, *g)))
            .collect()
    }

    /// Brings an entry Dgraph wrote to our reading of it: a missing `read_ts` falls back to
    /// `since`, and v0/v2103 predicate names become v2105 names (`version` then says 2105, so
    /// normalizing twice changes nothing).
    pub fn normalize(&mut self) {
        if self.read_ts == 0 {
            self.read_ts = self.since;
        }
        let upgrade: fn(&str) -> String = match self.version {
            0 => galaxy_name,
            2103 => upgrade_2103_name,
            _ => return,
        };
        for preds in self.groups.values_mut() {
            for pred in preds.iter_mut() {
                *pred = upgrade(pred);
            }
        }
        for op in self.drop_operations.iter_mut().flatten() {
            match op.drop_op {
                DropOp::Attr => op.drop_value = upgrade(&op.drop_value),
                DropOp::Data if self.version == 0 => op.drop_value = "0x0".to_string(),
                _ => {}
            }
        }
        self.version = MANIFEST_VERSION;
    }
}

impl MasterManifest {
    /// Parses a master manifest and normalizes every entry (see [`Manifest::normalize`]).
    pub fn from_json(bytes: &[u8]) -> Result<MasterManifest, serde_json::Error> {
        let mut master: MasterManifest = serde_json::from_slice(bytes)?;
        for m in &mut master.manifests {
            m.normalize();
        }
        Ok(master)
    }

    /// The JSON we store, compact as Dgraph writes it.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// `v2105` name of a predicate of namespace 0: `0-<pred>`.
pub fn galaxy_name(pred: &str) -> String {
    namespaced_name(0, pred)
}

/// `v2105` name of a predicate: `<hex ns>-<pred>`.
pub fn namespaced_name(ns: u64, pred: &str) -> String {
    format!("{ns:x}-{pred}")
}

/// Splits a `v2105` name into namespace and predicate.
pub fn split_name(name: &str) -> Option<(u64, &str)> {
    let (ns, pred) = name.split_once('-')?;
    if ns.is_empty() || pred.is_empty() {
        return None;
    }
    Some((u64::from_str_radix(ns, 16).ok()?, pred))
}

/// The plain predicate name of a namespace-0 `v2105` name (`0-name` → `name`).
pub fn plain_name(name: &str) -> Option<&str> {
    match split_name(name)? {
        (0, pred) => Some(pred),
        _ => None,
    }
}

/// Our plain predicate names per group as a manifest's `groups` (namespace 0).
pub fn galaxy_groups<I, P, S>(groups: I) -> BTreeMap<u32, Vec<String>>
where
    I: IntoIterator<Item = (u32, P)>,
    P: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    groups
        .into_iter()
        .map(|(g, preds)| {
            let names = preds.into_iter().map(|p| galaxy_name(p.as_ref())).collect();
            (g, names)
        })
        .collect()
}

/// v2103 names are 8 big-endian namespace bytes followed by the predicate. Go's JSON keeps
/// bytes below 0x80 as characters; anything else was lost on writing, so it stays as it is.
fn upgrade_2103_name(name: &str) -> String {
    let mut chars = name.chars();
    let mut ns: u64 = 0;
    for _ in 0..8 {
        match chars.next() {
            Some(c) if (c as u32) < 0x80 => ns = (ns << 8) | u64::from(c as u32),
            _ => return name.to_string(),
        }
    }
    let pred = chars.as_str();
    if pred.is_empty() {
        return name.to_string();
    }
    namespaced_name(ns, pred)
}

/// A backup's folder name: `dgraph.<UTC %Y%m%d.%H%M%S.millis>`, e.g. `dgraph.20210517.095641.969`.
pub fn folder_name(t: DateTime<Utc>) -> String {
    t.format("dgraph.%Y%m%d.%H%M%S%.3f").to_string()
}

/// A group's backup file name: `r<read_ts>-g<group>.backup`.
pub fn file_name(read_ts: u64, group: u32) -> String {
    format!("r{read_ts}-g{group}.backup")
}

/// Why a manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The store failed to read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: String,
        /// The store's error.
        source: opendal::Error,
    },
    /// The store failed to write, rename, copy or delete.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The store's error.
        source: opendal::Error,
    },
    /// The master manifest could not be encoded (nothing was written).
    #[error("cannot encode the master manifest: {0}")]
    Encode(serde_json::Error),
    /// A manifest is not valid JSON of the expected shape.
    #[error("manifest {path} does not parse: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Reads the location's master manifest. Without `manifest.json`, gathers the per-folder
/// `*/manifest.json` files v20.11 wrote (sorted by folder, `path` set from it); an empty
/// location gives an empty master. Entries come back normalized.
pub async fn read_master(op: &Operator) -> Result<MasterManifest, ManifestError> {
    match op.read(MANIFEST_FILE).await {
        Ok(buf) => {
            MasterManifest::from_json(&buf.to_vec()).map_err(|source| ManifestError::Parse {
                path: MANIFEST_FILE.to_string(),
                source,
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => read_folder_manifests(op).await,
        Err(source) => Err(ManifestError::Read {
            path: MANIFEST_FILE.to_string(),
            source,
        }),
    }
}

async fn read_folder_manifests(op: &Operator) -> Result<MasterManifest, ManifestError> {
    let entries = match op.list("/").await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(MasterManifest::default()),
        Err(source) => {
            return Err(ManifestError::Read {
                path: "/".to_string(),
                source,
            });
        }
    };
    let mut folders: Vec<String> = entries
        .iter()
        .filter(|e| e.metadata().is_dir())
        .map(|e| e.path().trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && !p.contains('/'))
        .collect();
    folders.sort();
    folders.dedup();
    let mut master = MasterManifest::default();
    for folder in folders {
        let path = format!("{folder}/{MANIFEST_FILE}");
        let bytes = match op.read(&path).await {
            Ok(buf) => buf.to_vec(),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(source) => return Err(ManifestError::Read { path, source }),
        };
        let mut entry: Manifest = serde_json::from_slice(&bytes)
            .map_err(|source| ManifestError::Parse { path, source })?;
        entry.path = folder;
        entry.normalize();
        master.manifests.push(entry);
    }
    Ok(master)
}

/// Appends an entry to the master manifest: re-reads it, adds `entry`, writes
/// `manifest_tmp.json` and moves it over `manifest.json` (a rename where the store has one,
/// else copy + delete), so a reader never sees a partial manifest. Returns the new master.
/// Callers run one backup at a time per location (as Dgraph does): two concurrent appends
/// could each miss the other's entry.
pub async fn append(
    op: &Operator,
    entry: Manifest,
    rename_supported: bool,
) -> Result<MasterManifest, ManifestError> {
    let mut master = read_master(op).await?;
    master.manifests.push(entry);
    write_master(op, &master, rename_supported).await?;
    Ok(master)
}

/// Replaces the master manifest through `manifest_tmp.json` (see [`append`]).
pub async fn write_master(
    op: &Operator,
    master: &MasterManifest,
    rename_supported: bool,
) -> Result<(), ManifestError> {
    let write_err = |path: &str| {
        let path = path.to_string();
        move |source| ManifestError::Write { path, source }
    };
    let json = master.to_json().map_err(ManifestError::Encode)?;
    op.write(MANIFEST_TMP_FILE, json)
        .await
        .map_err(write_err(MANIFEST_TMP_FILE))?;
    if rename_supported {
        op.rename(MANIFEST_TMP_FILE, MANIFEST_FILE)
            .await
            .map_err(write_err(MANIFEST_FILE))?;
    } else {
        op.copy(MANIFEST_TMP_FILE, MANIFEST_FILE)
            .await
            .map_err(write_err(MANIFEST_FILE))?;
        op.delete(MANIFEST_TMP_FILE)
            .await
            .map_err(write_err(MANIFEST_TMP_FILE))?;
    }
    Ok(())
}

/// The paths of `m`'s group files that are not in the store (for [`select_series`]).
pub async fn missing_files(op: &Operator, m: &Manifest) -> Result<Vec<String>, ManifestError> {
    let mut missing = Vec::new();
    for (_, name) in m.file_names() {
        let path = if m.path.is_empty() {
            name
        } else {
            format!("{}/{name}", m.path)
        };
        match op.exists(&path).await {
            Ok(true) => {}
            Ok(false) => missing.push(path),
            Err(source) => return Err(ManifestError::Read { path, source }),
        }
    }
    Ok(missing)
}

/// Why no series could be chosen for a restore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// `backupNum` below zero.
    #[error("backupNum value should be equal or greater than zero")]
    NegativeBackupNum,
    /// The location holds no backups (see [`SelectError::at`]).
    #[error("no backups found{}", if location.is_empty() { String::new() } else { format!(" at {location}") })]
    NoBackups {
        /// The location, when known.
        location: String,
    },
    /// No entry has the requested id.
    #[error("No backups with the specified backup ID {0}")]
    UnknownBackupId(String),
    /// `backupNum` is beyond the series' newest backup.
    #[error("not enough backups to restore manifest with backupNum {0}")]
    NotEnough(i64),
    /// A backup the run needs is absent or its files are.
    #[error(
        "backup {backup_num} of series {backup_id} {problem}: the series cannot be restored up to backupNum {target}; {hint}"
    )]
    Gap {
        /// The series.
        backup_id: String,
        /// The missing backup.
        backup_num: u64,
        /// The backup the restore asked for.
        target: u64,
        /// What is wrong with it.
        problem: &'static str,
        /// What the user can do.
        hint: String,
    },
    /// The run mixes encrypted and unencrypted backups.
    #[error(
        "series {backup_id} mixes encrypted and unencrypted backups (encrypted: {encrypted:?}, unencrypted: {plain:?}); restore a backupNum before the switch"
    )]
    MixedEncryption {
        /// The series.
        backup_id: String,
        /// Encrypted backup numbers.
        encrypted: Vec<u64>,
        /// Unencrypted backup numbers.
        plain: Vec<u64>,
    },
    /// Entries contradict each other (e.g. backup 1 is not a full backup).
    #[error("series {backup_id} is inconsistent: {detail}")]
    Inconsistent {
        /// The series.
        backup_id: String,
        /// What contradicts.
        detail: String,
    },
}

impl SelectError {
    /// Names the location in a [`SelectError::NoBackups`].
    pub fn at(self, location: impl fmt::Display) -> SelectError {
        match self {
            SelectError::NoBackups { .. } => SelectError::NoBackups {
                location: location.to_string(),
            },
            other => other,
        }
    }
}

/// Chooses the backups to restore, oldest first (Dgraph's `getManifestsToRestore`): the
/// series `backup_id` (default: the newest entry's), from its full backup up to `backup_num`
/// (0: its newest). Every backup of that run must be in the manifest with its files present
/// (`files_exist`) and agree on encryption; a gap is an error rather than a silent skip.
pub fn select_series(
    all: &[Manifest],
    backup_id: Option<&str>,
    backup_num: i64,
    files_exist: impl Fn(&Manifest) -> bool,
) -> Result<Vec<Manifest>, SelectError> {
    if backup_num < 0 {
        return Err(SelectError::NegativeBackupNum);
    }
    let Some(newest) = all.last() else {
        return Err(SelectError::NoBackups {
            location: String::new(),
        });
    };
    let id = match backup_id.filter(|id| !id.is_empty()) {
        Some(id) if all.iter().any(|m| m.backup_id == id) => id,
        Some(id) => return Err(SelectError::UnknownBackupId(id.to_string())),
        None => newest.backup_id.as_str(),
    };
    // A number written twice (a retried append) counts once: the later entry wins.
    let by_num: BTreeMap<u64, &Manifest> = all
        .iter()
        .filter(|m| m.backup_id == id)
        .map(|m| (m.backup_num, m))
        .collect();
    let last_num = by_num.keys().next_back().copied().unwrap_or_default();
    let target = if backup_num > 0 {
        backup_num as u64
    } else {
        last_num
    };
    if target > last_num {
        return Err(SelectError::NotEnough(backup_num));
    }
    let gap = |num: u64, problem: &'static str| {
        let hint = if num <= 1 {
            "take a new full backup (forceFull) or restore another series".to_string()
        } else {
            format!(
                "restore with backupNum {} or lower, or take a new full backup",
                num - 1
            )
        };
        SelectError::Gap {
            backup_id: id.to_string(),
            backup_num: num,
            target,
            problem,
            hint,
        }
    };
    let mut run = Vec::new();
    for num in 1..=target.max(1) {
        let Some(m) = by_num.get(&num) else {
            return Err(gap(num, "is missing from the manifest"));
        };
        let expected = if num == 1 {
            BackupKind::Full
        } else {
            BackupKind::Incremental
        };
        if m.kind != expected {
            return Err(SelectError::Inconsistent {
                backup_id: id.to_string(),
                detail: format!("backup {num} is {} but should be {expected}", m.kind),
            });
        }
        if !files_exist(m) {
            return Err(gap(num, "has missing files"));
        }
        run.push((*m).clone());
    }
    let (encrypted, plain): (Vec<&Manifest>, Vec<&Manifest>) =
        run.iter().partition(|m| m.encrypted);
    if !encrypted.is_empty() && !plain.is_empty() {
        return Err(SelectError::MixedEncryption {
            backup_id: id.to_string(),
            encrypted: encrypted.iter().map(|m| m.backup_num).collect(),
            plain: plain.iter().map(|m| m.backup_num).collect(),
        });
    }
    Ok(run)
}

/// What the next backup at a location will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlan {
    /// Full or incremental.
    pub kind: BackupKind,
    /// Keys changed after this timestamp are written (0: everything).
    pub since: u64,
    /// The series id (new for a full backup).
    pub backup_id: String,
    /// The backup's number in its series.
    pub backup_num: u64,
}

/// Why the next backup cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The cluster's encryption differs from the last backup's.
    #[error(
        "the last backup at this location is {} but this one would be {}, and an incremental backup cannot switch: use forceFull to start a new series",
        enc_word(*.last_encrypted), enc_word(!*.last_encrypted)
    )]
    EncryptionMismatch {
        /// Whether the last backup is encrypted.
        last_encrypted: bool,
    },
    /// Zero handed out a timestamp at or below the last backup's.
    #[error(
        "this backup's read timestamp {read_ts} is not after the last backup's ({last_read_ts}): zero's timestamps went back, so the cluster was probably restored or reset; use forceFull to start a new series"
    )]
    TimeWentBack {
        /// This backup's read timestamp.
        read_ts: u64,
        /// The last backup's.
        last_read_ts: u64,
    },
}

fn enc_word(encrypted: bool) -> &'static str {
    if encrypted {
        "encrypted"
    } else {
        "unencrypted"
    }
}

/// Plans the next backup (Dgraph's rules): a full backup with a new id when `force_full` or
/// no full backup exists yet; otherwise an incremental one continuing the newest entry's
/// series from its `read_ts`. Without `force_full`, an encryption switch or a `read_ts` not
/// after the last one is refused.
pub fn next_backup(
    all: &[Manifest],
    force_full: bool,
    encrypted: bool,
    read_ts: u64,
) -> Result<BackupPlan, PlanError> {
    let full = || BackupPlan {
        kind: BackupKind::Full,
        since: 0,
        backup_id: new_backup_id(),
        backup_num: 1,
    };
    let last = match all.last() {
        Some(last) if !force_full && all.iter().any(|m| m.kind == BackupKind::Full) => last,
        _ => return Ok(full()),
    };
    if last.encrypted != encrypted {
        return Err(PlanError::EncryptionMismatch {
            last_encrypted: last.encrypted,
        });
    }
    let last_read_ts = if last.read_ts == 0 {
        last.since
    } else {
        last.read_ts
    };
    if read_ts <= last_read_ts {
        return Err(PlanError::TimeWentBack {
            read_ts,
            last_read_ts,
        });
    }
    Ok(BackupPlan {
        kind: BackupKind::Incremental,
        since: last_read_ts,
        backup_id: last.backup_id.clone(),
        backup_num: last.backup_num + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// A location written by Dgraph v24: capital `Manifests`, v2105 names, snappy.
    const DGRAPH_V24: &str = r#"{"Manifests":[
      {"type":"full","since":0,"read_ts":9,"groups":{"1":["0-dgraph.type","0-name","0-dgraph.drop.op"],"2":["0-age"],"3":[]},
       "backup_id":"quirky_kapitsa4","backup_num":1,"version":2105,"path":"dgraph.20210517.095641.969",
       "encrypted":false,"drop_operations":null,"compression":"snappy"},
      {"type":"incremental","since":0,"read_ts":21,"groups":{"1":["0-name"],"2":["0-age","2a-friend"]},
       "backup_id":"quirky_kapitsa4","backup_num":2,"version":2105,"path":"dgraph.20210517.095716.130",
       "encrypted":false,"drop_operations":[{"drop_op":2,"drop_value":"0-age"},{},{"drop_op":1,"drop_value":"0x0"}],
       "compression":"snappy"}]}"#;

    /// One folder's manifest as v20.11 wrote it: no wrapper, no read_ts, version or path.
    const DGRAPH_V2011: &str = r#"{"type":"full","since":15,"groups":{"1":["name","dgraph.type"]},
      "backup_id":"loving_jones5","backup_num":1,"encrypted":false,"drop_operations":null}"#;

    /// A v21.03 entry: 8 namespace bytes before each predicate.
    const DGRAPH_V2103: &str = r#"{"Manifests":[{"type":"full","since":0,"read_ts":7,
      "groups":{"1":["\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000name","\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0002age"]},
      "backup_id":"brave_curie1","backup_num":1,"version":2103,"path":"dgraph.20210401.120000.000",
      "encrypted":true,"drop_operations":[{"drop_op":2,"drop_value":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000name"}],
      "compression":"snappy"}]}"#;

    fn entry(kind: BackupKind, id: &str, num: u64, read_ts: u64) -> Manifest {
        Manifest {
            kind,
            read_ts,
            groups: galaxy_groups([(1, ["name"])]),
            backup_id: id.to_string(),
            backup_num: num,
            version: MANIFEST_VERSION,
            path: format!("dgraph.{num}"),
            compression: COMPRESSION_GZIP.to_string(),
            ..Manifest::default()
        }
    }

    fn full(id: &str, read_ts: u64) -> Manifest {
        entry(BackupKind::Full, id, 1, read_ts)
    }

    fn inc(id: &str, num: u64, read_ts: u64) -> Manifest {
        entry(BackupKind::Incremental, id, num, read_ts)
    }

    fn all_exist(_: &Manifest) -> bool {
        true
    }

    fn nums(run: &[Manifest]) -> Vec<(String, u64)> {
        run.iter()
            .map(|m| (m.backup_id.clone(), m.backup_num))
            .collect()
    }

    #[test]
    fn reads_a_dgraph_v24_master_manifest() {
        let master = MasterManifest::from_json(DGRAPH_V24.as_bytes()).unwrap();
        assert_eq!(master.manifests.len(), 2);
        let (first, second) = (&master.manifests[0], &master.manifests[1]);
        assert_eq!(first.kind, BackupKind::Full);
        assert_eq!(first.read_ts, 9);
        assert_eq!(
            first.groups[&1],
            ["0-dgraph.type", "0-name", "0-dgraph.drop.op"]
        );
        assert_eq!(first.groups[&3], Vec::<String>::new());
        assert_eq!(first.path, "dgraph.20210517.095641.969");
        assert_eq!(first.drop_operations, None);
        assert_eq!(first.compression_kind(), Compression::Snappy);
        assert!(!first.compression_kind().decodable());
        assert!(first.files.is_empty());
        assert_eq!(first.max_uid, 0);
        assert_eq!(second.kind, BackupKind::Incremental);
        assert_eq!(split_name(&second.groups[&2][1]), Some((0x2a, "friend")));
        let drops = second.drop_operations.as_ref().unwrap();
        assert_eq!(drops[0].drop_op, DropOp::Attr);
        assert_eq!(drops[0].drop_value, "0-age");
        assert_eq!(drops[1].drop_op, DropOp::All);
        assert_eq!(drops[2].drop_op, DropOp::Data);
        assert_eq!(
            second.file_names(),
            [
                (1, "r21-g1.backup".to_string()),
                (2, "r21-g2.backup".to_string())
            ]
        );
        // Written back, it keeps Dgraph's keys and values.
        let again: serde_json::Value = serde_json::from_slice(&master.to_json().unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_str(DGRAPH_V24).unwrap();
        for key in [
            "type",
            "since",
            "read_ts",
            "groups",
            "backup_id",
            "backup_num",
            "version",
            "path",
            "encrypted",
            "drop_operations",
            "compression",
        ] {
            for i in 0..2 {
                assert_eq!(
                    again["Manifests"][i][key], original["Manifests"][i][key],
                    "{key} of entry {i}"
                );
            }
        }
    }

    #[test]
    fn writes_dgraphs_key_names_and_order() {
        let mut m = full("quirky_kapitsa4", 9);
        m.path = "dgraph.20210517.095641.969".into();
        m.files.insert(
            1,
            BackupFile {
                name: file_name(9, 1),
                size: 10,
                sha256: "ab".into(),
                keys: 3,
            },
        );
        m.max_uid = 42;
        m.format = crate::record::FORMAT;
        let json =
            String::from_utf8(MasterManifest { manifests: vec![m] }.to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"Manifests":[{"type":"full","since":0,"read_ts":9,"groups":{"1":["0-name"]},"#,
                r#""backup_id":"quirky_kapitsa4","backup_num":1,"version":2105,"#,
                r#""path":"dgraph.20210517.095641.969","encrypted":false,"drop_operations":null,"#,
                r#""compression":"gzip","files":{"1":{"name":"r9-g1.backup","size":10,"#,
                r#""sha256":"ab","keys":3}},"max_uid":42,"format":1}]}"#
            )
        );
        let drop = DropOperation {
            drop_op: DropOp::All,
            drop_value: String::new(),
        };
        assert_eq!(serde_json::to_string(&drop).unwrap(), "{}");
        let drop = DropOperation {
            drop_op: DropOp::Ns,
            drop_value: "0x2".into(),
        };
        assert_eq!(
            serde_json::to_string(&drop).unwrap(),
            r#"{"drop_op":3,"drop_value":"0x2"}"#
        );
    }

    #[test]
    fn reads_a_v2011_folder_manifest() {
        let mut m: Manifest = serde_json::from_str(DGRAPH_V2011).unwrap();
        m.normalize();
        assert_eq!(m.read_ts, 15, "read_ts falls back to since");
        assert_eq!(m.since, 15);
        assert_eq!(m.groups[&1], ["0-name", "0-dgraph.type"]);
        assert_eq!(m.version, MANIFEST_VERSION);
        assert_eq!(m.compression_kind(), Compression::Gzip);
        assert_eq!(m.path, "");
        // Normalizing twice changes nothing.
        let once = m.clone();
        m.normalize();
        assert_eq!(m, once);
    }

    #[test]
    fn upgrades_v2103_names() {
        let master = MasterManifest::from_json(DGRAPH_V2103.as_bytes()).unwrap();
        let m = &master.manifests[0];
        assert_eq!(m.groups[&1], ["0-name", "2-age"]);
        assert_eq!(m.drop_operations.as_ref().unwrap()[0].drop_value, "0-name");
        assert!(m.encrypted);
        assert_eq!(m.version, MANIFEST_VERSION);
    }

    #[test]
    fn tolerates_nulls_and_missing_keys() {
        let json = r#"{"Manifests":[{"type":"full","groups":null,"backup_id":"x_y1","backup_num":1,
            "read_ts":3,"compression":null,"files":null}]}"#;
        let master = MasterManifest::from_json(json.as_bytes()).unwrap();
        assert!(master.manifests[0].groups.is_empty());
        assert_eq!(master.manifests[0].compression_kind(), Compression::Gzip);
        assert_eq!(
            MasterManifest::from_json(b"{}").unwrap(),
            MasterManifest::default()
        );
        assert_eq!(
            MasterManifest::from_json(br#"{"Manifests":null}"#).unwrap(),
            MasterManifest::default()
        );
        let err = MasterManifest::from_json(br#"{"Manifests":[{"type":"weekly"}]}"#);
        assert!(err.is_err());
        let err = serde_json::from_str::<DropOperation>(r#"{"drop_op":9}"#).unwrap_err();
        assert!(err.to_string().contains("unknown drop_op 9"), "{err}");
        let named: DropOperation = serde_json::from_str(r#"{"drop_op":"NS"}"#).unwrap();
        assert_eq!(named.drop_op, DropOp::Ns);
    }

    #[test]
    fn names() {
        let t = Utc.with_ymd_and_hms(2021, 5, 17, 9, 56, 41).unwrap()
            + chrono::Duration::milliseconds(969);
        assert_eq!(folder_name(t), "dgraph.20210517.095641.969");
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(folder_name(t), "dgraph.20240102.030405.000");
        assert_eq!(file_name(1234, 2), "r1234-g2.backup");
        assert_eq!(galaxy_name("name"), "0-name");
        assert_eq!(namespaced_name(255, "name"), "ff-name");
        assert_eq!(split_name("ff-my-pred"), Some((255, "my-pred")));
        assert_eq!(split_name("name"), None);
        assert_eq!(split_name("zz-name"), None);
        assert_eq!(split_name("0-"), None);
        assert_eq!(plain_name("0-dgraph.type"), Some("dgraph.type"));
        assert_eq!(plain_name("1-name"), None);
        let groups = galaxy_groups([(1, vec!["a", "b"]), (2, vec![])]);
        assert_eq!(groups[&1], ["0-a", "0-b"]);
        assert!(groups[&2].is_empty());
        let id = new_backup_id();
        assert!(
            id.contains('_') && id.ends_with(|c: char| c.is_ascii_digit()),
            "{id}"
        );
    }

    #[test]
    fn selects_the_latest_series() {
        let all = vec![
            full("old_one1", 5),
            inc("old_one1", 2, 8),
            full("new_one2", 10),
            inc("new_one2", 2, 12),
            inc("new_one2", 3, 15),
        ];
        let run = select_series(&all, None, 0, all_exist).unwrap();
        assert_eq!(
            nums(&run),
            [
                ("new_one2".into(), 1),
                ("new_one2".into(), 2),
                ("new_one2".into(), 3)
            ]
        );
        let run = select_series(&all, None, 2, all_exist).unwrap();
        assert_eq!(nums(&run), [("new_one2".into(), 1), ("new_one2".into(), 2)]);
        let run = select_series(&all, Some("old_one1"), 0, all_exist).unwrap();
        assert_eq!(nums(&run), [("old_one1".into(), 1), ("old_one1".into(), 2)]);
        let run = select_series(&all, Some("old_one1"), 1, all_exist).unwrap();
        assert_eq!(nums(&run), [("old_one1".into(), 1)]);
        // An empty id means "the latest", as Dgraph's GraphQL sends it.
        let run = select_series(&all, Some(""), 1, all_exist).unwrap();
        assert_eq!(nums(&run), [("new_one2".into(), 1)]);
        // A missing file beyond the requested number does not matter.
        let run = select_series(&all, None, 2, |m| m.backup_num != 3).unwrap();
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn selection_errors() {
        let all = vec![full("a_b1", 5), inc("a_b1", 2, 8), inc("a_b1", 3, 9)];
        let err = |r: Result<Vec<Manifest>, SelectError>| r.unwrap_err().to_string();
        assert_eq!(
            err(select_series(&all, None, -1, all_exist)),
            "backupNum value should be equal or greater than zero"
        );
        assert_eq!(
            err(select_series(&[], None, 0, all_exist)),
            "no backups found"
        );
        assert_eq!(
            select_series(&[], None, 0, all_exist)
                .unwrap_err()
                .at("s3:///bucket/dir")
                .to_string(),
            "no backups found at s3:///bucket/dir"
        );
        assert_eq!(
            err(select_series(&all, Some("nope_x1"), 0, all_exist)),
            "No backups with the specified backup ID nope_x1"
        );
        assert_eq!(
            err(select_series(&all, None, 4, all_exist)),
            "not enough backups to restore manifest with backupNum 4"
        );
        // An incremental missing from the manifest.
        let holed = vec![full("a_b1", 5), inc("a_b1", 3, 9)];
        let e = err(select_series(&holed, None, 0, all_exist));
        assert!(
            e.starts_with("backup 2 of series a_b1 is missing from the manifest"),
            "{e}"
        );
        assert!(e.contains("restore with backupNum 1 or lower"), "{e}");
        // Files missing in the middle of the run.
        let e = err(select_series(&all, None, 0, |m| m.backup_num != 2));
        assert!(
            e.starts_with("backup 2 of series a_b1 has missing files"),
            "{e}"
        );
        // The full backup's files missing.
        let e = err(select_series(&all, None, 0, |m| m.backup_num != 1));
        assert!(
            e.starts_with("backup 1 of series a_b1 has missing files"),
            "{e}"
        );
        assert!(e.contains("take a new full backup"), "{e}");
        // A series whose full backup is absent.
        let e = err(select_series(&[inc("x_y1", 2, 3)], None, 0, all_exist));
        assert!(e.starts_with("backup 1 of series x_y1 is missing"), "{e}");
        // Mixed encryption.
        let mut mixed = all.clone();
        mixed[2].encrypted = true;
        let e = err(select_series(&mixed, None, 0, all_exist));
        assert!(
            e.starts_with("series a_b1 mixes encrypted and unencrypted backups"),
            "{e}"
        );
        assert!(select_series(&mixed, None, 2, all_exist).is_ok());
        // Number 1 must be the full backup.
        let bad = vec![inc("z_z1", 1, 3)];
        let e = err(select_series(&bad, None, 0, all_exist));
        assert!(
            e.contains("backup 1 is incremental but should be full"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_entries_count_once() {
        let all = vec![full("a_b1", 5), inc("a_b1", 2, 8), inc("a_b1", 2, 8)];
        let run = select_series(&all, None, 0, all_exist).unwrap();
        assert_eq!(run.len(), 2);
    }

    #[test]
    fn plans_full_then_incrementals() {
        let plan = next_backup(&[], false, false, 10).unwrap();
        assert_eq!(plan.kind, BackupKind::Full);
        assert_eq!((plan.since, plan.backup_num), (0, 1));
        assert!(!plan.backup_id.is_empty());

        let all = vec![full("a_b1", 10), inc("a_b1", 2, 20)];
        let plan = next_backup(&all, false, false, 30).unwrap();
        assert_eq!(
            plan,
            BackupPlan {
                kind: BackupKind::Incremental,
                since: 20,
                backup_id: "a_b1".into(),
                backup_num: 3,
            }
        );
        let plan = next_backup(&all, true, false, 30).unwrap();
        assert_eq!(
            (plan.kind, plan.since, plan.backup_num),
            (BackupKind::Full, 0, 1)
        );
        assert_ne!(plan.backup_id, "a_b1");

        // A legacy last entry without read_ts continues from its since.
        let mut legacy = full("old_x1", 0);
        legacy.since = 17;
        let plan = next_backup(&[legacy], false, false, 30).unwrap();
        assert_eq!((plan.since, plan.backup_num), (17, 2));

        // Only incrementals (no full anywhere): start a full.
        let plan = next_backup(&[inc("q_r1", 2, 5)], false, false, 30).unwrap();
        assert_eq!(plan.kind, BackupKind::Full);
    }

    #[test]
    fn plan_errors() {
        let all = vec![full("a_b1", 10)];
        let e = next_backup(&all, false, true, 30).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "the last backup at this location is unencrypted but this one would be encrypted"
            ),
            "{e}"
        );
        assert!(e.contains("use forceFull"), "{e}");
        let mut enc = all.clone();
        enc[0].encrypted = true;
        let e = next_backup(&enc, false, false, 30).unwrap_err().to_string();
        assert!(
            e.contains("is encrypted but this one would be unencrypted"),
            "{e}"
        );
        assert!(next_backup(&enc, true, false, 30).is_ok());

        for read_ts in [5, 10] {
            let e = next_backup(&all, false, false, read_ts).unwrap_err();
            assert_eq!(
                e,
                PlanError::TimeWentBack {
                    read_ts,
                    last_read_ts: 10
                }
            );
            let text = e.to_string();
            assert!(text.contains("zero's timestamps went back"), "{text}");
            assert!(text.contains("restored or reset"), "{text}");
            assert!(text.contains("use forceFull"), "{text}");
        }
        assert!(next_backup(&all, true, false, 5).is_ok());
    }

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9._-]{0,12}"
    }

    prop_compose! {
        fn arb_manifest()(
            incremental in any::<bool>(),
            since in any::<u64>(),
            read_ts in 1..u64::MAX,
            groups in proptest::collection::btree_map(
                any::<u32>(),
                proptest::collection::vec((any::<u64>(), arb_name()), 0..4),
                0..4,
            ),
            backup_id in "[a-z]{1,8}_[a-z]{1,8}[0-9]",
            backup_num in any::<u64>(),
            path in "dgraph\\.[0-9]{8}\\.[0-9]{6}\\.[0-9]{3}",
            encrypted in any::<bool>(),
            drops in proptest::option::of(proptest::collection::vec(
                (0u64..4, "[ -~]{0,10}"), 0..3)),
            compression in prop_oneof![Just(""), Just("gzip"), Just("snappy")],
            files in proptest::collection::btree_map(
                any::<u32>(), (any::<u64>(), "[0-9a-f]{64}", any::<u64>()), 0..3),
            max_uid in any::<u64>(),
            format in 0..3u32,
        ) -> Manifest {
            Manifest {
                kind: if incremental { BackupKind::Incremental } else { BackupKind::Full },
                since,
                read_ts,
                groups: groups
                    .into_iter()
                    .map(|(g, preds)| {
                        (g, preds.into_iter().map(|(ns, p)| namespaced_name(ns, &p)).collect())
                    })
                    .collect(),
                backup_id,
                backup_num,
                version: MANIFEST_VERSION,
                path,
                encrypted,
                drop_operations: drops.map(|ops| {
                    ops.into_iter()
                        .map(|(op, value)| DropOperation {
                            drop_op: DropOp::from_number(op).unwrap_or_default(),
                            drop_value: value,
                        })
                        .collect()
                }),
                compression: compression.to_string(),
                files: files
                    .into_iter()
                    .map(|(g, (size, sha256, keys))| {
                        (g, BackupFile { name: file_name(read_ts, g), size, sha256, keys })
                    })
                    .collect(),
                max_uid,
                format,
            }
        }
    }

    proptest! {
        #[test]
        fn master_manifest_json_round_trips(
            manifests in proptest::collection::vec(arb_manifest(), 0..4)
        ) {
            let master = MasterManifest { manifests };
            let json = master.to_json().unwrap();
            prop_assert_eq!(MasterManifest::from_json(&json).unwrap(), master.clone());
            // And through a generic JSON value (what another tool would re-serialize).
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let back: MasterManifest = serde_json::from_value(value).unwrap();
            prop_assert_eq!(back, master);
        }
    }
}
