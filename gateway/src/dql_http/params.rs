//! URL parameters as Dgraph's HTTP API reads them: the first value of a name counts, an empty
//! value is the same as none, booleans, integers and durations are written as Go writes them
//! (`true`/`1`/`t`, `0x1f`, `1m30s`), since that is what Dgraph's clients send.

use super::error::ApiError;
use std::time::Duration;

/// The parameters of one request's URL, decoded.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a raw query string (`a=1&b`); `None` is no parameters.
    pub fn parse(raw: Option<&str>) -> Self {
        Params(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    /// Whether `name` is there at all, with or without a value (`/health?all`).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The first value of `name`, unless it is missing or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn bool(&self, name: &str) -> Result<bool, ApiError> {
        self.get(name).map_or(Ok(false), |v| {
            parse_bool(v).ok_or_else(|| {
                ApiError::invalid(format!(
                    "the {name} parameter must be true or false (1, t, TRUE, 0, f, FALSE... as Go reads them), not {v:?}"
                ))
            })
        })
    }

    pub fn uint(&self, name: &str) -> Result<u64, ApiError> {
        self.get(name).map_or(Ok(0), |v| {
            parse_uint(v).ok_or_else(|| {
                ApiError::invalid(format!(
                    "the {name} parameter must be an unsigned 64-bit integer (decimal, or 0x.. hexadecimal), not {v:?}"
                ))
            })
        })
    }

    /// A duration; `None` when missing, empty or zero (no limit).
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match parse_duration(v) {
            Some(d) if d.is_zero() => Ok(None),
            Some(d) => Ok(Some(d)),
            None => Err(ApiError::invalid(format!(
                "the {name} parameter must be a positive duration such as 5s, 1500ms or 1m30s, not {v:?}"
            ))),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(v, 0, 64)`: decimal, `0x` hexadecimal, `0o` or leading-`0` octal,
/// `0b` binary, with `_` allowed between digits.
pub fn parse_uint(v: &str) -> Option<u64> {
    let (radix, digits) = match v.get(..2) {
        Some("0x" | "0X") => (16, &v[2..]),
        Some("0o" | "0O") => (8, &v[2..]),
        Some("0b" | "0B") => (2, &v[2..]),
        _ if v.len() > 1 && v.starts_with('0') => (8, &v[1..]),
        _ => (10, v),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || digits.starts_with('+')
    {
        return None;
    }
    u64::from_str_radix(&digits.replace('_', ""), radix).ok()
}

/// Go's `time.ParseDuration` for durations that are not negative: a sequence of decimal
/// numbers, each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare `0`.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.strip_prefix('+').unwrap_or(v);
    if v == "0" {
        return Some(Duration::ZERO);
    }
    if v.is_empty() {
        return None;
    }
    let mut rest = v;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * nanos_per;
    }
    // Go's limit: about 290 years.
    (total <= i64::MAX as f64).then(|| Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_empty_value_counts_and_presence_is_seen() {
        let p = Params::parse(Some("startTs=12&startTs=13&all&debug=&hash=a%2Bb"));
        assert_eq!(p.get("startTs"), Some("12"));
        assert!(p.has("all") && p.has("debug"));
        assert_eq!(p.get("debug"), None);
        assert_eq!(p.get("hash"), Some("a+b"));
        assert!(!Params::parse(None).has("all"));
    }

    #[test]
    fn booleans_as_go_reads_them() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "tRUE", "2", " true"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
        let p = Params::parse(Some("commitNow=yes"));
        let e = p.bool("commitNow").unwrap_err();
        assert!(e.message.contains("commitNow") && e.message.contains("yes"));
        assert!(!Params::parse(Some("commitNow=")).bool("commitNow").unwrap());
    }

    #[test]
    fn integers_as_go_reads_them_with_base_prefixes() {
        assert_eq!(parse_uint("42"), Some(42));
        assert_eq!(parse_uint("0x2a"), Some(42));
        assert_eq!(parse_uint("0X2A"), Some(42));
        assert_eq!(parse_uint("052"), Some(42));
        assert_eq!(parse_uint("0o52"), Some(42));
        assert_eq!(parse_uint("0b101010"), Some(42));
        assert_eq!(parse_uint("1_000"), Some(1000));
        assert_eq!(parse_uint("0"), Some(0));
        assert_eq!(parse_uint("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "-1",
            "+1",
            "1.5",
            "0x",
            "_1",
            "1_",
            "1__0",
            "abc",
            "18446744073709551616",
            "09",
        ] {
            assert_eq!(parse_uint(bad), None, "{bad}");
        }
        let e = Params::parse(Some("startTs=x"))
            .uint("startTs")
            .unwrap_err();
        assert!(e.message.contains("startTs"), "{}", e.message);
    }

    #[test]
    fn durations_as_go_writes_them() {
        let d = |s| parse_duration(s);
        assert_eq!(d("5s"), Some(Duration::from_secs(5)));
        assert_eq!(d("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("2us"), Some(Duration::from_micros(2)));
        assert_eq!(d("2µs"), Some(Duration::from_micros(2)));
        assert_eq!(d("10ns"), Some(Duration::from_nanos(10)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("+3s"), Some(Duration::from_secs(3)));
        for bad in ["5", "s", "-5s", "5x", "1..5s", ".s", "", "5 s"] {
            assert_eq!(d(bad), None, "{bad}");
        }
        let p = Params::parse(Some("timeout=0s"));
        assert_eq!(p.duration("timeout").unwrap(), None);
        let e = Params::parse(Some("timeout=soon"))
            .duration("timeout")
            .unwrap_err();
        assert!(e.message.contains("timeout") && e.message.contains("soon"));
    }
}
