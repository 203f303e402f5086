//! Request bodies of the DQL HTTP API: reading them within the size limit (gzipped ones too),
//! their `Content-Type`, and turning each endpoint's body into the alpha's gRPC message.

use super::error::ApiError;
use axum::body::{Body, Bytes};
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http_body_util::BodyExt;
use lodestar_proto::api;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::io::Read;

/// Reads the whole body, at most `limit` bytes of it (after decompression, when it comes with
/// `Content-Encoding: gzip`).
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let gzip = match headers.get(CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(e)) if e.is_empty() || e.eq_ignore_ascii_case("identity") => false,
        Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unsupported Content-Encoding {:?}: send the body as it is or gzipped (Content-Encoding: gzip)",
                other.unwrap_or("(not text)")
            )));
        }
    };
    let raw = collect(body, limit).await?;
    if !gzip {
        return Ok(raw);
    }
    // One byte over the limit is enough to know the body is too large.
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::invalid(format!("cannot decompress the gzipped body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(out.into())
}

/// The body's bytes, refusing it as soon as it passes `limit` (a body cut by the server's own
/// limit on the way in is refused the same way).
async fn collect(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::too_large(limit)
            } else {
                ApiError::invalid(format!("cannot read the request body: {e}"))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ApiError::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// The body's media type, lowercase and without parameters (`None` without a `Content-Type`).
/// A charset other than UTF-8 is refused: DQL, RDF and JSON are read as UTF-8.
pub fn media_type(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid("the Content-Type header is not text"))?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    for param in parts {
        if let Some((key, val)) = param.split_once('=')
            && key.trim().eq_ignore_ascii_case("charset")
        {
            let charset = val.trim().trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(ApiError::invalid(format!(
                    "unsupported charset {charset:?}: bodies are read as UTF-8"
                )));
            }
        }
    }
    Ok(Some(media))
}

fn utf8(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|e| {
        ApiError::invalid(format!(
            "the body is not UTF-8 text (byte {}): send DQL, RDF and JSON as UTF-8",
            e.valid_up_to()
        ))
    })
}

fn json_error(what: &str, e: serde_json::Error) -> ApiError {
    ApiError::invalid(format!(
        "cannot read the {what} as JSON at line {}, column {}: {e}",
        e.line(),
        e.column()
    ))
}

/// A `/query` body: DQL text (`application/dql`, or the older `application/graphql+-`), or
/// JSON `{"query": "...", "variables": {"$name": "value"}}`. Variables may be strings, numbers
/// or booleans; the alpha takes them as text.
pub fn query(
    media: Option<&str>,
    body: &[u8],
) -> Result<(String, HashMap<String, String>), ApiError> {
    match media {
        Some("application/dql" | "application/graphql+-") => {
            Ok((utf8(body)?.to_string(), HashMap::new()))
        }
        Some("application/json") => {
            #[derive(serde::Deserialize)]
            struct QueryBody {
                #[serde(default)]
                query: Option<String>,
                #[serde(default)]
                variables: Option<HashMap<String, serde_json::Value>>,
            }
            let parsed: QueryBody =
                serde_json::from_slice(body).map_err(|e| json_error("query body", e))?;
            let mut vars = HashMap::new();
            for (name, value) in parsed.variables.unwrap_or_default() {
                let text = match value {
                    serde_json::Value::String(s) => s,
                    v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => {
                        v.to_string()
                    }
                    other => {
                        return Err(ApiError::invalid(format!(
                            "the variable {name:?} is {other}: a variable's value must be a string, number or boolean"
                        )));
                    }
                };
                vars.insert(name, text);
            }
            Ok((parsed.query.unwrap_or_default(), vars))
        }
        other => Err(unsupported(
            other,
            "/query",
            "application/dql (or application/graphql+-) for DQL text, application/json for {\"query\", \"variables\"}",
        )),
    }
}

fn unsupported(media: Option<&str>, endpoint: &str, takes: &str) -> ApiError {
    let got = media.map_or("no Content-Type".to_string(), |m| {
        format!("Content-Type {m}")
    });
    ApiError::invalid(format!("unsupported {got}: {endpoint} takes {takes}"))
}

