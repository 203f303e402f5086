//! `live -f FILES [-s SCHEMA] [-a ALPHA]`: Dgraph's live loader, with Dgraph's flags.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    use lodestar_alpha::loader::{self, live};
    loader::main(live::run(live::LiveArgs::parse()))
}
