//! ACL building blocks that the auth service issues with and that alphas and the gateway check
//! with, so all three agree on one format:
//!
//! - [`secret`]: loading the HS256 secret (`--acl_secret_file`) or an EdDSA key pair, refusing
//!   short or world-readable files;
//! - [`token`]: access and refresh JWTs with Dgraph's claims (`userid`, `groups`, `namespace`,
//!   `exp`) and Dgraph's error texts, checked against an injectable clock;
//! - [`perm`]: the READ/WRITE/MODIFY permission bits of predicate rules;
//! - [`session`]: the [`Verifier`] of services without ACL data, which asks an alpha who a
//!   token's user is now;
//! - [`login`] and [`throttle`]: the login flow over a user directory, with failed logins
//!   slowed per user id and per client address;
//! - [`error`]: [`AclError`], what the login flow and the callers' checks refuse with: a
//!   message and its [`lodestar_runtime::ErrorCode`].

pub mod args;
pub mod error;
pub mod login;
pub mod perm;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod token;

pub use args::AclArgs;
pub use error::AclError;
pub use perm::{Perm, PermOutOfRange};
pub use secret::{SecretError, SigningKey};
pub use session::Verifier;
pub use token::{AccessClaims, RefreshClaims, TokenError, Tokens};
