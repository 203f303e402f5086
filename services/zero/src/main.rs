/// The hot paths allocate many small buffers (keys, postings, protobuf messages): mimalloc
/// serves them with less contention and fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = lodestar_runtime::settings::parse::<lodestar_zero::Cli>();
    match cli.command {
        Some(lodestar_zero::CliCommand::License(cmd)) => {
            match lodestar_zero::license_command(cmd) {
                Ok(text) => {
                    let _ = std::io::stdout().write_all(text.as_bytes());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("zero license: error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            let args = cli.run;
            let common = args.common.clone();
            lodestar_runtime::run_main("zero", &common, |shutdown| {
                lodestar_zero::run(args, shutdown)
            })
        }
    }
}
