fn main() -> std::process::ExitCode {
    let args = lodestar_runtime::settings::parse::<lodestar_gateway::Args>();
    let common = args.common.clone();
    lodestar_runtime::run_main("gateway", &common, |shutdown| {
        lodestar_gateway::run(args, shutdown)
    })
}
