//! The one way every service reads its settings: the command line, then the environment, then
//! a config file, then the built-in defaults; the first that sets a flag wins.
//!
//! - **Environment.** Every flag of a service can be set from the environment: the flags that
//!   name a variable of their own (`--bindall_addr` is `LODESTAR_BIND`, `--log` is `RUST_LOG`)
//!   keep it, every other one is `LODESTAR_` and its long name in capitals
//!   (`--txn_idle_timeout` is `LODESTAR_TXN_IDLE_TIMEOUT`). `--help` shows each name.
//! - **Config file.** `--config FILE` (or `LODESTAR_CONFIG`): TOML (`.toml`) or YAML (`.yaml`,
//!   `.yml`, and `.json`, which YAML reads), whose keys are the long flag names (`-` and `_`
//!   alike). A table nests a prefix: `[acl] secret_file = "…"` is `--acl_secret_file`. A list is
//!   joined with commas. An unknown key is refused, naming the key and the file, so a typo does
//!   not pass silently; a bad value is refused by the flag's own check.
//!
//! The file's values become the flags' defaults before clap parses, so clap's own order
//! (command line, then environment, then default) gives the precedence above.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flag and the variable that name a config file.
pub const CONFIG_FLAG: &str = "config";
pub const CONFIG_ENV: &str = "LODESTAR_CONFIG";

/// Parses a service's flags from the process's command line and environment and its config
/// file; prints the problem and exits (status 2) on a bad command line or config file, as
/// clap does.
pub fn parse<A: clap::Parser>() -> A {
    parse_from(std::env::args_os())
}

/// [`parse`] over the given command line instead of the process's: its first item names the
/// program in `--help` and in errors. A binary that runs a service as one of its subcommands
/// passes the words after the subcommand behind its own name (`lodestar alpha`, then the
/// alpha's flags), so the service reads its flags, environment and config file as it does
/// from its own binary.
pub fn parse_from<A, I, T>(argv: I) -> A
where
    A: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match try_parse_from::<A, _, _>(argv) {
        Ok(args) => args,
        Err(SettingsError::Clap(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// What can be wrong with a service's settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// [`parse`] over the given command line (the first item is the program's name).
pub fn try_parse_from<A, I, T>(argv: I) -> Result<A, SettingsError>
where
    A: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut command = with_env_names(A::command());
    let file = config_path(&argv).or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    if let Some(path) = file {
        for (key, value) in read_file(&path)? {
            let id = command
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()))
                .map(|a| a.get_id().clone())
                .ok_or_else(|| SettingsError::File {
                    path: path.clone(),
                    message: format!(
                        "unknown key {key:?}: it is no flag of {} (see --help)",
                        command.get_name()
                    ),
                })?;
            command = command.mut_arg(id, |a| a.default_value(value));
        }
    }
    let matches = command.try_get_matches_from(argv)?;
    Ok(A::from_arg_matches(&matches)?)
}

/// Gives every flag of `command` without an environment variable the name `LODESTAR_<LONG>`.
/// Subcommands (the offline tools) keep theirs: the environment configures the service.
pub fn with_env_names(command: clap::Command) -> clap::Command {
    let unnamed: Vec<(clap::Id, String)> = command
        .get_arguments()
        .filter(|a| a.get_env().is_none() && !a.is_positional())
        .filter_map(|a| {
            let long = a.get_long()?;
            (!matches!(long, "help" | "version")).then(|| (a.get_id().clone(), env_name(long)))
        })
        .collect();
    unnamed
        .into_iter()
        .fold(command, |c, (id, name)| c.mut_arg(id, |a| a.env(name)))
}

