//! `[server]`: the gRPC listener, its bounds on requests, streams and connections, and the threads
//! that serve it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::duration::Seconds;
use super::error::{ConfigError, at_least, invalid};
use super::tls::TlsConfig;

/// The gRPC listener and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the gRPC server binds.
    pub listen: SocketAddr,
    /// Expect a PROXY protocol v2 header on every connection, as the NLB sends when its target
    /// group enables it; must match the target group's setting.
    pub proxy_protocol: bool,
    /// Largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
    pub max_request_bytes: usize,
    /// Most request bytes held at once across all requests, from their arrival until Bedrock has
    /// them; a request that does not fit gets RESOURCE_EXHAUSTED. Bounds what requests cost in
    /// memory whatever `max_concurrent_requests` is (see README: sizing to the task's memory).
    pub max_buffered_request_bytes: usize,
    /// Most of `max_buffered_request_bytes` one caller's requests may hold at once (its tenant when
    /// identified, else PrivateLink endpoint, else client IP), from their first byte; more get
    /// RESOURCE_EXHAUSTED. Unset = a quarter of the budget, and at least `max_request_bytes`, so
    /// one caller that never finishes its requests cannot hold the memory everyone else needs.
    pub max_buffered_request_bytes_per_caller: Option<usize>,
    /// Most requests (streams included) in flight at once; more get RESOURCE_EXHAUSTED. With the
    /// request bytes bounded by `max_buffered_request_bytes`, an open stream costs about 28 KiB,
    /// so the worst case is ≈ 17 MiB + 1.7 × max_buffered_request_bytes + limit × 28 KiB + worker
    /// threads × 87 MiB (see BENCHMARKS.md); the defaults fit a 1024 MiB task.
    pub max_concurrent_requests: usize,
    /// Most requests in flight at once on this task from one caller (its tenant when identified,
    /// else PrivateLink endpoint, else client IP); unset = half of `max_concurrent_requests`, so one caller can never take it all.
    pub max_concurrent_requests_per_caller: Option<usize>,
    /// Longest a request message may take to arrive completely; then DEADLINE_EXCEEDED.
    pub request_receive_timeout_secs: Seconds,
    /// Longest a stream waits for the client to take its next event; then the stream ends, its
    /// Bedrock call is dropped and its slot freed (a client that stops reading holds nothing).
    pub client_stall_timeout_secs: Seconds,
    /// Longest a single stream may run, whatever deadline the client sets.
    pub max_stream_duration_secs: Seconds,
    /// Longest Bedrock may stay silent within a stream before the stream fails as incomplete; also
    /// between the bytes of a unary call's response once it has begun.
    pub stream_idle_timeout_secs: Seconds,
    /// How long in-flight streams may take to finish after SIGTERM before they are cut.
    pub shutdown_grace_secs: Seconds,
    /// Interval of HTTP/2 keepalive pings; well inside the NLB's 350 s idle timeout.
    pub http2_keepalive_interval_secs: Seconds,
    /// How long to wait for a keepalive ping's answer before closing the connection.
    pub http2_keepalive_timeout_secs: Seconds,
    /// Most concurrent streams one client connection may open (HTTP/2 SETTINGS); more wait in the
    /// client until one ends. Bounds what a single connection can take of the gateway.
    pub http2_max_concurrent_streams: u32,
    /// Largest request header block accepted, in bytes (HTTP/2 SETTINGS); h2's own default is 16 MiB.
    pub http2_max_header_list_bytes: u32,
    /// How long a new connection has to send its HTTP/2 preface (after any PROXY protocol header)
    /// before it is closed, so silent connections cannot hold connection slots. With `server.tls`,
    /// the TLS handshake before it has as long again.
    pub handshake_timeout_secs: Seconds,
    /// Most client connections open at once; connections beyond it are closed as soon as accepted.
    pub max_connections: usize,
    /// Most connections open at once from one client address (by IP, not port): the PROXY
    /// protocol header's source when `proxy_protocol` is on, else the TCP peer. A connection
    /// beyond it is closed once its source is known. Unset: with `proxy_protocol`, 1% of
    /// `max_connections` but at least 100; without it, no cap of its own (`max_connections`),
    /// since behind an NLB without the PROXY protocol every connection comes from one of the NLB's
    /// few addresses. Addresses are told apart per PrivateLink endpoint, since client VPCs may
    /// use the same private addresses.
    pub max_connections_per_address: Option<usize>,
    /// Most connections open at once through one PrivateLink endpoint (the PROXY protocol
    /// header's VPC endpoint id), that is from one client VPC. Unset: half of `max_connections`.
    pub max_connections_per_endpoint: Option<usize>,
    /// A connection that has carried no stream for this long is sent GOAWAY and closes, so
    /// abandoned or hoarded connections give their `max_connections` place back well before their
    /// maximum age; keepalive pings do not count as use. A client that is idle this long
    /// reconnects on its next call (one handshake). Below the maximum age to matter.
    pub max_connection_idle_secs: Seconds,
    /// After about this long (jittered by +-10% per connection) a connection is sent GOAWAY, so
    /// that clients reconnect and the NLB, which balances per connection, spreads them over new tasks.
    pub max_connection_age_secs: Seconds,
    /// How long streams may continue on a connection after its GOAWAY; those still open then are
    /// cut (they end with UNAVAILABLE) and the connection is closed.
    pub max_connection_age_grace_secs: Seconds,
    /// TLS on the gRPC listener, optionally verifying client certificates (mTLS). Unset: plaintext
    /// (PrivateLink and security groups are then the transport's protection).
    pub tls: Option<TlsConfig>,
    /// Threads that run the gateway; 0: one per CPU the process may use (its CPU affinity and its
    /// cgroup's CPU quota, rounded up). With one, the gateway runs on a single-threaded scheduler:
    /// no hand-offs between threads, and a connection's writes gather every stream's events that
    /// are ready (see BENCHMARKS.md). How more threads share the work: `scheduler`.
    pub worker_threads: usize,
    /// How more than one thread shares the work (one thread is the single-threaded scheduler
    /// either way). `work_stealing`: any thread runs any stream, so one busy connection can use
    /// every core, but wake-ups cross threads. `thread_per_core`: each thread has its own runtime
    /// and its own Bedrock connection and serves whole client connections, handed out round-robin;
    /// a stream, its connection and its Bedrock call stay on one thread, but one busy client
    /// connection cannot use more than one core.
    pub scheduler: Scheduler,
}

