//! The crate's one error type: why a command of the ACL tool failed, in the words Dgraph's tool
//! uses, which scripts written for it may look for.

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// The command line asks for something the tool cannot do; nothing was sent.
    #[error("{0}")]
    Invalid(String),
    /// The alpha refused a call or could not be reached: its gRPC code and message, written as
    /// Dgraph's tool writes a gRPC status.
    #[error("rpc error: code = {} desc = {message}", code_name(.code))]
    Rpc { code: tonic::Code, message: String },
    /// The call worked but the answer is not what was asked for, or something local failed
    /// (the terminal, the TLS files).
    #[error("{0}")]
    Failed(String),
    /// A step that failed, behind what was being done: `doing: why`.
    #[error("{doing}: {source}")]
    During {
        doing: String,
        source: Box<CmdError>,
    },
}

impl CmdError {
    pub fn invalid(message: impl Into<String>) -> Self {
        CmdError::Invalid(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CmdError::Failed(message.into())
    }

    /// This error behind what was being done.
    pub fn during(self, doing: impl Into<String>) -> Self {
        CmdError::During {
            doing: doing.into(),
            source: Box::new(self),
        }
    }

    /// The gRPC code of the alpha's refusal behind this error, if it is one.
    #[cfg(test)]
    pub fn rpc_code(&self) -> Option<tonic::Code> {
        match self {
            CmdError::Rpc { code, .. } => Some(*code),
            CmdError::During { source, .. } => source.rpc_code(),
            CmdError::Invalid(_) | CmdError::Failed(_) => None,
        }
    }
}

impl From<tonic::Status> for CmdError {
    fn from(status: tonic::Status) -> Self {
        CmdError::Rpc {
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}

/// A gRPC code's name as gRPC's Go library prints it (`Unauthenticated`, `Canceled`).
fn code_name(code: &tonic::Code) -> &'static str {
    use tonic::Code as C;
    match *code {
        C::Ok => "OK",
        C::Cancelled => "Canceled",
        C::Unknown => "Unknown",
        C::InvalidArgument => "InvalidArgument",
        C::DeadlineExceeded => "DeadlineExceeded",
        C::NotFound => "NotFound",
        C::AlreadyExists => "AlreadyExists",
        C::PermissionDenied => "PermissionDenied",
        C::ResourceExhausted => "ResourceExhausted",
        C::FailedPrecondition => "FailedPrecondition",
        C::Aborted => "Aborted",
        C::OutOfRange => "OutOfRange",
        C::Unimplemented => "Unimplemented",
        C::Internal => "Internal",
        C::Unavailable => "Unavailable",
        C::DataLoss => "DataLoss",
        C::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_a_grpc_status_behind_what_was_being_done() {
        let e = CmdError::from(tonic::Status::unauthenticated(
            "invalid username or password",
        ))
        .during("unable to login to the groot account")
        .during("unable to get admin context");
        assert_eq!(
            e.to_string(),
            "unable to get admin context: unable to login to the groot account: rpc error: code = Unauthenticated desc = invalid username or password"
        );
        assert_eq!(e.rpc_code(), Some(tonic::Code::Unauthenticated));
        assert_eq!(
            CmdError::from(tonic::Status::cancelled("gone")).to_string(),
            "rpc error: code = Canceled desc = gone"
        );
        assert_eq!(CmdError::invalid("x").rpc_code(), None);
    }
}
