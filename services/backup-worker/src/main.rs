fn main() -> std::process::ExitCode {
    lodestar_backup_worker::main(lodestar_runtime::settings::parse())
}
