#!/usr/bin/env bash
# Builds, side by side with the `docker build` CLI in the same run, on the same
# engine and the same Dockerfiles. Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-build.sh
#
# 1. cold build (--no-cache) and cache-warm rebuild of one Dockerfile;
# 2. a 500 MB build context of 10,000 files (warm cache: the context is the work);
# 3. peak memory (max RSS) of slipway during the 500 MB context build;
# 4. a four-service compose project: concurrent vs one service after another.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
command -v hyperfine >/dev/null || { apt-get update -qq || true; apt-get install -y -qq hyperfine; }
[ -x /usr/bin/time ] || apt-get install -y -qq time

cargo build --release --locked --quiet
slipway=$root/target/release/slipway
work=$(mktemp -d)
export SLIPWAY_DATA_DIR=$work/data SLIPWAY_CACHE_DIR=$work/cache
export DOCKER_BUILDKIT=0 # the docker CLI here has no buildx: say so instead of warning
cleanup() {
    docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^bench-' | xargs -r docker rmi -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

medians() {
    python3 - "$1" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
base = statistics.median(results[-1]["times"])
for r in results:
    t = r["times"]
    m = statistics.median(t)
    print(f"  {r['command']:44} median {m:7.3f} s   mean {statistics.mean(t):7.3f} s   "
          f"min {min(t):7.3f}   max {max(t):7.3f}   ({len(t)} runs)   ratio to last {m / base:5.3f}")
PY
}

# -- 1. one Dockerfile ---------------------------------------------------------
app=$work/bench-app
mkdir -p "$app/src"
for i in $(seq 1 50); do head -c 20000 /dev/urandom >"$app/src/file$i.bin"; done
cat >"$app/Dockerfile" <<'DOCKERFILE'
FROM busybox:slipway
RUN dd if=/dev/zero of=/blob bs=1M count=32 2>/dev/null && sha256sum /blob > /blob.sum && rm /blob
COPY src /src
RUN find /src -type f | xargs cat | sha256sum > /src.sum
RUN echo ready > /status
CMD ["cat", "/status"]
DOCKERFILE
"$slipway" build "$app" --device-type intel-nuc --app bench-app >/dev/null # warm plugins and layers
docker build -q -t bench-app:docker "$app" >/dev/null 2>&1

echo "## 1a. cold build (--no-cache), 3 RUN steps and a COPY"
hyperfine -N --warmup 1 --runs 8 --style none --export-json "$work/cold.json" \
    -n "slipway build --no-cache" "$slipway build $app --device-type intel-nuc --app bench-app --no-cache" \
    -n "docker build --no-cache" "docker build -q --no-cache -t bench-app:docker $app" >/dev/null
medians "$work/cold.json"

echo "## 1b. cache-warm rebuild"
# A fresh label value per run (what a per-release label costs docker build) needs a shell.
hyperfine --warmup 2 --runs 15 --style none --export-json "$work/warm.json" \
    -n "slipway build (warm)" "$slipway build $app --device-type intel-nuc --app bench-app >/dev/null" \
    -n "docker build --label release=<new>" "docker build -q --label io.slipway.release=\$(date +%s%N) -t bench-app:docker $app >/dev/null" \
    -n "docker build (warm)" "docker build -q -t bench-app:docker $app >/dev/null" >/dev/null
medians "$work/warm.json"

# -- 2. a 500 MB context of 10,000 files --------------------------------------
big=$work/bench-big
python3 - "$big" <<'PY'
import os, sys
root = sys.argv[1]
block = os.urandom(50_000)
for i in range(10_000):
    d = os.path.join(root, "data", f"d{i // 100:03}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05}.bin"), "wb") as f:
        f.write(i.to_bytes(4, "little") + block[4:])
PY
printf 'FROM busybox:slipway\nRUN echo context-bench > /marker\n' >"$big/Dockerfile"
echo "## 2. 500 MB context, 10,000 files: $(du -sh "$big" | cut -f1) on disk (steps cached: the context is the work)"
"$slipway" build "$big" --device-type intel-nuc --app bench-big >/dev/null
docker build -q -t bench-big:docker "$big" >/dev/null
hyperfine -N --warmup 1 --runs 6 --style none --export-json "$work/big.json" \
    -n "slipway build (500 MB context)" "$slipway build $big --device-type intel-nuc --app bench-big" \
    -n "docker build (500 MB context)" "docker build -q -t bench-big:docker $big" >/dev/null
medians "$work/big.json"

echo "## 3. peak memory during the 500 MB context build"
/usr/bin/time -f "  slipway build: max RSS %M KiB, %e s" "$slipway" build "$big" --device-type intel-nuc --app bench-big >/dev/null
/usr/bin/time -f "  docker build (CLI process): max RSS %M KiB, %e s" docker build -q -t bench-big:docker "$big" >/dev/null

# -- 4. four services ---------------------------------------------------------
compose=$work/bench-compose
mkdir -p "$compose"
printf 'services:\n' >"$compose/docker-compose.yml"
for service in alpha beta gamma delta; do
    mkdir -p "$compose/$service"
    printf '  %s:\n    build: ./%s\n' "$service" "$service" >>"$compose/docker-compose.yml"
    cat >"$compose/$service/Dockerfile" <<DOCKERFILE
FROM busybox:slipway
RUN dd if=/dev/zero bs=1M count=300 2>/dev/null | sha256sum > /work.sum && sleep 1 && echo $service > /name
DOCKERFILE
done
echo "## 4. four-service compose, --no-cache: concurrent vs one after another"
hyperfine -N --warmup 1 --runs 5 --style none --export-json "$work/compose.json" \
    -n "slipway build, concurrency 4" "$slipway build $compose --device-type intel-nuc --app bench-compose --no-cache --concurrency 4" \
    -n "slipway build, concurrency 2 (default: cores)" "$slipway build $compose --device-type intel-nuc --app bench-compose --no-cache" \
    -n "docker build x4, one after another" "bash -c 'for s in alpha beta gamma delta; do docker build -q --no-cache -t bench-compose-\$s:docker $compose/\$s >/dev/null; done'" \
    -n "slipway build, concurrency 1 (sequential sum)" "$slipway build $compose --device-type intel-nuc --app bench-compose --no-cache --concurrency 1" >/dev/null
medians "$work/compose.json"
