//! Unit tests of [`generate`]: what each flag changes, and the combinations refused. The file
//! docker-compose makes of the output is checked in `tests/docker_compose.rs`.

use super::*;
use clap::Parser as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: ComposeArgs,
}

fn parse(argv: &[&str]) -> ComposeArgs {
    Cli::try_parse_from(std::iter::once("compose").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .args
}

fn yaml(argv: &[&str]) -> String {
    generate(&parse(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

fn refused(argv: &[&str]) -> ComposeError {
    match generate(&parse(argv)) {
        Ok(_) => panic!("{argv:?} was accepted"),
        Err(e) => e,
    }
}

/// The lines of one service, from `  name:` to the next line at the services' level (the next
/// service or its comment) or the next top-level key.
fn service<'a>(yaml: &'a str, name: &str) -> &'a str {
    let head = format!("\n  {name}:\n");
    let start = yaml
        .find(&head)
        .unwrap_or_else(|| panic!("no service {name} in:\n{yaml}"))
        + 1;
    let mut end = start + head.len() - 1;
    for line in yaml[end..].split_inclusive('\n') {
        // Blank lines go on (a script may have them); the services are apart by one too.
        if !(line.starts_with("   ") || line == "\n") {
            break;
        }
        end += line.len();
    }
    &yaml[start..end]
}

fn services(yaml: &str) -> Vec<String> {
    let body = &yaml[yaml.find("\nservices:\n").expect("services") + 11..];
    let body = &body[..body.find("\nvolumes:").expect("volumes")];
    body.lines()
        .filter(|l| {
            l.starts_with("  ") && !l.starts_with("   ") && !l.contains('#') && l.ends_with(':')
        })
        .map(|l| l.trim().trim_end_matches(':').to_string())
        .collect()
}

fn secret_file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn defaults_are_three_zeros_and_one_group_of_three_alphas() {
    let y = yaml(&[]);
    assert_eq!(
        services(&y),
        [
            "init",
            "zero1",
            "zero2",
            "zero3",
            "alpha1",
            "alpha2",
            "alpha3",
            "auth",
            "backup-worker",
            "gateway"
        ]
    );
    assert!(y.contains("\nversion: \"3.5\"\n"), "{y}");
    let zero2 = service(&y, "zero2");
    for want in [
        "\"zero\"",
        "\"--port_offset=102\"",
        "\"--idx=2\"",
        "\"--my=zero2:5182\"",
        "\"--peer=zero1:5180\"",
        "\"--replicas=3\"",
        "\"--wal=/data/zero2/zw\"",
        "\"--cluster_secret_file=/run/lodestar/secrets/cluster_secret\"",
        "\"6182:6182\"",
        "image: \"lodestar:0.1.0\"",
        "user: \"65532:65532\"",
        "entrypoint: [\"/usr/local/bin/lodestar\"]",
        "restart: \"unless-stopped\"",
        "memory: \"32G\"",
        "\"http://127.0.0.1:6182/health\"",
    ] {
        assert!(zero2.contains(want), "zero2 lacks {want}:\n{zero2}");
    }
    assert!(!zero2.contains("5182:"), "zero's gRPC stays inside");
    assert!(!service(&y, "zero1").contains("--peer"));
    let alpha2 = service(&y, "alpha2");
    for want in [
        "\"alpha\"",
        "\"--my=alpha2:7182\"",
        "\"--zero=zero1:5180,zero2:5182,zero3:5183\"",
        "\"--postings=/data/alpha2/p\"",
        "\"--wal=/data/alpha2/w\"",
        "\"8183:8183\"",
        "\"9182:9182\"",
        "\"http://127.0.0.1:8183/health\"",
        "stop_grace_period: \"120s\"",
    ] {
        assert!(alpha2.contains(want), "alpha2 lacks {want}:\n{alpha2}");
    }
    assert!(!alpha2.contains("7182:"), "the internal port stays inside");
    assert!(service(&y, "alpha1").contains("\"9180:9180\""));
    let gateway = service(&y, "gateway");
    for want in [
        "\"8180:8180\"",
        "\"--alpha=alpha1:9180,alpha2:9182,alpha3:9183\"",
        "\"--auth=auth:7170\"",
        "\"--backup=backup-worker:7190\"",
        "\"http://127.0.0.1:8180/probe/graphql\"",
    ] {
        assert!(gateway.contains(want), "gateway lacks {want}:\n{gateway}");
    }
    for name in ["auth", "backup-worker"] {
        let s = service(&y, name);
        assert!(!s.contains("ports:"), "{name} publishes nothing:\n{s}");
        assert!(
            !s.contains("memory:"),
            "{name}: --mem is for zeros and alphas"
        );
    }
    // A health check on every long-running service; init is a one-shot.
    for name in &services(&y)[1..] {
        let s = service(&y, name);
        assert!(s.contains("healthcheck:"), "{name}");
        assert!(s.contains("\"wget\""), "{name}");
        assert!(s.contains("cap_drop:"), "{name}");
    }
    assert!(y.contains("  cluster_secret:\n    file: \"./cluster-secret\""));
    assert!(!y.contains("hmac_secret"), "ACL is off by default");
    assert!(!y.contains("enc_key"), "encryption is off by default");
    assert!(y.contains("\n  data: {}\n"), "the named volume by default");
}

#[test]
fn dependencies_cannot_deadlock_a_restart() {
    let y = yaml(&[]);
    let deps = |name: &str| {
        let s = service(&y, name);
        let d = &s[s.find("depends_on:").expect("depends_on")..];
        d[..d.find("healthcheck:").unwrap_or(d.len())].to_string()
    };
    assert!(deps("zero1").contains("init:\n        condition: \"service_completed_successfully\""));
    assert!(
        deps("zero2").contains("zero1:\n        condition: \"service_started\""),
        "zeros must not wait for zero1 to be healthy: it is not until a majority runs"
    );
    let alpha2 = deps("alpha2");
    assert!(alpha2.contains("zero1:\n        condition: \"service_healthy\""));
    assert!(
        !alpha2.contains("alpha"),
        "alphas never wait for alphas: {alpha2}"
    );
    for i in 1..=3 {
        assert!(deps("auth").contains(&format!(
            "alpha{i}:\n        condition: \"service_healthy\""
        )));
        assert!(deps("backup-worker").contains(&format!("alpha{i}:")));
    }
    let gateway = deps("gateway");
    assert!(gateway.contains("auth:\n        condition: \"service_healthy\""));
    assert!(gateway.contains("backup-worker:\n        condition: \"service_healthy\""));
}

#[test]
fn the_seeds_command_line_turns_acl_on_with_the_given_file() {
    let dir = tempfile::tempdir().unwrap();
    // A file as the seed makes it: plain text, the default mode (readable by others).
    let hmac = secret_file(
        dir.path(),
        "hmac",
        b"0123456789abcdef0123456789abcdef\n",
        0o644,
    );
    let args = parse(&["-e", "--acl_secret", hmac.to_str().unwrap()]);
    assert!(args.enterprise);
    let plan = plan::plan(&args).unwrap();
    let y = &plan.yaml;
    assert!(
        y.contains(&format!(
            "  hmac_secret:\n    file: {}",
            yaml::quote(hmac.to_str().unwrap())
        )),
        "{y}"
    );
    let flag = "\"--acl_secret_file=/run/lodestar/secrets/hmac_secret\"";
    for name in ["alpha1", "alpha3", "auth", "gateway", "backup-worker"] {
        assert!(service(y, name).contains(flag), "{name}");
    }
    assert!(!service(y, "zero1").contains(flag), "zeros do not read it");
    let init = service(y, "init");
    assert!(init.contains("cat /run/secrets/hmac_secret > /secrets/alpha/hmac_secret"));
    assert!(!init.contains("> /secrets/zero/hmac_secret"));
    assert!(y.contains("ACL is on: log in as groot"));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("-e (--enterprise) changes nothing"))
    );
    assert!(
        plan.notes.iter().any(|n| n.contains("chmod 600")),
        "{:?}",
        plan.notes
    );
    // Only the cluster secret is a demo file: the ACL secret is the user's.
    let demos: Vec<_> = plan.demo_files.iter().map(|d| d.path.clone()).collect();
    assert_eq!(demos.len(), 1, "{demos:?}");
    assert!(demos[0].ends_with("cluster-secret"));
}

