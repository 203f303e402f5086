//! The login flow every service that issues tokens runs (the alpha for `api.Dgraph/Login`, the
//! auth service for the gateway's `/admin` `login` and `POST /login`), over a [`Directory`] that
//! knows where users live.
//!
//! A password login checks the user's stored hash and issues an access and a refresh token; a
//! refresh login trades a valid refresh token for a new pair after reading the user's groups
//! again. An unknown user and a wrong password get the same answer ("invalid username or
//! password") after the same amount of work (an unknown user's password is checked against a
//! random decoy hash), and both count against the user id and the client address
//! ([`crate::throttle`]). Login is refused while zero says enterprise features are off. No
//! password or token is ever logged.

use crate::throttle::{self, Throttle};
use crate::{AccessClaims, AclError, TokenError, Tokens};
use lodestar_runtime::ErrorCode;
use std::net::IpAddr;
use std::sync::Arc;

pub const INVALID: &str = "invalid username or password";

/// What a directory knows about one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundUser {
    /// Whether the password asked about matches the stored hash.
    pub password_ok: bool,
    /// The names of the user's groups.
    pub groups: Vec<String>,
}

/// The DQL that finds a user by id (`$u`), checks a password (`$p`) and reads the groups;
/// [`FoundUser::from_json`] reads its answer.
pub const USER_QUERY: &str = r#"query q($u: string, $p: string) {
  u(func: eq(dgraph.xid, $u)) @filter(type(dgraph.type.User)) {
    ok: checkpwd(dgraph.password, $p)
    dgraph.user.group { dgraph.xid }
  }
}"#;

impl FoundUser {
    /// The user in the answer to [`USER_QUERY`], if any.
    pub fn from_json(answer: &serde_json::Value) -> Option<FoundUser> {
        let user = answer.get("u")?.get(0)?;
        let groups = user
            .get("dgraph.user.group")
            .and_then(|g| g.as_array())
            .map(|gs| {
                gs.iter()
                    .filter_map(|g| g.get("dgraph.xid").and_then(|x| x.as_str()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Some(FoundUser {
            password_ok: user.get("ok").and_then(|o| o.as_bool()) == Some(true),
            groups,
        })
    }
}

/// Where users, their password hashes and their groups live.
#[tonic::async_trait]
pub trait Directory: Send + Sync {
    /// Whether enterprise features are on; when off, the reason zero gives.
    async fn enterprise(&self) -> Result<(bool, String), AclError>;

    /// The user `userid`, checking `password` against its hash when given; `None` when there
    /// is no such user.
    async fn find_user(
        &self,
        userid: &str,
        password: Option<&str>,
    ) -> Result<Option<FoundUser>, AclError>;
}

/// A login request, from `api.LoginRequest`, `auth.LoginRequest` or `POST /login`.
#[derive(Clone, Default)]
pub struct Credentials {
    pub userid: String,
    pub password: String,
    pub refresh_token: String,
    pub namespace: u64,
}

/// Issued tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_jwt: String,
    pub refresh_jwt: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Issued { .. }")
    }
}

/// Unix seconds, the clock tokens are issued and checked with.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A token problem as Unauthenticated with Dgraph's text.
pub fn token_status(e: TokenError) -> AclError {
    AclError::unauthenticated(e.to_string())
}

/// The caller's verified access token, from the `accessjwt` gRPC metadata. Without one the
/// answer is Dgraph's PermissionDenied "no accessJwt available"; a bad one is Unauthenticated
/// with Dgraph's text.
pub fn caller(
    tokens: &Tokens,
    metadata: &tonic::metadata::MetadataMap,
) -> Result<AccessClaims, AclError> {
    caller_of(tokens, token_in(metadata))
}

/// The access token of a gRPC call, empty when there is none: the `accessjwt` metadata, else
/// `authorization: Bearer <token>` (pydgraph's `bearertoken=`). An `authorization` value
/// without `Bearer` is an API key for a service in front of the cluster (pydgraph's
/// `apikey=`), which Dgraph's alpha ignores, and so does this.
pub fn token_in(metadata: &tonic::metadata::MetadataMap) -> &str {
    if let Some(token) = metadata.get("accessjwt") {
        return token.to_str().unwrap_or_default();
    }
    metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .unwrap_or_default()
}

/// The token of an `authorization: Bearer <token>` value (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// [`caller`] for a token taken from elsewhere (an HTTP header).
pub fn caller_of(tokens: &Tokens, token: &str) -> Result<AccessClaims, AclError> {
    if token.is_empty() {
        return Err(AclError::permission_denied("no accessJwt available"));
    }
    tokens.verify_access(token, now()).map_err(token_status)
}

/// Whether the token's groups include `guardians`.
pub fn is_guardian(claims: &AccessClaims) -> bool {
    claims.groups.iter().any(|g| g == "guardians")
}

/// The caller (see [`caller`]), who must be a guardian, else Dgraph's PermissionDenied text.
pub fn guardian(
    tokens: &Tokens,
    metadata: &tonic::metadata::MetadataMap,
) -> Result<AccessClaims, AclError> {
    guardian_claims(caller(tokens, metadata)?)
}

/// [`guardian`] for a token taken from elsewhere (an HTTP header).
pub fn guardian_of(tokens: &Tokens, token: &str) -> Result<AccessClaims, AclError> {
    guardian_claims(caller_of(tokens, token)?)
}

pub(crate) fn guardian_claims(claims: AccessClaims) -> Result<AccessClaims, AclError> {
    if !is_guardian(&claims) {
        return Err(AclError::permission_denied(format!(
            "Only guardians are allowed access. User '{}' is not a member of guardians group.",
            claims.userid
        )));
    }
    Ok(claims)
}

/// Asks zero whether enterprise features are on (and if not, why): what
/// [`Directory::enterprise`] answers in every service that logs users in.
pub async fn enterprise_state(
    zero: &lodestar_client::ZeroClient,
) -> Result<(bool, String), AclError> {
    let state = zero.enterprise_state().await.map_err(|e| {
        AclError::unavailable(format!(
            "cannot ask zero whether enterprise features are on: {}",
            e.message()
        ))
    })?;
    Ok((state.enabled, state.reason))
}

/// For a service started without an ACL secret: refuses its admin operations when an alpha of
/// the cluster runs with ACL on, since this service could not tell a guardian from anyone.
pub async fn refuse_unguarded(
    zero: &lodestar_client::ZeroClient,
    service: &str,
) -> Result<(), AclError> {
    let state = zero.state().await.map_err(|e| {
        AclError::unavailable(format!(
            "cannot ask zero whether ACL is on in this cluster: {}",
            e.message()
        ))
    })?;
    let guarded = state
        .groups
        .values()
        .flat_map(|g| g.members.values())
        .find(|m| m.acl);
    match guarded {
        Some(alpha) => Err(AclError::precondition(format!(
            "ACL is on in this cluster (the alpha at {} runs with --acl_secret_file) but this {service} has no --acl_secret_file, so it cannot check who calls: it refuses admin operations until it is started with the same file",
            alpha.addr
        ))),
        None => Ok(()),
    }
}

/// The message when enterprise features are off, with zero's reason.
pub fn enterprise_disabled(reason: &str) -> String {
    format!(
        "Enterprise features are disabled. You can enable them by supplying the appropriate license file to Dgraph Zero using the HTTP endpoint. ({reason})"
    )
}

/// A hash (of a random password) checked when the user does not exist, so that an unknown
/// user takes as long to refuse as a wrong password.
static DECOY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let random: [u8; 16] = rand::random();
    let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
    lodestar_types::password::hash(&password).unwrap_or_default()
});

