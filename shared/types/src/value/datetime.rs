//! Dgraph's datetime text forms: parsing the layouts `types.ParseTime` accepts and rendering
//! Go's RFC 3339 "nano" layout, which is what Dgraph puts in JSON responses.
//!
//! Accepted, in Dgraph's order of attempts (Go layout notation):
//! * `2006`, `2006-01`, `2006-01-02` (chosen by length, UTC midnight);
//! * RFC 3339 `2006-01-02T15:04:05[.fraction](Z|±07:00)`;
//! * Go's `time.String()` form `2006-01-02 15:04:05[.fraction] -0700 MST`;
//! * `2006-01-02T15:04:05[.fraction]` without a zone, taken as UTC.
//!
//! Like Go, the fraction may have any number of digits (nanoseconds keep the first nine) and
//! seconds must be below 60: leap seconds are refused.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};

/// Parses `s` with Dgraph's rules, or `None` when no accepted layout matches.
pub(crate) fn parse(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    // Go's ParseTime picks the date-only layouts by length alone.
    match b.len() {
        4 => {
            let mut c = Cursor::new(b);
            let y = c.digits(4)?;
            return build(y, 1, 1, 0, 0, 0, 0, 0);
        }
        7 => {
            let mut c = Cursor::new(b);
            let y = c.digits(4)?;
            c.byte(b'-')?;
            let m = c.digits(2)?;
            return build(y, m, 1, 0, 0, 0, 0, 0);
        }
        10 => {
            let mut c = Cursor::new(b);
            let (y, m, d) = c.date()?;
            c.end()?;
            return build(y, m, d, 0, 0, 0, 0, 0);
        }
        _ => {}
    }
    let looks_rfc3339 =
        b.len() > 19 && b[10] == b'T' && (b[b.len() - 1] == b'Z' || b[b.len() - 3] == b':');
    if looks_rfc3339 {
        return rfc3339(b);
    }
    go_string_layout(b).or_else(|| zoneless(b))
}

/// `2006-01-02T15:04:05[.frac](Z|±hh:mm)`.
fn rfc3339(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    let mut c = Cursor::new(b);
    let (y, m, d) = c.date()?;
    c.byte(b'T')?;
    let (h, mi, s, ns) = c.clock()?;
    let offset = if c.peek() == Some(b'Z') {
        c.i += 1;
        0
    } else {
        let sign = c.sign()?;
        let oh = c.digits(2)?;
        c.byte(b':')?;
        let om = c.digits(2)?;
        offset_secs(sign, oh, om)?
    };
    c.end()?;
    build(y, m, d, h, mi, s, ns, offset)
}

/// Go's `time.String()` layout: `2006-01-02 15:04:05[.frac] -0700 MST`.
fn go_string_layout(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    let mut c = Cursor::new(b);
    let (y, m, d) = c.date()?;
    c.byte(b' ')?;
    let (h, mi, s, ns) = c.clock()?;
    c.byte(b' ')?;
    let sign = c.sign()?;
    let oh = c.digits(2)?;
    let om = c.digits(2)?;
    let offset = offset_secs(sign, oh, om)?;
    c.byte(b' ')?;
    // The abbreviation is informational once the numeric offset is known (Go does the same).
    let abbr = &b[c.i..];
    if !(3..=5).contains(&abbr.len()) || !abbr.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    build(y, m, d, h, mi, s, ns, offset)
}

/// `2006-01-02T15:04:05[.frac]`, no zone: UTC.
fn zoneless(b: &[u8]) -> Option<DateTime<FixedOffset>> {
    let mut c = Cursor::new(b);
    let (y, m, d) = c.date()?;
    c.byte(b'T')?;
    let (h, mi, s, ns) = c.clock()?;
    c.end()?;
    build(y, m, d, h, mi, s, ns, 0)
}

fn offset_secs(sign: i32, hours: u32, minutes: u32) -> Option<i32> {
    if hours > 23 || minutes > 59 {
        return None;
    }
    // Both are below 60, so the cast cannot truncate.
    Some(sign * (hours * 3600 + minutes * 60) as i32)
}

