//! Failed-login throttling, per user id and per client address.
//!
//! The first [`FREE_FAILURES`] failures of a key cost nothing; each one after that locks the
//! key for twice as long as the one before (from [`FIRST_LOCK`] up to [`MAX_LOCK`]). While
//! either the user id or the address is locked, a login is refused before any password is
//! checked, with the same answer whether the user exists or not. A successful login clears
//! the user's and the address's record. Keys unseen for longer than [`MAX_LOCK`] are forgotten,
//! and the table never holds more than [`MAX_KEYS`] entries.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
pub const FIRST_LOCK: Duration = Duration::from_millis(500);
pub const MAX_LOCK: Duration = Duration::from_secs(300);
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Instant,
    last_failure: Instant,
}

#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Entry>>,
}

/// The keys one login attempt counts against.
pub fn keys(userid: &str, addr: Option<std::net::IpAddr>) -> Vec<String> {
    let mut k = vec![format!("user\0{userid}")];
    if let Some(a) = addr {
        k.push(format!("addr\0{a}"));
    }
    k
}

impl Throttle {
    /// How long the caller must wait before trying again, if any key is locked at `now`.
    pub fn locked(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let entries = self.entries.lock();
        keys.iter()
            .filter_map(|k| entries.get(k))
            .filter(|e| e.locked_until > now)
            .map(|e| e.locked_until - now)
            .max()
    }

    /// Records a failed attempt against every key.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| now.saturating_duration_since(e.last_failure) < MAX_LOCK);
            if entries.len() >= MAX_KEYS {
                // Still full of live entries (a spray from many addresses): drop the oldest half.
                let mut ages: Vec<Instant> = entries.values().map(|e| e.last_failure).collect();
                ages.sort();
                let cut = ages[ages.len() / 2];
                entries.retain(|_, e| e.last_failure > cut);
            }
        }
        for k in keys {
            let e = entries.entry(k.clone()).or_insert(Entry {
                failures: 0,
                locked_until: now,
                last_failure: now,
            });
            if now.saturating_duration_since(e.last_failure) >= MAX_LOCK {
                e.failures = 0;
            }
            e.failures += 1;
            e.last_failure = now;
            if e.failures > FREE_FAILURES {
                let doublings = (e.failures - FREE_FAILURES - 1).min(20);
                let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK);
                e.locked_until = now + lock;
            }
        }
    }

    /// Clears the record of every key after a successful login.
    pub fn succeeded(&self, keys: &[String]) {
        let mut entries = self.entries.lock();
        for k in keys {
            entries.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_beyond_the_free_ones_lock_for_doubling_times() {
        let t = Throttle::default();
        let k = keys("alice", "10.0.0.1".parse().ok());
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.locked(&k, now), None);
            t.failed(&k, now);
        }
        assert_eq!(t.locked(&k, now), None, "the free failures lock nothing");
        t.failed(&k, now);
        assert_eq!(t.locked(&k, now), Some(FIRST_LOCK));
        t.failed(&k, now);
        assert_eq!(t.locked(&k, now), Some(FIRST_LOCK * 2));
        let later = now + FIRST_LOCK * 2;
        assert_eq!(t.locked(&k, later), None, "the lock runs out");
        for _ in 0..40 {
            t.failed(&k, later);
        }
        assert_eq!(t.locked(&k, later), Some(MAX_LOCK), "capped");
        t.succeeded(&k);
        assert_eq!(t.locked(&k, later), None);
    }

    #[test]
    fn a_locked_address_blocks_every_user_from_it_and_a_locked_user_every_address() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..=FREE_FAILURES {
            // A spray of user names from one address.
            t.failed(&keys(&format!("u{i}"), "10.0.0.9".parse().ok()), now);
        }
        assert!(
            t.locked(&keys("someone-else", "10.0.0.9".parse().ok()), now)
                .is_some()
        );
        assert!(
            t.locked(&keys("someone-else", "10.0.0.8".parse().ok()), now)
                .is_none()
        );
        for i in 0..=FREE_FAILURES {
            // One user from many addresses.
            t.failed(&keys("bob", format!("10.1.0.{i}").parse().ok()), now);
        }
        assert!(
            t.locked(&keys("bob", "10.2.0.1".parse().ok()), now)
                .is_some()
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = Throttle::default();
        let k = keys("carol", None);
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            t.failed(&k, now);
        }
        let much_later = now + MAX_LOCK;
        t.failed(&k, much_later);
        assert_eq!(t.locked(&k, much_later), None, "the count started again");
    }
}
