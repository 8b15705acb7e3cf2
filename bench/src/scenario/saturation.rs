//! Throughput at saturation: the emulator answers with zero delay, and a closed loop of workers
//! keeps every side busy. The headline is stream events relayed per second per core of gateway CPU
//! (events/s divided by the gateway's CPU utilisation), which does not depend on how much of the
//! shared machine the load generator and the emulator take.
//!
//! A third side runs through a second gateway logging at `info` (one JSON line per request), to
//! show what the per-request log line costs.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::load::{Window, closed_loop};
use crate::processes::{CPU_TICK, Layout, Pacing};
use crate::profile::Profile;
use crate::scenario::{SideStats, interleaved};
use crate::target_check::TargetCheck;
use crate::targets::Target;

/// One side's throughput.
#[derive(Debug, Clone, Serialize)]
pub struct SaturationSide {
    /// Which side.
    pub label: String,
    /// Counts, rates and TTFT.
    pub stats: SideStats,
    /// Gateway CPU seconds per 1,000 streams (none for direct).
    pub gateway_cpu_per_1000_streams: Option<f64>,
    /// Gateway CPU cores busy on average during the rounds.
    pub gateway_cores: Option<f64>,
    /// Events per second per fully busy gateway core.
    pub events_per_gateway_core_sec: Option<f64>,
    /// Emulator CPU seconds per 1,000 streams.
    pub emulator_cpu_per_1000_streams: f64,
    /// Load generator CPU seconds per 1,000 streams.
    pub loadgen_cpu_per_1000_streams: f64,
    /// Events per second per fully busy load generator core. On the direct side that is the real
    /// SDK client alone, so the most events a core can take through it: a ceiling for any relay
    /// built on it, the gateway included.
    pub events_per_loadgen_core_sec: f64,
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    /// Closed-loop workers.
    pub workers: usize,
    /// Tokens per answer.
    pub tokens_per_stream: usize,
    /// Direct, via gateway, via gateway with info logs.
    pub sides: Vec<SaturationSide>,
}

/// Runs the scenario.
pub async fn run(profile: &Profile, layout: &Layout) -> Result<Saturation, Box<dyn std::error::Error>> {
    let pacing = Pacing { ttft_ms: 0, token_gap_ms: 0, answer_tokens: profile.saturation_tokens };
    let (emulator, bedrock) = layout.emulator("saturation", pacing).await?;
    let mut quiet = layout.gateway("saturation", &bedrock, "warn")?;
    let mut logging = layout.gateway("saturation-info", &bedrock, "info")?;
    quiet.wait_listening().await?;
    logging.wait_listening().await?;
    let workers = profile.saturation_workers;
    let targets = [
        Arc::new(Target::direct(&bedrock).await?),
        Arc::new(Target::gateway(quiet.addr, workers).await?),
        Arc::new(Target::gateway(logging.addr, workers).await?),
    ];
    let window = profile.saturation_window;
    let max_tokens = u32::try_from(profile.saturation_tokens).unwrap_or(u32::MAX);
    eprintln!("saturation: closed loop x{workers}, emulator without delay");
    let runs =
        interleaved(&targets, profile.rounds, &[&quiet, &logging, &emulator], window.measure, |target, measured| {
            let window = if measured { window } else { Window { ramp: window.ramp * 2, measure: Duration::ZERO } };
            async move { closed_loop(&target, workers, max_tokens, window).await }
        })
        .await;
    let labels = ["direct", "via gateway (log filter warn)", "via gateway (log filter info)"];
    let sides = runs
        .iter()
        .enumerate()
        .map(|(index, run)| {
            let stats = run.stats();
            // Watched processes: 0 = quiet gateway, 1 = logging gateway, 2 = emulator, 3 = this one.
            let gateway = index.checked_sub(1);
            SaturationSide {
                label: labels[index].to_owned(),
                gateway_cpu_per_1000_streams: gateway.map(|g| run.cpu_per_1000_streams(g)),
                events_per_gateway_core_sec: gateway.map(|g| run.tally.all_events as f64 / run.cpu(g).max(CPU_TICK)),
                gateway_cores: gateway.map(|g| run.cores(g)),
                emulator_cpu_per_1000_streams: run.cpu_per_1000_streams(2),
                loadgen_cpu_per_1000_streams: run.cpu_per_1000_streams(3),
                events_per_loadgen_core_sec: run.tally.all_events as f64 / run.cpu(3).max(CPU_TICK),
                stats,
            }
        })
        .collect();
    Ok(Saturation { workers, tokens_per_stream: profile.saturation_tokens, sides })
}

impl Saturation {
    /// Its target: stream events relayed per gateway core-second, logging at `warn`.
    pub fn check(&self) -> Option<TargetCheck> {
        let quiet = self
            .sides
            .iter()
            .find_map(|side| side.label.contains("warn").then_some(side.events_per_gateway_core_sec).flatten());
        quiet.map(|per_core| TargetCheck {
            name: "stream events relayed per gateway core-second (saturation)".to_owned(),
            target: "≥ 100,000".to_owned(),
            measured: format!("{per_core:.0}"),
            met: per_core >= 100_000.0,
            not_measurable: None,
        })
    }

    /// Failed streams on any side; `run` names the run (`pinned ` or nothing).
    pub fn problems(&self, run: &str) -> Vec<String> {
        let failed = self.sides.iter().filter(|side| side.stats.errors > 0 || side.stats.streams == 0);
        failed
            .map(|side| {
                format!(
                    "{run}saturation {}: {} streams, {} errors ({})",
                    side.label,
                    side.stats.streams,
                    side.stats.errors,
                    side.stats.first_error.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    /// Its section, under a heading of level `heading`.
    pub fn markdown(&self, out: &mut String, heading: &str) {
        let _ = writeln!(
            out,
            "{heading} Saturation (emulator without delay)\n\nClosed loop, {} workers, {} tokens per answer. CPU columns are CPU \
             seconds per 1,000 streams. On the direct side, events per load generator core-s is the real SDK client \
             alone: the most events a core can take through it, a ceiling for any relay built on it.\n\n\
             | side | streams/s | events/s | TTFT p50 | TTFT p99 | gateway cores busy | events per gateway core-s | gateway CPU | emulator CPU | load generator CPU | events per load generator core-s |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.workers, self.tokens_per_stream
        );
        let opt = |value: Option<f64>, digits: usize| value.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
        for side in &self.sides {
            let s = &side.stats;
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | {:.3} ms | {:.3} ms | {} | {} | {} | {:.3} | {:.3} | {:.0} |",
                side.label,
                s.streams_per_sec,
                s.events_per_sec,
                s.ttft.p50_ms,
                s.ttft.p99_ms,
                opt(side.gateway_cores, 2),
                opt(side.events_per_gateway_core_sec, 0),
                opt(side.gateway_cpu_per_1000_streams, 3),
                side.emulator_cpu_per_1000_streams,
                side.loadgen_cpu_per_1000_streams,
                side.events_per_loadgen_core_sec
            );
        }
        out.push('\n');
    }
}
