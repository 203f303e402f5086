//! Successful answers of the DQL HTTP API in Dgraph's shapes: `data` (the query's result, or
//! `code`/`message` with the mutation's `uids` and `queries`) and `extensions` with
//! `server_latency`, `txn` and `metrics`, fields at zero left out as Dgraph leaves them out.

use super::error::ApiError;
use lodestar_proto::api;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

fn zero(n: &u64) -> bool {
    *n == 0
}

/// `extensions.txn`.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Txn {
    #[serde(skip_serializing_if = "zero")]
    pub start_ts: u64,
    #[serde(skip_serializing_if = "zero")]
    pub commit_ts: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preds: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl Txn {
    /// The transaction context with its keys and predicates sorted (Dgraph's order); without
    /// the keys when the transaction is over (they only matter for a commit to come).
    pub fn new(t: api::TxnContext, keep_keys: bool) -> Self {
        let mut keys = if keep_keys { t.keys } else { Vec::new() };
        let mut preds = t.preds;
        keys.sort();
        preds.sort();
        Txn {
            start_ts: t.start_ts,
            commit_ts: t.commit_ts,
            aborted: t.aborted,
            keys,
            preds,
            hash: t.hash,
        }
    }
}

/// `extensions.server_latency`.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Latency {
    #[serde(skip_serializing_if = "zero")]
    pub parsing_ns: u64,
    #[serde(skip_serializing_if = "zero")]
    pub processing_ns: u64,
    #[serde(skip_serializing_if = "zero")]
    pub encoding_ns: u64,
    #[serde(skip_serializing_if = "zero")]
    pub assign_timestamp_ns: u64,
    #[serde(skip_serializing_if = "zero")]
    pub total_ns: u64,
}

impl From<api::Latency> for Latency {
    fn from(l: api::Latency) -> Self {
        Latency {
            parsing_ns: l.parsing_ns,
            processing_ns: l.processing_ns,
            encoding_ns: l.encoding_ns,
            assign_timestamp_ns: l.assign_timestamp_ns,
            total_ns: l.total_ns,
        }
    }
}

/// `extensions.metrics`.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Metrics {
    pub num_uids: BTreeMap<String, u64>,
}

/// `extensions`.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Extensions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_latency: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<Txn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

fn internal(e: serde_json::Error) -> ApiError {
    ApiError::running(lodestar_runtime::ServiceError::internal(format!(
        "cannot write the answer as JSON: {e}"
    )))
}

/// The alpha's JSON as it is, checked to be JSON; `empty` when it sent none.
fn raw_json(bytes: Vec<u8>, empty: &str) -> Result<Box<RawValue>, ApiError> {
    let text = if bytes.is_empty() {
        empty.to_string()
    } else {
        String::from_utf8(bytes).map_err(|_| {
            ApiError::running(lodestar_runtime::ServiceError::internal(
                "the alpha answered a result that is not UTF-8",
            ))
        })?
    };
    RawValue::from_string(text).map_err(internal)
}

/// The answer to `/query`: `{"data": <result>, "extensions": {...}}`; with `rdf`, `data` is
/// the RDF text as one JSON string.
pub fn query(resp: api::Response, rdf: bool) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Reply {
        data: Box<RawValue>,
        extensions: Extensions,
    }
    let data = if rdf {
        let text = String::from_utf8(resp.rdf).map_err(|_| {
            ApiError::running(lodestar_runtime::ServiceError::internal(
                "the alpha answered RDF that is not UTF-8",
            ))
        })?;
        RawValue::from_string(serde_json::to_string(&text).map_err(internal)?).map_err(internal)?
    } else {
        raw_json(resp.json, "{}")?
    };
    serde_json::to_vec(&Reply {
        data,
        extensions: Extensions {
            server_latency: resp.latency.map(Latency::from),
            txn: resp.txn.map(|t| Txn::new(t, true)),
            metrics: resp.metrics.map(|m| Metrics {
                num_uids: m.num_uids.into_iter().collect(),
            }),
        },
    })
    .map_err(internal)
}

/// The answer to `/mutate`: `{"data": {"code": "Success", "message": "Done", "queries":
/// <the upsert query's result or null>, "uids": {blank node: uid}}, "extensions": {...}}`.
/// `parsing_ns` adds the gateway's parsing of the body to the alpha's.
pub fn mutation(
    resp: api::Response,
    commit_now: bool,
    gateway_parsing_ns: u64,
) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Data {
        code: &'static str,
        message: &'static str,
        queries: Box<RawValue>,
        uids: BTreeMap<String, String>,
    }
    #[derive(Serialize)]
    struct Reply {
        data: Data,
        extensions: Extensions,
    }
    let mut latency = resp.latency.map(Latency::from).unwrap_or_default();
    latency.parsing_ns = latency.parsing_ns.saturating_add(gateway_parsing_ns);
    serde_json::to_vec(&Reply {
        data: Data {
            code: "Success",
            message: "Done",
            queries: raw_json(resp.json, "null")?,
            uids: resp.uids.into_iter().collect(),
        },
        extensions: Extensions {
            server_latency: Some(latency),
            txn: resp.txn.map(|t| Txn::new(t, !commit_now)),
            metrics: None,
        },
    })
    .map_err(internal)
}

