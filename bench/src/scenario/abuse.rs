//! Whether abuse hurts everyone else: the normal clients' added TTFT (the TTFT scenario's closed
//! loop, direct and via the gateway) measured without abuse and with hostile clients running
//! alongside (see [`crate::abusers`]: never-finishing and never-reading ones, from their own
//! loopback addresses). Rounds alternate between the two conditions (without, with, with,
//! without, ...) so that drift in machine load hits both alike, and the abusers run through both
//! sides of an abused round, so their cost to the machine (load generator, emulator) weighs on the
//! direct side too and the difference stays what the gateway adds.
//!
//! The gateway runs with short admission timeouts so that abusers cycle within a round, and the
//! scenario reads the gateway's `/metrics` around each abused round to report what the gateway
//! itself counted: refusals by reason and streams it ended.
//!
//! Then the memory [`floods`] run against a gateway of their own, and the one-source connection
//! flood against another: one address opens connections up to `server.max_connections` and reopens
//! each the gateway closes, while normal callers from other addresses make call after call, each on
//! a fresh connection (the clients a full connection table would lock out). The figure is the share
//! of their calls served.

pub mod floods;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bedrock_gateway_proto::v1::gateway_service_client::GatewayServiceClient;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Endpoint;

use crate::abusers::{Abusers, ConnectionFlood, FloodSeen, Kind, Plan, Seen};
use crate::processes::{BedrockEndpoint, GatewaySettings, Layout, Pacing, free_port};
use crate::profile::{AbuseProfile, MAX_CONNECTIONS, Profile};
use crate::prometheus::{Series, label, scrape};
use crate::scenario::{SideRun, SideStats, measured_round, ttft};
use crate::stats::{Added, Latencies, Summary};
use crate::targets::{GATEWAY_MODEL, Target, gateway_request};

/// `server.request_receive_timeout_secs` and `server.client_stall_timeout_secs` of the gateway
/// under abuse: the smallest allowed, so that each abuser cycles within a round.
const ADMISSION_TIMEOUT_SECS: u64 = 1;
/// `server.http2_max_concurrent_streams` (the default, set so the report states it).
const HTTP2_MAX_CONCURRENT_STREAMS: usize = 200;
/// Tokens the never-reading abusers ask for (within the default `max_tokens_cap` of 4096): at the
/// emulator's pace the answer lasts far longer than the client stall timeout.
const LONG_ANSWER_TOKENS: u32 = 4000;
/// How long never-reading abusers hold a stream: past the client stall timeout, plus slack for the
/// watchdog on a loaded machine, so the gateway ends the stream before the client resets it.
const HOLD: Duration = Duration::from_millis(ADMISSION_TIMEOUT_SECS * 1000 + 500);
/// Abusers run this long before the normal clients start: every client has started (spread over
/// `HOLD`) and the first ones have been refused or ended and come back.
const ABUSE_RAMP: Duration = Duration::from_millis(ADMISSION_TIMEOUT_SECS * 1000 + 1000);
/// Pause after the abusers stop, so the gateway has closed their connections and Bedrock calls
/// before its counts are read and the next round starts.
const QUIET: Duration = Duration::from_millis(300);
/// The address of the connection flood.
const FLOOD_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// How long a flood connection the gateway closed waits before it is reopened.
const FLOOD_REFILL_PAUSE: Duration = Duration::from_secs(1);
/// After the flood's ramp, before the normal callers start: its first refusals have come back.
const FLOOD_SETTLE: Duration = Duration::from_millis(500);
/// Longest a normal caller's call may take, connecting included, before it counts as not served.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The normal clients under one condition.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// Direct.
    pub direct: SideStats,
    /// Via the gateway.
    pub gateway: SideStats,
    /// Gateway TTFT minus direct TTFT at each percentile.
    pub added: Added,
    /// Gateway CPU seconds per 1,000 normal streams in the via-gateway rounds (abusers included).
    pub gateway_cpu_per_1000_streams: f64,
    /// Gateway cores busy on average in the via-gateway rounds.
    pub gateway_cores: f64,
    /// Gateway cores busy in the direct rounds: what the abusers alone cost it (0 without abuse).
    pub gateway_cores_in_direct_rounds: f64,
    /// Load generator cores (normal clients and abusers) in the via-gateway rounds.
    pub load_generator_cores: f64,
}

impl Condition {
    fn new(direct: &SideRun, gateway: &SideRun) -> Condition {
        let (direct_stats, gateway_stats) = (direct.stats(), gateway.stats());
        Condition {
            added: gateway_stats.ttft.minus(&direct_stats.ttft),
            direct: direct_stats,
            gateway: gateway_stats,
            gateway_cpu_per_1000_streams: gateway.cpu_per_1000_streams(0),
            gateway_cores: gateway.cores(0),
            gateway_cores_in_direct_rounds: direct.cores(0),
            load_generator_cores: gateway.cores(1),
        }
    }
}

