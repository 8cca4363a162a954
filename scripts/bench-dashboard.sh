#!/usr/bin/env bash
# The dashboard's benchmarks: server time of the releases page with 10,000
# releases beside the constant route, page weight, and the time a log line
# written by the engine takes to show in a real Chromium page (beside the
# same line reaching a plain HTTP client). Not a test: results go to
# docs/benchmarks.md.
#
#   bash scripts/bench-dashboard.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
bash scripts/setup-browser.sh
cargo build --release --locked --quiet
python3 scripts/bench_dashboard.py "$root/target/release/slipway"
