//! Access and refresh JWTs with Dgraph's claims and error texts.
//!
//! An access token carries `userid`, `groups`, `namespace` and `exp`; a refresh token carries
//! `userid`, `namespace` and `exp` and nothing else, so neither passes for the other. Expiry is
//! checked against the `now` the caller passes (unix seconds), without leeway, so tests move
//! time instead of sleeping. The signature is checked before any claim is believed, with the
//! one algorithm the key is for: a token naming another algorithm (`none` included) is refused.

use crate::secret::SigningKey;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub userid: String,
    pub groups: Vec<String>,
    pub namespace: u64,
    pub exp: i64,
}

/// The claims of a refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshClaims {
    pub userid: String,
    pub namespace: u64,
    pub exp: i64,
}

/// Why a token was refused. The texts are Dgraph's, so clients that look for them (pydgraph
/// refreshes when it sees "Token is expired") behave as they do against Dgraph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no accessJwt available")]
    Missing,
    #[error("unable to parse jwt token: token has invalid claims: Token is expired")]
    Expired,
    #[error("unable to parse jwt token: token signature is invalid")]
    BadSignature,
    #[error("unable to parse jwt token: unexpected signing method in token")]
    WrongAlgorithm,
    #[error("unable to parse jwt token: token is malformed: {0}")]
    Malformed(String),
    /// This side holds only a public key.
    #[error("this service can check tokens but not issue them (it has only the public key)")]
    CannotIssue,
}

/// Issues and checks tokens with one key.
#[derive(Clone)]
pub struct Tokens {
    alg: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("alg", &self.alg)
            .field("can_issue", &self.encoding.is_some())
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(
        key: &SigningKey,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Self, TokenError> {
        let bad_key = |e: jsonwebtoken::errors::Error| TokenError::Malformed(format!("key: {e}"));
        let (alg, encoding, decoding) = match key {
            SigningKey::Hmac(secret) => (
                Algorithm::HS256,
                Some(EncodingKey::from_secret(secret)),
                DecodingKey::from_secret(secret),
            ),
            SigningKey::EdPrivate {
                private_pem,
                public_pem,
            } => (
                Algorithm::EdDSA,
                Some(EncodingKey::from_ed_pem(private_pem).map_err(bad_key)?),
                DecodingKey::from_ed_pem(public_pem).map_err(bad_key)?,
            ),
            SigningKey::EdPublic { public_pem } => (
                Algorithm::EdDSA,
                None,
                DecodingKey::from_ed_pem(public_pem).map_err(bad_key)?,
            ),
        };
        Ok(Tokens {
            alg,
            encoding,
            decoding,
            access_ttl,
            refresh_ttl,
        })
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A new access and refresh token for `userid` in `groups`, issued at `now` (unix seconds).
    pub fn issue(
        &self,
        userid: &str,
        groups: Vec<String>,
        namespace: u64,
        now: i64,
    ) -> Result<(String, String), TokenError> {
        let access = AccessClaims {
            userid: userid.to_string(),
            groups,
            namespace,
            exp: now.saturating_add(secs(self.access_ttl)),
        };
        let refresh = RefreshClaims {
            userid: userid.to_string(),
            namespace,
            exp: now.saturating_add(secs(self.refresh_ttl)),
        };
        Ok((self.sign(&access)?, self.sign(&refresh)?))
    }

    fn sign<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let key = self.encoding.as_ref().ok_or(TokenError::CannotIssue)?;
        jsonwebtoken::encode(&Header::new(self.alg), claims, key)
            .map_err(|e| TokenError::Malformed(e.to_string()))
    }

    /// The claims of a valid, unexpired access token.
    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let claims: AccessClaims = self.verify(token, now)?;
        Ok(claims)
    }

    /// The claims of a valid, unexpired refresh token.
    pub fn verify_refresh(&self, token: &str, now: i64) -> Result<RefreshClaims, TokenError> {
        self.verify(token, now)
    }

