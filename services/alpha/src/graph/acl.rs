//! The ACL's own data in the graph: group `guardians` and user `groot` (password `password`,
//! a member of guardians), kept as Dgraph keeps them (`dgraph.xid`, `dgraph.password`,
//! `dgraph.user.group`, types `dgraph.type.User` and `dgraph.type.Group`), so Dgraph's
//! documented groot-password reset works here too.
//!
//! With ACL on, the alpha creates whichever of the two is missing at start and after
//! `drop_all`, and refuses mutations that would delete them or take groot out of guardians,
//! with Dgraph's messages.

use super::mutate::MutationCtx;
use super::{Graph, GraphError};
use lodestar_dql::{NQuad, Object, Predicate, Subject};
use std::collections::HashMap;

pub const GUARDIANS: &str = "guardians";
pub const GROOT: &str = "groot";
/// groot's password in a new cluster (Dgraph's default too).
pub const GROOT_DEFAULT_PASSWORD: &str = "password";

/// The uids of groot and guardians, once known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AclRoots {
    pub groot: u64,
    pub guardians: u64,
}

impl Graph {
    /// Creates group guardians and user groot (in guardians) if they are missing, retrying
    /// when another alpha does the same at the same moment. Remembers their uids so mutations
    /// cannot delete them.
    pub async fn ensure_acl_roots(&self) -> Result<AclRoots, GraphError> {
        let mut last = GraphError::Aborted;
        for _ in 0..5 {
            match self.try_ensure_acl_roots().await {
                Ok(roots) => {
                    *self.acl_roots.write() = Some(roots);
                    return Ok(roots);
                }
                Err(GraphError::Aborted) => last = GraphError::Aborted,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Reads groot and guardians (and whether groot is in guardians) at `ts`, from group 1
    /// when this alpha is in another group.
    async fn read_acl_roots(
        &self,
        ts: u64,
    ) -> Result<(Option<u64>, Option<u64>, bool), GraphError> {
        let q = lodestar_dql::parse_query(
            r#"{
              g(func: eq(dgraph.xid, "guardians")) @filter(type(dgraph.type.Group)) { uid }
              u(func: eq(dgraph.xid, "groot")) @filter(type(dgraph.type.User)) {
                uid
                dgraph.user.group @filter(eq(dgraph.xid, "guardians")) { uid }
              }
            }"#,
            &HashMap::new(),
        )
        .map_err(|e| GraphError::Internal(format!("ACL bootstrap query: {e}")))?;
        let remote = self.remote_reads(&q, ts, 0).await?;
        let out = self
            .run_query(&self.view(ts, None).with_remote(remote.as_ref()), &q)?
            .json;
        let first_uid = |block: &str| {
            out.get(block)
                .and_then(|v| v.get(0))
                .and_then(|n| n.get("uid"))
                .and_then(|u| u.as_str())
                .and_then(|u| u64::from_str_radix(u.trim_start_matches("0x"), 16).ok())
        };
        let member = out
            .get("u")
            .and_then(|v| v.get(0))
            .and_then(|n| n.get("dgraph.user.group"))
            .and_then(|g| g.as_array())
            .is_some_and(|g| !g.is_empty());
        Ok((first_uid("u"), first_uid("g"), member))
    }

    /// In a group other than 1: learns groot and guardians from group 1, which creates them.
    /// `None` until they exist.
    pub async fn find_acl_roots(&self) -> Result<Option<AclRoots>, GraphError> {
        let ts = self.read_ts().await?;
        match self.read_acl_roots(ts).await? {
            (Some(groot), Some(guardians), true) => {
                let roots = AclRoots { groot, guardians };
                *self.acl_roots.write() = Some(roots);
                Ok(Some(roots))
            }
            _ => Ok(None),
        }
    }

    async fn try_ensure_acl_roots(&self) -> Result<AclRoots, GraphError> {
        let start = self.begin().await?;
        let (groot, guardians, member) = self.read_acl_roots(start).await?;
        if let (Some(groot), Some(guardians), true) = (groot, guardians, member) {
            self.forget(start);
            return Ok(AclRoots { groot, guardians });
        }
        let node = |uid: Option<u64>, blank: &str| match uid {
            Some(u) => format!("<{u:#x}>"),
            None => format!("_:{blank}"),
        };
        let (g, u) = (node(guardians, "guardians"), node(groot, "groot"));
        let mut rdf = String::new();
        if guardians.is_none() {
            rdf.push_str(&format!(
                "{g} <dgraph.xid> \"{GUARDIANS}\" .\n{g} <dgraph.type> \"dgraph.type.Group\" .\n"
            ));
        }
        if groot.is_none() {
            rdf.push_str(&format!(
                "{u} <dgraph.xid> \"{GROOT}\" .\n{u} <dgraph.type> \"dgraph.type.User\" .\n{u} <dgraph.password> \"{GROOT_DEFAULT_PASSWORD}\" .\n"
            ));
        }
        rdf.push_str(&format!("{u} <dgraph.user.group> {g} .\n"));
        let nquads = lodestar_dql::parse_set_nquads(&rdf)
            .map_err(|e| GraphError::Internal(format!("ACL bootstrap mutation: {e}")))?;
        let mut ctx = MutationCtx::default();
        let elsewhere = self.prepare(&nquads.iter().collect::<Vec<_>>()).await?;
        if let Some(group) = elsewhere.values().next() {
            return Err(GraphError::Unavailable(format!(
                "groot and guardians are kept by group {group}, which serves the ACL predicates"
            )));
        }
        self.assign_blanks(&nquads, &[], &mut ctx).await?;
        {
            let txn = self.txn(start)?;
            let mut t = txn.lock().await;
            // Password hashing is CPU-heavy: off the executor.
            tokio::task::block_in_place(|| self.mutate(&mut t, &nquads, &[], &ctx))?;
        }
        self.commit(start).await?;
        let uid = |known: Option<u64>, blank: &str| {
            known
                .or_else(|| ctx.blanks.get(blank).copied())
                .ok_or_else(|| GraphError::Internal(format!("ACL bootstrap lost _:{blank}")))
        };
        let roots = AclRoots {
            groot: uid(groot, "groot")?,
            guardians: uid(guardians, "guardians")?,
        };
        tracing::info!(
            groot = %format!("{:#x}", roots.groot),
            guardians = %format!("{:#x}", roots.guardians),
            "ACL: created what was missing of user groot and group guardians"
        );
        Ok(roots)
    }

    /// groot and guardians as last created or found; `None` while ACL is off.
    pub fn acl_roots(&self) -> Option<AclRoots> {
        *self.acl_roots.read()
    }

    /// Refuses deletions that would remove groot or guardians, or take groot out of
    /// guardians (Dgraph's messages). Does nothing when ACL is off.
    pub fn check_acl_deletes(&self, dels: &[NQuad], ctx: &MutationCtx) -> Result<(), GraphError> {
        let Some(roots) = *self.acl_roots.read() else {
            return Ok(());
        };
        for nq in dels {
            let subjects: Vec<u64> = match &nq.subject {
                Subject::Uid(u) => vec![*u],
                Subject::Var(v) => ctx.uid_vars.get(v).cloned().unwrap_or_default(),
                Subject::Blank(_) => Vec::new(),
            };
            let protected = subjects
                .iter()
                .any(|s| *s == roots.groot || *s == roots.guardians);
            if !protected {
                continue;
            }
            match (&nq.predicate, &nq.object) {
                (Predicate::Star, _) => {
                    return Err(GraphError::Invalid(
                        "guardians group and groot user cannot be deleted.".into(),
                    ));
                }
                (Predicate::Named(p), object) => {
                    let takes_groot_out = p == "dgraph.user.group"
                        && subjects.contains(&roots.groot)
                        && match object {
                            Object::Uid(g) => *g == roots.guardians,
                            Object::UidVar(v) => ctx
                                .uid_vars
                                .get(v)
                                .is_some_and(|g| g.contains(&roots.guardians)),
                            Object::Star => true,
                            _ => false,
                        };
                    if takes_groot_out || p == "dgraph.xid" || p == "dgraph.type" {
                        return Err(GraphError::Invalid(
                            "Properties of guardians group and groot user cannot be deleted".into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
