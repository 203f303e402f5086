//! The `manifest.json` of a backup location, in Dgraph's layout, so Dgraph's `restore` and
//! `lsbackup` read what we write and we read what Dgraph (v20.11 to v24) wrote.
//!
//! `<location>/manifest.json` holds `{"Manifests":[...]}`, oldest first; each backup's files
//! sit in `<location>/dgraph.<UTC timestamp>/r<read_ts>-g<group>.backup`. We add three keys of
//! our own to each entry (`files`, `max_uid` and `format`); Dgraph's tools ignore them.
//!
//! This module holds the model and its JSON; `names` the predicate, folder and file names;
//! `store` reading and writing it at a location; `plan` choosing the series a restore reads and
//! the next backup of a series; `retention` which series a retention rule lets go.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod names;
mod plan;
pub mod retention;
mod store;

pub use crate::names::new_backup_id;
pub use names::{
    file_name, folder_name, folder_time, galaxy_groups, galaxy_name, namespaced_name, plain_name,
    split_name,
};
pub use plan::{BackupPlan, PlanError, SelectError, next_backup, select_series};
pub use store::{ManifestError, append, missing_files, read_master, write_master};

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
    /// Each predicate the manifest lists (plain names: the reserved `dgraph.*` ones too) and
    /// the group it lists it in.
    pub fn tablets(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.groups.iter().flat_map(|(group, preds)| {
            preds
                .iter()
                .filter_map(move |name| plain_name(name).map(|p| (*group, p)))
        })
    }

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
            2103 => names::upgrade_2103_name,
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

#[cfg(test)]
mod fixtures {
    use super::*;

    pub fn entry(kind: BackupKind, id: &str, num: u64, read_ts: u64) -> Manifest {
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

    pub fn full(id: &str, read_ts: u64) -> Manifest {
        entry(BackupKind::Full, id, 1, read_ts)
    }

    pub fn inc(id: &str, num: u64, read_ts: u64) -> Manifest {
        entry(BackupKind::Incremental, id, num, read_ts)
    }

    pub fn all_exist(_: &Manifest) -> bool {
        true
    }

    pub fn nums(run: &[Manifest]) -> Vec<(String, u64)> {
        run.iter()
            .map(|m| (m.backup_id.clone(), m.backup_num))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::full;
    use super::*;
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
