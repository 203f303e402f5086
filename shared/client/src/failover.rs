//! A channel over several alphas that fails over: calls go to the one that answered last; a
//! call that cannot reach it (the connection fails, or the alpha answers `Unavailable` at
//! once) is sent to the next, so a service pointed at a group's alphas keeps working when one
//! of them dies. Meant for unary calls: a request body is held in memory to be sent again.

use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::transport::Channel;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Channels to several servers of the same service; see the module docs.
#[derive(Clone, Debug)]
pub struct FailoverChannel {
    channels: Arc<[Channel]>,
    current: Arc<AtomicUsize>,
}

impl FailoverChannel {
    pub fn new(channels: Vec<Channel>) -> Self {
        FailoverChannel {
            channels: channels.into(),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// The `grpc-status` of a trailers-only answer (an error the server gave before any message).
fn early_status(resp: &http::Response<Body>) -> Option<i32> {
    resp.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl tower::Service<http::Request<Body>> for FailoverChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call readies the channel it uses.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let (channels, current) = (self.channels.clone(), self.current.clone());
        Box::pin(async move {
            if let [only] = &*channels {
                return only.clone().oneshot(req).await.map_err(Into::into);
            }
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await?.to_bytes();
            let start = current.load(Ordering::Relaxed);
            let mut last: Option<Result<http::Response<Body>, BoxError>> = None;
            for k in 0..channels.len() {
                let i = (start + k) % channels.len();
                let mut again = http::Request::builder()
                    .method(parts.method.clone())
                    .uri(parts.uri.clone())
                    .version(parts.version)
                    .body(Body::new(http_body_util::Full::new(bytes.clone())))?;
                *again.headers_mut() = parts.headers.clone();
                match channels[i].clone().oneshot(again).await {
                    Ok(resp) if early_status(&resp) != Some(tonic::Code::Unavailable as i32) => {
                        current.store(i, Ordering::Relaxed);
                        return Ok(resp);
                    }
                    Ok(resp) => last = Some(Ok(resp)),
                    Err(e) => last = Some(Err(e.into())),
                }
            }
            last.unwrap_or_else(|| Err("no address to call".into()))
        })
    }
}
