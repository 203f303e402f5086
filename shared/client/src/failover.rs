//! A channel over several alphas that fails over: calls go to the one that answered last; a
//! call that cannot reach it (the connection fails, or the alpha answers `Unavailable` at
//! once) is sent to the next, so a service pointed at a group's alphas keeps working when one
//! of them dies. Meant for unary calls: a request body is held in memory to be sent again.
//!
//! A call that may write (a query with mutations, a commit) is sent again only when the
//! connection to the alpha could not be made: once the alpha has it, an `Unavailable` answer
//! or a broken connection may come after the commit was applied (the leader it was forwarded
//! to stepped down), and running it on another alpha would apply it twice. The caller gets
//! that answer and decides, as with any database client.

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
            let writes = may_write(parts.uri.path(), &bytes);
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
                    Ok(resp)
                        if writes
                            || early_status(&resp) != Some(tonic::Code::Unavailable as i32) =>
                    {
                        current.store(i, Ordering::Relaxed);
                        return Ok(resp);
                    }
                    Ok(resp) => last = Some(Ok(resp)),
                    Err(e) if writes && !connect_failed(&e) => return Err(e.into()),
                    Err(e) => last = Some(Err(e.into())),
                }
            }
            last.unwrap_or_else(|| Err("no address to call".into()))
        })
    }
}

/// Whether a call may change data if the alpha ran it (see the module docs): `Query` with
/// mutations (or a message that cannot be read as one: compressed, say), and `CommitOrAbort`.
fn may_write(path: &str, body: &[u8]) -> bool {
    use prost::Message;
    match path {
        "/api.Dgraph/CommitOrAbort" => true,
        "/api.Dgraph/Query" => match body {
            // One gRPC message: not compressed, a 4-byte length, the protobuf.
            [0, _, _, _, _, message @ ..] => lodestar_proto::api::Request::decode(message)
                .map_or(true, |r| !r.mutations.is_empty()),
            _ => true,
        },
        _ => false,
    }
}

/// Whether `error` says the connection to the alpha could not be made, so the alpha never got
/// the call.
fn connect_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(error);
    while let Some(e) = at {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        at = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use lodestar_proto::api::{Mutation, Request};
    use prost::Message;

    fn framed(req: &Request) -> Vec<u8> {
        let message = req.encode_to_vec();
        let mut body = vec![0];
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(&message);
        body
    }

    #[test]
    fn queries_are_sent_again_but_mutations_and_commits_are_not() {
        let query = Request {
            query: "{ q(func: has(name)) { name } }".into(),
            ..Default::default()
        };
        assert!(!may_write("/api.Dgraph/Query", &framed(&query)));
        let mutation = Request {
            mutations: vec![Mutation {
                set_nquads: b"_:a <name> \"A\" .".to_vec(),
                ..Default::default()
            }],
            commit_now: true,
            ..Default::default()
        };
        assert!(may_write("/api.Dgraph/Query", &framed(&mutation)));
        // A compressed message is not read: it is taken as a write.
        let mut compressed = framed(&query);
        compressed[0] = 1;
        assert!(may_write("/api.Dgraph/Query", &compressed));
        assert!(may_write("/api.Dgraph/CommitOrAbort", &[]));
        assert!(!may_write("/api.Dgraph/Alter", &[]));
        assert!(!may_write("/api.Dgraph/Login", &[]));
    }

    #[tokio::test]
    async fn a_refused_connection_is_told_from_a_call_that_reached_the_alpha() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_lazy();
        let req = http::Request::builder()
            .uri(format!("http://127.0.0.1:{port}/api.Dgraph/Query"))
            .body(Body::empty())
            .unwrap();
        let err = channel.oneshot(req).await.expect_err("nothing listens");
        assert!(connect_failed(&err), "{err:?}");
        let status = tonic::Status::unavailable("the leader stepped down");
        assert!(!connect_failed(&status));
    }
}
