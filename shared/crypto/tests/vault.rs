//! The Vault key source against a STAND-IN for Vault: no Vault server can be installed here, so
//! a small axum server implements just the two endpoints `fetch_key` calls (AppRole login and a
//! KV v2 read), with Vault's documented request and answer shapes, and checks the credentials
//! and the token header as Vault would.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use lodestar_crypto::KeyError;
use lodestar_crypto::vault::{VaultConfig, VaultFormat, fetch_key};
use serde_json::{Value, json};

const ROLE_ID: &str = "role-1234";
const SECRET_ID: &str = "secret-id-5678-do-not-print";
const TOKEN: &str = "hvs.token-never-printed";

struct StandIn {
    /// KV v2 secrets by path (without `/v1/`).
    secrets: HashMap<String, Value>,
}

async fn login(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    if body["role_id"] == ROLE_ID && body["secret_id"] == SECRET_ID {
        (
            StatusCode::OK,
            Json(json!({ "auth": { "client_token": TOKEN, "lease_duration": 3600 } })),
        )
    } else {
        // What Vault answers to a bad secret-id.
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "errors": ["invalid role or secret ID"] })),
        )
    }
}

async fn read(
    State(state): State<Arc<StandIn>>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "errors": ["permission denied"] })),
        );
    }
    match state.secrets.get(&path) {
        Some(fields) => (
            StatusCode::OK,
            Json(json!({
                "data": { "data": fields, "metadata": { "version": 1 } },
                "lease_duration": 0,
            })),
        ),
        None => (StatusCode::NOT_FOUND, Json(json!({ "errors": [] }))),
    }
}

/// Starts the stand-in on 127.0.0.1:0 and returns its address.
async fn start_stand_in(secrets: HashMap<String, Value>) -> String {
    let app = axum::Router::new()
        .route("/v1/auth/approle/login", post(login))
        .route("/v1/{*path}", get(read))
        .with_state(Arc::new(StandIn { secrets }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn write(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

const KEY32: &[u8; 32] = b"0123456789abcdef0123456789ABCDEF";

/// A stand-in with a few secrets, and a config pointing at it with good credential files.
async fn setup(dir: &Path) -> VaultConfig {
    let b64 = base64::engine::general_purpose::STANDARD;
    let secrets = HashMap::from([
        (
            "secret/data/dgraph".to_owned(),
            json!({ "enc_key": b64.encode(KEY32), "other": "x" }),
        ),
        (
            "secret/data/raw".to_owned(),
            json!({ "enc_key": "0123456789abcdef" }),
        ),
        (
            "secret/data/garbled".to_owned(),
            json!({ "enc_key": "%%% not base64 %%%" }),
        ),
        (
            "secret/data/short".to_owned(),
            json!({ "enc_key": b64.encode([9u8; 20]) }),
        ),
    ]);
    let addr = start_stand_in(secrets).await;
    VaultConfig {
        addr,
        // Whitespace around the ids, as files written by `echo` have.
        role_id_file: write(dir, "role-id", &format!("{ROLE_ID}\n"), 0o644),
        secret_id_file: write(dir, "secret-id", &format!("  {SECRET_ID}\n"), 0o600),
        ..VaultConfig::default()
    }
}

fn assert_no_secrets(err: &KeyError) {
    let msg = err.to_string();
    for secret in [SECRET_ID, TOKEN, "0123456789abcdef"] {
        assert!(!msg.contains(secret), "{msg}");
    }
}

#[tokio::test]
async fn stand_in_vault_happy_path_base64() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path()).await;
    let key = fetch_key(&cfg).await.unwrap();
    assert_eq!(key.bits(), 256);
    assert_eq!(key.as_bytes(), KEY32);
}

#[tokio::test]
async fn stand_in_vault_happy_path_raw() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = VaultConfig {
        path: "secret/data/raw".to_owned(),
        format: VaultFormat::Raw,
        ..setup(dir.path()).await
    };
    let key = fetch_key(&cfg).await.unwrap();
    assert_eq!(key.bits(), 128);
    assert_eq!(key.as_bytes(), b"0123456789abcdef");
}

#[tokio::test]
async fn stand_in_vault_refuses_wrong_secret_id() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path()).await;
    let cfg = VaultConfig {
        secret_id_file: write(dir.path(), "wrong", "not-the-secret", 0o600),
        ..cfg
    };
    let err = fetch_key(&cfg).await.unwrap_err();
    assert_no_secrets(&err);
    assert!(
        matches!(err, KeyError::VaultRefused { status: 400, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("approle login (http 400)"), "{msg}");
    assert!(msg.contains("invalid role or secret ID"), "{msg}");
}

#[tokio::test]
async fn stand_in_vault_missing_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = VaultConfig {
        field: "nope".to_owned(),
        ..setup(dir.path()).await
    };
    let err = fetch_key(&cfg).await.unwrap_err();
    assert_no_secrets(&err);
    assert_eq!(
        err.to_string(),
        "vault secret secret/data/dgraph has no field \"nope\": check --vault field and path"
    );
}

#[tokio::test]
async fn stand_in_vault_key_of_wrong_size() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = VaultConfig {
        path: "secret/data/short".to_owned(),
        ..setup(dir.path()).await
    };
    let err = fetch_key(&cfg).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "vault field \"enc_key\" at secret/data/short holds 20 bytes: AES needs exactly 16, 24 or 32"
    );
}

#[tokio::test]
async fn stand_in_vault_bad_base64_and_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path()).await;
    let err = fetch_key(&VaultConfig {
        path: "secret/data/garbled".to_owned(),
        ..cfg.clone()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("is not valid base64"), "{err}");

    let err = fetch_key(&VaultConfig {
        path: "secret/data/absent".to_owned(),
        ..cfg
    })
    .await
    .unwrap_err();
    assert_no_secrets(&err);
    assert!(
        err.to_string()
            .contains("refused to read secret/data/absent (http 404)"),
        "{err}"
    );
}

#[tokio::test]
async fn stand_in_vault_credential_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path()).await;

    let open = write(dir.path(), "open-secret", SECRET_ID, 0o640);
    let err = fetch_key(&VaultConfig {
        secret_id_file: open.clone(),
        ..cfg.clone()
    })
    .await
    .unwrap_err();
    assert_no_secrets(&err);
    assert!(
        err.to_string()
            .contains(&format!("chmod 600 {}", open.display())),
        "{err}"
    );

    let empty = write(dir.path(), "empty-role", " \n", 0o600);
    let err = fetch_key(&VaultConfig {
        role_id_file: empty.clone(),
        ..cfg.clone()
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("vault role-id file {} is empty", empty.display())
    );

    let missing = dir.path().join("no-such-file");
    let err = fetch_key(&VaultConfig {
        role_id_file: missing.clone(),
        ..cfg.clone()
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}", missing.display())),
        "{err}"
    );

    let err = fetch_key(&VaultConfig {
        secret_id_file: PathBuf::new(),
        ..cfg
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("secret-id file is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_vault_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = VaultConfig {
        addr: format!("http://127.0.0.1:{port}"),
        role_id_file: write(dir.path(), "r", ROLE_ID, 0o600),
        secret_id_file: write(dir.path(), "s", SECRET_ID, 0o600),
        ..VaultConfig::default()
    };
    let err = fetch_key(&cfg).await.unwrap_err();
    assert_no_secrets(&err);
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach vault at http://127.0.0.1:{port}")),
        "{err}"
    );
}