#[test]
fn acl_and_encryption_without_paths_use_demo_files_beside_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stack/docker-compose.yml");
    let args = parse(&["--acl", "--encryption", "-O", out.to_str().unwrap()]);
    let plan = plan::plan(&args).unwrap();
    let names: Vec<_> = plan
        .demo_files
        .iter()
        .map(|d| {
            d.path
                .strip_prefix(dir.path().join("stack"))
                .unwrap()
                .to_path_buf()
        })
        .collect();
    assert_eq!(
        names,
        ["cluster-secret", "acl-secret", "enc-secret"].map(PathBuf::from)
    );
    let y = &plan.yaml;
    assert!(y.contains("  hmac_secret:\n    file: \"./acl-secret\""));
    assert!(y.contains("  enc_key:\n    file: \"./enc-secret\""));
    let key = "\"--encryption_key_file=/run/lodestar/secrets/enc_key\"";
    for name in ["zero1", "alpha2", "backup-worker"] {
        assert!(service(y, name).contains(key), "{name}");
    }
    for name in ["auth", "gateway"] {
        assert!(
            !service(y, name).contains(key),
            "{name} has no use for the key"
        );
    }
    // With stdout, the demo files go to the current directory and are named absolutely.
    let stdout = plan::plan(&parse(&["--acl", "-O", "-"])).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert!(stdout.yaml.contains(&format!(
        "file: {}",
        yaml::quote(cwd.join("acl-secret").to_str().unwrap())
    )));
}

