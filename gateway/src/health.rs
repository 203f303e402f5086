//! The cluster-wide health check behind the `health` query and `/health?all`: every zero and
//! every alpha of every group (as zero lists them), auth, the backup-worker and the gateway
//! itself, each asked for its `Info`; one that does not answer in time is reported as
//! unhealthy rather than failing the whole check.

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
/// timeout. The order is stable: zeros by raft id, the alphas by group then id, auth,
/// backup-worker, gateway.
pub async fn probe_all(state: &GatewayState) -> Vec<Probe> {
    // Everything below runs on this task (join, not spawn) so the request's span stays current
    // and every RPC carries its trace context.
    let (zeros, alphas) = members(state).await;
    let targets: Vec<(&str, &str)> = zeros
        .iter()
        .map(|a| ("zero", a.as_str()))
        .chain(alphas.iter().map(|a| ("alpha", a.as_str())))
        .chain([
            ("auth", state.services.auth.as_str()),
            ("backup-worker", state.services.backup.as_str()),
        ])
        .collect();
    let mut probes = join_all(
        targets
            .iter()
            .map(|(instance, addr)| probe(state, instance, addr)),
    )
    .await;
    probes.push(Probe::Answered(state.node.info()));
    probes
}

/// The zeros and the alphas of every group named in zero's membership state, or those given
/// by flag when zero cannot say.
async fn members(state: &GatewayState) -> (Vec<String>, Vec<String>) {
    let given_alphas = || {
        state
            .services
            .alpha
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let ms = match tokio::time::timeout(state.probe_timeout, state.cluster.membership_state()).await
    {
        Ok(Ok(ms)) => ms,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "zero's membership state is unavailable; probing the services given by flag");
            return (state.services.zeros.clone(), given_alphas());
        }
        Err(_) => {
            tracing::warn!("zero's membership state timed out; probing the services given by flag");
            return (state.services.zeros.clone(), given_alphas());
        }
    };
    let mut zeros: Vec<_> = ms.zeros.into_iter().collect();
    zeros.sort_by_key(|(id, _)| *id);
    let zeros: Vec<String> = zeros
        .into_iter()
        .map(|(_, m)| m.addr)
        .filter(|a| !a.is_empty())
        .collect();
    let mut alphas: Vec<(u32, u64, String)> = ms
        .groups
        .iter()
        .flat_map(|(g, group)| {
            group
                .members
                .values()
                .map(move |m| (*g, m.id, m.addr.clone()))
        })
        .filter(|(_, _, a)| !a.is_empty())
        .collect();
    alphas.sort();
    let alphas: Vec<String> = alphas.into_iter().map(|(_, _, a)| a).collect();
    (
        if zeros.is_empty() {
            state.services.zeros.clone()
        } else {
            zeros
        },
        if alphas.is_empty() {
            given_alphas()
        } else {
            alphas
        },
    )
}

/// One probe as `/health?all` lists it (Dgraph's field names).
pub fn probe_json(p: &Probe) -> serde_json::Value {
    match p {
        Probe::Answered(n) => serde_json::json!({
            "instance": n.instance,
            "address": n.address,
            "status": n.status,
            "group": n.group.to_string(),
            "version": n.version,
            "uptime": n.uptime,
            "lastEcho": n.last_echo,
            "ongoing": n.ongoing,
            "indexing": n.indexing,
            "ee_features": n.ee_features,
        }),
        Probe::Silent {
            instance,
            address,
            error,
        } => serde_json::json!({
            "instance": instance,
            "address": address,
            "status": "unhealthy",
            "error": error,
        }),
    }
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
