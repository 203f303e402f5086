//! The backup file codec.
//!
//! A backup file is, from the outside in:
//!
//! 1. optional AES-CTR (128-bit big-endian counter, as `openssl enc -aes-<bits>-ctr`): a random
//!    16-byte IV first, then the ciphertext of everything below. The key size (16, 24 or 32
//!    bytes) picks AES-128, -192 or -256;
//! 2. gzip, as a multi-member stream: the framed bytes are cut into chunks of `chunk_size`
//!    (1 MiB by default) and each chunk is compressed on its own into one complete gzip member,
//!    so chunks compress in parallel, and `gunzip` or `flate2::read::MultiGzDecoder` read the
//!    concatenation as one stream. Chunk boundaries fall anywhere, even inside a record;
//! 3. records ("frames"): a u64 little-endian length, then that many bytes. The payload is
//!    opaque here (the caller puts a protobuf in it); a record is at most 1 GiB.
//!
//! The decoder does not depend on the chunking: a file gzipped as one single member (as a
//! writer without parallel compression produces) decodes the same way.
//!
//! Integrity: every gzip member ends with the CRC-32 and size of its data, so corruption inside
//! a member is an error at the end of that member. A file cut exactly at a member boundary still
//! decodes (to fewer records): compare size and SHA-256 with the manifest ([`HashingReader`]) to
//! catch that, and a wrong key.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Read, Write as _};

use bytes::Bytes;
use flate2::Compression;
use lodestar_crypto::{CtrStream, DecryptingReader, EncryptionKey, IV_LEN};
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;

/// The largest record accepted, in bytes (1 GiB). A length above it in a file means corruption
/// or a wrong key, and refusing it avoids a huge allocation.
pub const MAX_FRAME: u64 = 1 << 30;

/// The default uncompressed size of a gzip member: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// The default gzip level (Dgraph's and gzip's default).
pub const DEFAULT_LEVEL: u32 = 6;

/// What goes wrong writing or reading a backup file.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The stream ends inside a length prefix or a payload.
    #[error("backup file ends inside a record: truncated or corrupt")]
    Truncated,
    /// A length prefix above [`MAX_FRAME`].
    #[error(
        "backup file announces a record of {0} bytes, more than 1 GiB: it is corrupt, or the wrong encryption key was used"
    )]
    FrameTooLarge(u64),
    /// The gzip layer is broken: bad header, corrupt deflate data, CRC mismatch, cut member.
    #[error(
        "backup file does not decompress: it is corrupt, or it was encrypted and the key is wrong or missing"
    )]
    Decompress(#[source] io::Error),
    /// An encrypted file shorter than its IV.
    #[error(
        "backup file is shorter than its {IV_LEN}-byte encryption IV: it is truncated, or it was not encrypted"
    )]
    MissingIv,
    /// An empty file: the encoder always writes at least one gzip member.
    #[error("backup file is empty: it was not written completely")]
    Empty,
    /// A record given to the encoder that the decoder would refuse.
    #[error("a backup record of {0} bytes is larger than the 1 GiB limit: split it")]
    RecordTooLarge(u64),
    /// The byte sink failed.
    #[error("cannot write the backup file: {0}")]
    Write(#[source] io::Error),
    /// The underlying reader failed.
    #[error("cannot read the backup file: {0}")]
    Read(#[source] io::Error),
    /// A compression task panicked or was cancelled.
    #[error("backup compression task failed: {0}")]
    Task(String),
}

/// How to write a backup file.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Encrypt with AES-CTR under this key; `None` writes plain gzip.
    pub key: Option<EncryptionKey>,
    /// Uncompressed bytes per gzip member (0 is taken as 1).
    pub chunk_size: usize,
    /// Members compressed at once (0 is taken as 1).
    pub threads: usize,
    /// gzip level, 0 (store) to 9 (smallest); above 9 is taken as 9.
    pub level: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            key: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            level: DEFAULT_LEVEL,
        }
    }
}

/// What was written: bytes on storage, their SHA-256 (hex, lowercase), frames, uncompressed
/// frame bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// Bytes handed to the sink: IV, if any, plus the (encrypted) gzip members.
    pub size: u64,
    /// SHA-256 of those bytes, lowercase hex.
    pub sha256: String,
    /// Records written.
    pub frames: u64,
    /// Bytes of the framed stream before compression, length prefixes included (what `gunzip`
    /// gives back).
    pub raw_bytes: u64,
}

