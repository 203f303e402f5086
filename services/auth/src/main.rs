fn main() -> std::process::ExitCode {
    lodestar_auth::main(lodestar_runtime::settings::parse())
}