#[test]
fn secret_files_the_services_would_refuse_are_refused_now() {
    let dir = tempfile::tempdir().unwrap();
    let short = secret_file(dir.path(), "short", &[b'k'; 31], 0o600);
    let e = refused(&["--acl_secret", short.to_str().unwrap()]);
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    let text = e.to_string();
    assert!(
        text.contains("--acl_secret") && text.contains("at least 32"),
        "{text}"
    );
    assert!(!text.contains("kkkk"), "never the contents: {text}");

    let missing = dir.path().join("missing");
    let text = refused(&["--acl_secret", missing.to_str().unwrap()]).to_string();
    assert!(text.contains("cannot be read"), "{text}");
    let text = refused(&["--acl_secret", dir.path().to_str().unwrap()]).to_string();
    assert!(text.contains("cannot be read"), "a directory: {text}");

    let key = secret_file(dir.path(), "key", &[7u8; 33], 0o600);
    let text = refused(&["--enc_key", key.to_str().unwrap()]).to_string();
    assert!(
        text.contains("--enc_key") && text.contains("exactly 16, 24 or 32"),
        "{text}"
    );
    let key = secret_file(dir.path(), "key24", &[7u8; 24], 0o600);
    assert!(yaml(&["--enc_key", key.to_str().unwrap()]).contains("enc_key:"));

    let mut cluster = vec![b'c'; 31];
    cluster.extend_from_slice(b"\n\n");
    let cluster = secret_file(dir.path(), "cluster", &cluster, 0o600);
    let text = refused(&["--cluster_secret", cluster.to_str().unwrap()]).to_string();
    assert!(
        text.contains("--cluster_secret") && text.contains("holds 31 bytes"),
        "{text}"
    );
}

#[test]
fn counts_must_make_full_groups_of_an_odd_size() {
    let e = refused(&["-r", "2"]);
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(e.to_string().contains("--num_replicas 2 is even"), "{e}");
    let e = refused(&["-a", "4"]);
    assert!(
        e.to_string().contains("the last group would have 1 alpha")
            && e.to_string()
                .contains("--num_alphas 3 or --num_alphas 6 or --num_replicas 1"),
        "{e}"
    );
    let e = refused(&["-a", "2"]);
    assert!(
        e.to_string()
            .contains("give --num_alphas 3 or --num_replicas 1"),
        "{e}"
    );

    // One alpha runs alone, as in Dgraph's compose.
    let y = yaml(&["-z", "1", "-a", "1"]);
    assert_eq!(
        services(&y),
        [
            "init",
            "zero1",
            "alpha1",
            "auth",
            "backup-worker",
            "gateway"
        ]
    );
    assert!(service(&y, "zero1").contains("\"--replicas=1\""));
    assert!(service(&y, "gateway").contains("\"--alpha=alpha1:9180\""));

    let y = yaml(&["-a", "6", "-r", "3"]);
    assert!(services(&y).contains(&"alpha6".to_string()));
    let y = yaml(&["--num_groups", "2"]);
    assert!(
        services(&y).contains(&"alpha6".to_string()),
        "2 groups of 3"
    );
    assert!(!services(&y).contains(&"alpha7".to_string()));
    assert!(yaml(&["--num_groups", "2", "-a", "6"]).contains("alpha6:"));
    let e = refused(&["--num_groups", "2", "-a", "3"]);
    assert!(e.to_string().contains("disagree"), "{e}");
    let e = refused(&["--num_groups", "34"]);
    assert!(e.to_string().contains("at most 99"), "{e}");
    assert!(Cli::try_parse_from(["compose", "-z", "0"]).is_err());
    assert!(Cli::try_parse_from(["compose", "-a", "100"]).is_err());
}

