//! `--backup_schedule`: one schedule per value, `;`-separated `key=value` settings:
//!
//! ```text
//! full=0 0 * * *; incremental=0 * * * *; destination=s3://host/bucket/path; keep_series=7
//! ```
//!
//! - `full` (required) and `incremental` (optional): 5-field cron expressions (minute, hour,
//!   day of month, month, day of week; `@daily`-style names too), in UTC.
//! - `destination` (required): any location a backup takes (`s3://`, `minio://`, `gs://`,
//!   `file://` or a path).
//! - `keep_series`, `keep_days` (optional, at least 1): retention, see
//!   [`lodestar_backup::manifest::retention`].
//! - `name` (optional, default `default`): names the schedule in `/admin` and the metrics.
//! - `access_key_file`, `secret_key_file` and optionally `session_token_file`: the s3/minio
//!   keys from files, readable only by their owner; without them the worker's environment
//!   serves, as for every backup.
//!
//! Everything is checked at start: a bad value stops the worker with a message naming the key
//! and what to fix. Messages never show a credential.

use lodestar_backup::destination::{Credentials, Destination, Scheme};
use lodestar_backup::manifest::retention::Retention;
use lodestar_runtime::ServiceError;
use std::path::{Path, PathBuf};

/// The flag, as errors name it.
pub const FLAG: &str = "--backup_schedule";

/// Every key a schedule takes.
const KEYS: &[&str] = &[
    "name",
    "full",
    "incremental",
    "destination",
    "keep_series",
    "keep_days",
    "access_key_file",
    "secret_key_file",
    "session_token_file",
];

/// The name of a schedule that does not give one.
pub const DEFAULT_NAME: &str = "default";

/// A cron expression as written and as parsed.
#[derive(Debug, Clone)]
pub struct CronExpr {
    pub text: String,
    pub cron: croner::Cron,
}

impl CronExpr {
    /// The first tick strictly after `after`, if it ever falls due.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

/// Where a schedule's credentials come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialFiles {
    pub access_key: Option<PathBuf>,
    pub secret_key: Option<PathBuf>,
    pub session_token: Option<PathBuf>,
}

impl CredentialFiles {
    /// Whether any file is given (otherwise the environment serves).
    pub fn given(&self) -> bool {
        self.access_key.is_some() || self.secret_key.is_some() || self.session_token.is_some()
    }

    /// Reads the files (each owner-only and not empty): the credentials a backup is sent with.
    /// Called at start to check them, and before each run, so a rotated file is taken.
    pub fn load(&self) -> Result<Credentials, String> {
        let read = |key: &str, path: &Option<PathBuf>| -> Result<String, String> {
            path.as_deref()
                .map(|p| read_secret(key, p))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let token = read("session_token_file", &self.session_token)?;
        Ok(Credentials {
            access_key: read("access_key_file", &self.access_key)?,
            secret_key: read("secret_key_file", &self.secret_key)?,
            session_token: (!token.is_empty()).then_some(token),
            anonymous: false,
        })
    }
}

/// A secret file's text, trimmed; refused when group or others may read it, or it is empty.
fn read_secret(key: &str, path: &Path) -> Result<String, String> {
    use lodestar_crypto::private_file::{PrivateFileError, read_private};
    let bytes = read_private(path, 0o077).map_err(|e| match e {
        PrivateFileError::Unreadable { path, reason } => {
            format!("{key} {path}: cannot read it: {reason}")
        }
        PrivateFileError::TooOpen { path, mode } => format!(
            "{key} {path} can be read by other users (mode {mode:03o}): make it private with chmod 600"
        ),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{key} {}: is not UTF-8 text", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{key} {}: the file is empty", path.display()));
    }
    Ok(text.to_string())
}

/// One parsed `--backup_schedule`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub full: CronExpr,
    pub incremental: Option<CronExpr>,
    /// The destination as written: what a backup request carries.
    pub location: String,
    /// The destination parsed, for display (never with credentials).
    pub destination: Destination,
    pub credentials: CredentialFiles,
    pub retention: Retention,
}

