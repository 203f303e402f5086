//! Rust clients for the suite's services.
//!
//! [`ZeroClient`] talks to a set of zeros and always reaches the Raft leader: a follower answers
//! `Unavailable` with the leader's address in the `leader-addr` metadata, and the client follows
//! it; a dead zero is skipped. [`alpha_channel`] reaches any of several alphas (the members of a
//! group) and moves to the next when one cannot be reached, over TLS when the process was given
//! the alphas' (`lodestar_runtime::tls::install_alpha_client`). Every call carries the caller's
//! trace context.

mod failover;
mod zero;

pub use failover::FailoverChannel;
pub use zero::{LEADER_ADDR_METADATA, ZeroClient};

use lodestar_runtime::telemetry::TracePropagation;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// A channel that injects trace context into every request.
pub type TracedChannel = InterceptedService<Channel, TracePropagation>;

/// A lazily connected channel to `addr` (`host:port`, or a full `http://` URI).
pub fn channel(addr: &str) -> Result<Channel, tonic::Status> {
    channel_tls(addr, None)
}

/// [`channel`], over TLS with `tls` when given (`host:port` is then dialled as `https://`).
pub fn channel_tls(addr: &str, tls: Option<&ClientTlsConfig>) -> Result<Channel, tonic::Status> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("{scheme}://{addr}")
    };
    let bad = |e: tonic::transport::Error| {
        tonic::Status::invalid_argument(format!("bad address {addr:?}: {e}"))
    };
    let mut endpoint = Endpoint::from_shared(uri).map_err(bad)?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.clone()).map_err(bad)?;
    }
    Ok(endpoint
        .connect_timeout(Duration::from_millis(500))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .connect_lazy())
}

/// [`channel`] with trace propagation.
pub fn traced_channel(addr: &str) -> Result<TracedChannel, tonic::Status> {
    Ok(InterceptedService::new(channel(addr)?, TracePropagation))
}

/// A channel to any of several servers of one service, with trace propagation.
pub type AlphaChannel = InterceptedService<FailoverChannel, TracePropagation>;

/// A channel to the alphas' public ports of `list` (comma-separated `host:port`s): calls go to
/// the one that answered last and move on to the next when it cannot be reached (see
/// [`FailoverChannel`]); over TLS when the process installed the alphas' TLS.
pub fn alpha_channel(list: &str) -> Result<AlphaChannel, tonic::Status> {
    let tls = lodestar_runtime::tls::alpha_client();
    let channels = list
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| channel_tls(a, tls))
        .collect::<Result<Vec<_>, _>>()?;
    if channels.is_empty() {
        return Err(tonic::Status::invalid_argument(format!(
            "no alpha address in {list:?}: give one or more host:port, comma separated"
        )));
    }
    Ok(InterceptedService::new(
        FailoverChannel::new(channels),
        TracePropagation,
    ))
}