/// Token issue plus failed-login throttling: what a login endpoint holds.
#[derive(Debug, Clone)]
pub struct Login {
    pub tokens: Arc<Tokens>,
    pub throttle: Arc<Throttle>,
}

impl Login {
    pub fn new(tokens: Arc<Tokens>) -> Self {
        Login {
            tokens,
            throttle: Arc::default(),
        }
    }

    /// Runs one login against `dir`.
    pub async fn login(
        &self,
        dir: &dyn Directory,
        req: &Credentials,
        client_addr: Option<IpAddr>,
    ) -> Result<Issued, AclError> {
        let (enabled, reason) = dir.enterprise().await?;
        if !enabled {
            return Err(AclError::precondition(enterprise_disabled(&reason)));
        }
        if req.namespace != 0 {
            return Err(AclError::invalid(format!(
                "namespace {} does not exist: this release serves namespace 0 only",
                req.namespace
            )));
        }
        if !req.refresh_token.is_empty() {
            let userid = self
                .tokens
                .verify_refresh(&req.refresh_token, now())
                .map_err(token_status)?
                .userid;
            return match dir.find_user(&userid, None).await? {
                Some(found) => self.issue(&userid, found.groups),
                None => Err(AclError::unauthenticated(INVALID)),
            };
        }
        if req.userid.is_empty() || req.password.is_empty() {
            return Err(AclError::unauthenticated(INVALID));
        }
        let attempt = throttle::Attempt::new(&req.userid, client_addr);
        if let Some(wait) = self.throttle.locked(&attempt, std::time::Instant::now()) {
            return Err(AclError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "too many failed logins for this user or from this address: try again in {} ms",
                    wait.as_millis().max(1)
                ),
            ));
        }
        match dir.find_user(&req.userid, Some(&req.password)).await? {
            Some(found) if found.password_ok => {
                self.throttle.succeeded(&attempt);
                return self.issue(&req.userid, found.groups);
            }
            Some(_) => {}
            None => {
                let password = req.password.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    lodestar_types::password::verify(&password, &DECOY_HASH)
                })
                .await;
            }
        }
        self.throttle.failed(&attempt, std::time::Instant::now());
        tracing::warn!(client = ?client_addr, "failed login");
        Err(AclError::unauthenticated(INVALID))
    }

    fn issue(&self, userid: &str, groups: Vec<String>) -> Result<Issued, AclError> {
        let (access_jwt, refresh_jwt) = self
            .tokens
            .issue(userid, groups, 0, now())
            .map_err(|e| AclError::internal(e.to_string()))?;
        tracing::info!(userid, "login");
        Ok(Issued {
            access_jwt,
            refresh_jwt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::token_in;
    use tonic::metadata::MetadataMap;

    fn meta(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn the_token_is_accessjwt_else_a_bearer_token_never_an_api_key() {
        assert_eq!(token_in(&meta(&[("accessjwt", "a.b.c")])), "a.b.c");
        assert_eq!(
            token_in(&meta(&[("authorization", "Bearer x.y.z")])),
            "x.y.z"
        );
        assert_eq!(
            token_in(&meta(&[("authorization", "bearer  x.y.z ")])),
            "x.y.z"
        );
        assert_eq!(
            token_in(&meta(&[
                ("accessjwt", "a.b.c"),
                ("authorization", "Bearer x.y.z")
            ])),
            "a.b.c"
        );
        // pydgraph's apikey= sends the key alone: for a proxy in front, not a token here.
        assert_eq!(token_in(&meta(&[("authorization", "some-api-key")])), "");
        assert_eq!(token_in(&meta(&[("authorization", "Basic Zm9v")])), "");
        assert_eq!(token_in(&meta(&[])), "");
    }
}
