//! The pinned run: the same scenarios with the gateway alone on one CPU and the load generator and
//! the emulator together on another, so the figures measure the gateway rather than its contention
//! with the load for the same cores (the shared run lets the scheduler mix all three). Issue 13's
//! targets are judged on this run, and issue 24's for the Bedrock-compatible door (its added TTFT
//! and the gateway's CPU per event through it against the gRPC door's), which are about the
//! gateway's own work too.
//!
//! This process moves all of its own threads to the load CPU for the duration of the run and back
//! afterwards; each child starts on its CPU (see [`crate::affinity`]).

use std::fmt::Write as _;

use serde::Serialize;

use crate::affinity::{Cores, ProcessPinned};
use crate::processes::Layout;
use crate::profile::Profile;
use crate::scenario::cold_start::ColdStart;
use crate::scenario::idle::IdleMemory;
use crate::scenario::saturation::Saturation;
use crate::scenario::ttft::Ttft;
use crate::scenario::{cold_start, idle, saturation, ttft};
use crate::target_check::TargetCheck;
use crate::units::{micros, ms};

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

impl PinnedRun {
    /// Issue 13's targets, judged on this run.
    pub fn checks(&self) -> Vec<TargetCheck> {
        let mut checks = Vec::new();
        checks.extend(self.ttft.iter().flat_map(|ttft| ttft.bedrock_door_checks("pinned: ")));
        for row in self.ttft.iter().flat_map(Ttft::judged_rows) {
            checks.extend(row.added_checks("pinned: "));
            let name = format!("pinned: gateway CPU per relayed (paced) event, {}", row.load_name());
            let mut cpu = TargetCheck::at_most(name, "≤ 5 µs", row.gateway_cpu_us_per_event, 5.0, micros);
            cpu.measured += &format!(" (the SDK client alone: {})", micros(row.direct_client_cpu_us_per_event));
            checks.push(cpu);
        }
        let sides = self.saturation.iter().flat_map(|s| &s.sides);
        let quiet = sides.clone().find(|side| side.label.contains("warn"));
        if let Some(per_core) = quiet.and_then(|side| side.events_per_gateway_core_sec) {
            let mut measured = format!("{per_core:.0}");
            if let Some(direct) = sides.clone().find(|side| side.label == "direct") {
                measured += &format!(" (the SDK client alone: {:.0})", direct.events_per_loadgen_core_sec);
            }
            checks.push(TargetCheck {
                name: "pinned: stream events relayed per gateway core-second (saturation)".to_owned(),
                target: "≥ 500,000".to_owned(),
                measured,
                met: per_core >= 500_000.0,
                not_measurable: None,
            });
        }
        checks.extend(self.idle_memory.as_ref().and_then(|idle| idle.check("pinned: ", 16.0)));
        if let Some(cold) = &self.cold_start {
            checks.push(TargetCheck {
                name: "pinned: cold start to first answer (median)".to_owned(),
                target: "< 10 ms".to_owned(),
                measured: ms(cold.first_answer_median_ms),
                met: cold.first_answer_median_ms < 10.0,
                not_measurable: None,
            });
        }
        checks
    }

    /// Failed streams of its scenarios.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(self.ttft.iter().flat_map(|ttft| ttft.problems("pinned ")));
        problems.extend(self.saturation.iter().flat_map(|saturation| saturation.problems("pinned ")));
        problems.extend(self.idle_memory.iter().flat_map(|idle| idle.problems("pinned ")));
        problems
    }

    /// Its section: where each process ran, then its scenarios' sub-sections.
    pub fn markdown(&self, out: &mut String) {
        let _ = writeln!(out, "## Pinned run\n");
        let Some(cores) = self.cores else {
            let _ = writeln!(out, "{}\n", self.skipped.as_deref().unwrap_or("skipped"));
            return;
        };
        let _ = writeln!(
            out,
            "The gateway alone on CPU {}, the load generator (this process, both sides' clients) and the emulator on CPU {}; \
             the gateway and the emulator each run one tokio worker thread, as on one vCPU. Issue 13's targets are judged \
             on this run.\n",
            cores.gateway, cores.load
        );
        if let Some(ttft) = &self.ttft {
            let _ = writeln!(
                out,
                "Where the processes ran (`Cpus_allowed_list`): gateway {}, emulator {}.\n",
                ttft.gateway_cpus, ttft.emulator_cpus
            );
            ttft.markdown(out, "###");
        }
        if let Some(saturation) = &self.saturation {
            saturation.markdown(out, "###");
        }
        if let Some(idle) = &self.idle_memory {
            idle.markdown(out, "###");
        }
        if let Some(cold) = &self.cold_start {
            cold.markdown(out, "###");
        }
    }
}
