#!/usr/bin/env bash
# A Procfile project's processes share one image build: slipway builds
# examples/procfile-app (web + worker, Node.js) once per arch, where building
# each process's image with `docker build` means one build per process.
# Side by side in the same run, on the same engine and the same generated
# Dockerfile, with --no-cache so every build does the work.
# Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-procfile.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
command -v hyperfine >/dev/null || { apt-get update -qq || true; apt-get install -y -qq hyperfine; }

cargo build --release --locked --quiet
slipway=$root/target/release/slipway
work=$(mktemp -d)
export SLIPWAY_DATA_DIR=$work/data SLIPWAY_CACHE_DIR=$work/cache
export DOCKER_BUILDKIT=0 # the docker CLI here has no buildx: say so instead of warning
cleanup() {
    docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^bench-proc' | xargs -r docker rmi -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

project=examples/procfile-app
# The Dockerfile slipway generates for the project, for docker build to use.
"$slipway" detect "$project" --device-type intel-nuc --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["services"][0]["dockerfile"], end="")' >"$work/Dockerfile"

docker_each="docker build -q --no-cache -f $work/Dockerfile -t bench-proc-web $project >/dev/null && \
docker build -q --no-cache -f $work/Dockerfile -t bench-proc-worker $project >/dev/null"

echo "## Procfile with 2 processes, --no-cache, intel-nuc (amd64)"
hyperfine --warmup 1 --runs 5 --style none --export-json "$work/procfile.json" \
    -n "slipway build (web + worker, one shared build)" \
    "$slipway build $project --device-type intel-nuc --no-cache --app bench-proc --json >/dev/null" \
    -n "docker build per process (2 builds)" "$docker_each"
python3 - "$work/procfile.json" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
base = statistics.median(results[-1]["times"])
for r in results:
    t = r["times"]
    m = statistics.median(t)
    print(f"  {r['command']:48} median {m:7.3f} s   mean {statistics.mean(t):7.3f} s   "
          f"min {min(t):7.3f}   max {max(t):7.3f}   ({len(t)} runs)   ratio to last {m / base:5.3f}")
PY
