//! The one conformance suite every engine runs. Each engine's test file calls [`run`] with a
//! factory for empty stores, and [`run_durability`] when the engine persists.

use crate::{Change, Export, Import, Snapshot, Store, Write};

/// Runs every engine-independent check against fresh stores from `fresh`.
pub fn run(fresh: &dyn Fn() -> Store) {
    versions_are_read_at_their_timestamp(&fresh());
    empty_values_and_keys_are_not_deletes(&fresh());
    prefix_scans_are_exact_and_versioned(&fresh());
    snapshots_do_not_see_later_writes(&fresh());
    changes_between_timestamps(&fresh());
    meta_commits_with_data(&fresh());
    gc_keeps_what_reads_can_see(&fresh());
    erasing_a_timestamp_brings_back_what_it_hid(&fresh());
    dictionary_interns_names(&fresh());
    large_values_behave_like_small_ones(&fresh());
    a_replacing_load_is_all_that_remains(&fresh());
    a_large_unsorted_load_keeps_the_last_write_of_each_key(&fresh());
    an_aborted_load_leaves_the_data_as_it_was(&fresh());
    a_load_without_replace_writes_over_the_data(&fresh());
    the_change_log_gives_what_walking_gives(&fresh());
    the_change_log_restarts_after_a_load_and_keeps_to_its_budget(&fresh());
    the_change_log_reports_a_collected_delete(&fresh());
    keys_past_the_limits_are_refused_whole(&fresh());
    concurrent_commits_all_land(&fresh());
    a_bulk_load_finishes_with_its_meta_writes(&fresh());
    digests_tell_histories_apart(fresh);
    an_import_makes_an_exact_copy(fresh);
    an_export_does_not_see_later_writes(fresh);
    an_aborted_or_dropped_import_leaves_the_store_as_it_was(fresh);
}

/// One `#[test]` per conformance case, each on a fresh store from the factory expression
/// (evaluated once per test, so it may own what its stores need, such as their directories):
/// a failing case names itself and hides no other.
///
/// ```ignore
/// mod memory {
///     lodestar_storage::conformance_tests!(|| lodestar_storage::Store::in_memory());
/// }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@cases $fresh; versions_are_read_at_their_timestamp, empty_values_and_keys_are_not_deletes, prefix_scans_are_exact_and_versioned, snapshots_do_not_see_later_writes, changes_between_timestamps, meta_commits_with_data, gc_keeps_what_reads_can_see, erasing_a_timestamp_brings_back_what_it_hid, dictionary_interns_names, large_values_behave_like_small_ones, a_replacing_load_is_all_that_remains, a_large_unsorted_load_keeps_the_last_write_of_each_key, an_aborted_load_leaves_the_data_as_it_was, a_load_without_replace_writes_over_the_data, the_change_log_gives_what_walking_gives, the_change_log_restarts_after_a_load_and_keeps_to_its_budget, the_change_log_reports_a_collected_delete, keys_past_the_limits_are_refused_whole, concurrent_commits_all_land, a_bulk_load_finishes_with_its_meta_writes);
        $crate::conformance_tests!(@stores $fresh; digests_tell_histories_apart, an_import_makes_an_exact_copy, an_export_does_not_see_later_writes, an_aborted_or_dropped_import_leaves_the_store_as_it_was);
    };
    // Cases that need more than one store take the factory itself.
    (@stores $fresh:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let fresh = $fresh;
                $crate::conformance::$case(&fresh);
            }
        )*
    };
    (@cases $fresh:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let fresh = $fresh;
                $crate::conformance::$case(&fresh());
            }
        )*
    };
}

