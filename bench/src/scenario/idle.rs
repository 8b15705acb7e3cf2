//! Gateway memory per open idle stream: streams on the `idle` model, which the emulator holds open
//! and silent after `messageStart`, so each one costs the gateway exactly what holding a stream
//! costs (its relay, its gRPC stream, its Bedrock HTTP/1.1 connection). Bytes per stream =
//! (RSS with N open - RSS at a warmed-up baseline) / N.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::{Window, closed_loop};
use crate::processes::{ChildProcess, Layout, Pacing};
use crate::profile::Profile;
use crate::target_check::TargetCheck;
use crate::targets::Target;
use crate::units::{kib, mib};

/// Streams being opened at once: enough to be quick, few enough not to overflow the emulator's
/// accept backlog with the gateway's new connections.
const OPENING_AT_ONCE: usize = 256;
/// Longest the opening of all streams of one step may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause before reading RSS, so the allocator and the kernel's counters settle.
const SETTLE: Duration = Duration::from_secs(1);

/// Memory with N idle streams open.
#[derive(Debug, Clone, Serialize)]
pub struct IdlePoint {
    /// Streams open.
    pub streams: usize,
    /// Gateway RSS, bytes.
    pub gateway_rss_bytes: u64,
    /// (RSS - baseline) / streams.
    pub bytes_per_stream: f64,
    /// Emulator RSS, bytes (for context; it holds the other end of every stream).
    pub emulator_rss_bytes: u64,
}

/// The scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct IdleMemory {
    /// Gateway RSS after warm-up, with no stream open.
    pub baseline_rss_bytes: u64,
    /// One point per stream count.
    pub points: Vec<IdlePoint>,
    /// Streams that failed to open (should be 0).
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// Runs the scenario.
pub async fn run(profile: &Profile, layout: &Layout) -> Result<IdleMemory, Box<dyn std::error::Error>> {
    let (emulator, bedrock) =
        layout.emulator("idle", Pacing { ttft_ms: 0, token_gap_ms: 0, answer_tokens: 32 }).await?;
    let mut gateway = layout.gateway("idle", &bedrock, "warn")?;
    gateway.wait_listening().await?;
    let most = profile.idle_streams.iter().copied().max().unwrap_or(1);
    let target = Arc::new(Target::gateway(gateway.addr, most).await?);
    eprintln!("idle: warming up");
    let warm = Window { ramp: Duration::from_millis(200), measure: Duration::from_millis(500) };
    closed_loop(&target, 16, 32, warm).await;
    let mut holder = Holder::default();
    holder.open_until(&target, 200).await;
    holder.close().await;
    tokio::time::sleep(SETTLE).await;
    let baseline = gateway.rss_bytes()?;

    let mut holder = Holder::default();
    let mut points = Vec::new();
    for &streams in &profile.idle_streams {
        eprintln!("idle: {streams} streams");
        holder.open_until(&target, streams).await;
        tokio::time::sleep(SETTLE).await;
        points.push(point(&gateway, &emulator, baseline, holder.opened())?);
    }
    let (failed, first_error) = (holder.failed.load(Ordering::Relaxed), holder.first_error.lock().await.clone());
    holder.close().await;
    Ok(IdleMemory { baseline_rss_bytes: baseline, points, failed, first_error })
}

fn point(gateway: &ChildProcess, emulator: &ChildProcess, baseline: u64, streams: usize) -> std::io::Result<IdlePoint> {
    let rss = gateway.rss_bytes()?;
    Ok(IdlePoint {
        streams,
        gateway_rss_bytes: rss,
        bytes_per_stream: rss.saturating_sub(baseline) as f64 / streams.max(1) as f64,
        emulator_rss_bytes: emulator.rss_bytes()?,
    })
}

/// Idle streams held open until `close`.
#[derive(Debug, Default)]
struct Holder {
    tasks: JoinSet<()>,
    release: CancellationToken,
    started: usize,
    open: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    first_error: Arc<tokio::sync::Mutex<Option<String>>>,
}

impl Holder {
    fn opened(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Opens streams until `total` have been started, and waits until each is open or failed.
    async fn open_until(&mut self, target: &Arc<Target>, total: usize) {
        let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
        for worker in self.started..total {
            let (target, gate, release) = (Arc::clone(target), Arc::clone(&gate), self.release.clone());
            let (open, failed, first_error) =
                (Arc::clone(&self.open), Arc::clone(&self.failed), Arc::clone(&self.first_error));
            self.tasks.spawn(async move {
                let Ok(permit) = gate.acquire_owned().await else { return };
                let opened = tokio::time::timeout(OPEN_TIMEOUT, target.open_idle(worker)).await;
                drop(permit);
                match opened {
                    Ok(Ok(stream)) => {
                        open.fetch_add(1, Ordering::Relaxed);
                        release.cancelled().await;
                        drop(stream);
                    }
                    Ok(Err(message)) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().await.get_or_insert(message);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().await.get_or_insert("idle stream did not open in time".to_owned());
                    }
                }
            });
        }
        self.started = self.started.max(total);
        let deadline = Instant::now() + OPEN_TIMEOUT;
        while self.opened() + self.failed.load(Ordering::Relaxed) < self.started && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ends every held stream.
    async fn close(mut self) {
        self.release.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl IdleMemory {
    /// The memory target at the most streams, its name after `prefix`: at most `bound_kib` KiB per
    /// idle stream.
    pub fn check(&self, prefix: &str, bound_kib: f64) -> Option<TargetCheck> {
        let point = self.points.last()?;
        let name = format!("{prefix}gateway memory per idle stream, {} open", point.streams);
        Some(TargetCheck::at_most(
            name,
            &format!("≤ {bound_kib:.0} KiB"),
            point.bytes_per_stream / 1024.0,
            bound_kib,
            kib,
        ))
    }

    /// Streams that failed to open; `run` names the run (`pinned ` or nothing).
    pub fn problems(&self, run: &str) -> Vec<String> {
        (self.failed > 0)
            .then(|| {
                format!("{run}idle: {} streams failed ({})", self.failed, self.first_error.as_deref().unwrap_or("-"))
            })
            .into_iter()
            .collect()
    }

    /// Its section, under a heading of level `heading`.
    pub fn markdown(&self, out: &mut String, heading: &str) {
        let _ = writeln!(
            out,
            "{heading} Gateway memory with idle streams\n\nBaseline RSS after warm-up: {:.1} MiB.\n\n\
             | idle streams | gateway RSS | bytes per stream | emulator RSS |\n|---:|---:|---:|---:|",
            mib(self.baseline_rss_bytes)
        );
        for p in &self.points {
            let _ = writeln!(
                out,
                "| {} | {:.1} MiB | {:.0} ({:.1} KiB) | {:.1} MiB |",
                p.streams,
                mib(p.gateway_rss_bytes),
                p.bytes_per_stream,
                p.bytes_per_stream / 1024.0,
                mib(p.emulator_rss_bytes)
            );
        }
        out.push('\n');
    }
}
