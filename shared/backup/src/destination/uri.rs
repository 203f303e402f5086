//! Reads a destination URI into a [`Destination`]: Dgraph's forms (`s3://host/bucket/path`,
//! `s3:///bucket/path`, `minio://host:port/bucket/path`, `file:///path`, a plain path) and
//! `gs://bucket/path`.
//!
//! The generic syntax is split here rather than by `url::Url::parse`, on purpose: a WHATWG parser
//! resolves `..` and `%2e%2e` segments away, keeps malformed percent-escapes, and reads
//! `s3:bucket` as an opaque path, where a backup location must refuse each of them before any
//! work is done. The `url` crate still checks and normalizes host names.

use std::path::{Component, Path, PathBuf};

use super::{AWS_DEFAULT_HOST, DEFAULT_REGION, Destination, DestinationError, Target};

/// See [`Destination::parse`].
pub(super) fn parse(uri: &str) -> Result<Destination, DestinationError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(DestinationError::Empty);
    }
    let Some((scheme, rest)) = split_scheme(uri)? else {
        return parse_plain_path(uri);
    };
    match scheme.as_str() {
        "s3" => parse_s3(rest, false),
        "minio" => parse_s3(rest, true),
        "gs" => parse_gcs(rest),
        "file" => parse_file(rest),
        _ => Err(DestinationError::UnsupportedScheme(scheme)),
    }
}

/// Splits `scheme://rest`; `None` for a plain path. A known scheme without `//` is refused.
fn split_scheme(uri: &str) -> Result<Option<(String, &str)>, DestinationError> {
    if let Some((scheme, rest)) = uri.split_once("://") {
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            return Ok(Some((scheme.to_ascii_lowercase(), rest)));
        }
        if !scheme.contains('/') {
            return Err(DestinationError::Malformed(format!(
                "'{scheme}' is not a URI scheme"
            )));
        }
    }
    if let Some((scheme, _)) = uri.split_once(':') {
        let lower = scheme.to_ascii_lowercase();
        if matches!(lower.as_str(), "s3" | "minio" | "gs" | "file") {
            return Err(DestinationError::Malformed(format!(
                "'{lower}:' must be followed by '//', e.g. {lower}://..."
            )));
        }
    }
    Ok(None)
}

fn parse_plain_path(path: &str) -> Result<Destination, DestinationError> {
    let p = Path::new(path);
    let mut root = PathBuf::new();
    for component in p.components() {
        match component {
            Component::ParentDir => return Err(DestinationError::EscapesRoot(path.to_string())),
            Component::CurDir => {}
            c => root.push(c.as_os_str()),
        }
    }
    if root.as_os_str().is_empty() {
        root.push(".");
    }
    refuse_special(&root)?;
    Ok(Destination {
        target: Target::File { root, uri: false },
    })
}

/// Refuses paths in the kernel's own file systems: no backup can live there, and the store
/// layer does not expect what it finds.
fn refuse_special(root: &Path) -> Result<(), DestinationError> {
    let absolute = if root.is_absolute() {
        root.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(root)
    };
    let special = ["/proc", "/sys", "/dev"]
        .iter()
        .any(|dir| absolute.starts_with(dir));
    if special {
        return Err(DestinationError::SpecialPath(root.display().to_string()));
    }
    Ok(())
}

struct Parts<'a> {
    authority: &'a str,
    segments: Vec<String>,
    query: Vec<(String, String)>,
}

/// Splits `authority/path?query` and decodes the path segments; refuses fragments, user
/// info and `..`.
fn split_rest(rest: &str) -> Result<Parts<'_>, DestinationError> {
    if rest.contains('#') {
        return Err(DestinationError::Malformed(
            "a destination takes no '#' fragment".to_string(),
        ));
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(DestinationError::Malformed(
            "credentials do not belong in the destination URI: pass accessKey and secretKey, or set them in the environment".to_string(),
        ));
    }
    let mut segments = Vec::new();
    for raw in path.split('/') {
        let segment = percent_decode(raw)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => return Err(DestinationError::EscapesRoot(path.to_string())),
            s if s.contains('/') || s.contains('\\') || s.contains('\0') => {
                return Err(DestinationError::Malformed(format!(
                    "path segment '{raw}' decodes to a separator or NUL"
                )));
            }
            _ => segments.push(segment),
        }
    }
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(Parts {
        authority,
        segments,
        query: params,
    })
}

