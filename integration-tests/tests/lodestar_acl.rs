//! `lodestar acl`, Dgraph's ACL tool, against a cluster with ACL on: it adds users and groups,
//! puts users in groups and grants groups predicates, and a real client logged in as such a
//! user then reads and writes exactly what was granted; a negative permission takes the rule
//! away; `info` shows users and groups; a wrong guardian password and a user who is not a
//! guardian are refused with status 1 and Dgraph's messages on stdout; a command killed
//! part-way changes all or nothing.

mod common;

use common::{TokenClient as Client, token_client as client, token_read as read};
use lodestar_integration_tests::{Cluster, ClusterBuilder, bin_command};
use lodestar_proto::api::{Jwt, LoginRequest, Mutation, Operation, Request};
use prost::Message as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Output, Stdio};

const SECRET: &str = "1234567890abcdefghijklmnopqrstuvwxyz";

/// One zero and the services with ACL on (its secret written into `dir`): one alpha, or the
/// groups of replicas `LODESTAR_TEST_GROUPS` and `LODESTAR_TEST_REPLICAS` ask for.
async fn acl_cluster(dir: &std::path::Path) -> Cluster {
    let secret = dir.join("hmac_secret_file");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    ClusterBuilder::new()
        .acl_secret_file(&secret)
        .services(true)
        .start()
        .await
        .expect("cluster")
}

/// groot's login as `lodestar acl` takes it.
const GROOT: [&str; 4] = ["-w", "groot", "-x", "password"];

/// `lodestar acl -a <alpha>`, for more arguments.
fn acl_command(alpha: &str) -> std::process::Command {
    let mut command = bin_command("lodestar");
    command.args(["acl", "-a", alpha]);
    command
}

