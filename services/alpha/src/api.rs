//! `api.Dgraph`, wire-compatible with Dgraph's client API: what dgo and pydgraph call.

use crate::graph::mutate::MutationCtx;
use crate::graph::{Graph, GraphError};
use lodestar_dql::query::ast::{BoolExpr, Condition, Document};
use lodestar_dql::{NQuad, Query};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::dgraph_server::Dgraph;
use lodestar_proto::api::{
    self, Check, Latency, Operation, Payload, Request, Response, TxnContext, Version,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tonic::Status;

/// The public API over one alpha's graph.
#[derive(Debug, Clone)]
pub struct DgraphApi {
    pub graph: Arc<Graph>,
    /// Zero's cluster-wide draining flag, refreshed in the background.
    pub draining: Arc<AtomicBool>,
    /// Asked again before a request is refused for draining, so the end of draining (after a
    /// restore, say) is seen at once rather than at the next background refresh.
    pub zero: Arc<lodestar_client::ZeroClient>,
    /// Token issue and checks, when ACL is on.
    pub acl: Option<crate::login::AclConfig>,
    /// This alpha's place in its group: writes go to the group's leader.
    pub replica: Option<Arc<crate::group::replica::Replica>>,
}

/// Metadata of a request a follower forwarded to its leader: the receiver never forwards it
/// again (two replicas that each think the other leads would pass it back and forth).
const FORWARDED: &str = "x-lodestar-forwarded";

/// How long a query keeps running again while a tablet it reads switches groups.
const MOVE_RETRY: std::time::Duration = std::time::Duration::from_secs(3);

/// What a write needs from this alpha: to lead its group, or to know who does.
enum Route {
    /// This alpha leads (or has no group): handle the request here.
    Here,
    /// Send it to the leader over this channel.
    Leader(Forward),
}

/// A request on its way to the group's leader: the channel, and who leads in which term as
/// this replica knew it when the request left.
struct Forward {
    channel: lodestar_client::TracedChannel,
    replica: Arc<crate::group::replica::Replica>,
    leader: u64,
    term: u64,
}

impl Forward {
    /// `call` on a client of the leader, given up with Unavailable when the group elects
    /// another leader meanwhile: the caller learns within an election, not after its deadline
    /// or a transport timeout, and can retry on the new leader.
    async fn run<R, F, Fut>(self, call: F) -> Result<R, Status>
    where
        F: FnOnce(DgraphClient<lodestar_client::TracedChannel>) -> Fut,
        Fut: std::future::Future<Output = Result<R, Status>>,
    {
        tokio::select! {
            answer = call(DgraphApi::leader_client(self.channel.clone())) => answer,
            () = self.replica.leader_gone(self.leader, self.term) => Err(Status::unavailable(format!(
                "the request was forwarded to alpha {}, which no longer leads group {} (it was cut off, stopped or stepped down); a commit may or may not have been applied there: check before retrying a write that is not idempotent",
                self.leader,
                self.replica.group
            ))),
        }
    }
}

pub fn to_status(e: GraphError) -> Status {
    lodestar_runtime::ServiceError::from(e).into()
}

fn invalid(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

impl DgraphApi {
    /// Where a request that writes goes: here once this alpha leads and has taken over, else
    /// to the group's leader.
    async fn route<T>(&self, request: &tonic::Request<T>) -> Result<Route, Status> {
        let Some(replica) = &self.replica else {
            return Ok(Route::Here);
        };
        if replica.is_leader() {
            replica.until_ready().await.map_err(to_status)?;
            return Ok(Route::Here);
        }
        if request.metadata().contains_key(FORWARDED) {
            return Err(to_status(replica.not_leader()));
        }
        let Some((leader, addr, term)) = replica.leader_in_term() else {
            return Err(to_status(replica.not_leader()));
        };
        Ok(Route::Leader(Forward {
            channel: replica.channel(&addr).map_err(to_status)?,
            replica: replica.clone(),
            leader,
            term,
        }))
    }

    /// `request` as the leader gets it: the same message and caller token, marked forwarded.
    fn forwarded<T>(request: tonic::Request<T>) -> tonic::Request<T> {
        // The token as found (`accessjwt` or a bearer token) travels on as `accessjwt`.
        let token = lodestar_acl::login::token_in(request.metadata())
            .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
            .ok()
            .filter(|t| !t.is_empty());
        let deadline = request.metadata().get("grpc-timeout").cloned();
        let run_dql = request.metadata().contains_key(RUN_DQL);
        let mut out = tonic::Request::new(request.into_inner());
        if run_dql {
            out.metadata_mut()
                .insert(RUN_DQL, tonic::metadata::MetadataValue::from_static("1"));
        }
        if let Some(t) = token {
            out.metadata_mut().insert("accessjwt", t);
        }
        if let Some(d) = deadline {
            out.metadata_mut().insert("grpc-timeout", d);
        }
        out.metadata_mut()
            .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
        out
    }

    fn leader_client(
        channel: lodestar_client::TracedChannel,
    ) -> DgraphClient<lodestar_client::TracedChannel> {
        DgraphClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// With ACL on, the caller's access token (`accessjwt`, else `authorization: Bearer`),
    /// verified: a missing, malformed, tampered, foreign or expired token is Unauthenticated
    /// with Dgraph's text ("Token is expired" makes dgo and pydgraph refresh on their own), and
    /// so is the token of a user deleted since. The claims carry the user's current groups.
    async fn authenticate<T>(
        &self,
        request: &tonic::Request<T>,
    ) -> Result<Option<lodestar_acl::AccessClaims>, Status> {
        let Some(acl) = &self.acl else {
            return Ok(None);
        };
        let token = lodestar_acl::login::token_in(request.metadata());
        let mut claims = acl
            .tokens()
            .verify_access(token, crate::login::now())
            .map_err(crate::login::token_status)?;
        claims.groups = self.caught_up_groups(&claims.userid).await?;
        Ok(Some(claims))
    }

    /// [`Self::current_groups`], first catching this replica up with every commit decided
    /// so far when it does not know the user: a replica that has not applied the commit that
    /// (re)created the user yet must not refuse its token.
    async fn caught_up_groups(&self, userid: &str) -> Result<Vec<String>, Status> {
        if let Some(groups) = self.graph.current_groups(userid).map_err(to_status)? {
            return Ok(groups);
        }
        if self.graph.replicated() {
            self.graph.read_ts().await.map_err(to_status)?;
        }
        self.current_groups(userid)
    }

    /// The groups `userid` is in now; Unauthenticated when the user was deleted after the
    /// token was issued (the token's own list of groups is not trusted past that).
    fn current_groups(&self, userid: &str) -> Result<Vec<String>, Status> {
        self.graph
            .current_groups(userid)
            .map_err(to_status)?
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "the user '{userid}' of this access token no longer exists; log in as an existing user"
                ))
            })
    }

    async fn check_draining(&self) -> Result<(), Status> {
        if let Some(why) = self.graph.failure() {
            return Err(Status::unavailable(why));
        }
        if self.draining.load(Ordering::Relaxed)
            && let Ok(state) = self.zero.state().await
        {
            self.draining.store(state.draining, Ordering::Relaxed);
        }
        if self.draining.load(Ordering::Relaxed) {
            return Err(Status::unavailable(
                "the cluster is draining (a restore, or an operator through /admin): queries and mutations are refused until a guardian turns it off with the /admin mutation draining(enable: false)",
            ));
        }
        Ok(())
    }

    /// The read timestamp of a request: the client's (once this replica holds everything up
    /// to it), else a best-effort, read-only or new transaction timestamp from zero.
    async fn start_ts(&self, req: &Request) -> Result<u64, Status> {
        let graph = &self.graph;
        let ts = if req.start_ts != 0 {
            // A timestamp the client got elsewhere (another alpha of the group, before a
            // leader change): this replica must hold every commit at or below it first.
            if graph.replicated() && !req.best_effort {
                graph.settle_for(req.start_ts).await.map_err(to_status)?;
            }
            req.start_ts
        } else if req.best_effort {
            graph.best_effort_ts().await.map_err(to_status)?
        } else if req.read_only {
            graph.read_ts().await.map_err(to_status)?
        } else {
            graph.begin().await.map_err(to_status)?
        };
        Ok(ts)
    }

    /// Runs a parsed request at `start_ts`: the query, then the mutations (all or none) in the
    /// transaction's buffer, recorded as pending, and committed when `commit_now`.
    ///
    /// `in_txn` says `start_ts` is a transaction's (its reads see its writes): a read-only
    /// or best-effort timestamp may equal another transaction's start and sees none.
    async fn execute(
        &self,
        parsed: &ParsedRequest,
        start_ts: u64,
        in_txn: bool,
        access: Option<&crate::graph::access::Access>,
        commit_now: bool,
    ) -> Result<Executed, Status> {
        let graph = &self.graph;
        let writes = !parsed.mutations.is_empty();
        // Reads of a transaction see its own writes; a transaction gets a record here only once
        // it writes.
        let txn = if writes {
            Some(graph.txn(start_ts).map_err(to_status)?)
        } else if in_txn {
            graph.existing_txn(start_ts)
        } else {
            None
        };
        let mut txn_guard = match &txn {
            Some(t) => Some(t.lock().await),
            None => None,
        };
        if writes && txn_guard.as_ref().is_some_and(|t| t.closed) {
            return Err(invalid(format!(
                "the transaction with start_ts {start_ts} is already being committed or aborted; start a new transaction"
            )));
        }
        let mut done = Executed {
            json: None,
            txn: TxnContext {
                start_ts,
                ..Default::default()
            },
            uids: HashMap::new(),
        };
        let mut ctx = MutationCtx::default();
        if let Some(q) = &parsed.query {
            // A tablet switching groups under the query refuses it in one of them for a moment:
            // it runs again once the tablet map says where the predicate is.
            let deadline = Instant::now() + MOVE_RETRY;
            let out = loop {
                let own = if in_txn { start_ts } else { 0 };
                let run = match graph.remote_reads(q, start_ts, own).await {
                    Ok(remote) => {
                        let view = graph
                            .view(start_ts, txn_guard.as_deref())
                            .with_remote(remote.as_ref());
                        graph.run_query_as(&view, q, access).and_then(|out| {
                            // The group may have let go of a predicate while the query read it.
                            graph.check_still_served(q, start_ts).map(|_| out)
                        })
                    }
                    Err(e) => Err(e),
                };
                match run {
                    Err(GraphError::Moving(why)) if Instant::now() < deadline => {
                        tracing::debug!(%why, "a tablet moved under a query; running it again");
                        graph.forget_tablets();
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    other => break other.map_err(to_status)?,
                }
            };
            done.json = Some(out.json);
            ctx.uid_vars = out.uid_vars;
            ctx.val_vars = out.val_vars;
        }
        let Some(guard) = txn_guard.as_mut() else {
            return Ok(done);
        };
        // All of the request's mutations apply, or none: they go to a copy first.
        let mut work = (**guard).clone();
        work.sent.clear();
        let applied = self
            .apply_mutations(&parsed.mutations, &mut work, &mut ctx, &mut done.uids)
            .await;
        if let Err(e) = applied {
            if !work.sent.is_empty() {
                // Other groups buffered their parts of this request, which a later commit
                // could not leave out: the whole transaction is aborted.
                guard.groups.extend(work.groups.iter().copied());
                drop(txn_guard);
                let _ = graph.abort(start_ts).await;
                return Err(Status::new(
                    e.code(),
                    format!(
                        "{} (the transaction was aborted: part of this request had reached other groups)",
                        e.message()
                    ),
                ));
            }
            if commit_now && guard.writes.is_empty() {
                drop(txn_guard);
                graph.forget(start_ts);
            }
            return Err(e);
        }
        **guard = work;
        done.txn.keys = guard.conflicts.iter().map(|k| format!("{k:x}")).collect();
        done.txn.preds = guard.preds.iter().cloned().collect();
        // The pending record lets a restart settle the transaction if the alpha stops after
        // zero has decided; it needs the disk only for a later commit's sake.
        graph
            .persist_pending(guard, !commit_now)
            .await
            .map_err(to_status)?;
        if commit_now {
            drop(txn_guard);
            done.txn.commit_ts = graph.commit(start_ts).await.map_err(to_status)?;
        }
        Ok(done)
    }

    /// Claims the tablets of the mutated predicates and applies every mutation whose condition
    /// holds to `txn`, recording the uids of new blank nodes in `uids`.
    async fn apply_mutations(
        &self,
        parsed: &[ParsedMutation],
        txn: &mut crate::graph::Txn,
        ctx: &mut MutationCtx,
        uids: &mut HashMap<String, String>,
    ) -> Result<(), Status> {
        let graph = &self.graph;
        let nquads: Vec<&NQuad> = parsed
            .iter()
            .flat_map(|(_, sets, dels)| sets.iter().chain(dels.iter()))
            .collect();
        let elsewhere = graph.prepare(&nquads).await.map_err(to_status)?;
        for (cond, sets, dels) in parsed {
            if let Some(c) = cond
                && !condition_holds(c, &ctx.uid_vars)
            {
                continue;
            }
            let before: std::collections::HashSet<String> = ctx.blanks.keys().cloned().collect();
            graph
                .assign_blanks(sets, dels, ctx)
                .await
                .map_err(to_status)?;
            let star = dels.iter().any(|nq| nq.predicate_name().is_none());
            if elsewhere.is_empty() && !(star && graph.spans_groups()) {
                graph.mutate(txn, sets, dels, ctx).map_err(to_status)?;
            } else {
                graph
                    .mutate_across(txn, sets, dels, ctx, &elsewhere)
                    .await
                    .map_err(to_status)?;
            }
            for (name, uid) in &ctx.blanks {
                if !before.contains(name) && !name.starts_with("uid(") {
                    uids.insert(name.clone(), format!("{uid:#x}"));
                }
            }
        }
        Ok(())
    }

    /// The N-Quads of one `api.Mutation`: (sets, deletes).
    /// `json` numbers new JSON nodes across all the mutations of one request.
    fn mutation_nquads(
        m: &api::Mutation,
        json: &mut lodestar_dql::JsonParser,
    ) -> Result<(Vec<NQuad>, Vec<NQuad>), Status> {
        let mut sets = Vec::new();
        let mut dels = Vec::new();
        let text = |b: &[u8], what: &str| -> Result<String, Status> {
            String::from_utf8(b.to_vec()).map_err(|_| invalid(format!("{what} is not valid UTF-8")))
        };
        if !m.set_nquads.is_empty() {
            sets.extend(
                lodestar_dql::parse_set_nquads(&text(&m.set_nquads, "set_nquads")?)
                    .map_err(invalid)?,
            );
        }
        if !m.del_nquads.is_empty() {
            dels.extend(
                lodestar_dql::parse_delete_nquads(&text(&m.del_nquads, "del_nquads")?)
                    .map_err(invalid)?,
            );
        }
        if !m.set_json.is_empty() {
            sets.extend(
                json.parse_set(&text(&m.set_json, "set_json")?)
                    .map_err(invalid)?,
            );
        }
        if !m.delete_json.is_empty() {
            dels.extend(
                json.parse_delete(&text(&m.delete_json, "delete_json")?)
                    .map_err(invalid)?,
            );
        }
        for nq in &m.set {
            sets.extend(lodestar_dql::parse_set_nquads(&proto_nquad_text(nq)?).map_err(invalid)?);
        }
        for nq in &m.del {
            dels.extend(
                lodestar_dql::parse_delete_nquads(&proto_nquad_text(nq)?).map_err(invalid)?,
            );
        }
        if sets.is_empty() && dels.is_empty() {
            return Err(invalid("Empty mutation"));
        }
        Ok((sets, dels))
    }
}