#[test]
fn data_goes_to_the_volume_or_a_host_directory_not_both() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let e = refused(&["-d", data.to_str().unwrap(), "--data_vol"]);
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(e.to_string().contains("give one"), "{e}");

    let y = yaml(&["-d", data.to_str().unwrap()]);
    let alpha = service(&y, "alpha1");
    assert!(alpha.contains(&format!(
        "type: \"bind\"\n        source: {}\n        target: \"/data\"",
        yaml::quote(data.to_str().unwrap())
    )));
    assert!(!y.contains("\n  data: {}"), "no named volume: {y}");
    assert!(
        !service(&y, "gateway").contains("/data"),
        "the gateway keeps nothing"
    );

    let y = yaml(&["--data_vol"]);
    assert!(service(&y, "zero1").contains("source: \"data\""));
    assert!(service(&y, "init").contains("mkdir -p"));
    // The one-shot init has no health check (the image's looks for a service's port).
    assert!(service(&y, "init").contains("healthcheck:\n      disable: true"));
}

#[test]
fn tmpfs_puts_the_raft_logs_in_memory() {
    let y = yaml(&["--tmpfs"]);
    assert!(service(&y, "zero2").contains("\"/data/zero2/zw:uid=65532,gid=65532,mode=0700\""));
    assert!(service(&y, "alpha3").contains("\"/data/alpha3/w:uid=65532,gid=65532,mode=0700\""));
    assert!(service(&y, "init").contains("/data/alpha3/w"));
    assert!(!yaml(&[]).contains("tmpfs:"));
}

#[test]
fn minio_adds_an_s3_server_for_the_backup_worker() {
    let y = yaml(&["--minio"]);
    let s3 = service(&y, "seaweedfs");
    for want in [
        "image: \"lodestar-seaweedfs:0.1.0\"",
        "\"9001:9001\"",
        "-s3.port=9001",
        "-master.telemetry=false",
        "\"http://127.0.0.1:9001/healthz\"",
        "env_file: [\"./minio.env\"]",
        "$$MINIO_ACCESS_KEY",
    ] {
        assert!(s3.contains(want), "seaweedfs lacks {want}:\n{s3}");
    }
    let bw = service(&y, "backup-worker");
    assert!(bw.contains("env_file: [\"./minio.env\"]"));
    assert!(bw.contains("seaweedfs:\n        condition: \"service_healthy\""));
    assert!(service(&y, "init").contains("/data/seaweedfs"));

    let dir = tempfile::tempdir().unwrap();
    let env = secret_file(
        dir.path(),
        "backup.env",
        b"MINIO_ACCESS_KEY=ak\nMINIO_SECRET_KEY=sk\n",
        0o600,
    );
    let y = yaml(&[
        "--minio",
        "--minio_port=9100",
        "--minio_env_file",
        env.to_str().unwrap(),
    ]);
    assert!(service(&y, "seaweedfs").contains("\"9100:9100\""));
    assert!(service(&y, "backup-worker").contains(env.to_str().unwrap()));
    let e = refused(&["--minio_env_file", env.to_str().unwrap()]);
    assert!(e.to_string().contains("needs --minio"), "{e}");
    let bad = secret_file(dir.path(), "bad.env", b"MINIO_ACCESS_KEY=ak\n", 0o600);
    let e = refused(&["--minio", "--minio_env_file", bad.to_str().unwrap()]);
    assert!(
        e.to_string().contains("does not set MINIO_SECRET_KEY"),
        "{e}"
    );
    let e = refused(&["--minio", "--minio_port=9333"]);
    assert!(e.to_string().contains("clashes with SeaweedFS"), "{e}");
    let e = refused(&["--minio", "--minio_port=9180"]);
    assert!(e.to_string().contains("both publish port 9180"), "{e}");
}

