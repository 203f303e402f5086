//! The crate's one error type: a message for the person who asked, with the code that says
//! what kind of failure it is. The gRPC or HTTP edge of a service maps the code once.

use lodestar_runtime::{ErrorCode, ServiceError};

/// What went wrong opening, reading or checking backups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackupError {
    pub code: ErrorCode,
    pub message: String,
}

impl BackupError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        BackupError {
            code,
            message: message.into(),
        }
    }
    /// The request names something wrong (a location, a key, a backup number).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// The backups are not in a state that allows this (no manifest, a gap in the series).
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedPrecondition, message)
    }
    /// The store could not be reached or stopped answering: retrying may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    /// A file is damaged, cut short or replaced: its bytes are not the ones the manifest
    /// recorded.
    pub fn damaged(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::DataLoss, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
    /// The same error with `context` in front of its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        BackupError {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl From<BackupError> for ServiceError {
    fn from(e: BackupError) -> Self {
        ServiceError::new(e.code, e.message)
    }
}
