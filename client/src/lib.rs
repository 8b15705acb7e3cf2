//! Rust client for bedrock-gateway.
//!
//! For now this re-exports the generated stubs and message types of the v1 API.

pub use bedrock_gateway_proto::v1;
