//! Small HTTP helpers for tests. Each call uses its own client without a connection pool, so a
//! call never reuses a connection from another test's (dropped) runtime, and without proxies, so
//! `HTTP_PROXY` in the environment never sends a request for 127.0.0.1 elsewhere.

use anyhow::Context as _;
use std::time::Duration;

/// The timeout of one request made by the helpers below.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"))
}

/// `GET url`: the status and the body as text.
pub async fn try_http_get(url: &str) -> anyhow::Result<(u16, String)> {
    let resp = client(REQUEST_TIMEOUT)
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .with_context(|| format!("GET {url}: reading the body"))?;
    Ok((status, body))
}

/// `POST url` with `body` as is (no content type): the status and the body as text.
pub async fn try_http_post(url: &str, body: impl AsRef<[u8]>) -> anyhow::Result<(u16, String)> {
    post(url, None, body.as_ref().to_vec()).await
}

async fn post(
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let mut req = client(REQUEST_TIMEOUT).post(url).body(body);
    if let Some(ct) = content_type {
        req = req.header(reqwest::header::CONTENT_TYPE, ct);
    }
    let resp = req.send().await.with_context(|| format!("POST {url}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .with_context(|| format!("POST {url}: reading the body"))?;
    Ok((status, body))
}

/// `GET url`: the status and the body as text. Panics if no answer comes.
pub async fn http_get(url: &str) -> (u16, String) {
    try_http_get(url).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// `POST url` with `body` as is: the status and the body as text. Panics if no answer comes.
pub async fn http_post(url: &str, body: impl AsRef<[u8]>) -> (u16, String) {
    try_http_post(url, body)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// `POST url` with `body` as is and a content type. Panics if no answer comes.
pub async fn http_post_with(
    url: &str,
    content_type: &str,
    body: impl AsRef<[u8]>,
) -> (u16, String) {
    post(url, Some(content_type), body.as_ref().to_vec())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// `POST url` with a JSON body: the status and the JSON answer. Panics if no answer comes or the
/// answer is not JSON (showing what it was).
pub async fn http_post_json(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let (status, text) = http_post_with(url, "application/json", body.to_string()).await;
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("POST {url} answered {status} with non-JSON ({e}): {text}"));
    (status, json)
}

/// One quick health probe: the status of `GET url`, with a short timeout.
pub(crate) async fn probe(url: &str) -> anyhow::Result<u16> {
    let resp = client(Duration::from_secs(2)).get(url).send().await?;
    Ok(resp.status().as_u16())
}
