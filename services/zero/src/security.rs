//! Who may use zero's admin HTTP endpoints, as Dgraph v25.4's
//! `--security "token=…; whitelist=…"` decides it.
//!
//! - Without `--security`, the admin endpoints (`/assign`, `/removeNode`,
//!   `/enterpriseLicense`) answer callers on this machine (loopback) only; `/state`, `/health`
//!   and `/metrics` are open.
//! - With a `token`, a caller presenting it in `X-Dgraph-AuthToken` may use them from anywhere;
//!   with a `whitelist` (IP addresses and CIDR ranges, comma-separated), a caller from a listed
//!   address may. Once either is set, `/state` is guarded the same way.
//!
//! The token is compared in constant time and never logged.

use crate::node::ZeroError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The header Dgraph's admin endpoints take the token in.
pub const TOKEN_HEADER: &str = "x-dgraph-authtoken";

/// The parsed `--security` flag.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Security {
    token: Option<String>,
    whitelist: Vec<IpNet>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("token", &self.token.as_ref().map(|_| ".."))
            .field("whitelist", &self.whitelist)
            .finish()
    }
}

impl Security {
    /// Parses `token=<t>; whitelist=<ip or cidr>,<…>` (either part may be left out).
    pub fn parse(text: &str) -> Result<Self, ZeroError> {
        let mut out = Security::default();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| {
                    ZeroError::invalid(format!("--security: {part:?} is not key=value"))
                })?;
            match key {
                "token" if value.is_empty() => {
                    return Err(ZeroError::invalid("--security: token= is empty"));
                }
                "token" => out.token = Some(value.to_string()),
                "whitelist" => {
                    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                        let net = entry
                            .parse::<IpNet>()
                            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                            .map_err(|_| {
                                ZeroError::invalid(format!(
                                    "--security: whitelist entry {entry:?} is not an IP address or a CIDR range"
                                ))
                            })?;
                        out.whitelist.push(net);
                    }
                }
                other => {
                    return Err(ZeroError::invalid(format!(
                        "--security: unknown option {other:?} (known: token, whitelist)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Whether a token or a whitelist is set.
    pub fn configured(&self) -> bool {
        self.token.is_some() || !self.whitelist.is_empty()
    }

    /// Whether a caller at `peer` presenting `token` may use an admin endpoint.
    pub fn admits(&self, peer: Option<IpAddr>, token: Option<&[u8]>) -> Result<(), Refusal> {
        if !self.configured() {
            return match peer {
                Some(ip) if ip.is_loopback() => Ok(()),
                _ => Err(Refusal::NotLocal),
            };
        }
        if let (Some(want), Some(got)) = (&self.token, token)
            && want.len() == got.len()
            && bool::from(want.as_bytes().ct_eq(got))
        {
            return Ok(());
        }
        if peer.is_some_and(|ip| self.whitelist.iter().any(|n| n.contains(&ip))) {
            return Ok(());
        }
        Err(if token.is_some() {
            Refusal::BadToken
        } else {
            Refusal::NotAllowed
        })
    }
}

/// Why an admin request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotLocal,
    BadToken,
    NotAllowed,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refusal::NotLocal => (
                StatusCode::FORBIDDEN,
                "zero's admin endpoints answer only on this machine unless zero runs with --security \"token=...; whitelist=...\"",
            ),
            Refusal::BadToken => (
                StatusCode::UNAUTHORIZED,
                "the X-Dgraph-AuthToken header does not match zero's --security token",
            ),
            Refusal::NotAllowed => (
                StatusCode::FORBIDDEN,
                "this admin endpoint needs zero's token in the X-Dgraph-AuthToken header, or a caller address in the --security whitelist",
            ),
        };
        let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": "ErrorUnauthorized"}}]});
        (status, axum::Json(body)).into_response()
    }
}

/// Middleware for the admin endpoints.
pub async fn guard_admin(
    State(security): State<Arc<Security>>,
    request: Request,
    next: Next,
) -> Response {
    check(&security, request, next, true).await
}

/// Middleware for `/state`: guarded only once `--security` is set.
pub async fn guard_state(
    State(security): State<Arc<Security>>,
    request: Request,
    next: Next,
) -> Response {
    check(&security, request, next, security.configured()).await
}

async fn check(security: &Security, request: Request, next: Next, guarded: bool) -> Response {
    if guarded {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        let token = request
            .headers()
            .get(TOKEN_HEADER)
            .map(|v| v.as_bytes().to_vec());
        if let Err(refusal) = security.admits(peer, token.as_deref()) {
            tracing::warn!(peer = ?peer, path = %request.uri().path(), "refused an admin request");
            return refusal.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn without_security_only_loopback_callers_are_admitted() {
        let s = Security::parse("").unwrap();
        assert!(!s.configured());
        assert_eq!(s.admits(ip("127.0.0.1"), None), Ok(()));
        assert_eq!(s.admits(ip("::1"), None), Ok(()));
        assert_eq!(s.admits(ip("10.0.0.5"), None), Err(Refusal::NotLocal));
        assert_eq!(s.admits(None, None), Err(Refusal::NotLocal));
    }

    #[test]
    fn a_token_or_a_whitelisted_address_is_needed_once_configured() {
        let s = Security::parse("token=s3cret-token; whitelist=10.1.0.0/16, 192.168.1.7").unwrap();
        assert_eq!(s.admits(ip("8.8.8.8"), Some(b"s3cret-token")), Ok(()));
        assert_eq!(
            s.admits(ip("8.8.8.8"), Some(b"s3cret-tokeX")),
            Err(Refusal::BadToken)
        );
        assert_eq!(s.admits(ip("8.8.8.8"), None), Err(Refusal::NotAllowed));
        assert_eq!(s.admits(ip("10.1.200.3"), None), Ok(()));
        assert_eq!(s.admits(ip("192.168.1.7"), None), Ok(()));
        assert_eq!(s.admits(ip("192.168.1.8"), None), Err(Refusal::NotAllowed));
        // With a token set, loopback is no longer enough.
        let t = Security::parse("token=abc").unwrap();
        assert_eq!(t.admits(ip("127.0.0.1"), None), Err(Refusal::NotAllowed));
        assert!(!format!("{t:?}").contains("abc"));
    }

    #[test]
    fn bad_flags_are_refused_with_what_is_wrong() {
        for (text, want) in [
            ("token", "is not key=value"),
            ("token=", "token= is empty"),
            ("whitelist=10.0.0.0/33", "not an IP address"),
            ("tokn=x", "unknown option"),
        ] {
            let err = Security::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
