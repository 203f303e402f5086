//! Zero's HTTP JSON, shaped as Dgraph's protojson output: lowerCamelCase keys (with Dgraph's
//! spellings `maxUID` and `maxNsID`), 64-bit integers as strings, default values included.

use crate::zero::{Group, License, Member, MembershipState, TabletInfo};
use serde_json::{Map, Value, json};

/// `/state` of zero and of the gateway.
pub fn membership_state(state: &MembershipState) -> Value {
    let groups: Map<String, Value> = sorted(&state.groups)
        .map(|(id, g)| (id.to_string(), group(g)))
        .collect();
    let zeros: Map<String, Value> = sorted(&state.zeros)
        .map(|(id, m)| (id.to_string(), member(m)))
        .collect();
    json!({
        "counter": state.counter.to_string(),
        "groups": groups,
        "zeros": zeros,
        "maxUID": state.max_uid.to_string(),
        "maxTxnTs": state.max_txn_ts.to_string(),
        "maxNsID": state.max_ns_id.to_string(),
        "maxRaftId": state.max_raft_id.to_string(),
        "removed": state.removed.iter().map(member).collect::<Vec<_>>(),
        "cid": state.cid,
        "license": license(&state.license.clone().unwrap_or_default()),
        "namespaces": state.namespaces.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "draining": state.draining,
    })
}

pub fn group(g: &Group) -> Value {
    let members: Map<String, Value> = sorted(&g.members)
        .map(|(id, m)| (id.to_string(), member(m)))
        .collect();
    let tablets: Map<String, Value> = sorted(&g.tablets)
        .map(|(p, t)| (p.clone(), tablet(t)))
        .collect();
    json!({
        "members": members,
        "tablets": tablets,
        "snapshotTs": g.snapshot_ts.to_string(),
        "checksum": g.checksum.to_string(),
    })
}

pub fn member(m: &Member) -> Value {
    json!({
        "id": m.id.to_string(),
        "groupId": m.group_id,
        "addr": m.addr,
        "leader": m.leader,
        "amDead": m.am_dead,
        "lastUpdate": m.last_update.to_string(),
        "clusterInfoOnly": m.cluster_info_only,
        "forceGroupId": m.force_group_id,
        "learner": m.learner,
        "applied": m.applied.to_string(),
        "behind": m.behind.to_string(),
    })
}

pub fn tablet(t: &TabletInfo) -> Value {
    json!({
        "groupId": t.group_id,
        "predicate": t.predicate,
        "force": t.force,
        "space": t.space.to_string(),
        "remove": t.remove,
        "readOnly": t.read_only,
        "moveTs": t.move_ts.to_string(),
    })
}

pub fn license(l: &License) -> Value {
    json!({
        "user": l.user,
        "maxNodes": l.max_nodes.to_string(),
        "expiryTs": l.expiry_ts.to_string(),
        "enabled": l.enabled,
    })
}

/// Map entries in key order, so that output is stable.
fn sorted<K: Ord, V>(map: &std::collections::HashMap<K, V>) -> impl Iterator<Item = (&K, &V)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_uses_dgraph_key_spellings_and_string_u64s() {
        let state = MembershipState {
            max_uid: 10_000,
            max_ns_id: 3,
            license: Some(License {
                user: "acme".into(),
                max_nodes: u64::MAX,
                expiry_ts: 42,
                enabled: true,
            }),
            ..Default::default()
        };
        let v = membership_state(&state);
        assert_eq!(v["maxUID"], "10000");
        assert_eq!(v["maxNsID"], "3");
        assert_eq!(v["license"]["maxNodes"], "18446744073709551615");
        assert_eq!(v["license"]["expiryTs"], "42");
        assert_eq!(v["license"]["enabled"], true);
    }
}
