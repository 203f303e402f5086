//! Password hashing for `password` predicates (`dgraph.password` among them): argon2id PHC
//! strings, verified in constant time.
//!
//! Both [`hash`] and [`verify`] take tens of milliseconds of CPU and ~19 MiB of memory by
//! design (argon2's default parameters: m=19456 KiB, t=2, p=1). Async callers must run them on
//! `tokio::task::spawn_blocking` or a dedicated pool, never on the executor.
//!
//! Dgraph stores bcrypt hashes (`$2a$`/`$2b$`/`$2y$`). [`verify`] accepts those too, so users
//! whose hashes came from a Dgraph export or backup keep their passwords; new hashes are always
//! argon2id. A value that [`is_hash`] is stored as it is.

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

/// Whether `text` is already a password hash this module verifies: a complete argon2 PHC
/// string (algorithm, parameters, salt and hash) or a bcrypt hash as Dgraph stores them
/// (`$2a$`/`$2b$`/`$2y$`, a two-digit cost, 53 characters of salt and hash). Exports carry
/// hashes, and a loaded hash is kept as it is rather than hashed again, so users keep their
/// passwords through an export and reload (from Dgraph's exports too). Setting a hash gives
/// no one more than setting the password itself would.
pub fn is_hash(text: &str) -> bool {
    if let Some(rest) = text
        .strip_prefix("$2a$")
        .or_else(|| text.strip_prefix("$2b$"))
        .or_else(|| text.strip_prefix("$2y$"))
    {
        let bytes = rest.as_bytes();
        return bytes.len() == 56
            && bytes[..2].iter().all(u8::is_ascii_digit)
            && bytes[2] == b'$'
            && bytes[3..]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'/');
    }
    PasswordHash::new(text).is_ok_and(|h| {
        h.algorithm.as_str().starts_with("argon2") && h.salt.is_some() && h.hash.is_some()
    })
}

/// Whether `password` matches the PHC string `phc` (argon2) or the bcrypt hash `phc`. The
/// comparison is constant-time; a malformed hash never matches. CPU-heavy: see the module
/// docs.
pub fn verify(password: &str, phc: &str) -> bool {
    if phc.starts_with("$2") {
        return verify_bcrypt(password, phc);
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Argon2::default() reads the algorithm, version and parameters from the PHC string.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A bcrypt hash as Dgraph writes it: the bcrypt crate hashes the password again with the
/// stored cost and salt and compares in constant time.
fn verify_bcrypt(password: &str, stored: &str) -> bool {
    bcrypt::verify(password, stored).unwrap_or(false)
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
    fn bcrypt_hashes_from_dgraph_verify() {
        // The classic OpenBSD test vector, and a hash of Dgraph's default groot password.
        assert!(verify(
            "U*U",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        ));
        assert!(!verify(
            "U*V",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        ));
        let h = bcrypt::hash("password", 4).unwrap();
        assert!(verify("password", &h), "{h}");
        assert!(!verify("passwore", &h));
        // The same hash under the $2a$ and $2y$ prefixes.
        let as_2a = h.replacen("$2b$", "$2a$", 1);
        assert!(verify("password", &as_2a));
        assert!(
            !verify("password", &h[..59]),
            "a truncated hash never matches"
        );
        assert!(!verify("password", "$2a$04$garbage"));
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
    fn hashes_are_told_from_passwords() {
        assert!(is_hash(&hash("correct horse").unwrap()));
        let bcrypt = bcrypt::hash("password", 4).unwrap();
        assert!(is_hash(&bcrypt), "{bcrypt}");
        assert!(is_hash(&bcrypt.replacen("$2b$", "$2a$", 1)));
        for plain in [
            "correct horse",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$bad",
            &bcrypt[..59],
            "$2a$04$garbage",
            "",
        ] {
            assert!(!is_hash(plain), "{plain:?}");
        }
    }

    #[test]
    fn malformed_hashes_never_match() {
        assert!(!verify("password", ""));
        assert!(!verify("password", "not a hash"));
        assert!(!verify("password", "$2"));
        assert!(!verify("password", "$argon2id$v=19$m=19456,t=2,p=1$bad"));
    }
}
