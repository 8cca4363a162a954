#!/usr/bin/env bash
# The builder service's benchmarks (push-to-release beside `slipway build`
# and `docker build` + `docker push`, log latency to the git client beside a
# constant route, 20 pushes across 5 apps, RSS during a 500 MB upload).
# Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-service.sh          (ROUNDS=N for more rounds)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
bash scripts/setup-registry.sh 5077 /tmp/slipway-bench-registry
cargo build --release --locked --quiet
python3 scripts/bench_service.py "$root/target/release/slipway" 127.0.0.1:5077
