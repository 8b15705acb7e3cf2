//! The gateway's one typed configuration: loaded from a TOML file, overridden by environment
//! variables, then by command-line flags, and validated once at startup so that a bad value stops
//! the process with a message naming its key instead of failing some request later.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables with this prefix override the file; `__` separates nesting levels, as in
/// `BEDROCK_GATEWAY_SERVER__LISTEN` or `BEDROCK_GATEWAY_MODELS__CHAT__MODEL_ID`.
pub const ENV_PREFIX: &str = "BEDROCK_GATEWAY_";

/// Everything the gateway needs to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gRPC listener and its limits.
    pub server: ServerConfig,
    /// How to reach Bedrock.
    pub bedrock: BedrockConfig,
    /// Log output.
    pub logging: LoggingConfig,
    /// Who may call the gateway service.
    pub auth: AuthConfig,
    /// The teams that call the gateway: how each is recognised, what it may use, how much.
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Where quota counters live.
    pub quotas: QuotasConfig,
    /// The admin HTTP listener: metrics, liveness, readiness.
    pub admin: AdminConfig,
    /// Metrics output besides the admin listener's Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Trace export.
    pub telemetry: TelemetryConfig,
    /// Where the catalog is reloaded from while the gateway runs.
    pub catalog: CatalogConfig,
    /// The catalog: logical model name -> Bedrock target.
    pub models: BTreeMap<String, ModelConfig>,
    /// The file this configuration was loaded from (`--config`), whose `[models]` the catalog is
    /// reloaded from; not a key.
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

/// Where the catalog is reloaded from while the gateway runs: this file's `[models]`, or an S3
/// object, checked every `reload_secs` and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// How often the source is checked for a new catalog, in seconds; 0: only on SIGHUP.
    pub reload_secs: u64,
    /// Read the catalog from this S3 object instead of `[models]` (which must then be absent).
    pub s3: Option<S3CatalogConfig>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig { reload_secs: 15, s3: None }
    }
}

impl CatalogConfig {
    /// See [`CatalogConfig::reload_secs`].
    pub fn reload_interval(&self) -> Duration {
        Duration::from_secs(self.reload_secs)
    }
}

/// The S3 object holding the catalog: JSON, `{"models": {...}}` with the `[models]` table's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3CatalogConfig {
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The bucket's region; unset: `bedrock.region`.
    #[serde(default)]
    pub region: Option<String>,
    /// Overrides the S3 endpoint (an S3 stand-in for tests); unset: the regional endpoint, which
    /// the gateway reaches through the VPC's S3 gateway endpoint.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// `aws-chain` (the task role), or `emulator`: placeholder keys for a local stand-in.
    #[serde(default)]
    pub credentials: CredentialsSource,
}

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
    pub request_receive_timeout_secs: u64,
    /// Longest a stream waits for the client to take its next event; then the stream ends, its
    /// Bedrock call is dropped and its slot freed (a client that stops reading holds nothing).
    pub client_stall_timeout_secs: u64,
    /// Longest a single stream may run, whatever deadline the client sets.
    pub max_stream_duration_secs: u64,
    /// Longest Bedrock may stay silent within a stream before the stream fails as incomplete; also
    /// between the bytes of a unary call's response once it has begun.
    pub stream_idle_timeout_secs: u64,
    /// How long in-flight streams may take to finish after SIGTERM before they are cut.
    pub shutdown_grace_secs: u64,
    /// Interval of HTTP/2 keepalive pings; well inside the NLB's 350 s idle timeout.
    pub http2_keepalive_interval_secs: u64,
    /// How long to wait for a keepalive ping's answer before closing the connection.
    pub http2_keepalive_timeout_secs: u64,
    /// Most concurrent streams one client connection may open (HTTP/2 SETTINGS); more wait in the
    /// client until one ends. Bounds what a single connection can take of the gateway.
    pub http2_max_concurrent_streams: u32,
    /// Largest request header block accepted, in bytes (HTTP/2 SETTINGS); h2's own default is 16 MiB.
    pub http2_max_header_list_bytes: u32,
    /// How long a new connection has to send its HTTP/2 preface (after any PROXY protocol header)
    /// before it is closed, so silent connections cannot hold connection slots. With `server.tls`,
    /// the TLS handshake before it has as long again.
    pub handshake_timeout_secs: u64,
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
    pub max_connection_idle_secs: u64,
    /// After about this long (jittered by +-10% per connection) a connection is sent GOAWAY, so
    /// that clients reconnect and the NLB, which balances per connection, spreads them over new tasks.
    pub max_connection_age_secs: u64,
    /// How long streams may continue on a connection after its GOAWAY; those still open then are
    /// cut (they end with UNAVAILABLE) and the connection is closed.
    pub max_connection_age_grace_secs: u64,
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
    /// [`crate::shards`]). The default: with two threads it took a sixth less CPU per relayed event
    /// and a third more events per core-second than work stealing (BENCHMARKS.md).
    #[default]
    ThreadPerCore,
}

/// TLS on the gRPC listener. The NLB forwards TCP, so TLS ends here and the client's certificate
/// reaches the gateway, which a TLS listener on the NLB could not give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server's certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM file with the CA certificates that client certificates must chain to. Set: clients are
    /// asked for a certificate, and its subject can identify a tenant (`tenants.<name>.client_cert_subjects`).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: refuse the handshake of a client without a valid certificate. False
    /// lets such clients in, to be identified by API key or endpoint instead.
    #[serde(default = "default_true")]
    pub client_cert_required: bool,
}

fn default_true() -> bool {
    true
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
            request_receive_timeout_secs: 10,
            client_stall_timeout_secs: 30,
            max_stream_duration_secs: 900,
            stream_idle_timeout_secs: 120,
            shutdown_grace_secs: 30,
            http2_keepalive_interval_secs: 60,
            http2_keepalive_timeout_secs: 20,
            http2_max_concurrent_streams: 200,
            http2_max_header_list_bytes: 16 * 1024,
            handshake_timeout_secs: 10,
            max_connections: 10_000,
            max_connections_per_address: None,
            max_connections_per_endpoint: None,
            max_connection_idle_secs: 60,
            worker_threads: 0,
            scheduler: Scheduler::ThreadPerCore,
            max_connection_age_secs: 300,
            max_connection_age_grace_secs: 900,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// See [`ServerConfig::max_stream_duration_secs`].
    pub fn max_stream_duration(&self) -> Duration {
        Duration::from_secs(self.max_stream_duration_secs)
    }

    /// See [`ServerConfig::stream_idle_timeout_secs`].
    pub fn stream_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.stream_idle_timeout_secs)
    }

    /// See [`ServerConfig::client_stall_timeout_secs`].
    pub fn client_stall_timeout(&self) -> Duration {
        Duration::from_secs(self.client_stall_timeout_secs)
    }

    /// See [`ServerConfig::request_receive_timeout_secs`].
    pub fn request_receive_timeout(&self) -> Duration {
        Duration::from_secs(self.request_receive_timeout_secs)
    }

    /// See [`ServerConfig::max_concurrent_requests_per_caller`].
    pub fn per_caller_limit(&self) -> usize {
        self.max_concurrent_requests_per_caller.unwrap_or((self.max_concurrent_requests / 2).max(1))
    }

    /// See [`ServerConfig::max_buffered_request_bytes_per_caller`].
    pub fn per_caller_request_memory(&self) -> usize {
        self.max_buffered_request_bytes_per_caller
            .unwrap_or((self.max_buffered_request_bytes / 4).max(self.max_request_bytes))
    }

    /// See [`ServerConfig::shutdown_grace_secs`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// See [`ServerConfig::handshake_timeout_secs`].
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
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

    /// See [`ServerConfig::max_connection_idle_secs`].
    pub fn max_connection_idle(&self) -> Duration {
        Duration::from_secs(self.max_connection_idle_secs)
    }

    /// See [`ServerConfig::max_connection_age_secs`].
    pub fn max_connection_age(&self) -> Duration {
        Duration::from_secs(self.max_connection_age_secs)
    }

    /// See [`ServerConfig::max_connection_age_grace_secs`].
    pub fn max_connection_age_grace(&self) -> Duration {
        Duration::from_secs(self.max_connection_age_grace_secs)
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
}

/// Where Bedrock credentials come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialsSource {
    /// The standard AWS chain: environment, profile, web identity, ECS task role, instance role.
    #[default]
    AwsChain,
    /// Fixed placeholder keys, only for a local stand-in such as the Bedrock emulator (requires
    /// the section's `endpoint_url`).
    Emulator,
}

/// How to reach Bedrock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BedrockConfig {
    /// AWS region of the Bedrock runtime: the home region, of every target that names none.
    pub region: String,
    /// Overrides the home region's Bedrock runtime endpoint (a VPC endpoint's DNS name, or the emulator).
    pub endpoint_url: Option<String>,
    /// Endpoints of other regions' Bedrock runtimes, by region, for targets in those regions;
    /// a region not listed is called at its public regional endpoint.
    pub region_endpoint_urls: BTreeMap<String, String>,
    /// Where credentials come from.
    pub credentials: CredentialsSource,
    /// Attempts per Bedrock call before the stream starts (1 = no retry). Kept low because clients
    /// retry too, and retries multiply.
    pub max_attempts: u32,
    /// Timeout for opening a connection to Bedrock.
    pub connect_timeout_ms: u64,
    /// Longest ConverseStream waits for Bedrock to accept the call and open its stream (separate
    /// from the idle timeout between events), and CountTokens and Embed's InvokeModel calls wait
    /// for Bedrock's response to begin; then UNAVAILABLE with a retry pushback.
    pub stream_open_timeout_secs: u64,
    /// Longest a unary Converse waits for Bedrock's response to begin. Bedrock sends a unary
    /// answer only once the model has generated all of it, so this bounds the generation: keep it
    /// above the longest answer callers take unary (max_tokens ÷ the model's output tokens per
    /// second). Then UNAVAILABLE with a retry pushback; once the response has begun,
    /// `server.stream_idle_timeout_secs` bounds the silence between its bytes.
    pub converse_timeout_secs: u64,
}

impl BedrockConfig {
    /// See [`BedrockConfig::stream_open_timeout_secs`].
    pub fn stream_open_timeout(&self) -> Duration {
        Duration::from_secs(self.stream_open_timeout_secs)
    }

