//! How one posting (an edge or a value of a node's predicate) is stored.
//!
//! The key is [`keys::data_key`] with a suffix that says what the posting is:
//! `[EDGE, target uid]`, `[VALUE, language id]` for a single value (language id 0 = none), or
//! `[LIST, value hash]` for one member of a list. The stored bytes are the value's encoding
//! (empty for an edge) followed by the facets.

use lodestar_storage::keys;
use lodestar_types::value::Val;

pub const EDGE: u8 = 1;
pub const VALUE: u8 = 2;
pub const LIST: u8 = 3;

/// What a posting key's suffix names.
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

    pub fn key(self, pred: u32, subject: u64) -> Vec<u8> {
        keys::data_key(pred, subject, &self.suffix())
    }
}

/// The hash that names one member of a value list.
pub fn list_hash(value: &Val) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&value.encode())
}

/// Facets: named values on an edge or value, in the order written.
pub type Facets = Vec<(String, Val)>;

/// A stored posting: its value (none for edges) and facets.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    pub value: Option<Val>,
    pub facets: Facets,
}

impl Posting {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.value {
            Some(v) => {
                let bytes = v.encode();
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(&bytes);
            }
            None => out.extend_from_slice(&0u32.to_be_bytes()),
        }
        out.extend_from_slice(&(self.facets.len() as u16).to_be_bytes());
        for (k, v) in &self.facets {
            out.extend_from_slice(&(k.len() as u16).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            let bytes = v.encode();
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    pub fn decode(raw: &[u8]) -> Result<Posting, String> {
        let mut r = Reader { raw, at: 0 };
        let len = r.u32()? as usize;
        let value = if len == 0 {
            None
        } else {
            Some(Val::decode(r.bytes(len)?).map_err(|e| e.to_string())?)
        };
        let n = r.u16()? as usize;
        let mut facets = Vec::with_capacity(n);
        for _ in 0..n {
            let klen = r.u16()? as usize;
            let key = String::from_utf8(r.bytes(klen)?.to_vec())
                .map_err(|_| "facet name is not utf-8".to_string())?;
            let vlen = r.u32()? as usize;
            let val = Val::decode(r.bytes(vlen)?).map_err(|e| e.to_string())?;
            facets.push((key, val));
        }
        Ok(Posting { value, facets })
    }
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let out = self
            .raw
            .get(self.at..self.at + n)
            .ok_or("truncated posting")?;
        self.at += n;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(
            self.bytes(2)?.try_into().expect("2 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip() {
        let p = Posting {
            value: Some(Val::String("héllo".into())),
            facets: vec![
                ("since".into(), Val::Int(2006)),
                ("close".into(), Val::Bool(true)),
            ],
        };
        assert_eq!(Posting::decode(&p.encode()).unwrap(), p);
        let edge = Posting {
            value: None,
            facets: vec![],
        };
        assert_eq!(Posting::decode(&edge.encode()).unwrap(), edge);
        assert!(Posting::decode(&[0, 0, 0, 9, 1]).is_err());
    }

    #[test]
    fn slots_round_trip() {
        for slot in [Slot::Edge(7), Slot::Value { lang: 3 }, Slot::List(u64::MAX)] {
            assert_eq!(Slot::parse(&slot.suffix()), Some(slot));
        }
        assert_eq!(Slot::parse(&[9, 1]), None);
    }
}
