//! `[admin]`: the admin HTTP listener (metrics, liveness, readiness). That its port differs from
//! the gRPC listener's is checked with the whole configuration.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The admin HTTP/1.1 listener, separate from the gRPC one so that scrapes and load balancer checks
/// never compete with, or are refused like, client traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address serving `/metrics`, `/healthz` and `/readyz`.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        // Loopback: its series name tenants, keys and endpoints, and it has no authentication. A
        // sidecar in the task (an ADOT or Prometheus agent) reaches it there.
        AdminConfig { listen: SocketAddr::from(([127, 0, 0, 1], 9090)) }
    }
}