    /// See [`BedrockConfig::converse_timeout_secs`].
    pub fn converse_timeout(&self) -> Duration {
        Duration::from_secs(self.converse_timeout_secs)
    }
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            region: "us-east-1".to_owned(),
            endpoint_url: None,
            region_endpoint_urls: BTreeMap::new(),
            credentials: CredentialsSource::AwsChain,
            max_attempts: 2,
            connect_timeout_ms: 3_000,
            stream_open_timeout_secs: 30,
            converse_timeout_secs: 300,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One JSON object per line, for CloudWatch Logs Insights.
    #[default]
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Log output. Prompts and completions are never logged, whatever the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Line format.
    pub format: LogFormat,
    /// `tracing` filter directives, such as `info` or `bedrock_gateway=debug`.
    pub filter: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { format: LogFormat::Json, filter: "info".to_owned() }
    }
}

impl LoggingConfig {
    /// `filter` parsed, strictly: the one parser of it, for validation and for the logger, so
    /// that a directive the logger would drop without a word stops the start instead.
    pub fn env_filter(&self) -> Result<tracing_subscriber::EnvFilter, tracing_subscriber::filter::ParseError> {
        tracing_subscriber::EnvFilter::builder().parse(&self.filter)
    }
}

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

/// Metrics output besides the admin listener's Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Write CloudWatch Embedded Metric Format lines to stdout, for CloudWatch Logs to turn into
    /// metrics (on ECS with the awslogs driver, no agent needed).
    pub emf: bool,
    /// The `ServiceName` dimension of the EMF metrics.
    pub emf_service_name: String,
    /// Seconds between EMF lines.
    pub emf_interval_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { emf: false, emf_service_name: "bedrock-gateway".to_owned(), emf_interval_secs: 10 }
    }
}

impl MetricsConfig {
    /// See [`MetricsConfig::emf_interval_secs`].
    pub fn emf_interval(&self) -> Duration {
        Duration::from_secs(self.emf_interval_secs)
    }
}

/// Trace export. Incoming W3C `traceparent` headers are always honoured (the trace id is logged);
/// spans are exported only when an endpoint is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Base URL of an OTLP/HTTP (protobuf) collector, such as `http://localhost:4318` for a
    /// sidecar; spans go to `<url>/v1/traces`. Unset: no export.
    pub otlp_endpoint: Option<String>,
}

/// How callers are identified (see README, "Tenants and quotas"). With no identity configured,
/// any caller that reaches the listener may call as the `default` tenant (the network, PrivateLink
/// and security groups, is then the boundary). Once any tenant can be identified, identity fails
/// closed: a caller none of them identifies is refused unless the operator said otherwise. Health
/// and reflection are always open, for load balancer health checks and grpcurl.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Shorthand for single-key tenants: name -> SHA-256 (hex) of its API key, sent as
    /// `authorization: Bearer <key>`; the key is named like its tenant. Only digests are
    /// configured, so the config holds no secret.
    pub api_keys: BTreeMap<String, String>,
    /// Refuse callers no identity source recognises with UNAUTHENTICATED; false lets them call as
    /// the `default` tenant. Unset: true when any API key, client-certificate subject or VPC
    /// endpoint id is configured, unless `[tenants.default]` is (writing it says who unidentified
    /// callers are, so they are let in as that tenant).
    pub require_identity: Option<bool>,
    /// A caller identified by API key or client certificate must also come through one of its
    /// tenant's `vpc_endpoint_ids` (when the tenant lists any) and not through another tenant's
    /// endpoint; otherwise PERMISSION_DENIED. Binds a key to the network it was issued for.
    pub require_endpoint_match: bool,
}

impl AuthConfig {
    /// See [`AuthConfig::require_identity`]. Unset, it fails closed: were the `default` tenant
    /// implied, a caller who leaves out its key, or comes through an endpoint no tenant lists, would
    /// get every model with no quota.
    pub fn identity_required(&self, tenants: &BTreeMap<String, TenantConfig>) -> bool {
        self.require_identity.unwrap_or_else(|| {
            let identifiable = !self.api_keys.is_empty()
                || tenants.values().any(|tenant| {
                    !tenant.api_keys.is_empty()
                        || !tenant.client_cert_subjects.is_empty()
                        || !tenant.vpc_endpoint_ids.is_empty()
                });
            identifiable && !tenants.contains_key(DEFAULT_TENANT)
        })
    }
}

/// The tenant of callers no identity source recognises, when identity is not required.
pub const DEFAULT_TENANT: &str = "default";

/// One team calling the gateway: how it is recognised, what it may use, how much.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// Key name -> SHA-256 (hex) of the key; the key name is logged and recorded with usage.
    pub api_keys: BTreeMap<String, String>,
    /// PrivateLink VPC endpoint ids (`vpce-...`) the tenant's clients come through, as the NLB's
    /// PROXY protocol header says (needs `server.proxy_protocol`).
    pub vpc_endpoint_ids: Vec<String>,
    /// Client-certificate subjects, as RFC 4514 strings (`openssl x509 -noout -subject -nameopt
    /// RFC2253`), such as `CN=payments,O=Example Corp`; needs `server.tls.client_ca_file`. Once
    /// any tenant lists one, a certificate whose subject none lists is refused unless an API key
    /// identifies the request.
    pub client_cert_subjects: Vec<String>,
    /// The logical models the tenant may use; unset: all.
    pub models: Option<Vec<String>>,
    /// The tenant's quotas, across all its models.
    pub quotas: QuotaLimits,
    /// Quotas of the tenant on one logical model, on top of `quotas`.
    pub model_quotas: BTreeMap<String, QuotaLimits>,
}

/// Limits on one tenant's use, fleet-wide (with `quotas.store = "redis"`). Unset: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaLimits {
    /// Requests started per minute (a bucket refilled continuously, holding at most a minute's worth).
    pub requests_per_minute: Option<u64>,
    /// Tokens per minute: a request reserves its max_tokens plus an estimate of its input when it
    /// starts, and settles with Bedrock's reported usage when it ends.
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once, streams included.
    pub concurrent_requests: Option<u64>,
}

impl QuotaLimits {
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        *self == QuotaLimits::default()
    }
}

/// Which store holds the quota counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaStoreKind {
    /// In this process: each task enforces the quotas on its own (local mode, a single task).
    #[default]
    Memory,
    /// A Redis-compatible store (ElastiCache for Valkey or Redis OSS) shared by every task, so the
    /// quotas hold for the whole fleet.
    Redis,
}

/// Where quota counters live and what happens when that store is unreachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasConfig {
    /// `memory` or `redis`.
    pub store: QuotaStoreKind,
    /// How many tasks usually serve: while the Redis store is unreachable, each task enforces
    /// every quota divided by this, on its own, instead of failing requests.
    pub fallback_task_count: u32,
    /// The Redis store, for `store = "redis"`.
    pub redis: RedisConfig,
}

impl Default for QuotasConfig {
    fn default() -> Self {
        QuotasConfig { store: QuotaStoreKind::Memory, fallback_task_count: 2, redis: RedisConfig::default() }
    }
}

/// How to reach the Redis-compatible quota store.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port` or, with TLS, `rediss://host:port` (ElastiCache Serverless needs TLS).
    pub url: String,
    /// AUTH user name (Redis 6 ACL / ElastiCache RBAC); unset: the default user.
    pub username: Option<String>,
    /// AUTH password; set it through `BEDROCK_GATEWAY_QUOTAS__REDIS__PASSWORD` (on ECS, from
    /// Secrets Manager), never in the file. Not printed by `check-config`.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Use the Redis Cluster protocol (ElastiCache Serverless and cluster-mode clusters).
    pub cluster: bool,
    /// With `rediss://`: PEM file with the CA certificates the store's certificate must chain to,
    /// instead of the system's (which ElastiCache's chain to); for a store with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Longest a quota check waits for the store before the request is decided on the fallback limits.
    pub timeout_ms: u64,
    /// Prefix of every key the gateway writes, so several gateways can share one store.
    pub key_prefix: String,
    /// How much of each quota, in percent, a task takes from the store ahead of its requests, so
    /// that most checks are decided in the task without a round trip. A task takes ahead only
    /// while more than half of the quota is left and keeps at most twice this much; 0: every
    /// check is a round trip.
    pub prefetch_percent: u8,
    /// How long the concurrency places a task holds stay taken on the store after the task stops
    /// renewing them (a task that died); the task renews them every third of this.
    pub lease_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            username: None,
            password: None,
            cluster: false,
            ca_file: None,
            timeout_ms: 100,
            key_prefix: "bedrock-gateway".to_owned(),
            prefetch_percent: 2,
            lease_ms: 30_000,
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("cluster", &self.cluster)
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .field("key_prefix", &self.key_prefix)
            .field("prefetch_percent", &self.prefetch_percent)
            .field("lease_ms", &self.lease_ms)
            .finish()
    }
}

impl RedisConfig {
    /// See [`RedisConfig::timeout_ms`].
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// See [`RedisConfig::lease_ms`].
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

/// Where a logical model is in its lifecycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelState {
    /// Serving.
    #[default]
    Active,
    /// Serving, with a planned end.
    Deprecated,
    /// Not serving; requests fail with FAILED_PRECONDITION naming the replacement.
    Retired,
}

impl ModelState {
    /// The state on `today` (UTC) of a model in this state that retires on `retires_on`: from
    /// that day on it is retired, whatever its configured state.
    pub fn on(self, retires_on: Option<time::Date>, today: time::Date) -> ModelState {
        match retires_on {
            Some(day) if today >= day => ModelState::Retired,
            _ => self,
        }
    }
}

