//! AES-CTR with a 128-bit big-endian counter, as `openssl enc -aes-<bits>-ctr` and Dgraph's
//! backups use it: the 16-byte IV is the initial counter block. CTR needs no padding and can be
//! applied in pieces of any size, so it streams.

use std::io::{self, Read, Write};

use ctr::cipher::{KeyIvInit as _, StreamCipher as _};

use crate::EncryptionKey;

/// The IV length: one AES block.
pub const IV_LEN: usize = 16;

/// A fresh random IV. A key must never encrypt two streams with the same IV, so every file gets
/// its own from the operating system's generator.
pub fn random_iv() -> [u8; IV_LEN] {
    use rand::RngCore as _;
    let mut iv = [0u8; IV_LEN];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    iv
}

enum Cipher {
    Aes128(ctr::Ctr128BE<aes::Aes128>),
    Aes192(ctr::Ctr128BE<aes::Aes192>),
    Aes256(ctr::Ctr128BE<aes::Aes256>),
}

/// The AES-CTR keystream of one (key, IV): XORs data in place. Encryption and decryption are
/// the same operation; consecutive calls continue the stream, so chunks of any sizes give the
/// same bytes as one call over the whole.
pub struct CtrStream {
    cipher: Cipher,
}

impl std::fmt::Debug for CtrStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cipher state holds the expanded key: show nothing of it.
        f.write_str("CtrStream(..)")
    }
}

impl CtrStream {
    /// The stream for `key` (its size picks AES-128, -192 or -256) starting at counter `iv`.
    pub fn new(key: &EncryptionKey, iv: &[u8; IV_LEN]) -> CtrStream {
        let k = key.as_bytes();
        // Key lengths are checked when an EncryptionKey is made, so these cannot fail.
        let bad = "EncryptionKey has an AES size";
        let cipher = match k.len() {
            16 => Cipher::Aes128(ctr::Ctr128BE::new_from_slices(k, iv).expect(bad)),
            24 => Cipher::Aes192(ctr::Ctr128BE::new_from_slices(k, iv).expect(bad)),
            _ => Cipher::Aes256(ctr::Ctr128BE::new_from_slices(k, iv).expect(bad)),
        };
        CtrStream { cipher }
    }

    /// XORs the next `data.len()` keystream bytes into `data`.
    pub fn apply(&mut self, data: &mut [u8]) {
        // A 128-bit counter cannot run out: 2^132 bytes.
        match &mut self.cipher {
            Cipher::Aes128(c) => c.apply_keystream(data),
            Cipher::Aes192(c) => c.apply_keystream(data),
            Cipher::Aes256(c) => c.apply_keystream(data),
        }
    }
}

/// Encrypts what is written to it: the IV first, then the ciphertext.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    stream: CtrStream,
    iv: [u8; IV_LEN],
    scratch: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptingWriter(..)")
    }
}

/// Ciphertext is produced through a buffer of at most this many bytes, so one large write does
/// not double its memory.
const SCRATCH: usize = 64 * 1024;

impl<W: Write> EncryptingWriter<W> {
    /// Writes a fresh random IV to `inner`; what is written next is encrypted with it.
    pub fn new(inner: W, key: &EncryptionKey) -> io::Result<Self> {
        Self::with_iv(inner, key, random_iv())
    }

    /// As [`EncryptingWriter::new`] with a given IV. Never reuse an IV with the same key:
    /// this is for tests and for callers that record the IV elsewhere.
    pub fn with_iv(mut inner: W, key: &EncryptionKey, iv: [u8; IV_LEN]) -> io::Result<Self> {
        inner.write_all(&iv)?;
        Ok(EncryptingWriter {
            inner,
            stream: CtrStream::new(key, &iv),
            iv,
            scratch: Vec::new(),
        })
    }

    /// The IV written at the start.
    pub fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The keystream advances as bytes are encrypted, so a short write of the inner writer
        // would desynchronise it: each accepted piece is written in full before returning.
        let n = buf.len().min(SCRATCH);
        self.scratch.clear();
        self.scratch.extend_from_slice(&buf[..n]);
        self.stream.apply(&mut self.scratch);
        self.inner.write_all(&self.scratch)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts what is read through it: reads the 16-byte IV first, then yields plaintext.
pub struct DecryptingReader<R: Read> {
    inner: R,
    stream: CtrStream,
}

impl<R: Read> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecryptingReader(..)")
    }
}

