//! The storage layer every alpha uses.
//!
//! [`Store`] is the public face: a multi-version key-value store. Every write is a version at
//! its commit timestamp, and a read at timestamp `ts` sees, for each key, the newest version at
//! or below `ts` (deletes are tombstone versions). Beside the versioned data there is a small
//! unversioned meta space (predicate dictionary, pending transactions, bookkeeping).
//!
//! Each commit also logs the keys it wrote (`changelog`), so [`Snapshot::changes`] can answer
//! an incremental backup from the log instead of walking every key; [`Store::begin_load`]
//! writes a restore at one timestamp as one unit.
//!
//! A replica copies a whole store with [`Store::export`] and [`Store::begin_import`] (a Raft
//! snapshot install), and compares its data with another's through [`Snapshot::digest`].
//!
//! Underneath is a private engine trait with one implementation per backend: fjall (embedded
//! LSM, the default), surrealkv for a store encrypted at rest ([`Store::open_with`]: every
//! file sealed under data keys from the directory's key registry), TiKV (cargo feature `tikv`, [`Store::open_tikv`]) and an in-memory engine
//! for tests. [`conformance`] is the one suite every
//! engine must pass.
//!
//! Keys given to the store may be any bytes: they are escaped into an order-preserving,
//! prefix-free form before the version suffix is added, so `scan_prefix` works for any prefix.
//! [`keys`] builds the structured keys the alpha uses, with predicates interned to numeric ids
//! ([`Store::predicate_id`]) so that no user text appears in a key.

mod changelog;
mod engine;
mod fjall_engine;
pub mod keys;
mod memory_engine;
mod mvcc;
mod store;
mod surreal_engine;
#[cfg(feature = "tikv")]
mod tikv_engine;

#[doc(hidden)]
pub mod conformance;

pub use store::{
    BulkLoad, Change, Digest, Encryption, Export, Import, MAX_KEY_LEN, MAX_VALUE_LEN, Snapshot,
    StorageError, Store, Version, Write,
};
