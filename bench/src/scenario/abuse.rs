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
//! itself counted: refusals by reason and streams it ended. Then the memory [`floods`] run against a
//! gateway of their own.

pub mod floods;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::abusers::{Abusers, Kind, Plan, Seen};
use crate::load::Window;
use crate::processes::{GatewaySettings, Layout, Pacing, free_port};
use crate::prometheus::{Series, label, scrape};
use crate::scenario::{Level, Profile, SideRun, SideStats, measured_round, ttft};
use crate::stats::Added;
use crate::targets::Target;

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

/// The abuse scenario's part of a run profile.
#[derive(Debug, Clone)]
pub struct AbuseProfile {
    /// The normal clients' closed loop.
    pub level: Level,
    /// Measured rounds per condition (after one unmeasured warm-up round per side).
    pub rounds: usize,
    /// Never-finishing abusers.
    pub never_finishing: usize,
    /// Never-reading abusers.
    pub never_reading: usize,
    /// HTTP/2 connections per kind of abuser.
    pub connections: usize,
    /// `server.max_concurrent_requests_per_caller`: above the normal clients' concurrency and
    /// below the never-reading abusers' count, so the bound refuses abusers and nobody else.
    pub per_caller_limit: usize,
}

impl AbuseProfile {
    /// The full run: the TTFT scenario's 100-concurrent level against 200 abusers of each kind.
    pub fn full() -> AbuseProfile {
        AbuseProfile {
            level: Level {
                concurrency: 100,
                rate: None,
                max_tokens: 8,
                window: Window { ramp: Duration::from_millis(300), measure: Duration::from_secs(3) },
            },
            rounds: 4,
            never_finishing: 200,
            never_reading: 200,
            connections: 4,
            per_caller_limit: 128,
        }
    }

    /// The smoke run: seconds.
    pub fn smoke() -> AbuseProfile {
        AbuseProfile {
            level: Level {
                concurrency: 10,
                rate: None,
                max_tokens: 4,
                window: Window { ramp: Duration::from_millis(100), measure: Duration::from_millis(400) },
            },
            rounds: 1,
            never_finishing: 20,
            never_reading: 24,
            connections: 1,
            per_caller_limit: 16,
        }
    }

    fn plans(&self) -> [Plan; 2] {
        let plan = |kind, source, clients, max_tokens| Plan {
            kind,
            source,
            clients,
            connections: self.connections,
            stagger: HOLD,
            hold: HOLD,
            max_tokens,
        };
        [
            plan(Kind::NeverFinishing, Ipv4Addr::new(127, 0, 0, 2), self.never_finishing, self.level.max_tokens),
            plan(Kind::NeverReading, Ipv4Addr::new(127, 0, 0, 3), self.never_reading, LONG_ANSWER_TOKENS),
        ]
    }
}

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
    let plans = abuse.plans();
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
    })
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