/// Checks that durable commits and the dictionary survive closing and reopening. `open`
/// opens the same store each time it is called.
pub fn run_durability(open: &dyn Fn() -> Store) {
    {
        let store = open();
        store
            .commit(
                5,
                &[Write::put(b"durable".to_vec(), b"yes".to_vec())],
                &[Write::put(b"m".to_vec(), b"1".to_vec())],
                true,
            )
            .unwrap();
        assert_eq!(store.predicate_id("name").unwrap(), 1);
        assert_eq!(store.predicate_id("friend").unwrap(), 2);
    }
    let store = open();
    assert_eq!(
        store.get_at(b"durable", 5).unwrap().as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(store.meta_get(b"m").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.lookup_predicate("friend"), Some(2));
    assert_eq!(store.predicate_name(1).as_deref(), Some("name"));
    assert_eq!(
        store.predicate_id("third").unwrap(),
        3,
        "new ids continue after the stored ones"
    );
    drop(store);

    // The change log survives reopening, and its entries keep their own numbers: a second
    // commit at the same timestamp adds an entry instead of replacing the first.
    for key in [&b"log/a"[..], b"log/b"] {
        let store = open();
        store
            .commit(6, &[Write::put(key.to_vec(), b"v".to_vec())], &[], true)
            .unwrap();
    }
    let store = open();
    assert!(logged(&store, b"log/", 5, 6));
    let keys: Vec<Vec<u8>> = store
        .snapshot()
        .changes(b"log/", 5, 6)
        .map(|c| c.unwrap().key)
        .collect();
    assert_eq!(keys, [b"log/a".to_vec(), b"log/b".to_vec()]);
    // A store that holds data but no log (written before there was one) starts its log at
    // its next commit.
    store
        .write_meta(&[Write::delete(b"\x01f".to_vec())], true)
        .unwrap();
    drop(store);
    let store = open();
    assert!(!logged(&store, b"", 5, 10));
    store
        .commit(
            20,
            &[Write::put(b"log/c".to_vec(), b"v".to_vec())],
            &[],
            true,
        )
        .unwrap();
    assert!(logged(&store, b"", 19, 20));
    assert!(!logged(&store, b"", 10, 20));
    drop(store);
    let store = open();
    assert!(logged(&store, b"", 19, 20), "the log's start is durable");
    assert!(!logged(&store, b"", 10, 20));
}

pub fn keys_past_the_limits_are_refused_whole(store: &Store) {
    use crate::{MAX_KEY_LEN, StorageError};
    // The longest key, of the bytes escaping doubles, fits the engine.
    let longest = vec![0u8; MAX_KEY_LEN];
    put(store, 2, &longest, b"v");
    assert_eq!(
        store.get_at(&longest, 2).unwrap().as_deref(),
        Some(&b"v"[..])
    );
    let too_long = vec![7u8; MAX_KEY_LEN + 1];
    let batch = [
        Write::put(b"ok".to_vec(), b"1".to_vec()),
        Write::put(too_long, b"x".to_vec()),
    ];
    assert!(matches!(
        store.commit(3, &batch, &[], false),
        Err(StorageError::TooLarge(m)) if m.contains("longer than")
    ));
    assert!(matches!(
        store.commit(3, &[], &[Write::put(Vec::new(), b"x".to_vec())], false),
        Err(StorageError::TooLarge(_))
    ));
    // Nothing of a refused batch was written.
    assert_eq!(store.get_at(b"ok", 3).unwrap(), None);
    let mut load = store.begin_load(4, false).unwrap();
    assert!(matches!(
        load.write(&[Write::put(vec![1u8; MAX_KEY_LEN + 1], b"x".to_vec())]),
        Err(StorageError::TooLarge(_))
    ));
    load.abort().unwrap();
}

fn put(store: &Store, ts: u64, key: &[u8], value: &[u8]) {
    store
        .commit(ts, &[Write::put(key.to_vec(), value.to_vec())], &[], false)
        .unwrap();
}

pub fn versions_are_read_at_their_timestamp(store: &Store) {
    put(store, 10, b"k", b"a");
    put(store, 20, b"k", b"b");
    store
        .commit(30, &[Write::delete(b"k".to_vec())], &[], false)
        .unwrap();
    put(store, 40, b"k", b"c");
    let at = |ts| store.get_at(b"k", ts).unwrap();
    assert_eq!(at(5), None);
    assert_eq!(at(10).as_deref(), Some(&b"a"[..]));
    assert_eq!(at(19).as_deref(), Some(&b"a"[..]));
    assert_eq!(at(20).as_deref(), Some(&b"b"[..]));
    assert_eq!(at(35), None, "a delete hides older versions");
    assert_eq!(at(u64::MAX).as_deref(), Some(&b"c"[..]));
    let v = store.snapshot().version_at(b"k", 33).unwrap().unwrap();
    assert_eq!((v.value, v.commit_ts), (None, 30));
    assert_eq!(store.get_at(b"other", 100).unwrap(), None);
    assert_eq!(store.get_at(b"", 100).unwrap(), None);
}

pub fn empty_values_and_keys_are_not_deletes(store: &Store) {
    put(store, 3, b"", b"empty key");
    put(store, 3, b"e", b"");
    assert_eq!(
        store.get_at(b"", 3).unwrap().as_deref(),
        Some(&b"empty key"[..])
    );
    assert_eq!(store.get_at(b"e", 3).unwrap().as_deref(), Some(&b""[..]));
    let big = vec![0xAB; 1 << 20];
    put(store, 4, b"big", &big);
    assert_eq!(store.get_at(b"big", 4).unwrap(), Some(big));
}

pub fn prefix_scans_are_exact_and_versioned(store: &Store) {
    // Keys with zero bytes and 0xFF bytes, and keys that are prefixes of others.
    let keys: [&[u8]; 7] = [
        b"p",
        b"p\x00",
        b"p\x00\x01",
        b"p\x01",
        b"pa",
        b"p\xff\xff",
        b"q",
    ];
    for (i, k) in keys.iter().enumerate() {
        put(store, 10 + i as u64, k, &[i as u8]);
    }
    store
        .commit(100, &[Write::delete(b"pa".to_vec())], &[], false)
        .unwrap();
    let scan = |prefix: &[u8], ts| -> Vec<Vec<u8>> {
        store
            .snapshot()
            .scan_prefix_at(prefix, ts)
            .map(|r| r.unwrap().0)
            .collect()
    };
    assert_eq!(
        scan(b"p", 99),
        keys[..6].iter().map(|k| k.to_vec()).collect::<Vec<_>>()
    );
    assert_eq!(
        scan(b"p\x00", 99),
        vec![b"p\x00".to_vec(), b"p\x00\x01".to_vec()]
    );
    assert_eq!(
        scan(b"p", 12),
        vec![b"p".to_vec(), b"p\x00".to_vec(), b"p\x00\x01".to_vec()]
    );
    assert!(
        !scan(b"p", 100).contains(&b"pa".to_vec()),
        "deleted keys are not scanned"
    );
    assert_eq!(scan(b"", 1000).len(), 6);
    let values: Vec<Vec<u8>> = store
        .snapshot()
        .scan_prefix_at(b"p\xff", 99)
        .map(|r| r.unwrap().1)
        .collect();
    assert_eq!(values, vec![vec![5u8]]);

    // A seek: the keys from `from` on, still bounded by the prefix and the timestamp.
    let seek = |prefix: &[u8], from: &[u8], ts| -> Vec<Vec<u8>> {
        store
            .snapshot()
            .scan_from_at(prefix, from, ts)
            .map(|r| r.unwrap().0)
            .collect()
    };
    assert_eq!(seek(b"p", b"p\x00", 99), scan(b"p", 99)[1..].to_vec());
    assert_eq!(
        seek(b"p", b"p\x00\x00", 99),
        vec![
            b"p\x00\x01".to_vec(),
            b"p\x01".to_vec(),
            b"pa".to_vec(),
            b"p\xff\xff".to_vec()
        ],
        "a seek between two keys starts at the next"
    );
    assert_eq!(
        seek(b"p", b"p\x01", 12),
        Vec::<Vec<u8>>::new(),
        "p\\x01 came at 13"
    );
    assert_eq!(seek(b"p", b"pb", 100), vec![b"p\xff\xff".to_vec()]);
    assert_eq!(
        seek(b"p", b"q", 100),
        Vec::<Vec<u8>>::new(),
        "the prefix bounds the end"
    );
    assert_eq!(
        seek(b"p", b"a", 99),
        scan(b"p", 99),
        "a seek before the prefix starts at it"
    );
}

pub fn snapshots_do_not_see_later_writes(store: &Store) {
    put(store, 10, b"s", b"old");
    let snap = store.snapshot();
    put(store, 20, b"s", b"new");
    put(store, 20, b"s2", b"new");
    assert_eq!(
        snap.get_at(b"s", 100).unwrap().as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(snap.get_at(b"s2", 100).unwrap(), None);
    assert_eq!(snap.scan_prefix_at(b"s", 100).count(), 1);
    assert_eq!(
        store.get_at(b"s", 100).unwrap().as_deref(),
        Some(&b"new"[..])
    );
}

pub fn changes_between_timestamps(store: &Store) {
    put(store, 10, b"c/a", b"a1");
    put(store, 10, b"c/b", b"b1");
    put(store, 10, b"c/c", b"c1");
    put(store, 20, b"c/a", b"a2");
    store
        .commit(25, &[Write::delete(b"c/b".to_vec())], &[], false)
        .unwrap();
    put(store, 40, b"c/c", b"c4");
    let snap = store.snapshot();
    // A write after the snapshot must not show up in it.
    put(store, 30, b"c/d", b"late");
    let changes = |since, read_ts| -> Vec<Change> {
        snap.changes(b"c/", since, read_ts)
            .map(Result::unwrap)
            .collect()
    };
    let full = changes(0, 30);
    assert_eq!(
        full,
        vec![
            Change {
                key: b"c/a".to_vec(),
                value: Some(b"a2".to_vec()),
                commit_ts: 20
            },
            Change {
                key: b"c/b".to_vec(),
                value: None,
                commit_ts: 25
            },
            Change {
                key: b"c/c".to_vec(),
                value: Some(b"c1".to_vec()),
                commit_ts: 10
            },
        ]
    );
    let incremental = changes(10, 30);
    assert_eq!(
        incremental
            .iter()
            .map(|c| c.key.clone())
            .collect::<Vec<_>>(),
        vec![b"c/a".to_vec(), b"c/b".to_vec()]
    );
    assert!(changes(30, 39).is_empty());
    assert_eq!(changes(30, 40).len(), 1);
}

pub fn meta_commits_with_data(store: &Store) {
    store
        .commit(
            7,
            &[Write::put(b"d".to_vec(), b"v".to_vec())],
            &[Write::put(b"pending/7".to_vec(), b"x".to_vec())],
            false,
        )
        .unwrap();
    assert_eq!(store.get_at(b"d", 7).unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(
        store.meta_get(b"pending/7").unwrap().as_deref(),
        Some(&b"x"[..])
    );
    store
        .write_meta(
            &[
                Write::delete(b"pending/7".to_vec()),
                Write::put(b"pending/8".to_vec(), b"y".to_vec()),
            ],
            false,
        )
        .unwrap();
    assert_eq!(store.meta_get(b"pending/7").unwrap(), None);
    let pending: Vec<_> = store
        .snapshot()
        .meta_scan_prefix(b"pending/")
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(pending, vec![b"pending/8".to_vec()]);
    assert_eq!(
        store.get_at(b"pending/8", u64::MAX).unwrap(),
        None,
        "meta is not data"
    );
}

pub fn gc_keeps_what_reads_can_see(store: &Store) {
    for ts in 1..=5 {
        put(store, ts * 10, b"g", &[ts as u8]);
    }
    store
        .commit(60, &[Write::delete(b"gone".to_vec())], &[], false)
        .unwrap();
    put(store, 55, b"gone", b"x");
    let before: Vec<_> = (30..=70)
        .map(|ts| store.get_at(b"g", ts).unwrap())
        .collect();
    let dropped = store.gc(35).unwrap();
    assert_eq!(
        dropped, 2,
        "versions 10 and 20 of g are invisible to reads at 35 and later"
    );
    let after: Vec<_> = (30..=70)
        .map(|ts| store.get_at(b"g", ts).unwrap())
        .collect();
    assert_eq!(
        before[5..],
        after[5..],
        "reads at or after 35 are unchanged"
    );
    assert_eq!(
        store.gc(65).unwrap(),
        4,
        "older g versions, and gone's delete with what it hides"
    );
    assert_eq!(store.get_at(b"g", 70).unwrap(), Some(vec![5]));
    assert_eq!(store.get_at(b"gone", 70).unwrap(), None);
    assert_eq!(store.gc(65).unwrap(), 0, "gc is idempotent");
}

pub fn erasing_a_timestamp_brings_back_what_it_hid(store: &Store) {
    put(store, 10, b"a", b"old a");
    put(store, 10, b"b", b"old b");
    store
        .commit(
            20,
            &[
                Write::delete(b"a".to_vec()),
                Write::put(b"b".to_vec(), b"new b".to_vec()),
                Write::put(b"c".to_vec(), b"new c".to_vec()),
            ],
            &[],
            false,
        )
        .unwrap();
    put(store, 30, b"d", b"later d");
    assert_eq!(store.get_at(b"a", 25).unwrap(), None);
    assert_eq!(store.erase_versions_at(20).unwrap(), 3);
    assert_eq!(store.get_at(b"a", 25).unwrap(), Some(b"old a".to_vec()));
    assert_eq!(store.get_at(b"b", 25).unwrap(), Some(b"old b".to_vec()));
    assert_eq!(store.get_at(b"c", 25).unwrap(), None);
    assert_eq!(
        store.get_at(b"d", 35).unwrap(),
        Some(b"later d".to_vec()),
        "other timestamps are untouched"
    );
    assert_eq!(store.erase_versions_at(20).unwrap(), 0);
}

/// Values large enough for an engine to keep apart from its keys (fjall's blob files): read
/// back, scanned, reported as changes only when changed, collected and erased like small ones.
pub fn large_values_behave_like_small_ones(store: &Store) {
    let big =
        |tag: u8, len: usize| -> Vec<u8> { (0..len).map(|i| tag ^ (i % 251) as u8).collect() };
    for i in 0..200u32 {
        let key = format!("L/{i:04}");
        put(
            store,
            10,
            key.as_bytes(),
            &big(i as u8, 600 + i as usize * 17),
        );
    }
    store.flush().unwrap();
    for i in (0..200u32).step_by(10) {
        let key = format!("L/{i:04}");
        put(store, 20, key.as_bytes(), &big(0xAA ^ i as u8, 4_000));
    }
    store.flush().unwrap();
    store
        .commit(25, &[Write::delete(b"L/0005".to_vec())], &[], false)
        .unwrap();
    assert_eq!(store.get_at(b"L/0010", 15).unwrap(), Some(big(10, 770)));
    assert_eq!(
        store.get_at(b"L/0010", 20).unwrap(),
        Some(big(0xAA ^ 10, 4_000))
    );
    assert_eq!(store.get_at(b"L/0005", 30).unwrap(), None);
    let snap = store.snapshot();
    let scanned: Vec<_> = snap.scan_prefix_at(b"L/", 30).map(Result::unwrap).collect();
    assert_eq!(scanned.len(), 199);
    assert_eq!(scanned[1].0, b"L/0001".to_vec());
    assert_eq!(scanned[1].1, big(1, 617));
    let changed: Vec<_> = snap.changes(b"L/", 10, 30).map(Result::unwrap).collect();
    assert_eq!(changed.len(), 21, "20 rewritten and one deleted");
    assert!(changed.iter().all(|c| c.commit_ts > 10));
    assert_eq!(changed[0].value, Some(big(0xAA, 4_000)));
    let deleted = changed.iter().find(|c| c.key == b"L/0005").unwrap();
    assert_eq!(deleted.value, None);
    let full: Vec<_> = snap.changes(b"L/", 0, 15).map(Result::unwrap).collect();
    assert_eq!(full.len(), 200);
    assert_eq!(full[199].value, Some(big(199, 600 + 199 * 17)));
    drop(snap);
    store.gc(30).unwrap();
    store.flush().unwrap();
    assert_eq!(
        store.get_at(b"L/0020", 30).unwrap(),
        Some(big(0xAA ^ 20, 4_000))
    );
    store.erase_versions_at(20).unwrap();
    assert_eq!(
        store.get_at(b"L/0020", 30).unwrap(),
        None,
        "gc dropped its older version"
    );
    assert_eq!(
        store.get_at(b"L/0021", 30).unwrap(),
        Some(big(21, 600 + 21 * 17))
    );
}

fn live(store: &Store, ts: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .snapshot()
        .scan_prefix_at(b"", ts)
        .map(Result::unwrap)
        .collect()
}

fn kv(key: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    (key.as_bytes().to_vec(), value.as_bytes().to_vec())
}

pub fn a_replacing_load_is_all_that_remains(store: &Store) {
    put(store, 10, b"a", b"old-a");
    put(store, 10, b"b", b"old-b");
    put(store, 12, b"b", b"newer-b");
    store.flush().unwrap();
    put(store, 14, b"c", b"old-c");
    let before = store.snapshot();
    let mut load = store.begin_load(20, true).unwrap();
    assert_eq!(load.ts(), 20);
    // Out of order, a key twice (the later write wins), and a delete.
    load.write(&[
        Write::put(b"z".to_vec(), b"first".to_vec()),
        Write::put(b"b".to_vec(), b"restored-b".to_vec()),
    ])
    .unwrap();
    load.write(&[
        Write::put(b"z".to_vec(), b"second".to_vec()),
        Write::delete(b"d".to_vec()),
        Write::put(b"".to_vec(), b"empty key".to_vec()),
    ])
    .unwrap();
    load.finish().unwrap();
    assert_eq!(
        live(store, 20),
        vec![
            kv("", "empty key"),
            kv("b", "restored-b"),
            kv("z", "second")
        ],
        "only what was loaded is there at the load's timestamp"
    );
    assert_eq!(store.get_at(b"d", 25).unwrap(), None);
    assert_eq!(
        before.get_at(b"a", 30).unwrap().as_deref(),
        Some(&b"old-a"[..]),
        "a snapshot taken before still reads what it saw"
    );
    drop(before);
    put(store, 30, b"a", b"after");
    store
        .commit(31, &[Write::delete(b"z".to_vec())], &[], false)
        .unwrap();
    store.flush().unwrap();
    assert_eq!(
        live(store, 40),
        vec![kv("", "empty key"), kv("a", "after"), kv("b", "restored-b")]
    );
    let changes: Vec<_> = store
        .snapshot()
        .changes(b"", 20, 40)
        .map(Result::unwrap)
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    // A second replacement replaces the first one's result in turn.
    let mut load = store.begin_load(50, true).unwrap();
    load.write(&[Write::put(b"q".to_vec(), b"q".to_vec())])
        .unwrap();
    load.finish().unwrap();
    assert_eq!(live(store, 60), vec![kv("q", "q")]);
}

pub fn a_large_unsorted_load_keeps_the_last_write_of_each_key(store: &Store) {
    // Enough bytes for the engine to sort and ingest several chunks: the second write
    // overlaps the first (the later wins), the third starts below what was ingested, and the
    // last starts above what the fourth ingested.
    let mib = |tag: u8| -> Vec<u8> { (0..1 << 20).map(|i| tag ^ (i % 253) as u8).collect() };
    put(store, 5, b"big/00", b"old");
    let mut load = store.begin_load(10, true).unwrap();
    let writes = |range: std::ops::Range<u8>, tag: u8| -> Vec<Write> {
        range
            .rev()
            .map(|i| Write::put(format!("big/{i:02}").into_bytes(), mib(tag ^ i)))
            .collect()
    };
    load.write(&writes(0..20, 1)).unwrap();
    load.write(&writes(10..30, 2)).unwrap();
    load.write(&[Write::put(b"big/05".to_vec(), b"small".to_vec())])
        .unwrap();
    let mut above = writes(40..75, 3);
    above.push(Write::delete(b"big/41".to_vec()));
    load.write(&above).unwrap();
    load.write(&[Write::put(b"big/90".to_vec(), b"tail".to_vec())])
        .unwrap();
    load.finish().unwrap();
    store.flush().unwrap();
    let got = live(store, 10);
    let keys: Vec<String> = got
        .iter()
        .map(|(k, _)| String::from_utf8(k.clone()).unwrap())
        .collect();
    let mut want: Vec<String> = (0..30)
        .chain(40..75)
        .chain([90])
        .filter(|&i| i != 41)
        .map(|i| format!("big/{i:02}"))
        .collect();
    want.sort();
    assert_eq!(keys, want);
    for (key, value) in got {
        let i: u8 = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
        let expected = match i {
            5 => b"small".to_vec(),
            90 => b"tail".to_vec(),
            0..10 => mib(1 ^ i),
            10..30 => mib(2 ^ i),
            _ => mib(3 ^ i),
        };
        assert!(value == expected, "big/{i:02} holds the wrong value");
    }
}

pub fn an_aborted_load_leaves_the_data_as_it_was(store: &Store) {
    put(store, 10, b"a", b"kept");
    store
        .commit(11, &[Write::delete(b"gone".to_vec())], &[], false)
        .unwrap();
    let before = live(store, 15);
    for replace in [true, false] {
        let mut load = store.begin_load(20, replace).unwrap();
        load.write(&[
            Write::put(b"a".to_vec(), b"loaded".to_vec()),
            Write::put(b"new".to_vec(), b"x".to_vec()),
        ])
        .unwrap();
        load.abort().unwrap();
        assert_eq!(live(store, 25), before, "replace: {replace}");
        assert_eq!(store.undo_unfinished_load().unwrap(), None);
    }
    put(store, 30, b"b", b"later");
    assert_eq!(live(store, 30).len(), 2);
}

pub fn a_load_without_replace_writes_over_the_data(store: &Store) {
    put(store, 10, b"a", b"old");
    put(store, 10, b"b", b"old");
    let mut load = store.begin_load(20, false).unwrap();
    load.write(&[
        Write::put(b"b".to_vec(), b"loaded".to_vec()),
        Write::put(b"c".to_vec(), b"loaded".to_vec()),
    ])
    .unwrap();
    load.finish().unwrap();
    assert_eq!(
        live(store, 20),
        vec![kv("a", "old"), kv("b", "loaded"), kv("c", "loaded")]
    );
    assert_eq!(
        store.get_at(b"b", 15).unwrap().as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(
        store.undo_unfinished_load().unwrap(),
        None,
        "the marker is gone"
    );

    // One cut off (the process stopped) is taken back by the undo the next open runs.
    let mut load = store.begin_load(30, false).unwrap();
    load.write(&[Write::put(b"a".to_vec(), b"cut off".to_vec())])
        .unwrap();
    std::mem::forget(load);
    assert_eq!(store.undo_unfinished_load().unwrap(), Some((30, 1)));
    assert_eq!(
        store.get_at(b"a", 40).unwrap().as_deref(),
        Some(&b"old"[..])
    );
}

fn logged(store: &Store, prefix: &[u8], since: u64, read_ts: u64) -> bool {
    store.snapshot().uses_change_log(prefix, since, read_ts)
}

/// `changes` against walking every key, for every pair of timestamps and a few prefixes.
fn same_changes(store: &Store, stamps: &[u64], expect_logged: impl Fn(u64, u64) -> bool) {
    let snap = store.snapshot();
    for &since in stamps {
        for &read_ts in stamps.iter().filter(|&&r| r >= since) {
            for prefix in [&b""[..], b"k/", b"k/1", b"none"] {
                let got: Vec<Change> = snap
                    .changes(prefix, since, read_ts)
                    .map(Result::unwrap)
                    .collect();
                let walked: Vec<Change> = snap
                    .changes_by_walking(prefix, since, read_ts)
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(got, walked, "prefix {prefix:?}, ({since}, {read_ts}]");
                if since > 0 {
                    assert_eq!(
                        logged(store, prefix, since, read_ts),
                        expect_logged(since, read_ts),
                        "the log's use for ({since}, {read_ts}]"
                    );
                }
            }
        }
    }
}

pub fn the_change_log_gives_what_walking_gives(store: &Store) {
    // A small deterministic mix of puts, rewrites and deletes over 40 keys and 12 commits,
    // some commits writing a key twice, with large values among them.
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut stamps = vec![0];
    for ts in (10..=120).step_by(10) {
        let writes: Vec<Write> = (0..8)
            .map(|_| {
                let key = format!("k/{}", next() % 40).into_bytes();
                match next() % 4 {
                    0 => Write::delete(key),
                    1 => Write::put(key, vec![b'x'; 600 + (next() % 100) as usize]),
                    _ => Write::put(key, format!("v{ts}").into_bytes()),
                }
            })
            .collect();
        store.commit(ts, &writes, &[], false).unwrap();
        stamps.push(ts);
        stamps.push(ts + 5);
        if ts == 60 {
            store.flush().unwrap();
        }
    }
    same_changes(store, &stamps, |_, _| true);
}

pub fn the_change_log_restarts_after_a_load_and_keeps_to_its_budget(store: &Store) {
    for ts in [10, 20, 30] {
        put(store, ts, format!("k/{ts}").as_bytes(), b"v");
    }
    let mut load = store.begin_load(40, false).unwrap();
    load.write(&[Write::put(b"k/loaded".to_vec(), b"l".to_vec())])
        .unwrap();
    load.finish().unwrap();
    for ts in [50, 60] {
        put(store, ts, format!("k/{ts}").as_bytes(), b"v");
    }
    // Since before the load: the log does not know what the load wrote, so every key is walked.
    same_changes(store, &[0, 15, 35, 40, 45, 55, 65], |since, _| since >= 40);
    let since_20: Vec<Vec<u8>> = store
        .snapshot()
        .changes(b"", 20, 65)
        .map(|c| c.unwrap().key)
        .collect();
    assert_eq!(
        since_20,
        [&b"k/30"[..], b"k/50", b"k/60", b"k/loaded"],
        "the load's key is among the changes"
    );

    // Past its budget the oldest entries go and the log starts later; what it can no longer
    // answer is walked.
    store.limit_change_log(40, u64::MAX);
    let stamps: Vec<u64> = (70..=200).step_by(10).collect();
    for &ts in &stamps {
        put(store, ts, format!("k/1{ts}").as_bytes(), b"v");
    }
    let oldest_logged = stamps
        .iter()
        .copied()
        .find(|&ts| logged(store, b"", ts, 210))
        .expect("recent commits are logged");
    assert!(oldest_logged > 70, "old entries went: {oldest_logged}");
    assert!(!logged(store, b"", 60, 210));
    same_changes(store, &[60, 100, 150, 190, 210], |since, _| {
        since >= oldest_logged
    });

    // A read that would take too much of the log walks instead.
    store.limit_change_log(40, 10);
    assert!(!logged(store, b"", 170, 210));
    // Each entry here is 10 bytes: one fits the limit, two do not.
    same_changes(store, &[170, 180, 190, 210], |since, read_ts| {
        stamps
            .iter()
            .filter(|&&ts| since < ts && ts <= read_ts)
            .count()
            <= 1
    });
}

pub fn the_change_log_reports_a_collected_delete(store: &Store) {
    put(store, 10, b"k/gone", b"v");
    store
        .commit(20, &[Write::delete(b"k/gone".to_vec())], &[], false)
        .unwrap();
    store.gc(25).unwrap();
    let changes: Vec<Change> = store
        .snapshot()
        .changes(b"", 15, 30)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        changes,
        [Change {
            key: b"k/gone".to_vec(),
            value: None,
            commit_ts: 20
        }],
        "a delete gc has collected still reaches an incremental taken since before it"
    );
}

pub fn dictionary_interns_names(store: &Store) {
    let a = store.predicate_id("name").unwrap();
    let b = store.predicate_id("friend").unwrap();
    assert_ne!(a, b);
    assert_eq!(store.predicate_id("name").unwrap(), a);
    assert_eq!(store.predicate_name(b).as_deref(), Some("friend"));
    assert_eq!(store.lookup_predicate("unknown"), None);
    // Names never appear in data keys: the dictionary lives in the meta space only.
    let unicode = store.predicate_id("名前").unwrap();
    assert_eq!(store.predicate_name(unicode).as_deref(), Some("名前"));
}

pub fn concurrent_commits_all_land(store: &Store) {
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            scope.spawn(move || {
                for i in 0..250u64 {
                    let key = format!("t{t}/{i}");
                    store
                        .commit(
                            1 + i,
                            &[Write::put(key.into_bytes(), i.to_be_bytes().to_vec())],
                            &[],
                            false,
                        )
                        .unwrap();
                }
                for i in 0..50 {
                    store.predicate_id(&format!("pred{i}")).unwrap();
                }
            });
        }
    });
    let snap = store.snapshot();
    for t in 0..4 {
        assert_eq!(
            snap.scan_prefix_at(format!("t{t}/").as_bytes(), u64::MAX)
                .count(),
            250
        );
    }
    let ids: std::collections::HashSet<u32> = (0..50)
        .map(|i| store.lookup_predicate(&format!("pred{i}")).unwrap())
        .collect();
    assert_eq!(ids.len(), 50, "racing interning gives one id per name");
}

