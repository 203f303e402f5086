//! The ACL flags the alpha and the auth service share.

use crate::{SigningKey, Tokens};
use std::path::PathBuf;
use std::time::Duration;

/// `--acl_secret_file`, `--acl_access_ttl`, `--acl_refresh_ttl`.
#[derive(Debug, Clone, clap::Args)]
pub struct AclArgs {
    /// The HS256 secret tokens are signed with (at least 32 bytes, readable only by its owner;
    /// every alpha and the auth service use the same file). ACL is on exactly when it is given.
    #[arg(long = "acl_secret_file")]
    pub secret_file: Option<PathBuf>,

    /// How long an access token is valid.
    #[arg(long = "acl_access_ttl", default_value = "6h", value_parser = humantime::parse_duration)]
    pub access_ttl: Duration,

    /// How long a refresh token is valid.
    #[arg(long = "acl_refresh_ttl", default_value = "30d", value_parser = humantime::parse_duration)]
    pub refresh_ttl: Duration,
}

impl AclArgs {
    /// The token issuer and checker, or `None` with ACL off; a bad secret file is refused with
    /// a message naming the flag and what to fix (never the contents).
    pub fn tokens(&self) -> Result<Option<Tokens>, String> {
        let Some(path) = &self.secret_file else {
            return Ok(None);
        };
        let key = SigningKey::hmac_file(path).map_err(|e| format!("--acl_secret_file: {e}"))?;
        Tokens::new(&key, self.access_ttl, self.refresh_ttl)
            .map(Some)
            .map_err(|e| format!("--acl_secret_file: {e}"))
    }
}
