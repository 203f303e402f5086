fn main() -> std::process::ExitCode {
    let mut args = lodestar_runtime::settings::parse::<lodestar_backup_worker::Args>();
    if let Some(command) = args.command.take() {
        return lodestar_backup_worker::offline::main(command);
    }
    let common = args.common.clone();
    lodestar_runtime::run_main("backup-worker", &common, |shutdown| {
        lodestar_backup_worker::run(args, shutdown)
    })
}
