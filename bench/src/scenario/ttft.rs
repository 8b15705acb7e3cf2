//! Added time to first token: the same streams direct, via the gateway's gRPC API and via its
//! Bedrock-compatible door, at several concurrencies (closed loop) and at a fixed arrival rate
//! (open loop), against an emulator with a small fixed TTFT so that the gateway's queuing behaves
//! as in production.
//!
//! TTFT is measured from the call (closed loop) or from the intended start (open loop) to the
//! first text delta; the gateway's cost is the difference between a side's distribution and the
//! direct one at matching percentiles. The Bedrock-compatible door's side is the direct side's own
//! SDK client pointed at the gateway, over the gRPC side's transport (cleartext HTTP/2, 100 streams
//! a connection), so that it and the gRPC side differ only in the door: its added TTFT and the
//! gateway's CPU per event it relays are judged against the gRPC door's on the pinned run.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::affinity::cpus_allowed;
use crate::load::{Tally, Window, closed_loop, open_loop};
use crate::processes::{Layout, Pacing};
use crate::profile::{Level, Profile};
use crate::scenario::SideRun;
use crate::scenario::{SideStats, interleaved};
use crate::stats::Added;
use crate::target_check::TargetCheck;
use crate::targets::Target;
use crate::units::{micros, times};

/// The load the Bedrock-compatible door is judged at: closed loop, this many concurrent streams.
const BEDROCK_DOOR_JUDGED_AT: usize = 100;

/// One load level's results.
#[derive(Debug, Clone, Serialize)]
pub struct TtftRow {
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Concurrent streams (closed loop) or expected concurrency (open loop).
    pub concurrency: usize,
    /// Arrival rate, open loop only.
    pub rate_per_sec: Option<f64>,
    /// Tokens per stream.
    pub tokens_per_stream: u32,
    /// Direct.
    pub direct: SideStats,
    /// Via the gateway.
    pub gateway: SideStats,
    /// Gateway TTFT minus direct TTFT at each percentile.
    pub added: Added,
    /// Gateway CPU seconds per 1,000 streams at this (paced) load.
    pub gateway_cpu_per_1000_streams: f64,
    /// Gateway CPU microseconds per stream event relayed at this (paced) load: its CPU time during
    /// the via-gateway rounds divided by the events those rounds delivered, ramp-up included.
    pub gateway_cpu_us_per_event: f64,
    /// This process's CPU microseconds per stream event during the direct rounds: the real SDK
    /// client alone receiving the same paced events, which the gateway's own SDK client pays too.
    /// An upper bound, as it includes the load generator's bookkeeping.
    pub direct_client_cpu_us_per_event: f64,
    /// Via the gateway's Bedrock-compatible door.
    pub bedrock_door: DoorSide,
}

/// A side through one of the gateway's other doors, with what the gRPC side has.
#[derive(Debug, Clone, Serialize)]
pub struct DoorSide {
    /// Counts, rates and TTFT.
    pub stats: SideStats,
    /// Its TTFT minus direct TTFT at each percentile.
    pub added: Added,
    /// Gateway CPU seconds per 1,000 streams through this door.
    pub gateway_cpu_per_1000_streams: f64,
    /// Gateway CPU microseconds per stream event relayed through this door, ramp-up included.
    pub gateway_cpu_us_per_event: f64,
}

