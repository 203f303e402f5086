//! The structured keys of the graph. Every key starts with its kind and the predicate's
//! interned id (see [`crate::Store::predicate_id`]); user text never appears in a key, only
//! numbers and index tokens (an encrypted store seals those with every other byte it writes).
//!
//! | kind | layout after the kind byte |
//! |---|---|
//! | data | predicate (u32), subject uid (u64), then the posting's [`Slot`]: `[EDGE, target uid u64]`, `[VALUE, language id u32]` (0 = none) or `[LIST, value hash u64]` |
//! | index | predicate, token (length-prefixed), subject uid |
//! | reverse | predicate, target uid, subject uid |
//! | count | predicate, direction (0 forward, 1 reverse), count (u32), subject uid |
//! | schema | predicate |
//! | type | type id (interned like predicates) |
//!
//! All integers are big-endian, so keys sort by predicate, then uid or token.
//!
//! This module is the one place that knows the layout: everything else builds keys with its
//! constructors and reads them with [`parse`], [`interned_ids`], [`key_uids`] and
//! [`remap_ids`] (a restore renumbers the interned ids of a backup's keys with them).

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

/// The tag of an edge posting's slot.
pub const EDGE: u8 = 1;
/// The tag of a single value's slot.
pub const VALUE: u8 = 2;
/// The tag of one member of a value list's slot.
pub const LIST: u8 = 3;

/// Where the predicate (or type) id sits in every key.
const PRED_AT: usize = 1;
/// Where the subject of a data key, or the target of a reverse key, starts.
const UID_AT: usize = PRED_AT + 4;
/// Where a data key's slot starts.
const SLOT_AT: usize = UID_AT + 8;
/// `[Data, pred, subject, VALUE, lang]`.
const VALUE_KEY_LEN: usize = SLOT_AT + 1 + 4;
/// `[Data, pred, subject, EDGE, target]`.
const EDGE_KEY_LEN: usize = SLOT_AT + 1 + 8;
/// `[Reverse, pred, target, subject]`.
const REVERSE_KEY_LEN: usize = UID_AT + 8 + 8;

/// What a data key's slot (the part after the subject) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Edge(u64),
    Value { lang: u32 },
    List(u64),
}

impl Slot {
    pub fn suffix(self) -> Vec<u8> {
        let mut s = Vec::with_capacity(9);
        match self {
            Slot::Edge(target) => {
                s.push(EDGE);
                s.extend_from_slice(&target.to_be_bytes());
            }
            Slot::Value { lang } => {
                s.push(VALUE);
                s.extend_from_slice(&lang.to_be_bytes());
            }
            Slot::List(hash) => {
                s.push(LIST);
                s.extend_from_slice(&hash.to_be_bytes());
            }
        }
        s
    }

    /// Reads the slot from the part of a data key after the subject.
    pub fn parse(suffix: &[u8]) -> Option<Slot> {
        let (&tag, rest) = suffix.split_first()?;
        Some(match tag {
            EDGE => Slot::Edge(u64::from_be_bytes(rest.try_into().ok()?)),
            VALUE => Slot::Value {
                lang: u32::from_be_bytes(rest.try_into().ok()?),
            },
            LIST => Slot::List(u64::from_be_bytes(rest.try_into().ok()?)),
            _ => return None,
        })
    }

    /// The data key of this slot of `subject`'s `pred`.
    pub fn key(self, pred: u32, subject: u64) -> Vec<u8> {
        data_key(pred, subject, &self.suffix())
    }
}

/// Where a key keeps interned ids, as offsets of big-endian u32s: the predicate (or type) id
/// always, and the language id of a single value. `None` for a key not made here.
pub fn interned_ids(key: &[u8]) -> Option<(KeyKind, [Option<usize>; 2])> {
    let kind = KeyKind::from_byte(*key.first()?)?;
    if key.len() < UID_AT {
        return None;
    }
    let lang = (kind == KeyKind::Data && key.len() == VALUE_KEY_LEN && key[SLOT_AT] == VALUE)
        .then_some(SLOT_AT + 1);
    Some((kind, [Some(PRED_AT), lang]))
}

/// Rewrites every interned id of `key` with `map` (which may refuse one); returns the key's
/// kind, or `None` (key untouched) for a key not made here.
pub fn remap_ids<E>(
    key: &mut [u8],
    mut map: impl FnMut(u32) -> Result<u32, E>,
) -> Option<Result<KeyKind, E>> {
    let (kind, offsets) = interned_ids(key)?;
    for at in offsets.into_iter().flatten() {
        let id = u32::from_be_bytes(key[at..at + 4].try_into().ok()?);
        if id == 0 {
            continue;
        }
        match map(id) {
            Ok(ours) => key[at..at + 4].copy_from_slice(&ours.to_be_bytes()),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(kind))
}

/// The interned id at `at` (an offset [`interned_ids`] gave).
pub fn id_at(key: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(at..at + 4)?.try_into().ok()?))
}