// ---- bulk loads with meta, digests, export and import ----

pub fn a_bulk_load_finishes_with_its_meta_writes(store: &Store) {
    use crate::StorageError;
    let applied = |store: &Store| store.meta_get(b"raft/applied").unwrap();
    store
        .commit(
            10,
            &[Write::put(b"a".to_vec(), b"old".to_vec())],
            &[
                Write::put(b"raft/applied".to_vec(), b"10".to_vec()),
                Write::put(b"raft/old".to_vec(), b"x".to_vec()),
            ],
            true,
        )
        .unwrap();
    let mut recorded = b"10".to_vec();
    for (ts, replace) in [(20u64, true), (30, false)] {
        // Taken back: neither the data nor the meta record of the load is there.
        let mut load = store.begin_load(ts, replace).unwrap();
        load.write(&[Write::put(b"a".to_vec(), b"aborted".to_vec())])
            .unwrap();
        load.abort().unwrap();
        assert_eq!(applied(store), Some(recorded.clone()));
        // Refused meta takes the whole load back with it.
        let mut load = store.begin_load(ts, replace).unwrap();
        load.write(&[Write::put(b"a".to_vec(), b"refused".to_vec())])
            .unwrap();
        let refused = load.finish_with(&[
            Write::put(b"raft/applied".to_vec(), ts.to_string().into_bytes()),
            Write::put(Vec::new(), b"empty key".to_vec()),
        ]);
        assert!(
            matches!(refused, Err(StorageError::TooLarge(_))),
            "{refused:?}"
        );
        assert_eq!(applied(store), Some(recorded.clone()));
        assert_ne!(
            store.get_at(b"a", u64::MAX).unwrap().as_deref(),
            Some(&b"refused"[..]),
            "replace: {replace}"
        );
        assert_eq!(store.undo_unfinished_load().unwrap(), None);

        let mut load = store.begin_load(ts, replace).unwrap();
        load.write(&[Write::put(
            b"a".to_vec(),
            format!("loaded {ts}").into_bytes(),
        )])
        .unwrap();
        load.finish_with(&[
            Write::put(b"raft/applied".to_vec(), ts.to_string().into_bytes()),
            Write::delete(b"raft/old".to_vec()),
        ])
        .unwrap();
        recorded = ts.to_string().into_bytes();
        assert_eq!(applied(store), Some(recorded.clone()));
        assert_eq!(store.meta_get(b"raft/old").unwrap(), None);
        assert_eq!(
            store.get_at(b"a", ts).unwrap(),
            Some(format!("loaded {ts}").into_bytes()),
            "replace: {replace}"
        );
        assert_eq!(
            store.undo_unfinished_load().unwrap(),
            None,
            "the marker is gone"
        );
        store
            .write_meta(&[Write::put(b"raft/old".to_vec(), b"x".to_vec())], true)
            .unwrap();
    }
    // Without meta it is a plain finish.
    let mut load = store.begin_load(40, true).unwrap();
    load.write(&[Write::put(b"b".to_vec(), b"b".to_vec())])
        .unwrap();
    load.finish_with(&[]).unwrap();
    assert_eq!(applied(store).as_deref(), Some(&b"30"[..]));
    assert_eq!(live(store, 40), vec![kv("b", "b")]);
}

