//! `lodestar compose`: writes a docker-compose file that runs a cluster of the suite's
//! services, the counterpart of Dgraph's `compose` tool (same flag names, short forms and
//! defaults where the suite has the feature).
//!
//! The file runs `zero1..N`, `alpha1..N`, `auth`, `backup-worker` and `gateway` from one image
//! (`lodestar <role> ...`), plus `seaweedfs` (an S3 server for backups) with `--minio` and
//! `jaeger` with `--jaeger`. What Dgraph's file lacks, it has:
//!
//! - a `healthcheck` on every service, with busybox `wget` against the HTTP path each service
//!   serves (`/health`; the gateway's `/probe/graphql`, healthy once an alpha answers);
//! - `restart: unless-stopped`, stop grace periods long enough for a flush, and memory limits;
//! - `depends_on` with conditions, chosen so that no restart can deadlock: zeros wait only for
//!   zero1 to *start* (after a full stop no zero is healthy until a majority runs), alphas wait
//!   for zero1 to be *healthy* and never for each other (an alpha is healthy only once its
//!   group has a majority), auth and the backup worker wait for every alpha, the gateway for
//!   both. The file says `version: "3.5"`; docker-compose 1.29 reads every 2.x and 3.x file
//!   as the Compose Specification, which has the conditions (see `tests/docker_compose.rs`);
//! - the cluster secret (always), the ACL secret and the encryption key as compose `secrets`,
//!   read by a one-shot `init` service that copies them, per role, into volumes as files of
//!   mode 600 owned by uid 65532, which the services run as: the services refuse secret files
//!   that others can read, and cannot read the host user's private files themselves. `init`
//!   also makes each service's data directory. Every other service waits for it to finish.
//!
//! [`generate`] makes the file without writing anything (tests call it); [`run`] is the
//! command: it writes the demo secrets the flags ask for, then the file, and prints Dgraph's
//! `Options: ...` line to stderr.

mod args;
mod error;
mod plan;
mod secrets;
mod shell;
mod yaml;

pub use args::{ComposeArgs, JAEGER_IMAGE, VERSION};
pub use error::{ComposeError, ErrorCode};

use std::io::Write as _;
use std::process::ExitCode;

/// The compose file for `args`. Reads the secret and env files the flags name, to refuse the
/// ones the services would refuse, and writes nothing. Demo files are referred to beside the
/// output file; [`run`] makes them.
pub fn generate(args: &ComposeArgs) -> Result<String, ComposeError> {
    plan::plan(args).map(|p| p.yaml)
}

/// `lodestar compose`: makes the demo files the flags ask for (kept when they exist), writes
/// the compose file (or prints it, with `--out -`), and says what it did on stderr.
pub fn run(mut args: ComposeArgs) -> ExitCode {
    if args.command_line.is_empty() {
        args.command_line = command_line();
    }
    match write(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lodestar compose: {e}");
            ExitCode::from(e.code().exit_status())
        }
    }
}

fn write(args: &ComposeArgs) -> Result<(), ComposeError> {
    let plan = plan::plan(args)?;
    eprintln!("{}", plan.summary);
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    let out_dir = std::path::Path::new(&args.out)
        .parent()
        .filter(|d| args.out != "-" && !d.as_os_str().is_empty());
    for dir in out_dir.into_iter().chain(plan.data_dir.as_deref()) {
        std::fs::create_dir_all(dir).map_err(|e| ComposeError::write(dir, e))?;
    }
    for demo in &plan.demo_files {
        match demo.ensure()? {
            secrets::Outcome::Made => eprintln!("made {} (mode 600)", demo.path.display()),
            secrets::Outcome::Kept => eprintln!("kept {}", demo.path.display()),
        }
    }
    if args.out == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(plan.yaml.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| ComposeError::write(std::path::Path::new("stdout"), e))?;
    } else {
        let path = std::path::Path::new(&args.out);
        std::fs::write(path, &plan.yaml).map_err(|e| ComposeError::write(path, e))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The process's command line as `lodestar compose ...`, whatever the binary is called.
fn command_line() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    let flags = match args.iter().position(|a| a == "compose") {
        Some(i) => &args[i + 1..],
        None => args.get(1..).unwrap_or_default(),
    };
    ["lodestar", "compose"]
        .into_iter()
        .map(String::from)
        .chain(flags.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests;