    fn verify<C: for<'de> Deserialize<'de>>(&self, token: &str, now: i64) -> Result<C, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let mut validation = Validation::new(self.alg);
        // Expiry is checked below against the caller's clock; a missing exp counts as expired.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed(e.to_string()),
            })?;
        let exp = data.claims.get("exp").and_then(serde_json::Value::as_i64);
        if exp.is_none_or(|exp| exp <= now) {
            return Err(TokenError::Expired);
        }
        serde_json::from_value(data.claims).map_err(|e| TokenError::Malformed(e.to_string()))
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const NOW: i64 = 1_800_000_000;

    /// A fixed Ed25519 key pair (PKCS#8 private, SPKI public), generated with openssl for these tests only.
    pub(crate) fn ed_pems() -> (String, String) {
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDR3K/Q4yMp/CStiUJrZUxiVWhOEqnCApFxZ0qClLwWp\n-----END PRIVATE KEY-----\n".into(),
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA2ojQFc3Glb3BWvzYjBO/FT1MxNV8Y8WTJkwbrxShwEU=\n-----END PUBLIC KEY-----\n".into(),
        )
    }

    fn hs(secret: &[u8]) -> Tokens {
        Tokens::new(
            &SigningKey::Hmac(secret.to_vec()),
            Duration::from_secs(60),
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let t = hs(&[7; 32]);
        let (access, refresh) = t.issue("alice", vec!["dev".into()], 0, NOW).unwrap();
        let claims = t.verify_access(&access, NOW + 59).unwrap();
        assert_eq!(
            claims,
            AccessClaims {
                userid: "alice".into(),
                groups: vec!["dev".into()],
                namespace: 0,
                exp: NOW + 60
            }
        );
        let err = t.verify_access(&access, NOW + 60).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to parse jwt token: token has invalid claims: Token is expired"
        );
        assert_eq!(
            t.verify_refresh(&refresh, NOW + 3599).unwrap().userid,
            "alice"
        );
        assert_eq!(
            t.verify_refresh(&refresh, NOW + 3600),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn an_access_token_is_not_a_refresh_token_nor_the_other_way_round() {
        let t = hs(&[7; 32]);
        let (access, refresh) = t.issue("alice", vec![], 0, NOW).unwrap();
        assert!(matches!(
            t.verify_access(&refresh, NOW),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            t.verify_refresh(&access, NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn tampered_unsigned_foreign_and_garbage_tokens_are_refused() {
        let t = hs(&[7; 32]);
        let (access, _) = t.issue("alice", vec!["dev".into()], 0, NOW).unwrap();
        let parts: Vec<&str> = access.split('.').collect();
        // Claims changed to guardians, signature kept.
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"userid": "alice", "groups": ["guardians"], "namespace": 0, "exp": NOW + 60})
                .to_string(),
        );
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(
            t.verify_access(&tampered, NOW),
            Err(TokenError::BadSignature)
        );
        // alg: none with no signature.
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none}.{forged}.");
        assert!(matches!(
            t.verify_access(&unsigned, NOW),
            Err(TokenError::Malformed(_))
        ));
        // HS384 with the same secret: another algorithm than the key's.
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &serde_json::json!({"userid": "alice", "groups": ["guardians"], "namespace": 0, "exp": NOW + 60}),
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert_eq!(
            t.verify_access(&hs384, NOW),
            Err(TokenError::WrongAlgorithm)
        );
        // Signed with another secret.
        let (other, _) = hs(&[8; 32]).issue("alice", vec![], 0, NOW).unwrap();
        assert_eq!(t.verify_access(&other, NOW), Err(TokenError::BadSignature));
        // Without exp.
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"userid": "alice", "groups": [], "namespace": 0}),
            &EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        assert_eq!(t.verify_access(&no_exp, NOW), Err(TokenError::Expired));
        assert!(matches!(
            t.verify_access("garbage", NOW),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(t.verify_access("", NOW), Err(TokenError::Missing));
    }

    #[test]
    fn eddsa_tokens_verify_with_the_public_key_which_cannot_issue() {
        let (private, public) = ed_pems();
        let private_key = SigningKey::EdPrivate {
            private_pem: private.into_bytes(),
            public_pem: public.clone().into_bytes(),
        };
        let ttl = Duration::from_secs(60);
        let issuer = Tokens::new(&private_key, ttl, ttl).unwrap();
        let checker = Tokens::new(
            &SigningKey::EdPublic {
                public_pem: public.into_bytes(),
            },
            ttl,
            ttl,
        )
        .unwrap();
        let (access, _) = issuer
            .issue("groot", vec!["guardians".into()], 0, NOW)
            .unwrap();
        assert_eq!(
            checker.verify_access(&access, NOW).unwrap().groups,
            ["guardians"]
        );
        assert_eq!(
            checker.issue("x", vec![], 0, NOW),
            Err(TokenError::CannotIssue)
        );
        // An HS256 token made with the public key's bytes as the secret is refused.
        let confused = hs(checker_pem_bytes().as_slice())
            .issue("x", vec!["guardians".into()], 0, NOW)
            .unwrap()
            .0;
        assert_eq!(
            checker.verify_access(&confused, NOW),
            Err(TokenError::WrongAlgorithm)
        );
    }

    fn checker_pem_bytes() -> Vec<u8> {
        ed_pems().1.into_bytes()
    }
}
