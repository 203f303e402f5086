//! Reading and writing a location's manifests: the master `manifest.json` (replaced through
//! `manifest_tmp.json`), the per-folder manifests v20.11 wrote, and which listed files are gone.

use opendal::{ErrorKind, Operator};

use super::{MANIFEST_FILE, MANIFEST_TMP_FILE, Manifest, MasterManifest};

/// Why a manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The store failed to read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: String,
        /// The store's error.
        source: opendal::Error,
    },
    /// The store failed to write, rename, copy or delete.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The store's error.
        source: opendal::Error,
    },
    /// The master manifest could not be encoded (nothing was written).
    #[error("cannot encode the master manifest: {0}")]
    Encode(serde_json::Error),
    /// A manifest is not valid JSON of the expected shape.
    #[error("manifest {path} does not parse: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Reads the location's master manifest. Without `manifest.json`, gathers the per-folder
/// `*/manifest.json` files v20.11 wrote (sorted by folder, `path` set from it); an empty
/// location gives an empty master. Entries come back normalized.
pub async fn read_master(op: &Operator) -> Result<MasterManifest, ManifestError> {
    match op.read(MANIFEST_FILE).await {
        Ok(buf) => {
            MasterManifest::from_json(&buf.to_vec()).map_err(|source| ManifestError::Parse {
                path: MANIFEST_FILE.to_string(),
                source,
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => read_folder_manifests(op).await,
        Err(source) => Err(ManifestError::Read {
            path: MANIFEST_FILE.to_string(),
            source,
        }),
    }
}

async fn read_folder_manifests(op: &Operator) -> Result<MasterManifest, ManifestError> {
    let entries = match op.list("/").await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(MasterManifest::default()),
        Err(source) => {
            return Err(ManifestError::Read {
                path: "/".to_string(),
                source,
            });
        }
    };
    let mut folders: Vec<String> = entries
        .iter()
        .filter(|e| e.metadata().is_dir())
        .map(|e| e.path().trim_matches('/').to_string())
        .filter(|p| !p.is_empty() && !p.contains('/'))
        .collect();
    folders.sort();
    folders.dedup();
    let mut master = MasterManifest::default();
    for folder in folders {
        let path = format!("{folder}/{MANIFEST_FILE}");
        let bytes = match op.read(&path).await {
            Ok(buf) => buf.to_vec(),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(source) => return Err(ManifestError::Read { path, source }),
        };
        let mut entry: Manifest = serde_json::from_slice(&bytes)
            .map_err(|source| ManifestError::Parse { path, source })?;
        entry.path = folder;
        entry.normalize();
        master.manifests.push(entry);
    }
    Ok(master)
}

/// Appends an entry to the master manifest: re-reads it, adds `entry`, writes
/// `manifest_tmp.json` and moves it over `manifest.json` (a rename where the store has one,
/// else copy + delete), so a reader never sees a partial manifest. Returns the new master.
/// Callers run one backup at a time per location (as Dgraph does): two concurrent appends
/// could each miss the other's entry.
pub async fn append(
    op: &Operator,
    entry: Manifest,
    rename_supported: bool,
) -> Result<MasterManifest, ManifestError> {
    let mut master = read_master(op).await?;
    master.manifests.push(entry);
    write_master(op, &master, rename_supported).await?;
    Ok(master)
}

/// Replaces the master manifest through `manifest_tmp.json` (see [`append`]).
pub async fn write_master(
    op: &Operator,
    master: &MasterManifest,
    rename_supported: bool,
) -> Result<(), ManifestError> {
    let write_err = |path: &str| {
        let path = path.to_string();
        move |source| ManifestError::Write { path, source }
    };
    let json = master.to_json().map_err(ManifestError::Encode)?;
    op.write(MANIFEST_TMP_FILE, json)
        .await
        .map_err(write_err(MANIFEST_TMP_FILE))?;
    if rename_supported {
        op.rename(MANIFEST_TMP_FILE, MANIFEST_FILE)
            .await
            .map_err(write_err(MANIFEST_FILE))?;
    } else {
        op.copy(MANIFEST_TMP_FILE, MANIFEST_FILE)
            .await
            .map_err(write_err(MANIFEST_FILE))?;
        op.delete(MANIFEST_TMP_FILE)
            .await
            .map_err(write_err(MANIFEST_TMP_FILE))?;
    }
    Ok(())
}

/// The paths of `m`'s group files that are not in the store (for [`select_series`]).
pub async fn missing_files(op: &Operator, m: &Manifest) -> Result<Vec<String>, ManifestError> {
    let mut missing = Vec::new();
    for (_, name) in m.file_names() {
        let path = if m.path.is_empty() {
            name
        } else {
            format!("{}/{name}", m.path)
        };
        match op.exists(&path).await {
            Ok(true) => {}
            Ok(false) => missing.push(path),
            Err(source) => return Err(ManifestError::Read { path, source }),
        }
    }
    Ok(missing)
}
