//! The peer, side by side: the same streams direct, via the gateway and via the LiteLLM proxy (its
//! Bedrock Converse provider pointed at the same emulator), at 10, 100 and 1,000 concurrent
//! streams, rounds alternating between the three. The peer is called the way its users call it, an
//! OpenAI-compatible streamed chat completion; every side is timed to its first text delta, so
//! added TTFT over direct compares the two gateways' cost, and each server's CPU (the proxy's whole
//! process tree) per stream compares what that cost takes from the machine.
//!
//! Not part of CI: the proxy is a large PyPI package (`bash bench/run.sh --peer litellm` installs
//! it). A level the peer cannot serve shows its errors and timeouts rather than being left out.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::processes::{ChildProcess, Layout};
use crate::profile::Profile;
use crate::scenario::{SideRun, SideStats, interleaved, ttft};
use crate::stats::Added;
use crate::targets::{STREAM_TIMEOUT, Target};

/// Longest the proxy may take to answer its first stream after being spawned (it imports a large
/// Python package first: about 10 s on a quiet 2-core machine).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// Longest one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the proxy may go on working after its round (on streams its client gave up on) before
/// the next side's round starts anyway.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The proxy counts as idle once it uses less than this many CPU seconds over [`SETTLE_SAMPLE`].
const IDLE_CPU: f64 = 0.02;
/// How long each idleness sample lasts.
const SETTLE_SAMPLE: Duration = Duration::from_millis(500);

/// One server's side of a level.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSide {
    /// Counts, rates and TTFT.
    pub stats: SideStats,
    /// TTFT minus direct TTFT at each percentile.
    pub added: Added,
    /// Streams completed successfully over the rounds, ramp-up included.
    pub streams_with_ramp_up: u64,
    /// Streams failed or timed out over the rounds, ramp-up included.
    pub errors_with_ramp_up: u64,
    /// The server's CPU milliseconds per successful stream (its process tree), ramp-up included;
    /// none when no stream succeeded.
    pub server_cpu_ms_per_stream: Option<f64>,
    /// Cores the server kept busy on average during its rounds.
    pub server_cores: f64,
}

/// One concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRow {
    /// Concurrent streams (closed loop).
    pub concurrency: usize,
    /// Tokens per stream.
    pub tokens_per_stream: u32,
    /// The SDK straight to the emulator.
    pub direct: SideStats,
    /// Via bedrock-gateway.
    pub gateway: ServerSide,
    /// Via the peer.
    pub peer: ServerSide,
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct PeerComparison {
    /// The peer's name.
    pub peer: String,
    /// Its version, as its Python package reports it.
    pub peer_version: String,
    /// Its worker processes (`--num_workers`), one per CPU as the gateway has one worker thread per CPU.
    pub peer_workers: usize,
    /// Seconds from spawning the proxy to its first answered stream.
    pub peer_ready_secs: f64,
    /// Emulator pacing.
    pub emulator_ttft_ms: u64,
    /// Emulator gap between tokens.
    pub emulator_token_gap_ms: u64,
    /// Measured rounds per side and level.
    pub rounds: usize,
    /// Measured seconds per round.
    pub round_secs: Vec<f64>,
    /// One row per level.
    pub rows: Vec<PeerRow>,
}

