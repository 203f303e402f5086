//! Prometheus metrics shared by every service, served on `/metrics` of its HTTP port.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;

/// The process-wide registry; services register their own metrics here too.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

/// gRPC requests served, by method and status code.
pub static GRPC_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new("grpc_server_requests_total", "gRPC requests served"),
        &["method", "code"],
    ))
});

/// gRPC request latency, by method.
pub static GRPC_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new("grpc_server_request_seconds", "gRPC request latency")
            .buckets(prometheus::exponential_buckets(0.0001, 4.0, 10).expect("valid buckets")),
        &["method"],
    ))
});

/// HTTP requests served, by path and status.
pub static HTTP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new("http_server_requests_total", "HTTP requests served"),
        &["path", "status"],
    ))
});

/// Registers a collector in [`REGISTRY`] and returns it.
pub fn register<C, E>(collector: Result<C, E>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
    E: std::fmt::Debug,
{
    let collector = collector.expect("metric definitions are valid");
    REGISTRY
        .register(Box::new(collector.clone()))
        .expect("each metric is registered once");
    collector
}

/// Renders every registered metric in the Prometheus text format.
pub fn render() -> String {
    // Touch the shared metrics so they show up even before the first request.
    LazyLock::force(&GRPC_REQUESTS);
    LazyLock::force(&GRPC_LATENCY);
    LazyLock::force(&HTTP_REQUESTS);
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&REGISTRY.gather(), &mut buf)
        .expect("text encoding of metrics cannot fail");
    String::from_utf8(buf).expect("prometheus text is utf-8")
}
