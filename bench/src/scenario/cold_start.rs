//! Cold start: from spawning the gateway process to its first complete ConverseStream answer
//! (and, on the way, to its port accepting connections), with the emulator already up.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::processes::{Layout, Pacing};
use crate::profile::Profile;
use crate::stats::median;
use crate::target_check::TargetCheck;
use crate::targets::Target;
use crate::units;

/// Longest a cold start may take before the run fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between attempts while the gateway is not answering yet.
const RETRY: Duration = Duration::from_millis(1);

/// The scenario's results, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    /// Gateway processes started.
    pub runs: usize,
    /// Median time from spawn to accepting TCP connections.
    pub listening_median_ms: f64,
    /// Slowest of those.
    pub listening_max_ms: f64,
    /// Median time from spawn to the end of the first successful stream.
    pub first_answer_median_ms: f64,
    /// Slowest of those.
    pub first_answer_max_ms: f64,
}

/// Runs the scenario.
pub async fn run(profile: &Profile, layout: &Layout) -> Result<ColdStart, Box<dyn std::error::Error>> {
    let (_emulator, bedrock) =
        layout.emulator("cold-start", Pacing { ttft_ms: 0, token_gap_ms: 0, answer_tokens: 8 }).await?;
    let (mut listening, mut answered) = (Vec::new(), Vec::new());
    for run in 0..profile.cold_starts {
        eprintln!("cold start: {}/{}", run + 1, profile.cold_starts);
        let mut gateway = layout.gateway("cold-start", &bedrock, "warn")?;
        listening.push(gateway.wait_listening().await?);
        loop {
            let attempt =
                async { Target::gateway(gateway.addr, 1).await.map_err(|err| err.to_string())?.stream(0, 8).await };
            if tokio::time::timeout(START_TIMEOUT, attempt).await.is_ok_and(|result| result.is_ok()) {
                answered.push(gateway.spawned_at.elapsed());
                break;
            }
            if gateway.spawned_at.elapsed() > START_TIMEOUT {
                return Err(format!("the gateway did not answer within {START_TIMEOUT:?}").into());
            }
            tokio::time::sleep(RETRY).await;
        }
    }
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    let max = |samples: &[Duration]| samples.iter().max().copied().unwrap_or_default();
    Ok(ColdStart {
        runs: listening.len(),
        listening_median_ms: ms(median(&listening)),
        listening_max_ms: ms(max(&listening)),
        first_answer_median_ms: ms(median(&answered)),
        first_answer_max_ms: ms(max(&answered)),
    })
}

impl ColdStart {
    /// Its target: the median cold start to a first answer.
    pub fn check(&self) -> TargetCheck {
        let name = "cold start to first answer (median)".to_owned();
        TargetCheck::at_most(name, "≤ 100 ms", self.first_answer_median_ms, 100.0, units::ms)
    }

    /// Its section, under a heading of level `heading`.
    pub fn markdown(&self, out: &mut String, heading: &str) {
        let _ = writeln!(
            out,
            "{heading} Cold start ({} runs)\n\n| from spawn to | median | max |\n|---|---:|---:|\n\
             | accepting connections | {:.1} ms | {:.1} ms |\n| first complete answer | {:.1} ms | {:.1} ms |\n",
            self.runs,
            self.listening_median_ms,
            self.listening_max_ms,
            self.first_answer_median_ms,
            self.first_answer_max_ms
        );
    }
}
