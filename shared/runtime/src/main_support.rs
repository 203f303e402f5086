//! The shape of every service's `main`: build the runtime, set up telemetry and signals, run the
//! service until the shutdown signal, and turn an error into a clear message and exit code 1.

use crate::config::CommonArgs;
use crate::{ServiceError, Shutdown};
use std::future::Future;
use std::process::ExitCode;

/// Runs `service` as the process's main task. `service` gets the shutdown handle and should
/// return once everything it started has stopped.
pub fn run_main<F, Fut>(name: &'static str, common: &CommonArgs, service: F) -> ExitCode
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = Result<(), ServiceError>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let _telemetry = crate::telemetry::init(name, common)?;
        let shutdown = Shutdown::new();
        shutdown
            .on_signals()
            .map_err(|e| ServiceError::internal(format!("cannot install signal handlers: {e}")))?;
        tracing::info!(service = name, version = crate::VERSION, "starting");
        crate::limits::install(common.limits());
        match &common.cluster_secret_file {
            Some(path) => crate::cluster::install(crate::cluster::read_secret_file(path)?)?,
            None if !common.bind.is_loopback() => tracing::warn!(
                bind = %common.bind,
                "no --cluster_secret_file: this service's internal gRPC takes calls from anyone who can reach {}",
                common.bind
            ),
            None => {}
        }
        let result = service(shutdown.clone()).await;
        let running = shutdown.join(crate::shutdown::GRACE).await;
        if running > 0 {
            tracing::warn!(service = name, running, "background tasks did not stop in time");
        }
        if let Err(e) = &result {
            tracing::error!(service = name, error = %e, "stopped with an error");
        } else {
            tracing::info!(service = name, "stopped");
        }
        result
    });
    // Background tasks that ignore the signal must not hold the process past the grace period.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a one-off command (an offline restore, a verify) to its end on a new runtime: exit
/// status 0 on success, 1 with `error: <reason>` on stderr.
pub fn run_command<Fut, E>(command: Fut) -> ExitCode
where
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
