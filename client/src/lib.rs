//! Rust client for bedrock-gateway: streaming LLM answers in a few lines.
//!
//! ```no_run
//! use bedrock_gateway_client::{Client, Request};
//!
//! # async fn example() -> Result<(), bedrock_gateway_client::Error> {
//! let client = Client::builder("https://gateway.internal.example.com").api_key("…").build()?;
//! let mut text = client.converse_stream(Request::new("chat").user("hello").max_tokens(200)).await?.text();
//! while let Some(piece) = text.next().await {
//!     print!("{}", piece?);
//! }
//! # Ok(()) }
//! ```
//!
//! What the client takes care of, so a service does not have to:
//!
//! - **Connections**: the endpoint's addresses (one per availability zone behind PrivateLink) are
//!   resolved and re-resolved, several HTTP/2 connections per address spread calls over the
//!   gateway's tasks, closed connections are reopened, and keepalive pings keep idle ones alive
//!   through the NLB (see [`balance`]).
//! - **Retries**: calls that fail transiently before any event arrived are retried with jittered
//!   exponential backoff within a retry budget; a stream that already delivered events never is,
//!   so an answer is never repeated (see [`retry`]).
//! - **Errors**: one [`Error`] with the gRPC code and message, the gateway's request id, and
//!   whether the answer was incomplete.
//! - **Deadlines** cover the whole call, retries and stream included ([`ClientBuilder::deadline`]).
//!
//! The generated messages and tonic stubs are in [`v1`], for anything the [`Client`] does not
//! cover. The `bgw` command-line tool (feature `cli`, on by default) is built on this crate.

#![warn(missing_docs)]

pub mod balance;
mod builder;
mod catalog;
mod client;
mod embed;
mod error;
mod request;
pub mod retry;
mod stream;

/// The generated v1 API: messages, the `gateway_service_client` stub and the server stub.
pub use bedrock_gateway_proto::v1;
pub use builder::ClientBuilder;
pub use catalog::Catalog;
pub use client::Client;
pub use embed::{EmbedRequest, Embeddings, TokenCount};
pub use error::Error;
pub use request::Request;
pub use stream::{Answer, Event, EventStream, TextStream, ToolUse};
/// gRPC status codes, as returned by [`Error::code`].
pub use tonic::Code;
