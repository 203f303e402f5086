//! The replicated cluster state and the commands that change it. `apply` is deterministic: every
//! input, including the time, travels inside the command, so every zero reaches the same state.
//!
//! `apply` never panics and never wraps: a command that would overflow a counter or break a
//! bound is answered with [`Reply::Refused`] and changes nothing, so a bad entry in the log is
//! refused again, the same way, at every replay instead of stopping the zero.

#![deny(clippy::arithmetic_side_effects)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Length of the trial a new cluster gets.
pub const TRIAL_SECS: i64 = 30 * 24 * 3600;

/// How many commit decisions zero remembers for alphas that restart with pending writes.
pub const MAX_REMEMBERED_TXNS: usize = 1_000_000;

/// The most ids of one kind a single request may lease (Dgraph bounds leases per request too).
pub const fn max_lease(kind: IdKind) -> u64 {
    match kind {
        IdKind::Uid => 1_000_000_000,
        IdKind::Namespace => 1_000_000,
        IdKind::Timestamp => 10_000_000,
    }
}

/// No counter is ever moved past this, so however ids are leased or bumped, the space above
/// stays unused and no addition near `u64::MAX` can wrap.
pub const ID_CEILING: u64 = 1 << 62;

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
    /// The alpha runs with ACL on: every service of the cluster must check tokens.
    #[serde(default)]
    pub acl: bool,
    /// A learner: it replicates its group but does not vote, nor count as one of its replicas.
    #[serde(default)]
    pub learner: bool,
}

/// What kind of id a lease hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdKind {
    Uid,
    Namespace,
    Timestamp,
}

impl IdKind {
    /// The name Zero's `/assign` uses.
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Uid => "uids",
            IdKind::Namespace => "nsids",
            IdKind::Timestamp => "timestamps",
        }
    }
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
    /// Tablets being moved to another group.
    #[serde(default)]
    pub moving: BTreeMap<String, TabletMove>,
    /// Predicate → the timestamp its tablet last changed groups at: a transaction that started
    /// before it may have written the predicate in its old group, so it cannot commit it.
    #[serde(default)]
    pub moved_at: BTreeMap<String, u64>,
}

