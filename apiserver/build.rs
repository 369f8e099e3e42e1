//! Compiles the vendored Kubernetes `.proto` files (`proto/`, see `proto/extract.py`)
//! into a FileDescriptorSet that `src/protobuf` loads at run time to decode protobuf
//! request bodies and `src/wire` to write JSON keys in the order upstream's Go types
//! declare them. protox is a pure-Rust protobuf compiler, so no `protoc` is needed.

use std::path::PathBuf;

/// The group-versions whose messages the server decodes or writes in Go's key order (see
/// `src/protobuf/descriptors.rs`); their imports come along.
const FILES: &[&str] = &[
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/authentication/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/batch/v1/generated.proto",
    "k8s.io/api/certificates/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/events/v1/generated.proto",
    "k8s.io/api/policy/v1/generated.proto",
    "k8s.io/api/rbac/v1/generated.proto",
    "k8s.io/api/scheduling/v1/generated.proto",
    "k8s.io/api/storage/v1/generated.proto",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto",
    "k8s.io/api/apidiscovery/v2/generated.proto",
    "k8s.io/api/apidiscovery/v2beta1/generated.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    println!("cargo:rerun-if-changed=proto");
    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true);
    compiler.open_files(FILES)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("kubernetes.fds");
    std::fs::write(out, compiler.encode_file_descriptor_set())?;
    Ok(())
}
