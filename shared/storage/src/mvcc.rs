//! How versions are laid out in the data space.
//!
//! A user key is escaped into an order-preserving, prefix-free form (`0x00` becomes
//! `0x00 0xFF`, and `0x00 0x01` ends the key), then the inverted commit timestamp is appended,
//! so the versions of one key sit together, newest first. A value starts with a tag byte:
//! [`PUT`] followed by the bytes, or [`DELETE`] alone.

use crate::StorageError;

pub(crate) const PUT: u8 = 0;
pub(crate) const DELETE: u8 = 1;

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

/// The escaped form of `prefix`, without the terminator: every escaped key starting with
/// `prefix` starts with it.
pub(crate) fn escape_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 10);
    for &b in prefix {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
    out
}

/// The escaped, terminated form of a whole key.
pub(crate) fn escape_key(key: &[u8]) -> Vec<u8> {
    let mut out = escape_prefix(key);
    out.extend_from_slice(&[ESCAPE, TERMINATOR]);
    out
}

/// The data-space key of `key`'s version at `ts`.
pub(crate) fn version_key(key: &[u8], ts: u64) -> Vec<u8> {
    let mut out = escape_key(key);
    out.extend_from_slice(&(u64::MAX - ts).to_be_bytes());
    out
}

/// Splits a data-space key into the user key and the version's timestamp.
pub(crate) fn decode_version_key(raw: &[u8]) -> Result<(Vec<u8>, u64), StorageError> {
    let corrupt = || StorageError::Corrupt(format!("malformed version key {raw:02x?}"));
    let mut key = Vec::with_capacity(raw.len());
    let mut i = 0;
    loop {
        let b = *raw.get(i).ok_or_else(corrupt)?;
        if b == ESCAPE {
            match raw.get(i + 1) {
                Some(&ESCAPED_ZERO) => key.push(ESCAPE),
                Some(&TERMINATOR) => {
                    i += 2;
                    break;
                }
                _ => return Err(corrupt()),
            }
            i += 2;
        } else {
            key.push(b);
            i += 1;
        }
    }
    let ts: [u8; 8] = raw
        .get(i..)
        .and_then(|r| r.try_into().ok())
        .ok_or_else(corrupt)?;
    Ok((key, u64::MAX - u64::from_be_bytes(ts)))
}

pub(crate) fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(PUT);
            out.extend_from_slice(v);
            out
        }
        None => vec![DELETE],
    }
}

pub(crate) fn decode_value(raw: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
    match raw.split_first() {
        Some((&PUT, rest)) => Ok(Some(rest.to_vec())),
        Some((&DELETE, [])) => Ok(None),
        _ => Err(StorageError::Corrupt(format!(
            "malformed version value (tag {:?})",
            raw.first()
        ))),
    }
}

/// The commit timestamp of a raw data-space key, read from its suffix alone (`None`: too short
/// to be a version key).
pub(crate) fn raw_commit_ts(raw: &[u8]) -> Option<u64> {
    let (_, inverted) = raw.split_last_chunk::<8>()?;
    Some(u64::MAX - u64::from_be_bytes(*inverted))
}

/// Refuses a raw data-space entry (as an export yields it) that no store could hold: a key
/// that does not decode, or decodes to one over [`crate::MAX_KEY_LEN`], or a value that is
/// neither a put nor a delete or is too large.
pub(crate) fn check_raw_entry(raw: &[u8], value: &[u8]) -> Result<(), StorageError> {
    let (key, _) = decode_version_key(raw)?;
    if key.len() > crate::MAX_KEY_LEN {
        return Err(StorageError::TooLarge(format!(
            "an imported data key of {} bytes is longer than the {} bytes allowed",
            key.len(),
            crate::MAX_KEY_LEN
        )));
    }
    match value.split_first() {
        Some((&PUT, rest)) if rest.len() < crate::MAX_VALUE_LEN => Ok(()),
        Some((&PUT, rest)) => Err(StorageError::TooLarge(format!(
            "an imported data value of {} bytes is larger than the {} bytes allowed",
            rest.len(),
            crate::MAX_VALUE_LEN
        ))),
        Some((&DELETE, [])) => Ok(()),
        _ => Err(StorageError::Corrupt(format!(
            "the imported value of version key {raw:02x?} is neither a put nor a delete; \
             give Import::data the entries Export::data yields"
        ))),
    }
}

/// The first byte string greater than every string starting with `prefix`, if any.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn version_keys_round_trip(key in prop::collection::vec(any::<u8>(), 0..40), ts in any::<u64>()) {
            let raw = version_key(&key, ts);
            prop_assert_eq!(decode_version_key(&raw).unwrap(), (key, ts));
        }

        /// Escaping keeps the order of keys, and newer versions of a key sort first.
        #[test]
        fn order_is_kept(a in prop::collection::vec(any::<u8>(), 0..12), b in prop::collection::vec(any::<u8>(), 0..12), t1 in any::<u64>(), t2 in any::<u64>()) {
            if a != b {
                prop_assert_eq!(a.cmp(&b), version_key(&a, t1).cmp(&version_key(&b, t2)));
            } else {
                prop_assert_eq!(t2.cmp(&t1), version_key(&a, t1).cmp(&version_key(&a, t2)));
            }
        }

        /// A key's versions start with the escaped prefix of every prefix of the key, and no
        /// other key's versions start with this key's terminated form.
        #[test]
        fn prefixes_match_exactly(key in prop::collection::vec(any::<u8>(), 0..12), other in prop::collection::vec(any::<u8>(), 0..12), cut in 0usize..12, ts in any::<u64>()) {
            let cut = cut.min(key.len());
            prop_assert!(version_key(&key, ts).starts_with(&escape_prefix(&key[..cut])));
            if other != key {
                prop_assert!(!version_key(&other, ts).starts_with(&escape_key(&key)));
            }
        }

        #[test]
        fn values_round_trip(v in prop::option::of(prop::collection::vec(any::<u8>(), 0..20))) {
            prop_assert_eq!(decode_value(&encode_value(v.as_deref())).unwrap(), v);
        }

        #[test]
        fn decoding_garbage_never_panics(raw in prop::collection::vec(any::<u8>(), 0..30)) {
            let _ = decode_version_key(&raw);
            let _ = decode_value(&raw);
        }
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }
}
