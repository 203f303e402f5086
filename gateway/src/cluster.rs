//! The backend calls the gateway makes, behind one trait so the HTTP and GraphQL layers can be
//! driven without a cluster, and the real implementation over gRPC.

use lodestar_client::{TracedChannel, ZeroClient, traced_channel};
use lodestar_proto::node::node_client::NodeClient;
use lodestar_proto::node::{InfoRequest, NodeInfo};
use lodestar_proto::zero::{ApplyLicenseResponse, MembershipState};
use lodestar_runtime::ServiceError;
use std::collections::HashMap;
use std::sync::Mutex;

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
}

/// [`Cluster`] over gRPC: a leader-following [`ZeroClient`] and one lazily connected channel per
/// service address.
#[derive(Debug)]
pub struct GrpcCluster {
    zero: ZeroClient,
    channels: Mutex<HashMap<String, TracedChannel>>,
}

impl GrpcCluster {
    /// A cluster reached through the zeros at `zeros`. Connects lazily: nothing needs to be up yet.
    pub fn new(zeros: &[String]) -> Result<Self, ServiceError> {
        Ok(GrpcCluster {
            zero: ZeroClient::new(zeros)?,
            channels: Mutex::new(HashMap::new()),
        })
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

    #[tracing::instrument(name = "node.Info", skip(self))]
    async fn node_info(&self, addr: &str) -> Result<NodeInfo, ServiceError> {
        let mut client = NodeClient::new(self.channel(addr)?);
        Ok(client.info(InfoRequest {}).await?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_service_is_an_error_not_a_hang() {
        // Port 1 on localhost refuses connections; the lazy channel must report that.
        let cluster = GrpcCluster::new(&["127.0.0.1:1".to_string()]).unwrap();
        let err = cluster.node_info("127.0.0.1:1").await.unwrap_err();
        assert_eq!(err.code, lodestar_runtime::ErrorCode::Unavailable);
    }
}
