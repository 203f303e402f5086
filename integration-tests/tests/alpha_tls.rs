//! TLS on the alpha's client port (`--tls`), with certificates the `openssl` binary makes for
//! each test (a CA, a server certificate for `IP:127.0.0.1` and `DNS:localhost`, client
//! certificates): pydgraph's `open()` connection strings (`sslmode=verify-ca`, `apikey`,
//! `bearertoken`, a login), plain-text clients refused, client certificates under
//! REQUIREANDVERIFY (the `live` loader's `--tls` too), the ACL tool's `--tls`, the gateway's
//! `/admin` and DQL HTTP API through `--alpha_tls`, and the configurations the alpha refuses
//! to start with. These tests need `openssl` and fail without it.

mod common;

use lodestar_integration_tests::{
    Cluster, ClusterBuilder, http_post_json, http_post_with, run_bin,
};
use lodestar_proto::api::Check;
use lodestar_proto::api::dgraph_client::DgraphClient;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A CA and certificates it signed, in a directory of their own.
struct Certs {
    dir: tempfile::TempDir,
}

/// Runs `openssl` with `args` (split at spaces) in `dir`.
fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("the TLS tests need the `openssl` binary (Debian's openssl package): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

impl Certs {
    /// `ca.crt`/`ca.key`, `node.crt`/`node.key` (127.0.0.1 and localhost), `client.crt`/
    /// `client.key`, and `rogue-client.crt`/`.key` signed by another CA.
    fn new() -> Certs {
        let certs = Certs {
            dir: tempfile::tempdir().unwrap(),
        };
        certs.ca("ca");
        certs.ca("rogue-ca");
        certs.leaf(
            "node",
            "ca",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        );
        certs.leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
        certs.leaf("rogue-client", "rogue-ca", "extendedKeyUsage=clientAuth\n");
        certs
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ca(&self, name: &str) {
        openssl(
            self.dir(),
            &format!(
                "req -x509 {EC_KEY} -days 2 -subj /CN=lodestar-test-{name} -keyout {name}.key -out {name}.crt"
            ),
        );
    }

    fn leaf(&self, name: &str, ca: &str, extensions: &str) {
        std::fs::write(
            self.dir().join(format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"),
        )
        .unwrap();
        openssl(
            self.dir(),
            &format!("req -new {EC_KEY} -subj /CN={name} -keyout {name}.key -out {name}.csr"),
        );
        openssl(
            self.dir(),
            &format!(
                "x509 -req -in {name}.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days 2 -extfile {name}.ext -out {name}.crt"
            ),
        );
        std::fs::set_permissions(
            self.dir().join(format!("{name}.key")),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir().join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir().join(name)).unwrap()
    }

    /// The alpha's `--tls`.
    fn server_flag(&self, client_auth: &str) -> String {
        format!(
            "server-cert={}; server-key={}; ca-cert={}; client-auth-type={client_auth}",
            self.path("node.crt"),
            self.path("node.key"),
            self.path("ca.crt")
        )
    }

    /// The services' `--alpha_tls`, with the client certificate.
    fn client_flag(&self) -> String {
        format!(
            "ca-cert={}; server-name=localhost; client-cert={}; client-key={}",
            self.path("ca.crt"),
            self.path("client.crt"),
            self.path("client.key")
        )
    }

    /// A Rust client's TLS: trusting the test CA, presenting `identity`'s certificate if any.
    fn client(&self, identity: Option<&str>) -> ClientTlsConfig {
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.read("ca.crt")));
        if let Some(name) = identity {
            tls = tls.identity(Identity::from_pem(
                self.read(&format!("{name}.crt")),
                self.read(&format!("{name}.key")),
            ));
        }
        tls
    }
}

async fn cluster(certs: &Certs, client_auth: &str, acl: Option<&Path>) -> Cluster {
    let mut builder = ClusterBuilder::new()
        .zeros(1)
        .services(true)
        .alpha_tls(certs.server_flag(client_auth), certs.client_flag());
    if let Some(secret) = acl {
        builder = builder.acl_secret_file(secret);
    }
    builder.start().await.expect("cluster")
}

/// `CheckVersion` on the alpha's client port, over TLS when `tls` is given.
async fn check_version(
    cluster: &Cluster,
    tls: Option<ClientTlsConfig>,
) -> Result<String, tonic::Status> {
    let channel = lodestar_client::channel_tls(&cluster.alpha_grpc(), tls.as_ref())?;
    DgraphClient::new(channel)
        .check_version(Check {})
        .await
        .map(|v| v.into_inner().tag)
}

async fn pydgraph(cluster: &Cluster, certs: &Certs, acl: bool) {
    let mut args = vec![cluster.alpha_grpc()];
    if acl {
        args.push("--acl".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca = certs.path("ca.crt");
    if let Err(out) = common::run_python_with(
        "alpha_tls.py",
        &args,
        &[("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", &ca)],
    )
    .await
    {
        panic!(
            "pydgraph over TLS failed:\n{out}\nalpha log:\n{}",
            cluster.alpha().log_tail(40)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_connection_strings_and_the_gateway_over_tls() {
    let certs = Certs::new();
    let cluster = cluster(&certs, "VERIFYIFGIVEN", None).await;
    pydgraph(&cluster, &certs, false).await;

    // A plain-text client gets no answer from the TLS port; a TLS one does.
    // (tonic reports the connection the server closed as Cancelled, pydgraph as Unavailable.)
    let plain = check_version(&cluster, None).await;
    assert!(plain.is_err(), "a plain-text client was served: {plain:?}");
    let tag = check_version(&cluster, Some(certs.client(None)))
        .await
        .unwrap();
    assert!(tag.starts_with("v25"), "{tag}");

    // The gateway, given the CA, still reaches the alpha for DQL and /admin.
    let gateway = cluster.gateway_http();
    let (status, body) = http_post_with(
        &format!("{gateway}/query"),
        "application/dql",
        "{ q(func: has(tls_name), orderasc: tls_name) { tls_name } }",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body = common::json(&body);
    assert_eq!(
        body["data"]["q"],
        serde_json::json!([{"tls_name": "over tls"}, {"tls_name": "with an api key"}]),
        "{body}"
    );
    let (status, body) = http_post_json(
        &format!("{gateway}/admin"),
        &serde_json::json!({"query": "{ health { instance status } }"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let health = body["data"]["health"].as_array().expect("health list");
    assert!(
        health
            .iter()
            .any(|n| n["instance"] == "alpha" && n["status"] == "healthy"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pydgraph_logs_in_and_uses_bearer_tokens_over_tls() {
    let certs = Certs::new();
    let secret = certs.dir().join("hmac_secret_file");
    std::fs::write(&secret, "a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cluster = cluster(&certs, "VERIFYIFGIVEN", Some(&secret)).await;
    pydgraph(&cluster, &certs, true).await;

    // The gateway's /login goes through auth, which reads the users through a TLS alpha; its
    // token then works for DQL over HTTP.
    let gateway = cluster.gateway_http();
    let (status, login) = http_post_with(
        &format!("{gateway}/login"),
        "application/json",
        r#"{"userid": "groot", "password": "password"}"#,
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let login = common::json(&login);
    let token = login["data"]["accessJWT"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"));
    let resp = reqwest::Client::new()
        .post(format!("{gateway}/query"))
        .header("Content-Type", "application/dql")
        .header("X-Dgraph-AccessToken", token)
        .body("{ q(func: has(tls_name), orderasc: tls_name) { tls_name } }")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = common::json(&resp.text().await.unwrap());
    assert_eq!(
        body["data"]["q"],
        serde_json::json!([{"tls_name": "as groot"}, {"tls_name": "with a bearer token"}]),
        "{body}"
    );

    // The ACL tool logs in and works over TLS with --tls; without it the alpha does not answer.
    let acl = |tls: Option<String>| {
        let mut args = vec![
            "acl".to_string(),
            "-a".to_string(),
            cluster.alpha_grpc(),
            "--guardian-creds".to_string(),
            "user=groot;password=password".to_string(),
        ];
        if let Some(tls) = tls {
            args.extend(["--tls".to_string(), tls]);
        }
        args.extend(["add", "-g", "tls-dev"].map(String::from));
        run_bin("lodestar", &args)
    };
    let out = acl(Some(certs.client_flag()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "lodestar acl over TLS: {stdout}");
    assert!(
        stdout.ends_with("Login successful.\nCreated new group with id tls-dev\n"),
        "{stdout}"
    );
    let out = acl(None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "lodestar acl without TLS was served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requireandverify_takes_only_clients_with_a_certificate_of_the_ca() {
    let certs = Certs::new();
    let cluster = cluster(&certs, "REQUIREANDVERIFY", None).await;
    let tag = check_version(&cluster, Some(certs.client(Some("client"))))
        .await
        .expect("a client with the CA's certificate is served");
    assert!(tag.starts_with("v25"), "{tag}");
    for (who, tls) in [
        ("without a certificate", certs.client(None)),
        (
            "with another CA's certificate",
            certs.client(Some("rogue-client")),
        ),
    ] {
        // The handshake fails (in TLS 1.3 the client learns it from the server's alert on its
        // first read), so no call is answered.
        let e = check_version(&cluster, Some(tls)).await;
        assert!(e.is_err(), "a client {who} was served: {e:?}");
    }
    // live presents its --tls client certificate; without --tls it is refused.
    let rdf = certs.dir().join("data.rdf");
    std::fs::write(&rdf, "_:a <tls_live> \"loaded over tls\" .\n").unwrap();
    let live = |tls: Option<String>| {
        let mut args = vec![
            "-f".to_string(),
            rdf.display().to_string(),
            "-a".to_string(),
            cluster.alpha_grpc(),
        ];
        if let Some(tls) = tls {
            args.extend(["--tls".to_string(), tls]);
        }
        run_bin("live", &args)
    };
    let out = live(Some(certs.client_flag()));
    assert!(
        out.status.success(),
        "live over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!live(None).status.success(), "live without TLS was served");

    // The gateway presents the services' client certificate.
    let (status, body) = http_post_with(
        &format!("{}/query", cluster.gateway_http()),
        "application/dql",
        "{ q(func: has(tls_live)) { tls_live } }",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        common::json(&body)["data"]["q"],
        serde_json::json!([{"tls_live": "loaded over tls"}]),
        "{body}"
    );
}

/// The alpha's stderr when it refuses `--tls flag`.
fn refused(flag: &str) -> String {
    let out = run_bin("alpha", ["--tls", flag]);
    assert!(!out.status.success(), "the alpha started with --tls {flag}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_tls_configurations_stop_the_alpha_naming_the_file() {
    let certs = Certs::new();
    let (cert, key, ca) = (
        certs.path("node.crt"),
        certs.path("node.key"),
        certs.path("ca.crt"),
    );

    let missing = certs.path("missing.crt");
    let err = refused(&format!("server-cert={missing}; server-key={key}"));
    assert!(
        err.contains(&missing) && err.contains("cannot read"),
        "{err}"
    );

    let junk = certs.dir().join("junk.crt");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let err = refused(&format!("server-cert={}; server-key={key}", junk.display()));
    assert!(
        err.contains("junk.crt") && err.contains("no PEM certificate"),
        "{err}"
    );

    let junk_key = certs.dir().join("junk.key");
    std::fs::write(&junk_key, "not a key\n").unwrap();
    std::fs::set_permissions(&junk_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = refused(&format!(
        "server-cert={cert}; server-key={}",
        junk_key.display()
    ));
    assert!(
        err.contains("junk.key") && err.contains("private key"),
        "{err}"
    );

    // Another certificate's key.
    let other = certs.path("client.key");
    let err = refused(&format!("server-cert={cert}; server-key={other}"));
    assert!(
        err.contains("client.key")
            && err.contains("node.crt")
            && err.contains("not the certificate's"),
        "{err}"
    );

    let open = certs.dir().join("open.key");
    std::fs::copy(certs.dir().join("node.key"), &open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = refused(&format!(
        "server-cert={cert}; server-key={}",
        open.display()
    ));
    assert!(
        err.contains("open.key") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(
        !err.contains("PRIVATE KEY"),
        "the key leaked into the message: {err}"
    );

    let junk_ca = junk.display().to_string();
    let err = refused(&format!(
        "server-cert={cert}; server-key={key}; ca-cert={junk_ca}; client-auth-type=REQUIREANDVERIFY"
    ));
    assert!(err.contains("junk.crt") && err.contains("ca-cert"), "{err}");

    let err = refused(&format!(
        "server-cert={cert}; server-key={key}; client-auth-type=REQUIREANY; ca-cert={ca}"
    ));
    assert!(err.contains("REQUIREANY"), "{err}");
    let err = refused(&format!("server-cert={cert}"));
    assert!(err.contains("server-key"), "{err}");
}
