//! Spreading calls over the gateway's tasks, which the network in between does not do for us.
//!
//! Behind PrivateLink the endpoint's DNS name resolves to one address per availability zone, and
//! the NLB behind each address balances per TCP connection. One HTTP/2 connection would therefore
//! pin every call of a service to a single gateway task, however many tasks are running. So the
//! client:
//!
//! - resolves the name to all its addresses, and opens several connections to each
//!   ([`ClientBuilder::connections_per_address`](crate::ClientBuilder::connections_per_address)),
//!   which the NLB spreads over the tasks of that zone;
//! - picks a connection per call (tonic's balanced channel: power of two random choices among the
//!   ready connections);
//! - resolves the name again periodically in a background task, adding connections for new
//!   addresses and closing those of addresses that went away;
//! - reconnects a connection the server closed (a GOAWAY from a draining task, an idle timeout):
//!   tonic opens a new one on the connection's next use, and a call that failed on the closed one
//!   before any event arrived is retried;
//! - sends HTTP/2 keepalive pings every 60 s, also while idle, and TCP keepalives: the NLB silently
//!   drops flows idle for 350 s, after which a call would hang until the TCP retransmission timeout
//!   instead of reconnecting. A ping unanswered for 20 s closes the connection, so a dead path is
//!   noticed in well under a minute.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Uri};

use crate::Error;

/// HTTP/2 ping interval, well inside the NLB's 350 s idle timeout.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a ping may go unanswered before the connection is considered dead.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The future a [`Resolver`] returns.
pub type ResolveFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns the endpoint's host and port into addresses. The default uses the system resolver
/// ([`tokio::net::lookup_host`]); tests and unusual setups can supply their own with
/// [`ClientBuilder::resolver`](crate::ClientBuilder::resolver).
pub type Resolver = Arc<dyn Fn(&str, u16) -> ResolveFuture + Send + Sync>;

/// The system resolver.
pub(crate) fn system_resolver() -> Resolver {
    Arc::new(|host: &str, port: u16| {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    })
}

/// How to open a connection to one address of the endpoint.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    /// The endpoint as configured: its scheme, and the authority every request carries.
    pub(crate) origin: Uri,
    /// TLS settings, for `https` endpoints; their server name is the endpoint's host.
    pub(crate) tls: Option<ClientTlsConfig>,
    /// Prepended to tonic's own user agent.
    pub(crate) user_agent: String,
    /// Limit for TCP (and TLS) connection setup.
    pub(crate) connect_timeout: Duration,
}

impl ConnectionSettings {
    /// The tonic endpoint for one resolved address.
    pub(crate) fn endpoint(&self, addr: SocketAddr) -> Result<Endpoint, Error> {
        let scheme = self.origin.scheme_str().unwrap_or("http");
        let invalid = |e: tonic::transport::Error| Error::Config(crate::error::chain(&e));
        let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(invalid)?
            .origin(self.origin.clone())
            .user_agent(self.user_agent.clone())
            .map_err(|_| Error::Config(format!("invalid user agent {:?}", self.user_agent)))?
            .connect_timeout(self.connect_timeout)
            .tcp_keepalive(Some(KEEPALIVE_INTERVAL))
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        match &self.tls {
            Some(tls) => endpoint.tls_config(tls.clone()).map_err(invalid),
            None => Ok(endpoint),
        }
    }
}

/// Where name resolution stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolution {
    /// Not done yet.
    Pending,
    /// The client has addresses to connect to.
    Resolved,
    /// Resolution failed and the client has no address at all.
    Failed(String),
}

/// A balanced channel over all the endpoint's addresses, kept up to date in the background.
pub(crate) struct Balancer {
    channel: Channel,
    resolution: watch::Receiver<Resolution>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Balancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer").field("resolution", &*self.resolution.borrow()).finish_non_exhaustive()
    }
}

impl Balancer {
    /// Starts resolving `host:port` every `interval`, with `per_address` connections to each
    /// address. Must be called within a Tokio runtime.
    pub(crate) fn start(
        resolver: Resolver,
        host: String,
        port: u16,
        settings: ConnectionSettings,
        per_address: usize,
        interval: Duration,
    ) -> Balancer {
        let (channel, changes) = Channel::balance_channel(64);
        let (state, resolution) = watch::channel(Resolution::Pending);
        let task = tokio::spawn(async move {
            let mut current = HashSet::new();
            loop {
                let resolved = resolver(&host, port).await;
                let outcome = match resolved {
                    Ok(addrs) if !addrs.is_empty() => {
                        let addrs = addrs.into_iter().collect();
                        if update(&changes, &current, &addrs, &settings, per_address).await.is_err() {
                            return; // The client is gone.
                        }
                        current = addrs;
                        Resolution::Resolved
                    }
                    // Keep the connections we have through a resolver hiccup.
                    _ if !current.is_empty() => Resolution::Resolved,
                    Ok(_) => Resolution::Failed(format!("{host} has no addresses")),
                    Err(e) => Resolution::Failed(format!("cannot resolve {host}: {e}")),
                };
                tracing::debug!(?outcome, addresses = current.len(), "resolved the gateway endpoint");
                state.send_replace(outcome);
                tokio::time::sleep(interval).await;
            }
        });
        Balancer { channel, resolution, task }
    }

    /// The balanced channel, once resolution has given it addresses.
    pub(crate) async fn channel(&self) -> Result<Channel, String> {
        let mut resolution = self.resolution.clone();
        let state = resolution.wait_for(|state| *state != Resolution::Pending).await.map_err(|e| e.to_string())?;
        match &*state {
            Resolution::Failed(reason) => Err(reason.clone()),
            _ => Ok(self.channel.clone()),
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Tells the balanced channel which connections to add and remove.
async fn update(
    changes: &mpsc::Sender<Change<(SocketAddr, usize), Endpoint>>,
    current: &HashSet<SocketAddr>,
    resolved: &HashSet<SocketAddr>,
    settings: &ConnectionSettings,
    per_address: usize,
) -> Result<(), ()> {
    for &gone in current.difference(resolved) {
        for i in 0..per_address {
            changes.send(Change::Remove((gone, i))).await.map_err(|_| ())?;
        }
    }
    for &new in resolved.difference(current) {
        // The settings were checked when the client was built, so this cannot fail.
        let Ok(endpoint) = settings.endpoint(new) else { continue };
        for i in 0..per_address {
            changes.send(Change::Insert((new, i), endpoint.clone())).await.map_err(|_| ())?;
        }
    }
    Ok(())
}