/// Reads the query parameters a scheme accepts; returns `secure`.
fn read_params(
    query: &[(String, String)],
    accepted: &[&str],
    supported: &'static str,
) -> Result<bool, DestinationError> {
    let unknown: Vec<String> = query
        .iter()
        .filter(|(k, _)| !accepted.contains(&k.as_str()))
        .map(|(k, _)| format!("'{k}'"))
        .collect();
    if !unknown.is_empty() {
        return Err(DestinationError::UnknownParameters {
            names: unknown,
            supported,
        });
    }
    let mut secure = None;
    for (k, v) in query {
        if k == "secure" {
            let value = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(DestinationError::Malformed(format!(
                        "secure must be true or false, not '{v}'"
                    )));
                }
            };
            if secure.replace(value).is_some() {
                return Err(DestinationError::Malformed(
                    "secure is given more than once".to_string(),
                ));
            }
        }
    }
    Ok(secure.unwrap_or(true))
}

fn percent_decode(s: &str) -> Result<String, DestinationError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(DestinationError::Malformed(format!(
                    "bad percent-escape in '{s}'"
                )));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| DestinationError::Malformed(format!("'{s}' is not valid UTF-8")))
}

/// Checks `host[:port]`; returns the host (normalized) and whether a port was given.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), DestinationError> {
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let Some((v6, tail)) = after.split_once(']') else {
            return Err(DestinationError::Malformed(format!(
                "unclosed '[' in host '{authority}'"
            )));
        };
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or_else(|| {
                DestinationError::Malformed(format!("invalid host '{authority}'"))
            })?),
        };
        (format!("[{v6}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            DestinationError::Malformed(format!("invalid port '{p}' in '{authority}'"))
        })?),
    };
    if host.is_empty() {
        if port.is_some() {
            return Err(DestinationError::Malformed(format!(
                "a port without a host in '{authority}'"
            )));
        }
        return Ok((String::new(), None));
    }
    let parsed = url::Host::parse(&host)
        .map_err(|_| DestinationError::Malformed(format!("invalid host '{host}'")))?;
    Ok((parsed.to_string(), port))
}

fn with_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

fn check_bucket(bucket: &str) -> Result<(), DestinationError> {
    let ok = bucket.len() <= 255
        && bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(DestinationError::Malformed(format!(
            "invalid bucket name '{bucket}': use letters, digits, '.', '-' and '_'"
        )))
    }
}

fn parse_s3(rest: &str, minio: bool) -> Result<Destination, DestinationError> {
    let parts = split_rest(rest)?;
    let secure = read_params(&parts.query, &["secure"], "only secure=false is supported")?;
    let (host, port) = parse_authority(parts.authority)?;
    if minio && host.is_empty() {
        return Err(DestinationError::MissingHost);
    }
    let (scheme, example) = if minio {
        ("minio", "minio://host:port/bucket/path")
    } else {
        ("s3", "s3://host/bucket/path or s3:///bucket/path")
    };
    let mut segments = parts.segments.into_iter();
    let bucket = segments
        .next()
        .ok_or(DestinationError::MissingBucket { scheme, example })?;
    check_bucket(&bucket)?;
    let prefix = segments.collect::<Vec<_>>().join("/");
    let written_host = with_port(&host, port);
    // Dgraph sends `s3:///bucket` and dot-less hosts to AWS; a dot-less host with an explicit
    // port (localhost:9000) is clearly a local server and kept.
    let dotless = !host.contains('.') && !host.starts_with('[') && port.is_none();
    let (target_host, bare_host) = if !minio && (host.is_empty() || dotless) {
        (AWS_DEFAULT_HOST.to_string(), AWS_DEFAULT_HOST)
    } else {
        (written_host.clone(), host.as_str())
    };
    let aws = !minio && is_aws_host(bare_host);
    let region = aws_region(bare_host).unwrap_or_else(|| DEFAULT_REGION.to_string());
    Ok(Destination {
        target: Target::S3 {
            minio,
            written_host,
            host: target_host,
            bucket,
            prefix,
            secure,
            region,
            aws,
        },
    })
}

