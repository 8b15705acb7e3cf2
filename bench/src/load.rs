//! The two ways of applying load, both bounded in time and count:
//!
//! - **closed loop**: N workers each run streams back to back. Gives throughput at a concurrency,
//!   but hides tail latency: a slow response delays the next request, so the stall is sampled once
//!   (coordinated omission).
//! - **open loop**: streams start at a fixed rate whatever happens, and latency is measured from the
//!   *intended* start time, so a stall shows up in every stream that should have started during it.
//!
//! Both ramp up before measuring (staggered starts, so 1,000 workers do not arrive in one burst)
//! and count only streams started inside the measurement window.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio::time::error::Elapsed;

use crate::stats::Latencies;
use crate::streamed::Streamed;
use crate::targets::{STREAM_TIMEOUT, Target};

/// What a round measured.
#[derive(Debug, Default)]
pub struct Tally {
    /// Time to first token per successful stream.
    pub ttft: Latencies,
    /// Streams completed successfully.
    pub streams: u64,
    /// Events those streams delivered.
    pub events: u64,
    /// Streams failed, timed out, or (open loop) not started because too many were in flight.
    pub errors: u64,
    /// The first failure, ramp-up included, for the report.
    pub first_error: Option<String>,
    /// Streams completed successfully, ramp-up included (to divide CPU time, sampled per round).
    pub all_streams: u64,
    /// Streams failed or timed out, ramp-up included (a target slower than the round has only
    /// these: its streams all start during the ramp-up and end after the measured window).
    pub all_errors: u64,
    /// Events of those streams.
    pub all_events: u64,
}

impl Tally {
    fn add(&mut self, started: Instant, measured: bool, result: Result<Result<Streamed, String>, Elapsed>) {
        if let Ok(Ok(streamed)) = &result {
            self.all_streams += 1;
            self.all_events += streamed.events;
        }
        if !measured {
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(message)) => self.unmeasured_error(message),
                Err(_) => self.unmeasured_error(format!("stream did not finish within {STREAM_TIMEOUT:?}")),
            }
            return;
        }
        match result {
            Ok(Ok(streamed)) => {
                self.ttft.record(streamed.first_token_at.saturating_duration_since(started));
                self.streams += 1;
                self.events += streamed.events;
            }
            Ok(Err(message)) => self.error(message),
            Err(_) => self.error(format!("stream did not finish within {STREAM_TIMEOUT:?}")),
        }
    }

    fn unmeasured_error(&mut self, message: String) {
        self.all_errors += 1;
        self.first_error.get_or_insert(message);
    }

    fn error(&mut self, message: String) {
        self.all_errors += 1;
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }

    /// Adds `other`'s counts and samples.
    pub fn merge(&mut self, other: Tally) {
        self.ttft.merge(&other.ttft);
        self.streams += other.streams;
        self.events += other.events;
        self.errors += other.errors;
        self.all_streams += other.all_streams;
        self.all_errors += other.all_errors;
        self.all_events += other.all_events;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// How long a round ramps up and how long it measures.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Unmeasured ramp-up; streams start staggered over it.
    pub ramp: Duration,
    /// Measured time.
    pub measure: Duration,
}

/// `workers` workers, each running streams of `max_tokens` tokens back to back.
pub async fn closed_loop(target: &Arc<Target>, workers: usize, max_tokens: u32, window: Window) -> Tally {
    let start = Instant::now();
    let measure_from = start + window.ramp;
    let end = measure_from + window.measure;
    let mut set = JoinSet::new();
    for worker in 0..workers {
        let target = Arc::clone(target);
        let offset = window.ramp.mul_f64(worker as f64 / workers as f64);
        set.spawn(async move {
            tokio::time::sleep_until(start + offset).await;
            let mut tally = Tally::default();
            while Instant::now() < end {
                let started = Instant::now();
                let result = tokio::time::timeout(STREAM_TIMEOUT, target.stream(worker, max_tokens)).await;
                tally.add(started, started >= measure_from, result);
            }
            tally
        });
    }
    join_all(set, Tally::default()).await
}

/// Streams of `max_tokens` tokens started at `rate` per second; TTFT counts from each stream's
/// intended start. At most `max_in_flight` run at once; the excess counts as errors, so an
/// overloaded run cannot hide as a slower one.
pub async fn open_loop(
    target: &Arc<Target>,
    rate: f64,
    max_tokens: u32,
    window: Window,
    max_in_flight: usize,
) -> Tally {
    let start = Instant::now();
    let measure_from = start + window.ramp;
    let total = ((window.ramp + window.measure).as_secs_f64() * rate) as u64;
    let mut tally = Tally::default();
    let mut set = JoinSet::new();
    for index in 0..total {
        let intended = start + Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until(intended).await;
        while let Some(joined) = set.try_join_next() {
            tally.merge(joined.unwrap_or_else(panicked));
        }
        let measured = intended >= measure_from;
        if set.len() >= max_in_flight {
            if measured {
                tally.error(format!("more than {max_in_flight} streams in flight: the target cannot keep up"));
            }
            continue;
        }
        let target = Arc::clone(target);
        let worker = usize::try_from(index).unwrap_or_default();
        set.spawn(async move {
            let mut tally = Tally::default();
            let result = tokio::time::timeout(STREAM_TIMEOUT, target.stream(worker, max_tokens)).await;
            tally.add(intended, measured, result);
            tally
        });
    }
    join_all(set, tally).await
}

async fn join_all(mut set: JoinSet<Tally>, mut tally: Tally) -> Tally {
    while let Some(joined) = set.join_next().await {
        tally.merge(joined.unwrap_or_else(panicked));
    }
    tally
}

fn panicked(err: tokio::task::JoinError) -> Tally {
    let mut tally = Tally::default();
    tally.error(format!("load task failed: {err}"));
    tally
}
