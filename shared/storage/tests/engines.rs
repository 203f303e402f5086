//! Every engine runs the one conformance suite, one test per case
//! ([`lodestar_storage::conformance_tests`]).

use lodestar_storage::{Store, Write, conformance};

mod memory {
    lodestar_storage::conformance_tests!(lodestar_storage::Store::in_memory);
}

mod fjall_engine {
    // Each test's stores keep their directories until the test ends.
    lodestar_storage::conformance_tests!({
        let dirs = std::sync::Mutex::new(Vec::new());
        move || {
            let dir = tempfile::tempdir().unwrap();
            let store = lodestar_storage::Store::open(dir.path()).unwrap();
            dirs.lock().unwrap().push(dir);
            store
        }
    });
}

#[test]
fn fjall_engine_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_durability(&|| Store::open(dir.path()).unwrap());
}

fn live(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .snapshot()
        .scan_prefix_at(b"", u64::MAX)
        .map(Result::unwrap)
        .collect()
}

/// Leaves a data keyspace named `name` holding an entry that is no valid version (a scan that
/// met it would fail), as a crash in the middle of a replacement would leave one.
fn leave_keyspace(dir: &std::path::Path, name: &str) {
    let db = fjall::Database::builder(dir).open().unwrap();
    let ks = db
        .keyspace(name, fjall::KeyspaceCreateOptions::default)
        .unwrap();
    ks.insert("junk", "junk").unwrap();
    db.persist(fjall::PersistMode::SyncAll).unwrap();
}

#[test]
fn fjall_replacements_survive_reopening_and_crashes_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .commit(
                10,
                &[Write::put(b"kept".to_vec(), b"1".to_vec())],
                &[],
                true,
            )
            .unwrap();
    }
    // Cut off before the switch: the next generation is thrown away.
    leave_keyspace(dir.path(), "data-1");
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(live(&store), vec![(b"kept".to_vec(), b"1".to_vec())]);
        let mut load = store.begin_load(20, true).unwrap();
        load.write(&[Write::put(b"loaded".to_vec(), b"2".to_vec())])
            .unwrap();
        load.finish().unwrap();
    }
    {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let mut names: Vec<String> = db
            .list_keyspace_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["data-1", "engine", "meta"],
            "one data generation is left"
        );
    }
    // Cut off after the switch, before the old generation was deleted.
    leave_keyspace(dir.path(), "data");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(live(&store), vec![(b"loaded".to_vec(), b"2".to_vec())]);
    store
        .commit(
            30,
            &[Write::put(b"after".to_vec(), b"3".to_vec())],
            &[],
            true,
        )
        .unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(live(&store).len(), 2);
}

/// The TiKV engine runs the same suite against the cluster whose PD endpoints (comma
/// separated) are in `TIKV_PD_ENDPOINTS`, each store under a namespace of its own.
#[cfg(feature = "tikv")]
#[test]
fn tikv_engine_conforms() {
    let Some(endpoints) = std::env::var("TIKV_PD_ENDPOINTS")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED, the suite's one allowed skip: the TiKV conformance run needs a TiKV \
             cluster, which cannot run on this machine; set TIKV_PD_ENDPOINTS (for example \
             127.0.0.1:2379) to a cluster's PD endpoints to run it"
        );
        return;
    };
    let endpoints: Vec<String> = endpoints.split(',').map(|e| e.trim().to_string()).collect();
    let run = format!(
        "conformance-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let n = std::sync::atomic::AtomicUsize::new(0);
    conformance::run(&|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Store::open_tikv(&endpoints, format!("{run}-{i}").as_bytes()).unwrap()
    });
    let durable = format!("{run}-durable");
    conformance::run_durability(&|| Store::open_tikv(&endpoints, durable.as_bytes()).unwrap());
}

#[cfg(feature = "tikv")]
#[test]
fn tikv_engine_reports_an_unreachable_cluster() {
    // Nothing listens on port 1: the store refuses to open and names the endpoint.
    let err = Store::open_tikv(&["127.0.0.1:1".to_string()], b"x").unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[cfg(not(feature = "tikv"))]
#[test]
fn tikv_engine_conforms() {
    eprintln!(
        "SKIPPED, the suite's one allowed skip: the TiKV conformance run is built with the \
         `tikv` feature only (cargo test -p lodestar-storage --features tikv, with \
         TIKV_PD_ENDPOINTS set to a TiKV cluster's PD endpoints)"
    );
}

/// Every entry a store exports: (data, meta).
type Exported = (Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Vec<u8>)>);

fn exported(store: &Store) -> Exported {
    let export = store.export();
    (
        export.data().map(Result::unwrap).collect(),
        export.meta().map(Result::unwrap).collect(),
    )
}