/// Where encoded bytes go (an object-store writer in production; a Vec in tests).
pub trait ByteSink: Send {
    /// Appends `chunk`. Chunks arrive in file order; an error ends the encoding.
    fn write(&mut self, chunk: Bytes) -> impl Future<Output = io::Result<()>> + Send;
}

impl ByteSink for Vec<u8> {
    async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        self.extend_from_slice(&chunk);
        Ok(())
    }
}

/// Writes records into a backup file: frames them, compresses chunks in parallel on the
/// blocking pool, emits the members in order, encrypting and hashing as they go out.
///
/// Memory stays near `threads × chunk_size × 2` (chunks in flight and their output) however
/// large the file. Must run inside a tokio runtime. After an error, drop the encoder: the
/// file is incomplete.
pub struct Encoder<S: ByteSink> {
    sink: S,
    level: Compression,
    chunk_size: usize,
    threads: usize,
    /// The chunk being filled.
    pending: Vec<u8>,
    /// Chunks being compressed, in file order.
    in_flight: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    cipher: Option<CtrStream>,
    /// The IV, until it is written ahead of the first member.
    iv: Option<[u8; IV_LEN]>,
    hasher: Sha256,
    size: u64,
    frames: u64,
    raw_bytes: u64,
    members: u64,
}

impl<S: ByteSink> std::fmt::Debug for Encoder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("encrypted", &self.cipher.is_some())
            .field("frames", &self.frames)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<S: ByteSink> Encoder<S> {
    /// An encoder writing to `sink`. With a key, a fresh random IV is drawn for this file.
    pub fn new(sink: S, opts: EncodeOptions) -> Self {
        let chunk_size = opts.chunk_size.max(1);
        let (cipher, iv) = match &opts.key {
            Some(key) => {
                let iv = lodestar_crypto::random_iv();
                (Some(CtrStream::new(key, &iv)), Some(iv))
            }
            None => (None, None),
        };
        Encoder {
            sink,
            level: Compression::new(opts.level.min(9)),
            chunk_size,
            threads: opts.threads.max(1),
            pending: Vec::with_capacity(chunk_size),
            in_flight: VecDeque::new(),
            cipher,
            iv,
            hasher: Sha256::new(),
            size: 0,
            frames: 0,
            raw_bytes: 0,
            members: 0,
        }
    }

    /// Appends one record. Waits when `threads` chunks are already being compressed.
    pub async fn push_frame(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        let len = payload.len() as u64;
        if len > MAX_FRAME {
            return Err(CodecError::RecordTooLarge(len));
        }
        self.append(&len.to_le_bytes()).await?;
        self.append(payload).await?;
        self.frames += 1;
        Ok(())
    }

    /// Appends bytes as they are, with no frame around them: for text files (exports) that
    /// take this file's gzip and encryption but not its records.
    pub async fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), CodecError> {
        self.append(bytes).await
    }

    /// Compresses what is left, writes every member, and returns the sink (for the caller to
    /// close) with the summary of the file.
    pub async fn finish(mut self) -> Result<(S, FileSummary), CodecError> {
        // An empty file would not be valid gzip: a file with no records still gets one member.
        if !self.pending.is_empty() || self.members == 0 {
            self.submit().await?;
        }
        while let Some(task) = self.in_flight.pop_front() {
            let member = join(task).await?;
            self.emit(member).await?;
        }
        let summary = FileSummary {
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            frames: self.frames,
            raw_bytes: self.raw_bytes,
        };
        Ok((self.sink, summary))
    }

    async fn append(&mut self, mut data: &[u8]) -> Result<(), CodecError> {
        self.raw_bytes += data.len() as u64;
        while !data.is_empty() {
            let take = (self.chunk_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.chunk_size {
                self.submit().await?;
            }
        }
        Ok(())
    }

    /// Hands the pending chunk to the blocking pool, first emitting the oldest member when
    /// `threads` are already in flight (which bounds memory and keeps the order).
    async fn submit(&mut self) -> Result<(), CodecError> {
        while self.in_flight.len() >= self.threads {
            let task = self.in_flight.pop_front().expect("in_flight is not empty");
            let member = join(task).await?;
            self.emit(member).await?;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(self.chunk_size));
        let level = self.level;
        self.in_flight
            .push_back(tokio::task::spawn_blocking(move || compress(&chunk, level)));
        self.members += 1;
        Ok(())
    }

    /// Writes one compressed member: the IV before the first, encrypted when keyed, hashed as
    /// it leaves. CTR and SHA-256 run at GB/s, so doing them here in order is cheap next to
    /// compression.
    async fn emit(&mut self, mut member: Vec<u8>) -> Result<(), CodecError> {
        if let Some(iv) = self.iv.take() {
            self.put(iv.to_vec()).await?;
        }
        if let Some(cipher) = &mut self.cipher {
            cipher.apply(&mut member);
        }
        self.put(member).await
    }

    async fn put(&mut self, bytes: Vec<u8>) -> Result<(), CodecError> {
        self.hasher.update(&bytes);
        self.size += bytes.len() as u64;
        self.sink
            .write(Bytes::from(bytes))
            .await
            .map_err(CodecError::Write)
    }
}

