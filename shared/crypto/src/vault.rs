//! The encryption key from HashiCorp Vault, as Dgraph's `--vault` superflag gets it: log in with
//! AppRole (role-id and secret-id read from files), then read one field of a KV v2 secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use crate::{EncryptionKey, KeyError};

/// How long each request to Vault may take before the key fetch fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How the key is stored in the Vault field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaultFormat {
    /// Standard base64 of the key bytes (Dgraph's default).
    #[default]
    Base64,
    /// The string's own bytes are the key.
    Raw,
}

impl VaultFormat {
    /// Parses Dgraph's `format` value: `base64` or `raw`.
    pub fn parse(s: &str) -> Result<VaultFormat, KeyError> {
        match s {
            "base64" => Ok(VaultFormat::Base64),
            "raw" => Ok(VaultFormat::Raw),
            other => Err(KeyError::UnknownVaultFormat(other.to_owned())),
        }
    }
}

/// Where and how to fetch the key; the defaults are Dgraph's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// Vault's address, e.g. `http://localhost:8200`.
    pub addr: String,
    /// The file holding the AppRole role-id.
    pub role_id_file: PathBuf,
    /// The file holding the AppRole secret-id (only its owner may read it).
    pub secret_id_file: PathBuf,
    /// The KV v2 path of the secret, including the mount's `data/` segment.
    pub path: String,
    /// The field of the secret holding the key.
    pub field: String,
    /// How the field's value encodes the key.
    pub format: VaultFormat,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            addr: "http://localhost:8200".to_owned(),
            role_id_file: PathBuf::new(),
            secret_id_file: PathBuf::new(),
            path: "secret/data/dgraph".to_owned(),
            field: "enc_key".to_owned(),
            format: VaultFormat::Base64,
        }
    }
}

impl VaultConfig {
    /// Parses Dgraph's `--vault` superflag: `addr=…; role-id-file=…; secret-id-file=…;
    /// path=…; field=…; format=base64|raw` (`enc-field` and `enc-format`, Dgraph's later names,
    /// are taken too). Unset keys keep Dgraph's defaults; both id files are required.
    pub fn parse_superflag(text: &str) -> Result<VaultConfig, KeyError> {
        let mut cfg = VaultConfig::default();
        let bad = |m: String| KeyError::NotConfigured(format!("--vault: {m}"));
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .map(|(n, v)| (n.trim(), v.trim()))
                .ok_or_else(|| bad(format!("{part:?} is not name=value")))?;
            match name {
                "addr" => cfg.addr = value.to_owned(),
                "role-id-file" => cfg.role_id_file = value.into(),
                "secret-id-file" => cfg.secret_id_file = value.into(),
                "path" => cfg.path = value.to_owned(),
                "field" | "enc-field" => cfg.field = value.to_owned(),
                "format" | "enc-format" => cfg.format = VaultFormat::parse(value)?,
                other => {
                    return Err(bad(format!(
                        "unknown setting {other:?}: use addr, role-id-file, secret-id-file, path, field, format"
                    )));
                }
            }
        }
        if cfg.role_id_file.as_os_str().is_empty() || cfg.secret_id_file.as_os_str().is_empty() {
            return Err(bad(
                "role-id-file and secret-id-file are required (AppRole login)".to_owned(),
            ));
        }
        Ok(cfg)
    }
}

/// Logs in to Vault with AppRole and reads the key from the configured field.
///
/// Errors say which step failed; none carries the token, the secret-id or the key.
pub async fn fetch_key(cfg: &VaultConfig) -> Result<EncryptionKey, KeyError> {
    let role_id = read_id(&cfg.role_id_file, "vault role-id file", false)?;
    let secret_id = read_id(&cfg.secret_id_file, "vault secret-id file", true)?;
    let addr = cfg.addr.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| unreachable(addr, &e))?;

    let login_what = "the approle login";
    let login = client
        .post(format!("{addr}/v1/auth/approle/login"))
        .json(&serde_json::json!({ "role_id": role_id, "secret_id": secret_id }))
        .send()
        .await
        .map_err(|e| unreachable(addr, &e))?;
    let body = answer(
        addr,
        login_what,
        login,
        "check the role-id and secret-id files",
    )
    .await?;
    let token = body
        .pointer("/auth/client_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| KeyError::VaultResponse {
            addr: addr.to_owned(),
            what: login_what.to_owned(),
            reason: "no auth.client_token".to_owned(),
        })?
        .to_owned();

    let path = cfg.path.trim_matches('/');
    let read_what = format!("to read {path}");
    let read = client
        .get(format!("{addr}/v1/{path}"))
        .header("X-Vault-Token", &token)
        .send()
        .await
        .map_err(|e| unreachable(addr, &e))?;
    let body = answer(
        addr,
        &read_what,
        read,
        "check the path and the role's policy",
    )
    .await?;
    drop(token);

    // KV v2 nests the fields under data.data; KV v1 puts them under data (Dgraph reads both).
    let fields = body
        .pointer("/data/data")
        .filter(|d| d.is_object())
        .or_else(|| body.get("data").filter(|d| d.is_object()))
        .ok_or_else(|| KeyError::VaultResponse {
            addr: addr.to_owned(),
            what: read_what.clone(),
            reason: "no data object".to_owned(),
        })?;
    let bad = |reason: String| KeyError::VaultBadValue {
        field: cfg.field.clone(),
        path: path.to_owned(),
        reason,
    };
    let value = fields
        .get(&cfg.field)
        .ok_or_else(|| KeyError::VaultFieldMissing {
            field: cfg.field.clone(),
            path: path.to_owned(),
        })?
        .as_str()
        .ok_or_else(|| bad("is not a string".to_owned()))?;
    let bytes = match cfg.format {
        VaultFormat::Base64 => base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| bad(format!("is not valid base64 ({e}): is format raw?")))?,
        VaultFormat::Raw => value.as_bytes().to_vec(),
    };
    EncryptionKey::sized(bytes, || format!("vault field {:?} at {path}", cfg.field))
}

