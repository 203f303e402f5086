//! Bad command lines fail fast with a clear message and a non-zero exit.

mod common;

use lodestar_integration_tests::{bin_command, free_port, run_bin};
use std::time::{Duration, Instant};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_flags_are_refused_by_every_binary() {
    for bin in [
        "zero",
        "alpha",
        "auth",
        "backup-worker",
        "gateway",
        "live",
        "bulk",
    ] {
        let out = run_bin(bin, ["--no_such_flag", "1"]);
        assert!(!out.status.success(), "{bin} accepted an unknown flag");
        assert!(
            stderr(&out).contains("--no_such_flag"),
            "{bin}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn acl_secrets_that_are_short_or_readable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "0123456789").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run_bin("alpha", ["--acl_secret_file", common::path(&short)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs at least 32"),
        "{}",
        stderr(&out)
    );
    let open = dir.path().join("open");
    std::fs::write(&open, "0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_bin("alpha", ["--acl_secret_file", common::path(&open)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("chmod 600") && !err.contains("0123456789abcdef"),
        "{err}"
    );
}

#[test]
fn missing_required_flags_are_named() {
    let out = run_bin("zero", ["license", "issue", "--user", "x"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--private-key") && err.contains("--max-nodes") && err.contains("--expiry"),
        "{err}"
    );
}

#[test]
fn invalid_values_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("zw");
    let out = run_bin("zero", ["--replicas", "2", "--wal", common::path(&wal)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--replicas must be odd"),
        "{}",
        stderr(&out)
    );
    let out = run_bin("zero", ["--idx", "0", "--wal", common::path(&wal)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--idx must be at least 1"),
        "{}",
        stderr(&out)
    );
    let out = run_bin(
        "zero",
        ["--clock_offset", "-30d", "--wal", common::path(&wal)],
    );
    assert!(
        !out.status.success(),
        "a clock set back would extend licenses"
    );
    assert!(
        stderr(&out).contains("only be moved forward"),
        "{}",
        stderr(&out)
    );
    let missing = dir.path().join("missing.txt");
    let out = run_bin(
        "zero",
        [
            "--enterprise_license",
            common::path(&missing),
            "--wal",
            common::path(&wal),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--enterprise_license"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_port_in_use_is_reported_and_the_process_exits() {
    let port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("zw");
    let started = Instant::now();
    let out = bin_command("zero")
        .args([
            "--grpc_port",
            &port.to_string(),
            "--http_port",
            &free_port().to_string(),
            "--bindall_addr",
            "127.0.0.1",
            "--wal",
            common::path(&wal),
        ])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn license_keys_must_not_be_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let kit = common::LicenseKit::new();
    std::fs::set_permissions(&kit.private_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_bin(
        "zero",
        [
            "license",
            "issue",
            "--private-key",
            common::path(&kit.private_key),
            "--user",
            "u",
            "--max-nodes",
            "1",
            "--expiry",
            "1d",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[test]
fn an_issued_license_verifies_only_with_its_public_key() {
    let kit = common::LicenseKit::new();
    let file = kit.issue("l.txt", "cli-corp", 4, "2031-05-06T07:08:09Z");
    let out = run_bin(
        "zero",
        [
            "license",
            "verify",
            "--public-key",
            &kit.public_key_arg(),
            common::path(&file),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let terms: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        terms,
        serde_json::json!({"user": "cli-corp", "max_nodes": 4, "expiry_ts": 1_935_817_689})
    );
    // The built-in key did not sign it.
    let out = run_bin("zero", ["license", "verify", common::path(&file)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("signature does not verify"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn acl_without_a_cluster_secret_and_bad_cluster_secrets_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&acl, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = free_port().to_string();
    for bin in ["alpha", "auth", "backup-worker", "gateway"] {
        let data = dir.path().join(format!("{bin}-data"));
        let mut args = vec![
            "--acl_secret_file",
            common::path(&acl),
            "--http_port",
            &port,
            "--grpc_port",
            &port,
            "--zero",
            "127.0.0.1:1",
        ];
        if bin == "backup-worker" {
            args.extend(["--data", common::path(&data)]);
        }
        if bin == "gateway" {
            args = vec![
                "--acl_secret_file",
                common::path(&acl),
                "--http_port",
                &port,
            ];
        }
        let out = run_bin(bin, args);
        assert!(
            !out.status.success(),
            "{bin} started with ACL and no cluster secret"
        );
        assert!(
            stderr(&out).contains("--cluster_secret_file is not"),
            "{bin}: {}",
            stderr(&out)
        );
    }
    let open = dir.path().join("cluster_open");
    std::fs::write(&open, "k".repeat(40)).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let short = dir.path().join("cluster_short");
    std::fs::write(&short, "k".repeat(20)).unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    for (file, want) in [(&open, "chmod 600"), (&short, "at least 32")] {
        let out = run_bin("zero", ["--cluster_secret_file", common::path(file)]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(want) && !err.contains("kkkk"), "{err}");
    }
    let out = run_bin("zero", ["--security", "whitelist=10.0.0.0/99"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not an IP address or a CIDR range"),
        "{}",
        stderr(&out)
    );
}

/// The flags `--help` lists: long name → (default, environment variable).
fn help_flags(bin: &str) -> std::collections::BTreeMap<String, (Option<String>, Option<String>)> {
    let out = run_bin(bin, ["--help"]);
    assert!(out.status.success(), "{bin} --help: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut flags = std::collections::BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut finish = |entry: Option<(String, String)>| {
        if let Some((name, body)) = entry {
            let field = |tag: &str, end: char| {
                body.split_once(tag)
                    .and_then(|(_, rest)| rest.split_once(end))
                    .map(|(v, _)| v.to_string())
            };
            flags.insert(name, (field("[default: ", ']'), field("[env: ", '=')));
        }
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        let flag = trimmed.strip_prefix("--").or_else(|| {
            trimmed
                .get(4..)
                .and_then(|t| t.strip_prefix("--"))
                .filter(|_| trimmed.starts_with('-'))
        });
        // Flags start at 2 or 6 columns; their descriptions at 10.
        match flag {
            Some(rest) if line.len() - trimmed.len() <= 6 => {
                finish(current.take());
                let name = rest
                    .split([' ', ','])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                current = Some((name, String::new()));
            }
            _ => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(line);
                    body.push(' ');
                }
            }
        }
    }
    finish(current.take());
    flags.remove("help");
    flags.remove("version");
    flags
}

/// The README's flag tables (each after a `<!-- flags: <binaries> -->` line) for `bin`:
/// long name → the Default column.
fn readme_flags(readme: &str, bin: &str) -> std::collections::BTreeMap<String, String> {
    let mut flags = std::collections::BTreeMap::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(bins) = line
            .trim()
            .strip_prefix("<!-- flags:")
            .and_then(|l| l.strip_suffix("-->"))
        else {
            continue;
        };
        let applies = bins.split_whitespace().any(|b| b == bin);
        for row in lines.by_ref().skip(2) {
            if !row.starts_with('|') {
                break;
            }
            if !applies {
                continue;
            }
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let default = cells[2].trim_matches('`').to_string();
            for name in cells[1]
                .split('`')
                .filter_map(|part| part.split(", ").last()?.strip_prefix("--"))
            {
                let earlier = flags.insert(name.to_string(), default.clone());
                assert!(earlier.is_none(), "README lists --{name} twice for {bin}");
            }
        }
    }
    flags
}

/// The README's flag tables hold exactly the flags each binary's `--help` lists, with the same
/// defaults, and every flag can be set from the environment.
#[test]
fn readme_flag_tables_match_every_binarys_help() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    // The services take every flag from the environment too; the tools take flags only.
    for (bin, service) in [
        ("zero", true),
        ("alpha", true),
        ("auth", true),
        ("backup-worker", true),
        ("gateway", true),
        ("live", false),
        ("bulk", false),
    ] {
        let help = help_flags(bin);
        let documented = readme_flags(&readme, bin);
        let missing: Vec<_> = help
            .keys()
            .filter(|f| !documented.contains_key(*f))
            .collect();
        let stale: Vec<_> = documented
            .keys()
            .filter(|f| !help.contains_key(*f))
            .collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "{bin}: flags --help lists but the README does not: {missing:?}; README flags {bin} does not have: {stale:?}"
        );
        for (name, (default, env)) in &help {
            assert!(
                env.is_some() || !service,
                "{bin} --{name} has no environment variable"
            );
            if let Some(default) = default {
                assert_eq!(
                    &documented[name], default,
                    "{bin} --{name}: the README's default differs from --help's"
                );
            }
        }
    }
}

/// Flags come from the command line, then the environment, then `--config`, then defaults; a
/// config file's unknown key stops the service with its name.
#[test]
fn flags_beat_the_environment_which_beats_the_config_file() {
    common::gateway_settings_follow_precedence("gateway", &[]);
}
