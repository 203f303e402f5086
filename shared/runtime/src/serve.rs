//! Servers: a gRPC server with health, reflection, node info and the shared tower layers, and an
//! HTTP side port with `/health` and `/metrics`. Both stop on the process's [`Shutdown`] signal:
//! health turns NOT_SERVING first, listeners stop accepting, in-flight requests drain.

use crate::{ServiceError, Shutdown, metrics, telemetry};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lodestar_proto::node::node_server::{Node, NodeServer};
use lodestar_proto::node::{InfoRequest, NodeInfo};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tracing::Instrument;

/// Binds a listener, with an error that says which port is taken and what to do.
pub async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, ServiceError> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another process holds this port; stop it or shift every port with --port_offset)"
        } else {
            ""
        };
        ServiceError::unavailable(format!("cannot listen on {addr} for {what}: {e}{hint}"))
    })
}

/// What a node reports about itself beyond its fixed identity; services update it as they go.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStatus {
    pub group: u32,
    pub ongoing: Vec<String>,
    pub indexing: Vec<String>,
    pub ee_features: Vec<String>,
    /// Where a replica of a Raft group stands in it, for `/health`.
    pub raft: Option<RaftStatus>,
}

/// A replica's standing in its group's Raft.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaftStatus {
    /// leader, follower, learner or candidate.
    pub role: String,
    /// The leader's id (0: none known).
    pub leader: u64,
    pub term: u64,
    /// The last log index this replica applied.
    pub applied: u64,
    /// How many entries it is behind what its leader last confirmed to it.
    pub behind: u64,
}

/// The identity and live status of one running service.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    pub instance: &'static str,
    pub address: String,
    started: Instant,
    status: watch::Receiver<NodeStatus>,
    serving: watch::Receiver<bool>,
    ready: watch::Receiver<bool>,
}

/// The writable side of a node's status and serving flag.
#[derive(Debug)]
pub struct NodeHandle {
    pub identity: NodeIdentity,
    pub status: watch::Sender<NodeStatus>,
    serving: watch::Sender<bool>,
    ready: watch::Sender<bool>,
}

impl NodeHandle {
    pub fn new(instance: &'static str, address: String) -> Self {
        let (status, status_rx) = watch::channel(NodeStatus::default());
        let (serving, serving_rx) = watch::channel(true);
        let (ready, ready_rx) = watch::channel(true);
        NodeHandle {
            identity: NodeIdentity {
                instance,
                address,
                started: Instant::now(),
                status: status_rx,
                serving: serving_rx,
                ready: ready_rx,
            },
            status,
            serving,
            ready,
        }
    }

    /// A node that reports unhealthy until [`NodeHandle::set_ready`] says otherwise, for
    /// services that need to finish joining their cluster before they are of use.
    pub fn starting(instance: &'static str, address: String) -> Self {
        let handle = Self::new(instance, address);
        let _ = handle.ready.send(false);
        handle
    }

    /// Whether the node is ready to serve (it still reports unhealthy once stopping).
    pub fn set_ready(&self, ready: bool) {
        self.ready
            .send_if_modified(|r| std::mem::replace(r, ready) != ready);
    }

    /// Marks the node as stopping: health checks answer NOT_SERVING / 503 from now on.
    pub fn stop_serving(&self) {
        let _ = self.serving.send(false);
    }
}

impl NodeIdentity {
    pub fn info(&self) -> NodeInfo {
        let status = self.status.borrow().clone();
        NodeInfo {
            instance: self.instance.to_string(),
            address: self.address.clone(),
            status: if self.is_serving() {
                "healthy"
            } else {
                "unhealthy"
            }
            .to_string(),
            group: status.group,
            version: crate::VERSION.to_string(),
            uptime: self.started.elapsed().as_secs() as i64,
            last_echo: unix_now(),
            ongoing: status.ongoing,
            indexing: status.indexing,
            ee_features: status.ee_features,
        }
    }