/// Renders a protobuf NQuad as RDF text so it goes through the one N-Quad parser.
fn proto_nquad_text(nq: &api::NQuad) -> Result<String, Status> {
    let node = |s: &str| -> String {
        if s.starts_with("_:") || s.starts_with("uid(") {
            s.to_string()
        } else {
            format!("<{s}>")
        }
    };
    let object = if !nq.object_id.is_empty() {
        node(&nq.object_id)
    } else {
        use api::value::Val;
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match nq.object_value.as_ref().and_then(|v| v.val.as_ref()) {
            Some(Val::DefaultVal(s)) if s == "_STAR_ALL" => "*".to_string(),
            Some(Val::DefaultVal(s)) => quote(s),
            Some(Val::StrVal(s)) => format!("{}^^<xs:string>", quote(s)),
            Some(Val::IntVal(i)) => format!("\"{i}\"^^<xs:int>"),
            Some(Val::BoolVal(b)) => format!("\"{b}\"^^<xs:boolean>"),
            Some(Val::DoubleVal(d)) => format!("\"{d}\"^^<xs:double>"),
            Some(Val::PasswordVal(s)) => format!("{}^^<xs:password>", quote(s)),
            Some(Val::UidVal(u)) => format!("<{u:#x}>"),
            Some(Val::DatetimeVal(b)) | Some(Val::DateVal(b)) => {
                format!("{}^^<xs:dateTime>", quote(&String::from_utf8_lossy(b)))
            }
            Some(_) => return Err(invalid("this NQuad value type is not supported")),
            None => {
                return Err(invalid(format!(
                    "NQuad for predicate {} has no object",
                    nq.predicate
                )));
            }
        }
    };
    let lang = if nq.lang.is_empty() {
        String::new()
    } else {
        format!("@{}", nq.lang)
    };
    // Dgraph's clients write the wildcard of `S * *` as `_STAR_ALL` (its `x.Star`).
    let pred = if nq.predicate == "*" || nq.predicate == "_STAR_ALL" {
        "*".to_string()
    } else {
        format!("<{}>", nq.predicate)
    };
    Ok(format!(
        "{} {} {}{} .",
        node(&nq.subject),
        pred,
        object,
        lang
    ))
}

