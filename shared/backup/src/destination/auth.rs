//! How a destination's requests are signed: the request's keys, else the documented
//! environment variables, else anonymous when asked for; partial or contradictory credentials
//! are refused with a message that names what is missing and never shows a value.

use std::fmt;
use std::path::Path;

use super::{Credentials, Destination, DestinationError, Target};

/// How requests will be authenticated, resolved from the request and the environment.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Auth {
    /// SigV4 with these keys.
    Keys {
        access_key: String,
        secret_key: String,
        session_token: Option<String>,
    },
    /// Unsigned requests.
    Anonymous,
    /// A Google service-account JSON file.
    GcsFile(String),
    /// The GCS emulator at this endpoint, unsigned.
    GcsEmulator(String),
    /// Local disk: nothing to sign.
    None,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the kind: keys and file paths stay out of logs and panics.
        f.write_str(match self {
            Auth::Keys { .. } => "Auth::Keys",
            Auth::Anonymous => "Auth::Anonymous",
            Auth::GcsFile(_) => "Auth::GcsFile",
            Auth::GcsEmulator(_) => "Auth::GcsEmulator",
            Auth::None => "Auth::None",
        })
    }
}

impl Destination {
    pub(super) fn resolve_auth(
        &self,
        creds: &Credentials,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Auth, DestinationError> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let cred_err = |m: &str| Err(DestinationError::Credentials(m.to_string()));
        match &self.target {
            Target::File { .. } => {
                if creds.has_keys() {
                    return cred_err(
                        "file destinations take no accessKey, secretKey or sessionToken",
                    );
                }
                Ok(Auth::None)
            }
            Target::Gcs { .. } => {
                if creds.has_keys() {
                    return cred_err(
                        "gs:// destinations take credentials from GOOGLE_APPLICATION_CREDENTIALS, not accessKey/secretKey",
                    );
                }
                if let Some(host) = env("STORAGE_EMULATOR_HOST") {
                    let endpoint = if host.contains("://") {
                        host
                    } else {
                        format!("http://{host}")
                    };
                    return Ok(Auth::GcsEmulator(
                        endpoint.trim_end_matches('/').to_string(),
                    ));
                }
                if creds.anonymous {
                    return Ok(Auth::Anonymous);
                }
                match env("GOOGLE_APPLICATION_CREDENTIALS") {
                    Some(path) if Path::new(&path).is_file() => Ok(Auth::GcsFile(path)),
                    Some(_) => cred_err(
                        "GOOGLE_APPLICATION_CREDENTIALS does not name a readable file: point it at a service-account JSON key",
                    ),
                    None => cred_err(
                        "gs:// destinations need GOOGLE_APPLICATION_CREDENTIALS (a service-account JSON key file), or anonymous: true for a public bucket",
                    ),
                }
            }
            Target::S3 { minio, .. } => {
                if creds.has_keys() {
                    if creds.anonymous {
                        return cred_err(
                            "anonymous access takes no accessKey, secretKey or sessionToken",
                        );
                    }
                    if creds.access_key.is_empty() || creds.secret_key.is_empty() {
                        return cred_err(
                            "accessKey and secretKey go together: give both, or neither to use the environment",
                        );
                    }
                    return Ok(Auth::Keys {
                        access_key: creds.access_key.clone(),
                        secret_key: creds.secret_key.clone(),
                        session_token: creds.session_token.clone().filter(|t| !t.is_empty()),
                    });
                }
                if creds.anonymous {
                    return Ok(Auth::Anonymous);
                }
                let (access, secret, token, names) = if *minio {
                    (
                        env("MINIO_ACCESS_KEY"),
                        env("MINIO_SECRET_KEY"),
                        None,
                        ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"),
                    )
                } else {
                    (
                        env("AWS_ACCESS_KEY_ID").or_else(|| env("AWS_ACCESS_KEY")),
                        env("AWS_SECRET_ACCESS_KEY").or_else(|| env("AWS_SECRET_KEY")),
                        env("AWS_SESSION_TOKEN"),
                        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                    )
                };
                match (access, secret) {
                    (Some(access_key), Some(secret_key)) => Ok(Auth::Keys {
                        access_key,
                        secret_key,
                        session_token: token,
                    }),
                    (Some(_), None) => Err(DestinationError::Credentials(format!(
                        "{} is set but {} is not: set both",
                        names.0, names.1
                    ))),
                    (None, Some(_)) => Err(DestinationError::Credentials(format!(
                        "{} is set but {} is not: set both",
                        names.1, names.0
                    ))),
                    (None, None) => Err(DestinationError::Credentials(format!(
                        "no credentials for {}: pass accessKey and secretKey, set {} and {}, or use anonymous: true for a public bucket",
                        self, names.0, names.1
                    ))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_env::{env_of, no_env};
    use super::*;

    fn keys(auth: Auth) -> (String, String, Option<String>) {
        match auth {
            Auth::Keys {
                access_key,
                secret_key,
                session_token,
            } => (access_key, secret_key, session_token),
            _ => panic!("expected keys"),
        }
    }

    #[test]
    fn s3_credential_precedence() {
        let d = Destination::parse("s3://s3.amazonaws.com/bucket").unwrap();
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "env-id"),
            ("AWS_ACCESS_KEY", "env-id-old"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SECRET_KEY", "env-secret-old"),
            ("AWS_SESSION_TOKEN", "env-token"),
            ("MINIO_ACCESS_KEY", "minio-id"),
            ("MINIO_SECRET_KEY", "minio-secret"),
        ]);
        // The request's keys win, and do not mix with the environment's token.
        let req = Credentials::keys("req-id", "req-secret");
        assert_eq!(
            keys(d.resolve_auth(&req, &env).unwrap()),
            ("req-id".into(), "req-secret".into(), None)
        );
        let with_token = Credentials {
            session_token: Some("req-token".into()),
            ..req.clone()
        };
        assert_eq!(
            keys(d.resolve_auth(&with_token, &env).unwrap()).2,
            Some("req-token".into())
        );
        // Then the AWS variables, the long names first.
        assert_eq!(
            keys(d.resolve_auth(&Credentials::default(), &env).unwrap()),
            (
                "env-id".into(),
                "env-secret".into(),
                Some("env-token".into())
            )
        );
        let old = env_of(&[
            ("AWS_ACCESS_KEY", "env-id-old"),
            ("AWS_SECRET_KEY", "env-secret-old"),
            ("MINIO_ACCESS_KEY", "minio-id"),
            ("MINIO_SECRET_KEY", "minio-secret"),
        ]);
        assert_eq!(
            keys(d.resolve_auth(&Credentials::default(), &old).unwrap()),
            ("env-id-old".into(), "env-secret-old".into(), None)
        );
        // MinIO's variables are not AWS's.
        let minio_only = env_of(&[("MINIO_ACCESS_KEY", "m"), ("MINIO_SECRET_KEY", "s")]);
        let err = d
            .resolve_auth(&Credentials::default(), &minio_only)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no credentials for s3://s3.amazonaws.com/bucket"),
            "{err}"
        );
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        // Anonymous: unsigned, even with keys in the environment.
        assert!(d.resolve_auth(&Credentials::anonymous(), &env).unwrap() == Auth::Anonymous);
        // Empty variables count as unset.
        let empty = env_of(&[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")]);
        assert!(d.resolve_auth(&Credentials::default(), &empty).is_err());
    }

    #[test]
    fn minio_credential_precedence() {
        let d = Destination::parse("minio://minio:9000/bucket").unwrap();
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "aws-id"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("MINIO_ACCESS_KEY", "minio-id"),
            ("MINIO_SECRET_KEY", "minio-secret"),
        ]);
        assert_eq!(
            keys(d.resolve_auth(&Credentials::keys("a", "b"), &env).unwrap()),
            ("a".into(), "b".into(), None)
        );
        assert_eq!(
            keys(d.resolve_auth(&Credentials::default(), &env).unwrap()),
            ("minio-id".into(), "minio-secret".into(), None)
        );
        let aws_only = env_of(&[("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "y")]);
        let err = d
            .resolve_auth(&Credentials::default(), &aws_only)
            .unwrap_err()
            .to_string();
        assert!(err.contains("MINIO_ACCESS_KEY"), "{err}");
    }

    #[test]
    fn partial_or_contradictory_credentials_are_refused() {
        let d = Destination::parse("s3://h.com/bucket").unwrap();
        let cases: &[(Credentials, &str)] = &[
            (
                Credentials::keys("id", ""),
                "accessKey and secretKey go together",
            ),
            (
                Credentials::keys("", "secret"),
                "accessKey and secretKey go together",
            ),
            (
                Credentials {
                    session_token: Some("t".into()),
                    ..Credentials::default()
                },
                "accessKey and secretKey go together",
            ),
            (
                Credentials {
                    anonymous: true,
                    ..Credentials::keys("id", "secret")
                },
                "anonymous access takes no accessKey",
            ),
        ];
        for (creds, want) in cases {
            let err = d.resolve_auth(creds, &no_env).unwrap_err().to_string();
            assert!(err.contains(want), "{creds:?}: {err}");
        }
        let half_env = env_of(&[("AWS_ACCESS_KEY_ID", "id")]);
        let err = d
            .resolve_auth(&Credentials::default(), &half_env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both"
        );
        let f = Destination::parse("/tmp/x").unwrap();
        assert!(
            f.resolve_auth(&Credentials::keys("a", "b"), &no_env)
                .is_err()
        );
        assert!(f.resolve_auth(&Credentials::anonymous(), &no_env).unwrap() == Auth::None);
    }

    #[test]
    fn gcs_credentials() {
        let d = Destination::parse("gs://bucket/dir").unwrap();
        let err = d
            .resolve_auth(&Credentials::keys("a", "b"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gs:// destinations take credentials from GOOGLE_APPLICATION_CREDENTIALS"),
            "{err}"
        );
        let err = d
            .resolve_auth(&Credentials::default(), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("need GOOGLE_APPLICATION_CREDENTIALS"), "{err}");
        let missing = env_of(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]);
        assert!(d.resolve_auth(&Credentials::default(), &missing).is_err());

        let key = tempfile::NamedTempFile::new().unwrap();
        let path = key.path().to_str().unwrap().to_string();
        let with_file = env_of(&[("GOOGLE_APPLICATION_CREDENTIALS", &path)]);
        assert!(
            d.resolve_auth(&Credentials::default(), &with_file).unwrap()
                == Auth::GcsFile(path.clone())
        );

        // The emulator needs no credentials and wins over a key file.
        let emulator = env_of(&[
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent"),
        ]);
        assert!(
            d.resolve_auth(&Credentials::default(), &emulator).unwrap()
                == Auth::GcsEmulator("http://127.0.0.1:4443".into())
        );
        let emulator = env_of(&[("STORAGE_EMULATOR_HOST", "http://localhost:4443/")]);
        assert!(
            d.resolve_auth(&Credentials::default(), &emulator).unwrap()
                == Auth::GcsEmulator("http://localhost:4443".into())
        );
        assert!(d.resolve_auth(&Credentials::anonymous(), &no_env).unwrap() == Auth::Anonymous);
    }
}
