use super::*;
use crate::samples::{server, stats};

/// LiteLLM 1.80.17 with two workers, as run at 7a09048 (10 and 1,000 concurrent), and a level where
/// it refused every stream.
fn with_litellm() -> PeerComparison {
    PeerComparison {
        peer: Some(PeerProxy {
            name: "LiteLLM".to_owned(),
            version: "1.80.17".to_owned(),
            workers: 2,
            ready_secs: 9.5,
        }),
        emulator_ttft_ms: 20,
        emulator_token_gap_ms: 25,
        rounds: 3,
        round_secs: vec![5.0, 5.0, 5.0],
        rows: vec![
            PeerRow {
                concurrency: 10,
                tokens_per_stream: 40,
                direct: stats(150, 0, 21.4, None),
                direct_load_generator_cores: 0.4,
                gateway: server(stats(150, 0, 21.6, None), 0.2, Some(0.9)),
                gateway_openai: server(stats(150, 0, 21.7, None), 0.3, Some(1.1)),
                peer: Some(server(stats(135, 0, 35.0, None), 13.6, Some(41.0))),
            },
            PeerRow {
                concurrency: 1000,
                tokens_per_stream: 40,
                direct: stats(15000, 0, 21.4, None),
                direct_load_generator_cores: 0.4,
                gateway: server(stats(14990, 0, 22.4, None), 1.0, Some(0.8)),
                gateway_openai: server(stats(14980, 0, 22.6, None), 1.2, Some(1.0)),
                peer: Some(server(
                    stats(375, 120, 2500.0, Some("stream did not finish within 30s")),
                    2478.6,
                    Some(60.0),
                )),
            },
            PeerRow {
                concurrency: 2000,
                tokens_per_stream: 40,
                direct: stats(15000, 0, 21.4, None),
                direct_load_generator_cores: 0.4,
                gateway: server(stats(14990, 0, 22.4, None), 1.0, Some(0.8)),
                gateway_openai: server(stats(14980, 0, 22.6, None), 1.2, Some(1.0)),
                peer: Some(ServerSide {
                    streams_with_ramp_up: 0,
                    errors_with_ramp_up: 2000,
                    server_cpu_ms_per_stream: None,
                    ..server(stats(0, 0, 0.0, Some("HTTP 400 Bad Request: x")), -21.4, None)
                }),
            },
        ],
    }
}

fn check<'a>(checks: &'a [TargetCheck], start: &str) -> &'a TargetCheck {
    checks.iter().find(|check| check.name.starts_with(start)).unwrap_or_else(|| panic!("no {start:?} in {checks:?}"))
}

#[test]
fn the_section_shows_every_side_and_the_peers_failures_without_failing_the_run() {
    let comparison = with_litellm();
    let mut markdown = String::new();
    comparison.markdown(&mut markdown);
    assert!(markdown.starts_with("## OpenAI-compatible, side by side with LiteLLM\n\n"), "{markdown}");
    assert!(markdown.contains("LiteLLM 1.80.17 (`--num_workers 2`, ready 9.5 s after spawn)"), "{markdown}");
    assert!(markdown.contains("The OpenAI-compatible door and LiteLLM are called by the same client"), "{markdown}");
    for line in [
        "| 10 | direct | 150 | 0 | - | - | 10 | 21.400 ms | 23.400 ms | - | - | - | - | 0.40 |",
        "| 10 | bedrock-gateway (gRPC) | 150 | 0 | 160 | 0 | 10 | 21.600 ms | 23.600 ms | 0.200 ms | 0.600 ms | 0.900 | 0.80 | 0.50 |",
        "| 10 | bedrock-gateway (OpenAI door) | 150 | 0 | 160 | 0 | 10 | 21.700 ms | 23.700 ms | 0.300 ms | 0.900 ms | 1.100 | 0.80 | 0.50 |",
        "| 1000 | LiteLLM | 375 | 120 | 385 | 120 | 25 | 2500.000 ms |",
        "- LiteLLM at 1000 concurrent, first of 120: stream did not finish within 30s",
        "| 2000 | LiteLLM | 0 | 0 | 0 | 2000 | 0 | - | - | - | - | - | 0.80 | 0.50 |",
        "- LiteLLM at 2000 concurrent, first of 2000: HTTP 400 Bad Request: x",
    ] {
        assert!(markdown.contains(line), "{line}\n{markdown}");
    }
    assert!(comparison.problems().is_empty(), "{:?}", comparison.problems());
    let json = serde_json::to_value(&comparison).unwrap();
    assert_eq!(json["peer"]["name"], "LiteLLM");
    assert_eq!(json["rows"][1]["peer"]["stats"]["errors"], 120);
    assert_eq!(json["rows"][0]["gateway"]["server_cpu_ms_per_stream"], 0.9);
    assert_eq!(json["rows"][0]["gateway_openai"]["server_cpu_ms_per_stream"], 1.1);
}