/// Whether an upsert's `@if` condition holds for the query's variables.
fn condition_holds(cond: &Condition, vars: &HashMap<String, Vec<u64>>) -> bool {
    match cond {
        BoolExpr::Leaf(l) => {
            let len = vars.get(&l.var).map(|v| v.len()).unwrap_or(0) as i64;
            use lodestar_dql::query::ast::CompareOp::*;
            match l.op {
                Eq => len == l.value,
                Le => len <= l.value,
                Lt => len < l.value,
                Ge => len >= l.value,
                Gt => len > l.value,
            }
        }
        BoolExpr::And(parts) => parts.iter().all(|p| condition_holds(p, vars)),
        BoolExpr::Or(parts) => parts.iter().any(|p| condition_holds(p, vars)),
        BoolExpr::Not(p) => !condition_holds(p, vars),
    }
}

fn ns(d: std::time::Duration) -> u64 {
    d.as_nanos() as u64
}

/// A mutation of a request: its `@if` condition, then the N-Quads it sets and deletes.
type ParsedMutation = (Option<Condition>, Vec<NQuad>, Vec<NQuad>);

/// A request checked before it takes a timestamp: the query part and the mutations, parsed and
/// allowed by the caller's ACL.
struct ParsedRequest {
    query: Option<Query>,
    mutations: Vec<ParsedMutation>,
}

