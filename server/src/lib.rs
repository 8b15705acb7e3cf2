//! bedrock-gateway: one stable gRPC streaming API in front of Amazon Bedrock.
//!
//! [`serve`] is the whole server, used the same way by `main` and by the integration tests: give it
//! a validated [`Config`], a bound listener and a shutdown signal; [`serve_with_admin`] adds the
//! admin listener (metrics, liveness, readiness).

pub mod admin;
pub mod admission;
pub mod bedrock;
pub mod catalog;
pub mod catalog_source;
pub mod config;
pub mod connection;
pub mod connection_caps;
pub mod convert;
pub mod embed;
pub mod emf;
pub mod error;
pub mod health;
pub mod listener;
#[cfg(feature = "local")]
pub mod local;
pub mod metering;
pub mod metrics;
pub mod proxy_protocol;
pub mod quota;
pub mod relay;
pub mod request_log;
pub mod routing;
pub mod server;
pub mod service;
pub mod shards;
pub mod shutdown;
pub mod stream_reset;
pub mod telemetry;
pub mod tenants;
pub mod tls;

pub use config::Config;
pub use server::{ServeError, preflight, serve, serve_with_admin};