/// One fixed history, with `vary` choosing one difference: 0 none, 1 one value, 2 one
/// version's timestamp, 3 one delete more, 4 a put instead of a delete, 5 a version above 100,
/// 6 other meta only.
fn digest_history(store: &Store, vary: u8) {
    let big = |tag: u8| -> Vec<u8> { (0..3000).map(|i| tag ^ (i % 241) as u8).collect() };
    let value = if vary == 1 {
        b"B".to_vec()
    } else {
        b"b".to_vec()
    };
    store
        .commit(
            10,
            &[
                Write::put(b"a".to_vec(), b"a".to_vec()),
                Write::put(b"big".to_vec(), big(1)),
            ],
            &[],
            false,
        )
        .unwrap();
    store.flush().unwrap();
    let ts = if vary == 2 { 21 } else { 20 };
    store
        .commit(ts, &[Write::put(b"b".to_vec(), value)], &[], false)
        .unwrap();
    let mut third = vec![
        if vary == 4 {
            Write::put(b"a".to_vec(), Vec::new())
        } else {
            Write::delete(b"a".to_vec())
        },
        Write::put(b"big".to_vec(), big(2)),
    ];
    if vary == 3 {
        third.push(Write::delete(b"never".to_vec()));
    }
    store.commit(30, &third, &[], false).unwrap();
    if vary == 5 {
        store
            .commit(
                200,
                &[Write::put(b"b".to_vec(), b"late".to_vec())],
                &[],
                false,
            )
            .unwrap();
    }
    if vary == 6 {
        store
            .write_meta(&[Write::put(b"other".to_vec(), b"meta".to_vec())], false)
            .unwrap();
    }
}