impl ParsedRequest {
    /// `run_dql`: the request came from `RunDQL`, whose text may be a mutation or upsert block.
    fn parse(
        req: &Request,
        access: Option<&crate::graph::access::Access>,
        run_dql: bool,
    ) -> Result<Self, Status> {
        if req.query.trim().is_empty() && req.mutations.is_empty() {
            return Err(invalid("empty request"));
        }
        let mut mutations = Vec::new();
        let query = if req.query.trim().is_empty() {
            None
        } else {
            match lodestar_dql::parse_dql(&req.query, &req.vars).map_err(invalid)? {
                Document::Query(q) => Some(q),
                Document::Upsert(u) if run_dql => {
                    for m in u.mutations {
                        mutations.push((m.cond, m.set, m.delete));
                    }
                    Some(u.query)
                }
                Document::Mutation(m) if run_dql => {
                    mutations.push((m.cond, m.set, m.delete));
                    None
                }
                Document::Upsert(_) | Document::Mutation(_) => {
                    return Err(invalid(
                        "put an upsert's mutations in Request.mutations (with cond for @if); Request.query holds the query part",
                    ));
                }
            }
        };
        let mut json_parser = lodestar_dql::JsonParser::new();
        for m in &req.mutations {
            let cond = if m.cond.trim().is_empty() {
                None
            } else {
                Some(lodestar_dql::parse_condition(&m.cond).map_err(invalid)?)
            };
            let (sets, dels) = DgraphApi::mutation_nquads(m, &mut json_parser)?;
            mutations.push((cond, sets, dels));
        }
        let parsed = ParsedRequest { query, mutations };
        if let Some(a) = access {
            parsed.check_access(a)?;
        }
        if !parsed.mutations.is_empty() && req.read_only {
            return Err(invalid("a read-only transaction cannot run mutations"));
        }
        Ok(parsed)
    }

