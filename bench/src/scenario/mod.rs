//! The scenarios, one module each, each owning its results, the targets it is judged on and its
//! section of the report; and what they share: one side's figures, and the interleaving of sides,
//! which runs direct and via-gateway rounds alternately (A B, B A, ...) so that drift in machine
//! load over the run hits both sides alike.

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

use crate::load::Tally;
use crate::processes::{ChildProcess, cpu_seconds};
use crate::stats::Summary;
use crate::targets::Target;

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

    /// Average cores this process (the load generator, sampled after the watched processes) kept
    /// busy during this side's rounds.
    pub fn load_generator_cores(&self) -> f64 {
        self.cores(self.cpu.len().saturating_sub(1))
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
