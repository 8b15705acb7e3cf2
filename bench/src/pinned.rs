//! The pinned run: the same scenarios with the gateway alone on one CPU and the load generator and
//! the emulator together on another, so the figures measure the gateway rather than its contention
//! with the load for the same cores (the shared run lets the scheduler mix all three). Issue 13's
//! targets are judged on this run.
//!
//! This process moves all of its own threads to the load CPU for the duration of the run and back
//! afterwards; each child starts on its CPU (see [`crate::affinity`]).

use serde::Serialize;

use crate::affinity::{Cores, ProcessPinned};
use crate::processes::Layout;
use crate::profile::Profile;
use crate::scenario::cold_start::ColdStart;
use crate::scenario::idle::IdleMemory;
use crate::scenario::saturation::Saturation;
use crate::scenario::ttft::Ttft;
use crate::scenario::{cold_start, idle, saturation, ttft};

/// The pinned run's results: the scenarios issue 13's targets are judged on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PinnedRun {
    /// Why the run did not happen, when it did not (fewer than two CPUs to use).
    pub skipped: Option<String>,
    /// Its CPUs.
    pub cores: Option<Cores>,
    /// Cold start.
    pub cold_start: Option<ColdStart>,
    /// Added time to first token, with gateway CPU per event.
    pub ttft: Option<Ttft>,
    /// Throughput at saturation.
    pub saturation: Option<Saturation>,
    /// Memory per idle stream.
    pub idle_memory: Option<IdleMemory>,
}

/// Which of the pinned run's scenarios to run.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// Cold start.
    pub cold_start: bool,
    /// Time to first token.
    pub ttft: bool,
    /// Saturation.
    pub saturation: bool,
    /// Idle memory.
    pub idle: bool,
}

/// Runs the `wanted` scenarios pinned, with logs in `<work_dir>/pinned`, or says why it cannot.
pub async fn run(profile: &Profile, layout: &Layout, wanted: Wanted) -> Result<PinnedRun, Box<dyn std::error::Error>> {
    let cores = match Cores::choose() {
        Ok(cores) => cores,
        Err(reason) => {
            eprintln!("pinned run {reason}");
            return Ok(PinnedRun { skipped: Some(reason), ..PinnedRun::default() });
        }
    };
    eprintln!("pinned run: gateway on CPU {}, load generator and emulator on CPU {}", cores.gateway, cores.load);
    let layout = Layout { work_dir: layout.work_dir.join("pinned"), cores: Some(cores), ..layout.clone() };
    std::fs::create_dir_all(&layout.work_dir)?;
    let _pinned = ProcessPinned::to(cores.load)?;
    let mut run = PinnedRun { cores: Some(cores), ..PinnedRun::default() };
    if wanted.cold_start {
        run.cold_start = Some(cold_start::run(profile, &layout).await?);
    }
    if wanted.ttft {
        run.ttft = Some(ttft::run(profile, &layout).await?);
    }
    if wanted.saturation {
        run.saturation = Some(saturation::run(profile, &layout).await?);
    }
    if wanted.idle {
        run.idle_memory = Some(idle::run(profile, &layout).await?);
    }
    Ok(run)
}
