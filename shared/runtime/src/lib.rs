//! What every service of the suite shares at run time, so that each one starts, reports, traces
//! and stops the same way:
//!
//! - [`cluster`]: the cluster credential internal gRPC calls carry and internal services require;
//! - [`limits`]: the bounds every server keeps (request time, requests at once, body size);
//! - [`config`]: the flags every binary has (`--port_offset`, telemetry, logging) and port math;
//! - [`telemetry`]: structured logs, OpenTelemetry traces over OTLP, W3C trace context;
//! - [`shutdown`]: one cancellation signal fanned out from SIGINT/SIGTERM;
//! - [`serve`]: a gRPC server with health, reflection and the shared tower layers, and the HTTP
//!   side port with `/health` and Prometheus `/metrics`;
//! - [`tls`]: TLS of the alpha's public gRPC port and of its clients (Dgraph's `--tls`);
//! - [`error`]: the one mapping from an error code to a gRPC code and an HTTP status.

pub mod cluster;
pub mod config;
pub mod error;
pub mod limits;
mod main_support;
pub mod metrics;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use error::{ErrorCode, ServiceError};
pub use main_support::{run_command, run_main};
pub use shutdown::Shutdown;

/// The version every service reports, from the workspace.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// The Dgraph release whose client API (`api.Dgraph`, HTTP) the alpha matches.
pub const DGRAPH_API_VERSION: &str = "25.1.0";

/// What `api.Dgraph/CheckVersion` answers: Dgraph's version with ours as a pre-release suffix,
/// e.g. `v25.1.0-lodestar.0.1.0`, so that clients comparing semantic versions see a v25 server
/// (a pre-release of 25.1.0 still orders above every 25.0.x).
pub const API_VERSION_TAG: &str = concat!("v25.1.0-lodestar.", env!("CARGO_PKG_VERSION"));
