//! How one posting (an edge or a value of a node's predicate) is stored.
//!
//! The key is a data key whose [`Slot`] says what the posting is (the layout lives in
//! [`lodestar_storage::keys`]). The stored bytes are the value's encoding (empty for an edge)
//! followed by the facets.

use super::GraphError;
pub use lodestar_storage::keys::{EDGE, LIST, Slot, VALUE};
use lodestar_types::value::Val;

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

    /// Bytes that are not a posting are a corrupt store: Internal.
    pub fn decode(raw: &[u8]) -> Result<Posting, GraphError> {
        let mut r = Reader { raw, at: 0 };
        let len = r.u32()? as usize;
        let value = if len == 0 {
            None
        } else {
            Some(Val::decode(r.bytes(len)?).map_err(corrupt)?)
        };
        let n = r.u16()? as usize;
        let mut facets = Vec::with_capacity(n);
        for _ in 0..n {
            let klen = r.u16()? as usize;
            let key = String::from_utf8(r.bytes(klen)?.to_vec())
                .map_err(|_| corrupt("facet name is not utf-8"))?;
            let vlen = r.u32()? as usize;
            let val = Val::decode(r.bytes(vlen)?).map_err(corrupt)?;
            facets.push((key, val));
        }
        Ok(Posting { value, facets })
    }
}

fn corrupt(e: impl std::fmt::Display) -> GraphError {
    GraphError::Internal(e.to_string())
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], GraphError> {
        let out = self
            .raw
            .get(self.at..self.at + n)
            .ok_or_else(|| corrupt("truncated posting"))?;
        self.at += n;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, GraphError> {
        Ok(u32::from_be_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u16(&mut self) -> Result<u16, GraphError> {
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
        assert!(matches!(
            Posting::decode(&[0, 0, 0, 9, 1]),
            Err(GraphError::Internal(m)) if m == "truncated posting"
        ));
    }
}
