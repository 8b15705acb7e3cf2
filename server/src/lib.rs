//! bedrock-gateway: one stable gRPC streaming API in front of Amazon Bedrock.
//!
//! [`serve`] is the whole server, used the same way by `main` and by the integration tests: give it
//! a validated [`Config`], a bound listener and a shutdown signal; [`serve_with_admin`] adds the
//! admin listener (metrics, liveness, readiness).
//!
//! The crate is laid out by role, each layer importing only the ones below it (see
//! `docs/ARCHITECTURE.md`): [`server`](serve) composes [`transport`](proxy_protocol) → `edge` →
//! `doors` → `pipeline` → `upstream`, over `config`, `error` and `ops`. Only what the test kit,
//! the bench and the binary need is public.

pub mod config;
mod doors;
mod edge;
mod error;
#[cfg(feature = "local")]
pub mod local;
mod ops;
mod pipeline;
mod server;
mod transport;
mod upstream;

pub use config::Config;
pub use ops::{metrics, shutdown, telemetry};
pub use server::{ServeError, preflight, serve, serve_with_admin};
pub use transport::proxy_protocol;

/// What the integration tests and the bench drive directly, below the server.
pub mod parts {
    pub use crate::pipeline::catalog::Catalog;
    pub use crate::pipeline::convert::events::{Relayed, relayed};
    pub use crate::pipeline::convert::request::{estimated_input_tokens, to_bedrock};
    pub use crate::pipeline::quota;
    pub use crate::pipeline::stream_reset::FINAL_STATUS_GRACE;
    pub use crate::pipeline::tenants::Tenant;
}
