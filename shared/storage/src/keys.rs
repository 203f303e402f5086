//! The structured keys of the graph. Every key starts with its kind and the predicate's
//! interned id (see [`crate::Store::predicate_id`]); user text never appears in a key, only
//! numbers and index tokens (which encryption at rest will key).
//!
//! | kind | layout after the kind byte |
//! |---|---|
//! | data | predicate (u32), subject uid (u64), then the posting: target uid (u64) for edges, or a value id |
//! | index | predicate, token (length-prefixed), subject uid |
//! | reverse | predicate, target uid, subject uid |
//! | count | predicate, direction (0 forward, 1 reverse), count (u32), subject uid |
//! | schema | predicate |
//! | type | type id (interned like predicates) |
//!
//! All integers are big-endian, so keys sort by predicate, then uid or token.

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum KeyKind {
    Data = 1,
    Index = 2,
    Reverse = 3,
    Count = 4,
    Schema = 6,
    Type = 7,
}

impl KeyKind {
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => KeyKind::Data,
            2 => KeyKind::Index,
            3 => KeyKind::Reverse,
            4 => KeyKind::Count,
            6 => KeyKind::Schema,
            7 => KeyKind::Type,
            _ => return None,
        })
    }
}

/// A parsed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub kind: KeyKind,
    /// The predicate id (the type id for [`KeyKind::Type`]).
    pub pred: u32,
    /// Everything after the predicate.
    pub rest: Vec<u8>,
}

/// `[kind, pred]`: the prefix of every key of one kind of one predicate.
pub fn prefix(kind: KeyKind, pred: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(kind as u8);
    k.extend_from_slice(&pred.to_be_bytes());
    k
}

/// `[Data, pred, subject]`: the prefix of every posting of `subject` for `pred`.
pub fn data_prefix(pred: u32, subject: u64) -> Vec<u8> {
    let mut k = prefix(KeyKind::Data, pred);
    k.extend_from_slice(&subject.to_be_bytes());
    k
}

/// The key of one posting: `suffix` is the target uid for an edge, or a value id.
pub fn data_key(pred: u32, subject: u64, suffix: &[u8]) -> Vec<u8> {
    let mut k = data_prefix(pred, subject);
    k.extend_from_slice(suffix);
    k
}

/// The prefix of every index entry of `token` for `pred`.
pub fn index_prefix(pred: u32, token: &[u8]) -> Vec<u8> {
    let mut k = prefix(KeyKind::Index, pred);
    let len = u16::try_from(token.len()).unwrap_or(u16::MAX);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(&token[..len as usize]);
    k
}

pub fn index_key(pred: u32, token: &[u8], subject: u64) -> Vec<u8> {
    let mut k = index_prefix(pred, token);
    k.extend_from_slice(&subject.to_be_bytes());
    k
}

pub fn reverse_prefix(pred: u32, target: u64) -> Vec<u8> {
    let mut k = prefix(KeyKind::Reverse, pred);
    k.extend_from_slice(&target.to_be_bytes());
    k
}

pub fn reverse_key(pred: u32, target: u64, subject: u64) -> Vec<u8> {
    let mut k = reverse_prefix(pred, target);
    k.extend_from_slice(&subject.to_be_bytes());
    k
}

/// `[Count, pred, direction]`: every count entry of one direction of `pred` (`reverse` for the
/// number of nodes pointing at a node).
pub fn count_dir_prefix(pred: u32, reverse: bool) -> Vec<u8> {
    let mut k = prefix(KeyKind::Count, pred);
    k.push(u8::from(reverse));
    k
}

/// The prefix of every node of `pred` (in one direction) that has exactly `count` postings.
pub fn count_prefix(pred: u32, reverse: bool, count: u32) -> Vec<u8> {
    let mut k = count_dir_prefix(pred, reverse);
    k.extend_from_slice(&count.to_be_bytes());
    k
}

/// The `@count` index entry saying `subject` has `count` postings of `pred`.
pub fn count_key(pred: u32, reverse: bool, count: u32, subject: u64) -> Vec<u8> {
    let mut k = count_prefix(pred, reverse, count);
    k.extend_from_slice(&subject.to_be_bytes());
    k
}

pub fn schema_key(pred: u32) -> Vec<u8> {
    prefix(KeyKind::Schema, pred)
}

pub fn type_key(type_id: u32) -> Vec<u8> {
    prefix(KeyKind::Type, type_id)
}

/// Splits a key into its kind, predicate and the rest; `None` for a key not made here.
pub fn parse(key: &[u8]) -> Option<ParsedKey> {
    let (&kind, rest) = key.split_first()?;
    let kind = KeyKind::from_byte(kind)?;
    let pred = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    Some(ParsedKey {
        kind,
        pred,
        rest: rest[4..].to_vec(),
    })
}

/// Reads a big-endian u64 at `at`.
pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keys_parse_back(pred in any::<u32>(), subject in any::<u64>(), target in any::<u64>(), token in prop::collection::vec(any::<u8>(), 0..40)) {
            let k = parse(&data_key(pred, subject, &target.to_be_bytes())).unwrap();
            prop_assert_eq!((k.kind, k.pred), (KeyKind::Data, pred));
            prop_assert_eq!(u64_at(&k.rest, 0), Some(subject));
            prop_assert_eq!(u64_at(&k.rest, 8), Some(target));
            let k = parse(&index_key(pred, &token, subject)).unwrap();
            prop_assert_eq!(k.kind, KeyKind::Index);
            prop_assert_eq!(u64_at(&k.rest, 2 + token.len()), Some(subject));
            let k = parse(&reverse_key(pred, target, subject)).unwrap();
            prop_assert_eq!((u64_at(&k.rest, 0), u64_at(&k.rest, 8)), (Some(target), Some(subject)));
            let count = (target >> 32) as u32;
            let k = parse(&count_key(pred, subject % 2 == 1, count, subject)).unwrap();
            prop_assert_eq!(k.rest[0], u8::from(subject % 2 == 1));
            prop_assert_eq!(u32::from_be_bytes(k.rest[1..5].try_into().unwrap()), count);
            prop_assert_eq!(u64_at(&k.rest, 5), Some(subject));
        }

        /// One token's index entries never mix with another token's, even when one token is a
        /// prefix of the other.
        #[test]
        fn index_prefixes_are_exact(pred in any::<u32>(), a in prop::collection::vec(any::<u8>(), 0..10), b in prop::collection::vec(any::<u8>(), 0..10), s in any::<u64>()) {
            if a != b {
                prop_assert!(!index_key(pred, &b, s).starts_with(&index_prefix(pred, &a)));
            }
        }

        #[test]
        fn parse_never_panics(raw in prop::collection::vec(any::<u8>(), 0..20)) {
            let _ = parse(&raw);
        }
    }

    #[test]
    fn keys_sort_by_predicate_then_subject() {
        assert!(data_key(1, 9, &[]) < data_key(2, 0, &[]));
        assert!(data_key(1, 2, &[]) < data_key(1, 10, &[]));
        assert!(count_key(1, false, 2, 99) < count_key(1, false, 10, 0));
        assert!(count_key(1, false, 99, 99) < count_key(1, true, 0, 0));
    }
}
