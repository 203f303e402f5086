//! Index tokens: the keys under which a value is found in a predicate's index, on the write
//! side (one value, its tokens) and the query side (equality, terms, ranges, full text,
//! regular expressions, geographic regions).
//!
//! Every token starts with its tokenizer's one-byte id, so that the indexes one predicate has
//! (say `exact` and `term`) never share a key. The ids are Dgraph's (`tok/tok.go`); the bytes
//! after them are Lodestar's own and, being stored, must never change:
//!
//! | kind | id | token after the id | sortable | lossy |
//! |---|---|---|---|---|
//! | `term` | 0x01 | one lowercased word | no | yes |
//! | `exact` | 0x02 | the string's bytes | yes | no |
//! | `year` | 0x04 | UTC year, i32 with the sign bit flipped, BE | yes | yes |
//! | `month` | 0x41 | year, then month (1 byte) | yes | yes |
//! | `day` | 0x42 | year, month, day | yes | yes |
//! | `hour` | 0x43 | year, month, day, hour | yes | yes |
//! | `int` | 0x06 | i64 with the sign bit flipped, BE | yes | no |
//! | `float` | 0x07 | f64 bits made order-preserving, BE (`-0.0` as `0.0`) | yes | no |
//! | `bool` | 0x09 | 0 or 1 | no | no |
//! | `hash` | 0x0B | xxh3-64 of the string, BE | no | yes |
//! | `sha256` | 0x0C | the first 64 bytes of the string, if it has that many | no | no |
//! | `fulltext` | 0x08 | one word, analysed in the value's language ([`fulltext`]) | no | yes |
//! | `trigram` | 0x0A | three consecutive bytes of the string ([`trigram`]) | no | yes |
//! | `geo` | 0x05 | `c` or `p`, level (1 byte), column and row (u32 BE each): a quadtree cell ([`geo`]) | no | yes |
//!
//! "Sortable" kinds keep the value order in the token order, so a range query is a key range;
//! "lossy" kinds map several values to one token, so the caller must check candidates against
//! the stored value. Dgraph's `hash` is a 256-bit blake2b and its `float` index truncates to
//! an integer; here `hash` is the 8-byte xxh3 (hence lossy) and `float` is exact.

use std::collections::HashSet;
use std::fmt;
use std::ops::Bound;

use chrono::{Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::value::{ScalarType, Val};

pub mod fulltext;
pub mod geo;
pub mod trigram;

/// An index tokenizer, as named in `@index(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Whole string, for `eq` and string ranges.
    Exact,
    /// Hash of the whole string, for `eq` on long strings.
    Hash,
    /// Words, for `allofterms`/`anyofterms`.
    Term,
    /// Integers.
    Int,
    /// Floats.
    Float,
    /// Booleans.
    Bool,
    /// Datetimes at year granularity (the default datetime index).
    Year,
    /// Datetimes at month granularity.
    Month,
    /// Datetimes at day granularity.
    Day,
    /// Datetimes at hour granularity.
    Hour,
    /// The 64-character SHA-256 prefix of a string (persisted GraphQL queries).
    Sha256,
    /// Stemmed words without stop words, for `alloftext`/`anyoftext`.
    Fulltext,
    /// 3-byte windows, for `regexp` and `match`.
    Trigram,
    /// Quadtree cells, for `near`, `within`, `contains` and `intersects`.
    Geo,
}

impl IndexKind {
    /// Every supported tokenizer.
    pub const ALL: [IndexKind; 14] = [
        IndexKind::Exact,
        IndexKind::Hash,
        IndexKind::Term,
        IndexKind::Int,
        IndexKind::Float,
        IndexKind::Bool,
        IndexKind::Year,
        IndexKind::Month,
        IndexKind::Day,
        IndexKind::Hour,
        IndexKind::Sha256,
        IndexKind::Fulltext,
        IndexKind::Trigram,
        IndexKind::Geo,
    ];