pub fn digests_tell_histories_apart(fresh: &dyn Fn() -> Store) {
    let digest = |store: &Store, ts: u64| store.snapshot().digest(ts).unwrap();
    let empty = digest(&fresh(), u64::MAX);
    assert_eq!(empty.versions, 0);
    assert_eq!(empty.sha256.len(), 64);
    let base = fresh();
    digest_history(&base, 0);
    let same = fresh();
    digest_history(&same, 0);
    for ts in [0, 10, 15, 20, 25, 30, 100, u64::MAX] {
        assert_eq!(digest(&base, ts), digest(&same, ts), "at {ts}");
    }
    assert_eq!(digest(&base, 0), empty, "nothing at or below 0");
    assert_eq!(digest(&base, 15).versions, 2);
    assert_eq!(digest(&base, 30).versions, 5);
    assert_ne!(digest(&base, 15), digest(&base, 20));
    for (vary, what) in [
        (1, "one value"),
        (2, "one version's timestamp"),
        (3, "one tombstone more"),
        (4, "a put where a delete was"),
    ] {
        let other = fresh();
        digest_history(&other, vary);
        assert_eq!(
            digest(&base, 15),
            digest(&other, 15),
            "{what}: equal before it"
        );
        assert_ne!(
            digest(&base, 30),
            digest(&other, 30),
            "{what}: differs at 30"
        );
        assert_ne!(digest(&base, u64::MAX), digest(&other, u64::MAX), "{what}");
    }
    let later = fresh();
    digest_history(&later, 5);
    assert_eq!(
        digest(&base, 100),
        digest(&later, 100),
        "a version above read_ts is not covered"
    );
    assert_ne!(digest(&base, 200), digest(&later, 200));
    let meta = fresh();
    digest_history(&meta, 6);
    assert_eq!(
        digest(&base, u64::MAX),
        digest(&meta, u64::MAX),
        "meta entries are not covered"
    );
    // Where a key ends and its value starts is part of what is hashed.
    let (x, y) = (fresh(), fresh());
    put(&x, 1, b"ab", b"c");
    put(&y, 1, b"a", b"bc");
    assert_ne!(digest(&x, 1), digest(&y, 1));
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything an export yields: (data, meta).
fn exported(export: &Export) -> (Entries, Entries) {
    (
        export.data().map(Result::unwrap).collect(),
        export.meta().map(Result::unwrap).collect(),
    )
}

/// An import into `store`, or `None` when its engine refuses imports (TiKV, which must say
/// why).
fn importer(store: &Store) -> Option<Import> {
    match store.begin_import() {
        Ok(import) => Some(import),
        Err(e) => {
            assert_eq!(store.engine_name(), "tikv", "only TiKV may refuse: {e}");
            assert!(e.to_string().contains("not supported"), "{e}");
            None
        }
    }
}

/// Gives `import` the export's data, `chunk` entries a call, the calls in reverse key order
/// when `reversed`.
fn feed(import: &mut Import, export: &Export, chunk: usize, reversed: bool) {
    let data: Entries = export.data().map(Result::unwrap).collect();
    let mut chunks: Vec<Entries> = data.chunks(chunk).map(<[_]>::to_vec).collect();
    if reversed {
        chunks.reverse();
    }
    for chunk in chunks {
        import.data(chunk).unwrap();
    }
}

fn big_value(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag ^ (i % 239) as u8).collect()
}

