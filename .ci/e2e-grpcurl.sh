#!/usr/bin/env bash
# Starts the gateway as README says (the release binary, local mode, embedded emulator) and drives
# it with the real grpcurl through server reflection only: no proto files; then the admin listener
# with curl. The binary is the one bench/smoke.sh runs too (.ci/release-build.sh says why), started
# with README's arguments rather than through `cargo run -p bedrock-gateway`, which would build it a
# second time with the gateway's features alone.
set -euo pipefail
cd "$(dirname "$0")/.."
addr=127.0.0.1:50051
log=$(mktemp)
gateway_bin="${CARGO_TARGET_DIR:-target}/${BGW_PROFILE:-release}/bedrock-gateway"
bash .ci/release-build.sh
"$gateway_bin" --local >"$log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null || true; wait $gateway 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  kill -0 $gateway 2>/dev/null || { cat "$log"; echo "FAIL: the gateway exited"; exit 1; }
  sleep 0.2
done
grep -q "listening on $addr" "$log" || { cat "$log"; echo "FAIL: the gateway did not report listening on $addr"; exit 1; }

fail() { echo "FAIL: $*"; cat "$log"; exit 1; }
expect() { # expect NAME PATTERN TEXT
  grep -qE -- "$2" <<<"$3" || fail "$1: expected /$2/ in:
$3"
}

services=$(grpcurl -plaintext "$addr" list)
expect "list" '^bedrock\.gateway\.v1\.GatewayService$' "$services"
expect "list" '^grpc\.health\.v1\.Health$' "$services"

description=$(grpcurl -plaintext "$addr" describe bedrock.gateway.v1.GatewayService)
expect "describe" 'rpc CountTokens \( \.bedrock\.gateway\.v1\.ConverseRequest \) returns \( \.bedrock\.gateway\.v1\.CountTokensResponse \)' "$description"
expect "describe" 'rpc Embed \( \.bedrock\.gateway\.v1\.EmbedRequest \) returns \( \.bedrock\.gateway\.v1\.EmbedResponse \)' "$description"
expect "describe" 'rpc ConverseStream \( \.bedrock\.gateway\.v1\.ConverseRequest \) returns \( stream \.bedrock\.gateway\.v1\.ConverseStreamEvent \)' "$description"
expect "describe message" 'message ConverseRequest' "$(grpcurl -plaintext "$addr" describe bedrock.gateway.v1.ConverseRequest)"

health=$(grpcurl -plaintext -d '{"service":"bedrock.gateway.v1.GatewayService"}' "$addr" grpc.health.v1.Health/Check)
expect "health" '"status": "SERVING"' "$health"
"$gateway_bin" healthcheck --addr "$addr" || fail "healthcheck subcommand"

# The README's example call, verbatim.
answer=$(grpcurl -plaintext -d '{"model":"chat","messages":[{"role":"ROLE_USER","content":[{"text":"Hello"}]}]}' \
  "$addr" bedrock.gateway.v1.GatewayService/ConverseStream)
expect "stream start" '"start": \{' "$answer"
expect "stream model" '"model": "chat"' "$answer"
expect "stream text" '"text": "' "$answer"
expect "stream stop" '"stopReason": "STOP_REASON_END_TURN"' "$answer"
expect "stream usage" '"outputTokens": 32' "$answer"
last_event=$(grep -E '^  "[a-zA-Z]+": \{' <<<"$answer" | tail -n 1)
[ "$last_event" = '  "usage": {' ] || fail "the last event is usage, got: $last_event"

models=$(grpcurl -plaintext "$addr" bedrock.gateway.v1.GatewayService/ListModels)
expect "models" '"name": "chat"' "$models"
expect "models" '"state": "MODEL_STATE_DEPRECATED"' "$models"
expect "models kind" '"kind": "MODEL_KIND_EMBEDDING"' "$models"
expect "models capabilities" '"countTokens": true' "$models"
expect "models capabilities" '"contextWindow": 200000' "$models"
expect "models capabilities" '"MODALITY_TEXT"' "$models"

counted=$(grpcurl -plaintext -d '{"model":"chat","system":[{"text":"be brief"}],"messages":[{"role":"ROLE_USER","content":[{"text":"How many tokens"}]}]}' \
  "$addr" bedrock.gateway.v1.GatewayService/CountTokens)
expect "count tokens" '"inputTokens": 5' "$counted"
expect "count tokens" '"modelVersion": "claude-3.5-haiku"' "$counted"

embedded=$(grpcurl -plaintext -d '{"model":"embed","texts":["first text","second text"],"dimensions":256}' \
  "$addr" bedrock.gateway.v1.GatewayService/Embed)
expect "embed" '"dimensions": 256' "$embedded"
expect "embed" '"inputTokens": 4' "$embedded"
[ "$(grep -c '"values": \[' <<<"$embedded")" = 2 ] || fail "embed: two vectors expected in:
$embedded"

if wrong_kind=$(grpcurl -plaintext -d '{"model":"chat","texts":["x"]}' "$addr" bedrock.gateway.v1.GatewayService/Embed 2>&1); then
  fail "Embed on a chat model must fail"
fi
expect "embed on chat" 'Code: InvalidArgument' "$wrong_kind"
expect "embed on chat" 'is a chat model' "$wrong_kind"

if unknown=$(grpcurl -plaintext -d '{"model":"gpt-4","messages":[{"role":"ROLE_USER","content":[{"text":"Hi"}]}]}' \
  "$addr" bedrock.gateway.v1.GatewayService/ConverseStream 2>&1); then
  fail "an unknown model must fail"
fi
expect "unknown model" 'Code: NotFound' "$unknown"
expect "unknown model" 'this gateway offers: chat' "$unknown"

# The admin listener, as local mode binds it.
admin=http://127.0.0.1:9090
expect "readyz" '^ready$' "$(curl -fsS "$admin/readyz")"
expect "healthz" '^ok$' "$(curl -fsS "$admin/healthz")"
expect "metrics" '^# TYPE bedrock_gateway_streams_in_flight gauge$' "$(curl -fsS "$admin/metrics")"

echo "end to end: ok"
