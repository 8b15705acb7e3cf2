//! The bedrock-gateway v1 API, generated at build time from `proto/bedrock/gateway/v1/gateway.proto`.
//!
//! One crate owns the generated code so the server, the client and the benchmarks share the same
//! types and can never drift apart.

/// Package `bedrock.gateway.v1`: messages, `gateway_service_client` and `gateway_service_server`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, missing_debug_implementations)]
    tonic::include_proto!("bedrock.gateway.v1");
}

/// The encoded `FileDescriptorSet` of the API (with its imports), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gateway_descriptor.bin"));