/// A tablet on its way to another group (see `ZeroNode::move_tablet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletMove {
    pub to: u32,
    /// Commits writing the predicate are refused: its last changes are being copied.
    pub blocked: bool,
    /// The group it moves from let go of it at this timestamp (0: not yet); from then on the
    /// move can only finish.
    pub released_at: u64,
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
    /// An alpha joins: again under the id it was given (kept in its Raft state), or, without
    /// one, as a new member; a new member at the address of an existing one replaces it (the
    /// alpha there lost its state) in the same group.
    JoinGroup {
        addr: String,
        group: u32,
        replicas: u32,
        now: i64,
        #[serde(default)]
        acl: bool,
        #[serde(default)]
        id: u64,
        #[serde(default)]
        learner: bool,
    },
    /// Give a predicate a group unless it has one.
    AssignTablet {
        predicate: String,
        group: u32,
    },
    /// Give a predicate to a group, whichever had it (a restore).
    ForceTablet {
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
    /// A tablet starts moving to group `to`: its data is copied while writes go on.
    MoveStart {
        predicate: String,
        to: u32,
    },
    /// Commits writing the moving tablet are refused from now on.
    MoveBlock {
        predicate: String,
    },
    /// The group the tablet moves from let go of it at `at`.
    MoveReleased {
        predicate: String,
        at: u64,
    },
    /// The tablet belongs to the group it moved to.
    MoveFinish {
        predicate: String,
    },
    /// The move is called off before its group let go of the tablet.
    MoveAbort {
        predicate: String,
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
                    let Some(expiry_ts) = now.checked_add(TRIAL_SECS) else {
                        return Reply::Refused(format!("{now} is not a usable creation time"));
                    };
                    self.cid = cid;
                    self.created_at = now;
                    if self.license.is_none() {
                        self.license = Some(LicenseRecord {
                            user: String::new(),
                            max_nodes: u64::MAX,
                            expiry_ts,
                        });
                    }
                }
                Reply::Done
            }
            Command::Lease { kind, count } => {
                if count == 0 {
                    return Reply::Refused("Nothing to be leased".into());
                }
                if count > max_lease(kind) {
                    return Reply::Refused(lease_too_large(kind, count));
                }
                let max = self.counter(kind);
                // Both fit: *max <= ID_CEILING and count <= max_lease(kind), far below u64::MAX.
                let (Some(start), Some(end)) = (max.checked_add(1), max.checked_add(count)) else {
                    return Reply::Refused(exhausted(kind));
                };
                if end > ID_CEILING {
                    return Reply::Refused(exhausted(kind));
                }
                *max = end;
                Reply::Range { start, end }
            }
            Command::Bump { kind, at_least } => {
                if at_least > ID_CEILING {
                    return Reply::Refused(format!(
                        "cannot mark {} up to {at_least} as used: ids stop at {ID_CEILING}",
                        kind.name()
                    ));
                }
                let max = self.counter(kind);
                // *max <= ID_CEILING < u64::MAX, so the next id exists.
                let Some(start) = max.checked_add(1) else {
                    return Reply::Refused(exhausted(kind));
                };
                if *max < at_least {
                    *max = at_least;
                    Reply::Range {
                        start,
                        end: at_least,
                    }
                } else {
                    Reply::Range { start, end: *max }
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
                acl,
                id,
                learner,
            } => self.join_group(addr, group, replicas, now, acl, id, learner),
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
            Command::ForceTablet { predicate, group } => {
                if group == 0 {
                    return Reply::Refused("a tablet needs a group above 0".into());
                }
                self.tablets.insert(predicate, group);
                Reply::Group(group)
            }
            Command::SetDraining(on) => {
                self.draining = on;
                Reply::Done
            }
            Command::Decide(decisions) => {
                for (start, commit) in decisions {
                    // A decision, once recorded, never changes.
                    self.txns.entry(start).or_insert(commit);
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
            Command::MoveStart { predicate, to } => {
                let Some(from) = self.tablets.get(&predicate).copied() else {
                    return Reply::Refused(format!("No tablet found for predicate {predicate}"));
                };
                if self.moving.contains_key(&predicate) {
                    return Reply::Refused(format!(
                        "the tablet of {predicate} is already being moved"
                    ));
                }
                if from == to {
                    return Reply::Refused(format!(
                        "Tablet {predicate} is already in group {to}: nothing to move"
                    ));
                }
                self.moving.insert(
                    predicate,
                    TabletMove {
                        to,
                        blocked: false,
                        released_at: 0,
                    },
                );
                Reply::Group(from)
            }
            Command::MoveBlock { predicate } => match self.moving.get_mut(&predicate) {
                Some(m) => {
                    m.blocked = true;
                    Reply::Done
                }
                None => Reply::Refused(format!("{predicate} is not being moved")),
            },
            Command::MoveReleased { predicate, at } => match self.moving.get_mut(&predicate) {
                Some(m) if m.blocked => {
                    m.released_at = at;
                    Reply::Done
                }
                _ => Reply::Refused(format!("{predicate} is not ready to be released")),
            },
            Command::MoveFinish { predicate } => match self.moving.get(&predicate) {
                Some(m) if m.released_at != 0 => {
                    let (to, at) = (m.to, m.released_at);
                    self.moving.remove(&predicate);
                    self.tablets.insert(predicate.clone(), to);
                    self.moved_at.insert(predicate, at);
                    Reply::Group(to)
                }
                _ => Reply::Refused(format!("{predicate} has not been released by its group")),
            },
            Command::MoveAbort { predicate } => match self.moving.get(&predicate) {
                Some(m) if m.released_at != 0 => Reply::Refused(format!(
                    "{predicate} was released by its group: the move can only finish"
                )),
                Some(_) => {
                    self.moving.remove(&predicate);
                    Reply::Done
                }
                None => Reply::Done,
            },
        }
    }

    /// Whether a transaction that started at `start_ts` may commit writes to `predicate`: not
    /// while its tablet's last changes are being copied, nor when the tablet changed groups
    /// after the transaction started.
    pub fn may_write(&self, predicate: &str, start_ts: u64) -> bool {
        let blocked = self.moving.get(predicate).is_some_and(|m| m.blocked);
        let moved_since = self
            .moved_at
            .get(predicate)
            .is_some_and(|at| *at > start_ts);
        !blocked && !moved_since
    }

    fn counter(&mut self, kind: IdKind) -> &mut u64 {
        match kind {
            IdKind::Uid => &mut self.max_uid,
            IdKind::Namespace => &mut self.max_ns_id,
            IdKind::Timestamp => &mut self.max_ts,
        }
    }

    /// The lowest-numbered group with fewer than `replicas` alphas, or a new group.
    #[allow(clippy::too_many_arguments)]
    fn join_group(
        &mut self,
        addr: String,
        group: u32,
        replicas: u32,
        now: i64,
        acl: bool,
        id: u64,
        learner: bool,
    ) -> Reply {
        if id != 0 {
            if self.removed.iter().any(|m| m.id == id) {
                return Reply::Refused(format!(
                    "alpha {id} was removed from the cluster: start it with empty -p and --wal directories to join as a new member"
                ));
            }
            if let Some(m) = self.members.get_mut(&id) {
                m.addr = addr;
                m.last_update = now;
                m.acl = acl;
                m.learner = learner;
                return Reply::Member(m.clone());
            }
        }
        // A member at this address that the alpha no longer knows of is replaced, in its group.
        let replaced = self
            .members
            .values()
            .find(|m| m.addr == addr && m.id != id)
            .map(|m| (m.id, m.group));
        let group = match (group, replaced) {
            (0, Some((_, g))) => g,
            (0, None) if learner => 1,
            (0, None) => self.group_with_room(replicas.max(1)),
            (g, _) => g,
        };
        let id = if id != 0 {
            self.max_member_id = self.max_member_id.max(id);
            id
        } else {
            let Some(next) = self.max_member_id.checked_add(1) else {
                return Reply::Refused("no member ids are left".into());
            };
            self.max_member_id = next;
            next
        };
        if let Some((old, _)) = replaced
            && let Some(m) = self.members.remove(&old)
        {
            self.removed.push(m);
        }
        let member = MemberRecord {
            id,
            group,
            addr,
            last_update: now,
            acl,
            learner,
        };
        self.members.insert(member.id, member.clone());
        Reply::Member(member)
    }

    fn group_with_room(&self, replicas: u32) -> u32 {
        let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
        for m in self.members.values().filter(|m| !m.learner) {
            let n = counts.entry(m.group).or_default();
            *n = n.saturating_add(1);
        }
        // The first group number with room; there is one among the first len + 1 numbers.
        (1..=u32::MAX)
            .find(|g| counts.get(g).is_none_or(|n| *n < replicas))
            .unwrap_or(u32::MAX)
    }

    /// The group (among those with alphas, else 1) serving the fewest predicates.
    fn least_loaded_group(&self) -> u32 {
        let mut load: BTreeMap<u32, usize> = self.members.values().map(|m| (m.group, 0)).collect();
        if load.is_empty() {
            load.insert(1, 0);
        }
        for g in self.tablets.values() {
            if let Some(n) = load.get_mut(g) {
                *n = n.saturating_add(1);
            }
        }
        load.into_iter()
            .min_by_key(|(g, n)| (*n, *g))
            .map(|(g, _)| g)
            .unwrap_or(1)
    }

    /// Alphas plus `zeros`, the count a license's max_nodes limits.
    pub fn node_count(&self, zeros: usize) -> u64 {
        (self.members.len() as u64).saturating_add(zeros as u64)
    }
}

