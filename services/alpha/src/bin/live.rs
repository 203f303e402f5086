//! `live -f FILES [-s SCHEMA] [-a ALPHA]`: Dgraph's live loader, with Dgraph's flags.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    lodestar_alpha::loader::live::main(lodestar_alpha::loader::live::LiveArgs::parse())
}