/// The answer to a commit: `{"data": {"code": "Success", "message": "Done"}, "extensions":
/// {"txn": {"start_ts", "commit_ts"}}}`.
pub fn commit(txn: api::TxnContext) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&serde_json::json!({
        "data": {"code": "Success", "message": "Done"},
        "extensions": Extensions { txn: Some(Txn::new(txn, false)), ..Default::default() },
    }))
    .map_err(internal)
}

/// The answer to an abort: Dgraph writes `code` and `message` at the top, without `data`.
pub fn aborted() -> Vec<u8> {
    br#"{"code":"Success","message":"Done"}"#.to_vec()
}

/// The answer to a successful `/alter`.
pub fn done() -> Vec<u8> {
    br#"{"data":{"code":"Success","message":"Done"}}"#.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn query_answers_keep_the_result_and_leave_zeros_out() {
        let resp = api::Response {
            json: br#"{"me":[{"name":"Alice","n":123456789012345678901234567890}]}"#.to_vec(),
            txn: Some(api::TxnContext {
                start_ts: 6,
                ..Default::default()
            }),
            latency: Some(api::Latency {
                parsing_ns: 5,
                processing_ns: 7,
                encoding_ns: 0,
                assign_timestamp_ns: 1,
                total_ns: 13,
            }),
            ..Default::default()
        };
        let bytes = query(resp, false).unwrap();
        // The result is passed on byte for byte: no number is rounded.
        assert!(String::from_utf8_lossy(&bytes).contains("123456789012345678901234567890"));
        let v = parse(bytes);
        assert_eq!(v["data"]["me"][0]["name"], "Alice");
        assert_eq!(
            v["extensions"],
            json!({"server_latency": {"parsing_ns": 5, "processing_ns": 7, "assign_timestamp_ns": 1, "total_ns": 13},
                   "txn": {"start_ts": 6}})
        );
        let v = parse(
            query(
                api::Response {
                    rdf: b"<0x1> <name> \"A\" .\n".to_vec(),
                    ..Default::default()
                },
                true,
            )
            .unwrap(),
        );
        assert_eq!(v["data"], "<0x1> <name> \"A\" .\n");
        assert_eq!(
            parse(query(api::Response::default(), false).unwrap())["data"],
            json!({})
        );
    }

    #[test]
    fn mutation_answers_have_uids_and_keys_only_while_open() {
        let resp = |json: &[u8]| api::Response {
            json: json.to_vec(),
            txn: Some(api::TxnContext {
                start_ts: 4,
                commit_ts: 0,
                keys: vec!["b".into(), "a".into()],
                preds: vec!["1-name".into(), "1-balance".into()],
                ..Default::default()
            }),
            uids: [("alice".to_string(), "0x1".to_string())].into(),
            latency: Some(api::Latency {
                parsing_ns: 10,
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = parse(mutation(resp(b""), false, 5).unwrap());
        assert_eq!(
            v["data"],
            json!({"code": "Success", "message": "Done", "queries": null, "uids": {"alice": "0x1"}})
        );
        assert_eq!(
            v["extensions"]["txn"],
            json!({"start_ts": 4, "keys": ["a", "b"], "preds": ["1-balance", "1-name"]})
        );
        assert_eq!(v["extensions"]["server_latency"]["parsing_ns"], 15);
        let v = parse(mutation(resp(br#"{"q":[]}"#), true, 0).unwrap());
        assert_eq!(v["data"]["queries"], json!({"q": []}));
        assert!(v["extensions"]["txn"].get("keys").is_none(), "{v}");
    }

    #[test]
    fn commit_and_abort_answers() {
        let v = parse(
            commit(api::TxnContext {
                start_ts: 6,
                commit_ts: 7,
                keys: vec!["k".into()],
                ..Default::default()
            })
            .unwrap(),
        );
        assert_eq!(
            v,
            json!({"data": {"code": "Success", "message": "Done"}, "extensions": {"txn": {"start_ts": 6, "commit_ts": 7}}})
        );
        assert_eq!(
            parse(aborted()),
            json!({"code": "Success", "message": "Done"})
        );
        assert_eq!(parse(done())["data"]["code"], "Success");
    }
}
