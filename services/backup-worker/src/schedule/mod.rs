//! Scheduled backups (`--backup_schedule`) and their retention.
//!
//! Each schedule has a runner that sleeps until its next tick (cron, UTC), then starts a backup
//! through the same path as an `/admin` backup: the destination checked by
//! [`backup::prepare`], a task in the registry, a job in the one-at-a-time queue. So scheduled
//! and requested backups never run at once and every scheduled backup is a task like any
//! other. A tick asks for a full backup when the `full` expression falls due (also when
//! `incremental` does at the same time), else for an incremental one, which the backup plan
//! turns into a full one when the destination has no full backup yet. The runner waits for
//! its job to end (and the retention the queue then applies) before it looks for the next
//! tick: ticks that pass during a run are skipped, never queued up.
//!
//! Ticks missed while the worker was down: at start, if a tick fell between the last time the
//! schedule handled ticks (kept in its state) and now, one backup runs at once (full if a full
//! tick was among those missed), never one per missed tick. A schedule seen for the first time
//! starts at its next tick.
//!
//! Scheduled backups run as the worker itself: they need no user token (ACL checks callers of
//! the API, not the worker's own work) and reach zero and the alphas' internal ports with the
//! cluster credential, as every backup does. Enterprise features must be on, as for a request.
//!
//! State (last run, errors, last success) is kept in `<data>/schedules` ([`state`]), shown by
//! `ListSchedules` and in metrics ([`metrics`]).

pub mod config;
mod metrics;
pub mod retention;
pub mod state;

