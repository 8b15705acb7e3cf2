#!/usr/bin/env bash
# A seconds-long run of every benchmark scenario, so the bench cannot rot: builds the release
# binaries, runs the smoke profile, and fails unless both report files are produced and sane
# (every scenario present, streams on both sides, no failed stream). Speed is not judged here.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-smoke
rm -rf "$out"
cargo build --release --locked -p bedrock-gateway -p bedrock-emulator -p bedrock-gateway-bench
started=$SECONDS
"${CARGO_TARGET_DIR:-target}/release/bench" --profile smoke --out "$out" --check >/dev/null
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
report = json.loads((out / "report.json").read_text())
markdown = (out / "report.md").read_text()
def need(condition, what):
    if not condition:
        sys.exit(f"bench smoke: {what}")
for section in ("cold_start", "ttft", "saturation", "idle_memory", "request_memory", "abuse", "quota"):
    need(report.get(section), f"report.json has no {section}")
for row in report["ttft"]["rows"]:
    for side in ("direct", "gateway"):
        stats = row[side]
        need(stats["streams"] > 0 and stats["errors"] == 0, f"ttft {row['mode']} x{row['concurrency']} {side}: {stats}")
        need(0 < stats["ttft"]["p50_ms"] < 1000, f"ttft {side} p50 out of range: {stats['ttft']}")
for side in report["saturation"]["sides"]:
    need(side["stats"]["events_per_sec"] > 0 and side["stats"]["errors"] == 0, f"saturation {side['label']}: {side['stats']}")
idle = report["idle_memory"]
need(idle["failed"] == 0 and idle["baseline_rss_bytes"] > 0, f"idle: {idle}")
need(all(p["gateway_rss_bytes"] > 0 for p in idle["points"]), f"idle points: {idle['points']}")
memory = report["request_memory"]
need(len(memory["runs"]) == 4, f"memory: one run per shape in the smoke profile: {memory['runs']}")
for run in memory["runs"]:
    expected = run["refused"] if run["shape"] == "tiny-blocks" else run["answered"]
    need(run["failed"] == 0 and expected == run["requests"], f"memory {run['label']}: {run}")
    need(memory["max_request_bytes"] - 16384 < run["wire_bytes_per_request"] <= memory["max_request_bytes"], f"memory {run['label']}: not max-size: {run['wire_bytes_per_request']}")
    need(run["peak_rss_bytes"] >= run["polled_peak_rss_bytes"] > 0 and run["peak_per_wire_byte"] > 0, f"memory {run['label']}: {run}")
need(any(t["name"].startswith("gateway peak memory per byte on the wire") for t in report["targets"]), "no memory target")
need(report["cold_start"]["first_answer_median_ms"] > 0, "cold start not measured")
abuse = report["abuse"]
for condition in ("without_abuse", "with_abuse"):
    for side in ("direct", "gateway"):
        stats = abuse[condition][side]
        need(stats["streams"] > 0 and stats["errors"] == 0, f"abuse {condition} {side}: {stats}")
    need(abuse[condition]["gateway_cpu_per_1000_streams"] > 0, f"abuse {condition}: no gateway CPU measured")
for figure in ("added_p50_change_ms", "added_p99_change_ms", "request_receive_timeout_secs", "client_stall_timeout_secs"):
    need(isinstance(abuse.get(figure), (int, float)), f"abuse: no {figure}")
for abuser in abuse["abusers"]:
    seen = abuser["seen"]
    need(seen["opened"] > 0 and (seen["refused"] or seen["streaming"]), f"abuse: {abuser['kind']} did nothing: {seen}")
counts = abuse["gateway_counts"]
need(counts["rejections"].get("receive_timeout", 0) > 0, f"abuse: no receive timeout counted: {counts}")
need(counts["streams_ended_client_stalled"] > 0, f"abuse: no stalled stream ended: {counts}")
quota = report["quota"]
for stats in [quota["direct"]] + [quota[c]["gateway"] for c in ("without_quotas", "memory_store", "redis_store")]:
    need(stats["streams"] > 0 and stats["errors"] == 0 and stats["ttft"]["p99_ms"] > 0, f"quota: {stats}")
for condition in ("without_quotas", "memory_store", "redis_store"):
    need(isinstance(quota[condition]["added"]["p99_ms"], (int, float)), f"quota {condition}: no added p99")
    checks = quota[condition]["quota_checks"]
    if condition == "without_quotas":
        need(sum(checks.values()) == 0, f"quota: checks without quotas: {checks}")
    else:
        need(checks.get("granted", 0) > 0 and sum(checks.values()) == checks["granted"], f"quota {condition}: {checks}")
for change in ("memory_store_change", "redis_store_change"):
    figures = quota[change]
    need(all(isinstance(figures[f], (int, float)) for f in ("p50_ms", "p99_ms")), f"quota: no {change}")
    need(len(figures["rounds_p99_ms"]) == quota["rounds"], f"quota: {change} lacks rounds: {figures}")
for condition, decider in (("memory_store", "memory"), ("redis_store", "allowance")):
    duration = quota[condition]["check_duration"]
    need(isinstance(duration["p99_ms"], (int, float)) and duration["decided_by"].get(decider, 0) > 0, f"quota {condition}: check duration {duration}")
need(any(t["name"].startswith("time a Redis quota check adds") for t in report["targets"]), "no quota target")
need(report["targets"], "no target was evaluated")
for heading in ("## Time to first token", "## Saturation", "## Gateway memory with idle", "## Gateway memory per maximum-size request", "## Cold start", "## Abuse", "## Cost of a quota check"):
    need(heading in markdown, f"report.md lacks {heading!r}")
PY
echo "bench smoke: report files sane ($out/report.{json,md}, $((SECONDS - started)) s)"
