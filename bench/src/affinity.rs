//! CPU affinity, the primitive of the pinned run: which two CPUs it uses, confining this process's
//! threads to one, and starting a child on a given CPU.
//!
//! Affinity is inherited at fork, so each child is spawned from a thread briefly confined to the
//! child's CPU and runs there from its first instruction; no child thread ever starts elsewhere.
//! The gateway and the emulator size their tokio runtimes from the CPUs they may use, so each runs
//! one worker thread, as it would in a one-vCPU container.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use serde::Serialize;

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