    /// Refuses mutations of predicates `access` may not write.
    fn check_access(&self, access: &crate::graph::access::Access) -> Result<(), Status> {
        access
            .check_mutation(
                self.mutations
                    .iter()
                    .flat_map(|(_, sets, dels)| sets.iter().chain(dels.iter())),
            )
            .map_err(|e| Status::permission_denied(e.0))
    }

    /// Whether the request commits when it is done (on the request or on any mutation).
    fn commit_now(&self, req: &Request) -> bool {
        req.commit_now || req.mutations.iter().any(|m| m.commit_now)
    }
}

/// Metadata marking a `Request` that a `RunDQL` call became: its query text may hold a
/// mutation or upsert block (see [`dql_request`]). It travels with the request when a follower
/// forwards it to the leader.
const RUN_DQL: &str = "x-lodestar-run-dql";

/// The `Request` a `RunDQL` call stands for: the DQL text as the query, with its variables and
/// flags. A mutation or upsert block commits at once, as in Dgraph.
fn dql_request(dql: api::RunDqlRequest) -> Result<Request, Status> {
    if dql.dql_query.trim().is_empty() {
        return Err(invalid("empty request"));
    }
    let writes = !matches!(
        lodestar_dql::parse_dql(&dql.dql_query, &dql.vars).map_err(invalid)?,
        Document::Query(_)
    );
    Ok(Request {
        query: dql.dql_query,
        vars: dql.vars,
        read_only: dql.read_only,
        best_effort: dql.best_effort,
        resp_format: dql.resp_format,
        commit_now: writes,
        ..Default::default()
    })
}

