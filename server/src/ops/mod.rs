//! Operations: what the platform team watches and steers the gateway by (metrics, EMF lines,
//! traces, health and the admin listener) and the process's shutdown signal.

pub mod admin;
pub mod emf;
pub mod health;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