/// One kind of abuser and what it saw.
#[derive(Debug, Clone, Serialize)]
pub struct AbuserReport {
    /// `never-finishing` or `never-reading`.
    pub kind: &'static str,
    /// The loopback address it connected from.
    pub source: String,
    /// Clients.
    pub clients: usize,
    /// HTTP/2 connections they shared.
    pub connections: usize,
    /// Never-reading: how long a stream was held before the client reset it.
    pub hold_ms: Option<u64>,
    /// Their counts over every abused round.
    pub seen: Seen,
}

/// What the gateway's `/metrics` counted during the abused rounds (normal clients included, who
/// are never refused and never end with these codes).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GatewayCounts {
    /// Refusals by reason (`bedrock_gateway_rejections_total`).
    pub rejections: BTreeMap<String, u64>,
    /// Streams the gateway ended because their client took nothing for the client stall timeout
    /// (`bench` requests ending DeadlineExceeded).
    pub streams_ended_client_stalled: u64,
    /// `bench` requests whose client went away before they ended (Cancelled).
    pub streams_cancelled_by_client: u64,
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct Abuse {
    /// Emulator time to first token.
    pub emulator_ttft_ms: u64,
    /// Emulator gap between tokens.
    pub emulator_token_gap_ms: u64,
    /// Normal clients' closed-loop concurrency.
    pub concurrency: usize,
    /// Tokens per normal stream.
    pub tokens_per_stream: u32,
    /// Measured rounds per condition.
    pub rounds: usize,
    /// The gateway's `server.request_receive_timeout_secs`.
    pub request_receive_timeout_secs: u64,
    /// The gateway's `server.client_stall_timeout_secs`.
    pub client_stall_timeout_secs: u64,
    /// The gateway's `server.max_concurrent_requests_per_caller`.
    pub max_concurrent_requests_per_caller: usize,
    /// The gateway's `server.http2_max_concurrent_streams`.
    pub http2_max_concurrent_streams: usize,
    /// Normal clients without abuse.
    pub without_abuse: Condition,
    /// Normal clients with the abusers running.
    pub with_abuse: Condition,
    /// Added TTFT p50 with abuse minus without.
    pub added_p50_change_ms: f64,
    /// Added TTFT p99 with abuse minus without.
    pub added_p99_change_ms: f64,
    /// Each kind of abuser.
    pub abusers: Vec<AbuserReport>,
    /// The gateway's own counts during the abused rounds.
    pub gateway_counts: GatewayCounts,
    /// The memory floods.
    pub floods: floods::Floods,
    /// The one-source connection flood.
    pub connection_flood: ConnectionFloodReport,
}

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
}

