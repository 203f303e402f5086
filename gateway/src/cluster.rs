//! The backend calls the gateway makes, behind one trait so the HTTP and GraphQL layers can be
//! driven without a cluster, and the real implementation over gRPC.

use lodestar_client::{AlphaChannel, TracedChannel, ZeroClient, alpha_channel, traced_channel};
use lodestar_proto::api;
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::node::node_client::NodeClient;
use lodestar_proto::node::{InfoRequest, NodeInfo};
use lodestar_proto::zero::{ApplyLicenseResponse, MembershipState};
use lodestar_runtime::ServiceError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Where the services the gateway fronts listen (gRPC addresses, `host:port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Services {
    /// Every zero given by flag; the health check falls back to these when zero cannot say who
    /// its members are.
    pub zeros: Vec<String>,
    /// The alpha's public gRPC address.
    pub alpha: String,
    pub auth: String,
    pub backup: String,
}

/// What a call to the alphas' `api.Dgraph` carries besides its message: the caller's access
/// token (sent as the `accessjwt` metadata, which the alpha verifies) and how long the caller
/// waits (sent as the gRPC deadline).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AlphaCall {
    pub access_token: Option<String>,
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for AlphaCall {
    /// Says whether a token is there, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlphaCall")
            .field("access_token", &self.access_token.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl AlphaCall {
    /// `message` as a gRPC request with the token and deadline attached.
    fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ServiceError> {
        let mut req = tonic::Request::new(message);
        if let Some(token) = &self.access_token {
            let value = tonic::metadata::MetadataValue::try_from(token.as_str()).map_err(|_| {
                ServiceError::invalid(
                    "the X-Dgraph-AccessToken header holds characters no token has: send the accessJWT that /login answered",
                )
            })?;
            req.metadata_mut().insert("accessjwt", value);
        }
        if let Some(timeout) = self.timeout {
            req.set_timeout(timeout);
        }
        Ok(req)
    }

    /// The error of a failed call. A server that stops a call at its deadline answers
    /// `Cancelled` ("Timeout expired"), which alone would read as the alpha being unreachable;
    /// with a deadline set it is that deadline passing.
    fn error(&self, status: tonic::Status) -> ServiceError {
        match self.timeout {
            Some(t) if status.code() == tonic::Code::Cancelled => ServiceError::new(
                lodestar_runtime::ErrorCode::DeadlineExceeded,
                format!(
                    "the request ran past its timeout of {t:?} (the timeout parameter): {}",
                    status.message()
                ),
            ),
            _ => status.into(),
        }
    }
}

/// The calls into the cluster that the gateway's routes need.
///
/// Implementations must make their RPCs on the calling task (no `tokio::spawn` without carrying
/// the span along): the request's span is current there, and the gRPC clients put its trace
/// context on the wire.
#[tonic::async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// Zero's membership state, from the leader.
    async fn membership_state(&self) -> Result<MembershipState, ServiceError>;

    /// Hands a license file to zero, which verifies it and records it through Raft.
    async fn apply_license(&self, license: Vec<u8>) -> Result<ApplyLicenseResponse, ServiceError>;

    /// Turns the cluster's draining flag on or off (queries and mutations are refused while
    /// it is on).
    async fn set_draining(&self, enable: bool) -> Result<(), ServiceError> {
        let _ = enable;
        Err(ServiceError::unavailable(
            "this backend cannot change the draining flag",
        ))
    }

    /// Moves `predicate`'s tablet to `group` (zero copies it and switches); the message to
    /// report on success.
    async fn move_tablet(
        &self,
        predicate: String,
        group: u32,
        namespace: u64,
    ) -> Result<String, ServiceError> {
        let _ = (predicate, group, namespace);
        Err(ServiceError::unavailable(
            "this backend cannot move tablets",
        ))
    }

    /// `node.Node/Info` of the service listening at `addr` (any of our gRPC ports serves it).
    async fn node_info(&self, addr: &str) -> Result<NodeInfo, ServiceError>;

    /// A gRPC channel to the service at `addr`, for the calls that go straight to a service's
    /// own API (the auth service's). Backends without a network say they cannot.
    fn channel_to(&self, addr: &str) -> Result<TracedChannel, ServiceError> {
        Err(ServiceError::unavailable(format!(
            "this backend cannot reach {addr} over gRPC"
        )))
    }

    /// `api.Dgraph/Query` on an alpha: queries, mutations and upserts.
    async fn dgraph_query(
        &self,
        req: api::Request,
        call: &AlphaCall,
    ) -> Result<api::Response, ServiceError> {
        let _ = (req, call);
        Err(no_alphas())
    }

    /// `api.Dgraph/Alter` on an alpha: schema changes and drops.
    async fn dgraph_alter(
        &self,
        op: api::Operation,
        call: &AlphaCall,
    ) -> Result<api::Payload, ServiceError> {
        let _ = (op, call);
        Err(no_alphas())
    }

    /// `api.Dgraph/CommitOrAbort` on an alpha.
    async fn dgraph_commit_or_abort(
        &self,
        txn: api::TxnContext,
        call: &AlphaCall,
    ) -> Result<api::TxnContext, ServiceError> {
        let _ = (txn, call);
        Err(no_alphas())
    }
}

fn no_alphas() -> ServiceError {
    ServiceError::unavailable("this backend cannot reach the alphas")
}

/// [`Cluster`] over gRPC: a leader-following [`ZeroClient`] and one lazily connected channel per
/// service address.
#[derive(Debug)]
pub struct GrpcCluster {
    zero: ZeroClient,
    channels: Mutex<HashMap<String, TracedChannel>>,
    /// The alphas' `api.Dgraph`, failing over along `--alpha`.
    alphas: Option<AlphaChannel>,
}

impl GrpcCluster {
    /// A cluster reached through the zeros at `zeros`. Connects lazily: nothing needs to be up yet.
    pub fn new(zeros: &[String]) -> Result<Self, ServiceError> {
        Ok(GrpcCluster {
            zero: ZeroClient::new(zeros)?,
            channels: Mutex::new(HashMap::new()),
            alphas: None,
        })
    }

    /// Sends `api.Dgraph` calls to the alphas of `list` (comma-separated `host:port`s): to the
    /// one that answered last, and on to the next when it cannot be reached.
    pub fn with_alphas(mut self, list: &str) -> Result<Self, ServiceError> {
        self.alphas = Some(alpha_channel(list)?);
        Ok(self)
    }

    fn dgraph(&self) -> Result<DgraphClient<AlphaChannel>, ServiceError> {
        self.alphas
            .clone()
            .map(DgraphClient::new)
            .ok_or_else(|| ServiceError::unavailable("this gateway was given no --alpha address"))
    }

    fn channel(&self, addr: &str) -> Result<TracedChannel, ServiceError> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let channel = traced_channel(addr)?;
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

#[tonic::async_trait]
impl Cluster for GrpcCluster {
    #[tracing::instrument(name = "zero.State", skip_all)]
    async fn membership_state(&self) -> Result<MembershipState, ServiceError> {
        Ok(self.zero.state().await?)
    }

    #[tracing::instrument(name = "zero.ApplyLicense", skip_all, fields(bytes = license.len()))]
    async fn apply_license(&self, license: Vec<u8>) -> Result<ApplyLicenseResponse, ServiceError> {
        Ok(self.zero.apply_license(license).await?)
    }

    #[tracing::instrument(name = "zero.MoveTablet", skip(self))]
    async fn move_tablet(
        &self,
        predicate: String,
        group: u32,
        namespace: u64,
    ) -> Result<String, ServiceError> {
        let resp = self
            .zero
            .move_tablet(lodestar_proto::zero::MoveTabletRequest {
                predicate,
                group_id: group,
                namespace,
            })
            .await?;
        Ok(resp.message)
    }

    #[tracing::instrument(name = "zero.SetDraining", skip(self))]
    async fn set_draining(&self, enable: bool) -> Result<(), ServiceError> {
        self.zero.set_draining(enable).await?;
        Ok(())
    }

    fn channel_to(&self, addr: &str) -> Result<TracedChannel, ServiceError> {
        self.channel(addr)
    }

    #[tracing::instrument(name = "api.Query", skip_all)]
    async fn dgraph_query(
        &self,
        req: api::Request,
        call: &AlphaCall,
    ) -> Result<api::Response, ServiceError> {
        let resp = self.dgraph()?.query(call.request(req)?).await;
        Ok(resp.map_err(|e| call.error(e))?.into_inner())
    }

    #[tracing::instrument(name = "api.Alter", skip_all)]
    async fn dgraph_alter(
        &self,
        op: api::Operation,
        call: &AlphaCall,
    ) -> Result<api::Payload, ServiceError> {
        let resp = self.dgraph()?.alter(call.request(op)?).await;
        Ok(resp.map_err(|e| call.error(e))?.into_inner())
    }

    #[tracing::instrument(name = "api.CommitOrAbort", skip_all, fields(start_ts = txn.start_ts))]
    async fn dgraph_commit_or_abort(
        &self,
        txn: api::TxnContext,
        call: &AlphaCall,
    ) -> Result<api::TxnContext, ServiceError> {
        let resp = self.dgraph()?.commit_or_abort(call.request(txn)?).await;
        Ok(resp.map_err(|e| call.error(e))?.into_inner())
    }

    #[tracing::instrument(name = "node.Info", skip(self))]
    async fn node_info(&self, addr: &str) -> Result<NodeInfo, ServiceError> {
        let mut client = NodeClient::new(self.channel(addr)?);
        Ok(client.info(InfoRequest {}).await?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_stopped_at_its_deadline_is_deadline_exceeded_and_tokens_stay_hidden() {
        let call = AlphaCall {
            access_token: Some("secret-token".into()),
            timeout: Some(Duration::from_millis(5)),
        };
        let e = call.error(tonic::Status::cancelled("Timeout expired"));
        assert_eq!(e.code, lodestar_runtime::ErrorCode::DeadlineExceeded);
        assert!(e.message.contains("5ms"), "{}", e.message);
        let e = AlphaCall::default().error(tonic::Status::cancelled("gone"));
        assert_eq!(e.code, lodestar_runtime::ErrorCode::Unavailable);
        let req = call.request(()).unwrap();
        assert_eq!(req.metadata().get("accessjwt").unwrap(), "secret-token");
        assert!(req.metadata().get("grpc-timeout").is_some());
        assert!(!format!("{call:?}").contains("secret-token"));
        let bad = AlphaCall {
            access_token: Some("line\nbreak".into()),
            timeout: None,
        };
        assert_eq!(
            bad.request(()).unwrap_err().code,
            lodestar_runtime::ErrorCode::InvalidArgument
        );
    }

    #[tokio::test]
    async fn a_dead_service_is_an_error_not_a_hang() {
        // Port 1 on localhost refuses connections; the lazy channel must report that.
        let cluster = GrpcCluster::new(&["127.0.0.1:1".to_string()]).unwrap();
        let err = cluster.node_info("127.0.0.1:1").await.unwrap_err();
        assert_eq!(err.code, lodestar_runtime::ErrorCode::Unavailable);
    }
}