impl DoorSide {
    /// The figures of `run`, one of the gateway's sides (watched process 0 is the gateway).
    fn of(run: &SideRun, direct: &SideStats) -> DoorSide {
        let stats = run.stats();
        DoorSide {
            added: stats.ttft.minus(&direct.ttft),
            stats,
            gateway_cpu_per_1000_streams: run.cpu_per_1000_streams(0),
            gateway_cpu_us_per_event: run.cpu(0) * 1e6 / run.tally.all_events.max(1) as f64,
        }
    }
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct Ttft {
    /// Emulator pacing used.
    pub emulator_ttft_ms: u64,
    /// Emulator gap between tokens.
    pub emulator_token_gap_ms: u64,
    /// One row per level.
    pub rows: Vec<TtftRow>,
    /// The CPUs the gateway may run on (`Cpus_allowed_list`), to show where it ran.
    pub gateway_cpus: String,
    /// The CPUs the emulator may run on.
    pub emulator_cpus: String,
}

/// Runs every level of `profile`.
pub async fn run(profile: &Profile, layout: &Layout) -> Result<Ttft, Box<dyn std::error::Error>> {
    let pacing: Pacing = profile.ttft_pacing;
    let (emulator, bedrock) = layout.emulator("ttft", pacing).await?;
    let mut gateway = layout.gateway("ttft", &bedrock, "warn")?;
    gateway.wait_listening().await?;
    let most = profile.ttft_levels.iter().map(|level| level.concurrency).max().unwrap_or(1);
    let direct = Arc::new(Target::direct(&bedrock).await?);
    let via_gateway = Arc::new(Target::gateway(gateway.addr, most).await?);
    let via_bedrock_door = Arc::new(Target::bedrock_door(gateway.addr, most).await);
    let mut rows = Vec::new();
    for level in &profile.ttft_levels {
        eprintln!(
            "ttft: {} x{} ({} tokens per stream)",
            if level.rate.is_some() { "open loop" } else { "closed loop" },
            level.concurrency,
            level.max_tokens
        );
        let targets = [Arc::clone(&direct), Arc::clone(&via_gateway), Arc::clone(&via_bedrock_door)];
        let runs = interleaved(&targets, profile.rounds, &[&gateway], level.window.measure, |target, measured| {
            round(target, *level, measured)
        })
        .await;
        let (direct_stats, gateway_stats) = (runs[0].stats(), runs[1].stats());
        let bedrock_door = DoorSide::of(&runs[2], &direct_stats);
        rows.push(TtftRow {
            mode: if level.rate.is_some() { "open" } else { "closed" },
            concurrency: level.concurrency,
            rate_per_sec: level.rate,
            tokens_per_stream: level.max_tokens,
            added: gateway_stats.ttft.minus(&direct_stats.ttft),
            direct: direct_stats,
            gateway: gateway_stats,
            gateway_cpu_per_1000_streams: runs[1].cpu_per_1000_streams(0),
            gateway_cpu_us_per_event: runs[1].cpu(0) * 1e6 / runs[1].tally.all_events.max(1) as f64,
            // Watched: 0 = the gateway, 1 = this process.
            direct_client_cpu_us_per_event: runs[0].cpu(1) * 1e6 / runs[0].tally.all_events.max(1) as f64,
            bedrock_door,
        });
    }
    Ok(Ttft {
        emulator_ttft_ms: pacing.ttft_ms,
        emulator_token_gap_ms: pacing.token_gap_ms,
        rows,
        gateway_cpus: cpus_allowed(gateway.pid())?,
        emulator_cpus: cpus_allowed(emulator.pid())?,
    })
}

/// One round of `level` on `target`.
pub async fn round(target: Arc<Target>, level: Level, measured: bool) -> Tally {
    // The warm-up round opens the connections and measures nothing.
    let window = if measured { level.window } else { Window { ramp: level.window.ramp * 2, measure: Duration::ZERO } };
    match level.rate {
        Some(rate) => open_loop(&target, rate, level.max_tokens, window, level.concurrency * 4).await,
        None => closed_loop(&target, level.concurrency, level.max_tokens, window).await,
    }
}

impl TtftRow {
    /// The load, as the report names it.
    pub fn load_name(&self) -> String {
        match self.rate_per_sec {
            Some(rate) => format!("open loop {rate:.0}/s (~{} concurrent)", self.concurrency),
            None => format!("closed loop, {} concurrent", self.concurrency),
        }
    }

    /// The added-TTFT targets at this load, their names after `prefix`: p50 ≤ 0.2 ms, p99 ≤ 0.5 ms.
    pub fn added_checks(&self, prefix: &str) -> [TargetCheck; 2] {
        let load = self.load_name();
        [
            TargetCheck::added_ttft(format!("{prefix}added TTFT p50, {load}"), "≤ 0.2 ms", self.added.p50_ms, 0.2),
            TargetCheck::added_ttft(format!("{prefix}added TTFT p99, {load}"), "≤ 0.5 ms", self.added.p99_ms, 0.5),
        ]
    }

    /// The Bedrock-compatible door's targets at this load, their names after `prefix`: added TTFT
    /// p50 ≤ 0.3 ms (p99 shown beside it), and the gateway's CPU per event it relays within 1.3×
    /// the gRPC door's.
    pub fn bedrock_door_checks(&self, prefix: &str) -> [TargetCheck; 2] {
        let load = self.load_name();
        let door = &self.bedrock_door;
        let name = format!("{prefix}Bedrock-compatible door: added TTFT p50, {load}");
        let mut ttft = TargetCheck::added_ttft(name, "≤ 0.3 ms", door.added.p50_ms, 0.3);
        ttft.measured += &format!(" (p99 {:.3} ms)", door.added.p99_ms);
        let ratio = door.gateway_cpu_us_per_event / self.gateway_cpu_us_per_event.max(f64::EPSILON);
        let cpu = TargetCheck {
            name: format!("{prefix}Bedrock-compatible door: gateway CPU per relayed event ÷ the gRPC door's, {load}"),
            target: "≤ 1.3×".to_owned(),
            measured: format!(
                "{} ({} vs {})",
                times(ratio),
                micros(door.gateway_cpu_us_per_event),
                micros(self.gateway_cpu_us_per_event)
            ),
            met: ratio <= 1.3,
            not_measurable: None,
        };
        [ttft, cpu]
    }
}

impl Ttft {
    /// The rows the targets are judged on: 1,000 concurrent streams.
    pub fn judged_rows(&self) -> impl Iterator<Item = &TtftRow> {
        self.rows.iter().filter(|row| row.concurrency == 1000)
    }

