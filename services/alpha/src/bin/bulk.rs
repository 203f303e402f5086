//! `bulk -f FILES -s SCHEMA --out DIR [--groups N]`: Dgraph's bulk loader, with Dgraph's flags.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    use lodestar_alpha::loader::{self, bulk};
    loader::main(bulk::run(bulk::BulkArgs::parse()))
}
