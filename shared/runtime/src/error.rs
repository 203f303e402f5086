//! One small error code for the whole suite, mapped once to gRPC codes and HTTP statuses.

use std::fmt;

/// What kind of failure happened, independent of the transport that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The caller sent something wrong; retrying the same request will fail again.
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// The caller is not who it needs to be (no or bad token).
    Unauthenticated,
    /// The caller is known but may not do this.
    PermissionDenied,
    /// The request conflicts with the current state (an aborted transaction, an expired license).
    FailedPrecondition,
    Aborted,
    /// Try again, perhaps elsewhere (not the leader, draining, shutting down).
    Unavailable,
    ResourceExhausted,
    /// The request ran out of time (the server's `--request_timeout` or the caller's deadline).
    DeadlineExceeded,
    /// The request is larger than the server takes.
    PayloadTooLarge,
    Unimplemented,
    /// Stored data is damaged or missing (a backup file whose bytes are not the recorded ones).
    DataLoss,
    Internal,
}

impl ErrorCode {
    /// The gRPC status code for this error.
    pub fn grpc(self) -> tonic::Code {
        match self {
            ErrorCode::InvalidArgument => tonic::Code::InvalidArgument,
            ErrorCode::NotFound => tonic::Code::NotFound,
            ErrorCode::AlreadyExists => tonic::Code::AlreadyExists,
            ErrorCode::Unauthenticated => tonic::Code::Unauthenticated,
            ErrorCode::PermissionDenied => tonic::Code::PermissionDenied,
            ErrorCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            ErrorCode::Aborted => tonic::Code::Aborted,
            ErrorCode::Unavailable => tonic::Code::Unavailable,
            ErrorCode::ResourceExhausted | ErrorCode::PayloadTooLarge => {
                tonic::Code::ResourceExhausted
            }
            ErrorCode::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            ErrorCode::Unimplemented => tonic::Code::Unimplemented,
            ErrorCode::DataLoss => tonic::Code::DataLoss,
            ErrorCode::Internal => tonic::Code::Internal,
        }
    }

    /// The HTTP status for this error.
    pub fn http(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorCode::InvalidArgument => S::BAD_REQUEST,
            ErrorCode::NotFound => S::NOT_FOUND,
            ErrorCode::AlreadyExists | ErrorCode::Aborted => S::CONFLICT,
            ErrorCode::Unauthenticated => S::UNAUTHORIZED,
            ErrorCode::PermissionDenied => S::FORBIDDEN,
            ErrorCode::FailedPrecondition => S::PRECONDITION_FAILED,
            ErrorCode::Unavailable => S::SERVICE_UNAVAILABLE,
            ErrorCode::ResourceExhausted => S::TOO_MANY_REQUESTS,
            ErrorCode::DeadlineExceeded => S::GATEWAY_TIMEOUT,
            ErrorCode::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            ErrorCode::Unimplemented => S::NOT_IMPLEMENTED,
            ErrorCode::DataLoss | ErrorCode::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code a gRPC status maps back to, so an error crossing a hop keeps its meaning.
    pub fn from_grpc(code: tonic::Code) -> Self {
        match code {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => ErrorCode::InvalidArgument,
            tonic::Code::NotFound => ErrorCode::NotFound,
            tonic::Code::AlreadyExists => ErrorCode::AlreadyExists,
            tonic::Code::Unauthenticated => ErrorCode::Unauthenticated,
            tonic::Code::PermissionDenied => ErrorCode::PermissionDenied,
            tonic::Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            tonic::Code::Aborted => ErrorCode::Aborted,
            tonic::Code::Unavailable | tonic::Code::Cancelled => ErrorCode::Unavailable,
            tonic::Code::DeadlineExceeded => ErrorCode::DeadlineExceeded,
            tonic::Code::ResourceExhausted => ErrorCode::ResourceExhausted,
            tonic::Code::Unimplemented => ErrorCode::Unimplemented,
            tonic::Code::DataLoss => ErrorCode::DataLoss,
            _ => ErrorCode::Internal,
        }
    }
}

/// An error with a code and a message meant for the person who sent the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}

impl From<ServiceError> for tonic::Status {
    fn from(err: ServiceError) -> Self {
        tonic::Status::new(err.code.grpc(), err.message)
    }
}

impl From<tonic::Status> for ServiceError {
    fn from(status: tonic::Status) -> Self {
        ServiceError::new(
            ErrorCode::from_grpc(status.code()),
            status.message().to_string(),
        )
    }
}

impl axum::response::IntoResponse for ServiceError {
    fn into_response(self) -> axum::response::Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message, "extensions": { "code": format!("{:?}", self.code) } }]
        });
        (self.code.http(), axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_survive_a_grpc_hop() {
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::NotFound,
            ErrorCode::AlreadyExists,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
            ErrorCode::FailedPrecondition,
            ErrorCode::Aborted,
            ErrorCode::Unavailable,
            ErrorCode::ResourceExhausted,
            ErrorCode::DeadlineExceeded,
            ErrorCode::Unimplemented,
            ErrorCode::DataLoss,
            ErrorCode::Internal,
        ] {
            let status: tonic::Status = ServiceError::new(code, "x").into();
            assert_eq!(ServiceError::from(status).code, code);
        }
    }

    #[test]
    fn bad_input_is_a_400() {
        assert_eq!(
            ErrorCode::InvalidArgument.http(),
            http::StatusCode::BAD_REQUEST
        );
        assert_eq!(ErrorCode::Unavailable.grpc(), tonic::Code::Unavailable);
    }
}