/// Reads an AppRole id from its file, trimmed. `private`: refuse files group or others can read.
fn read_id(path: &Path, what: &'static str, private: bool) -> Result<String, KeyError> {
    if path.as_os_str().is_empty() {
        return Err(KeyError::NotConfigured(format!(
            "{what} is not set: the vault key source needs it"
        )));
    }
    let bytes = if private {
        crate::key::read_private(path)?
    } else {
        std::fs::read(path).map_err(|e| KeyError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?
    };
    let text = String::from_utf8(bytes).map_err(|_| KeyError::Unreadable {
        path: path.display().to_string(),
        reason: "not UTF-8 text".to_owned(),
    })?;
    let id = text.trim();
    if id.is_empty() {
        return Err(KeyError::EmptyFile {
            what,
            path: path.display().to_string(),
        });
    }
    Ok(id.to_owned())
}

fn unreachable(addr: &str, e: &reqwest::Error) -> KeyError {
    // The request's URL holds nothing secret, but the sources carry the useful part
    // ("connection refused", "operation timed out").
    let mut reason = if e.is_timeout() {
        format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    KeyError::VaultUnreachable {
        addr: addr.to_owned(),
        reason,
    }
}

/// The JSON of a successful answer, or the refusal with Vault's own error texts (which name
/// the problem, never the credentials).
async fn answer(
    addr: &str,
    what: &str,
    resp: reqwest::Response,
    hint: &str,
) -> Result<serde_json::Value, KeyError> {
    let status = resp.status();
    let text = resp.text().await.map_err(|e| unreachable(addr, &e))?;
    if !status.is_success() {
        let errors: Vec<String> = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("errors")?.as_array().map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str())
                        .map(|e| e.chars().take(200).collect())
                        .collect()
                })
            })
            .unwrap_or_default();
        let detail = if errors.is_empty() {
            format!(": {hint}")
        } else {
            format!(": {}; {hint}", errors.join("; "))
        };
        return Err(KeyError::VaultRefused {
            addr: addr.to_owned(),
            what: what.to_owned(),
            status: status.as_u16(),
            detail,
        });
    }
    serde_json::from_str(&text).map_err(|e| KeyError::VaultResponse {
        addr: addr.to_owned(),
        what: what.to_owned(),
        reason: format!("not JSON ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_dgraphs() {
        let c = VaultConfig::default();
        assert_eq!(c.addr, "http://localhost:8200");
        assert_eq!(c.path, "secret/data/dgraph");
        assert_eq!(c.field, "enc_key");
        assert_eq!(c.format, VaultFormat::Base64);
    }

    #[test]
    fn format_parses_two_words_only() {
        assert_eq!(VaultFormat::parse("base64").unwrap(), VaultFormat::Base64);
        assert_eq!(VaultFormat::parse("raw").unwrap(), VaultFormat::Raw);
        assert_eq!(
            VaultFormat::parse("hex").unwrap_err().to_string(),
            "vault format \"hex\" is not known: use base64 or raw"
        );
        assert!(VaultFormat::parse("Base64").is_err());
    }

    #[test]
    fn the_superflag_takes_dgraphs_settings_and_names_what_is_wrong() {
        let c = VaultConfig::parse_superflag(
            "addr=http://vault:8200; role-id-file=/r; secret-id-file=/s; path=secret/data/x; enc-field=k; enc-format=raw",
        )
        .unwrap();
        assert_eq!(c.addr, "http://vault:8200");
        assert_eq!(c.role_id_file, PathBuf::from("/r"));
        assert_eq!(c.secret_id_file, PathBuf::from("/s"));
        assert_eq!((c.path.as_str(), c.field.as_str()), ("secret/data/x", "k"));
        assert_eq!(c.format, VaultFormat::Raw);
        let d = VaultConfig::parse_superflag("role-id-file=/r;secret-id-file=/s;").unwrap();
        assert_eq!(d.path, "secret/data/dgraph");
        for (flag, says) in [
            ("role-id-file=/r", "required"),
            (
                "role-id-file=/r; secret-id-file=/s; colour=red",
                "unknown setting \"colour\"",
            ),
            ("role-id-file=/r; secret-id-file", "is not name=value"),
            (
                "role-id-file=/r; secret-id-file=/s; format=hex",
                "\"hex\" is not known",
            ),
        ] {
            let err = VaultConfig::parse_superflag(flag).unwrap_err().to_string();
            assert!(err.contains(says), "{flag}: {err}");
        }
    }
}
