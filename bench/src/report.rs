//! The report: one JSON file for tools and one Markdown file for people, from the same data, with
//! the machine it ran on and each issue target marked met or missed.

use std::fmt::Write as _;

use serde::Serialize;

use crate::pinned::PinnedRun;
use crate::processes::BedrockHttp;
use crate::scenario::abuse::{Abuse, ConnectionFloodReport};
use crate::scenario::cold_start::ColdStart;
use crate::scenario::idle::IdleMemory;
use crate::scenario::memory::{MemoryRun, MemoryWorstCase};
use crate::scenario::peer::PeerComparison;
use crate::scenario::quota::QuotaCost;
use crate::scenario::saturation::Saturation;
use crate::scenario::ttft::{Ttft, TtftRow};
use crate::targets::STREAM_TIMEOUT;

/// What machine the numbers come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// MemTotal, bytes.
    pub memory_bytes: u64,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the description from /proc.
    pub fn describe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|line| line.starts_with(key))
                .and_then(|line| line.split_once(':'))
                .map(|(_, value)| value.trim().to_owned())
                .unwrap_or_default()
        };
        let memory_kib =
            field(&read("/proc/meminfo"), "MemTotal").trim_end_matches("kB").trim().parse().unwrap_or(0u64);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: field(&cpuinfo, "model name"),
            memory_bytes: memory_kib * 1024,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }
}

/// One issue target and where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is measured.
    pub name: String,
    /// The bound, as text.
    pub target: String,
    /// The measurement, as text.
    pub measured: String,
    /// Whether the bound holds.
    pub met: bool,
    /// Why the measurement cannot be judged, when it cannot (then `met` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_measurable: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `full` or `smoke`.
    pub profile: &'static str,
    /// The command line that produced it.
    pub command: String,
    /// Where it ran.
    pub machine: Machine,
    /// The commit measured, when run from a git checkout.
    pub git_commit: Option<String>,
    /// How the gateway and the direct client reached the emulator: `h1` or `h2`.
    pub bedrock_http: BedrockHttp,
    /// How long the run took, seconds.
    pub duration_secs: f64,
    /// Added time to first token.
    pub ttft: Option<Ttft>,
    /// Throughput at saturation.
    pub saturation: Option<Saturation>,
    /// Memory per idle stream.
    pub idle_memory: Option<IdleMemory>,
    /// Peak memory per maximum-size request.
    pub request_memory: Option<MemoryWorstCase>,
    /// Cold start.
    pub cold_start: Option<ColdStart>,
    /// Normal clients' added TTFT without and with abusers.
    pub abuse: Option<Abuse>,
    /// TTFT without quotas and with quotas on each store.
    pub quota: Option<QuotaCost>,
    /// The pinned run (gateway alone on one CPU), where issue 13's targets are judged.
    pub pinned: Option<PinnedRun>,
    /// The side-by-side comparison with a peer proxy.
    pub peer: Option<PeerComparison>,
    /// The issue's targets.
    pub targets: Vec<TargetCheck>,
}

impl Report {
    /// Fills in `targets` from the measurements.
    pub fn check_targets(&mut self) {
        let mut checks = Vec::new();
        let rows = self.ttft.iter().flat_map(|ttft| &ttft.rows).filter(|row| row.concurrency == 1000);
        for row in rows {
            let load = load_name(row);
            checks.push(added_check(format!("added TTFT p50, {load}"), "≤ 0.2 ms", row.added.p50_ms, 0.2));
            checks.push(added_check(format!("added TTFT p99, {load}"), "≤ 0.5 ms", row.added.p99_ms, 0.5));
        }
        if let Some(per_core) = self
            .saturation
            .iter()
            .flat_map(|s| &s.sides)
            .find_map(|side| side.label.contains("warn").then_some(side.events_per_gateway_core_sec).flatten())
        {
            let met = per_core >= 100_000.0;
            checks.push(TargetCheck {
                name: "stream events relayed per gateway core-second (saturation)".to_owned(),
                target: "≥ 100,000".to_owned(),
                measured: format!("{per_core:.0}"),
                met,
                not_measurable: None,
            });
        }
        if let Some(point) = self.idle_memory.as_ref().and_then(|idle| idle.points.last()) {
            let name = format!("gateway memory per idle stream, {} open", point.streams);
            checks.push(check(name, "≤ 32 KiB", point.bytes_per_stream / 1024.0, 32.0, kib));
        }
        let most = self.request_memory.iter().flat_map(|memory| &memory.runs).map(|run| run.requests).max();
        let accepted_at_most = |run: &&MemoryRun| !run.shape.refused() && Some(run.requests) == most;
        for run in self.request_memory.iter().flat_map(|memory| &memory.runs).filter(accepted_at_most) {
            let name =
                format!("gateway peak memory per byte on the wire, {} max-size requests: {}", run.requests, run.label);
            checks.push(check(name, "≤ 3×", run.peak_per_wire_byte, 3.0, times));
        }
        if let Some(cold) = &self.cold_start {
            let name = "cold start to first answer (median)".to_owned();
            checks.push(check(name, "≤ 100 ms", cold.first_answer_median_ms, 100.0, ms));
        }
        if let Some(abuse) = &self.abuse {
            let name = "normal clients' added TTFT p99 with abuse − without".to_owned();
            checks.push(check(name, "≤ 1 ms", abuse.added_p99_change_ms, 1.0, ms));
            checks.extend(abuse.floods.checks());
            let flood = &abuse.connection_flood;
            checks.push(TargetCheck {
                name: format!(
                    "calls from other addresses served while one address opens {} connections (and reopens them)",
                    flood.connections
                ),
                target: "100 %".to_owned(),
                measured: format!("{:.1} % ({} of {} calls)", flood.served_percent(), flood.served, flood.calls),
                met: flood.calls > 0 && flood.served == flood.calls,
                not_measurable: None,
            });
        }
        if let Some(quota) = &self.quota {
            let change = &quota.redis_store_change;
            let (low, high) = spread(&change.rounds_p99_ms);
            let check_p99 = quota.redis_store.check_duration.p99_ms;
            checks.push(TargetCheck {
                name: format!(
                    "time a Redis quota check adds before Bedrock is called, p99 (gateway histogram), closed loop, {} concurrent",
                    quota.concurrency
                ),
                target: "≤ 0.3 ms".to_owned(),
                measured: format!(
                    "{} (TTFT p99 Redis − no quotas {:+.3} ms, rounds {low:+.3} to {high:+.3} ms)",
                    check_p99.map_or("no checks".to_owned(), |p99| format!("{p99:.3} ms")),
                    change.p99_ms
                ),
                met: check_p99.is_some_and(|p99| p99 <= 0.3),
                not_measurable: None,
            });
            let change = &quota.redis_no_prefetch_change;
            let check_p99 = quota.redis_no_prefetch.check_duration.p99_ms;
            checks.push(TargetCheck {
                name: format!(
                    "time a Redis quota check without prefetch (a round trip each) adds before Bedrock is called, p99 \
                     (gateway histogram), closed loop, {} concurrent",
                    quota.concurrency
                ),
                target: "≤ 0.3 ms".to_owned(),
                measured: format!(
                    "{} (TTFT Redis without prefetch − no quotas: p50 {:+.3} ms, p99 {:+.3} ms)",
                    check_p99.map_or("no checks".to_owned(), |p99| format!("{p99:.3} ms")),
                    change.p50_ms,
                    change.p99_ms
                ),
                met: check_p99.is_some_and(|p99| p99 <= 0.3),
                not_measurable: None,
            });
        }
        if let Some(pinned) = &self.pinned {
            checks.extend(pinned_checks(pinned));
        }
        self.targets = checks;
    }

