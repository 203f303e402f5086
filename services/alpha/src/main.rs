/// The hot paths allocate many small buffers (keys, postings, protobuf messages): mimalloc
/// serves them with less contention and fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lodestar_alpha::main(lodestar_runtime::settings::parse())
}
