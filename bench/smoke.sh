#!/usr/bin/env bash
# A seconds-long run of every benchmark scenario, so the bench cannot rot: builds the release
# binaries, runs the smoke profile shared and pinned (the emulator on TLS and HTTP/2, the default),
# then the TTFT scenario again over plain HTTP/1.1 (`--bedrock-http h1`), and fails unless the
# report files are produced and sane (every scenario present, streams on every side, the
# gateway's Bedrock- and OpenAI-compatible doors included, no failed stream, every figure).
# Speed is not judged here. The peer comparison runs without its peer (LiteLLM is installed from
# PyPI); its rendering and targets have unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-smoke
rm -rf "$out" "$out-h1"
# The binaries the end-to-end check runs too: built once for both (in BGW_PROFILE's profile, if set).
bash .ci/release-build.sh
started=$SECONDS
bench="${CARGO_TARGET_DIR:-target}/${BGW_PROFILE:-release}/bench"
"$bench" --profile smoke --out "$out" --check --pin >/dev/null
"$bench" --profile smoke --bedrock-http h1 --only ttft --out "$out-h1" --check >/dev/null
python3 - "$out" "$out-h1" <<'PY'
import json, pathlib, sys
out, out_h1 = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
report = json.loads((out / "report.json").read_text())
markdown = (out / "report.md").read_text()
def need(condition, what):
    if not condition:
        sys.exit(f"bench smoke: {what}")
for section in ("cold_start", "ttft", "saturation", "idle_memory", "request_memory", "abuse", "quota", "peer"):
    need(report.get(section), f"report.json has no {section}")
def check_ttft(run, name):
    for row in run["ttft"]["rows"]:
        for side in ("direct", "gateway"):
            stats = row[side]
            need(stats["streams"] > 0 and stats["errors"] == 0, f"{name} ttft {row['mode']} x{row['concurrency']} {side}: {stats}")
            need(0 < stats["ttft"]["p50_ms"] < 1000, f"{name} ttft {side} p50 out of range: {stats['ttft']}")
        door = row["bedrock_door"]
        stats = door["stats"]
        need(stats["streams"] > 0 and stats["errors"] == 0, f"{name} ttft {row['mode']} x{row['concurrency']} Bedrock door: {stats}")
        need(0 < stats["ttft"]["p50_ms"] < 1000, f"{name} ttft Bedrock door p50 out of range: {stats['ttft']}")
        need(isinstance(door["added"]["p50_ms"], (int, float)), f"{name} ttft x{row['concurrency']}: no Bedrock door added TTFT")
        need(row["gateway_cpu_us_per_event"] > 0, f"{name} ttft x{row['concurrency']}: no gateway CPU per event")
        need(door["gateway_cpu_us_per_event"] > 0, f"{name} ttft x{row['concurrency']}: no gateway CPU per event via the Bedrock door")
        need(row["direct_client_cpu_us_per_event"] > 0, f"{name} ttft x{row['concurrency']}: no SDK client CPU per event")
def check_load(run, name):
    check_ttft(run, name)
    for side in run["saturation"]["sides"]:
        need(side["stats"]["events_per_sec"] > 0 and side["stats"]["errors"] == 0, f"{name} saturation {side['label']}: {side['stats']}")
        need(side["events_per_loadgen_core_sec"] > 0, f"{name} saturation {side['label']}: no events per load generator core-second")
    idle = run["idle_memory"]
    need(idle["failed"] == 0 and idle["baseline_rss_bytes"] > 0, f"{name} idle: {idle}")
    need(all(p["gateway_rss_bytes"] > 0 for p in idle["points"]), f"{name} idle points: {idle['points']}")
    need(run["cold_start"]["first_answer_median_ms"] > 0, f"{name} cold start not measured")
check_load(report, "shared")
pinned = report.get("pinned")
need(pinned, "report.json has no pinned run")
need("## Pinned run" in markdown, "report.md lacks the pinned run")
if pinned["skipped"]:
    # Only a machine that lets this process use fewer than 2 CPUs skips it.
    need("needs 2" in pinned["skipped"] and pinned["cores"] is None, f"pinned: {pinned['skipped']}")
