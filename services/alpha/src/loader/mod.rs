//! Loading N-Quad and JSON files: [`input`] reads them (gzip, AES-CTR, cut into pieces of whole
//! N-Quads or objects) and [`live`] sends them to a running cluster (the `live` binary).

pub mod input;
pub mod live;
