//! Token checks for the services that hold no ACL data (auth, the backup worker, the gateway):
//! the signature and expiry locally, then who the token's user is now, from an alpha's
//! `auth.Session/Check`. A token outlives neither its user nor the user's place in a group: a
//! deleted user's token is refused at once, and a user taken out of `guardians` stops being a
//! guardian at once, not when the token expires.

use crate::login::{caller_of, guardian_claims};
use crate::{AccessClaims, AclError, Tokens};
use lodestar_client::AlphaChannel;
use lodestar_proto::auth::SessionRequest;
use lodestar_proto::auth::session_client::SessionClient;
use std::sync::Arc;

/// Checks access tokens locally and against the ACL data as it is now.
#[derive(Clone, Debug)]
pub struct Verifier {
    tokens: Arc<Tokens>,
    alpha: AlphaChannel,
    alpha_addr: String,
}

impl Verifier {
    /// Checks with `tokens`, then with the alphas at `alpha_addr` (their public gRPC ports,
    /// comma separated: any of them answers).
    pub fn new(tokens: Arc<Tokens>, alpha_addr: &str) -> Result<Self, AclError> {
        Ok(Verifier {
            tokens,
            alpha: lodestar_client::alpha_channel(alpha_addr)?,
            alpha_addr: alpha_addr.to_string(),
        })
    }

    /// The token checker itself, for tokens this service issues.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The caller's claims with the user's current groups. No token: PermissionDenied "no
    /// accessJwt available", as Dgraph; a bad or expired token, or one of a user that no
    /// longer exists: Unauthenticated.
    pub async fn caller(&self, token: &str) -> Result<AccessClaims, AclError> {
        let mut claims = caller_of(&self.tokens, token)?;
        let mut req = tonic::Request::new(SessionRequest {});
        let value = token
            .parse()
            .map_err(|_| AclError::unauthenticated("the access token is not valid metadata"))?;
        req.metadata_mut().insert("accessjwt", value);
        let now = SessionClient::new(self.alpha.clone())
            .check(req)
            .await
            .map_err(|e| match e.code() {
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => AclError::from(e),
                _ => AclError::unavailable(format!(
                    "cannot check the access token with the alpha at {}: {}",
                    self.alpha_addr,
                    e.message()
                )),
            })?
            .into_inner();
        claims.groups = now.groups;
        Ok(claims)
    }

    /// [`Verifier::caller`] from the `accessjwt` gRPC metadata.
    pub async fn caller_in(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<AccessClaims, AclError> {
        self.caller(crate::login::token_in(metadata)).await
    }

    /// The caller, who must be in `guardians` now, else Dgraph's PermissionDenied text.
    pub async fn guardian(&self, token: &str) -> Result<AccessClaims, AclError> {
        guardian_claims(self.caller(token).await?)
    }

    /// [`Verifier::guardian`] from the `accessjwt` gRPC metadata.
    pub async fn guardian_in(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<AccessClaims, AclError> {
        guardian_claims(self.caller_in(metadata).await?)
    }
}
