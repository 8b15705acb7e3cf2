//! The one-source connection flood of the abuse scenario, against a gateway of its own: one
//! address opens connections up to `server.max_connections` and reopens each the gateway closes,
//! while normal callers from other addresses make call after call, each on a fresh connection (the
//! clients a full connection table would lock out). The figure is the share of their calls served.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Endpoint;

use crate::abusers::{ConnectionFlood, FloodSeen};
use crate::processes::{BedrockEndpoint, GatewaySettings, Layout, free_port};
use crate::profile::{AbuseProfile, MAX_CONNECTIONS};
use crate::prometheus::scrape;
use crate::scenario::abuse::gateway_counts::GatewayCounts;
use crate::stats::{Latencies, Summary};
use crate::target_check::TargetCheck;
use crate::targets::{GATEWAY_MODEL, gateway_request};

/// The address of the connection flood.
const FLOOD_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// How long a flood connection the gateway closed waits before it is reopened.
const FLOOD_REFILL_PAUSE: Duration = Duration::from_secs(1);
/// After the flood's ramp, before the normal callers start: its first refusals have come back.
const FLOOD_SETTLE: Duration = Duration::from_millis(500);
/// Longest a normal caller's call may take, connecting included, before it counts as not served.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The one-source connection flood: whether one address opening connections locks out the others.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionFloodReport {
    /// The flooding address.
    pub source: String,
    /// Connections it tried to hold at once.
    pub connections: usize,
    /// Its first openings were spread over this.
    pub ramp_ms: u64,
    /// How long a connection the gateway closed waited before it was reopened.
    pub refill_pause_ms: u64,
    /// The gateway's `server.max_connections`.
    pub max_connections: usize,
    /// The gateway's `server.max_connections_per_address`.
    pub max_connections_per_address: usize,
    /// The load generator's open-files limit (the gateway inherits it).
    pub open_files_limit: u64,
    /// How long the flood ran.
    pub duration_secs: f64,
    /// What the flooding address saw.
    pub flood: FloodSeen,
    /// The flood's connections open (connected, not yet closed) when the normal callers started.
    pub flood_open_at_callers_start: u64,
    /// The gateway's `bedrock_gateway_connections_open` then.
    pub gateway_connections_open: f64,
    /// Refusals the gateway counted during the flood, by reason.
    pub rejections: BTreeMap<String, u64>,
    /// Lines the gateway logged about refused connections during the flood.
    pub refusal_log_lines: usize,
    /// Normal callers, each from its own address.
    pub callers: usize,
    /// Their calls, each on a fresh connection.
    pub calls: u64,
    /// Calls that completed.
    pub served: u64,
    /// The first call that did not, if any.
    pub first_failure: Option<String>,
    /// Connect-and-call time of the normal callers' calls.
    pub call_ms: Summary,
}

impl ConnectionFloodReport {
    /// The share of the normal callers' calls served, in percent.
    pub fn served_percent(&self) -> f64 {
        if self.calls == 0 { 0.0 } else { 100.0 * self.served as f64 / self.calls as f64 }
    }

    /// Its target: every call from the other addresses served.
    pub fn check(&self) -> TargetCheck {
        TargetCheck {
            name: format!(
                "calls from other addresses served while one address opens {} connections (and reopens them)",
                self.connections
            ),
            target: "100 %".to_owned(),
            measured: format!("{:.1} % ({} of {} calls)", self.served_percent(), self.served, self.calls),
            met: self.calls > 0 && self.served == self.calls,
            not_measurable: None,
        }
    }

    /// What makes the figure meaningless: a flood without connections, or no call to serve.
    pub fn problem(&self) -> Option<String> {
        (self.flood.opened == 0 || self.calls == 0).then(|| {
            format!(
                "abuse: the connection flood opened {} connections and the normal callers made {} calls",
                self.flood.opened, self.calls
            )
        })
    }

    /// Its sub-section of the abuse section.
    pub fn markdown(&self, out: &mut String) {
        let rejections =
            self.rejections.iter().map(|(reason, count)| format!("{reason} {count}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "### One-source connection flood\n\n{} opens {} connections (spread over {} ms; each sends the HTTP/2 \
                 preface, then nothing) and reopens each the gateway closes after {} ms, for {:.1} s; meanwhile {} normal \
                 callers, each from its own address, make call after call, each on a fresh connection. A gateway of its own: \
                 `max_connections = {}`, `max_connections_per_address = {}` (set, as the bench connects without the PROXY \
                 protocol; with it the default is 1% of `max_connections`, at least 100). Open files limit {}.\n\n\
                 | normal calls | served | first failure | connect + call p50 | p99 | max |\n|---:|---:|---|---:|---:|---:|\n\
                 | {} | {} ({:.1} %) | {} | {:.1} ms | {:.1} ms | {:.1} ms |\n\n\
                 The flood opened {} connections, {} closed by the gateway, {} failed to connect{}; when the callers started it held \
                 {} open and the gateway counted {:.0} open connections. Refusals the gateway counted: {}; its log lines about \
                 refused connections: {}.\n",
            self.source,
            self.connections,
            self.ramp_ms,
            self.refill_pause_ms,
            self.duration_secs,
            self.callers,
            self.max_connections,
            self.max_connections_per_address,
            self.open_files_limit,
            self.calls,
            self.served,
            self.served_percent(),
            self.first_failure.as_deref().unwrap_or("-"),
            self.call_ms.p50_ms,
            self.call_ms.p99_ms,
            self.call_ms.max_ms,
            self.flood.opened,
            self.flood.closed_by_gateway,
            self.flood.connect_failures,
            self.flood.first_failure.as_deref().map(|err| format!(" (first: {err})")).unwrap_or_default(),
            self.flood_open_at_callers_start,
            self.gateway_connections_open,
            if rejections.is_empty() { "none".to_owned() } else { rejections },
            self.refusal_log_lines
        );
    }
}