    /// Ready and not stopping.
    pub fn is_serving(&self) -> bool {
        *self.serving.borrow() && *self.ready.borrow()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tonic::async_trait]
impl Node for NodeIdentity {
    async fn info(
        &self,
        _request: tonic::Request<InfoRequest>,
    ) -> Result<tonic::Response<NodeInfo>, tonic::Status> {
        Ok(tonic::Response::new(NodeIdentity::info(self)))
    }
}

/// Serves `routes` plus `grpc.health.v1`, reflection and `node.Node` on `listener` until the
/// shutdown signal, then drains for at most [`crate::shutdown::GRACE`].
pub async fn serve_grpc(
    listener: TcpListener,
    routes: Routes,
    node: NodeIdentity,
    shutdown: Shutdown,
) -> Result<(), ServiceError> {
    serve_grpc_tls(listener, routes, node, shutdown, None).await
}

/// [`serve_grpc`], over TLS when `tls` is given (see [`crate::tls`]): every connection
/// completes its handshake on its own task, so a slow client holds up no one else.
pub async fn serve_grpc_tls(
    listener: TcpListener,
    routes: Routes,
    node: NodeIdentity,
    shutdown: Shutdown,
    tls: Option<tonic::transport::ServerTlsConfig>,
) -> Result<(), ServiceError> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| ServiceError::invalid(format!("TLS of the gRPC port: {e}")))?;
    }
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lodestar_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServiceError::internal(format!("reflection service: {e}")))?;
    let mut serving = node.serving.clone();
    let mut ready = node.ready.clone();
    {
        // gRPC health follows readiness until the process stops.
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let status = if *ready.borrow_and_update() && !shutdown.is_triggered() {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                reporter.set_service_status("", status).await;
                tokio::select! {
                    changed = ready.changed() => if changed.is_err() { return },
                    _ = shutdown.wait() => return,
                }
            }
        });
    }
    let routes = routes
        .add_service(health)
        .add_service(reflection)
        .add_service(NodeServer::new(node));
    // The builder's tcp_nodelay applies only to listeners tonic opens itself: accepted
    // connections get it here. Without it a small answer can wait for the client's delayed
    // ACK (about 40 ms on Linux) behind the one before it.
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            if let Ok(stream) = &conn
                && let Err(e) = stream.set_nodelay(true)
            {
                tracing::debug!(error = %e, "setting TCP_NODELAY on an accepted connection");
            }
            conn
        },
    );
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = shutdown.wait() => {}
                _ = serving.wait_for(|s| !*s) => {}
            }
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
        }
    };
    // HTTP/2 receive windows of a few batches, not hyper's 1 MiB: a client stream of ~1 MiB
    // messages (a restore's LoadKvs) otherwise sends one message per round trip, and the
    // sender waits while the receiver works on the last one.
    let server = builder
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .layer(GrpcObserveLayer::new(&crate::limits::installed()))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, stop);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.map_err(|e| ServiceError::internal(format!("gRPC server: {e}"))),
        _ = async { shutdown.wait().await; tokio::time::sleep(crate::shutdown::GRACE).await } => {
            tracing::warn!("gRPC connections still open after the grace period; closing them");
            Ok(())
        }
    }
}

/// Calls one client connection may have open at once (HTTP/2 streams); the listener's
/// `--max_pending_requests` bounds all connections together.
const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// Bytes a gRPC client may send on one stream before the server has read them.
const STREAM_WINDOW: u32 = 8 << 20;
/// The same over all of a connection's streams.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// Serves a service's gRPC `routes` and its HTTP side port (the base routes plus `extra`)
/// until the shutdown signal.
pub async fn serve_service(
    grpc: TcpListener,
    routes: Routes,
    http: TcpListener,
    extra: Router,
    node: NodeIdentity,
    shutdown: Shutdown,
) -> Result<(), ServiceError> {
    let (a, b) = tokio::join!(
        serve_grpc(grpc, routes, node.clone(), shutdown.clone()),
        serve_http(http, base_router(node).merge(extra), shutdown),
    );
    a.and(b)
}

/// The HTTP routes every service has: `/health` and `/metrics`. Services merge their own.
pub fn base_router(node: NodeIdentity) -> Router {
    Router::new()
        .route("/health", axum::routing::get(health))
        .route("/metrics", axum::routing::get(metrics_text))
        .with_state(Arc::new(node))
}

async fn health(State(node): State<Arc<NodeIdentity>>, headers: HeaderMap) -> Response {
    let status = if node.is_serving() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let info = node.info();
        let mut body = serde_json::json!({
            "instance": info.instance,
            "address": info.address,
            "status": info.status,
            "version": info.version,
            "uptime": info.uptime,
            "lastEcho": info.last_echo,
            "ee_features": info.ee_features,
        });
        if let Some(raft) = node.status.borrow().raft.clone() {
            body["group"] = serde_json::json!(info.group);
            body["raft"] = serde_json::json!({
                "role": raft.role,
                "leader": raft.leader,
                "term": raft.term,
                "applied": raft.applied,
                "behind": raft.behind,
            });
        }
        (status, axum::Json(body)).into_response()
    } else if status == StatusCode::OK {
        (status, "OK").into_response()
    } else {
        (status, "shutting down").into_response()
    }
}

async fn metrics_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(),
    )
        .into_response()
}

