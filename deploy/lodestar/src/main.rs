//! `lodestar`: one command for every role of the suite, as `dgraph` is for Dgraph's. The first
//! word picks the role and everything after it goes to that role unchanged:
//!
//! - `lodestar zero|alpha|auth|backup-worker|gateway …` run a service, with exactly the flags,
//!   environment variables (`LODESTAR_*`) and `--config` file of its own binary, and its offline
//!   subcommands (`lodestar alpha restore …`, `lodestar zero license …`);
//! - `lodestar live …` and `lodestar bulk …` are the loaders;
//! - `lodestar restore …` is the alpha's offline restore, `lodestar license …` zero's license
//!   commands, `lodestar rotate-key …` the master-key rotation (`badger rotate`);
//! - `lodestar acl …` manages users, groups and rules over gRPC, as Dgraph's `dgraph acl`
//!   (see [`acl`]);
//! - `lodestar compose …` writes a docker-compose file (`lodestar_compose`);
//! - `lodestar version` prints the version.
//!
//! The separate binaries (`zero`, `alpha`, …) stay: each role here calls the same library
//! function its binary calls.

mod acl;
mod error;

use clap::Parser as _;
use std::ffi::OsString;
use std::process::ExitCode;

/// The hot paths allocate many small buffers (keys, postings, protobuf messages): mimalloc
/// serves them with less contention and fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The roles, in the order `lodestar --help` lists them, with what each one is.
const ROLES: [(&str, &str); 13] = [
    (
        "zero",
        "Run a zero, the cluster coordinator (or `zero license …`)",
    ),
    (
        "alpha",
        "Run an alpha, which serves the client API and holds a group's data (or `alpha restore …`)",
    ),
    ("auth", "Run the login and ACL administration service"),
    (
        "backup-worker",
        "Run the backup and restore worker (or `backup-worker verify …`)",
    ),
    (
        "gateway",
        "Run the HTTP front door: the DQL HTTP API, /admin GraphQL, /state, /health",
    ),
    (
        "live",
        "Load N-Quad or JSON files into a running cluster (the live loader)",
    ),
    (
        "bulk",
        "Build a new cluster's directories from N-Quad or JSON files, offline (the bulk loader)",
    ),
    (
        "restore",
        "Restore a backup series into p<group> directories, offline (= alpha restore)",
    ),
    (
        "license",
        "Make license keys, issue and verify enterprise licenses (= zero license)",
    ),
    (
        "rotate-key",
        "Change the master key of an encrypted directory of a stopped node (= badger rotate)",
    ),
    (
        "acl",
        "Add, delete, change and show users, groups and predicate rules (as dgraph acl)",
    ),
    (
        "compose",
        "Write a docker-compose file for a cluster (Dgraph's compose flags)",
    ),
    ("version", "Print the version"),
];

/// The top-level command: what `lodestar --help` shows and how an unknown role is refused.
/// Each role parses its own words.
fn top_command() -> clap::Command {
    ROLES.iter().fold(
        clap::Command::new("lodestar")
            .version(env!("CARGO_PKG_VERSION"))
            .about("Every role of a Lodestar cluster in one command: lodestar <ROLE> [FLAGS]; lodestar <ROLE> --help shows a role's flags")
            .subcommand_required(true)
            .arg_required_else_help(true)
            .disable_help_subcommand(true),
        |command, (name, about)| command.subcommand(clap::Command::new(*name).about(*about)),
    )
    .subcommand(
        clap::Command::new("help")
            .about("Print this message, or the help of a role (lodestar help alpha)"),
    )
}

/// `lodestar restore`: the alpha's offline restore under a name of its own.
#[derive(Debug, clap::Parser)]
#[command(
    name = "restore",
    about = "Restore a backup series into p<group> directories (offline; start the alphas on them)"
)]
struct RestoreCli {
    #[command(flatten)]
    args: lodestar_alpha::offline::RestoreArgs,
}

/// `lodestar rotate-key`: Dgraph's `badger rotate`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "rotate-key",
    about = "Change the master key of an encrypted directory (p, w, or zero's zw) of a stopped node; only its key registry is rewritten"
)]
struct RotateKeyCli {
    #[command(flatten)]
    args: lodestar_alpha::offline::RotateKeyArgs,
}

/// `lodestar compose`: the docker-compose file generator.
#[derive(Debug, clap::Parser)]
#[command(
    name = "compose",
    about = "Write a docker-compose file for a cluster of zeros, alphas, gateway, auth and backup worker"
)]
struct ComposeCli {
    #[command(flatten)]
    args: lodestar_compose::ComposeArgs,
}

