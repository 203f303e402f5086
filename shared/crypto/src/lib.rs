//! Encryption pieces shared by backups and encryption at rest: AES-CTR streams, encryption
//! key files (16, 24 or 32 bytes for AES-128/192/256, refused when readable by others), and
//! the Vault key source (AppRole login, KV v2), and the key registry of an encrypted
//! directory (data keys sealed under a master key).
//!
//! Everything here keeps key material out of logs and error texts: `Debug` is redacted and
//! errors name files, sizes and modes, never contents.

mod key;
pub mod private_file;
pub mod registry;
pub mod sealer;
mod stream;
pub mod vault;

pub use key::{EncryptionKey, KeyError};
pub use stream::{CtrStream, DecryptingReader, EncryptingWriter, IV_LEN, random_iv};
