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

/// Dgraph's `DateTime`: an instant, written as an RFC 3339 string in UTC with whole seconds
/// (`2021-05-17T09:56:41Z`, as Go's `time.RFC3339` renders it); parsed from RFC 3339 with any
/// offset (a fraction of a second is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since the Unix epoch.
    pub unix_secs: i64,
}

/// The DateTime scalar type represents date and time as a string in RFC3339 format.
/// For example: "1985-04-12T23:20:50.52Z" represents 20 mins 50.52 secs after the 23rd hour of Apr 12th 1985 in UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_rfc3339(s)
                .map(|unix_secs| DateTime { unix_secs })
                .ok_or_else(|| {
                    InputValueError::custom(format!(
                        "{s:?} is not an RFC 3339 date and time, like 2021-05-17T09:56:41Z"
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_rfc3339(self.unix_secs))
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d`. The year is shifted to start
/// in March so that the leap day falls at its end; 400-year eras repeat exactly.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = (m + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `unix_secs` as RFC 3339 in UTC, whole seconds.
pub fn format_rfc3339(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let secs = unix_secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > month_days || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
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
pub struct MoveTabletInput {
    /// The namespace of the predicate (0, the only one, when left out).
    pub namespace: Option<UInt64>,
    /// The predicate to move.
    pub tablet: String,
    /// The group to move it to.
    pub group_id: UInt64,
}

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct MoveTabletPayload {
    pub response: Option<AdminResponse>,
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

#[derive(Clone, Debug, Default, PartialEq, SimpleObject)]
pub struct DrainingPayload {
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
    fn datetime_is_rfc3339_in_utc_both_ways() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_621_245_401, "2021-05-17T09:56:41Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ];
        for (secs, text) in cases {
            let t = DateTime { unix_secs: secs };
            assert_eq!(t.to_value(), Value::String(text.to_string()), "{secs}");
            assert_eq!(DateTime::parse(t.to_value()).unwrap(), t, "{text}");
        }
        assert_eq!(
            parse_rfc3339("2021-05-17T11:56:41.969+02:00"),
            Some(1_621_245_401)
        );
        assert_eq!(
            parse_rfc3339("2021-05-17t04:56:41-05:00"),
            Some(1_621_245_401)
        );
        for bad in [
            "2021-02-29T00:00:00Z",
            "2021-05-17T09:56:41",
            "2021-05-17 09:56",
            "2021-13-01T00:00:00Z",
            "2021-05-17T09:56:41.Z",
            "2021-05-17T09:56:41+2:00",
            "１９７０-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(DateTime::parse(Value::Number(0.into())).is_err());
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
