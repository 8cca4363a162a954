#!/usr/bin/env bash
# Installs Debian's OCI registry (docker-registry, distribution 2.8) if
# missing and starts it on 127.0.0.1:PORT (default 5000) unless something
# already answers there. Idempotent. Usage: setup-registry.sh [PORT] [DATA_DIR]
set -euo pipefail
port=${1:-5000}
data=${2:-/var/lib/slipway-registry/$port}

if ! command -v docker-registry >/dev/null 2>&1; then
    echo "setup-registry: installing docker-registry"
    # Partial index errors (a mirror hiccup) must not stop the install.
    apt-get update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry >/dev/null
fi
answers() { curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; }
# The config file each running docker-registry was started with.
registries() {
    for pid in $(pgrep -x docker-registry || true); do
        echo "$pid $(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | tail -n 1)"
    done
}
if answers; then
    # A registry started from a directory that was deleted since (an old
    # checkout) still answers, but its storage and config are gone: replace
    # it. Anything else answering here is kept.
    stale=0
    while read -r pid config; do
        [ -n "$pid" ] && [ ! -f "$config" ] && kill "$pid" 2>/dev/null && stale=1
    done < <(registries)
    if [ "$stale" = 1 ]; then
        for _ in $(seq 1 50); do answers || break; sleep 0.1; done
    fi
    if answers; then
        echo "setup-registry: registry ready on 127.0.0.1:$port"
        exit 0
    fi
    echo "setup-registry: replaced a registry whose directory is gone"
fi
mkdir -p "$data"
cat > "$data/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $data/data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YAML
nohup docker-registry serve "$data/config.yml" > "$data/registry.log" 2>&1 &
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
        echo "setup-registry: registry ready on 127.0.0.1:$port (log: $data/registry.log)"
        exit 0
    fi
    sleep 0.1
done
echo "setup-registry: the registry did not start; its log:" >&2
cat "$data/registry.log" >&2
exit 1
