#!/usr/bin/env bash
# BuildKit builds, side by side with `docker build` and with BuildKit called
# directly through the engine's API (curl), in the same run, on the same
# engine. Not a test: results go to docs/benchmarks.md.
#
#   bash scripts/bench-buildkit.sh            # every section
#   SECTIONS="4" bash scripts/bench-buildkit.sh   # some of them
#
# 1. warm no-op rebuild; 2. cold build (--no-cache);
# 3. a Dockerfile with two independent stages: BuildKit vs classic;
# 4. a Node project rebuilt after a one-line source change, with and without
#    an npm cache mount (packages from a local registry on the docker bridge,
#    throttled to 10 MB/s and 30 ms per request, standing in for a real link).
#
# The docker CLI here has no buildx, so `docker build` is the classic builder;
# "BuildKit API (curl)" is the same engine's BuildKit with nothing of ours in
# the way: it tars the context and posts it, like a BuildKit CLI would.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup-docker.sh
command -v hyperfine >/dev/null || { apt-get update -qq || true; apt-get install -y -qq hyperfine; }
command -v curl >/dev/null || apt-get install -y -qq curl

cargo build --release --locked --quiet
slipway=$root/target/release/slipway
work=$(mktemp -d)
export SLIPWAY_DATA_DIR=$work/data SLIPWAY_CACHE_DIR=$work/cache
export DOCKER_BUILDKIT=0
registry_pid=
cleanup() {
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
    docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(bench-|bk-)' | xargs -r docker rmi -f >/dev/null 2>&1 || true
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
    print(f"  {r['command']:46} median {m:7.3f} s   mean {statistics.mean(t):7.3f} s   "
          f"min {min(t):7.3f}   max {max(t):7.3f}   ({len(t)} runs)   ratio to last {m / base:5.3f}")
PY
}

# BuildKit through the API, as a client without our code would call it.
cat >"$work/bk-api" <<'SH'
#!/usr/bin/env bash
# bk-api DIR TAG [extra query]: tar DIR, POST it to /build?version=2, fail on an error line.
set -euo pipefail
out=$(tar -C "$1" -cf - . | curl -sS --unix-socket /var/run/docker.sock -X POST \
    -H 'Content-Type: application/x-tar' --data-binary @- \
    "http://docker/v1.41/build?version=2&t=$2&labels=%7B%22io.slipway.release%22%3A%22$(date +%s%N)%22%7D${3:-}")
if grep -q '"errorDetail"' <<<"$out"; then echo "$out" | tail -n 3 >&2; exit 1; fi
SH
chmod +x "$work/bk-api"

sections=${SECTIONS:-1 2 3 4}
want() { [[ " $sections " == *" $1 "* ]]; }

# -- 1 and 2. one Dockerfile ---------------------------------------------------
if want 1 || want 2; then
app=$work/bench-bk
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
"$slipway" build "$app" --device-type intel-nuc --app bench-bk >/dev/null
"$slipway" build "$app" --device-type intel-nuc --app bench-bk --builder classic >/dev/null
docker build -q -t bench-bk:docker "$app" >/dev/null 2>&1
"$work/bk-api" "$app" bench-bk:api

fi
if want 1; then
echo "## 1. warm no-op rebuild (every layer cached; a new release label each run)"
hyperfine --warmup 2 --runs 15 --style none --export-json "$work/warm.json" \
    -n "slipway build (BuildKit)" "$slipway build $app --device-type intel-nuc --app bench-bk >/dev/null" \
    -n "slipway build --builder classic" "$slipway build $app --device-type intel-nuc --app bench-bk --builder classic >/dev/null" \
    -n "BuildKit API (curl), label" "$work/bk-api $app bench-bk:api" \
    -n "docker build (warm, no label)" "docker build -q -t bench-bk:docker $app >/dev/null" \
    -n "docker build --label release=<new>" "docker build -q --label io.slipway.release=\$(date +%s%N) -t bench-bk:docker $app >/dev/null" >/dev/null
medians "$work/warm.json"
fi

if want 2; then
echo "## 2. cold build (--no-cache), 3 RUN steps and a COPY"
hyperfine --warmup 1 --runs 8 --style none --export-json "$work/cold.json" \
    -n "slipway build --no-cache (BuildKit)" "$slipway build $app --device-type intel-nuc --app bench-bk --no-cache >/dev/null" \
    -n "BuildKit API (curl) nocache" "$work/bk-api $app bench-bk:api '&nocache=1'" \
    -n "docker build --no-cache" "docker build -q --no-cache -t bench-bk:docker $app >/dev/null" >/dev/null
medians "$work/cold.json"
fi