    /// Problems that make the run invalid (failed streams, missing data); empty when sane.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = load_problems("", self.ttft.as_ref(), self.saturation.as_ref(), self.idle_memory.as_ref());
        if let Some(pinned) = &self.pinned {
            let (ttft, saturation, idle) =
                (pinned.ttft.as_ref(), pinned.saturation.as_ref(), pinned.idle_memory.as_ref());
            problems.extend(load_problems("pinned ", ttft, saturation, idle));
        }
        if let Some(abuse) = &self.abuse {
            for (condition, side, stats) in [
                ("without abuse", "direct", &abuse.without_abuse.direct),
                ("without abuse", "via gateway", &abuse.without_abuse.gateway),
                ("with abuse", "direct", &abuse.with_abuse.direct),
                ("with abuse", "via gateway", &abuse.with_abuse.gateway),
            ] {
                if stats.errors > 0 || stats.streams == 0 {
                    problems.push(format!(
                        "abuse, {condition}, {side}: {} normal streams, {} errors ({})",
                        stats.streams,
                        stats.errors,
                        stats.first_error.as_deref().unwrap_or("-")
                    ));
                }
            }
            for abuser in abuse.abusers.iter().filter(|abuser| abuser.seen.opened == 0) {
                problems.push(format!("abuse: the {} clients opened no call", abuser.kind));
            }
            let flood = &abuse.connection_flood;
            if flood.flood.opened == 0 || flood.calls == 0 {
                problems.push(format!(
                    "abuse: the connection flood opened {} connections and the normal callers made {} calls",
                    flood.flood.opened, flood.calls
                ));
            }
        }
        problems.extend(self.abuse.iter().flat_map(|abuse| abuse.floods.problems()));
        problems.extend(self.quota.iter().flat_map(QuotaCost::problems));
        problems.extend(self.peer.iter().flat_map(PeerComparison::problems));
        for run in self.request_memory.iter().flat_map(|memory| &memory.runs).filter(|run| !run.as_expected()) {
            problems.push(format!(
                "memory {}: {} answered, {} refused, {} failed of {} ({})",
                run.label,
                run.answered,
                run.refused,
                run.failed,
                run.requests,
                run.first_error.as_deref().unwrap_or("-")
            ));
        }
        problems
    }

    /// The Markdown rendering.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "# bedrock-gateway benchmark ({} run)\n", self.profile);
        let _ = writeln!(
            out,
            "Machine: {} CPUs, {}, {:.1} GiB RAM, Linux {}. Commit: {}. Run took {:.0} s.\n",
            m.cpus,
            m.cpu_model,
            m.memory_bytes as f64 / (1u64 << 30) as f64,
            m.kernel,
            self.git_commit.as_deref().unwrap_or("unknown"),
            self.duration_secs
        );
        let _ = writeln!(out, "Command: `{}`\n", self.command);
        let _ = write!(out, "Bedrock (the emulator) reached over {}.", self.bedrock_http.describe());
        if self.peer.is_some() && self.bedrock_http == BedrockHttp::H2 {
            out.push_str(" LiteLLM's HTTP client (aiohttp) speaks HTTP/1.1 over that TLS.");
        }
        out.push_str("\n\n");
        if !self.targets.is_empty() {
            let _ = writeln!(out, "## Targets\n\n| target | bound | measured | |\n|---|---|---|---|");
            for t in &self.targets {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    t.name,
                    t.target,
                    t.measured,
                    match (&t.not_measurable, t.met) {
                        (Some(_), _) => "not measurable",
                        (None, true) => "met",
                        (None, false) => "**missed**",
                    }
                );
            }
            out.push('\n');
        }
        load_markdown(&mut out, "##", self.ttft.as_ref(), self.saturation.as_ref(), self.idle_memory.as_ref());
        if let Some(memory) = &self.request_memory {
            request_memory_markdown(&mut out, memory);
        }
        if let Some(cold) = &self.cold_start {
            cold_start_markdown(&mut out, "##", cold);
        }
        if let Some(abuse) = &self.abuse {
            abuse_markdown(&mut out, abuse);
            abuse.floods.markdown(&mut out);
        }
        if let Some(quota) = &self.quota {
            quota_markdown(&mut out, quota);
        }
        if let Some(peer) = &self.peer {
            peer_markdown(&mut out, peer);
        }
        if let Some(pinned) = &self.pinned {
            pinned_markdown(&mut out, pinned);
        }
        let problems = self.problems();
        if !problems.is_empty() {
            let _ = writeln!(out, "## Problems\n");
            for problem in problems {
                let _ = writeln!(out, "- {problem}");
            }
        }
        out
    }
}

