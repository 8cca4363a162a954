#!/usr/bin/env bash
# Device-state polls per second with 100,000 registered devices and
# matching ETags, beside the same server's constant 304 route; p99 latency,
# server RSS. Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-fleet.sh          (DEVICES=N, SECONDS_PER_RUN=S to change)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
command -v wrk >/dev/null || { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --locked --quiet
python3 scripts/bench_fleet.py "$root/target/release/slipway"