/// What running a request produced: the query's JSON (when it had a query), the transaction
/// context and the uids given to blank nodes.
struct Executed {
    json: Option<serde_json::Map<String, serde_json::Value>>,
    txn: TxnContext,
    uids: HashMap<String, String>,
}

#[tonic::async_trait]
impl Dgraph for DgraphApi {
    async fn login(
        &self,
        request: tonic::Request<api::LoginRequest>,
    ) -> Result<tonic::Response<Response>, Status> {
        if let Some(acl) = &self.acl {
            let addr = request.remote_addr().map(|a| a.ip());
            let reply = crate::login::login(acl, &self.graph, request.into_inner(), addr).await?;
            return Ok(tonic::Response::new(reply));
        }
        Err(Status::unimplemented(
            "ACL is not enabled: this cluster has no users to log in as (start the services with --acl_secret_file to enable ACL)",
        ))
    }

    async fn query(
        &self,
        request: tonic::Request<Request>,
    ) -> Result<tonic::Response<Response>, Status> {
        let req = request.get_ref();
        let run_dql = request.metadata().contains_key(RUN_DQL);
        // Mutations, and every request of a transaction that may hold writes, go to the leader;
        // reads are served here.
        if (!req.mutations.is_empty()
            || (run_dql && req.commit_now)
            || (req.start_ts != 0 && !req.read_only))
            && let Route::Leader(to) = self.route(&request).await?
        {
            let request = Self::forwarded(request);
            return to.run(|mut c| async move { c.query(request).await }).await;
        }
        let started = Instant::now();
        self.check_draining().await?;
        let caller = self.authenticate(&request).await?;
        let req = request.into_inner();
        let access = match &caller {
            Some(claims) => Some(self.graph.access_for(&claims.groups).map_err(to_status)?),
            None => None,
        };
        // Parse first: bad input writes nothing and takes no timestamp.
        let mut parsed = ParsedRequest::parse(&req, access.as_ref(), run_dql)?;
        // RDF output: the query runs with every node's uid, written out as triples after.
        let rdf_query = match &parsed.query {
            Some(q) if req.resp_format == api::request::RespFormat::Rdf as i32 => {
                crate::graph::rdf_out::check(q).map_err(to_status)?;
                let original = q.clone();
                parsed.query = Some(crate::graph::rdf_out::with_uids(q));
                Some(original)
            }
            _ => None,
        };
        let parsing = started.elapsed();

        let ts_started = Instant::now();
        let start_ts = self.start_ts(&req).await?;
        let assign = ts_started.elapsed();
        // The rules and the caller's groups as this replica holds them now that it has applied
        // everything up to start_ts (a rule change committed through another alpha just
        // before is in force).
        let access = match (&caller, access) {
            (Some(claims), Some(_)) if self.graph.replicated() => {
                let groups = self.current_groups(&claims.userid)?;
                let fresh = self.graph.access_for(&groups).map_err(to_status)?;
                parsed.check_access(&fresh)?;
                Some(fresh)
            }
            (_, access) => access,
        };

        let processing_started = Instant::now();
        let done = self
            .execute(
                &parsed,
                start_ts,
                !(req.read_only || req.best_effort),
                access.as_ref(),
                parsed.commit_now(&req),
            )
            .await?;
        let processing = processing_started.elapsed();

        let encoding_started = Instant::now();
        let (json, rdf) = match (&done.json, &rdf_query) {
            (Some(json), Some(q)) => (
                Vec::new(),
                crate::graph::rdf_out::render(q, json).into_bytes(),
            ),
            (Some(json), None) => (
                serde_json::to_vec(json).map_err(|e| Status::internal(e.to_string()))?,
                Vec::new(),
            ),
            (None, _) => (Vec::new(), Vec::new()),
        };
        let latency = Latency {
            parsing_ns: ns(parsing),
            processing_ns: ns(processing),
            encoding_ns: ns(encoding_started.elapsed()),
            assign_timestamp_ns: ns(assign),
            total_ns: ns(started.elapsed()),
        };
        Ok(tonic::Response::new(Response {
            json,
            txn: Some(done.txn),
            latency: Some(latency),
            uids: done.uids,
            rdf,
            ..Default::default()
        }))
    }

