//! The replicated cluster state and the commands that change it. `apply` is deterministic: every
//! input, including the time, travels inside the command, so every zero reaches the same state.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Length of the trial a new cluster gets.
pub const TRIAL_SECS: i64 = 30 * 24 * 3600;

/// How many commit decisions zero remembers for alphas that restart with pending writes.
pub const MAX_REMEMBERED_TXNS: usize = 1_000_000;

/// A license as recorded in the state. The trial is a license with an empty user and no node
/// limit, as in Dgraph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRecord {
    pub user: String,
    pub max_nodes: u64,
    pub expiry_ts: i64,
}

impl LicenseRecord {
    pub fn is_trial(&self) -> bool {
        self.user.is_empty()
    }
    pub fn enabled_at(&self, now: i64) -> bool {
        now < self.expiry_ts
    }
}

/// An alpha in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub id: u64,
    pub group: u32,
    pub addr: String,
    pub last_update: i64,
}

/// What kind of id a lease hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdKind {
    Uid,
    Namespace,
    Timestamp,
}

/// Everything zero replicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub cid: String,
    /// Unix seconds when the cluster was created; the trial starts here.
    pub created_at: i64,
    pub license: Option<LicenseRecord>,
    /// Highest timestamp reserved; leaders hand out timestamps from reserved blocks only.
    pub max_ts: u64,
    pub max_uid: u64,
    pub max_ns_id: u64,
    /// Highest member id given to an alpha.
    pub max_member_id: u64,
    pub members: BTreeMap<u64, MemberRecord>,
    pub removed: Vec<MemberRecord>,
    /// Predicate → group.
    pub tablets: BTreeMap<String, u32>,
    pub draining: bool,
    /// start_ts → commit_ts (0 = aborted), the newest [`MAX_REMEMBERED_TXNS`].
    pub txns: BTreeMap<u64, u64>,
    /// Zero ids that were taken out of the cluster, never to be reused.
    pub removed_zeros: Vec<u64>,
}

/// A change to the state, proposed through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Set once, by the first leader of a new cluster: identity, creation time and the trial.
    Init {
        cid: String,
        now: i64,
    },
    /// Reserve `count` more ids of `kind`.
    Lease {
        kind: IdKind,
        count: u64,
    },
    /// Make sure every id of `kind` up to `at_least` counts as handed out.
    Bump {
        kind: IdKind,
        at_least: u64,
    },
    ApplyLicense(LicenseRecord),
    /// An alpha joins (or re-joins, by address).
    JoinGroup {
        addr: String,
        group: u32,
        replicas: u32,
        now: i64,
    },
    /// Give a predicate a group unless it has one.
    AssignTablet {
        predicate: String,
        group: u32,
    },
    SetDraining(bool),
    /// Commit decisions: (start_ts, commit_ts), commit_ts 0 meaning aborted.
    Decide(Vec<(u64, u64)>),
    RemoveMember {
        id: u64,
    },
    RemoveZero {
        id: u64,
    },
}

/// What applying a command returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Reply {
    #[default]
    Done,
    /// An inclusive id range.
    Range {
        start: u64,
        end: u64,
    },
    Member(MemberRecord),
    Group(u32),
    Refused(String),
}

impl ClusterState {
    pub fn apply(&mut self, cmd: Command) -> Reply {
        match cmd {
            Command::Init { cid, now } => {
                if self.cid.is_empty() {
                    self.cid = cid;
                    self.created_at = now;
                    if self.license.is_none() {
                        self.license = Some(LicenseRecord {
                            user: String::new(),
                            max_nodes: u64::MAX,
                            expiry_ts: now + TRIAL_SECS,
                        });
                    }
                }
                Reply::Done
            }
            Command::Lease { kind, count } => {
                let max = self.counter(kind);
                let start = *max + 1;
                *max = max.saturating_add(count);
                Reply::Range { start, end: *max }
            }
            Command::Bump { kind, at_least } => {
                let max = self.counter(kind);
                if *max < at_least {
                    let start = *max + 1;
                    *max = at_least;
                    Reply::Range {
                        start,
                        end: at_least,
                    }
                } else {
                    Reply::Range {
                        start: *max + 1,
                        end: *max,
                    }
                }
            }
            Command::ApplyLicense(license) => {
                self.license = Some(license);
                Reply::Done
            }
            Command::JoinGroup {
                addr,
                group,
                replicas,
                now,
            } => {
                if let Some(m) = self.members.values_mut().find(|m| m.addr == addr) {
                    m.last_update = now;
                    return Reply::Member(m.clone());
                }
                let group = if group != 0 {
                    group
                } else {
                    self.group_with_room(replicas.max(1))
                };
                self.max_member_id += 1;
                let member = MemberRecord {
                    id: self.max_member_id,
                    group,
                    addr,
                    last_update: now,
                };
                self.members.insert(member.id, member.clone());
                Reply::Member(member)
            }
            Command::AssignTablet { predicate, group } => {
                if let Some(g) = self.tablets.get(&predicate) {
                    return Reply::Group(*g);
                }
                let group = if group != 0 {
                    group
                } else {
                    self.least_loaded_group()
                };
                self.tablets.insert(predicate, group);
                Reply::Group(group)
            }
            Command::SetDraining(on) => {
                self.draining = on;
                Reply::Done
            }
            Command::Decide(decisions) => {
                for (start, commit) in decisions {
                    self.txns.insert(start, commit);
                }
                while self.txns.len() > MAX_REMEMBERED_TXNS {
                    self.txns.pop_first();
                }
                Reply::Done
            }
            Command::RemoveMember { id } => match self.members.remove(&id) {
                Some(m) => {
                    self.removed.push(m);
                    Reply::Done
                }
                None => Reply::Refused(format!("no alpha with id {id} in the cluster")),
            },
            Command::RemoveZero { id } => {
                if !self.removed_zeros.contains(&id) {
                    self.removed_zeros.push(id);
                }
                Reply::Done
            }
        }
    }