fn parse_gcs(rest: &str) -> Result<Destination, DestinationError> {
    let parts = split_rest(rest)?;
    read_params(&parts.query, &[], "gs:// destinations take no parameters")?;
    if parts.authority.is_empty() {
        return Err(DestinationError::MissingBucket {
            scheme: "gs",
            example: "gs://bucket/path",
        });
    }
    let bucket = percent_decode(parts.authority)?;
    check_bucket(&bucket)?;
    Ok(Destination {
        target: Target::Gcs {
            bucket,
            prefix: parts.segments.join("/"),
        },
    })
}

fn parse_file(rest: &str) -> Result<Destination, DestinationError> {
    let parts = split_rest(rest)?;
    read_params(&parts.query, &[], "file destinations take no parameters")?;
    if !parts.authority.is_empty() && !parts.authority.eq_ignore_ascii_case("localhost") {
        return Err(DestinationError::Malformed(format!(
            "file URIs take an absolute path and no host: file:///{}{}",
            parts.authority,
            if parts.segments.is_empty() {
                ""
            } else {
                "/..."
            }
        )));
    }
    let mut root = PathBuf::from("/");
    for segment in &parts.segments {
        root.push(segment);
    }
    refuse_special(&root)?;
    Ok(Destination {
        target: Target::File { root, uri: true },
    })
}

