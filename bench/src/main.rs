//! `bench`: what the gateway costs, measured against calling Bedrock directly.
//!
//! It spawns the release `bedrock-emulator` and `bedrock-gateway` binaries as its children (one
//! process tree, so machine noise hits every side alike) and drives every side of each comparison
//! itself: (a) the real `aws-sdk-bedrockruntime` client straight to the emulator, (b) a tonic
//! client through the gateway, and where a scenario compares the gateway's other doors, (c) the
//! same SDK client through its Bedrock-compatible door and (d) a streamed chat completion client
//! through its OpenAI-compatible door (see [`targets`]). It writes `report.json` and `report.md`
//! to `--out`.
//!
//! `--bedrock-http h2` has every emulator serve TLS with ALPN `h2`, as Bedrock does, so the gateway
//! and the direct client multiplex their streams on one connection as in production; `h1` (the
//! default) keeps plain HTTP/1.1.
//!
//! `--pin` adds the pinned run (the gateway alone on one CPU, see [`pinned`]) beside the shared
//! one; `--peer litellm` adds the LiteLLM proxy beside the gateway's OpenAI-compatible door (see
//! [`scenario::peer`]).
//!
//! Network traffic stays on loopback (127.0.0.1; 127.0.0.2 to .4 as the abusers' source addresses
//! and 127.0.1.x as the normal callers' during the connection flood); every loop is bounded in
//! time and count.

mod abusers;
mod affinity;
mod floods;
mod grpc_wire;
mod load;
mod openai;
mod pinned;
mod processes;
mod profile;
mod prometheus;
mod report;
#[cfg(test)]
mod samples;
mod scenario;
mod sdk_h2c;
mod stats;
mod streamed;
mod target_check;
mod targets;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};

use crate::processes::{BedrockHttp, Layout};
use crate::profile::Profile;
use crate::report::{Machine, Report};

