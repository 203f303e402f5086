//! Generates the prost messages and tonic clients and servers for every `.proto` in `protos/`,
//! with the vendored `protoc`, so that no system install is needed. Server traits get default
//! method bodies that answer `Unimplemented`, so a service implements only what it has.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["api", "zero", "node", "worker", "auth", "backup", "raft"]
        .map(|name| format!("protos/{name}.proto"));
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .file_descriptor_set_path(out_dir.join("descriptors.bin"))
        .compile_with_config(config, &protos, &["protos".to_string()])?;
    Ok(())
}
