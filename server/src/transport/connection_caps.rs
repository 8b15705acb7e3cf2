//! Connections per source. `server.max_connections` alone can be filled by one client that opens
//! connections and does nothing with them, which needs no key and shuts every other client out.
//! So a connection also takes a place of its client address (`server.max_connections_per_address`)
//! and of its PrivateLink endpoint (`server.max_connections_per_endpoint`), held until it closes;
//! a connection over either cap is closed at once, and the other sources are served as before.
//!
//! The source is known only once the PROXY protocol header has been read, so the places are taken
//! then, in the connection's own task (see `Setup::prepare` in `transport::listener`) and before any TLS
//! handshake. A connection still sending its header holds only its `max_connections` place, for at
//! most the header timeout.
//!
//! Every refusal, of these caps and of `max_connections`, is counted
//! (`bedrock_gateway_rejections_total`), but logged at most once every [`LOG_INTERVAL`] per
//! process, with how many were refused since the last line: a flood of connections must not
//! become a flood of log lines.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::ops::metrics::{Metrics, Rejection};

/// The shortest time between two log lines about refused connections.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A bound on open connections, by the config key that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// `server.max_connections`: all connections of the process.
    Total,
    /// `server.max_connections_per_address`: one client address.
    PerAddress,
    /// `server.max_connections_per_endpoint`: one PrivateLink endpoint.
    PerEndpoint,
}

impl Cap {
    fn key(self) -> &'static str {
        match self {
            Cap::Total => "server.max_connections",
            Cap::PerAddress => "server.max_connections_per_address",
            Cap::PerEndpoint => "server.max_connections_per_endpoint",
        }
    }

    fn rejection(self) -> Rejection {
        match self {
            Cap::Total => Rejection::Connections,
            Cap::PerAddress | Cap::PerEndpoint => Rejection::ConnectionsPerSource,
        }
    }
}

/// Where connections come from, as the caps count them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    /// A client address (without its port), within the PrivateLink endpoint it came through:
    /// client VPCs may use the same private addresses.
    Address(IpAddr, Option<Arc<str>>),
    /// A PrivateLink VPC endpoint id.
    Endpoint(Arc<str>),
}

/// The per-source caps of one server and its log of refused connections; shared by the listener
/// and every shard.
#[derive(Debug)]
pub struct ConnectionCaps {
    per_address: usize,
    per_endpoint: usize,
    open: Mutex<HashMap<Source, usize>>,
    log: Mutex<RefusalLog>,
    metrics: Metrics,
}

impl ConnectionCaps {
    /// The caps of `config`, counting refusals in `metrics`.
    pub fn new(config: &ServerConfig, metrics: Metrics) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps {
            per_address: config.connections_per_address(),
            per_endpoint: config.connections_per_endpoint(),
            open: Mutex::default(),
            log: Mutex::default(),
            metrics,
        })
    }

    /// Takes the places of a connection from `address` through `endpoint`, held until the returned
    /// value is dropped; `None`, the refusal counted and logged, when either is at its cap.
    pub fn admit(self: &Arc<Self>, address: IpAddr, endpoint: Option<&Arc<str>>) -> Option<SourcePlaces> {
        let address_source = Source::Address(address.to_canonical(), endpoint.cloned());
        let endpoint_source = endpoint.map(|id| Source::Endpoint(Arc::clone(id)));
        let over = {
            let mut open = lock(&self.open);
            let at_cap = |source: &Source, cap: usize| open.get(source).is_some_and(|&count| count >= cap);
            if at_cap(&address_source, self.per_address) {
                Some(Cap::PerAddress)
            } else if endpoint_source.as_ref().is_some_and(|source| at_cap(source, self.per_endpoint)) {
                Some(Cap::PerEndpoint)
            } else {
                for source in std::iter::once(&address_source).chain(&endpoint_source) {
                    *open.entry(source.clone()).or_default() += 1;
                }
                None
            }
        };
        if let Some(cap) = over {
            self.refuse(cap, address, endpoint);
            return None;
        }
        Some(SourcePlaces { caps: Arc::clone(self), address: address_source, endpoint: endpoint_source })
    }

    /// Counts a connection from `address` (through `endpoint`) refused over `cap`, and logs it
    /// now or with the next line.
    pub fn refuse(self: &Arc<Self>, cap: Cap, address: IpAddr, endpoint: Option<&Arc<str>>) {
        self.metrics.rejected(cap.rejection());
        let mut log = lock(&self.log);
        log.count(cap, address, endpoint);
        let now = Instant::now();
        match log.next_line_at {
            Some(at) if now < at => {
                if !log.line_due {
                    log.line_due = true;
                    let caps = Arc::clone(self);
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        let line = lock(&caps.log).take(Instant::now());
                        line.write();
                    });
                }
            }
            _ => {
                let line = log.take(now);
                drop(log);
                line.write();
            }
        }
    }

    /// Open connections counted for `address` through `endpoint`.
    #[cfg(test)]
    fn open_from(&self, address: IpAddr, endpoint: Option<&Arc<str>>) -> usize {
        let source = Source::Address(address.to_canonical(), endpoint.cloned());
        lock(&self.open).get(&source).copied().unwrap_or_default()
    }
}

/// A connection's places in the per-source caps; given back when dropped.
#[derive(Debug)]
pub struct SourcePlaces {
    caps: Arc<ConnectionCaps>,
    address: Source,
    endpoint: Option<Source>,
}

