//! `lodestar compose` on its own, until the `lodestar` binary carries it:
//! `cargo run -p lodestar-compose --example compose -- -a 3 --acl -O stack/docker-compose.yml`.

use clap::Parser as _;

/// Writes a docker-compose file for a cluster of the suite's services.
#[derive(clap::Parser)]
#[command(name = "lodestar compose")]
struct Cli {
    #[command(flatten)]
    args: lodestar_compose::ComposeArgs,
}

fn main() -> std::process::ExitCode {
    lodestar_compose::run(Cli::parse().args)
}
