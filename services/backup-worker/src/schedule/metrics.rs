//! The schedules' metrics, on the worker's HTTP `/metrics`:
//!
//! - `lodestar_backup_schedule_runs_total{schedule,kind,result}`: runs by kind (`full`,
//!   `incremental`) and result (`success`, `failure`);
//! - `lodestar_backup_schedule_last_success_timestamp_seconds{schedule}`;
//! - `lodestar_backup_schedule_next_run_timestamp_seconds{schedule,kind}`;
//! - `lodestar_backup_schedule_failing{schedule}`: 1 while the newest run failed, the gauge to
//!   alert on;
//! - `lodestar_backup_retention_deleted_series_total{schedule}`.

use super::state::{RunKind, ScheduleState};
use lodestar_runtime::metrics::register;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use std::sync::LazyLock;

static RUNS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "lodestar_backup_schedule_runs_total",
            "Scheduled backup runs, by schedule, kind and result",
        ),
        &["schedule", "kind", "result"],
    ))
});

static LAST_SUCCESS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new(
            "lodestar_backup_schedule_last_success_timestamp_seconds",
            "When the newest successful scheduled backup finished (Unix seconds)",
        ),
        &["schedule"],
    ))
});

static NEXT_RUN: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new(
            "lodestar_backup_schedule_next_run_timestamp_seconds",
            "When the schedule's next full or incremental backup falls due (Unix seconds)",
        ),
        &["schedule", "kind"],
    ))
});

static FAILING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new(
            "lodestar_backup_schedule_failing",
            "1 while the schedule's newest run failed (its backup or its retention)",
        ),
        &["schedule"],
    ))
});

static DELETED_SERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "lodestar_backup_retention_deleted_series_total",
            "Backup series deleted by a schedule's retention",
        ),
        &["schedule"],
    ))
});

/// Shows a schedule from the start: its state as remembered, zero counts.
pub fn init(name: &str, state: &ScheduleState, incremental: bool) {
    show(name, state);
    DELETED_SERIES.with_label_values(&[name]).inc_by(0);
    let mut kinds = vec![RunKind::Full];
    if incremental {
        kinds.push(RunKind::Incremental);
    }
    for kind in kinds {
        for result in ["success", "failure"] {
            RUNS.with_label_values(&[name, kind.as_str(), result])
                .inc_by(0);
        }
    }
}

/// The next tick of each kind (0: none).
pub fn next(name: &str, full: Option<i64>, incremental: Option<i64>) {
    NEXT_RUN
        .with_label_values(&[name, RunKind::Full.as_str()])
        .set(full.unwrap_or(0));
    if let Some(t) = incremental {
        NEXT_RUN
            .with_label_values(&[name, RunKind::Incremental.as_str()])
            .set(t);
    }
}

/// A run's end.
pub fn finished(name: &str, kind: RunKind, state: &ScheduleState, deleted: u32) {
    let result = if state.failing() {
        "failure"
    } else {
        "success"
    };
    RUNS.with_label_values(&[name, kind.as_str(), result]).inc();
    show(name, state);
    DELETED_SERIES
        .with_label_values(&[name])
        .inc_by(u64::from(deleted));
}

/// The gauges that follow a schedule's state.
fn show(name: &str, state: &ScheduleState) {
    FAILING
        .with_label_values(&[name])
        .set(i64::from(state.failing()));
    LAST_SUCCESS
        .with_label_values(&[name])
        .set(state.last_success.unwrap_or(0));
}
