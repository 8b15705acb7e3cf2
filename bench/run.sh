#!/usr/bin/env bash
# The full benchmark, the one command behind BENCHMARKS.md: builds the release binaries, then runs
# every scenario (a few minutes on 2 cores), first shared (every process on every CPU), then pinned
# (the gateway alone on one CPU), and writes target/bench/report.{json,md}.
# Extra arguments go to the bench binary (e.g. `--only ttft,idle`, `--only quota`, `--pin off` for
# the shared run alone, `--pin only` for the pinned one).
# `--peer litellm` also runs the LiteLLM proxy side by side, installed first into a virtualenv
# (PyPI, about 1 min once); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
peer=
previous=
for arg in "$@"; do
  # `--peer litellm` (this argument and the one before) or `--peer=litellm`.
  case "$previous=$arg" in
    --peer=litellm | *=--peer=litellm) peer=litellm ;;
  esac
  previous=$arg
done
peer_args=()
if [ "$peer" = litellm ]; then
  venv="${BGW_TOOLS_DIR:-$HOME/.cache/bedrock-gateway-ci}/litellm"
  # 1.80.17: the newest whose `proxy` extra the registry here can satisfy.
  requirement="litellm[proxy]==1.80.17"
  if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirement" ] || [ ! -x "$venv/bin/litellm" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$requirement"
    echo "$requirement" >"$venv/.requirements"
  fi
  peer_args=(--litellm "$venv/bin/litellm")
fi
cargo build --release --locked -p bedrock-gateway -p bedrock-emulator -p bedrock-gateway-bench
exec "${CARGO_TARGET_DIR:-target}/release/bench" --profile full --out target/bench --check --pin "${peer_args[@]}" "$@"