/// Benchmarks bedrock-gateway against direct Bedrock (emulator) calls.
#[derive(Debug, Parser)]
#[command(about, args_override_self = true)]
struct Args {
    /// `full` for the published figures (a few minutes), `smoke` to check the bench works (seconds).
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    profile: Mode,
    /// Folder for report.json, report.md and the children's logs.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Folder holding the release `bedrock-gateway` and `bedrock-emulator`; defaults to this
    /// binary's own folder.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Scenarios to run (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Overrides the emulator's gap between tokens in the TTFT scenario (milliseconds), to see how
    /// added TTFT depends on the event rate.
    #[arg(long)]
    token_gap_ms: Option<u64>,
    /// Overrides the emulator's time to first token in the TTFT scenario (milliseconds); 0 avoids
    /// the 1 ms granularity of the emulator's timer in the comparison.
    #[arg(long)]
    ttft_ms: Option<u64>,
    /// Overrides the counts of concurrent maximum-size requests in the memory scenario, to check
    /// the peak at a given `server.max_concurrent_requests`.
    #[arg(long, value_delimiter = ',')]
    memory_requests: Vec<usize>,
    /// Exit non-zero when any stream failed or a scenario produced no data.
    #[arg(long)]
    check: bool,
    /// The pinned run (gateway alone on one CPU, load generator and emulator on another) of the
    /// cold start, TTFT, saturation and idle scenarios: `also` after the shared run (what `--pin`
    /// alone means), `only` instead of it, `off`. The last `--pin` given wins.
    #[arg(long, value_enum, default_value_t = Pin::Off, num_args = 0..=1, default_missing_value = "also")]
    pin: Pin,
    /// Adds a peer proxy to the peer scenario, beside the gateway's OpenAI-compatible door, at 10,
    /// 100 and 1,000 concurrent streams.
    #[arg(long, value_enum)]
    peer: Option<Peer>,
    /// The LiteLLM proxy's console script (`bench/run.sh --peer litellm` installs one).
    #[arg(long, default_value = "litellm")]
    litellm: PathBuf,
    /// Worker processes of the peer proxy (default: one per CPU this process may use).
    #[arg(long)]
    peer_workers: Option<usize>,
    /// How the gateway, the direct client and the peer reach the emulator: `h2` (the default, what
    /// production does) TLS with ALPN h2 as Bedrock serves it, streams multiplexed on one
    /// connection (the peer, LiteLLM, speaks HTTP/1.1 over that TLS); `h1` plain HTTP/1.1, a
    /// connection per concurrent stream, as the bench measured before.
    #[arg(long, value_enum, default_value_t = BedrockHttp::H2)]
    bedrock_http: BedrockHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Pin {
    Off,
    Also,
    Only,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    Litellm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Full,
    Smoke,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    ColdStart,
    Ttft,
    Saturation,
    Idle,
    Abuse,
    Memory,
    Quota,
    /// The OpenAI-compatible comparison: direct, the gateway's gRPC API and OpenAI-compatible
    /// door, and the peer proxy with `--peer`.
    Peer,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(err) => fail(&err.to_string()),
    }
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let limit = processes::raise_fd_limit()?;
    eprintln!("open files limit: {limit}");
    let bin_dir = match args.bin_dir.clone() {
        Some(dir) => dir,
        None => std::env::current_exe()?.parent().map(PathBuf::from).ok_or("cannot locate this binary's folder")?,
    };
    let work_dir = args.out.join("logs");
    std::fs::create_dir_all(&work_dir)?;
    let layout = Layout { bin_dir, work_dir, cores: None, bedrock_http: args.bedrock_http };
    let mut profile = match args.profile {
        Mode::Full => Profile::full(),
        Mode::Smoke => Profile::smoke(),
    };
    if let Some(ttft) = args.ttft_ms {
        profile.ttft_pacing.ttft_ms = ttft;
    }
    if let Some(gap) = args.token_gap_ms {
        profile.ttft_pacing.token_gap_ms = gap;
    }
    if !args.memory_requests.is_empty() {
        profile.memory_requests = args.memory_requests.clone();
    }
    let chosen = |scenario| args.only.is_empty() || args.only.contains(&scenario);
    let wanted = |scenario| args.pin != Pin::Only && chosen(scenario);
    let mut report = Report {
        profile: profile.name,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::describe(),
        git_commit: git_commit(),
        bedrock_http: args.bedrock_http,
        duration_secs: 0.0,
        cold_start: None,
        ttft: None,
        saturation: None,
        idle_memory: None,
        abuse: None,
        request_memory: None,
        quota: None,
        pinned: None,
        peer: None,
        targets: Vec::new(),
    };
    // Cold start first, while the machine is quiet and nothing else is cached.
    if wanted(Scenario::ColdStart) {
        report.cold_start = Some(scenario::cold_start::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Ttft) {
        report.ttft = Some(scenario::ttft::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Saturation) {
        report.saturation = Some(scenario::saturation::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Idle) {
        report.idle_memory = Some(scenario::idle::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Abuse) {
        report.abuse = Some(scenario::abuse::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Memory) {
        report.request_memory = Some(scenario::memory::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Quota) {
        report.quota = Some(scenario::quota::run(&profile, &layout).await?);
    }
    if wanted(Scenario::Peer) {
        let litellm = (args.peer == Some(Peer::Litellm)).then(|| scenario::peer::Litellm {
            script: &args.litellm,
            workers: args.peer_workers.unwrap_or(report.machine.cpus),
        });
        report.peer = Some(scenario::peer::run(&profile, &layout, litellm).await?);
    }
    if args.pin != Pin::Off {
        let wanted = pinned::Wanted {
            cold_start: chosen(Scenario::ColdStart),
            ttft: chosen(Scenario::Ttft),
            saturation: chosen(Scenario::Saturation),
            idle: chosen(Scenario::Idle),
        };
        if wanted.cold_start || wanted.ttft || wanted.saturation || wanted.idle {
            report.pinned = Some(pinned::run(&profile, &layout, wanted).await?);
        }
    }
    report.duration_secs = started.elapsed().as_secs_f64();
    report.check_targets();
    let markdown = report.markdown();
    std::fs::write(args.out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.out.join("report.md"), &markdown)?;
    println!("{markdown}");
    eprintln!("wrote {0}/report.json and {0}/report.md", args.out.display());
    let problems = report.problems();
    if args.check && !problems.is_empty() {
        return Err(format!("the run is not valid: {}", problems.join("; ")).into());
    }
    Ok(ExitCode::SUCCESS)
}

fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