/// Runs the scenario.
pub async fn run(profile: &Profile, layout: &Layout) -> Result<Abuse, Box<dyn std::error::Error>> {
    let abuse = &profile.abuse;
    let level = abuse.level;
    let pacing = Pacing { answer_tokens: LONG_ANSWER_TOKENS as usize, ..profile.ttft_pacing };
    let (_emulator, bedrock) = layout.emulator("abuse", pacing).await?;
    let admin = free_port()?;
    let settings = GatewaySettings {
        server: vec![
            format!("request_receive_timeout_secs = {ADMISSION_TIMEOUT_SECS}"),
            format!("client_stall_timeout_secs = {ADMISSION_TIMEOUT_SECS}"),
            format!("max_concurrent_requests_per_caller = {}", abuse.per_caller_limit),
            format!("http2_max_concurrent_streams = {HTTP2_MAX_CONCURRENT_STREAMS}"),
        ],
        admin: Some(admin),
        ..GatewaySettings::default()
    };
    let mut gateway = layout.gateway_with("abuse", &bedrock, "warn", &settings)?;
    gateway.wait_listening().await?;
    let targets =
        [Arc::new(Target::direct(&bedrock).await?), Arc::new(Target::gateway(gateway.addr, level.concurrency).await?)];
    let plans = plans(abuse);
    eprintln!(
        "abuse: closed loop x{} without and with {} never-finishing and {} never-reading clients",
        level.concurrency, abuse.never_finishing, abuse.never_reading
    );
    for target in &targets {
        ttft::round(Arc::clone(target), level, false).await;
    }
    // Indexed [abused][side], side 0 = direct, 1 = via gateway.
    let mut runs: [[SideRun; 2]; 2] = Default::default();
    let mut seen = vec![Seen::default(); plans.len()];
    let mut counts = GatewayCounts::default();
    for number in 0..abuse.rounds {
        let (mut conditions, mut sides) = ([false, true], [0, 1]);
        if number % 2 == 1 {
            conditions.reverse();
            sides.reverse();
        }
        for abused in conditions {
            let running = if abused {
                let before = scrape(admin).await?;
                let abusers = Abusers::start(gateway.addr, &plans).await?;
                tokio::time::sleep(ABUSE_RAMP).await;
                Some((abusers, before))
            } else {
                None
            };
            for side in sides {
                let round = ttft::round(Arc::clone(&targets[side]), level, true);
                measured_round(&mut runs[usize::from(abused)][side], &[&gateway], level.window.measure, round).await;
            }
            if let Some((abusers, before)) = running {
                for (total, round) in seen.iter_mut().zip(abusers.stop().await) {
                    total.merge(round);
                }
                tokio::time::sleep(QUIET).await;
                counts.add(&before, &scrape(admin).await?);
            }
        }
    }
    let floods = floods::run(&profile.abuse_floods, layout, &bedrock).await?;
    let connection_flood = connection_flood(abuse, layout, &bedrock).await?;
    let [calm, abused] = &runs;
    let (without_abuse, with_abuse) = (Condition::new(&calm[0], &calm[1]), Condition::new(&abused[0], &abused[1]));
    Ok(Abuse {
        emulator_ttft_ms: pacing.ttft_ms,
        emulator_token_gap_ms: pacing.token_gap_ms,
        concurrency: level.concurrency,
        tokens_per_stream: level.max_tokens,
        rounds: abuse.rounds,
        request_receive_timeout_secs: ADMISSION_TIMEOUT_SECS,
        client_stall_timeout_secs: ADMISSION_TIMEOUT_SECS,
        max_concurrent_requests_per_caller: abuse.per_caller_limit,
        http2_max_concurrent_streams: HTTP2_MAX_CONCURRENT_STREAMS,
        added_p50_change_ms: with_abuse.added.p50_ms - without_abuse.added.p50_ms,
        added_p99_change_ms: with_abuse.added.p99_ms - without_abuse.added.p99_ms,
        without_abuse,
        with_abuse,
        abusers: plans
            .iter()
            .zip(seen)
            .map(|(plan, seen)| AbuserReport {
                kind: plan.kind.name(),
                source: plan.source.to_string(),
                clients: plan.clients,
                connections: plan.connections,
                hold_ms: (plan.kind == Kind::NeverReading).then_some(plan.hold.as_millis() as u64),
                seen,
            })
            .collect(),
        gateway_counts: counts,
        floods,
        connection_flood,
    })
}

/// The abusers of `abuse`: never-finishing ones from 127.0.0.2, never-reading ones from 127.0.0.3.
fn plans(abuse: &AbuseProfile) -> [Plan; 2] {
    let plan = |kind, source, clients, max_tokens| Plan {
        kind,
        source,
        clients,
        connections: abuse.connections,
        stagger: HOLD,
        hold: HOLD,
        max_tokens,
    };
    [
        plan(Kind::NeverFinishing, Ipv4Addr::new(127, 0, 0, 2), abuse.never_finishing, abuse.level.max_tokens),
        plan(Kind::NeverReading, Ipv4Addr::new(127, 0, 0, 3), abuse.never_reading, LONG_ANSWER_TOKENS),
    ]
}

/// The one-source connection flood, against a gateway of its own. The bench's clients connect
/// without the PROXY protocol, so the per-address cap is set: at its default with the protocol.
async fn connection_flood(
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

impl GatewayCounts {
    /// Adds what changed between two reads.
    fn add(&mut self, before: &Series, after: &Series) {
        let delta = |series: &str| {
            let change =
                after.get(series).copied().unwrap_or_default() - before.get(series).copied().unwrap_or_default();
            change.max(0.0) as u64
        };
        for series in after.keys() {
            if series.starts_with("bedrock_gateway_rejections_total{")
                && let Some(reason) = label(series, "reason")
            {
                *self.rejections.entry(reason.to_owned()).or_default() += delta(series);
            }
            if series.starts_with("bedrock_gateway_requests_total{") && label(series, "model") == Some("bench") {
                match label(series, "code") {
                    Some("DeadlineExceeded") => self.streams_ended_client_stalled += delta(series),
                    Some("Cancelled") => self.streams_cancelled_by_client += delta(series),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_counts_are_the_changes_between_reads() {
        let series = r#"bedrock_gateway_requests_total{model="bench",caller="-",code="DeadlineExceeded"}"#;
        let before = Series::from([(r#"bedrock_gateway_rejections_total{reason="receive_timeout"}"#.to_owned(), 3.0)]);
        let mut after = before.clone();
        after.insert(r#"bedrock_gateway_rejections_total{reason="receive_timeout"}"#.to_owned(), 10.0);
        after.insert(series.to_owned(), 4.0);
        let mut counts = GatewayCounts::default();
        counts.add(&before, &after);
        assert_eq!(counts.rejections["receive_timeout"], 7);
        assert_eq!(counts.streams_ended_client_stalled, 4);
    }
}