    fn counter(&mut self, kind: IdKind) -> &mut u64 {
        match kind {
            IdKind::Uid => &mut self.max_uid,
            IdKind::Namespace => &mut self.max_ns_id,
            IdKind::Timestamp => &mut self.max_ts,
        }
    }

    /// The lowest-numbered group with fewer than `replicas` alphas, or a new group.
    fn group_with_room(&self, replicas: u32) -> u32 {
        let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
        for m in self.members.values() {
            *counts.entry(m.group).or_default() += 1;
        }
        let mut group = 1;
        loop {
            match counts.get(&group) {
                Some(n) if *n >= replicas => group += 1,
                _ => return group,
            }
        }
    }

    /// The group (among those with alphas, else 1) serving the fewest predicates.
    fn least_loaded_group(&self) -> u32 {
        let mut load: BTreeMap<u32, usize> = self.members.values().map(|m| (m.group, 0)).collect();
        if load.is_empty() {
            load.insert(1, 0);
        }
        for g in self.tablets.values() {
            if let Some(n) = load.get_mut(g) {
                *n += 1;
            }
        }
        load.into_iter()
            .min_by_key(|(g, n)| (*n, *g))
            .map(|(g, _)| g)
            .unwrap_or(1)
    }

    /// Alphas plus `zeros`, the count a license's max_nodes limits.
    pub fn node_count(&self, zeros: usize) -> u64 {
        (self.members.len() + zeros) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn init_starts_a_30_day_trial_once() {
        let mut s = ClusterState::default();
        s.apply(Command::Init {
            cid: "a".into(),
            now: 1000,
        });
        s.apply(Command::Init {
            cid: "b".into(),
            now: 5000,
        });
        assert_eq!(s.cid, "a");
        let l = s.license.clone().unwrap();
        assert!(l.is_trial());
        assert_eq!(l.expiry_ts, 1000 + TRIAL_SECS);
        assert!(l.enabled_at(1000 + TRIAL_SECS - 1));
        assert!(!l.enabled_at(1000 + TRIAL_SECS));
    }

    #[test]
    fn an_applied_license_is_not_replaced_by_the_trial() {
        let mut s = ClusterState::default();
        let lic = LicenseRecord {
            user: "acme".into(),
            max_nodes: 3,
            expiry_ts: 9,
        };
        s.apply(Command::ApplyLicense(lic.clone()));
        s.apply(Command::Init {
            cid: "a".into(),
            now: 1,
        });
        assert_eq!(s.license, Some(lic));
    }

    #[test]
    fn bump_never_moves_a_counter_back() {
        let mut s = ClusterState::default();
        assert_eq!(
            s.apply(Command::Lease {
                kind: IdKind::Uid,
                count: 10
            }),
            Reply::Range { start: 1, end: 10 }
        );
        s.apply(Command::Bump {
            kind: IdKind::Uid,
            at_least: 5,
        });
        assert_eq!(s.max_uid, 10);
        s.apply(Command::Bump {
            kind: IdKind::Uid,
            at_least: 50,
        });
        assert_eq!(
            s.apply(Command::Lease {
                kind: IdKind::Uid,
                count: 1
            }),
            Reply::Range { start: 51, end: 51 }
        );
    }

    #[test]
    fn alphas_fill_groups_by_replicas_and_rejoin_by_address() {
        let mut s = ClusterState::default();
        let join = |s: &mut ClusterState, addr: &str| match s.apply(Command::JoinGroup {
            addr: addr.into(),
            group: 0,
            replicas: 2,
            now: 0,
        }) {
            Reply::Member(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(join(&mut s, "a").group, 1);
        assert_eq!(join(&mut s, "b").group, 1);
        assert_eq!(join(&mut s, "c").group, 2);
        let again = join(&mut s, "a");
        assert_eq!((again.id, again.group), (1, 1));
        assert_eq!(s.members.len(), 3);
    }

    #[test]
    fn tablets_are_kept_once_assigned() {
        let mut s = ClusterState::default();
        assert_eq!(
            s.apply(Command::AssignTablet {
                predicate: "name".into(),
                group: 0
            }),
            Reply::Group(1)
        );
        assert_eq!(
            s.apply(Command::AssignTablet {
                predicate: "name".into(),
                group: 7
            }),
            Reply::Group(1)
        );
    }

    proptest! {
        /// Whatever mix of leases and bumps, ranges handed out never overlap and only grow.
        #[test]
        fn leases_never_overlap(ops in prop::collection::vec((any::<bool>(), 1u64..1000), 1..100)) {
            let mut s = ClusterState::default();
            let mut last_end = 0u64;
            for (bump, n) in ops {
                let cmd = if bump {
                    Command::Bump { kind: IdKind::Timestamp, at_least: last_end + n }
                } else {
                    Command::Lease { kind: IdKind::Timestamp, count: n }
                };
                if let Reply::Range { start, end } = s.apply(cmd)
                    && end >= start
                {
                    prop_assert!(start > last_end);
                    last_end = end;
                }
                prop_assert_eq!(s.max_ts, last_end);
            }
        }
    }
}
