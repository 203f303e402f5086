//! The crate's one error type: a message for the caller (Dgraph's text where Dgraph has one)
//! with the code that says what kind of failure it is. The gRPC or HTTP edge of a service maps
//! the code once.

use lodestar_runtime::{ErrorCode, ServiceError};

/// Why a login or a token check was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AclError {
    pub code: ErrorCode,
    pub message: String,
}

impl AclError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AclError {
            code,
            message: message.into(),
        }
    }
    /// The request itself is wrong (a namespace that does not exist).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// No valid token, or no such user.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    /// The caller is known but may not do this (or sent no token, as Dgraph answers).
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }
    /// The cluster is not in a state that allows this (enterprise features off).
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedPrecondition, message)
    }
    /// A service this check needs could not be asked.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<AclError> for ServiceError {
    fn from(e: AclError) -> Self {
        ServiceError::new(e.code, e.message)
    }
}

impl From<AclError> for tonic::Status {
    fn from(e: AclError) -> Self {
        ServiceError::from(e).into()
    }
}

/// The answer of a service called over gRPC, with its code kept.
impl From<tonic::Status> for AclError {
    fn from(status: tonic::Status) -> Self {
        AclError::new(
            ErrorCode::from_grpc(status.code()),
            status.message().to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_text_survive_the_edge() {
        let status: tonic::Status = AclError::permission_denied("no accessJwt available").into();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert_eq!(status.message(), "no accessJwt available");
        let back = AclError::from(status);
        assert_eq!(back.code, ErrorCode::PermissionDenied);
        assert_eq!(back.to_string(), "no accessJwt available");
    }
}
