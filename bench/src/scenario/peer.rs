//! The OpenAI-compatible comparison, side by side: the same streams direct (the SDK), via the
//! gateway's gRPC API, via its OpenAI-compatible door and, with `--peer litellm`, via the LiteLLM
//! proxy (its Bedrock Converse provider pointed at the same emulator), at 10, 100 and 1,000
//! concurrent streams, rounds alternating between the sides. The door and the peer are called by
//! the same client the same way, an OpenAI-compatible streamed chat completion over HTTP/1.1;
//! every side is timed to its first text delta, so added TTFT over direct compares the two
//! gateways' cost, and each server's CPU (the proxy's whole process tree) per stream compares what
//! that cost takes from the machine. Issue 24's targets (the door at least 20× the peer's streams
//! per second and 30× less CPU per stream) are judged at every level where the peer served.
//!
//! The peer is not part of CI: it is a large PyPI package (`bash bench/run.sh --peer litellm`
//! installs it). Without it the other three sides still run. A level the peer cannot serve shows
//! its errors and timeouts rather than being left out.

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
use crate::target_check::TargetCheck;
use crate::targets::{STREAM_TIMEOUT, Target};
use crate::units::times;

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
    /// Cores the load generator (its client for this side) kept busy on average during them.
    pub load_generator_cores: f64,
}

impl ServerSide {
    /// The figures of `run`, whose server is watched process `watched`.
    fn of(run: &SideRun, watched: usize, direct: &SideStats) -> ServerSide {
        let stats = run.stats();
        ServerSide {
            added: stats.ttft.minus(&direct.ttft),
            stats,
            streams_with_ramp_up: run.tally.all_streams,
            errors_with_ramp_up: run.tally.all_errors,
            server_cpu_ms_per_stream: (run.tally.all_streams > 0).then(|| run.cpu_per_1000_streams(watched)),
            server_cores: run.cores(watched),
            load_generator_cores: run.load_generator_cores(),
        }
    }
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
    /// Cores the load generator (the SDK client) kept busy on average during the direct rounds.
    pub direct_load_generator_cores: f64,
    /// Via bedrock-gateway's gRPC API.
    pub gateway: ServerSide,
    /// Via bedrock-gateway's OpenAI-compatible door.
    pub gateway_openai: ServerSide,
    /// Via the peer, when it ran.
    pub peer: Option<ServerSide>,
}