/// One logical model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Bedrock model id, inference profile id, or ARN of either. Never shown to clients. Exactly
    /// one of `model_id` and `targets` is set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model_id: String,
    /// Version shown to clients (ListModels, `StreamStart.model_version`) when `model_id` answers;
    /// defaults to the model's logical name, never to `model_id`, which may name the platform's account.
    #[serde(default)]
    pub version: Option<String>,
    /// The region whose Bedrock runtime serves `model_id`. Unset: `bedrock.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Weighted targets instead of `model_id`, for a canary: each request goes to one, by weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetConfig>,
    /// Tried in order when the chosen target is throttled, out of capacity, not ready or
    /// unavailable before it sent anything, within the caller's deadline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<TargetConfig>,
    /// A `request_metadata` key (such as `conversation_id`) whose value picks the target instead of
    /// chance, so that one conversation stays on one target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_metadata_key: Option<String>,
    /// What the model is good for, shown by ListModels.
    #[serde(default)]
    pub description: String,
    /// The largest max_tokens a request may ask for; a request above it is INVALID_ARGUMENT.
    #[serde(default = "default_max_tokens_cap")]
    pub max_tokens_cap: u32,
    /// The max_tokens of a request that sets none, at most `max_tokens_cap`. Bedrock reserves
    /// quota for max_tokens when a request starts, so this stays well below the cap. Unset: 1024,
    /// or `max_tokens_cap` when that is lower.
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    /// Temperature of a request that sets none, 0 to 1. Unset: the model's own default.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// top_p of a request that sets none, 0 to 1. Unset: the model's own default.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// A Bedrock guardrail applied to every request of this model.
    #[serde(default)]
    pub guardrail: Option<GuardrailConfig>,
    /// Where to put Bedrock prompt-cache points in every request of this model.
    #[serde(default)]
    pub prompt_caching: PromptCachingConfig,
    /// Model-specific request fields, sent as Bedrock's `additionalModelRequestFields`, such as
    /// `{ thinking = { type = "enabled", budget_tokens = 2048 } }`.
    #[serde(default)]
    pub additional_request_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Lifecycle state.
    #[serde(default)]
    pub state: ModelState,
    /// The logical model to move to; required for retired models and for models with `retires_on`.
    /// It must be active (not deprecated, not retired, not past its own `retires_on`).
    #[serde(default)]
    pub replacement: Option<String>,
    /// The day (YYYY-MM-DD, UTC) from which the model is retired, whatever its state: from its
    /// first second calls get FAILED_PRECONDITION naming the replacement, without a reload.
    #[serde(default)]
    pub retires_on: Option<String>,
    /// What the model does: `chat` (Converse, ConverseStream, CountTokens) or `embedding` (Embed).
    #[serde(default)]
    pub kind: ModelKind,
    /// What the model can take and do, shown by ListModels, and how the API's features map to its
    /// family's fields.
    #[serde(default)]
    pub capabilities: CapabilitiesConfig,
}

/// What a model does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Answers conversations.
    #[default]
    Chat,
    /// Turns texts into vectors.
    Embedding,
}

/// A kind of input a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Text.
    Text,
    /// Images.
    Image,
    /// Documents.
    Document,
}

/// How a model takes `ConverseRequest.reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningStyle {
    /// It does not reason on request.
    #[default]
    None,
    /// Anthropic's `thinking = { type = "enabled", budget_tokens = N }`.
    AnthropicThinking,
    /// `reasoning_effort = "low" | "medium" | "high"`, as OpenAI's models on Bedrock take it.
    ReasoningEffort,
}

/// How a model serves `ConverseRequest.response_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutputStyle {
    /// It does not: a request with a response format is INVALID_ARGUMENT.
    #[default]
    None,
    /// Bedrock's `outputConfig.textFormat` (JSON schema), and strict tools.
    Native,
    /// A forced tool whose input is the answer (strict tools are refused).
    Tool,
}

/// The request body an embedding model takes through InvokeModel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingFormat {
    /// Amazon Titan Text Embeddings v2: one text per call, `dimensions` and `normalize`.
    TitanTextV2,
    /// Cohere Embed (v3): texts in batches, `input_type` from the purpose.
    CohereEmbed,
}

/// What a model can take and do. The defaults describe a chat model that reads text, images and
/// documents and uses tools, as every model did before capabilities were configurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapabilitiesConfig {
    /// The kinds of input it reads; content of another kind is INVALID_ARGUMENT. Must include `text`.
    pub input_modalities: Vec<Modality>,
    /// Whether it takes tools.
    pub tools: bool,
    /// How it takes a request's reasoning setting.
    pub reasoning: ReasoningStyle,
    /// With `reasoning = "none"`: drop a request's reasoning setting instead of refusing it.
    pub ignore_unsupported_reasoning: bool,
    /// How it serves a request's response format.
    pub structured_output: StructuredOutputStyle,
    /// Whether cache points take effect (requests' cache points are dropped otherwise). Unset: true
    /// when the model sets automatic cache points (`prompt_caching`), otherwise false.
    pub prompt_caching: Option<bool>,
    /// Whether Bedrock's CountTokens works with it.
    pub count_tokens: bool,
    /// The most tokens it reads and writes in one request; 0: not published.
    pub context_window: u32,
    /// Embedding models: the request body it takes.
    pub embedding_format: Option<EmbeddingFormat>,
    /// Embedding models: the vector lengths it offers, the default first.
    pub embedding_dimensions: Vec<u32>,
    /// Embedding models: the most texts one Embed request may carry.
    pub max_embed_texts: u32,
}

impl Default for CapabilitiesConfig {
    fn default() -> Self {
        CapabilitiesConfig {
            input_modalities: vec![Modality::Text, Modality::Image, Modality::Document],
            tools: true,
            reasoning: ReasoningStyle::None,
            ignore_unsupported_reasoning: false,
            structured_output: StructuredOutputStyle::None,
            prompt_caching: None,
            count_tokens: false,
            context_window: 0,
            embedding_format: None,
            embedding_dimensions: Vec::new(),
            max_embed_texts: 96,
        }
    }
}

fn default_max_tokens_cap() -> u32 {
    4096
}

/// One Bedrock target of a model: one of its weighted `targets`, or one of its `fallbacks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Bedrock model id, inference profile id, or ARN of either. Never shown to clients.
    pub model_id: String,
    /// The region whose Bedrock runtime serves it. Unset: `bedrock.region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The version clients see when this target answers; distinct among the model's targets.
    pub version: String,
    /// Its share of the model's requests, relative to the other targets'; 0 takes none (for
    /// `targets` only; unset: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Replaces the model's `additional_request_fields` for this target (its model family may
    /// take other fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_request_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `default_max_tokens` when unset (and the cap allows it).
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

impl ModelConfig {
    /// The version clients see: `version`, else the logical name.
    pub fn effective_version(&self, name: &str) -> String {
        self.version.clone().unwrap_or_else(|| name.to_owned())
    }

    /// The max_tokens of a request that sets none.
    pub fn effective_default_max_tokens(&self) -> u32 {
        self.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS.min(self.max_tokens_cap))
    }

    /// The retirement day, once `retires_on` is validated.
    pub fn retirement_day(&self) -> Option<time::Date> {
        self.retires_on.as_deref().and_then(calendar_date)
    }

    /// The state the model is in on `today` (UTC).
    pub fn state_on(&self, today: time::Date) -> ModelState {
        self.state.on(self.retirement_day(), today)
    }
}

/// A Bedrock guardrail (`guardrailConfig` of Converse, its stream variant for ConverseStream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConfig {
    /// The guardrail's id or ARN.
    pub id: String,
    /// Its version: a number, or `DRAFT`.
    pub version: String,
    /// For ConverseStream: `sync` checks each chunk before it is sent (the default), `async`
    /// sends chunks at once and checks them in the background.
    #[serde(default)]
    pub stream_processing_mode: StreamProcessingMode,
}

/// How a guardrail checks a ConverseStream answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamProcessingMode {
    /// Each chunk is checked before it is sent: nothing the guardrail blocks reaches the client.
    #[default]
    Sync,
    /// Chunks are sent at once and checked in the background: lower latency, but blocked content
    /// may already have been sent.
    Async,
}

