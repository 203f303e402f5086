use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = lodestar_auth::Args::parse();
    let common = args.common.clone();
    lodestar_runtime::run_main("auth", &common, |shutdown| {
        lodestar_auth::run(args, shutdown)
    })
}
