//! The alpha's schema: predicate definitions and types, kept in memory and stored as versions
//! under schema and type keys (so that a backup at a timestamp carries the schema of then).

use lodestar_storage::{Snapshot, StorageError, Store, Write, keys};
use lodestar_types::schema::{PredicateSchema, TypeDef};
use std::collections::BTreeMap;

/// Dictionary names of types live beside predicate names; a NUL keeps them apart.
pub fn type_dict_name(name: &str) -> String {
    format!("\0type:{name}")
}

/// Dictionary names of language tags.
pub fn lang_dict_name(lang: &str) -> String {
    format!("\0lang:{lang}")
}

/// Predicates and types as of the newest alter.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub preds: BTreeMap<String, PredicateSchema>,
    pub types: BTreeMap<String, TypeDef>,
}

impl Schema {
    /// Loads the schema stored in `snap` at `ts`.
    pub fn load(store: &Store, snap: &Snapshot, ts: u64) -> Result<Schema, StorageError> {
        let mut schema = Schema::default();
        for item in snap.scan_prefix_at(&[keys::KeyKind::Schema as u8], ts) {
            let (_, raw) = item?;
            let p: PredicateSchema = serde_json::from_slice(&raw)
                .map_err(|e| StorageError::Corrupt(format!("stored predicate schema: {e}")))?;
            schema.preds.insert(p.name.clone(), p);
        }
        for item in snap.scan_prefix_at(&[keys::KeyKind::Type as u8], ts) {
            let (_, raw) = item?;
            let t: TypeDef = serde_json::from_slice(&raw)
                .map_err(|e| StorageError::Corrupt(format!("stored type: {e}")))?;
            schema.types.insert(t.name.clone(), t);
        }
        let _ = store;
        Ok(schema)
    }

    /// The write that stores `p` (its name must be interned: see `Graph::intern`).
    pub fn pred_write(store: &Store, p: &PredicateSchema) -> Result<Write, StorageError> {
        Ok(Write::put(
            keys::schema_key(interned(store, &p.name)?),
            serde_json::to_vec(p).expect("schema serializes"),
        ))
    }

    pub fn pred_delete(store: &Store, name: &str) -> Result<Write, StorageError> {
        Ok(Write::delete(keys::schema_key(interned(store, name)?)))
    }

    pub fn type_write(store: &Store, t: &TypeDef) -> Result<Write, StorageError> {
        Ok(Write::put(
            keys::type_key(interned(store, &type_dict_name(&t.name))?),
            serde_json::to_vec(t).expect("type serializes"),
        ))
    }

    pub fn type_delete(store: &Store, name: &str) -> Result<Write, StorageError> {
        Ok(Write::delete(keys::type_key(interned(
            store,
            &type_dict_name(name),
        )?)))
    }

    /// The reserved `dgraph.*` predicates and types this schema lacks.
    pub fn missing_reserved(&self) -> (Vec<PredicateSchema>, Vec<TypeDef>) {
        let r = lodestar_types::schema::reserved::reserved();
        let preds = r
            .predicates
            .iter()
            .filter(|p| !self.preds.contains_key(&p.name))
            .cloned()
            .collect();
        let types = r
            .types
            .iter()
            .filter(|t| !self.types.contains_key(&t.name))
            .cloned()
            .collect();
        (preds, types)
    }
}

/// The interned id of `name`. Ids are handed out only while a replica applies its group's log
/// (so every replica numbers names alike); a name written without one is a bug.
fn interned(store: &Store, name: &str) -> Result<u32, StorageError> {
    store.lookup_predicate(name).ok_or_else(|| {
        StorageError::Corrupt(format!(
            "{name:?} has no interned id: names are interned before they are written"
        ))
    })
}
