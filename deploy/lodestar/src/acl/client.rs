//! A client of the alpha's `api.Dgraph` service as the ACL tool uses it: one login, then
//! transactions of queries and mutations carrying the access token in `accessjwt`, as dgo's
//! do. Every call may take 10 s, as in Dgraph's tool.

use crate::error::CmdError;
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{self, Jwt, LoginRequest, Mutation, Request, Response, TxnContext};
use std::collections::HashMap;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig};

/// How long each call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The alpha, and the access token once logged in.
pub struct Alpha {
    client: DgraphClient<Channel>,
    token: Option<MetadataValue<Ascii>>,
}

impl Alpha {
    /// A client of the alpha at `addr` (`host:port`), over TLS when `tls` is given. Nothing is
    /// dialled until the first call.
    pub fn connect(addr: &str, tls: Option<&ClientTlsConfig>) -> Result<Alpha, CmdError> {
        let channel = lodestar_client::channel_tls(addr, tls)
            .map_err(|s| CmdError::invalid(format!("--alpha {addr}: {}", s.message())))?;
        Ok(Alpha {
            client: DgraphClient::new(channel).max_decoding_message_size(64 << 20),
            token: None,
        })
    }

    /// Logs in; the access token goes with every later call.
    pub async fn login(
        &mut self,
        userid: &str,
        password: &str,
        namespace: u64,
    ) -> Result<(), CmdError> {
        let request = self.request(LoginRequest {
            userid: userid.to_string(),
            password: password.to_string(),
            namespace,
            refresh_token: String::new(),
        });
        let response = self.client.clone().login(request).await?.into_inner();
        let jwt = <Jwt as prost::Message>::decode(response.json.as_slice())
            .map_err(|e| CmdError::failed(format!("the login answer is not a token: {e}")))?;
        let token = jwt
            .access_jwt
            .parse()
            .map_err(|_| CmdError::failed("the login answer's access token is not plain text"))?;
        self.token = Some(token);
        Ok(())
    }

    /// A new transaction; a read-only one never writes and needs no abort.
    pub fn txn(&self, read_only: bool) -> Txn<'_> {
        Txn {
            alpha: self,
            read_only,
            context: TxnContext::default(),
            finished: false,
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(CALL_TIMEOUT);
        if let Some(token) = &self.token {
            request.metadata_mut().insert("accessjwt", token.clone());
        }
        request
    }
}

/// A transaction: its start timestamp comes with the first answer, and the keys and predicates
/// it wrote with each. One that neither committed nor aborted should be [`Txn::discard`]ed.
pub struct Txn<'a> {
    alpha: &'a Alpha,
    read_only: bool,
    context: TxnContext,
    finished: bool,
}

impl Txn<'_> {
    /// Runs a query with its `$variables`; returns its JSON result.
    pub async fn query(
        &mut self,
        query: &str,
        vars: &[(&str, &str)],
    ) -> Result<serde_json::Value, CmdError> {
        let response = self
            .run(Request {
                query: query.to_string(),
                vars: vars
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
                ..Default::default()
            })
            .await?;
        json(&response)
    }

    /// Runs one mutation (committing when it says `commit_now`).
    pub async fn mutate(&mut self, mutation: Mutation) -> Result<Response, CmdError> {
        let commit_now = mutation.commit_now;
        self.run(Request {
            mutations: vec![mutation],
            commit_now,
            ..Default::default()
        })
        .await
    }

    /// Runs a request in this transaction (an upsert: a query and conditional mutations).
    pub async fn run(&mut self, mut request: Request) -> Result<Response, CmdError> {
        if self.finished {
            return Err(CmdError::failed("the transaction is already finished"));
        }
        request.start_ts = self.context.start_ts;
        request.read_only = self.read_only;
        let commit_now = request.commit_now;
        let response = self
            .alpha
            .client
            .clone()
            .query(self.alpha.request(request))
            .await?
            .into_inner();
        if let Some(txn) = &response.txn {
            if self.context.start_ts == 0 {
                self.context.start_ts = txn.start_ts;
            }
            self.context.keys.extend(txn.keys.iter().cloned());
            self.context.preds.extend(txn.preds.iter().cloned());
            if txn.aborted {
                self.finished = true;
            }
        }
        if commit_now {
            self.finished = true;
        }
        Ok(response)
    }

    /// Aborts what this transaction wrote and did not commit; a read-only or finished one has
    /// nothing to abort. A failure to abort is not reported: the alpha aborts an idle
    /// transaction by itself.
    pub async fn discard(self) {
        if self.read_only || self.finished || self.context.start_ts == 0 {
            return;
        }
        let context = TxnContext {
            aborted: true,
            ..self.context.clone()
        };
        let _ = self
            .alpha
            .client
            .clone()
            .commit_or_abort(self.alpha.request(context))
            .await;
    }
}

/// The JSON result of a query.
fn json(response: &api::Response) -> Result<serde_json::Value, CmdError> {
    if response.json.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(&response.json)
        .map_err(|e| CmdError::failed(format!("the alpha's answer is not JSON: {e}")))
}
