//! The cluster-wide health check behind the `health` query: every zero, the alpha, auth, the
//! backup-worker and the gateway itself, each asked for its `Info`; one that does not answer in
//! time is reported as unhealthy rather than failing the whole check.

use crate::routes::GatewayState;
use futures::future::join_all;
use lodestar_proto::node::NodeInfo;
use lodestar_runtime::ServiceError;

/// What one service said about itself, or why it said nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    Answered(NodeInfo),
    Silent {
        /// Which kind of service was expected there (`zero`, `alpha`, ...).
        instance: String,
        address: String,
        error: String,
    },
}

impl Probe {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Probe::Answered(info) if info.status == "healthy")
    }
}

/// Asks every service of the cluster for its `Info`, concurrently, each within the state's probe
/// timeout. The order is stable: zeros by raft id, the alphas as given, auth, backup-worker,
/// gateway.
pub async fn probe_all(state: &GatewayState) -> Vec<Probe> {
    // Everything below runs on this task (join, not spawn) so the request's span stays current
    // and every RPC carries its trace context.
    // Every alpha of --alpha, then auth and the backup worker.
    let fixed: Vec<(&str, &str)> = state
        .services
        .alpha
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| ("alpha", a))
        .chain([
            ("auth", state.services.auth.as_str()),
            ("backup-worker", state.services.backup.as_str()),
        ])
        .collect();
    let (zeros, others) = tokio::join!(
        probe_zeros(state),
        join_all(
            fixed
                .iter()
                .map(|(instance, addr)| probe(state, instance, addr))
        ),
    );
    let mut probes = zeros;
    probes.extend(others);
    probes.push(Probe::Answered(state.node.info()));
    probes
}

/// The zeros named in zero's membership state, or those given by flag when zero cannot say.
async fn probe_zeros(state: &GatewayState) -> Vec<Probe> {
    let from_state = match tokio::time::timeout(
        state.probe_timeout,
        state.cluster.membership_state(),
    )
    .await
    {
        Ok(Ok(ms)) => {
            let mut zeros: Vec<_> = ms.zeros.into_iter().collect();
            zeros.sort_by_key(|(id, _)| *id);
            zeros
                .into_iter()
                .map(|(_, m)| m.addr)
                .filter(|a| !a.is_empty())
                .collect()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "zero's membership state is unavailable; probing the zeros given by flag");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("zero's membership state timed out; probing the zeros given by flag");
            Vec::new()
        }
    };
    let addrs = if from_state.is_empty() {
        state.services.zeros.clone()
    } else {
        from_state
    };
    join_all(addrs.iter().map(|addr| probe(state, "zero", addr))).await
}

async fn probe(state: &GatewayState, instance: &str, addr: &str) -> Probe {
    let result =
        match tokio::time::timeout(state.probe_timeout, state.cluster.node_info(addr)).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::unavailable(format!(
                "no answer within {:?}",
                state.probe_timeout
            ))),
        };
    match result {
        Ok(mut info) => {
            // A service may not know the address it is reached at; keep the one we used.
            if info.address.is_empty() {
                info.address = addr.to_string();
            }
            if info.instance.is_empty() {
                info.instance = instance.to_string();
            }
            Probe::Answered(info)
        }
        Err(e) => {
            tracing::debug!(instance, addr, error = %e, "service did not answer the health probe");
            Probe::Silent {
                instance: instance.to_string(),
                address: addr.to_string(),
                error: e.message,
            }
        }
    }
}
