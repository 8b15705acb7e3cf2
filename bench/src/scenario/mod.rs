//! The scenarios, one module each, and what they share: the run profile (full or smoke) and the
//! interleaving of sides, which runs direct and via-gateway rounds alternately (A B, B A, ...) so
//! that drift in machine load over the run hits both sides alike.

pub mod abuse;
pub mod cold_start;
pub mod idle;
pub mod memory;
pub mod peer;
pub mod quota;
pub mod saturation;
pub mod ttft;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{Tally, Window};
use crate::processes::{ChildProcess, Pacing, cpu_seconds};
use crate::stats::Summary;
use crate::targets::Target;

/// One load level of the time-to-first-token scenario.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    /// Concurrent streams (closed loop) or, with `rate`, the expected concurrency.
    pub concurrency: usize,
    /// Open loop at this many streams per second instead of a closed loop.
    pub rate: Option<f64>,
    /// Tokens per stream, chosen so that `concurrency` streams are a rate the machine sustains.
    pub max_tokens: u32,
    /// Ramp-up and measurement time of one round.
    pub window: Window,
}

/// Everything that differs between the full run and the smoke run.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `full` or `smoke`.
    pub name: &'static str,
    /// Measured rounds per side (after one unmeasured warm-up round each).
    pub rounds: usize,
    /// Emulator pacing for the TTFT scenario: a small fixed TTFT so queuing is realistic.
    pub ttft_pacing: Pacing,
    /// TTFT load levels.
    pub ttft_levels: Vec<Level>,
    /// Levels of the side-by-side comparison with a peer proxy (closed loop, one answer length).
    pub peer_levels: Vec<Level>,
    /// Workers of the saturation scenario.
    pub saturation_workers: usize,
    /// Tokens per answer at saturation.
    pub saturation_tokens: usize,
    /// Round window at saturation.
    pub saturation_window: Window,
    /// Idle stream counts at which gateway memory is read.
    pub idle_streams: Vec<usize>,
    /// Counts of concurrent maximum-size requests whose peak memory is read, each on a fresh
    /// gateway: one alone shows a request's transient peak, many show the cost per request in flight.
    pub memory_requests: Vec<usize>,
    /// Cold starts to time.
    pub cold_starts: usize,
    /// The abuse scenario.
    pub abuse: abuse::AbuseProfile,
    /// The abuse scenario's memory floods.
    pub abuse_floods: abuse::floods::FloodsProfile,
    /// The quota-check scenario.
    pub quota: quota::QuotaProfile,
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

impl Profile {
    /// The full run: a few minutes on 2 cores.
    pub fn full() -> Profile {
        let window = |ramp, measure| Window { ramp: secs(ramp), measure: secs(measure) };
        Profile {
            name: "full",
            rounds: 3,
            ttft_pacing: Pacing { ttft_ms: 20, token_gap_ms: 25, answer_tokens: 64 },
            ttft_levels: vec![
                Level { concurrency: 1, rate: None, max_tokens: 1, window: window(0.1, 3.0) },
                Level { concurrency: 100, rate: None, max_tokens: 8, window: window(0.3, 3.0) },
                Level { concurrency: 1000, rate: None, max_tokens: 40, window: window(1.0, 3.0) },
                Level { concurrency: 1000, rate: Some(1000.0), max_tokens: 40, window: window(1.0, 3.0) },
            ],
            // 40 tokens (about 1 s) at every level: 10, 100 and 1,000 streams per second when
            // every side keeps up, the last being the TTFT scenario's 1,000-stream level.
            peer_levels: vec![
                Level { concurrency: 10, rate: None, max_tokens: 40, window: window(0.3, 5.0) },
                Level { concurrency: 100, rate: None, max_tokens: 40, window: window(0.5, 5.0) },
                Level { concurrency: 1000, rate: None, max_tokens: 40, window: window(2.0, 5.0) },
            ],
            saturation_workers: 32,
            saturation_tokens: 32,
            saturation_window: window(0.5, 3.0),
            idle_streams: vec![1000, 10_000],
            // 32 × 4 MiB: enough to dwarf the baseline and the allocator's noise, bounded on a
            // machine with 24 GiB.
            memory_requests: vec![1, 32],
            cold_starts: 5,
            abuse: abuse::AbuseProfile::full(),
            abuse_floods: abuse::floods::FloodsProfile::full(),
            quota: quota::QuotaProfile::full(),
        }
    }

    /// The smoke run: every scenario, tiny, in seconds; checks the bench still works, not speed.
    pub fn smoke() -> Profile {
        let window = |ramp, measure| Window { ramp: secs(ramp), measure: secs(measure) };
        Profile {
            name: "smoke",
            rounds: 1,
            ttft_pacing: Pacing { ttft_ms: 5, token_gap_ms: 5, answer_tokens: 16 },
            ttft_levels: vec![
                Level { concurrency: 1, rate: None, max_tokens: 1, window: window(0.05, 0.3) },
                Level { concurrency: 20, rate: None, max_tokens: 4, window: window(0.1, 0.3) },
                Level { concurrency: 20, rate: Some(200.0), max_tokens: 4, window: window(0.1, 0.3) },
            ],
            peer_levels: vec![
                Level { concurrency: 2, rate: None, max_tokens: 4, window: window(0.05, 0.5) },
                Level { concurrency: 10, rate: None, max_tokens: 4, window: window(0.1, 0.5) },
            ],
            saturation_workers: 8,
            saturation_tokens: 16,
            saturation_window: window(0.1, 0.5),
            idle_streams: vec![100, 300],
            memory_requests: vec![2],
            cold_starts: 1,
            abuse: abuse::AbuseProfile::smoke(),
            abuse_floods: abuse::floods::FloodsProfile::smoke(),
            quota: quota::QuotaProfile::smoke(),
        }
    }
}

