//! TLS on the alpha's public gRPC port (`api.Dgraph`, 9080) and on the clients that dial it,
//! configured with Dgraph's `--tls` superflag: `"name=value; name=value"`.
//!
//! - [`ServerTls`] is the alpha's side: `server-cert`, `server-key`, and with `ca-cert` the
//!   client certificates it verifies (`client-auth-type` VERIFYIFGIVEN, Dgraph's default, or
//!   REQUIREANDVERIFY).
//! - [`ClientTls`] is a client's side (the gateway's, auth's and the backup worker's
//!   `--alpha_tls`, the `live` loader's `--tls`): `ca-cert` to trust, `server-name` to expect,
//!   `client-cert` and `client-key` to present.
//!
//! Parsing checks only the syntax, so clap refuses a bad superflag at once; `load` reads the
//! files when the process starts and refuses, naming the file, one that is missing, a PEM that
//! does not parse, a key that is not its certificate's, or a private key file that others may
//! read (the same check as every secret file, `lodestar_crypto::private_file`). Internal ports
//! stay plain: the cluster credential guards them. A process holds at most one client
//! configuration for the alphas ([`install_alpha_client`]), which `lodestar-client`'s alpha
//! channels pick up, as they pick up the cluster credential.

use crate::ServiceError;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Which client certificates the server asks for, as Dgraph's `client-auth-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client may present a certificate; one it presents must be signed by `ca-cert`.
    VerifyIfGiven,
    /// Every client must present a certificate signed by `ca-cert`.
    RequireAndVerify,
}

/// The alpha's `--tls`: its certificate and key, and how it checks clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The CA client certificates must be signed by; without it no client certificate is
    /// asked for.
    pub ca_cert: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

/// A client's TLS toward the alpha's public port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA the alpha's certificate must be signed by.
    pub ca_cert: PathBuf,
    /// The name the alpha's certificate must carry, when not the host dialled.
    pub server_name: Option<String>,
    /// The certificate and key presented to an alpha that asks for one.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// A path setting; an empty value counts as unset (Dgraph's defaults are empty strings).
fn path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

/// Dgraph's `internal-port` and `use-system-ca` are taken when they ask for what this suite does
/// anyway; otherwise they are refused with the reason.
fn dgraph_switch(flag: &str, name: &str, value: &str, supported: bool) -> Result<(), String> {
    match (name, value.parse::<bool>()) {
        (_, Ok(v)) if v == supported => Ok(()),
        ("internal-port", Ok(_)) => Err(format!(
            "{flag}: internal-port=true is not supported: internal ports stay plain, guarded by the cluster secret (--cluster_secret_file)"
        )),
        ("use-system-ca", Ok(_)) => Err(format!(
            "{flag}: use-system-ca=true is not supported: give the CA that signed the alpha's certificate as ca-cert"
        )),
        _ => Err(format!("{flag}: {name}={value:?} is not true or false")),
    }
}

impl ServerTls {
    /// Parses the alpha's `--tls` superflag.
    pub fn parse(text: &str) -> Result<ServerTls, String> {
        const FLAG: &str = "--tls";
        let mut cert = None;
        let mut key = None;
        let mut ca = None;
        let mut auth = None;
        for (name, value) in crate::settings::superflag(
            FLAG,
            text,
            &[
                "server-cert",
                "server-key",
                "ca-cert",
                "client-auth-type",
                "internal-port",
                "use-system-ca",
            ],
        )? {
            match name {
                "server-cert" => cert = path(value),
                "server-key" => key = path(value),
                "ca-cert" => ca = path(value),
                "client-auth-type" if value.is_empty() => {}
                "client-auth-type" => auth = Some(parse_client_auth(value)?),
                "internal-port" => dgraph_switch(FLAG, name, value, false)?,
                // A server trusts no system roots either way: taken, meaning nothing here.
                _ => {
                    value
                        .parse::<bool>()
                        .map_err(|_| format!("{FLAG}: {name}={value:?} is not true or false"))?;
                }
            }
        }
        let (Some(server_cert), Some(server_key)) = (cert, key) else {
            return Err(format!(
                "{FLAG}: give server-cert and server-key (PEM files), e.g. \"server-cert=node.crt; server-key=node.key\""
            ));
        };
        let client_auth = auth.unwrap_or(ClientAuth::VerifyIfGiven);
        if client_auth == ClientAuth::RequireAndVerify && ca.is_none() {
            return Err(format!(
                "{FLAG}: client-auth-type=REQUIREANDVERIFY needs ca-cert, the CA client certificates are signed by"
            ));
        }
        Ok(ServerTls {
            server_cert,
            server_key,
            ca_cert: ca,
            client_auth,
        })
    }