/// The store an import copies: several versions per key, deletes, values large enough for
/// fjall's blob files, two commits at one timestamp, interned predicates, a change log and
/// meta keys of all kinds.
fn fill_source(store: &Store) {
    for name in ["name", "friend", "名前"] {
        store.predicate_id(name).unwrap();
    }
    store
        .commit(
            10,
            &[
                Write::put(b"k/a".to_vec(), b"a1".to_vec()),
                Write::put(b"k/b".to_vec(), big_value(1, 700)),
                Write::put(b"k/c".to_vec(), b"c1".to_vec()),
                Write::put(b"k/\x00z".to_vec(), Vec::new()),
            ],
            &[
                Write::put(b"raft/applied".to_vec(), b"10".to_vec()),
                Write::put(b"x\x00y".to_vec(), big_value(9, 900)),
            ],
            false,
        )
        .unwrap();
    store.flush().unwrap();
    store
        .commit(
            20,
            &[
                Write::put(b"k/a".to_vec(), b"a2".to_vec()),
                Write::delete(b"k/c".to_vec()),
                Write::put(b"k/d".to_vec(), big_value(2, 5000)),
            ],
            &[],
            false,
        )
        .unwrap();
    put(store, 20, b"k/e", b"a second commit at 20");
    store
        .commit(
            30,
            &[
                Write::delete(b"k/a".to_vec()),
                Write::put(b"k/b".to_vec(), big_value(3, 512)),
            ],
            &[Write::put(b"raft/applied".to_vec(), b"30".to_vec())],
            false,
        )
        .unwrap();
    store.flush().unwrap();
    put(store, 40, b"k/a", b"back");
    put(store, 40, b"other/x", b"x");
    store.predicate_id("later").unwrap();
    store.sync().unwrap();
}

