//! The report: one JSON file for tools and one Markdown file for people, from the same data, with
//! the machine it ran on and each issue target marked met or missed. Each scenario judges its own
//! targets, finds its own problems and writes its own section; the report puts them together in
//! order.

use std::fmt::Write as _;

use serde::Serialize;

use crate::pinned::PinnedRun;
use crate::processes::BedrockHttp;
use crate::scenario::abuse::Abuse;
use crate::scenario::cold_start::ColdStart;
use crate::scenario::idle::IdleMemory;
use crate::scenario::memory::MemoryWorstCase;
use crate::scenario::peer::PeerComparison;
use crate::scenario::quota::QuotaCost;
use crate::scenario::saturation::Saturation;
use crate::scenario::ttft::Ttft;
use crate::target_check::TargetCheck;

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
        checks.extend(self.ttft.iter().flat_map(Ttft::checks));
        checks.extend(self.saturation.as_ref().and_then(Saturation::check));
        checks.extend(self.idle_memory.as_ref().and_then(|idle| idle.check("", 32.0)));
        checks.extend(self.request_memory.iter().flat_map(MemoryWorstCase::checks));
        checks.extend(self.cold_start.as_ref().map(ColdStart::check));
        checks.extend(self.abuse.iter().flat_map(Abuse::checks));
        checks.extend(self.quota.iter().flat_map(QuotaCost::checks));
        checks.extend(self.peer.iter().flat_map(PeerComparison::checks));
        checks.extend(self.pinned.iter().flat_map(PinnedRun::checks));
        self.targets = checks;
    }

    /// Problems that make the run invalid (failed streams, missing data); empty when sane.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        problems.extend(self.ttft.iter().flat_map(|ttft| ttft.problems("")));
        problems.extend(self.saturation.iter().flat_map(|saturation| saturation.problems("")));
        problems.extend(self.idle_memory.iter().flat_map(|idle| idle.problems("")));
        problems.extend(self.pinned.iter().flat_map(PinnedRun::problems));
        problems.extend(self.abuse.iter().flat_map(Abuse::problems));
        problems.extend(self.quota.iter().flat_map(QuotaCost::problems));
        problems.extend(self.peer.iter().flat_map(PeerComparison::problems));
        problems.extend(self.request_memory.iter().flat_map(MemoryWorstCase::problems));
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
        if self.peer.as_ref().is_some_and(|peer| peer.peer.is_some()) && self.bedrock_http == BedrockHttp::H2 {
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
        if let Some(ttft) = &self.ttft {
            ttft.markdown(&mut out, "##");
        }
        if let Some(saturation) = &self.saturation {
            saturation.markdown(&mut out, "##");
        }
        if let Some(idle) = &self.idle_memory {
            idle.markdown(&mut out, "##");
        }
        if let Some(memory) = &self.request_memory {
            memory.markdown(&mut out);
        }
        if let Some(cold) = &self.cold_start {
            cold.markdown(&mut out, "##");
        }
        if let Some(abuse) = &self.abuse {
            abuse.markdown(&mut out);
        }
        if let Some(quota) = &self.quota {
            quota.markdown(&mut out);
        }
        if let Some(peer) = &self.peer {
            peer.markdown(&mut out);
        }
        if let Some(pinned) = &self.pinned {
            pinned.markdown(&mut out);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::affinity::Cores;
    use crate::samples::{added, server, stats};
    use crate::scenario::peer::{PeerProxy, PeerRow};
    use crate::scenario::saturation::SaturationSide;
    use crate::scenario::ttft::{DoorSide, TtftRow};

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
            bedrock_door: DoorSide {
                stats: stats(9000, 0, 21.6, None),
                added: added(0.2, 0.5),
                gateway_cpu_per_1000_streams: 0.25,
                gateway_cpu_us_per_event: cpu_us_per_event * 1.2,
            },
        }
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
        // The peer's own HTTP client is named when, and only when, the peer ran.
        let mut comparison = PeerComparison {
            peer: None,
            emulator_ttft_ms: 20,
            emulator_token_gap_ms: 25,
            rounds: 1,
            round_secs: vec![5.0],
            rows: vec![PeerRow {
                concurrency: 10,
                tokens_per_stream: 40,
                direct: stats(150, 0, 21.4, None),
                direct_load_generator_cores: 0.4,
                gateway: server(stats(150, 0, 21.6, None), 0.2, Some(0.9)),
                gateway_openai: server(stats(150, 0, 21.7, None), 0.3, Some(1.1)),
                peer: None,
            }],
        };
        report.peer = Some(comparison.clone());
        assert!(!report.markdown().contains("aiohttp"), "{}", report.markdown());
        comparison.peer =
            Some(PeerProxy { name: "LiteLLM".to_owned(), version: "1.80.17".to_owned(), workers: 2, ready_secs: 9.5 });
        comparison.rows[0].peer = Some(server(stats(135, 0, 35.0, None), 13.6, Some(41.0)));
        report.peer = Some(comparison);
        let markdown = report.markdown();
        assert!(
            markdown.contains("(ALPN h2), as Bedrock. LiteLLM's HTTP client (aiohttp) speaks HTTP/1.1"),
            "{markdown}"
        );
        report.check_targets();
        assert_eq!(report.targets.len(), 2, "the door against LiteLLM: {:?}", report.targets);
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
        assert_eq!(names.iter().filter(|name| name.starts_with("pinned: ")).count(), 6, "{names:?}");
        // The Bedrock-compatible door is judged at 100 concurrent streams, on the pinned run only.
        assert!(names.iter().all(|name| !name.starts_with("Bedrock-compatible door")), "{names:?}");
        let door_ttft = report
            .targets
            .iter()
            .find(|t| t.name == "pinned: Bedrock-compatible door: added TTFT p50, closed loop, 100 concurrent")
            .unwrap();
        assert!(door_ttft.met && door_ttft.target == "≤ 0.3 ms" && door_ttft.measured == "0.200 ms (p99 0.500 ms)");
        let door_cpu = report
            .targets
            .iter()
            .find(|t| t.name.starts_with("pinned: Bedrock-compatible door: gateway CPU per relayed event"))
            .unwrap();
        assert!(door_cpu.met && door_cpu.measured == "1.20× (10.8 µs vs 9.0 µs)", "{door_cpu:?}");
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

        assert!(
            markdown.contains(
                "| closed loop, 100 concurrent | 0.200 ms | 0.200 ms | 0.500 ms | 0.500 ms | 0.250 | 10.8 | 1.20× |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("| closed loop, 100 concurrent | via Bedrock door | 9000 | 600 | 44.0 | 21.600 ms |"),
            "{markdown}"
        );
        let mut costly = ttft_row(100, 9.0);
        costly.bedrock_door.gateway_cpu_us_per_event = 12.6;
        costly.bedrock_door.added = added(0.35, 0.9);
        let [ttft, cpu] = costly.bedrock_door_checks("");
        assert!(!ttft.met && ttft.not_measurable.is_none(), "{ttft:?}");
        assert!(!cpu.met && cpu.measured.starts_with("1.40×"), "{cpu:?}");

        let reason = "skipped: this process may use 1 CPU(s) ([0]); the pinned run needs 2";
        report.pinned = Some(PinnedRun { skipped: Some(reason.to_owned()), ..PinnedRun::default() });
        report.check_targets();
        assert!(report.targets.iter().all(|t| !t.name.starts_with("pinned: ")));
        assert!(report.markdown().contains(&format!("## Pinned run\n\n{reason}\n")));
        assert!(report.problems().is_empty());
    }
}