async fn join(task: JoinHandle<io::Result<Vec<u8>>>) -> Result<Vec<u8>, CodecError> {
    task.await
        .map_err(|e| CodecError::Task(e.to_string()))?
        // Compressing into a Vec cannot fail on I/O; anything else is a bug in the compressor.
        .map_err(|e| CodecError::Task(e.to_string()))
}

/// One chunk as one complete gzip member.
fn compress(chunk: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    // Framed protobufs typically compress 3-5×: start at a third to limit regrowth.
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(chunk.len() / 3 + 64), level);
    gz.write_all(chunk)?;
    gz.finish()
}

/// Marks errors of the underlying reader, so they are told apart from gzip's own errors after
/// passing through the decompressor.
#[derive(Debug)]
struct SourceFailed(io::Error);

impl std::fmt::Display for SourceFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceFailed {}

enum Source<R: Read> {
    Plain(R),
    Decrypt(DecryptingReader<R>),
}

/// The file's bytes below the encryption, counting how many were read.
struct Counted<R: Read> {
    source: Source<R>,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = match &mut self.source {
            Source::Plain(r) => r.read(buf),
            Source::Decrypt(r) => r.read(buf),
        };
        match got {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) => Err(io::Error::new(e.kind(), SourceFailed(e))),
        }
    }
}

/// Reads frames back: decrypts (when a key is given), decompresses every gzip member, splits
/// frames. Yields each record's payload.
///
/// Records are yielded as they are decompressed, while a member's CRC is checked at its end:
/// a corrupt file can yield records before its error. Treat any error as the whole file being
/// bad, and check size and SHA-256 against the manifest (see [`HashingReader`]).
pub struct Decoder<R: Read> {
    inner: flate2::read::MultiGzDecoder<Counted<R>>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Decoder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decoder<R> {
    /// A decoder over `reader`; with a key, reads the IV first.
    pub fn new(reader: R, key: Option<&EncryptionKey>) -> Result<Self, CodecError> {
        let source = match key {
            None => Source::Plain(reader),
            Some(key) => Source::Decrypt(DecryptingReader::new(reader, key).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    CodecError::MissingIv
                } else {
                    CodecError::Read(e)
                }
            })?),
        };
        Ok(Decoder {
            inner: flate2::read::MultiGzDecoder::new(Counted { source, read: 0 }),
            done: false,
        })
    }

    /// The underlying reader, e.g. a [`HashingReader`] to check once every record is read.
    pub fn into_inner(self) -> R {
        match self.inner.into_inner().source {
            Source::Plain(r) => r,
            Source::Decrypt(r) => r.into_inner(),
        }
    }

    /// Reads into `buf` until it is full or the stream ends; returns how much was read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, CodecError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(match classify(e) {
                        // flate2 reports no input at all as a cut gzip header.
                        CodecError::Decompress(_) if self.inner.get_ref().read == 0 => {
                            CodecError::Empty
                        }
                        other => other,
                    });
                }
            }
        }
        Ok(got)
    }

    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, CodecError> {
        let mut len = [0u8; 8];
        match self.fill(&mut len)? {
            0 if self.inner.get_ref().read == 0 => return Err(CodecError::Empty),
            0 => return Ok(None),
            8 => {}
            _ => return Err(CodecError::Truncated),
        }
        let len = u64::from_le_bytes(len);
        if len > MAX_FRAME {
            return Err(CodecError::FrameTooLarge(len));
        }
        // Grown as bytes arrive, not reserved from the (untrusted) length.
        let mut payload = Vec::new();
        (&mut self.inner)
            .take(len)
            .read_to_end(&mut payload)
            .map_err(classify)?;
        if payload.len() as u64 != len {
            return Err(CodecError::Truncated);
        }
        Ok(Some(payload))
    }
}