    /// Reads and checks the files, and builds the server's TLS configuration.
    pub fn load(&self) -> Result<ServerTlsConfig, ServiceError> {
        let (cert_pem, certs) = read_certs(&self.server_cert, "server-cert")?;
        let (key_pem, key) = read_key(&self.server_key, "server-key")?;
        check_pair(certs, key, &self.server_cert, &self.server_key)?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem));
        if let Some(ca) = &self.ca_cert {
            let (ca_pem, ca_certs) = read_certs(ca, "ca-cert")?;
            let mut roots = rustls::RootCertStore::empty();
            for c in ca_certs {
                roots.add(c).map_err(|e| {
                    ServiceError::invalid(format!(
                        "--tls: ca-cert {} is not a usable CA certificate: {e}",
                        ca.display()
                    ))
                })?;
            }
            rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(provider()),
            )
            .build()
            .map_err(|e| {
                ServiceError::invalid(format!(
                    "--tls: ca-cert {} cannot verify clients: {e}",
                    ca.display()
                ))
            })?;
            config = config
                .client_ca_root(Certificate::from_pem(ca_pem))
                .client_auth_optional(self.client_auth == ClientAuth::VerifyIfGiven);
        }
        Ok(config.timeout(HANDSHAKE_TIMEOUT))
    }
}

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn parse_client_auth(value: &str) -> Result<ClientAuth, String> {
    match value.to_ascii_uppercase().as_str() {
        "VERIFYIFGIVEN" => Ok(ClientAuth::VerifyIfGiven),
        "REQUIREANDVERIFY" => Ok(ClientAuth::RequireAndVerify),
        "REQUEST" | "REQUIREANY" => Err(format!(
            "--tls: client-auth-type={value} would take client certificates nobody verifies, which this alpha does not do: use VERIFYIFGIVEN or REQUIREANDVERIFY with ca-cert"
        )),
        _ => Err(format!(
            "--tls: client-auth-type={value:?} is not one of VERIFYIFGIVEN, REQUIREANDVERIFY"
        )),
    }
}

impl ClientTls {
    /// Parses a client's superflag (`flag` names it in errors: `--alpha_tls`, `--tls`).
    pub fn parse(flag: &str, text: &str) -> Result<ClientTls, String> {
        let mut ca = None;
        let mut server_name = None;
        let mut client_cert = None;
        let mut client_key = None;
        for (name, value) in crate::settings::superflag(
            flag,
            text,
            &[
                "ca-cert",
                "server-name",
                "client-cert",
                "client-key",
                "use-system-ca",
                "internal-port",
            ],
        )? {
            match name {
                "ca-cert" => ca = path(value),
                "server-name" => server_name = (!value.is_empty()).then(|| value.to_owned()),
                "client-cert" => client_cert = path(value),
                "client-key" => client_key = path(value),
                _ => dgraph_switch(flag, name, value, false)?,
            }
        }
        let Some(ca_cert) = ca else {
            return Err(format!(
                "{flag}: give ca-cert, the CA that signed the alpha's certificate (PEM)"
            ));
        };
        if client_cert.is_some() != client_key.is_some() {
            return Err(format!(
                "{flag}: give client-cert and client-key together (or neither)"
            ));
        }
        Ok(ClientTls {
            ca_cert,
            server_name,
            client_cert,
            client_key,
        })
    }