/// Runs `lodestar acl -a <alpha> <args…>`, with `input` on stdin.
fn acl_with_input(cluster: &Cluster, args: &[&str], input: &str) -> Output {
    let mut child = acl_command(&cluster.alpha_grpc())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lodestar runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `lodestar acl -a <alpha> <args…>` with stdin closed.
fn acl(cluster: &Cluster, args: &[&str]) -> Output {
    acl_with_input(cluster, args, "")
}

/// Runs `lodestar acl -a <alpha> -w groot -x password <args…>`, which must succeed; its stdout.
fn groot_acl(cluster: &Cluster, args: &[&str]) -> String {
    let args: Vec<&str> = GROOT.iter().chain(args).copied().collect();
    let out = acl(cluster, &args);
    assert!(
        out.status.success(),
        "lodestar acl {args:?}: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A failed run: status 1, nothing on stderr, and its stdout.
fn failed(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        out.stderr.is_empty(),
        "Dgraph's tool writes errors to stdout: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

/// What every command prints once it is logged in.
fn logged_in(cluster: &Cluster) -> String {
    format!(
        "\nRunning transaction with dgraph endpoint: {}\nLogin successful.\n",
        cluster.alpha_grpc()
    )
}

async fn try_log_in(
    cluster: &Cluster,
    user: &str,
    password: &str,
) -> Result<Client, tonic::Status> {
    let resp = client(cluster, "")
        .login(LoginRequest {
            userid: user.into(),
            password: password.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let jwt = Jwt::decode(resp.json.as_slice()).expect("Response.json holds an api.Jwt");
    Ok(client(cluster, &jwt.access_jwt))
}

async fn log_in(cluster: &Cluster, user: &str, password: &str) -> Client {
    try_log_in(cluster, user, password)
        .await
        .unwrap_or_else(|e| panic!("{user} logs in: {e:?}"))
}

async fn write(c: &mut Client, rdf: &str) -> Result<(), tonic::Status> {
    c.query(Request {
        mutations: vec![Mutation {
            set_nquads: rdf.as_bytes().to_vec(),
            ..Default::default()
        }],
        commit_now: true,
        ..Default::default()
    })
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_predicates_are_what_the_groups_users_read_and_write() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path()).await;
    let mut root = log_in(&cluster, "groot", "password").await;
    root.alter(Operation {
        schema: "name: string @index(exact) .\nage: int .\nfriend: [uid] @reverse .".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    write(
        &mut root,
        "_:a <name> \"Ann\" .\n_:a <age> \"31\" .\n_:a <friend> _:b .\n_:b <name> \"Bob\" .\n_:b <age> \"40\" .",
    )
    .await
    .unwrap();

    let out = groot_acl(&cluster, &["add", "-u", "alice", "-p", "alicepassword"]);
    assert_eq!(
        out,
        format!("{}Created new user with id alice\n", logged_in(&cluster))
    );
    let out = groot_acl(&cluster, &["add", "-g", "dev"]);
    assert_eq!(
        out,
        format!("{}Created new group with id dev\n", logged_in(&cluster))
    );
    let out = groot_acl(&cluster, &["mod", "-u", "alice", "-l", "dev"]);
    assert!(
        out.starts_with(&format!(
            "{}Adding user alice to group dev\nSuccessfully modified groups for user alice.\nThe latest info is:\nUser  : alice\nUID   : 0x",
            logged_in(&cluster)
        )),
        "{out}"
    );
    assert!(out.ends_with("\nGroup : dev  \n"), "{out}");

    // Before any rule, alice reads and writes nothing (default deny).
    let mut alice = log_in(&cluster, "alice", "alicepassword").await;
    assert_eq!(
        read(&mut alice, r#"{ q(func: eq(name, "Bob")) { name } }"#).await,
        serde_json::json!({"q": []})
    );

    // The seed's command, verbatim but for the command's name and the address.
    for pred in ["~friend", "name"] {
        let out = bin_command("lodestar")
            .args([
                "acl",
                "-a",
                &cluster.alpha_grpc(),
                "-w",
                "groot",
                "-x",
                "password",
                "mod",
                "--group",
                "dev",
                "--pred",
                pred,
                "--perm",
                "7",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stdout(&out));
        assert_eq!(
            stdout(&out),
            logged_in(&cluster),
            "Dgraph's tool prints no more"
        );
    }
    let info = groot_acl(&cluster, &["info", "-g", "dev"]);
    let rules: Vec<&str> = info.lines().filter(|l| l.starts_with("ACL: ")).collect();
    assert_eq!(rules, ["ACL: {~friend 7}", "ACL: {name 7}"], "{info}");
    assert!(info.contains("\nUsers: alice\n"), "{info}");

    // alice reads name and ~friend, not age or friend; she writes name, not age or friend.
    assert_eq!(
        read(
            &mut alice,
            r#"{ q(func: eq(name, "Bob")) { name age ~friend { name age friend { name } } } }"#
        )
        .await,
        serde_json::json!({"q": [{"name": "Bob", "~friend": [{"name": "Ann"}]}]})
    );
    write(&mut alice, "_:c <name> \"Cat\" .").await.unwrap();
    for (rdf, pred) in [
        ("_:d <age> \"3\" .", "age"),
        ("_:d <friend> _:e .", "friend"),
    ] {
        let err = write(&mut alice, rdf).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            err.message(),
            format!("unauthorized to mutate following predicates: {pred} \n")
        );
    }
    assert_eq!(
        read(&mut root, r#"{ q(func: eq(name, "Cat")) { name } }"#).await,
        serde_json::json!({"q": [{"name": "Cat"}]})
    );

    // An existing rule is updated in place: read only now.
    groot_acl(&cluster, &["mod", "-g", "dev", "-p", "name", "-m", "4"]);
    let info = groot_acl(&cluster, &["info", "-g", "dev"]);
    let rules: Vec<&str> = info.lines().filter(|l| l.starts_with("ACL: ")).collect();
    assert_eq!(rules, ["ACL: {~friend 7}", "ACL: {name 4}"], "{info}");
    let err = write(&mut alice, "_:f <name> \"Fay\" .").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        read(&mut alice, r#"{ q(func: eq(name, "Ann")) { name } }"#).await,
        serde_json::json!({"q": [{"name": "Ann"}]})
    );

    // A negative permission removes the rule: name is hidden again, ~friend stays.
    let out = groot_acl(&cluster, &["mod", "-g", "dev", "-p", "name", "-m", "-1"]);
    assert_eq!(out, logged_in(&cluster));
    let info = groot_acl(&cluster, &["info", "-g", "dev"]);
    let rules: Vec<&str> = info.lines().filter(|l| l.starts_with("ACL: ")).collect();
    assert_eq!(rules, ["ACL: {~friend 7}"], "{info}");
    assert_eq!(
        read(&mut alice, r#"{ q(func: eq(name, "Ann")) { name } }"#).await,
        serde_json::json!({"q": []})
    );
    let bob = read(&mut root, r#"{ q(func: eq(name, "Bob")) { uid } }"#).await["q"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let ann =
        read(&mut root, r#"{ q(func: eq(name, "Ann")) { uid } }"#).await["q"][0]["uid"].clone();
    assert_eq!(
        read(
            &mut alice,
            &format!("{{ q(func: uid({bob})) {{ name ~friend {{ uid name }} }} }}")
        )
        .await,
        serde_json::json!({"q": [{"~friend": [{"uid": ann}]}]})
    );
    let err = write(&mut alice, "_:g <name> \"Gus\" .").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    // Removing a rule that is not there changes nothing and is no error, as in Dgraph.
    groot_acl(&cluster, &["mod", "-g", "dev", "-p", "name", "-m", "-1"]);
    // A group that does not exist is named.
    let out = failed(acl(
        &cluster,
        &[
            "-w", "groot", "-x", "password", "mod", "-g", "ops", "-p", "name", "-m", "4",
        ],
    ));
    assert_eq!(
        out,
        format!(
            "{}Unable to modify: group <ops> doesn't exist\n",
            logged_in(&cluster)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_groups_are_added_changed_shown_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path()).await;
    let creds = "--guardian-creds=user=groot;password=password;namespace=0";
    for args in [
        &["add", "-g", "dev"][..],
        &["add", "-g", "ops"],
        &["add", "-u", "carol", "-p", "carolpassword"],
    ] {
        let out = acl(&cluster, &[&[creds][..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", stdout(&out));
    }
    let out = failed(acl(
        &cluster,
        &[creds, "add", "-u", "carol", "-p", "x1234567"],
    ));
    assert!(
        out.ends_with("Login successful.\nunable to create user because of conflict: carol\n"),
        "{out}"
    );
    let out = failed(acl(&cluster, &[creds, "add", "-g", "dev"]));
    assert!(out.ends_with("\ngroup \"dev\" already exists\n"), "{out}");

    // Groups: set, changed, unchanged, and a group that does not exist.
    let out = groot_acl(&cluster, &["mod", "-u", "carol", "-l", "dev,ops"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[3..6],
        [
            "Adding user carol to group dev",
            "Adding user carol to group ops",
            "Successfully modified groups for user carol."
        ],
        "{out}"
    );
    assert_eq!(lines[9..], ["Group : dev  ", "Group : ops  "], "{out}");
    let out = groot_acl(&cluster, &["mod", "-u", "carol", "-l", "ops"]);
    assert!(
        out.contains("\nDeleting user carol from group dev\nSuccessfully modified groups"),
        "{out}"
    );
    let out = groot_acl(&cluster, &["mod", "-u", "carol", "--group_list", "ops"]);
    assert_eq!(
        out,
        format!(
            "{}Nothing needs to be changed for the groups of user: carol\n",
            logged_in(&cluster)
        )
    );
    let out = failed(acl(
        &cluster,
        &[creds, "mod", "-u", "carol", "-l", "ops,sre"],
    ));
    assert!(
        out.ends_with(
            "Login successful.\nAdding user carol to group sre\nUnable to modify: group \"sre\" does not exist\n"
        ),
        "{out}"
    );
    let info = groot_acl(&cluster, &["info", "-u", "carol"]);
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines[3], "User  : carol", "{info}");
    assert!(lines[4].starts_with("UID   : 0x"), "{info}");
    assert_eq!(lines[5..], ["Group : ops  "], "{info}");
    let info = groot_acl(&cluster, &["info", "-g", "ops"]);
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines[3], "Group: ops", "{info}");
    assert!(lines[4].starts_with("UID  : 0x"), "{info}");
    assert_eq!(lines[5..], ["ID   : ops", "Users: carol"], "{info}");

    // A new password, typed twice (from a pipe here).
    let out = acl_with_input(
        &cluster,
        &[creds, "mod", "-u", "carol", "--new_password"],
        "carolpassword2\ncarolpassword2\n",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}New password for carol:\nRetype new password for carol:\nSuccessfully changed password for carol\n",
            logged_in(&cluster)
        )
    );
    log_in(&cluster, "carol", "carolpassword2").await;
    assert!(
        try_log_in(&cluster, "carol", "carolpassword")
            .await
            .is_err()
    );
    let out = failed(acl_with_input(
        &cluster,
        &[creds, "mod", "-u", "carol", "-n"],
        "carolpassword3\ncarolpassword4\n",
    ));
    assert!(
        out.ends_with("Unable to modify: the two typed passwords do not match\n"),
        "{out}"
    );

    // The guardian's password and a new user's, asked for.
    let out = acl_with_input(
        &cluster,
        &["add", "-u", "dave", "-g", ""],
        "password\ndavepassword\ndavepassword\n",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "\nRunning transaction with dgraph endpoint: {}\nCurrent password for groot:\nLogin successful.\nNew password for dave:\nRetype new password for dave:\nCreated new user with id dave\n",
            cluster.alpha_grpc()
        )
    );
    log_in(&cluster, "dave", "davepassword").await;

    // Deletion: the user can no longer log in, and the names are free again.
    let out = groot_acl(&cluster, &["del", "-u", "carol"]);
    assert!(
        out.ends_with("Login successful.\nSuccessfully deleted \"carol\"\n"),
        "{out}"
    );
    assert!(
        try_log_in(&cluster, "carol", "carolpassword2")
            .await
            .is_err()
    );
    let out = failed(acl(&cluster, &[creds, "info", "-u", "carol"]));
    assert!(
        out.ends_with("Unable to show info: the user \"carol\" does not exist\n"),
        "{out}"
    );
    groot_acl(&cluster, &["del", "-g", "ops"]);
    let out = failed(acl(&cluster, &[creds, "info", "-g", "ops"]));
    assert!(
        out.ends_with("Unable to show info: the group ops doesn't exist\n"),
        "{out}"
    );
    let out = failed(acl(&cluster, &[creds, "del", "-u", "carol"]));
    assert!(
        out.ends_with(
            "Unable to delete the user: unable to delete \"carol\" since it does not exist\n"
        ),
        "{out}"
    );
    groot_acl(&cluster, &["add", "-g", "ops"]);
    // groot and guardians stay, as the alpha insists.
    let out = failed(acl(&cluster, &[creds, "del", "-u", "groot"]));
    assert!(
        out.contains("Unable to delete the user: unable to delete \"groot\": rpc error: code = "),
        "{out}"
    );
    log_in(&cluster, "groot", "password").await;

    // The guardian's login from the environment, out of the process list.
    let out = acl_command(&cluster.alpha_grpc())
        .args(["info", "-g", "dev"])
        .env("LODESTAR_GUARDIAN_CREDS", "user=groot;password=password")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("\nGroup: dev\n"), "{}", stdout(&out));

    // A command line that asks for nothing sensible is refused before anything is sent.
    let out = failed(acl(&cluster, &[creds, "add", "-u", "erin", "-g", "dev"]));
    assert_eq!(
        out,
        "one of the --user or --group must be specified, but not both\n"
    );
    let out = failed(acl(
        &cluster,
        &[creds, "mod", "-g", "dev", "-p", "name", "-m", "9"],
    ));
    assert_eq!(
        out,
        "Unable to modify: the perm value must be less than or equal to 7, the provided value is 9\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_guardian_password_or_a_user_who_is_no_guardian_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path()).await;
    let login_failed = "unable to get admin context: unable to login to the groot account: rpc error: code = Unauthenticated desc = invalid username or password";
    let out = failed(acl(
        &cluster,
        &[
            "-w", "groot", "-x", "wrong", "mod", "--group", "dev", "--pred", "~friend", "--perm",
            "7",
        ],
    ));
    assert_eq!(
        out,
        format!(
            "\nRunning transaction with dgraph endpoint: {}\nUnable to modify: {login_failed}\n",
            cluster.alpha_grpc()
        )
    );
    let out = failed(acl(
        &cluster,
        &[
            "--guardian-creds",
            "user=groot;password=wrong",
            "info",
            "-u",
            "groot",
        ],
    ));
    assert!(
        out.ends_with(&format!("\nUnable to show info: {login_failed}\n")),
        "{out}"
    );
    let out = failed(acl(&cluster, &["-x", "wrong", "add", "-g", "ops"]));
    assert!(out.ends_with(&format!("\n{login_failed}\n")), "{out}");
    // No password and nothing to read it from.
    let out = failed(acl(&cluster, &["del", "-g", "ops"]));
    assert!(
        out.contains("Current password for groot:\nUnable to delete the user: unable to get admin context: while reading password: no input"),
        "{out}"
    );

    // bob, in group dev, is no guardian: the alpha refuses his changes to the ACL's data.
    groot_acl(&cluster, &["add", "-u", "bob", "-p", "bobpassword"]);
    groot_acl(&cluster, &["add", "-g", "dev"]);
    groot_acl(&cluster, &["mod", "-u", "bob", "-l", "dev"]);
    let bob = ["-w", "bob", "-x", "bobpassword"];
    let out = failed(acl(
        &cluster,
        &[&bob[..], &["mod", "-g", "dev", "-p", "name", "-m", "7"]].concat(),
    ));
    assert!(
        out.starts_with(&format!(
            "{}Unable to modify: rpc error: code = PermissionDenied desc = unauthorized to mutate following predicates: ",
            logged_in(&cluster)
        )),
        "{out}"
    );
    let out = failed(acl(&cluster, &[&bob[..], &["add", "-g", "ops"]].concat()));
    assert!(
        out.contains("unable to create group: rpc error: code = PermissionDenied desc = unauthorized to mutate following predicates: "),
        "{out}"
    );
    let out = failed(acl(
        &cluster,
        &[&bob[..], &["add", "-u", "mallory", "-p", "mallorypassword"]].concat(),
    ));
    assert!(out.contains("code = PermissionDenied"), "{out}");
    // He cannot see himself to put himself among the guardians.
    let out = failed(acl(
        &cluster,
        &[&bob[..], &["mod", "-u", "bob", "-l", "dev,guardians"]].concat(),
    ));
    assert!(
        out.ends_with("Unable to modify: user \"bob\" does not exist\n"),
        "{out}"
    );
    // Nothing changed.
    let info = groot_acl(&cluster, &["info", "-g", "dev"]);
    assert!(!info.contains("ACL: "), "{info}");
    let info = groot_acl(&cluster, &["info", "-u", "bob"]);
    assert!(info.ends_with("\nGroup : dev  \n"), "{info}");
    assert!(
        try_log_in(&cluster, "mallory", "mallorypassword")
            .await
            .is_err()
    );
    let out = failed(acl(
        &cluster,
        &["-w", "groot", "-x", "password", "info", "-g", "ops"],
    ));
    assert!(out.ends_with("the group ops doesn't exist\n"), "{out}");
}

/// The groups `info -u user` lists.
fn groups_of(cluster: &Cluster, user: &str) -> Vec<String> {
    let info = groot_acl(cluster, &["info", "-u", user]);
    let mut groups: Vec<String> = info
        .lines()
        .filter_map(|l| l.strip_prefix("Group :"))
        .flat_map(|g| g.split_whitespace())
        .map(str::to_string)
        .collect();
    groups.sort();
    groups
}

/// `lodestar acl` killed (SIGKILL) at any moment of a `mod -u … -l …` leaves the user's groups
/// as they were or as asked, never some of each: the tool reads and writes in one transaction
/// that it commits last. Delays come from a fixed seed, so a failing schedule repeats. And an
/// alpha that is not there fails the command with status 1 naming the address, promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_acl_command_changes_all_or_nothing() {
    use rand::{Rng as _, SeedableRng as _};
    let dir = tempfile::tempdir().unwrap();
    let cluster = acl_cluster(dir.path()).await;
    groot_acl(&cluster, &["add", "-u", "kim", "-p", "kimpassword"]);
    for g in ["a1", "a2", "a3", "b1", "b2", "b3"] {
        groot_acl(&cluster, &["add", "-g", g]);
    }
    let sets = ["a1,a2,a3", "b1,b2,b3"];
    let as_list = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
    groot_acl(&cluster, &["mod", "-u", "kim", "-l", sets[0]]);
    assert_eq!(groups_of(&cluster, "kim"), as_list(sets[0]));

    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    let (mut killed, mut finished) = (0, 0);
    for round in 0..24 {
        let target = sets[(round + 1) % 2];
        let mut child = acl_command(&cluster.alpha_grpc())
            .args(GROOT)
            .args(["mod", "-u", "kim", "-l", target])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("lodestar runs");
        let delay = std::time::Duration::from_millis(rng.gen_range(0..60));
        tokio::time::sleep(delay).await;
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.code().is_some() {
            assert!(status.success(), "round {round}: {status:?}");
            finished += 1;
        } else {
            killed += 1;
        }
        let groups = groups_of(&cluster, "kim");
        assert!(
            sets.iter().any(|s| groups == as_list(s)),
            "round {round}, killed after {delay:?}: kim is in {groups:?}"
        );
        // Where the run finished, the change is there.
        if status.success() {
            assert_eq!(groups, as_list(target), "round {round}");
        }
    }
    eprintln!("{killed} runs killed part-way, {finished} finished before the kill");
    assert!(
        killed > 0,
        "no run was killed part-way: the test proved nothing"
    );

    // Nothing listens there: status 1 and the address, without waiting out a deadline.
    let started = std::time::Instant::now();
    let out = acl_command("127.0.0.1:1")
        .args(GROOT)
        .args(["info", "-u", "kim"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = failed(out);
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
