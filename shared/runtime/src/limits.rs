//! The bounds every server of the suite keeps, whatever its callers send: how long one request
//! may run, how many requests one listener handles at once, and how large an HTTP body may be.
//!
//! `run_main` installs the process's [`Limits`] from the common flags (`--request_timeout`,
//! `--max_pending_requests`, `--max_body_bytes`); [`crate::serve`] applies them to every gRPC
//! and HTTP listener. A request past a bound is refused with a message that names the bound and
//! the flag that sets it: a body over the limit is `413` before it is read, a request that finds
//! every slot taken is `ResourceExhausted`/`429` at once instead of queueing, and a request that
//! runs out of time is `DeadlineExceeded`/`504`. Health, reflection and `node.Node` are never
//! refused for load, so probes keep telling the truth about an overloaded node.

use crate::{ErrorCode, ServiceError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds one process applies to every request it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long one request may run; `None`: as long as it takes (a client's own `grpc-timeout`
    /// still applies).
    pub request_timeout: Option<Duration>,
    /// How many requests one listener handles at once; more are refused, not queued.
    pub max_pending: usize,
    /// The largest HTTP request body one request may send.
    pub max_body_bytes: usize,
}

/// The defaults of the common flags.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_PENDING: usize = 1024;
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            max_pending: DEFAULT_MAX_PENDING,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

static INSTALLED: OnceLock<Limits> = OnceLock::new();

/// Sets the process's limits; the first call wins (a service installs them once, at start).
pub fn install(limits: Limits) {
    let _ = INSTALLED.set(limits);
}

/// The process's limits: the installed ones, else the defaults.
pub fn installed() -> Limits {
    INSTALLED.get().cloned().unwrap_or_default()
}

/// gRPC methods that are never refused for load nor cut by the timeout: probes, and the calls
/// that last as long as the data they carry (a restore's load, a tablet's move).
pub(crate) fn exempt(method: &str, from_timeout: bool) -> bool {
    let probe = method.starts_with("/grpc.health.v1.")
        || method.starts_with("/grpc.reflection.")
        || method.starts_with("/node.Node/");
    let long = matches!(
        method,
        "/worker.Worker/LoadKvs"
            | "/worker.Worker/SendTablet"
            | "/worker.Worker/ReceiveTablet"
            | "/zero.Zero/MoveTablet"
    );
    probe || (from_timeout && long)
}

/// One listener's admission: a fixed number of slots, taken without waiting.
#[derive(Clone, Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Admission {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A slot for one request, or the refusal to answer when every slot is taken.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, ServiceError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            ServiceError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "this server is already handling {} requests (--max_pending_requests): retry later",
                    self.max
                ),
            )
        })
    }
}

/// The error for a request that ran past `timeout`.
pub fn timed_out(timeout: Duration) -> ServiceError {
    ServiceError::new(
        ErrorCode::DeadlineExceeded,
        format!(
            "the request ran longer than {} (--request_timeout) and was stopped",
            humantime_like(timeout)
        ),
    )
}

/// The error for an HTTP body larger than `max` bytes.
pub fn body_too_large(max: usize) -> ServiceError {
    ServiceError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {max} bytes (--max_body_bytes)"),
    )
}

fn humantime_like(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_refuses_past_its_slots_and_frees_them() {
        let a = Admission::new(2);
        let one = a.admit().unwrap();
        let _two = a.admit().unwrap();
        let err = a.admit().unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceExhausted);
        assert!(err.message.contains("2 requests"), "{}", err.message);
        drop(one);
        let _slot = a.admit().expect("a finished request frees its slot");
    }

    #[test]
    fn probes_and_the_restore_stream_are_exempt() {
        assert!(exempt("/grpc.health.v1.Health/Check", false));
        assert!(exempt("/node.Node/Info", false));
        assert!(!exempt("/worker.Worker/LoadKvs", false));
        assert!(exempt("/worker.Worker/LoadKvs", true));
        assert!(!exempt("/api.Dgraph/Query", true));
    }

    #[test]
    fn messages_name_the_flag() {
        assert!(
            timed_out(Duration::from_millis(1500))
                .message
                .contains("1500ms (--request_timeout)")
        );
        assert_eq!(
            body_too_large(10).code.http(),
            http::StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
