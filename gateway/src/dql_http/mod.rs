//! Dgraph's HTTP API for DQL, on the gateway's port, for clients that speak HTTP rather than
//! gRPC (curl, Ratel, dgraph-js-http):
//!
//! - `POST /query`: a query (`application/dql`, `application/graphql+-`, or `application/json`
//!   with `query` and `variables`); parameters `startTs`, `timeout`, `ro`, `be`, `hash`,
//!   `respFormat`, `debug`;
//! - `POST /mutate`: RDF (`application/rdf`: `{ set { } delete { } }` or an upsert block) or
//!   JSON (`application/json`: `set`, `delete`, `cond`, `query`, `mutations`); parameters
//!   `startTs`, `commitNow`, `hash`, `timeout`;
//! - `POST /alter`: schema text or a JSON operation (`drop_all`, `drop_attr`, `drop_op` with
//!   `drop_value`); parameter `runInBackground`;
//! - `POST /commit?startTs=N`: the keys (a JSON list, or `{"keys", "preds"}`), or
//!   `&abort=true`;
//! - `GET /probe/graphql`: readiness, as Dgraph's alpha answers it.
//!
//! Each request becomes one call of the alphas' `api.Dgraph` ([`crate::Cluster`]): the
//! `X-Dgraph-AccessToken` header goes on as the `accessjwt` metadata (the alpha verifies it),
//! `timeout` as the gRPC deadline. Bodies are read up to the gateway's limit (gzipped ones
//! too), answers are gzipped for callers that accept it, and errors take Dgraph's shape
//! through [`ApiError`], the only place a failure becomes a status.

mod body;
mod error;
mod params;
mod reply;

pub use error::{ApiError, DgraphCode};
pub use params::{Params, parse_bool, parse_duration, parse_uint};

use crate::cluster::AlphaCall;
use crate::routes::GatewayState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use lodestar_proto::api;
use lodestar_runtime::{ErrorCode, ServiceError};
use std::future::Future;
use std::time::{Duration, Instant};

/// The DQL routes and `/probe/graphql`, over `state`'s backends.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/query", any(query))
        .route("/mutate", any(mutate))
        .route("/alter", any(alter))
        .route("/commit", any(commit))
        .route("/probe/graphql", get(probe))
        .with_state(state)
}

