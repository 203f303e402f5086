use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = lodestar_backup_worker::Args::parse();
    let common = args.common.clone();
    lodestar_runtime::run_main("backup-worker", &common, |shutdown| {
        lodestar_backup_worker::run(args, shutdown)
    })
}
