//! Configuring a [`Client`]: where the gateway is, how to authenticate, how long to wait.
//!
//! Every setting has a default that suits a service calling the gateway through PrivateLink, so
//! most callers set only the endpoint and maybe an API key. Settings are checked in
//! [`ClientBuilder::build`], so a typo in a URL or a bad certificate fails at startup, not on the
//! first request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, Uri};
use tower::retry::budget::TpsBudget;

use crate::Error;
use crate::balance::{Balancer, ConnectionSettings, ResolveFuture, Resolver, system_resolver};
use crate::client::{Client, Shared};
use crate::retry::Retry;

/// Builds a [`Client`]; from [`Client::builder`].
///
/// ```no_run
/// # async fn example() -> Result<(), bedrock_gateway_client::Error> {
/// use std::time::Duration;
/// use bedrock_gateway_client::Client;
///
/// let client = Client::builder("https://gateway.internal.example.com")
///     .api_key(std::env::var("BGW_API_KEY").unwrap_or_default())
///     .ca_certificate_pem(std::fs::read("ca.pem").unwrap())
///     .deadline(Duration::from_secs(60))
///     .user_agent("orders-service/1.4")
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    api_key: Option<String>,
    ca_certificate: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    tls_server_name: Option<String>,
    connect_timeout: Duration,
    deadline: Option<Duration>,
    user_agent: Option<String>,
    connections_per_address: usize,
    resolve_interval: Duration,
    resolver: Option<Resolver>,
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    retry_percent: f32,
    retry_min_per_sec: u32,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("tls", &(self.ca_certificate.is_some(), self.identity.is_some()))
            .field("deadline", &self.deadline)
            .field("connections_per_address", &self.connections_per_address)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(endpoint: String) -> ClientBuilder {
        ClientBuilder {
            endpoint,
            api_key: None,
            ca_certificate: None,
            identity: None,
            tls_server_name: None,
            connect_timeout: Duration::from_secs(5),
            deadline: None,
            user_agent: None,
            connections_per_address: 4,
            resolve_interval: Duration::from_secs(30),
            resolver: None,
            max_attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            retry_percent: 0.1,
            retry_min_per_sec: 5,
        }
    }

    /// Sends `authorization: Bearer <key>` with every call.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> ClientBuilder {
        self.api_key = Some(key.into());
        self
    }

    /// Trusts this CA (PEM) for the gateway's certificate, instead of the system's roots. Needs an
    /// `https://` endpoint.
    #[must_use]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> ClientBuilder {
        self.ca_certificate = Some(pem.into());
        self
    }

    /// Presents this client certificate and private key (both PEM) to the gateway (mutual TLS).
    /// Needs an `https://` endpoint.
    #[must_use]
    pub fn client_identity_pem(mut self, certificate: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> ClientBuilder {
        self.identity = Some((certificate.into(), key.into()));
        self
    }

    /// Checks the gateway's certificate against this name instead of the endpoint's host (for
    /// example when calling a PrivateLink endpoint's own DNS name with a certificate issued for a
    /// friendlier private DNS name).
    #[must_use]
    pub fn tls_server_name(mut self, name: impl Into<String>) -> ClientBuilder {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Limit for opening a connection (TCP and TLS). Default 5 s.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Limit for each call, from the call until its answer is complete, retries included; the
    /// gateway is told too. Default: none (the gateway's own maximum stream duration applies).
    /// [`Client::with_deadline`] changes it per call.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> ClientBuilder {
        self.deadline = Some(deadline);
        self
    }

    /// Names the calling application in the `user-agent` header, before this crate's name and
    /// version (`orders-service/1.4 bedrock-gateway-client/0.1.0 tonic/…`).
    #[must_use]
    pub fn user_agent(mut self, application: impl Into<String>) -> ClientBuilder {
        self.user_agent = Some(application.into());
        self
    }

    /// Connections to open to each address the endpoint resolves to. Default 4. The NLB sends
    /// each connection to one gateway task, so more connections spread calls over more tasks.
    #[must_use]
    pub fn connections_per_address(mut self, connections: usize) -> ClientBuilder {
        self.connections_per_address = connections.max(1);
        self
    }

    /// How often to resolve the endpoint's name again to follow address changes. Default 30 s.
    #[must_use]
    pub fn resolve_interval(mut self, interval: Duration) -> ClientBuilder {
        self.resolve_interval = interval;
        self
    }

    /// Resolves the endpoint's host and port with `resolve` instead of the system resolver, for
    /// tests or service discovery. The requests still carry the endpoint's host as authority (and
    /// as TLS server name).
    #[must_use]
    pub fn resolver<F>(mut self, resolve: F) -> ClientBuilder
    where
        F: Fn(&str, u16) -> ResolveFuture + Send + Sync + 'static,
    {
        self.resolver = Some(Arc::new(resolve));
        self
    }

    /// Connects to these addresses instead of resolving the endpoint's name (like curl's
    /// `--resolve`).
    #[must_use]
    pub fn addresses(self, addresses: impl IntoIterator<Item = SocketAddr>) -> ClientBuilder {
        let addresses: Vec<SocketAddr> = addresses.into_iter().collect();
        self.resolver(move |_, _| {
            let addresses = addresses.clone();
            Box::pin(async move { Ok(addresses) })
        })
    }

    /// Attempts per call, the first included; 1 turns retries off. Default 3. Only calls that
    /// failed with `UNAVAILABLE` or `RESOURCE_EXHAUSTED` before any event arrived are retried.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> ClientBuilder {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff step and the largest one; waits are random up to the step, which doubles
    /// per attempt. Default 50 ms and 2 s. A server's `grpc-retry-pushback-ms` takes precedence.
    #[must_use]
    pub fn backoff(mut self, base: Duration, max: Duration) -> ClientBuilder {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// The retry budget: retries are at most `percent` (0.0 to 1.0) of the calls in the last 10 s,
    /// plus `min_per_sec` per second. Default 10% plus 5 per second. Shared by all clones of the
    /// client.
    #[must_use]
    pub fn retry_budget(mut self, percent: f32, min_per_sec: u32) -> ClientBuilder {
        self.retry_percent = percent.clamp(0.0, 1.0);
        self.retry_min_per_sec = min_per_sec;
        self
    }

    /// Checks the settings and starts the client. Connections open lazily, on the first call.
    ///
    /// Must be called within a Tokio runtime: the client resolves the endpoint in a background
    /// task, which ends when the last clone of the client is dropped.
    pub fn build(self) -> Result<Client, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config("the client must be built within a Tokio runtime".to_owned()));
        }
        let origin: Uri = self
            .endpoint
            .parse()
            .map_err(|e| Error::Config(format!("invalid endpoint URL {:?}: {e}", self.endpoint)))?;
        let https = match origin.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(Error::Config(format!(
                    "the endpoint {:?} must start with http:// or https://",
                    self.endpoint
                )));
            }
        };
        let host = origin.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(Error::Config(format!("the endpoint {:?} has no host", self.endpoint)));
        }
        let port = origin.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            let mut tls = ClientTlsConfig::new().domain_name(self.tls_server_name.clone().unwrap_or(host.clone()));
            tls = match &self.ca_certificate {
                Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
                None => tls.with_native_roots(),
            };
            if let Some((certificate, key)) = &self.identity {
                tls = tls.identity(Identity::from_pem(certificate, key));
            }
            Some(tls)
        } else if self.ca_certificate.is_some() || self.identity.is_some() {
            return Err(Error::Config(format!("TLS settings need an https:// endpoint, not {:?}", self.endpoint)));
        } else {
            None
        };
        let version = concat!("bedrock-gateway-client/", env!("CARGO_PKG_VERSION"));
        let user_agent = match &self.user_agent {
            Some(application) => format!("{application} {version}"),
            None => version.to_owned(),
        };
        let settings = ConnectionSettings { origin, tls, user_agent, connect_timeout: self.connect_timeout };
        // Build one endpoint now so that bad TLS material or a bad user agent fails here.
        settings.endpoint(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let authorization = match &self.api_key {
            Some(key) => {
                let mut value: MetadataValue<Ascii> = format!("Bearer {key}")
                    .parse()
                    .map_err(|_| Error::Config("the API key must be printable ASCII".to_owned()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let retry = Retry {
            max_attempts: self.max_attempts,
            base_delay: self.base_delay,
            max_delay: self.max_delay,
            budget: TpsBudget::new(Duration::from_secs(10), self.retry_min_per_sec, self.retry_percent),
        };
        let balancer = Balancer::start(
            self.resolver.unwrap_or_else(system_resolver),
            host,
            port,
            settings,
            self.connections_per_address,
            self.resolve_interval,
        );
        let shared = Shared { balancer, authorization, retry, endpoint: self.endpoint };
        Ok(Client::new(Arc::new(shared), self.deadline))
    }
}
