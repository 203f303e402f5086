//! The durable task registry: every backup, export and restore is a task with an id, a status and
//! progress, kept as one JSON file per task under `<data>/tasks` (written to a temporary file,
//! synced, then renamed, so a crash leaves either the old or the new record).
//!
//! Ids are one counter for both kinds: restores answer it as an integer `restoreId` (as
//! Dgraph's `restoreStatus(restoreId: Int!)` takes), backups as `0x…` (as Dgraph's `taskId`);
//! `task(input: {id})` takes either spelling. A task that was queued or running when the worker
//! stopped is marked failed at the next start, with the reason.
//!
//! With the worker's encryption key, records are sealed (`<id>.sealed`) under the data keys of
//! a key registry in the tasks directory: they name backup locations and may carry
//! credentials. Plain records found then are sealed and their plain files removed; sealed
//! records without the key stop the start.

use lodestar_backup::BackupError;
use lodestar_crypto::sealer::Sealer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a sealed task record is bound to.
const RECORD_CONTEXT: &[u8] = b"backup worker task record";

/// How long finished tasks are kept.
const KEEP_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Backup,
    Restore,
    Export,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Queued,
    Running,
    Failed,
    Success,
}

impl Status {
    pub fn finished(self) -> bool {
        matches!(self, Status::Failed | Status::Success)
    }
}

/// One task as stored and reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub kind: Kind,
    pub status: Status,
    /// Unix seconds.
    pub last_updated: i64,
    pub errors: Vec<String>,
    pub location: String,
    pub bytes_written: u64,
    pub groups_done: u32,
    pub groups_total: u32,
    pub read_ts: u64,
    pub backup_id: String,
    pub backup_num: u64,
    /// Restores: this task turned the cluster's draining on and must turn it off again, also
    /// when the worker stopped before it could.
    #[serde(default)]
    pub drained: bool,
    /// Backups and exports: the folder its files go to, once chosen, so that the files of a backup that
    /// did not finish can be removed (also after the worker was killed).
    #[serde(default)]
    pub folder: Option<String>,
}

impl Task {
    /// The id as the API shows it: `0x…` for backups, decimal for restores.
    pub fn display_id(&self) -> String {
        match self.kind {
            Kind::Backup | Kind::Export => format!("{:#x}", self.id),
            Kind::Restore => self.id.to_string(),
        }
    }
}

/// Parses `0x…` or decimal.
pub fn parse_id(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<parking_lot::Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    sealer: Option<Sealer>,
    tasks: BTreeMap<u64, Task>,
    next: u64,
    /// Tasks that were queued or running when the worker last stopped.
    interrupted: Vec<u64>,
}

impl Registry {
    /// Opens the registry in `dir` (created if missing). Tasks a previous run left queued or
    /// running are marked failed; finished tasks older than a week are dropped.
    pub fn open(dir: &Path, sealer: Option<Sealer>) -> std::io::Result<Registry> {
        std::fs::create_dir_all(dir)?;
        let mut tasks = BTreeMap::new();
        let mut plain = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let raw = match path.extension().and_then(|e| e.to_str()) {
                Some("tmp") => {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                Some("json" | "sealed") => {
                    read_record(&path, sealer.as_ref(), RECORD_CONTEXT, "task records")?
                }
                _ => continue,
            };
            match serde_json::from_slice::<Task>(&raw) {
                Ok(task) => {
                    if sealer.is_some() && path.extension().is_some_and(|e| e == "json") {
                        plain.push(task.id);
                    }
                    tasks.insert(task.id, task);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an unreadable task record");
                }
            }
        }
        let next = tasks.keys().next_back().map_or(1, |id| id + 1);
        let reg = Registry {
            inner: Arc::new(parking_lot::Mutex::new(Inner {
                dir: dir.to_path_buf(),
                sealer,
                tasks,
                next,
                interrupted: Vec::new(),
            })),
        };
        // Plain records of a worker that now has a key: sealed, their plain files removed.
        for id in plain {
            let task = reg.inner.lock().tasks.get(&id).cloned();
            if let Some(task) = task {
                reg.store(task)?;
            }
        }
        let cutoff = now() - KEEP_SECS;
        let stale: Vec<Task> = reg.inner.lock().tasks.values().cloned().collect();
        for mut task in stale {
            if !task.status.finished() {
                task.status = Status::Failed;
                task.errors.push(match task.kind {
                    Kind::Backup => "the backup worker stopped while this task was running; nothing it wrote was recorded in the manifest",
                    Kind::Restore => "the backup worker stopped while this task was running; the alphas took back what this restore had loaded",
                    Kind::Export => "the backup worker stopped while this task was running; the files it had written were removed",
                }.to_string());
                task.last_updated = now();
                reg.inner.lock().interrupted.push(task.id);
                reg.store(task)?;
            } else if task.last_updated < cutoff {
                let mut inner = reg.inner.lock();
                inner.tasks.remove(&task.id);
                for ext in ["json", "sealed"] {
                    let _ = std::fs::remove_file(inner.dir.join(format!("{}.{ext}", task.id)));
                }
            }
        }
        Ok(reg)
    }

