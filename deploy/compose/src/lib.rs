//! `lodestar compose`: writes a docker-compose file that runs a cluster of the suite's
//! services, the counterpart of Dgraph's `compose` tool.

#[allow(dead_code)]
mod error;
#[allow(dead_code)]
mod shell;
#[allow(dead_code)]
mod yaml;

pub use error::{ComposeError, ErrorCode};
