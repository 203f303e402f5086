fn main() -> std::process::ExitCode {
    let args = lodestar_runtime::settings::parse::<lodestar_auth::Args>();
    let common = args.common.clone();
    lodestar_runtime::run_main("auth", &common, |shutdown| {
        lodestar_auth::run(args, shutdown)
    })
}
