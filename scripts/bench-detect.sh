#!/usr/bin/env bash
# Whole-process detection, side by side with `nixpacks plan` in the same run,
# then the in-process benchmark. Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-detect.sh
#
# Needs hyperfine (apt) and nixpacks (cargo install nixpacks --locked).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command -v hyperfine >/dev/null || { apt-get update -qq || true; apt-get install -y -qq hyperfine; }
command -v nixpacks >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
command -v nixpacks >/dev/null || cargo install nixpacks --locked

cargo build --release --locked --quiet
slipway=$root/target/release/slipway
cache=$(mktemp -d)
export SLIPWAY_CACHE_DIR=$cache
trap 'rm -rf "$cache"' EXIT

node=examples/node-hello
compose=examples/compose-five-services
"$slipway" detect "$node" --device-type raspberrypi4-64 --json >/dev/null  # warm the compile cache

# Prints "name: median (mean ± sd, min..max)" in ms from a hyperfine JSON export.
medians() {
    python3 - "$1" <<'PY'
import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = [x * 1000 for x in r["times"]]
    print(f"  {r['command']:48} median {statistics.median(t):7.2f} ms   "
          f"mean {statistics.mean(t):7.2f} ± {statistics.stdev(t):5.2f} ms   "
          f"min {min(t):7.2f}   max {max(t):7.2f}   ({len(t)} runs)")
PY
}

echo "## whole process, warm compile cache"
hyperfine -N --warmup 20 --runs 200 --style none --export-json "$cache/warm.json" \
    -n "slipway detect --json (node)" "$slipway detect $node --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (node)" "nixpacks plan $node" \
    -n "slipway detect --json (compose, 5 services)" "$slipway detect $compose --device-type raspberrypi4-64 --json"
medians "$cache/warm.json"

echo "## whole process, warm compile cache: Python, Go, Rust, Procfile (all 10 built-in plugins loaded)"
hyperfine -N --warmup 20 --runs 200 --style none --export-json "$cache/languages.json" \
    -n "slipway detect --json (python)" "$slipway detect examples/python-app --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (python)" "nixpacks plan examples/python-app" \
    -n "slipway detect --json (go)" "$slipway detect examples/go-hello --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (go)" "nixpacks plan examples/go-hello" \
    -n "slipway detect --json (rust)" "$slipway detect examples/rust-hello --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (rust)" "nixpacks plan examples/rust-hello" \
    -n "slipway detect --json (procfile, node)" "$slipway detect examples/procfile-app --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (procfile, node)" "nixpacks plan examples/procfile-app"
medians "$cache/languages.json"

echo "## whole process, warm compile cache: TypeScript, Vite SPA, pnpm, Django (real-project layouts)"
hyperfine -N --warmup 20 --runs 200 --style none --export-json "$cache/real.json" \
    -n "slipway detect --json (node-typescript)" "$slipway detect examples/node-typescript --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (node-typescript)" "nixpacks plan examples/node-typescript" \
    -n "slipway detect --json (vite-spa)" "$slipway detect examples/vite-spa --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (vite-spa)" "nixpacks plan examples/vite-spa" \
    -n "slipway detect --json (node-pnpm)" "$slipway detect examples/node-pnpm --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (node-pnpm)" "nixpacks plan examples/node-pnpm" \
    -n "slipway detect --json (django-app)" "$slipway detect examples/django-app --device-type raspberrypi4-64 --json" \
    -n "nixpacks plan (django-app)" "nixpacks plan examples/django-app"
medians "$cache/real.json"

echo "## whole process, warm compile cache, alternating blocks of 10 runs with nixpacks (30 rounds)"
pairs=()
for project in node-hello python-app go-hello rust-hello procfile-app node-typescript vite-spa node-pnpm django-app; do
    pairs+=("$project" "$slipway detect examples/$project --device-type raspberrypi4-64 --json" "nixpacks plan examples/$project")
done
python3 scripts/bench_interleaved.py 30 10 "${pairs[@]}"

echo "## whole process, cold compile cache (every built-in plugin compiled)"
hyperfine -N --runs 10 --style none --export-json "$cache/cold.json" \
    --prepare "rm -rf $cache/components" \
    -n "slipway detect --json (node), cold cache" "$slipway detect $node --device-type raspberrypi4-64 --json"
medians "$cache/cold.json"

echo "## in process"
cargo bench --locked --quiet --bench detect 2>/dev/null