    async fn alter(
        &self,
        request: tonic::Request<Operation>,
    ) -> Result<tonic::Response<Payload>, Status> {
        if let Route::Leader(to) = self.route(&request).await? {
            let request = Self::forwarded(request);
            return to.run(|mut c| async move { c.alter(request).await }).await;
        }
        self.check_draining().await?;
        let caller = self.authenticate(&request).await?;
        let op = request.into_inner();
        use api::operation::DropOp;
        let drop_op = DropOp::try_from(op.drop_op).unwrap_or(DropOp::None);
        let graph = &self.graph;
        if let Some(claims) = &caller
            && (op.drop_all || drop_op == DropOp::All || drop_op == DropOp::Data)
            && !claims
                .groups
                .iter()
                .any(|g| g == crate::graph::acl::GUARDIANS)
        {
            // Dgraph answers this with a plain error, which clients see as Unknown.
            return Err(Status::unknown(format!(
                "only guardians are allowed to drop all data, but the current user is {}",
                claims.userid
            )));
        }
        if let Some(claims) = &caller {
            let access = graph.access_for(&claims.groups).map_err(to_status)?;
            let denied = if op.drop_all || drop_op == DropOp::All || drop_op == DropOp::Data {
                Ok(())
            } else if drop_op == DropOp::Attr || !op.drop_attr.is_empty() {
                let name = if op.drop_attr.is_empty() {
                    &op.drop_value
                } else {
                    &op.drop_attr
                };
                access.check_alter(std::iter::once(name.as_str()))
            } else if drop_op == DropOp::Type {
                let fields = graph
                    .schema()
                    .types
                    .get(&op.drop_value)
                    .map(|t| t.fields.clone())
                    .unwrap_or_default();
                access.check_alter(fields.iter().map(String::as_str))
            } else {
                let update = lodestar_types::schema::parse(&op.schema).map_err(invalid)?;
                access.check_alter(update.predicates.iter().map(|p| p.name.as_str()))
            };
            denied.map_err(|e| Status::permission_denied(e.0))?;
        }
        use crate::graph::alter::Drop;
        if op.drop_all || drop_op == DropOp::All {
            graph.drop_everywhere(&Drop::All).await.map_err(to_status)?;
        } else if drop_op == DropOp::Data {
            graph
                .drop_everywhere(&Drop::Data)
                .await
                .map_err(to_status)?;
        } else if drop_op == DropOp::Attr || !op.drop_attr.is_empty() {
            let name = if op.drop_attr.is_empty() {
                &op.drop_value
            } else {
                &op.drop_attr
            };
            if name.is_empty() {
                return Err(invalid(
                    "If DropOp is set to ATTR, DropValue must not be empty",
                ));
            }
            graph
                .drop_everywhere(&Drop::Attr(name.clone()))
                .await
                .map_err(to_status)?;
        } else if drop_op == DropOp::Type {
            if op.drop_value.is_empty() {
                return Err(invalid(
                    "If DropOp is set to TYPE, DropValue must not be empty",
                ));
            }
            graph
                .drop_everywhere(&Drop::Type(op.drop_value.clone()))
                .await
                .map_err(to_status)?;
        } else if !op.schema.trim().is_empty() {
            graph.alter_schema(&op.schema).await.map_err(to_status)?;
        } else {
            return Err(invalid("Operation must have at least one field set"));
        }
        Ok(tonic::Response::new(Payload { data: Vec::new() }))
    }

    async fn commit_or_abort(
        &self,
        request: tonic::Request<TxnContext>,
    ) -> Result<tonic::Response<TxnContext>, Status> {
        if let Route::Leader(to) = self.route(&request).await? {
            let request = Self::forwarded(request);
            return to
                .run(|mut c| async move { c.commit_or_abort(request).await })
                .await;
        }
        self.authenticate(&request).await?;
        let ctx = request.into_inner();
        if ctx.start_ts == 0 {
            return Err(invalid(
                "StartTs cannot be zero while committing a transaction",
            ));
        }
        self.graph
            .join_commit(ctx.start_ts, &ctx.preds, &ctx.keys)
            .await
            .map_err(to_status)?;
        if ctx.aborted {
            // A transaction zero already committed stays committed; the answer says so.
            let committed = self.graph.abort(ctx.start_ts).await.map_err(to_status)?;
            return Ok(tonic::Response::new(TxnContext {
                start_ts: ctx.start_ts,
                aborted: committed.is_none(),
                commit_ts: committed.unwrap_or(0),
                ..Default::default()
            }));
        }
        let commit_ts = self.graph.commit(ctx.start_ts).await.map_err(to_status)?;
        Ok(tonic::Response::new(TxnContext {
            start_ts: ctx.start_ts,
            commit_ts,
            ..Default::default()
        }))
    }

