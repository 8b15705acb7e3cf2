//! The gateway's memory and refusals around one flood: read before it, its RSS polled while it runs
//! (the flood given up once the growth passes the cap, so the bench cannot exhaust the machine's
//! memory), read again once it stopped.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::processes::{ChildProcess, memory, reset_peak_rss};
use crate::prometheus::{Series, by_label, scrape};
use crate::units::mib;

/// How often RSS is polled during a flood.
pub const POLL: Duration = Duration::from_millis(10);
/// Pause before reading RSS before a flood and after it, so the gateway's connections are closed
/// and the allocator settles.
const SETTLE: Duration = Duration::from_secs(1);
/// RSS growth at which a flood is stopped.
pub const RSS_GROWTH_CAP: u64 = 1 << 30;

/// The gateway's resident memory around one flood.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rss {
    /// Before the flood, settled.
    pub before_bytes: u64,
    /// Highest during the flood: polled `VmRSS` or `VmHWM`, whichever is higher.
    pub peak_bytes: u64,
    /// `peak_bytes - before_bytes`.
    pub growth_bytes: u64,
    /// One second after the flood stopped.
    pub after_bytes: u64,
    /// Whether the flood was stopped because the growth passed 1 GiB.
    pub capped: bool,
}

impl Rss {
    /// `growth_bytes` in MiB.
    pub fn growth_mib(&self) -> f64 {
        mib(self.growth_bytes)
    }
}

/// What was read before a flood, to compare with after it.
pub struct Before {
    /// RSS, bytes.
    pub rss: u64,
    metrics: Series,
}

impl Before {
    /// Lets the gateway settle, resets its peak RSS and reads its RSS and counts.
    pub async fn read(gateway: &ChildProcess, admin: SocketAddr) -> std::io::Result<Before> {
        tokio::time::sleep(SETTLE).await;
        reset_peak_rss(gateway.pid())?;
        Ok(Before { rss: gateway.rss_bytes()?, metrics: scrape(admin).await? })
    }

    /// The gateway's memory around the flood and its refusals during it, read once it stopped.
    pub async fn after<T>(
        self,
        gateway: &ChildProcess,
        admin: SocketAddr,
        watched: &Watched<T>,
    ) -> std::io::Result<(Rss, BTreeMap<String, u64>)> {
        let peak_bytes = memory(gateway.pid())?.peak_rss_bytes.max(watched.polled_peak);
        let rejections = |series: &Series| by_label(series, "bedrock_gateway_rejections_total", "reason");
        let earlier = rejections(&self.metrics);
        let rejections = rejections(&scrape(admin).await?)
            .into_iter()
            .map(|(reason, count)| {
                let change = count - earlier.get(&reason).copied().unwrap_or_default();
                (reason, change.max(0.0) as u64)
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        tokio::time::sleep(SETTLE).await;
        let rss = Rss {
            before_bytes: self.rss,
            peak_bytes,
            growth_bytes: peak_bytes.saturating_sub(self.rss),
            after_bytes: gateway.rss_bytes()?,
            capped: watched.outcome.is_none(),
        };
        Ok((rss, rejections))
    }
}

/// `work`'s outcome (none when the RSS cap stopped it), with the RSS polled meanwhile.
pub struct Watched<T> {
    /// What `work` returned.
    pub outcome: Option<T>,
    polled_peak: u64,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `work` while polling the gateway's RSS; gives up on `work` if the RSS grows past the cap.
pub async fn watch_rss<T>(
    gateway: &ChildProcess,
    before: u64,
    work: impl Future<Output = T>,
) -> std::io::Result<Watched<T>> {
    let started = Instant::now();
    let mut polled_peak = before;
    let mut work = std::pin::pin!(work);
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            outcome = &mut work => return Ok(Watched { outcome: Some(outcome), polled_peak, elapsed: started.elapsed() }),
            _ = poll.tick() => {
                let rss = gateway.rss_bytes()?;
                polled_peak = polled_peak.max(rss);
                if rss.saturating_sub(before) > RSS_GROWTH_CAP {
                    return Ok(Watched { outcome: None, polled_peak, elapsed: started.elapsed() });
                }
            }
        }
    }
}