    /// The name used in `@index(...)` and in schema JSON.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Exact => "exact",
            IndexKind::Hash => "hash",
            IndexKind::Term => "term",
            IndexKind::Int => "int",
            IndexKind::Float => "float",
            IndexKind::Bool => "bool",
            IndexKind::Year => "year",
            IndexKind::Month => "month",
            IndexKind::Day => "day",
            IndexKind::Hour => "hour",
            IndexKind::Sha256 => "sha256",
            IndexKind::Fulltext => "fulltext",
            IndexKind::Trigram => "trigram",
            IndexKind::Geo => "geo",
        }
    }

    /// Looks a tokenizer up by name, ignoring ASCII case as Dgraph does. `datetime`, the
    /// name old Dgraph versions used, means `year`.
    pub fn from_name(name: &str) -> Option<IndexKind> {
        if name.eq_ignore_ascii_case("datetime") {
            return Some(IndexKind::Year);
        }
        IndexKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The byte every token of this kind starts with (Dgraph's identifier).
    pub fn id(self) -> u8 {
        match self {
            IndexKind::Term => 0x01,
            IndexKind::Exact => 0x02,
            IndexKind::Year => 0x04,
            IndexKind::Month => 0x41,
            IndexKind::Day => 0x42,
            IndexKind::Hour => 0x43,
            IndexKind::Int => 0x06,
            IndexKind::Float => 0x07,
            IndexKind::Bool => 0x09,
            IndexKind::Hash => 0x0B,
            IndexKind::Sha256 => 0x0C,
            IndexKind::Fulltext => 0x08,
            IndexKind::Trigram => 0x0A,
            IndexKind::Geo => 0x05,
        }
    }

    /// The predicate type this tokenizer indexes.
    pub fn value_type(self) -> ScalarType {
        match self {
            IndexKind::Exact
            | IndexKind::Hash
            | IndexKind::Term
            | IndexKind::Sha256
            | IndexKind::Fulltext
            | IndexKind::Trigram => ScalarType::String,
            IndexKind::Geo => ScalarType::Geo,
            IndexKind::Int => ScalarType::Int,
            IndexKind::Float => ScalarType::Float,
            IndexKind::Bool => ScalarType::Bool,
            IndexKind::Year | IndexKind::Month | IndexKind::Day | IndexKind::Hour => {
                ScalarType::DateTime
            }
        }
    }

    /// Whether token order follows value order, so ranges and sorting can use the index. A
    /// predicate may have at most one sortable index.
    pub fn is_sortable(self) -> bool {
        matches!(
            self,
            IndexKind::Exact
                | IndexKind::Int
                | IndexKind::Float
                | IndexKind::Year
                | IndexKind::Month
                | IndexKind::Day
                | IndexKind::Hour
        )
    }

    /// Whether different values can share a token, so index hits must be checked against the
    /// stored values.
    pub fn is_lossy(self) -> bool {
        matches!(
            self,
            IndexKind::Term
                | IndexKind::Hash
                | IndexKind::Fulltext
                | IndexKind::Trigram
                | IndexKind::Geo
                | IndexKind::Year
                | IndexKind::Month
                | IndexKind::Day
                | IndexKind::Hour
        )
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value a tokenizer cannot index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    /// The value's type is not the tokenizer's (convert it to the predicate type first).
    #[error("cannot index {ty} value with the {kind} tokenizer: it indexes {} values", kind.value_type())]
    TypeMismatch {
        /// The tokenizer.
        kind: IndexKind,
        /// The value's type.
        ty: ScalarType,
    },
    /// Range queries need a sortable tokenizer.
    #[error("cannot answer a range query with the {0} index: it is not sortable")]
    NotSortable(IndexKind),
    /// A stored geo value that is not a geometry this index understands.
    #[error("cannot index geo value with the geo tokenizer: {0}")]
    Geometry(String),
}

/// The tokens under which `value` is indexed by `kind`, for a value without a language tag
/// (see [`tokens_in`]).
pub fn tokens(kind: IndexKind, value: &Val) -> Result<Vec<Vec<u8>>, TokenizeError> {
    tokens_in(kind, value, None)
}

/// The tokens under which `value`, tagged with language `lang`, is indexed by `kind`. Only
/// `fulltext` depends on the language. Term tokens are deduplicated; a value with no tokens
/// (an empty string under `term`, a short one under `sha256` or `trigram`) is simply not in
/// that index.
pub fn tokens_in(
    kind: IndexKind,
    value: &Val,
    lang: Option<&str>,
) -> Result<Vec<Vec<u8>>, TokenizeError> {
    let mismatch = || TokenizeError::TypeMismatch {
        kind,
        ty: value.ty(),
    };
    let id = kind.id();
    let one = |payload: &[u8]| vec![prefixed(id, payload)];
    Ok(match (kind, value) {
        (IndexKind::Exact, Val::String(s)) => one(s.as_bytes()),
        (IndexKind::Hash, Val::String(s)) => {
            one(&xxhash_rust::xxh3::xxh3_64(s.as_bytes()).to_be_bytes())
        }
        (IndexKind::Term, Val::String(s)) => tokens_for_terms(s),
        (IndexKind::Fulltext, Val::String(s)) => tokens_for_text(s, lang),
        (IndexKind::Trigram, Val::String(s)) => trigram::tokens(s),
        (IndexKind::Geo, Val::Geo(text)) => {
            geo::index_tokens(&geo::parse_geojson(text).map_err(TokenizeError::Geometry)?)
        }
        (IndexKind::Sha256, Val::String(s)) => match s.as_bytes().get(..64) {
            Some(prefix) => one(prefix),
            None => Vec::new(),
        },
        (IndexKind::Int, Val::Int(i)) => one(&encode_i64(*i)),
        (IndexKind::Float, Val::Float(f)) => one(&encode_f64(*f)),
        (IndexKind::Bool, Val::Bool(b)) => one(&[u8::from(*b)]),
        (
            IndexKind::Year | IndexKind::Month | IndexKind::Day | IndexKind::Hour,
            Val::DateTime(t),
        ) => one(&encode_datetime(kind, t)),
        _ => return Err(mismatch()),
    })
}

/// The tokens to look up for `eq(predicate, value)`: the value's own tokens. For the lossy
/// kinds (`term`, `hash`, datetime granularities) the hits must be checked against the stored
/// value; for `term` a hit must carry every token.
pub fn tokens_for_eq(kind: IndexKind, value: &Val) -> Result<Vec<Vec<u8>>, TokenizeError> {
    tokens(kind, value)
}

/// The `term` tokens of `text`: Unicode words (UAX #29, the segmentation Dgraph's bleve
/// tokenizer uses), lowercased, in first-seen order without duplicates. Both sides of
/// `allofterms`/`anyofterms` use this.
pub fn tokens_for_terms(text: &str) -> Vec<Vec<u8>> {
    terms(text)
        .into_iter()
        .map(|t| prefixed(IndexKind::Term.id(), t.as_bytes()))
        .collect()
}

/// The `fulltext` tokens of `text` in language `lang` (see [`fulltext::words`]). Both sides of
/// `alloftext`/`anyoftext` use this, each with its own language.
pub fn tokens_for_text(text: &str, lang: Option<&str>) -> Vec<Vec<u8>> {
    fulltext::words(text, lang)
        .into_iter()
        .map(|w| prefixed(IndexKind::Fulltext.id(), w.as_bytes()))
        .collect()
}

/// The words of `text` as [`tokens_for_terms`] sees them, without the tokenizer byte.
pub fn terms(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    text.unicode_words()
        // Char-wise lowercasing keeps a word's tokens independent of its neighbours (no
        // context-dependent final sigma), as Go's unicode.ToLower is.
        .map(|w| w.chars().flat_map(char::to_lowercase).collect::<String>())
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// A range of index keys: lower and upper bound, as `BTreeMap::range` and most key-value
/// stores take them.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A range comparison of a query function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
}

/// The token key range to scan for `op(predicate, value)` in a sortable index: every token of
/// `kind` on the matching side of the value's token. For lossy kinds the bound is inclusive
/// whatever the operator, because the value's bucket can hold both smaller and larger values;
/// the caller then filters the candidates with [`Val::compare`].
pub fn range_bounds(kind: IndexKind, op: RangeOp, value: &Val) -> Result<KeyRange, TokenizeError> {
    if !kind.is_sortable() {
        return Err(TokenizeError::NotSortable(kind));
    }
    let token = tokens(kind, value)?
        .into_iter()
        .next()
        .ok_or(TokenizeError::TypeMismatch {
            kind,
            ty: value.ty(),
        })?;
    let (all_lower, all_upper) = kind_bounds(kind);
    let exclusive = |t: Vec<u8>| {
        if kind.is_lossy() {
            Bound::Included(t)
        } else {
            Bound::Excluded(t)
        }
    };
    Ok(match op {
        RangeOp::Lt => (all_lower, exclusive(token)),
        RangeOp::Le => (all_lower, Bound::Included(token)),
        RangeOp::Gt => (exclusive(token), all_upper),
        RangeOp::Ge => (Bound::Included(token), all_upper),
    })
}

/// The key range holding every token of `kind` and nothing else: `[id]` up to, excluding,
/// `[id + 1]`.
pub fn kind_bounds(kind: IndexKind) -> KeyRange {
    let id = kind.id();
    // Built-in ids stay below 0x80, so `id + 1` cannot overflow.
    (Bound::Included(vec![id]), Bound::Excluded(vec![id + 1]))
}

fn prefixed(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(payload.len() + 1);
    t.push(id);
    t.extend_from_slice(payload);
    t
}

/// Flipping the sign bit makes two's complement sort as unsigned big-endian bytes.
fn encode_i64(i: i64) -> [u8; 8] {
    ((i as u64) ^ (1 << 63)).to_be_bytes()
}

/// Positive floats: set the sign bit; negative floats: invert all bits. Then unsigned
/// big-endian order is numeric order. `-0.0` is folded into `0.0` so equal values share a
/// token.
fn encode_f64(f: f64) -> [u8; 8] {
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    key.to_be_bytes()
}

fn encode_datetime(kind: IndexKind, t: &chrono::DateTime<chrono::FixedOffset>) -> Vec<u8> {
    let t = t.with_timezone(&Utc);
    let mut out = ((t.year() as u32) ^ (1 << 31)).to_be_bytes().to_vec();
    let parts = match kind {
        IndexKind::Month => 1,
        IndexKind::Day => 2,
        IndexKind::Hour => 3,
        _ => 0,
    };
    // Month 1-12, day 1-31, hour 0-23 all fit a byte.
    let fields = [t.month() as u8, t.day() as u8, t.hour() as u8];
    out.extend_from_slice(&fields[..parts]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dt(s: &str) -> Val {
        Val::DateTime(Val::parse_datetime(s).unwrap())
    }

    fn s(text: &str) -> Val {
        Val::String(text.into())
    }

    #[test]
    fn names_and_ids_are_unique() {
        let names: HashSet<_> = IndexKind::ALL.iter().map(|k| k.name()).collect();
        let ids: HashSet<_> = IndexKind::ALL.iter().map(|k| k.id()).collect();
        assert_eq!(names.len(), IndexKind::ALL.len());
        assert_eq!(ids.len(), IndexKind::ALL.len());
        for k in IndexKind::ALL {
            assert_eq!(IndexKind::from_name(k.name()), Some(k));
            assert_eq!(IndexKind::from_name(&k.name().to_uppercase()), Some(k));
        }
        assert_eq!(IndexKind::from_name("datetime"), Some(IndexKind::Year));
        assert_eq!(IndexKind::from_name("FullText"), Some(IndexKind::Fulltext));
        assert_eq!(IndexKind::from_name("ngram"), None);
    }

    #[test]
    fn exact_token_is_id_then_bytes() {
        assert_eq!(
            tokens(IndexKind::Exact, &s("Ab")).unwrap(),
            vec![b"\x02Ab".to_vec()]
        );
    }

    #[test]
    fn hash_token_is_pinned_xxh3() {
        // Stored on disk: this value must never change.
        let t = tokens(IndexKind::Hash, &s("hello")).unwrap();
        let mut want = vec![0x0B];
        want.extend_from_slice(&0x9555e8555c62dcfd_u64.to_be_bytes());
        assert_eq!(t, vec![want]);
    }

    #[test]
    fn term_tokens_are_lowercased_unique_words() {
        assert_eq!(
            terms("The quick, QUICK brown-fox's 42 jumps! ΣΊΣΥΦΟΣ"),
            vec!["the", "quick", "brown", "fox's", "42", "jumps", "σίσυφοσ"]
        );
        assert!(terms("  ,;!  ").is_empty());
        assert!(tokens(IndexKind::Term, &s("")).unwrap().is_empty());
        let toks = tokens_for_terms("Hello hello");
        assert_eq!(toks, vec![b"\x01hello".to_vec()]);
        // Index and query side agree.
        assert_eq!(tokens(IndexKind::Term, &s("HELLO")).unwrap(), toks);
    }

    #[test]
    fn search_tokens_are_pinned() {
        // Stored on disk: these bytes must never change.
        assert_eq!(
            tokens_in(IndexKind::Fulltext, &s("The Runners ran"), None).unwrap(),
            vec![b"\x08runner".to_vec(), b"\x08ran".to_vec()]
        );
        assert_eq!(
            tokens_in(IndexKind::Fulltext, &s("Die Häuser"), Some("de")).unwrap(),
            vec![b"\x08haus".to_vec()]
        );
        assert_eq!(
            tokens(IndexKind::Trigram, &s("abcd")).unwrap(),
            vec![b"\x0Aabc".to_vec(), b"\x0Abcd".to_vec()]
        );
        let geo = tokens(
            IndexKind::Geo,
            &Val::Geo(r#"{"type":"Point","coordinates":[-122.4,37.7]}"#.into()),
        )
        .unwrap();
        assert!(geo.iter().all(|t| t.len() == 11 && t[0] == 0x05));
        assert!(geo.contains(&vec![0x05, b'p', 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(matches!(
            tokens(IndexKind::Geo, &Val::Geo("{}".into())),
            Err(TokenizeError::Geometry(_))
        ));
        assert!(tokens(IndexKind::Fulltext, &Val::Int(1)).is_err());
    }

    #[test]
    fn sha256_indexes_only_the_64_byte_prefix() {
        let long = "a".repeat(64) + "query text";
        let toks = tokens(IndexKind::Sha256, &s(&long)).unwrap();
        assert_eq!(toks.len(), 1);
        assert_eq!(toks[0].len(), 65);
        assert!(tokens(IndexKind::Sha256, &s("short")).unwrap().is_empty());
    }

    #[test]
    fn type_mismatch_is_refused() {
        let err = tokens(IndexKind::Exact, &Val::Int(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot index int value with the exact tokenizer: it indexes string values"
        );
        assert!(tokens(IndexKind::Int, &Val::Default("3".into())).is_err());
    }

    #[test]
    fn datetime_granularities_nest_and_use_utc() {
        let v = dt("2021-03-04T05:06:07+10:00"); // 2021-03-03T19:06:07Z
        let year = tokens(IndexKind::Year, &v).unwrap().remove(0);
        let month = tokens(IndexKind::Month, &v).unwrap().remove(0);
        let day = tokens(IndexKind::Day, &v).unwrap().remove(0);
        let hour = tokens(IndexKind::Hour, &v).unwrap().remove(0);
        assert_eq!(&year[1..], &month[1..5]);
        assert_eq!(&month[1..], &day[1..6]);
        assert_eq!(&day[1..], &hour[1..7]);
        assert_eq!(&hour[5..], &[3, 3, 19]);
        // Same UTC hour, different offsets: same token.
        assert_eq!(
            tokens(IndexKind::Hour, &dt("2021-03-03T19:30:00Z")).unwrap()[0],
            hour
        );
    }

    #[test]
    fn float_zero_signs_share_a_token() {
        assert_eq!(
            tokens(IndexKind::Float, &Val::Float(-0.0)).unwrap(),
            tokens(IndexKind::Float, &Val::Float(0.0)).unwrap()
        );
    }

    #[test]
    fn range_bounds_exact_and_lossy() {
        let (lo, hi) = range_bounds(IndexKind::Int, RangeOp::Gt, &Val::Int(5)).unwrap();
        let five = tokens(IndexKind::Int, &Val::Int(5)).unwrap().remove(0);
        assert_eq!(lo, Bound::Excluded(five.clone()));
        assert_eq!(hi, Bound::Excluded(vec![0x07]));
        let (lo, hi) = range_bounds(IndexKind::Int, RangeOp::Le, &Val::Int(5)).unwrap();
        assert_eq!(lo, Bound::Included(vec![0x06]));
        assert_eq!(hi, Bound::Included(five));

        let v = dt("2000-06-15");
        let (lo, _) = range_bounds(IndexKind::Year, RangeOp::Gt, &v).unwrap();
        assert_eq!(
            lo,
            Bound::Included(tokens(IndexKind::Year, &v).unwrap().remove(0))
        );
        let (_, hi) = range_bounds(IndexKind::Year, RangeOp::Lt, &v).unwrap();
        assert!(matches!(hi, Bound::Included(_)));

        assert_eq!(
            range_bounds(IndexKind::Term, RangeOp::Lt, &s("a")).unwrap_err(),
            TokenizeError::NotSortable(IndexKind::Term)
        );
    }

    fn in_range(t: &[u8], (lo, hi): &KeyRange) -> bool {
        let above = match lo {
            Bound::Included(l) => t >= l.as_slice(),
            Bound::Excluded(l) => t > l.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match hi {
            Bound::Included(h) => t <= h.as_slice(),
            Bound::Excluded(h) => t < h.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    fn one(kind: IndexKind, v: &Val) -> Vec<u8> {
        tokens(kind, v).unwrap().remove(0)
    }

    fn datetime_strategy() -> impl Strategy<Value = Val> {
        // Years 0..=9999 with any offset up to ±23:59.
        (
            -62_167_219_200i64..253_402_300_799,
            0u32..1_000_000_000,
            -86_340i32..86_340,
        )
            .prop_map(|(s, n, o)| {
                let off = chrono::FixedOffset::east_opt(o / 60 * 60).unwrap();
                Val::DateTime(
                    chrono::DateTime::from_timestamp(s, n)
                        .unwrap()
                        .with_timezone(&off),
                )
            })
    }

    proptest! {
        #[test]
        fn int_token_order_is_value_order(a: i64, b: i64) {
            let (ta, tb) = (one(IndexKind::Int, &Val::Int(a)), one(IndexKind::Int, &Val::Int(b)));
            prop_assert_eq!(a.cmp(&b), ta.cmp(&tb));
        }

        #[test]
        fn float_token_order_is_value_order(a in any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
                                            b in any::<f64>().prop_filter("not NaN", |f| !f.is_nan())) {
            let (ta, tb) = (one(IndexKind::Float, &Val::Float(a)), one(IndexKind::Float, &Val::Float(b)));
            prop_assert_eq!(a.partial_cmp(&b).unwrap(), ta.cmp(&tb));
        }

        #[test]
        fn datetime_token_order_follows_value_order(a in datetime_strategy(), b in datetime_strategy()) {
            for kind in [IndexKind::Year, IndexKind::Month, IndexKind::Day, IndexKind::Hour] {
                let (ta, tb) = (one(kind, &a), one(kind, &b));
                match a.compare(&b).unwrap() {
                    std::cmp::Ordering::Less => prop_assert!(ta <= tb),
                    std::cmp::Ordering::Greater => prop_assert!(ta >= tb),
                    std::cmp::Ordering::Equal => prop_assert_eq!(ta, tb),
                }
            }
        }

        #[test]
        fn range_bounds_contain_every_matching_int(v: i64, x: i64) {
            for (op, matches) in [
                (RangeOp::Lt, x < v), (RangeOp::Le, x <= v), (RangeOp::Gt, x > v), (RangeOp::Ge, x >= v),
            ] {
                let range = range_bounds(IndexKind::Int, op, &Val::Int(v)).unwrap();
                prop_assert_eq!(in_range(&one(IndexKind::Int, &Val::Int(x)), &range), matches);
            }
        }

        #[test]
        fn lossy_range_bounds_never_miss_a_match(v in datetime_strategy(), x in datetime_strategy()) {
            for kind in [IndexKind::Year, IndexKind::Day] {
                for (op, want) in [
                    (RangeOp::Lt, std::cmp::Ordering::Less),
                    (RangeOp::Gt, std::cmp::Ordering::Greater),
                ] {
                    let range = range_bounds(kind, op, &v).unwrap();
                    if x.compare(&v) == Some(want) {
                        prop_assert!(in_range(&one(kind, &x), &range));
                    }
                }
            }
        }

        #[test]
        fn exact_tokens_sort_like_strings(a: String, b: String) {
            let (ta, tb) = (one(IndexKind::Exact, &s(&a)), one(IndexKind::Exact, &s(&b)));
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ta.cmp(&tb));
        }

        #[test]
        fn terms_never_panic_and_are_lowercase(text: String) {
            for t in terms(&text) {
                prop_assert!(!t.is_empty());
                let lower: String = t.chars().flat_map(char::to_lowercase).collect();
                prop_assert_eq!(lower, t);
            }
        }
    }
}
