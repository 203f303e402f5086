fn main() -> std::process::ExitCode {
    lodestar_gateway::main(lodestar_runtime::settings::parse())
}