fn is_aws_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// The region an AWS S3 host names: `s3.<r>.amazonaws.com`, `s3-<r>.amazonaws.com`,
/// `s3.dualstack.<r>.amazonaws.com`, their `.amazonaws.com.cn` forms and the FIPS GovCloud
/// hosts. `None` when the host names no region.
pub fn aws_region(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let (rest, china) = if let Some(r) = host.strip_suffix(".amazonaws.com.cn") {
        (r, true)
    } else {
        (host.strip_suffix(".amazonaws.com")?, false)
    };
    // Virtual-hosted forms (`bucket.s3.<r>...`) name the region after the `s3` label.
    let rest = if rest.starts_with("s3") {
        rest
    } else {
        &rest[rest.find(".s3")? + 1..]
    };
    let rest = &rest[2..];
    let rest = rest.strip_prefix("-fips").unwrap_or(rest);
    let rest = rest
        .strip_prefix('.')
        .or_else(|| rest.strip_prefix('-'))
        .unwrap_or(rest);
    let rest = rest.strip_prefix("dualstack.").unwrap_or(rest);
    let region = match rest {
        "" => return china.then(|| "cn-north-1".to_string()),
        "external-1" => "us-east-1",
        "accelerate" => return None,
        r if r.contains("us-gov-west") => "us-gov-west-1",
        r => r,
    };
    let plausible = region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    plausible.then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Scheme;

    /// (uri, scheme, bucket, root, endpoint, region, display)
    type FormCase = (
        &'static str,
        Scheme,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn parses_every_form() {
        let cases: &[FormCase] = &[
            (
                "s3://s3.us-west-2.amazonaws.com/bucket/dir",
                Scheme::S3,
                Some("bucket"),
                "dir",
                Some("https://s3.us-west-2.amazonaws.com"),
                Some("us-west-2"),
                "s3://s3.us-west-2.amazonaws.com/bucket/dir",
            ),
            (
                "s3:///bucket/dir/sub",
                Scheme::S3,
                Some("bucket"),
                "dir/sub",
                Some("https://s3.amazonaws.com"),
                Some("us-east-1"),
                "s3:///bucket/dir/sub",
            ),
            (
                "s3://nodots/bucket",
                Scheme::S3,
                Some("bucket"),
                "",
                Some("https://s3.amazonaws.com"),
                Some("us-east-1"),
                "s3://nodots/bucket",
            ),
            (
                "S3://localhost:9000/bucket/a//b/./c/?secure=false",
                Scheme::S3,
                Some("bucket"),
                "a/b/c",
                Some("http://localhost:9000"),
                Some("us-east-1"),
                "s3://localhost:9000/bucket/a/b/c?secure=false",
            ),
            (
                "s3://127.0.0.1:8333/backups/dgraph?secure=false",
                Scheme::S3,
                Some("backups"),
                "dgraph",
                Some("http://127.0.0.1:8333"),
                Some("us-east-1"),
                "s3://127.0.0.1:8333/backups/dgraph?secure=false",
            ),
            (
                "minio://minio.local:9000/bucket/path?secure=true",
                Scheme::Minio,
                Some("bucket"),
                "path",
                Some("https://minio.local:9000"),
                Some("us-east-1"),
                "minio://minio.local:9000/bucket/path",
            ),
            (
                "minio://[::1]:9000/bucket",
                Scheme::Minio,
                Some("bucket"),
                "",
                Some("https://[::1]:9000"),
                Some("us-east-1"),
                "minio://[::1]:9000/bucket",
            ),
            (
                "gs://my-bucket/backups/prod",
                Scheme::Gcs,
                Some("my-bucket"),
                "backups/prod",
                None,
                None,
                "gs://my-bucket/backups/prod",
            ),
            (
                "file:///var/backups/dgraph",
                Scheme::File,
                None,
                "/var/backups/dgraph",
                None,
                None,
                "file:///var/backups/dgraph",
            ),
            (
                "file://localhost/mnt/nfs%20share",
                Scheme::File,
                None,
                "/mnt/nfs share",
                None,
                None,
                "file:///mnt/nfs share",
            ),
            (
                "/mnt/nfs/backups",
                Scheme::File,
                None,
                "/mnt/nfs/backups",
                None,
                None,
                "/mnt/nfs/backups",
            ),
            (
                "./relative/dir",
                Scheme::File,
                None,
                "relative/dir",
                None,
                None,
                "relative/dir",
            ),
            (
                "backups",
                Scheme::File,
                None,
                "backups",
                None,
                None,
                "backups",
            ),
        ];
        for (uri, scheme, bucket, root, endpoint, region, display) in cases {
            let d = Destination::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(d.scheme(), *scheme, "{uri}");
            assert_eq!(d.bucket(), *bucket, "{uri}");
            assert_eq!(d.root(), *root, "{uri}");
            assert_eq!(d.endpoint().as_deref(), *endpoint, "{uri}");
            assert_eq!(d.region(), *region, "{uri}");
            assert_eq!(d.to_string(), *display, "{uri}");
            assert_eq!(d.supports_rename(), *scheme == Scheme::File, "{uri}");
            // What we display parses back to the same destination.
            assert_eq!(Destination::parse(&d.to_string()).unwrap(), d, "{uri}");
        }
    }

    #[test]
    fn refuses_bad_uris_with_clear_messages() {
        let cases: &[(&str, &str)] = &[
            ("", "empty destination"),
            ("   ", "empty destination"),
            (
                "ftp://host/dir",
                "unsupported destination scheme 'ftp': use s3://, minio://, gs://, file:// or a path",
            ),
            (
                "azure://account/container",
                "unsupported destination scheme 'azure'",
            ),
            ("s3://s3.amazonaws.com", "s3 destination has no bucket"),
            ("s3://s3.amazonaws.com/", "s3 destination has no bucket"),
            ("s3:///", "s3 destination has no bucket"),
            ("minio://host:9000", "minio destination has no bucket"),
            (
                "minio:///bucket/dir",
                "minio destinations need a host: minio://host:port/bucket/path",
            ),
            ("gs://", "gs destination has no bucket"),
            ("s3://h.com/bucket/../other", "may not contain '..'"),
            ("s3://h.com/bucket/a/%2e%2e/b", "may not contain '..'"),
            ("gs://bucket/../x", "may not contain '..'"),
            ("file:///var/../etc", "may not contain '..'"),
            ("../outside", "may not contain '..'"),
            ("/backups/../../etc", "may not contain '..'"),
            (
                "s3://h.com/bucket?secure=false&region=x&trace=true",
                "unknown destination parameter(s) 'region', 'trace'",
            ),
            (
                "gs://bucket/dir?secure=false",
                "unknown destination parameter(s) 'secure'",
            ),
            (
                "file:///tmp/x?mode=1",
                "unknown destination parameter(s) 'mode'",
            ),
            (
                "s3://h.com/bucket?secure=maybe",
                "secure must be true or false",
            ),
            (
                "s3://h.com/bucket?secure=false&secure=true",
                "more than once",
            ),
            (
                "s3://AKIA:hunter2@h.com/bucket",
                "credentials do not belong",
            ),
            ("s3://h.com/bucket#frag", "no '#' fragment"),
            ("s3://h.com:99999/bucket", "invalid port"),
            ("s3://h.com/bu%zzcket", "bad percent-escape"),
            ("s3://h.com/bad*bucket", "invalid bucket name"),
            ("s3://h.com/a/b%2Fc", "decodes to a separator"),
            (
                "file://server/share",
                "file URIs take an absolute path and no host",
            ),
            ("s3:bucket/dir", "'s3:' must be followed by '//'"),
            ("1abc://x/y", "is not a URI scheme"),
            ("file:///proc/self/fd", "inside /proc, /sys or /dev"),
            ("/sys/kernel", "inside /proc, /sys or /dev"),
            ("file:///dev", "inside /proc, /sys or /dev"),
        ];
        for (uri, want) in cases {
            let err = Destination::parse(uri).expect_err(uri).to_string();
            assert!(err.contains(want), "{uri}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn regions_from_aws_host_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("s3.amazonaws.com", None),
            ("s3.us-west-2.amazonaws.com", Some("us-west-2")),
            ("s3-eu-west-1.amazonaws.com", Some("eu-west-1")),
            ("s3.dualstack.ap-south-1.amazonaws.com", Some("ap-south-1")),
            ("s3.cn-north-1.amazonaws.com.cn", Some("cn-north-1")),
            (
                "s3.dualstack.cn-northwest-1.amazonaws.com.cn",
                Some("cn-northwest-1"),
            ),
            ("s3-fips-us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("s3-fips.us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("s3-us-gov-west-1.amazonaws.com", Some("us-gov-west-1")),
            ("s3.us-gov-east-1.amazonaws.com", Some("us-gov-east-1")),
            ("s3-external-1.amazonaws.com", Some("us-east-1")),
            ("s3-accelerate.amazonaws.com", None),
            ("bucket.s3.eu-central-1.amazonaws.com", Some("eu-central-1")),
            ("S3.US-WEST-1.AMAZONAWS.COM", Some("us-west-1")),
            ("storage.googleapis.com", None),
            ("minio.example.com", None),
            ("notamazonaws.com", None),
        ];
        for (host, want) in cases {
            assert_eq!(aws_region(host).as_deref(), *want, "{host}");
        }
        let d = Destination::parse("s3://s3.eu-west-3.amazonaws.com/b").unwrap();
        assert_eq!(d.region(), Some("eu-west-3"));
        let d = Destination::parse("s3://minio.example.com:9000/b").unwrap();
        assert_eq!(d.region(), Some(DEFAULT_REGION));
    }
}
