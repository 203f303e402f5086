//! How log entries are written to disk: JSON for the zeros (their logs are small and readable
//! with any tool), postcard for the alpha groups (entries carry binary keys and values, which
//! JSON would spell out as arrays of numbers).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Turns values into bytes and back.
pub trait Codec: Clone + Default + Send + Sync + 'static {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String>;
    fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, String>;
}

/// serde_json.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Codec for Json {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, String> {
        serde_json::from_slice(raw).map_err(|e| e.to_string())
    }
}

/// postcard: compact, not self-describing (every field is written, in order).
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl Codec for Postcard {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
        postcard::to_stdvec(value).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, String> {
        postcard::from_bytes(raw).map_err(|e| e.to_string())
    }
}