    /// The clap value parser of `--alpha_tls`.
    pub fn parse_alpha_tls(text: &str) -> Result<ClientTls, String> {
        Self::parse("--alpha_tls", text)
    }

    /// Reads and checks the files, and builds the client's TLS configuration.
    pub fn load(&self) -> Result<ClientTlsConfig, ServiceError> {
        let (ca_pem, _) = read_certs(&self.ca_cert, "ca-cert")?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let (cert_pem, certs) = read_certs(cert, "client-cert")?;
            let (key_pem, parsed) = read_key(key, "client-key")?;
            check_pair(certs, parsed, cert, key)?;
            config = config.identity(Identity::from_pem(cert_pem, key_pem));
        }
        Ok(config)
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A PEM file of certificates, as bytes and parsed; refused when unreadable or holding none.
fn read_certs(
    path: &Path,
    what: &str,
) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), ServiceError> {
    let pem = std::fs::read(path).map_err(|e| {
        ServiceError::invalid(format!(
            "TLS {what} {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ServiceError::invalid(format!(
                "TLS {what} {}: not a PEM certificate: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServiceError::invalid(format!(
            "TLS {what} {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok((pem, certs))
}

/// A PEM private key file, refused when others may read it or it holds no key.
fn read_key(path: &Path, what: &str) -> Result<(Vec<u8>, PrivateKeyDer<'static>), ServiceError> {
    use lodestar_crypto::private_file::{PrivateFileError, read_private};
    let pem = read_private(path, 0o007).map_err(|e| match e {
        PrivateFileError::Unreadable { path, reason } => {
            ServiceError::invalid(format!("TLS {what} {path}: cannot read it: {reason}"))
        }
        PrivateFileError::TooOpen { path, mode } => ServiceError::invalid(format!(
            "TLS {what} {path} is readable by others (mode {mode:o}): chmod 600 it"
        )),
    })?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        ServiceError::invalid(format!(
            "TLS {what} {}: holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1; not password-protected): {e}",
            path.display()
        ))
    })?;
    Ok((pem, key))
}

/// Refuses a key that is not the certificate's.
fn check_pair(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), ServiceError> {
    rustls::sign::CertifiedKey::from_der(certs, key, &provider())
        .map(|_| ())
        .map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => "the key is not the certificate's".to_owned(),
                other => other.to_string(),
            };
            ServiceError::invalid(format!(
                "TLS key {} and certificate {} do not go together: {why}",
                key_path.display(),
                cert_path.display()
            ))
        })
}

static ALPHA_CLIENT: OnceLock<ClientTlsConfig> = OnceLock::new();

/// Loads `tls` (when given) as this process's TLS toward the alphas' public port; the alpha
/// channels of `lodestar-client` use it from then on. Call once, at start.
pub fn install_alpha_client(tls: Option<&ClientTls>) -> Result<(), ServiceError> {
    if let Some(tls) = tls {
        let config = tls.load()?;
        let _ = ALPHA_CLIENT.set(config);
    }
    Ok(())
}