#[test]
fn traces_go_to_jaeger_or_an_otlp_endpoint() {
    let y = yaml(&["--jaeger"]);
    let jaeger = service(&y, "jaeger");
    assert!(jaeger.contains(&format!("image: \"{JAEGER_IMAGE}\"")));
    assert!(jaeger.contains("\"16686:16686\""));
    for name in ["zero1", "alpha1", "auth", "backup-worker", "gateway"] {
        assert!(
            service(&y, name).contains("LODESTAR_OTLP_ENDPOINT: \"http://jaeger:4317\""),
            "{name}"
        );
    }
    let y = yaml(&["--otlp", "http://collector:4317"]);
    assert!(!y.contains("jaeger"));
    assert!(service(&y, "alpha2").contains("LODESTAR_OTLP_ENDPOINT: \"http://collector:4317\""));
    assert!(!yaml(&[]).contains("LODESTAR_OTLP_ENDPOINT"));
    let e = refused(&["--jaeger", "--otlp", "http://c:4317"]);
    assert!(e.to_string().contains("give one"), "{e}");
    let e = refused(&["--otlp", "collector:4317"]);
    assert!(e.to_string().contains("not an OTLP/gRPC endpoint"), "{e}");
}

#[test]
fn ports_follow_the_offset_and_expose_ports() {
    let y = yaml(&["-o", "0"]);
    assert!(service(&y, "alpha1").contains("\"9080:9080\""));
    assert!(service(&y, "alpha1").contains("\"8081:8081\""));
    assert!(service(&y, "gateway").contains("\"8080:8080\""));
    assert!(service(&y, "zero3").contains("\"--my=zero3:5083\""));

    let y = yaml(&["--expose_ports=false"]);
    let alpha = service(&y, "alpha1");
    assert!(alpha.contains("ports: [\"8181\", \"9180\"]"), "{alpha}");
    assert!(!y.contains("Then: HTTP"));

    let e = refused(&["-o", "56500"]);
    assert!(e.to_string().contains("past 65535"), "{e}");
}

#[test]
fn mem_names_image_and_extra_flags() {
    let y = yaml(&["--mem", "8g"]);
    assert!(service(&y, "alpha1").contains("memory: \"8g\""));
    let y = yaml(&["--mem="]);
    assert!(!y.contains("memory:"), "empty: no limit");
    for bad in ["lots", "8x", "g", "1.2.3G", "8kg"] {
        let e = refused(&["--mem", bad]);
        assert!(e.to_string().contains("is not a size"), "{bad}: {e}");
    }
    for good in ["512m", "1.5GB", "1048576", "2gb"] {
        yaml(&["--mem", good]);
    }

    let y = yaml(&[]);
    assert!(service(&y, "alpha1").contains("container_name: \"alpha1\""));
    assert!(!yaml(&["--names=false"]).contains("container_name"));

    let y = yaml(&["--image", "registry.local/lodestar", "-t", "dev", "--minio"]);
    assert!(service(&y, "zero1").contains("image: \"registry.local/lodestar:dev\""));
    assert!(service(&y, "seaweedfs").contains("image: \"registry.local/lodestar-seaweedfs:dev\""));
    assert!(refused(&["--tag", "a b"]).to_string().contains("--tag"));

    let y = yaml(&[
        "--extra_alpha_flags",
        "--snapshot_after_entries 500 --tls 'server-cert=/c; server-key=/k'",
        "--extra_zero_flags=--rebalance_interval=0s",
    ]);
    let alpha = service(&y, "alpha2");
    assert!(alpha.contains("- \"--snapshot_after_entries\"\n      - \"500\"\n"));
    assert!(alpha.contains("- \"server-cert=/c; server-key=/k\"\n"));
    assert!(service(&y, "zero2").contains("- \"--rebalance_interval=0s\""));
    assert!(!service(&y, "zero2").contains("snapshot_after"));
    let e = refused(&["--extra_alpha_flags", "--tls 'open"]);
    assert!(
        e.to_string().contains("--extra_alpha_flags: unclosed '"),
        "{e}"
    );
}

#[test]
fn booleans_take_dgraph_style_values() {
    let args = parse(&["--acl=false", "--encryption=true", "--expose_ports", "-e"]);
    assert!(!args.acl && args.encryption && args.expose_ports && args.enterprise);
    assert!(!parse(&["--expose_ports=false"]).expose_ports);
    assert!(parse(&[]).expose_ports && parse(&[]).names);
    // A bool never swallows the next word.
    assert!(Cli::try_parse_from(["compose", "--acl", "false"]).is_err());
}

