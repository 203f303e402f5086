//! One cancellation signal for a whole process, fired by SIGINT or SIGTERM, and the background
//! tasks that stop on it: [`Shutdown::spawn`] tracks each one, and the process's main
//! ([`crate::run_main`]) waits for all of them after the service returns, instead of leaving
//! them to be dropped by the runtime.

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long servers get to drain after the signal before the process exits anyway.
pub const GRACE: Duration = Duration::from_secs(4);

/// A cloneable handle on the process-wide stop signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal when the process receives SIGINT or SIGTERM.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let token = self.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
            }
            token.cancel();
        });
        Ok(())
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the signal has fired.
    pub async fn wait(&self) {
        self.token.cancelled().await
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Runs a background task until it ends or the signal fires (then it is stopped at its
    /// next await); [`Shutdown::join`] waits for it.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Fires the signal and waits up to `within` for every task [`Shutdown::spawn`] started;
    /// returns how many were still running.
    pub async fn join(&self, within: Duration) -> usize {
        self.trigger();
        self.tasks.close();
        if tokio::time::timeout(within, self.tasks.wait())
            .await
            .is_err()
        {
            return self.tasks.len();
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_tasks_stop_on_the_signal_and_are_awaited() {
        let shutdown = Shutdown::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        shutdown.spawn(async move {
            // Holds the sender until the task is stopped.
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        shutdown.spawn(async {});
        assert_eq!(shutdown.join(Duration::from_secs(5)).await, 0);
        assert!(shutdown.is_triggered());
        assert!(
            rx.await.is_err(),
            "the task was stopped and dropped its sender"
        );
    }
}
