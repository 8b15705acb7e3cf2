//! What one stream delivered, as every side's client reports it (the SDK, the gateway's gRPC API,
//! an OpenAI-compatible proxy): the clients and the load generator that times them agree on it.

use tokio::time::Instant;

/// What one completed stream delivered.
#[derive(Debug, Clone, Copy)]
pub struct Streamed {
    /// When the first text delta arrived.
    pub first_token_at: Instant,
    /// Stream events received, first to last.
    pub events: u64,
}
