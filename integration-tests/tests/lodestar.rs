//! The one `lodestar` command: each role takes exactly the flags of its own binary (same
//! `--help`, same environment variables and config file), an unknown role is refused with exit
//! status 2, and `lodestar zero` and `lodestar alpha` run as processes form a cluster that
//! answers queries.

mod common;

use lodestar_integration_tests::{ClusterBuilder, bin_command, bin_path, run_bin};
use lodestar_proto::api::dgraph_client::DgraphClient;
use lodestar_proto::api::{Mutation, Operation, Request};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--help` of `bin` with `args` before it: (the usage line, everything from the first
/// section, `Commands:` or `Options:`, on).
fn help(bin: &str, args: &[&str]) -> (String, String) {
    let out = run_bin(bin, args.iter().chain(&["--help"]));
    assert!(
        out.status.success(),
        "{bin} {args:?} --help: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    let usage = text
        .lines()
        .find(|l| l.starts_with("Usage: "))
        .unwrap_or_else(|| panic!("{bin} {args:?}: no usage line in {text}"))
        .to_string();
    let body = text
        .lines()
        .skip_while(|l| !(l.starts_with("Commands:") || l.starts_with("Options:")))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(body.contains("Options:"), "{bin} {args:?}: {text}");
    (usage, body)
}

#[test]
fn every_role_lists_the_same_flags_as_its_own_binary() {
    // (lodestar's words, the binary and its words)
    let roles: [(&[&str], &str, &[&str]); 13] = [
        (&["zero"], "zero", &[]),
        (&["alpha"], "alpha", &[]),
        (&["auth"], "auth", &[]),
        (&["backup-worker"], "backup-worker", &[]),
        (&["gateway"], "gateway", &[]),
        (&["live"], "live", &[]),
        (&["bulk"], "bulk", &[]),
        (&["restore"], "alpha", &["restore"]),
        (&["alpha", "restore"], "alpha", &["restore"]),
        (&["license"], "zero", &["license"]),
        (&["zero", "license", "issue"], "zero", &["license", "issue"]),
        (&["rotate-key"], "badger", &["rotate"]),
        (&["backup-worker", "verify"], "backup-worker", &["verify"]),
    ];
    for (words, bin, bin_words) in roles {
        let (usage, body) = help("lodestar", words);
        let (_, own) = help(bin, bin_words);
        assert_eq!(
            body, own,
            "lodestar {words:?} --help lists other flags than {bin} {bin_words:?} --help"
        );
        assert!(
            usage.starts_with(&format!("Usage: lodestar {}", words[0])),
            "{usage}"
        );
    }
    // The services' flags are named for the environment in both.
    let (_, alpha) = help("lodestar", &["alpha"]);
    assert!(
        alpha.contains("[env: LODESTAR_TXN_IDLE_TIMEOUT="),
        "{alpha}"
    );
    // `help ROLE` is `ROLE --help`.
    let out = run_bin("lodestar", ["help", "gateway"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("--acl_access_ttl"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_top_level_lists_the_roles_and_refuses_an_unknown_one_with_status_2() {
    let out = run_bin("lodestar", ["--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for role in [
        "zero",
        "alpha",
        "auth",
        "backup-worker",
        "gateway",
        "live",
        "bulk",
        "restore",
        "license",
        "rotate-key",
        "acl",
        "version",
    ] {
        assert!(text.contains(&format!("\n  {role} ")), "{role}: {text}");
    }
    let out = run_bin("lodestar", ["alhpa", "--my", "x:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("unrecognized subcommand 'alhpa'") && err.contains("alpha"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    // Without a role: the help, and status 2.
    let out = run_bin("lodestar", [] as [&str; 0]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rotate-key"), "{}", stderr(&out));
    // A role's own bad flag is refused by the role, naming it.
    let out = run_bin("lodestar", ["zero", "--no_such_flag", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--no_such_flag") && stderr(&out).contains("lodestar zero"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn version_prints_the_version() {
    let out = run_bin("lodestar", ["version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!(
            "Lodestar version : v{}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        stdout(&out)
    );
    let out = run_bin("lodestar", ["version", "--extra"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `lodestar compose --backup_schedule` checks each schedule as the backup worker will at
/// start (a stack whose worker would refuse it is never written) and passes good ones on.
#[test]
fn compose_checks_backup_schedules_as_the_worker_does() {
    // In a directory of its own: the demo secrets go beside the output (here the current
    // directory, the file going to stdout).
    let dir = tempfile::tempdir().unwrap();
    let compose = |schedule: &str| {
        bin_command("lodestar")
            .args(["compose", "-O", "-", "--backup_schedule", schedule])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = compose("full=0 25 * * *; destination=/data/backup-worker/backups");
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).is_empty(), "nothing written: {}", stdout(&out));
    assert!(
        stderr(&out).contains("--backup_schedule: full=\"0 25 * * *\" is not a cron expression"),
        "{}",
        stderr(&out)
    );
    let good = "full=0 0 * * *; incremental=0 * * * *; destination=/data/backup-worker/backups; keep_series=7";
    let out = compose(good);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("\"--backup_schedule={good}\"")),
        "{}",
        stdout(&out)
    );
}

/// Flags beat the environment, which beats `--config`, exactly as with the gateway binary.
#[test]
fn a_role_reads_the_environment_and_the_config_file() {
    common::gateway_settings_follow_precedence("lodestar", &["gateway"]);
}

/// `lodestar license` and `lodestar zero license` are zero's license commands: a key pair made
/// by one signs licenses the other verifies.
#[test]
fn license_commands_run_under_both_names() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("license.key");
    let public = dir.path().join("license.pub");
    let out = run_bin(
        "lodestar",
        [
            "license",
            "keygen",
            "--private-key",
            common::path(&private),
            "--public-key",
            common::path(&public),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let file = dir.path().join("license.txt");
    let out = run_bin(
        "lodestar",
        [
            "zero",
            "license",
            "issue",
            "--private-key",
            common::path(&private),
            "--user",
            "lodestar-cli",
            "--max-nodes",
            "3",
            "--expiry",
            "30d",
            "--out",
            common::path(&file),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_bin(
        "lodestar",
        [
            "license",
            "verify",
            "--public-key",
            common::path(&public),
            common::path(&file),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let terms: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(terms["user"], "lodestar-cli");
    let out = run_bin("lodestar", ["license", "verify", common::path(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("license: error:"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lodestar_zero_and_lodestar_alpha_form_a_cluster_that_answers_queries() {
    let lodestar = bin_path("lodestar");
    let cluster = ClusterBuilder::new()
        .one_binary(&lodestar)
        .alphas(1)
        .start()
        .await
        .expect("a cluster of lodestar processes");
    for p in cluster.zeros.iter().chain(&cluster.alphas) {
        assert_eq!(p.bin, lodestar, "{}", p.name);
        assert_eq!(p.args[0], p.service.binary(), "{}", p.name);
    }
    let mut c = DgraphClient::new(lodestar_client::channel(&cluster.alpha_grpc()).unwrap());
    c.alter(Operation {
        schema: "name: string @index(exact) .\nfriend: [uid] .".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.query(Request {
        mutations: vec![Mutation {
            set_nquads: b"_:a <name> \"Ann\" .\n_:a <friend> _:b .\n_:b <name> \"Bob\" .".to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let resp = c
        .query(Request {
            query: r#"{ q(func: eq(name, "Ann")) { name friend { name } } }"#.into(),
            read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let json: serde_json::Value = serde_json::from_slice(&resp.json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"q": [{"name": "Ann", "friend": [{"name": "Bob"}]}]})
    );
    // Zero's HTTP API is zero's: the alpha joined group 1.
    let (status, state) =
        lodestar_integration_tests::http_get(&format!("{}/state", cluster.zero_http(0))).await;
    assert_eq!(status, 200, "{state}");
    assert!(state.contains("\"groups\""), "{state}");
}
