//! Every engine runs the one conformance suite.

use lodestar_storage::{Store, conformance};

#[test]
fn memory_engine_conforms() {
    conformance::run(&Store::in_memory);
}

#[test]
fn fjall_engine_conforms() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::run(&|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        dirs.lock().unwrap().push(dir);
        store
    });
}

#[test]
fn fjall_engine_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_durability(&|| Store::open(dir.path()).unwrap());
}
