//! The crate's one error type.

use std::path::Path;

/// What kind of failure a [`ComposeError`] is, and the exit status `lodestar compose` ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The flags ask for something that cannot be made (or a file they name is not usable):
    /// the same command fails again until it is changed. Exit status 2, as clap's usage errors.
    InvalidArgument,
    /// A file could not be written. Exit status 1.
    Io,
}

impl ErrorCode {
    /// The process exit status for this code.
    pub fn exit_status(self) -> u8 {
        match self {
            ErrorCode::InvalidArgument => 2,
            ErrorCode::Io => 1,
        }
    }
}

/// Why no compose file was written. The text says what was wrong and what to do; it never
/// holds the contents of a secret file.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The flags do not describe a cluster that can run.
    #[error("{0}")]
    Invalid(String),
    /// A secret, key or environment file named by a flag is missing, unreadable or malformed.
    #[error("{flag} {path}: {reason}")]
    File {
        flag: &'static str,
        path: String,
        reason: String,
    },
    /// Writing the compose file or a demo secret failed.
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

impl ComposeError {
    /// The kind of failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ComposeError::Invalid(_) | ComposeError::File { .. } => ErrorCode::InvalidArgument,
            ComposeError::Write { .. } => ErrorCode::Io,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ComposeError::Invalid(message.into())
    }

    pub(crate) fn file(flag: &'static str, path: &Path, reason: impl Into<String>) -> Self {
        ComposeError::File {
            flag,
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn write(path: &Path, e: impl std::fmt::Display) -> Self {
        ComposeError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}