/// Bytes of every file under `dir`.
fn disk_usage(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                disk_usage(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// The keyspaces of the fjall database in `dir`, and how many keyspace folders it holds.
fn keyspaces(dir: &std::path::Path) -> (Vec<String>, usize) {
    let folders = std::fs::read_dir(dir.join("keyspaces")).unwrap().count();
    let db = fjall::Database::builder(dir).open().unwrap();
    let mut names: Vec<String> = db
        .list_keyspace_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    names.sort();
    (names, folders)
}

#[test]
fn fjall_imports_survive_reopening_and_interrupted_ones_leave_nothing_behind() {
    let (source_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = Store::open(source_dir.path()).unwrap();
    for name in ["name", "friend"] {
        source.predicate_id(name).unwrap();
    }
    // About 4 MiB of values fjall keeps in blob files, in two versions, and deletes.
    for ts in [10u64, 20] {
        let writes: Vec<Write> = (0..200u32)
            .map(|i| {
                let key = format!("big/{i:03}").into_bytes();
                if ts == 20 && i % 7 == 0 {
                    Write::delete(key)
                } else {
                    Write::put(key, vec![(i as u8) ^ (ts as u8); 10_000 + i as usize])
                }
            })
            .collect();
        source
            .commit(
                ts,
                &writes,
                &[Write::put(
                    b"raft/applied".to_vec(),
                    ts.to_be_bytes().to_vec(),
                )],
                true,
            )
            .unwrap();
        source.flush().unwrap();
    }
    let wanted = exported(&source);
    {
        let store = Store::open(dir.path()).unwrap();
        store.predicate_id("mine").unwrap();
        store
            .commit(
                5,
                &[Write::put(b"mine".to_vec(), b"old".to_vec())],
                &[Write::put(b"stale".to_vec(), b"meta".to_vec())],
                true,
            )
            .unwrap();
    }
    let before = {
        let store = Store::open(dir.path()).unwrap();
        exported(&store)
    };
    assert_eq!(keyspaces(dir.path()).0, ["data", "engine", "meta"]);
    let usage = disk_usage(dir.path());

    // Imports interrupted before their finish, with the process state dropped (the import,
    // then the store): each reopening finds the old store and no trace of the import.
    for round in 0..3 {
        {
            let store = Store::open(dir.path()).unwrap();
            let mut import = store.begin_import().unwrap();
            let export = source.export();
            let data: Vec<_> = export.data().map(Result::unwrap).collect();
            for chunk in data.chunks(50) {
                import.data(chunk.to_vec()).unwrap();
            }
            drop(import);
            drop(store);
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(exported(&store) == before, "round {round}: the old store");
        assert_eq!(store.lookup_predicate("mine"), Some(1));
        drop(store);
        // The abandoned keyspace held the highest id: one empty fence keeps it.
        let (names, folders) = keyspaces(dir.path());
        assert_eq!(names.len(), 4, "round {round}: {names:?}");
        assert!(names[2].starts_with("fence-"), "round {round}: {names:?}");
        assert_eq!(
            folders, 5,
            "round {round}: the fjall meta keyspace and four"
        );
        let now = disk_usage(dir.path());
        assert!(
            now < usage + (1 << 20),
            "round {round}: the directory grew from {usage} to {now} bytes"
        );
    }

    // A finished import is what the store holds after reopening, alone.
    {
        let store = Store::open(dir.path()).unwrap();
        let mut import = store.begin_import().unwrap();
        let export = source.export();
        let data: Vec<_> = export.data().map(Result::unwrap).collect();
        for chunk in data.chunks(64) {
            import.data(chunk.to_vec()).unwrap();
        }
        import
            .finish(export.meta().map(Result::unwrap).collect())
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(
        exported(&store) == wanted,
        "the imported copy, entry for entry"
    );
    assert_eq!(store.meta_get(b"stale").unwrap(), None);
    assert_eq!(store.lookup_predicate("mine"), None);
    assert_eq!(store.lookup_predicate("friend"), Some(2));
    assert_eq!(store.predicate_id("third").unwrap(), 3);
    for ts in [5, 10, 15, 20, u64::MAX] {
        assert_eq!(
            store.snapshot().digest(ts).unwrap(),
            source.snapshot().digest(ts).unwrap()
        );
    }
    drop(store);
    let (names, _) = keyspaces(dir.path());
    assert_eq!(
        names,
        ["data-1", "engine", "meta"],
        "one data generation is left"
    );
}

#[test]
fn fjall_a_restore_after_an_aborted_one_survives_reopening() {
    // The aborted load's keyspace held the newest keyspace id: the next session's load must
    // not be given that id again (fjall would lose it at the following open).
    let dir = tempfile::tempdir().unwrap();
    for round in 0..2u64 {
        let store = Store::open(dir.path()).unwrap();
        let mut load = store.begin_load(10 + round, true).unwrap();
        load.write(&[Write::put(b"aborted".to_vec(), vec![1; 1000])])
            .unwrap();
        load.abort().unwrap();
    }
    {
        let store = Store::open(dir.path()).unwrap();
        let mut load = store.begin_load(20, true).unwrap();
        load.write(&[Write::put(b"restored".to_vec(), vec![2; 1000])])
            .unwrap();
        load.finish_with(&[Write::put(b"applied".to_vec(), b"20".to_vec())])
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(live(&store), vec![(b"restored".to_vec(), vec![2; 1000])]);
    assert_eq!(
        store.meta_get(b"applied").unwrap().as_deref(),
        Some(&b"20"[..])
    );
}
