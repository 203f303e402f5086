//! The one error type of the DQL HTTP API, and the one place where an error becomes an HTTP
//! status and Dgraph's error body.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use lodestar_runtime::{ErrorCode, ServiceError};

/// Dgraph's names for what went wrong, as its HTTP API writes them in `extensions.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DgraphCode {
    /// `ErrorInvalidRequest`: what `/query`, `/mutate`, `/commit` and `/login` answer for any
    /// failure, from an unreadable body to an aborted transaction.
    InvalidRequest,
    /// `Error`: what `/alter` answers for any failure.
    Error,
    /// `ErrorInvalidMethod`: a method other than `POST` or `PUT`.
    InvalidMethod,
}

impl DgraphCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DgraphCode::InvalidRequest => "ErrorInvalidRequest",
            DgraphCode::Error => "Error",
            DgraphCode::InvalidMethod => "ErrorInvalidMethod",
        }
    }
}

/// An error of the DQL HTTP API: what kind of failure it is ([`ErrorCode`], which picks the
/// HTTP status), the message for the caller, Dgraph's `extensions.code`, and whether the body
/// carries `"data": null` (Dgraph adds it to errors met while running a request, not to those
/// found in the request itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub dgraph: DgraphCode,
    pub with_data: bool,
}

impl ApiError {
    /// A request the gateway cannot read: its body, a parameter or a header.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            code: ErrorCode::InvalidArgument,
            message: message.into(),
            dgraph: DgraphCode::InvalidRequest,
            with_data: false,
        }
    }

    /// A body larger than `limit` bytes (after decompression, for a gzipped one).
    pub fn too_large(limit: usize) -> Self {
        ApiError {
            code: ErrorCode::PayloadTooLarge,
            message: format!(
                "the request body is larger than {limit} bytes, the gateway's limit (--max_body_bytes): send smaller batches"
            ),
            dgraph: DgraphCode::InvalidRequest,
            with_data: false,
        }
    }

    /// A method other than `POST` and `PUT` (and `OPTIONS`, which is answered empty).
    pub fn method(method: &http::Method) -> Self {
        ApiError {
            code: ErrorCode::InvalidArgument,
            message: format!("invalid method {method}: use POST"),
            dgraph: DgraphCode::InvalidMethod,
            with_data: false,
        }
    }

    /// An error the alpha (or the way to it) answered while running the request, as `/query`
    /// and `/mutate` write it (with `"data": null`).
    pub fn running(e: ServiceError) -> Self {
        ApiError {
            code: e.code,
            message: e.message,
            dgraph: DgraphCode::InvalidRequest,
            with_data: true,
        }
    }

    /// Sets Dgraph's code (`/alter` answers `Error` where the others answer
    /// `ErrorInvalidRequest`).
    pub fn with_dgraph(mut self, dgraph: DgraphCode) -> Self {
        self.dgraph = dgraph;
        self
    }

    /// Leaves `"data"` out, as `/alter` and `/commit` do.
    pub fn without_data(mut self) -> Self {
        self.with_data = false;
        self
    }

    /// The HTTP status. Dgraph answers every failure of these endpoints with 200 and the error
    /// in the body, and clients (dgraph-js-http, Ratel) read it from there: an aborted
    /// transaction must stay a 200 for them to retry it. Four kinds are the request's or the
    /// cluster's fault in a way HTTP says better: a request that cannot be read (400), a body
    /// over the limit (413), a cluster too busy to take it (429) and no alpha to answer (503).
    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        }
    }

    /// Dgraph's error body: `{"errors": [{"message", "extensions": {"code"}}]}`, with
    /// `"data": null` for errors met while running.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "errors": [{
                "message": self.message,
                "extensions": {"code": self.dgraph.as_str()},
            }]
        });
        if self.with_data {
            body["data"] = serde_json::Value::Null;
        }
        body
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::running(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreadable_requests_and_unreachable_clusters_leave_200() {
        let running = |code| ApiError::running(ServiceError::new(code, "x"));
        assert_eq!(ApiError::invalid("x").status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::too_large(10).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert!(ApiError::too_large(10).message.contains("10 bytes"));
        assert_eq!(
            running(ErrorCode::Unavailable).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        for code in [
            ErrorCode::Aborted,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
            ErrorCode::DeadlineExceeded,
            ErrorCode::Internal,
        ] {
            assert_eq!(running(code).status(), StatusCode::OK, "{code:?}");
        }
    }

    #[test]
    fn bodies_have_dgraph_s_shape() {
        assert_eq!(
            ApiError::invalid("bad").body(),
            serde_json::json!({"errors": [{"message": "bad", "extensions": {"code": "ErrorInvalidRequest"}}]})
        );
        let e = ApiError::from(ServiceError::new(ErrorCode::Aborted, "aborted"));
        assert_eq!(
            e.body(),
            serde_json::json!({"errors": [{"message": "aborted", "extensions": {"code": "ErrorInvalidRequest"}}], "data": null})
        );
        let alter = ApiError::running(ServiceError::invalid("bad schema"))
            .with_dgraph(DgraphCode::Error)
            .without_data();
        assert_eq!(alter.body()["errors"][0]["extensions"]["code"], "Error");
        assert!(alter.body().get("data").is_none());
        assert_eq!(
            ApiError::method(&http::Method::GET).body()["errors"][0]["extensions"]["code"],
            "ErrorInvalidMethod"
        );
    }
}
