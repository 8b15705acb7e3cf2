//! Compiles the API with protox (pure Rust, so no `protoc` is needed) and keeps the descriptor set,
//! which the server serves through gRPC reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "bedrock/gateway/v1/gateway.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["."])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("gateway_descriptor.bin"), descriptors.encode_to_vec())?;
    // Type names, so that a message that does not decode is named in its status (see `codec`).
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure().codec_path("crate::codec::ApiCodec").compile_fds_with_config(descriptors, config)?;
    Ok(())
}
