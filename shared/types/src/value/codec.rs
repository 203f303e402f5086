//! The storage encoding of a [`Val`]: stable forever, because it is written to disk and into
//! backups.
//!
//! Layout: `[version][type tag][payload]`, where the version is [`ENCODING_VERSION`] and the
//! tag is the [`ScalarType`] discriminant. Payloads:
//!
//! | type | payload |
//! |---|---|
//! | default, string, password, geo | UTF-8 bytes |
//! | int | 8 bytes, big-endian two's complement |
//! | float | 8 bytes, big-endian IEEE 754 bits |
//! | bool | 1 byte, 0 or 1 |
//! | datetime | Unix seconds (i64 BE), nanoseconds (u32 BE, < 10⁹), offset seconds east (i32 BE) |
//! | uid | 8 bytes, big-endian |

use chrono::{DateTime, FixedOffset};

use super::{ScalarType, Val};

/// The first byte of every encoded value. A future layout gets a new number and `decode`
/// keeps reading the old ones.
pub const ENCODING_VERSION: u8 = 1;

impl Val {
    /// Encodes the value for storage (see the module documentation for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(18);
        out.push(ENCODING_VERSION);
        out.push(self.ty() as u8);
        match self {
            Val::Default(s) | Val::String(s) | Val::Password(s) | Val::Geo(s) => {
                out.extend_from_slice(s.as_bytes())
            }
            Val::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
            Val::Float(f) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
            Val::Bool(b) => out.push(u8::from(*b)),
            Val::Uid(u) => out.extend_from_slice(&u.to_be_bytes()),
            Val::DateTime(t) => {
                out.extend_from_slice(&t.timestamp().to_be_bytes());
                out.extend_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
                out.extend_from_slice(&t.offset().local_minus_utc().to_be_bytes());
            }
        }
        out
    }

    /// Decodes bytes written by [`Val::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Val, DecodeError> {
        let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if version != ENCODING_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let (&tag, payload) = rest.split_first().ok_or(DecodeError::MissingTag)?;
        let ty = ScalarType::ALL
            .into_iter()
            .find(|t| *t as u8 == tag)
            .ok_or(DecodeError::UnknownTag(tag))?;
        let text = || String::from_utf8(payload.to_vec()).map_err(|_| DecodeError::InvalidUtf8(ty));
        let fixed = |n: usize| -> Result<&[u8], DecodeError> {
            if payload.len() == n {
                Ok(payload)
            } else {
                Err(DecodeError::Length {
                    ty,
                    expected: n,
                    got: payload.len(),
                })
            }
        };
        Ok(match ty {
            ScalarType::Default => Val::Default(text()?),
            ScalarType::String => Val::String(text()?),
            ScalarType::Password => Val::Password(text()?),
            ScalarType::Geo => Val::Geo(text()?),
            ScalarType::Int => Val::Int(i64::from_be_bytes(array(fixed(8)?))),
            ScalarType::Float => Val::Float(f64::from_bits(u64::from_be_bytes(array(fixed(8)?)))),
            ScalarType::Uid => Val::Uid(u64::from_be_bytes(array(fixed(8)?))),
            ScalarType::Bool => match fixed(1)?[0] {
                0 => Val::Bool(false),
                1 => Val::Bool(true),
                other => return Err(DecodeError::InvalidBool(other)),
            },
            ScalarType::DateTime => {
                let p = fixed(16)?;
                let secs = i64::from_be_bytes(array(&p[..8]));
                let nanos = u32::from_be_bytes(array(&p[8..12]));
                let offset = i32::from_be_bytes(array(&p[12..]));
                Val::DateTime(datetime(secs, nanos, offset).ok_or(DecodeError::InvalidDateTime)?)
            }
        })
    }
}

fn datetime(secs: i64, nanos: u32, offset: i32) -> Option<DateTime<FixedOffset>> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    let offset = FixedOffset::east_opt(offset)?;
    Some(DateTime::from_timestamp(secs, nanos)?.with_timezone(&offset))
}

/// Copies a slice whose length the caller has checked into an array.
fn array<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}

/// Bytes that are not a value written by [`Val::encode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all.
    #[error("cannot decode an empty value")]
    Empty,
    /// The version byte is not one this build reads.
    #[error(
        "cannot decode value encoding version {0}: this build reads version {ENCODING_VERSION}"
    )]
    UnsupportedVersion(u8),
    /// The value stops after the version byte.
    #[error("cannot decode value: the type tag is missing")]
    MissingTag,
    /// The tag names no scalar type.
    #[error("cannot decode value with unknown type tag {0}")]
    UnknownTag(u8),
    /// A fixed-size payload has the wrong size.
    #[error("cannot decode {ty} value: expected {expected} payload bytes, got {got}")]
    Length {
        /// The type the tag names.
        ty: ScalarType,
        /// The payload size of that type.
        expected: usize,
        /// The payload size found.
        got: usize,
    },
    /// A text payload is not UTF-8.
    #[error("cannot decode {0} value: the payload is not valid UTF-8")]
    InvalidUtf8(ScalarType),
    /// A bool payload other than 0 or 1.
    #[error("cannot decode bool value from byte {0}: expected 0 or 1")]
    InvalidBool(u8),
    /// A datetime payload chrono cannot represent.
    #[error("cannot decode datetime value: seconds, nanoseconds or offset out of range")]
    InvalidDateTime,
}