/// The `name=value` settings of a Dgraph-style superflag (`"name=value; name=value"`), in the
/// order given: each name at most once, every name one of `known`; `flag` names the flag in
/// errors. A value may hold `=` (only the first one splits).
pub fn superflag<'a>(
    flag: &str,
    text: &'a str,
    known: &[&str],
) -> Result<Vec<(&'a str, &'a str)>, String> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .map(|(n, v)| (n.trim(), v.trim()))
            .ok_or_else(|| format!("{flag}: {part:?} is not name=value"))?;
        if !known.contains(&name) {
            return Err(format!(
                "{flag}: unknown setting {name:?}: use {}",
                known.join(", ")
            ));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(format!("{flag}: {name} is given twice"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// `LODESTAR_` and the long flag name in capitals, `-` as `_`.
pub fn env_name(long: &str) -> String {
    format!("LODESTAR_{}", long.replace('-', "_").to_ascii_uppercase())
}

/// The value of `--config FILE` or `--config=FILE`, before a `--` or a subcommand's own.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let flag = format!("--{CONFIG_FLAG}");
    let with_value = format!("--{CONFIG_FLAG}=");
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == flag {
            return args.next().map(PathBuf::from);
        }
        if let Some(value) = arg.strip_prefix(&with_value) {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// The flags a config file sets: long name → value as it would be written on the command line.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, String>, SettingsError> {
    let fail = |message: String| SettingsError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let tree = match extension.as_str() {
        "toml" => toml::from_str::<toml::Table>(&text)
            .map(|t| Tree::from_toml(toml::Value::Table(t)))
            .map_err(|e| fail(format!("not valid TOML: {e}")))?,
        "yaml" | "yml" | "json" => yaml_serde::from_str::<yaml_serde::Value>(&text)
            .map_err(|e| fail(format!("not valid YAML: {e}")))
            .and_then(|v| Tree::from_yaml(v).map_err(fail))?,
        other => {
            return Err(fail(format!(
                "{} is not a config format: name it .toml, .yaml, .yml or .json",
                if other.is_empty() {
                    "a file without an extension".to_string()
                } else {
                    format!(".{other}")
                }
            )));
        }
    };
    let mut out = BTreeMap::new();
    match tree {
        Tree::Table(_) => tree.flatten("", &mut out).map_err(fail)?,
        Tree::Empty => {}
        _ => {
            return Err(fail(
                "its top level must be a table of flag names".to_string(),
            ));
        }
    }
    Ok(out)
}

/// A config file's content, whatever its format.
enum Tree {
    Empty,
    Scalar(String),
    List(Vec<Tree>),
    Table(Vec<(String, Tree)>),
}

impl Tree {
    fn from_toml(v: toml::Value) -> Tree {
        match v {
            toml::Value::String(s) => Tree::Scalar(s),
            toml::Value::Array(items) => {
                Tree::List(items.into_iter().map(Tree::from_toml).collect())
            }
            toml::Value::Table(t) => Tree::Table(
                t.into_iter()
                    .map(|(k, v)| (k, Tree::from_toml(v)))
                    .collect(),
            ),
            toml::Value::Integer(i) => Tree::Scalar(i.to_string()),
            toml::Value::Float(f) => Tree::Scalar(f.to_string()),
            toml::Value::Boolean(b) => Tree::Scalar(b.to_string()),
            toml::Value::Datetime(d) => Tree::Scalar(d.to_string()),
        }
    }

    fn from_yaml(v: yaml_serde::Value) -> Result<Tree, String> {
        use yaml_serde::Value as Y;
        Ok(match v {
            Y::Null => Tree::Empty,
            Y::Bool(b) => Tree::Scalar(b.to_string()),
            Y::Number(n) => Tree::Scalar(n.to_string()),
            Y::String(s) => Tree::Scalar(s),
            Y::Sequence(items) => Tree::List(
                items
                    .into_iter()
                    .map(Tree::from_yaml)
                    .collect::<Result<_, _>>()?,
            ),
            Y::Mapping(m) => Tree::Table(
                m.into_iter()
                    .map(|(k, v)| match k {
                        Y::String(k) => Ok((k, Tree::from_yaml(v)?)),
                        other => Err(format!("a key must be a flag name, not {other:?}")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Y::Tagged(t) => Tree::from_yaml(t.value)?,
        })
    }

    /// Writes each value under its flag name (`prefix_key`) into `out`.
    fn flatten(self, prefix: &str, out: &mut BTreeMap<String, String>) -> Result<(), String> {
        let Tree::Table(entries) = self else {
            return Ok(());
        };
        for (key, value) in entries {
            let key = key.trim().replace('-', "_");
            let name = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}_{key}")
            };
            match value {
                Tree::Empty => {}
                Tree::Scalar(s) => {
                    out.insert(name, s);
                }
                Tree::List(items) => {
                    let mut joined = Vec::new();
                    for item in items {
                        match item {
                            Tree::Scalar(s) => joined.push(s),
                            Tree::Empty => {}
                            _ => return Err(format!("{name}: a list may hold only values")),
                        }
                    }
                    out.insert(name, joined.join(","));
                }
                table @ Tree::Table(_) => table.flatten(&name, out)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    #[command(name = "svc")]
    struct Args {
        #[arg(long = "cfg_test_port", default_value_t = 1)]
        port: u16,
        #[arg(long = "cfg_test_name", default_value = "built-in")]
        name: String,
        #[arg(long = "cfg_test_acl_secret_file")]
        secret: Option<String>,
        #[arg(long = "cfg_test_peers", value_delimiter = ',')]
        peers: Vec<String>,
        #[arg(long = "cfg_test_flag")]
        flag: bool,
        #[arg(long = "config")]
        config: Option<PathBuf>,
    }

    fn file(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn parse(argv: &[&str]) -> Result<Args, SettingsError> {
        try_parse_from::<Args, _, _>(std::iter::once("svc").chain(argv.iter().copied()))
    }

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let toml = file(
            dir.path(),
            "svc.toml",
            "cfg_test_port = 7\ncfg-test-peers = [\"a:1\", \"b:2\"]\ncfg_test_flag = true\n[cfg_test_acl]\nsecret_file = \"/s\"\n",
        );
        let a = parse(&["--config", &toml]).unwrap();
        assert_eq!(
            (a.port, a.name.as_str(), a.secret.as_deref(), a.flag),
            (7, "built-in", Some("/s"), true)
        );
        assert_eq!(a.peers, ["a:1", "b:2"]);
        let a = parse(&[&format!("--config={toml}"), "--cfg_test_port", "9"]).unwrap();
        assert_eq!(a.port, 9);
        let a = parse(&[]).unwrap();
        assert_eq!((a.port, a.name.as_str(), a.flag), (1, "built-in", false));
    }

    #[test]
    fn yaml_and_json_files_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = file(
            dir.path(),
            "svc.yaml",
            "cfg_test_port: 8\ncfg_test_name: from-yaml\ncfg_test_acl:\n  secret_file: /y\n",
        );
        let a = parse(&["--config", &yaml]).unwrap();
        assert_eq!(
            (a.port, a.name.as_str(), a.secret.as_deref()),
            (8, "from-yaml", Some("/y"))
        );
        let json = file(dir.path(), "svc.json", r#"{"cfg_test_port": 6}"#);
        assert_eq!(parse(&["--config", &json]).unwrap().port, 6);
    }

    #[test]
    fn unknown_keys_bad_values_and_bad_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let typo = file(dir.path(), "t.toml", "cfg_test_prot = 7\n");
        let e = parse(&["--config", &typo]).unwrap_err().to_string();
        assert!(e.contains("cfg_test_prot") && e.contains("t.toml"), "{e}");
        let bad = file(dir.path(), "b.toml", "cfg_test_port = \"seven\"\n");
        let e = parse(&["--config", &bad]).unwrap_err().to_string();
        assert!(e.contains("cfg_test_port") && e.contains("seven"), "{e}");
        let broken = file(dir.path(), "x.toml", "cfg_test_port = \n");
        let e = parse(&["--config", &broken]).unwrap_err().to_string();
        assert!(e.contains("not valid TOML"), "{e}");
        let ini = file(dir.path(), "x.ini", "a=1");
        let e = parse(&["--config", &ini]).unwrap_err().to_string();
        assert!(e.contains(".ini is not a config format"), "{e}");
        let e = parse(&["--config", "/nonexistent/svc.toml"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
        let list = file(dir.path(), "l.yaml", "- 1\n- 2\n");
        let e = parse(&["--config", &list]).unwrap_err().to_string();
        assert!(e.contains("top level"), "{e}");
    }

    #[test]
    fn the_first_word_names_the_program_in_help_and_errors() {
        let help = parse(&["--help"]).unwrap_err().to_string();
        assert!(help.contains("Usage: svc [OPTIONS]"), "{help}");
        let help = try_parse_from::<Args, _, _>(["lodestar svc", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("Usage: lodestar svc [OPTIONS]"), "{help}");
        assert!(help.contains("--cfg_test_port"), "{help}");
        let e = try_parse_from::<Args, _, _>(["lodestar svc", "--cfg_test_prot", "1"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lodestar svc") && e.contains("--cfg_test_prot"),
            "{e}"
        );
    }

    #[test]
    fn every_flag_gets_an_environment_name() {
        let command = with_env_names(<Args as clap::CommandFactory>::command());
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(env_name(long).as_str()),
                "--{long}"
            );
        }
        assert_eq!(env_name("txn-idle_timeout"), "LODESTAR_TXN_IDLE_TIMEOUT");
    }
}
