//! One trace from an HTTP request at the gateway to zero: the real HTTP server (`serve_http`),
//! the real gRPC backend (`GrpcCluster`), and a stand-in zero that records the `traceparent` it
//! receives. Runs on one thread so the whole path shares this test's subscriber.

use lodestar_gateway::{GatewayState, GrpcCluster, Services, router};
use lodestar_proto::zero::zero_server::{Zero, ZeroServer};
use lodestar_proto::zero::{MembershipState, StateRequest};
use lodestar_runtime::Shutdown;
use lodestar_runtime::serve::{self, NodeHandle};
use opentelemetry::trace::TracerProvider as _;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing_subscriber::layer::SubscriberExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[derive(Default, Clone)]
struct RecordingZero {
    traceparents: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl Zero for RecordingZero {
    async fn state(
        &self,
        request: tonic::Request<StateRequest>,
    ) -> Result<tonic::Response<MembershipState>, tonic::Status> {
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.traceparents.lock().unwrap().push(traceparent);
        Ok(tonic::Response::new(MembershipState {
            max_uid: 77,
            ..Default::default()
        }))
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str, traceparent: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: gateway\r\ntraceparent: {traceparent}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "current_thread")]
async fn a_gateway_request_continues_the_callers_trace_into_zero() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("gateway-test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let shutdown = Shutdown::new();
    let zero = RecordingZero::default();
    let zero_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let zero_addr = zero_listener.local_addr().unwrap().to_string();
    let zero_node = NodeHandle::new("zero", zero_addr.clone());
    tokio::spawn(serve::serve_grpc(
        zero_listener,
        tonic::service::Routes::new(ZeroServer::new(zero.clone())),
        zero_node.identity.clone(),
        shutdown.clone(),
    ));

    let services = Services {
        zeros: vec![zero_addr.clone()],
        alpha: "127.0.0.1:1".into(),
        auth: "127.0.0.1:1".into(),
        backup: "127.0.0.1:1".into(),
    };
    let gateway_node = NodeHandle::new("gateway", "localhost:0".into());
    let state = GatewayState::new(
        Arc::new(GrpcCluster::new(&services.zeros).unwrap()),
        services,
        gateway_node.identity.clone(),
    );
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    tokio::spawn(serve::serve_http(http, router(state), shutdown.clone()));

    let caller = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let response = http_get(http_addr, "/state", &caller).await;
    shutdown.trigger();

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""maxUID":"77""#), "{response}");
    let seen = zero.traceparents.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let parts: Vec<&str> = seen[0].split('-').collect();
    assert_eq!(parts.len(), 4, "zero got no trace context: {seen:?}");
    assert_eq!(
        parts[1], TRACE_ID,
        "zero's call is not in the caller's trace"
    );
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "the gateway should add its own span"
    );
}