/// A store holding other data and meta, with more predicates and more commits than
/// [`fill_source`]'s, so that nothing of it may survive an import unnoticed.
fn fill_other(store: &Store) {
    for name in ["zzz", "other", "third", "fourth", "fifth", "sixth"] {
        store.predicate_id(name).unwrap();
    }
    for ts in 1..=30u64 {
        store
            .commit(
                ts,
                &[
                    Write::put(b"k/a".to_vec(), format!("other {ts}").into_bytes()),
                    Write::put(format!("b/{ts}").into_bytes(), big_value(ts as u8, 800)),
                ],
                &[Write::put(
                    format!("stale/{ts}").into_bytes(),
                    b"x".to_vec(),
                )],
                false,
            )
            .unwrap();
    }
    store
        .commit(35, &[Write::delete(b"b/3".to_vec())], &[], false)
        .unwrap();
    store.flush().unwrap();
}

const STAMPS: [u64; 11] = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, u64::MAX];

/// What `changes` answers, and whether from the log, for every pair of [`STAMPS`] and a few
/// prefixes.
fn all_changes(snap: &Snapshot) -> Vec<(Vec<Change>, bool)> {
    let mut out = Vec::new();
    for since in STAMPS {
        for read_ts in STAMPS.into_iter().filter(|&r| r >= since) {
            for prefix in [&b""[..], b"k/", b"k/a", b"b/"] {
                out.push((
                    snap.changes(prefix, since, read_ts)
                        .map(Result::unwrap)
                        .collect(),
                    since > 0 && snap.uses_change_log(prefix, since, read_ts),
                ));
            }
        }
    }
    out
}

/// Asserts that `b` answers as `a` does: export, dictionary, changes, digests.
fn assert_same_store(a: &Store, b: &Store) {
    let (a_data, a_meta) = exported(&a.export());
    let (b_data, b_meta) = exported(&b.export());
    assert!(a_data == b_data, "the data spaces differ");
    assert!(a_meta == b_meta, "the meta spaces differ");
    for name in ["name", "friend", "名前", "later", "zzz", "sixth", "unknown"] {
        assert_eq!(a.lookup_predicate(name), b.lookup_predicate(name), "{name}");
    }
    for id in 0..10 {
        assert_eq!(a.predicate_name(id), b.predicate_name(id), "id {id}");
    }
    let (a_snap, b_snap) = (a.snapshot(), b.snapshot());
    assert!(
        all_changes(&a_snap) == all_changes(&b_snap),
        "changes differ"
    );
    for ts in STAMPS {
        assert_eq!(
            a_snap.digest(ts).unwrap(),
            b_snap.digest(ts).unwrap(),
            "digest at {ts}"
        );
    }
}

