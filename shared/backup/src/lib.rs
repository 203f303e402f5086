//! The backup format, shared by the backup worker and the alpha's offline restore:
//! destinations (S3, MinIO, GCS, local disk or NFS) through opendal, the `manifest.json` of a
//! backup location with Dgraph's layout and series selection, the backup file codec (framed
//! records, gzip in parallel chunks, optional AES-CTR with the IV first), the records the
//! frames hold, and reading a series back with every file checked on the way.

pub mod codec;
pub mod destination;
mod error;
pub mod manifest;
mod names;
pub mod record;
pub mod series;

pub use error::BackupError;