else:
    for section in ("cold_start", "ttft", "saturation", "idle_memory"):
        need(pinned.get(section), f"the pinned run has no {section}")
    check_load(pinned, "pinned")
    cores = pinned["cores"]
    need(cores["gateway"] != cores["load"], f"pinned: {cores}")
    need(pinned["ttft"]["gateway_cpus"] == str(cores["gateway"]), f"pinned: the gateway ran on {pinned['ttft']['gateway_cpus']}, not {cores}")
    need(pinned["ttft"]["emulator_cpus"] == str(cores["load"]), f"pinned: the emulator ran on {pinned['ttft']['emulator_cpus']}, not {cores}")
    for target in ("pinned: stream events relayed per gateway core-second", "pinned: gateway memory per idle stream", "pinned: cold start"):
        need(any(t["name"].startswith(target) for t in report["targets"]), f"no target {target!r}")
    for heading in ("### Time to first token", "### Saturation", "### Gateway memory with idle", "### Cold start"):
        need(heading in markdown, f"report.md's pinned run lacks {heading!r}")
need("gateway CPU µs / event" in markdown and "SDK client CPU µs / event" in markdown, "report.md lacks CPU per event")
memory = report["request_memory"]
need(len(memory["runs"]) == 4, f"memory: one run per shape in the smoke profile: {memory['runs']}")
for run in memory["runs"]:
    expected = run["refused"] if run["shape"] == "tiny-blocks" else run["answered"]
    need(run["failed"] == 0 and expected == run["requests"], f"memory {run['label']}: {run}")
    need(memory["max_request_bytes"] - 16384 < run["wire_bytes_per_request"] <= memory["max_request_bytes"], f"memory {run['label']}: not max-size: {run['wire_bytes_per_request']}")
    need(run["peak_rss_bytes"] >= run["polled_peak_rss_bytes"] > 0 and run["peak_per_wire_byte"] > 0, f"memory {run['label']}: {run}")
need(any(t["name"].startswith("gateway peak memory per byte on the wire") for t in report["targets"]), "no memory target")
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
floods = abuse["floods"]
for flood in floods["no_key"]:
    rss = flood["rss"]
    need(flood["seen"]["opened"] > 0 and rss["peak_bytes"] >= rss["before_bytes"] > 0, f"abuse no-key flood: {flood}")
    need(flood["rejections"].get("size", 0) > 0, f"abuse no-key flood: the 16 KiB bound refused nothing: {flood['rejections']}")
fill = floods["budget_fill"]
need(fill["filler"]["opened"] > 0 and fill["rejections"].get("caller_request_memory", 0) > 0, f"abuse budget fill: the share refused nothing: {fill}")
need(fill["other_requests"] > 0 and isinstance(fill["other_served_percent"], (int, float)), f"abuse budget fill: the other tenant: {fill}")
for target in ("gateway RSS growth under a no-key health/reflection flood", "other tenant's requests served while one tenant fills"):
    need(any(t["name"].startswith(target) for t in report["targets"]), f"no target {target!r}")
need("### Memory floods" in markdown, "report.md lacks the memory floods")
flood = abuse["connection_flood"]
need(flood["calls"] > 0 and flood["served"] == flood["calls"], f"abuse: callers not all served during the connection flood: {flood}")
need(flood["flood"]["opened"] > flood["max_connections_per_address"], f"abuse: the connection flood stayed within its cap: {flood['flood']}")
need(flood["rejections"].get("connections_per_source", 0) > 0, f"abuse: no connection refused per source: {flood['rejections']}")
need(0 < flood["refusal_log_lines"] <= 1 + flood["duration_secs"] / 10, f"abuse: refused connections logged {flood['refusal_log_lines']} times in {flood['duration_secs']:.1f} s")
need(any(t["name"].startswith("calls from other addresses served") for t in report["targets"]), "no connection flood target")
quota = report["quota"]
for stats in [quota["direct"]] + [quota[c]["gateway"] for c in ("without_quotas", "memory_store", "redis_store", "redis_no_prefetch")]:
    need(stats["streams"] > 0 and stats["errors"] == 0 and stats["ttft"]["p99_ms"] > 0, f"quota: {stats}")
