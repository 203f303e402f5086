use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = lodestar_alpha::Args::parse();
    let common = args.common.clone();
    lodestar_runtime::run_main("alpha", &common, |shutdown| {
        lodestar_alpha::run(args, shutdown)
    })
}
