//! `zero.Zero` over gRPC: converts messages and delegates to [`ZeroNode`].

use crate::node::{ZeroError, ZeroNode};
use crate::state::IdKind;
use lodestar_proto::zero::zero_server::Zero;
use lodestar_proto::zero::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The gRPC face of a zero.
#[derive(Debug, Clone)]
pub struct ZeroService {
    pub node: Arc<ZeroNode>,
}

type Reply<T> = Result<Response<T>, Status>;

fn ok<T>(value: T) -> Reply<T> {
    Ok(Response::new(value))
}

fn ids((start_id, end_id): (u64, u64)) -> AssignedIds {
    AssignedIds {
        start_id,
        end_id,
        read_only: 0,
    }
}

fn lease_kind(num: &Num) -> Result<IdKind, ZeroError> {
    match NumLeaseType::try_from(num.r#type) {
        Ok(NumLeaseType::Uid) => Ok(IdKind::Uid),
        Ok(NumLeaseType::NsId) => Ok(IdKind::Namespace),
        Ok(NumLeaseType::TxnTs) => Ok(IdKind::Timestamp),
        Err(_) => Err(ZeroError::invalid(format!(
            "unknown lease type {}",
            num.r#type
        ))),
    }
}

#[tonic::async_trait]
impl Zero for ZeroService {
    async fn timestamps(&self, req: Request<Num>) -> Reply<AssignedIds> {
        let num = req.into_inner();
        if num.bump {
            return ok(ids(self.node.bump(IdKind::Timestamp, num.val).await?));
        }
        if num.read_only || num.val == 0 {
            let ts = self.node.read_only_ts().await?;
            return ok(AssignedIds {
                start_id: 0,
                end_id: 0,
                read_only: ts,
            });
        }
        ok(ids(self.node.timestamps(num.val).await?))
    }

    async fn assign_ids(&self, req: Request<Num>) -> Reply<AssignedIds> {
        let num = req.into_inner();
        let kind = lease_kind(&num)?;
        if num.bump {
            return ok(ids(self.node.bump(kind, num.val).await?));
        }
        if kind == IdKind::Timestamp {
            return ok(ids(self.node.timestamps(num.val).await?));
        }
        ok(ids(self.node.lease(kind, num.val).await?))
    }

    async fn commit_or_abort(&self, req: Request<CommitRequest>) -> Reply<CommitDecision> {
        let req = req.into_inner();
        ok(self
            .node
            .commit_or_abort(req.start_ts, &req.conflict_keys, &req.preds, req.abort)
            .await?)
    }

    async fn txn_status(&self, req: Request<TxnStatusRequest>) -> Reply<CommitDecision> {
        ok(self.node.txn_status(req.into_inner().start_ts)?)
    }

    async fn join_group(&self, req: Request<ConnectRequest>) -> Reply<ConnectResponse> {
        let req = req.into_inner();
        let member = self
            .node
            .join_group(req.addr, req.group_id, req.acl, req.id, req.learner)
            .await?;
        ok(ConnectResponse {
            member: Some(Member {
                id: member.id,
                group_id: member.group,
                addr: member.addr,
                last_update: member.last_update,
                acl: member.acl,
                learner: member.learner,
                ..Default::default()
            }),
            state: Some(self.node.membership_state()),
            cluster_auth: lodestar_runtime::cluster::enabled(),
        })
    }

    async fn tablet(&self, req: Request<TabletRequest>) -> Reply<TabletInfo> {
        let req = req.into_inner();
        let group_id = self
            .node
            .tablet(
                req.predicate.clone(),
                req.group_id,
                req.read_only,
                req.force,
            )
            .await?;
        ok(TabletInfo {
            predicate: req.predicate,
            group_id,
            ..Default::default()
        })
    }

    async fn state(&self, _req: Request<StateRequest>) -> Reply<MembershipState> {
        self.node.leader_term()?;
        ok(self.node.membership_state())
    }

    async fn set_draining(&self, req: Request<DrainingRequest>) -> Reply<DrainingResponse> {
        let enable = req.into_inner().enable;
        self.node.set_draining(enable).await?;
        ok(DrainingResponse { draining: enable })
    }

    async fn apply_license(
        &self,
        req: Request<ApplyLicenseRequest>,
    ) -> Reply<ApplyLicenseResponse> {
        let record = self.node.apply_license(&req.into_inner().license).await?;
        ok(ApplyLicenseResponse {
            message: "License applied.".into(),
            license: Some(crate::node::license_pb(&record, self.node.clock.now())),
        })
    }

    async fn enterprise_state(
        &self,
        _req: Request<EnterpriseStateRequest>,
    ) -> Reply<EnterpriseStateResponse> {
        self.node.leader_term()?;
        ok(self.node.enterprise())
    }

    async fn join_zero(&self, req: Request<JoinZeroRequest>) -> Reply<JoinZeroResponse> {
        let req = req.into_inner();
        self.node.add_zero(req.id, req.addr).await?;
        ok(JoinZeroResponse {
            leader_id: self.node.config.id,
        })
    }

    async fn report_member(&self, req: Request<MemberReport>) -> Reply<MemberReportResponse> {
        self.node.report_member(req.into_inner())?;
        ok(MemberReportResponse {})
    }

    async fn move_tablet(&self, req: Request<MoveTabletRequest>) -> Reply<MoveTabletResponse> {
        let req = req.into_inner();
        ok(self
            .node
            .clone()
            .move_tablet(req.predicate, req.group_id, req.namespace)
            .await?)
    }

    async fn remove_node(&self, req: Request<RemoveNodeRequest>) -> Reply<RemoveNodeResponse> {
        let req = req.into_inner();
        ok(RemoveNodeResponse {
            message: self.node.remove_node(req.node_id, req.group_id).await?,
        })
    }
}
