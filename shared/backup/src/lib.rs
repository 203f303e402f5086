//! The backup format, shared by the backup worker and the offline restore command:
//! destinations (S3, MinIO, GCS, local disk or NFS) through opendal, the `manifest.json` of a
//! backup location with Dgraph's layout and series selection, and the backup file codec
//! (framed records, gzip in parallel chunks, optional AES-CTR with the IV first).

pub mod codec;
pub mod destination;
pub mod manifest;
mod names;