#[test]
fn the_header_records_the_command_line_and_dollars_are_escaped() {
    let mut args = parse(&["-a", "3", "--acl"]);
    args.command_line = [
        "lodestar",
        "compose",
        "-a",
        "3",
        "--acl",
        "-O",
        "my dir/x.yml",
    ]
    .map(String::from)
    .to_vec();
    let y = generate(&args).unwrap();
    assert!(
        y.starts_with("# Made by `lodestar compose`"),
        "{}",
        &y[..200]
    );
    assert!(y.contains("#   lodestar compose -a 3 --acl -O 'my dir/x.yml'\n"));
    // docker-compose substitutes $NAME in values: every $ the shell must see is doubled.
    assert!(service(&y, "init").contains("mkdir -p \"$$d\""));
    for (i, _) in y.match_indices('$') {
        let doubled = y[i..].starts_with("$$") || (i > 0 && y[..i].ends_with('$'));
        assert!(
            doubled,
            "a lone $ at {i}: {}",
            &y[i.saturating_sub(40)..i + 10]
        );
    }
    let plan = plan::plan(&parse(&[])).unwrap();
    assert!(
        plan.summary
            .starts_with("Options: num_zeros=3 num_alphas=3 num_replicas=3 groups=1")
    );
}

#[test]
fn run_writes_the_file_and_private_demo_secrets_and_keeps_them() {
    let top = tempfile::tempdir().unwrap();
    // The output's directory is made when missing.
    let dir = top.path().join("stack");
    let out = dir.join("docker-compose.yml");
    let mut args = parse(&[
        "--acl",
        "--encryption",
        "--minio",
        "-O",
        out.to_str().unwrap(),
    ]);
    args.command_line = vec!["lodestar".into(), "compose".into()];
    assert_eq!(run(args.clone()), ExitCode::SUCCESS);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        generate(&args).unwrap()
    );
    let mut before = Vec::new();
    for name in ["cluster-secret", "acl-secret", "enc-secret", "minio.env"] {
        let path = dir.join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        before.push(std::fs::read(&path).unwrap());
    }
    assert_eq!(std::fs::read(dir.join("enc-secret")).unwrap().len(), 32);
    assert_eq!(run(args.clone()), ExitCode::SUCCESS);
    for (name, old) in ["cluster-secret", "acl-secret", "enc-secret", "minio.env"]
        .iter()
        .zip(before)
    {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), old, "{name} kept");
    }

    // Refused flags write nothing and exit 2.
    let other = dir.join("other.yml");
    let bad = parse(&["-r", "4", "-O", other.to_str().unwrap()]);
    assert_eq!(run(bad), ExitCode::from(2));
    assert!(!other.exists());
}

#[test]
fn backup_schedules_go_to_the_backup_worker_checked() {
    let minio =
        "full=0 0 * * *; destination=minio://seaweedfs:9001/b/c?secure=false; keep_series=7";
    let y = yaml(&[
        "--minio",
        "--backup_schedule",
        minio,
        "--backup_schedule",
        "name=local; full=0 * * * *; destination=/data/backup-worker/b",
    ]);
    let worker = service(&y, "backup-worker");
    assert!(
        worker.contains(&format!("\"--backup_schedule={minio}\"")),
        "{worker}"
    );
    assert!(
        worker.contains("\"--backup_schedule=name=local; "),
        "{worker}"
    );
    assert!(!service(&y, "alpha1").contains("backup_schedule"));

    // Key files would name paths inside the worker's container that nothing provides.
    let e = refused(&[
        "--backup_schedule",
        "full=0 0 * * *; destination=s3://h/b; access_key_file=/k; secret_key_file=/s",
    ]);
    assert!(
        e.to_string()
            .contains("access_key_file names a file inside the backup worker's container"),
        "{e}"
    );

    // The check the lodestar binary installs (the worker's own parser) is applied and its
    // message kept; without schedules it is not called.
    let mut args = parse(&["--backup_schedule", "full=0 0 * * *; destination=/x"]);
    args.check_schedules = Some(|values| Err(format!("refused {} schedule(s)", values.len())));
    let e = generate(&args).unwrap_err();
    assert!(e.to_string().contains("refused 1 schedule(s)"), "{e}");
    let mut args = parse(&[]);
    args.check_schedules = Some(|_| Err("called".into()));
    assert!(generate(&args).is_ok());
}
