//! Proto → GraphQL conversions for the admin schema. Maps become lists in key order (group id,
//! member id, predicate) so that answers are stable.

use super::types::{
    ClusterGroup, Int64, License, Member, MembershipState, NodeState, Tablet, UInt64, list,
};
use crate::health::Probe;
use lodestar_proto::node::NodeInfo;
use lodestar_proto::zero;
use std::collections::HashMap;

fn sorted<K: Ord, V>(map: HashMap<K, V>) -> impl Iterator<Item = V> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, v)| v)
}

fn u64_of(v: i64) -> UInt64 {
    UInt64(u64::try_from(v).unwrap_or(0))
}

impl From<zero::MembershipState> for MembershipState {
    fn from(s: zero::MembershipState) -> Self {
        let mut groups: Vec<_> = s.groups.into_iter().collect();
        groups.sort_by_key(|(id, _)| *id);
        MembershipState {
            counter: Some(UInt64(s.counter)),
            groups: list(
                groups
                    .into_iter()
                    .map(|(id, g)| ClusterGroup::from_proto(id, g)),
            ),
            zeros: list(sorted(s.zeros).map(Member::from)),
            max_uid: Some(UInt64(s.max_uid)),
            max_ns_id: Some(UInt64(s.max_ns_id)),
            max_txn_ts: Some(UInt64(s.max_txn_ts)),
            max_raft_id: Some(UInt64(s.max_raft_id)),
            removed: list(s.removed.into_iter().map(Member::from)),
            cid: Some(s.cid),
            license: Some(s.license.unwrap_or_default().into()),
            namespaces: list(s.namespaces.into_iter().map(UInt64)),
        }
    }
}

impl ClusterGroup {
    fn from_proto(id: u32, g: zero::Group) -> Self {
        ClusterGroup {
            id: Some(UInt64(id.into())),
            members: list(sorted(g.members).map(Member::from)),
            tablets: list(sorted(g.tablets).map(Tablet::from)),
            snapshot_ts: Some(UInt64(g.snapshot_ts)),
            checksum: Some(UInt64(g.checksum)),
        }
    }
}

impl From<zero::Member> for Member {
    fn from(m: zero::Member) -> Self {
        Member {
            id: Some(UInt64(m.id)),
            group_id: Some(UInt64(m.group_id.into())),
            addr: Some(m.addr),
            leader: Some(m.leader),
            am_dead: Some(m.am_dead),
            last_update: Some(u64_of(m.last_update)),
            cluster_info_only: Some(m.cluster_info_only),
            force_group_id: Some(m.force_group_id),
        }
    }
}

impl From<zero::TabletInfo> for Tablet {
    fn from(t: zero::TabletInfo) -> Self {
        Tablet {
            group_id: Some(UInt64(t.group_id.into())),
            predicate: Some(t.predicate),
            force: Some(t.force),
            space: Some(t.space),
            remove: Some(t.remove),
            read_only: Some(t.read_only),
            move_ts: Some(UInt64(t.move_ts)),
        }
    }
}

impl From<zero::License> for License {
    fn from(l: zero::License) -> Self {
        License {
            user: Some(l.user),
            max_nodes: Some(UInt64(l.max_nodes)),
            expiry_ts: Some(Int64(l.expiry_ts)),
            enabled: Some(l.enabled),
        }
    }
}

impl From<NodeInfo> for NodeState {
    fn from(n: NodeInfo) -> Self {
        NodeState {
            instance: Some(n.instance),
            address: Some(n.address),
            status: Some(n.status),
            group: Some(n.group.to_string()),
            version: Some(n.version),
            uptime: Some(Int64(n.uptime)),
            last_echo: Some(Int64(n.last_echo)),
            ongoing: list(n.ongoing),
            indexing: list(n.indexing),
            ee_features: list(n.ee_features),
        }
    }
}

impl From<Probe> for NodeState {
    fn from(p: Probe) -> Self {
        match p {
            Probe::Answered(info) => info.into(),
            // Only what the gateway knows itself: who was expected where.
            Probe::Silent {
                instance, address, ..
            } => NodeState {
                instance: Some(instance),
                address: Some(address),
                status: Some("unhealthy".to_string()),
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_members_and_tablets_become_sorted_lists() {
        let member = |id| zero::Member {
            id,
            group_id: 1,
            addr: format!("a{id}:7080"),
            last_update: -3,
            ..Default::default()
        };
        let tablet = |p: &str| zero::TabletInfo {
            predicate: p.to_string(),
            group_id: 1,
            space: 42,
            ..Default::default()
        };
        let group = zero::Group {
            members: [(2, member(2)), (1, member(1))].into_iter().collect(),
            tablets: [
                ("name".to_string(), tablet("name")),
                ("age".into(), tablet("age")),
            ]
            .into_iter()
            .collect(),
            snapshot_ts: 9,
            checksum: 11,
        };
        let state = zero::MembershipState {
            groups: [(2, group.clone()), (1, group)].into_iter().collect(),
            ..Default::default()
        };
        let gql = MembershipState::from(state);
        let groups: Vec<_> = gql.groups.unwrap().into_iter().flatten().collect();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].id, Some(UInt64(1)));
        assert_eq!(groups[1].id, Some(UInt64(2)));
        let members: Vec<_> = groups[0]
            .members
            .clone()
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(members[0].id, Some(UInt64(1)));
        assert_eq!(members[1].addr.as_deref(), Some("a2:7080"));
        // A negative time is nonsense for an unsigned field; it must not wrap to 2^64 - 3.
        assert_eq!(members[0].last_update, Some(UInt64(0)));
        let tablets: Vec<_> = groups[0]
            .tablets
            .clone()
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(tablets[0].predicate.as_deref(), Some("age"));
        assert_eq!(tablets[1].space, Some(42));
        assert_eq!(groups[0].snapshot_ts, Some(UInt64(9)));
        // No license recorded yet: the fields are still there, with zero values.
        assert_eq!(gql.license.unwrap().enabled, Some(false));
    }

    #[test]
    fn a_silent_service_is_unhealthy_and_claims_nothing_else() {
        let state = NodeState::from(Probe::Silent {
            instance: "auth".into(),
            address: "localhost:7070".into(),
            error: "connection refused".into(),
        });
        assert_eq!(state.status.as_deref(), Some("unhealthy"));
        assert_eq!(state.instance.as_deref(), Some("auth"));
        assert_eq!(state.version, None);
        assert_eq!(state.uptime, None);
    }
}
