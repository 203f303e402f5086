//! The encrypted engine: the conformance suite, durability, and what encryption at rest
//! promises: no stored string in any file, wrong or missing keys refused with nothing changed,
//! plain and encrypted stores never opened as each other, rotated data keys still read.

use lodestar_crypto::EncryptionKey;
use lodestar_storage::{Encryption, StorageError, Store, Write, conformance};
use std::path::Path;
use std::time::Duration;

fn enc(byte: u8, len: usize) -> Encryption {
    Encryption::new(EncryptionKey::from_bytes(&vec![byte; len]).unwrap())
}

mod surrealkv_engine {
    lodestar_storage::conformance_tests!({
        let dirs = std::sync::Mutex::new(Vec::new());
        move || {
            let dir = tempfile::tempdir().unwrap();
            let store =
                lodestar_storage::Store::open_with(dir.path(), Some(&super::enc(7, 32))).unwrap();
            dirs.lock().unwrap().push(dir);
            store
        }
    });
}

#[test]
fn the_encrypted_engine_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_durability(&|| Store::open_with(dir.path(), Some(&enc(7, 16))).unwrap());
}

/// Every file under `dir`, as bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// The files under `dir` that contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p)
        .collect()
}

fn fill(store: &Store, marker: &str) {
    store.predicate_id(&format!("{marker}-predicate")).unwrap();
    for ts in 1..=20u64 {
        let writes: Vec<Write> = (0..50)
            .map(|i| {
                Write::put(
                    format!("{marker}-key-{ts}-{i}").into_bytes(),
                    format!("{marker}-value-{ts}-{i}").into_bytes(),
                )
            })
            .chain([Write::put(
                format!("{marker}-blob-{ts}").into_bytes(),
                format!("{marker}-large ").repeat(2000).into_bytes(),
            )])
            .collect();
        let meta = [Write::put(
            format!("{marker}-meta-{ts}").into_bytes(),
            format!("{marker}-pending").into_bytes(),
        )];
        store.commit(ts, &writes, &meta, ts % 5 == 0).unwrap();
    }
}

fn all(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .snapshot()
        .scan_prefix_at(b"", u64::MAX)
        .map(Result::unwrap)
        .collect()
}

#[test]
fn no_stored_string_reaches_a_file_and_a_plain_store_shows_why_that_matters() {
    let marker = "Zq8marker";
    let plain = tempfile::tempdir().unwrap();
    {
        let store = Store::open(plain.path()).unwrap();
        fill(&store, marker);
        store.sync().unwrap();
    }
    assert!(
        !holding(plain.path(), marker.as_bytes()).is_empty(),
        "the plain store keeps the marker in its files (or the search is broken)"
    );

    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let store = Store::open_with(dir.path(), Some(&enc(3, 32))).unwrap();
        fill(&store, marker);
        store.flush().unwrap();
        fill(&store, "Wx5second");
        store.sync().unwrap();
        before = all(&store);
        // Not closed: the files are as a killed process leaves them.
        assert_eq!(
            holding(dir.path(), marker.as_bytes()),
            Vec::<std::path::PathBuf>::new()
        );
        std::mem::forget(store);
    }
    for needle in [
        &b"Zq8marker"[..],
        b"Wx5second",
        b"-large -large",
        &[3u8; 16],
    ] {
        assert_eq!(
            holding(dir.path(), needle),
            Vec::<std::path::PathBuf>::new(),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
    // The forgotten store still holds the directory's lock: a copy is what a restarted
    // process sees.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let _ = std::fs::remove_file(copy.path().join("kv").join("LOCK"));
    let store = Store::open_with(copy.path(), Some(&enc(3, 32))).unwrap();
    assert_eq!(all(&store), before);
    assert_eq!(store.lookup_predicate("Zq8marker-predicate"), Some(1));
}

fn copy_dir(from: &Path, to: &Path) {
    for (p, bytes) in files(from) {
        let target = to.join(p.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

fn refusal(result: Result<Store, StorageError>) -> String {
    match result {
        Ok(_) => panic!("the store opened"),
        Err(e) => {
            assert!(matches!(e, StorageError::Encryption(_)), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn wrong_missing_and_mismatched_keys_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_with(dir.path(), Some(&enc(1, 24))).unwrap();
        fill(&store, "k");
    }
    let snapshot = files(dir.path());
    let wrong = refusal(Store::open_with(dir.path(), Some(&enc(2, 24))));
    assert!(wrong.contains("Encryption key mismatch"), "{wrong}");
    let missing = refusal(Store::open_with(dir.path(), None));
    assert!(
        missing.contains("is encrypted: start with the encryption key"),
        "{missing}"
    );
    assert_eq!(files(dir.path()), snapshot, "a refused open writes nothing");
    let store = Store::open_with(dir.path(), Some(&enc(1, 24))).unwrap();
    assert_eq!(all(&store).len(), 20 * 51);
    drop(store);

    let plain = tempfile::tempdir().unwrap();
    drop(Store::open(plain.path()).unwrap());
    let keyed = refusal(Store::open_with(plain.path(), Some(&enc(1, 32))));
    assert!(keyed.contains("is not encrypted"), "{keyed}");
    assert!(!plain.path().join("KEYREGISTRY").exists());
}

#[test]
fn data_keys_rotate_while_writing_and_old_data_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let rotating = Encryption {
        rotation: Duration::from_secs(1),
        ..enc(5, 32)
    };
    let key = |n: u32| format!("row-{n:05}").into_bytes();
    {
        let store = Store::open_with(dir.path(), Some(&rotating)).unwrap();
        let started = std::time::Instant::now();
        let mut n = 0u32;
        while started.elapsed() < Duration::from_millis(3500) {
            let writes: Vec<Write> = (0..200)
                .map(|i| Write::put(key(n + i), vec![b'v'; 100]))
                .collect();
            store.commit(u64::from(n) + 1, &writes, &[], false).unwrap();
            n += 200;
            // New files pick up the new key: make some.
            if n.is_multiple_of(4000) {
                store.flush().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        store.sync().unwrap();
    }
    let registry = lodestar_crypto::registry::KeyRegistry::open(
        dir.path(),
        EncryptionKey::from_bytes(&[5; 32]).unwrap(),
        Duration::from_secs(3600),
    )
    .unwrap();
    assert!(registry.key_ids().len() >= 3, "{:?}", registry.key_ids());
    drop(registry);
    let store = Store::open_with(dir.path(), Some(&enc(5, 32))).unwrap();
    let rows = all(&store);
    assert!(rows.len() > 1000);
    for (i, (k, v)) in rows.iter().enumerate() {
        assert_eq!(*k, key(i as u32));
        assert_eq!(v.len(), 100);
    }
}

#[test]
fn a_new_master_key_opens_the_store_and_the_old_one_no_longer_does() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = Store::open_with(dir.path(), Some(&enc(8, 32))).unwrap();
        fill(&store, "m");
        all(&store)
    };
    lodestar_crypto::registry::KeyRegistry::rewrap(
        dir.path(),
        EncryptionKey::from_bytes(&[8; 32]).unwrap(),
        EncryptionKey::from_bytes(&[9; 16]).unwrap(),
    )
    .unwrap();
    refusal(Store::open_with(dir.path(), Some(&enc(8, 32))));
    let store = Store::open_with(dir.path(), Some(&enc(9, 16))).unwrap();
    assert_eq!(all(&store), before);
}
