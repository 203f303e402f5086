/// The hot paths allocate many small buffers (keys, postings, protobuf messages): mimalloc
/// serves them with less contention and fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let mut args = lodestar_runtime::settings::parse::<lodestar_alpha::Args>();
    if let Some(command) = args.command.take() {
        return lodestar_alpha::offline::main(command);
    }
    let common = args.common.clone();
    lodestar_runtime::run_main("alpha", &common, |shutdown| {
        lodestar_alpha::run(args, shutdown)
    })
}
