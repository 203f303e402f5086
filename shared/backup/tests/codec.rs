//! The backup file codec end to end: round trips, what standard tools (flate2's multi-member
//! reader, the system `gunzip` and `openssl enc`) make of the files, and corruption.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::sync::LazyLock;

use lodestar_backup::codec::{
    CodecError, Decoder, EncodeOptions, Encoder, FileSummary, HashingReader,
};
use lodestar_crypto::{CtrStream, EncryptionKey};
use proptest::prelude::*;
use sha2::Digest as _;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
});

fn encode(frames: &[Vec<u8>], opts: EncodeOptions) -> (Vec<u8>, FileSummary) {
    RT.block_on(async {
        let mut enc = Encoder::new(Vec::new(), opts);
        for f in frames {
            enc.push_frame(f).await.unwrap();
        }
        enc.finish().await.unwrap()
    })
}

fn decode(file: &[u8], key: Option<&EncryptionKey>) -> Result<Vec<Vec<u8>>, CodecError> {
    Decoder::new(file, key)?.collect()
}

fn opts(chunk_size: usize, threads: usize, key: Option<&EncryptionKey>) -> EncodeOptions {
    EncodeOptions {
        key: key.cloned(),
        chunk_size,
        threads,
        level: 6,
    }
}

fn key(len: usize) -> EncryptionKey {
    EncryptionKey::from_bytes(&(0..len).map(|i| (i * 7 + 3) as u8).collect::<Vec<_>>()).unwrap()
}

/// What the gzip layer holds: each record's u64 LE length, then the record.
fn framed(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&(f.len() as u64).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Records that say where they belong (index first) and compress somewhat, of varied sizes.
fn numbered(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut f = format!("record {i:06} ").into_bytes();
            f.extend((0..(i * 131) % 2000).map(|j| (j % 17) as u8 + b'a'));
            f
        })
        .collect()
}

/// The gzip members of a plain file: their end offsets.
fn member_ends(file: &[u8]) -> Vec<usize> {
    let mut rest = file;
    let mut ends = Vec::new();
    while !rest.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        std::io::copy(&mut member, &mut std::io::sink()).unwrap();
        rest = member.into_inner();
        ends.push(file.len() - rest.len());
    }
    ends
}

/// The gzip stream inside an encrypted file, using its first 16 bytes as the IV.
fn decrypt(file: &[u8], key: &EncryptionKey) -> Vec<u8> {
    let iv: [u8; 16] = file[..16].try_into().unwrap();
    let mut body = file[16..].to_vec();
    CtrStream::new(key, &iv).apply(&mut body);
    body
}

fn tool(name: &str) -> bool {
    lodestar_test_support::tool(name).is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn round_trip(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..30),
        chunk_size in prop_oneof![1usize..40, 40usize..5000],
        threads in 1usize..5,
        key_len in prop_oneof![Just(0usize), Just(16), Just(24), Just(32)],
    ) {
        let k = (key_len > 0).then(|| key(key_len));
        let (file, summary) = encode(&frames, opts(chunk_size, threads, k.as_ref()));
        let raw = framed(&frames);
        prop_assert_eq!(summary.frames, frames.len() as u64);
        prop_assert_eq!(summary.raw_bytes, raw.len() as u64);
        prop_assert_eq!(summary.size, file.len() as u64);
        prop_assert_eq!(decode(&file, k.as_ref()).unwrap(), frames);

        let gz = match &k { Some(k) => decrypt(&file, k), None => file.clone() };
        prop_assert_eq!(member_ends(&gz).len(), raw.len().div_ceil(chunk_size).max(1));
    }
}

#[test]
fn plain_file_is_multi_member_gzip_for_flate2_and_gunzip() {
    let frames = numbered(400);
    let (file, _) = encode(&frames, opts(4096, 3, None));
    assert!(member_ends(&file).len() > 10);

    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&file[..])
        .read_to_end(&mut out)
        .unwrap();
    assert!(out == framed(&frames));

    if !tool("gunzip") {
        return;
    }
    let mut child = Command::new("gunzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = file.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == framed(&frames), "gunzip gave other bytes");
}

