//! Failed-login throttling that an attacker cannot turn against the real user.
//!
//! One login attempt counts against three records:
//! - **the user at this address**: the first [`FREE_FAILURES`] failures cost nothing, each one
//!   after locks the pair for twice as long as the one before (from [`FIRST_LOCK`] up to
//!   [`MAX_LOCK`]). Guessing one user's password from one address is slowed down to a crawl;
//!   the same user from any other address is not touched.
//! - **the address**: the same backoff for failures of any user name from one address, so a
//!   spray of names from one place locks that place only.
//! - **the user from anywhere**: guessing spread over many addresses still meets a backoff,
//!   but one capped at [`MAX_USER_LOCK`], so that lock never keeps the real user out for more
//!   than a moment, and an address this user has logged in from before skips it.
//!
//! While any record applies, a login is refused before any password is checked, with the same
//! answer whether the user exists or not. A successful login clears the pair's and the
//! address's records and remembers the address as one the user is known at. Records unseen for
//! longer than [`MAX_LOCK`] are forgotten, and the tables never hold more than [`MAX_KEYS`]
//! entries each.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
pub const FIRST_LOCK: Duration = Duration::from_millis(500);
pub const MAX_LOCK: Duration = Duration::from_secs(300);
/// The most the user-from-anywhere record ever locks a user for.
pub const MAX_USER_LOCK: Duration = Duration::from_secs(2);
/// Failures of one user, from all addresses together, that cost nothing.
pub const FREE_USER_FAILURES: u32 = 20;
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Instant,
    last_failure: Instant,
}

/// One login attempt: who, and from where (when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub userid: String,
    pub addr: Option<IpAddr>,
}

impl Attempt {
    pub fn new(userid: &str, addr: Option<IpAddr>) -> Self {
        Attempt {
            userid: userid.to_string(),
            addr,
        }
    }

    fn pair(&self) -> Key {
        Key::Pair(self.userid.clone(), self.addr)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Option<IpAddr>),
    Addr(IpAddr),
    User(String),
}

impl Key {
    /// (failures that cost nothing, the longest lock).
    fn limits(&self) -> (u32, Duration) {
        match self {
            Key::User(_) => (FREE_USER_FAILURES, MAX_USER_LOCK),
            Key::Pair(..) | Key::Addr(_) => (FREE_FAILURES, MAX_LOCK),
        }
    }
}

#[derive(Debug, Default)]
struct Tables {
    entries: HashMap<Key, Entry>,
    /// (user, address) pairs that logged in, oldest first, at most [`MAX_KEYS`].
    known: HashSet<(String, IpAddr)>,
    known_order: VecDeque<(String, IpAddr)>,
}

#[derive(Debug, Default)]
pub struct Throttle {
    tables: Mutex<Tables>,
}

impl Throttle {
    /// The records `attempt` is checked and counted against.
    fn keys(tables: &Tables, attempt: &Attempt) -> Vec<Key> {
        let mut keys = vec![attempt.pair()];
        if let Some(a) = attempt.addr {
            keys.push(Key::Addr(a));
            if tables.known.contains(&(attempt.userid.clone(), a)) {
                return keys;
            }
        }
        keys.push(Key::User(attempt.userid.clone()));
        keys
    }

    /// How long the caller must wait before trying again, if any record is locked at `now`.
    pub fn locked(&self, attempt: &Attempt, now: Instant) -> Option<Duration> {
        let tables = self.tables.lock();
        Self::keys(&tables, attempt)
            .iter()
            .filter_map(|k| tables.entries.get(k))
            .filter(|e| e.locked_until > now)
            .map(|e| e.locked_until.saturating_duration_since(now))
            .max()
    }

    /// Records a failed attempt.
    pub fn failed(&self, attempt: &Attempt, now: Instant) {
        let mut tables = self.tables.lock();
        let keys = Self::keys(&tables, attempt);
        let entries = &mut tables.entries;
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
            let (free, max) = k.limits();
            let e = entries.entry(k).or_insert(Entry {
                failures: 0,
                locked_until: now,
                last_failure: now,
            });
            if now.saturating_duration_since(e.last_failure) >= MAX_LOCK {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last_failure = now;
            if e.failures > free {
                let doublings = (e.failures - free - 1).min(20);
                let lock = FIRST_LOCK.saturating_mul(1 << doublings).min(max);
                e.locked_until = now + lock;
            }
        }
    }

    /// Clears the attempt's pair and address records after a successful login, and remembers
    /// the address as one the user is known at.
    pub fn succeeded(&self, attempt: &Attempt) {
        let mut tables = self.tables.lock();
        tables.entries.remove(&attempt.pair());
        if let Some(a) = attempt.addr {
            tables.entries.remove(&Key::Addr(a));
            let known = (attempt.userid.clone(), a);
            if tables.known.insert(known.clone()) {
                tables.known_order.push_back(known);
                while tables.known_order.len() > MAX_KEYS {
                    if let Some(old) = tables.known_order.pop_front() {
                        tables.known.remove(&old);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(user: &str, addr: &str) -> Attempt {
        Attempt::new(user, addr.parse().ok())
    }

    #[test]
    fn failures_beyond_the_free_ones_lock_for_doubling_times() {
        let t = Throttle::default();
        let k = at("alice", "10.0.0.1");
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
    fn an_attacker_elsewhere_cannot_lock_the_real_user_out() {
        let t = Throttle::default();
        let now = Instant::now();
        // The probe's attack: many wrong passwords for groot from one address.
        for _ in 0..200 {
            t.failed(&at("groot", "203.0.113.7"), now);
        }
        assert_eq!(t.locked(&at("groot", "203.0.113.7"), now), Some(MAX_LOCK));
        // From any other address groot waits at most the bounded per-user lock...
        let wait = t.locked(&at("groot", "10.0.0.2"), now).unwrap_or_default();
        assert!(wait <= MAX_USER_LOCK, "{wait:?}");
        // ...and not at all from an address groot has logged in from before.
        t.succeeded(&at("groot", "10.0.0.3"));
        for _ in 0..200 {
            t.failed(&at("groot", "203.0.113.7"), now);
        }
        assert_eq!(t.locked(&at("groot", "10.0.0.3"), now), None);
    }

    #[test]
    fn guessing_spread_over_many_addresses_still_meets_a_backoff() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..=FREE_USER_FAILURES {
            t.failed(&at("bob", &format!("10.1.{}.{}", i / 256, i % 256)), now);
        }
        let wait = t.locked(&at("bob", "10.2.0.1"), now);
        assert_eq!(wait, Some(FIRST_LOCK));
        for i in 0..100 {
            t.failed(&at("bob", &format!("10.3.0.{i}")), now);
        }
        assert_eq!(t.locked(&at("bob", "10.2.0.1"), now), Some(MAX_USER_LOCK));
    }

    #[test]
    fn a_spray_of_names_from_one_address_locks_that_address_only() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..=FREE_FAILURES {
            t.failed(&at(&format!("u{i}"), "10.0.0.9"), now);
        }
        assert!(t.locked(&at("someone-else", "10.0.0.9"), now).is_some());
        assert!(t.locked(&at("someone-else", "10.0.0.8"), now).is_none());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = Throttle::default();
        let k = Attempt::new("carol", None);
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            t.failed(&k, now);
        }
        let much_later = now + MAX_LOCK;
        t.failed(&k, much_later);
        assert_eq!(t.locked(&k, much_later), None, "the count started again");
    }
}