/// The uids a key mentions (0 where it has none): the subject of a posting and the target of
/// an edge, or both ends of a reverse entry.
pub fn key_uids(key: &[u8]) -> [u64; 2] {
    match key.first().copied().and_then(KeyKind::from_byte) {
        Some(KeyKind::Data) if key.len() >= SLOT_AT => {
            let subject = u64_at(key, UID_AT).unwrap_or(0);
            let target = if key.len() == EDGE_KEY_LEN && key[SLOT_AT] == EDGE {
                u64_at(key, SLOT_AT + 1).unwrap_or(0)
            } else {
                0
            };
            [subject, target]
        }
        Some(KeyKind::Reverse) if key.len() == REVERSE_KEY_LEN => [
            u64_at(key, UID_AT).unwrap_or(0),
            u64_at(key, UID_AT + 8).unwrap_or(0),
        ],
        _ => [0, 0],
    }
}

/// Length of `[kind, pred]`, the prefix every key of one kind of one predicate shares.
pub const PRED_PREFIX_LEN: usize = UID_AT;

/// The kind and predicate (or type) id a key or prefix starts with.
pub fn parse_pred(key: &[u8]) -> Option<(KeyKind, u32)> {
    let kind = KeyKind::from_byte(*key.first()?)?;
    Some((kind, id_at(key, PRED_AT)?))
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
    fn ids_and_uids_are_found_where_keys_keep_them() {
        let value = Slot::Value { lang: 9 }.key(7, 42);
        assert_eq!(
            interned_ids(&value),
            Some((KeyKind::Data, [Some(1), Some(14)]))
        );
        assert_eq!(id_at(&value, 14), Some(9));
        let edge = Slot::Edge(99).key(7, 42);
        assert_eq!(interned_ids(&edge), Some((KeyKind::Data, [Some(1), None])));
        assert_eq!(key_uids(&edge), [42, 99]);
        assert_eq!(key_uids(&Slot::List(5).key(7, 42)), [42, 0]);
        assert_eq!(key_uids(&reverse_key(7, 99, 42)), [99, 42]);
        assert_eq!(
            interned_ids(&schema_key(3)),
            Some((KeyKind::Schema, [Some(1), None]))
        );
        assert_eq!(interned_ids(&[0xff, 0, 0, 0, 1]), None);
        assert_eq!(interned_ids(&[1, 0]), None);
    }

    #[test]
    fn remapping_rewrites_predicate_and_language_ids_only() {
        let mut value = Slot::Value { lang: 9 }.key(7, 42);
        let kind = remap_ids(&mut value, |id| Ok::<_, ()>(id + 100)).unwrap();
        assert_eq!(kind, Ok(KeyKind::Data));
        assert_eq!(value, Slot::Value { lang: 109 }.key(107, 42));
        // Language 0 (none) is not an interned id.
        let mut plain = Slot::Value { lang: 0 }.key(7, 42);
        remap_ids(&mut plain, |id| Ok::<_, ()>(id + 1))
            .unwrap()
            .unwrap();
        assert_eq!(plain, Slot::Value { lang: 0 }.key(8, 42));
        let mut edge = Slot::Edge(3).key(7, 42);
        assert_eq!(
            remap_ids(&mut edge, |_| Err("unnamed")),
            Some(Err("unnamed"))
        );
        assert!(remap_ids(&mut [9u8, 9, 9, 9, 9][..], Ok::<_, ()>).is_none());
    }

    #[test]
    fn slots_round_trip() {
        for slot in [Slot::Edge(7), Slot::Value { lang: 3 }, Slot::List(u64::MAX)] {
            assert_eq!(Slot::parse(&slot.suffix()), Some(slot));
        }
        assert_eq!(Slot::parse(&[9, 1]), None);
    }

    #[test]
    fn keys_sort_by_predicate_then_subject() {
        assert!(data_key(1, 9, &[]) < data_key(2, 0, &[]));
        assert!(data_key(1, 2, &[]) < data_key(1, 10, &[]));
        assert!(count_key(1, false, 2, 99) < count_key(1, false, 10, 0));
        assert!(count_key(1, false, 99, 99) < count_key(1, true, 0, 0));
    }
}