/// CORS as Dgraph's alpha answers it, for every route of the gateway, so that Ratel in a
/// browser on another origin can call it: a preflight (`OPTIONS`) is answered at once, every
/// other answer carries the headers. Tokens travel in a header, never in cookies, so a page
/// elsewhere cannot act with a user's rights.
pub async fn cors(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = if req.method() == Method::OPTIONS {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")]).into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "X-Dgraph-AccessToken, X-Dgraph-AuthToken, Content-Type, Content-Length, Accept-Encoding, Cache-Control, X-CSRF-Token, X-Auth-Token, X-Requested-With",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    resp
}

/// A successful answer: the JSON body, and the number of uids the query touched when the
/// alpha reported it (Dgraph's `Dgraph-TouchedUids` header).
struct Answer {
    body: Vec<u8>,
    touched_uids: Option<u64>,
}

impl From<Vec<u8>> for Answer {
    fn from(body: Vec<u8>) -> Self {
        Answer {
            body,
            touched_uids: None,
        }
    }
}

/// One request to a DQL endpoint, taken apart.
struct Incoming {
    method: Method,
    /// Whether the caller accepts a gzipped answer.
    gzip_ok: bool,
    headers: HeaderMap,
    params: Params,
    body: Body,
}

impl Incoming {
    fn new(req: Request) -> Self {
        let (parts, body) = req.into_parts();
        Incoming {
            gzip_ok: accepts_gzip(&parts.headers),
            params: Params::parse(parts.uri.query()),
            method: parts.method,
            headers: parts.headers,
            body,
        }
    }
}

/// Runs `handle` for `POST` and `PUT` (refusing other methods; [`cors`] answers `OPTIONS`)
/// and writes its answer, gzipped when the caller accepts gzip.
async fn respond<F, Fut>(req: Request, handle: F) -> Response
where
    F: FnOnce(Incoming) -> Fut,
    Fut: Future<Output = Result<Answer, ApiError>>,
{
    let incoming = Incoming::new(req);
    let (method, gzip_ok) = (incoming.method.clone(), incoming.gzip_ok);
    if method != Method::POST && method != Method::PUT {
        return ApiError::method(&method).into_response();
    }
    let answer = match handle(incoming).await {
        Ok(answer) => answer,
        Err(e) => return e.into_response(),
    };
    let mut resp = if gzip_ok {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let gz = std::io::Write::write_all(&mut enc, &answer.body).and_then(|()| enc.finish());
        match gz {
            Ok(gz) => ([(header::CONTENT_ENCODING, "gzip")], gz).into_response(),
            Err(_) => answer.body.into_response(),
        }
    } else {
        answer.body.into_response()
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(n) = answer.touched_uids {
        resp.headers_mut()
            .insert("dgraph-toucheduids", HeaderValue::from(n));
    }
    resp
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
}

/// The token and deadline the alpha call carries.
fn alpha_call(headers: &HeaderMap, timeout: Option<Duration>) -> AlphaCall {
    AlphaCall {
        access_token: headers
            .get("x-dgraph-accesstoken")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        timeout,
    }
}

/// `call`, given up after `timeout` (the alpha also gets it as the gRPC deadline, so it stops
/// working on the request as well).
async fn within<T>(
    timeout: Option<Duration>,
    call: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, ServiceError> {
    match timeout {
        None => call.await,
        Some(t) => tokio::time::timeout(t, call).await.unwrap_or_else(|_| {
            Err(ServiceError::new(
                ErrorCode::DeadlineExceeded,
                format!("the request ran past its timeout of {t:?} (the timeout parameter)"),
            ))
        }),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

async fn query(State(state): State<GatewayState>, req: Request) -> Response {
    respond(req, |inc| async move {
        let (p, headers) = (&inc.params, &inc.headers);
        // Accepted as Dgraph accepts it; the alpha has no debug output to add.
        p.bool("debug")?;
        let timeout = p.duration("timeout")?;
        let start_ts = p.uint("startTs")?;
        let hash = p.get("hash").unwrap_or_default().to_string();
        // Within a transaction (startTs given) the read-only flags do not apply.
        let (best_effort, read_only) = if start_ts == 0 {
            let be = p.bool("be")?;
            (be, be || p.bool("ro")?)
        } else {
            (false, false)
        };
        let rdf = match p.get("respFormat").map(str::to_ascii_lowercase).as_deref() {
            None | Some("json") => false,
            Some("rdf") => true,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "respFormat {other:?} is not a response format: use json or rdf"
                )));
            }
        };
        let data = body::read(headers, inc.body, state.max_body_bytes).await?;
        let media = body::media_type(headers)?;
        let (query, vars) = body::query(media.as_deref(), &data)?;
        let req = api::Request {
            start_ts,
            query,
            vars,
            read_only,
            best_effort,
            resp_format: if rdf {
                api::request::RespFormat::Rdf
            } else {
                api::request::RespFormat::Json
            } as i32,
            hash,
            ..Default::default()
        };
        let call = alpha_call(headers, timeout);
        let resp = within(timeout, state.cluster.dgraph_query(req, &call)).await?;
        let touched_uids = resp
            .metrics
            .as_ref()
            .and_then(|m| m.num_uids.get("_total").copied());
        Ok(Answer {
            body: reply::query(resp, rdf)?,
            touched_uids,
        })
    })
    .await
}

async fn mutate(State(state): State<GatewayState>, req: Request) -> Response {
    respond(req, |inc| async move {
        let (p, headers) = (&inc.params, &inc.headers);
        let commit_now = p.bool("commitNow")?;
        let start_ts = p.uint("startTs")?;
        let timeout = p.duration("timeout")?;
        let hash = p.get("hash").unwrap_or_default().to_string();
        let data = body::read(headers, inc.body, state.max_body_bytes).await?;
        let media = body::media_type(headers)?;
        let parse_started = Instant::now();
        let mut req = body::mutation(media.as_deref(), &data)?;
        let parsing = nanos(parse_started.elapsed());
        req.start_ts = start_ts;
        req.commit_now = commit_now;
        req.hash = hash;
        let call = alpha_call(headers, timeout);
        let resp = within(timeout, state.cluster.dgraph_query(req, &call)).await?;
        Ok(reply::mutation(resp, commit_now, parsing)?.into())
    })
    .await
}

async fn alter(State(state): State<GatewayState>, req: Request) -> Response {
    respond(req, |inc| async move {
        let (p, headers) = (&inc.params, &inc.headers);
        let timeout = p.duration("timeout")?;
        let background = match p.get("runInBackground") {
            Some(_) => Some(p.bool("runInBackground")?),
            None => None,
        };
        let data = body::read(headers, inc.body, state.max_body_bytes).await?;
        let mut op = body::alter(&data)?;
        if let Some(background) = background {
            op.run_in_background = background;
        }
        let call = alpha_call(headers, timeout);
        within(timeout, state.cluster.dgraph_alter(op, &call))
            .await
            .map_err(|e| {
                ApiError::running(e)
                    .with_dgraph(DgraphCode::Error)
                    .without_data()
            })?;
        Ok(reply::done().into())
    })
    .await
}

/// The error for a commit the cluster aborted (a conflict), in the words clients look for:
/// dgraph-js-http retries on "abort" and "retry".
fn aborted_error() -> ApiError {
    ApiError::running(ServiceError::new(
        ErrorCode::Aborted,
        "Transaction has been aborted. Please retry",
    ))
    .without_data()
}

async fn commit(State(state): State<GatewayState>, req: Request) -> Response {
    respond(req, |inc| async move {
        let (p, headers) = (&inc.params, &inc.headers);
        let start_ts = p.uint("startTs")?;
        if start_ts == 0 {
            return Err(ApiError::invalid(
                "startTs is required: /commit?startTs=<the start_ts the transaction's answers carry>",
            ));
        }
        let abort = p.bool("abort")?;
        let timeout = p.duration("timeout")?;
        let hash = p.get("hash").unwrap_or_default().to_string();
        let call = alpha_call(headers, timeout);
        let running = |e: ServiceError| ApiError::running(e).without_data();
        if abort {
            let txn = api::TxnContext {
                start_ts,
                aborted: true,
                hash,
                ..Default::default()
            };
            let resp = within(timeout, state.cluster.dgraph_commit_or_abort(txn, &call))
                .await
                .map_err(running)?;
            if !resp.aborted {
                return Err(running(ServiceError::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "the transaction could not be aborted: it was already committed at {}",
                        resp.commit_ts
                    ),
                )));
            }
            return Ok(reply::aborted().into());
        }
        let data = body::read(headers, inc.body, state.max_body_bytes).await?;
        let (keys, preds) = body::commit_keys(&data)?;
        let txn = api::TxnContext {
            start_ts,
            keys,
            preds,
            hash,
            ..Default::default()
        };
        let resp = within(timeout, state.cluster.dgraph_commit_or_abort(txn, &call))
            .await
            .map_err(running)?;
        if resp.aborted {
            return Err(aborted_error());
        }
        Ok(reply::commit(resp)?.into())
    })
    .await
}

/// `GET /probe/graphql`: `{"status": "up", "schemaUpdateCounter": 0}` while this gateway
/// serves and an alpha answers healthy, else 503 with `"status": "down"`. The counter is
/// Dgraph's count of GraphQL schema updates; this cluster serves no GraphQL schema, so it
/// stays 0.
async fn probe(State(state): State<GatewayState>) -> Response {
    let alphas: Vec<&str> = state
        .services
        .alpha
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let healthy = |addr: &str| {
        let state = &state;
        let addr = addr.to_string();
        async move {
            matches!(
                tokio::time::timeout(state.probe_timeout, state.cluster.node_info(&addr)).await,
                Ok(Ok(info)) if info.status == "healthy"
            )
        }
    };
    let up = state.node.is_serving()
        && futures::future::join_all(alphas.into_iter().map(healthy))
            .await
            .into_iter()
            .any(|h| h);
    let (status, text) = if up {
        (StatusCode::OK, "up")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "down")
    };
    (
        status,
        axum::Json(serde_json::json!({"status": text, "schemaUpdateCounter": 0})),
    )
        .into_response()
}
