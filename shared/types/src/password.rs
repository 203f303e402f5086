//! Password hashing for `password` predicates (`dgraph.password` among them): argon2id PHC
//! strings, verified in constant time.
//!
//! Both [`hash`] and [`verify`] take tens of milliseconds of CPU and ~19 MiB of memory by
//! design (argon2's default parameters: m=19456 KiB, t=2, p=1). Async callers must run them on
//! `tokio::task::spawn_blocking` or a dedicated pool, never on the executor.
//!
//! Dgraph stores bcrypt hashes (`$2a$`); this crate cannot verify them, because no bcrypt
//! implementation is in the workspace: [`verify`] returns `false` for them, and users
//! restored from a Dgraph backup need a password reset.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::value::Val;

/// The shortest accepted password, in bytes (Dgraph counts bytes too).
pub const MIN_PASSWORD_LEN: usize = 6;

/// A password that cannot be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_LEN`]; the text is Dgraph's.
    #[error("Password too short, i.e. should have at least 6 chars")]
    TooShort,
    /// argon2 failed (it only does on resource exhaustion or invalid parameters).
    #[error("cannot hash password: {0}")]
    Hash(String),
}

/// Hashes `password` with argon2id and a random salt, returning the PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). CPU-heavy: see the module docs.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.len() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Hashes `password` into the value stored for a `password` predicate.
pub fn hash_val(password: &str) -> Result<Val, PasswordError> {
    hash(password).map(Val::Password)
}

/// Whether `password` matches the PHC string `phc`. The comparison is constant-time; a
/// malformed or non-argon2 hash (bcrypt included) never matches. CPU-heavy: see the module
/// docs.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Argon2::default() reads the algorithm, version and parameters from the PHC string.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("correct hors", &phc));
        assert!(!verify("", &phc));
        // Salts are random: the same password hashes differently.
        let again = hash("correct horse").unwrap();
        assert_ne!(phc, again);
        assert!(verify("correct horse", &again));
    }

    #[test]
    fn short_passwords_are_refused_with_dgraphs_message() {
        let err = hash("12345").unwrap_err();
        assert_eq!(err, PasswordError::TooShort);
        assert_eq!(
            err.to_string(),
            "Password too short, i.e. should have at least 6 chars"
        );
        // Bytes, not characters: two 3-byte characters are long enough.
        assert!(matches!(hash_val("€€"), Ok(Val::Password(_))));
    }

    #[test]
    fn malformed_and_bcrypt_hashes_never_match() {
        assert!(!verify("password", ""));
        assert!(!verify("password", "not a hash"));
        // bcrypt of "password" at cost 10: not supported, so it must not match.
        assert!(!verify(
            "password",
            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
        ));
    }
}
