use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = lodestar_gateway::Args::parse();
    let common = args.common.clone();
    lodestar_runtime::run_main("gateway", &common, |shutdown| {
        lodestar_gateway::run(args, shutdown)
    })
}