impl Drop for SourcePlaces {
    fn drop(&mut self) {
        let mut open = lock(&self.caps.open);
        for source in std::iter::once(&self.address).chain(&self.endpoint) {
            if let Some(count) = open.get_mut(source) {
                *count -= 1;
                if *count == 0 {
                    open.remove(source);
                }
            }
        }
    }
}

/// Refusals not yet logged.
#[derive(Debug, Default)]
struct RefusalLog {
    /// Refused since the last line: over `max_connections`, per address, per endpoint.
    refused: [u64; 3],
    /// The latest refusal: its client address, endpoint and cap.
    latest: Option<(IpAddr, Option<Arc<str>>, Cap)>,
    /// When the next line may be written; unset: at once.
    next_line_at: Option<Instant>,
    /// A task will write the next line at `next_line_at`.
    line_due: bool,
}

impl RefusalLog {
    fn count(&mut self, cap: Cap, address: IpAddr, endpoint: Option<&Arc<str>>) {
        let index = match cap {
            Cap::Total => 0,
            Cap::PerAddress => 1,
            Cap::PerEndpoint => 2,
        };
        self.refused[index] += 1;
        self.latest = Some((address, endpoint.cloned(), cap));
    }

    /// What the line written `now` says; the next may follow [`LOG_INTERVAL`] later.
    fn take(&mut self, now: Instant) -> RefusalLine {
        self.next_line_at = Some(now + LOG_INTERVAL);
        self.line_due = false;
        RefusalLine { refused: std::mem::take(&mut self.refused), latest: self.latest.take() }
    }
}

/// One log line about refused connections.
#[derive(Debug)]
struct RefusalLine {
    refused: [u64; 3],
    latest: Option<(IpAddr, Option<Arc<str>>, Cap)>,
}

impl RefusalLine {
    fn write(self) {
        let Some((address, endpoint, cap)) = self.latest else { return };
        let [total_cap, per_address, per_endpoint] = self.refused;
        tracing::warn!(
            refused = total_cap + per_address + per_endpoint,
            over_max_connections = total_cap,
            over_max_connections_per_address = per_address,
            over_max_connections_per_endpoint = per_endpoint,
            peer = %address,
            vpce = endpoint.as_deref(),
            cap = cap.key(),
            "refused connections over a connection cap since the last such line (at most one every {} s; \
             peer, vpce and cap: the latest refused)",
            LOG_INTERVAL.as_secs(),
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is a single statement, so the state is consistent after a panic elsewhere.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(per_address: usize, per_endpoint: usize) -> Arc<ConnectionCaps> {
        let config = ServerConfig {
            max_connections_per_address: Some(per_address),
            max_connections_per_endpoint: Some(per_endpoint),
            ..ServerConfig::default()
        };
        ConnectionCaps::new(&config, Metrics::new())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn an_address_at_its_cap_is_refused_until_one_of_its_connections_closes() {
        let caps = caps(2, 10);
        let first = caps.admit(ip("10.0.0.1"), None).unwrap();
        let _second = caps.admit(ip("10.0.0.1"), None).unwrap();
        assert!(caps.admit(ip("10.0.0.1"), None).is_none());
        let _other = caps.admit(ip("10.0.0.2"), None).expect("another address is admitted");
        drop(first);
        assert!(caps.admit(ip("10.0.0.1"), None).is_some(), "a closed connection gives its place back");
    }

    #[tokio::test]
    async fn an_endpoint_at_its_cap_is_refused_whatever_the_address() {
        let caps = caps(10, 2);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("vpce-a"), Arc::from("vpce-b"));
        let _first = caps.admit(ip("10.0.0.1"), Some(&a)).unwrap();
        let _second = caps.admit(ip("10.0.0.2"), Some(&a)).unwrap();
        assert!(caps.admit(ip("10.0.0.3"), Some(&a)).is_none());
        assert!(caps.admit(ip("10.0.0.3"), Some(&b)).is_some(), "another endpoint is admitted");
    }

    #[tokio::test]
    async fn one_address_in_two_client_vpcs_is_two_sources_and_a_refusal_takes_no_place() {
        let caps = caps(1, 10);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("vpce-a"), Arc::from("vpce-b"));
        let _in_a = caps.admit(ip("10.0.0.1"), Some(&a)).unwrap();
        let _in_b = caps.admit(ip("10.0.0.1"), Some(&b)).expect("the same private address in another VPC");
        assert!(caps.admit(ip("10.0.0.1"), Some(&a)).is_none());
        assert_eq!(caps.open_from(ip("10.0.0.1"), Some(&a)), 1);
    }

    #[tokio::test]
    async fn an_ipv4_address_counts_the_same_mapped_into_ipv6() {
        let caps = caps(1, 10);
        let _v4 = caps.admit(ip("10.0.0.1"), None).unwrap();
        assert!(caps.admit(ip("::ffff:10.0.0.1"), None).is_none());
    }

    #[test]
    fn refusals_between_lines_are_summed_into_the_next() {
        let mut log = RefusalLog::default();
        log.count(Cap::PerAddress, ip("10.0.0.1"), None);
        log.count(Cap::PerAddress, ip("10.0.0.1"), None);
        log.count(Cap::Total, ip("10.0.0.2"), None);
        let now = Instant::now();
        let line = log.take(now);
        assert_eq!(line.refused, [1, 2, 0]);
        assert_eq!(line.latest.map(|(address, _, cap)| (address, cap)), Some((ip("10.0.0.2"), Cap::Total)));
        assert_eq!(log.next_line_at, Some(now + LOG_INTERVAL));
        assert_eq!(log.take(now).refused, [0; 3], "counted once");
    }
}
