#!/usr/bin/env bash
# The full benchmark, the one command behind BENCHMARKS.md: builds the release binaries, then runs
# every scenario (a few minutes on 2 cores) and writes target/bench/report.{json,md}.
# Extra arguments go to the bench binary (e.g. `--only ttft,idle`, `--only quota`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p bedrock-gateway -p bedrock-emulator -p bedrock-gateway-bench
exec "${CARGO_TARGET_DIR:-target}/release/bench" --profile full --out target/bench --check "$@"