/// A `/mutate` body as the alpha's request: RDF (`application/rdf`: a `{ set { } delete { } }`
/// block or an `upsert { query { } mutation @if(...) { } }` block) or JSON (`{"set", "delete",
/// "cond", "query", "mutations": [{"set", "delete", "cond"}]}`, where `set` and `delete` are
/// Dgraph's JSON mutation format).
pub fn mutation(media: Option<&str>, body: &[u8]) -> Result<api::Request, ApiError> {
    match media {
        Some("application/rdf") => rdf_mutation(utf8(body)?),
        Some("application/json") => json_mutation(body),
        other => Err(unsupported(
            other,
            "/mutate",
            "application/rdf for RDF and upsert blocks, application/json for JSON mutations",
        )),
    }
}

fn nquads_text(nquads: &[lodestar_dql::NQuad]) -> Vec<u8> {
    lodestar_dql::NQuad::to_rdf(nquads).into_bytes()
}

fn to_api(m: &lodestar_dql::query::ast::Mutation) -> api::Mutation {
    api::Mutation {
        set_nquads: nquads_text(&m.set),
        del_nquads: nquads_text(&m.delete),
        cond: m
            .cond
            .as_ref()
            .map(|c| format!("@if({c})"))
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// Parses the block here, so that a mistake is answered with its line and column before any
/// alpha is asked; the alpha gets the parsed block written back as text.
fn rdf_mutation(text: &str) -> Result<api::Request, ApiError> {
    use lodestar_dql::query::Document;
    let doc = lodestar_dql::parse_dql(text, &HashMap::new())
        .map_err(|e| ApiError::invalid(format!("cannot read the mutation: {e}")))?;
    match doc {
        Document::Mutation(m) => Ok(api::Request {
            mutations: vec![to_api(&m)],
            ..Default::default()
        }),
        Document::Upsert(u) => Ok(api::Request {
            query: u.query.to_string(),
            mutations: u.mutations.iter().map(to_api).collect(),
            ..Default::default()
        }),
        Document::Query(_) => Err(ApiError::invalid(
            "the body is a query, not a mutation: /mutate takes { set { ... } delete { ... } } or upsert { query { ... } mutation { ... } }; send queries to /query",
        )),
    }
}

fn json_string(what: &str, raw: &RawValue) -> Result<String, ApiError> {
    serde_json::from_str(raw.get()).map_err(|_| {
        ApiError::invalid(format!(
            "\"{what}\" must be a JSON string, not {}",
            raw.get()
        ))
    })
}

/// One JSON mutation (`set`, `delete`, `cond`); `None` when it has neither `set` nor `delete`.
fn json_one(map: &HashMap<String, Box<RawValue>>) -> Result<Option<api::Mutation>, ApiError> {
    let present = |k: &str| map.get(k).filter(|v| v.get() != "null");
    let set = present("set");
    let delete = present("delete");
    if set.is_none() && delete.is_none() {
        return Ok(None);
    }
    Ok(Some(api::Mutation {
        set_json: set.map(|v| v.get().as_bytes().to_vec()).unwrap_or_default(),
        delete_json: delete
            .map(|v| v.get().as_bytes().to_vec())
            .unwrap_or_default(),
        cond: present("cond")
            .map(|c| json_string("cond", c))
            .transpose()?
            .unwrap_or_default(),
        ..Default::default()
    }))
}

fn json_mutation(body: &[u8]) -> Result<api::Request, ApiError> {
    let map: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(body).map_err(|e| json_error("mutation body", e))?;
    let mut req = api::Request::default();
    if let Some(q) = map.get("query").filter(|v| v.get() != "null") {
        req.query = json_string("query", q)?;
    }
    req.mutations.extend(json_one(&map)?);
    if let Some(list) = map.get("mutations").filter(|v| v.get() != "null") {
        let list: Vec<HashMap<String, Box<RawValue>>> = serde_json::from_str(list.get())
            .map_err(|e| json_error("\"mutations\" list (objects with set, delete, cond)", e))?;
        for m in &list {
            req.mutations.extend(json_one(m)?);
        }
    }
    if req.mutations.is_empty() {
        let grpc_names = ["set_json", "delete_json", "set_nquads", "del_nquads"]
            .into_iter()
            .find(|k| map.contains_key(*k));
        return Err(ApiError::invalid(match grpc_names {
            Some(k) => format!(
                "the JSON mutation has no \"set\" or \"delete\": {k:?} is the gRPC field's name, over HTTP write \"set\" and \"delete\""
            ),
            None => "the JSON mutation has nothing to do: give \"set\" or \"delete\" (or a \"mutations\" list of them)".to_string(),
        }));
    }
    Ok(req)
}

/// An `/alter` body: a JSON operation (`{"drop_all": true}`, `{"drop_attr": "name"}`,
/// `{"drop_op": "TYPE", "drop_value": "Person"}`, `{"schema": "..."}`, in the proto's names
/// or their camelCase JSON names), or else schema text, as Dgraph reads it.
pub fn alter(body: &[u8]) -> Result<api::Operation, ApiError> {
    let text = utf8(body)?;
    if text.trim().is_empty() {
        return Err(ApiError::invalid(
            "the alter body is empty: send schema text (name: string @index(term) .) or a JSON operation such as {\"drop_all\": true}",
        ));
    }
    // Only a JSON object can be an operation; anything else is schema text.
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(fields) => operation(fields),
        Err(_) => Ok(api::Operation {
            schema: text.to_string(),
            ..Default::default()
        }),
    }
}

fn operation(
    fields: serde_json::Map<String, serde_json::Value>,
) -> Result<api::Operation, ApiError> {
    use serde_json::Value;
    let mut op = api::Operation::default();
    let wrong = |name: &str, want: &str, got: &Value| {
        ApiError::invalid(format!(
            "the alter operation's {name:?} must be {want}, not {got}"
        ))
    };
    for (name, value) in &fields {
        if value.is_null() {
            continue;
        }
        let text = || {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong(name, "a string", value))
        };
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| wrong(name, "true or false", value))
        };
        match name.as_str() {
            "schema" => op.schema = text()?,
            "drop_attr" | "dropAttr" => op.drop_attr = text()?,
            "drop_all" | "dropAll" => op.drop_all = flag()?,
            "drop_value" | "dropValue" => op.drop_value = text()?,
            "run_in_background" | "runInBackground" => op.run_in_background = flag()?,
            "drop_op" | "dropOp" => {
                let by_name = value
                    .as_str()
                    .and_then(api::operation::DropOp::from_str_name);
                let by_number = value
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| api::operation::DropOp::try_from(n).ok());
                op.drop_op = by_name
                    .or(by_number)
                    .ok_or_else(|| wrong(name, "one of NONE, ALL, DATA, ATTR, TYPE", value))?
                    as i32;
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "the alter body is a JSON object but {other:?} is not a field of an operation: use schema, drop_all, drop_attr, drop_op, drop_value, run_in_background"
                )));
            }
        }
    }
    Ok(op)
}

