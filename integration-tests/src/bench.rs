//! Measurement helpers the benchmark binaries share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Runs `op` from `clients` tasks for `secs`; returns (successful ops/s, p50, p99). `op(i)` is
/// the i-th call overall and answers whether it succeeded.
pub async fn measure<F, Fut>(clients: usize, secs: u64, op: F) -> (f64, Duration, Duration)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let seq = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (op, seq) = (op.clone(), seq.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let i = seq.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    if op(i).await {
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (all.len() as f64 / secs as f64, pct(0.50), pct(0.99))
}

/// The `i`-th of `len` items in a scattered order, so consecutive queries touch far-apart keys.
pub fn spread(i: u64, len: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) % len as u64) as usize
}