pub fn an_import_makes_an_exact_copy(fresh: &dyn Fn() -> Store) {
    let (a, b) = (fresh(), fresh());
    fill_source(&a);
    fill_other(&b);
    let Some(mut import) = importer(&b) else {
        return;
    };
    let b_before = b.snapshot();
    let export = a.export();
    let (a_data, a_meta) = exported(&export);
    assert!(
        a_data.iter().any(|(_, v)| v.len() > 512) && a_data.len() == 12,
        "the export holds large values and every version"
    );
    // Until the finish, the store is as it was.
    feed(&mut import, &export, 3, false);
    assert_eq!(b.lookup_predicate("zzz"), Some(1));
    assert_eq!(
        b.get_at(b"k/a", 30).unwrap().as_deref(),
        Some(&b"other 30"[..])
    );
    import.finish(a_meta.clone()).unwrap();
    assert!(
        exported(&b.export()) == (a_data, a_meta),
        "the copy is entry for entry"
    );
    assert_same_store(&a, &b);
    assert_eq!(
        b.lookup_predicate("zzz"),
        None,
        "the old dictionary is gone"
    );
    assert_eq!(b.meta_get(b"stale/1").unwrap(), None);
    assert_eq!(b.get_at(b"k/a", 15).unwrap().as_deref(), Some(&b"a1"[..]));
    assert_eq!(b.get_at(b"k/a", 35).unwrap(), None);
    assert_eq!(b.get_at(b"k/b", 35).unwrap(), Some(big_value(3, 512)));
    assert_eq!(
        b_before.get_at(b"k/a", 30).unwrap().as_deref(),
        Some(&b"other 30"[..]),
        "a snapshot taken before reads what it saw"
    );
    assert_eq!(
        b_before.meta_get(b"stale/1").unwrap().as_deref(),
        Some(&b"x"[..])
    );
    drop(b_before);
    // Both go on alike: the same commits and a new name give the same store.
    for store in [&a, &b] {
        store
            .commit(
                50,
                &[
                    Write::put(b"k/new".to_vec(), big_value(5, 2000)),
                    Write::delete(b"k/e".to_vec()),
                ],
                &[Write::put(b"raft/applied".to_vec(), b"50".to_vec())],
                true,
            )
            .unwrap();
        put(store, 50, b"k/a", b"again");
    }
    let id = a.predicate_id("brand new").unwrap();
    assert_eq!(b.predicate_id("brand new").unwrap(), id);
    assert_same_store(&a, &b);
    let since: Vec<Vec<u8>> = b
        .snapshot()
        .changes(b"", 45, 50)
        .map(|c| c.unwrap().key)
        .collect();
    assert_eq!(since, [&b"k/a"[..], b"k/e", b"k/new"]);
    assert!(logged(&b, b"", 45, 50), "the copy's change log goes on");
}

pub fn an_export_does_not_see_later_writes(fresh: &dyn Fn() -> Store) {
    let a = fresh();
    fill_source(&a);
    let expected = exported(&a.export());
    let export = a.export();
    // Part of it read before the writes, the rest after.
    let mut data = export.data();
    let mut seen: Entries = data.by_ref().take(3).map(Result::unwrap).collect();
    put(&a, 40, b"k/a", b"rewritten at the same timestamp");
    put(&a, 60, b"k/0", b"late, first in key order");
    put(&a, 60, b"k/zz", b"late, last in key order");
    a.write_meta(
        &[
            Write::put(b"raft/applied".to_vec(), b"60".to_vec()),
            Write::delete(b"x\x00y".to_vec()),
            Write::put(b"late".to_vec(), b"meta".to_vec()),
        ],
        true,
    )
    .unwrap();
    a.predicate_id("late predicate").unwrap();
    a.gc(u64::MAX).unwrap();
    // Even a replacement of the whole data space.
    let mut load = a.begin_load(70, true).unwrap();
    load.write(&[Write::put(b"replaced".to_vec(), b"all".to_vec())])
        .unwrap();
    load.finish().unwrap();
    a.flush().unwrap();
    seen.extend(data.map(Result::unwrap));
    assert!(
        seen == expected.0,
        "the data the export yields is as it was"
    );
    let (data, meta) = exported(&export);
    assert!(
        data == expected.0 && meta == expected.1,
        "and so on every read"
    );
    assert!(
        !data
            .iter()
            .any(|(k, _)| k.starts_with(b"k/0") || k.starts_with(b"k/zz"))
    );
    assert!(!meta.iter().any(|(k, _)| k == b"late"));
    // A copy taken from it, given in reverse order, is the store as it was.
    let c = fresh();
    fill_other(&c);
    let Some(mut import) = importer(&c) else {
        return;
    };
    feed(&mut import, &export, 2, true);
    import.finish(meta.clone()).unwrap();
    assert!(exported(&c.export()) == (data, meta));
    assert_eq!(
        c.get_at(b"k/a", u64::MAX).unwrap().as_deref(),
        Some(&b"back"[..])
    );
    assert_eq!(c.lookup_predicate("late predicate"), None);
    assert_eq!(c.lookup_predicate("later"), a.lookup_predicate("later"));
}

pub fn an_aborted_or_dropped_import_leaves_the_store_as_it_was(fresh: &dyn Fn() -> Store) {
    let (a, b) = (fresh(), fresh());
    fill_source(&a);
    fill_other(&b);
    let before = exported(&b.export());
    let changes_before = all_changes(&b.snapshot());
    let export = a.export();
    let (_, a_meta) = exported(&export);
    let check = |how: &str| {
        assert!(exported(&b.export()) == before, "{how}: the store changed");
        assert!(all_changes(&b.snapshot()) == changes_before, "{how}");
        assert_eq!(b.lookup_predicate("zzz"), Some(1), "{how}");
        assert_eq!(b.lookup_predicate("name"), None, "{how}");
    };
    let Some(mut import) = importer(&b) else {
        return;
    };
    feed(&mut import, &export, 4, false);
    import.abort().unwrap();
    check("aborted");
    let mut import = importer(&b).unwrap();
    feed(&mut import, &export, 4, false);
    drop(import);
    check("dropped");
    // A meta entry the store refuses throws the import away.
    let mut import = importer(&b).unwrap();
    feed(&mut import, &export, 4, false);
    let mut bad_meta = a_meta.clone();
    bad_meta.push((Vec::new(), b"empty key".to_vec()));
    assert!(import.finish(bad_meta).is_err());
    check("refused meta");
    // Entries that are no versions are refused.
    let mut import = importer(&b).unwrap();
    for bad in [
        (b"no version".to_vec(), vec![crate::mvcc::PUT]),
        (crate::mvcc::version_key(b"k", 1), vec![7, 7]),
        (crate::mvcc::version_key(b"k", 1), Vec::new()),
    ] {
        assert!(import.data(vec![bad]).is_err());
    }
    import.abort().unwrap();
    check("refused data");
    // And the store works on, and can still import.
    put(&b, 40, b"k/after", b"x");
    let mut import = importer(&b).unwrap();
    feed(&mut import, &export, 100, false);
    import.finish(a_meta).unwrap();
    assert_same_store(&a, &b);
}
