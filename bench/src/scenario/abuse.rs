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
//! Then the memory [`floods`] run against a gateway of their own, and the one-source
//! [`connection_flood`] against another.

pub mod connection_flood;
pub mod floods;
pub mod gateway_counts;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use self::connection_flood::ConnectionFloodReport;
use self::gateway_counts::GatewayCounts;
use crate::abusers::{Abusers, Kind, Plan, Seen};
use crate::processes::{GatewaySettings, Layout, Pacing, free_port};
use crate::profile::{AbuseProfile, Profile};
use crate::prometheus::scrape;
use crate::scenario::{SideRun, SideStats, measured_round, ttft};
use crate::stats::Added;
use crate::target_check::TargetCheck;
use crate::targets::Target;
use crate::units::ms;

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
    let connection_flood = connection_flood::run(abuse, layout, &bedrock).await?;
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

impl Abuse {
    /// Its targets: what abuse adds to the normal clients' TTFT, the floods', the connection flood's.
    pub fn checks(&self) -> Vec<TargetCheck> {
        let name = "normal clients' added TTFT p99 with abuse − without".to_owned();
        let mut checks = vec![TargetCheck::at_most(name, "≤ 1 ms", self.added_p99_change_ms, 1.0, ms)];
        checks.extend(self.floods.checks());
        checks.push(self.connection_flood.check());
        checks
    }

    /// What makes the run invalid: failed normal streams, abusers or floods that did nothing.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (condition, side, stats) in [
            ("without abuse", "direct", &self.without_abuse.direct),
            ("without abuse", "via gateway", &self.without_abuse.gateway),
            ("with abuse", "direct", &self.with_abuse.direct),
            ("with abuse", "via gateway", &self.with_abuse.gateway),
        ] {
            if stats.errors > 0 || stats.streams == 0 {
                problems.push(format!(
                    "abuse, {condition}, {side}: {} normal streams, {} errors ({})",
                    stats.streams,
                    stats.errors,
                    stats.first_error.as_deref().unwrap_or("-")
                ));
            }
        }
        for abuser in self.abusers.iter().filter(|abuser| abuser.seen.opened == 0) {
            problems.push(format!("abuse: the {} clients opened no call", abuser.kind));
        }
        problems.extend(self.connection_flood.problem());
        problems.extend(self.floods.problems());
        problems
    }

    /// The abuse section, with the connection flood's and the floods' sub-sections.
    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Abuse\n\nNormal clients: closed loop, {} concurrent, {} tokens per stream (emulator {} ms to first token, \
             {} ms between tokens), {} measured rounds per condition, alternating without and with abuse. Gateway: \
             `request_receive_timeout_secs = {}`, `client_stall_timeout_secs = {}`, `max_concurrent_requests_per_caller = {}`, \
             `http2_max_concurrent_streams = {}`. Added = via gateway - direct, each condition on its own.\n\n\
             | normal clients | added p50 | added p90 | added p99 | direct p99 | via gateway p99 | streams via gateway | errors | gateway CPU s / 1k streams | gateway cores | gateway cores in direct rounds | load generator cores |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.concurrency,
            self.tokens_per_stream,
            self.emulator_ttft_ms,
            self.emulator_token_gap_ms,
            self.rounds,
            self.request_receive_timeout_secs,
            self.client_stall_timeout_secs,
            self.max_concurrent_requests_per_caller,
            self.http2_max_concurrent_streams
        );
        for (name, c) in [("without abuse", &self.without_abuse), ("with abuse", &self.with_abuse)] {
            let _ = writeln!(
                out,
                "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} | {:.3} | {:.2} | {:.2} | {:.2} |",
                c.added.p50_ms,
                c.added.p90_ms,
                c.added.p99_ms,
                c.direct.ttft.p99_ms,
                c.gateway.ttft.p99_ms,
                c.gateway.streams,
                c.direct.errors + c.gateway.errors,
                c.gateway_cpu_per_1000_streams,
                c.gateway_cores,
                c.gateway_cores_in_direct_rounds,
                c.load_generator_cores
            );
        }
        let _ = writeln!(
            out,
            "\nChange with abuse: added p50 {:+.3} ms, added p99 {:+.3} ms.\n\n\
             | abuser | from | clients | connections | calls opened | refused, by status | streams held | reset after hold | failures |\n\
             |---|---|---:|---:|---:|---|---:|---:|---:|",
            self.added_p50_change_ms, self.added_p99_change_ms
        );
        for a in &self.abusers {
            let refused =
                a.seen.refused.iter().map(|(code, count)| format!("{code} {count}")).collect::<Vec<_>>().join(", ");
            let held = a.hold_ms.map_or("-".to_owned(), |hold| format!("{} ({hold} ms each)", a.seen.streaming));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                a.kind,
                a.source,
                a.clients,
                a.connections,
                a.seen.opened,
                if refused.is_empty() { "-".to_owned() } else { refused },
                held,
                a.seen.reset_after_hold,
                a.seen.failures
            );
        }
        let g = &self.gateway_counts;
        let rejections =
            g.rejections.iter().map(|(reason, count)| format!("{reason} {count}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "\nThe gateway's own counts (`/metrics`) over the abused rounds: refusals by reason: {rejections}; streams ended \
             because their client took nothing for {} s: {}; streams whose client left first: {}.\n",
            self.client_stall_timeout_secs, g.streams_ended_client_stalled, g.streams_cancelled_by_client
        );
        self.connection_flood.markdown(out);
        self.floods.markdown(out);
    }
}
