//! Compiles `proto/liaison/v1/*.proto` with protox (a protobuf compiler in Rust), so no
//! system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["envelope", "identity", "receipt", "log", "peer", "client"]
        .map(|name| proto_root.join(format!("liaison/v1/{name}.proto")));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    // The encoded descriptors, for gRPC server reflection.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("liaison_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Zero-copy: decoding a `Bytes` buffer yields slices of it, so the signed
        // parts of an envelope stay the exact bytes that arrived.
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