/// Where the gateway inserts Bedrock prompt-cache points (`cachePoint`, type `default`), so that
/// the unchanged start of requests is read from the cache. Both off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptCachingConfig {
    /// After the last system prompt block (when the request has one).
    pub after_system: bool,
    /// After the last tool definition (when the request offers tools).
    pub after_tools: bool,
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be read or has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of its allowed range.
    #[error("configuration key `{key}`: {reason}")]
    Invalid {
        /// Dotted path of the key, as written in the TOML file.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

impl Config {
    /// Loads the defaults, then `file` (if given), then `BEDROCK_GATEWAY_*` variables from the
    /// environment. Does not validate: flags may still override, so call [`Config::validate`] last.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(invalid("--config", format!("no such file: {}", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        // `CONFIG` names the file itself and is read by the flag parser, not here.
        let env = Env::prefixed(ENV_PREFIX).ignore(&["config"]).split("__");
        let mut config: Config = figment.merge(env).extract().map_err(|err| ConfigError::Load(Box::new(err)))?;
        config.source_file = file.map(Path::to_path_buf);
        Ok(config)
    }

    /// Parses a whole configuration from TOML text, then validates it.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|err| ConfigError::Load(Box::new(err)))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as the gateway applies it, with the defaults that depend on other keys
    /// written out (`auth.require_identity`, each model's `version` and `default_max_tokens`): what
    /// `check-config` prints.
    pub fn with_derived_defaults(mut self) -> Config {
        self.auth.require_identity = Some(self.auth.identity_required(&self.tenants));
        for (name, model) in &mut self.models {
            model.version = Some(model.effective_version(name));
            model.default_max_tokens = Some(model.effective_default_max_tokens());
        }
        self
    }

    /// Checks every value that types alone cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_bedrock()?;
        self.validate_auth()?;
        self.validate_observability()?;
        self.validate_catalog()?;
        self.validate_models()?;
        self.validate_tenants()?;
        self.validate_quotas()
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        at_least("server.max_request_bytes", server.max_request_bytes as u64, 1024)?;
        if server.max_buffered_request_bytes < server.max_request_bytes
            || u32::try_from(server.max_buffered_request_bytes).is_err()
        {
            return Err(invalid(
                "server.max_buffered_request_bytes",
                format!(
                    "is {}, must be from server.max_request_bytes ({}) to {} (4 GiB)",
                    server.max_buffered_request_bytes,
                    server.max_request_bytes,
                    u32::MAX
                ),
            ));
        }
        if let Some(share) = server.max_buffered_request_bytes_per_caller
            && !(server.max_request_bytes..=server.max_buffered_request_bytes).contains(&share)
        {
            return Err(invalid(
                "server.max_buffered_request_bytes_per_caller",
                format!(
                    "is {share}, must be from server.max_request_bytes ({}) to server.max_buffered_request_bytes ({})",
                    server.max_request_bytes, server.max_buffered_request_bytes
                ),
            ));
        }
        at_least("server.max_concurrent_requests", server.max_concurrent_requests as u64, 1)?;
        if let Some(per_caller) = server.max_concurrent_requests_per_caller {
            at_least("server.max_concurrent_requests_per_caller", per_caller as u64, 1)?;
        }
        for (key, secs) in [
            ("server.max_stream_duration_secs", server.max_stream_duration_secs),
            ("server.stream_idle_timeout_secs", server.stream_idle_timeout_secs),
            ("server.request_receive_timeout_secs", server.request_receive_timeout_secs),
            ("server.client_stall_timeout_secs", server.client_stall_timeout_secs),
            ("server.http2_keepalive_timeout_secs", server.http2_keepalive_timeout_secs),
            ("server.handshake_timeout_secs", server.handshake_timeout_secs),
            ("server.max_connection_age_secs", server.max_connection_age_secs),
            ("server.max_connection_age_grace_secs", server.max_connection_age_grace_secs),
            ("server.max_connection_idle_secs", server.max_connection_idle_secs),
        ] {
            seconds(key, secs, 1)?;
        }
        seconds("server.shutdown_grace_secs", server.shutdown_grace_secs, 0)?;
        at_least("server.http2_max_concurrent_streams", u64::from(server.http2_max_concurrent_streams), 1)?;
        // Below this, ordinary gRPC metadata (authorization, user agent, trace headers) would not fit.
        at_least("server.http2_max_header_list_bytes", u64::from(server.http2_max_header_list_bytes), 1024)?;
        if server.worker_threads > 1024 {
            return Err(invalid("server.worker_threads", "must be from 0 (one per CPU) to 1024".to_owned()));
        }
        if !(1..=1_000_000).contains(&server.max_connections) {
            return Err(invalid("server.max_connections", "must be from 1 to 1000000".to_owned()));
        }
        for (key, limit) in [
            ("server.max_connections_per_address", server.max_connections_per_address),
            ("server.max_connections_per_endpoint", server.max_connections_per_endpoint),
        ] {
            if let Some(limit) = limit
                && !(1..=server.max_connections).contains(&limit)
            {
                return Err(invalid(
                    key,
                    format!("is {limit}, must be from 1 to server.max_connections ({})", server.max_connections),
                ));
            }
        }
        if let Some(tls) = &server.tls {
            for (key, file) in [
                ("server.tls.cert_file", Some(&tls.cert_file)),
                ("server.tls.key_file", Some(&tls.key_file)),
                ("server.tls.client_ca_file", tls.client_ca_file.as_ref()),
            ] {
                if let Some(file) = file
                    && !file.is_file()
                {
                    return Err(invalid(key, format!("no such file: {}", file.display())));
                }
            }
        }
        if !(10..=300).contains(&server.http2_keepalive_interval_secs) {
            return Err(invalid(
                "server.http2_keepalive_interval_secs",
                "must be from 10 to 300, inside the load balancer's 350 s idle timeout".to_owned(),
            ));
        }
        Ok(())
    }

    fn validate_bedrock(&self) -> Result<(), ConfigError> {
        let bedrock = &self.bedrock;
        let region_ok = !bedrock.region.is_empty()
            && bedrock.region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_ok {
            return Err(invalid(
                "bedrock.region",
                format!("{:?} is not an AWS region name like \"us-east-1\"", bedrock.region),
            ));
        }
        if let Some(url) = &bedrock.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("bedrock.endpoint_url", format!("{url:?} must start with http:// or https://")));
        }
        for (region, url) in &bedrock.region_endpoint_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                let key = format!("bedrock.region_endpoint_urls.{region}");
                return Err(invalid(&key, format!("{url:?} must start with http:// or https://")));
            }
        }
        if bedrock.credentials == CredentialsSource::Emulator && bedrock.endpoint_url.is_none() {
            return Err(invalid(
                "bedrock.credentials",
                "\"emulator\" needs bedrock.endpoint_url pointing at the emulator".to_owned(),
            ));
        }
        if !(1..=5).contains(&bedrock.max_attempts) {
            return Err(invalid("bedrock.max_attempts", "must be from 1 to 5".to_owned()));
        }
        at_least("bedrock.connect_timeout_ms", bedrock.connect_timeout_ms, 1)?;
        seconds("bedrock.connect_timeout_ms", bedrock.connect_timeout_ms / 1000, 0)?;
        seconds("bedrock.stream_open_timeout_secs", bedrock.stream_open_timeout_secs, 1)?;
        seconds("bedrock.converse_timeout_secs", bedrock.converse_timeout_secs, 1)
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        for (name, digest) in &self.auth.api_keys {
            let key = format!("auth.api_keys.{name}");
            if !valid_name(name) {
                return Err(invalid(&key, format!("a key name, which is also its tenant's, {NAME_RULE}")));
            }
            check_digest(&key, digest)?;
        }
        Ok(())
    }

    fn validate_observability(&self) -> Result<(), ConfigError> {
        if let Err(err) = self.logging.env_filter() {
            return Err(invalid(
                "logging.filter",
                format!(
                    "{:?} is not a list of tracing directives such as \"info\" or \"info,bedrock_gateway=debug\": {err}",
                    self.logging.filter
                ),
            ));
        }
        let port = self.admin.listen.port();
        if port != 0 && port == self.server.listen.port() {
            return Err(invalid("admin.listen", format!("port {port} is server.listen's; use another (default 9090)")));
        }
        let name = &self.metrics.emf_service_name;
        if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                "metrics.emf_service_name",
                format!("{name:?} must be 1 to 255 printable ASCII characters without spaces"),
            ));
        }
        if !(1..=60).contains(&self.metrics.emf_interval_secs) {
            return Err(invalid(
                "metrics.emf_interval_secs",
                "must be from 1 to 60, so that every CloudWatch minute gets a value".to_owned(),
            ));
        }
        if let Some(url) = &self.telemetry.otlp_endpoint {
            let has_host = url.parse::<http::Uri>().is_ok_and(|uri| uri.host().is_some_and(|host| !host.is_empty()));
            if !url.starts_with("http://") || !has_host {
                return Err(invalid(
                    "telemetry.otlp_endpoint",
                    format!(
                        "{url:?} must be an http:// URL of an OTLP/HTTP collector, such as \"http://localhost:4318\" \
                         (no TLS: run the collector next to the gateway)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_catalog(&self) -> Result<(), ConfigError> {
        if self.catalog.reload_secs > 86_400 {
            return Err(invalid("catalog.reload_secs", "must be from 0 (SIGHUP only) to 86400".to_owned()));
        }
        let Some(s3) = &self.catalog.s3 else {
            return Ok(());
        };
        if !self.models.is_empty() {
            return Err(invalid(
                "models",
                "with catalog.s3 the catalog is read from S3: remove the [models] tables (or catalog.s3)".to_owned(),
            ));
        }
        if s3.bucket.trim().is_empty() {
            return Err(invalid("catalog.s3.bucket", "must not be empty".to_owned()));
        }
        if s3.key.trim().is_empty() {
            return Err(invalid("catalog.s3.key", "must not be empty".to_owned()));
        }
        if s3.credentials == CredentialsSource::Emulator && s3.endpoint_url.is_none() {
            return Err(invalid("catalog.s3.credentials", "\"emulator\" needs catalog.s3.endpoint_url".to_owned()));
        }
        Ok(())
    }

    /// Whether the catalog is not part of this configuration: it is read from S3, and checked
    /// (with the tenants that name its models) when read.
    fn catalog_elsewhere(&self) -> bool {
        self.catalog.s3.is_some() && self.models.is_empty()
    }

    fn validate_models(&self) -> Result<(), ConfigError> {
        if self.catalog_elsewhere() {
            return Ok(());
        }
        if self.models.is_empty() {
            return Err(invalid("models", "at least one model must be configured, as [models.<name>]".to_owned()));
        }
        for (name, model) in &self.models {
            let key = |field: &str| format!("models.{name}.{field}");
            if !valid_model_name(name) {
                return Err(invalid(
                    &format!("models.{name}"),
                    "a model name is 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit".to_owned(),
                ));
            }
            validate_targets(name, model)?;
            at_least(&key("max_tokens_cap"), u64::from(model.max_tokens_cap), 1)?;
            if let Some(tokens) = model.default_max_tokens
                && !(1..=model.max_tokens_cap).contains(&tokens)
            {
                return Err(invalid(
                    &key("default_max_tokens"),
                    format!("is {tokens}, must be from 1 to models.{name}.max_tokens_cap ({})", model.max_tokens_cap),
                ));
            }
            for (field, value) in [("temperature", model.temperature), ("top_p", model.top_p)] {
                if let Some(value) = value
                    && !(0.0..=1.0).contains(&value)
                {
                    return Err(invalid(&key(field), format!("is {value}, must be from 0.0 to 1.0")));
                }
            }
            if let Some(guardrail) = &model.guardrail {
                check_guardrail(&key("guardrail"), guardrail)?;
            }
            validate_capabilities(name, model)?;
            self.validate_lifecycle(name, model)?;
        }
        self.refuse_replacement_cycles()
    }

    /// Dates are real dates, and a model that retires names an existing model that serves today.
    fn validate_lifecycle(&self, name: &str, model: &ModelConfig) -> Result<(), ConfigError> {
        let key = |field: &str| format!("models.{name}.{field}");
        if let Some(day) = &model.retires_on
            && calendar_date(day).is_none()
        {
            return Err(invalid(&key("retires_on"), format!("{day:?} is not a calendar date as YYYY-MM-DD")));
        }
        let Some(replacement) = &model.replacement else {
            if model.state == ModelState::Retired || model.retires_on.is_some() {
                return Err(invalid(
                    &key("replacement"),
                    "a retired model, or one with retires_on, must name its replacement".to_owned(),
                ));
            }
            return Ok(());
        };
        if replacement == name {
            return Err(invalid(&key("replacement"), format!("{replacement:?} is this model itself")));
        }
        let Some(target) = self.models.get(replacement) else {
            let known = self.models.keys().cloned().collect::<Vec<_>>().join(", ");
            return Err(invalid(
                &key("replacement"),
                format!("{replacement:?} is not a configured model (configured: {known})"),
            ));
        };
        let today = utc_today();
        match target.state_on(today) {
            ModelState::Active => Ok(()),
            state => {
                let why = match (state, target.retirement_day()) {
                    (ModelState::Retired, Some(day)) if today >= day => format!("retired on {day}"),
                    (ModelState::Retired, _) => "retired".to_owned(),
                    _ => "deprecated".to_owned(),
                };
                Err(invalid(&key("replacement"), format!("{replacement:?} is {why}; name an active model")))
            }
        }
    }

    /// Replacements are active models, so only active models could form a cycle; one that does
    /// would send clients round in circles.
    fn refuse_replacement_cycles(&self) -> Result<(), ConfigError> {
        for name in self.models.keys() {
            let mut chain = vec![name.as_str()];
            let mut current = name.as_str();
            while let Some(next) = self.models.get(current).and_then(|model| model.replacement.as_deref()) {
                if next == name {
                    chain.push(next);
                    return Err(invalid(
                        &format!("models.{name}.replacement"),
                        format!("replacements form a cycle: {}", chain.join(" -> ")),
                    ));
                }
                if chain.contains(&next) {
                    break;
                }
                chain.push(next);
                current = next;
            }
        }
        Ok(())
    }
}

impl Config {
    fn validate_tenants(&self) -> Result<(), ConfigError> {
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        let mut claim = |value: &str, key: String| match owners.insert(value.to_owned(), key.clone()) {
            Some(first) => Err(invalid(&key, format!("{value:?} is already configured as {first}"))),
            None => Ok(()),
        };
        // Digests are hex, which may be written in either case: one key is one key.
        for (name, digest) in &self.auth.api_keys {
            claim(&digest.to_ascii_lowercase(), format!("auth.api_keys.{name}"))?;
            if self.tenants.get(name).is_some_and(|tenant| tenant.api_keys.contains_key(name)) {
                return Err(invalid(
                    &format!("auth.api_keys.{name}"),
                    format!("key {name:?} is also configured as tenants.{name}.api_keys.{name}; keep one"),
                ));
            }
        }
        for (name, tenant) in &self.tenants {
            let key = |field: &str| format!("tenants.{name}.{field}");
            if !valid_name(name) {
                return Err(invalid(&format!("tenants.{name}"), format!("a tenant name {NAME_RULE}")));
            }
            for (key_name, digest) in &tenant.api_keys {
                let key = key(&format!("api_keys.{key_name}"));
                if !valid_name(key_name) {
                    return Err(invalid(&key, format!("a key name {NAME_RULE}")));
                }
                check_digest(&key, digest)?;
                claim(&digest.to_ascii_lowercase(), key.clone())?;
            }
            for endpoint in &tenant.vpc_endpoint_ids {
                if !is_vpc_endpoint_id(endpoint) {
                    return Err(invalid(
                        &key("vpc_endpoint_ids"),
                        format!("{endpoint:?} is not a VPC endpoint id like \"vpce-0123456789abcdef0\""),
                    ));
                }
                if !self.server.proxy_protocol {
                    return Err(invalid(
                        &key("vpc_endpoint_ids"),
                        "needs server.proxy_protocol = true: the endpoint id comes from the NLB's PROXY protocol header"
                            .to_owned(),
                    ));
                }
                claim(endpoint, key("vpc_endpoint_ids"))?;
            }
            for subject in &tenant.client_cert_subjects {
                if !subject.contains('=') {
                    return Err(invalid(
                        &key("client_cert_subjects"),
                        format!("{subject:?} is not a subject like \"CN=payments,O=Example Corp\""),
                    ));
                }
                if self.server.tls.as_ref().is_none_or(|tls| tls.client_ca_file.is_none()) {
                    return Err(invalid(
                        &key("client_cert_subjects"),
                        "needs server.tls.client_ca_file, so that client certificates are asked for and verified"
                            .to_owned(),
                    ));
                }
                claim(subject, key("client_cert_subjects"))?;
            }
            for model in tenant.models.iter().flatten() {
                self.require_model(&key("models"), model)?;
            }
            check_quota_limits(&key("quotas"), &tenant.quotas)?;
            for (model, limits) in &tenant.model_quotas {
                let key = key(&format!("model_quotas.{model}"));
                self.require_model(&key, model)?;
                if tenant.models.as_ref().is_some_and(|models| !models.contains(model)) {
                    return Err(invalid(&key, format!("{model:?} is not in tenants.{name}.models")));
                }
                check_quota_limits(&key, limits)?;
            }
        }
        Ok(())
    }

    fn require_model(&self, key: &str, model: &str) -> Result<(), ConfigError> {
        if self.models.contains_key(model) || self.catalog_elsewhere() {
            return Ok(());
        }
        let known = self.models.keys().cloned().collect::<Vec<_>>().join(", ");
        Err(invalid(key, format!("{model:?} is not a configured model (configured: {known})")))
    }

    fn validate_quotas(&self) -> Result<(), ConfigError> {
        let quotas = &self.quotas;
        if !(1..=1000).contains(&quotas.fallback_task_count) {
            return Err(invalid("quotas.fallback_task_count", "must be from 1 to 1000".to_owned()));
        }
        if quotas.store != QuotaStoreKind::Redis {
            return Ok(());
        }
        let redis = &quotas.redis;
        let has_host = redis.url.parse::<http::Uri>().is_ok_and(|uri| uri.host().is_some_and(|host| !host.is_empty()));
        if !(redis.url.starts_with("redis://") || redis.url.starts_with("rediss://")) || !has_host {
            return Err(invalid(
                "quotas.redis.url",
                format!("{:?} must be redis://HOST:PORT, or rediss://HOST:PORT for TLS", redis.url),
            ));
        }
        if let Some(file) = &redis.ca_file {
            if !redis.url.starts_with("rediss://") {
                return Err(invalid("quotas.redis.ca_file", "needs a rediss:// url (TLS)".to_owned()));
            }
            if !file.is_file() {
                return Err(invalid("quotas.redis.ca_file", format!("no such file: {}", file.display())));
            }
        }
        if !(1..=10_000).contains(&redis.timeout_ms) {
            return Err(invalid("quotas.redis.timeout_ms", "must be from 1 to 10000".to_owned()));
        }
        let prefix_ok = !redis.key_prefix.is_empty()
            && redis.key_prefix.len() <= 64
            && redis.key_prefix.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '{' | '}'));
        if !prefix_ok {
            return Err(invalid(
                "quotas.redis.key_prefix",
                "must be 1 to 64 printable ASCII characters without spaces or braces".to_owned(),
            ));
        }
        if redis.prefetch_percent > 25 {
            return Err(invalid("quotas.redis.prefetch_percent", "must be from 0 to 25".to_owned()));
        }
        // Renewals every third of the lease must have time to answer before it ends.
        if !(1000..=600_000).contains(&redis.lease_ms) || redis.lease_ms < 3 * redis.timeout_ms {
            return Err(invalid(
                "quotas.redis.lease_ms",
                "must be from 1000 to 600000 and at least three times quotas.redis.timeout_ms".to_owned(),
            ));
        }
        Ok(())
    }
}

const NAME_RULE: &str = "is 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit (names \
                         meant to be set through environment variables must avoid '-')";

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

fn check_digest(key: &str, digest: &str) -> Result<(), ConfigError> {
    if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(
            key,
            "must be the SHA-256 of the key as 64 hex digits (printf %s KEY | sha256sum)".to_owned(),
        ));
    }
    Ok(())
}