/// Counts and CPU time of one side, summed over its rounds.
#[derive(Debug, Default)]
pub struct SideRun {
    /// What the load generator measured.
    pub tally: Tally,
    /// Measured wall time.
    pub measured: Duration,
    /// Wall time of the rounds, ramp-up and drain included (the span of the CPU samples).
    pub wall: Duration,
    /// CPU seconds of each watched process (in the order given) during this side's rounds.
    pub cpu: Vec<f64>,
}

/// One side's numbers as reports show them.
#[derive(Debug, Clone, Serialize)]
pub struct SideStats {
    /// Time to first token.
    pub ttft: Summary,
    /// Successful streams measured.
    pub streams: u64,
    /// Stream events they delivered.
    pub events: u64,
    /// Failed or shed streams.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Successful streams per second of measured time.
    pub streams_per_sec: f64,
    /// Events per second of measured time.
    pub events_per_sec: f64,
}

impl SideRun {
    /// The report's view.
    pub fn stats(&self) -> SideStats {
        let per_sec = |count: u64| count as f64 / self.measured.as_secs_f64().max(f64::EPSILON);
        SideStats {
            ttft: self.tally.ttft.summary(),
            streams: self.tally.streams,
            events: self.tally.events,
            errors: self.tally.errors,
            first_error: self.tally.first_error.clone(),
            streams_per_sec: per_sec(self.tally.streams),
            events_per_sec: per_sec(self.tally.events),
        }
    }

    /// Adds `other`'s counts, times and CPU seconds (another round of the same side).
    pub fn add(&mut self, other: SideRun) {
        self.tally.merge(other.tally);
        self.measured += other.measured;
        self.wall += other.wall;
        self.cpu.resize(self.cpu.len().max(other.cpu.len()), 0.0);
        for (total, cpu) in self.cpu.iter_mut().zip(other.cpu) {
            *total += cpu;
        }
    }

    /// CPU seconds of watched process `index` per 1,000 successful streams (CPU is sampled per
    /// round, so it is divided by the round's streams, ramp-up included).
    pub fn cpu_per_1000_streams(&self, index: usize) -> f64 {
        self.cpu(index) * 1000.0 / (self.tally.all_streams.max(1) as f64)
    }

    /// CPU seconds of watched process `index` over this side's rounds.
    pub fn cpu(&self, index: usize) -> f64 {
        self.cpu.get(index).copied().unwrap_or_default()
    }

    /// Average cores watched process `index` kept busy during this side's rounds.
    pub fn cores(&self, index: usize) -> f64 {
        self.cpu(index) / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs one warm-up round per target, then `rounds` measured rounds per target in alternating
/// order, sampling the CPU time of `watched` processes (plus this process, last) around each round.
/// Returns each target's rounds summed.
pub async fn interleaved<F, Fut>(
    targets: &[Arc<Target>],
    rounds: usize,
    watched: &[&ChildProcess],
    measure: Duration,
    round: F,
) -> Vec<SideRun>
where
    F: FnMut(Arc<Target>, bool) -> Fut,
    Fut: Future<Output = Tally>,
{
    let mut runs: Vec<SideRun> = targets.iter().map(|_| SideRun::default()).collect();
    for sides in interleaved_rounds(targets, rounds, watched, measure, round).await {
        for (total, side) in runs.iter_mut().zip(sides) {
            total.add(side);
        }
    }
    runs
}

/// [`interleaved`], returning each round on its own: `[round][target]`, for scenarios that show
/// how much a figure moves from round to round.
pub async fn interleaved_rounds<F, Fut>(
    targets: &[Arc<Target>],
    rounds: usize,
    watched: &[&ChildProcess],
    measure: Duration,
    mut round: F,
) -> Vec<Vec<SideRun>>
where
    F: FnMut(Arc<Target>, bool) -> Fut,
    Fut: Future<Output = Tally>,
{
    for target in targets {
        round(Arc::clone(target), false).await;
    }
    let mut runs = Vec::new();
    for number in 0..rounds {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        if number % 2 == 1 {
            order.reverse();
        }
        let mut sides: Vec<SideRun> = targets.iter().map(|_| SideRun::default()).collect();
        for index in order {
            measured_round(&mut sides[index], watched, measure, round(Arc::clone(&targets[index]), true)).await;
        }
        runs.push(sides);
    }
    runs
}

/// Runs one measured round of `measure` (plus ramp-up and drain) and adds its tally, its wall time
/// and the CPU time of `watched` processes (plus this process, last) during it to `run`.
pub async fn measured_round(
    run: &mut SideRun,
    watched: &[&ChildProcess],
    measure: Duration,
    round: impl Future<Output = Tally>,
) {
    let before = cpu_now(watched);
    let started = Instant::now();
    let tally = round.await;
    let wall = started.elapsed();
    let after = cpu_now(watched);
    run.tally.merge(tally);
    run.measured += measure.min(wall);
    run.wall += wall;
    run.cpu.resize(after.len(), 0.0);
    for (total, (after, before)) in run.cpu.iter_mut().zip(after.iter().zip(&before)) {
        *total += after - before;
    }
}

fn cpu_now(watched: &[&ChildProcess]) -> Vec<f64> {
    let mut cpu: Vec<f64> = watched.iter().map(|process| process.cpu_seconds().unwrap_or_default()).collect();
    cpu.push(cpu_seconds(std::process::id()).unwrap_or_default());
    cpu
}