/// `lodestar license`: zero's license commands.
#[derive(Debug, clap::Parser)]
#[command(name = "license", about = "Issue and inspect enterprise licenses")]
struct LicenseCli {
    #[command(subcommand)]
    command: lodestar_zero::LicenseCommand,
}

fn main() -> ExitCode {
    let mut words = std::env::args_os().skip(1);
    let Some(role) = words.next() else {
        top_command().get_matches_from(["lodestar"]);
        return ExitCode::FAILURE;
    };
    let rest: Vec<OsString> = words.collect();
    match role.to_str() {
        Some("help") => match rest.first() {
            Some(role) => run_role(role.clone(), vec!["--help".into()]),
            None => {
                let _ = top_command().print_long_help();
                ExitCode::SUCCESS
            }
        },
        _ => run_role(role, rest),
    }
}

/// Runs `role` with the words that follow it on the command line.
fn run_role(role: OsString, args: Vec<OsString>) -> ExitCode {
    let name = role.to_string_lossy().into_owned();
    // Each role names itself `lodestar <role>` in its help and its errors.
    let argv = std::iter::once(OsString::from(format!("lodestar {name}"))).chain(args);
    use lodestar_alpha::loader::{self, bulk, live};
    use lodestar_alpha::offline::{self, Command as Offline};
    use lodestar_runtime::settings::parse_from;
    match name.as_str() {
        "zero" => lodestar_zero::main(parse_from(argv)),
        "alpha" => lodestar_alpha::main(parse_from(argv)),
        "auth" => lodestar_auth::main(parse_from(argv)),
        "backup-worker" => lodestar_backup_worker::main(parse_from(argv)),
        "gateway" => lodestar_gateway::main(parse_from(argv)),
        "live" => loader::main(live::run(live::LiveArgs::parse_from(argv))),
        "bulk" => loader::main(bulk::run(bulk::BulkArgs::parse_from(argv))),
        "restore" => offline::main(Offline::Restore(RestoreCli::parse_from(argv).args)),
        "rotate-key" => offline::main(Offline::RotateKey(RotateKeyCli::parse_from(argv).args)),
        "license" => lodestar_zero::license_main("license", LicenseCli::parse_from(argv).command),
        "acl" => acl::main(acl::AclCli::parse_from(argv)),
        "compose" => {
            let mut args = ComposeCli::parse_from(argv).args;
            args.check_schedules = Some(|values| {
                lodestar_backup_worker::schedule::config::Schedule::parse_all(values, false)
                    .map(|_| ())
                    .map_err(|e| e.message)
            });
            lodestar_compose::run(args)
        }
        "version" => {
            // `version` takes no flags but --help.
            clap::Command::new("version")
                .about("Print the version")
                .get_matches_from(argv);
            version()
        }
        _ => {
            // Not a role: clap says so (unknown, with a suggestion; or --help, --version).
            top_command().get_matches_from([OsString::from("lodestar"), role]);
            ExitCode::FAILURE
        }
    }
}

/// `lodestar version`: this build's version and the Dgraph client API it serves.
fn version() -> ExitCode {
    use std::io::Write as _;
    let text = format!(
        "Lodestar version : {}\nDgraph API       : {} (what CheckVersion answers)\n",
        lodestar_runtime::VERSION,
        lodestar_runtime::API_VERSION_TAG
    );
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_top_command_lists_every_role_and_refuses_others() {
        assert!(
            ROLES
                .iter()
                .all(|(name, _)| !name.starts_with('-') && *name != "help")
        );
        top_command().debug_assert();
        let help = top_command().render_long_help().to_string();
        for (name, _) in ROLES {
            assert!(help.contains(&format!("  {name} ")), "{name}: {help}");
        }
        let err = top_command()
            .try_get_matches_from(["lodestar", "alhpa"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidSubcommand);
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("alpha"), "a suggestion: {err}");
    }

    #[test]
    fn the_tool_commands_parse_their_flags() {
        RestoreCli::command().debug_assert();
        RotateKeyCli::command().debug_assert();
        LicenseCli::command().debug_assert();
        let rotate = RotateKeyCli::try_parse_from([
            "lodestar rotate-key",
            "--dir",
            "p",
            "-o",
            "old",
            "-n",
            "new",
        ])
        .unwrap();
        assert_eq!(rotate.args.dir, std::path::PathBuf::from("p"));
    }
}
