//! What the fault suite's generated tests share: a seed, a deterministic generator, and the
//! check that no process of a cluster panicked.

use lodestar_integration_tests::Cluster;

/// The seed of a generated test: `LODESTAR_FAULT_SEED`, else a fixed one. Printed, so that a
/// failure can be replayed.
pub fn seed(what: &str) -> u64 {
    let seed = std::env::var("LODESTAR_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261204);
    eprintln!("{what} seed: {seed} (set LODESTAR_FAULT_SEED to replay another)");
    seed
}

/// A small deterministic generator (xorshift64*), so a seed names one sequence.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every "panicked at" line in the logs of the cluster's processes.
pub fn panics_in_logs(cluster: &Cluster) -> Vec<String> {
    cluster
        .procs()
        .flat_map(|p| {
            std::fs::read_to_string(&p.log_path)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("panicked at"))
                .map(|l| format!("{}: {l}", p.log_path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}