    /// Creates a queued task.
    pub fn create(&self, kind: Kind, location: &str) -> std::io::Result<Task> {
        let id = {
            let mut inner = self.inner.lock();
            let id = inner.next;
            inner.next += 1;
            id
        };
        let task = Task {
            id,
            kind,
            status: Status::Queued,
            last_updated: now(),
            errors: Vec::new(),
            location: location.to_string(),
            bytes_written: 0,
            groups_done: 0,
            groups_total: 0,
            read_ts: 0,
            backup_id: String::new(),
            backup_num: 0,
            drained: false,
            folder: None,
        };
        self.store(task.clone())?;
        Ok(task)
    }

    /// The tasks a previous run left queued or running (now failed), once.
    pub fn take_interrupted(&self) -> Vec<Task> {
        let mut inner = self.inner.lock();
        let ids = std::mem::take(&mut inner.interrupted);
        ids.iter()
            .filter_map(|id| inner.tasks.get(id).cloned())
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<Task> {
        self.inner.lock().tasks.get(&id).cloned()
    }

    /// Whether a task of `kind` is queued or running.
    pub fn busy(&self, kind: Kind) -> usize {
        self.inner
            .lock()
            .tasks
            .values()
            .filter(|t| t.kind == kind && !t.status.finished())
            .count()
    }

    /// Changes a task and stores it durably.
    pub fn update(&self, id: u64, change: impl FnOnce(&mut Task)) -> std::io::Result<Task> {
        let mut task = self
            .get(id)
            .ok_or_else(|| std::io::Error::other(format!("task {id} is not in the registry")))?;
        change(&mut task);
        task.last_updated = now();
        self.store(task.clone())?;
        Ok(task)
    }

    /// Records a task's end, durably: Success, or Failed with `outcome`'s error.
    pub fn finish(&self, id: u64, outcome: &Result<(), BackupError>) -> std::io::Result<Task> {
        self.update(id, |t| match outcome {
            Ok(()) => t.status = Status::Success,
            Err(e) => {
                t.status = Status::Failed;
                t.errors.push(e.message.clone());
            }
        })
    }

    /// Progress that need not survive a crash (the task fails then anyway): memory only.
    pub fn progress(&self, id: u64, change: impl FnOnce(&mut Task)) {
        if let Some(task) = self.inner.lock().tasks.get_mut(&id) {
            change(task);
            task.last_updated = now();
        }
    }

    fn store(&self, task: Task) -> std::io::Result<()> {
        let mut inner = self.inner.lock();
        let json = serde_json::to_vec_pretty(&task).expect("a task serializes");
        // A restore's drained record must survive a crash: written durably or not at all.
        write_record(
            &inner.dir,
            &task.id.to_string(),
            inner.sealer.as_ref(),
            RECORD_CONTEXT,
            &json,
        )?;
        inner.tasks.insert(task.id, task);
        Ok(())
    }
}

/// Writes a record of the worker's own state as `<dir>/<stem>.json`, or sealed under
/// `context` as `<dir>/<stem>.sealed` when the worker has a key (then removing a plain one):
/// through `<stem>.tmp`, synced and renamed over, the directory synced, so a crash leaves the
/// old record or the new one and a returned `Ok` is durable.
pub(crate) fn write_record(
    dir: &Path,
    stem: &str,
    sealer: Option<&Sealer>,
    context: &[u8],
    json: &[u8],
) -> std::io::Result<()> {
    let (bytes, ext) = match sealer {
        Some(sealer) => (sealer.seal(context, json), "sealed"),
        None => (json.to_vec(), "json"),
    };
    let path = dir.join(format!("{stem}.{ext}"));
    let tmp = dir.join(format!("{stem}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    if ext == "sealed" {
        let _ = std::fs::remove_file(dir.join(format!("{stem}.json")));
    }
    // The rename is durable only once the directory is.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Reads a record [`write_record`] wrote at `path` (`.json`, or `.sealed` opened with
/// `sealer`); `what` names the records in the error for sealed ones without a key.
pub(crate) fn read_record(
    path: &Path,
    sealer: Option<&Sealer>,
    context: &[u8],
    what: &str,
) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    if path.extension().is_some_and(|e| e == "sealed") {
        let Some(sealer) = sealer else {
            return Err(std::io::Error::other(format!(
                "{} holds encrypted {what}: start with the --encryption_key_file they were sealed with",
                path.parent().unwrap_or(path).display()
            )));
        };
        return sealer.open(context, &raw).map_err(std::io::Error::other);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_in_both_spellings() {
        assert_eq!(parse_id("0x1f"), Some(31));
        assert_eq!(parse_id("31"), Some(31));
        assert_eq!(parse_id(" 7 "), Some(7));
        assert_eq!(parse_id("0xzz"), None);
        assert_eq!(parse_id(""), None);
    }

    #[test]
    fn tasks_survive_a_restart_and_unfinished_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path(), None).unwrap();
        let a = reg.create(Kind::Backup, "/b").unwrap();
        let b = reg.create(Kind::Restore, "/b").unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(a.display_id(), "0x1");
        assert_eq!(b.display_id(), "2");
        reg.update(a.id, |t| t.status = Status::Success).unwrap();
        reg.update(b.id, |t| t.status = Status::Running).unwrap();
        assert_eq!(reg.busy(Kind::Restore), 1);
        drop(reg);

        let reg = Registry::open(dir.path(), None).unwrap();
        assert_eq!(reg.get(a.id).unwrap().status, Status::Success);
        let b = reg.get(b.id).unwrap();
        assert_eq!(b.status, Status::Failed);
        assert!(
            b.errors[0].contains("stopped while this task was running"),
            "{b:?}"
        );
        assert_eq!(reg.busy(Kind::Restore), 0);
        let cut_off: Vec<u64> = reg.take_interrupted().iter().map(|t| t.id).collect();
        assert_eq!(cut_off, vec![b.id]);
        assert!(reg.take_interrupted().is_empty(), "reported once");
        assert_eq!(
            reg.create(Kind::Backup, "/b").unwrap().id,
            3,
            "ids are never reused"
        );
    }

    #[test]
    fn with_a_key_records_are_sealed_and_plain_ones_are_sealed_at_open() {
        use lodestar_crypto::registry::{DEFAULT_ROTATION, KeyRegistry};
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path(), None).unwrap();
        let plain = reg.create(Kind::Backup, "s3://Zq3-bucket/plain").unwrap();
        drop(reg);
        let key = lodestar_crypto::EncryptionKey::from_bytes(&[4; 32]).unwrap();
        let keys = KeyRegistry::open_or_create(dir.path(), key, DEFAULT_ROTATION).unwrap();
        let sealer = Sealer::new(Arc::new(keys));
        let reg = Registry::open(dir.path(), Some(sealer.clone())).unwrap();
        let sealed = reg.create(Kind::Restore, "s3://Zq3-bucket/sealed").unwrap();
        assert_eq!(reg.get(plain.id).unwrap().location, plain.location);
        drop(reg);
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let path = e.unwrap().path();
            assert!(
                path.extension().is_none_or(|e| e != "json"),
                "{}",
                path.display()
            );
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(3).any(|w| w == b"Zq3"), "{}", path.display());
        }
        let err = Registry::open(dir.path(), None).unwrap_err();
        assert!(
            err.to_string().contains("holds encrypted task records"),
            "{err}"
        );
        let reg = Registry::open(dir.path(), Some(sealer)).unwrap();
        assert_eq!(reg.get(sealed.id).unwrap().location, sealed.location);
        assert_eq!(reg.get(plain.id).unwrap().status, Status::Failed);
    }
}
