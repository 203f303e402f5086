//! `badger rotate --dir D --old-key-path OLD --new-key-path NEW`: the master-key rotation
//! command Dgraph documents, on this suite's encrypted directories. It is `alpha rotate-key`
//! under the name and flags operators' runbooks already use.

use clap::Parser as _;

/// The `badger` tool's commands that apply to this suite's directories.
#[derive(Debug, clap::Parser)]
#[command(
    name = "badger",
    version,
    about = "Tools for the suite's encrypted directories"
)]
enum Cli {
    /// Change the master key of an encrypted directory (p, w, or zero's zw) of a stopped node;
    /// only its key registry is rewritten.
    Rotate(lodestar_alpha::offline::RotateKeyArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse() {
        Cli::Rotate(args) => {
            lodestar_alpha::offline::main(lodestar_alpha::offline::Command::RotateKey(args))
        }
    }
}