/// A `/commit` body: the transaction's conflict keys as a JSON list, or `{"keys": [...],
/// "preds": [...]}`. An empty body (or `null`) is a transaction without keys.
pub fn commit_keys(body: &[u8]) -> Result<(Vec<String>, Vec<String>), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Keys {
        List(Option<Vec<String>>),
        Both {
            #[serde(default)]
            keys: Option<Vec<String>>,
            #[serde(default)]
            preds: Option<Vec<String>>,
        },
    }
    match serde_json::from_slice::<Keys>(body) {
        Ok(Keys::List(keys)) => Ok((keys.unwrap_or_default(), Vec::new())),
        Ok(Keys::Both { keys, preds }) => Ok((keys.unwrap_or_default(), preds.unwrap_or_default())),
        Err(_) => Err(ApiError::invalid(
            "cannot read the commit body: send the transaction's keys as a JSON list of strings, or {\"keys\": [...], \"preds\": [...]} as /mutate answered them",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[tokio::test]
    async fn bodies_are_read_within_the_limit_gzipped_or_not() {
        let h = HeaderMap::new();
        assert_eq!(&read(&h, Body::from("abc"), 3).await.unwrap()[..], b"abc");
        let e = read(&h, Body::from("abcd"), 3).await.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(e.message.contains("3 bytes"), "{}", e.message);

        let gz = headers(&[("content-encoding", "gzip")]);
        let small = gzip(b"hello");
        assert_eq!(
            &read(&gz, Body::from(small), 100).await.unwrap()[..],
            b"hello"
        );
        // A small gzipped body that inflates past the limit is refused, not inflated.
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        assert!(bomb.len() < 4096);
        let e = read(&gz, Body::from(bomb), 4096).await.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        let e = read(&gz, Body::from("not gzip"), 100).await.unwrap_err();
        assert!(e.message.contains("decompress"), "{}", e.message);
        let br = headers(&[("content-encoding", "br")]);
        let e = read(&br, Body::from("x"), 100).await.unwrap_err();
        assert!(e.message.contains("\"br\""), "{}", e.message);
    }

    #[test]
    fn media_types_ignore_case_and_refuse_other_charsets() {
        let m = |v: &str| media_type(&headers(&[("content-type", v)]));
        assert_eq!(
            m("Application/DQL").unwrap().as_deref(),
            Some("application/dql")
        );
        assert_eq!(
            m("application/json; charset=UTF-8").unwrap().as_deref(),
            Some("application/json")
        );
        let e = m("application/rdf; charset=latin1").unwrap_err();
        assert!(e.message.contains("latin1"), "{}", e.message);
        assert_eq!(media_type(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn query_bodies_in_every_content_type() {
        let (q, v) = query(Some("application/dql"), b"{ me(func: uid(1)) { uid } }").unwrap();
        assert_eq!(q, "{ me(func: uid(1)) { uid } }");
        assert!(v.is_empty());
        let (q, _) = query(Some("application/graphql+-"), b"{ q(func: has(a)) { a } }").unwrap();
        assert!(q.starts_with("{ q"));
        let (q, v) = query(
            Some("application/json"),
            br#"{"query": "query q($a: int) { q(func: eq(n, $a)) { n } }", "variables": {"$a": 3, "$b": "x", "$c": true}}"#,
        )
        .unwrap();
        assert!(q.starts_with("query q"));
        assert_eq!(v["$a"], "3");
        assert_eq!(v["$b"], "x");
        assert_eq!(v["$c"], "true");
        let e = query(
            Some("application/json"),
            br#"{"query": "{}", "variables": {"$a": [1]}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("$a"), "{}", e.message);
        let e = query(Some("application/json"), b"{\"query\": ").unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
        let e = query(Some("text/plain"), b"{}").unwrap_err();
        assert!(e.message.contains("text/plain") && e.message.contains("application/dql"));
        let e = query(None, b"{}").unwrap_err();
        assert!(e.message.contains("no Content-Type"), "{}", e.message);
        let e = query(Some("application/dql"), b"\xff\xfe").unwrap_err();
        assert!(e.message.contains("UTF-8"), "{}", e.message);
    }

    #[test]
    fn rdf_mutation_blocks_become_nquads() {
        let req = mutation(
            Some("application/rdf"),
            br#"{
  set {
    _:alice <name> "Alice" .
    _:alice <balance> "100" .
  }
  delete {
    <0x1> <balance> * .
  }
}"#,
        )
        .unwrap();
        assert_eq!(req.query, "");
        assert_eq!(req.mutations.len(), 1);
        let m = &req.mutations[0];
        let set = String::from_utf8(m.set_nquads.clone()).unwrap();
        assert_eq!(lodestar_dql::parse_set_nquads(&set).unwrap().len(), 2);
        let del = String::from_utf8(m.del_nquads.clone()).unwrap();
        assert_eq!(lodestar_dql::parse_delete_nquads(&del).unwrap().len(), 1);
        assert!(m.cond.is_empty());
    }

    #[test]
    fn upsert_blocks_keep_their_query_and_conditions() {
        let req = mutation(
            Some("application/rdf"),
            br#"upsert {
  query {
    q(func: eq(email, "a@b.c")) { v as uid }
  }
  mutation @if(eq(len(v), 0)) {
    set { _:new <email> "a@b.c" . }
  }
  mutation @if(eq(len(v), 1)) {
    set { uid(v) <seen> "true" . }
  }
}"#,
        )
        .unwrap();
        assert!(req.query.contains("v as uid"), "{}", req.query);
        assert_eq!(req.mutations.len(), 2);
        for m in &req.mutations {
            let cond = lodestar_dql::parse_condition(&m.cond).expect("the alpha reads it back");
            assert!(m.cond.starts_with("@if("), "{}", m.cond);
            let _ = cond;
        }
        let set = String::from_utf8(req.mutations[1].set_nquads.clone()).unwrap();
        assert!(set.contains("uid(v)"), "{set}");
    }

    #[test]
    fn bad_rdf_bodies_name_the_place() {
        let e = mutation(
            Some("application/rdf"),
            b"{\n  set {\n    _:a <name> \"x\"\n  }\n}",
        )
        .unwrap_err();
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
        assert!(e.message.contains("line "), "{}", e.message);
        let e = mutation(Some("application/rdf"), b"{ me(func: has(name)) { name } }").unwrap_err();
        assert!(e.message.contains("/query"), "{}", e.message);
        let e = mutation(Some("application/dql"), b"{ set { } }").unwrap_err();
        assert!(e.message.contains("application/rdf"), "{}", e.message);
    }

    #[test]
    fn json_mutations_in_dgraph_s_forms() {
        let req = mutation(
            Some("application/json"),
            br#"{"set": [{"uid": "_:a", "name": "A", "n": 123456789012345678901234567890}], "delete": {"uid": "0x2", "name": null}}"#,
        )
        .unwrap();
        let m = &req.mutations[0];
        // The numbers reach the alpha exactly as written.
        assert!(String::from_utf8_lossy(&m.set_json).contains("123456789012345678901234567890"));
        assert_eq!(m.delete_json, br#"{"uid": "0x2", "name": null}"#);

        let req = mutation(
            Some("application/json"),
            br#"{"query": "{ q(func: eq(e, \"x\")) { v as uid } }",
                "mutations": [{"set": {"uid": "uid(v)", "e": "x"}, "cond": "@if(eq(len(v), 1))"},
                              {"set": {"uid": "_:n", "e": "x"}, "cond": "@if(eq(len(v), 0))"}]}"#,
        )
        .unwrap();
        assert!(req.query.contains("v as uid"));
        assert_eq!(req.mutations.len(), 2);
        assert_eq!(req.mutations[1].cond, "@if(eq(len(v), 0))");

        let e = mutation(Some("application/json"), br#"{"set_json": [{"a": 1}]}"#).unwrap_err();
        assert!(e.message.contains("set_json"), "{}", e.message);
        let e = mutation(Some("application/json"), b"{}").unwrap_err();
        assert!(e.message.contains("nothing to do"), "{}", e.message);
        let e = mutation(Some("application/json"), br#"{"set": [], "cond": 5}"#).unwrap_err();
        assert!(e.message.contains("cond"), "{}", e.message);
        let e = mutation(Some("application/json"), br#"{"set": [}"#).unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
        let e = mutation(Some("application/json"), br#"{"mutations": {"set": []}}"#).unwrap_err();
        assert!(e.message.contains("mutations"), "{}", e.message);
    }

    #[test]
    fn alter_bodies_are_operations_or_schema_text() {
        let op = alter(b"name: string @index(term) .\ntype Person { name }").unwrap();
        assert!(op.schema.starts_with("name: string"));
        assert!(alter(br#"{"drop_all": true}"#).unwrap().drop_all);
        assert!(alter(br#"{"dropAll": true}"#).unwrap().drop_all);
        assert_eq!(
            alter(br#"{"drop_attr": "name"}"#).unwrap().drop_attr,
            "name"
        );
        let op = alter(br#"{"drop_op": "TYPE", "drop_value": "Person"}"#).unwrap();
        assert_eq!(op.drop_op, api::operation::DropOp::Type as i32);
        assert_eq!(op.drop_value, "Person");
        assert_eq!(
            alter(br#"{"dropOp": "DATA"}"#).unwrap().drop_op,
            api::operation::DropOp::Data as i32
        );
        assert_eq!(
            alter(br#"{"drop_op": 3, "drop_value": "n"}"#)
                .unwrap()
                .drop_op,
            api::operation::DropOp::Attr as i32
        );
        let op = alter(br#"{"schema": "a: int .", "run_in_background": true}"#).unwrap();
        assert_eq!(op.schema, "a: int .");
        assert!(op.run_in_background);

        let e = alter(br#"{"drop_al": true}"#).unwrap_err();
        assert!(e.message.contains("drop_al"), "{}", e.message);
        let e = alter(br#"{"drop_op": "EVERYTHING"}"#).unwrap_err();
        assert!(e.message.contains("EVERYTHING"), "{}", e.message);
        let e = alter(br#"{"drop_all": "yes"}"#).unwrap_err();
        assert!(e.message.contains("true or false"), "{}", e.message);
        let e = alter(b"  \n").unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
    }

    #[test]
    fn commit_bodies_as_a_list_or_keys_and_preds() {
        assert_eq!(
            commit_keys(br#"["a", "b"]"#).unwrap(),
            (vec!["a".into(), "b".into()], vec![])
        );
        assert_eq!(
            commit_keys(br#"{"keys": ["a"], "preds": ["1-balance"]}"#).unwrap(),
            (vec!["a".into()], vec!["1-balance".into()])
        );
        assert_eq!(commit_keys(b"").unwrap(), (vec![], vec![]));
        assert_eq!(commit_keys(b"[]").unwrap(), (vec![], vec![]));
        assert_eq!(commit_keys(b"null").unwrap(), (vec![], vec![]));
        for bad in [
            &b"{\"keys\": \"a\"}"[..],
            b"[1, 2]",
            b"keys",
            b"{\"keys\": [1]}",
        ] {
            let e = commit_keys(bad).unwrap_err();
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains("keys"), "{}", e.message);
        }
    }
}