/// Parses a cron expression: 5 fields, or with `seconds` (a testing aid) 6, seconds first.
fn parse_cron(key: &str, text: &str, seconds: bool) -> Result<CronExpr, String> {
    use croner::parser::{CronParser, Seconds, Year};
    let parser = CronParser::builder()
        .seconds(if seconds {
            Seconds::Required
        } else {
            Seconds::Disallowed
        })
        .year(Year::Disallowed)
        .build();
    let fields = if seconds {
        "6 fields, seconds first"
    } else {
        "5 fields: minute hour day-of-month month day-of-week, e.g. \"0 0 * * *\""
    };
    let cron = parser
        .parse(text)
        .map_err(|e| format!("{key}={text:?} is not a cron expression of {fields} ({e})"))?;
    // An expression that never falls due (30 February) would leave the schedule idle forever.
    if cron
        .find_next_occurrence(&chrono::Utc::now(), false)
        .is_err()
    {
        return Err(format!(
            "{key}={text:?} never falls due: check the day and month fields"
        ));
    }
    Ok(CronExpr {
        text: text.to_string(),
        cron,
    })
}

/// A retention count: a whole number of at least 1.
fn parse_keep(key: &str, value: &str, unit: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(0) => Err(format!(
            "{key}=0 would keep no {unit}: give 1 or more (the newest restorable series is always kept), or leave {key} out to keep everything"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{key}={value:?} is not a whole number of {unit}")),
    }
}

/// A schedule name: letters, digits, `_`, `-` and `.`, at most 64 (it is a metric label).
fn parse_name(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(format!(
            "name={value:?}: use 1 to 64 letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(value.to_string())
}

fn path_of(key: &str, value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err(format!(
            "{key} is empty: give the path of a file holding it"
        ));
    }
    Ok(PathBuf::from(value))
}

impl Schedule {
    /// Parses one `--backup_schedule` value; `seconds` lets the cron expressions have a
    /// seconds field (the hidden testing aid `--backup_schedule_seconds`). Errors name the key
    /// and what to do, without the flag's prefix.
    pub fn parse(text: &str, seconds: bool) -> Result<Schedule, String> {
        let mut name = DEFAULT_NAME.to_string();
        let mut full = None;
        let mut incremental = None;
        let mut location = None;
        let mut retention = Retention::default();
        let mut credentials = CredentialFiles::default();
        let settings = lodestar_runtime::settings::superflag(FLAG, text, KEYS).map_err(|e| {
            // The caller names the flag (and which schedule).
            e.strip_prefix(&format!("{FLAG}: "))
                .unwrap_or(&e)
                .to_string()
        })?;
        for (key, value) in settings {
            match key {
                "name" => name = parse_name(value)?,
                "full" => full = Some(parse_cron(key, value, seconds)?),
                "incremental" => incremental = Some(parse_cron(key, value, seconds)?),
                "destination" => location = Some(value.to_string()),
                "keep_series" => retention.keep_series = Some(parse_keep(key, value, "series")?),
                "keep_days" => retention.keep_days = Some(parse_keep(key, value, "days")?),
                "access_key_file" => credentials.access_key = Some(path_of(key, value)?),
                "secret_key_file" => credentials.secret_key = Some(path_of(key, value)?),
                "session_token_file" => credentials.session_token = Some(path_of(key, value)?),
                other => return Err(format!("unknown setting {other:?}")),
            }
        }
        let full = full.ok_or_else(|| {
            "full is missing: give the cron expression of the full backups, e.g. full=0 0 * * *"
                .to_string()
        })?;
        let location = location.ok_or_else(|| {
            "destination is missing: give where backups go, e.g. destination=s3://host/bucket/path"
                .to_string()
        })?;
        let destination = Destination::parse(&location).map_err(|e| format!("destination: {e}"))?;
        if credentials.given() {
            if !matches!(destination.scheme(), Scheme::S3 | Scheme::Minio) {
                return Err(format!(
                    "access_key_file, secret_key_file and session_token_file are for s3:// and minio:// destinations; {} destinations take their credentials from the environment",
                    destination.scheme()
                ));
            }
            if credentials.access_key.is_none() || credentials.secret_key.is_none() {
                return Err(
                    "access_key_file and secret_key_file go together: give both, or neither to use the environment"
                        .to_string(),
                );
            }
            credentials.load()?;
        }
        Ok(Schedule {
            name,
            full,
            incremental,
            location,
            destination,
            credentials,
            retention,
        })
    }

    /// Parses every `--backup_schedule` value and checks them together: names and
    /// destinations must differ.
    pub fn parse_all(values: &[String], seconds: bool) -> Result<Vec<Schedule>, ServiceError> {
        let mut out: Vec<Schedule> = Vec::new();
        for (i, text) in values.iter().enumerate() {
            let which = if values.len() == 1 {
                String::new()
            } else {
                format!(" (schedule {})", i + 1)
            };
            let schedule = Schedule::parse(text, seconds)
                .map_err(|e| ServiceError::invalid(format!("{FLAG}{which}: {e}")))?;
            if out.iter().any(|s| s.name == schedule.name) {
                return Err(ServiceError::invalid(format!(
                    "{FLAG}{which}: two schedules are named {:?}: give each its own name=",
                    schedule.name
                )));
            }
            if let Some(other) = out
                .iter()
                .find(|s| s.destination.to_string() == schedule.destination.to_string())
            {
                return Err(ServiceError::invalid(format!(
                    "{FLAG}{which}: schedules {:?} and {:?} back up to the same destination {}: their series and retention would mix; give each its own destination",
                    other.name, schedule.name, schedule.destination
                )));
            }
            out.push(schedule);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::os::unix::fs::PermissionsExt as _;

    fn parse(text: &str) -> Result<Schedule, String> {
        Schedule::parse(text, false)
    }

    fn refused(text: &str) -> String {
        parse(text).expect_err(text)
    }

    #[test]
    fn the_documented_form_parses() {
        let s = parse(
            "full=0 0 * * *; incremental=0 * * * *; destination=s3://s3.eu-west-1.amazonaws.com/bucket/lodestar; keep_series=7",
        )
        .unwrap();
        assert_eq!(s.name, DEFAULT_NAME);
        assert_eq!(s.full.text, "0 0 * * *");
        assert_eq!(s.incremental.as_ref().unwrap().text, "0 * * * *");
        assert_eq!(
            s.destination.to_string(),
            "s3://s3.eu-west-1.amazonaws.com/bucket/lodestar"
        );
        assert_eq!(s.retention.keep_series, Some(7));
        assert_eq!(s.retention.keep_days, None);
        assert!(!s.credentials.given());
        // Ticks are UTC.
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
        assert_eq!(
            s.full.next_after(t),
            Some(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap())
        );
        assert_eq!(
            s.incremental.unwrap().next_after(t),
            Some(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 11, 0, 0).unwrap())
        );
    }

    #[test]
    fn every_key_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p.display().to_string()
        };
        let (ak, sk, st) = (
            file("ak", "AKIA-FROM-FILE\n", 0o600),
            file("sk", "s3cr3t-from-file", 0o400),
            file("st", "t0ken", 0o600),
        );
        let s = parse(&format!(
            " name=nightly.s3-1 ;full=@daily;destination=minio://127.0.0.1:9000/b/p?secure=false;keep_days=30;keep_series=2;access_key_file={ak};secret_key_file={sk};session_token_file={st};"
        ))
        .unwrap();
        assert_eq!(s.name, "nightly.s3-1");
        assert!(s.incremental.is_none());
        assert_eq!(s.retention.keep_days, Some(30));
        assert_eq!(s.retention.keep_series, Some(2));
        assert_eq!(s.location, "minio://127.0.0.1:9000/b/p?secure=false");
        let creds = s.credentials.load().unwrap();
        assert_eq!(creds.access_key, "AKIA-FROM-FILE");
        assert_eq!(creds.secret_key, "s3cr3t-from-file");
        assert_eq!(creds.session_token.as_deref(), Some("t0ken"));
        // A path and file:// are destinations too.
        assert!(parse("full=0 0 * * *; destination=/var/backups/lodestar").is_ok());
        assert!(parse("full=0 0 * * *; destination=file:///var/backups/x").is_ok());
        assert!(parse("full=0 0 * * *; destination=gs://bucket/dir").is_ok());

        // Refusals of the files, naming the key and never the contents.
        let open = file("open", "AKIA-OPEN", 0o644);
        let empty = file("empty", " \n", 0o600);
        for (files, says) in [
            (
                format!("access_key_file={open}; secret_key_file={sk}"),
                "mode 644",
            ),
            (
                format!("access_key_file={ak}; secret_key_file={empty}"),
                "secret_key_file",
            ),
            (
                format!("access_key_file={ak}; secret_key_file={sk}x"),
                "cannot read it",
            ),
            (format!("access_key_file={ak}"), "go together"),
            (format!("session_token_file={st}"), "go together"),
            (
                "access_key_file=; secret_key_file=/x".to_string(),
                "access_key_file is empty",
            ),
        ] {
            let e = refused(&format!(
                "full=0 0 * * *; destination=s3://h.com/b; {files}"
            ));
            assert!(e.contains(says), "{files}: {e}");
            assert!(!e.contains("AKIA") && !e.contains("s3cr3t"), "{e}");
        }
        let e = refused(&format!(
            "full=0 0 * * *; destination=/tmp/b; access_key_file={ak}; secret_key_file={sk}"
        ));
        assert!(e.contains("are for s3:// and minio://"), "{e}");
    }

    #[test]
    fn every_mistake_is_refused_by_key() {
        for (text, says) in [
            (
                "full=0 0 * * *; destination=/b; ful=1",
                "unknown setting \"ful\"",
            ),
            (
                "full=0 0 * * *; destination=/b; full=0 1 * * *",
                "full is given twice",
            ),
            (
                "full=0 0 * * *; destination=/b; weekly",
                "is not name=value",
            ),
            ("destination=/b", "full is missing"),
            ("incremental=0 * * * *; destination=/b", "full is missing"),
            ("full=0 0 * * *", "destination is missing"),
            (
                "full=0 0 * * *; destination=",
                "destination: empty destination",
            ),
            (
                "full=0 0 * * *; destination=ftp://h/b",
                "destination: unsupported destination scheme",
            ),
            ("full=0 0 * * *; destination=/a/../etc", "'..'"),
            (
                "full=0 0 * *; destination=/b",
                "full=\"0 0 * *\" is not a cron expression of 5 fields",
            ),
            (
                "full=0 0 0 * * *; destination=/b",
                "is not a cron expression",
            ),
            ("full=61 0 * * *; destination=/b", "full=\"61 0 * * *\""),
            (
                "full=0 0 * * *; incremental=every hour; destination=/b",
                "incremental=\"every hour\"",
            ),
            ("full=0 0 30 2 *; destination=/b", "never falls due"),
            (
                "full=0 0 * * *; destination=/b; keep_series=0",
                "keep_series=0 would keep no series",
            ),
            (
                "full=0 0 * * *; destination=/b; keep_days=0",
                "keep_days=0 would keep no days",
            ),
            (
                "full=0 0 * * *; destination=/b; keep_series=-1",
                "keep_series=\"-1\" is not a whole number",
            ),
            (
                "full=0 0 * * *; destination=/b; keep_days=week",
                "keep_days=\"week\"",
            ),
            ("full=0 0 * * *; destination=/b; name=", "name=\"\""),
            ("full=0 0 * * *; destination=/b; name=a b", "name=\"a b\""),
        ] {
            let e = refused(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        // The cron parser's own reason is kept.
        let e = refused("full=0 25 * * *; destination=/b");
        assert!(e.contains('('), "{e}");
        // Credentials in the URI are refused without being shown.
        let e = refused("full=0 0 * * *; destination=s3://AKIAX:hunter2@h.com/b");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn seconds_only_behind_the_testing_aid() {
        assert!(parse("full=*/5 * * * * *; destination=/b").is_err());
        let s = Schedule::parse(
            "full=*/5 * * * * *; incremental=* * * * * *; destination=/b",
            true,
        )
        .unwrap();
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 1).unwrap();
        assert_eq!(
            s.full.next_after(t),
            Some(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 5).unwrap())
        );
        assert!(Schedule::parse("full=0 0 * * *; destination=/b", true).is_err());
    }

    #[test]
    fn several_schedules_need_their_own_names_and_destinations() {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = Schedule::parse_all(
            &v(&[
                "name=a; full=0 0 * * *; destination=/b1",
                "name=b; full=0 1 * * *; destination=/b2",
            ]),
            false,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let e = Schedule::parse_all(
            &v(&[
                "full=0 0 * * *; destination=/b1",
                "full=0 1 * * *; destination=/b2",
            ]),
            false,
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("--backup_schedule (schedule 2): two schedules are named \"default\""),
            "{}",
            e.message
        );
        let e = Schedule::parse_all(
            &v(&[
                "name=a; full=0 0 * * *; destination=/b1",
                "name=b; full=0 1 * * *; destination=/b1",
            ]),
            false,
        )
        .unwrap_err();
        assert!(e.message.contains("same destination /b1"), "{}", e.message);
        let e = Schedule::parse_all(&v(&["full=0 0 * * *"]), false).unwrap_err();
        assert!(
            e.message
                .starts_with("--backup_schedule: destination is missing"),
            "{}",
            e.message
        );
        assert!(Schedule::parse_all(&[], false).unwrap().is_empty());
    }
}
