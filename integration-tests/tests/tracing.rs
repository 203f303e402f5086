//! OpenTelemetry: with `--otlp_endpoint`, the gateway and zero export spans over OTLP/gRPC, and a
//! request that arrives with a W3C `traceparent` is one trace across gateway → zero.
//!
//! The receiver here is a minimal OTLP trace collector written for this test (no OpenTelemetry
//! Collector binary can be installed on these machines); it speaks the real OTLP protobuf service.

mod common;

use lodestar_integration_tests::{ClusterBuilder, Service, free_port};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (service.name, trace id hex, span name) of every span received.
type Spans = Arc<Mutex<Vec<(String, String, String)>>>;

struct Collector(Spans);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let trace_id: String =
                        span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    spans.push((service.clone(), trace_id, span.name));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_gateway_and_zero() {
    let spans: Spans = Arc::default();
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Collector(spans.clone())))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    let endpoint = format!("http://127.0.0.1:{port}");

    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .arg(Service::Zero, "--otlp_endpoint", endpoint.clone())
        .arg(Service::Gateway, "--otlp_endpoint", endpoint.clone())
        .env(Service::Zero, "OTEL_BSP_SCHEDULE_DELAY", "100")
        .env(Service::Gateway, "OTEL_BSP_SCHEDULE_DELAY", "100")
        .start()
        .await
        .expect("cluster");

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let reply = reqwest::Client::new()
        .get(format!("{}/state", cluster.gateway_http()))
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.1 == trace_id)
            .cloned()
            .collect();
        let services: std::collections::BTreeSet<_> = seen.iter().map(|s| s.0.as_str()).collect();
        if services.contains("gateway") && services.contains("zero") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let services: std::collections::BTreeSet<_> = seen.iter().map(|s| s.0.clone()).collect();
    assert!(
        services.contains("gateway") && services.contains("zero"),
        "spans of trace {trace_id}: {seen:?} (all: {:?})",
        spans.lock().unwrap()
    );
    assert!(
        seen.iter()
            .any(|s| s.0 == "zero" && s.2.contains("/zero.Zero/State")),
        "{seen:?}"
    );
}