fn lease_too_large(kind: IdKind, count: u64) -> String {
    format!(
        "Requested {} lease({count}) is greater than allowed({}) per request",
        kind.name(),
        max_lease(kind)
    )
}

fn exhausted(kind: IdKind) -> String {
    format!(
        "no {} are left to lease: ids stop at {ID_CEILING}",
        kind.name()
    )
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn leases_past_the_bound_or_the_id_space_are_refused_and_change_nothing() {
        for kind in [IdKind::Uid, IdKind::Timestamp, IdKind::Namespace] {
            let mut s = ClusterState::default();
            s.apply(Command::Lease { kind, count: 5 });
            let before = s.clone();
            for count in [0, max_lease(kind) + 1, u64::MAX] {
                assert!(
                    matches!(s.apply(Command::Lease { kind, count }), Reply::Refused(_)),
                    "{kind:?} lease of {count}"
                );
                assert_eq!(s, before);
            }
            // The next lease still follows the last good one.
            assert_eq!(
                s.apply(Command::Lease { kind, count: 1 }),
                Reply::Range { start: 6, end: 6 }
            );
            for at_least in [ID_CEILING + 1, u64::MAX] {
                assert!(matches!(
                    s.apply(Command::Bump { kind, at_least }),
                    Reply::Refused(_)
                ));
            }
            // At the ceiling every further lease is refused, without wrapping.
            s.apply(Command::Bump {
                kind,
                at_least: ID_CEILING,
            });
            let full = s.clone();
            assert!(matches!(
                s.apply(Command::Lease { kind, count: 1 }),
                Reply::Refused(m) if m.contains("no ")
            ));
            assert_eq!(s, full);
        }
    }

    #[test]
    fn a_log_written_by_an_unbounded_zero_replays_without_panicking() {
        // What an older zero accepted: a saturated counter, then more leases and bumps.
        let log = [
            Command::Init {
                cid: "c".into(),
                now: i64::MAX,
            },
            Command::Lease {
                kind: IdKind::Uid,
                count: u64::MAX,
            },
            Command::Lease {
                kind: IdKind::Uid,
                count: 1,
            },
            Command::Bump {
                kind: IdKind::Timestamp,
                at_least: u64::MAX,
            },
            Command::Lease {
                kind: IdKind::Timestamp,
                count: 1,
            },
        ];
        let replay = || {
            let mut s = ClusterState::default();
            let replies: Vec<Reply> = log.iter().cloned().map(|c| s.apply(c)).collect();
            (s, replies)
        };
        let (a, replies) = replay();
        assert!(matches!(replies[0], Reply::Refused(_)));
        assert!(matches!(replies[1], Reply::Refused(_)));
        assert_eq!(replies[2], Reply::Range { start: 1, end: 1 });
        assert!(matches!(replies[3], Reply::Refused(_)));
        assert_eq!(replies[4], Reply::Range { start: 1, end: 1 });
        // Every replay reaches the same state.
        assert_eq!(replay().0, a);
    }

    #[test]
    fn a_recorded_decision_never_changes() {
        let mut s = ClusterState::default();
        s.apply(Command::Decide(vec![(5, 9)]));
        s.apply(Command::Decide(vec![(5, 0), (6, 10)]));
        assert_eq!(s.txns.get(&5), Some(&9));
        assert_eq!(s.txns.get(&6), Some(&10));
    }

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
    fn alphas_fill_groups_rejoin_by_id_and_stateless_rejoins_replace_members() {
        let mut s = ClusterState::default();
        let join = |s: &mut ClusterState, addr: &str, id: u64, learner: bool| {
            s.apply(Command::JoinGroup {
                addr: addr.into(),
                group: 0,
                replicas: 2,
                now: 0,
                acl: false,
                id,
                learner,
            })
        };
        let member = |r: Reply| match r {
            Reply::Member(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(member(join(&mut s, "a", 0, false)).group, 1);
        assert_eq!(member(join(&mut s, "b", 0, false)).group, 1);
        assert_eq!(member(join(&mut s, "c", 0, false)).group, 2);
        // A learner does not take a replica's place.
        let l = member(join(&mut s, "l", 0, true));
        assert_eq!((l.group, l.learner), (1, true));
        assert_eq!(member(join(&mut s, "d", 0, false)).group, 2);
        // Rejoining under its id keeps the member, even from another address.
        let again = member(join(&mut s, "a2", 1, false));
        assert_eq!((again.id, again.group, again.addr.as_str()), (1, 1, "a2"));
        assert_eq!(s.members.len(), 5);
        // An alpha with no state at a member's address replaces it, in the same group.
        let fresh = member(join(&mut s, "b", 0, false));
        assert_eq!((fresh.id, fresh.group), (6, 1));
        assert!(!s.members.contains_key(&2));
        assert_eq!(s.removed.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
        // The replaced id never comes back.
        assert!(
            matches!(join(&mut s, "b", 2, false), Reply::Refused(why) if why.contains("was removed"))
        );
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
        assert_eq!(
            s.apply(Command::ForceTablet {
                predicate: "name".into(),
                group: 2
            }),
            Reply::Group(2)
        );
        assert_eq!(s.tablets["name"], 2, "a restore moves the tablet");
        assert!(matches!(
            s.apply(Command::ForceTablet {
                predicate: "name".into(),
                group: 0
            }),
            Reply::Refused(_)
        ));
        assert_eq!(s.tablets["name"], 2);
    }

    #[test]
    fn a_tablet_move_blocks_writes_then_switches_groups_and_fences_older_transactions() {
        let mut s = ClusterState::default();
        let cmd = |p: &str| p.to_string();
        s.apply(Command::AssignTablet {
            predicate: cmd("name"),
            group: 1,
        });
        assert!(matches!(
            s.apply(Command::MoveStart {
                predicate: cmd("nope"),
                to: 2
            }),
            Reply::Refused(_)
        ));
        assert!(matches!(
            s.apply(Command::MoveStart { predicate: cmd("name"), to: 1 }),
            Reply::Refused(why) if why.contains("already in group 1")
        ));
        assert_eq!(
            s.apply(Command::MoveStart {
                predicate: cmd("name"),
                to: 2
            }),
            Reply::Group(1)
        );
        assert!(matches!(
            s.apply(Command::MoveStart { predicate: cmd("name"), to: 2 }),
            Reply::Refused(why) if why.contains("already being moved")
        ));
        // Copying: writes go on. Not released yet: nothing to finish.
        assert!(s.may_write("name", 10));
        assert!(matches!(
            s.apply(Command::MoveFinish {
                predicate: cmd("name")
            }),
            Reply::Refused(_)
        ));
        s.apply(Command::MoveBlock {
            predicate: cmd("name"),
        });
        assert!(
            !s.may_write("name", 10),
            "blocked while the last changes are copied"
        );
        assert!(s.may_write("other", 10));
        s.apply(Command::MoveReleased {
            predicate: cmd("name"),
            at: 50,
        });
        assert!(
            matches!(
                s.apply(Command::MoveAbort {
                    predicate: cmd("name")
                }),
                Reply::Refused(_)
            ),
            "a released move only finishes"
        );
        assert_eq!(
            s.apply(Command::MoveFinish {
                predicate: cmd("name")
            }),
            Reply::Group(2)
        );
        assert_eq!(s.tablets["name"], 2);
        assert!(s.moving.is_empty());
        assert!(!s.may_write("name", 49), "started before the switch");
        assert!(s.may_write("name", 51));
        // A move called off before its release leaves the tablet where it was.
        s.apply(Command::MoveStart {
            predicate: cmd("name"),
            to: 1,
        });
        assert_eq!(
            s.apply(Command::MoveAbort {
                predicate: cmd("name")
            }),
            Reply::Done
        );
        assert_eq!(s.tablets["name"], 2);
        assert!(s.may_write("name", 51));
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
