//! `[protocols]`: which front doors share the listener besides gRPC, the typed contract, which is
//! always served. Each HTTP door is the same pipeline in another protocol's shape; a platform team
//! that does not want one turns it off, and its paths then answer as any unknown path does.

use serde::{Deserialize, Serialize};

/// The HTTP doors on `server.listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolsConfig {
    /// Bedrock's runtime API (`/model/{alias}/converse-stream`, `converse`, `count-tokens`,
    /// `invoke`), for any AWS SDK pointed at the gateway with `endpoint_url`.
    pub bedrock: bool,
    /// OpenAI's API (`/v1/chat/completions`, `/v1/models`, `/v1/embeddings`), for the `openai`
    /// packages and every framework that speaks it.
    pub openai: bool,
}

impl Default for ProtocolsConfig {
    fn default() -> Self {
        ProtocolsConfig { bedrock: true, openai: true }
    }
}