for condition in ("without_quotas", "memory_store", "redis_store", "redis_no_prefetch"):
    need(isinstance(quota[condition]["added"]["p99_ms"], (int, float)), f"quota {condition}: no added p99")
    checks = quota[condition]["quota_checks"]
    if condition == "without_quotas":
        need(sum(checks.values()) == 0, f"quota: checks without quotas: {checks}")
    else:
        need(checks.get("granted", 0) > 0 and sum(checks.values()) == checks["granted"], f"quota {condition}: {checks}")
for change in ("memory_store_change", "redis_store_change", "redis_no_prefetch_change"):
    figures = quota[change]
    need(all(isinstance(figures[f], (int, float)) for f in ("p50_ms", "p99_ms")), f"quota: no {change}")
    need(len(figures["rounds_p99_ms"]) == quota["rounds"], f"quota: {change} lacks rounds: {figures}")
for condition, decider in (("memory_store", "memory"), ("redis_store", "allowance"), ("redis_no_prefetch", "redis")):
    duration = quota[condition]["check_duration"]
    need(isinstance(duration["p99_ms"], (int, float)) and duration["decided_by"].get(decider, 0) > 0, f"quota {condition}: check duration {duration}")
no_prefetch = quota["redis_no_prefetch"]["check_duration"]["decided_by"]
need(sum(no_prefetch.values()) == no_prefetch["redis"], f"quota redis_no_prefetch: checks decided without a round trip: {no_prefetch}")
for target in ("time a Redis quota check adds", "time a Redis quota check without prefetch"):
    need(any(t["name"].startswith(target) for t in report["targets"]), f"no target {target!r}")
peer = report["peer"]
need(peer["peer"] is None and len(peer["rows"]) == 2, f"peer: the smoke run has no peer and two levels: {peer}")
for row in peer["rows"]:
    need(row["direct"]["streams"] > 0 and row["direct"]["errors"] == 0, f"peer x{row['concurrency']} direct: {row['direct']}")
    for side in ("gateway", "gateway_openai"):
        figures = row[side]
        stats = figures["stats"]
        need(stats["streams"] > 0 and stats["errors"] == 0 and figures["errors_with_ramp_up"] == 0, f"peer x{row['concurrency']} {side}: {figures}")
        need(0 < stats["ttft"]["p50_ms"] < 1000, f"peer x{row['concurrency']} {side} p50 out of range: {stats['ttft']}")
        need(isinstance(figures["added"]["p50_ms"], (int, float)) and figures["server_cpu_ms_per_stream"] is not None, f"peer x{row['concurrency']} {side}: {figures}")
    need(row["peer"] is None, f"peer x{row['concurrency']}: a peer side without a peer")
# CPU time comes in 10 ms ticks, which the smallest level's rounds may not reach.
for side in ("gateway", "gateway_openai"):
    need(any(row[side]["server_cpu_ms_per_stream"] > 0 for row in peer["rows"]), f"peer {side}: no server CPU measured")
need(report["targets"], "no target was evaluated")
for heading in ("## Time to first token", "## Saturation", "## Gateway memory with idle", "## Gateway memory per maximum-size request", "## Cold start", "## Abuse", "### One-source connection flood", "## Cost of a quota check", "## OpenAI-compatible, side by side", "Via the Bedrock-compatible door"):
    need(heading in markdown, f"report.md lacks {heading!r}")
need(report["bedrock_http"] == "h2", f"the default run reported {report['bedrock_http']}, not h2")
need("reached over HTTP/2 over TLS" in markdown, "report.md does not say HTTP/2")
h1 = json.loads((out_h1 / "report.json").read_text())
need(h1["bedrock_http"] == "h1", f"--bedrock-http h1 reported {h1['bedrock_http']}")
need("reached over HTTP/1.1" in (out_h1 / "report.md").read_text(), "the h1 report.md does not say HTTP/1.1")
need(h1.get("ttft"), "the h1 report.json has no ttft")
check_ttft(h1, "h1")
PY
echo "bench smoke: report files sane ($out/report.{json,md}, $out-h1/report.{json,md}, $((SECONDS - started)) s)"
