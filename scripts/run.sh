#!/usr/bin/env bash
# The main job: builds Slipway, sets up a local Docker engine with emulation
# (idempotent), builds an example project for a 64-bit ARM device and an x86
# one in one release, and prints that release. Then starts the builder
# service and its registry, deploys the example with `git push`, and prints
# the service's URL and what it built. Run as root on Debian.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup-docker.sh
cargo build --release --locked --quiet
slipway=target/release/slipway

echo "== slipway detect examples/multiarch-template --device-type raspberrypi4-64"
"$slipway" detect examples/multiarch-template --device-type raspberrypi4-64
echo
echo "== slipway build examples/multiarch-template --device-type raspberrypi4-64 --device-type intel-nuc"
"$slipway" build examples/multiarch-template --device-type raspberrypi4-64 --device-type intel-nuc
echo
release=$("$slipway" releases --app multiarch-template --limit 1 --json | sed -n 's/^    "id": \([0-9]*\),$/\1/p' | head -n 1)
echo "== slipway release show $release"
"$slipway" release show "$release"
echo
echo "== what each image recorded while it was built (uname -m, device type)"
for tag in $("$slipway" release show "$release" --json | sed -n 's/^ *"reference": "\(.*\)",$/\1/p'); do
    printf '%s: ' "$tag"
    docker run --rm "$tag" cat /built-on-arch /device-type 2>/dev/null | tr '\n' ' '
    echo
done
echo
"$slipway" releases

echo
echo "== the builder service: slipway serve with a registry on 127.0.0.1:5000"
bash scripts/setup-registry.sh 5000 /var/lib/slipway-registry/5000
serve_dir=/var/lib/slipway/serve
mkdir -p "$serve_dir"
if [ ! -s "$serve_dir/admin-token" ]; then
    (umask 077; printf 'slw_%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$serve_dir/admin-token")
fi
token=$(cat "$serve_dir/admin-token")
port=8080
# A service left by an earlier run is replaced, so it runs this build.
if [ -s "$serve_dir/serve.pid" ] && kill -0 "$(cat "$serve_dir/serve.pid")" 2>/dev/null; then
    kill "$(cat "$serve_dir/serve.pid")" && sleep 1
fi
SLIPWAY_ADMIN_TOKEN=$token SLIPWAY_LOG=info nohup "$root/$slipway" serve --listen 127.0.0.1:$port \
    --data-dir "$serve_dir/data" --registry 127.0.0.1:5000 > "$serve_dir/serve.log" 2>&1 &
echo $! > "$serve_dir/serve.pid"
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
api() { curl -sS -H "Authorization: Bearer $token" "$@"; }
api -X POST "http://127.0.0.1:$port/api/v1/apps" \
    -d '{"name": "multiarch", "device_types": ["raspberrypi4-64", "intel-nuc"]}' -o /dev/null
work=$(mktemp -d)
cp -r examples/multiarch-template/. "$work"
git -C "$work" init -q -b master
git -C "$work" add -A
git -C "$work" -c user.name=slipway -c user.email=slipway@localhost commit -q -m "deploy $(date -u +%FT%TZ)"
echo "== git push --force http://slipway:***@127.0.0.1:$port/multiarch.git HEAD:master"
git -C "$work" push --force "http://slipway:$token@127.0.0.1:$port/multiarch.git" HEAD:master 2>&1 |
    sed "s/$token/***/g"
rm -rf "$work"
echo
echo "== GET /api/v1/releases?app=multiarch&limit=1"
api "http://127.0.0.1:$port/api/v1/releases?app=multiarch&limit=1" | python3 -m json.tool | head -n 40
echo
echo "== a local device agent runs the release (an intel-nuc on this machine's engine)"
if [ ! -s "$serve_dir/device-key" ]; then
    api -X POST "http://127.0.0.1:$port/api/v1/apps/multiarch/devices" \
        -d '{"name": "local-nuc", "device_type": "intel-nuc", "tags": {"site": "here"}}' |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["uuid"]); print(d["device_key"])' > "$serve_dir/device-key"
    chmod 600 "$serve_dir/device-key"
fi
uuid=$(sed -n 1p "$serve_dir/device-key")
device_key=$(sed -n 2p "$serve_dir/device-key")
if [ -s "$serve_dir/agent.pid" ] && kill -0 "$(cat "$serve_dir/agent.pid")" 2>/dev/null; then
    kill "$(cat "$serve_dir/agent.pid")" && sleep 1
fi
SLIPWAY_LOG=info nohup "$root/$slipway" agent --server "http://127.0.0.1:$port" --device-key "$device_key" \
    --state-dir "$serve_dir/agent" --poll-seconds 30 --settle-seconds 2 > "$serve_dir/agent.log" 2>&1 &
echo $! > "$serve_dir/agent.pid"
release_id=$(api "http://127.0.0.1:$port/api/v1/releases?app=multiarch&status=success&limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["releases"][0]["id"])')
for _ in $(seq 1 120); do
    state=$(api "http://127.0.0.1:$port/api/v1/devices/$uuid" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["release_id"], d["update_status"])')
    [ "$state" = "$release_id running" ] && break
    sleep 1
done
echo "device $uuid reports: release $state"
docker ps --filter "label=io.slipway.device=$uuid" --format '{{.Names}}  {{.Status}}  {{.Image}}'
container=$(docker ps -q --filter "label=io.slipway.device=$uuid" | head -n 1)
[ -n "$container" ] && printf 'its output: %s\n' "$(docker logs "$container" 2>&1 | tr '\n' ' ')"
echo
echo "slipway serve is running: http://127.0.0.1:$port (pid $(cat "$serve_dir/serve.pid"), log $serve_dir/serve.log)"
echo "dashboard: http://127.0.0.1:$port/  (sign in with the admin token)"
echo "admin token: $serve_dir/admin-token   registry: http://127.0.0.1:5000/v2/"
echo "device agent: pid $(cat "$serve_dir/agent.pid"), log $serve_dir/agent.log"