#[test]
fn the_door_is_judged_against_the_peer_at_every_level_where_it_ran() {
    let checks = with_litellm().checks();
    assert_eq!(checks.len(), 6, "{checks:?}");
    // 10 concurrent: LiteLLM kept up with most of what the closed loop offered, so no server
    // could be 20× faster here; its CPU per stream is 37× the door's.
    let rate = check(&checks, "OpenAI-compatible door: streams/s ÷ LiteLLM's, closed loop, 10 concurrent");
    assert!(!rate.met && rate.not_measurable.is_some(), "{rate:?}");
    assert_eq!(rate.measured, "1.11× (10 vs 9.0 streams/s)");
    let cpu = check(&checks, "OpenAI-compatible door: server CPU per stream, LiteLLM's ÷ the door's, closed loop, 10 ");
    assert!(cpu.met && cpu.target == "≥ 30×" && cpu.measured == "37.27× (1.100 vs 41.0 ms per stream)", "{cpu:?}");
    // 1,000 concurrent: 40× the streams, 60× less CPU.
    let rate = check(&checks, "OpenAI-compatible door: streams/s ÷ LiteLLM's, closed loop, 1000 ");
    assert!(rate.met && rate.not_measurable.is_none() && rate.measured.starts_with("39.95× (999 vs 25.0"), "{rate:?}");
    assert!(
        check(&checks, "OpenAI-compatible door: server CPU per stream, LiteLLM's ÷ the door's, closed loop, 1000 ").met
    );
    // 2,000: LiteLLM finished nothing, so the door is unboundedly faster and LiteLLM has no CPU
    // per stream to divide.
    let rate = check(&checks, "OpenAI-compatible door: streams/s ÷ LiteLLM's, closed loop, 2000 ");
    assert!(rate.met && rate.measured.contains("LiteLLM finished no stream"), "{rate:?}");
    let cpu =
        check(&checks, "OpenAI-compatible door: server CPU per stream, LiteLLM's ÷ the door's, closed loop, 2000 ");
    assert!(!cpu.met && cpu.not_measurable.is_some(), "{cpu:?}");
}

#[test]
fn a_door_that_falls_behind_the_closed_loop_or_costs_too_much_misses() {
    let mut comparison = with_litellm();
    let row = &mut comparison.rows[0];
    // Half of what the closed loop offered: the door, not the load, bounds the ratio.
    row.gateway_openai = server(stats(75, 0, 21.7, None), 0.3, Some(2.0));
    let checks = comparison.checks();
    let rate = check(&checks, "OpenAI-compatible door: streams/s ÷ LiteLLM's, closed loop, 10 ");
    assert!(!rate.met && rate.not_measurable.is_none(), "{rate:?}");
    let cpu = check(&checks, "OpenAI-compatible door: server CPU per stream, LiteLLM's ÷ the door's, closed loop, 10 ");
    assert!(!cpu.met && cpu.not_measurable.is_none() && cpu.measured.starts_with("20.50×"), "{cpu:?}");
}

#[test]
fn without_a_peer_the_doors_figures_are_reported_and_nothing_is_judged() {
    let mut comparison = with_litellm();
    comparison.peer = None;
    for row in &mut comparison.rows {
        row.peer = None;
    }
    assert!(comparison.checks().is_empty());
    let mut markdown = String::new();
    comparison.markdown(&mut markdown);
    assert!(
        markdown.starts_with("## OpenAI-compatible, side by side\n\nNo peer proxy ran (`--peer litellm`"),
        "{markdown}"
    );
    assert!(markdown.contains("The OpenAI-compatible door is called as a streamed chat completion"), "{markdown}");
    assert!(!markdown.contains("| LiteLLM |"), "{markdown}");
    assert!(markdown.contains("| 1000 | bedrock-gateway (OpenAI door) | 14980 | 0 | 14990 | 0 | 999 |"), "{markdown}");
    assert_eq!(serde_json::to_value(&comparison).unwrap()["peer"], serde_json::Value::Null);

    // The door's failures fail the run, as the gRPC side's do.
    comparison.rows[0].gateway_openai = server(stats(140, 3, 21.7, Some("HTTP 500")), 0.3, Some(1.0));
    let problems = comparison.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].ends_with("(OpenAI-compatible door): 140 streams, 3 errors (HTTP 500)"), "{problems:?}");
}