# -- 3. two independent stages --------------------------------------------------
if want 3; then
stages=$work/bench-stages
mkdir -p "$stages"
cat >"$stages/Dockerfile" <<'DOCKERFILE'
FROM busybox:slipway AS left
RUN dd if=/dev/zero bs=1M count=1500 2>/dev/null | sha256sum > /left.sum
FROM busybox:slipway AS right
RUN dd if=/dev/zero bs=1M count=1500 2>/dev/null | md5sum > /right.sum
FROM busybox:slipway
COPY --from=left /left.sum /
COPY --from=right /right.sum /
DOCKERFILE
echo "## 3. two independent stages (each ~1.5 GB hashed), --no-cache"
hyperfine --warmup 1 --runs 5 --style none --export-json "$work/stages.json" \
    -n "slipway build --builder buildkit" "$slipway build $stages --device-type intel-nuc --app bench-stages --no-cache >/dev/null" \
    -n "docker build --no-cache (classic)" "docker build -q --no-cache -t bench-stages:docker $stages >/dev/null" \
    -n "slipway build --builder classic" "$slipway build $stages --device-type intel-nuc --app bench-stages --no-cache --builder classic >/dev/null" >/dev/null
medians "$work/stages.json"
fi

# -- 4. npm cache mount ---------------------------------------------------------
want 4 || exit 0
# Packages fetched once from the npm registry on the host (set-up, like
# installing a tool), then served to builds from the docker bridge only.
packages=$work/packages
mkdir -p "$packages"
(cd "$packages" && npm pack --silent typescript@5.6.3 lodash@4.17.21 moment@2.30.1 >/dev/null)
bridge=$(ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1)
port=48730
python3 - "$packages" "$bridge" "$port" <<'PY' &
import hashlib, http.server, json, os, sys, time
root, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
RATE, LATENCY = 10 * 1024 * 1024, 0.030   # bytes per second, seconds per request
tarballs = {}
for name in os.listdir(root):
    package, version = name[:-4].rsplit("-", 1)
    tarballs[package] = (version, name)
class Registry(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def send(self, body, kind):
        time.sleep(LATENCY)
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for at in range(0, len(body), 65536):
            chunk = body[at:at + 65536]
            self.wfile.write(chunk)
            time.sleep(len(chunk) / RATE)
    def do_GET(self):
        path = self.path.strip("/")
        if "/-/" in path:
            package = path.split("/-/")[0]
            data = open(os.path.join(root, tarballs[package][1]), "rb").read()
            return self.send(data, "application/octet-stream")
        if path not in tarballs:
            self.send_response(404); self.end_headers(); return
        version, file = tarballs[path]
        data = open(os.path.join(root, file), "rb").read()
        doc = {"name": path, "dist-tags": {"latest": version}, "versions": {version: {
            "name": path, "version": version,
            "dist": {"tarball": f"http://{host}:{port}/{path}/-/{file}",
                     "shasum": hashlib.sha1(data).hexdigest()}}}}
        self.send(json.dumps(doc).encode(), "application/json")
http.server.ThreadingHTTPServer((host, port), Registry).serve_forever()
PY
registry_pid=$!
sleep 1
for variant in mount plain; do
    dir=$work/bench-npm-$variant
    mkdir -p "$dir"
    cat >"$dir/package.json" <<JSON
{"name": "bench-npm", "version": "1.0.0", "main": "index.js",
 "dependencies": {"typescript": "5.6.3", "lodash": "4.17.21", "moment": "2.30.1"}}
JSON
    echo 'console.log("hello")' >"$dir/index.js"
    if [ $variant = mount ]; then
        mount_flag="--mount=type=cache,target=/root/.npm "
    else
        mount_flag=""
    fi
    cat >"$dir/Dockerfile" <<DOCKERFILE
FROM amd64/node:18-bookworm-slim
WORKDIR /app
COPY . .
RUN ${mount_flag}npm install --no-audit --no-fund --prefer-offline --registry http://$bridge:$port/
CMD ["node", "index.js"]
DOCKERFILE
    "$slipway" build "$dir" --device-type intel-nuc --app bench-npm-$variant >/dev/null
done
echo "## 4. Node project, one-line source change, npm install of 3 packages (~5 MB) from a 10 MB/s registry"
hyperfine --runs 6 --style none --export-json "$work/npm.json" \
    --prepare "echo '// change '\$(date +%s%N) >> $work/bench-npm-mount/index.js; echo '// change '\$(date +%s%N) >> $work/bench-npm-plain/index.js" \
    -n "slipway build, RUN --mount=type=cache (npm)" "$slipway build $work/bench-npm-mount --device-type intel-nuc --app bench-npm-mount >/dev/null" \
    -n "slipway build, no cache mount" "$slipway build $work/bench-npm-plain --device-type intel-nuc --app bench-npm-plain >/dev/null" >/dev/null
medians "$work/npm.json"
