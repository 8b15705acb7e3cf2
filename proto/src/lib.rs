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

/// gRPC metadata keys the gateway sets and the client reads; one definition so the two never drift.
pub mod metadata {
    /// The gateway's id of a request, on every response and error status; quote it in support requests.
    pub const REQUEST_ID: &str = "x-request-id";
    /// gRPC's standard retry pushback: milliseconds to wait before retrying, or negative for "do not retry".
    pub const RETRY_PUSHBACK_MS: &str = "grpc-retry-pushback-ms";
    /// Set on calls to a deprecated model: its retirement date and replacement.
    pub const MODEL_DEPRECATION: &str = "x-model-deprecation";
}
