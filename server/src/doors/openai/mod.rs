//! The OpenAI-compatible door's protocol: OpenAI's chat completions, models and embeddings, decoded
//! into the v1 requests the pipeline runs and encoded from what it serves. The HTTP handlers call
//! these functions; nothing here knows of a connection.
//!
//! # Errors
//!
//! [`error_response`] is the door's one mapping of errors; its module documents the table.

mod errors;

pub use errors::error_response;

#[cfg(test)]
mod tests;
