//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod backups;
pub mod faults;
pub mod replicas;

use lodestar_integration_tests::{Cluster, ClusterBuilder, run_bin};
use std::path::{Path, PathBuf};

/// A license signing key pair made with `zero license keygen`, and licenses issued with it
/// through `zero license issue`, the way an operator would.
pub struct LicenseKit {
    pub dir: tempfile::TempDir,
    pub private_key: PathBuf,
    pub public_key: PathBuf,
}

impl LicenseKit {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let private_key = dir.path().join("license.key");
        let public_key = dir.path().join("license.pub");
        let out = run_bin(
            "zero",
            [
                "license",
                "keygen",
                "--private-key",
                path(&private_key),
                "--public-key",
                path(&public_key),
            ],
        );
        assert!(
            out.status.success(),
            "keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        LicenseKit {
            dir,
            private_key,
            public_key,
        }
    }

    /// Issues a license file and returns its path.
    pub fn issue(&self, name: &str, user: &str, max_nodes: u64, expiry: &str) -> PathBuf {
        let file = self.dir.path().join(name);
        let max = max_nodes.to_string();
        let out = run_bin(
            "zero",
            [
                "license",
                "issue",
                "--private-key",
                path(&self.private_key),
                "--user",
                user,
                "--max-nodes",
                &max,
                "--expiry",
                expiry,
                "--out",
                path(&file),
            ],
        );
        assert!(
            out.status.success(),
            "issue failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        file
    }

    pub fn public_key_arg(&self) -> String {
        path(&self.public_key).to_string()
    }
}

/// Restarts zero `idx` with its clock moved forward by `offset` (for example `31d`), the
/// testing aid for expiry without waiting.
pub async fn move_zero_clock(
    cluster: &mut lodestar_integration_tests::Cluster,
    idx: usize,
    offset: &str,
) {
    let zero = &mut cluster.zeros[idx];
    zero.stop().await.expect("stop");
    zero.args
        .extend(["--clock_offset".to_string(), offset.to_string()]);
    zero.start().expect("start");
    zero.wait_healthy(std::time::Duration::from_secs(20))
        .await
        .expect("healthy");
}

/// Runs `integration-tests/python/<script>` with the test clients' Python (`LODESTAR_PYTHON`,
/// which `run-tests.sh` points at its virtualenv). On failure, the script's stdout and stderr.
pub async fn run_python(script: &str, args: &[&str]) -> Result<(), String> {
    run_python_with(script, args, &[]).await
}

/// [`run_python`] with extra environment variables.
pub async fn run_python_with(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), String> {
    let python = std::env::var("LODESTAR_PYTHON").unwrap_or_else(|_| {
        panic!("LODESTAR_PYTHON is not set: run the tests with integration-tests/run-tests.sh, which prepares the Python clients")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run python");
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Starts a cluster (one zero, the services, the test environment's groups and replicas) and
/// runs `script` against its alpha's gRPC address, failing with the script's output and the
/// alpha's log.
pub async fn python_against_cluster(script: &str) {
    let cluster = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster");
    if let Err(out) = run_python(script, &[&cluster.alpha_grpc()]).await {
        panic!(
            "{script} failed:\n{out}\nalpha log:\n{}",
            cluster.alpha().log_tail(40)
        );
    }
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Parses a JSON body, with the body in the panic message when it is not JSON.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Zero, alpha and the other services, on free ports.
pub async fn start_cluster() -> Cluster {
    ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .start()
        .await
        .expect("cluster")
}

/// A stand-in for HashiCorp Vault (no Vault server installs here): AppRole login and one KV v2
/// secret, enough to check that a restore or a node fetches its key as Vault serves it.
pub async fn vault_stand_in(role_id: &str, secret_id: &str, key: &[u8]) -> String {
    use base64::Engine as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (role_id, secret_id) = (role_id.to_string(), secret_id.to_string());
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (role_id, secret_id, encoded) =
                (role_id.clone(), secret_id.clone(), encoded.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() < head_end + 4 + len {
                        continue;
                    }
                    let body = &text[head_end + 4..];
                    let (code, reply) = if text.starts_with("POST /v1/auth/approle/login") {
                        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                        if v["role_id"] == role_id.as_str() && v["secret_id"] == secret_id.as_str()
                        {
                            (
                                200,
                                serde_json::json!({"auth": {"client_token": "s.standin"}}),
                            )
                        } else {
                            (
                                400,
                                serde_json::json!({"errors": ["invalid role or secret ID"]}),
                            )
                        }
                    } else if text.starts_with("GET /v1/secret/data/dgraph")
                        && text
                            .to_ascii_lowercase()
                            .contains("x-vault-token: s.standin")
                    {
                        (
                            200,
                            serde_json::json!({"data": {"data": {"enc_key": encoded}}}),
                        )
                    } else {
                        (403, serde_json::json!({"errors": ["permission denied"]}))
                    };
                    let body = reply.to_string();
                    let resp = format!(
                        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(resp.as_bytes()).await;
                    return;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Copies the directory tree `from` to `to` (created).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Checks that a gateway run as `program prefix...` takes a setting from the command line, then
/// the environment, then `--config` (each a bad `--acl_access_ttl` the gateway names as it
/// stops), and that a config file's unknown key stops it with the key and the file's name.
pub fn gateway_settings_follow_precedence(program: &str, prefix: &[&str]) {
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, "acl:\n  access_ttl: 1x\n").unwrap();
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = lodestar_integration_tests::bin_command(program);
        cmd.args(prefix).args(["--config", path(&config)]);
        if let Some(v) = flag {
            cmd.args(["--acl_access_ttl", v]);
        }
        if let Some(v) = env {
            cmd.env("LODESTAR_ACL_ACCESS_TTL", v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "a bad duration stops the gateway");
        stderr(&out)
    };
    assert!(run(None, None).contains("1x"), "the file's value is read");
    let from_env = run(Some("2x"), None);
    assert!(
        from_env.contains("2x") && !from_env.contains("1x"),
        "{from_env}"
    );
    let from_flag = run(Some("2x"), Some("3x"));
    assert!(
        from_flag.contains("3x") && !from_flag.contains("2x"),
        "{from_flag}"
    );
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "acl_acces_ttl = \"1h\"\n").unwrap();
    let mut args: Vec<&str> = prefix.to_vec();
    args.extend(["--config", path(&typo)]);
    let out = run_bin(program, args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("acl_acces_ttl") && err.contains("typo.toml"),
        "{err}"
    );
}

/// Puts an access token (if any) in every request's `accessjwt` metadata, as dgo and pydgraph do.
#[derive(Clone)]
pub struct Token(pub String);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if !self.0.is_empty() {
            req.metadata_mut()
                .insert("accessjwt", self.0.parse().expect("ascii token"));
        }
        Ok(req)
    }
}

/// A client of the alpha's `api.Dgraph` that sends a token with every call.
pub type TokenClient = lodestar_proto::api::dgraph_client::DgraphClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Token>,
>;

/// A client of `cluster`'s first alpha sending `token` (none when empty).
pub fn token_client(cluster: &Cluster, token: &str) -> TokenClient {
    lodestar_proto::api::dgraph_client::DgraphClient::with_interceptor(
        lodestar_client::channel(&cluster.alpha_grpc()).unwrap(),
        Token(token.to_string()),
    )
}

/// A read-only query's JSON result through `c`, which must be answered.
pub async fn token_read(c: &mut TokenClient, q: &str) -> serde_json::Value {
    backups::read_only(c, q, 0).await
}