/// Serves `router` on `listener` with request tracing, metrics and the process's
/// [`crate::limits`] until the shutdown signal.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> Result<(), ServiceError> {
    let router = with_http_limits(router, &crate::limits::installed())
        .layer(axum::middleware::from_fn(observe_http));
    let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, router).with_graceful_shutdown({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    tokio::select! {
        result = server => result.map_err(|e| ServiceError::internal(format!("HTTP server: {e}"))),
        _ = async { shutdown.wait().await; tokio::time::sleep(crate::shutdown::GRACE).await } => Ok(()),
    }
}

/// `router` with `limits` applied to every request but `/health` and `/metrics`: a body over
/// the limit is refused (413) before it is read, a request that finds every slot taken gets
/// 429 at once, and one that runs past the timeout gets 504.
pub fn with_http_limits(router: Router, limits: &crate::limits::Limits) -> Router {
    let state = HttpLimits {
        admission: crate::limits::Admission::new(limits.max_pending),
        timeout: limits.request_timeout,
        max_body: limits.max_body_bytes,
    };
    router.layer(axum::middleware::from_fn_with_state(state, limit_http))
}

#[derive(Clone)]
struct HttpLimits {
    admission: crate::limits::Admission,
    timeout: Option<std::time::Duration>,
    max_body: usize,
}

async fn limit_http(
    State(limits): State<HttpLimits>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if path == "/health" || path == "/metrics" {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return crate::limits::body_too_large(limits.max_body).into_response();
    }
    let _slot = match limits.admission.admit() {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    // A body without a length (chunked) is cut at the limit as it streams in.
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limits.max_body));
    let req = axum::extract::Request::from_parts(parts, body);
    match limits.timeout {
        Some(t) => match tokio::time::timeout(t, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => crate::limits::timed_out(t).into_response(),
        },
        None => next.run(req).await,
    }
}

async fn observe_http(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("http", otel.name = %format!("{} {}", req.method(), path), otel.kind = "server");
    telemetry::set_parent_from(&span, req.headers());
    let response = next.run(req).instrument(span).await;
    metrics::HTTP_REQUESTS
        .with_label_values(&[path.as_str(), response.status().as_str()])
        .inc();
    response
}

/// The tower layer every gRPC server uses: a span per request joined to the caller's trace,
/// the cluster credential required on internal services ([`crate::cluster`]), the listener's
/// [`crate::limits`] (requests at once, time per request), and request counts and latencies
/// for `/metrics`.
#[derive(Clone, Debug)]
pub struct GrpcObserveLayer {
    admission: crate::limits::Admission,
    timeout: Option<std::time::Duration>,
}

impl GrpcObserveLayer {
    /// The layer of one listener, with its own request slots.
    pub fn new(limits: &crate::limits::Limits) -> Self {
        GrpcObserveLayer {
            admission: crate::limits::Admission::new(limits.max_pending),
            timeout: limits.request_timeout,
        }
    }
}

impl<S> tower_layer::Layer<S> for GrpcObserveLayer {
    type Service = GrpcObserve<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcObserve {
            inner,
            limits: self.clone(),
        }
    }
}

/// See [`GrpcObserveLayer`].
#[derive(Clone, Debug)]
pub struct GrpcObserve<S> {
    inner: S,
    limits: GrpcObserveLayer,
}

impl<S, B, RB> tower_service::Service<http::Request<B>> for GrpcObserve<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.uri().path().to_string();
        let span = tracing::info_span!("grpc", otel.name = %method, otel.kind = "server", rpc.system = "grpc");
        telemetry::set_parent_from(&span, req.headers());
        // Take the service that was driven to readiness, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let start = Instant::now();
        let admitted = crate::cluster::admits(crate::cluster::installed(), &method, req.headers());
        let slot = if !admitted || crate::limits::exempt(&method, false) {
            Ok(None)
        } else {
            self.limits.admission.admit().map(Some)
        };
        let timeout = self
            .limits
            .timeout
            .filter(|_| !crate::limits::exempt(&method, true));
        Box::pin(async move {
            let result = match (admitted, slot) {
                (false, _) => Ok(crate::cluster::refusal(&method).into_http()),
                (true, Err(busy)) => Ok(tonic::Status::from(busy).into_http()),
                (true, Ok(_slot)) => match timeout {
                    None => inner.call(req).instrument(span).await,
                    Some(t) => {
                        match tokio::time::timeout(t, inner.call(req).instrument(span)).await {
                            Ok(result) => result,
                            Err(_) => {
                                Ok(tonic::Status::from(crate::limits::timed_out(t)).into_http())
                            }
                        }
                    }
                },
            };
            let mut result = result;
            if let Ok(resp) = &mut result {
                bound_message(resp.headers_mut());
            }
            let code = match &result {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0")
                    .to_string(),
                Err(_) => "transport".to_string(),
            };
            metrics::GRPC_REQUESTS
                .with_label_values(&[method.as_str(), code.as_str()])
                .inc();
            metrics::GRPC_LATENCY
                .with_label_values(&[method.as_str()])
                .observe(start.elapsed().as_secs_f64());
            result
        })
    }
}

