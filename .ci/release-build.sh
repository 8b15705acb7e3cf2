#!/usr/bin/env bash
# The release binaries of the end-to-end check (.ci/e2e-grpcurl.sh) and of the bench smoke run
# (bench/smoke.sh), built by one command for both, so that whichever runs second rebuilds nothing.
# Cargo unifies dependencies' features over the packages it builds together: the bench's `nix`
# turns on libc's `extra_traits`, so a gateway built alone (`cargo build -p bedrock-gateway`) shares
# no compiled dependency above libc with one built beside the bench, and building both ways costs
# two full release builds.
#
# The profile is `release`, or BGW_PROFILE's: `.ci/run` sets `ci` (Cargo.toml: release at opt-level 1,
# about half the compile time), since neither the end-to-end check nor the smoke run judges speed.
# The binaries land in target/<profile>.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile "${BGW_PROFILE:-release}" --locked -p bedrock-gateway -p bedrock-emulator -p bedrock-gateway-bench