fn openssl_pipeline(key_len: usize, cipher: &str) {
    let k = key(key_len);
    let frames = numbered(200);
    let (file, _) = encode(&frames, opts(3000, 2, Some(&k)));
    // The IV is first: with it, the rest decrypts to multi-member gzip of the records.
    let gz = decrypt(&file, &k);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    assert!(out == framed(&frames));

    if !tool("openssl") || !tool("gunzip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r1-g1.backup");
    std::fs::write(&path, &file).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"tail -c +17 "$1" | openssl enc -d "$2" -K "$3" -iv "$4" | gunzip"#)
        .arg("sh")
        .arg(&path)
        .arg(cipher)
        .arg(hex::encode(k.as_bytes()))
        .arg(hex::encode(&file[..16]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == framed(&frames),
        "openssl | gunzip gave other bytes"
    );
}

#[test]
fn encrypted_file_decrypts_with_openssl_aes256_and_gunzips() {
    openssl_pipeline(32, "-aes-256-ctr");
}

#[test]
fn encrypted_file_decrypts_with_openssl_aes128_and_gunzips() {
    openssl_pipeline(16, "-aes-128-ctr");
}

#[test]
fn every_file_gets_its_own_iv() {
    let k = key(32);
    let frames = numbered(5);
    let (a, _) = encode(&frames, opts(1 << 20, 1, Some(&k)));
    let (b, _) = encode(&frames, opts(1 << 20, 1, Some(&k)));
    assert_ne!(a[..16], b[..16]);
}

#[test]
fn wrong_or_missing_key_does_not_decompress() {
    let frames = numbered(50);
    let (file, _) = encode(&frames, opts(2000, 2, Some(&key(32))));
    for wrong in [
        Some(key(16)),
        Some(EncryptionKey::from_bytes(&[0; 32]).unwrap()),
        None,
    ] {
        let err = decode(&file, wrong.as_ref()).unwrap_err();
        assert!(matches!(err, CodecError::Decompress(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "backup file does not decompress: it is corrupt, or it was encrypted and the key is wrong or missing"
        );
    }
}

#[test]
fn flipped_byte_in_the_middle_is_an_error() {
    for k in [None, Some(key(24))] {
        let frames = numbered(300);
        let (mut file, _) = encode(&frames, opts(5000, 2, k.as_ref()));
        let mid = file.len() / 2;
        file[mid] ^= 0x20;
        // Usually the member's CRC; a garbled length prefix may be noticed before it.
        let err = decode(&file, k.as_ref()).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Decompress(_) | CodecError::FrameTooLarge(_) | CodecError::Truncated
            ),
            "{err:?}"
        );
    }
}

#[test]
fn no_single_flipped_byte_gives_other_records() {
    // Every position of a small multi-member file: an error, or (for header bytes gzip does not
    // check, such as the modification time) exactly the records written. Never other records.
    for k in [None, Some(key(16))] {
        let frames = numbered(12);
        let (file, _) = encode(&frames, opts(700, 2, k.as_ref()));
        let mut errors = 0;
        for pos in 0..file.len() {
            let mut bad = file.clone();
            bad[pos] ^= 0x01;
            match decode(&bad, k.as_ref()) {
                Ok(back) => assert!(back == frames, "flip at {pos} gave other records"),
                Err(_) => errors += 1,
            }
        }
        // At most the unchecked header bytes of each member (MTIME, XFL, OS, the FTEXT bit)
        // and a few unused deflate padding bits go unnoticed, and they change no record.
        let gz = match &k {
            Some(k) => decrypt(&file, k),
            None => file.clone(),
        };
        let members = member_ends(&gz).len();
        assert!(
            errors + 8 * members >= file.len(),
            "{errors} errors in {} flips, {members} members",
            file.len()
        );
    }
}

#[test]
fn truncation_is_an_error_except_at_member_boundaries() {
    let frames = numbered(40);
    let (file, _) = encode(&frames, opts(4000, 2, None));
    let ends = member_ends(&file);
    assert!(ends.len() > 3);

    let half = decode(&file[..file.len() / 2], None).unwrap_err();
    assert!(
        matches!(half, CodecError::Decompress(_) | CodecError::Truncated),
        "{half:?}"
    );

    for cut in 0..file.len() {
        match decode(&file[..cut], None) {
            Ok(back) => {
                // Only whole members can be lost silently; size and SHA-256 catch that.
                assert!(ends.contains(&cut), "cut at {cut} decoded");
                assert!(frames.starts_with(&back));
            }
            Err(CodecError::Empty) => assert_eq!(cut, 0),
            Err(_) => {}
        }
    }

    // A cut inside the last record of a member boundary-aligned prefix is still named.
    let k = key(32);
    let (enc, _) = encode(&frames, opts(4000, 2, Some(&k)));
    assert!(decode(&enc[..enc.len() - 7], Some(&k)).is_err());
    assert!(matches!(
        Decoder::new(&enc[..10], Some(&k)),
        Err(CodecError::MissingIv)
    ));
}

#[test]
fn summary_matches_the_bytes_written() {
    for k in [None, Some(key(32))] {
        let frames = numbered(100);
        let (file, summary) = encode(&frames, opts(3000, 3, k.as_ref()));
        assert_eq!(summary.size, file.len() as u64);
        assert_eq!(summary.sha256, hex::encode(sha2::Sha256::digest(&file)));
        assert_eq!(summary.sha256.len(), 64);
        assert!(
            summary
                .sha256
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );

        // Hashing while decoding gives the same size and digest.
        let mut hashing = HashingReader::new(&file[..]);
        let back: Vec<_> = Decoder::new(&mut hashing, k.as_ref())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(back == frames);
        assert_eq!(hashing.summary(), (summary.size, summary.sha256.clone()));
    }
}

#[test]
fn many_chunks_in_parallel_come_back_in_order() {
    let frames = numbered(3000);
    let raw = framed(&frames).len();
    let (file, summary) = encode(&frames, opts(8 * 1024, 4, None));
    let members = member_ends(&file).len();
    assert_eq!(members, raw.div_ceil(8 * 1024));
    assert!(members > 100, "{members}");
    assert_eq!(summary.frames, 3000);
    let back = decode(&file, None).unwrap();
    assert!(back == frames, "records out of order or changed");
}

#[test]
fn default_one_mib_members_over_a_few_mib() {
    // Default options: 1 MiB members, level 6, as many threads as cores.
    let frames: Vec<Vec<u8>> = (0..3u32 * 64 + 5)
        .map(|i| {
            (0..16 * 1024u32)
                .map(|j| ((j * 31 + i) % 97) as u8)
                .collect()
        })
        .collect();
    let (file, summary) = encode(&frames, EncodeOptions::default());
    assert_eq!(
        member_ends(&file).len() as u64,
        summary.raw_bytes.div_ceil(1 << 20)
    );
    assert!(decode(&file, None).unwrap() == frames);
}

#[test]
fn sink_errors_are_reported() {
    struct Broken;
    impl lodestar_backup::codec::ByteSink for Broken {
        async fn write(&mut self, _: bytes::Bytes) -> std::io::Result<()> {
            Err(std::io::Error::other("bucket gone"))
        }
    }
    let err = RT.block_on(async {
        let mut enc = Encoder::new(Broken, opts(10, 1, None));
        enc.push_frame(&[1; 100]).await?;
        enc.finish().await.map(|_| ())
    });
    let err = err.unwrap_err();
    assert_eq!(err.to_string(), "cannot write the backup file: bucket gone");
}

#[test]
fn written_file_on_disk_is_readable_by_path() {
    // The restore command reads files from disk: a plain std::fs::File works as the reader.
    let frames = numbered(20);
    let (file, _) = encode(&frames, opts(1000, 2, None));
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("b.gz");
    std::fs::write(path, &file).unwrap();
    let back: Vec<_> = Decoder::new(std::fs::File::open(path).unwrap(), None)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(back == frames);
}
