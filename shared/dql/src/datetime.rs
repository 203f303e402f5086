//! Shape checks for the date-time forms Dgraph accepts. Values are kept as written; these checks
//! only decide whether a text is a date-time (facet type inference) or reject a malformed
//! `xs:dateTime` literal early, with a position.

/// Whether `s` is a facet date-time: `2006-01-02`, or `2006-01-02T15:04:05` with optional
/// fractional seconds and an optional `Z` / `±07:00` zone (RFC 3339).
pub(crate) fn is_facet_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    if !date_ok(b, 3) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    b[10] == b'T' && time_ok(&b[11..], true)
}

/// Whether `s` is a date-time as `xs:dateTime` / `xs:date` literals accept it: `2006`,
/// `2006-01`, `2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`, or the facet forms above.
pub(crate) fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        4 => return digits(b, 0, 4),
        7 => return date_ok(b, 2),
        _ => {}
    }
    if !date_ok(b, 3) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    b[10] == b'T' && time_ok(&b[11..], false)
}

fn digits(b: &[u8], from: usize, n: usize) -> bool {
    b.len() >= from + n && b[from..from + n].iter().all(u8::is_ascii_digit)
}

fn num(b: &[u8], from: usize, n: usize) -> u32 {
    b[from..from + n]
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// `parts` = 2 checks `YYYY-MM`, 3 checks `YYYY-MM-DD` (followed by anything).
fn date_ok(b: &[u8], parts: usize) -> bool {
    if !digits(b, 0, 4) || b.len() < 7 || b[4] != b'-' || !digits(b, 5, 2) {
        return false;
    }
    if !(1..=12).contains(&num(b, 5, 2)) {
        return false;
    }
    if parts == 2 {
        return b.len() == 7;
    }
    b.len() >= 10 && b[7] == b'-' && digits(b, 8, 2) && (1..=31).contains(&num(b, 8, 2))
}

/// Checks `HH[:MM[:SS[.f+]]][zone]`; with `full` the seconds are required. A zone is only
/// accepted after the seconds, as in RFC 3339.
fn time_ok(b: &[u8], full: bool) -> bool {
    if !digits(b, 0, 2) || num(b, 0, 2) > 23 {
        return false;
    }
    if b.len() == 2 {
        return !full;
    }
    if b[2] != b':' || !digits(b, 3, 2) || num(b, 3, 2) > 59 {
        return false;
    }
    if b.len() == 5 {
        return !full;
    }
    if b[5] != b':' || !digits(b, 6, 2) || num(b, 6, 2) > 60 {
        return false;
    }
    let mut i = 8;
    if i < b.len() && b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    zone_ok(&b[i..])
}

fn zone_ok(b: &[u8]) -> bool {
    match b {
        [] | [b'Z'] | [b'z'] => true,
        [sign, ..] if (*sign == b'+' || *sign == b'-') && b.len() == 6 => {
            digits(b, 1, 2)
                && b[3] == b':'
                && digits(b, 4, 2)
                && num(b, 1, 2) <= 23
                && num(b, 4, 2) <= 59
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facet_datetimes() {
        for ok in [
            "2006-01-02",
            "2006-01-02T15:04:05",
            "2006-01-02T15:04:05Z",
            "2006-01-02T15:04:05.999+07:00",
            "2006-01-02T15:04:05-07:00",
        ] {
            assert!(is_facet_datetime(ok), "{ok}");
        }
        for bad in [
            "2006",
            "2006-01",
            "2006-13-02",
            "2006-01-02T",
            "2006-01-02T15:04",
            "2006-01-02T25:04:05",
            "2006-01-02T15:04:05+0700",
            "2006-01-02T15:04:05.",
            "20060102",
            "",
            "2006-01-02x",
        ] {
            assert!(!is_facet_datetime(bad), "{bad}");
        }
    }

    #[test]
    fn literal_datetimes_accept_partial_forms() {
        for ok in [
            "2006",
            "2006-01",
            "2006-01-02",
            "2006-01-02T15",
            "2006-01-02T15:04",
            "2006-01-02T15:04:05Z",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        for bad in [
            "06",
            "2006-1",
            "2006-01-02T15Z",
            "yesterday",
            "2006-01-02 15:04:05",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
    }
}