impl<R: Read> DecryptingReader<R> {
    /// Reads the IV from `inner`. A stream shorter than the IV is an `UnexpectedEof` error
    /// saying so: it is truncated, or it was never encrypted.
    pub fn new(mut inner: R, key: &EncryptionKey) -> io::Result<Self> {
        let mut iv = [0u8; IV_LEN];
        let mut got = 0;
        while got < IV_LEN {
            match inner.read(&mut iv[got..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "encrypted data ends after {got} bytes, before its {IV_LEN}-byte IV: \
                             it is truncated, or it was not encrypted"
                        ),
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(DecryptingReader {
            inner,
            stream: CtrStream::new(key, &iv),
        })
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.stream.apply(&mut buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(len: usize) -> EncryptionKey {
        EncryptionKey::from_bytes(&(0..len as u8).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn known_answer_aes128_ctr() {
        // NIST SP 800-38A F.5.1, CTR-AES128.Encrypt, first block.
        let key =
            EncryptionKey::from_bytes(&hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap())
                .unwrap();
        let iv: [u8; 16] = hex::decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
            .unwrap()
            .try_into()
            .unwrap();
        let mut block = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        CtrStream::new(&key, &iv).apply(&mut block);
        assert_eq!(hex::encode(block), "874d6191b620e3261bef6864990db6ce");
    }

    #[test]
    fn counter_carries_across_all_128_bits() {
        // An IV of all 0xff: the next block's counter wraps to zero. A 64-bit counter flavour
        // would give a different second block; openssl carries through all 16 bytes.
        let k = key(16);
        let iv = [0xff; 16];
        let mut two = [0u8; 32];
        CtrStream::new(&k, &iv).apply(&mut two);
        let mut from_zero = [0u8; 16];
        CtrStream::new(&k, &[0; 16]).apply(&mut from_zero);
        assert_eq!(two[16..], from_zero);
    }

    #[test]
    fn random_ivs_differ() {
        assert_ne!(random_iv(), random_iv());
    }

    #[test]
    fn short_stream_is_a_clear_error() {
        let err = DecryptingReader::new(&[1u8; 10][..], &key(32)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("ends after 10 bytes"), "{err}");
    }

    proptest! {
        #[test]
        fn chunked_equals_one_shot(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            splits in proptest::collection::vec(0usize..2000, 0..12),
            key_len in prop_oneof![Just(16usize), Just(24), Just(32)],
            iv in any::<[u8; 16]>(),
        ) {
            let k = key(key_len);
            let mut whole = data.clone();
            CtrStream::new(&k, &iv).apply(&mut whole);

            let mut cuts: Vec<usize> = splits.into_iter().map(|s| s % (data.len() + 1)).collect();
            cuts.push(0);
            cuts.push(data.len());
            cuts.sort_unstable();
            let mut pieces = data.clone();
            let mut stream = CtrStream::new(&k, &iv);
            for w in cuts.windows(2) {
                stream.apply(&mut pieces[w[0]..w[1]]);
            }
            prop_assert_eq!(&pieces, &whole);
            if !data.is_empty() {
                prop_assert_ne!(&whole, &data);
            }
        }

        #[test]
        fn writer_reader_round_trip(
            writes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..10),
            read_size in 1usize..100,
            key_len in prop_oneof![Just(16usize), Just(24), Just(32)],
        ) {
            let k = key(key_len);
            let mut w = EncryptingWriter::new(Vec::new(), &k).unwrap();
            let iv = *w.iv();
            for piece in &writes {
                w.write_all(piece).unwrap();
            }
            let file = w.into_inner();
            let plain: Vec<u8> = writes.concat();
            prop_assert_eq!(file.len(), IV_LEN + plain.len());
            prop_assert_eq!(&file[..IV_LEN], &iv[..]);

            let mut r = DecryptingReader::new(&file[..], &k).unwrap();
            let mut back = Vec::new();
            let mut buf = vec![0u8; read_size];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 { break; }
                back.extend_from_slice(&buf[..n]);
            }
            prop_assert_eq!(back, plain);
        }
    }
}
