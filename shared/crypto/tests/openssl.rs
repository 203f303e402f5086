//! `EncryptingWriter` against the real `openssl enc`: its output, IV stripped, must decrypt
//! with `openssl enc -d -aes-<bits>-ctr` to the plaintext, byte for byte.

use std::io::Write as _;
use std::process::Command;

use lodestar_crypto::{EncryptingWriter, EncryptionKey, IV_LEN};

fn openssl_decrypts(key_len: usize, cipher: &str) {
    let Some(openssl) = lodestar_test_support::tool("openssl") else {
        return;
    };
    let key_bytes: Vec<u8> = (0..key_len).map(|i| (i * 37 + 11) as u8).collect();
    let key = EncryptionKey::from_bytes(&key_bytes).unwrap();
    // Long enough to run the counter through many blocks, written in uneven pieces.
    let plain: Vec<u8> = (0..100_003u32)
        .map(|i| (i % 251) as u8 ^ (i >> 8) as u8)
        .collect();
    let mut w = EncryptingWriter::new(Vec::new(), &key).unwrap();
    for piece in plain.chunks(4_999) {
        w.write_all(piece).unwrap();
    }
    let iv = *w.iv();
    let file = w.into_inner();
    assert_eq!(&file[..IV_LEN], &iv);

    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, &file[IV_LEN..]).unwrap();
    let out = Command::new(&openssl)
        .args([
            "enc",
            "-d",
            cipher,
            "-K",
            &hex::encode(&key_bytes),
            "-iv",
            &hex::encode(iv),
        ])
        .arg("-in")
        .arg(&body)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), plain.len());
    assert!(out.stdout == plain, "openssl decrypted different bytes");
}

#[test]
fn openssl_decrypts_aes256_ctr_writer_output() {
    openssl_decrypts(32, "-aes-256-ctr");
}

#[test]
fn openssl_decrypts_aes128_ctr_writer_output() {
    openssl_decrypts(16, "-aes-128-ctr");
}

#[test]
fn openssl_decrypts_aes192_ctr_writer_output() {
    openssl_decrypts(24, "-aes-192-ctr");
}