/// The peer proxy, as it ran.
#[derive(Debug, Clone, Serialize)]
pub struct PeerProxy {
    /// Its name.
    pub name: String,
    /// Its version, as its Python package reports it.
    pub version: String,
    /// Its worker processes (`--num_workers`), one per CPU as the gateway has one worker thread per CPU.
    pub workers: usize,
    /// Seconds from spawning it to its first answered stream.
    pub ready_secs: f64,
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct PeerComparison {
    /// The peer proxy, when one ran (`--peer litellm`).
    pub peer: Option<PeerProxy>,
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

/// The door's streams per second must be at least this many times the peer's.
const STREAMS_RATIO: f64 = 20.0;
/// The peer's CPU per stream must be at least this many times the door's.
const CPU_RATIO: f64 = 30.0;
/// The door keeps up with a closed loop when it serves at least this share of what the direct
/// side (the SDK alone against the emulator) does at the same concurrency.
const KEEPS_UP: f64 = 0.95;

impl PeerRow {
    /// The OpenAI-compatible door against the peer named `name` at this level (issue 24): streams
    /// per second at least 20× the peer's, and CPU per stream 30× less.
    ///
    /// A closed loop offers `concurrency` streams per stream duration, whoever serves them: where
    /// the door serves all of it and 20× the peer's rate is more than that, no door could reach the
    /// ratio, and the level cannot judge it (the 1,000-stream level can). Where the peer finished
    /// no stream, the door's rate is unboundedly more and the peer has no CPU per stream.
    fn door_vs_peer(&self, name: &str, peer: &ServerSide) -> [TargetCheck; 2] {
        let door = &self.gateway_openai;
        let level = format!("closed loop, {} concurrent", self.concurrency);
        let (door_rate, peer_rate) = (door.stats.streams_per_sec, peer.stats.streams_per_sec);
        let mut rate = TargetCheck {
            name: format!("OpenAI-compatible door: streams/s ÷ {name}'s, {level}"),
            target: format!("≥ {STREAMS_RATIO:.0}×"),
            measured: String::new(),
            met: false,
            not_measurable: None,
        };
        if peer.stats.streams == 0 {
            rate.measured =
                format!("{door_rate:.0} vs 0 streams/s ({name} finished no stream in the measured windows)");
            rate.met = door.stats.streams > 0;
        } else {
            let ratio = door_rate / peer_rate;
            rate.measured = format!("{} ({door_rate:.0} vs {peer_rate:.1} streams/s)", times(ratio));
            rate.met = ratio >= STREAMS_RATIO;
            let offered = self.direct.streams_per_sec;
            if !rate.met && door_rate >= KEEPS_UP * offered && STREAMS_RATIO * peer_rate > offered {
                rate.not_measurable = Some(format!(
                    "the door served all the closed loop offered ({offered:.0} streams/s, the direct side's rate), less \
                     than {STREAMS_RATIO:.0}× {name}'s"
                ));
            }
        }
        let mut cpu = TargetCheck {
            name: format!("OpenAI-compatible door: server CPU per stream, {name}'s ÷ the door's, {level}"),
            target: format!("≥ {CPU_RATIO:.0}×"),
            measured: String::new(),
            met: false,
            not_measurable: None,
        };
        match (door.server_cpu_ms_per_stream, peer.server_cpu_ms_per_stream) {
            (Some(door_cpu), Some(peer_cpu)) => {
                let ratio = peer_cpu / door_cpu.max(f64::EPSILON);
                cpu.measured = format!("{} ({door_cpu:.3} vs {peer_cpu:.1} ms per stream)", times(ratio));
                cpu.met = ratio >= CPU_RATIO;
            }
            (None, _) => cpu.measured = "the door finished no stream".to_owned(),
            (Some(door_cpu), None) => {
                cpu.measured = format!("{door_cpu:.3} ms per stream; {name} finished none");
                cpu.not_measurable = Some(format!("{name} finished no stream, so it has no CPU per stream"));
            }
        }
        [rate, cpu]
    }
}

impl PeerComparison {
    /// Issue 24's targets against the peer, at every level where it ran; none without a peer.
    pub fn checks(&self) -> Vec<TargetCheck> {
        let Some(proxy) = &self.peer else { return Vec::new() };
        self.rows
            .iter()
            .filter_map(|row| Some((row, row.peer.as_ref()?)))
            .flat_map(|(row, peer)| row.door_vs_peer(&proxy.name, peer))
            .collect()
    }

    /// Failures that make the run invalid: the direct side and the gateway's must not fail. The
    /// peer's failures are a finding, shown in its rows.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for row in &self.rows {
            let sides = [
                ("direct", &row.direct),
                ("via gateway (gRPC)", &row.gateway.stats),
                ("via gateway (OpenAI-compatible door)", &row.gateway_openai.stats),
            ];
            for (side, stats) in sides {
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
        let peer_name = self.peer.as_ref().map(|proxy| proxy.name.as_str());
        match &self.peer {
            Some(proxy) => {
                let _ = write!(
                    out,
                    "## OpenAI-compatible, side by side with {name}\n\n{name} {} (`--num_workers {}`, ready {:.1} s after \
                     spawn) through its Bedrock Converse provider, ",
                    proxy.version,
                    proxy.workers,
                    proxy.ready_secs,
                    name = proxy.name
                );
            }
            None => {
                out.push_str(
                    "## OpenAI-compatible, side by side\n\nNo peer proxy ran (`--peer litellm` adds LiteLLM, and the \
                     targets against it). ",
                );
            }
        }
        let called = match peer_name {
            Some(name) => format!("The OpenAI-compatible door and {name} are called by the same client as"),
            None => "The OpenAI-compatible door is called as".to_owned(),
        };
        let _ = writeln!(
            out,
            "bedrock-gateway (its gRPC API and its OpenAI-compatible door) and the SDK (direct), all against the same \
             emulator ({} ms to first token, {} ms between tokens), the same prompt and answer length; closed loop, \
             rounds alternating between the sides ({} measured rounds per side, {} s each). {called} a streamed chat \
             completion (`POST /v1/chat/completions`, one connection pool, HTTP/1.1: a connection per concurrent \
             stream); the gRPC API by tonic (HTTP/2, 100 streams a \
             connection). Every side is timed to its first text delta. Added = side − direct at the same percentile; \
             server CPU = the server's CPU time (for a proxy its whole process tree) ÷ its streams; cores busy = CPU \
             time ÷ wall time of the side's rounds, for the server and for the load generator (this process, the \
             side's client). Streams and errors count those started in the measured windows; \"all\" adds those started during ramp-ups (a side slower \
             than the window has only these).\n\n\
             | concurrent | side | streams | errors | streams, all | errors, all | streams/s | TTFT p50 | TTFT p99 | added p50 | added p99 | server CPU ms / stream | server cores busy | load generator cores busy |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.emulator_ttft_ms,
            self.emulator_token_gap_ms,
            self.rounds,
            self.round_secs.iter().map(|secs| format!("{secs:.1}")).collect::<Vec<_>>().join(" / "),
        );
        let mut failures = Vec::new();
        for row in &self.rows {
            let d = &row.direct;
            let _ = writeln!(
                out,
                "| {} | direct | {} | {} | - | - | {:.0} | {:.3} ms | {:.3} ms | - | - | - | - | {:.2} |",
                row.concurrency,
                d.streams,
                d.errors,
                d.streams_per_sec,
                d.ttft.p50_ms,
                d.ttft.p99_ms,
                row.direct_load_generator_cores
            );
            let mut sides =
                vec![("bedrock-gateway (gRPC)", &row.gateway), ("bedrock-gateway (OpenAI door)", &row.gateway_openai)];
            if let (Some(name), Some(peer)) = (peer_name, &row.peer) {
                sides.push((name, peer));
            }
            for (name, side) in sides {
                let s = &side.stats;
                // Without a measured stream there is no distribution to show.
                let measured = |value: f64| if s.streams > 0 { format!("{value:.3} ms") } else { "-".to_owned() };
                let _ = writeln!(
                    out,
                    "| {} | {name} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
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
                    side.server_cores,
                    side.load_generator_cores
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

/// The LiteLLM proxy to run as the peer.
#[derive(Debug, Clone, Copy)]
pub struct Litellm<'a> {
    /// Its console script, in the virtualenv `bench/run.sh` installs.
    pub script: &'a Path,
    /// Its worker processes.
    pub workers: usize,
}

/// Runs every peer level of `profile`: direct, the gateway's gRPC API and OpenAI-compatible door,
/// and the LiteLLM proxy when `litellm` is given.
pub async fn run(
    profile: &Profile,
    layout: &Layout,
    litellm: Option<Litellm<'_>>,
) -> Result<PeerComparison, Box<dyn std::error::Error>> {
    let pacing = profile.ttft_pacing;
    let (_emulator, bedrock) = layout.emulator("peer", pacing).await?;
    let mut gateway = layout.gateway("peer", &bedrock, "warn")?;
    gateway.wait_listening().await?;
    let mut peer = None;
    if let Some(litellm) = litellm {
        eprintln!("peer: starting LiteLLM ({} workers)", litellm.workers);
        let mut proxy = layout.litellm("peer", litellm.script, &bedrock, litellm.workers)?;
        let client = Arc::new(Target::chat(proxy.addr)?);
        let ready = wait_ready(&mut proxy, &client).await?;
        let about = PeerProxy {
            name: "LiteLLM".to_owned(),
            version: litellm_version(litellm.script),
            workers: litellm.workers,
            ready_secs: ready.as_secs_f64(),
        };
        peer = Some((proxy, client, about));
    }
    let most = profile.peer_levels.iter().map(|level| level.concurrency).max().unwrap_or(1);
    let direct = Arc::new(Target::direct(&bedrock).await?);
    let via_gateway = Arc::new(Target::gateway(gateway.addr, most).await?);
    let via_door = Arc::new(Target::chat(gateway.addr)?);
    // Watched: 0 = gateway, 1 = the proxy (with its worker processes) if any, then this process.
    let mut watched = vec![&gateway];
    let mut targets = vec![Arc::clone(&direct), Arc::clone(&via_gateway), Arc::clone(&via_door)];
    if let Some((proxy, client, _)) = &peer {
        watched.push(proxy);
        targets.push(Arc::clone(client));
    }
    let proxy = peer.as_ref().map(|(proxy, client, _)| (proxy, client));
    let mut rows = Vec::new();
    for level in &profile.peer_levels {
        eprintln!("peer: closed loop x{} ({} tokens per stream)", level.concurrency, level.max_tokens);
        let runs =
            interleaved(&targets, profile.rounds, &watched, level.window.measure, |target, measured| async move {
                let settle_after = proxy.filter(|(_, client)| Arc::ptr_eq(client, &target)).map(|(proxy, _)| proxy);
                let tally = ttft::round(target, *level, measured).await;
                // Streams the client gave up on may keep the proxy busy; that work is its round's (the
                // CPU is sampled around this future) and must not slow the next side's round.
                if let Some(proxy) = settle_after {
                    settle(proxy).await;
                }
                tally
            })
            .await;
        let direct_stats = runs[0].stats();
        rows.push(PeerRow {
            concurrency: level.concurrency,
            tokens_per_stream: level.max_tokens,
            gateway: ServerSide::of(&runs[1], 0, &direct_stats),
            gateway_openai: ServerSide::of(&runs[2], 0, &direct_stats),
            peer: runs.get(3).map(|run| ServerSide::of(run, 1, &direct_stats)),
            direct: direct_stats,
            direct_load_generator_cores: runs[0].load_generator_cores(),
        });
    }
    Ok(PeerComparison {
        peer: peer.map(|(_, _, about)| about),
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

#[cfg(test)]
mod tests;
