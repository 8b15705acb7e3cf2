//! The pinned run: the same scenarios with the gateway alone on one CPU and the load generator and
//! the emulator together on another, so the figures measure the gateway rather than its contention
//! with the load for the same cores (the shared run lets the scheduler mix all three).
//!
//! Affinity is inherited at fork, so each child is spawned from a thread briefly confined to the
//! child's CPU and runs there from its first instruction; no child thread ever starts elsewhere.
//! The gateway and the emulator size their tokio runtimes from the CPUs they may use, so each runs
//! one worker thread, as it would in a one-vCPU container. This process moves all of its own
//! threads for the duration of the run and back afterwards.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use serde::Serialize;

use crate::processes::Layout;
use crate::scenario::cold_start::ColdStart;
use crate::scenario::idle::IdleMemory;
use crate::scenario::saturation::Saturation;
use crate::scenario::ttft::Ttft;
use crate::scenario::{self, Profile};

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
        run.cold_start = Some(scenario::cold_start::run(profile, &layout).await?);
    }
    if wanted.ttft {
        run.ttft = Some(scenario::ttft::run(profile, &layout).await?);
    }
    if wanted.saturation {
        run.saturation = Some(scenario::saturation::run(profile, &layout).await?);
    }
    if wanted.idle {
        run.idle_memory = Some(scenario::idle::run(profile, &layout).await?);
    }
    Ok(run)
}

/// The CPUs of the pinned run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cores {
    /// The load generator (this process) and the emulator.
    pub load: usize,
    /// The gateway, alone.
    pub gateway: usize,
}

impl Cores {
    /// The first two CPUs this process may use, or why there are not two.
    pub fn choose() -> Result<Cores, String> {
        let allowed = allowed_cpus().map_err(|err| format!("cannot read this process's CPU affinity: {err}"))?;
        match allowed[..] {
            [load, gateway, ..] => Ok(Cores { load, gateway }),
            _ => Err(format!(
                "skipped: this process may use {} CPU(s) ({allowed:?}); the pinned run needs 2",
                allowed.len()
            )),
        }
    }
}

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> nix::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false)).collect())
}

fn only(cpu: usize) -> nix::Result<CpuSet> {
    let mut set = CpuSet::new();
    set.set(cpu)?;
    Ok(set)
}

/// Every thread of this process confined to one CPU, until dropped.
#[derive(Debug)]
pub struct ProcessPinned {
    original: CpuSet,
}

impl ProcessPinned {
    /// Confines every current thread of this process to `cpu`; threads started later inherit it
    /// from the thread that starts them.
    pub fn to(cpu: usize) -> std::io::Result<ProcessPinned> {
        let original = sched_getaffinity(Pid::from_raw(0)).map_err(std::io::Error::from)?;
        set_every_thread(&only(cpu)?)?;
        Ok(ProcessPinned { original })
    }
}

impl Drop for ProcessPinned {
    fn drop(&mut self) {
        if let Err(err) = set_every_thread(&self.original) {
            eprintln!("pinned run: cannot restore this process's CPU affinity: {err}");
        }
    }
}

fn set_every_thread(set: &CpuSet) -> std::io::Result<()> {
    for entry in std::fs::read_dir("/proc/self/task")? {
        let Some(tid) = entry?.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
        match sched_setaffinity(Pid::from_raw(tid), set) {
            // The thread ended since the directory was read.
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Runs `spawn` on the calling thread confined to `cpu`, so that the process it starts inherits that
/// CPU, and gives the thread its affinity back afterwards. `spawn` must not yield to the async
/// runtime (a synchronous `Command::spawn`), or another task would run on the confined thread.
pub fn on_cpu<T>(cpu: usize, spawn: impl FnOnce() -> T) -> std::io::Result<T> {
    let this_thread = Pid::from_raw(0);
    let before = sched_getaffinity(this_thread)?;
    sched_setaffinity(this_thread, &only(cpu)?)?;
    let result = spawn();
    sched_setaffinity(this_thread, &before)?;
    Ok(result)
}

/// `Cpus_allowed_list` of a process (e.g. `1` or `0-1`), to show the pinning took.
pub fn cpus_allowed(pid: u32) -> std::io::Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(|value| value.trim().to_owned())
        .ok_or_else(|| std::io::Error::other(format!("no Cpus_allowed_list in /proc/{pid}/status")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_child_inherits_the_cpu_and_the_thread_gets_its_own_back() {
        let allowed = allowed_cpus().expect("affinity is readable");
        let cpu = *allowed.last().expect("at least one CPU");
        let mut child = on_cpu(cpu, || std::process::Command::new("sleep").arg("5").spawn())
            .expect("affinity can be set")
            .expect("sleep runs");
        let child_cpus = cpus_allowed(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(child_cpus.expect("/proc is readable"), cpu.to_string());
        assert_eq!(allowed_cpus().expect("affinity is readable"), allowed);
    }
}
