//! The records of a backup file: what each frame of the codec ([`crate::codec`]) holds.
//!
//! This module alone defines the on-disk record. The RPCs that carry keys between alphas and
//! the backup worker have messages of their own; they are converted to and from these types at
//! the edge, so changing an RPC cannot change what a backup file holds.
//!
//! A record is a protobuf message:
//!
//! | field | tag | meaning |
//! |---|---|---|
//! | `entries` | 1 | keys: storage key, value, commit version, user meta, deleted |
//! | `names` | 2 | every interned id (predicate, type, language) the entries use that no earlier record of the file named |
//! | `done` | 3 | set on the last record of a file |
//! | `max_uid` | 4 | on the last record: the highest uid in the file |
//! | `count` | 5 | on the last record: how many keys the file holds |
//! | `predicates` | 6 | on the last record: the predicates the file covers |
//!
//! Tags 7 to 9 are never written (files of format 1 written before this module existed may
//! hold them unset). The manifest records the format of each backup ([`FORMAT`]); a reader
//! refuses a backup of a format it does not know ([`check_format`]).

use crate::BackupError;

/// The record format this version writes and reads.
pub const FORMAT: u32 = 1;

/// Whether a backup of record format `format` can be read here (0: written before the manifest
/// recorded the format, which is format 1).
pub fn check_format(format: u32) -> Result<(), BackupError> {
    match format {
        0 | FORMAT => Ok(()),
        other => Err(BackupError::precondition(format!(
            "its records are of format {other} and this version reads format {FORMAT}: restore it with the version that wrote it, or a newer one"
        ))),
    }
}

/// One key's newest version at the backup's read timestamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// The storage key; the interned ids in it are named by the records' `names`.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    /// The commit timestamp of this version.
    #[prost(uint64, tag = "3")]
    pub version: u64,
    #[prost(uint32, tag = "4")]
    pub user_meta: u32,
    /// A delete (a tombstone newer than the incremental's start): restore removes the key.
    #[prost(bool, tag = "5")]
    pub deleted: bool,
}

/// An interned id and its name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Name {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// One record of a backup file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    #[prost(message, repeated, tag = "2")]
    pub names: Vec<Name>,
    #[prost(bool, tag = "3")]
    pub done: bool,
    #[prost(uint64, tag = "4")]
    pub max_uid: u64,
    #[prost(uint64, tag = "5")]
    pub count: u64,
    #[prost(string, repeated, tag = "6")]
    pub predicates: Vec<String>,
}

mod rpc {
    //! Conversions from and to the internal RPC message that carries the same keys.
    use super::{Entry, Name, Record};
    use lodestar_proto::worker::{DictEntry, Kv, KvBatch};

    impl From<KvBatch> for Record {
        fn from(b: KvBatch) -> Self {
            Record {
                entries: b
                    .kvs
                    .into_iter()
                    .map(|kv| Entry {
                        key: kv.key,
                        value: kv.value,
                        version: kv.version,
                        user_meta: kv.user_meta,
                        deleted: kv.deleted,
                    })
                    .collect(),
                names: b
                    .names
                    .into_iter()
                    .map(|d| Name {
                        id: d.id,
                        name: d.name,
                    })
                    .collect(),
                done: b.done,
                max_uid: b.max_uid,
                count: b.count,
                predicates: b.predicates,
            }
        }
    }

    impl From<Record> for KvBatch {
        /// The record as the batch of a stream; the load-only fields are left unset.
        fn from(r: Record) -> Self {
            KvBatch {
                kvs: r
                    .entries
                    .into_iter()
                    .map(|e| Kv {
                        key: e.key,
                        value: e.value,
                        version: e.version,
                        user_meta: e.user_meta,
                        deleted: e.deleted,
                    })
                    .collect(),
                names: r
                    .names
                    .into_iter()
                    .map(|n| DictEntry {
                        id: n.id,
                        name: n.name,
                    })
                    .collect(),
                done: r.done,
                max_uid: r.max_uid,
                count: r.count,
                predicates: r.predicates,
                ..KvBatch::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lodestar_proto::worker::KvBatch;
    use prost::Message as _;

    fn sample() -> Record {
        Record {
            entries: vec![
                Entry {
                    key: vec![1, 0, 0, 0, 7],
                    value: b"v".to_vec(),
                    version: 9,
                    user_meta: 0,
                    deleted: false,
                },
                Entry {
                    key: vec![2],
                    deleted: true,
                    ..Entry::default()
                },
            ],
            names: vec![Name {
                id: 7,
                name: "name".into(),
            }],
            done: true,
            max_uid: 42,
            count: 2,
            predicates: vec!["name".into()],
        }
    }

    /// The bytes of a record are the bytes format 1 files hold: the same as the stream batch
    /// they were written from before the record had a type of its own.
    #[test]
    fn records_encode_as_format_1_files_hold_them() {
        let record = sample();
        let batch = KvBatch::from(record.clone());
        assert_eq!(record.encode_to_vec(), batch.encode_to_vec());
        assert_eq!(
            Record::decode(batch.encode_to_vec().as_slice()).unwrap(),
            record
        );
        assert_eq!(Record::from(batch), record);
    }

    /// Load-only fields of a stream batch never reach a record.
    #[test]
    fn stream_only_fields_are_not_part_of_the_record() {
        let batch = KvBatch {
            restore_ts: 5,
            drop_all: true,
            new_file: true,
            encrypted_at_rest: true,
            ..KvBatch::from(sample())
        };
        assert_eq!(
            Record::from(batch.clone()).encode_to_vec(),
            sample().encode_to_vec()
        );
        assert_eq!(
            Record::decode(batch.encode_to_vec().as_slice()).unwrap(),
            sample()
        );
    }

    #[test]
    fn unknown_formats_are_refused() {
        assert!(check_format(0).is_ok());
        assert!(check_format(FORMAT).is_ok());
        let e = check_format(FORMAT + 1).unwrap_err();
        assert!(e.message.contains("format 2"), "{e}");
        assert_eq!(e.code, lodestar_runtime::ErrorCode::FailedPrecondition);
    }
}
