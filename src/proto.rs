//! Types generated from `proto/` by `build.rs`: messages (prost), and for each service a
//! typed client, a handler trait, its `Rpc` constants and its service definition.
//!
//! Modules follow proto packages: `proto::users::v1::UsersClient`.
#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/protos.rs"));

/// The encoded `FileDescriptorSet` of every contract (with imports), for run-time reflection.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));