/// The TLS toward the alphas' public port this process was given, if any.
pub fn alpha_client() -> Option<&'static ClientTlsConfig> {
    ALPHA_CLIENT.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_superflag_takes_dgraphs_names() {
        let t = ServerTls::parse(
            " server-cert=/t/node.crt; server-key=/t/node.key;ca-cert=/t/ca.crt; client-auth-type=requireandverify; ",
        )
        .unwrap();
        assert_eq!(t.server_cert, PathBuf::from("/t/node.crt"));
        assert_eq!(t.server_key, PathBuf::from("/t/node.key"));
        assert_eq!(t.ca_cert, Some(PathBuf::from("/t/ca.crt")));
        assert_eq!(t.client_auth, ClientAuth::RequireAndVerify);
        let d = ServerTls::parse(
            "server-cert=a; server-key=b; ca-cert=; client-auth-type=; internal-port=false; use-system-ca=true",
        )
        .unwrap();
        assert_eq!(d.ca_cert, None);
        assert_eq!(d.client_auth, ClientAuth::VerifyIfGiven);
    }

    #[test]
    fn the_server_superflag_refuses_what_it_cannot_do() {
        for (flag, expect) in [
            ("server-cert=a", "give server-cert and server-key"),
            ("server-key=b", "give server-cert and server-key"),
            (
                "server-cert=a; server-key=b; bogus=1",
                "unknown setting \"bogus\"",
            ),
            ("server-cert=a; server-key=b; server-cert=c", "given twice"),
            ("server-cert a; server-key=b", "not name=value"),
            (
                "server-cert=a; server-key=b; client-auth-type=REQUIREANDVERIFY",
                "needs ca-cert",
            ),
            (
                "server-cert=a; server-key=b; ca-cert=c; client-auth-type=REQUIREANY",
                "nobody verifies",
            ),
            (
                "server-cert=a; server-key=b; client-auth-type=SOMETIMES",
                "not one of",
            ),
            (
                "server-cert=a; server-key=b; internal-port=true",
                "internal ports stay plain",
            ),
            (
                "server-cert=a; server-key=b; internal-port=yes",
                "not true or false",
            ),
        ] {
            let e = ServerTls::parse(flag).unwrap_err();
            assert!(e.contains(expect), "{flag}: {e}");
            assert!(e.starts_with("--tls: "), "{flag}: {e}");
        }
    }

    #[test]
    fn the_client_superflag_takes_dgraphs_names() {
        let t = ClientTls::parse(
            "--tls",
            "ca-cert=/t/ca.crt; server-name=alpha1; client-cert=/t/c.crt; client-key=/t/c.key",
        )
        .unwrap();
        assert_eq!(t.ca_cert, PathBuf::from("/t/ca.crt"));
        assert_eq!(t.server_name.as_deref(), Some("alpha1"));
        assert_eq!(t.client_cert, Some(PathBuf::from("/t/c.crt")));
        assert_eq!(t.client_key, Some(PathBuf::from("/t/c.key")));
        let bare = ClientTls::parse_alpha_tls("ca-cert=ca.pem; use-system-ca=false").unwrap();
        assert_eq!(bare.server_name, None);
        for (flag, expect) in [
            ("server-name=x", "give ca-cert"),
            ("ca-cert=a; client-cert=c", "together"),
            ("ca-cert=a; client-key=k", "together"),
            (
                "ca-cert=a; use-system-ca=true",
                "use-system-ca=true is not supported",
            ),
            ("ca-cert=a; server-cert=b", "unknown setting"),
        ] {
            let e = ClientTls::parse_alpha_tls(flag).unwrap_err();
            assert!(e.contains(expect), "{flag}: {e}");
            assert!(e.starts_with("--alpha_tls: "), "{flag}: {e}");
        }
    }

    #[test]
    fn loading_names_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = ServerTls::parse(&format!(
            "server-cert={0}/none.crt; server-key={0}/none.key",
            dir.path().display()
        ))
        .unwrap();
        let e = t.load().unwrap_err().to_string();
        assert!(e.contains("server-cert") && e.contains("none.crt"), "{e}");
        std::fs::write(dir.path().join("junk.crt"), "not a certificate").unwrap();
        let t = ServerTls {
            server_cert: dir.path().join("junk.crt"),
            ..t
        };
        let e = t.load().unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let c = ClientTls::parse_alpha_tls(&format!("ca-cert={}/none.crt", dir.path().display()))
            .unwrap();
        let e = c.load().unwrap_err().to_string();
        assert!(e.contains("ca-cert") && e.contains("cannot read"), "{e}");
    }
}
