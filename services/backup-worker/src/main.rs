use clap::Parser;

fn main() -> std::process::ExitCode {
    let mut args = lodestar_backup_worker::Args::parse();
    if let Some(command) = args.command.take() {
        return lodestar_backup_worker::offline::main(command);
    }
    let common = args.common.clone();
    lodestar_runtime::run_main("backup-worker", &common, |shutdown| {
        lodestar_backup_worker::run(args, shutdown)
    })
}