/// How the gateway's threads share the work; see [`ServerConfig::scheduler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheduler {
    /// tokio's work-stealing scheduler over all the threads.
    WorkStealing,
    /// One single-threaded runtime per thread, each serving whole connections (see
    /// `transport::shards`). The default: with two threads it took a sixth less CPU per relayed event
    /// and a third more events per core-second than work stealing (BENCHMARKS.md).
    #[default]
    ThreadPerCore,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            proxy_protocol: false,
            max_request_bytes: 4 * 1024 * 1024,
            max_buffered_request_bytes: 128 * 1024 * 1024,
            max_buffered_request_bytes_per_caller: None,
            max_concurrent_requests: 10_000,
            max_concurrent_requests_per_caller: None,
            request_receive_timeout_secs: Seconds(10),
            client_stall_timeout_secs: Seconds(30),
            max_stream_duration_secs: Seconds(900),
            stream_idle_timeout_secs: Seconds(120),
            shutdown_grace_secs: Seconds(30),
            http2_keepalive_interval_secs: Seconds(60),
            http2_keepalive_timeout_secs: Seconds(20),
            http2_max_concurrent_streams: 200,
            http2_max_header_list_bytes: 16 * 1024,
            handshake_timeout_secs: Seconds(10),
            max_connections: 10_000,
            max_connections_per_address: None,
            max_connections_per_endpoint: None,
            max_connection_idle_secs: Seconds(60),
            worker_threads: 0,
            scheduler: Scheduler::ThreadPerCore,
            max_connection_age_secs: Seconds(300),
            max_connection_age_grace_secs: Seconds(900),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// See [`ServerConfig::max_concurrent_requests_per_caller`].
    pub fn per_caller_limit(&self) -> usize {
        self.max_concurrent_requests_per_caller.unwrap_or((self.max_concurrent_requests / 2).max(1))
    }

    /// See [`ServerConfig::max_buffered_request_bytes_per_caller`].
    pub fn per_caller_request_memory(&self) -> usize {
        self.max_buffered_request_bytes_per_caller
            .unwrap_or((self.max_buffered_request_bytes / 4).max(self.max_request_bytes))
    }

    /// See [`ServerConfig::max_connections_per_address`]: the configured cap, else its default.
    pub fn connections_per_address(&self) -> usize {
        match self.max_connections_per_address {
            Some(limit) => limit,
            None if self.proxy_protocol => (self.max_connections / 100).max(100).min(self.max_connections),
            None => self.max_connections,
        }
    }

    /// See [`ServerConfig::max_connections_per_endpoint`]: the configured cap, else its default.
    pub fn connections_per_endpoint(&self) -> usize {
        self.max_connections_per_endpoint.unwrap_or((self.max_connections / 2).max(1))
    }

    /// The threads that run the gateway: [`ServerConfig::worker_threads`], 0 resolved.
    pub fn threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            threads => threads,
        }
    }

    /// The runtimes that serve connections: one per thread with `thread_per_core`, else the one.
    pub fn shards(&self) -> usize {
        match self.scheduler {
            Scheduler::WorkStealing => 1,
            Scheduler::ThreadPerCore => self.threads(),
        }
    }

    /// Checks the section's keys, and the TLS files it names.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least("server.max_request_bytes", self.max_request_bytes as u64, 1024)?;
        if self.max_buffered_request_bytes < self.max_request_bytes
            || u32::try_from(self.max_buffered_request_bytes).is_err()
        {
            return Err(invalid(
                "server.max_buffered_request_bytes",
                format!(
                    "is {}, must be from server.max_request_bytes ({}) to {} (4 GiB)",
                    self.max_buffered_request_bytes,
                    self.max_request_bytes,
                    u32::MAX
                ),
            ));
        }
        if let Some(share) = self.max_buffered_request_bytes_per_caller
            && !(self.max_request_bytes..=self.max_buffered_request_bytes).contains(&share)
        {
            return Err(invalid(
                "server.max_buffered_request_bytes_per_caller",
                format!(
                    "is {share}, must be from server.max_request_bytes ({}) to server.max_buffered_request_bytes ({})",
                    self.max_request_bytes, self.max_buffered_request_bytes
                ),
            ));
        }
        at_least("server.max_concurrent_requests", self.max_concurrent_requests as u64, 1)?;
        if let Some(per_caller) = self.max_concurrent_requests_per_caller {
            at_least("server.max_concurrent_requests_per_caller", per_caller as u64, 1)?;
        }
        for (key, secs) in [
            ("server.max_stream_duration_secs", self.max_stream_duration_secs),
            ("server.stream_idle_timeout_secs", self.stream_idle_timeout_secs),
            ("server.request_receive_timeout_secs", self.request_receive_timeout_secs),
            ("server.client_stall_timeout_secs", self.client_stall_timeout_secs),
            ("server.http2_keepalive_timeout_secs", self.http2_keepalive_timeout_secs),
            ("server.handshake_timeout_secs", self.handshake_timeout_secs),
            ("server.max_connection_age_secs", self.max_connection_age_secs),
            ("server.max_connection_age_grace_secs", self.max_connection_age_grace_secs),
            ("server.max_connection_idle_secs", self.max_connection_idle_secs),
        ] {
            secs.check(key, 1)?;
        }
        self.shutdown_grace_secs.check("server.shutdown_grace_secs", 0)?;
        at_least("server.http2_max_concurrent_streams", u64::from(self.http2_max_concurrent_streams), 1)?;
        // Below this, ordinary gRPC metadata (authorization, user agent, trace headers) would not fit.
        at_least("server.http2_max_header_list_bytes", u64::from(self.http2_max_header_list_bytes), 1024)?;
        if self.worker_threads > 1024 {
            return Err(invalid("server.worker_threads", "must be from 0 (one per CPU) to 1024".to_owned()));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(invalid("server.max_connections", "must be from 1 to 1000000".to_owned()));
        }
        for (key, limit) in [
            ("server.max_connections_per_address", self.max_connections_per_address),
            ("server.max_connections_per_endpoint", self.max_connections_per_endpoint),
        ] {
            if let Some(limit) = limit
                && !(1..=self.max_connections).contains(&limit)
            {
                return Err(invalid(
                    key,
                    format!("is {limit}, must be from 1 to server.max_connections ({})", self.max_connections),
                ));
            }
        }
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        if !(10..=300).contains(&self.http2_keepalive_interval_secs.0) {
            return Err(invalid(
                "server.http2_keepalive_interval_secs",
                "must be from 10 to 300, inside the load balancer's 350 s idle timeout".to_owned(),
            ));
        }
        Ok(())
    }
}