    /// Its targets: the added TTFT at 1,000 concurrent streams.
    pub fn checks(&self) -> Vec<TargetCheck> {
        self.judged_rows().flat_map(|row| row.added_checks("")).collect()
    }

    /// The Bedrock-compatible door's targets (issue 24), at [`BEDROCK_DOOR_JUDGED_AT`] concurrent
    /// streams, closed loop, their names after `prefix`.
    pub fn bedrock_door_checks(&self, prefix: &str) -> Vec<TargetCheck> {
        self.rows
            .iter()
            .filter(|row| row.rate_per_sec.is_none() && row.concurrency == BEDROCK_DOOR_JUDGED_AT)
            .flat_map(|row| row.bedrock_door_checks(prefix))
            .collect()
    }

    /// Failed streams on either side; `run` names the run (`pinned ` or nothing).
    pub fn problems(&self, run: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for row in &self.rows {
            let sides =
                [("direct", &row.direct), ("via gateway", &row.gateway), ("via Bedrock door", &row.bedrock_door.stats)];
            for (side, stats) in sides {
                if stats.errors > 0 || stats.streams == 0 {
                    problems.push(format!(
                        "{run}ttft {}: {side}: {} streams, {} errors ({})",
                        row.load_name(),
                        stats.streams,
                        stats.errors,
                        stats.first_error.as_deref().unwrap_or("-")
                    ));
                }
            }
        }
        problems
    }

    /// Its section, under a heading of level `heading`.
    pub fn markdown(&self, out: &mut String, heading: &str) {
        let _ = writeln!(
            out,
            "{heading} Time to first token\n\nEmulator: {} ms to first token, {} ms between tokens. Added = via gateway - direct \
             at the same percentile. Open loop measures from each stream's intended start. Gateway CPU per event = its CPU \
             time during the via-gateway rounds ÷ the stream events they relayed. SDK client CPU per event = the load \
             generator's CPU time during the direct rounds ÷ their events: the real SDK client alone, which the gateway's \
             own SDK client pays too (with the load generator's bookkeeping, so an upper bound).\n\n\
             | load | added p50 | added p90 | added p99 | added max | gateway CPU s / 1k streams | gateway CPU µs / event | SDK client CPU µs / event |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|",
            self.emulator_ttft_ms, self.emulator_token_gap_ms
        );
        for row in &self.rows {
            let a = &row.added;
            let _ = writeln!(
                out,
                "| {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} | {:.1} | {:.1} |",
                row.load_name(),
                a.p50_ms,
                a.p90_ms,
                a.p99_ms,
                a.max_ms,
                row.gateway_cpu_per_1000_streams,
                row.gateway_cpu_us_per_event,
                row.direct_client_cpu_us_per_event
            );
        }
        let _ = writeln!(
            out,
            "\nVia the Bedrock-compatible door: the same SDK client as direct, calling the gateway over the gRPC side's \
             transport (cleartext HTTP/2, 100 streams a connection). Its gateway CPU per event against the gRPC door's \
             at the same load, in the same run:\n\n\
             | load | added p50 | added p90 | added p99 | added max | gateway CPU s / 1k streams | gateway CPU µs / event | ÷ gRPC door's |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in &self.rows {
            let door = &row.bedrock_door;
            let a = &door.added;
            let _ = writeln!(
                out,
                "| {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} | {:.1} | {:.2}× |",
                row.load_name(),
                a.p50_ms,
                a.p90_ms,
                a.p99_ms,
                a.max_ms,
                door.gateway_cpu_per_1000_streams,
                door.gateway_cpu_us_per_event,
                door.gateway_cpu_us_per_event / row.gateway_cpu_us_per_event.max(f64::EPSILON)
            );
        }
        let _ = writeln!(
            out,
            "\nRaw distributions:\n\n| load | side | streams | streams/s | events / stream | p50 | p90 | p99 | max |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in &self.rows {
            for (side, s) in
                [("direct", &row.direct), ("via gateway", &row.gateway), ("via Bedrock door", &row.bedrock_door.stats)]
            {
                let t = &s.ttft;
                let _ = writeln!(
                    out,
                    "| {} | {side} | {} | {:.0} | {:.1} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
                    row.load_name(),
                    s.streams,
                    s.streams_per_sec,
                    s.events as f64 / s.streams.max(1) as f64,
                    t.p50_ms,
                    t.p90_ms,
                    t.p99_ms,
                    t.max_ms
                );
            }
        }
        out.push('\n');
    }
}
