//! Shared setup for the integration tests of the gateway and of the client: a real gateway on a
//! loopback port, calling an in-process Bedrock emulator through the real Bedrock SDK, and tonic
//! clients for it; a real `redis-server` for the quota store; a real `moto_server` for the AWS
//! APIs other than Bedrock; the SDKs of others (boto3, openai, LangChain, the AWS SDK for
//! JavaScript, curl) run against the HTTP doors. One place, so every test sees the same catalog and the same faults.

mod calls;
mod clients;
mod gateway;
mod http;
mod logs;
mod metrics;
mod moto;
mod pki;
mod process;
mod programs;
mod redis;
mod wire;

pub use moto::{AssumedRole, MotoServer};
pub use pki::{Certified, TestPki};

/// Tokens per emulator answer in tests.
pub const ANSWER_TOKENS: usize = 12;

pub use calls::*;
pub use clients::*;
pub use gateway::*;
pub use http::*;
pub use logs::*;
pub use metrics::*;
pub use process::*;
pub use redis::*;
pub use wire::*;
