//! Compiles every `.proto` under `proto/` (and the test-only ones under `tests/proto/`)
//! with `protox` + `prost-build`: no `protoc` binary is needed. The custom
//! [`ServiceGenerator`](service_generator::NatsServiceGenerator) adds, for every proto
//! `service`, a typed client, a handler trait and the function that serves it on NATS.

#[path = "src/contract.rs"]
mod contract;
// Also the run-time names (stream subjects, dead letters) the generator does not need.
#[allow(dead_code)]
#[path = "src/naming.rs"]
mod naming;
#[path = "build/service_generator.rs"]
mod service_generator;

use std::error::Error;
use std::path::{Path, PathBuf};

/// Where the framework's and the reference services' contracts live.
const PROTO_ROOT: &str = "proto";
/// Contracts used only by the framework's own tests.
const TEST_PROTO_ROOT: &str = "tests/proto";

#[allow(clippy::disallowed_methods)] // Cargo passes OUT_DIR to build scripts this way.
fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed={TEST_PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let main_files = proto_files(Path::new(PROTO_ROOT))?;
    let test_files = proto_files(Path::new(TEST_PROTO_ROOT))?;

    let mut compiler = protox::Compiler::new([PROTO_ROOT, TEST_PROTO_ROOT])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(main_files.iter().chain(&test_files))?;
    let pool = compiler.descriptor_pool();
    // Every file with its imports: prost-build needs the whole message graph, and skips
    // the types it is told are provided elsewhere (`google.protobuf` → `prost_types`).
    let all = compiler.file_descriptor_set().file;
    let is_test = |file: &prost_types::FileDescriptorProto| {
        test_files.iter().any(|path| path == Path::new(file.name()))
    };

    // The encoded descriptor set of the real contracts (with their imports) is kept for
    // tools that reflect over the schema at run time.
    // With their comments: the gateway turns them into GraphQL descriptions.
    let mut with_imports = protox::Compiler::new([PROTO_ROOT])?;
    with_imports.include_imports(true).include_source_info(true);
    with_imports.open_files(&main_files)?;
    std::fs::write(
        out_dir.join("descriptor_set.bin"),
        with_imports.encode_file_descriptor_set(),
    )?;
    // The same with the test-only contracts, for tests that reflect over a schema.
    std::fs::write(
        out_dir.join("test_descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    let main_set = all.iter().filter(|f| !is_test(f)).cloned().collect();
    prost_build::Config::new()
        .include_file("protos.rs")
        .service_generator(Box::new(service_generator::NatsServiceGenerator::new(
            pool.clone(),
        )))
        .compile_fds(prost_types::FileDescriptorSet { file: main_set })?;

    // The test-only contracts are generated apart, into their own include file, naming
    // the real contracts' types through the crate instead of generating them twice.
    let test_out = out_dir.join("test_protos");
    std::fs::create_dir_all(&test_out)?;
    let mut test_config = prost_build::Config::new();
    test_config.out_dir(&test_out).include_file("protos.rs");
    let mut test_set = Vec::new();
    let mut externs = std::collections::BTreeSet::new();
    for mut file in all {
        if !is_test(&file) {
            let package = file.package().to_string();
            if !package.starts_with("google.") && externs.insert(package.clone()) {
                test_config.extern_path(
                    format!(".{package}"),
                    format!("::switchboard::proto::{}", package.replace('.', "::")),
                );
            }
            file.service.clear();
        }
        test_set.push(file);
    }
    let extern_modules = externs
        .iter()
        .map(|package| {
            let module = format!("::switchboard::proto::{}", package.replace('.', "::"));
            (package.clone(), module)
        })
        .collect();
    test_config
        .service_generator(Box::new(
            service_generator::NatsServiceGenerator::new(pool).with_externs(extern_modules),
        ))
        .compile_fds(prost_types::FileDescriptorSet { file: test_set })?;
    Ok(())
}

/// Every `.proto` below `root`, as paths relative to it, in a stable order.
fn proto_files(root: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                found.push(path.strip_prefix(root)?.to_path_buf());
            }
        }
    }
    found.sort();
    Ok(found)
}