fn is_vpc_endpoint_id(id: &str) -> bool {
    id.strip_prefix("vpce-").is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn check_quota_limits(key: &str, limits: &QuotaLimits) -> Result<(), ConfigError> {
    for (field, value) in [
        ("requests_per_minute", limits.requests_per_minute),
        ("tokens_per_minute", limits.tokens_per_minute),
        ("concurrent_requests", limits.concurrent_requests),
    ] {
        if let Some(value) = value {
            at_least(&format!("{key}.{field}"), value, 1)?;
        }
    }
    Ok(())
}

/// A model's capabilities fit its kind and each other.
fn validate_capabilities(name: &str, model: &ModelConfig) -> Result<(), ConfigError> {
    let key = |field: &str| format!("models.{name}.capabilities.{field}");
    let capabilities = &model.capabilities;
    if !capabilities.input_modalities.contains(&Modality::Text) {
        return Err(invalid(&key("input_modalities"), "must include \"text\"".to_owned()));
    }
    let automatic_cache_points = model.prompt_caching.after_system || model.prompt_caching.after_tools;
    if automatic_cache_points && capabilities.prompt_caching == Some(false) {
        return Err(invalid(
            &key("prompt_caching"),
            format!("is false, but models.{name}.prompt_caching sets cache points"),
        ));
    }
    match model.kind {
        ModelKind::Chat => {
            for (field, set) in [
                ("embedding_format", capabilities.embedding_format.is_some()),
                ("embedding_dimensions", !capabilities.embedding_dimensions.is_empty()),
            ] {
                if set {
                    return Err(invalid(
                        &key(field),
                        format!("is for embedding models; models.{name}.kind is \"chat\""),
                    ));
                }
            }
            if capabilities.structured_output == StructuredOutputStyle::Tool && !capabilities.tools {
                return Err(invalid(&key("structured_output"), "\"tool\" needs tools = true".to_owned()));
            }
        }
        ModelKind::Embedding => {
            if capabilities.embedding_format.is_none() {
                return Err(invalid(
                    &key("embedding_format"),
                    "is required for embedding models: \"titan_text_v2\" or \"cohere_embed\"".to_owned(),
                ));
            }
            if capabilities.embedding_dimensions.is_empty() || capabilities.embedding_dimensions.contains(&0) {
                return Err(invalid(
                    &key("embedding_dimensions"),
                    "must list the vector lengths the model offers, each above 0, the default first".to_owned(),
                ));
            }
            if !(1..=2048).contains(&capabilities.max_embed_texts) {
                return Err(invalid(
                    &key("max_embed_texts"),
                    format!("is {}, must be from 1 to 2048", capabilities.max_embed_texts),
                ));
            }
            let chat_only = [
                ("reasoning", capabilities.reasoning != ReasoningStyle::None),
                ("structured_output", capabilities.structured_output != StructuredOutputStyle::None),
                ("count_tokens", capabilities.count_tokens),
                ("prompt_caching", capabilities.prompt_caching == Some(true) || automatic_cache_points),
            ];
            for (field, set) in chat_only {
                if set {
                    return Err(invalid(
                        &key(field),
                        format!("is for chat models; models.{name}.kind is \"embedding\""),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn invalid(key: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), reason }
}

fn at_least(key: &str, value: u64, minimum: u64) -> Result<(), ConfigError> {
    if value < minimum {
        return Err(invalid(key, format!("is {value}, must be at least {minimum}")));
    }
    Ok(())
}

/// The longest duration any setting may have. Durations are added to clock readings, so an
/// unbounded value would overflow the clock instead of meaning "forever".
const MAX_SECONDS: u64 = 7 * 24 * 3600;

fn seconds(key: &str, value: u64, minimum: u64) -> Result<(), ConfigError> {
    at_least(key, value, minimum)?;
    if value > MAX_SECONDS {
        return Err(invalid(key, format!("is {value}, must be at most {MAX_SECONDS} (7 days)")));
    }
    Ok(())
}

fn valid_model_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// `day` as a calendar date, when it is one written YYYY-MM-DD (`2027-02-31` is not).
pub fn calendar_date(day: &str) -> Option<time::Date> {
    let numeric = |part: &str, len: usize| part.len() == len && part.chars().all(|c| c.is_ascii_digit());
    let mut parts = day.split('-');
    let (year, month, date) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !numeric(year, 4) || !numeric(month, 2) || !numeric(date, 2) {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year.parse().ok()?, month, date.parse().ok()?).ok()
}

/// Today in UTC, the calendar `retires_on` is written in.
pub fn utc_today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// A model has `model_id` or weighted `targets` (one at least with a weight), and every target
/// and fallback names a model and a version clients can tell apart.
fn validate_targets(name: &str, model: &ModelConfig) -> Result<(), ConfigError> {
    let key = |field: &str| format!("models.{name}.{field}");
    match (model.model_id.trim().is_empty(), model.targets.is_empty()) {
        (true, true) => return Err(invalid(&key("model_id"), "must be set (or targets)".to_owned())),
        (false, false) => {
            return Err(invalid(&key("targets"), "set either model_id (one target) or targets, not both".to_owned()));
        }
        (false, true) => {
            if let Some(version) = model.version.as_ref().filter(|version| !valid_version(version, &model.model_id)) {
                return Err(invalid(
                    &key("version"),
                    format!(
                        "{version:?} must be a name for clients, not empty and not a Bedrock model id or ARN (unset: \"{name}\")"
                    ),
                ));
            }
        }
        (true, false) => {
            if model.version.is_some() {
                return Err(invalid(&key("version"), "with targets, each target has its own version".to_owned()));
            }
            if model.region.is_some() {
                return Err(invalid(&key("region"), "with targets, each target has its own region".to_owned()));
            }
            if model.targets.iter().all(|target| target.weight == Some(0)) {
                return Err(invalid(&key("targets"), "at least one target needs a weight above 0".to_owned()));
            }
        }
    }
    let mut versions = Vec::new();
    for (list, targets) in [("targets", &model.targets), ("fallbacks", &model.fallbacks)] {
        for (index, target) in targets.iter().enumerate() {
            let key = |field: &str| format!("models.{name}.{list}[{index}].{field}");
            if target.model_id.trim().is_empty() {
                return Err(invalid(&key("model_id"), "must not be empty".to_owned()));
            }
            if !valid_version(&target.version, &target.model_id) {
                return Err(invalid(
                    &key("version"),
                    "must be a name for clients, not empty and not a Bedrock model id or ARN".to_owned(),
                ));
            }
            if list == "targets" && versions.contains(&target.version) {
                return Err(invalid(&key("version"), format!("{:?} is another target's version", target.version)));
            }
            versions.push(target.version.clone());
            if list == "fallbacks" && target.weight.is_some() {
                return Err(invalid(&key("weight"), "fallbacks are tried in order and have no weight".to_owned()));
            }
            if target.region.as_ref().is_some_and(|region| region.trim().is_empty()) {
                return Err(invalid(&key("region"), "must not be empty (unset: bedrock.region)".to_owned()));
            }
        }
    }
    if model.region.as_ref().is_some_and(|region| region.trim().is_empty()) {
        return Err(invalid(&key("region"), "must not be empty (unset: bedrock.region)".to_owned()));
    }
    if let Some(sticky) = &model.sticky_metadata_key
        && !(1..=64).contains(&sticky.chars().count())
    {
        return Err(invalid(&key("sticky_metadata_key"), "must have 1 to 64 characters".to_owned()));
    }
    Ok(())
}

/// A version clients can be shown: not empty, not the Bedrock id, not an ARN.
fn valid_version(version: &str, model_id: &str) -> bool {
    !version.trim().is_empty() && version != model_id && !version.starts_with("arn:")
}

/// Bedrock's own rules for a guardrail identifier and version, so a typo fails at start-up rather
/// than on every request.
fn check_guardrail(key: &str, guardrail: &GuardrailConfig) -> Result<(), ConfigError> {
    let id = &guardrail.id;
    let plain_id = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let arn = id.starts_with("arn:aws") && id.contains(":bedrock:") && id.contains(":guardrail/");
    if !(plain_id || arn) {
        return Err(invalid(
            &format!("{key}.id"),
            format!("{id:?} is not a guardrail id (lowercase letters and digits) or guardrail ARN"),
        ));
    }
    let version = &guardrail.version;
    let numbered =
        (1..=8).contains(&version.len()) && !version.starts_with('0') && version.chars().all(|c| c.is_ascii_digit());
    if !(numbered || version == "DRAFT") {
        return Err(invalid(
            &format!("{key}.version"),
            format!("{version:?} is not a guardrail version: a number or DRAFT"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[models.chat]\nmodel_id = \"anthropic.claude-3-haiku-20240307-v1:0\"\n";

    fn rejected_key(toml: &str) -> String {
        match Config::from_toml(toml) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_file_takes_defaults() {
        let config = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(config.server.listen.port(), 50051);
        assert_eq!(config.server.max_request_bytes, 4 * 1024 * 1024);
        assert_eq!(config.server.max_concurrent_requests, 10_000);
        assert_eq!(config.models["chat"].max_tokens_cap, 4096);
        assert_eq!(config.models["chat"].state, ModelState::Active);
        assert_eq!(config.server.scheduler, Scheduler::ThreadPerCore);
    }

    #[test]
    fn thread_per_core_has_a_shard_per_thread_and_work_stealing_one_runtime() {
        let config = Config::from_toml(&format!("{MINIMAL}[server]\nworker_threads = 3\n")).unwrap();
        assert_eq!(config.server.shards(), 3);
        let config =
            Config::from_toml(&format!("{MINIMAL}[server]\nscheduler = \"work_stealing\"\nworker_threads = 3\n"))
                .unwrap();
        assert_eq!(config.server.scheduler, Scheduler::WorkStealing);
        assert_eq!(config.server.shards(), 1, "one runtime, whatever the threads");
    }

    #[test]
    fn per_source_connection_caps_default_to_shares_of_max_connections() {
        let server = |text: &str| Config::from_toml(&format!("{MINIMAL}[server]\n{text}\n")).unwrap().server;
        let direct = server("max_connections = 10000");
        assert_eq!(direct.connections_per_address(), 10_000, "without PROXY protocol the peer may be the NLB");
        assert_eq!(direct.connections_per_endpoint(), 5_000);
        assert_eq!(server("proxy_protocol = true").connections_per_address(), 100);
        assert_eq!(server("proxy_protocol = true\nmax_connections = 50000").connections_per_address(), 500);
        assert_eq!(server("proxy_protocol = true\nmax_connections = 40").connections_per_address(), 40);
        assert_eq!(server("max_connections_per_address = 7").connections_per_address(), 7, "applies to the TCP peer");
        for key in ["max_connections_per_address", "max_connections_per_endpoint"] {
            let text = format!("{MINIMAL}[server]\nmax_connections = 10\n{key} = 11\n");
            assert_eq!(rejected_key(&text), format!("server.{key}"), "more than max_connections");
        }
    }

    #[test]
    fn no_models_is_rejected() {
        assert_eq!(rejected_key(""), "models");
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(rejected_key(&format!("{MINIMAL}[server]\nmax_request_bytes = 10\n")), "server.max_request_bytes");
        for key in [
            "http2_max_concurrent_streams",
            "http2_max_header_list_bytes",
            "handshake_timeout_secs",
            "max_connections",
            "max_connections_per_address",
            "max_connections_per_endpoint",
            "max_connection_idle_secs",
            "max_connection_age_secs",
            "max_connection_age_grace_secs",
        ] {
            assert_eq!(rejected_key(&format!("{MINIMAL}[server]\n{key} = 0\n")), format!("server.{key}"));
        }
        assert_eq!(rejected_key(&format!("{MINIMAL}[server]\nworker_threads = 1025\n")), "server.worker_threads");
        assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\nregion = \"US East\"\n")), "bedrock.region");
        assert_eq!(
            rejected_key(&format!("{MINIMAL}[server]\nmax_stream_duration_secs = 9223372036854775807\n")),
            "server.max_stream_duration_secs",
            "a duration that would overflow the clock is refused, not a panic later"
        );
        for key in ["stream_open_timeout_secs", "converse_timeout_secs"] {
            assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\n{key} = 0\n")), format!("bedrock.{key}"));
        }
        assert_eq!(rejected_key(&format!("{MINIMAL}[bedrock]\ncredentials = \"emulator\"\n")), "bedrock.credentials");
        assert_eq!(rejected_key(&format!("{MINIMAL}[auth.api_keys]\nteam-a = \"secret\"\n")), "auth.api_keys.team-a");
        assert_eq!(rejected_key("[models.Chat]\nmodel_id = \"x\"\n"), "models.Chat");
        assert_eq!(rejected_key("[models.chat]\nmodel_id = \" \"\n"), "models.chat.model_id");
        assert_eq!(
            rejected_key("[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"new\"\n"),
            "models.old.replacement"
        );
        assert_eq!(
            rejected_key("[models.old]\nmodel_id = \"x\"\nretires_on = \"next year\"\n"),
            "models.old.retires_on"
        );
    }

    #[test]
    fn observability_keys_are_checked() {
        let config = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(config.admin.listen, SocketAddr::from(([127, 0, 0, 1], 9090)), "loopback unless opened on purpose");
        assert!(!config.metrics.emf);
        assert_eq!(config.metrics.emf_service_name, "bedrock-gateway");
        assert_eq!(config.metrics.emf_interval(), Duration::from_secs(10));
        assert_eq!(config.telemetry.otlp_endpoint, None);
        let with = |section: &str| format!("{MINIMAL}{section}\n");
        assert_eq!(rejected_key(&with("[admin]\nlisten = \"0.0.0.0:50051\"")), "admin.listen");
        assert_eq!(rejected_key(&with("[metrics]\nemf_service_name = \"\"")), "metrics.emf_service_name");
        assert_eq!(rejected_key(&with("[metrics]\nemf_service_name = \"a b\"")), "metrics.emf_service_name");
        assert_eq!(rejected_key(&with("[metrics]\nemf_interval_secs = 0")), "metrics.emf_interval_secs");
        assert_eq!(rejected_key(&with("[metrics]\nemf_interval_secs = 61")), "metrics.emf_interval_secs");
        for url in ["localhost:4318", "https://collector:4318", "http://"] {
            let key = rejected_key(&with(&format!("[telemetry]\notlp_endpoint = {url:?}")));
            assert_eq!(key, "telemetry.otlp_endpoint", "{url}");
        }
        // The directives the logger would drop without a word, as it did.
        for filter in ["info,bedrock_gateway=loud", "=", "info,[{"] {
            assert_eq!(rejected_key(&with(&format!("[logging]\nfilter = {filter:?}"))), "logging.filter", "{filter}");
        }
        Config::from_toml(&with("[logging]\nfilter = \"warn,bedrock_gateway::request=info\"")).unwrap();
        let config = Config::from_toml(&with("[telemetry]\notlp_endpoint = \"http://localhost:4318\"")).unwrap();
        assert_eq!(config.telemetry.otlp_endpoint.as_deref(), Some("http://localhost:4318"));
    }

    #[test]
    fn wrong_types_and_unknown_keys_name_the_key() {
        let err = Config::from_toml(&format!("{MINIMAL}[server]\nmax_request_bytes = \"big\"\n")).unwrap_err();
        assert!(err.to_string().contains("max_request_bytes"), "{err}");
        let err = Config::from_toml(&format!("{MINIMAL}[server]\nscheduler = \"per_core\"\n")).unwrap_err();
        assert!(err.to_string().contains("server.scheduler"), "{err}");
        let err = Config::from_toml(&format!("{MINIMAL}[server]\nlisten_port = 1\n")).unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // the closure's error type is figment::Jail's, not ours
    fn file_then_environment_override_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("gateway.toml", &format!("{MINIMAL}[server]\nlisten = \"127.0.0.1:7000\"\n"))?;
            jail.set_env("BEDROCK_GATEWAY_SERVER__LISTEN", "127.0.0.1:7001");
            jail.set_env("BEDROCK_GATEWAY_MODELS__CHAT__MAX_TOKENS_CAP", "512");
            jail.set_env("BEDROCK_GATEWAY_CONFIG", "ignored: names the file, read by the flag parser");
            let config = Config::load(Some(Path::new("gateway.toml"))).expect("loads");
            assert_eq!(config.server.listen.port(), 7001);
            assert_eq!(config.models["chat"].max_tokens_cap, 512);
            assert_eq!(config.models["chat"].model_id, "anthropic.claude-3-haiku-20240307-v1:0");
            // How Terraform configures tenants on ECS: variables, key digests from secrets.
            jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__VPC_ENDPOINT_IDS", "[\"vpce-0123456789abcdef0\"]");
            jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__MODELS", "[chat]");
            jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__API_KEYS__CI", "ab".repeat(32));
            jail.set_env("BEDROCK_GATEWAY_TENANTS__TEAM_A__QUOTAS__TOKENS_PER_MINUTE", "1000");
            jail.set_env("BEDROCK_GATEWAY_QUOTAS__REDIS__PASSWORD", "from-secrets-manager");
            let config = Config::load(Some(Path::new("gateway.toml"))).expect("loads");
            let tenant = &config.tenants["team_a"];
            assert_eq!(tenant.vpc_endpoint_ids, ["vpce-0123456789abcdef0"]);
            assert_eq!(tenant.models.as_deref(), Some(&["chat".to_owned()][..]));
            assert_eq!(tenant.api_keys["ci"], "ab".repeat(32));
            assert_eq!(tenant.quotas.tokens_per_minute, Some(1000));
            assert_eq!(config.quotas.redis.password.as_deref(), Some("from-secrets-manager"));
            jail.set_env("BEDROCK_GATEWAY_SERVER__MAX_REQUEST_BYTES", "lots");
            let err = Config::load(Some(Path::new("gateway.toml"))).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("server.max_request_bytes"), "{err}");
            Ok(())
        });
    }

    const DIGEST_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const DIGEST_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn tenants_and_quotas_parse() {
        let config = Config::from_toml(&format!(
            "{MINIMAL}[server]\nproxy_protocol = true\n\
             [tenants.payments]\napi_keys = {{ ci = \"{DIGEST_A}\" }}\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]\n\
             models = [\"chat\"]\nquotas = {{ requests_per_minute = 600, tokens_per_minute = 100000 }}\n\
             [tenants.payments.model_quotas.chat]\nconcurrent_requests = 20\n\
             [quotas]\nstore = \"redis\"\nfallback_task_count = 3\n[quotas.redis]\nurl = \"rediss://cache.example:6379\"\n"
        ))
        .unwrap();
        let tenant = &config.tenants["payments"];
        assert_eq!(tenant.quotas.requests_per_minute, Some(600));
        assert_eq!(tenant.model_quotas["chat"].concurrent_requests, Some(20));
        assert_eq!(config.quotas.store, QuotaStoreKind::Redis);
        assert_eq!(config.quotas.redis.timeout(), Duration::from_millis(100));
        assert!(config.auth.identity_required(&config.tenants), "a key is configured");
        assert!(!Config::from_toml(MINIMAL).unwrap().auth.identity_required(&BTreeMap::new()));
    }

    #[test]
    fn identity_fails_closed_once_any_tenant_can_be_identified() {
        let required = |text: &str| {
            let config = Config::from_toml(&format!("{MINIMAL}[server]\nproxy_protocol = true\n{text}\n")).unwrap();
            config.auth.identity_required(&config.tenants)
        };
        let endpoint = "[tenants.a]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]";
        assert!(!required(""), "nothing identifies anyone: the network is the boundary");
        assert!(!required("[tenants.a]\nmodels = [\"chat\"]"), "a tenant nothing identifies");
        assert!(required(endpoint));
        assert!(required(&format!("[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}")));
        assert!(!required(&format!("{endpoint}\n[tenants.default]")), "[tenants.default] lets them in");
        assert!(!required(&format!("{endpoint}\n[auth]\nrequire_identity = false")));
        assert!(required("[auth]\nrequire_identity = true"));
    }

    #[test]
    fn tenant_mistakes_name_their_key() {
        let with = |text: &str| format!("{MINIMAL}[server]\nproxy_protocol = true\n{text}\n");
        let cases = [
            ("[tenants.Team]", "tenants.Team"),
            ("[tenants.a]\napi_keys = { ci = \"nope\" }", "tenants.a.api_keys.ci"),
            (
                &format!("[auth.api_keys]\nx = \"{DIGEST_A}\"\n[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}"),
                "tenants.a.api_keys.ci",
            ),
            (
                &format!("[auth.api_keys]\na = \"{DIGEST_A}\"\n[tenants.a]\napi_keys = {{ a = \"{DIGEST_B}\" }}"),
                "auth.api_keys.a",
            ),
            ("[tenants.a]\nvpc_endpoint_ids = [\"vpc-123\"]", "tenants.a.vpc_endpoint_ids"),
            (
                "[tenants.a]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]\n[tenants.b]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]",
                "tenants.b.vpc_endpoint_ids",
            ),
            ("[tenants.a]\nclient_cert_subjects = [\"CN=a\"]", "tenants.a.client_cert_subjects"),
            ("[tenants.a]\nmodels = [\"gpt\"]", "tenants.a.models"),
            (
                "[tenants.a]\nmodels = []\n[tenants.a.model_quotas.chat]\nrequests_per_minute = 1",
                "tenants.a.model_quotas.chat",
            ),
            ("[tenants.a.quotas]\ntokens_per_minute = 0", "tenants.a.quotas.tokens_per_minute"),
            ("[quotas]\nstore = \"redis\"", "quotas.redis.url"),
            ("[quotas]\nfallback_task_count = 0", "quotas.fallback_task_count"),
            (
                "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"redis://127.0.0.1:6379\"\nkey_prefix = \"{x}\"",
                "quotas.redis.key_prefix",
            ),
            (
                "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"redis://127.0.0.1:6379\"\nprefetch_percent = 26",
                "quotas.redis.prefetch_percent",
            ),
            (
                "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"redis://127.0.0.1:6379\"\nlease_ms = 200",
                "quotas.redis.lease_ms",
            ),
            (
                "[quotas]\nstore = \"redis\"\n[quotas.redis]\nurl = \"rediss://127.0.0.1:6379\"\nca_file = \"/nonexistent.pem\"",
                "quotas.redis.ca_file",
            ),
        ];
        for (text, key) in cases {
            assert_eq!(rejected_key(&with(text)), key, "{text}");
        }
        let without_proxy = format!("{MINIMAL}[tenants.a]\nvpc_endpoint_ids = [\"vpce-0123456789abcdef0\"]\n");
        assert_eq!(rejected_key(&without_proxy), "tenants.a.vpc_endpoint_ids");
        let missing_cert =
            format!("{MINIMAL}[server.tls]\ncert_file = \"/nonexistent.pem\"\nkey_file = \"/nonexistent.key\"\n");
        assert_eq!(rejected_key(&missing_cert), "server.tls.cert_file");
    }

    #[test]
    fn a_key_digest_is_one_key_whatever_its_case() {
        let upper = DIGEST_A.to_ascii_uppercase();
        let cases = [
            (
                format!(
                    "[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}\n[tenants.b]\napi_keys = {{ ci = \"{upper}\" }}"
                ),
                "tenants.b.api_keys.ci",
                "tenants.a.api_keys.ci",
            ),
            (
                format!("[auth.api_keys]\nx = \"{upper}\"\n[tenants.a]\napi_keys = {{ ci = \"{DIGEST_A}\" }}"),
                "tenants.a.api_keys.ci",
                "auth.api_keys.x",
            ),
            (
                format!("[tenants.a]\napi_keys = {{ ci = \"{upper}\", ops = \"{DIGEST_A}\" }}"),
                "tenants.a.api_keys.ops",
                "tenants.a.api_keys.ci",
            ),
        ];
        for (text, second, first) in cases {
            match Config::from_toml(&format!("{MINIMAL}{text}\n")) {
                Err(ConfigError::Invalid { key, reason }) => {
                    assert_eq!(key, second, "{text}");
                    assert!(reason.contains(first), "names both places: {reason}");
                }
                other => panic!("{text}: expected a refusal, got {other:?}"),
            }
        }
        Config::from_toml(&format!("{MINIMAL}[tenants.a]\napi_keys = {{ ci = \"{upper}\" }}\n")).unwrap();
    }

    #[test]
    fn key_digests_and_names_are_checked_where_they_are_written() {
        let cases = [
            (format!("[auth.api_keys]\n\"Bad Name!\" = \"{DIGEST_A}\""), "auth.api_keys.Bad Name!"),
            (format!("[tenants.a]\napi_keys = {{ \"Bad Name!\" = \"{DIGEST_A}\" }}"), "tenants.a.api_keys.Bad Name!"),
            (
                format!("[tenants.payments]\napi_keys = {{ ci = \"{}\" }}", &DIGEST_A[1..]),
                "tenants.payments.api_keys.ci",
            ),
            (
                format!("[tenants.payments]\napi_keys = {{ ci = \"{}g\" }}", &DIGEST_A[1..]),
                "tenants.payments.api_keys.ci",
            ),
            (format!("[auth.api_keys]\nci = \"{DIGEST_A}0\""), "auth.api_keys.ci"),
        ];
        for (text, key) in cases {
            assert_eq!(rejected_key(&format!("{MINIMAL}{text}\n")), key, "{text}");
        }
    }

    #[test]
    fn the_redis_password_is_never_printed() {
        let mut config = Config::from_toml(MINIMAL).unwrap();
        config.quotas.redis.password = Some("hunter2".to_owned());
        assert!(!toml::to_string(&config).unwrap().contains("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn target_mistakes_name_their_key() {
        let cases = [
            ("[models.chat]\nversion = \"v\"", "models.chat.model_id"),
            (
                "[models.chat]\nmodel_id = \"m\"\ntargets = [{ model_id = \"a\", version = \"a\" }]",
                "models.chat.targets",
            ),
            ("[models.chat]\ntargets = [{ model_id = \"a\", version = \"a\", weight = 0 }]", "models.chat.targets"),
            (
                "[models.chat]\ntargets = [{ model_id = \"a\", version = \"a\" }]\nversion = \"v\"",
                "models.chat.version",
            ),
            (
                "[models.chat]\ntargets = [{ model_id = \"a\", version = \"a\" }]\nregion = \"eu-west-1\"",
                "models.chat.region",
            ),
            (
                "[models.chat]\ntargets = [{ model_id = \"a\", version = \"v\" }, { model_id = \"b\", version = \"v\" }]",
                "models.chat.targets[1].version",
            ),
            ("[models.chat]\ntargets = [{ model_id = \" \", version = \"a\" }]", "models.chat.targets[0].model_id"),
            ("[models.chat]\ntargets = [{ model_id = \"a\", version = \"v1\" }]", ""),
            (
                "[models.chat]\nmodel_id = \"m\"\nfallbacks = [{ model_id = \"b\", version = \"backup\", weight = 2 }]",
                "models.chat.fallbacks[0].weight",
            ),
            (
                "[models.chat]\nmodel_id = \"m\"\nfallbacks = [{ model_id = \"arn:aws:bedrock:x\", version = \"arn:x\" }]",
                "models.chat.fallbacks[0].version",
            ),
            ("[models.chat]\nmodel_id = \"m\"\nsticky_metadata_key = \"\"", "models.chat.sticky_metadata_key"),
            (
                "[bedrock.region_endpoint_urls]\nus-west-2 = \"vpce.example\"\n[models.chat]\nmodel_id = \"m\"",
                "bedrock.region_endpoint_urls.us-west-2",
            ),
        ];
        for (toml, key) in cases {
            match Config::from_toml(toml) {
                Ok(_) => assert_eq!(key, "", "{toml} was accepted"),
                Err(err) => assert_eq!(rejected_key(toml), key, "{toml}: {err}"),
            }
        }
    }

    #[test]
    fn lifecycle_mistakes_name_their_key() {
        let chat = "[models.chat]\nmodel_id = \"c\"\n";
        let cases = [
            (
                "[models.old]\nmodel_id = \"x\"\nretires_on = \"2027-02-31\"\nreplacement = \"chat\"",
                "models.old.retires_on",
            ),
            (
                "[models.old]\nmodel_id = \"x\"\nstate = \"deprecated\"\nretires_on = \"2099-01-01\"",
                "models.old.replacement",
            ),
            ("[models.old]\nmodel_id = \"x\"\nstate = \"deprecated\"\nreplacement = \"old\"", "models.old.replacement"),
            ("[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"gone\"", "models.old.replacement"),
            (
                "[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"mid\"\n\
                 [models.mid]\nmodel_id = \"y\"\nstate = \"deprecated\"\nreplacement = \"chat\"",
                "models.old.replacement",
            ),
            (
                "[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"past\"\n\
                 [models.past]\nmodel_id = \"y\"\nretires_on = \"2020-01-01\"\nreplacement = \"chat\"",
                "models.old.replacement",
            ),
            (
                "[models.a]\nmodel_id = \"x\"\nreplacement = \"b\"\n[models.b]\nmodel_id = \"y\"\nreplacement = \"a\"",
                "models.a.replacement",
            ),
        ];
        for (text, key) in cases {
            assert_eq!(rejected_key(&format!("{chat}{text}\n")), key, "{text}");
        }
        let err = Config::from_toml(&format!("{chat}[models.old]\nmodel_id = \"x\"\nretires_on = \"2027-02-31\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"2027-02-31\" is not a calendar date"), "{err}");
        let err = Config::from_toml(&format!("{chat}[models.old]\nmodel_id = \"x\"\nstate = \"retired\"\nreplacement = \"past\"\n[models.past]\nmodel_id = \"y\"\nretires_on = \"2020-01-01\"\nreplacement = \"chat\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"past\" is retired on 2020-01-01"), "{err}");
        let cycle = Config::from_toml(&format!("{chat}{}\n", cases[6].0)).unwrap_err().to_string();
        assert!(cycle.contains("a -> b -> a"), "{cycle}");
        // A model that retires later, pointing at an active one, is fine; so is one already past
        // its day, which the catalog then refuses at request time.
        for ok in [
            "[models.old]\nmodel_id = \"x\"\nstate = \"deprecated\"\nretires_on = \"2099-12-31\"\nreplacement = \"chat\"",
            "[models.old]\nmodel_id = \"x\"\nretires_on = \"2020-02-29\"\nreplacement = \"chat\"",
        ] {
            Config::from_toml(&format!("{chat}{ok}\n")).unwrap();
        }
    }

    #[test]
    fn per_model_request_defaults_are_checked() {
        let config = Config::from_toml(
            "[models.chat]\nmodel_id = \"c\"\nmax_tokens_cap = 8000\ndefault_max_tokens = 500\ntemperature = 0.3\n\
             top_p = 0.9\nguardrail = { id = \"abc123\", version = \"2\" }\n\
             prompt_caching = { after_system = true }\n\
             additional_request_fields = { thinking = { type = \"enabled\", budget_tokens = 2048 } }\n\
             [models.small]\nmodel_id = \"s\"\nmax_tokens_cap = 600\n",
        )
        .unwrap();
        let chat = &config.models["chat"];
        assert_eq!(chat.effective_default_max_tokens(), 500);
        assert_eq!(config.models["small"].effective_default_max_tokens(), 600, "1024, or the cap when lower");
        assert_eq!(chat.guardrail.as_ref().unwrap().stream_processing_mode, StreamProcessingMode::Sync);
        assert_eq!(chat.prompt_caching, PromptCachingConfig { after_system: true, after_tools: false });
        let with = |line: &str| format!("[models.chat]\nmodel_id = \"c\"\nmax_tokens_cap = 1000\n{line}\n");
        for (line, key) in [
            ("default_max_tokens = 1001", "models.chat.default_max_tokens"),
            ("default_max_tokens = 0", "models.chat.default_max_tokens"),
            ("temperature = 1.5", "models.chat.temperature"),
            ("top_p = -0.1", "models.chat.top_p"),
            ("guardrail = { id = \"Bad Id\", version = \"1\" }", "models.chat.guardrail.id"),
            ("guardrail = { id = \"abc\", version = \"latest\" }", "models.chat.guardrail.version"),
            ("version = \"c\"", "models.chat.version"),
            ("version = \"arn:aws:bedrock:us-east-1:123456789012:inference-profile/x\"", "models.chat.version"),
        ] {
            assert_eq!(rejected_key(&with(line)), key, "{line}");
        }
        for line in [
            "guardrail = { id = \"abc\", version = \"1\", mode = \"sync\" }",
            "prompt_caching = { after_everything = true }",
            "guardrail = { id = \"abc\", version = \"1\", stream_processing_mode = \"later\" }",
        ] {
            assert!(Config::from_toml(&with(line)).is_err(), "{line}");
        }
    }

    #[test]
    fn check_config_prints_the_defaults_that_depend_on_other_keys() {
        let config = Config::from_toml(
            "[models.chat]\nmodel_id = \"us.anthropic.claude-3-5-haiku-20241022-v1:0\"\n\
             guardrail = { id = \"abc123\", version = \"DRAFT\" }\n\
             additional_request_fields = { thinking = { type = \"enabled\", budget_tokens = 2048 } }\n",
        )
        .unwrap();
        let text = toml::to_string_pretty(&config.clone().with_derived_defaults()).unwrap();
        assert!(text.contains("require_identity = false"), "{text}");
        assert!(text.contains("version = \"chat\""), "{text}");
        assert!(text.contains("default_max_tokens = 1024"), "{text}");
        let again = Config::from_toml(&text).unwrap();
        assert_eq!(again.models["chat"].additional_request_fields, config.models["chat"].additional_request_fields);
        assert_eq!(again.models["chat"].guardrail, config.models["chat"].guardrail);
    }

    #[test]
    fn calendar_dates() {
        assert_eq!(calendar_date("2027-01-31"), time::Date::from_calendar_date(2027, time::Month::January, 31).ok());
        assert!(calendar_date("2028-02-29").is_some(), "a leap day");
        for bad in ["2027-02-31", "2027-02-29", "2027-13-01", "2027-00-10", "27-01-01", "2027-1-01", "2027-01-31-1", ""]
        {
            assert_eq!(calendar_date(bad), None, "{bad}");
        }
    }
}
