//! Moving a whole store between replicas (a Raft snapshot): the leader streams an export of its
//! store (every meta entry, then every raw data entry, in key order) as chunks of framed
//! entries; the receiver bulk-ingests the data into a new data space as it arrives and swaps it
//! in, with the meta space, when openraft installs the snapshot. Nothing is held in memory but
//! the chunks in flight and the (small) meta space.
//!
//! A frame is `[space: 0 meta | 1 data][key length: u32 BE][key][value length: u32 BE][value]`;
//! a chunk holds whole frames.

use super::TypeConfig;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use lodestar_storage::{Export, Import, Store};
use openraft::{BasicNode, SnapshotMeta};
use std::io;
use std::sync::Arc;
use std::time::Instant;

/// Bytes of frames per chunk (a larger entry makes a chunk of its own).
const CHUNK_BYTES: usize = 4 << 20;
/// Raw data entries handed to the import at once.
const IMPORT_BATCH: usize = 16_384;

const META: u8 = 0;
const DATA: u8 = 1;

/// A group snapshot's data.
pub enum GroupSnapshot {
    /// What a replica sends: an export of its store.
    Export(Export),
    /// What a replica received: the data already in a new data space, the meta entries to
    /// install with it.
    Import {
        import: Import,
        meta_entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// A placeholder (openraft asks for an empty receiving buffer it never uses here).
    Empty,
}

/// Makes and reads the chunks of a group's snapshots for one replica's store.
pub struct Transfer {
    store: Arc<Store>,
}

impl Transfer {
    pub fn new(store: Arc<Store>) -> Self {
        Transfer { store }
    }
}

fn put_frame(out: &mut Vec<u8>, space: u8, key: &[u8], value: &[u8]) -> io::Result<()> {
    let len = |n: usize| {
        u32::try_from(n)
            .map_err(|_| io::Error::other(format!("an entry of {n} bytes is too large to send")))
    };
    out.push(space);
    out.extend_from_slice(&len(key.len())?.to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&len(value.len())?.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// One framed entry: (space, key, value).
type Frame = (u8, Vec<u8>, Vec<u8>);

/// Reads the frames of one chunk.
fn frames(chunk: &[u8]) -> io::Result<Vec<Frame>> {
    let mut out = Vec::new();
    let mut r = chunk;
    let cut = || io::Error::other("a snapshot chunk ends inside an entry");
    let take = |r: &mut &[u8]| -> io::Result<Vec<u8>> {
        let (len, rest) = r.split_at_checked(4).ok_or_else(cut)?;
        let n = u32::from_be_bytes(len.try_into().map_err(|_| cut())?) as usize;
        let (bytes, rest) = rest.split_at_checked(n).ok_or_else(cut)?;
        *r = rest;
        Ok(bytes.to_vec())
    };
    while let Some((&space, rest)) = r.split_first() {
        if space != META && space != DATA {
            return Err(io::Error::other(format!(
                "a snapshot frame of unknown space {space}"
            )));
        }
        r = rest;
        let key = take(&mut r)?;
        let value = take(&mut r)?;
        out.push((space, key, value));
    }
    Ok(out)
}

/// Streams `export` as chunks on `tx` (on a blocking thread).
fn produce(export: Export, tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>) {
    let started = Instant::now();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 1024);
    let mut sent = 0u64;
    let entries = export
        .meta()
        .map(|e| (META, e))
        .chain(export.data().map(|e| (DATA, e)));
    for (space, entry) in entries {
        let framed = entry
            .map_err(|e| io::Error::other(format!("reading the store to send: {e}")))
            .and_then(|(k, v)| put_frame(&mut chunk, space, &k, &v));
        if let Err(e) = framed {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        if chunk.len() >= CHUNK_BYTES {
            sent += chunk.len() as u64;
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 1024));
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    sent += chunk.len() as u64;
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        mib = sent as f64 / f64::from(1u32 << 20),
        secs,
        "group snapshot sent"
    );
}

impl lodestar_raft::SnapshotTransfer<TypeConfig> for Transfer {
    fn send(&self, data: Box<GroupSnapshot>) -> BoxStream<'static, io::Result<Vec<u8>>> {
        let GroupSnapshot::Export(export) = *data else {
            return futures::stream::iter([Err(io::Error::other(
                "only an export of a store can be sent",
            ))])
            .boxed();
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || produce(export, tx));
        tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
    }

    fn receive(
        &self,
        meta: SnapshotMeta<u64, BasicNode>,
        mut chunks: BoxStream<'static, io::Result<Vec<u8>>>,
    ) -> BoxFuture<'static, io::Result<Box<GroupSnapshot>>> {
        let store = self.store.clone();
        Box::pin(async move {
            let started = Instant::now();
            let mut import = crate::graph::blocking(|| store.begin_import())
                .map_err(|e| io::Error::other(format!("starting to take the copy: {e}")))?;
            let mut meta_entries = Vec::new();
            let mut batch = Vec::with_capacity(IMPORT_BATCH);
            let (mut bytes, mut entries) = (0u64, 0u64);
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                bytes += chunk.len() as u64;
                for (space, key, value) in frames(&chunk)? {
                    entries += 1;
                    if space == META {
                        meta_entries.push((key, value));
                        continue;
                    }
                    batch.push((key, value));
                    if batch.len() >= IMPORT_BATCH {
                        let full = std::mem::take(&mut batch);
                        crate::graph::blocking(|| import.data(full))
                            .map_err(|e| io::Error::other(format!("taking the copy: {e}")))?;
                    }
                }
            }
            if !batch.is_empty() {
                crate::graph::blocking(|| import.data(batch))
                    .map_err(|e| io::Error::other(format!("taking the copy: {e}")))?;
            }
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                snapshot = %meta.snapshot_id,
                entries,
                mib = bytes as f64 / f64::from(1u32 << 20),
                secs,
                mib_per_sec = bytes as f64 / f64::from(1u32 << 20) / secs.max(1e-9),
                "group snapshot received"
            );
            Ok(Box::new(GroupSnapshot::Import {
                import,
                meta_entries,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_cut_chunks_are_refused() {
        let mut chunk = Vec::new();
        put_frame(&mut chunk, META, b"m", b"").unwrap();
        put_frame(&mut chunk, DATA, b"key", &[7; 300]).unwrap();
        let read = frames(&chunk).unwrap();
        assert_eq!(
            read,
            vec![
                (META, b"m".to_vec(), Vec::new()),
                (DATA, b"key".to_vec(), vec![7; 300])
            ]
        );
        for cut in 1..chunk.len() {
            if cut == 10 {
                // The first frame alone (1 + 4 + 1 + 4 bytes) is whole.
                continue;
            }
            assert!(frames(&chunk[..cut]).is_err(), "cut at {cut}");
        }
        assert!(frames(&[9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