/// Issue 13's targets, judged on the pinned run.
fn pinned_checks(pinned: &PinnedRun) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    for row in pinned.ttft.iter().flat_map(|ttft| &ttft.rows).filter(|row| row.concurrency == 1000) {
        let load = load_name(row);
        checks.push(added_check(format!("pinned: added TTFT p50, {load}"), "≤ 0.2 ms", row.added.p50_ms, 0.2));
        checks.push(added_check(format!("pinned: added TTFT p99, {load}"), "≤ 0.5 ms", row.added.p99_ms, 0.5));
        let name = format!("pinned: gateway CPU per relayed (paced) event, {load}");
        let mut cpu = check(name, "≤ 5 µs", row.gateway_cpu_us_per_event, 5.0, micros);
        cpu.measured += &format!(" (the SDK client alone: {})", micros(row.direct_client_cpu_us_per_event));
        checks.push(cpu);
    }
    let sides = pinned.saturation.iter().flat_map(|s| &s.sides);
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
    if let Some(point) = pinned.idle_memory.as_ref().and_then(|idle| idle.points.last()) {
        let name = format!("pinned: gateway memory per idle stream, {} open", point.streams);
        checks.push(check(name, "≤ 16 KiB", point.bytes_per_stream / 1024.0, 16.0, kib));
    }
    if let Some(cold) = &pinned.cold_start {
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

/// The TTFT, saturation and idle sections of one run, under headings of level `heading`.
fn load_markdown(
    out: &mut String,
    heading: &str,
    ttft: Option<&Ttft>,
    saturation: Option<&Saturation>,
    idle: Option<&IdleMemory>,
) {
    if let Some(ttft) = ttft {
        ttft_markdown(out, heading, ttft);
    }
    if let Some(saturation) = saturation {
        saturation_markdown(out, heading, saturation);
    }
    if let Some(idle) = idle {
        idle_markdown(out, heading, idle);
    }
}

fn pinned_markdown(out: &mut String, pinned: &PinnedRun) {
    let _ = writeln!(out, "## Pinned run\n");
    let Some(cores) = pinned.cores else {
        let _ = writeln!(out, "{}\n", pinned.skipped.as_deref().unwrap_or("skipped"));
        return;
    };
    let _ = writeln!(
        out,
        "The gateway alone on CPU {}, the load generator (this process, both sides' clients) and the emulator on CPU {}; \
         the gateway and the emulator each run one tokio worker thread, as on one vCPU. Issue 13's targets are judged \
         on this run.\n",
        cores.gateway, cores.load
    );
    if let Some(ttft) = &pinned.ttft {
        let _ = writeln!(
            out,
            "Where the processes ran (`Cpus_allowed_list`): gateway {}, emulator {}.\n",
            ttft.gateway_cpus, ttft.emulator_cpus
        );
    }
    load_markdown(out, "###", pinned.ttft.as_ref(), pinned.saturation.as_ref(), pinned.idle_memory.as_ref());
    if let Some(cold) = &pinned.cold_start {
        cold_start_markdown(out, "###", cold);
    }
}

fn ttft_markdown(out: &mut String, heading: &str, ttft: &Ttft) {
    let _ = writeln!(
        out,
        "{heading} Time to first token\n\nEmulator: {} ms to first token, {} ms between tokens. Added = via gateway - direct \
         at the same percentile. Open loop measures from each stream's intended start. Gateway CPU per event = its CPU \
         time during the via-gateway rounds ÷ the stream events they relayed. SDK client CPU per event = the load \
         generator's CPU time during the direct rounds ÷ their events: the real SDK client alone, which the gateway's \
         own SDK client pays too (with the load generator's bookkeeping, so an upper bound).\n\n\
         | load | added p50 | added p90 | added p99 | added max | gateway CPU s / 1k streams | gateway CPU µs / event | SDK client CPU µs / event |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|",
        ttft.emulator_ttft_ms, ttft.emulator_token_gap_ms
    );
    for row in &ttft.rows {
        let a = &row.added;
        let _ = writeln!(
            out,
            "| {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} | {:.1} | {:.1} |",
            load_name(row),
            a.p50_ms,
            a.p90_ms,
            a.p99_ms,
            a.max_ms,
            row.gateway_cpu_per_1000_streams,
            row.gateway_cpu_us_per_event,
            row.direct_client_cpu_us_per_event
        );
    }
    let _ = writeln!(
        out,
        "\nRaw distributions:\n\n| load | side | streams | streams/s | p50 | p90 | p99 | max |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for row in &ttft.rows {
        for (side, s) in [("direct", &row.direct), ("via gateway", &row.gateway)] {
            let t = &s.ttft;
            let _ = writeln!(
                out,
                "| {} | {side} | {} | {:.0} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
                load_name(row),
                s.streams,
                s.streams_per_sec,
                t.p50_ms,
                t.p90_ms,
                t.p99_ms,
                t.max_ms
            );
        }
    }
    out.push('\n');
}

fn idle_markdown(out: &mut String, heading: &str, idle: &IdleMemory) {
    let _ = writeln!(
        out,
        "{heading} Gateway memory with idle streams\n\nBaseline RSS after warm-up: {:.1} MiB.\n\n\
         | idle streams | gateway RSS | bytes per stream | emulator RSS |\n|---:|---:|---:|---:|",
        mib(idle.baseline_rss_bytes)
    );
    for p in &idle.points {
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

fn cold_start_markdown(out: &mut String, heading: &str, cold: &ColdStart) {
    let _ = writeln!(
        out,
        "{heading} Cold start ({} runs)\n\n| from spawn to | median | max |\n|---|---:|---:|\n\
         | accepting connections | {:.1} ms | {:.1} ms |\n| first complete answer | {:.1} ms | {:.1} ms |\n",
        cold.runs,
        cold.listening_median_ms,
        cold.listening_max_ms,
        cold.first_answer_median_ms,
        cold.first_answer_max_ms
    );
}

fn peer_markdown(out: &mut String, peer: &PeerComparison) {
    let _ = writeln!(
        out,
        "## Side by side with {name}\n\n{name} {} (`--num_workers {}`, ready {:.1} s after spawn) through its Bedrock \
         Converse provider, bedrock-gateway and the SDK (direct), all against the same emulator ({} ms to first token, \
         {} ms between tokens), the same prompt and answer length; closed loop, rounds alternating between the three \
         sides ({} measured rounds per side, {} s each). {name} is called as an OpenAI-compatible streamed chat \
         completion, the gateway over gRPC; every side is timed to its first text delta. Added = side − direct at the \
         same percentile; server CPU = the server's CPU time (for {name} its whole process tree) ÷ its streams. Streams \
         and errors count those started in the measured windows; \"all\" adds those started during ramp-ups (a side \
         slower than the window has only these).\n\n\
         | concurrent | side | streams | errors | streams, all | errors, all | streams/s | TTFT p50 | TTFT p99 | added p50 | added p99 | server CPU ms / stream | server cores busy |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        peer.peer_version,
        peer.peer_workers,
        peer.peer_ready_secs,
        peer.emulator_ttft_ms,
        peer.emulator_token_gap_ms,
        peer.rounds,
        peer.round_secs.iter().map(|secs| format!("{secs:.1}")).collect::<Vec<_>>().join(" / "),
        name = peer.peer
    );
    let mut failures = Vec::new();
    for row in &peer.rows {
        let d = &row.direct;
        let _ = writeln!(
            out,
            "| {} | direct | {} | {} | - | - | {:.0} | {:.3} ms | {:.3} ms | - | - | - | - |",
            row.concurrency, d.streams, d.errors, d.streams_per_sec, d.ttft.p50_ms, d.ttft.p99_ms
        );
        for (name, side) in [("bedrock-gateway", &row.gateway), (peer.peer.as_str(), &row.peer)] {
            let s = &side.stats;
            // Without a measured stream there is no distribution to show.
            let measured = |value: f64| if s.streams > 0 { format!("{value:.3} ms") } else { "-".to_owned() };
            let _ = writeln!(
                out,
                "| {} | {name} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.2} |",
                row.concurrency,
                s.streams,
                s.errors,
                side.streams_with_ramp_up,
                side.errors_with_ramp_up,
                s.streams_per_sec,
                measured(s.ttft.p50_ms),
                measured(s.ttft.p99_ms),
                measured(side.added.p50_ms),
                measured(side.added.p99_ms),
                side.server_cpu_ms_per_stream.map_or("-".to_owned(), |cpu| format!("{cpu:.3}")),
                side.server_cores
            );
            if let Some(error) = &s.first_error {
                let errors = side.errors_with_ramp_up;
                failures.push(format!("{name} at {} concurrent, first of {errors}: {error}", row.concurrency));
            }
        }
    }
    out.push('\n');
    if !failures.is_empty() {
        let _ = writeln!(out, "Failed or timed-out streams ({} s per stream at most):\n", STREAM_TIMEOUT.as_secs());
        for failure in failures {
            let _ = writeln!(out, "- {failure}");
        }
        out.push('\n');
    }
}

fn saturation_markdown(out: &mut String, heading: &str, saturation: &Saturation) {
    let _ = writeln!(
        out,
        "{heading} Saturation (emulator without delay)\n\nClosed loop, {} workers, {} tokens per answer. CPU columns are CPU \
         seconds per 1,000 streams. On the direct side, events per load generator core-s is the real SDK client \
         alone: the most events a core can take through it, a ceiling for any relay built on it.\n\n\
         | side | streams/s | events/s | TTFT p50 | TTFT p99 | gateway cores busy | events per gateway core-s | gateway CPU | emulator CPU | load generator CPU | events per load generator core-s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        saturation.workers, saturation.tokens_per_stream
    );
    let opt = |value: Option<f64>, digits: usize| value.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    for side in &saturation.sides {
        let s = &side.stats;
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.3} ms | {:.3} ms | {} | {} | {} | {:.3} | {:.3} | {:.0} |",
            side.label,
            s.streams_per_sec,
            s.events_per_sec,
            s.ttft.p50_ms,
            s.ttft.p99_ms,
            opt(side.gateway_cores, 2),
            opt(side.events_per_gateway_core_sec, 0),
            opt(side.gateway_cpu_per_1000_streams, 3),
            side.emulator_cpu_per_1000_streams,
            side.loadgen_cpu_per_1000_streams,
            side.events_per_loadgen_core_sec
        );
    }
    out.push('\n');
}

fn abuse_markdown(out: &mut String, abuse: &Abuse) {
    let _ = writeln!(
        out,
        "## Abuse\n\nNormal clients: closed loop, {} concurrent, {} tokens per stream (emulator {} ms to first token, \
         {} ms between tokens), {} measured rounds per condition, alternating without and with abuse. Gateway: \
         `request_receive_timeout_secs = {}`, `client_stall_timeout_secs = {}`, `max_concurrent_requests_per_caller = {}`, \
         `http2_max_concurrent_streams = {}`. Added = via gateway - direct, each condition on its own.\n\n\
         | normal clients | added p50 | added p90 | added p99 | direct p99 | via gateway p99 | streams via gateway | errors | gateway CPU s / 1k streams | gateway cores | gateway cores in direct rounds | load generator cores |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        abuse.concurrency,
        abuse.tokens_per_stream,
        abuse.emulator_ttft_ms,
        abuse.emulator_token_gap_ms,
        abuse.rounds,
        abuse.request_receive_timeout_secs,
        abuse.client_stall_timeout_secs,
        abuse.max_concurrent_requests_per_caller,
        abuse.http2_max_concurrent_streams
    );
    for (name, c) in [("without abuse", &abuse.without_abuse), ("with abuse", &abuse.with_abuse)] {
        let _ = writeln!(
            out,
            "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} | {:.3} | {:.2} | {:.2} | {:.2} |",
            c.added.p50_ms,
            c.added.p90_ms,
            c.added.p99_ms,
            c.direct.ttft.p99_ms,
            c.gateway.ttft.p99_ms,
            c.gateway.streams,
            c.direct.errors + c.gateway.errors,
            c.gateway_cpu_per_1000_streams,
            c.gateway_cores,
            c.gateway_cores_in_direct_rounds,
            c.load_generator_cores
        );
    }
    let _ = writeln!(
        out,
        "\nChange with abuse: added p50 {:+.3} ms, added p99 {:+.3} ms.\n\n\
         | abuser | from | clients | connections | calls opened | refused, by status | streams held | reset after hold | failures |\n\
         |---|---|---:|---:|---:|---|---:|---:|---:|",
        abuse.added_p50_change_ms, abuse.added_p99_change_ms
    );
    for a in &abuse.abusers {
        let refused =
            a.seen.refused.iter().map(|(code, count)| format!("{code} {count}")).collect::<Vec<_>>().join(", ");
        let held = a.hold_ms.map_or("-".to_owned(), |hold| format!("{} ({hold} ms each)", a.seen.streaming));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            a.kind,
            a.source,
            a.clients,
            a.connections,
            a.seen.opened,
            if refused.is_empty() { "-".to_owned() } else { refused },
            held,
            a.seen.reset_after_hold,
            a.seen.failures
        );
    }
    let g = &abuse.gateway_counts;
    let rejections =
        g.rejections.iter().map(|(reason, count)| format!("{reason} {count}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "\nThe gateway's own counts (`/metrics`) over the abused rounds: refusals by reason: {rejections}; streams ended \
         because their client took nothing for {} s: {}; streams whose client left first: {}.\n",
        abuse.client_stall_timeout_secs, g.streams_ended_client_stalled, g.streams_cancelled_by_client
    );
    connection_flood_markdown(out, &abuse.connection_flood);
}

fn connection_flood_markdown(out: &mut String, f: &ConnectionFloodReport) {
    let rejections =
        f.rejections.iter().map(|(reason, count)| format!("{reason} {count}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "### One-source connection flood\n\n{} opens {} connections (spread over {} ms; each sends the HTTP/2 \
         preface, then nothing) and reopens each the gateway closes after {} ms, for {:.1} s; meanwhile {} normal \
         callers, each from its own address, make call after call, each on a fresh connection. A gateway of its own: \
         `max_connections = {}`, `max_connections_per_address = {}` (set, as the bench connects without the PROXY \
         protocol; with it the default is 1% of `max_connections`, at least 100). Open files limit {}.\n\n\
         | normal calls | served | first failure | connect + call p50 | p99 | max |\n|---:|---:|---|---:|---:|---:|\n\
         | {} | {} ({:.1} %) | {} | {:.1} ms | {:.1} ms | {:.1} ms |\n\n\
         The flood opened {} connections, {} closed by the gateway, {} failed to connect{}; when the callers started it held \
         {} open and the gateway counted {:.0} open connections. Refusals the gateway counted: {}; its log lines about \
         refused connections: {}.\n",
        f.source,
        f.connections,
        f.ramp_ms,
        f.refill_pause_ms,
        f.duration_secs,
        f.callers,
        f.max_connections,
        f.max_connections_per_address,
        f.open_files_limit,
        f.calls,
        f.served,
        f.served_percent(),
        f.first_failure.as_deref().unwrap_or("-"),
        f.call_ms.p50_ms,
        f.call_ms.p99_ms,
        f.call_ms.max_ms,
        f.flood.opened,
        f.flood.closed_by_gateway,
        f.flood.connect_failures,
        f.flood.first_failure.as_deref().map(|err| format!(" (first: {err})")).unwrap_or_default(),
        f.flood_open_at_callers_start,
        f.gateway_connections_open,
        if rejections.is_empty() { "none".to_owned() } else { rejections },
        f.refusal_log_lines
    );
}

fn quota_markdown(out: &mut String, quota: &QuotaCost) {
    let l = &quota.limits;
    let _ = writeln!(
        out,
        "## Cost of a quota check\n\nClosed loop, {} concurrent, {} tokens per stream (emulator {} ms to first token, \
         {} ms between tokens), {} measured rounds of {:.1} s per side, in the order direct, no quotas, in-process, Redis, \
         Redis without prefetch and back. One gateway per condition, every request with the tenant's API key; the quota \
         conditions set `requests_per_minute = {}`, `tokens_per_minute = {}`, `concurrent_requests = {}` on the tenant \
         and on the model (six limits per check, none ever reached). Redis: a local `redis-server` on loopback; without \
         prefetch (`quotas.redis.prefetch_percent = 0`) every check is a round trip to it. Change = TTFT of the \
         condition − TTFT with no quotas (the direct side cancels out).\n\n\
         | condition | TTFT p50 | TTFT p99 | added p50 | added p99 | change p50 | change p99 | streams | errors | gateway CPU s / 1k streams | Redis CPU s / 1k streams | quota checks | check p50 | check p99 | decided by |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
        quota.concurrency,
        quota.tokens_per_stream,
        quota.emulator_ttft_ms,
        quota.emulator_token_gap_ms,
        quota.rounds,
        quota.round_secs,
        l.requests_per_minute,
        l.tokens_per_minute,
        l.concurrent_requests
    );
    let d = &quota.direct;
    let _ = writeln!(
        out,
        "| direct | {:.3} ms | {:.3} ms | - | - | - | - | {} | {} | - | - | - | - | - | - |",
        d.ttft.p50_ms, d.ttft.p99_ms, d.streams, d.errors
    );
    for (c, change) in quota.conditions().into_iter().zip(quota.changes()) {
        let checks = c.quota_checks.iter().filter(|(_, count)| **count > 0);
        let checks = checks.map(|(result, count)| format!("{result} {count}")).collect::<Vec<_>>().join(", ");
        let duration = &c.check_duration;
        let quantile = |value: Option<f64>| value.map_or("-".to_owned(), |ms| format!("{ms:.4} ms"));
        let deciders = duration.decided_by.iter().filter(|(_, count)| **count > 0);
        let deciders = deciders.map(|(decider, count)| format!("{decider} {count}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "| {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {} |",
            c.name,
            c.gateway.ttft.p50_ms,
            c.gateway.ttft.p99_ms,
            c.added.p50_ms,
            c.added.p99_ms,
            change.map_or("-".to_owned(), |change| format!("{:+.3} ms", change.p50_ms)),
            change.map_or("-".to_owned(), |change| format!("{:+.3} ms", change.p99_ms)),
            c.gateway.streams,
            c.gateway.errors,
            c.gateway_cpu_per_1000_streams,
            c.redis_cpu_per_1000_streams,
            if checks.is_empty() { "-".to_owned() } else { checks },
            quantile(duration.p50_ms),
            quantile(duration.p99_ms),
            if deciders.is_empty() { "-".to_owned() } else { deciders }
        );
    }
    let rounds = |values: &[f64]| values.iter().map(|value| format!("{value:+.3}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "\nChange in each round (ms), its spread being this run's noise:\n\n| condition | p50 by round | p99 by round |\n|---|---|---|"
    );
    for (name, change) in [
        ("in-process", &quota.memory_store_change),
        ("Redis", &quota.redis_store_change),
        ("Redis, no prefetch", &quota.redis_no_prefetch_change),
    ] {
        let _ = writeln!(out, "| {name} | {} | {} |", rounds(&change.rounds_p50_ms), rounds(&change.rounds_p99_ms));
    }
    let _ = writeln!(
        out,
        "\nRedis ran the quota script {} times over both Redis conditions (takes, top-ups and give-backs, warm-up \
         included), {:.1} µs each in Redis itself (`INFO commandstats`). Check p50/p99: the gateway's `bedrock_gateway_quota_check_duration_seconds`, \
         interpolated within its buckets as `histogram_quantile` does; decided by: its `decided_by` counts.\n",
        quota.redis_script_calls, quota.redis_script_usec_per_call
    );
}

fn request_memory_markdown(out: &mut String, memory: &MemoryWorstCase) {
    let _ = writeln!(
        out,
        "## Gateway memory per maximum-size request\n\nN concurrent requests of at most {} bytes each, on a model whose \
         Bedrock stream stays open, each through its own connection and a fresh gateway per shape and N. Peak = `VmHWM` \
         once every request was answered (or refused); per wire byte = (peak - baseline) / (N × wire bytes); settled = \
         RSS 1 s later, the streams still open. N = 1 shows one request's transient peak (decoding, conversion and JSON \
         serialization are synchronous, so they run at most one per worker thread at a time); the largest N shows what \
         each request costs while it is received and sent to Bedrock.\n\n\
         | shape | N | wire bytes per request | baseline RSS | peak RSS | polled peak | settled RSS | peak per wire byte | outcome |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|",
        memory.max_request_bytes
    );
    for run in &memory.runs {
        let outcome =
            if run.shape.refused() { format!("{} refused", run.refused) } else { format!("{} answered", run.answered) };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2}× | {}{} |",
            run.label,
            run.requests,
            run.wire_bytes_per_request,
            mib(run.baseline_rss_bytes),
            mib(run.peak_rss_bytes),
            mib(run.polled_peak_rss_bytes),
            mib(run.settled_rss_bytes),
            run.peak_per_wire_byte,
            outcome,
            if run.failed > 0 { format!(", {} failed", run.failed) } else { String::new() }
        );
    }
    out.push('\n');
}

/// Failed streams of the TTFT, saturation and idle scenarios of one run (`run` names it).
fn load_problems(
    run: &str,
    ttft: Option<&Ttft>,
    saturation: Option<&Saturation>,
    idle: Option<&IdleMemory>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for row in ttft.iter().flat_map(|ttft| &ttft.rows) {
        for (side, stats) in [("direct", &row.direct), ("via gateway", &row.gateway)] {
            if stats.errors > 0 || stats.streams == 0 {
                problems.push(format!(
                    "{run}ttft {}: {side}: {} streams, {} errors ({})",
                    load_name(row),
                    stats.streams,
                    stats.errors,
                    stats.first_error.as_deref().unwrap_or("-")
                ));
            }
        }
    }
    for side in saturation.iter().flat_map(|s| &s.sides) {
        if side.stats.errors > 0 || side.stats.streams == 0 {
            problems.push(format!(
                "{run}saturation {}: {} streams, {} errors ({})",
                side.label,
                side.stats.streams,
                side.stats.errors,
                side.stats.first_error.as_deref().unwrap_or("-")
            ));
        }
    }
    if let Some(idle) = idle
        && idle.failed > 0
    {
        problems.push(format!(
            "{run}idle: {} streams failed ({})",
            idle.failed,
            idle.first_error.as_deref().unwrap_or("-")
        ));
    }
    problems
}

fn load_name(row: &TtftRow) -> String {
    match row.rate_per_sec {
        Some(rate) => format!("open loop {rate:.0}/s (~{} concurrent)", row.concurrency),
        None => format!("closed loop, {} concurrent", row.concurrency),
    }
}

/// The lowest and highest of `values` (0 and 0 when empty).
fn spread(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().reduce(f64::min).unwrap_or_default();
    let high = values.iter().copied().reduce(f64::max).unwrap_or_default();
    (low, high)
}

fn check(name: String, target: &str, value: f64, bound: f64, unit: fn(f64) -> String) -> TargetCheck {
    TargetCheck { name, target: target.to_owned(), measured: unit(value), met: value <= bound, not_measurable: None }
}

/// An added-TTFT check. The gateway side cannot be faster than the direct SDK it wraps by more than
/// noise: when it seems faster by more than the bound itself, the two sides did not run under the
/// same conditions (the load CPU saturated, or the machine was disturbed), and the figure judges
/// nothing.
fn added_check(name: String, target: &str, added_ms: f64, bound_ms: f64) -> TargetCheck {
    let mut check = check(name, target, added_ms, bound_ms, ms);
    if added_ms < -bound_ms {
        check.met = false;
        check.not_measurable = Some(
            "the direct side was slower than the gateway's, so the two sides ran under different conditions".to_owned(),
        );
    }
    check
}

fn ms(value: f64) -> String {
    format!("{value:.3} ms")
}

fn times(value: f64) -> String {
    format!("{value:.2}×")
}

fn micros(value: f64) -> String {
    format!("{value:.1} µs")
}

fn kib(value: f64) -> String {
    format!("{value:.1} KiB")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::affinity::Cores;
    use crate::scenario::SideStats;
    use crate::scenario::peer::{PeerRow, ServerSide};
    use crate::scenario::saturation::SaturationSide;
    use crate::stats::{Added, Summary};

    fn stats(streams: u64, errors: u64, p50_ms: f64, first_error: Option<&str>) -> SideStats {
        SideStats {
            ttft: Summary {
                count: streams,
                p50_ms,
                p90_ms: p50_ms + 1.0,
                p99_ms: p50_ms + 2.0,
                max_ms: p50_ms + 3.0,
                mean_ms: p50_ms,
            },
            streams,
            events: streams * 44,
            errors,
            first_error: first_error.map(str::to_owned),
            streams_per_sec: streams as f64 / 15.0,
            events_per_sec: (streams * 44) as f64 / 15.0,
        }
    }

    fn added(p50_ms: f64, p99_ms: f64) -> Added {
        Added { p50_ms, p90_ms: p50_ms, p99_ms, max_ms: p99_ms }
    }

    fn report() -> Report {
        Report {
            profile: "full",
            command: "bench".to_owned(),
            machine: Machine { cpus: 2, cpu_model: "test".to_owned(), memory_bytes: 1 << 30, kernel: "6".to_owned() },
            git_commit: None,
            bedrock_http: BedrockHttp::H1,
            duration_secs: 1.0,
            ttft: None,
            saturation: None,
            idle_memory: None,
            request_memory: None,
            cold_start: None,
            abuse: None,
            quota: None,
            pinned: None,
            peer: None,
            targets: Vec::new(),
        }
    }

    fn ttft_row(concurrency: usize, cpu_us_per_event: f64) -> TtftRow {
        TtftRow {
            mode: "closed",
            concurrency,
            rate_per_sec: None,
            tokens_per_stream: 40,
            direct: stats(9000, 0, 21.4, None),
            gateway: stats(9000, 0, 21.5, None),
            added: added(0.1, 0.4),
            gateway_cpu_per_1000_streams: 0.2,
            gateway_cpu_us_per_event: cpu_us_per_event,
            direct_client_cpu_us_per_event: 3.5,
        }
    }

    #[test]
    fn the_peer_section_shows_every_side_and_the_peers_failures_without_failing_the_run() {
        let server = |stats: SideStats, p50_ms, cpu_ms| ServerSide {
            added: added(p50_ms, p50_ms * 3.0),
            streams_with_ramp_up: stats.streams + 10,
            errors_with_ramp_up: stats.errors,
            stats,
            server_cpu_ms_per_stream: cpu_ms,
            server_cores: 0.8,
        };
        let mut report = report();
        report.bedrock_http = BedrockHttp::H2;
        report.peer = Some(PeerComparison {
            peer: "LiteLLM".to_owned(),
            peer_version: "1.80.17".to_owned(),
            peer_workers: 2,
            peer_ready_secs: 9.5,
            emulator_ttft_ms: 20,
            emulator_token_gap_ms: 25,
            rounds: 3,
            round_secs: vec![5.0, 5.0],
            rows: vec![
                PeerRow {
                    concurrency: 10,
                    tokens_per_stream: 40,
                    direct: stats(150, 0, 21.4, None),
                    gateway: server(stats(150, 0, 21.6, None), 0.2, Some(0.9)),
                    peer: server(stats(149, 0, 35.0, None), 13.6, Some(41.0)),
                },
                PeerRow {
                    concurrency: 1000,
                    tokens_per_stream: 40,
                    direct: stats(15000, 0, 21.4, None),
                    gateway: server(stats(14990, 0, 22.4, None), 1.0, Some(0.8)),
                    peer: server(stats(900, 120, 2500.0, Some("stream did not finish within 30s")), 2478.6, Some(60.0)),
                },
                PeerRow {
                    concurrency: 2000,
                    tokens_per_stream: 40,
                    direct: stats(15000, 0, 21.4, None),
                    gateway: server(stats(14990, 0, 22.4, None), 1.0, Some(0.8)),
                    peer: ServerSide {
                        streams_with_ramp_up: 0,
                        errors_with_ramp_up: 2000,
                        server_cpu_ms_per_stream: None,
                        ..server(stats(0, 0, 0.0, Some("HTTP 400 Bad Request: x")), -21.4, None)
                    },
                },
            ],
        });
        let markdown = report.markdown();
        assert!(markdown.contains("## Side by side with LiteLLM"), "{markdown}");
        assert!(markdown.contains("LiteLLM 1.80.17 (`--num_workers 2`"), "{markdown}");
        assert!(
            markdown.contains("(ALPN h2), as Bedrock. LiteLLM's HTTP client (aiohttp) speaks HTTP/1.1"),
            "{markdown}"
        );
        for line in [
            "| 10 | direct | 150 | 0 | - | - | 10 | 21.400 ms | 23.400 ms | - | - | - | - |",
            "| 10 | bedrock-gateway | 150 | 0 | 160 | 0 | 10 | 21.600 ms | 23.600 ms | 0.200 ms | 0.600 ms | 0.900 | 0.80 |",
            "| 1000 | LiteLLM | 900 | 120 | 910 | 120 | 60 | 2500.000 ms |",
            "- LiteLLM at 1000 concurrent, first of 120: stream did not finish within 30s",
            "| 2000 | LiteLLM | 0 | 0 | 0 | 2000 | 0 | - | - | - | - | - | 0.80 |",
            "- LiteLLM at 2000 concurrent, first of 2000: HTTP 400 Bad Request: x",
        ] {
            assert!(markdown.contains(line), "{line}\n{markdown}");
        }
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["peer"]["rows"][1]["peer"]["stats"]["errors"], 120);
        assert_eq!(json["peer"]["rows"][0]["gateway"]["server_cpu_ms_per_stream"], 0.9);
    }

    #[test]
    fn the_report_says_how_bedrock_was_reached() {
        let mut report = report();
        assert!(report.markdown().contains("\n\nBedrock (the emulator) reached over HTTP/1.1 over plain TCP.\n\n"));
        assert_eq!(serde_json::to_value(&report).unwrap()["bedrock_http"], "h1");
        report.bedrock_http = BedrockHttp::H2;
        let markdown = report.markdown();
        assert!(markdown.contains("reached over HTTP/2 over TLS (ALPN h2), as Bedrock.\n\n"), "{markdown}");
        assert!(!markdown.contains("LiteLLM"), "{markdown}");
        assert_eq!(serde_json::to_value(&report).unwrap()["bedrock_http"], "h2");
    }

    #[test]
    fn a_gateway_faster_than_direct_by_more_than_the_bound_is_not_measurable_rather_than_met() {
        let mut report = report();
        let mut disturbed = ttft_row(1000, 20.0);
        disturbed.added = added(-0.1, -275.0);
        report.ttft = Some(Ttft {
            emulator_ttft_ms: 20,
            emulator_token_gap_ms: 25,
            rows: vec![disturbed],
            gateway_cpus: "0-1".to_owned(),
            emulator_cpus: "0-1".to_owned(),
        });
        report.check_targets();
        let p50 = report.targets.iter().find(|t| t.name.starts_with("added TTFT p50")).unwrap();
        assert!(p50.met && p50.not_measurable.is_none(), "noise within the bound still counts: {p50:?}");
        let p99 = report.targets.iter().find(|t| t.name.starts_with("added TTFT p99")).unwrap();
        assert!(!p99.met && p99.not_measurable.is_some(), "{p99:?}");
        assert!(report.markdown().contains("| ≤ 0.5 ms | -275.000 ms | not measurable |"), "{}", report.markdown());
        assert!(serde_json::to_value(&report).unwrap()["targets"][1]["not_measurable"].is_string());
    }

    #[test]
    fn issue_13s_targets_are_judged_on_the_pinned_run_and_a_skipped_run_says_why() {
        let ttft = |cpu_us_per_event| Ttft {
            emulator_ttft_ms: 20,
            emulator_token_gap_ms: 25,
            rows: vec![ttft_row(100, 9.0), ttft_row(1000, cpu_us_per_event)],
            gateway_cpus: "1".to_owned(),
            emulator_cpus: "0".to_owned(),
        };
        let mut report = report();
        report.ttft = Some(ttft(20.0));
        let side = |label: &str, gateway_per_core: Option<f64>, loadgen_per_core: f64| SaturationSide {
            label: label.to_owned(),
            stats: stats(6000, 0, 4.7, None),
            gateway_cpu_per_1000_streams: gateway_per_core.map(|_| 0.15),
            gateway_cores: gateway_per_core.map(|_| 0.99),
            events_per_gateway_core_sec: gateway_per_core,
            emulator_cpu_per_1000_streams: 0.03,
            loadgen_cpu_per_1000_streams: 0.13,
            events_per_loadgen_core_sec: loadgen_per_core,
        };
        report.pinned = Some(PinnedRun {
            cores: Some(Cores { load: 0, gateway: 1 }),
            ttft: Some(ttft(4.0)),
            saturation: Some(Saturation {
                workers: 32,
                tokens_per_stream: 32,
                sides: vec![
                    side("direct", None, 243_000.0),
                    side("via gateway (log filter warn)", Some(236_000.0), 800_000.0),
                ],
            }),
            ..PinnedRun::default()
        });
        report.check_targets();
        let names: Vec<&str> = report.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.iter().filter(|name| name.starts_with("pinned: ")).count(), 4, "{names:?}");
        let cpu = report.targets.iter().find(|t| t.name.starts_with("pinned: gateway CPU per relayed")).unwrap();
        assert!(
            cpu.met && cpu.measured == "4.0 µs (the SDK client alone: 3.5 µs)" && cpu.target == "≤ 5 µs",
            "{cpu:?}"
        );
        let per_core = report.targets.iter().find(|t| t.name.starts_with("pinned: stream events relayed")).unwrap();
        assert!(!per_core.met && per_core.measured == "236000 (the SDK client alone: 243000)", "{per_core:?}");
        let markdown = report.markdown();
        assert!(markdown.contains("## Pinned run\n\nThe gateway alone on CPU 1"), "{markdown}");
        assert!(markdown.contains("gateway 1, emulator 0"), "{markdown}");
        assert!(markdown.contains("### Time to first token"), "{markdown}");
        assert!(
            markdown.contains(
                "| closed loop, 1000 concurrent | 0.100 ms | 0.100 ms | 0.400 ms | 0.400 ms | 0.200 | 20.0 | 3.5 |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "| closed loop, 1000 concurrent | 0.100 ms | 0.100 ms | 0.400 ms | 0.400 ms | 0.200 | 4.0 | 3.5 |"
            ),
            "{markdown}"
        );

        let reason = "skipped: this process may use 1 CPU(s) ([0]); the pinned run needs 2";
        report.pinned = Some(PinnedRun { skipped: Some(reason.to_owned()), ..PinnedRun::default() });
        report.check_targets();
        assert!(report.targets.iter().all(|t| !t.name.starts_with("pinned: ")));
        assert!(report.markdown().contains(&format!("## Pinned run\n\n{reason}\n")));
        assert!(report.problems().is_empty());
    }
}