impl PeerComparison {
    /// Failures that make the run invalid: the direct and gateway sides must not fail. The peer's
    /// failures are a finding, shown in its rows.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for row in &self.rows {
            for (side, stats) in [("direct", &row.direct), ("via gateway", &row.gateway.stats)] {
                if stats.errors > 0 || stats.streams == 0 {
                    problems.push(format!(
                        "peer comparison x{}: {side}: {} streams, {} errors ({})",
                        row.concurrency,
                        stats.streams,
                        stats.errors,
                        stats.first_error.as_deref().unwrap_or("-")
                    ));
                }
            }
        }
        problems
    }

    /// Its section: every side at every level, and the first failure of each side that failed.
    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Side by side with {name}\n\n{name} {} (`--num_workers {}`, ready {:.1} s after spawn) through its Bedrock \
             Converse provider, bedrock-gateway and the SDK (direct), all against the same emulator ({} ms to first token, \
             {} ms between tokens), the same prompt and answer length; closed loop, rounds alternating between the three \
             sides ({} measured rounds per side, {} s each). {name} is called as an OpenAI-compatible streamed chat \
             completion, the gateway over gRPC; every side is timed to its first text delta. Added = side − direct at the \
             same percentile; server CPU = the server's CPU time (for {name} its whole process tree) ÷ its streams. Streams \
             and errors count those started in the measured windows; \"all\" adds those started during ramp-ups (a side \
             slower than the window has only these).\n\n\
             | concurrent | side | streams | errors | streams, all | errors, all | streams/s | TTFT p50 | TTFT p99 | added p50 | added p99 | server CPU ms / stream | server cores busy |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.peer_version,
            self.peer_workers,
            self.peer_ready_secs,
            self.emulator_ttft_ms,
            self.emulator_token_gap_ms,
            self.rounds,
            self.round_secs.iter().map(|secs| format!("{secs:.1}")).collect::<Vec<_>>().join(" / "),
            name = self.peer
        );
        let mut failures = Vec::new();
        for row in &self.rows {
            let d = &row.direct;
            let _ = writeln!(
                out,
                "| {} | direct | {} | {} | - | - | {:.0} | {:.3} ms | {:.3} ms | - | - | - | - |",
                row.concurrency, d.streams, d.errors, d.streams_per_sec, d.ttft.p50_ms, d.ttft.p99_ms
            );
            for (name, side) in [("bedrock-gateway", &row.gateway), (self.peer.as_str(), &row.peer)] {
                let s = &side.stats;
                // Without a measured stream there is no distribution to show.
                let measured = |value: f64| if s.streams > 0 { format!("{value:.3} ms") } else { "-".to_owned() };
                let _ = writeln!(
                    out,
                    "| {} | {name} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.2} |",
                    row.concurrency,
                    s.streams,
                    s.errors,
                    side.streams_with_ramp_up,
                    side.errors_with_ramp_up,
                    s.streams_per_sec,
                    measured(s.ttft.p50_ms),
                    measured(s.ttft.p99_ms),
                    measured(side.added.p50_ms),
                    measured(side.added.p99_ms),
                    side.server_cpu_ms_per_stream.map_or("-".to_owned(), |cpu| format!("{cpu:.3}")),
                    side.server_cores
                );
                if let Some(error) = &s.first_error {
                    let errors = side.errors_with_ramp_up;
                    failures.push(format!("{name} at {} concurrent, first of {errors}: {error}", row.concurrency));
                }
            }
        }
        out.push('\n');
        if !failures.is_empty() {
            let _ = writeln!(out, "Failed or timed-out streams ({} s per stream at most):\n", STREAM_TIMEOUT.as_secs());
            for failure in failures {
                let _ = writeln!(out, "- {failure}");
            }
            out.push('\n');
        }
    }
}

