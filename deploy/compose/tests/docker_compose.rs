//! docker-compose itself reads the files `lodestar compose` writes: `docker-compose -f FILE
//! config` must accept each (it validates against the Compose Specification, resolves the
//! paths and the `$$` escapes, and checks the depends_on conditions).
//!
//! docker-compose is a peer: without it these tests fail under the test script or CI
//! (`LODESTAR_REQUIRE_PEERS=1`, `CI=true`) and are skipped, saying so, elsewhere.

use clap::Parser as _;
use lodestar_compose::ComposeArgs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: ComposeArgs,
}

/// The docker-compose binary, or `None` (after [`lodestar_test_support::missing`]).
fn docker_compose() -> Option<PathBuf> {
    let found = Command::new("docker-compose").arg("version").output();
    match found {
        Ok(out) if out.status.success() => Some(PathBuf::from("docker-compose")),
        Ok(out) => lodestar_test_support::missing(
            "docker-compose",
            &format!(
                "`docker-compose version` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => lodestar_test_support::missing(
            "docker-compose",
            &format!("it does not start ({e}); install Debian's docker-compose (1.29)"),
        ),
    }
}

/// Runs `lodestar compose <argv> -O <dir>/docker-compose.yml`, then `docker-compose config`
/// on the file; returns what config printed.
fn config(compose: &Path, dir: &Path, argv: &[&str]) -> String {
    let out = dir.join("docker-compose.yml");
    let mut args = Cli::try_parse_from(
        std::iter::once("compose")
            .chain(argv.iter().copied())
            .chain(["-O", out.to_str().unwrap()]),
    )
    .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    .args;
    args.command_line = std::iter::once("lodestar compose")
        .chain(argv.iter().copied())
        .map(String::from)
        .collect();
    assert_eq!(lodestar_compose::run(args), ExitCode::SUCCESS, "{argv:?}");
    let output = Command::new(compose)
        .arg("-f")
        .arg(&out)
        .arg("config")
        // The project name would otherwise come from the temporary directory's name.
        .env("COMPOSE_PROJECT_NAME", "lodestar")
        .env_remove("COMPOSE_FILE")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("run docker-compose config");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "docker-compose config refused the file of {argv:?} ({}):\n{stderr}\n--- the file:\n{}",
        output.status,
        std::fs::read_to_string(&out).unwrap()
    );
    assert!(
        !stderr.to_ascii_lowercase().contains("warning"),
        "docker-compose config warned about the file of {argv:?}:\n{stderr}"
    );
    stdout
}

#[test]
fn three_by_three_with_acl_encryption_and_an_s3_server() {
    let Some(compose) = docker_compose() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &compose,
        dir.path(),
        &[
            "-z",
            "3",
            "-a",
            "3",
            "-r",
            "3",
            "--acl",
            "--encryption",
            "--minio",
        ],
    );
    for service in [
        "init:",
        "zero3:",
        "alpha3:",
        "auth:",
        "backup-worker:",
        "gateway:",
        "seaweedfs:",
    ] {
        assert!(
            cfg.contains(&format!("\n  {service}\n")),
            "{service}:\n{cfg}"
        );
    }
    // The conditions survived: docker-compose kept them rather than dropping them.
    assert!(cfg.contains("condition: service_healthy"), "{cfg}");
    assert!(
        cfg.contains("condition: service_completed_successfully"),
        "{cfg}"
    );
    assert!(cfg.contains("condition: service_started"), "{cfg}");
    // Secrets resolved to the demo files beside the compose file.
    for file in ["cluster-secret", "acl-secret", "enc-secret"] {
        let path = dir.path().join(file);
        assert!(cfg.contains(path.to_str().unwrap()), "{file}:\n{cfg}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    // The shell's `$` survived: docker-compose took `$$` as its escape (it prints it escaped
    // again) rather than substituting a variable, which would also have warned (see config).
    assert!(cfg.contains("mkdir -p \"$$d\""), "{cfg}");
    assert!(cfg.contains("\"$$MINIO_ACCESS_KEY\""), "{cfg}");
}

#[test]
fn the_seeds_command_line_as_written() {
    let Some(compose) = docker_compose() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // As the seed tells people to make it: a plain text file with the default mode.
    let hmac = dir.path().join("hmac-secret");
    std::fs::write(&hmac, "0123456789abcdefghijklmnopqrstuvwxyz\n").unwrap();
    std::fs::set_permissions(&hmac, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = config(
        &compose,
        dir.path(),
        &["-e", "--acl_secret", hmac.to_str().unwrap()],
    );
    assert!(cfg.contains(hmac.to_str().unwrap()), "{cfg}");
    assert!(
        cfg.contains("--acl_secret_file=/run/lodestar/secrets/hmac_secret"),
        "{cfg}"
    );
}

#[test]
fn one_zero_and_one_alpha() {
    let Some(compose) = docker_compose() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&compose, dir.path(), &["-z", "1", "-a", "1"]);
    assert!(
        cfg.contains("\n  zero1:\n") && cfg.contains("\n  alpha1:\n"),
        "{cfg}"
    );
    assert!(!cfg.contains("zero2") && !cfg.contains("alpha2"), "{cfg}");
    assert!(cfg.contains("--replicas=1"), "{cfg}");
}

#[test]
fn host_directory_tmpfs_traces_and_unpublished_ports() {
    let Some(compose) = docker_compose() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(
        &compose,
        dir.path(),
        &[
            "-d",
            data.to_str().unwrap(),
            "--tmpfs",
            "--jaeger",
            "--expose_ports=false",
            "--names=false",
            "--mem=",
            "--extra_alpha_flags=--snapshot_after_entries 500",
            "--backup_schedule=full=0 0 * * *; destination=/data/backup-worker/backups; keep_series=3",
        ],
    );
    assert!(data.is_dir(), "run makes --data_dir");
    assert!(cfg.contains(data.to_str().unwrap()), "{cfg}");
    assert!(cfg.contains("/data/alpha1/w:uid=65532"), "{cfg}");
    assert!(cfg.contains("\n  jaeger:\n"), "{cfg}");
    assert!(!cfg.contains("container_name"), "{cfg}");
    assert!(
        cfg.contains("--backup_schedule=full=0 0 * * *; destination=/data/backup-worker/backups; keep_series=3"),
        "{cfg}"
    );
}
