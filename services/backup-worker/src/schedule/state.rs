//! What the schedules remember across restarts: each one's last run, last error, last success
//! and the tick it last handled, in `<data>/schedules/state.json` (sealed as `state.sealed`
//! when the worker has a key, as task records are), keyed by schedule name.

use crate::tasks::{read_record, write_record};
use lodestar_crypto::sealer::Sealer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a sealed state file is bound to.
const STATE_CONTEXT: &[u8] = b"backup worker schedule state";
/// The state file's name without its extension.
const STEM: &str = "state";

/// The kind of backup a tick asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Full,
    Incremental,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Full => "full",
            RunKind::Incremental => "incremental",
        }
    }
}

/// How a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    Running,
    Success,
    Failed,
}

/// One run of a schedule. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub kind: RunKind,
    pub status: RunStatus,
    pub started_at: i64,
    #[serde(default)]
    pub finished_at: Option<i64>,
    /// The backup task (`0x…`), once created.
    #[serde(default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub backup_id: String,
    #[serde(default)]
    pub backup_num: u64,
    /// Why the run failed (its backup, or the retention after it).
    #[serde(default)]
    pub error: Option<String>,
    /// Series the retention deleted after the backup.
    #[serde(default)]
    pub deleted_series: u32,
}

/// One schedule's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Ticks up to this time (Unix seconds) are handled: run, or skipped because they passed
    /// during a run. A tick after it that passed while the worker was down is made up once at
    /// start.
    #[serde(default)]
    pub last_tick: Option<i64>,
    #[serde(default)]
    pub last_run: Option<Run>,
    /// The newest error of any run, kept after later successes, and when it happened.
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_error_at: Option<i64>,
    /// When the newest successful backup finished.
    #[serde(default)]
    pub last_success: Option<i64>,
}

impl ScheduleState {
    /// Whether the newest run failed.
    pub fn failing(&self) -> bool {
        self.last_run
            .as_ref()
            .is_some_and(|r| r.status == RunStatus::Failed)
    }
}

/// The state file of every schedule.
#[derive(Debug)]
pub struct StateFile {
    dir: PathBuf,
    sealer: Option<Sealer>,
}

/// The error a run cut off by a stop of the worker gets.
pub const CUT_OFF: &str = "the backup worker stopped during this run";

impl StateFile {
    /// Opens `<data>/schedules` (created if missing) and reads what it holds. A run that was
    /// going on when the worker stopped is failed with the reason.
    pub fn open(
        dir: &Path,
        sealer: Option<Sealer>,
    ) -> std::io::Result<(StateFile, BTreeMap<String, ScheduleState>)> {
        std::fs::create_dir_all(dir)?;
        let file = StateFile {
            dir: dir.to_path_buf(),
            sealer,
        };
        let sealed = dir.join(format!("{STEM}.sealed"));
        let plain = dir.join(format!("{STEM}.json"));
        let path = if sealed.exists() { sealed } else { plain };
        let mut states: BTreeMap<String, ScheduleState> =
            match read_record(&path, file.sealer.as_ref(), STATE_CONTEXT, "schedule state") {
                Ok(raw) => serde_json::from_slice(&raw).map_err(|e| {
                    std::io::Error::other(format!("{} does not parse: {e}", path.display()))
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(e),
            };
        for state in states.values_mut() {
            if let Some(run) = state
                .last_run
                .as_mut()
                .filter(|r| r.status == RunStatus::Running)
            {
                run.status = RunStatus::Failed;
                run.error = Some(CUT_OFF.to_string());
                state.last_error = Some(CUT_OFF.to_string());
                state.last_error_at = Some(run.started_at);
            }
        }
        Ok((file, states))
    }

    /// Writes every schedule's state durably.
    pub fn save(&self, states: &BTreeMap<String, ScheduleState>) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(states).expect("schedule state serializes");
        write_record(&self.dir, STEM, self.sealer.as_ref(), STATE_CONTEXT, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_reopen_and_a_cut_off_run_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (file, states) = StateFile::open(dir.path(), None).unwrap();
        assert!(states.is_empty());
        let run = |status| Run {
            kind: RunKind::Incremental,
            status,
            started_at: 100,
            finished_at: None,
            task_id: Some("0x3".into()),
            backup_id: String::new(),
            backup_num: 0,
            error: None,
            deleted_series: 0,
        };
        let mut states = BTreeMap::new();
        states.insert(
            "done".to_string(),
            ScheduleState {
                last_tick: Some(90),
                last_run: Some(run(RunStatus::Success)),
                last_success: Some(120),
                ..Default::default()
            },
        );
        states.insert(
            "cut".to_string(),
            ScheduleState {
                last_run: Some(run(RunStatus::Running)),
                ..Default::default()
            },
        );
        file.save(&states).unwrap();
        drop(file);
        let (_, again) = StateFile::open(dir.path(), None).unwrap();
        assert_eq!(again["done"], states["done"]);
        assert!(!again["done"].failing());
        let cut = &again["cut"];
        assert!(cut.failing());
        assert_eq!(cut.last_error.as_deref(), Some(CUT_OFF));
        assert_eq!(
            cut.last_run.as_ref().unwrap().error.as_deref(),
            Some(CUT_OFF)
        );
    }

    #[test]
    fn with_a_key_the_state_is_sealed() {
        use lodestar_crypto::registry::{DEFAULT_ROTATION, KeyRegistry};
        let dir = tempfile::tempdir().unwrap();
        let key = lodestar_crypto::EncryptionKey::from_bytes(&[7; 32]).unwrap();
        let keys =
            KeyRegistry::open_or_create(&dir.path().join("keys"), key, DEFAULT_ROTATION).unwrap();
        let sealer = Sealer::new(std::sync::Arc::new(keys));
        let (file, _) = StateFile::open(dir.path(), Some(sealer.clone())).unwrap();
        let mut states = BTreeMap::new();
        states.insert(
            "s".to_string(),
            ScheduleState {
                last_error: Some("writing Zq3-bucket failed".into()),
                ..Default::default()
            },
        );
        file.save(&states).unwrap();
        let bytes = std::fs::read(dir.path().join("state.sealed")).unwrap();
        assert!(!bytes.windows(3).any(|w| w == b"Zq3"));
        let err = StateFile::open(dir.path(), None).unwrap_err();
        assert!(
            err.to_string().contains("holds encrypted schedule state"),
            "{err}"
        );
        let (_, again) = StateFile::open(dir.path(), Some(sealer)).unwrap();
        assert_eq!(again, states);
    }
}
