//! Transport: how bytes become HTTP/2 requests. The listener accepts connections within their caps,
//! reads the PROXY protocol header, runs the TLS handshake, and hands each connection to a shard,
//! which serves it with hyper behind the edge (see `edge`).

pub mod connection;
pub mod connection_caps;
pub mod listener;
pub mod proxy_protocol;
pub mod shards;
pub mod tls;
