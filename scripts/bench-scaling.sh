#!/usr/bin/env bash
# Scale-out numbers, one run: the release-list API on SQLite vs PostgreSQL
# with 100,000 releases (beside the constant route), device-state polls
# with one vs two API replicas on PostgreSQL, build throughput with one vs
# two builder replicas. Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-scaling.sh [list] [polls] [builds]   (RELEASES=N DEVICES=N BUILDS=N SECONDS_PER_RUN=S)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
url=$(bash scripts/setup-postgres.sh | tail -n 1)
command -v wrk >/dev/null || { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --locked --quiet
python3 scripts/bench_scaling.py "$root/target/release/slipway" "$url" "$@"
