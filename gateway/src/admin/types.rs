//! The GraphQL types of Dgraph's `/admin` schema that the gateway serves, with Dgraph's names
//! and nullability: every field is nullable, lists are `[T]` of nullable items.

use async_graphql::{
    InputObject, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};

/// A nullable list of nullable items, GraphQL's `[T]`.
pub type List<T> = Option<Vec<Option<T>>>;

/// Builds a [`List`] from any sequence.
pub fn list<T>(items: impl IntoIterator<Item = T>) -> List<T> {
    Some(items.into_iter().map(Some).collect())
}

/// Dgraph's `Int64`: a signed 64-bit integer, written as a JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int64(pub i64);

/// The Int64 scalar type represents a signed 64‐bit numeric non‐fractional value.
/// Int64 can represent values in range [-(2^63),(2^63 - 1)].
#[Scalar(name = "Int64")]
impl ScalarType for Int64 {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Int64)
                .ok_or_else(|| InputValueError::custom(format!("{n} is not a 64-bit integer"))),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Int64)
                .map_err(|_| InputValueError::custom(format!("{s:?} is not a 64-bit integer"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// Dgraph's `UInt64`: an unsigned 64-bit integer. Written as a JSON string, because JavaScript
/// clients would round anything above 2^53 (the trial license's `maxNodes` is `u64::MAX`);
/// parsed from a string or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UInt64(pub u64);

/// The UInt64 scalar type represents an unsigned 64‐bit numeric non‐fractional value.
/// UInt64 can represent values in range [0,(2^64 - 1)].
#[Scalar(name = "UInt64")]
impl ScalarType for UInt64 {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n.as_u64().map(UInt64).ok_or_else(|| {
                InputValueError::custom(format!("{n} is not an unsigned 64-bit integer"))
            }),
            Value::String(s) => s.trim().parse().map(UInt64).map_err(|_| {
                InputValueError::custom(format!("{s:?} is not an unsigned 64-bit integer"))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A NodeState is the state of an individual node in the cluster.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct NodeState {
    /// Node type: `zero`, `alpha`, `auth`, `backup-worker` or `gateway`.
    pub instance: Option<String>,
    /// Address of the node.
    pub address: Option<String>,
    /// Node health status: either 'healthy' or 'unhealthy'.
    pub status: Option<String>,
    /// The group this node belongs to.
    pub group: Option<String>,
    /// Version of the binary.
    pub version: Option<String>,
    /// Seconds since the node started.
    pub uptime: Option<Int64>,
    /// Unix time at which the node last answered.
    pub last_echo: Option<Int64>,
    /// List of ongoing operations in the background.
    pub ongoing: List<String>,
    /// List of predicates for which indexes are built in the background.
    pub indexing: List<String>,
    /// List of enterprise features that are enabled.
    #[graphql(name = "ee_features")]
    pub ee_features: List<String>,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct MembershipState {
    pub counter: Option<UInt64>,
    pub groups: List<ClusterGroup>,
    pub zeros: List<Member>,
    #[graphql(name = "maxUID")]
    pub max_uid: Option<UInt64>,
    #[graphql(name = "maxNsID")]
    pub max_ns_id: Option<UInt64>,
    pub max_txn_ts: Option<UInt64>,
    pub max_raft_id: Option<UInt64>,
    pub removed: List<Member>,
    pub cid: Option<String>,
    pub license: Option<License>,
    /// Contains list of namespaces.
    pub namespaces: List<UInt64>,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct ClusterGroup {
    pub id: Option<UInt64>,
    pub members: List<Member>,
    pub tablets: List<Tablet>,
    pub snapshot_ts: Option<UInt64>,
    pub checksum: Option<UInt64>,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct Member {
    pub id: Option<UInt64>,
    pub group_id: Option<UInt64>,
    pub addr: Option<String>,
    pub leader: Option<bool>,
    pub am_dead: Option<bool>,
    pub last_update: Option<UInt64>,
    pub cluster_info_only: Option<bool>,
    pub force_group_id: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct Tablet {
    pub group_id: Option<UInt64>,
    pub predicate: Option<String>,
    pub force: Option<bool>,
    /// `Int` in Dgraph's schema, which Dgraph serves as a 64-bit number.
    pub space: Option<i64>,
    pub remove: Option<bool>,
    pub read_only: Option<bool>,
    pub move_ts: Option<UInt64>,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct License {
    pub user: Option<String>,
    pub max_nodes: Option<UInt64>,
    pub expiry_ts: Option<Int64>,
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, InputObject)]
pub struct EnterpriseLicenseInput {
    /// The contents of license file as a String.
    pub license: String,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct EnterpriseLicensePayload {
    pub response: Option<AdminResponse>,
}

/// Dgraph's `Response { code message }`, shared by the admin mutations' payloads.
#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
#[graphql(name = "Response")]
pub struct AdminResponse {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl AdminResponse {
    /// `{code: "Success", message}`.
    pub fn success(message: impl Into<String>) -> Self {
        AdminResponse {
            code: Some("Success".to_string()),
            message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint64_is_a_string_both_ways_and_survives_the_top_of_its_range() {
        let max = UInt64(u64::MAX);
        assert_eq!(
            max.to_value(),
            Value::String("18446744073709551615".to_string())
        );
        assert_eq!(UInt64::parse(max.to_value()).unwrap(), max);
        assert_eq!(
            UInt64::parse(Value::Number(7u64.into())).unwrap(),
            UInt64(7)
        );
        assert!(UInt64::parse(Value::Number((-1i64).into())).is_err());
        assert!(UInt64::parse(Value::String("0x10".into())).is_err());
        assert!(UInt64::parse(Value::Boolean(true)).is_err());
    }

    #[test]
    fn int64_is_a_number_and_takes_strings_too() {
        assert_eq!(Int64(-5).to_value(), Value::Number((-5i64).into()));
        assert_eq!(
            Int64::parse(Value::String("-9223372036854775808".into())).unwrap(),
            Int64(i64::MIN)
        );
        assert!(Int64::parse(Value::Number(u64::MAX.into())).is_err());
    }
}