#[allow(clippy::too_many_arguments)]
fn build(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    offset: i32,
) -> Option<DateTime<FixedOffset>> {
    // Seconds 60 would be a chrono leap second; Go refuses them, and so do we.
    if second > 59 {
        return None;
    }
    let year = i32::try_from(year).ok()?;
    let naive =
        NaiveDate::from_ymd_opt(year, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)?;
    let offset = FixedOffset::east_opt(offset)?;
    offset.from_local_datetime(&naive).single()
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.i += 1)
    }

    fn end(&self) -> Option<()> {
        (self.i == self.b.len()).then_some(())
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let chunk = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &d in chunk {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        self.i += n;
        Some(v)
    }

    fn sign(&mut self) -> Option<i32> {
        let s = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.i += 1;
        Some(s)
    }

    fn date(&mut self) -> Option<(u32, u32, u32)> {
        let y = self.digits(4)?;
        self.byte(b'-')?;
        let m = self.digits(2)?;
        self.byte(b'-')?;
        let d = self.digits(2)?;
        Some((y, m, d))
    }

    /// `15:04:05` plus an optional fraction introduced by `.` or `,` (as Go accepts).
    fn clock(&mut self) -> Option<(u32, u32, u32, u32)> {
        let h = self.digits(2)?;
        self.byte(b':')?;
        let mi = self.digits(2)?;
        self.byte(b':')?;
        let s = self.digits(2)?;
        let mut nanos = 0u32;
        let has_fraction = matches!(self.peek(), Some(b'.' | b','))
            && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit);
        if has_fraction {
            self.i += 1;
            let mut scale = 100_000_000u32;
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                nanos += u32::from(d - b'0') * scale;
                scale /= 10;
                self.i += 1;
            }
        }
        Some((h, mi, s, nanos))
    }
}

/// Go's `time.RFC3339Nano` rendering (what `time.Time.MarshalJSON` produces): the fraction
/// loses trailing zeros and disappears when zero; a zero offset is written `Z`.
pub(crate) fn format_rfc3339_nano(t: &DateTime<FixedOffset>) -> String {
    let year = t.year();
    let mut out = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:04}", year.unsigned_abs())
    } else {
        year.to_string()
    };
    out.push_str(&format!(
        "-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ));
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        format_rfc3339_nano(&parse(s).unwrap_or_else(|| panic!("{s} should parse")))
    }

    #[test]
    fn date_only_layouts_are_utc_midnight() {
        assert_eq!(p("2006"), "2006-01-01T00:00:00Z");
        assert_eq!(p("2006-03"), "2006-03-01T00:00:00Z");
        assert_eq!(p("2006-03-04"), "2006-03-04T00:00:00Z");
    }

    #[test]
    fn rfc3339_keeps_offset_and_fraction() {
        assert_eq!(p("2006-01-02T15:04:05Z"), "2006-01-02T15:04:05Z");
        assert_eq!(p("2006-01-02T15:04:05.120Z"), "2006-01-02T15:04:05.12Z");
        assert_eq!(p("2006-01-02T15:04:05+10:00"), "2006-01-02T15:04:05+10:00");
        assert_eq!(
            p("2006-01-02T15:04:05.999999999-07:30"),
            "2006-01-02T15:04:05.999999999-07:30"
        );
        assert_eq!(p("2006-01-02T15:04:05+00:00"), "2006-01-02T15:04:05Z");
        // More than nine fraction digits are truncated, as in Go.
        assert_eq!(
            p("2006-01-02T15:04:05.1234567891Z"),
            "2006-01-02T15:04:05.123456789Z"
        );
    }

    #[test]
    fn zoneless_and_go_string_layouts() {
        assert_eq!(p("2006-01-02T15:04:05"), "2006-01-02T15:04:05Z");
        assert_eq!(p("2006-01-02T15:04:05.5"), "2006-01-02T15:04:05.5Z");
        assert_eq!(p("2017-07-04 12:54:54 +0000 UTC"), "2017-07-04T12:54:54Z");
        assert_eq!(
            p("2017-07-04 12:54:54.25 +0530 IST"),
            "2017-07-04T12:54:54.25+05:30"
        );
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "06",
            "2006-1-02",
            "2006-13",
            "2006-02-30",
            "2006-01-02T24:00:00Z",
            "2006-01-02T15:04:60Z",
            "2006-01-02T15:04Z",
            "2006-01-02T15:04:05+0530",
            "2006-01-02T15:04:05+24:00",
            "2006-01-02 15:04:05",
            "2006-01-02t15:04:05z",
            "abcd",
            "2006-01-02T15:04:05.Z",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn year_outside_four_digits_still_formats() {
        let t = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(12000, 1, 1, 0, 0, 0)
            .unwrap();
        assert_eq!(format_rfc3339_nano(&t), "12000-01-01T00:00:00Z");
        let t = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(-5, 1, 1, 0, 0, 0)
            .unwrap();
        assert_eq!(format_rfc3339_nano(&t), "-0005-01-01T00:00:00Z");
    }
}