    /// Dgraph v25's `AllocateIDs`: leases `how_many` uids, namespace ids or timestamps from
    /// zero (what a loader that keeps a file's uids or maps its blank nodes asks for). With ACL
    /// on, any verified user may lease uids; namespace ids and timestamps need a guardian.
    async fn allocate_i_ds(
        &self,
        request: tonic::Request<api::AllocateIDsRequest>,
    ) -> Result<tonic::Response<api::AllocateIDsResponse>, Status> {
        use lodestar_proto::zero::NumLeaseType;
        let caller = self.authenticate(&request).await?;
        let req = request.into_inner();
        if req.how_many == 0 {
            return Err(invalid("how_many must be at least 1"));
        }
        let kind = match api::LeaseType::try_from(req.lease_type) {
            Ok(api::LeaseType::Uid) => NumLeaseType::Uid,
            Ok(api::LeaseType::Ns) => NumLeaseType::NsId,
            Ok(api::LeaseType::Ts) => NumLeaseType::TxnTs,
            Err(_) => {
                return Err(invalid(format!(
                    "unknown lease_type {}: use UID, NS or TS",
                    req.lease_type
                )));
            }
        };
        // As in Dgraph, leases of any kind are for the guardians of the galaxy (with one
        // namespace, the guardians).
        if let Some(claims) = &caller
            && !claims
                .groups
                .iter()
                .any(|g| g == crate::graph::acl::GUARDIANS)
        {
            return Err(Status::permission_denied(
                "Only superadmin is allowed to do this operation",
            ));
        }
        let ids = match kind {
            NumLeaseType::TxnTs => self.zero.timestamps(req.how_many).await?,
            _ => self.zero.assign_ids(kind, req.how_many).await?,
        };
        Ok(tonic::Response::new(api::AllocateIDsResponse {
            start: ids.start_id,
            end: ids.end_id,
        }))
    }

    /// DQL in one string (Dgraph v25): a query runs as `Query` would run it; a mutation block
    /// or an upsert block runs as a request with those mutations, committed at once.
    async fn run_dql(
        &self,
        request: tonic::Request<api::RunDqlRequest>,
    ) -> Result<tonic::Response<Response>, Status> {
        let (mut meta, extensions, dql) = request.into_parts();
        let req = dql_request(dql)?;
        meta.insert(RUN_DQL, tonic::metadata::MetadataValue::from_static("1"));
        self.query(tonic::Request::from_parts(meta, extensions, req))
            .await
    }

    async fn check_version(
        &self,
        _request: tonic::Request<Check>,
    ) -> Result<tonic::Response<Version>, Status> {
        Ok(tonic::Response::new(Version {
            tag: lodestar_runtime::API_VERSION_TAG.to_string(),
        }))
    }
}

/// `auth.Session`: who an access token belongs to now, for the cluster's other services (the
/// gRPC layer admits only callers with the cluster credential).
#[tonic::async_trait]
impl lodestar_proto::auth::session_server::Session for DgraphApi {
    async fn check(
        &self,
        request: tonic::Request<lodestar_proto::auth::SessionRequest>,
    ) -> Result<tonic::Response<lodestar_proto::auth::SessionResponse>, Status> {
        let claims = self.authenticate(&request).await?.ok_or_else(|| {
            Status::failed_precondition(
                "ACL is not enabled on this alpha (it runs without --acl_secret_file): it has no users to check tokens against",
            )
        })?;
        Ok(tonic::Response::new(
            lodestar_proto::auth::SessionResponse {
                userid: claims.userid,
                groups: claims.groups,
                namespace: claims.namespace,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protobuf_delete_of_every_predicate_uses_dgraphs_wildcard() {
        use api::value::Val;
        let star = |p: &str| api::NQuad {
            subject: "0x5".into(),
            predicate: p.into(),
            object_value: Some(api::Value {
                val: Some(Val::DefaultVal("_STAR_ALL".into())),
            }),
            ..Default::default()
        };
        assert_eq!(proto_nquad_text(&star("_STAR_ALL")).unwrap(), "<0x5> * * .");
        assert_eq!(proto_nquad_text(&star("*")).unwrap(), "<0x5> * * .");
        assert_eq!(proto_nquad_text(&star("name")).unwrap(), "<0x5> <name> * .");
    }

    #[test]
    fn a_forwarded_request_carries_the_callers_token_as_accessjwt() {
        let mut req = tonic::Request::new(());
        req.metadata_mut()
            .insert("authorization", "Bearer a.b.c".parse().unwrap());
        let out = DgraphApi::forwarded(req);
        assert_eq!(out.metadata().get("accessjwt").unwrap(), "a.b.c");
        assert!(out.metadata().contains_key(FORWARDED));

        let mut req = tonic::Request::new(());
        req.metadata_mut()
            .insert("authorization", "an-api-key".parse().unwrap());
        let out = DgraphApi::forwarded(req);
        assert!(out.metadata().get("accessjwt").is_none());
    }
}
