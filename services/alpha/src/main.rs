use clap::Parser;

/// The hot paths allocate many small buffers (keys, postings, protobuf messages): mimalloc
/// serves them with less contention and fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = lodestar_alpha::Args::parse();
    let common = args.common.clone();
    lodestar_runtime::run_main("alpha", &common, |shutdown| {
        lodestar_alpha::run(args, shutdown)
    })
}