/// Runs every peer level of `profile` against the LiteLLM proxy started from `litellm` (its
/// console script, in the virtualenv `bench/run.sh` installs) with `workers` worker processes.
pub async fn run(
    profile: &Profile,
    layout: &Layout,
    litellm: &Path,
    workers: usize,
) -> Result<PeerComparison, Box<dyn std::error::Error>> {
    let pacing = profile.ttft_pacing;
    let (_emulator, bedrock) = layout.emulator("peer", pacing).await?;
    let mut gateway = layout.gateway("peer", &bedrock, "warn")?;
    gateway.wait_listening().await?;
    eprintln!("peer: starting LiteLLM ({workers} workers)");
    let mut proxy = layout.litellm("peer", litellm, &bedrock, workers)?;
    let via_peer = Arc::new(Target::chat(proxy.addr)?);
    let ready = wait_ready(&mut proxy, &via_peer).await?;
    let most = profile.peer_levels.iter().map(|level| level.concurrency).max().unwrap_or(1);
    let direct = Arc::new(Target::direct(&bedrock).await?);
    let via_gateway = Arc::new(Target::gateway(gateway.addr, most).await?);
    let mut rows = Vec::new();
    for level in &profile.peer_levels {
        eprintln!("peer: closed loop x{} ({} tokens per stream)", level.concurrency, level.max_tokens);
        let targets = [Arc::clone(&direct), Arc::clone(&via_gateway), Arc::clone(&via_peer)];
        // Watched: 0 = gateway, 1 = proxy (with its worker processes), 2 = this process.
        let proxy = &proxy;
        let runs =
            interleaved(&targets, profile.rounds, &[&gateway, proxy], level.window.measure, |target, measured| {
                async move {
                    let peer = matches!(*target, Target::Chat(_));
                    let tally = ttft::round(target, *level, measured).await;
                    // Streams the client gave up on may keep the proxy busy; that work is its round's
                    // (the CPU is sampled around this future) and must not slow the next side's round.
                    if peer {
                        settle(proxy).await;
                    }
                    tally
                }
            })
            .await;
        let direct_stats = runs[0].stats();
        let server = |run: &SideRun, watched: usize| {
            let stats = run.stats();
            ServerSide {
                added: stats.ttft.minus(&direct_stats.ttft),
                stats,
                streams_with_ramp_up: run.tally.all_streams,
                errors_with_ramp_up: run.tally.all_errors,
                server_cpu_ms_per_stream: (run.tally.all_streams > 0).then(|| run.cpu_per_1000_streams(watched)),
                server_cores: run.cores(watched),
            }
        };
        rows.push(PeerRow {
            concurrency: level.concurrency,
            tokens_per_stream: level.max_tokens,
            gateway: server(&runs[1], 0),
            peer: server(&runs[2], 1),
            direct: direct_stats,
        });
    }
    Ok(PeerComparison {
        peer: "LiteLLM".to_owned(),
        peer_version: litellm_version(litellm),
        peer_workers: workers,
        peer_ready_secs: ready.as_secs_f64(),
        emulator_ttft_ms: pacing.ttft_ms,
        emulator_token_gap_ms: pacing.token_gap_ms,
        rounds: profile.rounds,
        round_secs: profile.peer_levels.iter().map(|level| level.window.measure.as_secs_f64()).collect(),
        rows,
    })
}

/// Waits until the proxy answers a stream (it listens before its workers have loaded); returns
/// the time since spawn.
async fn wait_ready(proxy: &mut ChildProcess, client: &Target) -> Result<Duration, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_error = String::from("not tried");
    while Instant::now() < deadline {
        if let Some(status) = proxy.exited()? {
            return Err(format!("the LiteLLM proxy exited with {status}; see its log").into());
        }
        match tokio::time::timeout(PROBE_TIMEOUT, client.stream(0, 1)).await {
            Ok(Ok(_)) => return Ok(proxy.spawned_at.elapsed()),
            Ok(Err(message)) => last_error = message,
            Err(_) => last_error = format!("no answer within {PROBE_TIMEOUT:?}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("the LiteLLM proxy did not answer within {READY_TIMEOUT:?}: {last_error}").into())
}

/// Waits until the proxy is idle, or [`SETTLE_TIMEOUT`].
async fn settle(proxy: &ChildProcess) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut before = proxy.cpu_seconds().unwrap_or_default();
    while Instant::now() < deadline {
        tokio::time::sleep(SETTLE_SAMPLE).await;
        let now = proxy.cpu_seconds().unwrap_or_default();
        if now - before < IDLE_CPU {
            return;
        }
        before = now;
    }
}

/// The installed `litellm` package's version, asked of the Python next to its console script.
fn litellm_version(litellm: &Path) -> String {
    let python = litellm.with_file_name("python");
    let asked = std::process::Command::new(python)
        .args(["-c", "import importlib.metadata as m; print(m.version('litellm'))"])
        .output();
    match asked {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        _ => "unknown".to_owned(),
    }
}