/// The longest `grpc-message` a server sends (percent-encoded bytes). A message that echoes
/// a request's input (a 70 KB id in "no task with id …") would otherwise exceed what clients
/// take in one header block, and the client would see a protocol error instead of the status.
const MAX_GRPC_MESSAGE: usize = 4096;

/// Cuts a `grpc-message` header longer than [`MAX_GRPC_MESSAGE`] and says so in it.
fn bound_message(headers: &mut http::HeaderMap) {
    let Some(value) = headers.get("grpc-message") else {
        return;
    };
    let bytes = value.as_bytes();
    if bytes.len() <= MAX_GRPC_MESSAGE {
        return;
    }
    // Do not split a %XX escape, nor one character's escapes (UTF-8 continuation bytes are
    // %80-%BF): end on a whole escape, then back off while the next one continues a character.
    let mut end = MAX_GRPC_MESSAGE;
    if bytes[end - 1] == b'%' {
        end -= 1;
    } else if bytes[end - 2] == b'%' {
        end -= 2;
    }
    let continues = |i: usize| {
        bytes[i] == b'%'
            && matches!(
                bytes.get(i + 1),
                Some(b'8' | b'9' | b'A' | b'B' | b'a' | b'b')
            )
    };
    while end >= 3 && continues(end) {
        end -= 3;
    }
    let mut cut = bytes[..end].to_vec();
    cut.extend_from_slice(b"%20(message%20cut%20at%204096%20bytes)");
    if let Ok(v) = http::HeaderValue::from_bytes(&cut) {
        headers.insert("grpc-message", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    #[test]
    fn long_grpc_messages_are_cut_without_splitting_escapes() {
        for text in ["a".repeat(70_000), "é".repeat(30_000), "x\n".repeat(9_000)] {
            let status = tonic::Status::not_found(format!("no task with id {text}"));
            let mut resp: http::Response<()> = status.into_http();
            bound_message(resp.headers_mut());
            let value = resp.headers()["grpc-message"].as_bytes().to_vec();
            assert!(value.len() < MAX_GRPC_MESSAGE + 64, "{}", value.len());
            let status = tonic::Status::from_header_map(resp.headers()).unwrap();
            assert!(
                status.message().starts_with("no task with id "),
                "{}",
                status.message()
            );
            assert!(status.message().ends_with(" (message cut at 4096 bytes)"));
            assert!(
                !status.message().contains('\u{fffd}'),
                "a character was split"
            );
        }
        let mut short: http::Response<()> = tonic::Status::not_found("short").into_http();
        bound_message(short.headers_mut());
        assert_eq!(short.headers()["grpc-message"], "short");
    }
    use std::time::Duration;
    use tower::ServiceExt;

    /// A gRPC handler that takes `ms` milliseconds to answer OK.
    fn slow(
        ms: u64,
    ) -> GrpcObserve<
        impl tower_service::Service<
            http::Request<()>,
            Response = http::Response<()>,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone
        + Send
        + 'static,
    > {
        let limits = Limits {
            request_timeout: Some(Duration::from_millis(200)),
            max_pending: 1,
            ..Default::default()
        };
        tower_layer::Layer::layer(
            &GrpcObserveLayer::new(&limits),
            tower::service_fn(move |_req: http::Request<()>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .header("grpc-status", "0")
                        .body(())
                        .unwrap(),
                )
            }),
        )
    }

    fn call(path: &str) -> http::Request<()> {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    fn status(resp: &http::Response<()>) -> String {
        resp.headers()["grpc-status"].to_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn grpc_calls_past_the_timeout_end_with_deadline_exceeded_but_the_restore_stream() {
        let svc = slow(2_000);
        let resp = svc
            .clone()
            .oneshot(call("/api.Dgraph/Query"))
            .await
            .unwrap();
        assert_eq!(status(&resp), "4", "DeadlineExceeded");
        let resp = slow(400)
            .oneshot(call("/worker.Worker/LoadKvs"))
            .await
            .unwrap();
        assert_eq!(status(&resp), "0", "LoadKvs lasts as long as its restore");
    }

    #[tokio::test]
    async fn a_full_listener_refuses_at_once_except_health() {
        let svc = slow(150);
        let first = tokio::spawn(svc.clone().oneshot(call("/api.Dgraph/Query")));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let resp = svc
            .clone()
            .oneshot(call("/api.Dgraph/Query"))
            .await
            .unwrap();
        assert_eq!(status(&resp), "8", "ResourceExhausted");
        let resp = svc
            .clone()
            .oneshot(call("/grpc.health.v1.Health/Check"))
            .await
            .unwrap();
        assert_eq!(status(&resp), "0");
        assert_eq!(status(&first.await.unwrap().unwrap()), "0");
        let resp = svc.oneshot(call("/api.Dgraph/Query")).await.unwrap();
        assert_eq!(status(&resp), "0", "the slot is free again");
    }
}