/// Runs the flood against a gateway of its own. The bench's clients connect
/// without the PROXY protocol, so the per-address cap is set: at its default with the protocol.
pub async fn run(
    abuse: &AbuseProfile,
    layout: &Layout,
    bedrock: &BedrockEndpoint,
) -> Result<ConnectionFloodReport, Box<dyn std::error::Error>> {
    let (open_files_limit, _) = rlimit::Resource::NOFILE.get()?;
    let needed = abuse.flood_connections as u64 + 1024;
    if open_files_limit < needed {
        return Err(format!(
            "the connection flood needs {needed} open files, the limit is {open_files_limit}: raise the hard limit (ulimit -Hn)"
        )
        .into());
    }
    let admin = free_port()?;
    let settings = GatewaySettings {
        server: vec![
            format!("max_connections = {MAX_CONNECTIONS}"),
            format!("max_connections_per_address = {}", abuse.flood_per_address_limit),
        ],
        admin: Some(admin),
        ..GatewaySettings::default()
    };
    let name = "abuse-flood";
    let mut gateway = layout.gateway_with(name, bedrock, "warn", &settings)?;
    gateway.wait_listening().await?;
    eprintln!(
        "abuse: {} connections from {FLOOD_SOURCE} while {} callers from other addresses call on fresh connections",
        abuse.flood_connections, abuse.flood_callers
    );
    let window = abuse.flood_window;
    let before = scrape(admin).await?;
    let started = Instant::now();
    let flood =
        ConnectionFlood::start(gateway.addr, FLOOD_SOURCE, abuse.flood_connections, window.ramp, FLOOD_REFILL_PAUSE);
    tokio::time::sleep(window.ramp + FLOOD_SETTLE).await;
    let flood_open_at_callers_start = flood.open();
    let gateway_connections_open =
        scrape(admin).await?.get("bedrock_gateway_connections_open").copied().unwrap_or_default();
    let calls = normal_callers(gateway.addr, abuse.flood_callers, abuse.level.max_tokens, window.measure).await;
    let after = scrape(admin).await?;
    let seen = flood.stop().await;
    let duration_secs = started.elapsed().as_secs_f64();
    let mut counts = GatewayCounts::default();
    counts.add(&before, &after);
    drop(gateway);
    let log = std::fs::read_to_string(layout.work_dir.join(format!("gateway-{name}.log")))?;
    Ok(ConnectionFloodReport {
        source: FLOOD_SOURCE.to_string(),
        connections: abuse.flood_connections,
        ramp_ms: window.ramp.as_millis() as u64,
        refill_pause_ms: FLOOD_REFILL_PAUSE.as_millis() as u64,
        max_connections: MAX_CONNECTIONS,
        max_connections_per_address: abuse.flood_per_address_limit,
        open_files_limit,
        duration_secs,
        flood: seen,
        flood_open_at_callers_start,
        gateway_connections_open,
        rejections: counts.rejections,
        refusal_log_lines: log
            .lines()
            .filter(|line| line.contains("refused connections over a connection cap"))
            .count(),
        callers: abuse.flood_callers,
        calls: calls.calls,
        served: calls.served,
        first_failure: calls.first_failure,
        call_ms: calls.latencies.summary(),
    })
}

/// What normal callers saw.
#[derive(Debug, Default)]
struct CallTally {
    calls: u64,
    served: u64,
    first_failure: Option<String>,
    latencies: Latencies,
}

impl CallTally {
    fn merge(&mut self, other: CallTally) {
        self.calls += other.calls;
        self.served += other.served;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        self.latencies.merge(&other.latencies);
    }
}

/// `callers` callers, each from its own address (127.0.1.1, ...), making call after call for
/// `measure`, each call on a fresh connection.
async fn normal_callers(gateway: SocketAddr, callers: usize, max_tokens: u32, measure: Duration) -> CallTally {
    let until = Instant::now() + measure;
    let mut running = JoinSet::new();
    for index in 0..callers {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, u8::try_from(index + 1).unwrap_or(u8::MAX)));
        running.spawn(async move {
            let mut tally = CallTally::default();
            while Instant::now() < until {
                let started = Instant::now();
                let outcome = tokio::time::timeout(CALL_TIMEOUT, call_on_a_new_connection(gateway, source, max_tokens))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {} s", CALL_TIMEOUT.as_secs())));
                tally.calls += 1;
                match outcome {
                    Ok(()) => {
                        tally.served += 1;
                        tally.latencies.record(started.elapsed());
                    }
                    Err(err) => {
                        tally.first_failure.get_or_insert(err);
                    }
                }
            }
            tally
        });
    }
    let mut total = CallTally::default();
    while let Some(joined) = running.join_next().await {
        if let Ok(tally) = joined {
            total.merge(tally);
        }
    }
    total
}

/// One streamed call to its end on a connection of its own from `source`, as a client that just
/// started makes it.
async fn call_on_a_new_connection(gateway: SocketAddr, source: IpAddr, max_tokens: u32) -> Result<(), String> {
    let channel = Endpoint::from_shared(format!("http://{gateway}"))
        .map_err(|err| err.to_string())?
        .local_address(Some(source))
        .connect()
        .await
        .map_err(|err| format!("connecting: {err:?}"))?;
    let mut client = GatewayServiceClient::new(channel);
    let request = gateway_request(GATEWAY_MODEL, max_tokens);
    let mut stream = client.converse_stream(request).await.map_err(|status| status.to_string())?.into_inner();
    while stream.message().await.map_err(|status| status.to_string())?.is_some() {}
    Ok(())
}