/// Tells a failure of the underlying reader from a failure to decompress.
fn classify(e: io::Error) -> CodecError {
    if e.get_ref().is_some_and(|inner| inner.is::<SourceFailed>()) {
        let inner = e.into_inner().expect("checked above");
        match inner.downcast::<SourceFailed>() {
            Ok(failed) => CodecError::Read(failed.0),
            Err(other) => CodecError::Read(io::Error::other(other)),
        }
    } else {
        CodecError::Decompress(e)
    }
}

impl<R: Read> Iterator for Decoder<R> {
    type Item = Result<Vec<u8>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_frame() {
            Ok(Some(frame)) => Some(Ok(frame)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                // Nothing after an error can be trusted.
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for Decoder<R> {}

/// Hashes what passes through a reader (to check size and SHA-256 against a manifest while
/// decoding).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> std::fmt::Debug for HashingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingReader")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<R> HashingReader<R> {
    /// Wraps `inner`; nothing is hashed yet.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far and their SHA-256 (lowercase hex).
    pub fn summary(&self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.clone().finalize()))
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    }

    fn encode(frames: &[Vec<u8>], opts: EncodeOptions) -> (Vec<u8>, FileSummary) {
        rt().block_on(async {
            let mut enc = Encoder::new(Vec::new(), opts);
            for f in frames {
                enc.push_frame(f).await.unwrap();
            }
            enc.finish().await.unwrap()
        })
    }

    fn opts(chunk_size: usize, threads: usize, key: Option<EncryptionKey>) -> EncodeOptions {
        EncodeOptions {
            key,
            chunk_size,
            threads,
            level: DEFAULT_LEVEL,
        }
    }

    #[test]
    fn defaults() {
        let o = EncodeOptions::default();
        assert_eq!(o.chunk_size, 1 << 20);
        assert_eq!(o.level, 6);
        assert!(o.threads >= 1);
        assert!(o.key.is_none());
    }

    #[test]
    fn round_trip_small() {
        let frames = vec![b"one".to_vec(), Vec::new(), vec![7; 1000]];
        let (file, summary) = encode(&frames, opts(100, 3, None));
        assert_eq!(summary.frames, 3);
        assert_eq!(summary.raw_bytes, 3 * 8 + 3 + 1000);
        assert_eq!(summary.size, file.len() as u64);
        let back: Vec<_> = Decoder::new(&file[..], None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, frames);
    }

    #[test]
    fn memory_stays_bounded() {
        // However much is pushed, at most `threads` chunks are in flight and one is filling.
        rt().block_on(async {
            let mut enc = Encoder::new(Vec::new(), opts(1000, 3, None));
            for i in 0..2000usize {
                enc.push_frame(&vec![i as u8; i % 3000]).await.unwrap();
                assert!(enc.in_flight.len() <= 3);
                assert!(enc.pending.len() < 1000);
                assert!(enc.pending.capacity() <= 1000);
            }
            let (file, summary) = enc.finish().await.unwrap();
            assert_eq!(summary.frames, 2000);
            assert_eq!(Decoder::new(&file[..], None).unwrap().count(), 2000);
        });
    }

    #[test]
    fn no_frames_is_still_valid_gzip() {
        let (file, summary) = encode(&[], opts(100, 2, None));
        assert!(!file.is_empty());
        assert_eq!(summary.frames, 0);
        assert_eq!(Decoder::new(&file[..], None).unwrap().count(), 0);
    }

    #[test]
    fn empty_and_short_files_are_errors() {
        let mut dec = Decoder::new(&[][..], None).unwrap();
        let first = dec.next();
        assert!(matches!(first, Some(Err(CodecError::Empty))), "{first:?}");
        assert!(dec.next().is_none());

        let key = EncryptionKey::from_bytes(&[1; 16]).unwrap();
        assert!(matches!(
            Decoder::new(&[0u8; 5][..], Some(&key)),
            Err(CodecError::MissingIv)
        ));
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let mut framed = Vec::new();
        framed.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&framed).unwrap();
        let file = gz.finish().unwrap();
        let err = Decoder::new(&file[..], None)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, CodecError::FrameTooLarge(_)), "{err}");
        assert!(err.to_string().contains("wrong encryption key"), "{err}");
    }

    #[test]
    fn reader_errors_are_not_blamed_on_gzip() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "network gone",
                ))
            }
        }
        let err = Decoder::new(Failing, None)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, CodecError::Read(_)), "{err:?}");
        assert_eq!(err.to_string(), "cannot read the backup file: network gone");
    }

    #[test]
    fn hashing_reader_counts_and_hashes() {
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(
            r.summary(),
            (
                3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_owned()
            )
        );
    }
}
