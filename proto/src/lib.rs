//! The bedrock-gateway v1 API, generated at build time from `proto/bedrock/gateway/v1/gateway.proto`.
//!
//! One crate owns the generated code so the server, the client and the benchmarks share the same
//! types and can never drift apart.

pub mod codec;

/// Package `bedrock.gateway.v1`: messages, `gateway_service_client` and `gateway_service_server`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, missing_debug_implementations)]
    tonic::include_proto!("bedrock.gateway.v1");

    impl StopReason {
        /// Whether the model stopped without a usable answer although the stream ended normally
        /// (with stop and usage): its tool call or its output was malformed. Such an answer is
        /// incomplete, like one cut by an error status: its tool uses must not be run.
        pub fn is_incomplete(self) -> bool {
            matches!(self, StopReason::MalformedToolUse | StopReason::MalformedModelOutput)
        }
    }
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

/// The largest request the gateway converts, field by field; anything larger is INVALID_ARGUMENT
/// naming the field and the limit. Part of the API, so the server enforces exactly what the proto
/// comments document, and clients and the benchmarks can stay inside it.
///
/// Bedrock itself documents few limits (20 images and 5 documents per message, 2,500 stop
/// sequences, 1 to 64 character tool names); these are set above anything a real caller sends, and
/// low enough that a request within them costs the gateway a small multiple of its size on the wire.
pub mod limits {
    /// Characters in `model`: logical model names are 1 to 64 characters.
    pub const MODEL_NAME_CHARS: usize = 64;
    /// Entries in `messages`.
    pub const MESSAGES: usize = 2_000;
    /// Entries in one message's `content`.
    pub const BLOCKS_PER_MESSAGE: usize = 100;
    /// Content blocks in all messages together, each tool-result item counted as one more: what
    /// bounds the per-block overhead of a request made of many tiny blocks.
    pub const CONTENT_BLOCKS: usize = 10_000;
    /// Items in one tool result's `content`.
    pub const TOOL_RESULT_ITEMS: usize = 100;
    /// Entries in `system`.
    pub const SYSTEM_BLOCKS: usize = 100;
    /// Entries in `tool_config.tools`.
    pub const TOOLS: usize = 256;
    /// JSON values (each scalar, array and object counts one) in all tool schemas, tool inputs and
    /// tool-result JSON of a request together.
    pub const JSON_VALUES: usize = 50_000;
    /// Entries in `inference_config.stop_sequences`.
    pub const STOP_SEQUENCES: usize = 8;
    /// Entries in `request_metadata`.
    pub const METADATA_ENTRIES: usize = 16;
    /// Characters in a `request_metadata` key (at least 1).
    pub const METADATA_KEY_CHARS: usize = 64;
    /// Characters in a `request_metadata` value.
    pub const METADATA_VALUE_CHARS: usize = 256;
    /// Characters in a tool's name (at least 1), as Bedrock allows.
    pub const TOOL_NAME_CHARS: usize = 64;
    /// Cache points in a request, the model's automatic ones included: Bedrock's own limit.
    pub const CACHE_POINTS: usize = 4;
    /// Characters in one of an EmbedRequest's `texts` (at least 1).
    pub const EMBED_TEXT_CHARS: usize = 50_000;
}