use crate::backup::{self, AfterBackup, Context, Job, JobReport, Work};
use crate::tasks::Kind;
use chrono::{DateTime, Utc};
pub use config::Schedule;
use lodestar_backup::BackupError;
use parking_lot::Mutex;
use state::{Run, RunKind, RunStatus, ScheduleState, StateFile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The longest single sleep: the wall clock is looked at again at least this often, so a clock
/// that was set does not leave a runner asleep past its tick.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// The worker's schedules with their state, shared by the runners and `ListSchedules`.
#[derive(Debug)]
pub struct Schedules {
    entries: Vec<Entry>,
    file: StateFile,
    states: Mutex<BTreeMap<String, ScheduleState>>,
}

#[derive(Debug)]
struct Entry {
    schedule: Schedule,
    /// The next tick of each kind (Unix seconds).
    next: Mutex<(Option<i64>, Option<i64>)>,
    running: AtomicBool,
}

/// A schedule as `ListSchedules` shows it.
#[derive(Debug, Clone)]
pub struct View {
    pub schedule: Schedule,
    pub state: ScheduleState,
    pub next_full: Option<i64>,
    pub next_incremental: Option<i64>,
    pub running: bool,
}

/// The next tick after `after`, and what it asks for: full when `full` falls due then (also
/// together with `incremental`), else incremental.
pub fn next_tick(schedule: &Schedule, after: DateTime<Utc>) -> Option<(DateTime<Utc>, RunKind)> {
    let full = schedule.full.next_after(after);
    let inc = schedule
        .incremental
        .as_ref()
        .and_then(|c| c.next_after(after));
    match (full, inc) {
        (Some(f), Some(i)) if i < f => Some((i, RunKind::Incremental)),
        (Some(f), _) => Some((f, RunKind::Full)),
        (None, Some(i)) => Some((i, RunKind::Incremental)),
        (None, None) => None,
    }
}

/// The one backup to make up at start for ticks missed between `handled_until` and `now`:
/// full when a full tick was missed, else incremental when one was, else none.
pub fn missed(
    schedule: &Schedule,
    handled_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<RunKind> {
    let due = |c: &config::CronExpr| c.next_after(handled_until).is_some_and(|t| t <= now);
    if due(&schedule.full) {
        Some(RunKind::Full)
    } else if schedule.incremental.as_ref().is_some_and(due) {
        Some(RunKind::Incremental)
    } else {
        None
    }
}

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_secs(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

impl Schedules {
    /// Takes the parsed schedules and their state in `dir` (`<data>/schedules`).
    pub fn open(
        schedules: Vec<Schedule>,
        dir: &std::path::Path,
        sealer: Option<lodestar_crypto::sealer::Sealer>,
    ) -> std::io::Result<Arc<Schedules>> {
        let (file, mut states) = StateFile::open(dir, sealer)?;
        let now = Utc::now();
        let entries = schedules
            .into_iter()
            .map(|schedule| {
                let state = states.entry(schedule.name.clone()).or_default();
                metrics::init(&schedule.name, state, schedule.incremental.is_some());
                let next = (
                    schedule.full.next_after(now).map(secs),
                    schedule
                        .incremental
                        .as_ref()
                        .and_then(|c| c.next_after(now))
                        .map(secs),
                );
                metrics::next(&schedule.name, next.0, next.1);
                Entry {
                    schedule,
                    next: Mutex::new(next),
                    running: AtomicBool::new(false),
                }
            })
            .collect();
        file.save(&states)?;
        Ok(Arc::new(Schedules {
            entries,
            file,
            states: Mutex::new(states),
        }))
    }

    /// Every schedule with its state, in the flags' order.
    pub fn views(&self) -> Vec<View> {
        let states = self.states.lock();
        self.entries
            .iter()
            .map(|e| {
                let (next_full, next_incremental) = *e.next.lock();
                View {
                    schedule: e.schedule.clone(),
                    state: states.get(&e.schedule.name).cloned().unwrap_or_default(),
                    next_full,
                    next_incremental,
                    running: e.running.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Starts a runner for every schedule; each stops with the worker.
    pub fn spawn(self: &Arc<Self>, ctx: &Context, jobs: &tokio::sync::mpsc::Sender<Job>) {
        for index in 0..self.entries.len() {
            ctx.shutdown
                .spawn(Arc::clone(self).drive(index, ctx.clone(), jobs.clone()));
        }
    }

    /// Changes schedule `index`'s state and stores it; a failed write is logged (the state in
    /// memory stays right, and the next change writes it again).
    fn change(&self, index: usize, f: impl FnOnce(&mut ScheduleState)) -> ScheduleState {
        let name = &self.entries[index].schedule.name;
        let mut states = self.states.lock();
        let state = states.entry(name.clone()).or_default();
        f(state);
        let changed = state.clone();
        if let Err(e) = self.file.save(&states) {
            tracing::error!(schedule = %name, error = %e, "recording the schedule's state");
        }
        changed
    }

    fn state(&self, index: usize) -> ScheduleState {
        let name = &self.entries[index].schedule.name;
        self.states.lock().get(name).cloned().unwrap_or_default()
    }

    fn set_next(&self, index: usize, now: DateTime<Utc>) {
        let s = &self.entries[index].schedule;
        let next = (
            s.full.next_after(now).map(secs),
            s.incremental
                .as_ref()
                .and_then(|c| c.next_after(now))
                .map(secs),
        );
        *self.entries[index].next.lock() = next;
        metrics::next(&s.name, next.0, next.1);
    }

    /// Schedule `index`'s runner: the made-up tick if one was missed, then each next tick.
    async fn drive(
        self: Arc<Self>,
        index: usize,
        ctx: Context,
        jobs: tokio::sync::mpsc::Sender<Job>,
    ) {
        let schedule = self.entries[index].schedule.clone();
        let now = Utc::now();
        let mut due = match self.state(index).last_tick.map(from_secs) {
            Some(handled) => missed(&schedule, handled, now).map(|kind| (now, kind)),
            None => {
                // First seen now: ticks from here on count.
                self.change(index, |s| s.last_tick = Some(secs(now)));
                None
            }
        };
        if let Some((_, kind)) = due {
            tracing::info!(schedule = %schedule.name, kind = kind.as_str(), "a tick passed while the backup worker was down: running one backup now");
        }
        let mut after = now;
        loop {
            let Some((at, kind)) = due.take().or_else(|| next_tick(&schedule, after)) else {
                tracing::warn!(schedule = %schedule.name, "the schedule never falls due again");
                return;
            };
            self.set_next(index, after);
            loop {
                let now = Utc::now();
                if now >= at {
                    break;
                }
                let wait = (at - now).to_std().unwrap_or_default().min(MAX_SLEEP);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.shutdown.wait() => return,
                }
            }
            if ctx.shutdown.is_triggered() {
                return;
            }
            self.run_once(index, &ctx, &jobs, kind, at).await;
            after = Utc::now().max(at);
        }
    }

    /// One run: the backup through the queue, the retention after it, the state and metrics.
    async fn run_once(
        &self,
        index: usize,
        ctx: &Context,
        jobs: &tokio::sync::mpsc::Sender<Job>,
        kind: RunKind,
        tick: DateTime<Utc>,
    ) {
        let entry = &self.entries[index];
        let schedule = &entry.schedule;
        entry.running.store(true, Ordering::Relaxed);
        let started = Utc::now();
        self.change(index, |s| {
            s.last_tick = Some(secs(tick));
            s.last_run = Some(Run {
                kind,
                status: RunStatus::Running,
                started_at: secs(started),
                finished_at: None,
                task_id: None,
                backup_id: String::new(),
                backup_num: 0,
                error: None,
                deleted_series: 0,
            });
        });
        tracing::info!(schedule = %schedule.name, kind = kind.as_str(), destination = %schedule.destination, "scheduled backup starting");
        let report = self.start_and_wait(index, ctx, jobs, kind).await;
        let finished = Utc::now();
        let task = self
            .state(index)
            .last_run
            .and_then(|r| r.task_id)
            .and_then(|id| crate::tasks::parse_id(&id))
            .and_then(|id| ctx.registry.get(id));
        let deleted = match &report {
            Ok(JobReport {
                retention: Some(Ok(applied)),
                ..
            }) => applied.deleted.len() as u32,
            _ => 0,
        };
        let backed_up = matches!(
            &report,
            Ok(JobReport {
                outcome: Ok(()),
                ..
            })
        );
        let error = match report {
            Err(e)
            | Ok(JobReport {
                outcome: Err(e), ..
            }) => Some(e.message),
            Ok(JobReport {
                retention: Some(Err(e)),
                ..
            }) => Some(e.message),
            Ok(_) => None,
        };
        let state = self.change(index, |s| {
            if let Some(run) = s.last_run.as_mut() {
                run.status = if error.is_some() {
                    RunStatus::Failed
                } else {
                    RunStatus::Success
                };
                run.finished_at = Some(secs(finished));
                run.error = error.clone();
                run.deleted_series = deleted;
                if let Some(t) = &task {
                    run.backup_id = t.backup_id.clone();
                    run.backup_num = t.backup_num;
                }
            }
            if backed_up {
                s.last_success = Some(secs(finished));
            }
            if let Some(e) = &error {
                s.last_error = Some(e.clone());
                s.last_error_at = Some(secs(finished));
            }
            s.last_tick = Some(secs(finished.max(tick)));
        });
        metrics::finished(&schedule.name, kind, &state, deleted);
        entry.running.store(false, Ordering::Relaxed);
        match &error {
            None => {
                tracing::info!(schedule = %schedule.name, kind = kind.as_str(), deleted_series = deleted, "scheduled backup finished")
            }
            Some(e) => {
                tracing::warn!(schedule = %schedule.name, kind = kind.as_str(), error = %e, backed_up, "scheduled backup failed")
            }
        }
    }

    /// Starts the backup as an `/admin` backup starts, and waits for the queue's report.
    async fn start_and_wait(
        &self,
        index: usize,
        ctx: &Context,
        jobs: &tokio::sync::mpsc::Sender<Job>,
        kind: RunKind,
    ) -> Result<JobReport, BackupError> {
        let schedule = &self.entries[index].schedule;
        let (enabled, reason) = lodestar_acl::login::enterprise_state(&ctx.zero)
            .await
            .map_err(|e| BackupError::new(e.code, e.message))?;
        if !enabled {
            return Err(BackupError::precondition(format!(
                "{} ({reason})",
                crate::api::ENTERPRISE_OFF
            )));
        }
        let credentials = schedule
            .credentials
            .load()
            .map_err(|e| BackupError::invalid(format!("{}: {e}", config::FLAG)))?;
        let (destination, operator, force_full) =
            backup::prepare(&schedule.location, &credentials, kind == RunKind::Full)?;
        let task = backup::create_task(&ctx.registry, Kind::Backup, &destination)?;
        self.change(index, |s| {
            if let Some(run) = s.last_run.as_mut() {
                run.task_id = Some(task.display_id());
            }
        });
        tracing::info!(task = task.id, schedule = %schedule.name, destination = %destination, force_full, "scheduled backup queued");
        let (report, reported) = tokio::sync::oneshot::channel();
        backup::enqueue(
            &ctx.registry,
            jobs,
            Job {
                task: task.id,
                destination,
                operator,
                work: Work::Backup { force_full },
                then: Some(AfterBackup {
                    retention: schedule.retention,
                    report,
                }),
            },
        )?;
        reported
            .await
            .map_err(|_| BackupError::unavailable(state::CUT_OFF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
    }

    fn hourly_and_daily() -> Schedule {
        Schedule::parse(
            "full=0 0 * * *; incremental=0 * * * *; destination=/b",
            false,
        )
        .unwrap()
    }

    #[test]
    fn ticks_take_the_nearest_and_full_wins_a_tie() {
        let s = hourly_and_daily();
        assert_eq!(
            next_tick(&s, at(10, 30)),
            Some((at(11, 0), RunKind::Incremental))
        );
        assert_eq!(
            next_tick(&s, at(23, 30)),
            Some((at(0, 0) + chrono::Duration::days(1), RunKind::Full))
        );
        // Strictly after: at 11:00 sharp the next is 12:00.
        assert_eq!(
            next_tick(&s, at(11, 0)),
            Some((at(12, 0), RunKind::Incremental))
        );
        let only_full = Schedule::parse("full=30 2 * * *; destination=/b", false).unwrap();
        assert_eq!(
            next_tick(&only_full, at(1, 0)),
            Some((at(2, 30), RunKind::Full))
        );
    }

    #[test]
    fn missed_ticks_make_up_one_backup() {
        let s = hourly_and_daily();
        // Nothing fell due.
        assert_eq!(missed(&s, at(10, 5), at(10, 59)), None);
        // Three hourly ticks passed: one incremental.
        assert_eq!(missed(&s, at(10, 5), at(13, 1)), Some(RunKind::Incremental));
        // A midnight passed too: one full.
        let next_day = at(2, 0) + chrono::Duration::days(1);
        assert_eq!(missed(&s, at(22, 0), next_day), Some(RunKind::Full));
        // A tick exactly now counts.
        assert_eq!(missed(&s, at(10, 5), at(11, 0)), Some(RunKind::Incremental));
        let only_full = Schedule::parse("full=0 0 * * *; destination=/b", false).unwrap();
        assert_eq!(missed(&only_full, at(10, 5), at(13, 1)), None);
    }
}
